//! Random identifiers and tokens from the operating system's CSPRNG, in Better
//! Auth's alphabet (`[A-Za-z0-9]`): bytes of 248 and above are rejected and the
//! rest taken modulo 62, so every character is equally likely.

use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::error::{AuthError, Result};

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `len` characters of `[A-Za-z0-9]` straight from the OS CSPRNG.
pub(crate) fn random_string(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        OsRng
            .try_fill_bytes(&mut buf)
            .map_err(|e| AuthError::Rng(e.into()))?;
        for &b in &buf {
            if b < 248 {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// `len` letters `[a-zA-Z]` from the OS CSPRNG (Better Auth's API key
/// alphabet): bytes of 208 and above are rejected, the rest taken modulo 52.
pub(crate) fn random_letters(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        OsRng
            .try_fill_bytes(&mut buf)
            .map_err(|e| AuthError::Rng(e.into()))?;
        for &b in &buf {
            if b < 208 {
                out.push(char::from(ALPHABET[usize::from(b % 52)]));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// A record ID or session token: 32 characters.
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
