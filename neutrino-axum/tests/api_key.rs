//! Better Auth's api-key endpoints over real sockets; verification stays on
//! the server.

mod common;

use common::server;
use serde_json::json;

#[tokio::test]
async fn api_keys_are_created_listed_disabled_and_deleted_by_their_owner_only() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let eve = s.cookie_of("eve@example.com").await;

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
        let res = s
            .send(
                s.http
                    .request(method, s.url("/api-key/verify"))
                    .json(&json!({"key": key})),
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
    let ada = s.cookie_of("ada@example.com").await;
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

/// `GET /api-key/list?organizationId=`: an organization's own keys for its
/// owner; a plain member is refused with `INSUFFICIENT_API_KEY_PERMISSIONS`,
/// a non-member (and an unknown or malformed ID) with
/// `USER_NOT_MEMBER_OF_ORGANIZATION`, both 403.
#[tokio::test]
async fn an_organizations_keys_are_listed_to_a_member_who_may_read_them() {
    let s = server().await;
    let signed = s.sign_up("ada@example.com").await;
    let ada = signed.cookie_header();
    let ada_token = signed.json()["token"].as_str().unwrap().to_owned();
    let ben = s.sign_up("ben@example.com").await;
    let ben_id = ben.json()["user"]["id"].as_str().unwrap().to_owned();
    let ben = ben.cookie_header();
    let eve = s.cookie_of("eve@example.com").await;
    let res = s
        .org_post("create", &ada, json!({"name": "Acme", "slug": "acme"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let org = res.json()["id"].as_str().unwrap().to_owned();
    let org_id: neutrino_core::ids::TenantId = org.parse().unwrap();
    s.platform
        .orgs()
        .add_member(
            &ada_token,
            &org_id,
            &ben_id.parse().unwrap(),
            "member",
            &neutrino_auth::RequestMeta::default(),
        )
        .await
        .unwrap();
    let own = s
        .platform
        .orgs()
        .create_api_key(
            &ada_token,
            neutrino_auth::apikey::NewApiKey {
                organization: Some(org_id),
                owned_by_organization: true,
                ..Default::default()
            },
            &neutrino_auth::RequestMeta::default(),
        )
        .await
        .unwrap();
    // Ada's personal key is not the organization's.
    let personal = s
        .post("/api-key/create", &ada, json!({"name": "mine"}))
        .await;
    assert_eq!(personal.status, 200, "{}", personal.text);

    let path = format!("/api-key/list?organizationId={org}");
    let res = s.get(&path, &ada).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json();
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["apiKeys"][0]["id"], own.record.id.as_str());
    assert_eq!(body["apiKeys"][0]["referenceId"], org.as_str());
    assert!(body["apiKeys"][0].get("key").is_none());
    assert!(!res.text.contains(&own.key));
    // Without the parameter: Ada's own keys only.
    let mine = s.get("/api-key/list", &ada).await.json();
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["apiKeys"][0]["name"], "mine");

    let res = s.get(&path, &ben).await;
    assert_eq!(
        (res.status, res.json()["code"].clone()),
        (403, json!("INSUFFICIENT_API_KEY_PERMISSIONS"))
    );
    for (who, path) in [
        (&eve, path.clone()),
        (&ada, "/api-key/list?organizationId=no-such-org".to_owned()),
        (
            &ada,
            format!(
                "/api-key/list?organizationId={}",
                neutrino_core::ids::TenantId::generate()
            ),
        ),
    ] {
        let res = s.get(&path, who).await;
        assert_eq!(
            (res.status, res.json()["code"].clone()),
            (403, json!("USER_NOT_MEMBER_OF_ORGANIZATION")),
            "{path}"
        );
        assert!(!res.text.contains(own.record.id.as_str()));
    }
    assert_eq!(s.get(&path, "").await.status, 401);
}

/// An API key over its rate limit: 429 `RATE_LIMITED` with Better Auth's
/// `details.tryAgainIn`, the milliseconds until the window lets it in.
#[tokio::test]
async fn a_rate_limited_key_answers_when_to_try_again() {
    use axum::response::IntoResponse;
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let res = s.post("/api-key/create", &ada, json!({"name": "ci"})).await;
    let key = res.json()["key"].as_str().unwrap().to_owned();
    for _ in 0..10 {
        s.platform.scope_from_api_key(&key).await.unwrap();
    }
    let err = s.platform.orgs().verify_api_key(&key).await.unwrap_err();
    let res = neutrino_axum::ApiError::from(err).into_response();
    assert_eq!(res.status(), 429);
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    assert_eq!(body["message"], "Rate limit exceeded.");
    let ms = body["details"]["tryAgainIn"].as_u64().expect("tryAgainIn");
    assert!(ms > 0 && ms <= 86_400_000, "{body}");
}
