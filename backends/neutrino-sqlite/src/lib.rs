//! # neutrino-sqlite
//!
//! Neutrino's embedded default backend, for development, tests, single-server
//! deployments and the quickstart:
//!
//! * [`SqliteExecutor`]: the SQL port on a SQLite file (bundled SQLite, WAL,
//!   `foreign_keys=ON`, busy timeout, prepared-statement cache, one writer on
//!   its own thread and a pool of concurrent readers that read on the caller's
//!   thread, through a memory map of the file);
//! * [`SqliteKv`]: the KV port as a table, TTLs honoured on read;
//! * [`LocalObjectStore`]: the object-store port over a folder, atomic writes,
//!   keys that could escape the folder refused;
//! * [`LocalProvisioner`]: databases, buckets and KV namespaces under a root
//!   folder.
//!
//! Every type passes the conformance suites of `neutrino_core::testkit`.
//!
//! ## Durability
//!
//! Every database is in WAL mode with `synchronous=NORMAL`:
//!
//! * **a process crash** (a panic, `kill -9`, an OOM kill) loses nothing that
//!   was committed: a call that returned `Ok` is on disk, and the next opener
//!   recovers the WAL;
//! * **a power loss or an operating-system crash** may lose the last
//!   transactions committed before it (those not yet checkpointed or synced),
//!   but never corrupts a database: each comes back as of some earlier commit,
//!   and every batch stays all-or-nothing;
//! * files of a [`LocalProvisioner`] (a bucket's objects, a database file's
//!   creation or removal) are plain file-system operations, with the file
//!   system's guarantees.
//!
//! Neutrino's own multi-step operations are built for the first case: the
//! registry records a resource as `pending` before creating it, and resume,
//! rollback and teardown repair whatever a crash left (the tenancy crate's crash
//! test kills onboarding processes at random points and audits the result). After
//! a power loss, run the same resume, rollback or teardown and `verify`. A
//! deployment that cannot lose a committed transaction on power loss needs
//! `synchronous=FULL` (not configurable here yet) or a server database.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod executor;
mod guard;
mod kv;
mod object;
mod provisioner;
mod reader;
mod worker;

pub use executor::{SqliteExecutor, SqliteExecutorBuilder};
pub use kv::SqliteKv;
pub use object::LocalObjectStore;
pub use provisioner::LocalProvisioner;
