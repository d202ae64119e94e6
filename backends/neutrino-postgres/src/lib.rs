//! # neutrino-postgres
//!
//! Neutrino's PostgreSQL backend, for platforms that outgrow one SQLite file:
//!
//! * [`PostgresExecutor`]: the SQL port on a PostgreSQL database, optionally bound
//!   to one schema (its `search_path`); a pool of pipelining connections with a
//!   prepared-statement cache per connection;
//! * [`PostgresKv`]: the KV port as a table, TTLs honoured on read, atomic
//!   counters;
//! * [`PostgresProvisioner`]: one schema per [`ResourceKind::Database`] resource,
//!   and the [`DatabaseConnector`] that opens an executor bound to it.
//!
//! ## The port's SQL on PostgreSQL
//!
//! The port's SQL is SQLite's dialect. The executor rewrites what PostgreSQL
//! spells differently, with a lexer that leaves string literals (`'…'`,
//! `E'…'`), quoted identifiers, dollar-quoted strings and comments untouched:
//!
//! * placeholders `?N` become `$N`; a bare `?` is refused, and `??` stands for
//!   a literal `?` (PostgreSQL's `jsonb` operator); a `$N` written in the SQL is
//!   refused, so that a statement means the same on every engine;
//! * the column types `INTEGER`, `REAL` and `BLOB` become `BIGINT`,
//!   `DOUBLE PRECISION` and `BYTEA` (`TEXT` stays), so that every integer is 64
//!   bits as in SQLite; `INTEGER PRIMARY KEY` (with or without `AUTOINCREMENT`)
//!   becomes an identity column, `WITHOUT ROWID` is dropped.
//!
//! Values are bound with the PostgreSQL type of their [`Value`] variant
//! (`BIGINT`, `DOUBLE PRECISION`, `TEXT`, `BYTEA`; `NULL` takes the type the
//! server infers), so a value of another type than its column's is refused by
//! the server and reported as [`Error::InvalidInput`]. Columns read back as
//! the variant of their type (`BOOLEAN` as `0`/`1`, `NUMERIC` as an integer when
//! it has no fraction, else a real); a type without a variant is
//! [`Error::Decode`].
//!
//! PostgreSQL has no rowid: [`ExecOutcome::last_insert_rowid`] is always `None`;
//! read a generated key with `INSERT … RETURNING`. A unique violation
//! (SQLSTATE 23505) is [`Error::AlreadyExists`] naming the constraint (never the
//! values); other constraint violations, bad SQL and values that do not fit are
//! [`Error::InvalidInput`]; serialization failures, deadlocks and lost
//! connections are retryable [`Error::Backend`] errors. No error or `Debug`
//! output carries the connection's password.
//!
//! [`SqlExecutor::batch`] pipelines `BEGIN`, the statements and `COMMIT` on one
//! connection: one transaction, close to one round trip once the statements
//! are prepared. A batch whose statements need what an earlier one creates (a
//! table, then its index) runs statement after statement in its transaction
//! instead. A batch whose future is dropped is still all or nothing (it may
//! have committed whole), and its connection never goes back to the pool
//! inside the abandoned transaction.
//!
//! Every transaction is `SERIALIZABLE` (the connections'
//! `default_transaction_isolation`), as SQLite's single writer makes them: a
//! write guarded by `EXISTS` over another row (a pending invitation, a live
//! session) is decided on what is committed, never on a snapshot a concurrent
//! write has since changed. A statement or batch that loses a serialization
//! conflict or a deadlock was rolled back whole and runs again, after a short
//! jittered pause, up to 40 times before the conflict is reported as a
//! retryable [`Error::Backend`].
//!
//! Connections are not encrypted yet (no TLS): reach the server over a Unix
//! socket or a private network.
//!
//! The guarded calls of the port refuse on the text, conservatively
//! ([`SqlGuard::check_text`] and PostgreSQL's own escape hatches: catalogs,
//! functions that run SQL given as text or read files, session settings,
//! other schemas); row-level security and roles will let the engine judge.
//!
//! [`ResourceKind::Database`]: neutrino_core::provision::ResourceKind::Database
//! [`DatabaseConnector`]: neutrino_core::provision::DatabaseConnector
//! [`Value`]: neutrino_core::sql::Value
//! [`Error::InvalidInput`]: neutrino_core::Error::InvalidInput
//! [`Error::AlreadyExists`]: neutrino_core::Error::AlreadyExists
//! [`Error::Decode`]: neutrino_core::Error::Decode
//! [`Error::Backend`]: neutrino_core::Error::Backend
//! [`ExecOutcome::last_insert_rowid`]: neutrino_core::sql::ExecOutcome::last_insert_rowid
//! [`SqlExecutor::batch`]: neutrino_core::sql::SqlExecutor::batch
//! [`SqlGuard::check_text`]: neutrino_core::sql::SqlGuard::check_text
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod executor;
mod kv;
mod provisioner;
mod rewrite;
mod value;

pub use executor::{PostgresExecutor, PostgresExecutorBuilder};
pub use kv::PostgresKv;
pub use provisioner::PostgresProvisioner;
