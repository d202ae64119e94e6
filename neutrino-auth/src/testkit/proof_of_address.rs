//! Invitations and verification prove an address, not an ID: listing
//! invitations needs `invitation:create`; with required verification,
//! sign-up hands out no session and answers the same for new and existing
//! addresses, and nothing unverified accepts an invitation; reset and
//! verification requests answer the same for every address.

use std::sync::Arc;

use async_trait::async_trait;
use neutrino_core::BoxError;
use neutrino_core::clock::ManualClock;
use neutrino_core::sql::{SqlExecutor, Statement};

use super::fixtures::{
    AuthStores, PASSWORD, World, auth_with, code, member, meta, operator_sql, unique_email,
};
use crate::mail::{Email, EmailKind, Mailer, RecordingMailer};
use crate::{AuthError, SignInEmail, SignUpEmail};

/// Listing invitations needs invitation create and hides owner invitations.
pub async fn listing_invitations_needs_invitation_create_and_hides_owner_invitations(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let o = &w.a.orgs;
    let [ada, bob, cat] = w.a.users(["Ada", "Bob", "Cat"]).await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    member(o, ta, &acme.id, &bob.user.id, "admin").await;
    member(o, ta, &acme.id, &cat.user.id, "member").await;
    let to_owner = o
        .invite_member(ta, &acme.id, "boss@example.com", "owner", &meta())
        .await
        .unwrap();
    let to_member = o
        .invite_member(ta, &acme.id, "new@example.com", "member", &meta())
        .await
        .unwrap();
    // A plain member lists nothing.
    assert_eq!(
        code(o.list_invitations(&cat.session.token, &acme.id).await),
        "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS"
    );
    // An admin does, without the owner invitation.
    let by_admin = o
        .list_invitations(&bob.session.token, &acme.id)
        .await
        .unwrap();
    assert_eq!(
        by_admin.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        [to_member.id.as_str()]
    );
    // The owner sees both.
    let by_owner = o.list_invitations(ta, &acme.id).await.unwrap();
    assert_eq!(by_owner.len(), 2);
    assert!(by_owner.iter().any(|i| i.id == to_owner.id));
}

/// With required verification sign up gives no session and does not tell addresses apart.
pub async fn with_required_verification_sign_up_gives_no_session_and_does_not_tell_addresses_apart(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::configured(stores, clock, |b| b.with_require_email_verification(true)).await;
    let mailer = &w.a.mailer;
    let auth = &w.a.auth;
    let o = &w.a.orgs;
    let email = unique_email();
    let first = auth
        .sign_up_email(SignUpEmail::new("Ada", &email, PASSWORD), &meta())
        .await
        .unwrap();
    assert!(first.session.is_none() && first.token().is_none());
    assert!(!first.user.email_verified);
    assert_eq!(snapshot(&w.a.db, &["session"]).await.len(), 0);

    // The same address again: the same answer, nothing written.
    let tables = ["user", "account", "session", "verification"];
    let before = snapshot(&w.a.db, &tables).await;
    let dup = auth
        .sign_up_email(
            SignUpEmail::new("Mallory", email.to_uppercase(), "mallory's password"),
            &meta(),
        )
        .await
        .unwrap();
    assert!(dup.session.is_none());
    assert!(!dup.user.email_verified);
    assert_eq!(dup.user.email, email);
    assert_eq!(dup.user.name, "Mallory");
    assert_ne!(dup.user.id, first.user.id);
    assert_eq!(snapshot(&w.a.db, &tables).await, before);

    // Unverified: no sign-in, and a session of an unverified user (from an
    // operator) accepts no invitation.
    assert_eq!(
        code(
            auth.sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
                .await
        ),
        "EMAIL_NOT_VERIFIED"
    );
    let owner_email = unique_email();
    auth.sign_up_email(SignUpEmail::new("Own", &owner_email, PASSWORD), &meta())
        .await
        .unwrap();
    let owner_mail = mailer
        .last_to(&owner_email, EmailKind::VerifyEmail)
        .unwrap();
    auth.verify_email(&owner_mail.token, &meta()).await.unwrap();
    let owner = auth
        .sign_in_email(SignInEmail::new(&owner_email, PASSWORD), &meta())
        .await
        .unwrap();
    let acme = w.a.acme(&owner.session.token).await;
    let inv = o
        .invite_member(&owner.session.token, &acme.id, &email, "admin", &meta())
        .await
        .unwrap();
    let unverified = auth
        .operator_session(&first.user.id, true, "support", "test", &meta())
        .await
        .unwrap();
    for r in [
        o.accept_invitation(&unverified.token, &inv.id, &meta())
            .await
            .map(drop),
        o.reject_invitation(&unverified.token, &inv.id, &meta())
            .await
            .map(drop),
    ] {
        assert_eq!(
            code(r),
            "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION"
        );
    }
    // Better Auth's get-invitation has its own code for it.
    assert_eq!(
        code(o.get_invitation(&unverified.token, &inv.id).await),
        "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION"
    );
    // Verified by the real owner's mailbox: the original password works, the
    // duplicate sign-up's does not, and the invitation can be accepted.
    let mail = mailer.last_to(&email, EmailKind::VerifyEmail).unwrap();
    auth.verify_email(&mail.token, &meta()).await.unwrap();
    assert_eq!(
        code(
            auth.sign_in_email(SignInEmail::new(&email, "mallory's password"), &meta())
                .await
        ),
        "INVALID_EMAIL_OR_PASSWORD"
    );
    let ada = auth
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .unwrap();
    o.accept_invitation(&ada.session.token, &inv.id, &meta())
        .await
        .unwrap();
}

async fn snapshot(db: &dyn SqlExecutor, tables: &[&str]) -> Vec<String> {
    let mut all = Vec::new();
    for t in tables {
        let rows = db
            .query(&Statement::new(format!(r#"SELECT * FROM "{t}""#)))
            .await
            .unwrap();
        all.extend(rows.iter().map(|r| format!("{t}: {:?}", r.values())));
    }
    all
}

#[derive(Debug)]
struct DownMailer;

#[async_trait]
impl Mailer for DownMailer {
    async fn send(&self, _email: Email) -> Result<(), BoxError> {
        Err("mail server down".into())
    }
}

/// Unknown, unverified and verified addresses get the same answer from both
/// requests, even when the mailer fails.
pub async fn reset_and_verification_requests_answer_the_same_for_every_address(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    for down in [false, true] {
        let mailer = RecordingMailer::new();
        let m: Arc<dyn Mailer> = if down {
            Arc::new(DownMailer)
        } else {
            Arc::new(mailer.clone())
        };
        let auth = auth_with(&stores.auth_db, clock, |b| b.with_mailer(m)).await;
        let unverified = unique_email();
        let verified = unique_email();
        for e in [&unverified, &verified] {
            auth.sign_up_email(SignUpEmail::new("A", e, PASSWORD), &meta())
                .await
                .unwrap();
        }
        operator_sql(
            stores,
            r#"UPDATE "user" SET "emailVerified" = 1 WHERE "email" = ?1"#,
            verified.as_str(),
        )
        .await;
        for e in [unique_email(), unverified.clone(), verified.clone()] {
            assert!(auth.send_verification_email(&e, None).await.is_ok(), "{e}");
            assert!(
                auth.request_password_reset(&e, None, &meta()).await.is_ok(),
                "{e}"
            );
        }
        if !down {
            let kinds = |to: &str| {
                mailer
                    .sent()
                    .iter()
                    .filter(|m| m.to == to)
                    .map(|m| m.kind)
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                kinds(&unverified),
                [EmailKind::VerifyEmail, EmailKind::ResetPassword]
            );
            assert_eq!(kinds(&verified), [EmailKind::ResetPassword]);
        }
    }
}

/// Fails its first send, then records.
#[derive(Debug, Default)]
struct FlakyMailer {
    failed_once: std::sync::atomic::AtomicBool,
    inner: RecordingMailer,
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, email: Email) -> Result<(), BoxError> {
        if !self
            .failed_once
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err("mail server down".into());
        }
        self.inner.send(email).await
    }
}

/// An invitation whose mail could not be sent is withdrawn, so the address
/// can be invited again.
pub async fn an_invitation_that_could_not_be_mailed_is_withdrawn(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let mailer = Arc::new(FlakyMailer::default());
    let m = Arc::clone(&mailer);
    let w = World::configured(stores, clock, move |b| b.with_mailer(m.clone())).await;
    let o = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    let ta = &ada.session.token;
    let acme = w.a.acme(ta).await;
    let e = o
        .invite_member(ta, &acme.id, "bob@example.com", "member", &meta())
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        AuthError::Store(neutrino_core::Error::Backend {
            backend: "mailer",
            ..
        })
    ));
    assert!(o.list_invitations(ta, &acme.id).await.unwrap().is_empty());
    assert!(snapshot(&w.a.db, &["verification"]).await.is_empty());
    o.invite_member(ta, &acme.id, "bob@example.com", "member", &meta())
        .await
        .unwrap();
    assert!(
        mailer
            .inner
            .last_to("bob@example.com", EmailKind::Invitation)
            .is_some()
    );
}
