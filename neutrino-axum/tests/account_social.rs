//! Better Auth's social account routes over real HTTP: `/link-social` and
//! its callback, `/unlink-account`, `/get-access-token`, `/refresh-token`
//! and `/account-info`, against the test identity provider on loopback, with
//! the attacks on them.

use neutrino_auth::oauth::accounts::AccountLinking;
use neutrino_auth::testkit::idp::{IdpUser, Misbehavior};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

mod social_world;

use social_world::{Answer, Browser, World};

async fn world() -> World {
    World::start().await
}

async fn world_with(linking: AccountLinking) -> World {
    World::with_linking(linking).await
}

/// What only these tests ask of the browser.
impl Browser {
    async fn accounts(&mut self, w: &World) -> Vec<(String, String, String)> {
        let r = self.get(&format!("{}/list-accounts", w.base)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["providerId"].as_str().unwrap().to_owned(),
                    a["accountId"].as_str().unwrap().to_owned(),
                    a["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn user_id(&mut self, w: &World) -> String {
        let r = self.get(&format!("{}/get-session", w.base)).await;
        r.json()["user"]["id"].as_str().unwrap().to_owned()
    }
}

/// A user signed up with email and password.
async fn signed_up(w: &World, email: &str) -> Browser {
    let mut b = Browser::new();
    let r = b
        .post(
            w,
            "/sign-up/email",
            json!({ "email": email, "password": PASSWORD, "name": "Someone" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    b
}

/// A user signed in with `provider` as the provider's current user.
async fn social_user(w: &World, provider: &str) -> Browser {
    let mut b = Browser::new();
    let started = b
        .post(
            w,
            "/sign-in/social",
            json!({ "provider": provider, "callbackURL": "/home" }),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let callback = w
        .idp
        .authorize_location(started.json()["url"].as_str().unwrap())
        .await;
    let done = b.get(&callback).await;
    assert_eq!(done.location.as_deref(), Some("/home"));
    b
}

/// Starts a link in `b` and answers the callback URL the provider sends the
/// browser to.
async fn start_link(w: &World, b: &mut Browser, provider: &str) -> String {
    let started = b
        .post(
            w,
            "/link-social",
            json!({ "provider": provider, "callbackURL": "/linked", "errorCallbackURL": "/link-failed" }),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(started.json()["redirect"], true);
    assert!(
        started
            .set_cookies
            .iter()
            .any(|c| c.starts_with("better-auth.state="))
    );
    w.idp
        .authorize_location(started.json()["url"].as_str().unwrap())
        .await
}

#[tokio::test]
async fn link_social_links_the_provider_account_to_the_caller_and_signs_nobody_in() {
    let w = world().await;
    let mut ada = signed_up(&w, "ada@example.com").await;
    let ada_id = ada.user_id(&w).await;
    let session_before = ada.cookie("better-auth.session_token");
    let callback = start_link(&w, &mut ada, "acme").await;
    let done = ada.get(&callback).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/linked"));
    assert!(!done.sets_session(), "a link signs nobody in");
    assert_eq!(ada.cookie("better-auth.session_token"), session_before);
    assert!(ada.cookie("better-auth.state").is_none());
    let accounts = ada.accounts(&w).await;
    assert!(
        accounts
            .iter()
            .any(|(p, a, _)| p == "acme" && a == "subject-1")
    );
    assert!(accounts.iter().any(|(p, _, _)| p == "credential"));
    // The provider now signs Ada in.
    let mut again = social_user(&w, "acme").await;
    assert_eq!(again.user_id(&w).await, ada_id);
    // Linking again renews it, still once.
    let callback = start_link(&w, &mut ada, "acme").await;
    let done = ada.get(&callback).await;
    assert_eq!(done.location.as_deref(), Some("/linked"));
    assert_eq!(ada.accounts(&w).await.len(), 2);

    // No session: 401; unknown provider 404; untrusted callback 403.
    let mut anon = Browser::new();
    let r = anon
        .post(&w, "/link-social", json!({ "provider": "acme" }))
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    let r = ada
        .post(&w, "/link-social", json!({ "provider": "nope" }))
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "PROVIDER_NOT_FOUND"));
    for evil in ["https://evil.example/x", "//evil.example/x"] {
        for field in ["callbackURL", "errorCallbackURL"] {
            let r = ada
                .post(
                    &w,
                    "/link-social",
                    json!({ "provider": "acme", field: evil }),
                )
                .await;
            assert_eq!(r.status, 403, "{field} {evil}: {}", r.body);
        }
    }
}

#[tokio::test]
async fn a_link_state_attaches_to_its_user_only_and_in_their_session_only() {
    let w = world().await;
    let mut ada = signed_up(&w, "ada@example.com").await;
    let mut bob = signed_up(&w, "bob@example.com").await;
    let ada_before = ada.accounts(&w).await;
    // Bob opens Ada's callback with his own state and session: the state is
    // not his browser's.
    let callback = start_link(&w, &mut ada, "acme").await;
    let _bobs_own = start_link(&w, &mut bob, "acme").await;
    let r = bob.get(&callback).await;
    assert_eq!(r.status, 302);
    assert!(r.location.clone().unwrap().contains("error=state_mismatch"));
    assert!(!r.sets_session());
    // Bob with a copy of Ada's state cookie and his own session: refused,
    // linked to nobody, nobody signed in.
    let callback = start_link(&w, &mut ada, "acme").await;
    let mut thief = bob.clone();
    thief.cookies.retain(|(k, _)| k != "better-auth.state");
    thief.cookies.push(ada.cookie("better-auth.state").unwrap());
    let r = thief.get(&callback).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.location.as_deref(),
        Some("/link-failed?error=unable_to_link_account")
    );
    assert!(!r.sets_session());
    // A browser with the state but no session at all: refused too.
    let callback = start_link(&w, &mut ada, "acme").await;
    let mut bare = Browser::new();
    bare.cookies.push(ada.cookie("better-auth.state").unwrap());
    let r = bare.get(&callback).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/link-failed?error=unable_to_link_account")
    );
    assert!(!r.sets_session());
    assert_eq!(ada.accounts(&w).await, ada_before);
    assert_eq!(bob.accounts(&w).await.len(), 1);
    // A signed-out session cannot complete its link.
    let callback = start_link(&w, &mut ada, "acme").await;
    let mut ada_copy = ada.clone();
    let out = ada.post(&w, "/sign-out", json!({})).await;
    assert_eq!(out.status, 200);
    let r = ada_copy.get(&callback).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/link-failed?error=unable_to_link_account")
    );
    // A sign-in state never links: a new provider user is its own user.
    w.idp
        .set_user(IdpUser::verified("carol-1", "carol@example.com"));
    let mut carol = social_user(&w, "acme").await;
    let carol_accounts = carol.accounts(&w).await;
    assert_eq!(carol_accounts.len(), 1);
}

#[tokio::test]
async fn links_of_another_users_account_another_email_or_an_unverified_one_are_refused() {
    let w = world().await;
    // Bob owns the provider account `shared`.
    w.idp
        .set_user(IdpUser::verified("shared", "bob@example.com"));
    let mut bob = social_user(&w, "acme").await;
    let bob_accounts = bob.accounts(&w).await;
    // The provider now reports Ada's address for it: still Bob's.
    let mut ada = signed_up(&w, "ada@example.com").await;
    w.idp
        .set_user(IdpUser::verified("shared", "ada@example.com"));
    let callback = start_link(&w, &mut ada, "acme").await;
    let r = ada.get(&callback).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/link-failed?error=account_already_linked_to_different_user")
    );
    assert_eq!(bob.accounts(&w).await, bob_accounts);
    assert_eq!(ada.accounts(&w).await.len(), 1);
    // Another address.
    w.idp
        .set_user(IdpUser::verified("mallory-1", "mallory@example.com"));
    let callback = start_link(&w, &mut ada, "acme").await;
    let r = ada.get(&callback).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/link-failed?error=email_does_not_match")
    );
    // An unverified address.
    w.idp.set_user(IdpUser {
        email_verified: false,
        ..IdpUser::verified("ada-2", "ada@example.com")
    });
    let callback = start_link(&w, &mut ada, "acme").await;
    let r = ada.get(&callback).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/link-failed?error=unable_to_link_account")
    );
    assert_eq!(ada.accounts(&w).await.len(), 1);
    assert!(!r.sets_session());
}

#[tokio::test]
async fn allow_different_emails_lets_another_address_link() {
    let w = world_with(AccountLinking {
        allow_different_emails: true,
        ..AccountLinking::default()
    })
    .await;
    let mut ada = signed_up(&w, "ada@example.com").await;
    w.idp
        .set_user(IdpUser::verified("ada-work", "ada@work.example"));
    let callback = start_link(&w, &mut ada, "acme").await;
    let r = ada.get(&callback).await;
    assert_eq!(r.location.as_deref(), Some("/linked"));
    assert_eq!(ada.accounts(&w).await.len(), 2);
}

/// Ada with a password and the provider account `subject-1`.
async fn two_accounts(w: &World, email: &str, sub: &str) -> Browser {
    let mut b = signed_up(w, email).await;
    w.idp.set_user(IdpUser::verified(sub, email));
    let callback = start_link(w, &mut b, "acme").await;
    let r = b.get(&callback).await;
    assert_eq!(r.location.as_deref(), Some("/linked"), "{}", r.body);
    assert_eq!(b.accounts(w).await.len(), 2);
    b
}

#[tokio::test]
async fn unlink_removes_own_accounts_only_and_never_the_last() {
    let w = world().await;
    let mut ada = two_accounts(&w, "ada@example.com", "ada-sub").await;
    let mut bob = two_accounts(&w, "bob@example.com", "bob-sub").await;
    let bobs = bob.accounts(&w).await;
    // Bob's accounts, by ID or by provider account: answered as missing.
    for (provider, account, id) in &bobs {
        for body in [
            json!({ "accountId": id }),
            json!({ "providerId": provider, "accountId": account }),
            json!({ "providerId": provider, "accountId": id }),
        ] {
            let r = ada.post(&w, "/unlink-account", body).await;
            assert_eq!((r.status, r.code().as_str()), (400, "ACCOUNT_NOT_FOUND"));
        }
    }
    assert_eq!(bob.accounts(&w).await, bobs);
    // Ada's own, by its ID: gone; then the last one stays.
    let acme = ada
        .accounts(&w)
        .await
        .into_iter()
        .find(|(p, _, _)| p == "acme")
        .unwrap();
    let r = ada
        .post(&w, "/unlink-account", json!({ "accountId": acme.2 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({ "status": true }));
    let last = ada.accounts(&w).await;
    assert_eq!(last.len(), 1);
    let r = ada
        .post(&w, "/unlink-account", json!({ "accountId": last[0].2 }))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "FAILED_TO_UNLINK_LAST_ACCOUNT")
    );
    let r = ada
        .post(&w, "/unlink-account", json!({ "providerId": "credential" }))
        .await;
    assert_eq!(r.code(), "FAILED_TO_UNLINK_LAST_ACCOUNT");
    assert_eq!(ada.accounts(&w).await, last);
    // By provider, Bob's own.
    let r = bob
        .post(&w, "/unlink-account", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(bob.accounts(&w).await.len(), 1);
    // No session; no selection.
    let r = Browser::new()
        .post(&w, "/unlink-account", json!({ "accountId": last[0].2 }))
        .await;
    assert_eq!(r.status, 401);
    let r = ada.post(&w, "/unlink-account", json!({})).await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unlinks_of_a_users_two_accounts_leave_one() {
    let w = world().await;
    let mut users = Vec::new();
    for i in 0..16 {
        let mut b = two_accounts(&w, &format!("user{i}@example.com"), &format!("sub-{i}")).await;
        let accounts = b.accounts(&w).await;
        users.push((b, accounts));
    }
    // Every unlink of every user at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2 * users.len()));
    let mut tasks = Vec::new();
    for (b, accounts) in &users {
        for (_, _, id) in accounts {
            let mut b = b.clone();
            let barrier = barrier.clone();
            let (base, origin, id) = (w.base.clone(), w.origin.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let req = b
                    .http
                    .post(format!("{base}/unlink-account"))
                    .header("origin", origin)
                    .json(&json!({ "accountId": id }));
                barrier.wait().await;
                b.send(req).await.status
            }));
        }
    }
    let statuses: Vec<u16> = futures_join(tasks).await;
    for (i, (b, _)) in users.iter_mut().enumerate() {
        let left = b.accounts(&w).await;
        let pair = &statuses[2 * i..2 * i + 2];
        assert_eq!(
            left.len(),
            1,
            "user {i} keeps exactly one account ({pair:?})"
        );
        assert_eq!(
            pair.iter().filter(|s| **s == 200).count(),
            1,
            "user {i}: one unlink of two succeeds ({pair:?})"
        );
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn access_tokens_are_the_callers_own_and_refresh_at_the_provider() {
    let w = world().await;
    let mut ada = social_user(&w, "acme").await;
    let acme = ada.accounts(&w).await.remove(0);
    // The stored access token, decrypted.
    let r = ada
        .post(&w, "/get-access-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = r.json()["accessToken"].as_str().unwrap().to_owned();
    assert!(w.idp.issued_access_token(&first));
    assert!(r.json()["accessTokenExpiresAt"].is_string());
    assert_eq!(r.json()["scopes"], json!(["openid", "email", "profile"]));
    let calls = w.idp.token_calls();
    let r = ada
        .post(&w, "/get-access-token", json!({ "accountId": acme.2 }))
        .await;
    assert_eq!(r.json()["accessToken"], first, "not expired: not refreshed");
    assert_eq!(w.idp.token_calls(), calls);

    // /refresh-token always refreshes, and stores the new tokens.
    let r = ada
        .post(&w, "/refresh-token", json!({ "accountId": acme.2 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    let second = body["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(w.idp.issued_access_token(&second));
    assert!(body["refreshToken"].is_string());
    assert_eq!(body["providerId"], "acme");
    assert_eq!(body["accountId"], acme.2.as_str());
    let r = ada
        .post(&w, "/get-access-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(r.json()["accessToken"], second);

    // A revoked refresh token: a typed error, the tokens unchanged.
    w.idp.revoke_refresh_tokens();
    let r = ada
        .post(&w, "/refresh-token", json!({ "accountId": acme.2 }))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "FAILED_TO_REFRESH_ACCESS_TOKEN")
    );
    assert!(!r.body.contains(&second));
    let r = ada
        .post(&w, "/get-access-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(r.json()["accessToken"], second);

    // A token endpoint answering garbage: a typed error, no panic.
    let mut eve = Browser::new();
    w.idp
        .set_user(IdpUser::verified("eve-1", "eve@example.com"));
    eve = {
        let _ = &mut eve;
        social_user(&w, "acme").await
    };
    w.idp.misbehave(Misbehavior::GarbageTokens);
    let r = eve
        .post(&w, "/refresh-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "FAILED_TO_REFRESH_ACCESS_TOKEN")
    );
    w.idp.misbehave(Misbehavior::None);

    // Another user's account: answered as missing, on every route.
    for (path, body) in [
        ("/get-access-token", json!({ "accountId": acme.2 })),
        ("/refresh-token", json!({ "accountId": acme.2 })),
        (
            "/get-access-token",
            json!({ "providerId": "acme", "accountId": acme.1 }),
        ),
    ] {
        let r = eve.post(&w, path, body).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "ACCOUNT_NOT_FOUND"),
            "{path}"
        );
        assert!(!r.body.contains(&second));
    }
    let r = eve
        .get(&format!("{}/account-info?accountId={}", w.base, acme.2))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "ACCOUNT_NOT_FOUND"));
    // No session.
    let r = Browser::new()
        .post(&w, "/get-access-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(r.status, 401);
    // A password account has no provider.
    let mut pat = signed_up(&w, "pat@example.com").await;
    let r = pat
        .post(
            &w,
            "/get-access-token",
            json!({ "providerId": "credential" }),
        )
        .await;
    assert_eq!(r.code(), "PROVIDER_NOT_SUPPORTED");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_asked_for() {
    let w = world().await;
    w.idp.set_expires_in(0);
    let mut ada = social_user(&w, "acme").await;
    w.idp.set_expires_in(3600);
    let calls = w.idp.token_calls();
    let r = ada
        .post(&w, "/get-access-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.json()["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(w.idp.token_calls(), calls + 1, "refreshed at the provider");
    assert!(w.idp.issued_access_token(&fresh));
    // Stored: asked again, the same one, no new refresh.
    let r = ada
        .post(&w, "/get-access-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(r.json()["accessToken"], fresh.as_str());
    assert_eq!(w.idp.token_calls(), calls + 1);

    // Expired and the refresh token revoked: a typed error.
    w.idp.set_expires_in(0);
    let mut bob = {
        w.idp
            .set_user(IdpUser::verified("bob-1", "bob@example.com"));
        social_user(&w, "acme").await
    };
    w.idp.revoke_refresh_tokens();
    let r = bob
        .post(&w, "/get-access-token", json!({ "providerId": "acme" }))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "FAILED_TO_GET_ACCESS_TOKEN")
    );
}

#[tokio::test]
async fn account_info_answers_the_providers_profile() {
    let w = world().await;
    let mut ada = social_user(&w, "acme").await;
    let acme = ada.accounts(&w).await.remove(0);
    let r = ada
        .get(&format!("{}/account-info?accountId={}", w.base, acme.2))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["user"]["id"], "subject-1");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(body["data"]["sub"], "subject-1");
    assert_eq!(
        body["account"],
        json!({ "id": acme.2, "providerId": "acme", "accountId": "subject-1" })
    );
    let r = Browser::new()
        .get(&format!("{}/account-info?accountId={}", w.base, acme.2))
        .await;
    assert_eq!(r.status, 401);
}

/// Better Auth's official client (`linkSocial`, `listAccounts`,
/// `getAccessToken`, `refreshToken`, `accountInfo`, `unlinkAccount`) end to
/// end: needs Node.js and the packages `scripts/setup-node-tests` installs
/// in `neutrino-axum/tests/client`, and fails saying so without them.
#[tokio::test]
async fn the_official_client_links_lists_reads_and_unlinks_accounts() {
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
            .arg("account-social.mjs")
            .arg(&origin)
            .arg("acme")
            .arg("ada@example.com")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run node account-social.mjs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "account-social.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["signUp"], json!({ "status": 200 }));
    assert_eq!(
        doc["linkSocial"],
        json!({ "status": 200, "redirect": false, "hasUrl": true })
    );
    assert_eq!(
        doc["callback"],
        json!({ "status": 302, "location": "/linked", "setsSession": false })
    );
    assert_eq!(
        doc["listAccounts"],
        json!({ "status": 200, "providers": ["acme", "credential"] })
    );
    assert_eq!(
        doc["getAccessToken"],
        json!({ "status": 200, "hasAccessToken": true, "scopes": ["openid", "email", "profile"] })
    );
    assert_eq!(
        doc["refreshToken"],
        json!({ "status": 200, "changed": true, "providerId": "acme" })
    );
    assert_eq!(
        doc["accountInfo"],
        json!({ "status": 200, "email": "ada@example.com", "accountId": "subject-1" })
    );
    assert_eq!(
        doc["unlink"],
        json!({ "status": 200, "data": { "status": true } })
    );
    assert_eq!(
        doc["unlinkLast"],
        json!({ "status": 400, "code": "FAILED_TO_UNLINK_LAST_ACCOUNT" })
    );
}

async fn id_token_sign_in(w: &World, b: &mut Browser, provider: &str, id_token: Value) -> Answer {
    b.post(
        w,
        "/sign-in/social",
        json!({ "provider": provider, "idToken": id_token }),
    )
    .await
}

#[tokio::test]
async fn an_id_token_signs_in_when_it_verifies_as_a_callbacks_does() {
    let w = world().await;
    let (token, access) = w.idp.client_tokens(Some("client-nonce-1")).await.unwrap();
    let mut b = Browser::new();
    let r = id_token_sign_in(
        &w,
        &mut b,
        "acme",
        json!({ "token": token, "nonce": "client-nonce-1", "accessToken": access }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["redirect"], false);
    assert_eq!(r.json()["user"]["email"], "ada@example.com");
    assert!(r.json()["token"].is_string());
    assert!(r.sets_session());
    let accounts = b.accounts(&w).await;
    assert_eq!(accounts[0].0, "acme");
    assert_eq!(accounts[0].1, "subject-1");

    // The nonce: another one, none while the token has one.
    for body in [
        json!({ "token": token, "nonce": "another-nonce" }),
        json!({ "token": token }),
    ] {
        let mut x = Browser::new();
        let r = id_token_sign_in(&w, &mut x, "acme", body).await;
        assert_eq!((r.status, r.code().as_str()), (401, "INVALID_TOKEN"));
        assert!(!r.sets_session());
    }
    // The access token it was issued with (`at_hash`).
    let mut x = Browser::new();
    let r = id_token_sign_in(
        &w,
        &mut x,
        "acme",
        json!({ "token": token, "nonce": "client-nonce-1", "accessToken": "another-access-token" }),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_TOKEN"));
    // A provider without ID tokens refuses the body; a body without a
    // token, or a token that is no JWT, is refused.
    let r = id_token_sign_in(&w, &mut x, "github", json!({ "token": token })).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "ID_TOKEN_NOT_SUPPORTED")
    );
    let r = id_token_sign_in(&w, &mut x, "acme", json!({ "nonce": "x" })).await;
    assert_eq!(r.status, 400);
    let r = id_token_sign_in(
        &w,
        &mut x,
        "acme",
        json!({ "token": "not.a.jwt", "nonce": "x" }),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_TOKEN"));

    // Forged or foreign tokens.
    for m in [
        Misbehavior::Expired,
        Misbehavior::WrongAudience,
        Misbehavior::WrongIssuer,
        Misbehavior::AlgNone,
        Misbehavior::Hs256WithPublicKey,
        Misbehavior::UnknownKid,
        Misbehavior::BadSignature,
        Misbehavior::ManyAudiencesNoAzp,
    ] {
        w.idp.misbehave(m);
        let (token, _) = w.idp.client_tokens(Some("n-2")).await.unwrap();
        w.idp.misbehave(Misbehavior::None);
        let mut x = Browser::new();
        let r = id_token_sign_in(
            &w,
            &mut x,
            "acme",
            json!({ "token": token, "nonce": "n-2" }),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "INVALID_TOKEN"),
            "{m:?} must be refused"
        );
        assert!(!r.sets_session());
    }
}

#[tokio::test]
async fn implicit_sign_up_can_be_disabled_and_requested() {
    let w = world().await;
    w.idp
        .set_user(IdpUser::verified("new-1", "new@example.com"));
    // The ID token flow.
    let (token, _) = w.idp.client_tokens(Some("n")).await.unwrap();
    let mut b = Browser::new();
    let r = id_token_sign_in(
        &w,
        &mut b,
        "strict",
        json!({ "token": token, "nonce": "n" }),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "OAUTH_LINK_ERROR"),
        "{}",
        r.body
    );
    assert!(!r.sets_session());
    let r = b
        .post(
            &w,
            "/sign-in/social",
            json!({ "provider": "strict", "requestSignUp": true, "idToken": { "token": token, "nonce": "n" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The redirect flow.
    w.idp
        .set_user(IdpUser::verified("new-2", "other@example.com"));
    for (request, expect) in [(false, "/oops?error=signup_disabled"), (true, "/home")] {
        let mut b = Browser::new();
        let started = b
            .post(
                &w,
                "/sign-in/social",
                json!({ "provider": "strict", "callbackURL": "/home", "errorCallbackURL": "/oops", "requestSignUp": request }),
            )
            .await;
        let callback = w
            .idp
            .authorize_location(started.json()["url"].as_str().unwrap())
            .await;
        let done = b.get(&callback).await;
        assert_eq!(done.location.as_deref(), Some(expect));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_links_of_one_provider_account_to_two_users_link_it_once() {
    let w = world_with(AccountLinking {
        allow_different_emails: true,
        ..AccountLinking::default()
    })
    .await;
    for round in 0..4 {
        let sub = format!("shared-{round}");
        w.idp
            .set_user(IdpUser::verified(sub.as_str(), "shared@other.example"));
        let mut a = signed_up(&w, &format!("a{round}@example.com")).await;
        let mut b = signed_up(&w, &format!("b{round}@example.com")).await;
        let ca = start_link(&w, &mut a, "acme").await;
        let cb = start_link(&w, &mut b, "acme").await;
        let (mut a2, mut b2) = (a.clone(), b.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { a2.get(&ca).await.location }),
            tokio::spawn(async move { b2.get(&cb).await.location })
        );
        let mut outcomes = [ra.unwrap().unwrap(), rb.unwrap().unwrap()];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [
                "/link-failed?error=account_already_linked_to_different_user".to_owned(),
                "/linked".to_owned()
            ],
            "round {round}"
        );
        let linked = a.accounts(&w).await.len() + b.accounts(&w).await.len();
        assert_eq!(linked, 3, "round {round}: one link in all");
    }
}

/// Someone who signed up first with another person's address (so knows its
/// password) keeps no way in once that person signs in through a provider
/// that proves the address: the password, the sessions and the second
/// factor of the unproven user are gone, and the address is verified.
#[tokio::test]
async fn a_provider_proven_address_takes_the_account_from_its_pre_registrant() {
    let w = world().await;
    let mut squatter = signed_up(&w, "ada@example.com").await;
    let before = squatter.get(&format!("{}/get-session", w.base)).await;
    assert_eq!(
        before.json()["user"]["emailVerified"],
        false,
        "{}",
        before.body
    );

    let mut owner = social_user(&w, "acme").await;
    let mine = owner.get(&format!("{}/get-session", w.base)).await;
    assert_eq!(mine.json()["user"]["email"], "ada@example.com");
    assert_eq!(mine.json()["user"]["emailVerified"], true, "{}", mine.body);

    // The squatter's session is gone, and so is the password.
    let theirs = squatter.get(&format!("{}/get-session", w.base)).await;
    assert_eq!(theirs.json(), Value::Null, "{}", theirs.body);
    let mut again = Browser::new();
    let r = again
        .post(
            &w,
            "/sign-in/email",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.sets_session());

    // The owner's own sign-in still stands.
    let still = owner.get(&format!("{}/get-session", w.base)).await;
    assert_eq!(still.json()["user"]["email"], "ada@example.com");
}
