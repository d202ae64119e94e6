//! # neutrino-postgres
//!
//! Neutrino's PostgreSQL backend, for platforms that outgrow one SQLite file:
//!
//! * [`PostgresExecutor`]: the SQL port on a PostgreSQL database, optionally bound
//!   to one schema (its `search_path`); a pool of connections of its own
//!   over PostgreSQL's extended protocol, each sending a whole call (a bound
//!   statement, a batch) under one `Sync`, with a bounded prepared-statement
//!   cache per connection;
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
//! [`SqlExecutor::batch`] sends `BEGIN`, the statements and `COMMIT` as
//! extended-protocol messages ended by one `Sync`: one transaction, one round
//! trip (a statement not yet prepared on the connection is parsed in the same
//! round trip). The server parses each statement after the previous one ran,
//! so a statement may use what an earlier one creates (a table, then its
//! index). A call whose future is dropped is still all or nothing (it may
//! have committed whole), and its connection is closed at once, never reused
//! mid-protocol (the server rolls back what it had not committed).
//!
//! Every write (DML other than a plain `SELECT`, and every batch) is
//! `SERIALIZABLE`, as SQLite's single writer makes them: it runs between
//! `BEGIN ISOLATION LEVEL SERIALIZABLE` and `COMMIT`, sent in its round trip,
//! so a write guarded by `EXISTS` over another row (a pending invitation, a
//! live session) is decided on what is committed, never on a snapshot a
//! concurrent write has since changed. A plain `SELECT`, bound or not, runs
//! in the implicit transaction of its round trip at `READ COMMITTED` (the
//! connections' `default_transaction_isolation`, whatever the server's): a
//! snapshot of what is committed when it starts; a read decides nothing the
//! database must keep, so serializable would only add predicate locks for
//! the writes to check. A statement or batch that
//! loses a serialization conflict or a deadlock was rolled back whole and
//! runs again, after a short jittered pause, up to 64 times before the
//! conflict is reported as a retryable [`Error::Backend`]. A statement that
//! leaves a transaction open (`BEGIN` run alone) is rolled back and refused
//! as [`Error::InvalidInput`]: every connection goes back to the pool idle,
//! outside any transaction.
//!
//! Connections authenticate with trust, a cleartext or MD5 password, or
//! SCRAM-SHA-256, to the configuration's hosts in turn (TCP names or
//! addresses, or Unix-socket directories: `host=/var/run/postgresql`). A
//! server that refuses the credentials (a wrong password, a role that may not
//! log in), or a password it asks for that the configuration lacks, is
//! [`Error::Config`] with the key `credentials`, whose message says that
//! authentication failed and never holds the password.
//!
//! TLS (rustls) is as the URL's `sslmode` says, with libpq's names:
//! `disable`, or `prefer` (the default), connect without it (unlike libpq,
//! `prefer` does not try it: ask for `require` or better); `require` encrypts
//! without checking the server's certificate (unless `sslrootcert` names a CA
//! file: then as `verify-ca`); `verify-ca` checks that a CA of `sslrootcert`
//! signed the certificate; `verify-full` also that it was issued for the
//! host. TLS is for TCP hosts: a Unix-socket host with a mode that requires
//! it is refused. A server that refuses TLS, a certificate that does not
//! verify, an unknown `sslmode`, a missing or unreadable `sslrootcert` and
//! client certificates (not supported) are [`Error::Config`] with the key
//! `sslmode` or `sslrootcert`, never ignored.
//!
//! The guarded calls of the port refuse on the text, conservatively
//! ([`SqlGuard::check_text`] and PostgreSQL's own escape hatches: catalogs,
//! functions that run SQL given as text or read files, session settings,
//! other schemas); under them, row-level security lets the engine judge.
//!
//! ## Row-level security and roles
//!
//! The bound calls ([`SqlExecutor::execute_bound`],
//! [`SqlExecutor::query_bound`]) send, as extended-protocol messages ended by
//! one `Sync` (one round trip): a prepared
//! `SELECT WHERE set_config('neutrino.scope', $1, true) IS NOT NULL` (the
//! binding as a parameter: its `platform/tenant` pairs, comma-separated, the
//! tenant it writes as first, then the tenants it may also read) and the
//! statement, between `BEGIN` and `COMMIT` for a
//! write, in the implicit transaction that the `Sync` ends for a plain
//! `SELECT`: the binding is the transaction's only, never the connection's. A failure anywhere makes the
//! server skip to the `Sync`; a connection left in a transaction (failed or
//! not) is rolled back before the call returns, and one that cannot be, or
//! whose call was dropped mid-way, is closed and never reused, so a
//! connection goes back to the pool bound to nothing.
//! A `TenantStore` runs every statement through them, and its tables carry
//! policies on `platform_id` and `tenant_id` that read that setting
//! (`TenantStore::migrate` creates them): a statement bound to no tenant
//! reads and writes no tenanted row, whatever its `WHERE`.
//!
//! Policies hold only roles that cannot bypass them, so a deployment uses
//! three roles (names are the host's), each an executor of its own:
//!
//! * the **owner** of the tenanted tables' schema, which runs
//!   `TenantStore::migrate` (and may own the registry's and the auth layer's
//!   tables and run their migrations);
//! * the **registry**'s role, for `Registry::open` (cross-tenant registry
//!   work); it may be the owner;
//! * the **application** role, for `TenantStore::open`: not a superuser,
//!   without `BYPASSRLS`, not the tables' owner nor a member of a role that
//!   is any of these, with row grants only. `TenantStore::open` checks all
//!   of this and refuses to run otherwise.
//!
//! Set up once, as a superuser (or a role with `CREATEROLE`), for a schema
//! `app_data` holding the tenanted tables:
//!
//! ```sql
//! CREATE ROLE neutrino_owner LOGIN PASSWORD '…' NOSUPERUSER NOBYPASSRLS;
//! CREATE ROLE neutrino_app LOGIN PASSWORD '…' NOSUPERUSER NOBYPASSRLS;
//! CREATE SCHEMA app_data AUTHORIZATION neutrino_owner;
//! GRANT USAGE ON SCHEMA app_data TO neutrino_app;
//! ALTER DEFAULT PRIVILEGES FOR ROLE neutrino_owner IN SCHEMA app_data
//!     GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO neutrino_app;
//! ```
//!
//! Keep the registry and the auth tables in other schemas, where the
//! application role has no `USAGE`. Then, at start-up:
//!
//! ```no_run
//! # async fn run(kv: std::sync::Arc<dyn neutrino::kv::KvStore>) -> neutrino::Result<()> {
//! use std::sync::Arc;
//! use neutrino::postgres::PostgresExecutor;
//! use neutrino::tenancy::{ColumnType, Registry, RegistryOptions, TenantStore, TenantTable};
//! let owner = PostgresExecutor::builder("postgres://neutrino_owner@db/app")?
//!     .schema("app_data")?.connect().await?;
//! let app = PostgresExecutor::builder("postgres://neutrino_app@db/app")?
//!     .schema("app_data")?.connect().await?;
//! let registry_db = PostgresExecutor::builder("postgres://neutrino_owner@db/app")?
//!     .schema("neutrino-registry")?.connect().await?;
//! let registry = Registry::open(Arc::new(registry_db), kv, RegistryOptions::default()).await?;
//! let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
//! TenantStore::migrate(&owner, std::slice::from_ref(&notes)).await?;
//! let store = TenantStore::open(&registry, Arc::new(app), vec![notes]).await?;
//! # Ok(()) }
//! ```
//!
//!
//! With platforms provisioned as schemas (`Platforms`), the provisioner's
//! role is the owner, and [`PostgresProvisioner::role_connector`] connects
//! the tenant store of each platform's stack schema as the application role,
//! granting it `USAGE` and row rights there first
//! (`Platforms::with_store_connector`); the application role is made once,
//! as above, and never gets rights on the registry's or the auth schemas.
//!
//! [`ResourceKind::Database`]: neutrino_core::provision::ResourceKind::Database
//! [`DatabaseConnector`]: neutrino_core::provision::DatabaseConnector
//! [`Value`]: neutrino_core::sql::Value
//! [`Error::InvalidInput`]: neutrino_core::Error::InvalidInput
//! [`Error::AlreadyExists`]: neutrino_core::Error::AlreadyExists
//! [`Error::Decode`]: neutrino_core::Error::Decode
//! [`Error::Backend`]: neutrino_core::Error::Backend
//! [`Error::Config`]: neutrino_core::Error::Config
//! [`ExecOutcome::last_insert_rowid`]: neutrino_core::sql::ExecOutcome::last_insert_rowid
//! [`SqlExecutor::batch`]: neutrino_core::sql::SqlExecutor::batch
//! [`SqlExecutor::execute_bound`]: neutrino_core::sql::SqlExecutor::execute_bound
//! [`SqlExecutor::query_bound`]: neutrino_core::sql::SqlExecutor::query_bound
//! [`SqlGuard::check_text`]: neutrino_core::sql::SqlGuard::check_text
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod executor;
mod kv;
mod provisioner;
mod rewrite;
mod tls;
mod value;
mod wire;

pub use executor::{PostgresExecutor, PostgresExecutorBuilder};
pub use kv::PostgresKv;
pub use provisioner::{PostgresProvisioner, RoleConnector};
