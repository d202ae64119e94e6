//! Adversarial cases against the platform runtime: limited API keys on a
//! suspended platform, and keys, sessions and scopes carried across
//! platforms of one folder.

use neutrino::auth::apikey::NewApiKey;
use neutrino::auth::org::NewOrganization;
use neutrino::auth::{RequestMeta, SignUpEmail};
use neutrino::{LocalPlatforms, Platform};

const SECRET: &str = "a test secret of at least thirty-two bytes";
const PASSWORD: &str = "correct horse battery";

fn meta() -> RequestMeta {
    RequestMeta::new("203.0.113.9", "attack-runtime")
}

async fn sign_up(app: &Platform, email: &str) -> String {
    app.auth()
        .sign_up_email(SignUpEmail::new("User", email, PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap()
        .session
        .token
}

async fn limited_key(app: &Platform, token: &str, tenant: bool, uses: u32) -> String {
    let organization = if tenant {
        Some(
            app.orgs()
                .create_organization(token, NewOrganization::new("Acme", "acme"), &meta())
                .await
                .unwrap()
                .id,
        )
    } else {
        None
    };
    app.orgs()
        .create_api_key(
            token,
            NewApiKey {
                organization,
                remaining: Some(uses),
                ..NewApiKey::default()
            },
            &meta(),
        )
        .await
        .unwrap()
        .key
}

/// Verifications refused because the platform is suspended must not spend
/// the key's limited uses: once reinstated it has all of them.
async fn suspension_keeps_uses(tenant: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let folder = LocalPlatforms::open(dir.path()).await.unwrap();
    let app = folder.platform("Suspended", SECRET).build().await.unwrap();
    let ada = sign_up(&app, "ada@example.com").await;
    let key = limited_key(&app, &ada, tenant, 2).await;
    folder
        .registry()
        .suspend(app.id(), "ops@example.com", "unpaid")
        .await
        .unwrap();
    for _ in 0..5 {
        let e = app.scope_from_api_key(&key).await.unwrap_err();
        assert!(matches!(e, neutrino::Error::Suspended { .. }), "{e:?}");
    }
    folder
        .registry()
        .reinstate(app.id(), "ops@example.com", "paid")
        .await
        .unwrap();
    let mut ok = 0;
    for _ in 0..3 {
        if app.scope_from_api_key(&key).await.is_ok() {
            ok += 1;
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_key_refused_while_suspended_keeps_its_uses() {
    assert_eq!(suspension_keeps_uses(false).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_key_refused_while_suspended_keeps_its_uses() {
    assert_eq!(suspension_keeps_uses(true).await, 2);
}

/// A key, a session and a scope of platform a are worthless on platform b
/// of the same folder, many at once; b's own user is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_platforms_key_session_and_cookie_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let folder = LocalPlatforms::open(dir.path()).await.unwrap();
    let a = folder.platform("Alpha", SECRET).build().await.unwrap();
    let b = folder.platform("Beta", SECRET).build().await.unwrap();
    let ada = sign_up(&a, "ada@example.com").await;
    let a_key = limited_key(&a, &ada, true, 1000).await;
    let cookie = {
        let c = a.auth().cookies().session_cookie(&ada, true);
        format!("{}={}", c.name(), c.value())
    };
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (b, k, t, c) = (b.clone(), a_key.clone(), ada.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            (
                b.scope_from_api_key(&k).await.is_err(),
                b.scope(&t).await.is_err(),
                b.scope_from_cookie_header(&c).await.is_err(),
                b.auth().get_session(&t).await.unwrap().is_none(),
            )
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (true, true, true, true));
    }
    // The same email on b is a separate user; a's key still works on a.
    let bob = sign_up(&b, "ada@example.com").await;
    assert!(b.auth().get_session(&bob).await.unwrap().is_some());
    assert!(a.scope_from_api_key(&a_key).await.is_ok());
}
