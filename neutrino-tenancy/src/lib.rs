//! # neutrino-tenancy
//!
//! Tenant isolation by construction, on any [`SqlExecutor`](neutrino_core::sql::SqlExecutor)
//! and [`KvStore`](neutrino_core::kv::KvStore):
//!
//! * [`Registry`]: platforms, tenants (and sub-tenants), stacks, resources,
//!   features and an append-only audit log. Every query takes the platform; a
//!   record of another platform is `NotFound`.
//! * [`PlatformRegistry`] ([`Registry::platform`]): the registry bound to one
//!   platform, for components that serve one platform (the auth layer, an app
//!   server): the same operations without a platform argument to get wrong.
//! * [`TenantScope`]: one tenant of one platform, obtainable only from the auth
//!   layer (through the [`ScopeMinter`]) or an audited
//!   [`Registry::operator_scope`] call — never from request data.
//! * [`TenantStore`]: a host app's tenanted tables, declared once
//!   ([`TenantTable`]); every read, update and delete is filtered by the scope,
//!   inserts set the scope columns, and another tenant's row is indistinguishable
//!   from a missing one. [`TenantStore::raw`] refuses raw SQL that could reach
//!   those tables or Neutrino's own. On PostgreSQL, row-level security holds
//!   the store's role too ([`TenantStore::migrate`], [`TenantStore::open`]).
//! * Suspension: [`Registry::suspend`] writes the registry (the truth) and
//!   `platform:{p}:status` in KV (its mirror, repaired from the registry by
//!   status reads and every provisioning operation); scopes of a suspended
//!   platform fail with `Suspended`, and every registry write of it is refused.
//! * Host resolution: [`Registry::resolve`] maps a request host to exactly one
//!   (platform, tenant) or nothing.
//! * [`provision`]: a platform's bootstrap and its stacks as plans that can be
//!   printed, applied, resumed, rolled back, torn down and checked for drift.
//!
//! ## Propagation windows
//! | change | this process | other processes |
//! |---|---|---|
//! | suspend / reinstate / delete: scope checks | immediate | within the status TTL (default 60 s) |
//! | suspend / delete: registry writes of the platform | immediate | immediate (decided by the database in each write) |
//! | host added, verified, activated, removed | immediate | within the host cache TTL (default 60 s) |
//!
//! "This process" means every [`Registry`] handle opened on the same registry
//! database, however many: they share one status cache, one host cache and one
//! [`ScopeMinter`] (given out once while any handle or the minter lives). The
//! database is recognised by an instance ID the registry stores in it, and a
//! handle opened where that ID is already known proves by a probe that it is on
//! the same database: a copy (a restored backup, a copied file) carrying the ID
//! gets state of its own. Both TTLs
//! are set with [`RegistryOptions`]; the tests drive them with a manual clock.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod hosts;
mod lifecycle;
mod model;
mod platform;
pub mod provision;
mod registry;
mod rls;
mod schema;
mod scope;
mod store;
mod table;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use hosts::normalize_host;
pub use model::{
    Feature, HostKind, HostRecord, HostStatus, Platform, PlatformClass, PlatformStatus,
    ResourceRecord, ResourceStatus, Stack, StackTemplate, Tenant,
};
pub use platform::PlatformRegistry;
pub use registry::{AuditEntry, NewPlatform, NewTenant, Registry, RegistryOptions};
pub use schema::MIGRATIONS;
pub use scope::{ScopeMinter, TenantScope};
pub use store::{GuardedExecutor, ListQuery, MAX_PAGE, Op, Order, Page, TenantStore};
pub use table::{ColumnType, Record, TenantTable};
