//! Adversarial cases against today's admin plugin and API-key limits,
//! through the public API only: impersonation that outlives its box,
//! bans racing sign-ins, search wildcards, refused keys spending uses.

mod common;

use std::time::Duration;

use common::world::World;
use common::{PASSWORD, meta, unique_email, user_with_email};
use neutrino_auth::admin::{ListUsers, SearchField, SearchOperator};
use neutrino_auth::apikey::NewApiKey;
use neutrino_auth::{Auth, SignInEmail, SignUpEmail, SignedIn};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::SqliteExecutor;

async fn admin(auth: &Auth, db: &SqliteExecutor) -> SignedIn {
    let (a, email) = user_with_email(auth, "Admin").await;
    db.execute(
        &Statement::new(r#"UPDATE "user" SET "role" = 'admin' WHERE "id" = ?1"#)
            .bind(a.user.id.as_str()),
    )
    .await
    .unwrap();
    auth.sign_in_email(SignInEmail::new(email, PASSWORD), &meta())
        .await
        .unwrap()
}

/// An admin of platform A impersonating a fresh user "Victim": the admin,
/// the victim and the impersonation session.
async fn impersonating(w: &World) -> (SignedIn, SignedIn, SignedIn) {
    let a = admin(&w.a.auth, &w.a.raw_auth_db).await;
    let v = w.a.user("Victim").await;
    let imp =
        w.a.auth
            .admin_impersonate_user(&a.session.token, &v.user.id, &meta())
            .await
            .unwrap();
    (a, v, imp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_impersonation_session_is_never_extended_past_its_hour() {
    let w = World::new().await;
    let auth = &w.a.auth;
    let (_, _, imp) = impersonating(&w).await;
    // Used often enough that a normal session would be refreshed.
    for _ in 0..6 {
        w.clock.advance(Duration::from_secs(590));
        assert!(
            auth.get_session(&imp.session.token)
                .await
                .unwrap()
                .is_some()
        );
    }
    w.clock.advance(Duration::from_secs(61));
    assert!(
        auth.get_session(&imp.session.token)
            .await
            .unwrap()
            .is_none(),
        "an impersonation session lived past its duration"
    );
    // Nor can it be used for anything afterwards.
    assert!(
        auth.admin_list_users(&imp.session.token, &ListUsers::default())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_impersonating_with_another_admins_token_changes_nothing() {
    let w = World::new().await;
    let auth = &w.a.auth;
    let other = admin(auth, &w.a.raw_auth_db).await;
    let (a, v, imp) = impersonating(&w).await;
    // Another admin, the victim's own session, and the impersonation
    // session itself are all refused as the "admin token".
    for t in [&other.session.token, &v.session.token, &imp.session.token] {
        let e = auth
            .stop_impersonating(&imp.session.token, t, &meta())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "UNAUTHORIZED");
    }
    assert!(
        auth.get_session(&imp.session.token)
            .await
            .unwrap()
            .is_some()
    );
    // Many concurrent stops by the right admin: the session ends once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let auth = auth.clone();
        let (t, at) = (imp.session.token.clone(), a.session.token.clone());
        tasks.push(tokio::spawn(async move {
            auth.stop_impersonating(&t, &at, &meta()).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "one stop restores the admin once");
    assert!(
        auth.get_session(&imp.session.token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(auth.get_session(&a.session.token).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ban_racing_many_sign_ins_leaves_no_live_session() {
    let w = World::new().await;
    let auth = &w.a.auth;
    let a = admin(auth, &w.a.raw_auth_db).await;
    for round in 0..4 {
        let (v, email) = user_with_email(auth, "Victim").await;
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let auth = auth.clone();
            let email = email.clone();
            tasks.push(tokio::spawn(async move {
                auth.sign_in_email(SignInEmail::new(email, PASSWORD), &meta())
                    .await
                    .ok()
                    .map(|s| s.session.token)
            }));
        }
        let ban = {
            let auth = auth.clone();
            let (t, id) = (a.session.token.clone(), v.user.id);
            tokio::spawn(async move { auth.admin_ban_user(&t, &id, None, None, &meta()).await })
        };
        let mut tokens = vec![v.session.token.clone()];
        for t in tasks {
            tokens.extend(t.await.unwrap());
        }
        ban.await.unwrap().expect("ban");
        for t in &tokens {
            assert!(
                auth.get_session(t).await.unwrap().is_none(),
                "round {round}: a session of a banned user is live"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_search_treats_wildcards_and_quotes_literally() {
    let w = World::new().await;
    let auth = &w.a.auth;
    let a = admin(auth, &w.a.raw_auth_db).await;
    let m = neutrino_core::ids::generate_id();
    for name in [
        format!("{m}_a"),
        format!("{m}xa"),
        format!("{m}%b"),
        format!("{m}'q"),
        format!("{m}\\z"),
    ] {
        w.a.user(&name).await;
    }
    let count = |value: String, op: SearchOperator| {
        let auth = auth.clone();
        let t = a.session.token.clone();
        async move {
            auth.admin_list_users(
                &t,
                &ListUsers {
                    search_value: Some(value),
                    search_field: SearchField::Name,
                    search_operator: op,
                    ..ListUsers::default()
                },
            )
            .await
            .unwrap()
            .total
        }
    };
    assert_eq!(count(format!("{m}_"), SearchOperator::StartsWith).await, 1);
    assert_eq!(count(format!("{m}%"), SearchOperator::StartsWith).await, 1);
    assert_eq!(count(format!("{m}'"), SearchOperator::Contains).await, 1);
    assert_eq!(count(format!("{m}\\"), SearchOperator::Contains).await, 1);
    assert_eq!(count("%".into(), SearchOperator::Contains).await, 1);
    assert_eq!(count(m.to_string(), SearchOperator::StartsWith).await, 5);
    assert_eq!(count("_a".into(), SearchOperator::EndsWith).await, 1);
}

/// A limited key verified by many callers at once while its owner is
/// banned: no use succeeds, and none is spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_banned_owners_limited_key_neither_verifies_nor_spends() {
    let w = World::new().await;
    let auth = w.a.auth.clone();
    let a = admin(&auth, &w.a.raw_auth_db).await;
    let owner = w.a.user("Owner").await;
    let orgs = std::sync::Arc::new(w.a.orgs);
    let key = orgs
        .create_api_key(
            &owner.session.token,
            NewApiKey {
                remaining: Some(3),
                ..NewApiKey::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    auth.admin_ban_user(
        &a.session.token,
        &owner.user.id,
        None,
        Some(Duration::from_secs(600)),
        &meta(),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let orgs = orgs.clone();
        let k = key.key.clone();
        tasks.push(tokio::spawn(async move { orgs.verify_api_key(&k).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err().code(), "BANNED_USER");
    }
    // The ban lapses: the key still has its three uses, and only those.
    w.clock.advance(Duration::from_secs(601));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let orgs = orgs.clone();
        let k = key.key.clone();
        tasks.push(tokio::spawn(async move {
            orgs.verify_api_key(&k).await.is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() {
            ok += 1;
        }
    }
    assert_eq!(ok, 3);
}

/// How the impersonating admin loses standing while its impersonation
/// session is live.
#[derive(Clone, Copy, Debug)]
enum Fall {
    Banned,
    Demoted,
    Removed,
}

async fn impersonation_after(fall: Fall) -> bool {
    let w = World::new().await;
    let auth = &w.a.auth;
    let other = admin(auth, &w.a.raw_auth_db).await;
    let (a, _, imp) = impersonating(&w).await;
    let t = other.session.token.as_str();
    match fall {
        Fall::Banned => {
            auth.admin_ban_user(t, &a.user.id, None, None, &meta())
                .await
                .unwrap();
        }
        Fall::Demoted => {
            auth.admin_set_role(t, &a.user.id, &["user"], &meta())
                .await
                .unwrap();
        }
        Fall::Removed => {
            auth.admin_remove_user(t, &a.user.id, &meta())
                .await
                .unwrap();
        }
    }
    // The former admin's own session is gone (ban, removal) or no longer
    // an admin's (demotion) either way.
    if !matches!(fall, Fall::Demoted) {
        assert!(auth.get_session(&a.session.token).await.unwrap().is_none());
    }
    auth.get_session(&imp.session.token)
        .await
        .unwrap()
        .is_some()
}

/// An admin banned while impersonating keeps acting as the victim through
/// the impersonation session for the rest of its hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_banned_admins_impersonation_session_dies_with_the_ban() {
    assert!(!impersonation_after(Fall::Banned).await);
}

/// Same, for an admin removed while impersonating.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_admins_impersonation_session_dies_with_the_admin() {
    assert!(!impersonation_after(Fall::Removed).await);
}

/// An admin demoted while impersonating keeps the impersonation session it
/// already holds until that session's hour is up, as in Better Auth (a ban or
/// a removal ends it at once; see above). This pins the policy: changing it
/// is a decision, not an accident.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_demoted_admins_impersonation_session_lives_out_its_hour_as_in_better_auth() {
    assert!(impersonation_after(Fall::Demoted).await);
}

/// Deleting one's account without a password needs a fresh session: a
/// session kept alive by use for days is not fresh, and nothing is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_user_without_password_needs_a_fresh_session() {
    let w = World::with(
        |b| {
            b.with_users(neutrino_auth::user::UserConfig {
                delete_user: true,
                ..neutrino_auth::user::UserConfig::default()
            })
        },
        |o| o,
    )
    .await;
    let auth = &w.a.auth;
    let (u, email) = user_with_email(auth, "Old").await;
    for _ in 0..3 {
        w.clock.advance(Duration::from_secs(24 * 3600 + 60));
        assert!(auth.get_session(&u.session.token).await.unwrap().is_some());
    }
    match auth.delete_user(&u.session.token, None, &meta()).await {
        Err(e) => assert_eq!(e.code(), "SESSION_EXPIRED"),
        Ok(()) => panic!("a stale session deleted the account"),
    }
    assert!(auth.get_user(&u.user.id).await.unwrap().is_some());
    // A wrong password neither.
    assert!(
        auth.delete_user(&u.session.token, Some("wrong password!"), &meta())
            .await
            .is_err()
    );
    assert!(
        auth.sign_in_email(SignInEmail::new(email, PASSWORD), &meta())
            .await
            .is_ok()
    );
}

/// Bad input to update_user is a typed error, never a panic or a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn update_user_refuses_control_characters_and_huge_values() {
    let w = World::new().await;
    let auth = &w.a.auth;
    let u = w.a.user("Plain").await;
    let huge = "x".repeat(1 << 20);
    for name in ["a\u{0}b", "a\nb", "a\u{7f}b", "a\u{1b}[31mb", huge.as_str()] {
        let e = auth
            .update_user(
                &u.session.token,
                neutrino_auth::user::UpdateUser {
                    name: Some(name.to_owned()),
                    ..Default::default()
                },
                &meta(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.code(),
            "VALIDATION_ERROR",
            "{:?}",
            &name[..name.len().min(8)]
        );
    }
    let e = auth
        .update_user(
            &u.session.token,
            neutrino_auth::user::UpdateUser {
                image: Some(Some(huge.clone())),
                ..Default::default()
            },
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");
    assert_eq!(
        auth.get_user(&u.user.id).await.unwrap().unwrap().name,
        "Plain"
    );
}

/// Extreme limits are a typed error or a working key, never a panic or an
/// overflow; a key whose refill is not due stays spent at the boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn extreme_key_limits_are_refused_or_work_and_refill_waits_its_interval() {
    use neutrino_auth::apikey::{ApiKeyRateLimit, ApiKeyRefill};
    let w = World::new().await;
    let orgs = &w.a.orgs;
    let u = w.a.user("Keys").await;
    let t = u.session.token.as_str();
    let m = meta();
    let make = |new: NewApiKey| orgs.create_api_key(t, new, &m);
    let refill = |interval, amount| NewApiKey {
        refill: Some(ApiKeyRefill { interval, amount }),
        ..NewApiKey::default()
    };
    let limit = |window, max| NewApiKey {
        rate_limit: Some(ApiKeyRateLimit { window, max }),
        ..NewApiKey::default()
    };
    for new in [
        refill(Duration::MAX, 1),
        refill(Duration::ZERO, 1),
        refill(Duration::from_secs(1), 0),
        limit(Duration::MAX, 1),
        limit(Duration::from_secs(1), 0),
    ] {
        assert_eq!(make(new).await.unwrap_err().code(), "VALIDATION_ERROR");
    }
    // The largest values accepted work.
    let big = make(NewApiKey {
        remaining: Some(u32::MAX),
        refill: Some(ApiKeyRefill {
            interval: Duration::from_millis(i64::MAX as u64),
            amount: u32::MAX,
        }),
        rate_limit: Some(ApiKeyRateLimit {
            window: Duration::from_millis(i64::MAX as u64),
            max: u32::MAX,
        }),
        ..NewApiKey::default()
    })
    .await
    .unwrap();
    assert!(orgs.verify_api_key(&big.key).await.is_ok());
    // One use, refilled after exactly an hour: not at the hour, after it.
    let key = make(NewApiKey {
        remaining: Some(1),
        refill: Some(ApiKeyRefill {
            interval: Duration::from_secs(3600),
            amount: 1,
        }),
        ..NewApiKey::default()
    })
    .await
    .unwrap();
    assert!(orgs.verify_api_key(&key.key).await.is_ok());
    assert_eq!(
        orgs.verify_api_key(&key.key).await.unwrap_err().code(),
        "USAGE_EXCEEDED"
    );
    w.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        orgs.verify_api_key(&key.key).await.unwrap_err().code(),
        "USAGE_EXCEEDED"
    );
    w.clock.advance(Duration::from_millis(1));
    assert!(orgs.verify_api_key(&key.key).await.is_ok());
    assert_eq!(
        orgs.verify_api_key(&key.key).await.unwrap_err().code(),
        "USAGE_EXCEEDED"
    );
}

/// Two users who each got a change-email link to the same address (its
/// owner is the attacker) use them at once, racing a sign-up with it: the
/// address ends with exactly one account, the losers get typed errors, and
/// a used link does not work twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn change_email_links_to_one_address_racing_give_it_one_owner() {
    use neutrino_auth::mail::{EmailKind, RecordingMailer};
    let mailer = RecordingMailer::new();
    let m = mailer.clone();
    let w = World::with(
        move |b| {
            b.with_mailer(std::sync::Arc::new(m.clone())).with_users(
                neutrino_auth::user::UserConfig {
                    change_email: true,
                    ..neutrino_auth::user::UserConfig::default()
                },
            )
        },
        |o| o,
    )
    .await;
    let auth = &w.a.auth;
    for round in 0..4 {
        let target = unique_email();
        let mut tokens = Vec::new();
        let mut users = Vec::new();
        for i in 0..3 {
            let u = w.a.user(&format!("U{i}")).await;
            auth.change_email(&u.session.token, &target, None, &meta())
                .await
                .unwrap();
            tokens.push(
                mailer
                    .last_to(&target, EmailKind::ChangeEmail)
                    .expect("mailed")
                    .token,
            );
            users.push(u.user.id);
        }
        let mut tasks = Vec::new();
        for t in tokens.iter().chain(tokens.iter()) {
            let (auth, t) = (auth.clone(), t.clone());
            tasks.push(tokio::spawn(async move {
                auth.verify_email(&t, &meta()).await.map(|u| u.id)
            }));
        }
        let signup = {
            let (auth, target) = (auth.clone(), target.clone());
            tokio::spawn(async move {
                auth.sign_up_email(SignUpEmail::new("Late", target.as_str(), PASSWORD), &meta())
                    .await
                    .is_ok()
            })
        };
        let mut moved = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => moved += 1,
                Err(e) => assert!(e.status() < 500, "round {round}: {e:?}"),
            }
        }
        let signed_up = signup.await.unwrap();
        let mut owners = 0;
        for id in &users {
            if auth
                .get_user(id)
                .await
                .unwrap()
                .is_some_and(|u| u.email == target)
            {
                owners += 1;
            }
        }
        assert!(
            moved <= 1,
            "round {round}: {moved} accounts moved to one address"
        );
        assert_eq!(
            owners + usize::from(signed_up),
            1,
            "round {round}: the address has {owners} moved owners and signed_up={signed_up}"
        );
    }
}

/// An admin demoted while firing admin operations at once: once the
/// demotion has returned, every later operation is refused and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_demoted_mid_burst_can_do_nothing_afterwards() {
    let w = World::new().await;
    let auth = &w.a.auth;
    let root = admin(auth, &w.a.raw_auth_db).await;
    let rogue = admin(auth, &w.a.raw_auth_db).await;
    let mut victims = Vec::new();
    for i in 0..8 {
        victims.push(w.a.user(&format!("V{i}")).await.user.id);
    }
    let burst = |victims: Vec<neutrino_core::ids::UserId>| {
        victims
            .into_iter()
            .map(|v| {
                let (auth, t) = (auth.clone(), rogue.session.token.clone());
                tokio::spawn(async move {
                    auth.admin_ban_user(&t, &v, None, None, &meta())
                        .await
                        .is_ok()
                        | auth
                            .admin_set_role(&t, &v, &["admin"], &meta())
                            .await
                            .is_ok()
                        | auth.admin_impersonate_user(&t, &v, &meta()).await.is_ok()
                })
            })
            .collect::<Vec<_>>()
    };
    let first = burst(victims[..4].to_vec());
    auth.admin_set_role(&root.session.token, &rogue.user.id, &["user"], &meta())
        .await
        .unwrap();
    for t in first {
        t.await.unwrap();
    }
    for t in burst(victims[4..].to_vec()) {
        assert!(!t.await.unwrap(), "a demoted admin still acted");
    }
    for v in &victims[4..] {
        let u = auth.get_admin_user(v).await.unwrap().unwrap();
        assert!(!u.banned);
        assert_eq!(u.role.as_deref(), Some("user"));
    }
    // Nor can it promote itself back.
    assert!(
        auth.admin_set_role(&rogue.session.token, &rogue.user.id, &["admin"], &meta())
            .await
            .is_err()
    );
}

/// With admins impersonable, an impersonation session of admin B is an
/// admin session: the impersonator can act as B, including impersonating
/// further and banning others, with B named in the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_impersonated_admin_session_can_act_as_that_admin() {
    use neutrino_auth::admin::AdminConfig;
    let w = World::with(
        |b| {
            b.with_admin(AdminConfig {
                allow_impersonating_admins: true,
                ..AdminConfig::default()
            })
        },
        |o| o,
    )
    .await;
    let auth = &w.a.auth;
    let a = admin(auth, &w.a.raw_auth_db).await;
    let b = admin(auth, &w.a.raw_auth_db).await;
    let v = w.a.user("Victim").await;
    let as_b = auth
        .admin_impersonate_user(&a.session.token, &b.user.id, &meta())
        .await
        .unwrap();
    // Documents today's behaviour (as Better Auth's): these succeed.
    let nested = auth
        .admin_impersonate_user(&as_b.session.token, &v.user.id, &meta())
        .await
        .expect("an impersonated admin impersonates further");
    // The nested session stops only with the session that started it,
    // which is B's impersonation session, not A's own.
    assert_eq!(
        auth.stop_impersonating(&nested.session.token, &a.session.token, &meta())
            .await
            .unwrap_err()
            .code(),
        "UNAUTHORIZED"
    );
    assert!(
        auth.get_session(&nested.session.token)
            .await
            .unwrap()
            .is_some()
    );
    auth.admin_ban_user(&as_b.session.token, &v.user.id, None, None, &meta())
        .await
        .expect("an impersonated admin bans");
    assert!(
        auth.get_session(&nested.session.token)
            .await
            .unwrap()
            .is_none()
    );
}
