//! Better Auth's sso endpoints over real sockets: registration by a tenant
//! admin, domain verification, sign-in resolution (only a verified domain
//! routes), and SSO enforcement on the password endpoints.

mod common;

use std::sync::Arc;

use common::{Opts, PASSWORD, Server, cookie_pair, server_with};
use neutrino_auth::oauth::RedirectTargets;
use neutrino_auth::sso::{DnsTxtCheck, SsoPolicy, record_name};
use neutrino_auth::testkit::Zone;
use neutrino_auth::testkit::idp::{CLIENT_ID, CLIENT_SECRET, IdpUser, TestIdp};
use neutrino_auth::{RequestMeta, SignInEmail};
use neutrino_core::sql::{SqlExecutor, Statement};
use serde_json::{Value, json};

#[tokio::test]
async fn sso_providers_register_verify_and_route_over_http() {
    let zone: &'static Zone = Box::leak(Box::default());
    let s = server_with(Opts {
        domain_check: Some(Arc::new(DnsTxtCheck::new(zone))),
        ..Opts::default()
    })
    .await;
    let ada = s.sign_up("ada@example.com").await.cookie_header();
    let eve = s.sign_up("eve@example.com").await.cookie_header();
    let org = s
        .post(
            "/organization/create",
            &ada,
            json!({"name": "Acme", "slug": "acme"}),
        )
        .await;
    assert_eq!(org.status, 200, "{}", org.text);
    let org_id = org.json()["id"].as_str().unwrap().to_owned();
    let body = json!({
        "providerId": "acme-oidc",
        "issuer": "https://idp.acme.example",
        "domain": "Acme.Example.",
        "organizationId": org_id,
        "oidcConfig": {"clientId": "acme-client", "clientSecret": "acme-client-secret-value"},
    });

    // No session, another tenant's user: refused.
    assert_eq!(s.post("/sso/register", "", body.clone()).await.status, 401);
    let res = s.post("/sso/register", &eve, body.clone()).await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(
        res.json()["code"],
        "YOU_ARE_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );

    let res = s.post("/sso/register", &ada, body.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(
        !res.text.contains("acme-client-secret-value"),
        "{}",
        res.text
    );
    let reg = res.json();
    assert_eq!(reg["domain"], "acme.example");
    assert_eq!(reg["domainVerified"], false);
    let token = reg["domainVerificationToken"].as_str().unwrap().to_owned();
    let dup = s.post("/sso/register", &ada, body.clone()).await;
    assert_eq!(dup.status, 422);
    assert_eq!(
        dup.json()["code"],
        "SSO_PROVIDER_WITH_THIS_PROVIDERID_ALREADY_EXISTS"
    );

    // Sign-in resolution: nothing routes before verification.
    let res = s
        .post("/sign-in/sso", "", json!({"email": "bob@acme.example"}))
        .await;
    assert_eq!(res.status, 401, "{}", res.text);
    assert_eq!(res.json()["code"], "PROVIDER_DOMAIN_HAS_NOT_BEEN_VERIFIED");
    let res = s
        .post("/sign-in/sso", "", json!({"email": "bob@nowhere.example"}))
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "NO_PROVIDER_FOUND_FOR_THE_ISSUER");
    let res = s.post("/sign-in/sso", "", json!({})).await;
    assert_eq!(res.status, 400);
    for (id, code) in [
        ("acme-oidc", "provider_domain_has_not_been_verified"),
        ("unknown", "no_provider_found_for_the_issuer"),
    ] {
        let res = s.get(&format!("/sso/callback/{id}"), "").await;
        assert_eq!(res.status, 302);
        assert_eq!(
            res.header("location"),
            Some(format!("{}/error?error={code}", s.base).as_str())
        );
    }

    // Another tenant's user cannot touch the provider's verification.
    let provider = json!({"providerId": "acme-oidc"});
    for path in ["/sso/request-domain-verification", "/sso/verify-domain"] {
        let res = s.post(path, &eve, provider.clone()).await;
        assert_eq!(res.status, 404, "{path}: {}", res.text);
        assert_eq!(res.json()["code"], "PROVIDER_NOT_FOUND");
    }
    let res = s
        .post("/sso/request-domain-verification", &ada, provider.clone())
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["domainVerificationToken"], token.as_str());

    // Not published: 502; published: 204, then 409.
    let res = s.post("/sso/verify-domain", &ada, provider.clone()).await;
    assert_eq!(res.status, 502);
    assert_eq!(res.json()["code"], "DOMAIN_VERIFICATION_FAILED");
    zone.publish(
        &record_name("acme-oidc", "acme.example"),
        &format!("_better-auth-token-acme-oidc={token}"),
    );
    let res = s.post("/sso/verify-domain", &ada, provider.clone()).await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = s.post("/sso/verify-domain", &ada, provider.clone()).await;
    assert_eq!(res.status, 409);
    assert_eq!(res.json()["code"], "DOMAIN_VERIFIED");

    // Now the domain routes; this issuer cannot be reached.
    let res = s
        .post("/sign-in/sso", "", json!({"email": "bob@eng.acme.example"}))
        .await;
    assert_eq!(res.status, 502, "{}", res.text);
    assert_eq!(res.json()["code"], "PROVIDER_UNAVAILABLE");

    // Enforcement on the password endpoints.
    let bob = s.sign_up("bob@acme.example").await;
    assert_eq!(bob.status, 200);
    require_sso(&s, &org_id).await;
    for email in ["bob@acme.example", "BOB@ACME.EXAMPLE", "bob+x@acme.example"] {
        let res = s
            .post(
                "/sign-in/email",
                "",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status, 403, "{email}: {}", res.text);
        assert_eq!(res.json()["code"], "SSO_REQUIRED");
    }
    let res = s
        .post(
            "/sign-up/email",
            "",
            json!({"name": "Carol", "email": "carol@acme.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "SSO_REQUIRED");
    assert_eq!(s.sign_in("eve@example.com").await.status, 200);
}

/// A server whose SSO providers may be the test identity provider, and its
/// DNS zone for domain proofs.
async fn sso_server(loopback: bool) -> (Server, &'static Zone) {
    let zone: &'static Zone = Box::leak(Box::default());
    let s = server_with(Opts {
        domain_check: Some(Arc::new(DnsTxtCheck::new(zone))),
        sso_loopback: loopback,
        ..Opts::default()
    })
    .await;
    (s, zone)
}

/// `cookie`'s owner registers the provider of `body` (Better Auth's
/// `/sso/register` body) and verifies its domain through `zone`.
async fn register_verified(s: &Server, zone: &Zone, cookie: &str, body: Value) {
    let res = s.post("/sso/register", cookie, body.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let token = res.json()["domainVerificationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (id, domain) = (
        body["providerId"].as_str().unwrap(),
        body["domain"].as_str().unwrap(),
    );
    zone.publish(&record_name(id, domain), &token);
    let res = s
        .post("/sso/verify-domain", cookie, json!({"providerId": id}))
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
}

/// `owner` signs up, creates organization `slug` and registers and verifies
/// provider `id` on `idp` for `domain`; answers the owner's cookie and the
/// organization's ID.
async fn tenant(
    s: &Server,
    zone: &Zone,
    owner: &str,
    slug: &str,
    id: &str,
    domain: &str,
    idp: &TestIdp,
) -> (String, String) {
    let cookie = s.sign_up(owner).await.cookie_header();
    let org = s
        .post(
            "/organization/create",
            &cookie,
            json!({"name": slug, "slug": slug}),
        )
        .await;
    assert_eq!(org.status, 200, "{}", org.text);
    let org_id = org.json()["id"].as_str().unwrap().to_owned();
    register_verified(
        s,
        zone,
        &cookie,
        json!({
            "providerId": id,
            "issuer": idp.issuer(),
            "domain": domain,
            "organizationId": org_id,
            "oidcConfig": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                           "scopes": ["openid", "email", "profile"]},
        }),
    )
    .await;
    (cookie, org_id)
}

/// Tenant acme: owner ada, provider `acme-oidc` on `idp` for
/// `acme.example`, verified; the owner's cookie and the organization's ID.
async fn acme(s: &Server, zone: &Zone, idp: &TestIdp) -> (String, String) {
    tenant(
        s,
        zone,
        "ada@example.com",
        "acme",
        "acme-oidc",
        "acme.example",
        idp,
    )
    .await
}

/// Tenant globex: owner eve, provider `globex-oidc` on `idp` for
/// `globex.example`, verified; the owner's cookie and the organization's ID.
async fn globex(s: &Server, zone: &Zone, idp: &TestIdp) -> (String, String) {
    tenant(
        s,
        zone,
        "eve@example.com",
        "globex",
        "globex-oidc",
        "globex.example",
        idp,
    )
    .await
}

/// The session token of ada (acme's owner), signed in with her password.
async fn ada_token(s: &Server) -> String {
    s.platform
        .auth()
        .sign_in_email(SignInEmail::new("ada@example.com", PASSWORD), &meta())
        .await
        .unwrap()
        .session
        .token
}

/// Ada switches "SSO required" on for her organization `org_id`.
async fn require_sso(s: &Server, org_id: &str) {
    s.platform
        .orgs()
        .sso()
        .set_policy(
            &ada_token(s).await,
            &org_id.parse().unwrap(),
            SsoPolicy {
                sso_required: true,
                ..SsoPolicy::default()
            },
            &meta(),
        )
        .await
        .unwrap();
}

fn meta() -> RequestMeta {
    RequestMeta::new("127.0.0.1", "test")
}

/// A browser's cookie jar.
#[derive(Default, Clone)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &common::Res) {
        for c in res.set_cookies() {
            let pair = cookie_pair(&c);
            let (k, v) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.0.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    fn has_session(&self) -> bool {
        self.0.iter().any(|(k, _)| k == "better-auth.session_token")
    }
}

/// `POST /sign-in/sso` from `jar`'s browser: the answer and the callback
/// URL the identity provider sends the browser to.
async fn start(s: &Server, jar: &mut Jar, idp: &TestIdp, body: Value) -> (common::Res, String) {
    let res = s.post("/sign-in/sso", &jar.header(), body).await;
    assert_eq!(res.status, 200, "{}", res.text);
    jar.keep(&res);
    let url = res.json()["url"].as_str().unwrap().to_owned();
    let callback = idp.authorize_location(&url).await;
    (res, callback)
}

/// Opens `url` (absolute) in `jar`'s browser.
async fn open(s: &Server, jar: &mut Jar, url: &str) -> common::Res {
    let mut req = s.http.get(url);
    if !jar.0.is_empty() {
        req = req.header("cookie", jar.header());
    }
    let res = common::read(req.send().await.unwrap()).await;
    jar.keep(&res);
    res
}

fn sign_in_body(email: &str) -> Value {
    json!({
        "email": email,
        "callbackURL": "/dashboard",
        "errorCallbackURL": "/oops",
        "newUserCallbackURL": "/welcome",
    })
}

async fn count(s: &Server, sql: &str, arg: &str) -> i64 {
    let rows = s
        .auth_db()
        .await
        .query(&Statement::new(sql).bind(arg))
        .await
        .unwrap();
    rows[0].get(0).unwrap()
}

/// The roles of `user_id` in the organization `org_id`.
async fn roles(s: &Server, user_id: &str, org_id: &str) -> Vec<String> {
    let rows = s
        .auth_db()
        .await
        .query(
            &Statement::new(
                r#"SELECT "role" FROM "member" WHERE "userId" = ?1 AND "organizationId" = ?2"#,
            )
            .bind(user_id)
            .bind(org_id),
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get::<String>(0).unwrap()).collect()
}

#[tokio::test]
async fn sso_sign_in_creates_the_user_account_and_membership_then_reuses_them() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "Bob@Acme.Example")).await;
    let (s, zone) = sso_server(true).await;
    let (_, org_id) = acme(&s, zone, &idp).await;
    let mut jar = Jar::default();
    let (started, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    let body = started.json();
    assert_eq!(body["redirect"], true);
    assert!(body["url"].as_str().unwrap().starts_with(&idp.issuer()));
    let state = started
        .set_cookie("better-auth.state")
        .expect("state cookie");
    assert!(state.contains("Max-Age=300") && state.contains("HttpOnly"));
    assert!(callback.starts_with(&format!("{}/sso/callback/acme-oidc?", s.base)));
    let done = open(&s, &mut jar, &callback).await;
    assert_eq!(done.status, 302, "{}", done.text);
    assert_eq!(done.header("location"), Some("/welcome"));
    assert!(jar.has_session());
    assert!(!jar.0.iter().any(|(k, _)| k == "better-auth.state"));
    let session = s.get("/get-session", &jar.header()).await.json();
    assert_eq!(session["user"]["email"], "bob@acme.example");
    assert_eq!(session["user"]["emailVerified"], true);
    let user_id = session["user"]["id"].as_str().unwrap().to_owned();
    let orgs = s.get("/organization/list", &jar.header()).await.json();
    assert_eq!(orgs[0]["id"], org_id.as_str());
    assert_eq!(roles(&s, &user_id, &org_id).await, ["member"]);

    // A second sign-in, another browser: the same user, nothing new.
    let mut jar2 = Jar::default();
    let (_, callback) = start(&s, &mut jar2, &idp, sign_in_body("bob@acme.example")).await;
    let done = open(&s, &mut jar2, &callback).await;
    assert_eq!(done.header("location"), Some("/dashboard"));
    let again = s.get("/get-session", &jar2.header()).await.json();
    assert_eq!(again["user"]["id"], user_id.as_str());
    let q = |t: &str| format!(r#"SELECT COUNT(*) FROM "{t}" WHERE "userId" = ?1"#);
    assert_eq!(count(&s, &q("account"), &user_id).await, 1);
    assert_eq!(count(&s, &q("member"), &user_id).await, 1);
    assert_eq!(
        count(
            &s,
            r#"SELECT COUNT(*) FROM "user" WHERE "email" = ?1"#,
            "bob@acme.example"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn sso_callbacks_refuse_replays_foreign_states_and_foreign_tokens() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "bob@acme.example")).await;
    let other_idp = TestIdp::start(IdpUser::verified("gus-sub", "gus@globex.example")).await;
    let (s, zone) = sso_server(true).await;
    acme(&s, zone, &idp).await;
    globex(&s, zone, &other_idp).await;
    let error = |code: &str| format!("{}/error?error={code}", s.base);

    // A completed sign-in's callback, replayed with the same state cookie.
    let mut victim = Jar::default();
    let (_, callback) = start(&s, &mut victim, &idp, sign_in_body("bob@acme.example")).await;
    let state_cookie = victim.clone();
    assert_eq!(
        open(&s, &mut victim, &callback).await.header("location"),
        Some("/welcome")
    );
    let mut replay = state_cookie;
    let res = open(&s, &mut replay, &callback).await;
    assert_eq!(
        res.header("location"),
        Some(error("state_mismatch").as_str())
    );
    assert!(!replay.has_session());

    // Another browser's state (login CSRF), or no state cookie at all.
    let mut attacker = Jar::default();
    let (_, callback) = start(&s, &mut attacker, &idp, sign_in_body("bob@acme.example")).await;
    let mut other = Jar::default();
    let _own = start(&s, &mut other, &idp, sign_in_body("bob@acme.example")).await;
    assert!(other.0.iter().any(|(k, _)| k == "better-auth.state"));
    let res = open(&s, &mut other, &callback).await;
    assert_eq!(
        res.header("location"),
        Some(error("state_mismatch").as_str())
    );
    assert!(!other.has_session());
    let mut bare = Jar::default();
    let res = open(&s, &mut bare, &callback).await;
    assert_eq!(
        res.header("location"),
        Some(error("state_mismatch").as_str())
    );
    assert!(!bare.has_session());

    // A state issued for another tenant's provider, completing this one's
    // callback (the code of the other provider's handshake, or of this one's).
    let mut mixed = Jar::default();
    let (_, foreign) = start(
        &s,
        &mut mixed,
        &other_idp,
        json!({"providerId": "globex-oidc", "errorCallbackURL": "/oops"}),
    )
    .await;
    let moved = foreign.replace("/sso/callback/globex-oidc?", "/sso/callback/acme-oidc?");
    assert_ne!(moved, foreign);
    let res = open(&s, &mut mixed, &moved).await;
    assert_eq!(
        res.header("location"),
        Some(error("state_mismatch").as_str())
    );
    assert!(!mixed.has_session());

    // A state issued for social sign-in with a provider of the same ID,
    // bound to this browser, at the SSO callback.
    let auth = s.platform.auth();
    let social = idp.oidc_provider("acme-oidc");
    let started = auth
        .oauth()
        .begin(
            &social,
            &auth.sso_redirect_uri("acme-oidc"),
            RedirectTargets {
                callback_url: "/dashboard".into(),
                ..RedirectTargets::default()
            },
        )
        .await
        .unwrap();
    let callback = idp.authorize_location(&started.url).await;
    assert!(callback.starts_with(&format!("{}/sso/callback/acme-oidc?", s.base)));
    let mut social_jar = Jar(vec![(
        "better-auth.state".into(),
        auth.cookies().sign(&started.state),
    )]);
    let res = open(&s, &mut social_jar, &callback).await;
    assert_eq!(
        res.header("location"),
        Some(error("state_mismatch").as_str())
    );
    assert!(!social_jar.has_session());

    // A state row without its provider (as Better Auth writes them), bound
    // to this browser: it completes no SSO callback.
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    let state = reqwest::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let db = s.auth_db().await;
    let rows = db
        .query(
            &Statement::new(
                r#"SELECT "identifier", "value" FROM "verification" WHERE "identifier" = ?1"#,
            )
            .bind(state),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let identifier: String = rows[0].get(0).unwrap();
    let mut value: Value = serde_json::from_str(&rows[0].get::<String>(1).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("providerId");
    db.execute(
        &Statement::new(r#"UPDATE "verification" SET "value" = ?1 WHERE "identifier" = ?2"#)
            .bind(value.to_string())
            .bind(identifier),
    )
    .await
    .unwrap();
    let res = open(&s, &mut jar, &callback).await;
    assert_eq!(
        res.header("location"),
        Some(error("state_mismatch").as_str())
    );
    assert!(!jar.has_session());

    // An ID token naming another tenant's identity provider as its issuer
    // (same keys, same client): refused.
    idp.claim_issuer(Some(other_idp.issuer()));
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    let res = open(&s, &mut jar, &callback).await;
    assert_eq!(res.header("location"), Some("/oops?error=invalid_id_token"));
    assert!(!jar.has_session());
    idp.claim_issuer(None);
    // The callback naming another issuer (a mix-up): refused.
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    let with_iss = format!("{callback}&iss={}", other_idp.issuer());
    let res = open(&s, &mut jar, &with_iss).await;
    assert_eq!(res.header("location"), Some("/oops?error=issuer_mismatch"));
    assert!(!jar.has_session());

    // An existing user, and an identity whose email the provider does not
    // verify: no linking, no session.
    assert_eq!(s.sign_up("carol@acme.example").await.status, 200);
    idp.set_user(IdpUser {
        email_verified: false,
        ..IdpUser::verified("carol-impostor", "carol@acme.example")
    });
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("carol@acme.example")).await;
    let res = open(&s, &mut jar, &callback).await;
    assert_eq!(
        res.header("location"),
        Some("/oops?error=account_not_linked")
    );
    assert!(!jar.has_session());

    // No email at all: Better Auth's code.
    idp.set_user(IdpUser {
        email: None,
        ..IdpUser::verified("nobody", "x@acme.example")
    });
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("dan@acme.example")).await;
    let res = open(&s, &mut jar, &callback).await;
    assert_eq!(
        res.header("location"),
        Some("/oops?error=invalid_provider&error_description=missing_user_info")
    );
    assert!(!jar.has_session());

    // Untrusted redirect targets: refused before anything is stored.
    let res = s
        .post(
            "/sign-in/sso",
            "",
            json!({"email": "bob@acme.example", "callbackURL": "https://evil.example/"}),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    assert!(res.set_cookie("better-auth.state").is_none());
}

#[tokio::test]
async fn with_sso_required_the_password_is_refused_and_sso_signs_in() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "bob@acme.example")).await;
    let (s, zone) = sso_server(true).await;
    let (_, org_id) = acme(&s, zone, &idp).await;
    assert_eq!(s.sign_up("bob@acme.example").await.status, 200);
    require_sso(&s, &org_id).await;
    let res = s
        .post(
            "/sign-in/email",
            "",
            json!({"email": "bob@acme.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "SSO_REQUIRED");
    // The provider verifies the address: the existing user is linked.
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    let res = open(&s, &mut jar, &callback).await;
    assert_eq!(
        res.header("location"),
        Some("/dashboard"),
        "{:?}",
        res.headers
    );
    let session = s.get("/get-session", &jar.header()).await.json();
    assert_eq!(session["user"]["email"], "bob@acme.example");
}

#[tokio::test]
async fn sso_providers_on_plain_http_loopback_are_refused_unless_allowed() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "bob@acme.example")).await;
    let (s, zone) = sso_server(false).await;
    acme(&s, zone, &idp).await;
    let res = s
        .post("/sign-in/sso", "", sign_in_body("bob@acme.example"))
        .await;
    assert_eq!(res.status, 502, "{}", res.text);
    assert_eq!(res.json()["code"], "PROVIDER_UNAVAILABLE");
    assert!(res.set_cookie("better-auth.state").is_none());
}

#[tokio::test]
async fn a_tenants_discovery_endpoint_never_replaces_another_tenants_metadata() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "bob@acme.example")).await;
    let evil_idp = TestIdp::start(IdpUser::verified("eve-sub", "eve@evil.example")).await;
    // A discovery document that names acme's issuer with the endpoints and
    // keys of another provider.
    let (issuer, evil) = (idp.issuer(), evil_idp.issuer());
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{evil}/authorize"),
        "token_endpoint": format!("{evil}/token"),
        "userinfo_endpoint": format!("{evil}/userinfo"),
        "jwks_uri": format!("{evil}/jwks"),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let doc_url = format!(
        "http://{}/.well-known/openid-configuration",
        listener.local_addr().unwrap()
    );
    let app = axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (s, zone) = sso_server(true).await;
    acme(&s, zone, &idp).await;
    let eve = s.sign_up("eve@example.com").await.cookie_header();
    let org = s
        .post(
            "/organization/create",
            &eve,
            json!({"name": "Evil", "slug": "evil"}),
        )
        .await;
    let org_id = org.json()["id"].as_str().unwrap().to_owned();
    register_verified(
        &s,
        zone,
        &eve,
        json!({
            "providerId": "evil-oidc",
            "issuer": idp.issuer(),
            "domain": "evil.example",
            "organizationId": org_id,
            "oidcConfig": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                           "discoveryEndpoint": doc_url},
        }),
    )
    .await;

    // Eve's provider goes where its document says...
    let res = s
        .post("/sign-in/sso", "", json!({"providerId": "evil-oidc"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.json()["url"].as_str().unwrap().starts_with(&evil));
    // ...and acme's still to acme's identity provider.
    let res = s
        .post("/sign-in/sso", "", sign_in_body("bob@acme.example"))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let url = res.json()["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{issuer}/authorize?")), "{url}");
}

/// Runs Better Auth's official client (`signIn.sso` with its sso plugin,
/// `tests/client/sso.mjs`) against `s` with `args`; answers its one JSON
/// document.
async fn official_client_sign_in(s: &Server, args: Value) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/client");
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success())
            && dir.join("node_modules/@better-auth/sso").is_dir(),
        "the official-client test needs Node.js 20+ and Better Auth's client with its sso plugin in neutrino-axum/tests/client (run scripts/setup-node-tests)"
    );
    let origin = s.origin.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .current_dir(dir)
            .arg("sso.mjs")
            .arg(&origin)
            .arg(args.to_string())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run node sso.mjs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "sso.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Better Auth's official client signs in with `signIn.sso` by email, by
/// organization slug, by provider ID and by domain: the tenant's identity
/// provider is asked, the callback sets the session, the user is the
/// email's and a member of the tenant with the default role.
#[tokio::test]
async fn the_official_client_signs_in_with_sso() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "bob@acme.example")).await;
    let other_idp = TestIdp::start(IdpUser::verified("gus-sub", "gus@globex.example")).await;
    let (s, zone) = sso_server(true).await;
    let (_, org_id) = acme(&s, zone, &idp).await;
    globex(&s, zone, &other_idp).await;
    let callback_prefix = format!("{}/sso/callback/acme-oidc?", s.base);
    let mut user_id = None;
    // Each way to name the provider, and the `login_hint` the identity
    // provider sees: `loginHint`, else the email (Better Auth's
    // `loginHint || email`), else none.
    for (args, hint) in [
        (
            json!({"email": "bob@acme.example"}),
            Some("bob@acme.example"),
        ),
        (
            json!({"email": "bob@acme.example", "loginHint": "bob"}),
            Some("bob"),
        ),
        (json!({"organizationSlug": "acme"}), None),
        (
            json!({"providerId": "acme-oidc", "loginHint": "bob@acme.example"}),
            Some("bob@acme.example"),
        ),
        (json!({"domain": "acme.example"}), None),
    ] {
        let doc = official_client_sign_in(&s, args.clone()).await;
        let seen = idp.last_authorize_params().expect("the provider was asked");
        assert_eq!(seen.get("login_hint").map(String::as_str), hint, "{args}");
        assert_eq!(doc["signIn"]["status"], 200, "{args}: {doc}");
        assert_eq!(doc["signIn"]["redirect"], true, "{args}: {doc}");
        let url = doc["signIn"]["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/authorize?", idp.issuer())),
            "{args}: {url}"
        );
        assert!(
            doc["callback"]["url"]
                .as_str()
                .unwrap()
                .starts_with(&callback_prefix),
            "{args}: {doc}"
        );
        assert_eq!(doc["callback"]["status"], 302, "{args}: {doc}");
        assert_eq!(doc["callback"]["location"], "/dashboard", "{args}: {doc}");
        assert_eq!(doc["callback"]["sessionCookie"], true, "{args}: {doc}");
        assert_eq!(doc["session"]["status"], 200, "{args}: {doc}");
        assert_eq!(doc["session"]["email"], "bob@acme.example", "{args}: {doc}");
        let id = doc["session"]["userId"].as_str().unwrap().to_owned();
        // Every way to name the provider signs in the same user.
        assert_eq!(user_id.get_or_insert_with(|| id.clone()), &id);
    }
    let user_id = user_id.unwrap();
    assert_eq!(roles(&s, &user_id, &org_id).await, ["member"]);
    assert_eq!(
        count(
            &s,
            r#"SELECT COUNT(*) FROM "member" WHERE "userId" = ?1"#,
            &user_id
        )
        .await,
        1,
        "a member of acme only"
    );

    // The client sees Better Auth's errors: an email no provider claims.
    let doc = official_client_sign_in(&s, json!({"email": "bob@nowhere.example"})).await;
    assert_eq!(doc["signIn"]["status"], 404, "{doc}");
    assert_eq!(doc["signIn"]["code"], "NO_PROVIDER_FOUND_FOR_THE_ISSUER");
    assert!(doc.get("callback").is_none());
}

/// Better Auth's provider routes: `GET /sso/providers`,
/// `GET /sso/get-provider`, `POST /sso/update-provider`,
/// `POST /sso/delete-provider`, for the tenant's owners and admins only; a
/// provider of another tenant answers exactly as a missing one, and no
/// answer holds the client secret.
#[tokio::test]
async fn sso_providers_are_managed_over_http_by_their_tenant_admins_only() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "bob@acme.example")).await;
    let other_idp = TestIdp::start(IdpUser::verified("bob-sub", "mallory@globex.example")).await;
    let (s, zone) = sso_server(true).await;
    let (ada, acme) = acme(&s, zone, &idp).await;
    let (eve, globex) = globex(&s, zone, &other_idp).await;
    // A plain member of acme.
    let bob = s.sign_up("ben@example.com").await;
    let ben_id = bob.json()["user"]["id"].as_str().unwrap().to_owned();
    let ben = bob.cookie_header();
    s.platform
        .orgs()
        .add_member(
            &ada_token(&s).await,
            &acme.parse().unwrap(),
            &ben_id.parse().unwrap(),
            "member",
            &meta(),
        )
        .await
        .unwrap();
    let no_secret = |res: &common::Res| {
        assert!(
            !res.text.contains(CLIENT_SECRET) && !res.text.contains("clientSecret"),
            "{}",
            res.text
        );
    };

    // Listing: each admin sees their own tenant's providers only.
    assert_eq!(s.get("/sso/providers", "").await.status, 401);
    for (cookie, want) in [
        (&ada, vec!["acme-oidc"]),
        (&eve, vec!["globex-oidc"]),
        (&ben, Vec::new()),
    ] {
        let res = s.get("/sso/providers", cookie).await;
        assert_eq!(res.status, 200, "{}", res.text);
        no_secret(&res);
        let ids: Vec<String> = res.json()["providers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["providerId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, want);
    }
    let listed = s.get("/sso/providers", &ada).await.json()["providers"][0].clone();
    assert_eq!(listed["type"], "oidc");
    assert_eq!(listed["organizationId"], acme.as_str());
    assert_eq!(listed["domain"], "acme.example");
    assert_eq!(listed["domainVerified"], true);
    let last_four: String = CLIENT_ID
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(
        listed["oidcConfig"]["clientIdLastFour"],
        format!("****{last_four}")
    );

    // Reading one: another tenant's provider is a missing one, exactly.
    let missing = s.get("/sso/get-provider?providerId=nope-oidc", &eve).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "PROVIDER_NOT_FOUND");
    let res = s.get("/sso/get-provider?providerId=acme-oidc", &eve).await;
    assert_eq!((res.status, res.json()), (missing.status, missing.json()));
    let res = s.get("/sso/get-provider?providerId=acme-oidc", &ben).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER");
    assert_eq!(
        s.get("/sso/get-provider?providerId=acme-oidc", "")
            .await
            .status,
        401
    );
    assert_eq!(s.get("/sso/get-provider", &ada).await.status, 400);
    let res = s.get("/sso/get-provider?providerId=acme-oidc", &ada).await;
    assert_eq!(res.status, 200);
    no_secret(&res);
    assert_eq!(res.json(), listed);

    // Updating: refused for other tenants (as missing) and plain members,
    // nothing changed.
    let evil = json!({
        "providerId": "acme-oidc",
        "issuer": other_idp.issuer(),
        "oidcConfig": {"clientSecret": "stolen-secret-value"},
    });
    let res = s.post("/sso/update-provider", &eve, evil.clone()).await;
    let missing = s
        .post(
            "/sso/update-provider",
            &eve,
            json!({"providerId": "nope-oidc", "issuer": other_idp.issuer()}),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!((res.status, res.json()), (missing.status, missing.json()));
    let res = s.post("/sso/update-provider", &ben, evil.clone()).await;
    assert_eq!(res.status, 403);
    assert_eq!(
        s.get("/sso/get-provider?providerId=acme-oidc", &ada)
            .await
            .json(),
        listed
    );
    let res = s
        .post(
            "/sso/update-provider",
            &ada,
            json!({"providerId": "acme-oidc"}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "NO_FIELDS_PROVIDED_FOR_UPDATE");
    let res = s
        .post(
            "/sso/update-provider",
            &ada,
            json!({"providerId": "acme-oidc",
                   "oidcConfig": {"clientSecret": "rotated-secret-value", "scopes": ["openid", "email"]}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(!res.text.contains("rotated-secret-value"));
    assert_eq!(
        res.json()["oidcConfig"]["scopes"],
        json!(["openid", "email"])
    );
    assert_eq!(res.json()["domainVerified"], true);
    // The rotated secret is the one the token request sends: the identity
    // provider refuses it (its client secret is another), so the sign-in
    // fails; the right one signs in again.
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    let res = open(&s, &mut jar, &callback).await;
    assert!(
        res.header("location").unwrap().starts_with("/oops?error="),
        "{:?}",
        res.header("location")
    );
    assert!(!jar.has_session());
    let res = s
        .post(
            "/sso/update-provider",
            &ada,
            json!({"providerId": "acme-oidc", "oidcConfig": {"clientSecret": CLIENT_SECRET}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    // An account is linked: the identity fields are frozen (another issuer
    // could name its subject), the rest still changes.
    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    assert_eq!(
        open(&s, &mut jar, &callback).await.header("location"),
        Some("/welcome")
    );
    let bob_id = s.get("/get-session", &jar.header()).await.json()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for change in [
        json!({"issuer": other_idp.issuer()}),
        json!({"oidcConfig": {"clientId": "another-client"}}),
        json!({"oidcConfig": {"discoveryEndpoint": format!("{}/.well-known/openid-configuration", other_idp.issuer())}}),
    ] {
        let mut body = change.clone();
        body["providerId"] = json!("acme-oidc");
        let res = s.post("/sso/update-provider", &ada, body).await;
        assert_eq!(res.status, 409, "{change}: {}", res.text);
        assert_eq!(
            res.json()["code"],
            "CANNOT_CHANGE_SSO_PROVIDER_IDENTITY_FIELDS_WHILE_LINKED_ACCOUNTS_EXIST"
        );
    }
    let got = s
        .get("/sso/get-provider?providerId=acme-oidc", &ada)
        .await
        .json();
    assert_eq!(got["issuer"], idp.issuer().as_str());
    let res = s
        .post(
            "/sso/update-provider",
            &ada,
            json!({"providerId": "acme-oidc", "domain": "new.acme.example"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["domain"], "new.acme.example");
    assert_eq!(res.json()["domainVerified"], false);

    // Deleting: refused for other tenants (as missing) and plain members.
    let missing = s
        .post(
            "/sso/delete-provider",
            &eve,
            json!({"providerId": "nope-oidc"}),
        )
        .await;
    assert_eq!(missing.status, 404);
    let res = s
        .post(
            "/sso/delete-provider",
            &eve,
            json!({"providerId": "acme-oidc"}),
        )
        .await;
    assert_eq!((res.status, res.json()), (missing.status, missing.json()));
    let res = s
        .post(
            "/sso/delete-provider",
            &ben,
            json!({"providerId": "acme-oidc"}),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(
        s.get("/sso/get-provider?providerId=acme-oidc", &ada)
            .await
            .status,
        200
    );
    let res = s
        .post(
            "/sso/delete-provider",
            &ada,
            json!({"providerId": "acme-oidc"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json(), json!({"success": true}));
    assert_eq!(
        s.get("/sso/get-provider?providerId=acme-oidc", &ada)
            .await
            .status,
        404
    );
    assert_eq!(
        s.get("/sso/providers", &ada).await.json()["providers"],
        json!([])
    );
    // Its linked accounts went with it: another tenant that registers the
    // same provider ID, on its own identity provider naming the same
    // subject, signs in a new user, not Bob.
    assert_eq!(
        count(
            &s,
            r#"SELECT COUNT(*) FROM "account" WHERE "providerId" = ?1"#,
            "acme-oidc"
        )
        .await,
        0
    );
    register_verified(
        &s,
        zone,
        &eve,
        json!({
            "providerId": "acme-oidc",
            "issuer": other_idp.issuer(),
            "domain": "mallory.example",
            "organizationId": globex,
            "oidcConfig": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
        }),
    )
    .await;
    other_idp.set_user(IdpUser::verified("bob-sub", "mallory@mallory.example"));
    let mut jar = Jar::default();
    let (_, callback) = start(
        &s,
        &mut jar,
        &other_idp,
        json!({"providerId": "acme-oidc", "callbackURL": "/dashboard"}),
    )
    .await;
    open(&s, &mut jar, &callback).await;
    let session = s.get("/get-session", &jar.header()).await.json();
    assert_ne!(session["user"]["id"], bob_id.as_str(), "{session}");
}

/// Someone who signed up first with an address of a tenant's verified
/// domain, without proving it, keeps no way in once the address's owner
/// signs in through the tenant's provider: the unproven user's password and
/// sessions are gone and the address is verified.
#[tokio::test]
async fn an_sso_proven_address_takes_the_account_from_its_pre_registrant() {
    let idp = TestIdp::start(IdpUser::verified("bob-sub", "bob@acme.example")).await;
    let (s, zone) = sso_server(true).await;
    acme(&s, zone, &idp).await;
    let squatter = s.sign_up("bob@acme.example").await.cookie_header();
    let before = s.get("/get-session", &squatter).await.json();
    assert_eq!(before["user"]["emailVerified"], false);

    let mut jar = Jar::default();
    let (_, callback) = start(&s, &mut jar, &idp, sign_in_body("bob@acme.example")).await;
    let done = open(&s, &mut jar, &callback).await;
    assert_eq!(done.status, 302, "{}", done.text);
    assert!(jar.has_session());
    let mine = s.get("/get-session", &jar.header()).await.json();
    assert_eq!(mine["user"]["id"], before["user"]["id"]);
    assert_eq!(mine["user"]["emailVerified"], true);

    assert_eq!(s.get("/get-session", &squatter).await.json(), Value::Null);
    let again = s
        .try_sign_in("", common::credentials("bob@acme.example"))
        .await;
    assert_eq!(again.status, 401, "{}", again.text);
}
