//! Hostile and malformed request bodies get typed errors, never a panic. The
//! behaviour of sign-up, sign-in and sessions on bad input is in the
//! conformance suite (`neutrino_auth::testkit::bad_input`).

use neutrino_auth::{SignInEmail, SignUpEmail};
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
