//! Better Auth's api-key endpoints over real sockets; verification stays on
//! the server.

mod common;

use common::server;
use serde_json::json;

#[tokio::test]
async fn api_keys_are_created_listed_disabled_and_deleted_by_their_owner_only() {
    let s = server().await;
    let ada = s.sign_up("ada@example.com").await.cookie_header();
    let eve = s.sign_up("eve@example.com").await.cookie_header();

    assert_eq!(
        s.post("/api-key/create", "", json!({})).await.json()["code"],
        "UNAUTHORIZED_SESSION"
    );
    for (body, code) in [
        (json!({"remaining": 5}), "SERVER_ONLY_PROPERTY"),
        (json!({"permissions": {"x": ["y"]}}), "SERVER_ONLY_PROPERTY"),
        (json!({"metadata": {"a": 1}}), "METADATA_DISABLED"),
        (json!({"expiresIn": 60}), "EXPIRES_IN_IS_TOO_SMALL"),
    ] {
        let res = s.post("/api-key/create", &ada, body.clone()).await;
        assert_eq!(res.status, 400, "{body}");
        assert_eq!(res.json()["code"], code, "{body}");
    }
    let res = s
        .post(
            "/api-key/create",
            &ada,
            json!({"name": "ci", "expiresIn": 172800, "prefix": "nt_"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let created = res.json();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("nt_"), "{key}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(s.platform.scope_from_api_key(&key).await.is_ok());

    let list = s.get("/api-key/list", &ada).await.json();
    assert_eq!(list["total"], 1);
    assert!(list["apiKeys"][0].get("key").is_none());
    assert!(!list.to_string().contains(&key[3..]));
    assert_eq!(
        s.get(&format!("/api-key/get?id={id}"), &ada).await.json()["name"],
        "ci"
    );
    // Another user sees nothing of it and cannot touch it.
    let res = s.get(&format!("/api-key/get?id={id}"), &eve).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "KEY_NOT_FOUND");
    assert_eq!(s.get("/api-key/list", &eve).await.json()["total"], 0);
    let res = s
        .post(
            "/api-key/update",
            &eve,
            json!({"keyId": id, "enabled": false}),
        )
        .await;
    assert_eq!(res.status, 404);
    let res = s.post("/api-key/delete", &eve, json!({"keyId": id})).await;
    assert_eq!(res.status, 404);
    assert!(s.platform.scope_from_api_key(&key).await.is_ok());

    // Verification is not routed.
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let res = common::read(
            s.http
                .request(method, s.url("/api-key/verify"))
                .json(&json!({"key": key}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(res.status, 404);
        assert_eq!(res.text, "");
    }

    let res = s.post("/api-key/update", &ada, json!({"keyId": id})).await;
    assert_eq!(res.json()["code"], "NO_VALUES_TO_UPDATE");
    let res = s
        .post(
            "/api-key/update",
            &ada,
            json!({"keyId": id, "enabled": false}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["enabled"], false);
    assert!(s.platform.scope_from_api_key(&key).await.is_err());

    let res = s.post("/api-key/delete", &ada, json!({"keyId": id})).await;
    assert_eq!(res.json(), json!({"success": true}));
    assert_eq!(
        s.get(&format!("/api-key/get?id={id}"), &ada).await.status,
        404
    );
}
