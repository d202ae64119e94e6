//! Social sign-in over real HTTP: the Rust server, a browser that keeps its
//! own cookies, and the test identity provider on loopback.

use neutrino_auth::testkit::idp::{IdpUser, Misbehavior};
use serde_json::{Value, json};

mod social_world;

use social_world::{Answer, Browser, World};

async fn world() -> World {
    World::start().await
}

/// Signs in with `provider`: the answer of `POST /sign-in/social`, the
/// callback URL the provider sent the browser to, the callback's answer.
async fn sign_in(w: &World, b: &mut Browser, provider: &str) -> (Answer, String, Answer) {
    let started = b
        .start(w, json!({ "provider": provider, "callbackURL": "/dashboard", "errorCallbackURL": "/oops" }))
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let url = started.json()["url"].as_str().unwrap().to_owned();
    let callback = w.idp.authorize_location(&url).await;
    let done = b.get(&callback).await;
    (started, callback, done)
}

#[tokio::test]
async fn sign_in_social_redirects_and_the_callback_sets_the_session() {
    let w = world().await;
    let mut b = Browser::new();
    let (started, callback, done) = sign_in(&w, &mut b, "acme").await;
    let body = started.json();
    assert_eq!(body["redirect"], true);
    assert_eq!(started.location.as_deref(), body["url"].as_str());
    assert!(body["url"].as_str().unwrap().starts_with(&w.idp.issuer()));
    let state_cookie = started
        .set_cookies
        .iter()
        .find(|c| c.starts_with("better-auth.state="))
        .expect("state cookie");
    assert!(state_cookie.contains("Max-Age=300") && state_cookie.contains("HttpOnly"));
    assert!(callback.starts_with(&format!("{}/callback/acme?", w.base)));
    assert_eq!(done.status, 302);
    assert_eq!(done.location.as_deref(), Some("/dashboard"));
    assert!(b.has_session());
    assert!(
        !b.cookies.iter().any(|(k, _)| k == "better-auth.state"),
        "the state cookie is expired"
    );
    let session = b.get(&format!("{}/get-session", w.base)).await;
    assert_eq!(session.json()["user"]["email"], "ada@example.com");
    assert_eq!(session.json()["user"]["emailVerified"], true);

    // GitHub, same address: linked to the same user.
    let mut b2 = Browser::new();
    w.idp.set_user(IdpUser::verified("4242", "ada@example.com"));
    let (_, _, done) = sign_in(&w, &mut b2, "github").await;
    assert_eq!(done.location.as_deref(), Some("/dashboard"));
    let s2 = b2.get(&format!("{}/get-session", w.base)).await;
    assert_eq!(s2.json()["user"]["id"], session.json()["user"]["id"]);

    // disableRedirect: no Location.
    let quiet = b
        .start(&w, json!({ "provider": "acme", "disableRedirect": true }))
        .await;
    assert_eq!(quiet.json()["redirect"], false);
    assert!(quiet.location.is_none());
}

#[tokio::test]
async fn an_attackers_replayed_callback_signs_nobody_in() {
    let w = world().await;
    let mut victim = Browser::new();
    let (_, callback, done) = sign_in(&w, &mut victim, "acme").await;
    assert!(victim.has_session());
    assert_eq!(done.location.as_deref(), Some("/dashboard"));
    // The attacker saw the callback URL and the state cookie (a copy of the
    // victim's jar), and replays both.
    let mut attacker = Browser::new();
    attacker.cookies = victim
        .cookies
        .iter()
        .filter(|(k, _)| k != "better-auth.session_token")
        .cloned()
        .collect();
    let started = attacker.start(&w, json!({ "provider": "acme" })).await;
    assert_eq!(started.status, 200);
    let replay = attacker.get(&callback).await;
    assert_eq!(replay.status, 302);
    assert_eq!(
        replay.location.unwrap(),
        format!("{}/error?error=state_mismatch", w.base)
    );
    assert!(!attacker.has_session());
}

#[tokio::test]
async fn a_state_from_another_browser_signs_nobody_in() {
    let w = world().await;
    // Login CSRF: the attacker starts a sign-in with their own identity and
    // makes the victim's browser open the callback.
    w.idp
        .set_user(IdpUser::verified("attacker", "mallory@example.com"));
    let mut attacker = Browser::new();
    let started = attacker
        .start(
            &w,
            json!({ "provider": "acme", "callbackURL": "/dashboard" }),
        )
        .await;
    let callback = w
        .idp
        .authorize_location(started.json()["url"].as_str().unwrap())
        .await;
    let mut victim = Browser::new();
    let _own = victim.start(&w, json!({ "provider": "acme" })).await;
    let hijack = victim.get(&callback).await;
    assert_eq!(hijack.status, 302);
    assert_eq!(
        hijack.location.unwrap(),
        format!("{}/error?error=state_mismatch", w.base)
    );
    assert!(!victim.has_session());
    // A browser without any state cookie, the same.
    let mut bare = Browser::new();
    let r = bare.get(&callback).await;
    assert_eq!(
        r.location.unwrap(),
        format!("{}/error?error=state_mismatch", w.base)
    );
    assert!(!bare.has_session());
    // The attacker's own browser still completes its own handshake.
    let own = attacker.get(&callback).await;
    assert_eq!(own.location.as_deref(), Some("/dashboard"));
    assert!(attacker.has_session());
}

#[tokio::test]
async fn untrusted_redirect_targets_and_unknown_providers_are_refused() {
    let w = world().await;
    let mut b = Browser::new();
    for (field, code) in [
        ("callbackURL", "INVALID_CALLBACK_URL"),
        ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
        ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
    ] {
        for evil in [
            "https://evil.example/x",
            "//evil.example/x",
            "http://127.0.0.1.evil.example/",
        ] {
            let r = b
                .start(&w, json!({ "provider": "acme", field: evil }))
                .await;
            assert_eq!(r.status, 403, "{field} {evil}");
            assert_eq!(r.json()["code"], code);
            assert!(
                !r.set_cookies
                    .iter()
                    .any(|c| c.starts_with("better-auth.state="))
            );
        }
    }
    let r = b.start(&w, json!({ "provider": "nope" })).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "PROVIDER_NOT_FOUND");
    let r = b
        .get(&format!("{}/callback/nope?state=x&code=y", w.base))
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.location.unwrap(),
        format!("{}/error?error=oauth_provider_not_found", w.base)
    );
}

#[tokio::test]
async fn a_forged_id_token_goes_to_the_error_url() {
    let w = world().await;
    let mut b = Browser::new();
    w.idp.misbehave(Misbehavior::AlgNone);
    let (_, _, done) = sign_in(&w, &mut b, "acme").await;
    assert_eq!(done.status, 302);
    assert_eq!(
        done.location.as_deref(),
        Some("/oops?error=invalid_id_token")
    );
    assert!(!b.has_session());
    w.idp.misbehave(Misbehavior::None);
    w.idp.set_user(IdpUser {
        email_verified: false,
        ..IdpUser::verified("other", "ada@example.com")
    });
    let mut first = Browser::new();
    w.idp
        .set_user(IdpUser::verified("subject-1", "ada@example.com"));
    sign_in(&w, &mut first, "acme").await;
    // Another identity with the same, unverified, address: no takeover.
    w.idp.set_user(IdpUser {
        email_verified: false,
        ..IdpUser::verified("intruder", "ada@example.com")
    });
    let mut intruder = Browser::new();
    let (_, _, done) = sign_in(&w, &mut intruder, "acme").await;
    assert_eq!(
        done.location.as_deref(),
        Some("/oops?error=account_not_linked")
    );
    assert!(!intruder.has_session());
}

/// Better Auth's official client (`signIn.social`) end to end: needs Node.js
/// and the packages `scripts/setup-node-tests` installs in
/// `neutrino-axum/tests/client`, and fails saying so without them.
#[tokio::test]
async fn the_official_client_signs_in_with_a_social_provider() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/client");
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()) && dir.join("node_modules/better-auth").is_dir(),
        "the official-client test needs Node.js 20+ and Better Auth's client in neutrino-axum/tests/client (run scripts/setup-node-tests)"
    );
    let w = world().await;
    let origin = w.origin.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .current_dir(dir)
            .arg("social.mjs")
            .arg(&origin)
            .arg("acme")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run node social.mjs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "social.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["signIn"],
        json!({ "status": 200, "redirect": false, "hasUrl": true })
    );
    assert_eq!(
        doc["callback"],
        json!({ "status": 302, "location": "/dashboard" })
    );
    assert_eq!(
        doc["session"],
        json!({ "status": 200, "email": "ada@example.com", "emailVerified": true })
    );
}

#[tokio::test]
async fn the_login_hint_reaches_the_provider() {
    let w = world().await;
    let mut b = Browser::new();
    for (body, hint) in [
        (
            json!({ "provider": "acme", "loginHint": "ada@example.com" }),
            Some("ada@example.com"),
        ),
        (
            json!({ "provider": "github", "loginHint": "ada" }),
            Some("ada"),
        ),
        (json!({ "provider": "acme" }), None),
        (json!({ "provider": "acme", "loginHint": "" }), None),
    ] {
        let started = b.start(&w, body.clone()).await;
        assert_eq!(started.status, 200, "{}", started.body);
        let url = started.json()["url"].as_str().unwrap().to_owned();
        w.idp.authorize_location(&url).await;
        let seen = w.idp.last_authorize_params().unwrap();
        assert_eq!(seen.get("login_hint").map(String::as_str), hint, "{body}");
    }
}

/// A tenant cannot register an SSO provider under the ID of one of the
/// platform's social providers: both write `account` rows keyed by provider
/// ID and subject, so the tenant's identity provider could name the subject
/// of someone's social account and sign in as them.
#[tokio::test]
async fn an_sso_provider_cannot_take_a_social_providers_id() {
    let w = world().await;
    let mut b = Browser::new();
    let up = post(
        &w,
        &mut b,
        "/sign-up/email",
        json!({"name": "Eve", "email": "eve@evil.example", "password": "a long enough password"}),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let org = post(
        &w,
        &mut b,
        "/organization/create",
        json!({"name": "Evil", "slug": "evil"}),
    )
    .await;
    assert_eq!(org.status, 200, "{}", org.body);
    let org_id = org.json()["id"].as_str().unwrap().to_owned();
    for id in ["acme", "github"] {
        let res = post(
            &w,
            &mut b,
            "/sso/register",
            json!({
                "providerId": id,
                "issuer": "https://idp.evil.example",
                "domain": "evil.example",
                "organizationId": org_id,
                "oidcConfig": {"clientId": "c", "clientSecret": "s"},
            }),
        )
        .await;
        assert_eq!(res.status, 422, "{id}: {}", res.body);
        assert_eq!(
            res.json()["code"],
            "THIS_PROVIDERID_IS_RESERVED_AND_CANNOT_BE_USED_FOR_AN_SSO_PROVIDER"
        );
    }
    let res = post(
        &w,
        &mut b,
        "/sso/register",
        json!({
            "providerId": "evil-oidc",
            "issuer": "https://idp.evil.example",
            "domain": "evil.example",
            "organizationId": org_id,
            "oidcConfig": {"clientId": "c", "clientSecret": "s"},
        }),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

/// A JSON POST to the auth API from `b`'s page on the trusted origin.
async fn post(w: &World, b: &mut Browser, path: &str, body: Value) -> Answer {
    let req = b
        .http
        .post(format!("{}{path}", w.base))
        .header("origin", &w.origin)
        .json(&body);
    b.send(req).await
}
