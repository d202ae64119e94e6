//! A PostgreSQL server for the tests: `NEUTRINO_TEST_POSTGRES_URL`, which
//! `scripts/test` sets after starting a throwaway cluster. Each test works in a
//! schema of its own, so tests run in parallel.
#![allow(dead_code, unreachable_pub)]

use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_postgres::PostgresExecutor;

/// The server's URL; a test without one fails saying how to get one.
pub fn url() -> String {
    match std::env::var("NEUTRINO_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "NEUTRINO_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a server. \
             Run them with scripts/test, which starts a throwaway PostgreSQL from the \
             server binaries (initdb, pg_ctl, postgres; Debian/Ubuntu: apt-get install \
             postgresql) and stops it afterwards, or start one yourself with \
             `eval \"$(scripts/postgres start)\"` (stop it with `scripts/postgres stop`)"
        ),
    }
}

/// An executor on the whole database (no schema bound).
pub async fn admin() -> PostgresExecutor {
    PostgresExecutor::connect(&url())
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL: {e:?}"))
}

/// Drops its schema when the test ends.
pub struct SchemaGuard {
    pub name: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let name = self.name.clone();
        // The test's runtime may be shutting down: drop it from a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(db) = PostgresExecutor::connect(&url()).await {
                    let _ = db
                        .execute(&Statement::new(format!(
                            r#"DROP SCHEMA IF EXISTS "{name}" CASCADE"#
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A fresh schema, and an executor bound to it.
pub async fn fresh_schema() -> (PostgresExecutor, SchemaGuard) {
    let name = neutrino_core::testkit::unique("test-");
    admin()
        .await
        .execute(&Statement::new(format!(r#"CREATE SCHEMA "{name}""#)))
        .await
        .expect("create schema");
    let db = PostgresExecutor::builder(&url())
        .expect("url")
        .schema(&name)
        .expect("schema name")
        .connect()
        .await
        .expect("connect to the schema");
    (db, SchemaGuard { name })
}
