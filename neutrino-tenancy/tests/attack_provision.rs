//! Attacks on provisioning's name ownership through the public API: a name that
//! parses as platform P's but lies inside platform Q's DNS namespace.

mod common;

use std::sync::Arc;

use neutrino_core::ids::{PlatformId, StackId};
use neutrino_core::memory::MemoryKv;
use neutrino_core::naming::Domain;
use neutrino_core::provision::ResourceKind;
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::provision::Plan;
use neutrino_tenancy::*;

use common::{platform, tenant};

/// A ready Cloudflare resource of `p`'s default stack named `host`.
fn ready(p: PlatformId, kind: ResourceKind, host: &str) -> ResourceRecord {
    ResourceRecord {
        platform: p,
        stack: StackId::DEFAULT,
        kind,
        logical_name: host.to_owned(),
        provider: "cloudflare".into(),
        provider_id: None,
        status: ResourceStatus::Ready,
    }
}

/// Platform P may not record (nor plan) a hostname under Q's cookie domain
/// `.{q}.{base}`: a host there receives Q's session cookies. The owner of a
/// hostname was parsed from its left labels under any base, so
/// `auth.svc.default.{p}.{q}.nno.app` "belonged" to P; now a hostname is P's
/// only as one of P's hosts under exactly the registry's base domain, and a
/// tenant's custom domain under the base must be under P's own `{p}.{base}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_cannot_claim_a_hostname_under_another_platforms_domain() {
    let db = Arc::new(SqliteExecutor::memory().await.unwrap());
    let r = neutrino_tenancy::testkit::memory_kv_registry(db).await;
    let p = platform(&r, "Attacker").await;
    let q = platform(&r, "Victim").await;
    let template = StackTemplate {
        name: "default".into(),
        version: 1,
        resources: vec![],
    };
    r.create_stack(p, StackId::DEFAULT, &template).await.ok();
    let base = Domain::default();
    let victim_cookie = base.cookie_domain(q);
    // A platform ID that shares all but its last character with Q's.
    let q_like: String = q.as_str()[..9]
        .chars()
        .chain([if q.as_str().ends_with('z') { 'y' } else { 'z' }])
        .collect();
    let mut admitted = Vec::new();
    let mut attempts = Vec::new();
    for kind in [ResourceKind::DnsRecord, ResourceKind::CustomHostname] {
        for host in [
            format!("auth.svc.default.{p}.{q}.nno.app"),
            format!("console.app.default.{p}.app.default.{q}.nno.app"),
            format!("shop.app.default.{p}.{q}.nno.app"),
            format!("x.app.default.{p}.{q}.{p}.nno.app"),
            format!("auth.svc.default.{p}.{q}.nno.app."),
            format!("AUTH.SVC.DEFAULT.{p}.{q}.NNO.APP"),
            format!("auth.svc.default.{p}.{q_like}.nno.app"),
            format!("auth.svc.default.{p}.nno.app.{q}.nno.app"),
            format!("auth.svc.default.{p}.x{q}.nno.app"),
            format!("auth.svc.default.{p}.example.com"),
            format!("auth.svc.default.{p}.nno.app.example.com"),
            format!("auth.svc.default.{p}.app"),
            format!("auth.svc.default.{q}.nno.app"),
        ] {
            attempts.push((kind, host));
        }
    }
    for (kind, host) in attempts {
        if r.record_resource(&ready(p, kind, &host)).await.is_ok() {
            admitted.push(format!("record {kind} {host}"));
        }
    }
    assert!(
        format!("auth.svc.default.{p}.{q}.nno.app").ends_with(&victim_cookie),
        "the attack's premise"
    );
    // P's own hosts under the configured base are P's.
    for kind in [ResourceKind::DnsRecord, ResourceKind::CustomHostname] {
        for host in [
            base.auth_host(p, StackId::DEFAULT),
            format!("shop.app.default.{p}.nno.app"),
        ] {
            r.record_resource(&ready(p, kind, &host))
                .await
                .unwrap_or_else(|e| panic!("{kind} {host}: {e}"));
        }
    }
    // A tenant's custom domain under another platform's domain, or under the
    // base domain outside P's own.
    let t = tenant(&r, p, "acme", "Acme").await;
    for host in [
        format!("shop.{q}.nno.app"),
        format!("{q}.nno.app"),
        format!("SHOP.{q}.NNO.APP."),
        format!("shop.{p}.{q}.nno.app"),
        format!("auth.svc.default.{q}.nno.app"),
        format!("x.{q_like}.nno.app"),
        "nno.app".to_owned(),
        "www.nno.app".to_owned(),
    ] {
        if r.add_custom_domain(p, t, &host).await.is_ok() {
            admitted.push(format!("custom domain {host}"));
        }
    }
    r.add_custom_domain(p, t, &format!("shop.{p}.nno.app"))
        .await
        .unwrap();
    r.add_custom_domain(p, t, "shop.nno.app.example.com")
        .await
        .unwrap();
    // A platform's app domain (its tenants' default hosts) likewise.
    for domain in [
        format!("{q}.nno.app"),
        format!("apps.{q}.nno.app"),
        format!("Apps.{q}.NNO.app."),
        format!("apps.{p}.{q}.nno.app"),
        "nno.app".to_owned(),
        "apps.nno.app".to_owned(),
    ] {
        let fresh = NewPlatform::new("Squatter", PlatformClass::Platform).with_app_domain(&domain);
        if r.create_platform(fresh).await.is_ok() {
            admitted.push(format!("app domain {domain}"));
        }
        let opened = NewPlatform::new(format!("Opener {domain}"), PlatformClass::Platform)
            .with_app_domain(format!("o.{domain}"));
        if r.open_or_create_platform(opened).await.is_ok() {
            admitted.push(format!("opened with app domain o.{domain}"));
        }
    }
    let own: neutrino_core::ids::PlatformId = "own0000001".parse().unwrap();
    r.create_platform(
        NewPlatform::new("Own", PlatformClass::Platform)
            .with_id(own)
            .with_app_domain(format!("apps.{own}.nno.app")),
    )
    .await
    .unwrap();
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
    // Any base but the configured one, even a plausible one.
    for other in ["example.com", "nno.app.example.com", "app.nno.app"] {
        let plan = Plan::bootstrap(p, &Domain::new(other).unwrap(), &[]);
        if prov.check(&plan).is_ok() {
            admitted.push(format!("plan under {other}"));
        }
    }
    prov.check(&Plan::bootstrap(p, &base, &[])).unwrap();
    assert!(admitted.is_empty(), "admitted: {admitted:#?}");
}

/// A tenant of platform P claims, as its custom domain, the default host that
/// platform Q's next tenant will get (`{slug}.{Q's app domain}`): the claim is
/// only pending, yet the host is taken for everyone, so Q cannot create that
/// tenant. A custom domain may not lie under any platform's app domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_domain_cannot_squat_another_platforms_default_hosts() {
    let db = Arc::new(SqliteExecutor::memory().await.unwrap());
    let r = neutrino_tenancy::testkit::memory_kv_registry(db).await;
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
    let a = tenant(&r, p, "attacker", "A").await;
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

/// The base domain is the registry's configuration: under a configured base,
/// hostnames under the default `nno.app` (or any other base) are no one's, and
/// plans must be built with the configured one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostnames_belong_to_a_platform_only_under_the_configured_base() {
    let db = Arc::new(SqliteExecutor::memory().await.unwrap());
    let base = Domain::new("Platforms.Example.COM.").unwrap();
    let r = Registry::open(
        db,
        Arc::new(MemoryKv::new()),
        RegistryOptions::default().with_base_domain(base.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.base_domain(), &base);
    let p = platform(&r, "P").await;
    let q = platform(&r, "Q").await;
    let record = |host: String| ready(p, ResourceKind::DnsRecord, &host);
    r.create_stack(
        p,
        StackId::DEFAULT,
        &StackTemplate {
            name: "default".into(),
            version: 1,
            resources: vec![],
        },
    )
    .await
    .unwrap();
    for host in [
        format!("auth.svc.default.{p}.nno.app"),
        format!("auth.svc.default.{p}.{q}.platforms.example.com"),
        format!("auth.svc.default.{p}.example.com"),
    ] {
        assert!(
            r.record_resource(&record(host.clone())).await.is_err(),
            "{host}"
        );
    }
    r.record_resource(&record(base.auth_host(p, StackId::DEFAULT)))
        .await
        .unwrap();
    let prov = provision::Provisioning::new(
        r.clone(),
        Arc::new(neutrino_core::memory::MemoryProvisioner::new()),
    );
    assert!(
        prov.check(&Plan::bootstrap(p, &Domain::default(), &[]))
            .is_err()
    );
    let plan = Plan::bootstrap(p, r.base_domain(), &[]);
    prov.apply(&plan).await.unwrap();
    assert!(prov.verify(p).await.unwrap().is_clean());
    // Custom domains: under Q's part of the base, no; under P's own, yes.
    let t = tenant(&r, p, "acme", "Acme").await;
    assert!(
        r.add_custom_domain(p, t, &format!("shop.{q}.platforms.example.com"))
            .await
            .is_err()
    );
    r.add_custom_domain(p, t, &format!("shop.{q}.nno.app"))
        .await
        .unwrap();
    r.add_custom_domain(p, t, &format!("shop.{p}.platforms.example.com"))
        .await
        .unwrap();
}
