//! Email addresses: normalised (trimmed, lowercased) and validated with the
//! rules of Better Auth's validator (zod's `email()`), ASCII only.

use crate::error::{AuthError, Result};

/// Longest accepted address, in bytes.
pub const MAX_EMAIL_LEN: usize = 254;

/// Trims and lowercases `email`, then validates it; [`AuthError::InvalidEmail`]
/// if it is not an address.
///
/// ```
/// use neutrino::auth::email::normalize_email;
/// assert_eq!(normalize_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
/// assert!(normalize_email("ada@localhost").is_err());
/// ```
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim();
    if e.is_empty() || e.len() > MAX_EMAIL_LEN || !e.is_ascii() {
        return Err(AuthError::InvalidEmail);
    }
    let e = e.to_ascii_lowercase();
    let (local, domain) = e.rsplit_once('@').ok_or(AuthError::InvalidEmail)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b))
        && local
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels[..labels.len() - 1].iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(e)
    } else {
        Err(AuthError::InvalidEmail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for (input, want) in [
            ("a@b.co", "a@b.co"),
            (
                " Ada.Lovelace+tag@Math.Example.org\n",
                "ada.lovelace+tag@math.example.org",
            ),
            ("o'neil@x-y.io", "o'neil@x-y.io"),
        ] {
            assert_eq!(normalize_email(input).unwrap(), want);
        }
    }

    #[test]
    fn rejects_malformed_and_unicode_addresses() {
        for input in [
            "",
            "   ",
            "plain",
            "@b.co",
            "a@",
            "a@b",
            "a@b.c",
            ".a@b.co",
            "a..b@b.co",
            "a.@b.co",
            "a@-b.co",
            "a@b..co",
            "a b@b.co",
            "a@b.co\0",
            "jos\u{e9}@example.com",
            "user@\u{4f8b}\u{3048}.jp",
            "\u{1F600}@x.io",
            &format!("{}@b.co", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(300)),
        ] {
            assert!(
                matches!(normalize_email(input), Err(AuthError::InvalidEmail)),
                "{input:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn normalising_arbitrary_text_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = normalize_email(&s) {
                prop_assert_eq!(normalize_email(&e).unwrap(), e.clone());
                prop_assert_eq!(e.clone(), e.to_ascii_lowercase());
            }
        }
    }
}
