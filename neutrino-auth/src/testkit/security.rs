//! Origin checks, the rate limiter, reset and verification tokens, and the
//! append-only audit log.

use std::time::Duration;

use neutrino_core::clock::ManualClock;
use neutrino_core::sql::Statement;

use super::fixtures::{
    AuthStores, BASE_URL, PASSWORD, auth, auth_with, code, mailing_auth, meta, unique_email, user,
    user_at,
};
use crate::mail::EmailKind;
use crate::origin::OriginRequest;
use crate::{AuthError, RateLimitConfig, RequestMeta, SignInEmail, SignUpEmail};

fn post<'a>(origin: Option<&'a str>) -> OriginRequest<'a> {
    OriginRequest {
        method: "POST",
        has_cookies: true,
        origin,
        ..OriginRequest::default()
    }
}

/// Origin check follows better auth rules.
pub async fn origin_check_follows_better_auth_rules(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth_with(&stores.auth_db, clock, |b| {
        b.with_base_url("https://auth.svc.default.k3m9p2xw7q.nno.app")
            .with_trusted_origins(["https://*.app.default.k3m9p2xw7q.nno.app"])
    })
    .await;
    let code = |r: &OriginRequest<'_>| auth.check_origin(r).err().map(|e| e.code());

    assert_eq!(
        code(&post(Some("https://auth.svc.default.k3m9p2xw7q.nno.app"))),
        None
    );
    assert_eq!(
        code(&post(Some(
            "https://console.app.default.k3m9p2xw7q.nno.app"
        ))),
        None
    );
    assert_eq!(
        code(&post(Some("https://evil.example"))),
        Some("INVALID_ORIGIN")
    );
    assert_eq!(code(&post(Some("null"))), Some("MISSING_OR_NULL_ORIGIN"));
    assert_eq!(code(&post(None)), Some("MISSING_OR_NULL_ORIGIN"));
    assert_eq!(code(&post(Some("not a url"))), Some("INVALID_ORIGIN"));
    // The Referer stands in for a missing Origin.
    let with_referer = OriginRequest {
        referer: Some("https://console.app.default.k3m9p2xw7q.nno.app/settings"),
        ..post(None)
    };
    assert_eq!(code(&with_referer), None);
    // An empty Origin is none; a `null` one is not replaced by the Referer
    // (Better Auth's `origin || referer`: a cross-origin redirect keeps the
    // first page's Referer and nulls the Origin).
    assert_eq!(
        code(&OriginRequest {
            origin: Some(""),
            ..with_referer.clone()
        }),
        None
    );
    assert_eq!(
        code(&OriginRequest {
            origin: Some("null"),
            ..with_referer.clone()
        }),
        Some("MISSING_OR_NULL_ORIGIN")
    );
    // GET is never checked; POST without cookies only on sign-in/up with fetch metadata.
    assert_eq!(
        code(&OriginRequest {
            method: "GET",
            ..post(None)
        }),
        None
    );
    assert_eq!(
        code(&OriginRequest {
            has_cookies: false,
            ..post(None)
        }),
        None
    );
    let login = |site, mode, origin| OriginRequest {
        method: "POST",
        is_sign_in_or_up: true,
        sec_fetch_site: site,
        sec_fetch_mode: mode,
        origin,
        ..OriginRequest::default()
    };
    assert_eq!(
        code(&login(
            Some("cross-site"),
            Some("navigate"),
            Some("https://evil.example")
        )),
        Some("CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
    );
    assert_eq!(
        code(&login(Some("same-origin"), Some("cors"), None)),
        Some("MISSING_OR_NULL_ORIGIN")
    );
    assert_eq!(
        code(&login(
            Some("same-origin"),
            Some("cors"),
            Some("https://auth.svc.default.k3m9p2xw7q.nno.app")
        )),
        None
    );
    assert_eq!(
        code(&login(None, None, None)),
        None,
        "server-to-server sign-in"
    );
    // Callback URLs.
    for (url, ok) in [
        ("/dashboard", true),
        ("https://console.app.default.k3m9p2xw7q.nno.app/x", true),
        ("//evil.example/x", false),
        ("/\\evil.example", false),
        ("https://evil.example/", false),
        ("javascript:alert(1)", false),
        // Browsers end an http(s) authority at `\\` as at `/`.
        (
            "https://evil.example\\@console.app.default.k3m9p2xw7q.nno.app/",
            false,
        ),
        (
            "https://evil.example\\@console.app.default.k3m9p2xw7q.nno.app",
            false,
        ),
        ("/\\/evil.example", false),
        ("/a\\b", false),
        // Encoded slashes and backslashes in a relative path.
        ("/%2Fevil.example", false),
        ("/%2f%2fevil.example", false),
        ("/%5Cevil.example", false),
        ("/search?q=a%2Fb", true),
        ("/done#%2F", true),
    ] {
        let r = OriginRequest {
            callback_urls: vec![url],
            ..post(Some("https://auth.svc.default.k3m9p2xw7q.nno.app"))
        };
        assert_eq!(code(&r).is_none(), ok, "{url}");
        if !ok {
            assert_eq!(code(&r), Some("INVALID_CALLBACK_URL"));
        }
    }
}

/// Sign in is rate limited per ip and path.
pub async fn sign_in_is_rate_limited_per_ip_and_path(stores: &AuthStores, clock: &ManualClock) {
    // The suite's counter store, on the case's clock.
    let kv = stores.counters.clone();
    let auth = auth_with(&stores.auth_db, clock, |b| {
        b.with_rate_limit(kv, RateLimitConfig::default())
    })
    .await;
    let email = unique_email();
    let a = RequestMeta::new("203.0.113.1", "ua");
    let b = RequestMeta::new("203.0.113.2", "ua");
    auth.sign_up_email(SignUpEmail::new("A", &email, PASSWORD), &a)
        .await
        .unwrap()
        .signed_in()
        .expect("signed in");
    for _ in 0..3 {
        let e = auth
            .sign_in_email(SignInEmail::new(&email, "wrong password"), &a)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "INVALID_EMAIL_OR_PASSWORD");
    }
    let limited = auth
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &a)
        .await
        .unwrap_err();
    let AuthError::TooManyRequests { retry_after } = limited else {
        panic!("expected TOO_MANY_REQUESTS, got {limited:?}");
    };
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(10));
    assert_eq!(limited.status(), 429);
    // Another IP is not affected; the same IP may sign up (another path).
    auth.sign_in_email(SignInEmail::new(&email, PASSWORD), &b)
        .await
        .unwrap();
    // After the window, the first IP may try again.
    clock.advance(Duration::from_secs(11));
    auth.sign_in_email(SignInEmail::new(&email, PASSWORD), &a)
        .await
        .unwrap();
    // IPv6 clients in one /64 share a budget.
    for i in 0..3 {
        auth.check_rate_limit(
            &RequestMeta::new(format!("2001:db8:0:1::{i}"), "ua"),
            "/sign-in/email",
        )
        .await
        .unwrap();
    }
    let e = auth
        .check_rate_limit(
            &RequestMeta::new("2001:db8:0:1::ff", "ua"),
            "/sign-in/email",
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "TOO_MANY_REQUESTS");
}

/// Password reset tokens are single use and expire.
pub async fn password_reset_tokens_are_single_use_and_expire(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (auth, mailer) = mailing_auth(stores, clock, |b| {
        b.with_revoke_sessions_on_password_reset(true)
    })
    .await;
    let email = unique_email();
    let s = user_at(&auth, "A", &email).await;
    // Unknown emails answer the same and send nothing.
    auth.request_password_reset(&unique_email(), None, &meta())
        .await
        .unwrap();
    assert!(mailer.sent().is_empty());
    let bad_cb = auth
        .request_password_reset(&email, Some("https://evil.example/"), &meta())
        .await
        .unwrap_err();
    assert_eq!(bad_cb.code(), "INVALID_CALLBACK_URL");

    auth.request_password_reset(&email, Some("/reset-done"), &meta())
        .await
        .unwrap();
    let mail = mailer.last_to(&email, EmailKind::ResetPassword).unwrap();
    assert_eq!(mail.token.len(), 24);
    assert_eq!(
        mail.url,
        format!(
            "https://auth.svc.default.k3m9p2xw7q.nno.app/api/auth/reset-password/{}?callbackURL=%2Freset%2Ddone",
            mail.token
        )
    );
    assert!(!format!("{mail:?}").contains(&mail.token));
    let row = stores
        .auth_db
        .query(
            &Statement::new(r#"SELECT "value" FROM "verification" WHERE "identifier" = ?1"#)
                .bind(format!("reset-password:{}", mail.token)),
        )
        .await
        .unwrap();
    assert_eq!(row[0].get::<String>(0).unwrap(), s.user.id.as_str());

    let short = auth
        .reset_password(&mail.token, "short", &meta())
        .await
        .unwrap_err();
    assert_eq!(short.code(), "PASSWORD_TOO_SHORT");
    auth.reset_password(&mail.token, "a reset password", &meta())
        .await
        .unwrap();
    let reused = auth
        .reset_password(&mail.token, "another password", &meta())
        .await
        .unwrap_err();
    assert_eq!(reused.code(), "INVALID_TOKEN");
    assert!(
        auth.get_session(&s.session.token).await.unwrap().is_none(),
        "sessions revoked"
    );
    auth.sign_in_email(SignInEmail::new(&email, "a reset password"), &meta())
        .await
        .unwrap();

    auth.request_password_reset(&email, None, &meta())
        .await
        .unwrap();
    let late = mailer.last_to(&email, EmailKind::ResetPassword).unwrap();
    clock.advance(Duration::from_secs(3601));
    let expired = auth
        .reset_password(&late.token, "too late password", &meta())
        .await
        .unwrap_err();
    assert_eq!(expired.code(), "INVALID_TOKEN");
    assert_eq!(
        auth.reset_password("", "whatever123", &meta())
            .await
            .unwrap_err()
            .code(),
        "INVALID_TOKEN"
    );

    let no_mailer = super::fixtures::auth(stores, clock).await;
    let e = no_mailer
        .request_password_reset(&email, None, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RESET_PASSWORD_DISABLED");
}

/// Email verification tokens are single use and expire.
pub async fn email_verification_tokens_are_single_use_and_expire(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    // A base URL with a trailing slash makes the same links.
    let (auth, mailer) = mailing_auth(stores, clock, |b| {
        b.with_base_url(format!("{BASE_URL}/"))
            .with_require_email_verification(true)
    })
    .await;
    let email = unique_email();
    let s = auth
        .sign_up_email(SignUpEmail::new("A", &email, PASSWORD), &meta())
        .await
        .unwrap();
    assert!(s.session.is_none(), "no session before verification");
    assert!(
        mailer.last_to(&email, EmailKind::VerifyEmail).is_some(),
        "sign-up mails the verification link"
    );
    let blocked = auth
        .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .unwrap_err();
    assert_eq!(blocked.code(), "EMAIL_NOT_VERIFIED");

    auth.send_verification_email(&email, None).await.unwrap();
    let mail = mailer.last_to(&email, EmailKind::VerifyEmail).unwrap();
    assert_eq!(mail.token.split('.').count(), 3, "a JWT");
    assert!(
        mail.url.starts_with(
            "https://auth.svc.default.k3m9p2xw7q.nno.app/api/auth/verify-email?token="
        )
    );
    assert!(mail.url.ends_with("&callbackURL=%2F"));

    let mut tampered = mail.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        auth.verify_email(&tampered, &meta())
            .await
            .unwrap_err()
            .code(),
        "INVALID_TOKEN"
    );
    assert_eq!(
        auth.verify_email("a.b", &meta()).await.unwrap_err().code(),
        "INVALID_TOKEN"
    );

    let user = auth.verify_email(&mail.token, &meta()).await.unwrap();
    assert!(user.email_verified);
    assert_eq!(user.id, s.user.id);
    let again = auth.verify_email(&mail.token, &meta()).await;
    assert_eq!(code(again), "INVALID_TOKEN");
    auth.sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
        .await
        .unwrap();
    // A verified address answers like any other, and gets no mail.
    let count = |to: &str| {
        mailer
            .sent()
            .iter()
            .filter(|m| m.to == to && m.kind == EmailKind::VerifyEmail)
            .count()
    };
    let before = count(&email);
    auth.send_verification_email(&email, None).await.unwrap();
    assert_eq!(count(&email), before);

    let other = unique_email();
    auth.sign_up_email(SignUpEmail::new("B", &other, PASSWORD), &meta())
        .await
        .unwrap();
    auth.send_verification_email(&other, Some("/welcome"))
        .await
        .unwrap();
    let late = mailer.last_to(&other, EmailKind::VerifyEmail).unwrap();
    clock.advance(Duration::from_secs(3601));
    assert_eq!(
        auth.verify_email(&late.token, &meta())
            .await
            .unwrap_err()
            .code(),
        "TOKEN_EXPIRED"
    );
}

/// The audit log is append only.
pub async fn the_audit_log_is_append_only(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let s = user(&auth, "A").await;
    let entries = auth.audit_log(Some(&s.user.id), 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    let update = stores
        .auth_db
        .execute(&Statement::new(
            r#"UPDATE "neutrinoAuditLog" SET "event" = 'forged'"#,
        ))
        .await;
    assert!(update.is_err(), "update must be rejected");
    let delete = stores
        .auth_db
        .execute(&Statement::new(r#"DELETE FROM "neutrinoAuditLog""#))
        .await;
    assert!(delete.is_err(), "delete must be rejected");
    assert_eq!(auth.audit_log(Some(&s.user.id), 10).await.unwrap(), entries);
    // No secret reaches the log.
    let dump = stores
        .auth_db
        .query(&Statement::new(r#"SELECT * FROM "neutrinoAuditLog""#))
        .await
        .unwrap();
    let text = format!("{dump:?}");
    assert!(
        !text.contains(PASSWORD) && !text.contains(&s.session.token),
        "{text}"
    );
}

/// Deletion by a mailed link (Better Auth's `sendDeleteAccountVerification`)
/// and the password check of `verify-password`: the link deletes the user it
/// was mailed to, once, while it lives; another user (or platform) cannot
/// use or spend it; an untrusted callback is refused.
pub async fn deletion_links_delete_their_owner_once(stores: &AuthStores, clock: &ManualClock) {
    use crate::user::{DeleteUser, UserConfig};
    let w = super::fixtures::World::configured(stores, clock, |b| {
        b.with_users(UserConfig {
            delete_user: true,
            change_email: false,
        })
        .with_delete_user_verification(true)
    })
    .await;
    let auth = &w.a.auth;
    let ada = user(auth, "Ada").await;
    let bob = user(auth, "Bob").await;
    let ta = &ada.session.token;
    assert_eq!(
        code(auth.verify_password(ta, "wrong password!").await),
        "INVALID_PASSWORD"
    );
    auth.verify_password(ta, PASSWORD).await.unwrap();
    assert_eq!(
        code(auth.verify_password("nope", PASSWORD).await),
        "UNAUTHORIZED"
    );

    assert_eq!(
        code(
            auth.request_delete_user(ta, None, Some("https://evil.example/"), &meta())
                .await
        ),
        "INVALID_CALLBACK_URL"
    );
    assert_eq!(
        code(
            auth.request_delete_user(ta, Some("wrong password!"), None, &meta())
                .await
        ),
        "INVALID_PASSWORD"
    );
    let sent = auth
        .request_delete_user(ta, None, Some("/bye"), &meta())
        .await
        .unwrap();
    assert_eq!(sent, DeleteUser::VerificationSent);
    let mail =
        w.a.mailer
            .last_to(&ada.user.email, EmailKind::DeleteAccount)
            .expect("a deletion link");
    let token = mail.token.clone();
    assert!(!format!("{mail:?}").contains(&token));
    assert!(mail.url.contains("/delete-user/callback?token="));
    assert!(mail.url.ends_with("&callbackURL=%2Fbye"), "{}", mail.url);

    // Bob, and Ada's address on the other platform, cannot use it; it
    // survives their attempts.
    let tb = &bob.session.token;
    assert_eq!(
        code(auth.delete_user_with_token(tb, &token, &meta()).await),
        "INVALID_TOKEN"
    );
    let q_ada = user_at(&w.b.auth, "Ada", &ada.user.email).await;
    assert_eq!(
        code(
            w.b.auth
                .delete_user_with_token(&q_ada.session.token, &token, &meta())
                .await
        ),
        "INVALID_TOKEN"
    );
    assert_eq!(
        code(auth.delete_user_with_token(ta, "", &meta()).await),
        "INVALID_TOKEN"
    );
    assert_eq!(
        code(
            auth.delete_user_with_token(ta, "no such token", &meta())
                .await
        ),
        "INVALID_TOKEN"
    );
    assert!(auth.get_user(&bob.user.id).await.unwrap().is_some());

    auth.delete_user_with_token(ta, &token, &meta())
        .await
        .unwrap();
    assert!(auth.get_user(&ada.user.id).await.unwrap().is_none());
    assert!(w.b.auth.get_user(&q_ada.user.id).await.unwrap().is_some());
    // Spent, with the user.
    assert!(
        auth.delete_user_with_token(ta, &token, &meta())
            .await
            .is_err()
    );

    let cat = user(auth, "Cat").await;
    let tc = &cat.session.token;
    auth.request_delete_user(tc, Some(PASSWORD), None, &meta())
        .await
        .unwrap();
    let cat_token =
        w.a.mailer
            .last_to(&cat.user.email, EmailKind::DeleteAccount)
            .unwrap()
            .token;
    clock.advance(crate::user::DELETE_LINK_TTL + std::time::Duration::from_secs(1));
    let again = auth
        .sign_in_email(crate::SignInEmail::new(&cat.user.email, PASSWORD), &meta())
        .await
        .unwrap();
    assert_eq!(
        code(
            auth.delete_user_with_token(&again.session.token, &cat_token, &meta())
                .await
        ),
        "INVALID_TOKEN"
    );
    assert!(auth.get_user(&cat.user.id).await.unwrap().is_some());
}
