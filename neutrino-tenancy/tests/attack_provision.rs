//! Attacks on provisioning's name ownership through the public API: a name that
//! parses as platform P's but lies inside platform Q's DNS namespace.

use std::sync::Arc;

use neutrino_core::ids::StackId;
use neutrino_core::memory::MemoryKv;
use neutrino_core::naming::Domain;
use neutrino_core::provision::ResourceKind;
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::provision::Plan;
use neutrino_tenancy::*;

/// Platform P may not record (nor plan) a hostname under Q's cookie domain
/// `.{q}.{base}`: a host there receives Q's session cookies. The owner of a
/// hostname is parsed from its left labels, and any base is accepted, so
/// `auth.svc.default.{p}.{q}.nno.app` "belongs" to P.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "defect: a hostname's base is free, so P's name can sit under Q's cookie domain"]
async fn a_platform_cannot_claim_a_hostname_under_another_platforms_domain() {
    let db = Arc::new(SqliteExecutor::memory().await.unwrap());
    let r = Registry::open(db, Arc::new(MemoryKv::new()), RegistryOptions::default())
        .await
        .unwrap();
    let p = r
        .create_platform(NewPlatform::new("Attacker", PlatformClass::Platform))
        .await
        .unwrap()
        .id;
    let q = r
        .create_platform(NewPlatform::new("Victim", PlatformClass::Platform))
        .await
        .unwrap()
        .id;
    let template = StackTemplate {
        name: "default".into(),
        version: 1,
        resources: vec![],
    };
    r.create_stack(p, StackId::DEFAULT, &template).await.ok();
    let base = Domain::default();
    let victim_cookie = base.cookie_domain(q);
    let mut admitted = Vec::new();
    for (kind, host) in [
        (
            ResourceKind::DnsRecord,
            format!("auth.svc.default.{p}.{q}.nno.app"),
        ),
        (
            ResourceKind::DnsRecord,
            format!("console.app.default.{p}.app.default.{q}.nno.app"),
        ),
        (
            ResourceKind::CustomHostname,
            format!("shop.app.default.{p}.{q}.nno.app"),
        ),
    ] {
        assert!(host.ends_with(&victim_cookie), "{host}");
        let rec = ResourceRecord {
            platform: p,
            stack: StackId::DEFAULT,
            kind,
            logical_name: host.clone(),
            provider: "cloudflare".into(),
            provider_id: None,
            status: ResourceStatus::Ready,
        };
        if r.record_resource(&rec).await.is_ok() {
            admitted.push(format!("record {host}"));
        }
    }
    // The same through a plan built with a base under Q's domain.
    let under_q = Domain::new(&format!("{q}.nno.app")).unwrap();
    let plan = Plan::bootstrap(p, &under_q, &[]);
    let creates: Vec<String> = plan
        .creates()
        .filter(|s| s.kind == ResourceKind::DnsRecord)
        .map(|s| s.name.clone())
        .collect();
    let prov = provision::Provisioning::new(
        r.clone(),
        Arc::new(neutrino_core::memory::MemoryProvisioner::new()),
    );
    if prov.check(&plan).is_ok() {
        admitted.push(format!("plan creating {creates:?}"));
    }
    assert!(admitted.is_empty(), "admitted: {admitted:#?}");
}

/// A tenant of platform P claims, as its custom domain, the default host that
/// platform Q's next tenant will get (`{slug}.{Q's app domain}`): the claim is
/// only pending, yet the host is taken for everyone, so Q cannot create that
/// tenant. A custom domain may not lie under any platform's app domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_domain_cannot_squat_another_platforms_default_hosts() {
    let db = Arc::new(SqliteExecutor::memory().await.unwrap());
    let r = Registry::open(db, Arc::new(MemoryKv::new()), RegistryOptions::default())
        .await
        .unwrap();
    let p = r
        .create_platform(
            NewPlatform::new("Attacker", PlatformClass::Platform).with_app_domain("p.example.com"),
        )
        .await
        .unwrap()
        .id;
    let q = r
        .create_platform(
            NewPlatform::new("Victim", PlatformClass::Platform).with_app_domain("q.example.com"),
        )
        .await
        .unwrap()
        .id;
    let a = r
        .create_tenant(p, NewTenant::new("attacker", "A"))
        .await
        .unwrap()
        .id;
    let mut admitted = Vec::new();
    for host in [
        "beta.q.example.com",
        "BETA.Q.EXAMPLE.COM.",
        "q.example.com",
        "x.y.q.example.com",
        "gamma.p.example.com",
    ] {
        if r.add_custom_domain(p, a, host).await.is_ok() {
            admitted.push(host);
        }
    }
    let beta = r.create_tenant(q, NewTenant::new("beta", "B")).await;
    assert!(beta.is_ok(), "Q's tenant: {beta:?}; admitted {admitted:?}");
    assert_eq!(
        r.resolve("beta.q.example.com")
            .await
            .unwrap()
            .map(|(pl, _)| pl),
        Some(q)
    );
    assert!(admitted.is_empty(), "admitted: {admitted:?}");
    // A custom domain elsewhere is fine.
    r.add_custom_domain(p, a, "shop.attacker.test")
        .await
        .unwrap();
}
