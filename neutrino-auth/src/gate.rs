//! [`PlatformGate`]: the one check of platform status before a state change,
//! shared by every component of one [`crate::Auth`].

use std::sync::OnceLock;

use neutrino_core::ids::PlatformId;
use neutrino_tenancy::Registry;

use crate::error::Result;

/// The platform an auth database belongs to, set once by
/// [`crate::org::Organizations::new`]; unbound, every check passes.
#[derive(Default)]
pub(crate) struct PlatformGate {
    platform: OnceLock<(Registry, PlatformId)>,
}

impl PlatformGate {
    /// Binds the gate to its platform, once: a second binding is ignored.
    pub(crate) fn bind(&self, registry: Registry, platform: PlatformId) {
        let _ = self.platform.set((registry, platform));
    }

    /// `Ok` when the platform is active (or the gate is not bound), the
    /// store's [`neutrino_core::Error::Suspended`] when it is suspended, and
    /// [`neutrino_core::Error::NotFound`] when it is deleted or unknown.
    ///
    /// Called at the start of every state-changing operation, and again just
    /// before the write of those that do slow work (password hashing) in
    /// between. What still works on a suspended platform takes authority away
    /// and nothing else: sign-out, session revocation, purging expired rows,
    /// and reads (sessions validate but are not extended).
    pub(crate) async fn ensure_writable(&self) -> Result<()> {
        match self.platform.get() {
            Some((registry, platform)) => Ok(registry.check_active(*platform).await?),
            None => Ok(()),
        }
    }
}
