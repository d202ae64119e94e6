//! The shared conformance suites against the Cloudflare adapters, through the
//! contract-checking fake of the v4 API.

mod fake;

use std::sync::Arc;

use fake::FakeCloudflare;
use neutrino_auth::testkit::AuthStores;
use neutrino_cloudflare::{CloudflareProvisionerBuilder, D1Executor, WorkersKv};
use neutrino_core::clock::ManualClock;
use neutrino_core::kv::KvStore;
use neutrino_core::object::{ObjectStore, PutOptions};
use neutrino_core::provision::{Provisioner, ResourceKind};
use neutrino_core::sql::SqlExecutor;
use neutrino_core::testkit::provisioner::RefusedDelete;
use neutrino_tenancy::testkit::Stores;

async fn d1() -> (Arc<dyn SqlExecutor>, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let id = fake.create_database("conformance-db");
    (Arc::new(D1Executor::new(fake.client(), id)), fake)
}

async fn workers_kv(clock: ManualClock) -> (Arc<dyn KvStore>, FakeCloudflare) {
    let fake = FakeCloudflare::start_with_clock(Arc::new(clock)).await;
    let id = fake.create_namespace("conformance-kv");
    (Arc::new(WorkersKv::new(fake.client(), id)), fake)
}

async fn provisioner() -> (Arc<dyn Provisioner>, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .with_zone_id(fake.zone_id())
        .build()
        .expect("provisioner");
    (Arc::new(p), fake)
}

async fn provisioner_without_zone() -> (Arc<dyn Provisioner>, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .expect("provisioner");
    (Arc::new(p), fake)
}

async fn d1_with_workers_kv() -> (Stores, FakeCloudflare) {
    let fake = FakeCloudflare::start().await;
    let db = fake.create_database("registry");
    let ns = fake.create_namespace("status");
    let stores = Stores {
        db: Arc::new(D1Executor::new(fake.client(), db)),
        kv: Arc::new(WorkersKv::new(fake.client(), ns)),
        tenant_db: None,
    };
    (stores, fake)
}

/// The auth suite on D1: the two platforms' auth databases and the registry
/// as three D1 databases, Workers KV for platform statuses. Workers KV cannot
/// count atomically (the limiter refuses it: see
/// `the_rate_limiter_refuses_workers_kv`), so the limiter's counters are in
/// memory here.
async fn d1_auth(clock: ManualClock) -> (AuthStores, FakeCloudflare) {
    let fake = FakeCloudflare::start_with_clock(Arc::new(clock.clone())).await;
    // The suite sends thousands of requests: lift the client's own limit of
    // Cloudflare's 1200 per 5 min, which would otherwise make it wait.
    let client = fake
        .client_builder()
        .with_rate_limit(1_000_000, std::time::Duration::from_secs(1))
        .build()
        .expect("client");
    let auth = fake.create_database("auth");
    let second_auth = fake.create_database("auth-second");
    let registry = fake.create_database("registry-auth");
    let ns = fake.create_namespace("status-auth");
    let stores = AuthStores {
        auth_db: Arc::new(D1Executor::new(client.clone(), auth)),
        second_auth_db: Arc::new(D1Executor::new(client.clone(), second_auth)),
        registry_db: Arc::new(D1Executor::new(client.clone(), registry)),
        registry_kv: Arc::new(WorkersKv::new(client, ns)),
        counters: Arc::new(neutrino_core::memory::MemoryKv::with_clock(Arc::new(clock))),
        tenant_db: None,
    };
    (stores, fake)
}

/// The SQL suite. D1 carries parameters and cells as JSON numbers (JavaScript
/// doubles), so integers beyond ±(2^53 - 1) and blobs cannot travel through its
/// HTTP API: the suite checks that the adapter refuses them with `InvalidInput`
/// and round-trips everything else exactly.
const D1_CAPS: neutrino_core::testkit::sql::SqlCaps = neutrino_core::testkit::sql::SqlCaps {
    full_range_integers: false,
    blobs: false,
};

neutrino_core::sql_suite!(d1, D1_CAPS);

neutrino_core::kv_suite!(workers_kv);
/// Makes an R2 bucket's delete something the provisioner must refuse: objects
/// in it and no bucket opener to empty it with.
struct R2Refusal {
    fake: Arc<FakeCloudflare>,
}

const OBJECTS: usize = 3;

#[async_trait::async_trait]
impl RefusedDelete for R2Refusal {
    fn kinds(&self) -> Vec<ResourceKind> {
        vec![ResourceKind::Bucket]
    }

    async fn arrange(&self, _kind: ResourceKind, name: &str) {
        let store = self.fake.bucket_objects(name).expect("bucket");
        for i in 0..OBJECTS {
            store
                .put(
                    &format!("k{i}"),
                    format!("v{i}").into(),
                    &PutOptions::default(),
                )
                .await
                .expect("put");
        }
    }

    async fn content_intact(&self, _kind: ResourceKind, name: &str) -> bool {
        let Some(store) = self.fake.bucket_objects(name) else {
            return false;
        };
        for i in 0..OBJECTS {
            match store.get(&format!("k{i}")).await {
                Ok(o) if o.data == format!("v{i}").as_bytes() => {}
                _ => return false,
            }
        }
        true
    }

    async fn release(&self, _kind: ResourceKind, name: &str) {
        let store = self.fake.bucket_objects(name).expect("bucket");
        for i in 0..OBJECTS {
            store.delete(&format!("k{i}")).await.expect("delete");
        }
    }
}

async fn r2_refusal() -> (Arc<dyn Provisioner>, Arc<dyn RefusedDelete>, ()) {
    let fake = Arc::new(FakeCloudflare::start().await);
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .with_zone_id(fake.zone_id())
        .build()
        .expect("provisioner");
    (Arc::new(p), Arc::new(R2Refusal { fake }), ())
}

neutrino_core::provisioner_suite!(provisioner, refused_delete = r2_refusal);
neutrino_tenancy::tenancy_suite!(d1_with_workers_kv);
neutrino_auth::auth_suite!(d1_auth);

/// Workers KV is eventually consistent: the sign-in rate limiter refuses it
/// when it is built rather than count approximately.
#[tokio::test]
async fn the_rate_limiter_refuses_workers_kv() {
    let (kv, _fake) = workers_kv(ManualClock::new()).await;
    assert!(!kv.atomic_counters());
    let (db, _fake_db) = d1().await;
    let e = neutrino_auth::AuthBuilder::new_shared(db, "a secret of at least thirty-two bytes!")
        .with_rate_limit(kv, neutrino_auth::RateLimitConfig::default())
        .build()
        .expect_err("workers kv accepted");
    assert!(
        matches!(
            e,
            neutrino_auth::AuthError::Store(neutrino_core::Error::Config {
                key: "rate_limit",
                ..
            })
        ),
        "{e:?}"
    );
}

mod without_zone {
    use super::*;
    neutrino_core::provisioner_suite!(provisioner_without_zone);
}

/// `Registry::open_or_create_platform` on D1: concurrent callers with one name
/// get one platform, decided by the registry's unique index through D1's API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_open_or_create_on_d1_gives_one_platform() {
    use neutrino_tenancy::{NewPlatform, PlatformClass, Registry, RegistryOptions};
    let (stores, _fake) = d1_with_workers_kv().await;
    let registry = Registry::open(stores.db, stores.kv, RegistryOptions::default())
        .await
        .expect("registry");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .open_or_create_platform(NewPlatform::new("On D1", PlatformClass::Platform))
                    .await
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        let (platform, made) = t.await.unwrap().expect("open or create");
        ids.insert(platform.id);
        created += usize::from(made);
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(created, 1);
    let named = registry
        .platforms()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.name == "On D1")
        .count();
    assert_eq!(named, 1);
}

/// Registry handles on D1: a second executor on the same database shares the
/// first handle's state (proven by the registry's probe through D1's API); a
/// second database carrying the first one's instance ID (as a copy does) gets
/// state of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_d1_database_with_another_ones_instance_id_does_not_share_its_state() {
    use neutrino_core::sql::Statement;
    use neutrino_tenancy::{NewPlatform, PlatformClass, PlatformStatus, Registry, RegistryOptions};
    let (stores, fake) = d1_with_workers_kv().await;
    let open = |db: Arc<dyn SqlExecutor>, kv: Arc<dyn KvStore>| async move {
        Registry::open(db, kv, RegistryOptions::default())
            .await
            .expect("registry")
    };
    let id_of = |db: Arc<dyn SqlExecutor>| async move {
        db.query(&Statement::new(
            r#"SELECT "id" FROM "neutrino_registry_instance""#,
        ))
        .await
        .unwrap()[0]
            .get::<String>("id")
            .unwrap()
    };
    let original = open(stores.db.clone(), stores.kv.clone()).await;
    let p = original
        .create_platform(NewPlatform::new("On D1", PlatformClass::Platform))
        .await
        .unwrap()
        .id;
    let _minter = original.scope_minter().expect("the first minter");

    // The same database through an executor of its own: shared.
    let same_db = fake
        .databases_named("registry")
        .into_iter()
        .next()
        .expect("the registry database");
    let again = open(
        Arc::new(D1Executor::new(fake.client(), same_db)),
        stores.kv.clone(),
    )
    .await;
    assert!(again.scope_minter().is_err(), "one minter per database");

    // Another database given the first one's instance ID.
    let other_db: Arc<dyn SqlExecutor> = Arc::new(D1Executor::new(
        fake.client(),
        fake.create_database("registry-copy"),
    ));
    drop(open(other_db.clone(), stores.kv.clone()).await);
    let id = id_of(stores.db.clone()).await;
    other_db
        .execute(
            &Statement::new(r#"UPDATE "neutrino_registry_instance" SET "id" = ?1"#)
                .bind(id.as_str()),
        )
        .await
        .unwrap();
    let other = open(
        other_db.clone(),
        Arc::new(neutrino_core::memory::MemoryKv::new()),
    )
    .await;
    assert_eq!(id_of(other_db).await, id);
    assert!(
        other.scope_minter().is_ok(),
        "the other database's own minter"
    );
    assert!(other.platform_status(p).await.unwrap_err().is_not_found());
    assert_eq!(
        original.platform_status(p).await.unwrap(),
        PlatformStatus::Active
    );
    assert!(fake.take_violations().is_empty());
}
