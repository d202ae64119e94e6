//! Sign-up, sign-in, sign-out, sessions (sliding expiry, revocation, the
//! validation cache) and cookies (signed, tampered, scoped).

use std::time::Duration;

use neutrino_core::clock::ManualClock;
use neutrino_core::sql::{Dialect, SqlExecutorExt, Statement};

use super::fixtures::{
    AuthStores, PASSWORD, SECRET, auth, auth_with, builder, mailing_auth, meta, unique_email, user,
    user_at,
};
use crate::audit::AuditEvent;
use crate::password::PasswordConfig;
use crate::{
    AuthError, ChangePassword, CookieConfig, CookieDomain, SessionCacheConfig, SessionConfig,
    SignInEmail, SignUpEmail, date,
};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Sign up writes better auth rows and the cookie validates.
pub async fn sign_up_writes_better_auth_rows_and_the_cookie_validates(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth_with(&stores.auth_db, clock, |b| {
        b.with_passwords(PasswordConfig::default())
    })
    .await;
    let signed = auth
        .sign_up_email(
            SignUpEmail::new("Ada", "  Ada@Example.COM ", PASSWORD),
            &meta(),
        )
        .await
        .unwrap()
        .signed_in()
        .expect("signed in");
    assert_eq!(signed.user.email, "ada@example.com");
    assert!(!signed.user.email_verified);

    let user = stores.auth_db
        .query_one(
            &Statement::new(match stores.auth_db.dialect() {
                Dialect::Postgres => r#"SELECT "id", "emailVerified", pg_typeof("emailVerified")::text AS t, "createdAt" FROM "user""#,
                _ => r#"SELECT "id", "emailVerified", typeof("emailVerified") AS t, "createdAt" FROM "user""#,
            }),
            "user",
            "ada",
        )
        .await
        .unwrap();
    let id: String = user.get("id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(user.get::<i64>("emailVerified").unwrap(), 0);
    // Booleans are integers 0/1 on every engine (`bigint` on PostgreSQL).
    let integer = match stores.auth_db.dialect() {
        Dialect::Postgres => "bigint",
        _ => "integer",
    };
    assert_eq!(user.get::<String>("t").unwrap(), integer);
    let created: String = user.get("createdAt").unwrap();
    assert_eq!(created.len(), 24, "{created}");
    assert!(
        created.ends_with('Z') && created.as_bytes()[19] == b'.',
        "{created}"
    );
    assert_eq!(date::parse(&created), Some(signed.user.created_at));

    let account = stores
        .auth_db
        .query_one(
            &Statement::new(
                r#"SELECT "accountId", "providerId", "userId", "password" FROM "account""#,
            ),
            "account",
            "ada",
        )
        .await
        .unwrap();
    assert_eq!(account.get::<String>("providerId").unwrap(), "credential");
    assert_eq!(account.get::<String>("accountId").unwrap(), id);
    assert_eq!(account.get::<String>("userId").unwrap(), id);
    // Better Auth's own scrypt format by default: `<saltHex32>:<keyHex128>`.
    let hash: String = account.get("password").unwrap();
    let (salt, key) = hash.split_once(':').expect("salt:key");
    assert_eq!((salt.len(), key.len()), (32, 128), "{hash}");

    let session = stores
        .auth_db
        .query_one(
            &Statement::new(
                r#"SELECT "token", "ipAddress", "userAgent", "expiresAt" FROM "session""#,
            ),
            "session",
            "ada",
        )
        .await
        .unwrap();
    assert_eq!(
        session.get::<String>("token").unwrap(),
        signed.session.token
    );
    assert_eq!(session.get::<String>("ipAddress").unwrap(), "198.51.100.4");
    let expires: String = session.get("expiresAt").unwrap();
    assert_eq!(
        date::parse(&expires).unwrap(),
        signed.session.created_at + 7 * DAY
    );

    let cookie = auth.cookies().session_cookie(&signed.session.token, true);
    let header = cookie.to_string();
    assert!(header.contains("Max-Age=604800"), "{header}");
    let found = auth
        .get_session_from_cookie(cookie.value())
        .await
        .unwrap()
        .expect("session found");
    assert_eq!(found.user, signed.user);
    assert_eq!(found.session.id, signed.session.id);
    assert!(!found.refreshed);
    let by_header = auth
        .get_session_from_cookie_header(&format!(
            "theme=dark; {}={}",
            cookie.name(),
            cookie.value()
        ))
        .await
        .unwrap()
        .expect("session found from the header");
    assert_eq!(by_header.session.id, signed.session.id);
    assert!(
        auth.get_session_from_cookie_header("theme=dark")
            .await
            .unwrap()
            .is_none()
    );
}

/// Duplicate emails and disabled sign up are refused.
pub async fn duplicate_emails_and_disabled_sign_up_are_refused(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let email = unique_email();
    user_at(&auth, "A", &email).await;
    let again = auth
        .sign_up_email(
            SignUpEmail::new("B", email.to_uppercase(), PASSWORD),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(again.code(), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    assert_eq!(again.status(), 422);

    let closed = auth_with(&stores.auth_db, clock, |b| b.with_disable_sign_up(true)).await;
    let err = closed
        .sign_up_email(SignUpEmail::new("C", unique_email(), PASSWORD), &meta())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "EMAIL_PASSWORD_SIGN_UP_DISABLED");
    // Existing users still sign in on an invitation-only platform.
    closed
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .unwrap();
}

/// Sign in answers the same for unknown emails and wrong passwords.
pub async fn sign_in_answers_the_same_for_unknown_emails_and_wrong_passwords(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let email = unique_email();
    let up = user_at(&auth, "A", &email).await;
    let wrong = auth
        .sign_in_email(SignInEmail::new(&email, "not the password"), &meta())
        .await
        .unwrap_err();
    let unknown = auth
        .sign_in_email(SignInEmail::new(unique_email(), PASSWORD), &meta())
        .await
        .unwrap_err();
    let too_long = auth
        .sign_in_email(SignInEmail::new(&email, "x".repeat(10_000)), &meta())
        .await
        .unwrap_err();
    for e in [&wrong, &unknown, &too_long] {
        assert_eq!(e.code(), "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(e.status(), 401);
    }
    let ok = auth
        .sign_in_email(SignInEmail::new(email.to_uppercase(), PASSWORD), &meta())
        .await
        .unwrap();
    assert_eq!(ok.user.id, up.user.id);
    assert_ne!(ok.session.token, up.session.token);

    let log = auth.audit_log(None, 50).await.unwrap();
    let events: Vec<AuditEvent> = log.iter().rev().map(|e| e.event).collect();
    assert_eq!(
        events,
        [
            AuditEvent::SignUp,
            AuditEvent::SignInFailed,
            AuditEvent::SignInFailed,
            AuditEvent::SignInFailed,
            AuditEvent::SignIn
        ]
    );
    let failed = &log[3];
    assert_eq!(failed.ip_address.as_deref(), Some("198.51.100.4"));
    assert_eq!(failed.user_agent.as_deref(), Some("neutrino-tests/1.0"));
    assert_eq!(failed.user_id.as_deref(), Some(up.user.id.as_str()));
}

/// Sign out deletes the session.
pub async fn sign_out_deletes_the_session(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let s = user(&auth, "A").await;
    auth.sign_out(&s.session.token, &meta()).await.unwrap();
    assert!(auth.get_session(&s.session.token).await.unwrap().is_none());
    // Signing out twice, or with an unknown token, is a no-op.
    auth.sign_out(&s.session.token, &meta()).await.unwrap();
    auth.sign_out("unknown", &meta()).await.unwrap();
    let log = auth.audit_log(Some(&s.user.id), 10).await.unwrap();
    assert_eq!(log[0].event, AuditEvent::SignOut);
    assert_eq!(log[0].session_id.as_deref(), Some(s.session.id.as_str()));
}

/// Sessions slide expire and are deleted on sight.
pub async fn sessions_slide_expire_and_are_deleted_on_sight(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let s = user(&auth, "A").await;
    let token = s.session.token.clone();

    clock.advance(DAY - Duration::from_secs(1));
    let early = auth.get_session(&token).await.unwrap().unwrap();
    assert!(!early.refreshed, "not yet updateAge old");
    assert_eq!(early.session.expires_at, s.session.expires_at);

    clock.advance(Duration::from_secs(2));
    let slid = auth.get_session(&token).await.unwrap().unwrap();
    assert!(slid.refreshed);
    assert_eq!(
        slid.session.expires_at,
        s.session.created_at + DAY + Duration::from_secs(1) + 7 * DAY
    );

    clock.advance(7 * DAY + Duration::from_secs(2));
    assert!(auth.get_session(&token).await.unwrap().is_none());
    let left = stores
        .auth_db
        .query(
            &Statement::new(r#"SELECT 1 FROM "session" WHERE "token" = ?1"#).bind(token.as_str()),
        )
        .await
        .unwrap();
    assert!(left.is_empty(), "expired row deleted on sight");
}

/// Remember me off gives a one day session and browser cookie.
pub async fn remember_me_off_gives_a_one_day_session_and_browser_cookie(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let email = unique_email();
    user_at(&auth, "A", &email).await;
    let mut req = SignInEmail::new(&email, PASSWORD);
    req.remember_me = false;
    let s = auth.sign_in_email(req, &meta()).await.unwrap();
    assert!(!s.remember_me);
    assert_eq!(s.session.expires_at, s.session.created_at + DAY);
    let cookies = auth.cookies().sign_in_cookies(&s.session.token, false);
    assert_eq!(cookies.len(), 2);
    assert!(cookies[0].max_age().is_none());
    // With the dont_remember marker, validation never extends the session.
    let header = format!(
        "{}={}; {}={}",
        cookies[0].name(),
        cookies[0].value(),
        cookies[1].name(),
        cookies[1].value()
    );
    clock.advance(DAY - Duration::from_secs(10));
    let found = auth
        .get_session_from_cookie_header(&header)
        .await
        .unwrap()
        .unwrap();
    assert!(!found.refreshed);
    clock.advance(Duration::from_secs(11));
    assert!(
        auth.get_session_from_cookie_header(&header)
            .await
            .unwrap()
            .is_none()
    );
}

/// Revocation one all and all others.
pub async fn revocation_one_all_and_all_others(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let email = unique_email();
    let first = user_at(&auth, "A", &email).await;
    let uid = first.user.id;
    let mut tokens = vec![first.session.token.clone()];
    for _ in 0..3 {
        tokens.push(
            auth.operator_session(&uid, true, "support", "test session", &meta())
                .await
                .unwrap()
                .token,
        );
    }
    let other = user(&auth, "B").await;
    assert_eq!(auth.list_sessions(&uid).await.unwrap().len(), 4);

    // Another user's token is a silent no-op.
    assert_eq!(
        auth.revoke_session(&uid, &other.session.token, &meta())
            .await
            .unwrap(),
        0
    );
    assert!(
        auth.get_session(&other.session.token)
            .await
            .unwrap()
            .is_some()
    );

    assert_eq!(
        auth.revoke_session(&uid, &tokens[3], &meta())
            .await
            .unwrap(),
        1
    );
    assert!(auth.get_session(&tokens[3]).await.unwrap().is_none());

    assert_eq!(
        auth.revoke_other_sessions(&uid, &tokens[0], &meta())
            .await
            .unwrap(),
        2
    );
    assert!(auth.get_session(&tokens[0]).await.unwrap().is_some());
    assert!(auth.get_session(&tokens[1]).await.unwrap().is_none());

    assert_eq!(auth.revoke_sessions(&uid, &meta()).await.unwrap(), 1);
    assert!(auth.get_session(&tokens[0]).await.unwrap().is_none());
    assert!(auth.list_sessions(&uid).await.unwrap().is_empty());
    assert!(
        auth.get_session(&other.session.token)
            .await
            .unwrap()
            .is_some()
    );
    let revocations = auth
        .audit_log(Some(&uid), 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == AuditEvent::SessionRevoked)
        .count();
    assert_eq!(revocations, 4);
}

/// Changing the password can revoke other sessions.
pub async fn changing_the_password_can_revoke_other_sessions(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth(stores, clock).await;
    let email = unique_email();
    let s = user_at(&auth, "A", &email).await;
    let other = auth
        .operator_session(&s.user.id, true, "support", "test session", &meta())
        .await
        .unwrap();
    let wrong = auth
        .change_password(
            &s.user.id,
            ChangePassword {
                current_password: "wrong password".into(),
                new_password: "a brand new secret".into(),
                revoke_other_sessions: true,
            },
            Some(&s.session.token),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), "INVALID_PASSWORD");
    let short = auth
        .change_password(
            &s.user.id,
            ChangePassword {
                current_password: PASSWORD.into(),
                new_password: "short".into(),
                revoke_other_sessions: true,
            },
            Some(&s.session.token),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(short.code(), "PASSWORD_TOO_SHORT");
    auth.change_password(
        &s.user.id,
        ChangePassword {
            current_password: PASSWORD.into(),
            new_password: "a brand new secret".into(),
            revoke_other_sessions: true,
        },
        Some(&s.session.token),
        &meta(),
    )
    .await
    .unwrap();
    assert!(auth.get_session(&s.session.token).await.unwrap().is_some());
    assert!(auth.get_session(&other.token).await.unwrap().is_none());
    let old = auth
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .unwrap_err();
    assert!(matches!(old, AuthError::InvalidEmailOrPassword));
    auth.sign_in_email(SignInEmail::new(&email, "a brand new secret"), &meta())
        .await
        .unwrap();
    let log = auth.audit_log(Some(&s.user.id), 10).await.unwrap();
    assert!(log.iter().any(|e| e.event == AuditEvent::PasswordChanged));
}

/// Purge expired deletes only expired sessions.
pub async fn purge_expired_deletes_only_expired_sessions(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let s = user(&auth, "A").await;
    let short = auth
        .operator_session(&s.user.id, false, "support", "test session", &meta())
        .await
        .unwrap();
    clock.advance(2 * DAY);
    assert_eq!(auth.purge_expired().await.unwrap(), 1);
    assert_eq!(auth.purge_expired().await.unwrap(), 0);
    assert!(auth.get_session(&short.token).await.unwrap().is_none());
    assert!(auth.get_session(&s.session.token).await.unwrap().is_some());
}

/// Better Auth's scrypt users sign in, and the argon2id policy rehashes them.
pub async fn better_auth_scrypt_users_sign_in_and_are_rehashed(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    // Rehashing Better Auth's hashes is the argon2id policy's choice.
    let auth = auth_with(&stores.auth_db, clock, |b| {
        b.with_password_policy(crate::PasswordPolicy::Argon2id)
    })
    .await;
    // A user as Better Auth writes it: scrypt hash computed by Node's crypto.
    let id = "Xq3bHk9Lm2Np4Rs6Tv8Wx0Yz1Ab3Cd5E";
    let stamp = "2026-01-02T03:04:05.678Z";
    stores.auth_db
        .batch(&[
            Statement::new(r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt") VALUES (?1, 'Imported', 'imported@example.com', 1, NULL, ?2, ?2)"#)
                .bind(id)
                .bind(stamp),
            Statement::new(r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") VALUES ('acc00000000000000000000000000001', ?1, 'credential', ?1, ?2, ?3, ?3)"#)
                .bind(id)
                .bind("0123456789abcdef0123456789abcdef:b87ad68e260d745e9edfac97cc70f72a8fbb1771cf033e8d2b3c360d3788e3548d977bae5090f5d6cd75f5190a6fbe6b0b5737d5420119bd1e44ccdc779acfe5")
                .bind(stamp),
        ])
        .await
        .unwrap();
    let s = auth
        .sign_in_email(SignInEmail::new("imported@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    assert_eq!(s.user.id.as_str(), id);
    assert!(s.user.email_verified);
    assert_eq!(date::format(s.user.created_at), stamp);
    let stored: String = stores
        .auth_db
        .query_one(
            &Statement::new(r#"SELECT "password" FROM "account""#),
            "account",
            id,
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "rehashed: {stored}");
    auth.sign_in_email(SignInEmail::new("imported@example.com", PASSWORD), &meta())
        .await
        .unwrap();
}

/// The cache serves repeat validations and documents its lag.
pub async fn the_cache_serves_repeat_validations_and_documents_its_lag(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth_with(&stores.auth_db, clock, |b| {
        b.with_session_cache(SessionCacheConfig {
            ttl: Duration::from_secs(60),
            max_entries: 2,
        })
    })
    .await;
    // A second Auth on the same database, e.g. another process.
    let elsewhere = super::fixtures::auth(stores, clock).await;
    let s = user(&auth, "A").await;
    let t = s.session.token.clone();
    assert!(auth.get_session(&t).await.unwrap().is_some());
    assert_eq!(auth.cached_sessions(), 1);

    // Revoked elsewhere: still valid here until the TTL passes (the documented lag)…
    elsewhere
        .revoke_sessions(&s.user.id, &meta())
        .await
        .unwrap();
    assert!(auth.get_session(&t).await.unwrap().is_some());
    clock.advance(Duration::from_secs(61));
    assert!(auth.get_session(&t).await.unwrap().is_none());

    // …but revocations through the same Auth take effect at once.
    let again = auth
        .operator_session(&s.user.id, true, "support", "test session", &meta())
        .await
        .unwrap();
    assert!(auth.get_session(&again.token).await.unwrap().is_some());
    auth.sign_out(&again.token, &meta()).await.unwrap();
    assert!(auth.get_session(&again.token).await.unwrap().is_none());

    // Bounded.
    for _ in 0..5 {
        let x = auth
            .operator_session(&s.user.id, true, "support", "test session", &meta())
            .await
            .unwrap();
        auth.get_session(&x.token).await.unwrap().unwrap();
    }
    assert!(auth.cached_sessions() <= 2);

    let too_long = builder(&stores.auth_db, clock)
        .with_session_cache(SessionCacheConfig {
            ttl: Duration::from_secs(301),
            max_entries: 10,
        })
        .build()
        .unwrap_err();
    assert_eq!(too_long.code(), "INTERNAL_SERVER_ERROR");
    assert!(too_long.to_string().contains("cache.ttl"), "{too_long}");
}

/// Cookies are scoped platform wide or host only.
pub async fn cookies_are_scoped_platform_wide_or_host_only(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let platform = neutrino_core::ids::PlatformId::generate();
    let wide = auth_with(&stores.auth_db, clock, |b| {
        b.with_cookies(CookieConfig {
            secure: true,
            domain: CookieDomain::platform(platform, &neutrino_core::naming::Domain::default()),
            ..CookieConfig::default()
        })
    })
    .await;
    let s = user(&wide, "A").await;
    let c = wide
        .cookies()
        .session_cookie(&s.session.token, true)
        .to_string();
    assert!(c.starts_with("__Secure-better-auth.session_token="), "{c}");
    assert!(c.contains(&format!("Domain={platform}.nno.app")), "{c}");
    assert!(c.contains("Secure"), "{c}");
    let host = auth(stores, clock).await;
    let c = host
        .cookies()
        .session_cookie(&s.session.token, true)
        .to_string();
    assert!(!c.contains("Domain"), "{c}");
    // Same secret, same signature: the cookie validates with either setting.
    assert!(
        host.get_session_from_cookie(&host.cookies().sign(&s.session.token))
            .await
            .unwrap()
            .is_some()
    );
    let other_secret = auth_with(&stores.auth_db, clock, |_| {
        crate::AuthBuilder::new_shared(stores.auth_db.clone(), format!("{SECRET}-rotated"))
    })
    .await;
    let err = other_secret
        .get_session_from_cookie(&host.cookies().sign(&s.session.token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UNAUTHORIZED");
}

/// Configuration is validated and debug hides secrets.
pub async fn configuration_is_validated_and_debug_hides_secrets(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let short = crate::AuthBuilder::new_shared(stores.auth_db.clone(), "too short")
        .build()
        .unwrap_err();
    assert!(short.to_string().contains("secret"));
    let default = crate::AuthBuilder::new_shared(
        stores.auth_db.clone(),
        "better-auth-secret-12345678901234567890",
    )
    .build()
    .unwrap_err();
    assert!(default.to_string().contains("default"));
    let bad_session = builder(&stores.auth_db, clock)
        .with_session(SessionConfig {
            update_age: 30 * DAY,
            ..SessionConfig::default()
        })
        .build()
        .unwrap_err();
    assert!(bad_session.to_string().contains("update_age"));

    let auth = auth(stores, clock).await;
    let s = user(&auth, "A").await;
    let debug = format!(
        "{auth:?} {:?} {s:?} {:?}",
        builder(&stores.auth_db, clock),
        SignInEmail::new("a@b.co", PASSWORD)
    );
    for secret in [SECRET, PASSWORD, s.session.token.as_str()] {
        assert!(
            !debug.contains(secret),
            "debug output leaks a secret: {debug}"
        );
    }
}

/// With the cache on, every way this `Auth` ends a session takes effect at
/// once: the cache wraps the session store, so no path can end a session in
/// the database and leave it valid in memory.
pub async fn with_the_cache_on_every_revocation_path_takes_effect_at_once(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    use crate::mail::EmailKind;

    let (auth, mailer) = mailing_auth(stores, clock, |b| {
        b.with_revoke_sessions_on_password_reset(true)
            .with_session_cache(SessionCacheConfig {
                ttl: Duration::from_secs(60),
                max_entries: 100,
            })
    })
    .await;
    let email = unique_email();
    let s = user_at(&auth, "A", &email).await;
    let user = s.user.id;
    let a = &auth;
    let address = email.as_str();
    let session = move || async move {
        let auth = a;
        let x = auth
            .sign_in_email(SignInEmail::new(address, PASSWORD), &meta())
            .await
            .unwrap();
        let cookie = auth.cookies().sign(&x.session.token);
        // Validated once, so cached, by token and by cookie.
        assert!(auth.get_session(&x.session.token).await.unwrap().is_some());
        assert!(
            auth.get_session_from_cookie(&cookie)
                .await
                .unwrap()
                .is_some()
        );
        (x.session.token, cookie)
    };
    let gone = move |token: String, cookie: String| async move {
        let auth = a;
        assert!(auth.get_session(&token).await.unwrap().is_none());
        assert!(
            auth.get_session_from_cookie(&cookie)
                .await
                .unwrap()
                .is_none()
        );
    };

    // One session by token.
    let (t, c) = session().await;
    assert_eq!(auth.revoke_session(&user, &t, &meta()).await.unwrap(), 1);
    gone(t, c).await;

    // All others.
    let (keep, keep_cookie) = session().await;
    let (t, c) = session().await;
    auth.revoke_other_sessions(&user, &keep, &meta())
        .await
        .unwrap();
    gone(t, c).await;
    assert!(auth.get_session(&keep).await.unwrap().is_some());

    // A password change that revokes the others.
    let (t, c) = session().await;
    auth.change_password(
        &user,
        ChangePassword {
            current_password: PASSWORD.into(),
            new_password: "a second password".into(),
            revoke_other_sessions: true,
        },
        Some(&keep),
        &meta(),
    )
    .await
    .unwrap();
    gone(t, c).await;
    assert!(
        auth.get_session_from_cookie(&keep_cookie)
            .await
            .unwrap()
            .is_some()
    );
    auth.change_password(
        &user,
        ChangePassword {
            current_password: "a second password".into(),
            new_password: PASSWORD.into(),
            revoke_other_sessions: false,
        },
        None,
        &meta(),
    )
    .await
    .unwrap();

    // A password reset that revokes every session.
    let (t, c) = session().await;
    auth.request_password_reset(&email, None, &meta())
        .await
        .unwrap();
    let mail = mailer.last_to(&email, EmailKind::ResetPassword).unwrap();
    auth.reset_password(&mail.token, "a reset password", &meta())
        .await
        .unwrap();
    gone(t, c).await;
    gone(keep, keep_cookie).await;
    assert_eq!(auth.cached_sessions(), 0);
}

/// A session cookie altered in any way (its signature, its token, another
/// session's token under its signature, a cut or empty value, another
/// secret's signature) finds no session.
pub async fn tampered_cookies_are_refused(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let a = user(&auth, "A").await;
    let b = user(&auth, "B").await;
    let good = auth.cookies().sign(&a.session.token);
    let found = auth
        .get_session_from_cookie(&good)
        .await
        .unwrap()
        .expect("valid");
    assert_eq!(found.user.id, a.user.id);
    let (token, sig) = good.split_once('.').expect("token.signature");
    let flip = |s: &str, at: usize| -> String {
        let mut c: Vec<char> = s.chars().collect();
        let i = at % c.len();
        c[i] = if c[i] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect()
    };
    let other_sig = auth.cookies().sign(&b.session.token);
    let (_, b_sig) = other_sig.split_once('.').expect("token.signature");
    let other_secret = auth_with(&stores.auth_db, clock, |_| {
        crate::AuthBuilder::new_shared(stores.auth_db.clone(), format!("{SECRET}-other"))
            .with_clock(std::sync::Arc::new(clock.clone()))
    })
    .await;
    let forged = other_secret.cookies().sign(&a.session.token);
    let tampered = [
        format!("{token}.{}", flip(sig, 0)),
        format!("{token}.{}", flip(sig, 7)),
        format!("{}.{sig}", flip(token, 3)),
        format!("{}.{sig}", b.session.token),
        format!("{token}.{b_sig}"),
        format!("{token}."),
        token.to_owned(),
        format!(".{sig}"),
        String::new(),
        format!("{good}x"),
        forged,
    ];
    for cookie in &tampered {
        match auth.get_session_from_cookie(cookie).await {
            Ok(None) => {}
            Ok(Some(s)) => panic!("a tampered cookie found the session of {}", s.user.id),
            Err(e) => assert_eq!(e.code(), "UNAUTHORIZED", "{cookie}: {e:?}"),
        }
        let header = format!(
            "{}={cookie}",
            auth.cookies().session_cookie("x", true).name()
        );
        assert!(
            !matches!(
                auth.get_session_from_cookie_header(&header).await,
                Ok(Some(_))
            ),
            "a tampered cookie header found a session"
        );
    }
    // The good one still works, and finds its own user only.
    let again = auth
        .get_session_from_cookie(&good)
        .await
        .unwrap()
        .expect("valid");
    assert_eq!(again.user.id, a.user.id);
}

/// With the cache on, a session shows its active organization as it now is
/// right after each change made through the same `Auth`: creating an
/// organization, setting one active, clearing it, being removed from it.
pub async fn with_the_cache_on_a_session_shows_its_active_organization_at_once(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    use neutrino_tenancy::{NewPlatform, PlatformClass};

    use crate::org::NewOrganization;

    let auth = auth_with(&stores.auth_db, clock, |b| {
        b.with_session_cache(SessionCacheConfig {
            ttl: Duration::from_secs(60),
            max_entries: 100,
        })
    })
    .await;
    let registry = super::fixtures::registry(stores, clock).await;
    let platform = registry
        .create_platform(NewPlatform::new("Cached", PlatformClass::Platform))
        .await
        .expect("platform")
        .id;
    let minter = registry.scope_minter().expect("minter");
    let orgs = super::fixtures::organizations(auth.clone(), registry, platform, minter);
    let ada = user(&auth, "Ada").await;
    let bob = user(&auth, "Bob").await;
    let (ta, tb) = (&ada.session.token, &bob.session.token);
    let active = |token: &str| {
        let auth = auth.clone();
        let token = token.to_owned();
        async move {
            auth.get_session(&token)
                .await
                .unwrap()
                .expect("valid")
                .session
                .active_organization_id
                .clone()
        }
    };
    // Cached with no active organization.
    assert_eq!(active(ta).await, None);
    assert_eq!(active(tb).await, None);
    let slug = |s: &str| format!("{s}-{}", neutrino_core::ids::generate_id().to_lowercase());
    let acme = orgs
        .create_organization(ta, NewOrganization::new("Acme", slug("acme")), &meta())
        .await
        .unwrap();
    assert_eq!(active(ta).await, Some(acme.id.to_string()));
    let other = orgs
        .create_organization(
            ta,
            NewOrganization {
                keep_current_active: true,
                ..NewOrganization::new("Other", slug("other"))
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(active(ta).await, Some(acme.id.to_string()));
    orgs.set_active(ta, Some(&other.id), &meta()).await.unwrap();
    assert_eq!(active(ta).await, Some(other.id.to_string()));
    orgs.set_active(ta, None, &meta()).await.unwrap();
    assert_eq!(active(ta).await, None);

    // An invitation accepted makes its organization active; a removal
    // clears it.
    let inv = orgs
        .invite_member(ta, &acme.id, &bob.user.email, "member", &meta())
        .await
        .unwrap();
    let (_, member) = orgs.accept_invitation(tb, &inv.id, &meta()).await.unwrap();
    assert_eq!(active(tb).await, Some(acme.id.to_string()));
    orgs.remove_member(ta, &acme.id, &member.id, &meta())
        .await
        .unwrap();
    assert_eq!(active(tb).await, None);
}
