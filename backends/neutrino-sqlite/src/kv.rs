//! [`SqliteKv`]: the KV port as a table of a SQLite database.

use neutrino_core::kv::SqlKv;

use crate::SqliteExecutor;

/// A [`KvStore`](neutrino_core::kv::KvStore) namespace kept in a table
/// (`_neutrino_kv`) of a SQLite database: the shared [`SqlKv`] over a
/// [`SqliteExecutor`].
///
/// Expiry times are stored in milliseconds. An expired key is never returned or
/// listed; it is deleted when a `get` meets it, and [`SqlKv::purge_expired`]
/// deletes all of a namespace's expired keys (call it from a periodic task).
/// Increments are one UPSERT on the single writer: SQLite decides the count.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::Result<()> {
/// use neutrino::kv::KvStore;
/// use neutrino::sqlite::{SqliteExecutor, SqliteKv};
/// let kv = SqliteKv::open(SqliteExecutor::memory().await?, "sessions").await?;
/// kv.put("platform:k3m9p2xw7q:status", "active".into(), None).await?;
/// assert_eq!(kv.get("platform:k3m9p2xw7q:status").await?.as_deref(), Some(&b"active"[..]));
/// # Ok(()) }
/// ```
pub type SqliteKv = SqlKv<SqliteExecutor>;
