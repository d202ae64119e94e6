//! Hostile and malformed input to sign-up, sign-in and session lookups gets
//! typed errors, never a panic, and writes nothing half.

use neutrino_core::clock::ManualClock;

use super::fixtures::{AuthStores, PASSWORD, auth, meta, unique_email, user};
use crate::{AuthError, CookieError, SignInEmail, SignUpEmail};

/// Huge and unicode passwords.
pub async fn huge_and_unicode_passwords(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let e = auth
        .sign_up_email(
            SignUpEmail::new("A", unique_email(), "x".repeat(10_000_000)),
            &meta(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, AuthError::PasswordTooLong { max: 128 }),
        "{e:?}"
    );
    let e = auth
        .sign_up_email(
            SignUpEmail::new("A", unique_email(), "\u{301}".repeat(129)),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PASSWORD_TOO_LONG");
    let e = auth
        .sign_up_email(SignUpEmail::new("A", unique_email(), "short"), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PASSWORD_TOO_SHORT");
    assert_eq!(e.status(), 400);

    // NFKC: the ligature "ﬁ" and "fi" are the same password.
    let email = unique_email();
    auth.sign_up_email(SignUpEmail::new("A", &email, "ﬁrewall ﬁrewall 😀"), &meta())
        .await
        .unwrap()
        .signed_in()
        .expect("signed in");
    auth.sign_in_email(SignInEmail::new(&email, "firewall firewall 😀"), &meta())
        .await
        .unwrap();
    let nul = auth
        .sign_in_email(SignInEmail::new(&email, "firewall\0firewall 😀"), &meta())
        .await
        .unwrap_err();
    assert_eq!(nul.code(), "INVALID_EMAIL_OR_PASSWORD");
}

/// Unicode and malformed emails and names.
pub async fn unicode_and_malformed_emails_and_names(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    for email in [
        "jos\u{e9}@example.com",
        "\u{4f8b}@\u{4f8b}\u{3048}.jp",
        "a@b",
        "",
        "a@@b.co",
        "\u{202e}moc.elpmaxe@a",
        &"a".repeat(10_000),
    ] {
        let up = auth
            .sign_up_email(SignUpEmail::new("A", email, PASSWORD), &meta())
            .await
            .unwrap_err();
        assert_eq!(up.code(), "INVALID_EMAIL", "{email:?}");
        let inn = auth
            .sign_in_email(SignInEmail::new(email, PASSWORD), &meta())
            .await
            .unwrap_err();
        assert_eq!(inn.code(), "INVALID_EMAIL", "{email:?}");
    }
    let e = auth
        .sign_up_email(
            SignUpEmail::new("x".repeat(1000), unique_email(), PASSWORD),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");
    let e = auth
        .sign_up_email(
            SignUpEmail::new("a\u{0}b", unique_email(), PASSWORD),
            &meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");
    // Unicode names are fine.
    let ok = auth
        .sign_up_email(
            SignUpEmail::new("Zoë 李 😀", unique_email(), PASSWORD),
            &meta(),
        )
        .await
        .unwrap()
        .signed_in()
        .expect("signed in");
    assert_eq!(ok.user.name, "Zoë 李 😀");
    // Oversized request metadata is cut, not refused.
    let long_ua = crate::RequestMeta::new("198.51.100.1", "u".repeat(100_000));
    let s = auth
        .sign_in_email(SignInEmail::new(&ok.user.email, PASSWORD), &long_ua)
        .await
        .unwrap();
    assert_eq!(
        s.session.user_agent.map(|u| u.len()),
        Some(crate::MAX_META_LEN)
    );
}

/// Malformed cookies and tokens.
pub async fn malformed_cookies_and_tokens(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth(stores, clock).await;
    let s = user(&auth, "A").await;
    let good = auth.cookies().sign(&s.session.token);
    let cases = [
        (String::new(), CookieError::Malformed),
        ("x".repeat(100_000), CookieError::Oversized { len: 100_000 }),
        (
            good[..good.len() - 3].to_string(),
            CookieError::SignatureFormat,
        ),
        (s.session.token.clone(), CookieError::Malformed),
        (
            format!("{}.", s.session.token),
            CookieError::SignatureFormat,
        ),
        ("%".into(), CookieError::Malformed),
        ("%C0%AF.x".into(), CookieError::Encoding),
        (
            format!("{}.{}", "t".repeat(300), &good[33..]),
            CookieError::Oversized { len: 300 },
        ),
    ];
    for (value, want) in cases {
        match auth.get_session_from_cookie(&value).await {
            Err(AuthError::Cookie(e)) => assert_eq!(e, want, "{value:.40}"),
            other => panic!("{value:.40}: expected a cookie error, got {other:?}"),
        }
    }
    for token in ["", "\0", "😀", &"t".repeat(100_000), "' OR 1=1 --"] {
        assert!(auth.get_session(token).await.unwrap().is_none());
    }
    for header in [
        "",
        ";;;",
        "better-auth.session_token",
        "better-auth.session_token=",
        "=x",
    ] {
        let r = auth.get_session_from_cookie_header(header).await;
        assert!(!matches!(r, Ok(Some(_))), "{header:?}");
    }
}
