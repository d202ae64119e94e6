//! The race suite on the embedded backend: SQLite files for the auth database
//! and the registry, SQLite KV for the rate limiter's counters.

use std::sync::Arc;

use neutrino_auth::testkit::RaceStores;
use neutrino_core::clock::ManualClock;
use neutrino_core::memory::MemoryKv;
use neutrino_sqlite::{SqliteExecutor, SqliteKv};
use tempfile::TempDir;

async fn sqlite_files(clock: ManualClock) -> (RaceStores, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let auth_db = SqliteExecutor::open(dir.path().join("auth.sqlite"))
        .await
        .expect("auth db");
    let registry_db = SqliteExecutor::open(dir.path().join("registry.sqlite"))
        .await
        .expect("registry db");
    // A second handle on the auth file: counters shared by several servers.
    let counters = SqliteKv::open_with_clock(
        SqliteExecutor::open(dir.path().join("auth.sqlite"))
            .await
            .expect("auth db, second handle"),
        "auth-rate-limit",
        Arc::new(clock.clone()),
    )
    .await
    .expect("kv");
    let stores = RaceStores {
        auth_db: Arc::new(auth_db),
        registry_db: Arc::new(registry_db),
        registry_kv: Arc::new(MemoryKv::with_clock(Arc::new(clock))),
        counters: Arc::new(counters),
    };
    (stores, dir)
}

neutrino_auth::auth_race_suite!(sqlite_files);
