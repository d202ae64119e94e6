//! Password hashing under a [`PasswordPolicy`]: Better Auth's scrypt (the
//! default) or argon2id for new hashes; both formats always verify.
//!
//! * [`PasswordPolicy::BetterAuthCompatible`] (default) writes Better Auth's
//!   own format, `<saltHex>:<keyHex>` (scrypt with N = 16384, r = 16, p = 1,
//!   64-byte key, the salt being the 32 hex characters' bytes), so every
//!   password set on Neutrino also signs in on Better Auth. Its hashes are
//!   never replaced; an argon2 hash (written earlier under
//!   [`PasswordPolicy::Argon2id`]) is replaced by scrypt at the next sign-in,
//!   which makes that user able to sign in on Better Auth again.
//! * [`PasswordPolicy::Argon2id`] writes argon2id with OWASP's parameters
//!   (m = 19 MiB, t = 2, p = 1 by default) as a PHC string
//!   (`$argon2id$v=19$m=19456,t=2,p=1$…`), and replaces Better Auth's scrypt
//!   hashes (and weaker argon2 ones) at the next sign-in.
//!
//! **Which to pick.** Stock Better Auth verifies only its scrypt format: a
//! user whose hash is argon2id gets HTTP 500 ("Invalid password hash") there.
//! So pick `Argon2id` only when Neutrino alone serves the platform's users and
//! no Better Auth server will read the database again (or that server has a
//! custom `password.verify`); its hashes are stronger against offline
//! cracking (memory-hard at a cost chosen here). Keep the default while a
//! Better Auth server shares the database, or may take it back: no user can
//! then be locked out of either side, because Neutrino verifies both formats
//! whatever the policy, and everything it writes is Better Auth's format.
//! That is why it is the default: the other choice can lock a user out of
//! the side still serving them, this one cannot.
//!
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

/// Which format new password hashes are written in (see the [module
/// docs](self) for the trade-off). Both formats verify under either policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PasswordPolicy {
    /// Better Auth's scrypt format (`<saltHex>:<keyHex>`, its exact
    /// parameters): passwords set here sign in on Better Auth too; Better
    /// Auth's hashes are never replaced, argon2 ones are replaced by scrypt at
    /// sign-in. The default.
    #[default]
    BetterAuthCompatible,
    /// argon2id with [`PasswordConfig`]'s parameters; Better Auth's scrypt
    /// hashes are replaced at sign-in, after which stock Better Auth can no
    /// longer sign that user in.
    Argon2id,
}

impl PasswordPolicy {
    /// The format's name, as written to the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BetterAuthCompatible => "scrypt",
            Self::Argon2id => "argon2id",
        }
    }
}

/// How passwords are checked and hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordConfig {
    /// The format of new hashes (default
    /// [`PasswordPolicy::BetterAuthCompatible`]).
    pub policy: PasswordPolicy,
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
            policy: PasswordPolicy::default(),
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
        /// The stored hash is not in the policy's format (or is argon2id with
        /// other parameters than the configured ones) and should be replaced.
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
/// use neutrino::auth::password::PasswordPolicy;
/// let passwords = Passwords::new(PasswordConfig::default())?;
/// let pw = passwords.normalize("correct horse battery")?;
/// // Better Auth's own format by default: `<saltHex32>:<keyHex128>`.
/// let theirs = passwords.hash(&pw).await?;
/// assert_eq!(theirs.len(), 32 + 1 + 128);
/// assert!(passwords.verify(&theirs, &pw).await?.is_match());
///
/// let argon = Passwords::new(PasswordConfig { policy: PasswordPolicy::Argon2id, ..PasswordConfig::default() })?;
/// let phc = argon.hash(&pw).await?;
/// assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert!(argon.verify(&phc, &pw).await?.is_match());
/// // Either format verifies under either policy.
/// assert!(argon.verify(&theirs, &pw).await?.is_match());
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

    /// Hashes on the calling thread in the policy's format, with a fresh
    /// 16-byte salt: Better Auth's `<saltHex>:<keyHex>` or an argon2id PHC
    /// string. Blocks for tens of milliseconds; async code uses
    /// [`Passwords::hash`].
    pub fn hash_blocking(&self, password: &NormalizedPassword) -> Result<String> {
        if self.inner.config.policy == PasswordPolicy::BetterAuthCompatible {
            return hash_scrypt(password.0.as_bytes());
        }
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
                needs_rehash: !same
                    || self.inner.config.policy == PasswordPolicy::BetterAuthCompatible,
            }
        } else if verify_scrypt(stored, password.0.as_bytes()) {
            Verification::Match {
                needs_rehash: self.inner.config.policy == PasswordPolicy::Argon2id,
            }
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

/// A Better Auth scrypt hash of `password`: `hex(16 random bytes)` as the
/// salt (its 32 characters' bytes are what scrypt gets), then `:` and the
/// 64-byte key in hex, as Better Auth's `hashPassword` writes it.
fn hash_scrypt(password: &[u8]) -> Result<String> {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let salt = hex::encode(raw);
    let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_LEN)
        .map_err(|e| AuthError::internal("password hasher", e.to_string()))?;
    let mut key = [0u8; SCRYPT_KEY_LEN];
    scrypt::scrypt(password, salt.as_bytes(), &params, &mut key)
        .map_err(|e| AuthError::internal("password hasher", e.to_string()))?;
    Ok(format!("{salt}:{}", hex::encode(key)))
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
        Passwords::new(PasswordConfig {
            policy: PasswordPolicy::Argon2id,
            ..PasswordConfig::default()
        })
        .unwrap()
    }

    fn compatible() -> Passwords {
        Passwords::new(PasswordConfig::default()).unwrap()
    }

    #[test]
    fn the_default_policy_writes_better_auth_scrypt_and_never_replaces_it() {
        let p = compatible();
        assert_eq!(p.config().policy, PasswordPolicy::BetterAuthCompatible);
        let pw = p.normalize("correct horse battery").unwrap();
        // Better Auth's own hash verifies and is kept.
        assert_eq!(
            p.verify_blocking(BA_HASH, &pw),
            Verification::Match {
                needs_rehash: false
            }
        );
        let ours = p.hash_blocking(&pw).unwrap();
        let (salt, key) = ours.split_once(':').unwrap();
        assert_eq!(salt.len(), 32);
        assert_eq!(key.len(), 128);
        assert!(ours.bytes().all(|b| b == b':' || b.is_ascii_hexdigit()));
        assert!(!ours.bytes().any(|b| b.is_ascii_uppercase()));
        assert_eq!(
            p.verify_blocking(&ours, &pw),
            Verification::Match {
                needs_rehash: false
            }
        );
        let other = p.normalize("correct horse batterx").unwrap();
        assert_eq!(p.verify_blocking(&ours, &other), Verification::Mismatch);
        assert_ne!(ours, p.hash_blocking(&pw).unwrap());
        // An argon2id hash still verifies, and asks to become scrypt.
        let phc = passwords().hash_blocking(&pw).unwrap();
        assert_eq!(
            p.verify_blocking(&phc, &pw),
            Verification::Match { needs_rehash: true }
        );
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
