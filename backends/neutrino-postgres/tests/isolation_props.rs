//! The isolation invariant ([`neutrino_tenancy::testkit::isolation`]) on
//! PostgreSQL: the registry and the tenanted table in a schema of their own,
//! owned by the registry's role, the tenant store on the application role
//! (row-level security), platform statuses in a PostgreSQL KV. It runs with
//! the store's own scope condition and, in `rls_alone`, without it.

mod common;

use std::sync::Arc;

use neutrino_postgres::PostgresKv;
use neutrino_tenancy::testkit::TenantDb;
use neutrino_tenancy::testkit::isolation::{World, action, run};
use proptest::prelude::*;

type Held = (
    tokio::runtime::Runtime,
    World,
    (common::RlsGuard, common::SchemaGuard),
);

/// One schema for all cases: each case makes new platforms and tenants, so
/// the rows of earlier cases are there too, as other tenants' data.
fn open(app_filter: bool) -> Held {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (world, guards) = rt.block_on(async {
        let (owner, app, guard) = common::fresh_rls_schema().await;
        let (kv_db, kv_guard) = common::fresh_schema().await;
        let kv = PostgresKv::open(kv_db, "status").await.expect("kv");
        let tenant_db = TenantDb {
            db: Arc::new(app),
            app_filter,
        };
        (
            World::open_with(Arc::new(owner), Arc::new(kv), Some(tenant_db)).await,
            (guard, kv_guard),
        )
    });
    (rt, world, guards)
}

fn world() -> &'static Held {
    static WORLD: std::sync::OnceLock<Held> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| open(true))
}

fn rls_alone_world() -> &'static Held {
    static WORLD: std::sync::OnceLock<Held> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| open(false))
}

proptest! {
    // Fewer cases than on SQLite: each is a few hundred round trips.
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    #[test]
    fn no_scope_ever_reads_changes_or_deletes_another_tenants_row(actions in prop::collection::vec(action(), 1..40)) {
        let (rt, w, _) = world();
        rt.block_on(run(w, actions))?;
    }

    #[test]
    fn rls_alone_keeps_every_scope_to_its_rows(actions in prop::collection::vec(action(), 1..40)) {
        let (rt, w, _) = rls_alone_world();
        rt.block_on(run(w, actions))?;
    }
}
