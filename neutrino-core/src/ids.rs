//! Typed identifiers: the only way Neutrino builds names.
//!
//! * [`PlatformId`] and [`StackId`] are nano-IDs: 10 characters of `0-9a-z` from a
//!   CSPRNG ([`generate_id`]); the stack that holds a platform's auth service is
//!   [`StackId::DEFAULT`] (`default`).
//! * [`TenantId`] and [`UserId`] are record IDs in the formats Better Auth
//!   writes ([`IdFormat`]): 32 characters of `[A-Za-z0-9]` by default, or a
//!   lowercase UUID with its `generateId: "uuid"`, so rows written by either side
//!   are readable by the other.
//!
//! Parsing validates and says what was wrong:
//!
//! ```
//! use neutrino::ids::PlatformId;
//! let err = "k3m9p2xw7qz".parse::<PlatformId>().unwrap_err();
//! assert_eq!(err.to_string(), "invalid platform id: must be 10 characters of 0-9a-z, got 11");
//! let id: PlatformId = "k3m9p2xw7q".parse().unwrap();
//! assert_eq!(id.as_str(), "k3m9p2xw7q");
//! ```

use std::fmt;
use std::str::FromStr;

use rand::RngCore;

use crate::error::{Error, Result};

/// Length of a nano-ID ([`PlatformId`], [`StackId`]).
pub const NANO_ID_LEN: usize = 10;
/// Alphabet of a nano-ID.
pub const NANO_ID_ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// Length of a record ID ([`TenantId`], [`UserId`]), as Better Auth generates them.
pub const RECORD_ID_LEN: usize = 32;
/// Alphabet of a record ID.
pub const RECORD_ID_ALPHABET: &[u8; 62] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Fills `out` with characters of `alphabet` drawn uniformly from the thread-local
/// CSPRNG (ChaCha, seeded and periodically reseeded from the operating system).
///
/// Bytes are masked to the next power of two at or above the alphabet's length and
/// rejected when out of range, so there is no modulo bias (nano-ID's algorithm).
fn fill_random(out: &mut [u8], alphabet: &[u8]) {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let mask = (alphabet.len().next_power_of_two() - 1) as u8;
    let mut rng = rand::rng();
    let mut buf = [0u8; 64];
    let mut filled = 0;
    while filled < out.len() {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            let i = usize::from(b & mask);
            if i < alphabet.len() {
                out[filled] = alphabet[i];
                filled += 1;
                if filled == out.len() {
                    break;
                }
            }
        }
    }
}

fn random_nano() -> [u8; NANO_ID_LEN] {
    let mut out = [0u8; NANO_ID_LEN];
    fill_random(&mut out, NANO_ID_ALPHABET);
    out
}

/// Returns a fresh nano-ID: 10 characters of `0-9a-z` from a CSPRNG.
///
/// ```
/// let id = neutrino::ids::generate_id();
/// assert_eq!(id.len(), 10);
/// assert!(id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
/// ```
pub fn generate_id() -> String {
    let bytes = random_nano();
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn parse_nano(what: &'static str, s: &str) -> Result<[u8; NANO_ID_LEN]> {
    let reason =
        |detail: String| Error::invalid(what, format!("must be 10 characters of 0-9a-z, {detail}"));
    if s.len() != NANO_ID_LEN {
        return Err(reason(format!("got {}", s.chars().count())));
    }
    let mut out = [0u8; NANO_ID_LEN];
    for (i, (slot, b)) in out.iter_mut().zip(s.bytes()).enumerate() {
        if !(b.is_ascii_digit() || b.is_ascii_lowercase()) {
            let c = s[i..].chars().next().unwrap_or('?');
            return Err(reason(format!("found {c:?} at position {i}")));
        }
        *slot = b;
    }
    Ok(out)
}

fn ascii_str(bytes: &[u8]) -> &str {
    // Constructors only ever store ASCII, so this conversion cannot fail.
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// A platform: one client product, owner of an isolated set of resources.
///
/// Ten characters of `0-9a-z`, e.g. `k3m9p2xw7q`. It appears in every resource
/// name, hostname and cookie domain of the platform.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlatformId([u8; NANO_ID_LEN]);

impl PlatformId {
    /// A fresh random platform ID.
    pub fn generate() -> Self {
        Self(random_nano())
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

impl FromStr for PlatformId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_nano("platform id", s).map(Self)
    }
}

/// A stack: a group of resources and apps of a platform.
///
/// Either [`StackId::DEFAULT`] (`default`, which holds the auth service) or ten
/// characters of `0-9a-z`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StackId(Option<[u8; NANO_ID_LEN]>);

impl StackId {
    /// The `default` stack, which holds the platform's auth service.
    pub const DEFAULT: StackId = StackId(None);

    /// A fresh random stack ID.
    pub fn generate() -> Self {
        Self(Some(random_nano()))
    }

    /// Whether this is the `default` stack.
    pub fn is_default(&self) -> bool {
        self.0.is_none()
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            None => "default",
            Some(b) => ascii_str(b),
        }
    }
}

impl FromStr for StackId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s == "default" {
            return Ok(Self::DEFAULT);
        }
        parse_nano("stack id", s)
            .map(|b| Self(Some(b)))
            .map_err(|_| {
                Error::invalid(
                    "stack id",
                    format!(
                        "must be \"default\" or 10 characters of 0-9a-z, got {:?}",
                        truncate_for_message(s)
                    ),
                )
            })
    }
}

/// Shortens untrusted input quoted in an error message.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// Longest record ID: a UUID's 36 characters.
pub const MAX_RECORD_ID_LEN: usize = 36;

/// The formats of record IDs ([`TenantId`], [`UserId`]) Better Auth writes, and
/// so the ones Neutrino reads: its default generator (32 characters of
/// `[A-Za-z0-9]`) and `advanced.database.generateId: "uuid"` (a lowercase
/// RFC 4122 UUID, 36 characters). Parsing accepts both; a platform chooses
/// which one it writes.
///
/// ```
/// use neutrino::ids::{IdFormat, UserId};
/// let uuid = UserId::generate_in(IdFormat::Uuid);
/// assert_eq!(IdFormat::of(uuid.as_str()), Some(IdFormat::Uuid));
/// assert_eq!(uuid.as_str().parse::<UserId>().unwrap(), uuid);
/// assert_eq!(IdFormat::of(UserId::generate().as_str()), Some(IdFormat::BetterAuth));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdFormat {
    /// Better Auth's default: 32 characters of `[A-Za-z0-9]`.
    #[default]
    BetterAuth,
    /// Better Auth's `generateId: "uuid"`: a lowercase version-4 UUID,
    /// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    Uuid,
}

impl IdFormat {
    /// The format `s` is in, or `None` when it is in neither.
    pub fn of(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() == RECORD_ID_LEN && b.iter().all(u8::is_ascii_alphanumeric) {
            return Some(Self::BetterAuth);
        }
        let uuid = b.len() == MAX_RECORD_ID_LEN
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            });
        uuid.then_some(Self::Uuid)
    }

    /// A fresh random ID in this format, from a CSPRNG.
    pub fn generate(self) -> String {
        let (bytes, len) = self.generate_bytes();
        ascii_str(&bytes[..len]).to_owned()
    }

    fn generate_bytes(self) -> ([u8; MAX_RECORD_ID_LEN], usize) {
        let mut out = [0u8; MAX_RECORD_ID_LEN];
        match self {
            Self::BetterAuth => {
                out[..RECORD_ID_LEN].copy_from_slice(&random_record());
                (out, RECORD_ID_LEN)
            }
            Self::Uuid => {
                let mut raw = [0u8; 16];
                rand::rng().fill_bytes(&mut raw);
                raw[6] = (raw[6] & 0x0f) | 0x40;
                raw[8] = (raw[8] & 0x3f) | 0x80;
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut at = 0;
                for (i, byte) in raw.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out[at] = b'-';
                        at += 1;
                    }
                    out[at] = HEX[usize::from(byte >> 4)];
                    out[at + 1] = HEX[usize::from(byte & 0x0f)];
                    at += 2;
                }
                (out, MAX_RECORD_ID_LEN)
            }
        }
    }
}

fn parse_record(what: &'static str, s: &str) -> Result<([u8; MAX_RECORD_ID_LEN], u8)> {
    if IdFormat::of(s).is_none() {
        let reason = if s.len() == MAX_RECORD_ID_LEN && s.contains('-') {
            "must be a lowercase UUID (8-4-4-4-12 hex digits)".to_owned()
        } else if s.len() != RECORD_ID_LEN {
            format!(
                "must be 32 characters of A-Za-z0-9 or a lowercase UUID, got {}",
                s.chars().count()
            )
        } else {
            let (i, c) = s
                .char_indices()
                .find(|(_, c)| !c.is_ascii_alphanumeric())
                .unwrap_or((0, '?'));
            format!("must be 32 characters of A-Za-z0-9, found {c:?} at position {i}")
        };
        return Err(Error::invalid(what, reason));
    }
    let mut out = [0u8; MAX_RECORD_ID_LEN];
    out[..s.len()].copy_from_slice(s.as_bytes());
    // At most 36: fits.
    Ok((out, s.len() as u8))
}

/// Better Auth's record-ID generator: bytes at or above 248 are rejected and the
/// rest taken modulo 62, which is unbiased because 248 = 4 × 62.
fn random_record() -> [u8; RECORD_ID_LEN] {
    let mut out = [0u8; RECORD_ID_LEN];
    let mut rng = rand::rng();
    let mut buf = [0u8; 64];
    let mut filled = 0;
    while filled < RECORD_ID_LEN {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            if b < 248 {
                out[filled] = RECORD_ID_ALPHABET[usize::from(b % 62)];
                filled += 1;
                if filled == RECORD_ID_LEN {
                    break;
                }
            }
        }
    }
    out
}

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; MAX_RECORD_ID_LEN], u8);

        impl $name {
            /// A fresh random ID in Better Auth's default format.
            pub fn generate() -> Self {
                Self::generate_in(IdFormat::BetterAuth)
            }

            /// A fresh random ID in `format`.
            pub fn generate_in(format: IdFormat) -> Self {
                let (bytes, len) = format.generate_bytes();
                // At most 36: fits.
                Self(bytes, len as u8)
            }

            /// The ID as text.
            pub fn as_str(&self) -> &str {
                ascii_str(&self.0[..usize::from(self.1)])
            }

            /// The format of this ID.
            pub fn format(&self) -> IdFormat {
                if usize::from(self.1) == RECORD_ID_LEN {
                    IdFormat::BetterAuth
                } else {
                    IdFormat::Uuid
                }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                parse_record($what, s).map(|(b, l)| Self(b, l))
            }
        }
    };
}

record_id!(
    /// A tenant of a platform (an auth organization): 32 characters of
    /// `[A-Za-z0-9]` (what the registry mints), or a lowercase UUID (an
    /// organization Better Auth created with `generateId: "uuid"`).
    TenantId,
    "tenant id"
);
record_id!(
    /// A user of a platform's auth database: 32 characters of `[A-Za-z0-9]` or
    /// a lowercase UUID ([`IdFormat`]).
    UserId,
    "user id"
);

macro_rules! text_traits {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                s.parse()
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.as_str().to_owned()
            }
        }
        /// Serialized as its text, e.g. `"k3m9p2xw7q"`.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}

text_traits!(PlatformId, StackId, TenantId, UserId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_id_errors_say_what_was_wrong() {
        let e = "ABC".parse::<PlatformId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid platform id: must be 10 characters of 0-9a-z, got 3"
        );
        let e = "k3m9p2xW7q".parse::<PlatformId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid platform id: must be 10 characters of 0-9a-z, found 'W' at position 7"
        );
        // Multi-byte characters are counted as characters, and never split.
        let e = "k3m9p2xé7".parse::<PlatformId>().unwrap_err();
        assert!(e.to_string().contains("found 'é' at position 7"), "{e}");
    }

    #[test]
    fn stack_id_accepts_default_and_nano_ids() {
        assert_eq!("default".parse::<StackId>().unwrap(), StackId::DEFAULT);
        assert!(StackId::DEFAULT.is_default());
        let s: StackId = "a1b2c3d4e5".parse().unwrap();
        assert_eq!(s.as_str(), "a1b2c3d4e5");
        assert!(!s.is_default());
        let e = "Default".parse::<StackId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid stack id: must be \"default\" or 10 characters of 0-9a-z, got \"Default\""
        );
    }

    #[test]
    fn record_ids_use_better_auths_format() {
        let t = TenantId::generate();
        assert_eq!(t.as_str().len(), 32);
        assert!(t.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(t.as_str().parse::<TenantId>().unwrap(), t);
        let e = "short".parse::<UserId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid user id: must be 32 characters of A-Za-z0-9 or a lowercase UUID, got 5"
        );
    }

    #[test]
    fn generated_ids_differ() {
        let a = PlatformId::generate();
        let b = PlatformId::generate();
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), format!("PlatformId({a})"));
    }

    #[test]
    fn record_ids_accept_better_auth_uuids_and_nothing_looser() {
        let id = "3f2b8c1e-9d4a-4b6f-8e2a-1c5d7e9f0a3b";
        let u: UserId = id.parse().unwrap();
        assert_eq!(u.as_str(), id);
        assert_eq!(u.format(), IdFormat::Uuid);
        let t: TenantId = id.parse().unwrap();
        assert_eq!(t.as_str(), id);
        for bad in [
            "3F2B8C1E-9D4A-4B6F-8E2A-1C5D7E9F0A3B",
            "3f2b8c1e-9d4a-4b6f-8e2a-1c5d7e9f0a3",
            "3f2b8c1e9d4a-4b6f-8e2a-1c5d7e9f0a3b-",
            "3f2b8c1e-9d4a-4b6f-8e2a-1c5d7e9f0a3g",
            "{f2b8c1e-9d4a-4b6f-8e2a-1c5d7e9f0a3b",
            "",
        ] {
            assert!(bad.parse::<UserId>().is_err(), "{bad}");
            assert!(bad.parse::<TenantId>().is_err(), "{bad}");
        }
        let g = UserId::generate_in(IdFormat::Uuid);
        assert_eq!(IdFormat::of(g.as_str()), Some(IdFormat::Uuid));
        assert_eq!(&g.as_str()[14..15], "4");
        assert_ne!(g, UserId::generate_in(IdFormat::Uuid));
        assert_eq!(UserId::generate().format(), IdFormat::BetterAuth);
        assert_eq!(TenantId::generate().as_str().len(), RECORD_ID_LEN);
    }
}
