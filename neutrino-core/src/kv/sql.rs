//! [`SqlKv`]: the KV port as a table (`_neutrino_kv`) of any SQL database
//! behind the [`SqlExecutor`] port.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use tracing::Instrument;

use crate::clock::{SharedClock, system_clock};
use crate::error::{Error, Result};
use crate::kv::{self, KvCounter, KvKey, KvPage, KvStore};
use crate::migrate::{Migration, Migrations};
use crate::sql::{Dialect, SqlExecutor, Statement};
use crate::trace::{Port, port_span};

/// The table on SQLite, recorded under the SQLite backend's component name.
static SQLITE_MIGRATIONS: Migrations = Migrations::new(
    "neutrino-sqlite-kv",
    &[Migration::first(
        "kv entries",
        &[r#"CREATE TABLE IF NOT EXISTS "_neutrino_kv" (
            "namespace" TEXT NOT NULL,
            "key" TEXT NOT NULL,
            "value" BLOB NOT NULL,
            "expires_at" INTEGER,
            PRIMARY KEY ("namespace", "key")
        ) WITHOUT ROWID"#],
    )],
);

/// The table on PostgreSQL: keys compare byte-wise (`COLLATE "C"`), as on
/// SQLite, so listing by prefix reads one contiguous range.
static POSTGRES_MIGRATIONS: Migrations = Migrations::new(
    "neutrino-postgres-kv",
    &[Migration::first(
        "kv entries",
        &[r#"CREATE TABLE IF NOT EXISTS "_neutrino_kv" (
            "namespace" TEXT NOT NULL,
            "key" TEXT COLLATE "C" NOT NULL,
            "value" BLOB NOT NULL,
            "expires_at" INTEGER,
            PRIMARY KEY ("namespace", "key")
        )"#],
    )],
);

const GET: &str =
    r#"SELECT "value", "expires_at" FROM "_neutrino_kv" WHERE "namespace" = ?1 AND "key" = ?2"#;
const PUT: &str = r#"INSERT INTO "_neutrino_kv" ("namespace", "key", "value", "expires_at") VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT ("namespace", "key") DO UPDATE SET "value" = excluded."value", "expires_at" = excluded."expires_at""#;
const DELETE: &str = r#"DELETE FROM "_neutrino_kv" WHERE "namespace" = ?1 AND "key" = ?2"#;
const DELETE_IF_EXPIRED: &str = r#"DELETE FROM "_neutrino_kv"
    WHERE "namespace" = ?1 AND "key" = ?2 AND "expires_at" IS NOT NULL AND "expires_at" <= ?3"#;
const PURGE: &str = r#"DELETE FROM "_neutrino_kv" WHERE "namespace" = ?1 AND "expires_at" IS NOT NULL AND "expires_at" <= ?2"#;
/// One atomic statement: a new, expired, unexpiring or non-numeric entry
/// restarts at 1 with a fresh expiry; a live counter adds one.
const INCREMENT_SQLITE: &str = r#"INSERT INTO "_neutrino_kv" ("namespace", "key", "value", "expires_at") VALUES (?1, ?2, CAST('1' AS BLOB), ?4)
    ON CONFLICT ("namespace", "key") DO UPDATE SET
        "value" = CASE WHEN "expires_at" IS NOT NULL AND "expires_at" > ?3 AND length("value") BETWEEN 1 AND 18 AND CAST("value" AS TEXT) NOT GLOB '*[^0-9]*'
            THEN CAST(CAST(CAST(CAST("value" AS TEXT) AS INTEGER) + 1 AS TEXT) AS BLOB)
            ELSE CAST('1' AS BLOB) END,
        "expires_at" = CASE WHEN "expires_at" IS NOT NULL AND "expires_at" > ?3 AND length("value") BETWEEN 1 AND 18 AND CAST("value" AS TEXT) NOT GLOB '*[^0-9]*'
            THEN "expires_at" ELSE ?4 END
    RETURNING "value", "expires_at""#;
/// [`INCREMENT_SQLITE`] in PostgreSQL's terms (byte strings, regular expressions).
const INCREMENT_POSTGRES: &str = r#"INSERT INTO "_neutrino_kv" AS "e" ("namespace", "key", "value", "expires_at") VALUES (?1, ?2, convert_to('1', 'UTF8'), ?4)
    ON CONFLICT ("namespace", "key") DO UPDATE SET
        "value" = CASE WHEN "e"."expires_at" IS NOT NULL AND "e"."expires_at" > ?3 AND octet_length("e"."value") BETWEEN 1 AND 18 AND encode("e"."value", 'escape') ~ '^[0-9]+$'
            THEN convert_to((convert_from("e"."value", 'UTF8')::BIGINT + 1)::TEXT, 'UTF8')
            ELSE convert_to('1', 'UTF8') END,
        "expires_at" = CASE WHEN "e"."expires_at" IS NOT NULL AND "e"."expires_at" > ?3 AND octet_length("e"."value") BETWEEN 1 AND 18 AND encode("e"."value", 'escape') ~ '^[0-9]+$'
            THEN "e"."expires_at" ELSE ?4 END
    RETURNING "value", "expires_at""#;
const LIST: &str = r#"SELECT "key", "expires_at" FROM "_neutrino_kv"
    WHERE "namespace" = ?1 AND "key" >= ?2 AND "key" > ?3 AND ("expires_at" IS NULL OR "expires_at" > ?4)
    ORDER BY "key" LIMIT ?5"#;

/// A [`KvStore`] namespace kept in a table (`_neutrino_kv`) of a SQL database,
/// on any [`SqlExecutor`]; the statements that differ between engines (the
/// table and the counter) follow [`SqlExecutor::dialect`]. The SQLite and
/// PostgreSQL backends' KV stores are this type over their executors.
///
/// Expiry times are stored in milliseconds. An expired key is never returned or
/// listed; it is deleted when a `get` meets it, and [`SqlKv::purge_expired`]
/// deletes all of a namespace's expired keys (call it from a periodic task).
/// [`KvStore::increment`] is one atomic `INSERT … ON CONFLICT … RETURNING`:
/// the database orders concurrent increments of a key.
#[derive(Debug, Clone)]
pub struct SqlKv<E> {
    db: E,
    namespace: String,
    clock: SharedClock,
}

fn to_millis(t: SystemTime) -> i64 {
    crate::clock::millis_since_epoch(t)
}

fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The backend name of spans and errors.
fn backend(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
    }
}

impl<E: SqlExecutor> SqlKv<E> {
    /// The namespace `namespace` in `db`, creating the table if needed.
    pub async fn open(db: E, namespace: &str) -> Result<Self> {
        Self::open_with_clock(db, namespace, system_clock()).await
    }

    /// As [`SqlKv::open`], with TTLs measured on `clock`.
    pub async fn open_with_clock(db: E, namespace: &str, clock: SharedClock) -> Result<Self> {
        if !crate::naming::rules::is_valid_kv_title(namespace) {
            return Err(Error::invalid("kv namespace", "must be 1-512 bytes"));
        }
        Self::migrations(db.dialect()).run(&db).await?;
        Ok(Self {
            db,
            namespace: namespace.to_owned(),
            clock,
        })
    }

    /// The migrations that create the table on `dialect`: [`SqlKv::open`]
    /// runs them; a provisioner may run them ahead.
    pub fn migrations(dialect: Dialect) -> &'static Migrations {
        match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// The namespace name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Deletes every expired key of the namespace; returns how many.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = self.clock.now_millis();
        let out = self
            .db
            .execute(
                &Statement::new(PURGE)
                    .bind(self.namespace.as_str())
                    .bind(now),
            )
            .instrument(self.span("purge_expired"))
            .await?;
        Ok(out.rows_affected)
    }

    fn backend(&self) -> &'static str {
        backend(self.db.dialect())
    }

    fn span(&self, op: &'static str) -> tracing::Span {
        port_span(Port::Kv, self.backend(), op, &self.namespace)
    }
}

#[async_trait]
impl<E: SqlExecutor> KvStore for SqlKv<E> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        async {
            kv::validate_key(key)?;
            let rows = self
                .db
                .query(&Statement::new(GET).bind(self.namespace.as_str()).bind(key))
                .await?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            let now = self.clock.now_millis();
            match row.get::<Option<i64>>("expires_at")? {
                Some(exp) if exp <= now => {
                    self.db
                        .execute(
                            &Statement::new(DELETE_IF_EXPIRED)
                                .bind(self.namespace.as_str())
                                .bind(key)
                                .bind(now),
                        )
                        .await?;
                    Ok(None)
                }
                _ => Ok(Some(Bytes::from(row.get::<Vec<u8>>("value")?))),
            }
        }
        .instrument(self.span("get"))
        .await
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        async {
            kv::validate_key(key)?;
            kv::validate_ttl(ttl)?;
            let expires = ttl.map(|t| to_millis(self.clock.now() + t));
            self.db
                .execute(
                    &Statement::new(PUT)
                        .bind(self.namespace.as_str())
                        .bind(key)
                        .bind(value.to_vec())
                        .bind(expires),
                )
                .await?;
            Ok(())
        }
        .instrument(self.span("put"))
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        async {
            kv::validate_key(key)?;
            self.db
                .execute(
                    &Statement::new(DELETE)
                        .bind(self.namespace.as_str())
                        .bind(key),
                )
                .await?;
            Ok(())
        }
        .instrument(self.span("delete"))
        .await
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KvPage> {
        async {
            kv::validate_list(prefix, limit)?;
            // Rows at or after the prefix in byte order: those that start with it
            // come first, so the page ends at the first row that does not.
            let rows = self
                .db
                .query(
                    &Statement::new(LIST)
                        .bind(self.namespace.as_str())
                        .bind(prefix)
                        .bind(cursor.unwrap_or(""))
                        .bind(self.clock.now_millis())
                        .bind(limit as i64 + 1),
                )
                .await?;
            let mut keys = Vec::with_capacity(rows.len().min(limit));
            let mut more = false;
            for row in rows {
                let name: String = row.get("key")?;
                if !name.starts_with(prefix) {
                    break;
                }
                if keys.len() == limit {
                    more = true;
                    break;
                }
                keys.push(KvKey {
                    name,
                    expires_at: row.get::<Option<i64>>("expires_at")?.map(from_millis),
                });
            }
            let cursor = if more {
                keys.last().map(|k: &KvKey| k.name.clone())
            } else {
                None
            };
            Ok(KvPage { keys, cursor })
        }
        .instrument(self.span("list"))
        .await
    }

    fn atomic_counters(&self) -> bool {
        true
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<KvCounter> {
        async {
            kv::validate_key(key)?;
            kv::validate_ttl(Some(ttl))?;
            let now = self.clock.now();
            let sql = match self.db.dialect() {
                Dialect::Sqlite => INCREMENT_SQLITE,
                Dialect::Postgres => INCREMENT_POSTGRES,
            };
            // One UPSERT: SQLite's single writer, or PostgreSQL's row lock on
            // the conflict, orders concurrent increments.
            let rows = self
                .db
                .query(
                    &Statement::new(sql)
                        .bind(self.namespace.as_str())
                        .bind(key)
                        .bind(to_millis(now))
                        .bind(to_millis(now + ttl)),
                )
                .await?;
            let row = rows.into_iter().next().ok_or_else(|| {
                Error::backend(self.backend(), false, "increment returned no row")
            })?;
            let value: Vec<u8> = row.get("value")?;
            let count = kv::parse_counter(&value)
                .ok_or_else(|| Error::backend(self.backend(), false, "counter is not a number"))?;
            let expires: Option<i64> = row.get("expires_at")?;
            Ok(KvCounter {
                count,
                expires_at: from_millis(expires.unwrap_or_else(|| to_millis(now + ttl))),
            })
        }
        .instrument(self.span("increment"))
        .await
    }
}
