//! What the tenancy tests share: a registry on SQLite files, the stack
//! template of an app, and platforms and tenants made in one call.

// Each test binary uses only part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::naming::ResourceRole;
use neutrino_sqlite::{SqliteExecutor, SqliteKv};
use neutrino_tenancy::*;

/// A registry on the SQLite file `db`, its statuses mirrored in the KV of the
/// SQLite file `kv`, as a separate process would open them; and that KV.
pub(crate) async fn open_files(db: &Path, kv: &Path) -> (Registry, SqliteKv) {
    let db = SqliteExecutor::open(db).await.expect("registry db");
    let kv = SqliteKv::open(SqliteExecutor::open(kv).await.expect("kv db"), "status")
        .await
        .expect("kv");
    let registry = Registry::open(
        Arc::new(db),
        Arc::new(kv.clone()),
        RegistryOptions::default(),
    )
    .await
    .expect("registry");
    (registry, kv)
}

/// An app's stack: a database, a bucket and a KV namespace.
pub(crate) fn app_template() -> StackTemplate {
    StackTemplate {
        name: "app".into(),
        version: 1,
        resources: vec![
            ResourceRole::Database,
            ResourceRole::Storage,
            ResourceRole::Kv,
        ],
    }
}

/// A new platform named `name`.
pub(crate) async fn platform(r: &Registry, name: &str) -> PlatformId {
    r.create_platform(NewPlatform::new(name, PlatformClass::Platform))
        .await
        .expect("platform")
        .id
}

/// A new top-level tenant of `p`.
pub(crate) async fn tenant(r: &Registry, p: PlatformId, slug: &str, name: &str) -> TenantId {
    r.create_tenant(p, NewTenant::new(slug, name))
        .await
        .expect("tenant")
        .id
}
