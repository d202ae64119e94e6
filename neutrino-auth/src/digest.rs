//! The one digest of secrets stored for lookup: API keys and invitation
//! secrets are kept as `base64url_nopad(SHA-256(secret))`, as Better Auth
//! stores API keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `base64url_nopad(SHA-256(secret))`.
pub(crate) fn sha256_base64url(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}
