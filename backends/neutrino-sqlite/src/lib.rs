//! # neutrino-sqlite
//!
//! Neutrino's embedded default backend, for development, tests, single-server
//! deployments and the quickstart:
//!
//! * [`SqliteExecutor`]: the SQL port on a SQLite file (bundled SQLite, WAL,
//!   `foreign_keys=ON`, busy timeout, prepared-statement cache, one writer and
//!   concurrent readers, each connection on its own thread);
//! * [`SqliteKv`]: the KV port as a table, TTLs honoured on read;
//! * [`LocalObjectStore`]: the object-store port over a folder, atomic writes,
//!   keys that could escape the folder refused;
//! * [`LocalProvisioner`]: databases, buckets and KV namespaces under a root
//!   folder.
//!
//! Every type passes the conformance suites of `neutrino_core::testkit`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod executor;
mod guard;
mod kv;
mod object;
mod provisioner;
mod worker;

pub use executor::{SqliteExecutor, SqliteExecutorBuilder};
pub use kv::SqliteKv;
pub use object::LocalObjectStore;
pub use provisioner::LocalProvisioner;
