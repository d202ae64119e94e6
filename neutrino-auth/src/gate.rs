//! [`PlatformGate`]: the one check of platform status before a state change,
//! shared by every component of one [`crate::Auth`].

use std::sync::OnceLock;

use neutrino_tenancy::PlatformRegistry;

use crate::error::{AuthError, Result};

/// The platform an auth database belongs to, set once by
/// [`crate::org::Organizations::new`]; unbound, every check passes.
#[derive(Default)]
pub(crate) struct PlatformGate {
    platform: OnceLock<PlatformRegistry>,
}

impl PlatformGate {
    /// Binds the gate to its platform, once. Binding again to the same
    /// platform is a no-op; to another one it is refused: an auth database
    /// belongs to one platform.
    pub(crate) fn bind(&self, platform: PlatformRegistry) -> Result<()> {
        let id = platform.id();
        let bound = self.platform.get_or_init(|| platform);
        if bound.id() == id {
            Ok(())
        } else {
            Err(AuthError::validation(
                "platform",
                "this auth database already belongs to another platform",
            ))
        }
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
            Some(platform) => Ok(platform.check_active().await?),
            None => Ok(()),
        }
    }
}
