//! Password hashing: argon2id for new hashes, Better Auth's scrypt accepted on
//! verification.
//!
//! * New hashes are argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1 by
//!   default), stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
//! * Hashes written by Better Auth (`<saltHex>:<keyHex>`, scrypt with N = 16384,
//!   r = 16, p = 1, 64-byte key, the salt being the 32 hex characters' bytes)
//!   verify too, and are reported as needing a rehash so that sign-in can
//!   replace them with argon2id.
//! * Passwords are NFKC-normalised before length checks and hashing, as Better
//!   Auth does; the length (8–128 by default) is counted in UTF-16 code units,
//!   like JavaScript's `length`.
//! * Hashing runs on tokio's blocking pool, never on the async executor's
//!   threads, and a semaphore bounds how many hashes run at once so that a burst
//!   of sign-ins cannot occupy every core.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::error::{AuthError, Result};

/// Inputs longer than this many bytes are refused before normalisation, whatever
/// the configured maximum, so that normalising cannot be used to burn CPU.
pub const MAX_INPUT_BYTES: usize = 4096;

/// Better Auth's scrypt parameters: log2(N) = 14, r = 16, p = 1, 64-byte key.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 16;
const SCRYPT_P: u32 = 1;
const SCRYPT_KEY_LEN: usize = 64;

/// How passwords are checked and hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordConfig {
    /// Shortest accepted password, in UTF-16 code units after NFKC (default 8).
    pub min_length: usize,
    /// Longest accepted password, in UTF-16 code units after NFKC (default 128).
    pub max_length: usize,
    /// argon2id memory cost in KiB (default 19456 = 19 MiB).
    pub memory_kib: u32,
    /// argon2id iterations (default 2).
    pub iterations: u32,
    /// argon2id lanes (default 1).
    pub parallelism: u32,
    /// How many hashes may run at once (default: half the available cores, at
    /// least one).
    pub max_concurrent_hashes: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            min_length: 8,
            max_length: 128,
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent_hashes: (cores / 2).max(1),
        }
    }
}

/// The outcome of [`Passwords::verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The password does not match.
    Mismatch,
    /// The password matches.
    Match {
        /// The stored hash is not argon2id with the current parameters (e.g. a
        /// Better Auth scrypt hash) and should be replaced.
        needs_rehash: bool,
    },
}

impl Verification {
    /// Whether the password matched.
    pub fn is_match(self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

/// A password that passed the length policy, NFKC-normalised. Its `Debug` does
/// not show it.
#[derive(Clone)]
pub struct NormalizedPassword(String);

impl NormalizedPassword {
    /// The normalised text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NormalizedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NormalizedPassword(..)")
    }
}

/// Hashes and verifies passwords; cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::auth::Result<()> {
/// use neutrino::auth::password::{PasswordConfig, Passwords};
/// let passwords = Passwords::new(PasswordConfig::default())?;
/// let pw = passwords.normalize("correct horse battery")?;
/// let phc = passwords.hash(&pw).await?;
/// assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert!(passwords.verify(&phc, &pw).await?.is_match());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    config: PasswordConfig,
    argon: Argon2<'static>,
    permits: Semaphore,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Passwords {
    /// Checks the configuration and prepares the hasher.
    pub fn new(config: PasswordConfig) -> Result<Self> {
        let bad = |key, reason: &str| AuthError::config(key, reason);
        if config.min_length == 0 || config.min_length > config.max_length {
            return Err(bad(
                "password.min_length",
                "must be at least 1 and at most max_length",
            ));
        }
        if config.max_length > MAX_INPUT_BYTES / 4 {
            return Err(bad("password.max_length", "must be at most 1024"));
        }
        if config.max_concurrent_hashes == 0 {
            return Err(bad("password.max_concurrent_hashes", "must be at least 1"));
        }
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|_| {
            bad(
                "password.argon2",
                "memory, iterations or parallelism out of range",
            )
        })?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(config.max_concurrent_hashes),
                config,
                argon,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PasswordConfig {
        &self.inner.config
    }

    /// NFKC-normalises `password` and checks its length.
    pub fn normalize(&self, password: &str) -> Result<NormalizedPassword> {
        let cfg = &self.inner.config;
        if password.len() > MAX_INPUT_BYTES {
            return Err(AuthError::PasswordTooLong {
                max: cfg.max_length,
            });
        }
        let normalized: String = password.nfkc().collect();
        let units: usize = normalized.chars().map(char::len_utf16).sum();
        if units < cfg.min_length {
            return Err(AuthError::PasswordTooShort {
                min: cfg.min_length,
            });
        }
        if units > cfg.max_length {
            return Err(AuthError::PasswordTooLong {
                max: cfg.max_length,
            });
        }
        Ok(NormalizedPassword(normalized))
    }

    /// Hashes on the calling thread: argon2id, a fresh 16-byte salt, PHC string.
    /// Blocks for tens of milliseconds; async code uses [`Passwords::hash`].
    pub fn hash_blocking(&self, password: &NormalizedPassword) -> Result<String> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| AuthError::internal("password hasher", e))?;
        self.inner
            .argon
            .hash_password(password.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::internal("password hasher", e))
    }

    /// Verifies on the calling thread; see [`Passwords::verify`].
    pub fn verify_blocking(&self, stored: &str, password: &NormalizedPassword) -> Verification {
        if stored.starts_with('$') {
            let Ok(parsed) = PasswordHash::new(stored) else {
                return Verification::Mismatch;
            };
            if parsed.algorithm.as_str() != "argon2id"
                && parsed.algorithm.as_str() != "argon2i"
                && parsed.algorithm.as_str() != "argon2d"
            {
                return Verification::Mismatch;
            }
            // Argon2's verifier uses the algorithm and parameters of the hash.
            if Argon2::default()
                .verify_password(password.0.as_bytes(), &parsed)
                .is_err()
            {
                return Verification::Mismatch;
            }
            let current = self.inner.argon.params();
            let same = parsed.algorithm.as_str() == "argon2id"
                && Params::try_from(&parsed).is_ok_and(|p| {
                    p.m_cost() == current.m_cost()
                        && p.t_cost() == current.t_cost()
                        && p.p_cost() == current.p_cost()
                });
            Verification::Match {
                needs_rehash: !same,
            }
        } else if verify_scrypt(stored, password.0.as_bytes()) {
            Verification::Match { needs_rehash: true }
        } else {
            Verification::Mismatch
        }
    }

    /// Hashes `password` on the blocking pool, at most
    /// `max_concurrent_hashes` at a time.
    pub async fn hash(&self, password: &NormalizedPassword) -> Result<String> {
        let _permit = self.permit().await?;
        let this = self.clone();
        let pw = password.clone();
        tokio::task::spawn_blocking(move || this.hash_blocking(&pw))
            .await
            .map_err(|e| AuthError::internal("password hasher", e))?
    }

    /// Verifies `password` against a stored argon2 PHC string or Better Auth
    /// scrypt hash, on the blocking pool. A malformed stored hash is a mismatch.
    pub async fn verify(
        &self,
        stored: &str,
        password: &NormalizedPassword,
    ) -> Result<Verification> {
        let _permit = self.permit().await?;
        let this = self.clone();
        let (stored, pw) = (stored.to_owned(), password.clone());
        tokio::task::spawn_blocking(move || this.verify_blocking(&stored, &pw))
            .await
            .map_err(|e| AuthError::internal("password hasher", e))
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.inner
            .permits
            .acquire()
            .await
            .map_err(|e| AuthError::internal("password hasher", e))
    }
}

/// Verifies a Better Auth scrypt hash, `<saltHex32>:<keyHex128>`.
fn verify_scrypt(stored: &str, password: &[u8]) -> bool {
    let Some((salt, key_hex)) = stored.split_once(':') else {
        return false;
    };
    if salt.is_empty() || salt.len() > 256 || key_hex.len() != SCRYPT_KEY_LEN * 2 {
        return false;
    }
    let mut expected = [0u8; SCRYPT_KEY_LEN];
    if hex::decode_to_slice(key_hex, &mut expected).is_err() {
        return false;
    }
    let Ok(params) = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_LEN) else {
        return false;
    };
    let mut derived = [0u8; SCRYPT_KEY_LEN];
    // The salt is the hex text itself, as bytes.
    if scrypt::scrypt(password, salt.as_bytes(), &params, &mut derived).is_err() {
        return false;
    }
    derived.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed with Node's crypto.scryptSync exactly as Better Auth calls it.
    const BA_HASH: &str = "0123456789abcdef0123456789abcdef:b87ad68e260d745e9edfac97cc70f72a8fbb1771cf033e8d2b3c360d3788e3548d977bae5090f5d6cd75f5190a6fbe6b0b5737d5420119bd1e44ccdc779acfe5";
    const BA_HASH_FULLWIDTH: &str = "fedcba9876543210fedcba9876543210:290282621f7a4e9cd18eec2c9e7e5e4e3ef8228bc431fb843ce4aa0e84e9135bf752dea46d325d08c525ff04d1ccf8b00ea0dd7bd4994ddf779132d81274e447";

    fn passwords() -> Passwords {
        Passwords::new(PasswordConfig::default()).unwrap()
    }

    #[test]
    fn better_auth_scrypt_hashes_verify_and_ask_for_a_rehash() {
        let p = passwords();
        let good = p.normalize("correct horse battery").unwrap();
        let bad = p.normalize("correct horse batterx").unwrap();
        assert_eq!(
            p.verify_blocking(BA_HASH, &good),
            Verification::Match { needs_rehash: true }
        );
        assert_eq!(p.verify_blocking(BA_HASH, &bad), Verification::Mismatch);
        // Full-width input normalises (NFKC) to the ASCII password that was hashed.
        let fullwidth = p.normalize("Ｐａｓｓｗｏｒｄ１２３").unwrap();
        assert_eq!(fullwidth.expose(), "Password123");
        assert!(p.verify_blocking(BA_HASH_FULLWIDTH, &fullwidth).is_match());
    }

    #[test]
    fn argon2id_hashes_use_the_owasp_parameters_and_verify() {
        let p = passwords();
        let pw = p.normalize("hunter2hunter2").unwrap();
        let phc = p.hash_blocking(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(
            p.verify_blocking(&phc, &pw),
            Verification::Match {
                needs_rehash: false
            }
        );
        let other = p.normalize("hunter3hunter3").unwrap();
        assert_eq!(p.verify_blocking(&phc, &other), Verification::Mismatch);
        // Same password, different salt: different hashes.
        assert_ne!(phc, p.hash_blocking(&pw).unwrap());
    }

    #[test]
    fn weaker_argon2_hashes_ask_for_a_rehash() {
        let weak = Passwords::new(PasswordConfig {
            memory_kib: 1024,
            iterations: 1,
            ..PasswordConfig::default()
        })
        .unwrap();
        let pw = weak.normalize("hunter2hunter2").unwrap();
        let phc = weak.hash_blocking(&pw).unwrap();
        assert_eq!(
            passwords().verify_blocking(&phc, &pw),
            Verification::Match { needs_rehash: true }
        );
    }

    #[test]
    fn malformed_stored_hashes_never_match() {
        let p = passwords();
        let pw = p.normalize("hunter2hunter2").unwrap();
        for stored in [
            "",
            ":",
            "$",
            "$argon2id$",
            "$bcrypt$v=1$xyz",
            "nothex:zz",
            "0123456789abcdef0123456789abcdef:",
            "0123456789abcdef0123456789abcdef:abcd",
            &format!("salt:{}", "g".repeat(128)),
        ] {
            assert_eq!(
                p.verify_blocking(stored, &pw),
                Verification::Mismatch,
                "{stored:?}"
            );
        }
    }

    #[test]
    fn length_is_checked_after_nfkc_in_utf16_units() {
        let p = passwords();
        assert!(matches!(
            p.normalize("1234567"),
            Err(AuthError::PasswordTooShort { min: 8 })
        ));
        assert!(p.normalize("12345678").is_ok());
        assert!(p.normalize(&"x".repeat(128)).is_ok());
        assert!(matches!(
            p.normalize(&"x".repeat(129)),
            Err(AuthError::PasswordTooLong { max: 128 })
        ));
        // Four astral characters are eight UTF-16 units, as in JavaScript.
        assert!(p.normalize("😀😀😀😀").is_ok());
        // A ligature expands under NFKC: "ﬃ" is three characters.
        assert!(p.normalize("ﬃﬃﬃ").is_ok());
        assert!(matches!(
            p.normalize(&"x".repeat(1_000_000)),
            Err(AuthError::PasswordTooLong { .. })
        ));
    }

    #[test]
    fn config_is_validated_and_debug_shows_no_secret() {
        assert!(
            Passwords::new(PasswordConfig {
                min_length: 0,
                ..PasswordConfig::default()
            })
            .is_err()
        );
        assert!(
            Passwords::new(PasswordConfig {
                memory_kib: 1,
                ..PasswordConfig::default()
            })
            .is_err()
        );
        let pw = passwords().normalize("hunter2hunter2").unwrap();
        assert_eq!(format!("{pw:?}"), "NormalizedPassword(..)");
    }
}
