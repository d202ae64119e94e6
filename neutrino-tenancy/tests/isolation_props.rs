//! The isolation invariant ([`neutrino_tenancy::testkit::isolation`]),
//! property-tested on a SQLite file: random interleavings of inserts, reads,
//! lists, updates and deletes by several tenants of two platforms.

use std::sync::Arc;

use neutrino_core::memory::MemoryKv;
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::testkit::isolation::{World, action, run};
use proptest::prelude::*;

/// One database for all cases: each case makes new platforms and tenants, so the
/// rows of earlier cases are there too, as other tenants' data.
fn world() -> &'static (tokio::runtime::Runtime, World, tempfile::TempDir) {
    static WORLD: std::sync::OnceLock<(tokio::runtime::Runtime, World, tempfile::TempDir)> =
        std::sync::OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = neutrino_core::testkit::multi_thread_runtime(2);
        let dir = tempfile::tempdir().unwrap();
        let world = rt.block_on(async {
            let db = SqliteExecutor::open(dir.path().join("props.sqlite"))
                .await
                .unwrap();
            World::open(Arc::new(db), Arc::new(MemoryKv::new())).await
        });
        (rt, world, dir)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn no_scope_ever_reads_changes_or_deletes_another_tenants_row(actions in prop::collection::vec(action(), 1..40)) {
        let (rt, w, _) = world();
        rt.block_on(run(w, actions))?;
    }
}
