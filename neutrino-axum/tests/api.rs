//! Better Auth's core API over real sockets: statuses, bodies and
//! `Set-Cookie` values as the facts file documents them.

mod common;

use std::time::Duration;

use common::{
    Opts, PASSWORD, count_status, credentials, rate_limited_server, read, server, server_with,
    server_with_cookie_cache,
};
use serde_json::json;

const TOKEN: &str = "better-auth.session_token";
const DATA: &str = "better-auth.session_data";
const DONT: &str = "better-auth.dont_remember";

#[tokio::test]
async fn unknown_paths_wrong_methods_options_and_trailing_slashes_are_404_without_a_body() {
    let s = server().await;
    let cases = [
        (reqwest::Method::GET, "/nope"),
        (reqwest::Method::GET, "/sign-in/email"),
        (reqwest::Method::PUT, "/sign-in/email"),
        (reqwest::Method::OPTIONS, "/sign-in/email"),
        (reqwest::Method::OPTIONS, "/get-session"),
        (reqwest::Method::DELETE, "/get-session"),
        (reqwest::Method::GET, "/get-session/"),
        (reqwest::Method::GET, "//get-session"),
        (reqwest::Method::GET, "/api-key/verify"),
        (reqwest::Method::POST, "/api-key/verify"),
    ];
    for (method, path) in cases {
        let res = s.send(s.http.request(method.clone(), s.url(path))).await;
        assert_eq!(res.status, 404, "{method} {path}");
        assert_eq!(res.text, "", "{method} {path}");
    }
    for path in [
        "/api/auth",
        "/api/auth/",
        "/api/authx/get-session",
        "/other",
    ] {
        let res = s.send(s.http.get(format!("{}{path}", s.origin))).await;
        assert_eq!(res.status, 404, "{path}");
        assert_eq!(res.text, "", "{path}");
    }
}

#[tokio::test]
async fn bodies_other_than_json_are_415_and_malformed_json_is_400() {
    let s = server().await;
    let res = s
        .post_raw("/sign-out", Some("text/plain;charset=UTF-8"), "{}")
        .await;
    assert_eq!(res.status, 415);
    assert_eq!(
        res.json(),
        json!({"message": "Content-Type \"text/plain;charset=UTF-8\" is not allowed. Allowed types: application/json", "code": "UNSUPPORTED_MEDIA_TYPE"})
    );
    let res = s.post_raw("/sign-out", None, "{}").await;
    assert_eq!(res.status, 415);
    assert_eq!(
        res.json()["message"],
        "Content-Type is required. Allowed types: application/json"
    );
    let res = s
        .post_raw(
            "/sign-up/email",
            Some("application/json; charset=utf-8"),
            "{\"name\":",
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"message": "Invalid JSON in request body", "code": "BAD_REQUEST"})
    );
    // An oversized body is a 4xx, not a 500.
    let res = s
        .post_raw(
            "/sign-up/email",
            Some("application/json"),
            vec![b' '; 200 * 1024],
        )
        .await;
    assert_eq!(res.status, 413);
}

#[tokio::test]
async fn validation_comes_before_the_session_check() {
    let s = server().await;
    let res = s.post("/change-password", "", json!({})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "VALIDATION_ERROR");
    assert_eq!(
        res.json()["message"],
        "[body.newPassword] Invalid input: expected string, received undefined; [body.currentPassword] Invalid input: expected string, received undefined"
    );
    let res = s
        .post(
            "/change-password",
            "",
            json!({"newPassword": "x", "currentPassword": "y"}),
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.json(),
        json!({"message": "Unauthorized", "code": "UNAUTHORIZED"})
    );
    let res = s
        .try_sign_up(json!({"name": "A", "email": "not-an-email", "password": PASSWORD}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["message"], "[body.email] Invalid email address");
}

#[tokio::test]
async fn sign_up_answers_the_token_and_user_and_sets_the_session_cookie() {
    let s = server().await;
    let res = s.sign_up("Ada@Example.com").await;
    let body = res.json();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["emailVerified"], false);
    assert_eq!(body["user"]["image"], serde_json::Value::Null);
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    let set = res.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    let c = &set[0];
    let value = c
        .strip_prefix(&format!("{TOKEN}="))
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert!(value.starts_with(&format!("{token}.")), "{c}");
    assert!(value.ends_with("%3D"), "{c}");
    assert!(
        c.ends_with("; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"),
        "{c}"
    );
    // The same address again: 422.
    let again = s
        .try_sign_up(json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(
        again.json(),
        json!({"message": "User already exists. Use another email.", "code": "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"})
    );
    // Fields a user may not set.
    let res = s
        .try_sign_up(json!({"name": "Eve", "email": "eve@example.com", "password": PASSWORD, "role": "admin"}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "FIELD_NOT_ALLOWED");
}

#[tokio::test]
async fn remember_me_off_gives_a_browser_session_cookie_and_the_marker() {
    let s = server().await;
    s.sign_up("ada@example.com").await;
    let res = s
        .try_sign_in(
            "",
            json!({"email": "ada@example.com", "password": PASSWORD, "rememberMe": false}),
        )
        .await;
    assert_eq!(res.status, 200);
    let token = res.set_cookie(TOKEN).unwrap();
    assert!(!token.contains("Max-Age"), "{token}");
    assert!(
        token.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "{token}"
    );
    let dont = res.set_cookie(DONT).unwrap();
    assert!(dont.starts_with(&format!("{DONT}=true.")), "{dont}");
    assert!(!dont.contains("Max-Age"), "{dont}");
}

#[tokio::test]
async fn sign_in_answers_better_auths_bodies() {
    let s = server().await;
    s.sign_up("ada@example.com").await;
    let res = s.sign_in("ada@example.com").await;
    let body = res.json();
    assert_eq!(body["redirect"], false);
    assert!(body.get("url").is_none());
    assert_eq!(body["token"].as_str().unwrap().len(), 32);
    assert!(res.header("location").is_none());

    let res = s
        .try_sign_in(
            "",
            json!({"email": "ada@example.com", "password": PASSWORD, "callbackURL": "/dashboard"}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["redirect"], true);
    assert_eq!(res.json()["url"], "/dashboard");
    assert_eq!(res.header("location"), Some("/dashboard"));

    let res = s
        .try_sign_in(
            "",
            json!({"email": "ada@example.com", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.json(),
        json!({"message": "Invalid email or password", "code": "INVALID_EMAIL_OR_PASSWORD"})
    );
    let res = s.try_sign_in("", credentials("nope")).await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"message": "Invalid email", "code": "INVALID_EMAIL"})
    );
    // A form body is accepted on sign-in.
    let res = s
        .post_raw(
            "/sign-in/email",
            Some("application/x-www-form-urlencoded"),
            format!(
                "email=ada%40example.com&password={}",
                PASSWORD.replace(' ', "+")
            ),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[tokio::test]
async fn get_session_answers_null_or_the_session_with_no_store() {
    let s = server().await;
    let res = s.get("/get-session", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text, "null");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("pragma"), Some("no-cache"));
    assert!(res.set_cookies().is_empty());

    let up = s.sign_up("ada@example.com").await;
    let token = up.json()["token"].as_str().unwrap().to_owned();
    let res = s.get("/get-session", &up.cookie_header()).await;
    let body = res.json();
    assert_eq!(body["session"]["token"], token.as_str());
    assert_eq!(body["session"]["userId"], body["user"]["id"]);
    assert_eq!(body["user"]["email"], "ada@example.com");

    // POST is 405 without deferred refresh.
    let res = s.post("/get-session", "", json!({})).await;
    assert_eq!(res.status, 405);
    assert_eq!(
        res.json()["code"],
        "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"
    );

    // A tampered cookie is no session.
    let tampered = up
        .cookie_header()
        .replacen("session_token=", "session_token=x", 1);
    assert_eq!(s.get("/get-session", &tampered).await.text, "null");
}

#[tokio::test]
async fn the_first_of_duplicated_cookies_wins() {
    let s = server().await;
    let up = s.sign_up("ada@example.com").await;
    let good = up.cookie_header();
    let bad = format!("{TOKEN}=garbage");
    assert_eq!(
        s.get("/get-session", &format!("{bad}; {good}")).await.text,
        "null"
    );
    assert_ne!(
        s.get("/get-session", &format!("{good}; {bad}")).await.text,
        "null"
    );
}

#[tokio::test]
async fn sign_out_expires_every_session_cookie_and_ends_the_session() {
    let s = server().await;
    let up = s.sign_up("ada@example.com").await;
    let cookie = up.cookie_header();
    let res = s.post("/sign-out", &cookie, json!({})).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"success": true}));
    for name in [TOKEN, DATA, DONT] {
        assert_eq!(
            res.set_cookie(name).unwrap(),
            format!("{name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax")
        );
    }
    assert_eq!(s.get("/get-session", &cookie).await.text, "null");
    // Without a session it still answers and expires the cookies.
    let res = s.post("/sign-out", "", json!({})).await;
    assert_eq!(res.status, 200);
    assert!(res.set_cookie(TOKEN).is_some());
}

#[tokio::test]
async fn secure_base_urls_give_secure_prefixed_cookies() {
    let s = server_with(Opts {
        secure: true,
        ..Opts::default()
    })
    .await;
    let res = s
        .try_sign_up(json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD}))
        .await;
    let c = res
        .set_cookie("__Secure-better-auth.session_token")
        .unwrap();
    assert!(
        c.ends_with("; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax"),
        "{c}"
    );
}

#[tokio::test]
async fn the_origin_check_guards_cookie_requests_and_sign_in() {
    let s = server().await;
    let up = s.sign_up("ada@example.com").await;
    let cookie = up.cookie_header();
    let send = |origin: Option<&'static str>,
                path: &'static str,
                cookie: String,
                extra: Vec<(&'static str, &'static str)>| {
        let mut req = s
            .http
            .post(s.url(path))
            .json(&credentials("ada@example.com"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        for (k, v) in extra {
            req = req.header(k, v);
        }
        async move { read(req.send().await.unwrap()).await }
    };
    let res = send(
        Some("https://evil.example"),
        "/sign-out",
        cookie.clone(),
        vec![],
    )
    .await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.json(),
        json!({"message": "Invalid origin", "code": "INVALID_ORIGIN"})
    );
    let res = send(None, "/sign-out", cookie.clone(), vec![]).await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.json(),
        json!({"message": "Missing or null Origin", "code": "MISSING_OR_NULL_ORIGIN"})
    );
    let res = send(Some("null"), "/sign-out", cookie.clone(), vec![]).await;
    assert_eq!(res.status, 403);
    // The session survived every refused sign-out.
    assert_ne!(s.get("/get-session", &cookie).await.text, "null");
    // Sign-in: a cross-site navigation, an evil origin.
    let res = send(
        None,
        "/sign-in/email",
        String::new(),
        vec![
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ],
    )
    .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED");
    let res = send(
        Some("https://evil.example"),
        "/sign-in/email",
        String::new(),
        vec![],
    )
    .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "INVALID_ORIGIN");
    // curl-like: no origin, no cookie, no fetch metadata.
    let res = send(None, "/sign-in/email", String::new(), vec![]).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn callback_urls_must_be_relative_or_trusted() {
    let s = server().await;
    s.sign_up("ada@example.com").await;
    for (field, code) in [
        ("callbackURL", "INVALID_CALLBACK_URL"),
        ("redirectTo", "INVALID_REDIRECT_URL"),
        ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
        ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
    ] {
        for bad in [
            "https://evil.example/x",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            let mut body = credentials("ada@example.com");
            body[field] = json!(bad);
            let res = s.post("/sign-in/email", "", body).await;
            assert_eq!(res.status, 403, "{field} {bad}");
            assert_eq!(res.json()["code"], code, "{field} {bad}");
        }
    }
    let res = s
        .try_sign_in(
            "",
            json!({"email": "ada@example.com", "password": PASSWORD, "callbackURL": 5}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"message": "Invalid callbackURL: expected a string"})
    );
    let res = s
        .send(
            s.http
                .post(format!(
                    "{}?callbackURL=https://evil.example",
                    s.url("/sign-out")
                ))
                .json(&json!({})),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "INVALID_CALLBACK_URL");
}

#[tokio::test]
async fn rate_limits_answer_429_with_x_retry_after() {
    let s = server_with(Opts {
        rate_limit: true,
        ..Opts::default()
    })
    .await;
    for _ in 0..3 {
        let res = s.try_sign_in("", credentials("nobody@example.com")).await;
        assert_eq!(res.status, 401);
    }
    let res = s.try_sign_in("", credentials("nobody@example.com")).await;
    assert_eq!(res.status, 429);
    assert_eq!(
        res.json(),
        json!({"message": "Too many requests. Please try again later."})
    );
    let secs: u64 = res.header("x-retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&secs), "{secs}");
    assert!(res.header("retry-after").is_none());
    // Another path has its own count.
    assert_eq!(s.get("/ok", "").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_share_one_rate_limit_key() {
    // Fixed from Better Auth: one key per unknown path would let a client
    // grow the limiter's memory without bound, and dodge the limit.
    let s = server_with(Opts {
        rate_limit: true,
        ..Opts::default()
    })
    .await;
    let mut last = 0;
    for i in 0..101 {
        last = s.get(&format!("/unknown-{i}"), "").await.status;
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn sessions_are_listed_and_revoked() {
    let s = server().await;
    let a1 = s.cookie_of("ada@example.com").await;
    let a2 = s.sign_in("ada@example.com").await;
    let a2_token = a2.json()["token"].as_str().unwrap().to_owned();
    let a2 = a2.cookie_header();
    let eve = s.sign_up("eve@example.com").await;
    let eve_token = eve.json()["token"].as_str().unwrap().to_owned();

    let list = s.get("/list-sessions", &a1).await;
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list[0]["token"].is_string());
    assert_eq!(s.get("/list-sessions", "").await.status, 401);

    // Another user's token: 200 and nothing happens.
    let res = s
        .post("/revoke-session", &a1, json!({"token": eve_token}))
        .await;
    assert_eq!(res.json(), json!({"status": true}));
    assert_ne!(
        s.get("/get-session", &eve.cookie_header()).await.text,
        "null"
    );

    let res = s
        .post("/revoke-session", &a1, json!({"token": a2_token}))
        .await;
    assert_eq!(res.json(), json!({"status": true}));
    assert_eq!(s.get("/get-session", &a2).await.text, "null");

    let a3 = s.sign_in("ada@example.com").await.cookie_header();
    let res = s.post("/revoke-other-sessions", &a1, json!({})).await;
    assert_eq!(res.json(), json!({"status": true}));
    assert_eq!(s.get("/get-session", &a3).await.text, "null");
    assert_ne!(s.get("/get-session", &a1).await.text, "null");

    let res = s.post("/revoke-sessions", &a1, json!({})).await;
    assert_eq!(res.json(), json!({"status": true}));
    assert!(res.set_cookie(TOKEN).unwrap().contains("Max-Age=0"));
    assert_eq!(s.get("/get-session", &a1).await.text, "null");
}

#[tokio::test]
async fn list_sessions_needs_a_fresh_session() {
    let s = server_with(Opts {
        fresh_age: Some(Duration::from_millis(1)),
        ..Opts::default()
    })
    .await;
    let a = s.cookie_of("ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let res = s.get("/list-sessions", &a).await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.json(),
        json!({"message": "Session is not fresh", "code": "SESSION_NOT_FRESH"})
    );
}

#[tokio::test]
async fn update_user_changes_the_name_and_re_sets_the_cookie() {
    let s = server().await;
    let a = s.cookie_of("ada@example.com").await;
    let res = s.post("/update-user", &a, json!({"name": "Ada L."})).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"status": true}));
    assert!(res.set_cookie(TOKEN).is_some());
    assert_eq!(
        s.get("/get-session", &a).await.json()["user"]["name"],
        "Ada L."
    );

    let res = s.post("/update-user", &a, json!({})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json(), json!({"message": "No fields to update"}));
    let res = s
        .post("/update-user", &a, json!({"email": "x@example.com"}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "EMAIL_CAN_NOT_BE_UPDATED");
    let res = s.post("/update-user", &a, json!([1])).await;
    assert_eq!(res.json()["code"], "BODY_MUST_BE_AN_OBJECT");
    let res = s.post("/update-user", "", json!({"name": "x"})).await;
    assert_eq!(res.status, 401);
}

#[tokio::test]
async fn change_password_checks_the_current_one() {
    let s = server().await;
    let a = s.cookie_of("ada@example.com").await;
    let other = s.sign_in("ada@example.com").await.cookie_header();
    let res = s
        .post(
            "/change-password",
            &a,
            json!({"currentPassword": "wrong password!", "newPassword": "a new password 1"}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"message": "Invalid password", "code": "INVALID_PASSWORD"})
    );
    let res = s
        .post(
            "/change-password",
            &a,
            json!({"currentPassword": PASSWORD, "newPassword": "a new password 1"}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["token"], serde_json::Value::Null);
    assert_eq!(res.json()["user"]["email"], "ada@example.com");
    let res = s
        .post(
            "/change-password",
            &a,
            json!({"currentPassword": "a new password 1", "newPassword": "a third password", "revokeOtherSessions": true}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.json()["token"].is_string());
    assert_eq!(s.get("/get-session", &other).await.text, "null");
    assert_ne!(s.get("/get-session", &a).await.text, "null");
}

#[tokio::test]
async fn delete_user_deletes_and_expires_the_cookies() {
    let s = server().await;
    let a = s.cookie_of("ada@example.com").await;
    let res = s.post_password("/delete-user", &a, "wrong password!").await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "INVALID_PASSWORD");
    let res = s.post_password("/delete-user", &a, PASSWORD).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json(),
        json!({"success": true, "message": "User deleted"})
    );
    assert!(res.set_cookie(TOKEN).unwrap().contains("Max-Age=0"));
    assert_eq!(s.get("/get-session", &a).await.text, "null");
}

#[tokio::test]
async fn password_reset_by_mail() {
    let s = server().await;
    s.sign_up("ada@example.com").await;
    let res = s
        .post(
            "/request-password-reset",
            "",
            json!({"email": "ada@example.com", "redirectTo": "/reset"}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json(),
        json!({"status": true, "message": "If this email exists in our system, check your email for the reset link"})
    );
    let unknown = s
        .post(
            "/request-password-reset",
            "",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(unknown.text, res.text);
    let mail = s
        .mailer
        .last_to(
            "ada@example.com",
            neutrino_auth::mail::EmailKind::ResetPassword,
        )
        .unwrap();
    let token = mail.token.clone();

    let res = s.get(&format!("/reset-password/{token}"), "").await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "VALIDATION_ERROR");
    let res = s
        .get(
            &format!("/reset-password/{token}?callbackURL=https://evil.example"),
            "",
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "INVALID_CALLBACK_URL");
    let res = s
        .get(&format!("/reset-password/{token}?callbackURL=%2Freset"), "")
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.header("location"),
        Some(format!("/reset?token={token}").as_str())
    );
    assert_eq!(res.text, "");

    let res = s
        .post(
            "/reset-password",
            "",
            json!({"token": token, "newPassword": "a brand new password"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json(), json!({"status": true}));
    let again = s
        .post(
            "/reset-password",
            "",
            json!({"token": token, "newPassword": "another new password"}),
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.json(),
        json!({"message": "Invalid token", "code": "INVALID_TOKEN"})
    );
    let res = s
        .try_sign_in(
            "",
            json!({"email": "ada@example.com", "password": "a brand new password"}),
        )
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn email_verification_by_mail() {
    let s = server().await;
    let a = s.cookie_of("ada@example.com").await;
    let res = s
        .post(
            "/send-verification-email",
            &a,
            json!({"email": "eve@example.com"}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "EMAIL_MISMATCH");
    let started = std::time::Instant::now();
    let res = s
        .post(
            "/send-verification-email",
            "",
            json!({"email": "ada@example.com", "callbackURL": "/welcome"}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"status": true}));
    assert!(started.elapsed() >= Duration::from_millis(500));
    let mail = s
        .mailer
        .last_to(
            "ada@example.com",
            neutrino_auth::mail::EmailKind::VerifyEmail,
        )
        .unwrap();
    let res = s
        .get("/verify-email?token=bogus&callbackURL=%2Fok", "")
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(res.header("location"), Some("/ok?error=INVALID_TOKEN"));
    let res = s.get("/verify-email?token=bogus", "").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["code"], "INVALID_TOKEN");
    let res = s
        .get(
            "/verify-email?token=x&callbackURL=https%3A%2F%2Fevil.example",
            "",
        )
        .await;
    assert_eq!(res.status, 403);
    let res = s
        .get(&format!("/verify-email?token={}", mail.token), "")
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json(), json!({"status": true, "user": null}));
    assert_eq!(
        s.get("/get-session", &a).await.json()["user"]["emailVerified"],
        true
    );
    let res = s
        .post(
            "/send-verification-email",
            &a,
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "EMAIL_ALREADY_VERIFIED");
}

#[tokio::test]
async fn ok_and_the_error_page() {
    let s = server().await;
    assert_eq!(s.get("/ok", "").await.json(), json!({"ok": true}));
    let res = s.get("/error?error=INVALID_TOKEN", "").await;
    assert_eq!(res.status, 200);
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
    assert!(res.text.contains("INVALID_TOKEN"));
    let res = s
        .get("/error?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "")
        .await;
    assert!(res.text.contains("UNKNOWN"));
    assert!(!res.text.contains("<script>"));
    let res = s.get("/error?error=a'b", "").await;
    assert!(!res.text.contains("a'b"), "{}", res.text);
}

#[tokio::test]
async fn the_cookie_cache_answers_get_session_and_never_a_write() {
    let s = server_with_cookie_cache().await;
    let up = s.sign_up("ada@example.com").await;
    let data = up.set_cookie(DATA).expect("session_data on sign-up");
    assert!(
        data.contains("; Max-Age=300; Path=/; HttpOnly; SameSite=Lax"),
        "{data}"
    );
    let cookie = up.cookie_header();
    let res = s.get("/get-session", &cookie).await;
    assert_eq!(res.json()["user"]["email"], "ada@example.com");
    assert!(res.set_cookies().is_empty(), "{:?}", res.set_cookies());

    // Revoke the session elsewhere (a second device): get-session still
    // answers from the cache until it expires, as in Better Auth.
    let other = s.sign_in("ada@example.com").await.cookie_header();
    let r = s.post("/revoke-other-sessions", &other, json!({})).await;
    assert_eq!(r.status, 200);
    assert_ne!(s.get("/get-session", &cookie).await.text, "null");
    // `disableCookieCache` reads the database.
    assert_eq!(
        s.get("/get-session?disableCookieCache=true", &cookie)
            .await
            .text,
        "null"
    );
    // `disableCookieCache=false` means false (fixed).
    assert_ne!(
        s.get("/get-session?disableCookieCache=false", &cookie)
            .await
            .text,
        "null"
    );
    // A write never trusts the cache: the revoked session changes nothing.
    let res = s
        .post("/update-user", &cookie, json!({"name": "Mallory"}))
        .await;
    assert_eq!(res.status, 401);
    let res = s.get("/get-session", &other).await;
    assert_eq!(res.json()["user"]["name"], "Ada");

    // A forged cache cookie is not used: it is expired, and the database
    // answers.
    let forged = cookie.replace(&format!("{DATA}="), &format!("{DATA}=x"));
    let res = s.get("/get-session", &forged).await;
    assert_eq!(res.text, "null");
    assert!(res.set_cookie(DATA).unwrap().contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ins_from_one_client_get_at_most_the_limit_through() {
    let s = rate_limited_server().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.try_sign_in("", credentials("nobody@example.com"))
                .await
                .status
        }));
    }
    assert_eq!(count_status(tasks, 401, 429).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_token_used_concurrently_resets_once() {
    let s = std::sync::Arc::new(server().await);
    s.sign_up("ada@example.com").await;
    s.post(
        "/request-password-reset",
        "",
        json!({"email": "ada@example.com"}),
    )
    .await;
    let token = s
        .mailer
        .last_to(
            "ada@example.com",
            neutrino_auth::mail::EmailKind::ResetPassword,
        )
        .unwrap()
        .token;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = std::sync::Arc::clone(&s);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            s.post(
                "/reset-password",
                "",
                json!({"token": token, "newPassword": format!("new password number {i}")}),
            )
            .await
            .status
        }));
    }
    assert_eq!(count_status(tasks, 200, 400).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ups_of_one_address_make_one_user() {
    let s = std::sync::Arc::new(server().await);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.try_sign_up(json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD}))
                .await
                .status
        }));
    }
    assert_eq!(count_status(tasks, 200, 422).await, 1);
}

#[tokio::test]
async fn the_gateway_router_serves_the_platform_it_is_given_and_refuses_without_one() {
    let s = server().await;
    let serve = |app: axum::Router| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/api/auth")
    };
    let bare = neutrino_axum::api::AuthApi::for_gateway()
        .without_rate_limit()
        .router()
        .unwrap();
    let base = serve(bare.clone()).await;
    let res = s.send(s.http.get(format!("{base}/ok"))).await;
    assert_eq!(res.status, 500);
    assert!(
        res.json()["message"]
            .as_str()
            .unwrap()
            .contains("no platform")
    );
    let with = bare.layer(axum::Extension(s.platform.clone()));
    let base = serve(with).await;
    let res = s.send(s.http.get(format!("{base}/get-session"))).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text, "null");
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    use neutrino_axum::api::AuthApi;
    for bad in ["api/auth", "/api//auth", "/api/{x}", "/api/*"] {
        assert!(
            AuthApi::for_gateway().with_base_path(bad).router().is_err(),
            "{bad}"
        );
    }
    assert!(
        AuthApi::for_gateway()
            .with_base_path("/auth/")
            .router()
            .is_ok()
    );
    assert!(
        AuthApi::for_gateway()
            .with_cookie_cache(Duration::ZERO)
            .router()
            .is_err()
    );
    assert!(
        AuthApi::for_gateway()
            .with_cookie_cache(Duration::from_secs(401 * 24 * 3600))
            .router()
            .is_err()
    );
}
