//! Better Auth's organization endpoints over real sockets.

mod common;

use common::server;
use serde_json::{Value, json};

#[tokio::test]
async fn organizations_are_created_listed_and_made_active() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;

    let res = s
        .org_post("create", "", json!({"name": "Acme", "slug": "acme"}))
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.text, "");
    let res = s.get("/organization/list", "").await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.json(),
        json!({"message": "Unauthorized", "code": "UNAUTHORIZED"})
    );
    let res = s.org_post("create", &ada, json!({"name": "Acme"})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "VALIDATION_ERROR");

    let res = s
        .org_post(
            "create",
            &ada,
            json!({"name": "Acme", "slug": "acme", "metadata": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let org = res.json();
    assert_eq!(org["slug"], "acme");
    // Quirk a, kept: an object on create, the stored text elsewhere.
    assert_eq!(org["metadata"], json!({"plan": "pro"}));
    assert_eq!(org["members"][0]["role"], "owner");
    let id = org["id"].as_str().unwrap().to_owned();

    let list = s.get("/organization/list", &ada).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0]["metadata"].is_string());

    let full = s.get("/organization/get-full-organization", &ada).await;
    assert_eq!(full.status, 200, "{}", full.text);
    let full = full.json();
    assert_eq!(full["id"], id.as_str());
    assert_eq!(full["members"][0]["user"]["email"], "ada@example.com");
    assert_eq!(full["invitations"], json!([]));

    let res = s
        .org_post("set-active", &ada, json!({"organizationId": null}))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text, "null");
    assert_eq!(
        s.get("/organization/get-full-organization", &ada)
            .await
            .text,
        "null"
    );
    let res = s
        .org_post("set-active", &ada, json!({"organizationSlug": "acme"}))
        .await;
    assert_eq!(res.json()["id"], id.as_str());
    assert_eq!(
        s.get("/organization/get-active-member-role", &ada)
            .await
            .json(),
        json!({"role": "owner"})
    );

    let res = s
        .org_post("check-slug", &ada, json!({"slug": "acme"}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "ORGANIZATION_SLUG_ALREADY_TAKEN");
    let res = s
        .org_post("check-slug", &ada, json!({"slug": "free-slug"}))
        .await;
    assert_eq!(res.json(), json!({"status": true}));
}

#[tokio::test]
async fn invitations_members_and_roles() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let bob = s.cookie_of("bob@example.com").await;
    let eve = s.cookie_of("eve@example.com").await;
    let org = s
        .org_post("create", &ada, json!({"name": "Acme", "slug": "acme"}))
        .await
        .json();
    let org_id = org["id"].as_str().unwrap().to_owned();

    let res = s
        .org_post(
            "invite-member",
            &ada,
            json!({"email": "bob@example.com", "role": ["member"]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let inv = res.json();
    assert_eq!(inv["status"], "pending");
    let inv_id = inv["id"].as_str().unwrap().to_owned();

    // Only the invitee may accept.
    let res = s
        .org_post("accept-invitation", &eve, json!({"invitationId": inv_id}))
        .await;
    assert!(res.status == 403 || res.status == 400, "{}", res.text);
    let mine = s.get("/organization/list-user-invitations", &bob).await;
    assert_eq!(mine.json()[0]["organizationName"], "Acme");
    let res = s
        .org_post("accept-invitation", &bob, json!({"invitationId": inv_id}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["invitation"]["status"], "accepted");
    let bob_member = res.json()["member"]["id"].as_str().unwrap().to_owned();

    let members = s.org_get("list-members", &org_id, &ada).await.json();
    assert_eq!(members["total"], 2);
    // Eve is no member: she sees nothing of Acme.
    let res = s.org_get("list-members", &org_id, &eve).await;
    assert!(res.status == 403 || res.status == 400, "{}", res.text);
    let res = s.org_get("get-full-organization", &org_id, &eve).await;
    assert!(res.status >= 400 && res.status < 500, "{}", res.text);

    // A member cannot promote itself or remove the owner.
    let res = s
        .org_post(
            "update-member-role",
            &bob,
            json!({"memberId": bob_member, "role": "owner", "organizationId": org_id}),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    let res = s
        .org_post(
            "update-member-role",
            &ada,
            json!({"memberId": bob_member, "role": "admin", "organizationId": org_id}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["role"], "admin");

    let res = s
        .org_post(
            "remove-member",
            &ada,
            json!({"memberIdOrEmail": "bob@example.com", "organizationId": org_id}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["member"]["user"]["email"], "bob@example.com");

    let res = s
        .org_post("leave", &ada, json!({"organizationId": org_id}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json()["code"],
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"
    );

    let list: Value = s.get("/organization/list-invitations", &ada).await.json();
    assert_eq!(list[0]["status"], "accepted");
}

/// `update` changes the active (or named) organization for those allowed to;
/// `delete` removes it, and afterwards it is gone for every endpoint; another
/// user can do neither.
#[tokio::test]
async fn organizations_are_updated_and_deleted() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let eve = s.cookie_of("eve@example.com").await;
    let org = s
        .org_post("create", &ada, json!({"name": "Acme", "slug": "acme"}))
        .await
        .json();
    let id = org["id"].as_str().unwrap().to_owned();

    let res = s.org_post("update", &ada, json!({"data": "acme"})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "VALIDATION_ERROR");
    let res = s
        .org_post(
            "update",
            &ada,
            json!({"data": {"name": "Acme Two", "slug": "acme-two", "metadata": {"plan": "pro"}}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let updated = res.json();
    assert_eq!(
        (&updated["id"], &updated["name"], &updated["slug"]),
        (&json!(id), &json!("Acme Two"), &json!("acme-two"))
    );
    assert_eq!(updated["metadata"], json!({"plan": "pro"}));

    // Another user learns nothing and changes nothing.
    for (path, body) in [
        (
            "/organization/update",
            json!({"organizationId": id, "data": {"name": "Eve's"}}),
        ),
        ("/organization/delete", json!({"organizationId": id})),
    ] {
        let res = s.post(path, &eve, body).await;
        assert!(
            res.status == 400 || res.status == 403,
            "{path}: {}",
            res.text
        );
        assert_eq!(
            res.json()["code"],
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
            "{path}"
        );
    }
    let res = s
        .org_post("delete", "", json!({"organizationId": id}))
        .await;
    assert_eq!((res.status, res.text.as_str()), (401, ""));

    let res = s
        .org_post("delete", &ada, json!({"organizationId": id}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["slug"], "acme-two");
    let list: Value = s.get("/organization/list", &ada).await.json();
    assert_eq!(list, json!([]));
    let res = s
        .org_post("delete", &ada, json!({"organizationId": id}))
        .await;
    assert!(res.status >= 400 && res.status < 500, "{}", res.text);
}

const TOKEN: &str = "better-auth.session_token";
const DATA: &str = "better-auth.session_data";
const DONT: &str = "better-auth.dont_remember";

/// The session's `activeOrganizationId`, as get-session answers it.
async fn active_org(s: &common::Server, cookie: &str, query: &str) -> Value {
    let res = s.get(&format!("/get-session{query}"), cookie).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.json()["session"]["activeOrganizationId"].clone()
}

/// Replaces the cookies of `header` that `res` sets again.
fn updated(header: &str, res: &common::Res) -> String {
    let set = res.cookie_header();
    let names: Vec<&str> = set
        .split("; ")
        .filter_map(|p| p.split('=').next())
        .collect();
    header
        .split("; ")
        .filter(|p| !names.contains(&p.split('=').next().unwrap_or_default()))
        .map(str::to_owned)
        .chain(set.split("; ").map(str::to_owned))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn the_session_carries_its_active_organization_and_set_active_sets_the_cookies_again() {
    let s = common::server_with_cookie_cache().await;
    let ada = s.cookie_of("ada@example.com").await;
    // get-session's user carries the plugins' fields, its session a null
    // active organization; from the database and from the cookie cache.
    for query in ["?disableCookieCache=true", ""] {
        let res = s.get(&format!("/get-session{query}"), &ada).await;
        let body = res.json();
        assert_eq!(body["session"]["activeOrganizationId"], Value::Null);
        for (field, want) in [
            ("role", json!("user")),
            ("banned", json!(false)),
            ("banReason", Value::Null),
            ("banExpires", Value::Null),
            ("twoFactorEnabled", json!(false)),
        ] {
            assert_eq!(body["user"].get(field), Some(&want), "{field} in {body}");
        }
    }

    // Create makes the organization active in the database, without a
    // cookie (as Better Auth).
    let res = s
        .org_post("create", &ada, json!({"name": "Acme", "slug": "acme"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.set_cookie(TOKEN), None);
    let acme = res.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        active_org(&s, &ada, "?disableCookieCache=true").await,
        acme.as_str()
    );
    let res = s
        .org_post(
            "create",
            &ada,
            json!({"name": "Other", "slug": "other", "keepCurrentActiveOrganization": true}),
        )
        .await;
    let other = res.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        active_org(&s, &ada, "?disableCookieCache=true").await,
        acme.as_str()
    );

    // set-active sets session_token (as sign-in does) and session_data
    // again: the cache then answers the new active organization.
    let res = s
        .org_post("set-active", &ada, json!({"organizationId": other}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["id"], other.as_str());
    let token = res.set_cookie(TOKEN).expect("session_token set again");
    assert!(
        token.ends_with("; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"),
        "{token}"
    );
    assert!(res.set_cookie(DATA).is_some(), "{:?}", res.set_cookies());
    let ada = updated(&ada, &res);
    assert_eq!(active_org(&s, &ada, "").await, other.as_str());
    assert_eq!(
        active_org(&s, &ada, "?disableCookieCache=true").await,
        other.as_str()
    );
    // Cleared: null, and the cookies again.
    let res = s
        .org_post("set-active", &ada, json!({"organizationId": null}))
        .await;
    assert_eq!(res.text, "null");
    assert!(res.set_cookie(TOKEN).is_some());
    let ada = updated(&ada, &res);
    assert_eq!(active_org(&s, &ada, "").await, Value::Null);
    // Clearing what is not set: null and no cookie.
    let res = s
        .org_post("set-active", &ada, json!({"organizationId": null}))
        .await;
    assert_eq!(res.text, "null");
    assert_eq!(res.set_cookie(TOKEN), None);

    // Without "remember me", the cookie stays a browser-session one.
    let res = s
        .try_sign_in(
            "",
            json!({"email": "ada@example.com", "password": common::PASSWORD, "rememberMe": false}),
        )
        .await;
    let brief = res.cookie_header();
    let res = s
        .org_post("set-active", &brief, json!({"organizationId": acme}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let token = res.set_cookie(TOKEN).expect("session_token set again");
    assert!(!token.contains("Max-Age"), "{token}");
    assert!(res.set_cookie(DONT).is_some(), "{:?}", res.set_cookies());
    let data = res.set_cookie(DATA).expect("session_data set again");
    assert!(!data.contains("Max-Age"), "{data}");
}

#[tokio::test]
async fn an_invitation_by_a_non_member_is_member_not_found() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let eve = s.cookie_of("eve@example.com").await;
    let res = s
        .org_post("create", &ada, json!({"name": "Acme", "slug": "acme"}))
        .await;
    let acme = res.json()["id"].as_str().unwrap().to_owned();
    // Another user's organization and one that does not exist answer the
    // same, as Better Auth does.
    for org in [acme.as_str(), "NoSuchOrganizationIdOfThirtyTwo0"] {
        let res = s
            .org_post(
                "invite-member",
                &eve,
                json!({"email": "bob@example.com", "role": "member", "organizationId": org}),
            )
            .await;
        assert_eq!(res.status, 400, "{}", res.text);
        assert_eq!(
            res.json(),
            json!({"code": "MEMBER_NOT_FOUND", "message": "Member not found"}),
            "{org}"
        );
        // The address is judged first.
        let res = s
            .org_post(
                "invite-member",
                &eve,
                json!({"email": "not-an-address", "role": "member", "organizationId": org}),
            )
            .await;
        assert_eq!(res.status, 400, "{}", res.text);
        assert_eq!(res.json()["code"], "INVALID_EMAIL");
    }
    // Nothing was stored.
    let list = s.org_get("list-invitations", &acme, &ada).await.json();
    assert_eq!(list, json!([]));
}
