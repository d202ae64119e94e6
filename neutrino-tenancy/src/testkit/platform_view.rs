//! The platform view ([`PlatformRegistry`]): it reaches only its platform, and
//! answers as the registry does for that platform.

use neutrino_core::ids::StackId;
use neutrino_core::provision::ResourceKind;

use super::*;

/// Two platforms, each with a tenant, an active custom domain, a stack, a
/// resource record, a feature and an operator scope.
struct World {
    r: Registry,
    p: [PlatformId; 2],
    t: [TenantId; 2],
    slug: [String; 2],
    host: [String; 2],
    stack: [StackId; 2],
    db_name: [String; 2],
    scope: [TenantScope; 2],
}

fn feature(enabled: bool) -> Feature {
    Feature {
        key: "billing.invoices".into(),
        version: 1,
        enabled,
        config: serde_json::json!({ "limit": 3 }),
    }
}

async fn world(stores: &Stores, clock: &ManualClock) -> World {
    let r = registry(stores, clock).await;
    let domain = format!("{}.example.com", unique("app"));
    let mut p = Vec::new();
    let mut t = Vec::new();
    let mut slug = Vec::new();
    let mut host = Vec::new();
    let mut stack = Vec::new();
    let mut db_name = Vec::new();
    let mut scope = Vec::new();
    for i in 0..2 {
        let id = r
            .create_platform(
                NewPlatform::new("Viewed", PlatformClass::Platform)
                    .with_app_domain(format!("p{i}.{domain}")),
            )
            .await
            .unwrap()
            .id;
        let view = r.platform(id);
        let s = unique("t-");
        let tenant = view
            .create_tenant(NewTenant::new(s.as_str(), "Viewed tenant"))
            .await
            .unwrap()
            .id;
        let h = format!("{}.example.org", unique("v"));
        view.add_custom_domain(tenant, &h).await.unwrap();
        view.verify_custom_domain(&h).await.unwrap();
        view.activate_custom_domain(&h).await.unwrap();
        let st = StackId::generate();
        view.create_stack(
            st,
            &StackTemplate {
                name: "web".into(),
                version: 1,
                resources: vec![],
            },
        )
        .await
        .unwrap();
        let name = format!("{id}-default-auth-db");
        view.record_resource(&resource(id, &name, ResourceStatus::Ready))
            .await
            .unwrap();
        view.set_feature(tenant, &feature(true)).await.unwrap();
        let sc = view
            .operator_scope(tenant, "testkit", "view case")
            .await
            .unwrap();
        p.push(id);
        t.push(tenant);
        slug.push(s);
        host.push(h);
        stack.push(st);
        db_name.push(name);
        scope.push(sc);
    }
    World {
        r,
        p: two(p),
        t: two(t),
        slug: two(slug),
        host: two(host),
        stack: two(stack),
        db_name: two(db_name),
        scope: two(scope),
    }
}

fn two<T>(v: Vec<T>) -> [T; 2] {
    let mut v = v.into_iter();
    match (v.next(), v.next()) {
        (Some(a), Some(b)) => [a, b],
        _ => panic!("two values expected"),
    }
}

fn not_found<T: std::fmt::Debug>(what: &str, out: neutrino_core::Result<T>) {
    match out {
        Err(e) if e.is_not_found() => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// A view of one platform cannot read, write or move another platform's
/// tenant, host, stack, resource, feature or scope by ID: every such call is
/// `NotFound` (a resource record of another platform is `InvalidInput`), and
/// the other platform's records are unchanged. Lists hold only the view's own
/// records; a view of an unknown platform finds nothing and writes nothing.
pub async fn a_platform_view_reaches_only_its_platform(stores: &Stores) {
    let clock = ManualClock::new();
    let w = world(stores, &clock).await;
    let (own, theirs) = (w.r.platform(w.p[1]), w.r.platform(w.p[0]));
    assert_eq!(own.id(), w.p[1]);
    // Everything the other platform's view reads.
    let snapshot = async || {
        (
            theirs.tenants().await.unwrap(),
            theirs.hosts(w.t[0]).await.unwrap(),
            theirs.stacks().await.unwrap(),
            theirs.resources().await.unwrap(),
            theirs
                .feature(&w.scope[0], "billing.invoices")
                .await
                .unwrap(),
            theirs.audit_log().await.unwrap(),
        )
    };
    let before = snapshot().await;

    // Reads.
    not_found("tenant", own.tenant(w.t[0]).await);
    not_found("tenant_by_slug", own.tenant_by_slug(&w.slug[0]).await);
    not_found("subtree", own.subtree(w.t[0]).await);
    assert!(own.hosts(w.t[0]).await.unwrap().is_empty());
    not_found("stack", own.stack(w.stack[0]).await);
    not_found(
        "resource",
        own.resource(ResourceKind::Database, &w.db_name[0]).await,
    );
    not_found(
        "feature",
        own.feature(&w.scope[0], "billing.invoices").await,
    );
    not_found(
        "is_enabled",
        own.is_enabled(&w.scope[0], "billing.invoices").await,
    );
    assert_eq!(own.resolve(&w.host[0]).await.unwrap(), None);
    assert_eq!(own.resolve(&w.host[1]).await.unwrap(), Some(w.t[1]));
    assert_eq!(theirs.resolve(&w.host[0]).await.unwrap(), Some(w.t[0]));
    let tenants = own.tenants().await.unwrap();
    assert_eq!(
        tenants.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![w.t[1]]
    );
    let (stacks, resources) = (own.stacks().await.unwrap(), own.resources().await.unwrap());
    assert!(stacks.iter().all(|s| s.platform == w.p[1]));
    assert!(resources.iter().all(|r| r.platform == w.p[1]));
    let log = own.audit_log().await.unwrap();
    assert!(
        log.iter()
            .all(|e| e.platform == w.p[1] && e.tenant != Some(w.t[0]))
    );

    // Writes.
    not_found(
        "create_tenant under another platform's parent",
        own.create_tenant(NewTenant::new(unique("c-"), "Child").with_parent(w.t[0]))
            .await,
    );
    not_found("reparent", own.reparent(w.t[0], None).await);
    not_found(
        "reparent under another platform's tenant",
        own.reparent(w.t[1], Some(w.t[0])).await,
    );
    not_found(
        "add_custom_domain",
        own.add_custom_domain(w.t[0], &format!("{}.example.org", unique("x")))
            .await,
    );
    not_found(
        "verify_custom_domain",
        own.verify_custom_domain(&w.host[0]).await,
    );
    not_found(
        "activate_custom_domain",
        own.activate_custom_domain(&w.host[0]).await,
    );
    not_found("remove_host", own.remove_host(&w.host[0]).await);
    not_found(
        "set_stack_status",
        own.set_stack_status(w.stack[0], true).await,
    );
    not_found(
        "set_feature",
        own.set_feature(w.t[0], &feature(false)).await,
    );
    not_found(
        "operator_scope",
        own.operator_scope(w.t[0], "testkit", "cross-platform attempt")
            .await,
    );
    let foreign = resource(w.p[0], &w.db_name[0], ResourceStatus::Deleted);
    assert!(matches!(
        own.record_resource(&foreign).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    let misnamed = resource(w.p[1], &w.db_name[0], ResourceStatus::Deleted);
    assert!(matches!(
        own.record_resource(&misnamed).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));

    // The other platform is as it was.
    let after = snapshot().await;
    assert_eq!(before, after);
    assert_eq!(theirs.resolve(&w.host[0]).await.unwrap(), Some(w.t[0]));
    assert_eq!(theirs.stack(w.stack[0]).await.unwrap().status, "active");

    // A view of a platform that does not exist.
    let ghost = w.r.platform(PlatformId::generate());
    not_found("record", ghost.record().await);
    not_found("check_active", ghost.check_active().await);
    not_found(
        "create_tenant",
        ghost
            .create_tenant(NewTenant::new(unique("g-"), "Ghost"))
            .await,
    );
    not_found("tenant", ghost.tenant(w.t[0]).await);
    not_found(
        "operator_scope",
        ghost.operator_scope(w.t[0], "testkit", "ghost").await,
    );
    assert!(ghost.tenants().await.unwrap().is_empty());
}

/// Every operation of a platform's view answers what the registry answers for
/// that platform: the same records, the same status, and the same refusals
/// once the platform is suspended.
pub async fn a_platform_view_answers_as_the_registry(stores: &Stores) {
    let clock = ManualClock::new();
    let w = world(stores, &clock).await;
    let (r, p, t) = (&w.r, w.p[0], w.t[0]);
    let view = r.platform(p);
    let child = view
        .create_tenant(NewTenant::new(unique("c-"), "Child").with_parent(t))
        .await
        .unwrap();
    assert_eq!(r.tenant(p, child.id).await.unwrap(), child);
    assert_eq!(
        view.record().await.unwrap(),
        r.platform_record(p).await.unwrap()
    );
    assert_eq!(
        view.status().await.unwrap(),
        r.platform_status(p).await.unwrap()
    );
    assert_eq!(
        view.repair_status().await.unwrap(),
        r.repair_platform_status(p).await.unwrap()
    );
    assert_eq!(view.tenants().await.unwrap(), r.tenants(p).await.unwrap());
    assert_eq!(view.tenant(t).await.unwrap(), r.tenant(p, t).await.unwrap());
    assert_eq!(
        view.tenant_by_slug(&w.slug[0]).await.unwrap(),
        r.tenant_by_slug(p, &w.slug[0]).await.unwrap()
    );
    assert_eq!(
        view.subtree(t).await.unwrap(),
        r.subtree(p, t).await.unwrap()
    );
    assert_eq!(view.hosts(t).await.unwrap(), r.hosts(p, t).await.unwrap());
    assert_eq!(
        view.resolve(&w.host[0]).await.unwrap(),
        r.resolve(&w.host[0]).await.unwrap().map(|(_, t)| t)
    );
    assert_eq!(view.stacks().await.unwrap(), r.stacks(p).await.unwrap());
    assert_eq!(
        view.stack(w.stack[0]).await.unwrap(),
        r.stack(p, w.stack[0]).await.unwrap()
    );
    assert_eq!(
        view.resources().await.unwrap(),
        r.resources(p).await.unwrap()
    );
    assert_eq!(
        view.resource(ResourceKind::Database, &w.db_name[0])
            .await
            .unwrap(),
        r.resource(p, ResourceKind::Database, &w.db_name[0])
            .await
            .unwrap()
    );
    assert_eq!(
        view.feature(&w.scope[0], "billing.invoices").await.unwrap(),
        r.feature(&w.scope[0], "billing.invoices").await.unwrap()
    );
    assert!(
        view.is_enabled(&w.scope[0], "billing.invoices")
            .await
            .unwrap()
    );
    view.reparent(child.id, None).await.unwrap();
    assert_eq!(r.tenant(p, child.id).await.unwrap().parent, None);
    view.set_stack_status(w.stack[0], true).await.unwrap();
    assert_eq!(r.stack(p, w.stack[0]).await.unwrap().status, "deleted");
    let scope = view
        .operator_scope(child.id, "ops", "view audit")
        .await
        .unwrap();
    assert_eq!((scope.platform(), scope.tenant()), (p, child.id));
    let log = view.audit_log().await.unwrap();
    assert_eq!(log, r.audit_log(p).await.unwrap());
    assert_eq!(log.last().map(|e| e.reason.as_str()), Some("view audit"));
    view.remove_host(&w.host[0]).await.unwrap();
    assert_eq!(r.resolve(&w.host[0]).await.unwrap(), None);

    // Suspended: the view refuses as the registry does.
    r.suspend(p, "ops", "view case").await.unwrap();
    assert_eq!(view.status().await.unwrap(), PlatformStatus::Suspended);
    let suspended = |e: Error| assert!(matches!(e, Error::Suspended { .. }), "{e:?}");
    suspended(view.check_active().await.unwrap_err());
    suspended(
        view.create_tenant(NewTenant::new(unique("s-"), "Late"))
            .await
            .unwrap_err(),
    );
    suspended(view.set_feature(t, &feature(false)).await.unwrap_err());
    suspended(view.operator_scope(t, "ops", "late").await.unwrap_err());
    suspended(
        view.feature(&w.scope[0], "billing.invoices")
            .await
            .unwrap_err(),
    );
    // The other platform is untouched by the suspension.
    r.platform(w.p[1]).check_active().await.unwrap();
}

/// A tenant ID names one tenant in the whole registry: another platform's
/// view cannot register a tenant under it (a row of that platform's auth
/// database claiming it is refused, not made a second tenant), and nothing
/// is written; under a fresh ID, the same slug is the other platform's own.
pub async fn a_tenant_id_names_one_tenant_in_the_registry(stores: &Stores) {
    let clock = ManualClock::new();
    let w = world(stores, &clock).await;
    let (own, theirs) = (w.r.platform(w.p[1]), w.r.platform(w.p[0]));
    let before = own.tenants().await.unwrap();
    let e = own
        .create_tenant(NewTenant::new(unique("copy"), "Copy").with_id(w.t[0]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::AlreadyExists {
                entity: "tenant",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(own.tenant(w.t[0]).await.unwrap_err().is_not_found());
    assert_eq!(own.tenants().await.unwrap(), before);
    assert_eq!(theirs.tenant(w.t[0]).await.unwrap().slug, w.slug[0]);
    // Its own ID again is the usual duplicate.
    assert!(
        own.create_tenant(NewTenant::new(unique("again"), "Again").with_id(w.t[1]))
            .await
            .unwrap_err()
            .is_already_exists()
    );
    own.create_tenant(NewTenant::new(w.slug[0].as_str(), "Same slug"))
        .await
        .unwrap();
}

/// Creations of one new tenant ID on both platforms at once: the database
/// decides, exactly one platform gets the tenant, every other creation is
/// [`Error::AlreadyExists`] and writes nothing.
pub async fn concurrent_creations_of_one_tenant_id_make_one_tenant(stores: &Stores) {
    let clock = ManualClock::new();
    let w = world(stores, &clock).await;
    for _ in 0..3 {
        let id = TenantId::generate();
        let calls = (0..8).map(|i| {
            let view = w.r.platform(w.p[i % 2]);
            async move {
                view.create_tenant(NewTenant::new(unique("race"), "Race").with_id(id))
                    .await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        let made: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(made.len(), 1, "{results:?}");
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(e.is_already_exists(), "{e:?}");
        }
        let owners = [
            w.r.platform(w.p[0]).tenant(id).await.is_ok(),
            w.r.platform(w.p[1]).tenant(id).await.is_ok(),
        ];
        assert_eq!(owners.iter().filter(|o| **o).count(), 1, "{owners:?}");
    }
}
