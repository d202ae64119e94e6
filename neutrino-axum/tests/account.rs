//! Better Auth's core account endpoints over real sockets: verify-password,
//! list-accounts, update-session, and deletion by a mailed link (its
//! attacks: another user's link, a spent or expired one, concurrent use,
//! an untrusted callback).

mod common;

use std::sync::Arc;

use common::{Opts, PASSWORD, Server, server, server_with};
use neutrino_auth::mail::EmailKind;
use neutrino_auth::testkit::assert_keys;
use neutrino_core::sql::{SqlExecutor, Statement};
use serde_json::json;

#[tokio::test]
async fn verify_password_answers_status_or_invalid_password() {
    let s = server().await;
    let res = s.post_password("/verify-password", "", PASSWORD).await;
    assert_eq!(res.status, 401);
    let ada = s.cookie_of("ada@example.com").await;
    let res = s
        .post_password("/verify-password", &ada, "wrong password!")
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"code": "INVALID_PASSWORD", "message": "Invalid password"})
    );
    let res = s.post("/verify-password", &ada, json!({})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "VALIDATION_ERROR");
    let res = s.post_password("/verify-password", &ada, PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json(), json!({"status": true}));
}

#[tokio::test]
async fn list_accounts_shows_no_secret() {
    let s = server().await;
    assert_eq!(s.get("/list-accounts", "").await.status, 401);
    let signed = s.sign_up("ada@example.com").await;
    let ada = signed.cookie_header();
    let user_id = signed.json()["user"]["id"].clone();
    let res = s.get("/list-accounts", &ada).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let list = res.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let account = &list[0];
    assert_keys(
        account,
        "accountId createdAt id providerId scopes updatedAt userId",
    );
    assert_eq!(account["providerId"], "credential");
    assert_eq!(account["userId"], user_id);
    assert_eq!(account["scopes"], json!([]));
}

#[tokio::test]
async fn update_session_has_no_fields_to_update() {
    let s = server().await;
    assert_eq!(s.post("/update-session", "", json!({})).await.status, 401);
    let ada = s.cookie_of("ada@example.com").await;
    let res = s
        .post("/update-session", &ada, json!({"anything": 1}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json(), json!({"message": "No fields to update"}));
}

/// Signs `email` up and asks for its deletion link; returns the session
/// cookie and the link's token.
async fn link_for(s: &Server, email: &str, body: serde_json::Value) -> (String, String) {
    let cookie = s.cookie_of(email).await;
    let res = s.post("/delete-user", &cookie, body).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json(),
        json!({"success": true, "message": "Verification email sent"})
    );
    let mail = s.mailer.last_to(email, EmailKind::DeleteAccount).unwrap();
    assert_eq!(mail.token.len(), 32);
    assert!(
        mail.token
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    );
    assert!(
        mail.url.starts_with(&format!(
            "{}/delete-user/callback?token={}&callbackURL=",
            s.base, mail.token
        )),
        "{}",
        mail.url
    );
    (cookie, mail.token)
}

async fn exists(s: &Server, email: &str) -> bool {
    !s.auth_db()
        .await
        .query(&Statement::new(r#"SELECT 1 FROM "user" WHERE "email" = ?1"#).bind(email))
        .await
        .unwrap()
        .is_empty()
}

fn delete_link_server() -> Opts {
    Opts {
        delete_link: true,
        ..Opts::default()
    }
}

#[tokio::test]
async fn a_deletion_link_deletes_its_owner_once_and_nobody_else() {
    let s = server_with(delete_link_server()).await;
    let (ada, token) = link_for(&s, "ada@example.com", json!({"callbackURL": "/bye"})).await;
    let mail = s
        .mailer
        .last_to("ada@example.com", EmailKind::DeleteAccount)
        .unwrap();
    assert!(mail.url.ends_with("&callbackURL=%2Fbye"), "{}", mail.url);
    assert!(exists(&s, "ada@example.com").await);
    let bob = s.cookie_of("bob@example.com").await;

    // Not signed in.
    let res = s
        .get(&format!("/delete-user/callback?token={token}"), "")
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "FAILED_TO_GET_USER_INFO");
    // Another user, by link and by body.
    let res = s
        .get(&format!("/delete-user/callback?token={token}"), &bob)
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    assert_eq!(res.json()["code"], "INVALID_TOKEN");
    let res = s.post("/delete-user", &bob, json!({"token": token})).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "INVALID_TOKEN");
    assert!(exists(&s, "bob@example.com").await);
    // An untrusted callback: no redirect, nothing deleted.
    let res = s
        .get(
            &format!("/delete-user/callback?token={token}&callbackURL=https://evil.example/x"),
            &ada,
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "INVALID_CALLBACK_URL");
    let res = s
        .post(
            "/delete-user",
            &ada,
            json!({"callbackURL": "https://evil.example/x"}),
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(exists(&s, "ada@example.com").await);

    // The owner: deleted, redirected, signed out.
    let res = s
        .get(
            &format!("/delete-user/callback?token={token}&callbackURL=/bye"),
            &ada,
        )
        .await;
    assert_eq!(res.status, 302, "{}", res.text);
    assert_eq!(res.header("location"), Some("/bye"));
    assert!(
        res.set_cookie("better-auth.session_token")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(!exists(&s, "ada@example.com").await);
    assert_eq!(s.get("/get-session", &ada).await.text, "null");
    // The link is spent: the same token for a new account of that address.
    let again = s.cookie_of("ada@example.com").await;
    let res = s
        .get(&format!("/delete-user/callback?token={token}"), &again)
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "INVALID_TOKEN");
    assert!(exists(&s, "ada@example.com").await);
}

#[tokio::test]
async fn an_expired_deletion_link_deletes_nothing() {
    let s = server_with(delete_link_server()).await;
    let (ada, token) = link_for(&s, "ada@example.com", json!({})).await;
    s.auth_db().await
        .execute(&Statement::new(
            r#"UPDATE "verification" SET "expiresAt" = '2000-01-01T00:00:00.000Z' WHERE "identifier" LIKE 'delete-account-%'"#,
        ))
        .await
        .unwrap();
    let res = s.post("/delete-user", &ada, json!({"token": token})).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "INVALID_TOKEN");
    assert!(exists(&s, "ada@example.com").await);
}

#[tokio::test]
async fn a_deletion_link_used_concurrently_deletes_once() {
    let s = Arc::new(server_with(delete_link_server()).await);
    let (ada, token) = link_for(&s, "ada@example.com", json!({})).await;
    // Ada's other session, so that each request has its own.
    let mut sessions = vec![ada];
    for _ in 0..5 {
        sessions.push(s.sign_in("ada@example.com").await.cookie_header());
    }
    let mut tasks = Vec::new();
    for cookie in sessions {
        let s = Arc::clone(&s);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            s.post("/delete-user", &cookie, json!({"token": token}))
                .await
                .status
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    assert!(!exists(&s, "ada@example.com").await);
    let db = s.auth_db().await;
    let left = db
        .query(&Statement::new(
            r#"SELECT 1 FROM "verification" WHERE "identifier" LIKE 'delete-account-%'"#,
        ))
        .await
        .unwrap();
    assert!(left.is_empty());
}

#[tokio::test]
async fn without_deletion_by_link_the_user_is_deleted_at_once() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let res = s.post("/delete-user", &ada, json!({"token": "abc"})).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "INVALID_TOKEN");
    let res = s.post("/delete-user", &ada, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json(),
        json!({"success": true, "message": "User deleted"})
    );
    assert!(!exists(&s, "ada@example.com").await);
}
