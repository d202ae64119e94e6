//! Registry records: another platform's are `NotFound`, tenant trees, features.

use super::*;

/// Registry records of another platform are `NotFound`.
pub async fn records_of_another_platform_are_not_found(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p1, p2) = (platform(&r).await, platform(&r).await);
    let t1 = tenant(&r, p1).await;
    assert!(r.tenant(p1, t1).await.is_ok());
    assert!(r.tenant(p2, t1).await.unwrap_err().is_not_found());
    let slug = r.tenant(p1, t1).await.unwrap().slug;
    assert!(
        r.tenant_by_slug(p2, &slug)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(r.tenants(p2).await.unwrap().is_empty());
    let e = r
        .operator_scope(p2, t1, "ops", "wrong platform")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = r
        .create_tenant(p2, NewTenant::new(unique("s-"), "Sub").with_parent(t1))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "a parent from another platform: {e:?}");
    // The same slug may exist once per platform.
    r.create_tenant(p2, NewTenant::new(slug.clone(), "Same slug"))
        .await
        .expect("slug reused in p2");
    let e = r
        .create_tenant(p1, NewTenant::new(slug, "Dup"))
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
}

/// Features are per tenant: set for one, off for another.
pub async fn features_are_evaluated_per_tenant(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let f = Feature {
        key: "billing.invoices".into(),
        version: 2,
        enabled: true,
        config: serde_json::json!({"currency": "EUR"}),
    };
    r.set_feature(p, a, &f).await.unwrap();
    let (sa, sb) = (scope(&r, p, a).await, scope(&r, p, b).await);
    assert!(r.is_enabled(&sa, "billing.invoices").await.unwrap());
    assert!(!r.is_enabled(&sb, "billing.invoices").await.unwrap());
    assert_eq!(
        r.feature(&sa, "billing.invoices").await.unwrap(),
        Some(f.clone())
    );
    r.set_feature(
        p,
        a,
        &Feature {
            enabled: false,
            ..f.clone()
        },
    )
    .await
    .unwrap();
    assert!(!r.is_enabled(&sa, "billing.invoices").await.unwrap());
    let other_p = platform(&r).await;
    assert!(
        r.set_feature(other_p, a, &f)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let bad = Feature {
        key: "Bad Key".into(),
        ..f
    };
    assert!(matches!(
        r.set_feature(p, a, &bad).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
}

/// Sub-tenants nest up to the limit; moves that would make a cycle or nest too
/// deep are refused.
pub async fn tenant_trees_have_a_depth_limit_and_no_cycles(stores: &Stores) {
    let clock = ManualClock::new();
    let r = Registry::open(
        stores.db.clone(),
        stores.kv.clone(),
        RegistryOptions::default()
            .with_clock(Arc::new(clock.clone()))
            .with_max_tenant_depth(2),
    )
    .await
    .unwrap();
    let p = platform(&r).await;
    let root = tenant(&r, p).await;
    let child = r
        .create_tenant(p, NewTenant::new(unique("c-"), "C").with_parent(root))
        .await
        .unwrap();
    assert_eq!(child.depth, 1);
    let grandchild = r
        .create_tenant(p, NewTenant::new(unique("g-"), "G").with_parent(child.id))
        .await
        .unwrap();
    assert_eq!(grandchild.depth, 2);
    let e = r
        .create_tenant(
            p,
            NewTenant::new(unique("x-"), "X").with_parent(grandchild.id),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    for target in [root, child.id, grandchild.id] {
        let e = r.reparent(p, root, Some(target)).await.unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }
    let other = tenant(&r, p).await;
    r.reparent(p, child.id, Some(other))
        .await
        .expect("moving a 2-level subtree under a top-level tenant fits");
    assert_eq!(r.tenant(p, grandchild.id).await.unwrap().depth, 2);
    let deep = r
        .create_tenant(p, NewTenant::new(unique("d-"), "D").with_parent(other))
        .await
        .unwrap();
    let e = r.reparent(p, child.id, Some(deep.id)).await.unwrap_err();
    assert!(e.to_string().contains("levels deep"), "{e}");
    r.reparent(p, child.id, None).await.unwrap();
    assert_eq!(r.tenant(p, child.id).await.unwrap().depth, 0);
    assert_eq!(r.tenant(p, grandchild.id).await.unwrap().depth, 1);
    let mut sub = r.subtree(p, child.id).await.unwrap();
    sub.sort();
    let mut want = vec![child.id, grandchild.id];
    want.sort();
    assert_eq!(sub, want);
}
