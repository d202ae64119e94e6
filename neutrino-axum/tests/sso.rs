//! Better Auth's sso endpoints over real sockets: registration by a tenant
//! admin, domain verification, sign-in resolution (only a verified domain
//! routes), and SSO enforcement on the password endpoints.

mod common;

use std::sync::Arc;

use common::{Opts, PASSWORD, server_with};
use neutrino_auth::sso::{DnsTxtCheck, SsoPolicy, record_name};
use neutrino_auth::testkit::Zone;
use serde_json::json;

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
    assert_eq!(s.get("/sso/callback/acme-oidc", "").await.status, 401);
    assert_eq!(s.get("/sso/callback/unknown", "").await.status, 404);

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

    // Now the domain routes; the handshake itself is not wired here.
    let res = s
        .post("/sign-in/sso", "", json!({"email": "bob@eng.acme.example"}))
        .await;
    assert_eq!(res.status, 501, "{}", res.text);
    assert_eq!(res.json()["code"], "SSO_HANDSHAKE_UNAVAILABLE");
    assert_eq!(s.get("/sso/callback/acme-oidc", "").await.status, 501);

    // Enforcement on the password endpoints.
    let bob = s.sign_up("bob@acme.example").await;
    assert_eq!(bob.status, 200);
    let orgs = s.platform.orgs();
    let ada_token = s
        .platform
        .auth()
        .sign_in_email(
            neutrino_auth::SignInEmail::new("ada@example.com", PASSWORD),
            &neutrino_auth::RequestMeta::new("127.0.0.1", "test"),
        )
        .await
        .unwrap()
        .session
        .token;
    orgs.sso()
        .set_policy(
            &ada_token,
            &org_id.parse().unwrap(),
            SsoPolicy {
                sso_required: true,
                ..SsoPolicy::default()
            },
            &neutrino_auth::RequestMeta::new("127.0.0.1", "test"),
        )
        .await
        .unwrap();
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
