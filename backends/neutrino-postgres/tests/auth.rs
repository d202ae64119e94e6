//! The auth suite on PostgreSQL (behaviour cases, the race suite and the
//! cross-tenant matrix): each case's auth databases, registry and counters in
//! schemas of their own, so cases run in parallel. The registry's schema is
//! owned by a role of its own; the matrix's tenant store runs on the
//! application role, which row-level security holds, with the store's own
//! scope condition and (`rls_alone`) without it.

mod common;

use std::sync::Arc;

use neutrino_auth::testkit::AuthStores;
use neutrino_core::clock::ManualClock;
use neutrino_postgres::PostgresKv;
use neutrino_tenancy::testkit::TenantDb;

/// A schema per store; the rate limiter's counters and the registry's
/// platform statuses in PostgreSQL KV (atomic `increment`) on the case's clock.
async fn postgres(
    clock: ManualClock,
) -> (AuthStores, (Vec<common::SchemaGuard>, common::RlsGuard)) {
    stores(clock, true).await
}

async fn stores(
    clock: ManualClock,
    app_filter: bool,
) -> (AuthStores, (Vec<common::SchemaGuard>, common::RlsGuard)) {
    let (auth_db, g1) = common::fresh_schema().await;
    let (second, g2) = common::fresh_schema().await;
    let (registry, app, g3) = common::fresh_rls_schema().await;
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
        tenant_db: Some(TenantDb {
            db: Arc::new(app),
            app_filter,
        }),
    };
    (stores, (vec![g1, g2, g4], g3))
}

neutrino_auth::auth_suite!(postgres);

/// The cross-tenant matrix with the tenant store's own scope condition off:
/// row-level security alone refuses every row of another tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_alone_cross_tenant_matrix() {
    let clock = ManualClock::new();
    let (stores, _guard) = stores(clock.clone(), false).await;
    neutrino_auth::testkit::cross_tenant_matrix_refuses_every_operation_on_another_tenant(
        &stores, &clock,
    )
    .await;
}
