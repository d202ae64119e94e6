//! Tenant lifecycle: deletion (tombstones) and renaming.

use super::*;

/// A deleted tenant is gone for every scope, minted before or after, for
/// every handle on the registry; its hosts stop resolving, its slug is free,
/// its ID is never given again; its rows stay unreachable until purged.
/// Deleting is idempotent and refused while sub-tenants live.
pub async fn a_deleted_tenant_is_gone_for_every_scope_and_its_id_is_never_reused(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let second = registry(stores, &clock).await;
    let domain = format!("{}.example.com", unique("life"));
    let p = r
        .create_platform(
            NewPlatform::new("Lifecycle", PlatformClass::Platform).with_app_domain(domain.as_str()),
        )
        .await
        .unwrap()
        .id;
    let slug = unique("gone-");
    let gone = r
        .create_tenant(p, NewTenant::new(slug.as_str(), "Gone"))
        .await
        .unwrap()
        .id;
    let child = r
        .create_tenant(
            p,
            NewTenant::new(unique("child-"), "Child").with_parent(gone),
        )
        .await
        .unwrap()
        .id;
    let kept = tenant(&r, p).await;
    let table = TenantTable::new(&unique("life_"), &[("label", ColumnType::Text)]).unwrap();
    let store = super::open_store(
        &r,
        &stores.db,
        stores.tenant_db.as_ref(),
        vec![table.clone()],
    )
    .await
    .unwrap();
    let scope = r.operator_scope(p, gone, "ops", "test").await.unwrap();
    let kept_scope = r.operator_scope(p, kept, "ops", "test").await.unwrap();
    let row = store
        .insert(&scope, &table, Record::new().set("label", "x"))
        .await
        .unwrap();
    store
        .insert(&kept_scope, &table, Record::new().set("label", "y"))
        .await
        .unwrap();
    // Not while a sub-tenant lives.
    assert!(matches!(
        r.delete_tenant(p, gone, "ops", "test").await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(store.get(&scope, &table, &row).await.is_ok());
    r.delete_tenant(p, child, "ops", "test").await.unwrap();
    r.delete_tenant(p, gone, "ops", "test").await.unwrap();
    r.delete_tenant(p, gone, "ops", "again").await.unwrap();
    // Every way in is closed, through this handle and another.
    assert!(
        store
            .get(&scope, &table, &row)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .insert(&scope, &table, Record::new().set("label", "late"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(store.list(&scope, &table, &ListQuery::new()).await.is_err());
    assert!(r.tenant(p, gone).await.unwrap_err().is_not_found());
    assert!(second.tenant(p, gone).await.unwrap_err().is_not_found());
    assert!(
        r.operator_scope(p, gone, "ops", "test")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(second.is_tenant_deleted(p, gone).await.unwrap());
    assert_eq!(r.resolve(&format!("{slug}.{domain}")).await.unwrap(), None);
    let mut deleted = r.deleted_tenants(p).await.unwrap();
    deleted.sort();
    let mut want = vec![child, gone];
    want.sort();
    assert_eq!(deleted, want);
    // Its ID is never given again; its slug is free.
    assert!(
        r.create_tenant(p, NewTenant::new(unique("t-"), "Again").with_id(gone))
            .await
            .unwrap_err()
            .is_already_exists()
    );
    let reborn = r
        .create_tenant(p, NewTenant::new(slug.as_str(), "Reborn"))
        .await
        .unwrap();
    assert_ne!(reborn.id, gone);
    // Its rows go with the purge, only a deleted tenant's.
    assert!(store.purge_deleted_tenant(p, kept).await.is_err());
    assert_eq!(store.purge_deleted_tenant(p, gone).await.unwrap(), 1);
    assert_eq!(
        store
            .list(&kept_scope, &table, &ListQuery::new())
            .await
            .unwrap()
            .rows
            .len(),
        1
    );
    // An unknown tenant is NotFound.
    assert!(
        r.delete_tenant(p, TenantId::generate(), "ops", "test")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// A renamed tenant keeps its ID; its default host follows its slug; a slug
/// another tenant holds is refused and changes nothing.
pub async fn a_renamed_tenant_keeps_its_id_and_its_default_host_follows(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let domain = format!("{}.example.com", unique("ren"));
    let p = r
        .create_platform(
            NewPlatform::new("Renames", PlatformClass::Platform).with_app_domain(domain.as_str()),
        )
        .await
        .unwrap()
        .id;
    let (old, new) = (unique("old-"), unique("new-"));
    let t = r
        .create_tenant(p, NewTenant::new(old.as_str(), "Old"))
        .await
        .unwrap()
        .id;
    let other = r
        .create_tenant(p, NewTenant::new(unique("other-"), "Other"))
        .await
        .unwrap();
    r.rename_tenant(p, t, &new, "New").await.unwrap();
    let got = r.tenant(p, t).await.unwrap();
    assert_eq!(
        (got.slug.as_str(), got.name.as_str()),
        (new.as_str(), "New")
    );
    assert_eq!(
        r.resolve(&format!("{new}.{domain}")).await.unwrap(),
        Some((p, t))
    );
    assert_eq!(r.resolve(&format!("{old}.{domain}")).await.unwrap(), None);
    assert!(
        r.rename_tenant(p, t, &other.slug, "Taken")
            .await
            .unwrap_err()
            .is_already_exists()
    );
    assert_eq!(r.tenant(p, t).await.unwrap().slug, new);
    assert!(matches!(
        r.rename_tenant(p, t, "Not A Slug", "x").await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(
        r.rename_tenant(p, TenantId::generate(), &unique("x-"), "x")
            .await
            .unwrap_err()
            .is_not_found()
    );
}
