//! Hostile and malformed input gets typed errors, never a panic.

mod common;

use common::{Fixture, PASSWORD, meta, unique_email};
use neutrino_auth::{AuthError, CookieError, SignInEmail, SignUpEmail};
use proptest::prelude::*;

#[test]
fn malformed_json_bodies_are_typed_errors_that_never_quote_the_body() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "BAD_REQUEST"),
        (b"{", "BAD_REQUEST"),
        (
            b"{\"email\": \"a@b.co\", \"password\": \"hunter2hunter2\",}",
            "BAD_REQUEST",
        ),
        (b"\xff\xfe{}", "BAD_REQUEST"),
        (b"[]", "VALIDATION_ERROR"),
        (b"null", "VALIDATION_ERROR"),
        (b"{}", "VALIDATION_ERROR"),
        (
            b"{\"email\": 1, \"password\": \"hunter2hunter2\"}",
            "VALIDATION_ERROR",
        ),
        (
            b"{\"email\": \"a@b.co\", \"password\": \"hunter2hunter2\", \"rememberMe\": \"yes\"}",
            "VALIDATION_ERROR",
        ),
        (
            b"{\"email\": \"a@b.co\", \"password\": [\"hunter2hunter2\"]}",
            "VALIDATION_ERROR",
        ),
    ];
    for (body, code) in cases {
        let e = SignInEmail::from_json(body).unwrap_err();
        assert_eq!(e.code(), *code, "{}", String::from_utf8_lossy(body));
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    // Deep nesting stops at serde_json's recursion limit, without overflowing
    // the stack.
    for deep in [
        "[".repeat(10_000),
        format!("{{\"name\":{}", "[".repeat(10_000)),
    ] {
        let code = SignUpEmail::from_json(deep.as_bytes()).unwrap_err().code();
        assert!(matches!(code, "BAD_REQUEST" | "VALIDATION_ERROR"), "{code}");
    }
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(100_000));
    assert_eq!(
        SignUpEmail::from_json(huge.as_bytes()).unwrap_err().code(),
        "VALIDATION_ERROR"
    );
    let ok = SignUpEmail::from_json(
        br#"{"name":"Ada","email":"ada@example.com","password":"hunter2hunter2","image":null}"#,
    )
    .unwrap();
    assert!(ok.remember_me, "rememberMe defaults to true");
    assert!(!format!("{ok:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_unicode_passwords() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_and_malformed_emails_and_names() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
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
    let long_ua = neutrino_auth::RequestMeta::new("198.51.100.1", "u".repeat(100_000));
    let s = auth
        .sign_in_email(SignInEmail::new(&ok.user.email, PASSWORD), &long_ua)
        .await
        .unwrap();
    assert_eq!(
        s.session.user_agent.map(|u| u.len()),
        Some(neutrino_auth::MAX_META_LEN)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_cookies_and_tokens() {
    let fx = Fixture::new().await;
    let auth = fx.auth().await;
    let s = auth
        .sign_up_email(SignUpEmail::new("A", unique_email(), PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .expect("signed in");
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

proptest! {
    #[test]
    fn arbitrary_json_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SignUpEmail::from_json(&body);
        let _ = SignInEmail::from_json(&body);
    }

    #[test]
    fn arbitrary_text_as_email_never_panics(s in "\\PC{0,300}") {
        let _ = neutrino_auth::email::normalize_email(&s);
    }
}
