//! The HTTP layer attacked over real sockets: another platform's or another
//! tenant's cookies and IDs, forged cache cookies, cross-site requests,
//! open redirects, header injection, limiter dodging, one-time things used
//! concurrently.

mod common;
mod world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{
    Opts, PASSWORD, Res, Server, cookie_pair, count_ok, count_status, credentials, id_of,
    rate_limited_server, read, server, server_with, server_with_cookie_cache,
};
use neutrino_axum::api::AuthApi;
use serde_json::{Value, json};
use tower_layer::Layer;

const EVIL: &str = "evil.example";

/// Two platforms (same secret, as an operator may reuse one) behind one
/// gateway that serves the auth API with the cookie cache on.
async fn gateway_with_api() -> (world::World, world::Client) {
    let w = world::world().await;
    let api = AuthApi::for_gateway()
        .without_rate_limit()
        .with_cookie_cache(Duration::from_secs(300))
        .router()
        .unwrap()
        .merge(world::routes())
        .route(
            "/debug-session",
            axum::routing::get(|s: neutrino_axum::extract::CurrentSession| async move {
                format!("{s:?}")
            }),
        )
        .route(
            "/debug-tenant",
            axum::routing::get(|t: neutrino_axum::extract::CurrentTenant| async move {
                format!("{t:?}")
            }),
        );
    let addr = world::serve_app(world::gateway(&w).layer(api)).await;
    (w, world::Client::new(addr))
}

fn cookie_header(res: &reqwest::Response) -> String {
    common::cookie_header(res.headers())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_and_its_cache_cookie_of_one_platform_mean_nothing_on_another() {
    let (w, c) = gateway_with_api().await;
    let p_auth = w.auth_host();
    let q_auth = w.auth_host_of(&w.q);
    let res = c
        .post(&p_auth, "/api/auth/sign-in/email")
        .header("origin", "https://app.pea.example")
        .json(&json!({"email": w.ada.signed.user.email, "password": world::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = cookie_header(&res);
    assert!(cookie.contains("session_data="), "{cookie}");
    // On its own platform (auth host and a tenant's host), the cookie works.
    for host in [&p_auth, &w.a_host] {
        let (s, body) = world::answer(
            c.get(host, "/api/auth/get-session")
                .header("cookie", &cookie),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            body["user"]["email"],
            w.ada.signed.user.email.as_str(),
            "{host}"
        );
    }
    // On the other platform's hosts: no session, from the cache or the
    // database, and no write.
    let token_only: String = cookie
        .split("; ")
        .filter(|p| !p.contains("session_data"))
        .collect::<Vec<_>>()
        .join("; ");
    for host in [&q_auth, &w.q_host] {
        for (what, cookie) in [("with cache", &cookie), ("token only", &token_only)] {
            let (s, body) = world::answer(
                c.get(host, "/api/auth/get-session")
                    .header("cookie", cookie),
            )
            .await;
            assert_eq!(s, 200, "{host} {what}");
            assert_eq!(body, Value::Null, "{host} {what}: {body}");
            let (s, _) = world::answer(
                c.post(host, "/api/auth/update-user")
                    .header("origin", "https://app.queue.example")
                    .header("cookie", cookie)
                    .json(&json!({"name": "Mallory"})),
            )
            .await;
            assert_eq!(s, 401, "{host} {what}");
        }
    }
}

#[tokio::test]
async fn a_cache_cookie_of_another_user_or_altered_is_not_believed() {
    let s = server_with_cookie_cache().await;
    let ada = s.sign_up("ada@example.com").await;
    let eve = s.sign_up("eve@example.com").await;
    let data = "better-auth.session_data";
    let value = |r: &Res| cookie_pair(&r.set_cookie(data).unwrap());
    let eve_token = cookie_pair(&eve.set_cookie("better-auth.session_token").unwrap());
    // Eve's token with Ada's cache cookie: Eve (from the database) or nothing.
    let mixed = format!("{eve_token}; {}", value(&ada));
    let res = s.get("/get-session", &mixed).await;
    assert_eq!(res.json()["user"]["email"], "eve@example.com");
    // Ada's cache cookie with one character changed anywhere.
    let ada_value = value(&ada);
    let (name, v) = ada_value.split_once('=').unwrap();
    for i in [0, v.len() / 3, v.len() / 2, v.len() - 2] {
        let mut bytes = v.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let altered = format!("{eve_token}; {name}={}", String::from_utf8(bytes).unwrap());
        let res = s.get("/get-session", &altered).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json()["user"]["email"], "eve@example.com", "at {i}");
    }
}

/// The answer an endpoint gives, as `(status, code)`.
fn outcome(r: &Res) -> (u16, Value) {
    let code = serde_json::from_str::<Value>(&r.text)
        .ok()
        .and_then(|v| v.get("code").cloned())
        .unwrap_or(Value::Null);
    (r.status, code)
}

/// A request made of an ID: method, path and JSON body.
type Probe = Box<dyn Fn(&str) -> (&'static str, String, Option<Value>)>;

/// The organization endpoint `name` probed with `id`, as `(name, id, probe)`.
fn probe(
    name: &'static str,
    id: &str,
    f: impl Fn(&'static str) -> Probe,
) -> (&'static str, String, Probe) {
    (name, id.to_owned(), f(name))
}

/// A GET of an organization endpoint with the ID as the query's `param`.
fn get_by(param: &'static str) -> impl Fn(&'static str) -> Probe {
    move |name| Box::new(move |id| ("GET", format!("/organization/{name}?{param}={id}"), None))
}

/// A POST of an organization endpoint: `body` with the ID as its `field`.
fn post_with(field: &'static str, body: Value) -> impl Fn(&'static str) -> Probe {
    move |name| post_to(format!("/organization/{name}"), field, body.clone())
}

/// A POST of `path`: `body` with the ID as its `field`.
fn post_to(path: impl Into<String>, field: &'static str, body: Value) -> Probe {
    let path = path.into();
    Box::new(move |id| {
        let mut body = body.clone();
        body[field] = json!(id);
        ("POST", path.clone(), Some(body))
    })
}

/// `id` with its last character changed: a well-formed ID nobody has.
fn other_id(id: &str) -> String {
    let mut s = id.to_owned();
    let last = s.pop().unwrap();
    s.push(if last == 'a' { 'b' } else { 'a' });
    s
}

#[tokio::test]
async fn another_tenants_ids_are_refused_as_if_they_did_not_exist() {
    let s = server().await;
    let ada_up = s.sign_up("ada@example.com").await;
    let ada = ada_up.cookie_header();
    let ada_token = ada_up.json()["token"].as_str().unwrap().to_owned();
    let mal = s.cookie_of("mal@example.com").await;
    s.sign_up("bob@example.com").await;
    let org_id = id_of(&s.create_org(&ada, "Acme", "acme").await);
    let mal_org = id_of(&s.create_org(&mal, "Mal Inc", "mal-inc").await);
    let inv = json!({"email": "bob@example.com", "role": "member", "organizationId": org_id});
    let inv_id = id_of(&s.invite(&ada, inv).await);
    let full = s
        .org_get("get-full-organization", &org_id, &ada)
        .await
        .json();
    let member_id = full["members"][0]["id"].as_str().unwrap().to_owned();
    let key_id = id_of(
        &s.post("/api-key/create", &ada, json!({"name": "ci"}))
            .await
            .json(),
    );

    // Each probe, with the real foreign ID and with one that does not exist:
    // the same answer, never a success.
    let (org, member, inv) = (&org_id, &member_id, &inv_id);
    let mal_named = json!({ "organizationId": mal_org });
    let probes: Vec<(&str, String, Probe)> = vec![
        probe("get-full-organization", org, get_by("organizationId")),
        probe("list-members", org, get_by("organizationId")),
        probe("list-invitations", org, get_by("organizationId")),
        probe("set-active", org, post_with("organizationId", json!({}))),
        (
            "invite-member",
            org.clone(),
            post_to(
                "/organization/invite-member",
                "organizationId",
                json!({"email": "x@example.com", "role": "member"}),
            ),
        ),
        probe("leave", org, post_with("organizationId", json!({}))),
        probe(
            "remove-member",
            member,
            post_with("memberIdOrEmail", json!({})),
        ),
        (
            "update-member-role",
            member.clone(),
            post_to(
                "/organization/update-member-role",
                "memberId",
                json!({"role": "member"}),
            ),
        ),
        (
            "remove-member, own organization named",
            member.clone(),
            post_to(
                "/organization/remove-member",
                "memberIdOrEmail",
                mal_named.clone(),
            ),
        ),
        (
            "update-member-role, own organization named",
            member.clone(),
            post_to(
                "/organization/update-member-role",
                "memberId",
                json!({"role": "admin", "organizationId": mal_org}),
            ),
        ),
        (
            "cancel-invitation, own organization named",
            inv.clone(),
            post_to(
                "/organization/cancel-invitation",
                "invitationId",
                mal_named.clone(),
            ),
        ),
        (
            "revoke-session",
            ada_token.clone(),
            post_to("/revoke-session", "token", json!({})),
        ),
        probe(
            "cancel-invitation",
            inv,
            post_with("invitationId", json!({})),
        ),
        probe(
            "accept-invitation",
            inv,
            post_with("invitationId", json!({})),
        ),
        probe(
            "reject-invitation",
            inv,
            post_with("invitationId", json!({})),
        ),
        (
            "api-key/create for another organization",
            org.clone(),
            post_to("/api-key/create", "organizationId", json!({"name": "x"})),
        ),
        probe("get-organization", org, get_by("organizationId")),
        (
            "api-key/get",
            key_id.clone(),
            Box::new(|id| ("GET", format!("/api-key/get?id={id}"), None)),
        ),
        (
            "api-key/update",
            key_id.clone(),
            post_to("/api-key/update", "keyId", json!({"enabled": false})),
        ),
        (
            "api-key/delete",
            key_id.clone(),
            post_to("/api-key/delete", "keyId", json!({})),
        ),
    ];
    let mut leaks = Vec::new();
    for (name, real, probe) in &probes {
        let mut answers = Vec::new();
        for id in [real.clone(), other_id(real)] {
            let (method, path, body) = probe(&id);
            let res = if method == "GET" {
                s.get(&path, &mal).await
            } else {
                s.post(&path, &mal, body.unwrap()).await
            };
            // revoke-session is a silent no-op for another user's token, as
            // in Better Auth (checked below: Ada's session lives).
            assert!(
                (400..500).contains(&res.status)
                    || (*name == "revoke-session" && res.text == r#"{"status":true}"#),
                "{name} {id}: {} {}",
                res.status,
                res.text
            );
            answers.push((outcome(&res), res.text.contains(&ada_email())));
        }
        if answers[0] != answers[1] {
            leaks.push(format!("{name}: {:?} vs {:?}", answers[0], answers[1]));
        }
    }
    assert!(leaks.is_empty(), "real IDs told from fakes: {leaks:#?}");
    // Nothing changed on Acme's side.
    let full = s
        .org_get("get-full-organization", &org_id, &ada)
        .await
        .json();
    assert_eq!(full["members"].as_array().unwrap().len(), 1);
    assert_eq!(full["invitations"][0]["status"], "pending");
    let key = s
        .get(&format!("/api-key/get?id={key_id}"), &ada)
        .await
        .json();
    assert_eq!(key["enabled"], true);
    assert_eq!(
        s.get("/get-session", &ada).await.json()["user"]["email"],
        "ada@example.com"
    );
}

fn ada_email() -> String {
    "ada@example.com".into()
}

/// Callback URLs that leave the trusted origins, as browsers parse them.
fn evil_callbacks(s: &Server) -> Vec<String> {
    let host = s.origin.trim_start_matches("http://").to_owned();
    vec![
        format!("//{EVIL}"),
        format!("//{EVIL}/x"),
        format!("\\\\{EVIL}"),
        format!("/\\{EVIL}"),
        format!("\\/{EVIL}"),
        format!("https:{EVIL}"),
        format!("https:/{EVIL}"),
        format!("https:\\\\{EVIL}"),
        format!("http://{EVIL}"),
        format!("HTTP://{EVIL}"),
        format!(" //{EVIL}"),
        format!("\t//{EVIL}"),
        format!("javascript:alert(1)//{host}"),
        format!("data:text/html,<script>alert(1)</script>"),
        format!("http://{host}@{EVIL}/"),
        format!("http://{host}.{EVIL}/"),
        format!("http://{EVIL}\\@{host}/"),
        format!("http://{EVIL}\\@{host}"),
        format!("/%2F{EVIL}"),
        format!("/%2f%2f{EVIL}"),
        format!("/%5C{EVIL}"),
        format!("/%5c%5c{EVIL}"),
    ]
}

#[tokio::test]
async fn callback_urls_never_lead_off_the_trusted_origins() {
    let s = server().await;
    s.sign_up("ada@example.com").await;
    let mut failures = Vec::new();
    for evil in evil_callbacks(&s) {
        let enc: String = url_encode(&evil);
        for (path, body) in [
            (
                "/sign-in/email",
                json!({"email": "ada@example.com", "password": PASSWORD, "callbackURL": evil}),
            ),
            (
                "/request-password-reset",
                json!({"email": "ada@example.com", "redirectTo": evil}),
            ),
            (
                "/send-verification-email",
                json!({"email": "ada@example.com", "callbackURL": evil}),
            ),
            (
                "/sign-up/email",
                json!({"name": "X", "email": "x@example.com", "password": PASSWORD,
                       "callbackURL": "/", "errorCallbackURL": evil}),
            ),
            (
                "/sign-up/email",
                json!({"name": "X", "email": "x@example.com", "password": PASSWORD,
                       "newUserCallbackURL": evil}),
            ),
        ] {
            let res = s.post(path, "", body).await;
            if res.status != 403 {
                failures.push(format!("{path} {evil:?}: {} {}", res.status, res.text));
            }
        }
        let res = s
            .post(
                &format!("/sign-in/email?callbackURL={enc}"),
                "",
                credentials("ada@example.com"),
            )
            .await;
        if res.status != 403 {
            failures.push(format!("query {evil:?}: {}", res.status));
        }
        for path in [
            format!("/verify-email?token=x&callbackURL={enc}"),
            format!("/reset-password/sometoken?callbackURL={enc}"),
        ] {
            let res = s.get(&path, "").await;
            if res.status != 403 || res.header("location").is_some() {
                failures.push(format!(
                    "{path}: {} {:?}",
                    res.status,
                    res.header("location")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn crlf_in_a_callback_never_reaches_a_header() {
    let s = server().await;
    for cb in [
        format!("{}/x\r\nSet-Cookie: injected=1", s.origin),
        "/x\r\nSet-Cookie: injected=1".to_owned(),
        "/x\nSet-Cookie: injected=1".to_owned(),
        format!("{}/x%0d%0aSet-Cookie:%20injected=1", s.origin),
    ] {
        let enc = url_encode(&cb);
        for path in [
            format!("/reset-password/tok?callbackURL={enc}"),
            format!("/verify-email?token=x&callbackURL={enc}"),
        ] {
            let res = s.get(&path, "").await;
            assert!(res.status < 500, "{path}: {}", res.status);
            assert!(
                res.set_cookies().iter().all(|c| !c.contains("injected")),
                "{path}"
            );
            if let Some(l) = res.header("location") {
                assert!(!l.contains('\n') && !l.contains('\r'), "{l:?}");
            }
        }
        let res = s
            .try_sign_in(
                "",
                json!({"email": "nobody@example.com", "password": PASSWORD, "callbackURL": cb}),
            )
            .await;
        assert!(res.status < 500);
        assert!(res.set_cookies().iter().all(|c| !c.contains("injected")));
    }
}

#[tokio::test]
async fn cross_site_writes_with_a_cookie_are_refused() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let trusted = s.origin.clone();
    let attempt = |origin: Option<&'static str>,
                   referer: Option<String>,
                   content_type: &'static str,
                   body: String| {
        let mut req = s
            .http
            .post(s.url("/update-user"))
            .header("cookie", &ada)
            .header("content-type", content_type)
            .body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        async move { read(req.send().await.unwrap()).await }
    };
    let json_body = json!({"name": "Mallory"}).to_string();
    let evil_ref = Some(format!("https://{EVIL}/page"));
    let good_ref = Some(format!("{trusted}/settings"));
    for (what, origin, referer) in [
        ("no origin", None, None),
        ("null origin", Some("null"), None),
        (
            "null origin, trusted referer",
            Some("null"),
            good_ref.clone(),
        ),
        ("untrusted origin", Some("https://evil.example"), None),
        (
            "untrusted origin, trusted referer",
            Some("https://evil.example"),
            good_ref.clone(),
        ),
        ("untrusted referer only", None, evil_ref.clone()),
    ] {
        let res = attempt(origin, referer, "application/json", json_body.clone()).await;
        assert_eq!(res.status, 403, "{what}: {}", res.text);
    }
    // Forms and text never reach a JSON endpoint, from anywhere.
    for (ct, body) in [
        (
            "application/x-www-form-urlencoded",
            "name=Mallory".to_owned(),
        ),
        (
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nMallory\r\n--x--\r\n"
                .to_owned(),
        ),
        ("text/plain", json_body.clone()),
    ] {
        for origin in [None, Some("null"), Some("https://evil.example")] {
            let res = attempt(origin, None, ct, body.clone()).await;
            assert!(
                res.status == 403 || res.status == 415,
                "{ct} {origin:?}: {} {}",
                res.status,
                res.text
            );
        }
    }
    // A form sign-in with the victim's cookie from another site.
    for origin in [None, Some("null"), Some("https://evil.example")] {
        let mut req = s
            .http
            .post(s.url("/sign-in/email"))
            .header("cookie", &ada)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "email=ada%40example.com&password={}",
                url_encode(PASSWORD)
            ));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = read(req.send().await.unwrap()).await;
        assert_eq!(res.status, 403, "{origin:?}");
    }
    // A trusted referer alone is the origin (Better Auth's rule).
    let res = attempt(None, good_ref, "application/json", json_body.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let me = s.get("/get-session", &ada).await.json();
    assert_eq!(me["user"]["name"], "Mallory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sign_in_limit_is_not_dodged_by_headers_or_path_variants() {
    let s = rate_limited_server().await;
    s.sign_up("ada@example.com").await;
    let body = json!({"email": "ada@example.com", "password": "wrong password!"});
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = Arc::clone(&s);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let res = s
                .http
                .post(s.url("/sign-in/email"))
                .header("x-forwarded-for", format!("10.0.0.{i}"))
                .header("x-real-ip", format!("10.0.1.{i}"))
                .header("forwarded", format!("for=10.0.2.{i}"))
                .header("cf-connecting-ip", format!("10.0.3.{i}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        }));
    }
    assert_eq!(count_status(tasks, 401, 429).await, 3);
    let base = s.base.clone();
    for url in [
        format!("{base}//sign-in/email"),
        format!("{base}/sign-in/email/"),
        format!("{base}/sign-in//email"),
        format!("{base}/SIGN-IN/EMAIL"),
        format!("{base}/sign-in/%65mail"),
        format!("{base}/sign%2Din/email"),
        format!("{base}/./sign-in/email"),
        format!("{base}/sign-in/email;x"),
        format!("{base}/sign-in/email?x=1"),
        format!("{}/API/AUTH/sign-in/email", s.origin),
        format!("{}//api/auth/sign-in/email", s.origin),
    ] {
        let res = s.http.post(&url).json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        assert!(status == 429 || status == 404, "{url}: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invitation_accepted_by_many_requests_at_once_makes_one_member() {
    let s = Arc::new(server().await);
    let ada = s.cookie_of("ada@example.com").await;
    let bob = s.cookie_of("bob@example.com").await;
    let org_id = id_of(&s.create_org(&ada, "Acme", "acme").await);
    let inv = json!({"email": "bob@example.com", "role": "member"});
    let inv_id = id_of(&s.invite(&ada, inv).await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = Arc::clone(&s);
        let bob = bob.clone();
        let inv_id = inv_id.clone();
        tasks.push(tokio::spawn(async move {
            let path = if i % 2 == 0 {
                "/organization/accept-invitation"
            } else {
                "/organization/reject-invitation"
            };
            s.post(path, &bob, json!({"invitationId": inv_id})).await
        }));
    }
    assert_eq!(count_ok(tasks).await, 1);
    let members = s.org_get("list-members", &org_id, &ada).await.json();
    assert!(members["total"] == 1 || members["total"] == 2);
}

/// Many two-factor challenges (sign-ins stopped at the second factor) of
/// one user, as `Cookie` headers.
async fn challenges(s: &Server, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let res = s.try_sign_in("", credentials("ada@example.com")).await;
        assert_eq!(res.json()["twoFactorRedirect"], true, "{}", res.text);
        out.push(res.cookie_header());
    }
    out
}

/// Sends `body` to `path` with each cookie at once; the number of 200s.
async fn at_once(s: &Arc<Server>, path: &'static str, cookies: Vec<String>, body: Value) -> usize {
    let mut tasks = Vec::new();
    for c in cookies {
        let s = Arc::clone(s);
        let body = body.clone();
        tasks.push(tokio::spawn(async move { s.post(path, &c, body).await }));
    }
    count_ok(tasks).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_code_or_a_totp_code_signs_in_once_however_many_try_at_once() {
    let s = Arc::new(server().await);
    let (_, setup) = s.two_factor_user("ada@example.com").await;
    let (secret, backup) = (setup.secret(), setup.backup_codes[0].clone());

    // One backup code, eight challenges at once: one session.
    let cs = challenges(&s, 8).await;
    let ok = at_once(
        &s,
        "/two-factor/verify-backup-code",
        cs,
        json!({"code": backup}),
    )
    .await;
    assert_eq!(ok, 1, "a backup code signed in {ok} times");

    // One TOTP code (of the next step, inside the ±1 window and not spent
    // by the enabling above), eight challenges at once: one session.
    let cs = challenges(&s, 8).await;
    let next = common::totp_at(&secret, 30);
    let ok = at_once(&s, "/two-factor/verify-totp", cs, json!({"code": next})).await;
    assert_eq!(ok, 1, "one TOTP code signed in {ok} times");
}

#[tokio::test]
async fn a_cache_cookie_outliving_a_ban_or_a_lost_role_writes_nothing() {
    let s = server_with_cookie_cache().await;
    s.sign_up("ada@example.com").await;
    s.sign_up("bob@example.com").await;
    let carol_up = s.sign_up("carol@example.com").await;
    let carol = carol_up.cookie_header();
    let carol_id = carol_up.json()["user"]["id"].as_str().unwrap().to_owned();
    s.make_admin("ada@example.com").await;
    s.make_admin("bob@example.com").await;
    let ada_in = s.sign_in("ada@example.com").await;
    let ada = ada_in.cookie_header();
    assert!(ada.contains("session_data="), "{ada}");
    let ada_id = ada_in.json()["user"]["id"].as_str().unwrap().to_owned();
    let bob = s.sign_in("bob@example.com").await.cookie_header();

    // Bob takes Ada's role; her cached cookie still reads as signed in.
    let res = s
        .post(
            "/admin/set-role",
            &bob,
            json!({"userId": ada_id, "role": "user"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    for (path, body) in [
        ("/admin/ban-user", json!({"userId": carol_id})),
        (
            "/admin/set-role",
            json!({"userId": ada_id, "role": "admin"}),
        ),
        ("/admin/remove-user", json!({"userId": carol_id})),
        ("/admin/revoke-user-sessions", json!({"userId": carol_id})),
    ] {
        let res = s.post(path, &ada, body).await;
        assert_eq!(res.status, 403, "{path}: {}", res.text);
    }
    let res = s.get("/admin/list-users", &ada).await;
    assert_eq!(res.status, 403, "{}", res.text);

    // Bob bans Carol: her cached cookie changes nothing.
    let res = s
        .post("/admin/ban-user", &bob, json!({"userId": carol_id}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    for (path, body) in [
        ("/update-user", json!({"name": "Mallory"})),
        (
            "/organization/create",
            json!({"name": "Evil", "slug": "evil"}),
        ),
        ("/api-key/create", json!({"name": "k"})),
        ("/revoke-other-sessions", json!({})),
    ] {
        let res = s.post(path, &carol, body).await;
        assert_eq!(res.status, 401, "{path}: {}", res.text);
    }
    for path in ["/list-sessions", "/organization/list", "/api-key/list"] {
        let res = s.get(path, &carol).await;
        assert_eq!(res.status, 401, "{path}: {}", res.text);
    }
}

/// Everything recorded by tracing, as text.
#[derive(Clone, Default)]
struct Capture(Arc<std::sync::Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nspan ");
        out.push_str(attrs.metadata().name());
        attrs.record(&mut Fields(&mut out));
    }
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nrecord");
        values.record(&mut Fields(&mut out));
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nevent");
        event.record(&mut Fields(&mut out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_in_spans_events_debug_or_error_answers() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture.clone()))
        .unwrap();
    let (w, c) = gateway_with_api().await;
    let host = w.auth_host();
    let origin = "https://app.pea.example";
    let email = w.ada.signed.user.email.clone();
    let mut secrets: Vec<String> = vec![world::PASSWORD.into(), w.ada.token().into()];
    // A wrong password, then the right one.
    for pw in ["a wrong password of mine", world::PASSWORD] {
        let res = c
            .post(&host, "/api/auth/sign-in/email")
            .header("origin", origin)
            .json(&json!({"email": email, "password": pw}))
            .send()
            .await
            .unwrap();
        let text = res.text().await.unwrap();
        assert!(!text.contains("a wrong password"), "{text}");
    }
    secrets.push("a wrong password of mine".into());
    let res = c
        .post(&host, "/api/auth/sign-in/email")
        .header("origin", origin)
        .json(&json!({"email": email, "password": world::PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = cookie_header(&res);
    let body: Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    for pair in cookie.split("; ") {
        secrets.push(pair.split_once('=').unwrap().1.to_owned());
    }
    let post = |path: &str, body: Value| {
        c.post(&host, path)
            .header("origin", origin)
            .header("cookie", &cookie)
            .json(&body)
    };
    let key: Value = world::json_of(post("/api/auth/api-key/create", json!({"name": "ci"}))).await;
    secrets.push(key["key"].as_str().unwrap().to_owned());
    let tf: Value = world::json_of(post(
        "/api/auth/two-factor/enable",
        json!({"password": world::PASSWORD}),
    ))
    .await;
    let uri = tf["totpURI"].as_str().unwrap();
    secrets.push(
        uri.split("secret=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned(),
    );
    for code in tf["backupCodes"].as_array().unwrap() {
        secrets.push(code.as_str().unwrap().to_owned());
    }
    // Errors that name what was sent: a wrong password, a bad key ID, a
    // wrong code, a forged cookie.
    let mut answers = Vec::new();
    for (path, body) in [
        (
            "/api/auth/change-password",
            json!({"currentPassword": "a wrong password of mine", "newPassword": "another new password"}),
        ),
        (
            "/api/auth/api-key/update",
            json!({"keyId": key["key"], "enabled": false}),
        ),
        (
            "/api/auth/two-factor/verify-totp",
            json!({"code": tf["backupCodes"][0]}),
        ),
        (
            "/api/auth/organization/accept-invitation",
            json!({"invitationId": token}),
        ),
    ] {
        answers.push(world::text_of(post(path, body)).await);
    }
    secrets.push("another new password".into());
    answers.push(
        world::text_of(c.get(
            &host,
            &format!("/api/auth/reset-password/{token}?callbackURL=/x"),
        ))
        .await,
    );
    for path in ["/debug-session"] {
        answers.push(world::text_of(c.get(&host, path).header("cookie", &cookie)).await);
    }
    // Reads that Better Auth answers with the user, sessions or keys: no
    // password, TOTP secret, backup code or key (session tokens are in
    // list-sessions, as in Better Auth).
    let never: Vec<String> = secrets
        .iter()
        .filter(|x| **x != token && !cookie.contains(x.as_str()) && **x != w.ada.token())
        .cloned()
        .collect();
    for path in [
        "/api/auth/get-session",
        "/api/auth/list-sessions",
        "/api/auth/api-key/list",
        "/api/auth/organization/list",
    ] {
        let text = world::text_of(c.get(&host, path).header("cookie", &cookie)).await;
        assert!(
            text.starts_with('{') || text.starts_with('['),
            "{path}: {text}"
        );
        for x in &never {
            assert!(!text.contains(x.as_str()), "{path} answered {x:?}: {text}");
        }
    }
    let ada = &w.ada.cookie;
    let debug_tenant = c
        .get(&w.a_host, "/debug-tenant")
        .header("cookie", ada)
        .send()
        .await
        .unwrap();
    assert_eq!(debug_tenant.status(), 200);
    answers.push(debug_tenant.text().await.unwrap());
    answers.push(format!(
        "{:?} {:?}",
        world::gateway(&w),
        AuthApi::for_gateway()
    ));
    let captured = capture.0.lock().unwrap().clone();
    assert!(captured.contains("span request"), "nothing captured");
    for secret in &secrets {
        assert!(
            !captured.contains(secret.as_str()),
            "traced: {secret:?} in {captured}"
        );
        for a in &answers {
            assert!(!a.contains(secret.as_str()), "answered: {secret:?} in {a}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_keys_remaining_uses_hold_under_concurrent_requests() {
    let (w, c) = gateway_with_api().await;
    let key = world::tenant_key(&w, &w.ada, w.a, |n| n.remaining = Some(3)).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = c.clone();
        let k = key.key.clone();
        let host = if i % 4 == 0 {
            w.b_host.clone()
        } else {
            w.a_host.clone()
        };
        tasks.push(tokio::spawn(async move {
            let res = c
                .get(&host, "/key")
                .header("x-api-key", k)
                .send()
                .await
                .unwrap();
            (host, res.status().as_u16())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (host, status) = t.await.unwrap();
        assert!(status < 500, "{status}");
        if status == 200 {
            assert_eq!(host, w.a_host, "a key of A answered on B's host");
            ok += 1;
        }
    }
    assert!(ok <= 3, "a key with 3 uses answered {ok} times");
    assert!(ok >= 1, "the key never worked");
}

/// One raw HTTP/1.1 exchange (for request lines and headers a client
/// library would not send); the status and the whole answer.
fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_in_odd_shapes_or_twice_never_cross_platforms_or_tenants() {
    let (w, c) = gateway_with_api().await;
    let p_auth = w.auth_host();
    let q_auth = w.auth_host_of(&w.q);
    let ada = w.ada.cookie.clone();
    let email = w.ada.signed.user.email.clone();
    let get = |target: &str, hosts: &[&str]| {
        let mut r = format!("GET {target} HTTP/1.1\r\n");
        for h in hosts {
            r.push_str(&format!("Host: {h}\r\n"));
        }
        r.push_str(&format!("Cookie: {ada}\r\nConnection: close\r\n\r\n"));
        raw(c.addr, &r)
    };
    // Absolute-form naming Q, Host naming P (and the reverse): the host
    // routed by is the one whose platform reads the cookie.
    let (s, text) = get(&format!("http://{q_auth}/api/auth/get-session"), &[&p_auth]);
    assert!(s < 500, "{text}");
    assert!(
        !text.contains(&email),
        "P's session answered for Q's host: {text}"
    );
    let (s, text) = get(&format!("http://{q_auth}/whoami"), &[&p_auth]);
    assert!(s < 500, "{text}");
    if s == 200 {
        assert!(text.contains(&w.q.id().to_string()), "{text}");
    }
    // Two Host headers, userinfo, odd forms: refused or routed to the one
    // host named, never a 5xx.
    for hosts in [
        vec![p_auth.as_str(), q_auth.as_str()],
        vec![q_auth.as_str(), p_auth.as_str()],
    ] {
        let (s, text) = get("/api/auth/get-session", &hosts);
        assert!((400..500).contains(&s), "{hosts:?}: {text}");
    }
    for host in [
        format!("{p_auth}@{q_auth}"),
        format!("{q_auth}@{p_auth}"),
        format!("user:pw@{q_auth}"),
        format!("{q_auth}\t"),
        format!("{q_auth}/x"),
        format!("{q_auth}%2e"),
        format!("{q_auth}:99999"),
        format!("{q_auth}:-1"),
        "127.0.0.1".to_owned(),
        "[::1]:80".to_owned(),
        "xn--80ak6aa92e.com".to_owned(),
        "éxample.com".to_owned(),
        String::new(),
    ] {
        let (s, text) = get("/api/auth/get-session", &[&host]);
        assert!(s < 500 && s != 0, "{host:?}: {text}");
        assert!(!text.contains(&email), "{host:?}: {text}");
    }

    // The tenant header names another tenant than the host's: never B's
    // rows on A's host, whoever asks.
    for (who, cookie) in [("ben", &w.ben.cookie), ("ada", &w.ada.cookie)] {
        let (s, body) = world::answer(
            c.get(&w.a_host, "/notes")
                .header("cookie", cookie)
                .header("x-neutrino-tenant", w.b.to_string()),
        )
        .await;
        assert!(s < 500, "{who}: {body}");
        if s == 200 {
            assert_eq!(body["tenant"], w.a.to_string(), "{who}: {body}");
        }
        assert!(
            !body.to_string().contains(&format!("note of {}", w.b)),
            "{who}: {body}"
        );
    }
    // And a tenant of the other platform, named on the platform's host.
    let (s, body) = world::answer(
        c.get(&p_auth, "/notes")
            .header("cookie", &w.ada.cookie)
            .header("x-neutrino-tenant", w.qt.to_string()),
    )
    .await;
    assert!((400..500).contains(&s), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_revoked_over_http_is_gone_for_the_hosts_extractors_at_once() {
    let (w, c) = gateway_with_api().await;
    let host = w.auth_host();
    let origin = "https://app.pea.example";
    let sign_in = || async {
        let res = c
            .post(&host, "/api/auth/sign-in/email")
            .header("origin", origin)
            .json(&json!({"email": w.ada.signed.user.email, "password": world::PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        cookie_header(&res)
    };
    let first = sign_in().await;
    let second = sign_in().await;
    for (h, path) in [(&host, "/session"), (&w.a_host, "/notes")] {
        let (s, body) = world::answer(c.get(h, path).header("cookie", &first)).await;
        assert_eq!(s, 200, "{path}: {body}");
    }
    let post = |path: &'static str, cookie: &str| {
        let r = c.post(&host, path).header("origin", origin);
        world::answer(r.header("cookie", cookie).json(&json!({})))
    };
    // The second device revokes the others: the first is 401 everywhere.
    let (s, body) = post("/api/auth/revoke-other-sessions", &second).await;
    assert_eq!(s, 200, "{body}");
    for (h, path) in [(&host, "/session"), (&w.a_host, "/notes")] {
        let (s, body) = world::answer(c.get(h, path).header("cookie", &first)).await;
        assert_eq!(s, 401, "{path} after revocation: {body}");
    }
    // Signing out ends the second one as well.
    let (s, body) = post("/api/auth/sign-out", &second).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = world::answer(c.get(&host, "/session").header("cookie", &second)).await;
    assert_eq!(s, 401, "after sign-out: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writes_keep_slugs_invitations_and_owners_unique() {
    let s = Arc::new(server().await);
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(s.cookie_of(&format!("u{i}@example.com")).await);
    }
    // One slug, six creators at once: one organization.
    let mut tasks = Vec::new();
    for u in users.clone() {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.org_post("create", &u, json!({"name": "Same", "slug": "same-slug"}))
                .await
        }));
    }
    assert_eq!(count_ok(tasks).await, 1);

    // One invitee, six invitations at once: one pending invitation.
    let owner = users[0].clone();
    let org = id_of(&s.create_org(&owner, "Acme", "acme-race").await);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let s = Arc::clone(&s);
        let (owner, org) = (owner.clone(), org.clone());
        tasks.push(tokio::spawn(async move {
            s.org_post(
                "invite-member",
                &owner,
                json!({"email": "u1@example.com", "role": "member", "organizationId": org}),
            )
            .await
        }));
    }
    count_ok(tasks).await;
    let pending = s.org_get("list-invitations", &org, &owner).await.json();
    let n = pending
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "pending")
        .count();
    assert_eq!(n, 1, "{pending}");

    // Two owners leave at once: one owner stays.
    let inv = pending[0]["id"].as_str().unwrap().to_owned();
    let res = s
        .org_post("accept-invitation", &users[1], json!({"invitationId": inv}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let member = res.json()["member"]["id"].as_str().unwrap().to_owned();
    let res = s
        .org_post(
            "update-member-role",
            &owner,
            json!({"memberId": member, "role": "owner", "organizationId": org}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut tasks = Vec::new();
    for u in [users[0].clone(), users[1].clone()] {
        let s = Arc::clone(&s);
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            s.org_post("leave", &u, json!({"organizationId": org}))
                .await
        }));
    }
    assert!(count_ok(tasks).await <= 1, "both owners left");
}

/// A member of tenant A of P made an owner (so that it may make
/// organization keys) who can leave again: A keeps Ada as its owner.
async fn second_owner(w: &world::World) -> world::User {
    let cy = world::user(&w.p, "Cy").await;
    w.p.orgs()
        .add_member(
            w.ada.token(),
            &w.a,
            &cy.signed.user.id,
            "owner",
            &world::meta(),
        )
        .await
        .unwrap();
    cy
}

async fn org_key(
    w: &world::World,
    owner: &world::User,
    tenant: neutrino_core::ids::TenantId,
    f: impl FnOnce(&mut neutrino_auth::apikey::NewApiKey),
) -> neutrino_auth::apikey::CreatedApiKey {
    world::tenant_key(w, owner, tenant, |n| {
        n.owned_by_organization = true;
        f(n);
    })
    .await
}

fn code(v: &(u16, Value)) -> (u16, Option<&str>) {
    (v.0, v.1["code"].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_organizations_key_acts_in_its_tenant_only_and_with_its_permissions_only() {
    let (w, c) = gateway_with_api().await;
    let key_a = org_key(&w, &w.ada, w.a, |_| {}).await;
    let key_b = org_key(&w, &w.bea, w.b, |_| {}).await;
    // On its own tenant's host, by header, or with no tenant named: A.
    for r in [
        c.get(&w.a_host, "/notes"),
        c.get(&w.auth_host(), "/notes")
            .header("x-neutrino-tenant", w.a.to_string()),
        c.get(&w.auth_host(), "/notes"),
    ] {
        let (s, body) = world::answer(r.header("x-api-key", &key_a.key)).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["tenant"], w.a.to_string());
        assert_eq!(
            body["roles"],
            Value::Null,
            "an organization key is no member"
        );
        assert_eq!(body["orgKey"], key_a.record.id.as_str());
        assert_eq!(body["notes"][0], format!("note of {}", w.a));
    }
    // Another tenant's key on A's host or naming A, A's key on B's host or
    // naming B, with a session cookie of the right tenant beside it: all
    // refused, for every extractor, concurrently.
    let mut tries = Vec::new();
    for (key, host, header) in [
        (&key_b.key, &w.a_host, None),
        (&key_b.key, &w.auth_host(), Some(w.a)),
        (&key_a.key, &w.b_host, None),
        (&key_a.key, &w.auth_host(), Some(w.b)),
        (&key_a.key, &w.a_host, Some(w.b)),
    ] {
        for path in ["/notes", "/key", "/key-thrice"] {
            let method = if path == "/key-thrice" {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            let mut r = c
                .request(method, host, path)
                .header("x-api-key", key.as_str())
                .header("cookie", &w.ada.cookie);
            if let Some(t) = header {
                r = r.header("x-neutrino-tenant", t.to_string());
            }
            tries.push(tokio::spawn(world::answer(r)));
        }
    }
    for t in tries {
        let out = t.await.unwrap();
        assert_eq!(code(&out), (403, Some("TENANT_MISMATCH")), "{:?}", out.1);
    }
    // P's organization key on Q's host is no key there.
    let out = c.get_with_key(&w.q_host, "/notes", &key_a.key).await;
    assert_eq!(code(&out), (401, Some("INVALID_API_KEY")), "{:?}", out.1);
    // The key's own permissions are all it has: none is nothing, another
    // permission is not this one.
    let other = org_key(&w, &w.ada, w.a, |n| {
        n.permissions = Some([("member".to_owned(), vec!["create".to_owned()])].into());
    })
    .await;
    let update = org_key(&w, &w.ada, w.a, |n| {
        n.permissions = Some([("organization".to_owned(), vec!["update".to_owned()])].into());
    })
    .await;
    for k in [&key_a, &other] {
        let out = world::answer(c.post(&w.a_host, "/org").header("x-api-key", &k.key)).await;
        assert_eq!(code(&out), (403, Some("FORBIDDEN")), "{:?}", out.1);
    }
    let out = world::answer(c.post(&w.a_host, "/org").header("x-api-key", &update.key)).await;
    assert_eq!(out.0, 200, "{:?}", out.1);
    assert_eq!(out.1["tenant"], w.a.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_users_key_dies_with_the_membership_an_organizations_key_does_not() {
    let (w, c) = gateway_with_api().await;
    let cy = second_owner(&w).await;
    let users = world::tenant_key(&w, &cy, w.a, |_| {}).await;
    let orgs = org_key(&w, &cy, w.a, |_| {}).await;
    for k in [&users, &orgs] {
        let out = c.get_with_key(&w.a_host, "/notes", &k.key).await;
        assert_eq!(out.0, 200, "{:?}", out.1);
    }
    w.p.orgs()
        .leave(cy.token(), &w.a, &world::meta())
        .await
        .unwrap();
    let out = c.get_with_key(&w.a_host, "/notes", &users.key).await;
    assert_eq!(
        code(&out),
        (403, Some("USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")),
        "{:?}",
        out.1
    );
    let out = c.get_with_key(&w.a_host, "/notes", &orgs.key).await;
    assert_eq!(out.0, 200, "{:?}", out.1);
    assert_eq!(out.1["tenant"], w.a.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_organizations_key_is_spent_once_a_request_however_many_ask() {
    let (w, c) = gateway_with_api().await;
    let update = Some([("organization".to_owned(), vec!["update".to_owned()])].into());
    // Three extractors in one handler take one use: two uses, two requests.
    let two = org_key(&w, &w.ada, w.a, |n| {
        n.remaining = Some(2);
        n.permissions = update.clone();
    })
    .await;
    for _ in 0..2 {
        let out = world::answer(
            c.post(&w.a_host, "/key-thrice")
                .header("x-api-key", &two.key),
        )
        .await;
        assert_eq!(out.0, 200, "{:?}", out.1);
    }
    let out = world::answer(
        c.post(&w.a_host, "/key-thrice")
            .header("x-api-key", &two.key),
    )
    .await;
    assert_eq!(code(&out), (429, Some("USAGE_EXCEEDED")), "{:?}", out.1);
    // Many requests at once against `remaining`: exactly that many pass.
    let five = org_key(&w, &w.ada, w.a, |n| {
        n.remaining = Some(5);
        n.permissions = update.clone();
    })
    .await;
    let tries: Vec<_> = (0..24)
        .map(|i| {
            let path = ["/notes", "/key", "/key-thrice"][i % 3];
            let method = if path == "/key-thrice" {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            tokio::spawn(world::answer(
                c.request(method, &w.a_host, path)
                    .header("x-api-key", &five.key),
            ))
        })
        .collect();
    let mut ok = 0;
    for t in tries {
        let out = t.await.unwrap();
        if out.0 == 200 {
            ok += 1;
        } else {
            assert_eq!(code(&out), (429, Some("USAGE_EXCEEDED")), "{:?}", out.1);
        }
    }
    assert_eq!(ok, 5, "a key with 5 uses answered {ok} times");
}

/// With the in-process validation cache on (as the `auth_server` example
/// and the benchmark run), a sign-out, a revocation or a profile change is
/// seen by the very next `get-session`, even with reads of the session in
/// flight while it happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_session_cache_on_a_revocation_is_seen_at_once_under_load() {
    let s = Arc::new(
        server_with(Opts {
            session_cache: true,
            ..Opts::default()
        })
        .await,
    );
    let email = "cached@example.com";
    s.sign_up(email).await;
    let name = |r: &Res| r.json()["user"]["name"].as_str().map(str::to_owned);
    for round in 0..12 {
        let victim = s.sign_in(email).await.cookie_header();
        let other = s.sign_in(email).await.cookie_header();
        assert_eq!(
            s.get("/get-session", &victim).await.json()["user"]["email"],
            email
        );
        // Readers hammer the victim's session while it is ended.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..6)
            .map(|_| {
                let (s, victim, stop) = (Arc::clone(&s), victim.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = s.get("/get-session", &victim).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let res = match round % 3 {
            0 => s.post("/sign-out", &victim, json!({})).await,
            1 => s.post("/revoke-other-sessions", &other, json!({})).await,
            _ => {
                let token = s.get("/get-session", &victim).await.json()["session"]["token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                s.post("/revoke-session", &other, json!({ "token": token }))
                    .await
            }
        };
        assert_eq!(res.status, 200, "{}", res.text);
        for _ in 0..3 {
            let after = s.get("/get-session", &victim).await;
            assert_eq!(
                after.text, "null",
                "round {round}: the ended session answered"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.await.unwrap();
        }
        let after = s.get("/get-session", &victim).await;
        assert_eq!(
            after.text, "null",
            "round {round}: the ended session came back"
        );
        // A profile change shows at once on the other, cached, session.
        let new_name = format!("Renamed {round}");
        let _ = s.get("/get-session", &other).await;
        let res = s
            .post("/update-user", &other, json!({ "name": new_name }))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let seen = s.get("/get-session", &other).await;
        assert_eq!(name(&seen).as_deref(), Some(new_name.as_str()));
        s.post("/sign-out", &other, json!({})).await;
    }
}
