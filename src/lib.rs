//! # Neutrino
//!
//! A Rust SDK for multi-tenant SaaS platforms: typed IDs and naming, backend
//! ports (SQL, KV, object storage, provisioning) and their implementations.
//! Backends are chosen by cargo feature:
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | [`sqlite`]: SQLite databases, SQLite KV, local folders as buckets, a local provisioner |
//! | `s3` | no | `s3`: object storage and bucket provisioning on AWS S3, Cloudflare R2 and any S3-compatible store |
//!
//! Everything from [`neutrino_core`] is re-exported at the root.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use neutrino_core::*;

/// The embedded default backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use neutrino_sqlite as sqlite;

/// The S3 backend: AWS S3, Cloudflare R2 and S3-compatible stores (feature `s3`).
#[cfg(feature = "s3")]
pub use neutrino_s3 as s3;
