//! The OAuth 2.0 / OIDC handshake and social sign-in against a real identity
//! provider on loopback ([`neutrino_auth::testkit::idp`]), on SQLite on disk.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, PASSWORD};
use jsonwebtoken::Algorithm;
use neutrino_auth::oauth::social::{SocialCallbackError, SocialSignIn, SocialSignedIn};
use neutrino_auth::oauth::{CallbackParams, OAuthError, ProviderConfig, RedirectTargets};
use neutrino_auth::testkit::idp::{IdpUser, Misbehavior, TestIdp};
use neutrino_auth::testkit::meta;
use neutrino_auth::{Auth, AuthBuilder, SignUpEmail};
use neutrino_core::sql::{SqlExecutor, Statement};

fn builder(f: &Fixture, idp: &TestIdp) -> AuthBuilder {
    f.builder()
        .with_base_url("http://localhost:3000")
        .with_trusted_origins(["http://app.localhost:3000"])
        .with_social_provider(idp.oidc_provider("acme"))
        .with_social_provider(idp.google())
        .with_social_provider(idp.github())
        .with_social_provider(idp.oauth2_provider("plain"))
}

async fn setup(user: IdpUser) -> (Fixture, TestIdp, Auth) {
    let f = Fixture::new().await;
    let idp = TestIdp::start(user).await;
    let auth = f.build(builder(&f, &idp)).await;
    (f, idp, auth)
}

fn sub() -> String {
    neutrino_core::ids::generate_id()
}

fn email() -> String {
    format!("{}@example.com", sub().to_ascii_lowercase())
}

fn start(provider: &str) -> SocialSignIn {
    SocialSignIn {
        provider: provider.into(),
        callback_url: Some("/dashboard".into()),
        error_callback_url: Some("/oops".into()),
        new_user_callback_url: Some("/welcome".into()),
        login_hint: None,
        request_sign_up: false,
    }
}

/// A whole sign-in as one browser does it.
async fn sign_in(
    auth: &Auth,
    idp: &TestIdp,
    provider: &str,
) -> Result<SocialSignedIn, SocialCallbackError> {
    let a = auth.sign_in_social(start(provider)).await.expect("begin");
    let params = idp.authorize(&a.url).await;
    auth.social_callback(
        provider,
        &params,
        Some(&auth.cookies().sign(&a.state)),
        &meta(),
    )
    .await
    .map(|done| done.signed_in().expect("a sign-in"))
}

fn code_of<T>(r: Result<T, SocialCallbackError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.error.code(),
    }
}

async fn count(db: &dyn SqlExecutor, sql: &str, value: &str) -> i64 {
    let rows = db.query(&Statement::new(sql).bind(value)).await.unwrap();
    rows[0].get(0).unwrap()
}

async fn users_with(f: &Fixture, email: &str) -> i64 {
    count(
        &f.db,
        r#"SELECT COUNT(*) FROM "user" WHERE "email" = ?1"#,
        email,
    )
    .await
}

async fn accounts_of(f: &Fixture, subject: &str) -> i64 {
    count(
        &f.db,
        r#"SELECT COUNT(*) FROM "account" WHERE "accountId" = ?1"#,
        subject,
    )
    .await
}

#[tokio::test]
async fn oidc_sign_in_creates_the_user_once_with_rs256_and_es256() {
    let (s, e) = (sub(), email());
    let (f, idp, auth) = setup(IdpUser::verified(&s, &e)).await;
    let first = sign_in(&auth, &idp, "acme").await.expect("signs in");
    assert!(first.is_new_user);
    assert_eq!(first.redirect, "/welcome");
    assert!(
        first.signed_in.user.email_verified,
        "verified at the provider"
    );
    assert_eq!(first.signed_in.user.email, e);
    let found = auth
        .get_session(&first.signed_in.session.token)
        .await
        .unwrap()
        .expect("a live session");
    assert_eq!(found.user.id, first.signed_in.user.id);

    idp.sign_with(Algorithm::ES256);
    let second = sign_in(&auth, &idp, "acme")
        .await
        .expect("signs in with ES256");
    assert!(!second.is_new_user);
    assert_eq!(second.redirect, "/dashboard");
    assert_eq!(second.signed_in.user.id, first.signed_in.user.id);
    assert_eq!(users_with(&f, &e).await, 1);
    assert_eq!(accounts_of(&f, &s).await, 1, "no duplicate account");

    // Tokens at rest: Better Auth's symmetricEncrypt under the secret.
    let rows = f
        .db
        .query(&Statement::new(r#"SELECT "providerId", "accessToken", "refreshToken", "idToken" FROM "account" WHERE "accountId" = ?1"#).bind(s.as_str()))
        .await
        .unwrap();
    let provider: String = rows[0].get(0).unwrap();
    let access: String = rows[0].get(1).unwrap();
    assert_eq!(provider, "acme");
    let plain = neutrino_auth::twofactor::symmetric_decrypt(common::SECRET.as_bytes(), &access)
        .expect("encrypted with the secret");
    assert_eq!(plain.len(), 40);
    let id_token: Option<String> = rows[0].get(3).unwrap();
    assert!(id_token.is_some());
}

#[tokio::test]
async fn every_forged_or_misbound_id_token_is_refused() {
    let (f, idp, auth) = setup(IdpUser::verified(sub(), email())).await;
    for m in [
        Misbehavior::WrongIssuer,
        Misbehavior::WrongAudience,
        Misbehavior::ManyAudiencesNoAzp,
        Misbehavior::Expired,
        Misbehavior::NotYetValid,
        Misbehavior::IssuedInTheFuture,
        Misbehavior::OtherNonce,
        Misbehavior::ReplayedNonce,
        Misbehavior::NoNonce,
        Misbehavior::AlgNone,
        Misbehavior::Hs256WithPublicKey,
        Misbehavior::UnknownKid,
        Misbehavior::WrongKeyForKid,
        Misbehavior::BadSignature,
        Misbehavior::WrongAtHash,
    ] {
        let e = email();
        idp.set_user(IdpUser::verified(sub(), &e));
        idp.misbehave(Misbehavior::None);
        // A first authorization, whose nonce a replayed token carries.
        let earlier = auth.sign_in_social(start("acme")).await.unwrap();
        let _ = idp.authorize(&earlier.url).await;
        let a = auth.sign_in_social(start("acme")).await.unwrap();
        idp.misbehave(m);
        let params = idp.authorize(&a.url).await;
        let r = auth
            .social_callback(
                "acme",
                &params,
                Some(&auth.cookies().sign(&a.state)),
                &meta(),
            )
            .await;
        let err = r.expect_err(&format!("{m:?} must be refused"));
        assert_eq!(
            err.error.code(),
            "invalid_id_token",
            "{m:?}: {:?}",
            err.error
        );
        assert_eq!(err.redirect, "/oops?error=invalid_id_token");
        assert_eq!(users_with(&f, &e).await, 0, "{m:?} created no user");
    }
}

#[tokio::test]
async fn the_algorithm_is_pinned_per_provider() {
    // A provider pinned to RS256 refuses an ES256 token, though its key is
    // in the provider's JWKS.
    let f = Fixture::new().await;
    let idp = TestIdp::start(IdpUser::verified(sub(), email())).await;
    let rs256_only = idp
        .oidc_provider("rs")
        .with_algorithms(vec![Algorithm::RS256]);
    let auth = f
        .build(
            f.builder()
                .with_base_url("http://localhost:3000")
                .with_social_provider(rs256_only),
        )
        .await;
    sign_in(&auth, &idp, "rs").await.expect("RS256");
    idp.sign_with(Algorithm::ES256);
    assert_eq!(
        code_of(sign_in(&auth, &idp, "rs").await),
        "invalid_id_token"
    );
    // HS* cannot even be configured.
    let hs = idp
        .oidc_provider("hs")
        .with_algorithms(vec![Algorithm::HS256]);
    assert!(f.builder().with_social_provider(hs).build().is_err());
}

#[tokio::test]
async fn a_token_of_another_issuer_is_refused_even_with_the_same_keys() {
    // Two providers sign with the same test keys; provider "b" is pointed at
    // A's token endpoint: only the issuer check tells A's token apart.
    let f = Fixture::new().await;
    let a = TestIdp::start(IdpUser::verified(sub(), email())).await;
    let b = TestIdp::start(IdpUser::verified(sub(), email())).await;
    let b_with_a_tokens = b
        .oidc_provider("b")
        .with_endpoints(neutrino_auth::oauth::Endpoints {
            authorization: Some(format!("{}/authorize", a.issuer())),
            token: Some(format!("{}/token", a.issuer())),
            ..Default::default()
        });
    let auth = f
        .build(
            f.builder()
                .with_base_url("http://localhost:3000")
                .with_social_provider(b_with_a_tokens),
        )
        .await;
    assert_eq!(code_of(sign_in(&auth, &a, "b").await), "invalid_id_token");
}

#[tokio::test]
async fn a_state_completes_once_even_under_concurrent_callbacks() {
    let (_f, idp, auth) = setup(IdpUser::verified(sub(), email())).await;
    let a = auth.sign_in_social(start("acme")).await.unwrap();
    let params = idp.authorize(&a.url).await;
    let cookie = auth.cookies().sign(&a.state);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (auth, params, cookie) = (auth.clone(), params.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            auth.social_callback("acme", &params, Some(&cookie), &meta())
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.error.code(), "state_mismatch"),
        }
    }
    assert_eq!(ok, 1);
    // Only the winner reached the provider: the state, not the provider's
    // single-use code, stopped the others.
    assert_eq!(idp.token_calls(), 1);
    // A replay afterwards.
    let again = auth
        .social_callback("acme", &params, Some(&cookie), &meta())
        .await;
    assert_eq!(code_of(again), "state_mismatch");
}

#[tokio::test]
async fn a_state_from_another_browser_or_provider_or_too_old_is_refused() {
    let (f, idp, auth) = setup(IdpUser::verified(sub(), email())).await;
    // The attacker's own handshake, completed in the victim's browser.
    let attacker = auth.sign_in_social(start("acme")).await.unwrap();
    let victim = auth.sign_in_social(start("acme")).await.unwrap();
    let params = idp.authorize(&attacker.url).await;
    for cookie in [
        None,
        Some(auth.cookies().sign(&victim.state)),
        Some(attacker.state.clone()),
    ] {
        let r = auth
            .social_callback("acme", &params, cookie.as_deref(), &meta())
            .await;
        assert_eq!(code_of(r), "state_mismatch");
    }
    assert_eq!(idp.token_calls(), 0);
    // No state at all.
    let r = auth
        .social_callback(
            "acme",
            &CallbackParams {
                state: None,
                ..params.clone()
            },
            None,
            &meta(),
        )
        .await;
    assert_eq!(code_of(r), "state_not_found");
    // A state issued for another provider.
    let r = auth
        .social_callback(
            "google",
            &params,
            Some(&auth.cookies().sign(&attacker.state)),
            &meta(),
        )
        .await;
    assert_eq!(code_of(r), "state_mismatch");
    // Expired after ten minutes.
    let old = auth.sign_in_social(start("acme")).await.unwrap();
    let params = idp.authorize(&old.url).await;
    f.clock.advance(Duration::from_secs(601));
    let r = auth
        .social_callback(
            "acme",
            &params,
            Some(&auth.cookies().sign(&old.state)),
            &meta(),
        )
        .await;
    assert_eq!(code_of(r), "state_mismatch");
}

#[tokio::test]
async fn the_state_row_is_better_auths() {
    let (f, _idp, auth) = setup(IdpUser::verified(sub(), email())).await;
    let a = auth.sign_in_social(start("acme")).await.unwrap();
    let rows =
        f.db.query(
            &Statement::new(r#"SELECT "value" FROM "verification" WHERE "identifier" = ?1"#)
                .bind(a.state.as_str()),
        )
        .await
        .unwrap();
    let value: String = rows[0].get(0).unwrap();
    let v: serde_json::Value = serde_json::from_str(&value).unwrap();
    assert_eq!(v["callbackURL"], "/dashboard");
    assert_eq!(v["errorURL"], "/oops");
    assert_eq!(v["newUserURL"], "/welcome");
    assert_eq!(v["oauthState"], a.state.as_str());
    assert_eq!(v["codeVerifier"].as_str().unwrap().len(), 128);
    assert!(v["expiresAt"].as_i64().unwrap() > 0);
    assert!(v["idTokenNonce"].is_string());
    let url = reqwest::Url::parse(&a.url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        "http://localhost:3000/api/auth/callback/acme"
    );
    assert_eq!(q["state"], a.state);
    assert_eq!(q["nonce"], v["idTokenNonce"].as_str().unwrap());
}

#[tokio::test]
async fn redirect_targets_must_be_trusted() {
    let (_f, _idp, auth) = setup(IdpUser::verified(sub(), email())).await;
    for bad in [
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example",
        "http://localhost:3000.evil.example/",
    ] {
        for which in 0..3 {
            let mut req = start("acme");
            match which {
                0 => req.callback_url = Some(bad.into()),
                1 => req.error_callback_url = Some(bad.into()),
                _ => req.new_user_callback_url = Some(bad.into()),
            }
            let r = auth.sign_in_social(req).await;
            assert!(
                matches!(r, Err(OAuthError::InvalidCallbackUrl)),
                "{bad} as target {which}"
            );
        }
    }
    let mut ok = start("acme");
    ok.callback_url = Some("http://app.localhost:3000/home".into());
    auth.sign_in_social(ok).await.expect("a trusted origin");
    let unknown = auth.sign_in_social(start("nope")).await;
    assert!(matches!(unknown, Err(OAuthError::ProviderNotFound)));
}

#[tokio::test]
async fn an_unverified_provider_email_never_links_to_an_existing_user() {
    let (s, e) = (sub(), email());
    let (f, idp, auth) = setup(IdpUser {
        email_verified: false,
        ..IdpUser::verified(&s, &e)
    })
    .await;
    let owner = auth
        .sign_up_email(SignUpEmail::new("Owner", &e, PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    assert_eq!(
        code_of(sign_in(&auth, &idp, "acme").await),
        "account_not_linked"
    );
    assert_eq!(accounts_of(&f, &s).await, 0);
    // GitHub's unverified primary address, the same.
    idp.set_user(IdpUser {
        email_verified: false,
        ..IdpUser::verified("777", &e)
    });
    assert_eq!(
        code_of(sign_in(&auth, &idp, "github").await),
        "account_not_linked"
    );
    // Verified at the provider: linked to the existing user.
    idp.set_user(IdpUser::verified(&s, &e));
    let linked = sign_in(&auth, &idp, "acme").await.expect("linked");
    assert_eq!(linked.signed_in.user.id, owner.user.id);
    assert!(!linked.is_new_user);
    assert_eq!(accounts_of(&f, &s).await, 1);
    // A new user with an unverified address is created unverified.
    let other = email();
    idp.set_user(IdpUser {
        email_verified: false,
        ..IdpUser::verified(sub(), &other)
    });
    let created = sign_in(&auth, &idp, "acme").await.expect("created");
    assert!(!created.signed_in.user.email_verified);
}

#[tokio::test]
async fn concurrent_first_sign_ins_create_one_user_and_one_account() {
    let (s, e) = (sub(), email());
    let (f, idp, auth) = setup(IdpUser::verified(&s, &e)).await;
    let mut flows = Vec::new();
    for _ in 0..6 {
        let a = auth.sign_in_social(start("acme")).await.unwrap();
        let params = idp.authorize(&a.url).await;
        flows.push((a, params));
    }
    let mut tasks = Vec::new();
    for (a, params) in flows {
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            auth.social_callback(
                "acme",
                &params,
                Some(&auth.cookies().sign(&a.state)),
                &meta(),
            )
            .await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(
            t.await
                .unwrap()
                .expect("each signs in")
                .signed_in()
                .expect("a sign-in")
                .signed_in
                .user
                .id,
        );
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(users_with(&f, &e).await, 1);
    assert_eq!(accounts_of(&f, &s).await, 1);
}

#[tokio::test]
async fn rotated_keys_are_picked_up_and_rotated_out_keys_stop_verifying() {
    let f = Fixture::new().await;
    let idp = TestIdp::start(IdpUser::verified(sub(), email())).await;
    let auth = f
        .build(builder(&f, &idp).with_jwks_refetch_interval(Duration::ZERO))
        .await;
    sign_in(&auth, &idp, "acme").await.expect("rsa-1");
    idp.rotate_keys();
    sign_in(&auth, &idp, "acme")
        .await
        .expect("rsa-2 after one refetch");
    idp.misbehave(Misbehavior::OldKey);
    assert_eq!(
        code_of(sign_in(&auth, &idp, "acme").await),
        "invalid_id_token"
    );
}

#[tokio::test]
async fn random_key_ids_do_not_hammer_the_provider() {
    let f = Fixture::new().await;
    let idp = TestIdp::start(IdpUser::verified(sub(), email())).await;
    let auth = f
        .build(builder(&f, &idp).with_jwks_refetch_interval(Duration::from_secs(3600)))
        .await;
    sign_in(&auth, &idp, "acme").await.expect("signs in");
    assert_eq!(idp.jwks_fetches(), 1);
    idp.misbehave(Misbehavior::UnknownKid);
    for _ in 0..10 {
        assert_eq!(
            code_of(sign_in(&auth, &idp, "acme").await),
            "invalid_id_token"
        );
    }
    assert_eq!(idp.jwks_fetches(), 1, "no refetch within the interval");
}

#[tokio::test]
async fn discovery_and_jwks_come_only_from_the_issuer() {
    let f = Fixture::new().await;
    let idp = TestIdp::start(IdpUser::verified(sub(), email())).await;
    idp.misbehave(Misbehavior::DiscoveryWrongIssuer);
    let auth = f.build(builder(&f, &idp)).await;
    let r = auth.sign_in_social(start("acme")).await;
    assert!(matches!(r, Err(OAuthError::Endpoint { .. })), "{r:?}");

    // A JWKS answering a redirect elsewhere is not followed.
    let f = Fixture::new().await;
    let idp = TestIdp::start(IdpUser::verified(sub(), email())).await;
    let auth = f.build(builder(&f, &idp)).await;
    let a = auth.sign_in_social(start("acme")).await.unwrap();
    idp.misbehave(Misbehavior::JwksRedirect);
    let params = idp.authorize(&a.url).await;
    let r = auth
        .social_callback(
            "acme",
            &params,
            Some(&auth.cookies().sign(&a.state)),
            &meta(),
        )
        .await;
    assert_eq!(code_of(r), "discovery_failed");

    // Plain http off loopback, or without the opt-in, is refused.
    let f = Fixture::new().await;
    let insecure = ProviderConfig::oidc("x", idp.issuer(), "id", "secret");
    let auth = f.build(f.builder().with_social_provider(insecure)).await;
    let r = auth.sign_in_social(start("x")).await;
    assert!(matches!(r, Err(OAuthError::Endpoint { .. })), "{r:?}");
    let f = Fixture::new().await;
    let remote = ProviderConfig::oidc("x", "http://example.com", "id", "secret")
        .with_insecure_loopback(true);
    let auth = f.build(f.builder().with_social_provider(remote)).await;
    let r = auth.sign_in_social(start("x")).await;
    assert!(matches!(r, Err(OAuthError::Endpoint { .. })), "{r:?}");
}

#[tokio::test]
async fn github_and_plain_oauth2_sign_in() {
    let e = email();
    let (f, idp, auth) = setup(IdpUser::verified("123456", &e)).await;
    let gh = sign_in(&auth, &idp, "github").await.expect("github");
    assert_eq!(gh.signed_in.user.email, e);
    assert!(gh.signed_in.user.email_verified);
    let rows =
        f.db.query(&Statement::new(
            r#"SELECT "providerId" FROM "account" WHERE "accountId" = '123456'"#,
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let p = sign_in(&auth, &idp, "plain").await.expect("plain oauth2");
    assert_eq!(
        p.signed_in.user.id, gh.signed_in.user.id,
        "linked by the verified email"
    );
    idp.misbehave(Misbehavior::RefuseCode);
    assert_eq!(
        code_of(sign_in(&auth, &idp, "github").await),
        "invalid_code"
    );
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output_and_errors() {
    let (_f, idp, auth) = setup(IdpUser::verified(sub(), email())).await;
    let provider = idp.oidc_provider("acme");
    assert!(!format!("{provider:?}").contains(neutrino_auth::testkit::idp::CLIENT_SECRET));
    assert!(!format!("{auth:?}").contains(neutrino_auth::testkit::idp::CLIENT_SECRET));
    let a = auth.sign_in_social(start("acme")).await.unwrap();
    assert!(!format!("{a:?}").contains(&a.state));
    let params = idp.authorize(&a.url).await;
    let code = params.code.clone().unwrap();
    assert!(!format!("{params:?}").contains(&code));
    let ok = auth
        .social_callback(
            "acme",
            &params,
            Some(&auth.cookies().sign(&a.state)),
            &meta(),
        )
        .await
        .unwrap();
    let text = format!("{ok:?}");
    assert!(!text.contains(&code));
    let replay = auth
        .social_callback(
            "acme",
            &params,
            Some(&auth.cookies().sign(&a.state)),
            &meta(),
        )
        .await
        .unwrap_err();
    let text = format!("{replay:?} {}", replay.error);
    assert!(!text.contains(&code) && !text.contains(&a.state));
}

#[tokio::test]
async fn the_handshake_drives_a_provider_that_is_not_configured_on_the_builder() {
    // What SSO does: a provider read from elsewhere, its own callback route.
    let f = Fixture::new().await;
    let idp = TestIdp::start(IdpUser::verified(sub(), email())).await;
    let auth = f
        .build(f.builder().with_base_url("http://localhost:3000"))
        .await;
    let provider = idp.oidc_provider("tenant-sso");
    let redirect = "http://localhost:3000/api/auth/sso/callback/tenant-sso";
    let targets = RedirectTargets {
        callback_url: "/app".into(),
        ..Default::default()
    };
    let a = auth
        .oauth()
        .begin(&provider, redirect, targets)
        .await
        .unwrap();
    let params = idp.authorize(&a.url).await;
    let pending = auth
        .oauth()
        .take_state(&provider, &params, Some(&a.state))
        .await
        .unwrap();
    assert_eq!(pending.targets.callback_url, "/app");
    let id = auth
        .oauth()
        .exchange(&provider, redirect, pending, &params)
        .await
        .unwrap();
    assert_eq!(id.issuer.as_deref(), Some(idp.issuer().as_str()));
    assert!(id.email_verified);
    let _ = Arc::new(id);
}
