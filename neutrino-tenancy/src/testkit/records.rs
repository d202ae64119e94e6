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

/// A hostname is a platform's only as one of its hosts under exactly the
/// registry's base domain: platform P cannot record a DNS record or custom
/// hostname, nor claim a custom domain, under Q's cookie domain `.{q}.{base}`
/// (e.g. `auth.svc.default.{p}.{q}.{base}`, which reads as P's from the left).
pub async fn hostnames_are_a_platforms_only_under_the_base_domain(stores: &Stores) {
    use neutrino_core::ids::StackId;
    use neutrino_core::provision::ResourceKind;
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p, q) = (platform(&r).await, platform(&r).await);
    let base = r.base_domain().clone();
    let template = StackTemplate {
        name: "default".into(),
        version: 1,
        resources: vec![],
    };
    for id in [p, q] {
        r.create_stack(id, StackId::DEFAULT, &template)
            .await
            .expect("default stack");
    }
    let b = base.base();
    let record = |owner: PlatformId, kind: ResourceKind, host: String| ResourceRecord {
        platform: owner,
        stack: StackId::DEFAULT,
        kind,
        logical_name: host,
        provider: "testkit".into(),
        provider_id: None,
        status: ResourceStatus::Ready,
    };
    for kind in [ResourceKind::DnsRecord, ResourceKind::CustomHostname] {
        for (me, other) in [(p, q), (q, p)] {
            for host in [
                format!("auth.svc.default.{me}.{other}.{b}"),
                format!("shop.app.default.{me}.app.default.{other}.{b}"),
                format!("auth.svc.default.{me}.example.invalid"),
            ] {
                let e = r
                    .record_resource(&record(me, kind, host.clone()))
                    .await
                    .expect_err(&host);
                assert!(matches!(e, Error::InvalidInput { .. }), "{host}: {e:?}");
            }
            r.record_resource(&record(me, kind, base.auth_host(me, StackId::DEFAULT)))
                .await
                .expect("a platform's own host");
        }
    }
    let t = tenant(&r, p).await;
    for host in [format!("shop.{q}.{b}"), format!("{q}.{b}"), b.to_owned()] {
        let e = r.add_custom_domain(p, t, &host).await.expect_err(&host);
        assert!(matches!(e, Error::InvalidInput { .. }), "{host}: {e:?}");
    }
    r.add_custom_domain(p, t, &format!("{}.{p}.{b}", unique("shop-")))
        .await
        .expect("a custom domain under the platform's own part of the base");
    let mut names: Vec<(ResourceKind, String)> = r
        .resources(q)
        .await
        .unwrap()
        .into_iter()
        .map(|rec| (rec.kind, rec.logical_name))
        .collect();
    names.sort();
    let own = base.auth_host(q, StackId::DEFAULT);
    assert_eq!(
        names,
        vec![
            (ResourceKind::DnsRecord, own.clone()),
            (ResourceKind::CustomHostname, own)
        ]
    );
}
