//! Random identifiers and tokens from the operating system's CSPRNG, in Better
//! Auth's alphabet (`[A-Za-z0-9]`): bytes of 248 and above are rejected and the
//! rest taken modulo 62, so every character is equally likely.

use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::error::{AuthError, Result};

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Fills `buf` with bytes from the operating system's CSPRNG.
pub(crate) fn fill(buf: &mut [u8]) -> Result<()> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| AuthError::internal("random number generator", e))
}

/// `len` characters drawn uniformly from the first `n` of [`ALPHABET`]
/// (bytes at or above the largest multiple of `n` are rejected).
fn sample(len: usize, n: u8) -> Result<String> {
    let limit = 256 - 256 % u16::from(n);
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf)?;
        for &b in &buf {
            if u16::from(b) < limit {
                out.push(char::from(ALPHABET[usize::from(b % n)]));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// `len` characters of `[A-Za-z0-9]`.
pub(crate) fn random_string(len: usize) -> Result<String> {
    sample(len, 62)
}

/// `len` letters `[A-Za-z]`.
pub(crate) fn random_letters(len: usize) -> Result<String> {
    sample(len, 52)
}

/// `len` characters of `[0-9a-z]` (Better Auth's
/// `generateRandomString(len, "0-9", "a-z")`), each equally likely.
pub(crate) fn random_lower_alnum(len: usize) -> Result<String> {
    const LOWER: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf)?;
        // 252 = 7 × 36: bytes above are rejected so that none is favoured.
        for &b in buf.iter().filter(|&&b| b < 252) {
            out.push(char::from(LOWER[usize::from(b % 36)]));
            if out.len() == len {
                break;
            }
        }
    }
    Ok(out)
}

pub(crate) fn random_id() -> Result<String> {
    random_string(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_alphanumeric_characters_and_distinct() {
        let a = random_id().unwrap();
        let b = random_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(random_string(100).unwrap().len(), 100);
        let k = random_letters(64).unwrap();
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|c| c.is_ascii_alphabetic()));
    }
}
