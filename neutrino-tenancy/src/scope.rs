//! [`TenantScope`]: the proof that code acts for one tenant of one platform.

use std::fmt;

use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::{Error, Result};

use crate::Registry;

/// One tenant of one platform, as established by authentication.
///
/// Application code cannot build one from request data: there is no public
/// constructor. A scope comes from
///
/// * the auth layer, which mints it from a validated session or API key through
///   the registry's [`ScopeMinter`], or
/// * [`Registry::operator_scope`], an explicit operator call that writes the
///   audit log.
///
/// Every tenanted operation takes a scope; the scoped helpers add
/// `platform_id = ? AND tenant_id = ?` from it to every statement.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TenantScope {
    platform: PlatformId,
    tenant: TenantId,
}

impl TenantScope {
    pub(crate) fn new(platform: PlatformId, tenant: TenantId) -> Self {
        Self { platform, tenant }
    }

    /// The platform.
    pub fn platform(&self) -> PlatformId {
        self.platform
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
}

impl fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantScope({}/{})", self.platform, self.tenant)
    }
}

/// The capability to mint [`TenantScope`]s, handed once to the auth layer.
///
/// [`Registry::scope_minter`] gives it out exactly once per registry database
/// in a process (every handle on that database shares the "given out" state);
/// the host app passes it to the component that validates sessions and API
/// keys at startup, and keeps no other copy. It cannot be cloned; its holder can
/// derive minters narrowed to one platform ([`ScopeMinter::restricted_to`]) for
/// per-platform components.
pub struct ScopeMinter {
    pub(crate) registry: Registry,
    /// `Some` for a minter narrowed to one platform.
    pub(crate) platform: Option<PlatformId>,
}

impl fmt::Debug for ScopeMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.platform {
            Some(p) => write!(f, "ScopeMinter({p})"),
            None => f.write_str("ScopeMinter"),
        }
    }
}

impl ScopeMinter {
    /// A minter that mints only for `platform` (for a component that serves one
    /// platform). Narrowing only: a minter already restricted to another
    /// platform refuses with [`Error::PermissionDenied`].
    pub fn restricted_to(&self, platform: PlatformId) -> Result<ScopeMinter> {
        match self.platform {
            Some(p) if p != platform => Err(Error::PermissionDenied {
                reason: format!("this scope minter mints only for platform {p}"),
            }),
            _ => Ok(ScopeMinter {
                registry: self.registry.clone(),
                platform: Some(platform),
            }),
        }
    }

    /// The platform this minter is restricted to, if any.
    pub fn platform(&self) -> Option<PlatformId> {
        self.platform
    }

    /// A scope for `tenant` of `platform`, after checking that the tenant exists in
    /// that platform ([`neutrino_core::Error::NotFound`] otherwise) and that the
    /// platform is active ([`neutrino_core::Error::Suspended`] otherwise).
    ///
    /// Both answers come from this process's caches when they can: the
    /// platform's status as [`Registry::platform_status`] caches it, and the
    /// tenant's existence, which never changes once true (a tenant is never
    /// deleted nor moved to another platform), per platform. A
    /// minter restricted to another platform answers
    /// [`neutrino_core::Error::PermissionDenied`].
    ///
    /// Call it only with a platform and tenant taken from a validated credential.
    pub async fn mint(&self, platform: PlatformId, tenant: TenantId) -> Result<TenantScope> {
        if let Some(p) = self.platform
            && p != platform
        {
            return Err(Error::PermissionDenied {
                reason: format!("this scope minter mints only for platform {p}"),
            });
        }
        self.registry.check_active(platform).await?;
        self.registry.check_tenant(platform, tenant).await?;
        Ok(TenantScope::new(platform, tenant))
    }
}
