//! Every auth table is reserved: raw SQL through a tenant store's guarded
//! executor cannot reach it (SQLite's authorizer). The backend-independent
//! security behaviour is in the conformance suite
//! (`neutrino_auth::testkit::security`).

use std::sync::Arc;

use neutrino_core::sql::{SqlExecutor, Statement};

/// Every table the auth layer's migrations create is one of Neutrino's reserved
/// tables, so a `TenantStore`'s raw SQL on a database the auth layer shares can
/// never reach it, and a host app cannot declare a tenanted table of that name.
#[tokio::test]
async fn every_auth_table_is_reserved_and_out_of_raw_sqls_reach() {
    let db = Arc::new(neutrino_sqlite::SqliteExecutor::memory().await.unwrap());
    neutrino_auth::schema::MIGRATIONS.run(&db).await.unwrap();
    neutrino_auth::schema::ensure_columns(&db).await.unwrap();
    let rows = db
        .query(&Statement::new(
            r#"SELECT "name" FROM sqlite_master WHERE "type" = 'table' AND "name" NOT LIKE 'sqlite\_%' ESCAPE '\'"#,
        ))
        .await
        .unwrap();
    let tables: Vec<String> = rows.iter().map(|r| r.get("name").unwrap()).collect();
    assert!(tables.iter().any(|t| t == "session"), "{tables:?}");
    let reserved = neutrino_core::naming::RESERVED_TABLES;
    for t in &tables {
        assert!(
            reserved.contains(&t.to_ascii_lowercase().as_str()),
            "{t} is created by the auth migrations but missing from RESERVED_TABLES"
        );
        assert!(neutrino_tenancy::TenantTable::new(t, &[]).is_err(), "{t}");
    }
    let registry = neutrino_tenancy::Registry::open(
        db.clone(),
        Arc::new(neutrino_core::memory::MemoryKv::new()),
        neutrino_tenancy::RegistryOptions::default(),
    )
    .await
    .unwrap();
    let raw = neutrino_tenancy::TenantStore::open(&registry, db.clone(), vec![])
        .await
        .unwrap()
        .raw();
    for t in &tables {
        let e = raw
            .query(&Statement::new(format!("SELECT * FROM '{t}'")))
            .await
            .unwrap_err();
        assert!(e.is_permission_denied(), "{t}: {e:?}");
    }
}
