//! The tenancy suite on the embedded backend (SQLite file, SQLite KV and memory
//! KV, and an in-memory SQLite database).

use std::sync::Arc;

use neutrino_core::memory::MemoryKv;
use neutrino_sqlite::{SqliteExecutor, SqliteKv};
use neutrino_tenancy::testkit::Stores;
use tempfile::TempDir;

async fn sqlite_file_with_sqlite_kv() -> (Stores, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(dir.path().join("registry.sqlite"))
        .await
        .unwrap();
    let kv = SqliteKv::open(
        SqliteExecutor::open(dir.path().join("kv.sqlite"))
            .await
            .unwrap(),
        "status",
    )
    .await
    .unwrap();
    (
        Stores {
            db: Arc::new(db),
            kv: Arc::new(kv),
        },
        dir,
    )
}

async fn sqlite_memory_with_memory_kv() -> (Stores, ()) {
    let db = SqliteExecutor::memory().await.unwrap();
    (
        Stores {
            db: Arc::new(db),
            kv: Arc::new(MemoryKv::new()),
        },
        (),
    )
}

neutrino_tenancy::tenancy_suite!(sqlite_file_with_sqlite_kv, authorizer);

mod memory {
    use super::*;
    neutrino_tenancy::tenancy_suite!(sqlite_memory_with_memory_kv, authorizer);
}
