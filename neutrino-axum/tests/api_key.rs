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

#[tokio::test]
async fn a_key_made_over_http_has_better_auths_limit_and_updated_at_and_can_be_renamed() {
    let s = server().await;
    let ada = s.sign_up("ada@example.com").await.cookie_header();
    let res = s.post("/api-key/create", &ada, json!({"name": "ci"})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let created = res.json();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let limit = json!([true, 10, 86_400_000]);
    let limit_of = |k: &serde_json::Value| {
        json!([
            k["rateLimitEnabled"],
            k["rateLimitMax"],
            k["rateLimitTimeWindow"]
        ])
    };
    assert_eq!(limit_of(&created), limit);
    assert!(created["updatedAt"].is_string(), "{created}");
    assert_eq!(created["updatedAt"], created["createdAt"]);
    let got = s.get(&format!("/api-key/get?id={id}"), &ada).await.json();
    assert_eq!(limit_of(&got), limit);
    assert_eq!(got["updatedAt"], created["updatedAt"]);
    let listed = s.get("/api-key/list", &ada).await.json();
    assert_eq!(limit_of(&listed["apiKeys"][0]), limit);
    assert_eq!(listed["apiKeys"][0]["updatedAt"], created["updatedAt"]);

    // Renamed: the answer and what is read afterwards.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let res = s
        .post(
            "/api-key/update",
            &ada,
            json!({"keyId": id, "name": "deploy"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let renamed = res.json();
    assert_eq!(renamed["name"], "deploy");
    assert_eq!(renamed["enabled"], true);
    assert_eq!(limit_of(&renamed), limit);
    assert!(renamed["updatedAt"].as_str() > created["updatedAt"].as_str());
    let got = s.get(&format!("/api-key/get?id={id}"), &ada).await.json();
    assert_eq!(got["name"], "deploy");
    assert_eq!(got["updatedAt"], renamed["updatedAt"]);
    // A lifetime, then none.
    let res = s
        .post(
            "/api-key/update",
            &ada,
            json!({"keyId": id, "expiresIn": 172_800}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.json()["expiresAt"].is_string());
    let res = s
        .post(
            "/api-key/update",
            &ada,
            json!({"keyId": id, "expiresIn": null}),
        )
        .await;
    assert_eq!(res.json()["expiresAt"], serde_json::Value::Null);

    // Better Auth's refusals; none changes the key.
    for (body, status, code) in [
        (json!({"keyId": id, "name": ""}), 400, "INVALID_NAME_LENGTH"),
        (
            json!({"keyId": id, "name": "x".repeat(33)}),
            400,
            "INVALID_NAME_LENGTH",
        ),
        (
            json!({"keyId": id, "expiresIn": 60}),
            400,
            "EXPIRES_IN_IS_TOO_SMALL",
        ),
        (
            json!({"keyId": id, "rateLimitMax": 100}),
            400,
            "SERVER_ONLY_PROPERTY",
        ),
        (json!({"keyId": id, "name": 5}), 400, "VALIDATION_ERROR"),
        (
            json!({"keyId": "no-such-key", "name": "x"}),
            404,
            "KEY_NOT_FOUND",
        ),
    ] {
        let res = s.post("/api-key/update", &ada, body.clone()).await;
        assert_eq!(
            (res.status, res.json()["code"].clone()),
            (status, json!(code)),
            "{body}"
        );
    }
    let res = s.post("/api-key/update", &ada, json!({"keyId": id})).await;
    assert_eq!(
        res.json(),
        json!({"code": "NO_VALUES_TO_UPDATE", "message": "No values to update."})
    );
    let res = s
        .post("/api-key/update", "", json!({"keyId": id, "name": "x"}))
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["code"], "UNAUTHORIZED_SESSION");
    assert_eq!(
        s.get(&format!("/api-key/get?id={id}"), &ada).await.json()["name"],
        "deploy"
    );

    // The limit holds: 10 uses, then RATE_LIMITED.
    for i in 0..10 {
        assert!(s.platform.scope_from_api_key(&key).await.is_ok(), "use {i}");
    }
    let err = s.platform.scope_from_api_key(&key).await.unwrap_err();
    assert!(format!("{err:?}").contains("RATE_LIMITED"), "{err:?}");
}
