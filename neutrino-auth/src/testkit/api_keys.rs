//! API keys: shown once, stored as Better Auth's hash, expiry, the enabled
//! flag, permissions, last use; verified into the scope a session gets; a key
//! of one platform is useless on another.

use std::time::Duration;

use neutrino_core::clock::ManualClock;
use neutrino_core::sql::Statement;

use super::fixtures::{AuthStores, World, ci_key, code, member, meta};
use crate::apikey::{ApiKeyScope, NewApiKey, hash_key};
use crate::audit::AuditEvent;

/// A tenant key mints the tenant scope and is stored hashed.
pub async fn a_tenant_key_mints_the_tenant_scope_and_is_stored_hashed(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let o = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    let ta = &ada.session.token;
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
    o.set_api_key_enabled(ta, &created.record.id, false, &meta())
        .await
        .unwrap();
    assert_eq!(
        code(o.verify_api_key(&created.key).await),
        "INVALID_API_KEY"
    );
    o.set_api_key_enabled(ta, &created.record.id, true, &meta())
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
    let o = &w.a.orgs;
    let ada = w.a.user("Ada").await;
    let bob = w.a.user("Bob").await;
    let ta = &ada.session.token;
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
    let bob_key = o
        .create_api_key(
            &bob.session.token,
            NewApiKey {
                organization: Some(acme.id),
                ..NewApiKey::default()
            },
            &meta(),
        )
        .await
        .unwrap();
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
