//! The router under arbitrary requests: malformed JSON, wrong types,
//! oversized bodies, bad or duplicated cookies, odd hosts and header values
//! get 4xx with Better Auth's bodies, never a 5xx and never a panic.

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

const PATHS: [&str; 61] = [
    "/organization/accept-invitation",
    "/organization/reject-invitation",
    "/organization/cancel-invitation",
    "/organization/list-invitations",
    "/organization/list-user-invitations",
    "/organization/list-members",
    "/organization/leave",
    "/organization/get-active-member",
    "/organization/get-active-member-role",
    "/organization/get-organization",
    "/organization/check-slug",
    "/organization/list",
    "/api-key/list",
    "/api-key/delete",
    "/admin/unban-user",
    "/admin/remove-user",
    "/admin/revoke-user-sessions",
    "/two-factor/disable",
    "/two-factor/generate-backup-codes",
    "/two-factor/send-otp",
    "/reset-password/%00%FF",
    "/reset-password/..%2F..",
    "/api/auth/ok",
    "/ok/",
    "/admin/ban-user",
    "/admin/list-users",
    "/admin/set-role",
    "/api-key/create",
    "/api-key/update",
    "/api-key/get",
    "/two-factor/enable",
    "/two-factor/verify-totp",
    "/two-factor/verify-backup-code",
    "/organization/create",
    "/organization/set-active",
    "/organization/get-full-organization",
    "/organization/invite-member",
    "/organization/remove-member",
    "/organization/update-member-role",
    "/sign-up/email",
    "/sign-in/email",
    "/sign-out",
    "/get-session",
    "/list-sessions",
    "/revoke-session",
    "/revoke-sessions",
    "/revoke-other-sessions",
    "/update-user",
    "/change-password",
    "/change-email",
    "/delete-user",
    "/request-password-reset",
    "/reset-password",
    "/reset-password/abc",
    "/send-verification-email",
    "/verify-email",
    "/ok",
    "/error",
    "/get-session/",
    "//ok",
    "/api-key/verify",
];

const KEYS: [&str; 27] = [
    "userId",
    "banReason",
    "banExpiresIn",
    "keyId",
    "expiresIn",
    "prefix",
    "code",
    "slug",
    "organizationId",
    "organizationSlug",
    "memberIdOrEmail",
    "metadata",
    "invitationId",
    "email",
    "password",
    "name",
    "token",
    "newPassword",
    "currentPassword",
    "newEmail",
    "callbackURL",
    "redirectTo",
    "rememberMe",
    "image",
    "role",
    "revokeOtherSessions",
    "errorCallbackURL",
];

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    query: String,
    content_type: Option<String>,
    body: Vec<u8>,
    headers: Vec<(&'static str, Vec<u8>)>,
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(json!("ada@example.com")),
        Just(json!("correct horse battery")),
        Just(json!("https://evil.example/x")),
        Just(json!("/relative")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6).prop_map(
                |pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(Vec::new()),
        1 => Just(b"{\"email\":".to_vec()),
        1 => (1usize..3).prop_map(|n| vec![b'['; n * 70_000]),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,60}".prop_map(String::into_bytes),
        // obs-text: bytes a header may carry that are not UTF-8.
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..40),
    ]
}

fn cookie(valid: String) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(valid.clone().into_bytes()),
        "[A-Za-z0-9%.=_-]{0,300}".prop_map(move |v| format!("{valid}; better-auth.session_data={v}").into_bytes()),
        header_value(),
        "[A-Za-z0-9%.=]{0,80}".prop_map(|v| format!("better-auth.session_token={v}").into_bytes()),
        "[A-Za-z0-9_-]{0,200}".prop_map(|v| format!(
            "better-auth.session_token=a.b; better-auth.session_token={v}; better-auth.session_data={v}; better-auth.session_data.0={v}"
        ).into_bytes()),
        "[A-Za-z0-9%.=]{0,40}".prop_map(|v| format!("better-auth.dont_remember={v}").into_bytes()),
    ]
}

fn request(valid_cookie: String, origin: String) -> impl Strategy<Value = Req> {
    let method = prop::sample::select(vec![
        "GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD",
    ]);
    let path = prop_oneof![
        4 => prop::sample::select(PATHS.to_vec()).prop_map(str::to_owned),
        1 => "(/[a-z0-9._%-]{0,12}){0,4}",
    ];
    let query = prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9=&%._-]{0,60}",
        (
            prop::sample::select(vec![
                "organizationId",
                "organizationSlug",
                "id",
                "userId",
                "callbackURL",
                "token",
                "limit",
                "offset",
            ]),
            "([a-zA-Z0-9._-]|%[0-9A-Fa-f]{2}|%|\\+){0,40}",
        )
            .prop_map(|(k, v)| format!("{k}={v}")),
        Just("callbackURL=https://evil.example&token=x".to_owned()),
        Just("disableCookieCache=false&disableRefresh=1&error=<b>".to_owned()),
    ];
    let content_type = prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/json; charset=utf-8".to_owned())),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("text/plain".to_owned())),
        "[ -~]{0,40}".prop_map(Some),
    ];
    let extra = prop::collection::vec(
        (
            prop::sample::select(vec![
                "cookie",
                "cookie",
                "origin",
                "referer",
                "host",
                "sec-fetch-site",
                "sec-fetch-mode",
                "x-forwarded-for",
                "user-agent",
            ]),
            prop_oneof![
                header_value(),
                cookie(valid_cookie),
                Just(origin.into_bytes()),
            ],
        ),
        0..5,
    );
    (method, path, query, content_type, body(), extra).prop_map(
        |(method, path, query, content_type, body, headers)| Req {
            method,
            path,
            query,
            content_type,
            body,
            headers,
        },
    )
}

#[test]
fn no_request_gets_a_5xx_and_every_error_has_better_auths_shape() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(common::server());
    let valid = rt.block_on(s.sign_up("ada@example.com")).cookie_header();
    let mut runner = TestRunner::new(Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&request(valid, s.origin.clone()), |r| {
            let res = rt.block_on(async {
                let url = if r.query.is_empty() {
                    format!("{}{}", s.base, r.path)
                } else {
                    format!("{}{}?{}", s.base, r.path, r.query)
                };
                let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
                let mut req = s.http.request(method, url).body(r.body.clone());
                if let Some(ct) = &r.content_type
                    && let Ok(v) = HeaderValue::from_str(ct)
                {
                    req = req.header("content-type", v);
                }
                for (name, value) in &r.headers {
                    if let Ok(v) = HeaderValue::from_bytes(value) {
                        req = req.header(HeaderName::from_static(name), v);
                    }
                }
                match req.send().await {
                    Ok(res) => Some(common::read(res).await),
                    // The client refused to send it (e.g. a URL it cannot
                    // parse): nothing reached the server.
                    Err(e) if e.is_builder() => None,
                    // A body over the limit may be cut off: the server
                    // answers 413 and closes without reading the rest, and
                    // the client can fail while still sending it.
                    Err(_) if r.body.len() > neutrino_axum::api::MAX_BODY => None,
                    Err(e) => panic!("transport error: {e}"),
                }
            });
            let Some(res) = res else {
                return Ok(());
            };
            prop_assert!(res.status < 500, "{} for {:?}: {}", res.status, r, res.text);
            if res.status >= 400 && !res.text.is_empty() {
                let body: Value = serde_json::from_str(&res.text)
                    .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {:?}", res.text)))?;
                prop_assert!(body["message"].is_string(), "{:?}: {}", r, res.text);
                prop_assert!(
                    body.get("code").is_none_or(Value::is_string),
                    "{:?}: {}",
                    r,
                    res.text
                );
            }
            if res.status == 404 {
                prop_assert_eq!(&res.text, "");
            }
            if res.status == 429 {
                prop_assert!(res.header("x-retry-after").is_some());
            }
            Ok(())
        })
        .unwrap();
    // The server is still up after all of it.
    let ok = rt.block_on(s.get("/ok", ""));
    assert_eq!(ok.status, 200);
}
