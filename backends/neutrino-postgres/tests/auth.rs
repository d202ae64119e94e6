//! The auth suite on PostgreSQL (behaviour cases, the race suite and the
//! cross-tenant matrix): each case's auth databases, registry and counters in
//! schemas of their own, so cases run in parallel.

mod common;

use std::sync::Arc;

use neutrino_auth::testkit::AuthStores;
use neutrino_core::clock::ManualClock;
use neutrino_postgres::PostgresKv;

/// A schema per store; the rate limiter's counters and the registry's
/// platform statuses in PostgreSQL KV (atomic `increment`) on the case's clock.
async fn postgres(clock: ManualClock) -> (AuthStores, Vec<common::SchemaGuard>) {
    let (auth_db, g1) = common::fresh_schema().await;
    let (second, g2) = common::fresh_schema().await;
    let (registry, g3) = common::fresh_schema().await;
    let (kv_db, g4) = common::fresh_schema().await;
    let counters =
        PostgresKv::open_with_clock(kv_db.clone(), "auth-rate-limit", Arc::new(clock.clone()))
            .await
            .expect("counters");
    let registry_kv = PostgresKv::open_with_clock(kv_db, "status", Arc::new(clock))
        .await
        .expect("registry kv");
    let stores = AuthStores {
        auth_db: Arc::new(auth_db),
        second_auth_db: Arc::new(second),
        registry_db: Arc::new(registry),
        registry_kv: Arc::new(registry_kv),
        counters: Arc::new(counters),
    };
    (stores, vec![g1, g2, g3, g4])
}

neutrino_auth::auth_suite!(postgres);
