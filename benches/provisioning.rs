//! Provisioning speed: a platform's bootstrap on the embedded default
//! (target ≤ 50 ms, migrations included), and bootstrap + one stack through a
//! provisioner that takes 50 ms per call (target: about the plan's critical
//! path, ≤ 4 × 50 ms plus overhead, not the sum of its steps).
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use neutrino::async_trait;
use neutrino::ids::{PlatformId, StackId};
use neutrino::memory::{MemoryKv, MemoryProvisioner};
use neutrino::naming::{Domain, ResourceRole};
use neutrino::provision::{Provisioner, Resource, ResourceKind, ResourceSpec};
use neutrino::sqlite::{LocalProvisioner, SqliteExecutor};
use neutrino::tenancy::provision::{Plan, Provisioning};
use neutrino::tenancy::{NewPlatform, PlatformClass, Registry, RegistryOptions, StackTemplate};

/// Adds a fixed latency to every call, like a remote API.
#[derive(Debug)]
struct Slow(MemoryProvisioner, Duration);

#[async_trait]
impl Provisioner for Slow {
    fn provider(&self) -> &'static str {
        "slow"
    }
    fn supports(&self, kind: ResourceKind) -> bool {
        self.0.supports(kind)
    }
    async fn create(&self, spec: &ResourceSpec) -> neutrino::Result<Resource> {
        tokio::time::sleep(self.1).await;
        self.0.create(spec).await
    }
    async fn get(&self, kind: ResourceKind, name: &str) -> neutrino::Result<Resource> {
        tokio::time::sleep(self.1).await;
        self.0.get(kind, name).await
    }
    async fn delete(&self, kind: ResourceKind, name: &str) -> neutrino::Result<()> {
        tokio::time::sleep(self.1).await;
        self.0.delete(kind, name).await
    }
    async fn list(&self, kind: ResourceKind, prefix: &str) -> neutrino::Result<Vec<Resource>> {
        tokio::time::sleep(self.1).await;
        self.0.list(kind, prefix).await
    }
}

async fn registry(dir: &std::path::Path) -> Registry {
    Registry::open(
        Arc::new(
            SqliteExecutor::open(dir.join("registry.sqlite"))
                .await
                .unwrap(),
        ),
        Arc::new(MemoryKv::new()),
        RegistryOptions::default(),
    )
    .await
    .unwrap()
}

async fn new_platform(r: &Registry) -> PlatformId {
    r.create_platform(NewPlatform::new("Bench", PlatformClass::Platform))
        .await
        .unwrap()
        .id
}

fn bootstrap(c: &mut Criterion) {
    let rt = neutrino_core::testkit::multi_thread_runtime(2);
    let dir = tempfile::tempdir().unwrap();
    let (reg, local) = rt.block_on(async {
        let reg = registry(dir.path()).await;
        let local = Arc::new(
            LocalProvisioner::open(dir.path().join("cloud"))
                .await
                .unwrap(),
        );
        (reg, local)
    });
    let prov = Provisioning::new(reg.clone(), local.clone()).with_connector(local.clone());
    let mut g = c.benchmark_group("provisioning");
    g.sample_size(20);
    g.bench_function("bootstrap_local", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (reg, prov) = (reg.clone(), prov.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let p = new_platform(&reg).await;
                    let plan = Plan::bootstrap(
                        p,
                        &Domain::default(),
                        &[&neutrino::auth::schema::MIGRATIONS],
                    );
                    let start = Instant::now();
                    prov.apply(&plan).await.unwrap();
                    total += start.elapsed();
                }
                total
            }
        })
    });

    let slow = Arc::new(Slow(MemoryProvisioner::new(), Duration::from_millis(50)));
    let slow_prov = Provisioning::new(reg.clone(), slow).with_connector(local.clone());
    let template = StackTemplate {
        name: "app".into(),
        version: 1,
        resources: vec![
            ResourceRole::Database,
            ResourceRole::Storage,
            ResourceRole::Kv,
        ],
    };
    g.sample_size(10);
    g.bench_function("bootstrap_and_stack_50ms_per_call", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (reg, prov, template) = (reg.clone(), slow_prov.clone(), template.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let p = new_platform(&reg).await;
                    // No migrations here: the slow provisioner has no databases to open.
                    let boot = Plan::bootstrap(p, &Domain::default(), &[]);
                    let stack = Plan::stack(p, StackId::generate(), &template).unwrap();
                    let start = Instant::now();
                    prov.apply(&boot).await.unwrap();
                    prov.apply(&stack).await.unwrap();
                    total += start.elapsed();
                }
                total
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bootstrap);
criterion_main!(benches);
