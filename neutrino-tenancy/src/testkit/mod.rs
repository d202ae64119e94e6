//! The tenancy conformance suite: every behaviour of the registry and the scoped
//! store, run against any [`SqlExecutor`] + [`KvStore`] pair by
//! [`tenancy_suite!`](crate::tenancy_suite).
//!
//! Each case opens its own [`Registry`] on a manual clock, with fresh random
//! platforms, tenants and table names, so cases share nothing but the database.
//!
//! The cases live in one module per concern (registry records, the platform
//! view, the tenant store, raw SQL, platform status, hosts, scopes) and are all
//! re-exported here.

use std::sync::Arc;
use std::time::Duration;

use neutrino_core::Error;
use neutrino_core::clock::ManualClock;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::kv::KvStore;
use neutrino_core::naming::platform_status_key;
use neutrino_core::sql::{SqlExecutor, Statement, Value};
use neutrino_core::testkit::unique;

use crate::*;

/// The stores a case runs on.
#[derive(Clone, Debug)]
pub struct Stores {
    /// The database for the registry and the tenanted tables (on PostgreSQL,
    /// as the role that owns them).
    pub db: Arc<dyn SqlExecutor>,
    /// The KV namespace for platform statuses.
    pub kv: Arc<dyn KvStore>,
    /// Where tenant stores run, if not on `db`.
    pub tenant_db: Option<TenantDb>,
}

/// The executor tenant stores run on when it is not the registry's: on
/// PostgreSQL, the application role's, on the same database and schema, which
/// row-level security holds ([`TenantStore::open`]).
#[derive(Clone, Debug)]
pub struct TenantDb {
    /// The application role's executor.
    pub db: Arc<dyn SqlExecutor>,
    /// Whether stores keep their own scope condition; `false` leaves row-level
    /// security alone to keep each scope to its tenant's rows.
    pub app_filter: bool,
}

/// A tenant store of `tables` as a case opens it: migrated on `owner`, then
/// opened on `tenant_db`'s executor (without the application filter if it
/// says so), or on `owner` when there is none.
pub async fn open_store(
    registry: &Registry,
    owner: &Arc<dyn SqlExecutor>,
    tenant_db: Option<&TenantDb>,
    tables: Vec<TenantTable>,
) -> neutrino_core::Result<TenantStore> {
    match tenant_db {
        None => TenantStore::open(registry, owner.clone(), tables).await,
        Some(t) => {
            TenantStore::migrate(owner.as_ref(), &tables).await?;
            let s = TenantStore::open(registry, t.db.clone(), tables).await?;
            Ok(if t.app_filter {
                s
            } else {
                s.without_app_filter_for_tests()
            })
        }
    }
}

/// Runs the suite: `$factory` is an `async fn() -> (Stores, Guard)`. A backend
/// whose guarded SQL calls judge statements as parsed (SQLite's authorizer)
/// adds `authorizer`: `tenancy_suite!(factory, authorizer)` also runs the cases
/// that a text-only judgement cannot pass.
///
/// Each case is one line of the lists below (built on `neutrino_core`'s case
/// macro) and one `pub async fn(&Stores)` in the module of its concern.
#[macro_export]
macro_rules! tenancy_suite {
    ($factory:path, authorizer) => {
        $crate::tenancy_suite!($factory);
        mod tenancy_authorizer {
            #[allow(unused_imports)]
            use super::*;
            $crate::__tenancy_run!($factory);
            $crate::testkit::__core::__conformance_cases!(
                run,
                [raw_sql_cannot_reach_guarded_tables_through_later_views_and_triggers]
            );
        }
    };
    ($factory:path) => {
        mod tenancy_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__tenancy_run!($factory);
            $crate::testkit::__core::__conformance_cases!(
                run,
                [
                    // records
                    records_of_another_platform_are_not_found,
                    features_are_evaluated_per_tenant,
                    tenant_trees_have_a_depth_limit_and_no_cycles,
                    hostnames_are_a_platforms_only_under_the_base_domain,
                    // the platform view
                    a_platform_view_reaches_only_its_platform,
                    a_platform_view_answers_as_the_registry,
                    a_tenant_id_names_one_tenant_in_the_registry,
                    concurrent_creations_of_one_tenant_id_make_one_tenant,
                    // the tenant store
                    another_tenants_row_is_not_found_for_every_operation,
                    scope_columns_are_set_by_the_scope_and_never_written,
                    list_filters_orders_and_pages,
                    subtenant_rows_are_included_only_when_asked,
                    undeclared_tables_and_columns_are_refused,
                    existing_tables_get_the_scope_columns,
                    a_restricted_store_serves_only_its_platform,
                    // raw SQL
                    raw_sql_on_tenanted_tables_is_refused,
                    raw_sql_cannot_reach_guarded_tables_however_spelled,
                    raw_sql_on_free_tables_still_works,
                    // status
                    suspension_stops_scopes_within_the_status_ttl,
                    handles_on_one_database_share_status_and_the_minter,
                    suspended_and_deleted_platforms_refuse_every_write,
                    writes_racing_a_suspension_stop_when_it_returns,
                    the_status_mirror_converges_to_the_registry,
                    // hosts
                    hosts_follow_their_lifecycle_and_resolve_to_one_tenant,
                    a_host_cannot_be_claimed_twice,
                    a_custom_domain_under_an_app_domain_is_refused,
                    // tenant lifecycle
                    a_deleted_tenant_is_gone_for_every_scope_and_its_id_is_never_reused,
                    a_renamed_tenant_keeps_its_id_and_its_default_host_follows,
                    // scopes
                    operator_scopes_are_audited_and_the_log_is_append_only,
                    the_scope_minter_is_given_once_and_checks_tenants,
                ]
            );
        }
    };
}

/// Defines `run!(case)` for [`tenancy_suite!`](crate::tenancy_suite): a fresh
/// pair of stores from `$factory`, kept until the case ends.
#[doc(hidden)]
#[macro_export]
macro_rules! __tenancy_run {
    ($factory:path) => {
        macro_rules! run {
            ($case:ident) => {{
                let (stores, _guard) = $factory().await;
                $crate::testkit::$case(&stores).await;
            }};
        }
    };
}

#[doc(hidden)]
pub use neutrino_core as __core;

mod fixtures;
mod host_resolution;
pub mod isolation;
mod lifecycle;
mod platform_view;
mod raw_guard;
mod records;
mod scopes;
mod status;
mod tenant_store;

pub use fixtures::*;
pub use host_resolution::*;
pub use lifecycle::*;
pub use platform_view::*;
pub use raw_guard::*;
pub use records::*;
pub use scopes::*;
pub use status::*;
pub use tenant_store::*;

/// A registry on `stores` with a manual clock.
pub async fn registry(stores: &Stores, clock: &ManualClock) -> Registry {
    Registry::open(
        stores.db.clone(),
        stores.kv.clone(),
        RegistryOptions::default().with_clock(Arc::new(clock.clone())),
    )
    .await
    .expect("open registry")
}

async fn platform(r: &Registry) -> PlatformId {
    r.create_platform(NewPlatform::new("Test platform", PlatformClass::Platform))
        .await
        .expect("create platform")
        .id
}

async fn tenant(r: &Registry, p: PlatformId) -> TenantId {
    r.create_tenant(p, NewTenant::new(unique("t-"), "Test tenant"))
        .await
        .expect("create tenant")
        .id
}

async fn scope(r: &Registry, p: PlatformId, t: TenantId) -> TenantScope {
    r.operator_scope(p, t, "testkit", "conformance case")
        .await
        .expect("scope")
}

fn items() -> TenantTable {
    TenantTable::new(
        &unique("item_"),
        &[("label", ColumnType::Text), ("n", ColumnType::Integer)],
    )
    .expect("declare table")
}

async fn store(r: &Registry, stores: &Stores, tables: &[&TenantTable]) -> TenantStore {
    open_store(
        r,
        &stores.db,
        stores.tenant_db.as_ref(),
        tables.iter().map(|t| (*t).clone()).collect(),
    )
    .await
    .expect("open store")
}

/// A record of a database resource of `p`'s default stack.
fn resource(p: PlatformId, name: &str, status: ResourceStatus) -> ResourceRecord {
    ResourceRecord {
        platform: p,
        stack: neutrino_core::ids::StackId::DEFAULT,
        kind: neutrino_core::provision::ResourceKind::Database,
        logical_name: name.to_owned(),
        provider: "testkit".into(),
        provider_id: None,
        status,
    }
}
