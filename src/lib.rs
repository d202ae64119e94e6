//! # Neutrino
//!
//! A Rust SDK for multi-tenant SaaS platforms: typed IDs and naming, backend
//! ports (SQL, KV, object storage, provisioning) and their implementations,
//! and identity. Backends and domain crates are chosen by cargo feature:
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | [`sqlite`]: SQLite databases, SQLite KV, local folders as buckets, a local provisioner |
//! | `cloudflare` | no | `cloudflare`: D1 (`D1Executor`), Workers KV (`WorkersKv`) and a provisioner for D1, R2, KV, Workers, DNS records and custom hostnames over Cloudflare's v4 API |
//! | `s3` | no | `s3`: object storage and bucket provisioning on AWS S3, Cloudflare R2 and any S3-compatible store |
//! | `auth` | yes | [`auth`]: Better Auth-compatible users, passwords, sessions, signed cookies, origin checks, rate limiting, reset and verification emails, audit log |
//!
//! Everything from [`neutrino_core`] is re-exported at the root, and
//! [`tenancy`] holds the registry, tenant scopes and the tenant-scoped store.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use neutrino_core::*;

/// Registry, tenant scopes, tenant-scoped queries, suspension, host resolution.
#[doc(inline)]
pub use neutrino_tenancy as tenancy;

/// The embedded default backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
#[doc(inline)]
pub use neutrino_sqlite as sqlite;

/// Users, passwords, sessions and cookies, compatible with Better Auth
/// (feature `auth`).
#[cfg(feature = "auth")]
#[doc(inline)]
pub use neutrino_auth as auth;
/// The Cloudflare backend (feature `cloudflare`).
#[cfg(feature = "cloudflare")]
#[doc(inline)]
pub use neutrino_cloudflare as cloudflare;
/// The S3 backend: AWS S3, Cloudflare R2 and S3-compatible stores (feature `s3`).
#[cfg(feature = "s3")]
#[doc(inline)]
pub use neutrino_s3 as s3;
