//! The tenancy suite on PostgreSQL: the registry and the tenanted tables in a
//! schema of their own, platform statuses in a PostgreSQL KV.

mod common;

use std::sync::Arc;

use neutrino_postgres::PostgresKv;
use neutrino_tenancy::testkit::Stores;

async fn postgres_stores() -> (Stores, (common::SchemaGuard, common::SchemaGuard)) {
    let (db, db_guard) = common::fresh_schema().await;
    let (kv_db, kv_guard) = common::fresh_schema().await;
    let kv = PostgresKv::open(kv_db, "status").await.expect("kv");
    (
        Stores {
            db: Arc::new(db),
            kv: Arc::new(kv),
        },
        (db_guard, kv_guard),
    )
}

neutrino_tenancy::tenancy_suite!(postgres_stores);
