//! [`PostgresKv`]: the KV port as a table of a PostgreSQL database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use neutrino_core::clock::{SharedClock, system_clock};
use neutrino_core::kv::{self, KvCounter, KvKey, KvPage, KvStore};
use neutrino_core::migrate::{Migration, Migrations};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use tracing::Instrument;

use crate::PostgresExecutor;

pub(crate) static KV_MIGRATIONS: Migrations = Migrations::new(
    "neutrino-postgres-kv",
    &[Migration {
        version: 1,
        name: "kv entries",
        statements: &[r#"CREATE TABLE IF NOT EXISTS "_neutrino_kv" (
            "namespace" TEXT NOT NULL,
            "key" TEXT COLLATE "C" NOT NULL,
            "value" BLOB NOT NULL,
            "expires_at" INTEGER,
            PRIMARY KEY ("namespace", "key")
        )"#],
    }],
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
const INCREMENT: &str = r#"INSERT INTO "_neutrino_kv" AS "e" ("namespace", "key", "value", "expires_at") VALUES (?1, ?2, convert_to('1', 'UTF8'), ?4)
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

/// A [`KvStore`] namespace kept in a table (`_neutrino_kv`) of a PostgreSQL database.
///
/// Expiry times are stored in milliseconds. An expired key is never returned or
/// listed; it is deleted when a `get` meets it, and [`PostgresKv::purge_expired`]
/// deletes all of a namespace's expired keys (call it from a periodic task).
///
/// ```no_run
/// # async fn run() -> neutrino::Result<()> {
/// use neutrino::kv::KvStore;
/// use neutrino::postgres::{PostgresExecutor, PostgresKv};
/// let db = PostgresExecutor::connect("postgres://app@localhost/app").await?;
/// let kv = PostgresKv::open(db, "sessions").await?;
/// kv.put("platform:k3m9p2xw7q:status", "active".into(), None).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresKv {
    db: PostgresExecutor,
    namespace: String,
    clock: SharedClock,
}

fn to_millis(t: SystemTime) -> i64 {
    neutrino_core::clock::millis_since_epoch(t)
}

fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl PostgresKv {
    /// The namespace `namespace` in `db`, creating the table if needed.
    pub async fn open(db: PostgresExecutor, namespace: &str) -> Result<Self> {
        Self::open_with_clock(db, namespace, system_clock()).await
    }

    /// As [`PostgresKv::open`], with TTLs measured on `clock`.
    pub async fn open_with_clock(
        db: PostgresExecutor,
        namespace: &str,
        clock: SharedClock,
    ) -> Result<Self> {
        if !neutrino_core::naming::rules::is_valid_kv_title(namespace) {
            return Err(Error::invalid("kv namespace", "must be 1-512 bytes"));
        }
        KV_MIGRATIONS.run(&db).await?;
        Ok(Self {
            db,
            namespace: namespace.to_owned(),
            clock,
        })
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
            .instrument(port_span(
                Port::Kv,
                "postgres",
                "purge_expired",
                &self.namespace,
            ))
            .await?;
        Ok(out.rows_affected)
    }
}

#[async_trait]
impl KvStore for PostgresKv {
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
        .instrument(port_span(Port::Kv, "postgres", "get", &self.namespace))
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
        .instrument(port_span(Port::Kv, "postgres", "put", &self.namespace))
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
        .instrument(port_span(Port::Kv, "postgres", "delete", &self.namespace))
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
        .instrument(port_span(Port::Kv, "postgres", "list", &self.namespace))
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
            // One UPSERT: the conflict's row lock orders concurrent increments.
            let rows = self
                .db
                .query(
                    &Statement::new(INCREMENT)
                        .bind(self.namespace.as_str())
                        .bind(key)
                        .bind(to_millis(now))
                        .bind(to_millis(now + ttl)),
                )
                .await?;
            let row = rows
                .into_iter()
                .next()
                .ok_or_else(|| Error::backend("postgres", false, "increment returned no row"))?;
            let value: Vec<u8> = row.get("value")?;
            let count = kv::parse_counter(&value)
                .ok_or_else(|| Error::backend("postgres", false, "counter is not a number"))?;
            let expires: Option<i64> = row.get("expires_at")?;
            Ok(KvCounter {
                count,
                expires_at: from_millis(expires.unwrap_or_else(|| to_millis(now + ttl))),
            })
        }
        .instrument(port_span(
            Port::Kv,
            "postgres",
            "increment",
            &self.namespace,
        ))
        .await
    }
}
