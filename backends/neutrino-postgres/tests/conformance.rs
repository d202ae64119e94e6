//! The core conformance suites on PostgreSQL.

mod common;

use std::sync::Arc;

use neutrino_core::sql::SqlExecutor;

async fn postgres_db() -> (Arc<dyn SqlExecutor>, common::SchemaGuard) {
    let (db, guard) = common::fresh_schema().await;
    (Arc::new(db), guard)
}

neutrino_core::sql_suite!(postgres_db);
