//! The tenancy suite on PostgreSQL: the registry and the tenanted tables in a
//! schema of their own, owned by a role of their own (the registry's, which
//! migrates the tenanted tables); tenant stores on the application role,
//! which row-level security holds; platform statuses in a PostgreSQL KV.
//!
//! The suite runs twice: with the stores' own scope condition, and without it
//! (`rls_alone`), where row-level security alone must keep every scope to its
//! tenant's rows.

mod common;

use std::sync::Arc;

use neutrino_postgres::PostgresKv;
use neutrino_tenancy::testkit::{Stores, TenantDb};

async fn stores(app_filter: bool) -> (Stores, (common::RlsGuard, common::SchemaGuard)) {
    let (owner, app, guard) = common::fresh_rls_schema().await;
    let (kv_db, kv_guard) = common::fresh_schema().await;
    let kv = PostgresKv::open(kv_db, "status").await.expect("kv");
    (
        Stores {
            db: Arc::new(owner),
            kv: Arc::new(kv),
            tenant_db: Some(TenantDb {
                db: Arc::new(app),
                app_filter,
            }),
        },
        (guard, kv_guard),
    )
}

async fn postgres_stores() -> (Stores, (common::RlsGuard, common::SchemaGuard)) {
    stores(true).await
}

async fn rls_alone_stores() -> (Stores, (common::RlsGuard, common::SchemaGuard)) {
    stores(false).await
}

neutrino_tenancy::tenancy_suite!(postgres_stores);

mod rls_alone {
    use super::*;
    neutrino_tenancy::tenancy_suite!(rls_alone_stores);
}
