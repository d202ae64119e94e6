//! [`PostgresKv`]: the KV port as a table of a PostgreSQL database.

use neutrino_core::kv::SqlKv;

use crate::PostgresExecutor;

/// A [`KvStore`](neutrino_core::kv::KvStore) namespace kept in a table
/// (`_neutrino_kv`) of a PostgreSQL database: the shared [`SqlKv`] over a
/// [`PostgresExecutor`].
///
/// Expiry times are stored in milliseconds. An expired key is never returned or
/// listed; it is deleted when a `get` meets it, and [`SqlKv::purge_expired`]
/// deletes all of a namespace's expired keys (call it from a periodic task).
/// Increments are one UPSERT: the conflict's row lock orders concurrent ones.
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
pub type PostgresKv = SqlKv<PostgresExecutor>;
