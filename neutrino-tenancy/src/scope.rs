//! [`TenantScope`]: the proof that code acts for one tenant of one platform.

use std::fmt;

use neutrino_core::Result;
use neutrino_core::ids::{PlatformId, TenantId};

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
/// [`Registry::scope_minter`] gives it out exactly once per registry; the host
/// app passes it to the component that validates sessions and API keys at
/// startup, and keeps no other copy. It cannot be cloned.
pub struct ScopeMinter {
    pub(crate) registry: Registry,
}

impl fmt::Debug for ScopeMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeMinter")
    }
}

impl ScopeMinter {
    /// A scope for `tenant` of `platform`, after checking that the tenant exists in
    /// that platform ([`neutrino_core::Error::NotFound`] otherwise) and that the
    /// platform is active ([`neutrino_core::Error::Suspended`] otherwise).
    ///
    /// Call it only with a platform and tenant taken from a validated credential.
    pub async fn mint(&self, platform: PlatformId, tenant: TenantId) -> Result<TenantScope> {
        self.registry.check_active(platform).await?;
        self.registry.tenant(platform, tenant).await?;
        Ok(TenantScope::new(platform, tenant))
    }
}
