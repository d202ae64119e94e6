//! # Neutrino
//!
//! A Rust SDK for multi-tenant SaaS platforms: typed IDs and naming, backend
//! ports (SQL, KV, object storage, provisioning) and their implementations,
//! tenant isolation and identity. A host app depends on this crate only and
//! writes `use neutrino::…`. Backends and domain crates are chosen by cargo
//! feature:
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | [`sqlite`]: SQLite databases, SQLite KV, local folders as buckets, a local provisioner |
//! | `auth` | yes | [`auth`]: Better Auth-compatible users, passwords, sessions, signed cookies, organizations, invitations, API keys, two-factor, origin checks, rate limiting, reset and verification emails, audit log |
//! | `cloudflare` | no | `cloudflare`: D1 (`D1Executor`), Workers KV (`WorkersKv`) and a provisioner for D1, R2, KV, Workers, DNS records and custom hostnames over Cloudflare's v4 API |
//! | `s3` | no | `s3`: object storage and bucket provisioning on AWS S3, Cloudflare R2 and any S3-compatible store |
//! | `postgres` | no | `postgres`: the SQL port (`PostgresExecutor`), KV (`PostgresKv`) and a schema-per-database provisioner (`PostgresProvisioner`) on PostgreSQL |
//!
//! The core is re-exported at the root: [`ids`], [`naming`], [`Error`], the
//! ports [`sql::SqlExecutor`], [`kv::KvStore`], [`object::ObjectStore`] and
//! [`provision::Provisioner`], [`migrate`] and the in-[`memory`] backends.
//! [`tenancy`] holds the registry (platforms, tenants, stacks, resources), the
//! [`tenancy::TenantScope`], the tenant-scoped [`tenancy::TenantStore`] and
//! [`tenancy::provision`]ing.
//!
//! ## A platform, a user, an organization and its rows
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use neutrino::auth::org::{NewOrganization, Organizations};
//! use neutrino::auth::{Auth, RequestMeta, SignUpEmail};
//! use neutrino::memory::MemoryKv;
//! use neutrino::sqlite::SqliteExecutor;
//! use neutrino::tenancy::{
//!     ColumnType, ListQuery, NewPlatform, PlatformClass, Record, Registry, RegistryOptions,
//!     TenantStore, TenantTable,
//! };
//!
//! // The registry (a SQLite file in a real deployment), and the platform found
//! // by its name on every start.
//! let registry_db = Arc::new(SqliteExecutor::memory().await?);
//! let registry = Registry::open(registry_db, Arc::new(MemoryKv::new()), RegistryOptions::default()).await?;
//! let (platform, _created) = registry
//!     .open_or_create_platform(NewPlatform::new("Notes", PlatformClass::Platform))
//!     .await?;
//!
//! // The platform's auth database. Provisioning (`Plan::bootstrap`) creates and
//! // migrates it; `migrate` is idempotent, so calling it at start-up is safe.
//! let auth = Auth::builder(SqliteExecutor::memory().await?, "a secret of at least thirty-two bytes!")
//!     .build()?;
//! auth.migrate().await?;
//! let orgs = Organizations::new(auth.clone(), registry.clone(), platform.id, registry.scope_minter()?);
//!
//! // Ada signs up and creates an organization (a registry tenant), which
//! // becomes her session's active tenant.
//! let meta = RequestMeta::new("203.0.113.7", "doc-test");
//! let ada = auth
//!     .sign_up_email(SignUpEmail::new("Ada", "ada@example.com", "correct horse battery"), &meta)
//!     .await?
//!     .signed_in()
//!     .expect("no email verification required: signed in at once");
//! let acme = orgs
//!     .create_organization(&ada.session.token, NewOrganization::new("Acme", "acme"), &meta)
//!     .await?;
//!
//! // The tenant scope comes from her session, never from request data; every
//! // query of the store is confined to it.
//! let scope = orgs.scope(&ada.session.token).await?;
//! assert_eq!(scope.tenant(), acme.id);
//! let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
//! let store = TenantStore::open(&registry, Arc::new(SqliteExecutor::memory().await?), vec![notes.clone()]).await?;
//! store.insert(scope.tenant_scope(), &notes, Record::new().set("body", "hello")).await?;
//! let page = store.list(scope.tenant_scope(), &notes, &ListQuery::new()).await?;
//! assert_eq!(page.rows.len(), 1);
//! # Ok(()) }
//! ```
//!
//! The README's "Using Neutrino in a web app" section walks through the same
//! flow for an HTTP server: the session from the cookie, the scope from the
//! session, invitations. `examples/quickstart.rs` runs it end to end, with
//! provisioning, on the embedded default.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use neutrino_core::*;

/// Registry, tenant scopes, tenant-scoped queries, suspension, host resolution
/// and provisioning.
#[doc(inline)]
pub use neutrino_tenancy as tenancy;

/// The embedded default backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
#[doc(inline)]
pub use neutrino_sqlite as sqlite;

/// Users, passwords, sessions, cookies, organizations and invitations,
/// compatible with Better Auth (feature `auth`).
#[cfg(feature = "auth")]
#[doc(inline)]
pub use neutrino_auth as auth;
/// The Cloudflare backend (feature `cloudflare`).
#[cfg(feature = "cloudflare")]
#[doc(inline)]
pub use neutrino_cloudflare as cloudflare;
/// The PostgreSQL backend (feature `postgres`).
#[cfg(feature = "postgres")]
#[doc(inline)]
pub use neutrino_postgres as postgres;
/// The S3 backend: AWS S3, Cloudflare R2 and S3-compatible stores (feature `s3`).
#[cfg(feature = "s3")]
#[doc(inline)]
pub use neutrino_s3 as s3;
