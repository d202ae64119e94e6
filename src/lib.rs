//! # Neutrino
//!
//! A Rust SDK for multi-tenant SaaS platforms: typed IDs and naming, backend
//! ports (SQL, KV, object storage, provisioning) and their implementations,
//! and identity. Backends and domain crates are chosen by cargo feature:
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | [`sqlite`]: SQLite databases, SQLite KV, local folders as buckets, a local provisioner |
//! | `auth` | yes | [`auth`]: Better Auth-compatible users, passwords, sessions, signed cookies, origin checks, rate limiting, reset and verification emails, audit log |
//!
//! Everything from [`neutrino_core`] is re-exported at the root.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use neutrino_core::*;

/// The embedded default backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use neutrino_sqlite as sqlite;

/// Users, passwords, sessions and cookies, compatible with Better Auth
/// (feature `auth`).
#[cfg(feature = "auth")]
pub use neutrino_auth as auth;
