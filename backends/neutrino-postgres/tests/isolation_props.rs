//! The isolation invariant ([`neutrino_tenancy::testkit::isolation`]) on
//! PostgreSQL: the registry and the tenanted table in a schema of their own,
//! platform statuses in a PostgreSQL KV.

mod common;

use std::sync::Arc;

use neutrino_postgres::PostgresKv;
use neutrino_tenancy::testkit::isolation::{World, action, run};
use proptest::prelude::*;

/// One schema for all cases: each case makes new platforms and tenants, so
/// the rows of earlier cases are there too, as other tenants' data.
fn world() -> &'static (
    tokio::runtime::Runtime,
    World,
    (common::SchemaGuard, common::SchemaGuard),
) {
    type Held = (
        tokio::runtime::Runtime,
        World,
        (common::SchemaGuard, common::SchemaGuard),
    );
    static WORLD: std::sync::OnceLock<Held> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (world, guards) = rt.block_on(async {
            let (db, db_guard) = common::fresh_schema().await;
            let (kv_db, kv_guard) = common::fresh_schema().await;
            let kv = PostgresKv::open(kv_db, "status").await.expect("kv");
            (
                World::open(Arc::new(db), Arc::new(kv)).await,
                (db_guard, kv_guard),
            )
        });
        (rt, world, guards)
    })
}

proptest! {
    // Fewer cases than on SQLite: each is a few hundred round trips.
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_scope_ever_reads_changes_or_deletes_another_tenants_row(actions in prop::collection::vec(action(), 1..40)) {
        let (rt, w, _) = world();
        rt.block_on(run(w, actions))?;
    }
}
