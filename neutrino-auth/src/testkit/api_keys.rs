//! API keys: shown once, stored as Better Auth's hash, expiry, the enabled
//! flag, permissions, last use; verified into the scope a session gets; a key
//! of one platform is useless on another.

use std::time::Duration;

use neutrino_core::clock::ManualClock;
use neutrino_core::ids::TenantId;
use neutrino_core::sql::Statement;

use super::fixtures::{AuthStores, World, ci_key, code, member, meta, two_orgs};
use crate::apikey::{
    ApiKeyScope, ApiKeyUpdate, CreatedApiKey, DEFAULT_RATE_LIMIT, NewApiKey, hash_key,
};
use crate::audit::AuditEvent;
use crate::org::Organizations;

/// A tenant key mints the tenant scope and is stored hashed.
pub async fn a_tenant_key_mints_the_tenant_scope_and_is_stored_hashed(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (w, ada) = World::with_ada(stores, clock).await;
    let (o, ta) = (&w.a.orgs, &ada.session.token);
    let acme = w.a.acme(ta).await;
    let created = ci_key(o, ta, acme.id).await;
    assert!(created.key.starts_with("nno_"));
    assert_eq!(created.key.len(), 4 + 64);
    assert!(!format!("{created:?}").contains(&created.key));
    assert_eq!(created.record.start.as_deref(), Some(&created.key[..6]));
    // Only the hash is stored.
    let rows =
        w.a.db
            .query(&Statement::new(r#"SELECT "key" FROM "apikey""#))
            .await
            .unwrap();
    let stored: String = rows[0].get(0).unwrap();
    assert_eq!(stored, hash_key(&created.key));
    assert_ne!(stored, created.key);

    let ApiKeyScope::Tenant(scope) = o.verify_api_key(&created.key).await.unwrap() else {
        panic!("a tenant key gives a tenant scope");
    };
    assert_eq!(scope.tenant(), acme.id);
    assert_eq!(scope.user_id(), ada.user.id);
    // The key's permissions narrow the owner's.
    assert!(o.has_permission(&scope, "invitation", "create"));
    assert!(!o.has_permission(&scope, "organization", "delete"));
    let listed = o.list_api_keys(ta).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].request_count, 1);
    assert!(listed[0].last_request.is_some());

    // Disabled, then enabled, then expired.
    o.update_api_key(ta, &created.record.id, enabled(false), &meta())
        .await
        .unwrap();
    assert_eq!(
        code(o.verify_api_key(&created.key).await),
        "INVALID_API_KEY"
    );
    o.update_api_key(ta, &created.record.id, enabled(true), &meta())
        .await
        .unwrap();
    o.verify_api_key(&created.key).await.unwrap();
    clock.advance(Duration::from_secs(3601));
    assert_eq!(
        code(o.verify_api_key(&created.key).await),
        "INVALID_API_KEY"
    );
    assert_eq!(code(o.verify_api_key("nno_guess").await), "INVALID_API_KEY");
    assert_eq!(code(o.verify_api_key("").await), "INVALID_API_KEY");
    let log = o.tenant_audit_log(&acme.id, 50).await.unwrap();
    assert!(log.iter().any(|e| e.event == AuditEvent::ApiKeyCreated));
    assert!(log.iter().any(|e| e.event == AuditEvent::ApiKeyUpdated));
}

/// Platform keys work on their platform only and die with membership.
pub async fn platform_keys_work_on_their_platform_only_and_die_with_membership(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let [ada, bob] = w.a.users(["Ada", "Bob"]).await;
    let (o, ta) = (&w.a.orgs, &ada.session.token);
    let platform_key = o
        .create_api_key(ta, NewApiKey::default(), &meta())
        .await
        .unwrap();
    match o.verify_api_key(&platform_key.key).await.unwrap() {
        ApiKeyScope::Platform {
            platform, user_id, ..
        } => {
            assert_eq!(platform, w.a.id);
            assert_eq!(user_id, ada.user.id);
        }
        other => panic!("expected a platform scope, got {other:?}"),
    }
    // Useless on platform B.
    assert_eq!(
        code(w.b.orgs.verify_api_key(&platform_key.key).await),
        "INVALID_API_KEY"
    );
    // A tenant key of a member who is then removed stops working.
    let acme = w.a.acme(ta).await;
    let m = member(o, ta, &acme.id, &bob.user.id, "member").await;
    let bob_key = tenant_key(o, &bob.session.token, acme.id, None).await;
    o.verify_api_key(&bob_key.key).await.unwrap();
    o.remove_member(ta, &acme.id, &m.id, &meta()).await.unwrap();
    assert_eq!(
        code(o.verify_api_key(&bob_key.key).await),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    // Deleting a key.
    o.delete_api_key(ta, &platform_key.record.id, &meta())
        .await
        .unwrap();
    assert_eq!(
        code(o.verify_api_key(&platform_key.key).await),
        "INVALID_API_KEY"
    );
}

/// The uses left and the request count of the key `id`, as its owner lists
/// them.
async fn uses(o: &crate::org::Organizations, token: &str, id: &str) -> (Option<i64>, i64) {
    let listed = o.list_api_keys(token).await.unwrap();
    let k = listed.iter().find(|k| k.id == id).expect("listed key");
    (k.remaining, k.request_count)
}

/// A tenant key refused because its owner is not (or no longer) a member of
/// the tenant keeps its uses: membership is decided in the write that takes
/// the use, so no refusal spends one, even many at once. A platform admin's
/// key of a tenant it is not a member of works while it is an admin and
/// keeps its uses once demoted; a key whose metadata does not bind it to a
/// tenant in a form the write can read is refused, not taken for a platform
/// key, and keeps its uses too.
pub async fn a_key_refused_because_its_owner_left_keeps_its_uses(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    use std::sync::Arc;

    use crate::access::PlatformRole;

    let w = World::new(stores, clock).await;
    let o = Arc::clone(&w.a.orgs);
    let [owner, m] = w.a.users(["Owner", "Member"]).await;
    let to = &owner.session.token;
    let acme = w.a.acme(to).await;
    member(&o, to, &acme.id, &m.user.id, "member").await;
    let key = tenant_key(&o, &m.session.token, acme.id, Some(2)).await;
    let id = key.record.id.clone();
    o.leave(&m.session.token, &acme.id, &meta()).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            code(o.verify_api_key(&key.key).await),
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
        );
    }
    // Many refusals at once spend nothing either.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (o, k) = (Arc::clone(&o), key.key.clone());
            tokio::spawn(async move { o.verify_api_key(&k).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_err(), "a non-member's key verified");
    }
    assert_eq!(uses(&o, &m.session.token, &id).await, (Some(2), 0));
    member(&o, to, &acme.id, &m.user.id, "member").await;
    let mut ok = 0;
    for _ in 0..4 {
        if let Ok(ApiKeyScope::Tenant(s)) = o.verify_api_key(&key.key).await {
            assert_eq!(
                (s.tenant(), s.user_id(), s.roles()),
                (acme.id, m.user.id, "member")
            );
            ok += 1;
        }
    }
    assert_eq!(ok, 2, "refused verifications spent the key's uses");
    assert_eq!(code(o.verify_api_key(&key.key).await), "USAGE_EXCEEDED");

    // A platform admin who is not a member of the tenant.
    let admin = w.a.user("Admin").await;
    o.operator_set_platform_role(&admin.user.id, PlatformRole::Admin, "ops", "test", &meta())
        .await
        .unwrap();
    let ta = &admin.session.token;
    let akey = tenant_key(&o, ta, acme.id, Some(3)).await;
    let ApiKeyScope::Tenant(s) = o.verify_api_key(&akey.key).await.unwrap() else {
        panic!("a tenant key gives a tenant scope");
    };
    assert!(s.is_platform_admin());
    assert_eq!((s.tenant(), s.roles()), (acme.id, ""));
    o.operator_set_platform_role(&admin.user.id, PlatformRole::User, "ops", "test", &meta())
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            code(o.verify_api_key(&akey.key).await),
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
        );
    }
    assert_eq!(uses(&o, ta, &akey.record.id).await, (Some(2), 1));
    o.operator_set_platform_role(&admin.user.id, PlatformRole::Admin, "ops", "test", &meta())
        .await
        .unwrap();
    o.verify_api_key(&akey.key).await.unwrap();
    assert_eq!(uses(&o, ta, &akey.record.id).await, (Some(1), 2));

    // Metadata naming the tenant in a form the write cannot read.
    for bad in [r#"{"organizationId": 5}"#, r#"{"organizationId": ["x"]}"#] {
        w.a.db
            .execute(
                &Statement::new(r#"UPDATE "apikey" SET "metadata" = ?1 WHERE "id" = ?2"#)
                    .bind(bad)
                    .bind(akey.record.id.as_str()),
            )
            .await
            .unwrap();
        assert_eq!(code(o.verify_api_key(&akey.key).await), "INVALID_API_KEY");
        assert_eq!(uses(&o, ta, &akey.record.id).await, (Some(1), 2));
    }
}

/// The caller's key `id` as listed.
async fn listed(o: &crate::org::Organizations, token: &str, id: &str) -> crate::apikey::ApiKey {
    o.list_api_keys(token)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.id == id)
        .expect("the key is listed")
}

/// An update that only enables or disables.
fn enabled(on: bool) -> ApiKeyUpdate {
    ApiKeyUpdate {
        enabled: Some(on),
        ..ApiKeyUpdate::default()
    }
}

/// A key's `updatedAt` is its creation time, then the time of each update;
/// an update renames it, changes its lifetime or clears it, and refuses a
/// bad name or an update that changes nothing; what it answers is what is
/// stored. Better Auth's default rate limit allows 10 verifications a day.
pub async fn an_api_key_update_renames_it_and_stamps_updated_at(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (w, ada) = World::with_ada(stores, clock).await;
    let (o, ta) = (&w.a.orgs, &ada.session.token);
    let created = o
        .create_api_key(
            ta,
            NewApiKey {
                name: Some("ci".into()),
                rate_limit: Some(DEFAULT_RATE_LIMIT),
                ..NewApiKey::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    let id = created.record.id.clone();
    assert_eq!(created.record.updated_at, created.record.created_at);
    assert!(created.record.rate_limit_enabled);
    assert_eq!(created.record.rate_limit_max, Some(10));
    assert_eq!(created.record.rate_limit_time_window, Some(86_400_000));
    assert_eq!(listed(o, ta, &id).await, created.record);
    // The key updated with `u`; it must succeed.
    let update = async |u: ApiKeyUpdate| o.update_api_key(ta, &id, u, &meta()).await.unwrap();

    clock.advance(Duration::from_secs(5));
    let renamed = update(ApiKeyUpdate {
        name: Some("deploy".into()),
        ..ApiKeyUpdate::default()
    })
    .await;
    assert_eq!(renamed.name.as_deref(), Some("deploy"));
    assert!(renamed.enabled);
    assert_eq!(renamed.created_at, created.record.created_at);
    assert_eq!(
        renamed
            .updated_at
            .duration_since(created.record.updated_at)
            .unwrap(),
        Duration::from_secs(5)
    );
    assert_eq!(listed(o, ta, &id).await, renamed);

    // A lifetime, then none; a name and `enabled` at once.
    clock.advance(Duration::from_secs(1));
    let dated = update(ApiKeyUpdate {
        expires_in: Some(Some(Duration::from_secs(3600))),
        ..ApiKeyUpdate::default()
    })
    .await;
    assert_eq!(
        dated
            .expires_at
            .unwrap()
            .duration_since(dated.updated_at)
            .unwrap(),
        Duration::from_secs(3600)
    );
    assert_eq!(listed(o, ta, &id).await, dated);
    let both = update(ApiKeyUpdate {
        name: Some("both".into()),
        enabled: Some(false),
        expires_in: Some(None),
    })
    .await;
    assert_eq!(
        (both.name.as_deref(), both.enabled, both.expires_at),
        (Some("both"), false, None)
    );
    assert_eq!(listed(o, ta, &id).await, both);
    assert_eq!(
        code(o.verify_api_key(&created.key).await),
        "INVALID_API_KEY"
    );

    // Refusals change nothing.
    for (bad, want) in [
        (ApiKeyUpdate::default(), "NO_VALUES_TO_UPDATE"),
        (
            ApiKeyUpdate {
                name: Some("a\nb".into()),
                ..ApiKeyUpdate::default()
            },
            "VALIDATION_ERROR",
        ),
        (
            ApiKeyUpdate {
                name: Some("x".repeat(crate::apikey::MAX_KEY_NAME_LEN + 1)),
                ..ApiKeyUpdate::default()
            },
            "VALIDATION_ERROR",
        ),
        (
            ApiKeyUpdate {
                expires_in: Some(Some(Duration::MAX)),
                ..ApiKeyUpdate::default()
            },
            "VALIDATION_ERROR",
        ),
    ] {
        assert_eq!(code(o.update_api_key(ta, &id, bad, &meta()).await), want);
    }
    assert_eq!(
        code(
            o.update_api_key(ta, "no-such-key", enabled(true), &meta())
                .await
        ),
        "KEY_NOT_FOUND"
    );
    // Someone else's key is unknown to them, and stays as it was.
    let bob = w.a.user("Bob").await;
    assert_eq!(
        code(
            o.update_api_key(&bob.session.token, &id, enabled(true), &meta())
                .await
        ),
        "KEY_NOT_FOUND"
    );
    assert_eq!(listed(o, ta, &id).await, both);

    // Better Auth's default limit: 10 uses a day, the 11th refused.
    update(enabled(true)).await;
    for i in 0..10 {
        assert!(o.verify_api_key(&created.key).await.is_ok(), "use {i}");
    }
    assert_eq!(code(o.verify_api_key(&created.key).await), "RATE_LIMITED");
    clock.advance(Duration::from_secs(24 * 3600 + 1));
    assert!(o.verify_api_key(&created.key).await.is_ok());
}

/// Better Auth's `GET /api-key/list?organizationId=`: an organization's own
/// keys, to a member who may read them (an owner); a member without
/// `apiKey:read` is refused, and so are a non-member, another tenant's owner
/// and another platform's user naming the organization, with Better Auth's
/// answer for a non-member. The list holds the organization's own keys only.
pub async fn an_organization_lists_its_own_keys_to_members_who_may_read_them(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let t = two_orgs(stores, clock).await;
    let (p, b, ob) = t.on_b();
    let own = NewApiKey {
        organization: Some(b),
        owned_by_organization: true,
        ..NewApiKey::default()
    };
    assert!(
        p.orgs
            .list_organization_api_keys(ob, &b)
            .await
            .unwrap()
            .is_empty()
    );
    let org_key = p.orgs.create_api_key(ob, own, &meta()).await.unwrap();
    // The code of B's listing refused to `token`.
    let refused = async |token: &str| code(p.orgs.list_organization_api_keys(token, &b).await);
    // The owner's own key bound to B is not the organization's.
    let user_key = ci_key(&p.orgs, ob, b).await;
    let listed = p.orgs.list_organization_api_keys(ob, &b).await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        [org_key.record.id.as_str()]
    );
    assert!(!format!("{listed:?}").contains(&org_key.key));
    assert!(!listed.iter().any(|k| k.id == user_key.record.id));
    // Neither does the owner's personal list hold the organization's key.
    assert!(
        !p.orgs
            .list_api_keys(ob)
            .await
            .unwrap()
            .iter()
            .any(|k| k.id == org_key.record.id)
    );
    assert_eq!(
        refused(&t.member_b.session.token).await,
        "INSUFFICIENT_API_KEY_PERMISSIONS"
    );
    for token in [&t.outsider.session.token, &t.owner_a.session.token] {
        assert_eq!(refused(token).await, "USER_NOT_MEMBER_OF_ORGANIZATION");
    }
    // Another platform's owner naming B (or their own organization on P).
    assert_eq!(
        code(
            t.q()
                .orgs
                .list_organization_api_keys(&t.stranger.session.token, &b)
                .await
        ),
        "USER_NOT_MEMBER_OF_ORGANIZATION"
    );
    assert_eq!(
        code(p.orgs.list_organization_api_keys(ob, &t.org_q.id).await),
        "USER_NOT_MEMBER_OF_ORGANIZATION"
    );
    assert_eq!(refused("nope").await, "UNAUTHORIZED");
    // A member who leaves sees nothing any more.
    member(&p.orgs, ob, &b, &t.outsider.user.id, "owner").await;
    assert_eq!(
        p.orgs
            .list_organization_api_keys(&t.outsider.session.token, &b)
            .await
            .unwrap()
            .len(),
        1
    );
    p.orgs
        .leave(&t.outsider.session.token, &b, &meta())
        .await
        .unwrap();
    assert_eq!(
        refused(&t.outsider.session.token).await,
        "USER_NOT_MEMBER_OF_ORGANIZATION"
    );
}

/// A key of `org` created by the user of `token`, with `remaining` uses
/// (`None`: unlimited), its other settings the defaults.
async fn tenant_key(
    o: &Organizations,
    token: &str,
    org: TenantId,
    remaining: Option<u32>,
) -> CreatedApiKey {
    o.create_api_key(
        token,
        NewApiKey {
            organization: Some(org),
            remaining,
            ..NewApiKey::default()
        },
        &meta(),
    )
    .await
    .unwrap()
}
