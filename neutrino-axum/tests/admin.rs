//! Better Auth's admin endpoints over real sockets.

mod common;

use common::{PASSWORD, server};
use serde_json::json;

#[tokio::test]
async fn admins_list_ban_unban_and_remove_users_and_others_cannot() {
    let s = server().await;
    let ada = s.sign_up("ada@example.com").await.cookie_header();
    let bob_res = s.sign_up("bob@example.com").await;
    let bob = bob_res.cookie_header();
    let bob_id = bob_res.json()["user"]["id"].as_str().unwrap().to_owned();
    s.make_admin("ada@example.com").await;

    let res = s.get("/admin/list-users", "").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.text, "");
    let res = s.get("/admin/list-users", &bob).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
    let res = s
        .post("/admin/ban-user", &bob, json!({"userId": bob_id}))
        .await;
    assert_eq!(res.status, 403);

    let res = s.get("/admin/list-users?limit=10", &ada).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["total"], 2);
    assert_eq!(res.json()["limit"], 10);
    assert!(res.json().get("offset").is_none());

    let res = s
        .post(
            "/admin/ban-user",
            &ada,
            json!({"userId": bob_id, "banReason": "spam"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["user"]["banned"], true);
    assert_eq!(res.json()["user"]["banReason"], "spam");
    assert_eq!(s.get("/get-session", &bob).await.text, "null");
    let res = s
        .post(
            "/sign-in/email",
            "",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "BANNED_USER");
    assert_eq!(
        res.json()["message"],
        "You have been banned from this application. Please contact support if you believe this is an error."
    );

    let res = s
        .post("/admin/unban-user", &ada, json!({"userId": bob_id}))
        .await;
    assert_eq!(res.json()["user"]["banned"], false);
    let bob = s.sign_in("bob@example.com").await.cookie_header();

    let res = s
        .post(
            "/admin/set-role",
            &ada,
            json!({"userId": bob_id, "role": ["admin"]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["user"]["role"], "admin");

    let res = s
        .post(
            "/admin/ban-user",
            &ada,
            json!({"userId": "nobody-at-all-0000000000000000000"}),
        )
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "USER_NOT_FOUND");

    let res = s
        .post(
            "/admin/revoke-user-sessions",
            &ada,
            json!({"userId": bob_id}),
        )
        .await;
    assert_eq!(res.json(), json!({"success": true}));
    assert_eq!(s.get("/get-session", &bob).await.text, "null");
    let res = s
        .post("/admin/remove-user", &ada, json!({"userId": bob_id}))
        .await;
    assert_eq!(res.json(), json!({"success": true}));
    assert_eq!(s.get("/admin/list-users", &ada).await.json()["total"], 1);
}
