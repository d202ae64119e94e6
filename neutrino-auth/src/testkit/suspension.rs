//! A suspended platform refuses every state change of the auth layer at once
//! in the process (sign-up, sign-in, organizations, members, roles,
//! invitations, API keys, two-factor, passwords, verification, operator
//! paths), leaves every table as it was, and still lets users sign out; a
//! deleted platform answers not found.

use std::sync::Arc;

use neutrino_core::clock::ManualClock;
use neutrino_core::sql::{SqlExecutor, Statement};

use super::fixtures::{AuthStores, PASSWORD, World, create_org, member, meta, unique_email};
use crate::access::PlatformRole;
use crate::apikey::NewApiKey;
use crate::mail::{EmailKind, RecordingMailer};
use crate::org::NewOrganization;
use crate::{AuthError, ChangePassword, SignInEmail, SignUpEmail};

const TABLES: [&str; 9] = [
    "user",
    "account",
    "session",
    "organization",
    "member",
    "invitation",
    "apikey",
    "verification",
    "neutrinoPendingOrganization",
];

/// Every row of every auth table, as text.
async fn everything(db: &dyn SqlExecutor) -> Vec<String> {
    let mut all = Vec::new();
    for t in TABLES {
        let rows = db
            .query(&Statement::new(format!(
                r#"SELECT * FROM "{t}" ORDER BY 1"#
            )))
            .await
            .expect("rows");
        all.extend(rows.iter().map(|r| format!("{t}: {:?}", r.values())));
    }
    all
}

fn d<T>(r: Result<T, AuthError>) -> Result<(), AuthError> {
    r.map(drop)
}

/// Runs every state-changing operation of the auth layer and returns what each
/// answered, by name.
async fn every_state_change(
    w: &World,
    mailer: &RecordingMailer,
    ada: &Fixture,
) -> Vec<(&'static str, Result<(), AuthError>)> {
    let o = &w.a.orgs;
    let auth = &w.a.auth;
    let m = meta();
    let (ta, tb, acme, bob_member, inv_id, key_id, ada_id, ada_email) = (
        ada.ta.as_str(),
        ada.tb.as_str(),
        ada.acme,
        ada.bob_member.as_str(),
        ada.inv.as_str(),
        ada.key.as_str(),
        ada.ada_id,
        ada.ada_email.as_str(),
    );
    let invite_token = mailer
        .last_to("cat@example.com", EmailKind::Invitation)
        .expect("invitation mail")
        .token;
    vec![
        (
            "sign_up_email",
            d(auth
                .sign_up_email(SignUpEmail::new("N", unique_email(), PASSWORD), &m)
                .await),
        ),
        (
            "sign_in_email",
            d(auth
                .sign_in_email(SignInEmail::new(ada_email, PASSWORD), &m)
                .await),
        ),
        (
            "create_organization",
            d(
                o.create_organization(ta, NewOrganization::new("New", "new-org"), &m)
                    .await,
            ),
        ),
        (
            "create_sub_organization",
            d(o.create_organization(
                ta,
                NewOrganization::new("Sub", "sub-org").with_parent(acme),
                &m,
            )
            .await),
        ),
        (
            "invite_member",
            d(o.invite_member(ta, &acme, "dan@example.com", "member", &m)
                .await),
        ),
        (
            "add_member",
            d(o.add_member(ta, &acme, &ada.cat_id, "member", &m).await),
        ),
        (
            "update_member_role",
            d(o.update_member_role(ta, &acme, bob_member, "admin", &m)
                .await),
        ),
        (
            "remove_member",
            d(o.remove_member(ta, &acme, bob_member, &m).await),
        ),
        ("leave", d(o.leave(tb, &acme, &m).await)),
        ("set_active", d(o.set_active(ta, None, &m).await)),
        (
            "accept_invitation",
            d(o.accept_invitation(tb, inv_id, &m).await),
        ),
        (
            "reject_invitation",
            d(o.reject_invitation(tb, inv_id, &m).await),
        ),
        (
            "cancel_invitation",
            d(o.cancel_invitation(ta, inv_id, &m).await),
        ),
        (
            "sign_up_with_invitation",
            d(o.sign_up_with_invitation(
                &invite_token,
                SignUpEmail::new("Cat", "cat@example.com", PASSWORD),
                &m,
            )
            .await),
        ),
        (
            "create_api_key",
            d(o.create_api_key(ta, NewApiKey::default(), &m).await),
        ),
        (
            "update_api_key",
            d(o.update_api_key(
                ta,
                key_id,
                crate::apikey::ApiKeyUpdate {
                    enabled: Some(false),
                    ..Default::default()
                },
                &m,
            )
            .await),
        ),
        ("delete_api_key", d(o.delete_api_key(ta, key_id, &m).await)),
        (
            "operator_set_platform_role",
            d(o.operator_set_platform_role(
                &ada_id,
                PlatformRole::Admin,
                "ops@example.com",
                "ticket 7",
                &m,
            )
            .await),
        ),
        ("reconcile", d(o.reconcile().await)),
        (
            "change_password",
            d(auth
                .change_password(
                    &ada_id,
                    ChangePassword {
                        current_password: PASSWORD.into(),
                        new_password: "another long password".into(),
                        revoke_other_sessions: true,
                    },
                    Some(ta),
                    &m,
                )
                .await),
        ),
        (
            "enable_two_factor",
            d(auth.enable_two_factor(ta, PASSWORD, "Acme", &m).await),
        ),
        (
            "disable_two_factor",
            d(auth.disable_two_factor(ta, PASSWORD, &m).await),
        ),
        (
            "generate_backup_codes",
            d(auth.generate_backup_codes(ta, PASSWORD, &m).await),
        ),
        (
            "verify_two_factor_setup",
            d(auth.verify_two_factor_setup(ta, "000000", &m).await),
        ),
        (
            "request_password_reset",
            d(auth.request_password_reset(ada_email, None, &m).await),
        ),
        (
            "reset_password",
            d(auth
                .reset_password("abcdefghijklmnopqrstuvwx", "another long password", &m)
                .await),
        ),
        (
            "send_verification_email",
            d(auth.send_verification_email(ada_email, None).await),
        ),
        ("verify_email", d(auth.verify_email("a.b.c", &m).await)),
        (
            "operator_session",
            d(auth
                .operator_session(&ada_id, true, "ops@example.com", "ticket 7", &m)
                .await),
        ),
    ]
}

#[derive(Clone)]
struct Fixture {
    ta: String,
    tb: String,
    acme: neutrino_core::ids::TenantId,
    bob_member: String,
    inv: String,
    key: String,
    ada_id: neutrino_core::ids::UserId,
    ada_email: String,
    cat_id: neutrino_core::ids::UserId,
}

/// Ada owns Acme with Bob as a member, an open invitation to Bob's address
/// in another organization, one to Cat by mail, and an API key.
async fn setup(stores: &AuthStores, clock: &ManualClock) -> (World, RecordingMailer, Fixture) {
    let mailer = RecordingMailer::new();
    let w = World::with(
        stores,
        clock,
        |b| b.with_mailer(Arc::new(mailer.clone())),
        |o| o,
    )
    .await;
    let o = &w.a.orgs;
    let [ada, bob, cat] = w.a.users(["Ada", "Bob", "Cat"]).await;
    let ta = ada.session.token.clone();
    let acme = w.a.acme(&ta).await;
    let globex = create_org(o, &ta, NewOrganization::new("Globex", "globex")).await;
    let bob_member = member(o, &ta, &acme.id, &bob.user.id, "member").await;
    let inv = o
        .invite_member(&ta, &globex.id, &bob.user.email, "member", &meta())
        .await
        .unwrap();
    o.invite_member(&ta, &acme.id, "cat@example.com", "member", &meta())
        .await
        .unwrap();
    let key = o
        .create_api_key(&ta, NewApiKey::default(), &meta())
        .await
        .unwrap();
    let f = Fixture {
        ta,
        tb: bob.session.token.clone(),
        acme: acme.id,
        bob_member: bob_member.id,
        inv: inv.id,
        key: key.record.id,
        ada_id: ada.user.id,
        ada_email: ada.user.email.clone(),
        cat_id: cat.user.id,
    };
    (w, mailer, f)
}

/// A suspended platform refuses every state change and changes nothing.
pub async fn a_suspended_platform_refuses_every_state_change_and_changes_nothing(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (w, mailer, f) = setup(stores, clock).await;
    let before = everything(&w.a.db).await;
    let tenants = w.registry.tenants(w.a.id).await.unwrap().len();
    let mails = mailer.sent().len();
    w.registry
        .suspend(w.a.id, "ops@example.com", "unpaid invoice")
        .await
        .unwrap();
    for (op, answer) in every_state_change(&w, &mailer, &f).await {
        let e = answer.expect_err(op);
        assert!(e.is_suspended(), "{op}: {e:?}");
        assert_eq!(e.code(), "PLATFORM_SUSPENDED", "{op}");
        assert_eq!(e.status(), 403, "{op}");
    }
    assert_eq!(everything(&w.a.db).await, before, "nothing written");
    assert_eq!(w.registry.tenants(w.a.id).await.unwrap().len(), tenants);
    assert_eq!(mailer.sent().len(), mails, "no mail sent");

    // What still works: reads, and taking authority away.
    assert!(w.a.auth.get_session(&f.ta).await.unwrap().is_some());
    w.a.orgs.list_members(&f.ta, &f.acme).await.unwrap();
    w.a.auth.sign_out(&f.tb, &meta()).await.unwrap();
    assert!(w.a.auth.get_session(&f.tb).await.unwrap().is_none());
    w.a.auth.revoke_sessions(&f.ada_id, &meta()).await.unwrap();
    assert!(w.a.auth.get_session(&f.ta).await.unwrap().is_none());

    // Reinstated: writes work again.
    w.registry
        .reinstate(w.a.id, "ops@example.com", "paid")
        .await
        .unwrap();
    let ada =
        w.a.auth
            .sign_in_email(SignInEmail::new(&f.ada_email, PASSWORD), &meta())
            .await
            .unwrap();
    create_org(
        &w.a.orgs,
        &ada.session.token,
        NewOrganization::new("New", "new-org"),
    )
    .await;
}

/// A deleted platform answers not found to every state change.
pub async fn a_deleted_platform_answers_not_found_to_every_state_change(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (w, mailer, f) = setup(stores, clock).await;
    let before = everything(&w.a.db).await;
    w.registry
        .mark_platform_deleted(w.a.id, "ops@example.com", "closed")
        .await
        .unwrap();
    for (op, answer) in every_state_change(&w, &mailer, &f).await {
        match answer.expect_err(op) {
            AuthError::Store(e) if e.is_not_found() => {
                let e = AuthError::Store(e);
                assert_eq!((e.code(), e.status()), ("NOT_FOUND", 404), "{op}");
            }
            e => panic!("{op}: {e:?}"),
        }
    }
    assert_eq!(everything(&w.a.db).await, before, "nothing written");
}

/// Sign-ups and organization creations racing a suspension: once `suspend`
/// has returned, none of those that start afterwards writes anything.
pub async fn writes_racing_a_suspension_stop_once_it_returns(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (w, _mailer, f) = setup(stores, clock).await;
    let w = Arc::new(w);
    let mut racers = Vec::new();
    for i in 0..8 {
        let w = Arc::clone(&w);
        let ta = f.ta.clone();
        racers.push(tokio::spawn(async move {
            let _ =
                w.a.auth
                    .sign_up_email(SignUpEmail::new("R", unique_email(), PASSWORD), &meta())
                    .await;
            let _ =
                w.a.orgs
                    .create_organization(
                        &ta,
                        NewOrganization::new("Race", format!("race-{i}")),
                        &meta(),
                    )
                    .await;
        }));
    }
    w.registry
        .suspend(w.a.id, "ops@example.com", "abuse")
        .await
        .unwrap();
    for r in racers {
        r.await.unwrap();
    }
    // Every operation started now is refused and writes nothing.
    let before = everything(&w.a.db).await;
    let mut after_tasks = Vec::new();
    for i in 0..8 {
        let w = Arc::clone(&w);
        let ta = f.ta.clone();
        after_tasks.push(tokio::spawn(async move {
            let up =
                w.a.auth
                    .sign_up_email(SignUpEmail::new("L", unique_email(), PASSWORD), &meta())
                    .await;
            let org =
                w.a.orgs
                    .create_organization(
                        &ta,
                        NewOrganization::new("Late", format!("late-{i}")),
                        &meta(),
                    )
                    .await;
            (up.map(drop), org.map(drop))
        }));
    }
    for t in after_tasks {
        let (up, org) = t.await.unwrap();
        assert!(up.unwrap_err().is_suspended());
        assert!(org.unwrap_err().is_suspended());
    }
    assert_eq!(everything(&w.a.db).await, before);
    // No creation was left half done either.
    assert!(
        w.a.db
            .query(&Statement::new(
                r#"SELECT 1 FROM "neutrinoPendingOrganization""#
            ))
            .await
            .unwrap()
            .is_empty()
    );
}
