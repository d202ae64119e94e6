//! A user's own account (update, change email, delete, list accounts), the
//! password policies, and Better Auth's UUID user IDs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, PASSWORD, meta, unique_email};
use neutrino_auth::mail::{EmailKind, RecordingMailer};
use neutrino_auth::user::{UpdateUser, UserConfig};
use neutrino_auth::{IdFormat, PasswordPolicy, SessionConfig, SignInEmail, SignUpEmail};
use neutrino_core::ids::UserId;
use neutrino_core::sql::{SqlExecutor, Statement};

async fn stored_hash(fx: &Fixture, user: &UserId) -> String {
    fx.db
        .query(
            &Statement::new(r#"SELECT "password" FROM "account" WHERE "userId" = ?1"#)
                .bind(user.as_str()),
        )
        .await
        .unwrap()[0]
        .get(0)
        .unwrap()
}

fn is_scrypt(h: &str) -> bool {
    h.split_once(':')
        .is_some_and(|(s, k)| s.len() == 32 && k.len() == 128)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_writes_better_auth_scrypt_and_turns_argon2_back_into_it() {
    let fx = Fixture::new().await;
    let argon = fx
        .build(fx.builder().with_password_policy(PasswordPolicy::Argon2id))
        .await;
    let email = unique_email();
    let s = argon
        .sign_up_email(SignUpEmail::new("Ada", email.as_str(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    assert!(stored_hash(&fx, &s.user.id).await.starts_with("$argon2id$"));

    // Default policy: the argon2id hash verifies and becomes Better Auth's.
    let compat = fx.auth().await;
    compat
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    let h = stored_hash(&fx, &s.user.id).await;
    assert!(is_scrypt(&h), "{h}");
    // And stays so: a Better Auth hash is never replaced under the default.
    compat
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    assert_eq!(stored_hash(&fx, &s.user.id).await, h);
    // Sign-up writes it too.
    let other = compat
        .sign_up_email(SignUpEmail::new("Bo", unique_email(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    assert!(is_scrypt(&stored_hash(&fx, &other.user.id).await));

    // Argon2id: Better Auth's hash is replaced at sign-in.
    argon
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    assert!(stored_hash(&fx, &s.user.id).await.starts_with("$argon2id$"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_user_ids_are_written_when_configured_and_read_either_way() {
    let fx = Fixture::new().await;
    let uuid = fx.build(fx.builder().with_id_format(IdFormat::Uuid)).await;
    let email = unique_email();
    let s = uuid
        .sign_up_email(SignUpEmail::new("Uu", email.as_str(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    assert_eq!(s.user.id.format(), IdFormat::Uuid);
    assert_eq!(s.user.id.as_str().len(), 36);
    // A platform writing Better Auth's default IDs reads it.
    let default = fx.auth().await;
    let again = default
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    assert_eq!(again.user.id, s.user.id);
    let found = default
        .get_session(&again.session.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user.id, s.user.id);
    // A malformed stored ID is still refused with a typed error.
    fx.db
        .execute(&Statement::new(r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "createdAt", "updatedAt") VALUES ('not-a-uuid-but-thirty-six-chars-lo', 'X', 'x@example.com', 0, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"#))
        .await
        .unwrap();
    fx.db
        .execute(&Statement::new(r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") VALUES ('acc-x', 'x', 'credential', 'not-a-uuid-but-thirty-six-chars-lo', 'aa:bb', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"#))
        .await
        .unwrap();
    let e = default
        .sign_in_email(SignInEmail::new("x@example.com", PASSWORD), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 500, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_user_changes_name_and_image_only_for_a_live_session() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let s = auth
        .sign_up_email(SignUpEmail::new("Ada", unique_email(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let e = auth
        .update_user(&s.session.token, UpdateUser::default(), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NO_FIELDS_TO_UPDATE");
    let u = auth
        .update_user(
            &s.session.token,
            UpdateUser {
                name: Some("  Ada L. ".into()),
                image: Some(Some("https://example.com/a.png".into())),
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(u.name, "Ada L.");
    assert_eq!(u.image.as_deref(), Some("https://example.com/a.png"));
    let u = auth
        .update_user(
            &s.session.token,
            UpdateUser {
                name: None,
                image: Some(None),
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!((u.name.as_str(), u.image), ("Ada L.", None));
    assert!(
        auth.update_user(
            &s.session.token,
            UpdateUser {
                name: Some("a\u{0}b".into()),
                image: None
            },
            &meta()
        )
        .await
        .is_err()
    );
    auth.sign_out(&s.session.token, &meta()).await.unwrap();
    let e = auth
        .update_user(
            &s.session.token,
            UpdateUser {
                name: Some("Mallory".into()),
                image: None,
            },
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "UNAUTHORIZED");
    assert_eq!(
        auth.get_user(&s.user.id).await.unwrap().unwrap().name,
        "Ada L."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_email_moves_the_account_only_through_the_link_sent_to_the_new_address() {
    let fx = Fixture::new().await;
    let mailer = RecordingMailer::new();
    let auth = fx
        .build(
            fx.builder()
                .with_mailer(Arc::new(mailer.clone()))
                .with_users(UserConfig {
                    change_email: true,
                    ..UserConfig::default()
                }),
        )
        .await;
    let old = unique_email();
    let s = auth
        .sign_up_email(SignUpEmail::new("Ada", old.as_str(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let taken = unique_email();
    auth.sign_up_email(SignUpEmail::new("Bo", taken.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    let e = auth
        .change_email(&s.session.token, &old, None, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "EMAIL_IS_THE_SAME");
    // A taken address: the same answer, nothing sent.
    auth.change_email(&s.session.token, &taken, None, &meta())
        .await
        .unwrap();
    assert!(mailer.last_to(&taken, EmailKind::ChangeEmail).is_none());

    let new = unique_email();
    auth.change_email(&s.session.token, &new.to_uppercase(), None, &meta())
        .await
        .unwrap();
    // Nothing changes until the link is used.
    assert_eq!(auth.get_user(&s.user.id).await.unwrap().unwrap().email, old);
    let mail = mailer
        .last_to(&new, EmailKind::ChangeEmail)
        .expect("mailed to the new address");
    assert!(mailer.last_to(&old, EmailKind::ChangeEmail).is_none());
    let u = auth.verify_email(&mail.token, &meta()).await.unwrap();
    assert_eq!(u.email, new);
    assert_eq!(auth.get_user(&s.user.id).await.unwrap().unwrap().email, new);
    // Once.
    assert_eq!(
        auth.verify_email(&mail.token, &meta())
            .await
            .unwrap_err()
            .code(),
        "INVALID_TOKEN"
    );
    auth.sign_in_email(SignInEmail::new(new.as_str(), PASSWORD), &meta())
        .await
        .unwrap();

    // Disabled by default.
    let off = fx
        .build(fx.builder().with_mailer(Arc::new(mailer.clone())))
        .await;
    let e = off
        .change_email(&s.session.token, &unique_email(), None, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "CHANGE_EMAIL_DISABLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_needs_the_password_or_a_fresh_session_and_removes_everything() {
    let fx = Fixture::new().await;
    let auth = fx
        .build(
            fx.builder()
                .with_session(SessionConfig {
                    fresh_age: Duration::from_secs(600),
                    ..SessionConfig::default()
                })
                .with_users(UserConfig {
                    delete_user: true,
                    ..UserConfig::default()
                }),
        )
        .await;
    let email = unique_email();
    let s = auth
        .sign_up_email(SignUpEmail::new("Ada", email.as_str(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let accounts = auth.list_accounts(&s.user.id).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].provider_id, "credential");
    let json = serde_json::to_string(&accounts).unwrap();
    assert!(!json.contains("password") && !json.contains('$'), "{json}");

    fx.clock.advance(Duration::from_secs(601));
    let e = auth
        .delete_user(&s.session.token, None, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "SESSION_EXPIRED");
    let e = auth
        .delete_user(&s.session.token, Some("wrong password!"), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_PASSWORD");
    assert!(auth.get_user(&s.user.id).await.unwrap().is_some());
    let other = auth
        .sign_in_email(SignInEmail::new(email.as_str(), PASSWORD), &meta())
        .await
        .unwrap();
    auth.delete_user(&s.session.token, Some(PASSWORD), &meta())
        .await
        .unwrap();
    assert!(auth.get_user(&s.user.id).await.unwrap().is_none());
    assert!(
        auth.get_session(&other.session.token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(auth.get_session(&s.session.token).await.unwrap().is_none());
    assert!(auth.list_accounts(&s.user.id).await.unwrap().is_empty());
    let left: i64 = fx
        .db
        .query(
            &Statement::new(r#"SELECT COUNT(*) FROM "session" WHERE "userId" = ?1"#)
                .bind(s.user.id.as_str()),
        )
        .await
        .unwrap()[0]
        .get(0)
        .unwrap();
    assert_eq!(left, 0);
    // A fresh session deletes without the password.
    let t = auth
        .sign_up_email(SignUpEmail::new("Bo", unique_email(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    auth.delete_user(&t.session.token, None, &meta())
        .await
        .unwrap();
    assert!(auth.get_user(&t.user.id).await.unwrap().is_none());

    // Disabled by default (Better Auth answers 404).
    let off = fx.auth().await;
    let u = off
        .sign_up_email(SignUpEmail::new("Cy", unique_email(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let e = off
        .delete_user(&u.session.token, Some(PASSWORD), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    assert!(off.get_user(&u.user.id).await.unwrap().is_some());
}
