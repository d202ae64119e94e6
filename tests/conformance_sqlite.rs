//! The conformance suites against the embedded default backend, on files in a
//! temporary folder (and SQL also on an in-memory database).

use std::sync::Arc;

use neutrino::clock::ManualClock;
use neutrino::kv::KvStore;
use neutrino::object::ObjectStore;
use neutrino::provision::Provisioner;
use neutrino::sql::SqlExecutor;
use neutrino::sqlite::{LocalObjectStore, LocalProvisioner, SqliteExecutor, SqliteKv};
use tempfile::TempDir;

async fn sqlite_file() -> (Arc<dyn SqlExecutor>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteExecutor::open(dir.path().join("test.sqlite"))
        .await
        .expect("open");
    (Arc::new(db), dir)
}

async fn sqlite_kv(clock: ManualClock) -> (Arc<dyn KvStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteExecutor::open(dir.path().join("kv.sqlite"))
        .await
        .expect("open");
    let kv = SqliteKv::open_with_clock(db, "test", Arc::new(clock))
        .await
        .expect("kv");
    (Arc::new(kv), dir)
}

async fn local_objects() -> (Arc<dyn ObjectStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalObjectStore::open(dir.path())
        .await
        .expect("open bucket");
    (Arc::new(store), dir)
}

async fn local_provisioner() -> (Arc<dyn Provisioner>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = LocalProvisioner::open(dir.path()).await.expect("open root");
    (Arc::new(p), dir)
}

neutrino_core::sql_suite!(sqlite_file);
neutrino_core::kv_suite!(sqlite_kv);
neutrino_core::object_suite!(local_objects);
neutrino_core::provisioner_suite!(local_provisioner);

mod in_memory {
    use super::*;

    async fn sqlite_memory() -> (Arc<dyn SqlExecutor>, ()) {
        (Arc::new(SqliteExecutor::memory().await.expect("open")), ())
    }

    neutrino_core::sql_suite!(sqlite_memory);
}

mod no_readers {
    //! Every call on the writer connection: the routing must not matter.
    use super::*;
    use neutrino::sqlite::SqliteExecutorBuilder;

    async fn writer_only() -> (Arc<dyn SqlExecutor>, TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = SqliteExecutorBuilder::new(dir.path().join("w.sqlite"))
            .with_readers(0)
            .with_handoff_spin(std::time::Duration::ZERO, std::time::Duration::ZERO)
            .build()
            .await
            .expect("open");
        (Arc::new(db), dir)
    }

    neutrino_core::sql_suite!(writer_only);
}
