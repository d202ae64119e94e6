//! Email domains: validation and normalisation, and the proofs that a tenant
//! controls one ([`DomainCheck`]: a DNS TXT record through a [`TxtLookup`],
//! or a token served over HTTP at a well-known URL, [`super::http`]).

use std::fmt;

use async_trait::async_trait;

use crate::error::{AuthError, Result};

/// Better Auth's prefix of the verification record's name and value
/// (`domainVerification.tokenPrefix`'s default).
pub const TOKEN_PREFIX: &str = "better-auth-token";

/// The longest a DNS label may be; the record name's first label
/// (`_better-auth-token-{providerId}`) must fit.
pub const DNS_LABEL_MAX_LEN: usize = 63;

/// The domain's canonical form: lowercase ASCII (an internationalised name
/// as its `xn--` A-label, by UTS #46, which also folds Unicode look-alikes
/// such as full-width letters into their ASCII form), no trailing dot, at
/// least two labels, each a valid DNS label of at most 63 bytes, 253 bytes
/// in all, and a top-level label that is not all digits (no IP addresses).
///
/// ```
/// use neutrino::auth::sso::normalize_domain;
/// assert_eq!(normalize_domain("Example.COM.").unwrap(), "example.com");
/// assert_eq!(normalize_domain("bücher.example").unwrap(), "xn--bcher-kva.example");
/// assert_eq!(normalize_domain("ｅｘａｍｐｌｅ.com").unwrap(), "example.com");
/// assert_eq!(normalize_domain("127.0.0.1").unwrap_err().code(), "INVALID_DOMAIN");
/// ```
///
/// Errors: `INVALID_DOMAIN` (400).
pub fn normalize_domain(input: &str) -> Result<String> {
    let bad = || AuthError::Sso {
        code: "INVALID_DOMAIN",
        status: 400,
    };
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 1024 {
        return Err(bad());
    }
    // One trailing dot (the absolute form) is the same name.
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| bad())?
        .to_ascii_lowercase();
    if ascii.is_empty() || ascii.len() > 253 {
        return Err(bad());
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= DNS_LABEL_MAX_LEN
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if labels.len() < 2
        || !labels.iter().all(label_ok)
        || labels
            .last()
            .is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok(ascii)
}

/// The domain of a (normalised) email address and each of its parent
/// domains with at least two labels, most specific first: a provider's
/// domain covers its subdomains, as in Better Auth's `domainMatches`.
pub(crate) fn email_domains(email: &str) -> Vec<String> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Vec::new();
    };
    // A label a strict IDNA name refuses (a hyphen at its end, `--` in
    // places 3-4, bad Punycode) is still a subdomain for mail: such an
    // address is compared in the lenient form, else as written, never
    // left outside every domain.
    let Some(domain) = normalize_domain(domain)
        .ok()
        .or_else(|| lenient_domain(domain))
    else {
        return Vec::new();
    };
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .collect()
}

/// `domain` in the URL standard's (lenient) IDNA form, else lowercased as
/// written when it is ASCII; one trailing dot dropped.
fn lenient_domain(domain: &str) -> Option<String> {
    let d = domain.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    let ascii = idna::domain_to_ascii(d)
        .ok()
        .or_else(|| d.is_ascii().then(|| d.to_owned()))?
        .to_ascii_lowercase();
    (!ascii.is_empty()).then_some(ascii)
}

/// Whether `email`'s domain is `domain` or one of its subdomains.
pub(crate) fn email_in_domain(email: &str, domain: &str) -> bool {
    email_domains(email).iter().any(|d| d == domain)
}

/// The DNS name whose TXT record proves the domain for a provider:
/// `_better-auth-token-{providerId}.{domain}` (Better Auth's).
pub fn record_name(provider_id: &str, domain: &str) -> String {
    format!("{}.{domain}", record_label(provider_id))
}

/// `_better-auth-token-{providerId}`: the record's first label, and the
/// `verification` row's identifier (Better Auth's).
pub fn record_label(provider_id: &str) -> String {
    format!("_{TOKEN_PREFIX}-{provider_id}")
}

/// A domain-verification token: what the tenant publishes to prove it
/// controls the domain. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationToken(String);

impl VerificationToken {
    pub(crate) fn new(token: String) -> Self {
        Self(token)
    }

    /// The token.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The TXT record value Better Auth documents:
    /// `_better-auth-token-{providerId}={token}` (the bare token is
    /// accepted too).
    pub fn txt_value(&self, provider_id: &str) -> String {
        format!("{}={}", record_label(provider_id), self.0)
    }
}

impl fmt::Debug for VerificationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationToken(<redacted>)")
    }
}

/// What a domain check is asked: the domain, the provider it is for, and
/// the token it must find.
#[derive(Debug)]
pub struct DomainChallenge<'a> {
    /// The normalised domain.
    pub domain: &'a str,
    /// The provider's ID.
    pub provider_id: &'a str,
    /// The token the proof must carry.
    pub token: &'a VerificationToken,
}

impl DomainChallenge<'_> {
    /// Whether a published value (a TXT record's strings joined, or an
    /// HTTP body), trimmed, is the token or Better Auth's `name=token` form.
    /// Compared in constant time.
    pub fn accepts(&self, published: &str) -> bool {
        use subtle::ConstantTimeEq;
        let published = published.trim().as_bytes();
        let full = self.token.txt_value(self.provider_id);
        bool::from(published.ct_eq(full.as_bytes()))
            | bool::from(published.ct_eq(self.token.expose().as_bytes()))
    }
}

/// A proof that a tenant controls a domain: [`DnsTxtCheck`] over a
/// [`TxtLookup`], or [`super::HttpTokenCheck`].
#[async_trait]
pub trait DomainCheck: Send + Sync {
    /// Whether the proof for `challenge` is published. `Ok(false)` when it
    /// is not (or not yet); an error only when the check itself could not
    /// run (the caller answers both as `DOMAIN_VERIFICATION_FAILED`, 502).
    async fn holds(&self, challenge: &DomainChallenge<'_>) -> Result<bool>;
}

/// The TXT look-up port: the records of one DNS name, each record's
/// strings joined.
#[async_trait]
pub trait TxtLookup: Send + Sync {
    /// The TXT records of `name` (an absolute name without trailing dot);
    /// empty when there are none or the name does not exist.
    async fn txt(&self, name: &str) -> Result<Vec<String>>;
}

/// The DNS proof: a TXT record at [`record_name`] whose value is the token
/// ([`DomainChallenge::accepts`]), found through `lookup`.
pub struct DnsTxtCheck<L> {
    lookup: L,
}

impl<L: TxtLookup> DnsTxtCheck<L> {
    /// The DNS proof through `lookup` (e.g. [`super::DnsResolver`]).
    pub fn new(lookup: L) -> Self {
        Self { lookup }
    }
}

impl<L> fmt::Debug for DnsTxtCheck<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsTxtCheck").finish_non_exhaustive()
    }
}

#[async_trait]
impl<L: TxtLookup> DomainCheck for DnsTxtCheck<L> {
    async fn holds(&self, challenge: &DomainChallenge<'_>) -> Result<bool> {
        let name = record_name(challenge.provider_id, challenge.domain);
        let records = self.lookup.txt(&name).await?;
        Ok(records.iter().any(|r| challenge.accepts(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_or_refused() {
        for (input, want) in [
            ("example.com", "example.com"),
            ("EXAMPLE.com.", "example.com"),
            (" Sub.Example.Com ", "sub.example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("ｅｘａｍｐｌｅ.com", "example.com"),
        ] {
            assert_eq!(normalize_domain(input).unwrap(), want, "{input}");
        }
        for input in [
            "",
            ".",
            "com",
            "example..com",
            "-a.com",
            "a-.com",
            "a_b.com",
            "127.0.0.1",
            "exa mple.com",
            "a@b.com",
            "example.com/path",
            "http://example.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert_eq!(
                normalize_domain(input).unwrap_err().code(),
                "INVALID_DOMAIN",
                "{input}"
            );
        }
    }

    #[test]
    fn email_domains_include_parents() {
        assert_eq!(
            email_domains("a+x@eng.corp.example.com"),
            ["eng.corp.example.com", "corp.example.com", "example.com"]
        );
        assert!(email_in_domain("a@corp.example", "corp.example"));
        assert!(!email_in_domain("a@evilcorp.example", "corp.example"));
    }

    #[test]
    fn tokens_do_not_show_in_debug() {
        let t = VerificationToken::new("s3cr3t-token".into());
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
