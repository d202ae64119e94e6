//! Versioned migrations, applied through any [`SqlExecutor`].
//!
//! Each crate owns its migrations under a component name. Applied migrations are
//! recorded in `"_neutrino_migrations"` with a checksum of their SQL; a migration
//! whose SQL changed after it was applied stops the run with an error instead of
//! leaving the schema in an unknown state.
//!
//! ```
//! use neutrino::migrate::{Migration, Migrations};
//! static PETS: Migrations = Migrations::new("pets", &[
//!     Migration {
//!         version: 1,
//!         name: "create pet",
//!         statements: &[r#"CREATE TABLE "pet" ("id" TEXT PRIMARY KEY, "name" TEXT NOT NULL)"#],
//!     },
//! ]);
//! # let _ = &PETS;
//! ```

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::clock::millis_since_epoch;
use crate::error::{Error, Result};
use crate::sql::{Dialect, ExecOutcome, SqlExecutor, Statement};

const CREATE_TABLE: &str = r#"CREATE TABLE IF NOT EXISTS "_neutrino_migrations" (
    "component" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "checksum" TEXT NOT NULL,
    "applied_at" INTEGER NOT NULL,
    PRIMARY KEY ("component", "version")
)"#;

/// Takes the lock of schema changes to the executor's schema on PostgreSQL,
/// until the end of the transaction (`pg_advisory_xact_lock`): the two keys
/// are a constant of Neutrino's and a hash of the schema's name.
const SCHEMA_LOCK: &str = "SELECT pg_advisory_xact_lock(1853187689, hashtext(current_schema()))";

/// Runs `stmts`, schema changes, as one atomic [`SqlExecutor::batch`], and
/// on PostgreSQL one such batch at a time per schema, across processes: the
/// batch first takes a transaction-scoped advisory lock, so concurrent
/// first starts do not race in the catalogs (two `CREATE TABLE IF NOT
/// EXISTS` of one table both creating it, the second failing on the
/// catalog's unique index). A statement that runs after the lock sees what
/// the batches before it committed (the catalogs are read afresh), so
/// `IF NOT EXISTS` decides on it. SQLite and D1 run one write transaction at
/// a time already: a plain batch. The outcomes are the statements' own.
pub async fn schema_batch(db: &dyn SqlExecutor, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
    if db.dialect() != Dialect::Postgres {
        return db.batch(stmts).await;
    }
    let mut batch = Vec::with_capacity(stmts.len() + 1);
    batch.push(Statement::new(SCHEMA_LOCK));
    batch.extend(stmts.iter().cloned());
    let mut out = db.batch(&batch).await?;
    if !out.is_empty() {
        out.remove(0);
    }
    Ok(out)
}

/// One migration: statements applied together, atomically.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, strictly increasing within a component (1, 2, …).
    pub version: u32,
    /// A short description.
    pub name: &'static str,
    /// The statements, one SQL statement each (no `;`-joined scripts, so that
    /// triggers with bodies need no splitting).
    pub statements: &'static [&'static str],
}

impl Migration {
    /// A component's first migration (version 1), for a schema that is one
    /// migration so far.
    pub const fn first(name: &'static str, statements: &'static [&'static str]) -> Self {
        Self {
            version: 1,
            name,
            statements,
        }
    }

    /// SHA-256 over the statements, hex-encoded.
    pub fn checksum(&self) -> String {
        let mut h = Sha256::new();
        for s in self.statements {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The migrations of one component (usually one crate).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    component: &'static str,
    list: &'static [Migration],
    postgres: Option<&'static [Migration]>,
}

/// A migration that is recorded as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Its version.
    pub version: u32,
    /// Its name when applied.
    pub name: String,
    /// Its checksum when applied.
    pub checksum: String,
}

impl Migrations {
    /// The migrations of `component`, in version order.
    ///
    /// The statements are in the port's dialect, and every executor runs them
    /// (the PostgreSQL one maps the column types, see
    /// [`Dialect::Postgres`]); a component whose schema needs what one
    /// engine spells differently (a trigger) gives that engine its own list
    /// with [`Migrations::with_postgres`].
    pub const fn new(component: &'static str, list: &'static [Migration]) -> Self {
        Self {
            component,
            list,
            postgres: None,
        }
    }

    /// The same migrations written for PostgreSQL, run instead of the default
    /// list on an executor whose [`SqlExecutor::dialect`] is
    /// [`Dialect::Postgres`]: the same versions and names, statements that
    /// differ only where the engines do.
    pub const fn with_postgres(self, list: &'static [Migration]) -> Self {
        Self {
            postgres: Some(list),
            ..self
        }
    }

    /// The migrations run on an engine of `dialect`.
    pub fn for_dialect(&self, dialect: Dialect) -> &'static [Migration] {
        match (dialect, self.postgres) {
            (Dialect::Postgres, Some(pg)) => pg,
            _ => self.list,
        }
    }

    /// The list for `db`'s dialect.
    fn list_for(&self, db: &dyn SqlExecutor) -> &'static [Migration] {
        self.for_dialect(db.dialect())
    }

    /// The component name.
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// Refuses lists whose versions do not increase strictly, and a
    /// PostgreSQL list whose versions and names are not those of the default
    /// one (a migration added to one list only), on every engine.
    fn check(&self) -> Result<()> {
        for list in [Some(self.list), self.postgres].into_iter().flatten() {
            let mut last = 0;
            for m in list {
                if m.version <= last {
                    return Err(Error::invalid(
                        "migrations",
                        format!(
                            "{}: versions must increase strictly, found {} after {last}",
                            self.component, m.version
                        ),
                    ));
                }
                last = m.version;
            }
        }
        let names =
            |list: &[Migration]| list.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        if let Some(pg) = self.postgres
            && names(pg) != names(self.list)
        {
            return Err(Error::invalid(
                "migrations",
                format!(
                    "{}: the PostgreSQL migrations must have the versions and names of the default ones",
                    self.component
                ),
            ));
        }
        Ok(())
    }

    /// The migrations recorded as applied for this component, by version.
    pub async fn applied(&self, db: &dyn SqlExecutor) -> Result<Vec<AppliedMigration>> {
        schema_batch(db, &[Statement::new(CREATE_TABLE)]).await?;
        let rows = db
            .query(
                &Statement::new(
                    r#"SELECT "version", "name", "checksum" FROM "_neutrino_migrations"
                       WHERE "component" = ?1 ORDER BY "version""#,
                )
                .bind(self.component),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AppliedMigration {
                    version: r.get("version")?,
                    name: r.get("name")?,
                    checksum: r.get("checksum")?,
                })
            })
            .collect()
    }

    fn verify(&self, list: &[Migration], applied: &[AppliedMigration]) -> Result<()> {
        for a in applied {
            let Some(m) = list.iter().find(|m| m.version == a.version) else {
                return Err(Error::invalid(
                    "migrations",
                    format!(
                        "{}: the database has version {} ({:?}) which this build does not know",
                        self.component, a.version, a.name
                    ),
                ));
            };
            if m.checksum() != a.checksum {
                return Err(Error::invalid(
                    "migrations",
                    format!(
                        "{}: version {} ({:?}) was changed after it was applied",
                        self.component, a.version, m.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Applies every migration not applied yet, in order, each in one atomic batch
    /// with its record. Returns the versions applied by this call.
    ///
    /// Refuses to run (and changes nothing) when an applied migration's checksum
    /// differs from this build's, or the database has a version this build does not
    /// know. Safe to run concurrently: each migration's batch is a
    /// [`schema_batch`] (on PostgreSQL, one at a time per schema), and a
    /// migration applied by another process in the meantime is accepted if its
    /// checksum matches.
    pub async fn run(&self, db: &dyn SqlExecutor) -> Result<Vec<u32>> {
        self.check()?;
        let list = self.list_for(db);
        let applied = self.applied(db).await?;
        self.verify(list, &applied)?;
        let mut done = Vec::new();
        for m in list {
            if applied.iter().any(|a| a.version == m.version) {
                continue;
            }
            let mut batch: Vec<Statement> =
                m.statements.iter().map(|s| Statement::new(*s)).collect();
            batch.push(
                Statement::new(
                    r#"INSERT INTO "_neutrino_migrations" ("component", "version", "name", "checksum", "applied_at")
                       VALUES (?1, ?2, ?3, ?4, ?5)"#,
                )
                .bind(self.component)
                .bind(m.version)
                .bind(m.name)
                .bind(m.checksum())
                .bind(millis_since_epoch(SystemTime::now())),
            );
            if let Err(e) = schema_batch(db, &batch).await {
                // Another process may have applied it meanwhile.
                let now = self.applied(db).await?;
                if now.iter().any(|a| a.version == m.version) {
                    self.verify(list, &now)?;
                    continue;
                }
                return Err(e);
            }
            tracing::info!(
                component = self.component,
                version = m.version,
                name = m.name,
                "migration applied"
            );
            done.push(m.version);
        }
        Ok(done)
    }
}
