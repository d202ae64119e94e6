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
//! | `auth` | yes | [`auth`]: Better Auth-compatible users, passwords, sessions, signed cookies, organizations, invitations, API keys, two-factor, origin checks, rate limiting, reset and verification emails, audit log; and the platform runtime, [`Platform`] (with `sqlite`, [`LocalPlatforms`]) |
//! | `cloudflare` | no | `cloudflare`: D1 (`D1Executor`), Workers KV (`WorkersKv`) and a provisioner for D1, R2, KV, Workers, DNS records and custom hostnames over Cloudflare's v4 API |
//! | `s3` | no | `s3`: object storage and bucket provisioning on AWS S3, Cloudflare R2 and any S3-compatible store |
//! | `axum` | no | `axum`: Better Auth's HTTP API as an axum router, the gateway layer (host to platform and tenant) and extractors for host handlers |
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
//! A host app opens one [`Platform`] runtime per platform it serves, at
//! start-up; it registers, provisions and migrates what is missing, and is
//! cheap to clone into every handler. Per request, one call turns the
//! request's session cookie into the tenant scope every query takes.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use neutrino::Platform;
//! use neutrino::auth::org::NewOrganization;
//! use neutrino::auth::{RequestMeta, SignUpEmail};
//! use neutrino::tenancy::{ColumnType, ListQuery, Record, TenantTable};
//!
//! // Start-up, once: the host app's tenanted tables, and the platform found by
//! // its name in a folder (the embedded default; `Platform::builder` takes
//! // other backends). The secret comes from the environment.
//! let folder = tempfile::tempdir()?;
//! let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
//! let app = Platform::open_local(
//!     folder.path(),
//!     "Notes",
//!     "a secret of at least thirty-two bytes!",
//!     vec![notes.clone()],
//! )
//! .await?;
//!
//! // Ada signs up and creates an organization (one of the platform's
//! // tenants), which becomes her session's active tenant.
//! let meta = RequestMeta::new("203.0.113.7", "doc-test");
//! let ada = app
//!     .auth()
//!     .sign_up_email(SignUpEmail::new("Ada", "ada@example.com", "correct horse battery"), &meta)
//!     .await?
//!     .signed_in()
//!     .expect("no email verification required: signed in at once");
//! let acme = app
//!     .orgs()
//!     .create_organization(&ada.session.token, NewOrganization::new("Acme", "acme"), &meta)
//!     .await?;
//!
//! // Per request: the scope comes from the session cookie, never from request
//! // data; every query of the store is confined to it.
//! let cookie = app.auth().cookies().session_cookie(&ada.session.token, true);
//! let header = format!("{}={}", cookie.name(), cookie.value());
//! let scope = app.scope_from_cookie_header(&header).await?;
//! assert_eq!(scope.tenant(), acme.id);
//! app.store().insert(scope.tenant_scope(), &notes, Record::new().set("body", "hello")).await?;
//! let page = app.store().list(scope.tenant_scope(), &notes, &ListQuery::new()).await?;
//! assert_eq!(page.rows.len(), 1);
//! # Ok(()) }
//! ```
//!
//! The README's "Using Neutrino in a web app" section walks through the same
//! flow for an HTTP server. `examples/quickstart.rs` tells the whole story
//! (invitations, switching tenants, a second run that finds everything
//! again), and `examples/two_platforms.rs` serves two platforms from one
//! process.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use neutrino_core::*;

#[cfg(all(feature = "auth", feature = "sqlite"))]
#[doc(inline)]
pub use neutrino_platform::LocalPlatforms;
#[cfg(feature = "auth")]
#[doc(inline)]
pub use neutrino_platform::{Platform, PlatformBuilder, Platforms};

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
/// Better Auth's HTTP API served from Rust, the gateway layer and axum
/// extractors (feature `axum`).
#[cfg(feature = "axum")]
#[doc(inline)]
pub use neutrino_axum as axum;
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
