//! Better Auth's organization endpoints that read access over real sockets:
//! has-permission, get-invitation, get-full-organization by slug with
//! `membersLimit`.

mod common;

use common::{Server, id_of, server};
use serde_json::{Value, json};

async fn create(s: &Server, cookie: &str, slug: &str) -> String {
    id_of(&s.create_org(cookie, &slug.to_uppercase(), slug).await)
}

async fn invite(s: &Server, cookie: &str, org: &str, email: &str, role: &str) -> Value {
    s.invite(
        cookie,
        json!({"email": email, "role": role, "organizationId": org}),
    )
    .await
}

#[tokio::test]
async fn has_permission_answers_for_the_members_roles() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let bob = s.cookie_of("bob@example.com").await;
    let eve = s.cookie_of("eve@example.com").await;
    let body = json!({"permissions": {"member": ["create"]}});
    assert_eq!(
        s.post("/organization/has-permission", "", body.clone())
            .await
            .status,
        401
    );
    // No active organization yet.
    let res = s
        .post("/organization/has-permission", &ada, body.clone())
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "NO_ACTIVE_ORGANIZATION");

    let org = create(&s, &ada, "acme").await;
    let inv = invite(&s, &ada, &org, "bob@example.com", "member").await;
    let res = s
        .org_post(
            "accept-invitation",
            &bob,
            json!({"invitationId": inv["id"]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    let ask = |cookie: &str, body: Value| {
        let cookie = cookie.to_owned();
        let s = &s;
        async move { s.post("/organization/has-permission", &cookie, body).await }
    };
    // The owner, on the active organization and by ID.
    let res = ask(&ada, body.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json(), json!({"error": null, "success": true}));
    let res = ask(
        &ada,
        json!({"permissions": {"organization": ["update", "delete"], "invitation": ["create"]}, "organizationId": org}),
    )
    .await;
    assert_eq!(res.json(), json!({"error": null, "success": true}));
    // A member may not; nor may anyone ask for nothing or for an unknown
    // resource; the deprecated key is false.
    let as_bob = json!({"permissions": {"member": ["create"]}, "organizationId": org});
    assert_eq!(ask(&bob, as_bob).await.json()["success"], false);
    for p in [
        json!({"permissions": {}}),
        json!({"permissions": {"member": []}}),
        json!({"permissions": {"nothing": ["read"]}}),
        json!({"permission": {"member": ["create"]}}),
    ] {
        let res = ask(&ada, p.clone()).await;
        assert_eq!(res.status, 200, "{p}: {}", res.text);
        assert_eq!(res.json()["success"], false, "{p}");
    }
    for bad in [
        json!({}),
        json!({"permissions": {"member": "create"}}),
        json!({"permissions": {"member": ["create"]}, "permission": {"member": ["create"]}}),
    ] {
        assert_eq!(ask(&ada, bad.clone()).await.status, 400, "{bad}");
    }
    // Someone who is not a member, by ID (existing or not) or as active.
    for id in [org.as_str(), "nope", "tnt_00000000000000000000000000"] {
        let res = ask(
            &eve,
            json!({"permissions": {"member": ["create"]}, "organizationId": id}),
        )
        .await;
        assert_eq!(res.status, 401, "{id}: {}", res.text);
        assert_eq!(
            res.json()["code"],
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
        );
    }
}

#[tokio::test]
async fn get_invitation_shows_the_recipient_their_invitation_only() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let bob = s.cookie_of("bob@example.com").await;
    let eve = s.cookie_of("eve@example.com").await;
    let org = create(&s, &ada, "acme").await;
    let inv = invite(&s, &ada, &org, "BOB@example.com", "member").await;
    let id = inv["id"].as_str().unwrap();
    let path = format!("/organization/get-invitation?id={id}");

    let res = s.get(&path, "").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json(), json!({"message": "Not authenticated"}));
    let res = s.get("/organization/get-invitation", &bob).await;
    assert_eq!(res.status, 400);

    let res = s.get(&path, &bob).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let got = res.json();
    assert_eq!(got["id"], id);
    assert_eq!(got["organizationId"], org.as_str());
    assert_eq!(got["organizationName"], "ACME");
    assert_eq!(got["organizationSlug"], "acme");
    assert_eq!(got["inviterEmail"], "ada@example.com");
    assert_eq!(got["status"], "pending");

    // The inviter, an outsider, an unknown ID: not found.
    for (who, p) in [
        (&ada, path.clone()),
        (&eve, path.clone()),
        (&bob, "/organization/get-invitation?id=nope".to_owned()),
    ] {
        let res = s.get(&p, who).await;
        assert_eq!(res.status, 400, "{}", res.text);
        assert_eq!(res.json()["code"], "INVITATION_NOT_FOUND");
    }
    // Once answered, it is no longer shown.
    let res = s
        .org_post("reject-invitation", &bob, json!({"invitationId": id}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = s.get(&path, &bob).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "INVITATION_NOT_FOUND");
}

#[tokio::test]
async fn get_full_organization_by_slug_with_a_members_limit() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let bob = s.cookie_of("bob@example.com").await;
    let eve = s.cookie_of("eve@example.com").await;
    let acme = create(&s, &ada, "acme").await;
    let other = create(&s, &ada, "other").await;
    let inv = invite(&s, &ada, &acme, "bob@example.com", "member").await;
    s.org_post(
        "accept-invitation",
        &bob,
        json!({"invitationId": inv["id"]}),
    )
    .await;

    // The slug wins over the ID.
    let res = s
        .get(
            &format!(
                "/organization/get-full-organization?organizationSlug=acme&organizationId={other}"
            ),
            &ada,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["id"], acme.as_str());
    assert_eq!(res.json()["members"].as_array().unwrap().len(), 2);
    let res = s
        .get(
            "/organization/get-full-organization?organizationSlug=acme&membersLimit=1",
            &ada,
        )
        .await;
    assert_eq!(res.json()["members"].as_array().unwrap().len(), 1);
    let res = s
        .get(
            "/organization/get-organization?organizationSlug=other",
            &ada,
        )
        .await;
    assert_eq!(res.json()["id"], other.as_str());
    assert!(res.json().get("members").is_none());
    // Another's organization by slug is not found.
    let res = s
        .get(
            "/organization/get-full-organization?organizationSlug=acme",
            &eve,
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.json()["code"], "ORGANIZATION_NOT_FOUND");
    // Teams are off.
    assert_eq!(
        s.org_post("create-team", &ada, json!({"name": "t"}))
            .await
            .status,
        404
    );
}
