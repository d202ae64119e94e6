//! [`PlatformRegistry`]: the registry seen from one platform.

use std::fmt;

use neutrino_core::ids::{PlatformId, StackId, TenantId};
use neutrino_core::provision::ResourceKind;
use neutrino_core::{Error, Result};

use crate::model::*;
use crate::registry::{AuditEntry, NewTenant, Registry};
use crate::scope::TenantScope;

impl Registry {
    /// The registry seen from `platform`: every operation of the view acts on
    /// that platform only, so code holding it cannot name another platform.
    ///
    /// Lazy: nothing is read here. The platform's existence and status are
    /// decided by each operation, as by the matching [`Registry`] method (an
    /// unknown or deleted platform is [`Error::NotFound`], a suspended one
    /// refuses writes with [`Error::Suspended`]) — checking once here would
    /// prove nothing about the next call. [`PlatformRegistry::record`] reads the
    /// platform itself.
    pub fn platform(&self, platform: PlatformId) -> PlatformRegistry {
        PlatformRegistry {
            registry: self.clone(),
            platform,
        }
    }
}

/// The registry bound to one platform, from [`Registry::platform`]: tenants,
/// hosts, features, stacks, resources, status, operator scopes and the audit
/// log of that platform, with no platform argument to get wrong.
///
/// Each method is the [`Registry`] method of the same name with the bound
/// platform: same checks, same errors, same answers. A record of another
/// platform — a tenant, host, stack or resource named by ID — is
/// [`Error::NotFound`], exactly like a missing one; a [`TenantScope`] or a
/// [`ResourceRecord`] of another platform is refused before anything is read or
/// written. Status changes ([`Registry::suspend`], [`Registry::reinstate`],
/// [`Registry::mark_platform_deleted`]), platform creation and host resolution
/// across platforms stay with the operator-level [`Registry`].
///
/// Give a component that serves one platform (its auth layer, its app server)
/// this view rather than the [`Registry`]. Cloning is cheap.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::Result<()> {
/// use std::sync::Arc;
/// use neutrino::memory::MemoryKv;
/// use neutrino::sqlite::SqliteExecutor;
/// use neutrino::tenancy::{NewPlatform, NewTenant, PlatformClass, Registry, RegistryOptions};
///
/// let db = Arc::new(SqliteExecutor::memory().await?);
/// let registry = Registry::open(db, Arc::new(MemoryKv::new()), RegistryOptions::default()).await?;
/// let acme = registry.create_platform(NewPlatform::new("Acme", PlatformClass::Platform)).await?.id;
/// let other = registry.create_platform(NewPlatform::new("Other", PlatformClass::Platform)).await?.id;
///
/// let acme = registry.platform(acme);
/// let tenant = acme.create_tenant(NewTenant::new("shop", "Shop Inc.")).await?;
/// assert_eq!(acme.tenant(tenant.id).await?.slug, "shop");
/// // The view of another platform cannot reach it.
/// assert!(registry.platform(other).tenant(tenant.id).await.unwrap_err().is_not_found());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PlatformRegistry {
    registry: Registry,
    platform: PlatformId,
}

impl fmt::Debug for PlatformRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformRegistry({})", self.platform)
    }
}

impl PlatformRegistry {
    /// The platform this view is bound to.
    pub fn id(&self) -> PlatformId {
        self.platform
    }

    /// `Ok` if `scope` belongs to this platform; otherwise its tenant is not one
    /// of this platform's: [`Error::NotFound`].
    fn own_scope(&self, scope: &TenantScope) -> Result<()> {
        if scope.platform() == self.platform {
            Ok(())
        } else {
            Err(Error::not_found("tenant", scope.tenant().as_str()))
        }
    }

    // ---- the platform ----

    /// The platform's record ([`Registry::platform_record`]).
    pub async fn record(&self) -> Result<Platform> {
        self.registry.platform_record(self.platform).await
    }

    /// The platform's status as scope checks see it
    /// ([`Registry::platform_status`]).
    pub async fn status(&self) -> Result<PlatformStatus> {
        self.registry.platform_status(self.platform).await
    }

    /// `Ok` while the platform is active ([`Registry::check_active`]).
    pub async fn check_active(&self) -> Result<()> {
        self.registry.check_active(self.platform).await
    }

    /// Repairs the platform's KV status mirror from the registry
    /// ([`Registry::repair_platform_status`]).
    pub async fn repair_status(&self) -> Result<PlatformStatus> {
        self.registry.repair_platform_status(self.platform).await
    }

    /// An audited operator scope on a tenant of this platform
    /// ([`Registry::operator_scope`]).
    pub async fn operator_scope(
        &self,
        tenant: TenantId,
        actor: &str,
        reason: &str,
    ) -> Result<TenantScope> {
        self.registry
            .operator_scope(self.platform, tenant, actor, reason)
            .await
    }

    /// The platform's audit log, oldest first ([`Registry::audit_log`]).
    pub async fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        self.registry.audit_log(self.platform).await
    }

    // ---- tenants ----

    /// Creates a tenant of this platform ([`Registry::create_tenant`]).
    pub async fn create_tenant(&self, new: NewTenant) -> Result<Tenant> {
        self.registry.create_tenant(self.platform, new).await
    }

    /// A tenant of this platform ([`Registry::tenant`]).
    pub async fn tenant(&self, id: TenantId) -> Result<Tenant> {
        self.registry.tenant(self.platform, id).await
    }

    /// A tenant of this platform by slug ([`Registry::tenant_by_slug`]).
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant> {
        self.registry.tenant_by_slug(self.platform, slug).await
    }

    /// Every tenant of this platform, by slug ([`Registry::tenants`]).
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.registry.tenants(self.platform).await
    }

    /// The tenant and all its sub-tenants ([`Registry::subtree`]).
    pub async fn subtree(&self, id: TenantId) -> Result<Vec<TenantId>> {
        self.registry.subtree(self.platform, id).await
    }

    /// Moves a tenant under another parent or to the top level
    /// ([`Registry::reparent`]).
    pub async fn reparent(&self, id: TenantId, parent: Option<TenantId>) -> Result<()> {
        self.registry.reparent(self.platform, id, parent).await
    }

    /// Deletes a tenant of this platform, leaving a tombstone
    /// ([`Registry::delete_tenant`]).
    pub async fn delete_tenant(&self, id: TenantId, actor: &str, reason: &str) -> Result<()> {
        self.registry
            .delete_tenant(self.platform, id, actor, reason)
            .await
    }

    /// Whether `id` is a deleted tenant of this platform
    /// ([`Registry::is_tenant_deleted`]).
    pub async fn is_tenant_deleted(&self, id: TenantId) -> Result<bool> {
        self.registry.is_tenant_deleted(self.platform, id).await
    }

    /// The deleted tenants of this platform ([`Registry::deleted_tenants`]).
    pub async fn deleted_tenants(&self) -> Result<Vec<TenantId>> {
        self.registry.deleted_tenants(self.platform).await
    }

    /// Sets a tenant's slug (its default host follows) and name
    /// ([`Registry::rename_tenant`]).
    pub async fn rename_tenant(&self, id: TenantId, slug: &str, name: &str) -> Result<()> {
        self.registry
            .rename_tenant(self.platform, id, slug, name)
            .await
    }

    /// `Ok` while `id` is a live tenant of this platform, [`Error::NotFound`]
    /// once it is deleted: at once after a deletion through this process,
    /// within the status TTL after one elsewhere. What every
    /// [`crate::TenantStore`] call checks.
    pub(crate) async fn check_tenant_live(&self, id: TenantId) -> Result<()> {
        let ttl = self.registry.inner.opts.status_ttl;
        self.registry
            .check_tenant_within(self.platform, id, Some(ttl))
            .await
    }

    // ---- hosts ----

    /// Claims a custom domain for a tenant of this platform
    /// ([`Registry::add_custom_domain`]).
    pub async fn add_custom_domain(&self, tenant: TenantId, host: &str) -> Result<HostRecord> {
        self.registry
            .add_custom_domain(self.platform, tenant, host)
            .await
    }

    /// The hosts of a tenant of this platform ([`Registry::hosts`]).
    pub async fn hosts(&self, tenant: TenantId) -> Result<Vec<HostRecord>> {
        self.registry.hosts(self.platform, tenant).await
    }

    /// Marks a pending custom domain of this platform verified
    /// ([`Registry::verify_custom_domain`]).
    pub async fn verify_custom_domain(&self, host: &str) -> Result<HostRecord> {
        self.registry
            .verify_custom_domain(self.platform, host)
            .await
    }

    /// Starts serving a verified custom domain of this platform
    /// ([`Registry::activate_custom_domain`]).
    pub async fn activate_custom_domain(&self, host: &str) -> Result<HostRecord> {
        self.registry
            .activate_custom_domain(self.platform, host)
            .await
    }

    /// Releases a host of this platform ([`Registry::remove_host`]).
    pub async fn remove_host(&self, host: &str) -> Result<HostRecord> {
        self.registry.remove_host(self.platform, host).await
    }

    /// The tenant of this platform an active host belongs to, or `None` — also
    /// for a host that resolves to another platform ([`Registry::resolve`]).
    pub async fn resolve(&self, host: &str) -> Result<Option<TenantId>> {
        Ok(match self.registry.resolve(host).await? {
            Some((p, t)) if p == self.platform => Some(t),
            _ => None,
        })
    }

    // ---- stacks and resources ----

    /// Registers a stack of this platform ([`Registry::create_stack`]).
    pub async fn create_stack(&self, id: StackId, template: &StackTemplate) -> Result<Stack> {
        self.registry
            .create_stack(self.platform, id, template)
            .await
    }

    /// A stack of this platform ([`Registry::stack`]).
    pub async fn stack(&self, id: StackId) -> Result<Stack> {
        self.registry.stack(self.platform, id).await
    }

    /// The stacks of this platform ([`Registry::stacks`]).
    pub async fn stacks(&self) -> Result<Vec<Stack>> {
        self.registry.stacks(self.platform).await
    }

    /// Marks a stack of this platform active or deleted
    /// ([`Registry::set_stack_status`]).
    pub async fn set_stack_status(&self, stack: StackId, deleted: bool) -> Result<()> {
        self.registry
            .set_stack_status(self.platform, stack, deleted)
            .await
    }

    /// Records what is known about a resource of this platform
    /// ([`Registry::record_resource`]); a record whose `platform` is another
    /// one is [`Error::InvalidInput`] and nothing is written.
    pub async fn record_resource(&self, rec: &ResourceRecord) -> Result<()> {
        if rec.platform != self.platform {
            return Err(Error::invalid(
                "resource record",
                format!(
                    "the record is of platform {}, not of platform {}",
                    rec.platform, self.platform
                ),
            ));
        }
        self.registry.record_resource(rec).await
    }

    /// A resource of this platform ([`Registry::resource`]).
    pub async fn resource(&self, kind: ResourceKind, logical_name: &str) -> Result<ResourceRecord> {
        self.registry
            .resource(self.platform, kind, logical_name)
            .await
    }

    /// Every resource of this platform ([`Registry::resources`]).
    pub async fn resources(&self) -> Result<Vec<ResourceRecord>> {
        self.registry.resources(self.platform).await
    }

    // ---- features ----

    /// Sets a feature for a tenant of this platform ([`Registry::set_feature`]).
    pub async fn set_feature(&self, tenant: TenantId, feature: &Feature) -> Result<()> {
        self.registry
            .set_feature(self.platform, tenant, feature)
            .await
    }

    /// The scope's tenant's setting of a feature ([`Registry::feature`]); a
    /// scope of another platform is [`Error::NotFound`].
    pub async fn feature(&self, scope: &TenantScope, key: &str) -> Result<Option<Feature>> {
        self.own_scope(scope)?;
        self.registry.feature(scope, key).await
    }

    /// Whether a feature is enabled for the scope's tenant
    /// ([`Registry::is_enabled`]); a scope of another platform is
    /// [`Error::NotFound`].
    pub async fn is_enabled(&self, scope: &TenantScope, key: &str) -> Result<bool> {
        self.own_scope(scope)?;
        self.registry.is_enabled(scope, key).await
    }
}
