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
            tenant_db: None,
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
            tenant_db: None,
        },
        (),
    )
}

neutrino_tenancy::tenancy_suite!(sqlite_file_with_sqlite_kv, authorizer);

mod memory {
    use super::*;
    neutrino_tenancy::tenancy_suite!(sqlite_memory_with_memory_kv, authorizer);
}

/// SQLite-only behaviour of `TenantStore::raw`, where the engine's authorizer
/// judges statements as parsed.
mod sqlite_raw {
    use std::sync::Arc;

    use neutrino_core::naming::RESERVED_TABLES;
    use neutrino_core::sql::{SqlExecutor, Statement};
    use neutrino_sqlite::SqliteExecutor;
    use neutrino_tenancy::*;

    async fn world() -> (tempfile::TempDir, Arc<SqliteExecutor>, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(
            SqliteExecutor::open(dir.path().join("raw.sqlite"))
                .await
                .unwrap(),
        );
        let registry = neutrino_tenancy::testkit::memory_kv_registry(db.clone()).await;
        (dir, db, registry)
    }

    #[tokio::test]
    async fn every_registry_table_is_reserved() {
        let (_dir, db, _registry) = world().await;
        let rows = db
            .query(&Statement::new(
                r#"SELECT "name" FROM sqlite_master WHERE "type" = 'table' AND "name" NOT LIKE 'sqlite\_%' ESCAPE '\'"#,
            ))
            .await
            .unwrap();
        assert!(rows.len() >= 7, "{rows:?}");
        for r in rows {
            let t: String = r.get("name").unwrap();
            assert!(RESERVED_TABLES.contains(&t.as_str()), "{t} is not reserved");
        }
    }

    /// A guarded name that is only a value is not a reference: SQLite's
    /// authorizer sees that no guarded table is touched.
    #[tokio::test]
    async fn a_literal_naming_a_guarded_table_is_not_a_reference() {
        let (_dir, db, registry) = world().await;
        let t = TenantTable::new("note", &[("title", ColumnType::Text)]).unwrap();
        let store = TenantStore::open(&registry, db.clone(), vec![t])
            .await
            .unwrap();
        let raw = store.raw();
        raw.execute(&Statement::new(r#"CREATE TABLE "memo" ("v" TEXT)"#))
            .await
            .unwrap();
        raw.execute(
            &Statement::new(r#"INSERT INTO "memo" VALUES ('note'), ('neutrino_tenant'), (?1)"#)
                .bind("note"),
        )
        .await
        .unwrap();
        let rows = raw
            .query(&Statement::new(
                r#"SELECT "v" FROM "memo" WHERE "v" = 'note' /* note */"#,
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        // Reading the shape of a tenanted table (not its rows) is allowed.
        let cols = raw
            .query(&Statement::new(
                r#"SELECT "name" FROM pragma_table_info('note')"#,
            ))
            .await
            .unwrap();
        assert!(cols.len() >= 4);
    }

    /// Raw attacks interleaved with the store's own calls on the same
    /// connections: the store never fails (the guard never leaks onto trusted
    /// statements) and no attack is ever admitted (nor a trusted statement's
    /// cached approval reused).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn raw_attacks_and_store_calls_interleave_safely() {
        let (_dir, db, registry) = world().await;
        let t = TenantTable::new("note", &[("title", ColumnType::Text)]).unwrap();
        let store = TenantStore::open(&registry, db.clone(), vec![t.clone()])
            .await
            .unwrap();
        let (p, b) =
            neutrino_tenancy::testkit::platform_with_tenant(&registry, "Acme", ("b", "B")).await;
        let sb = registry.operator_scope(p, b, "ops", "test").await.unwrap();
        let id = store
            .insert(&sb, &t, Record::new().set("title", "secret"))
            .await
            .unwrap();
        let get_sql =
            r#"SELECT * FROM "note" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "id" = ?3"#;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (store, t, sb, id, raw) = (
                store.clone(),
                t.clone(),
                sb.clone(),
                id.clone(),
                store.raw(),
            );
            let (pp, bb) = (p.to_string(), b.to_string());
            tasks.push(tokio::spawn(async move {
                for _ in 0..40 {
                    if i % 2 == 0 {
                        let row = store.get(&sb, &t, &id).await.unwrap();
                        assert_eq!(row.get::<String>("title").unwrap(), "secret");
                        store
                            .update(&sb, &t, &id, Record::new().set("title", "secret"))
                            .await
                            .unwrap();
                    } else {
                        let st = Statement::new(get_sql)
                            .bind(pp.as_str())
                            .bind(bb.as_str())
                            .bind(id.as_str());
                        assert!(raw.query(&st).await.unwrap_err().is_permission_denied());
                        assert!(raw.execute(&st).await.unwrap_err().is_permission_denied());
                        let up = Statement::new(r#"UPDATE 'note' SET "title" = 'pwned'"#);
                        assert!(raw.batch(&[up]).await.unwrap_err().is_permission_denied());
                        raw.query(&Statement::new("SELECT 1")).await.unwrap();
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let row = store.get(&sb, &t, &id).await.unwrap();
        assert_eq!(row.get::<String>("title").unwrap(), "secret");
    }
}
