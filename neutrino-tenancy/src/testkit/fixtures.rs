//! Set-up shared by the benchmarks and the backend-specific tests that need
//! a registry, a platform with a tenant, or the benchmarks' table, outside the
//! suite's own cases.

use std::sync::Arc;

use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::memory::MemoryKv;
use neutrino_core::sql::SqlExecutor;

use crate::*;

/// A registry on `db` with the platform statuses in memory and the default
/// options.
pub async fn memory_kv_registry(db: Arc<dyn SqlExecutor>) -> Registry {
    Registry::open(db, Arc::new(MemoryKv::new()), RegistryOptions::default())
        .await
        .expect("open registry")
}

/// A new platform `name` with one tenant of slug and display name `tenant`.
pub async fn platform_with_tenant(
    registry: &Registry,
    name: &str,
    tenant: (&str, &str),
) -> (PlatformId, TenantId) {
    let p = registry
        .create_platform(NewPlatform::new(name, PlatformClass::Platform))
        .await
        .expect("create platform")
        .id;
    let t = registry
        .create_tenant(p, NewTenant::new(tenant.0, tenant.1))
        .await
        .expect("create tenant")
        .id;
    (p, t)
}

/// The benchmarks' tenanted table `item`: a text `label` and an integer `n`.
pub fn item_table() -> TenantTable {
    TenantTable::new(
        "item",
        &[("label", ColumnType::Text), ("n", ColumnType::Integer)],
    )
    .expect("declare table")
}

/// Inserts `n` rows into the [`item_table`] `table` under `scope` (`label`
/// "item {i}", `n` i, for i from 0); their IDs in order.
pub async fn insert_items(
    store: &TenantStore,
    scope: &TenantScope,
    table: &TenantTable,
    n: i64,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let row = Record::new().set("label", format!("item {i}")).set("n", i);
        ids.push(store.insert(scope, table, row).await.expect("insert item"));
    }
    ids
}
