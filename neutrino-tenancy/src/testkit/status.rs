//! Platform status: suspension, shared handles, refused writes, the KV mirror.

use super::*;

/// Writes a platform's status as another process's registry would (the row,
/// then the KV mirror), without touching this process's shared state.
async fn change_status_elsewhere(stores: &Stores, p: PlatformId, status: &str) {
    stores
        .db
        .execute(
            &Statement::new(r#"UPDATE "neutrino_platform" SET "status" = ?2 WHERE "id" = ?1"#)
                .bind(p.as_str())
                .bind(status),
        )
        .await
        .unwrap();
    stores
        .kv
        .put(
            &platform_status_key(p),
            status.as_bytes().to_vec().into(),
            None,
        )
        .await
        .unwrap();
}

/// The platform's status as KV holds it.
async fn kv_status(stores: &Stores, p: PlatformId) -> Option<Vec<u8>> {
    let value = stores.kv.get(&platform_status_key(p)).await.unwrap();
    value.map(|v| v.to_vec())
}

/// Suspension: at once through every handle on the database in this process,
/// after at most the status TTL for a change made by another process; KV
/// carries the status; reinstating restores access.
pub async fn suspension_stops_scopes_within_the_status_ttl(stores: &Stores) {
    let clock = ManualClock::new();
    let here = registry(stores, &clock).await;
    let other_handle = registry(stores, &clock).await;
    let p = platform(&here).await;
    let a = tenant(&here, p).await;
    let t = items();
    let s_here = store(&here, stores, &[&t]).await;
    let s_other = store(&other_handle, stores, &[&t]).await;
    let sa = scope(&here, p, a).await;
    let id = s_here
        .insert(&sa, &t, Record::new().set("label", "x"))
        .await
        .unwrap();
    s_other
        .get(&sa, &t, &id)
        .await
        .expect("warms the other handle's view");

    here.suspend(p, "ops@neutrino", "unpaid invoice")
        .await
        .unwrap();
    let e = s_here.get(&sa, &t, &id).await.unwrap_err();
    assert!(
        matches!(e, Error::Suspended { .. }),
        "immediate here: {e:?}"
    );
    let e = s_other.get(&sa, &t, &id).await.unwrap_err();
    assert!(
        matches!(e, Error::Suspended { .. }),
        "immediate through another handle on the same database: {e:?}"
    );
    assert_eq!(
        kv_status(stores, p).await.as_deref(),
        Some(&b"suspended"[..])
    );
    assert!(matches!(
        here.operator_scope(p, a, "ops", "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert!(matches!(
        here.is_enabled(&sa, "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));

    here.reinstate(p, "ops@neutrino", "paid").await.unwrap();
    s_here.get(&sa, &t, &id).await.expect("reinstated here");
    s_other
        .get(&sa, &t, &id)
        .await
        .expect("reinstated through the other handle");

    // A suspension by another process is seen once the cached status expires.
    change_status_elsewhere(stores, p, "suspended").await;
    clock.advance(Duration::from_secs(59));
    s_here
        .get(&sa, &t, &id)
        .await
        .expect("still cached as active before the TTL");
    clock.advance(Duration::from_secs(2));
    let e = s_here.get(&sa, &t, &id).await.unwrap_err();
    assert!(matches!(e, Error::Suspended { .. }), "after the TTL: {e:?}");
    change_status_elsewhere(stores, p, "active").await;
    clock.advance(Duration::from_secs(61));
    s_here
        .get(&sa, &t, &id)
        .await
        .expect("reinstated after the TTL");

    // A KV miss is repaired from the registry.
    stores.kv.delete(&platform_status_key(p)).await.unwrap();
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        here.platform_status(p).await.unwrap(),
        PlatformStatus::Active
    );
    assert_eq!(kv_status(stores, p).await.as_deref(), Some(&b"active"[..]));
    let actions: Vec<String> = here
        .audit_log(p)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"suspend".to_string()) && actions.contains(&"reinstate".to_string()));
}

/// Two registry handles on one database share the status cache and the scope
/// minter: a suspension through one stops the other at once, and the second
/// `scope_minter()` is refused whichever handle asks. The second handle is
/// opened on an executor object of its own (still the same database), so it
/// proves by the registry's probe that its database is the first one's.
pub async fn handles_on_one_database_share_status_and_the_minter(stores: &Stores) {
    let clock = ManualClock::new();
    let one = registry(stores, &clock).await;
    let other = Stores {
        db: Arc::new(stores.db.clone()),
        kv: stores.kv.clone(),
        tenant_db: stores.tenant_db.clone(),
    };
    let two = registry(&other, &clock).await;
    let p = platform(&one).await;
    let a = tenant(&one, p).await;
    let minter = two.scope_minter().expect("the first minter");
    assert!(matches!(
        one.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    assert!(matches!(
        registry(stores, &clock).await.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    let third = Stores {
        db: Arc::new(other.db.clone()),
        kv: stores.kv.clone(),
        tenant_db: stores.tenant_db.clone(),
    };
    assert!(matches!(
        registry(&third, &clock).await.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    minter.mint(p, a).await.expect("warm: active");
    assert_eq!(
        two.platform_status(p).await.unwrap(),
        PlatformStatus::Active
    );
    one.suspend(p, "ops", "test").await.unwrap();
    assert!(matches!(
        minter.mint(p, a).await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert_eq!(
        two.platform_status(p).await.unwrap(),
        PlatformStatus::Suspended
    );
    assert!(matches!(
        two.operator_scope(p, a, "ops", "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));
    two.reinstate(p, "ops", "test").await.unwrap();
    minter
        .mint(p, a)
        .await
        .expect("reinstated through the other handle");
    one.mark_platform_deleted(p, "ops", "test").await.unwrap();
    assert!(minter.mint(p, a).await.unwrap_err().is_not_found());

    // A minter narrowed to one platform mints only for it.
    let q = platform(&one).await;
    let b = tenant(&one, q).await;
    let only_q = minter.restricted_to(q).unwrap();
    only_q.mint(q, b).await.expect("its own platform");
    assert!(matches!(
        only_q.mint(p, a).await.unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    assert!(matches!(
        only_q.restricted_to(p).unwrap_err(),
        Error::PermissionDenied { .. }
    ));
}

/// Every platform write is refused for a suspended platform (`Suspended`) and a
/// deleted one (`NotFound`), through a fresh handle too; status changes and
/// teardown bookkeeping still work.
pub async fn suspended_and_deleted_platforms_refuse_every_write(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let domain = format!("{}.example.com", unique("app"));
    let p = r
        .create_platform(
            NewPlatform::new("Stopped", PlatformClass::Platform).with_app_domain(domain.as_str()),
        )
        .await
        .unwrap()
        .id;
    let a = tenant(&r, p).await;
    let b = tenant(&r, p).await;
    let pending = format!("{}.example.org", unique("p"));
    let verified = format!("{}.example.org", unique("v"));
    let active = format!("{}.example.org", unique("a"));
    for h in [&pending, &verified, &active] {
        r.add_custom_domain(p, a, h).await.unwrap();
    }
    r.verify_custom_domain(p, &verified).await.unwrap();
    r.verify_custom_domain(p, &active).await.unwrap();
    r.activate_custom_domain(p, &active).await.unwrap();
    let template = StackTemplate {
        name: "web".into(),
        version: 1,
        resources: vec![],
    };
    let stack: neutrino_core::ids::StackId = "web0000001".parse().unwrap();
    r.create_stack(p, stack, &template).await.unwrap();
    let db_name = format!("{p}-default-auth-db");
    r.record_resource(&resource(p, &db_name, ResourceStatus::Ready))
        .await
        .unwrap();
    for (stop, expect_suspended) in [("suspend", true), ("delete", false)] {
        let before = (
            r.tenants(p).await.unwrap(),
            r.hosts(p, a).await.unwrap(),
            r.stacks(p).await.unwrap(),
            r.resources(p).await.unwrap(),
        );
        if stop == "suspend" {
            r.suspend(p, "ops", "test").await.unwrap();
        } else {
            r.mark_platform_deleted(p, "ops", "test").await.unwrap();
        }
        // A fresh handle (empty cache) and the suspending one.
        let fresh = registry(stores, &clock).await;
        for h in [&r, &fresh] {
            let refused = |e: Error| {
                if expect_suspended {
                    assert!(matches!(e, Error::Suspended { .. }), "{stop}: {e:?}");
                } else {
                    assert!(e.is_not_found(), "{stop}: {e:?}");
                }
            };
            refused(
                h.create_tenant(p, NewTenant::new(unique("t-"), "New"))
                    .await
                    .unwrap_err(),
            );
            refused(
                h.create_tenant(p, NewTenant::new(unique("t-"), "Sub").with_parent(a))
                    .await
                    .unwrap_err(),
            );
            refused(h.reparent(p, b, Some(a)).await.unwrap_err());
            refused(
                h.set_feature(
                    p,
                    a,
                    &Feature {
                        key: "beta".into(),
                        version: 1,
                        enabled: true,
                        config: serde_json::json!({}),
                    },
                )
                .await
                .unwrap_err(),
            );
            refused(
                h.add_custom_domain(p, a, &format!("{}.example.org", unique("n")))
                    .await
                    .unwrap_err(),
            );
            refused(h.verify_custom_domain(p, &pending).await.unwrap_err());
            refused(h.activate_custom_domain(p, &verified).await.unwrap_err());
            refused(h.remove_host(p, &active).await.unwrap_err());
            refused(
                h.create_stack(p, "web0000002".parse().unwrap(), &template)
                    .await
                    .unwrap_err(),
            );
            refused(h.set_stack_status(p, stack, false).await.unwrap_err());
            for status in [
                ResourceStatus::Pending,
                ResourceStatus::Ready,
                ResourceStatus::Failed,
            ] {
                let in_web_stack = ResourceRecord {
                    stack,
                    ..resource(
                        p,
                        neutrino_core::naming::ResourceName::new(
                            p,
                            stack,
                            neutrino_core::naming::ResourceRole::Database,
                        )
                        .unwrap()
                        .as_str(),
                        status,
                    )
                };
                refused(h.record_resource(&in_web_stack).await.unwrap_err());
                refused(
                    h.record_resource(&resource(p, &db_name, status))
                        .await
                        .unwrap_err(),
                );
            }
            refused(h.operator_scope(p, a, "ops", "look").await.unwrap_err());
        }
        assert_eq!(
            (
                r.tenants(p).await.unwrap(),
                r.hosts(p, a).await.unwrap(),
                r.stacks(p).await.unwrap(),
                r.resources(p).await.unwrap(),
            ),
            before,
            "{stop}: nothing changed"
        );
        if stop == "suspend" {
            r.reinstate(p, "ops", "test").await.unwrap();
            r.create_tenant(p, NewTenant::new(unique("t-"), "Back"))
                .await
                .expect("reinstated: writes work again");
            let spare = format!("{}.example.org", unique("s"));
            r.add_custom_domain(p, b, &spare).await.expect("reinstated");
            r.remove_host(p, &spare).await.expect("reinstated");
        }
    }
    // Teardown bookkeeping works on a deleted platform.
    r.record_resource(&resource(p, &db_name, ResourceStatus::Deleted))
        .await
        .expect("a tombstone");
    r.set_stack_status(p, stack, true)
        .await
        .expect("a stack tombstone");
    assert!(r.reinstate(p, "ops", "undo").await.is_err());
    assert_eq!(r.platform_status(p).await.unwrap(), PlatformStatus::Deleted);
    // Unknown platforms: NotFound, and nothing is mirrored for them.
    let ghost = PlatformId::generate();
    assert!(
        r.suspend(ghost, "ops", "x")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        r.create_tenant(ghost, NewTenant::new("x", "X"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(kv_status(stores, ghost).await.is_none());
}

/// Writes through another handle racing a suspension: once `suspend` has
/// returned, no write of the platform succeeds, and every write that answered
/// `Ok` is in the registry.
pub async fn writes_racing_a_suspension_stop_when_it_returns(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let other = registry(stores, &clock).await;
    let p = platform(&r).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let suspended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (other, stop, suspended) = (other.clone(), stop.clone(), suspended.clone());
        writers.push(tokio::spawn(async move {
            let mut created = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let after = suspended.load(std::sync::atomic::Ordering::SeqCst);
                let slug = format!("w{w}-{i}-{}", unique("t"));
                i += 1;
                match other.create_tenant(p, NewTenant::new(&slug, "Racer")).await {
                    Ok(t) => {
                        assert!(!after, "a tenant was created after suspend returned");
                        created.push(t.id);
                    }
                    Err(Error::Suspended { .. }) => {}
                    Err(e) => panic!("unexpected: {e:?}"),
                }
                tokio::task::yield_now().await;
            }
            created
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    r.suspend(p, "ops", "race").await.unwrap();
    suspended.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut created = Vec::new();
    for w in writers {
        created.extend(w.await.expect("writer"));
    }
    let in_registry: Vec<TenantId> = r
        .tenants(p)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(created.len(), in_registry.len());
    for t in created {
        assert!(in_registry.contains(&t));
    }
}

/// The registry is the truth and KV its mirror: whatever KV says after a crash
/// between the two writes, the next status read answers the registry's status
/// and repairs KV; so does an explicit repair.
pub async fn the_status_mirror_converges_to_the_registry(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    let key = platform_status_key(p);
    let mirror = || async {
        String::from_utf8(
            stores
                .kv
                .get(&key)
                .await
                .unwrap()
                .unwrap_or_default()
                .to_vec(),
        )
        .unwrap()
    };
    assert_eq!(mirror().await, "active", "create_platform mirrors");
    // KV says deleted (a crash after the mirror write of a delete): the
    // registry's `active` wins, the platform keeps working.
    for (kv, truth) in [
        ("deleted", "active"),
        ("suspended", "active"),
        ("garbage", "active"),
    ] {
        stores
            .kv
            .put(&key, kv.as_bytes().to_vec().into(), None)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(61));
        assert_eq!(r.platform_status(p).await.unwrap().as_str(), truth);
        assert_eq!(mirror().await, truth);
        r.operator_scope(p, a, "ops", "works")
            .await
            .expect("active");
    }
    // Registry says suspended but KV says active (a crash before the mirror):
    // repaired to suspended.
    change_status_elsewhere(stores, p, "suspended").await;
    stores
        .kv
        .put(&key, b"active".to_vec().into(), None)
        .await
        .unwrap();
    assert_eq!(
        r.repair_platform_status(p).await.unwrap(),
        PlatformStatus::Suspended
    );
    assert_eq!(mirror().await, "suspended");
    assert!(matches!(
        r.operator_scope(p, a, "ops", "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert!(
        r.repair_platform_status(PlatformId::generate())
            .await
            .unwrap_err()
            .is_not_found()
    );
}
