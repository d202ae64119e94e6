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
        clean_up(vec![vec![drop_schema(&self.name)]]);
    }
}

/// The statement that drops the schema `name` and all it holds.
fn drop_schema(name: &str) -> Statement {
    Statement::new(format!(r#"DROP SCHEMA IF EXISTS "{name}" CASCADE"#))
}

/// Runs each batch on the whole database, ignoring failures, from a runtime
/// of its own: the test's runtime may be shutting down.
fn clean_up(batches: Vec<Vec<Statement>>) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            if let Ok(db) = PostgresExecutor::connect(&url()).await {
                for batch in &batches {
                    let _ = db.batch(batch).await;
                }
            }
        });
    })
    .join();
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

/// `url` with its user replaced by `role` (the test server trusts local
/// connections, so no password).
pub fn url_as(role: &str) -> String {
    let url = url();
    let (scheme, rest) = url
        .split_once("://")
        .expect("NEUTRINO_TEST_POSTGRES_URL is a postgres:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

/// A schema and its two roles, dropped when the test ends.
pub struct RlsGuard {
    pub schema: SchemaGuard,
    /// The role that owns the schema and its tables: the registry's, and the
    /// one migrations run as.
    pub owner: String,
    /// The application role: row grants only.
    pub app: String,
}

impl Drop for RlsGuard {
    fn drop(&mut self) {
        let (owner, app) = (&self.owner, &self.app);
        clean_up(vec![
            vec![drop_schema(&self.schema.name)],
            vec![
                Statement::new(format!(r#"DROP OWNED BY "{owner}", "{app}" CASCADE"#)),
                Statement::new(format!(r#"DROP ROLE IF EXISTS "{owner}", "{app}""#)),
            ],
        ]);
    }
}

/// A fresh schema owned by a fresh owner role, and a fresh application role
/// (no superuser, no BYPASSRLS, not the owner) with `USAGE` and `CREATE` on
/// the schema and, by default privileges, `SELECT, INSERT, UPDATE, DELETE` on
/// every table the owner creates there: as the PostgreSQL backend's docs
/// tell a host to set them up. Executors bound to the schema as each role.
pub async fn fresh_rls_schema() -> (PostgresExecutor, PostgresExecutor, RlsGuard) {
    let name = neutrino_core::testkit::unique("rls-");
    let (owner, app) = (format!("{name}-owner"), format!("{name}-app"));
    admin()
        .await
        .batch(&[
            Statement::new(format!(
                r#"CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"#
            )),
            Statement::new(format!(
                r#"CREATE ROLE "{app}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"#
            )),
            Statement::new(format!(r#"CREATE SCHEMA "{name}" AUTHORIZATION "{owner}""#)),
            Statement::new(format!(
                r#"GRANT USAGE, CREATE ON SCHEMA "{name}" TO "{app}""#
            )),
            Statement::new(format!(
                r#"ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{name}"
                   GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{app}""#
            )),
        ])
        .await
        .expect("create the roles and the schema");
    let guard = RlsGuard {
        schema: SchemaGuard { name: name.clone() },
        owner: owner.clone(),
        app: app.clone(),
    };
    let connect = |role: String| {
        let name = name.clone();
        async move {
            PostgresExecutor::builder(&url_as(&role))
                .expect("url")
                .schema(&name)
                .expect("schema name")
                .connect()
                .await
                .unwrap_or_else(|e| panic!("connect as {role}: {e:?}"))
        }
    };
    (connect(owner).await, connect(app).await, guard)
}
