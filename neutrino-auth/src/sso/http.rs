//! The HTTP proof of a domain: the token served at
//! `https://{domain}/.well-known/neutrino-sso-verification/{providerId}`.
//!
//! Fetching a URL on a domain a tenant names is a server-side request
//! forgery vector, so [`HttpTokenCheck`] resolves the name itself, refuses
//! it when any address is private, loopback, link-local, shared, multicast,
//! unspecified, documentation or a cloud metadata address (loopback is
//! allowed only with [`HttpTokenCheck::allow_loopback`], for tests),
//! connects to the address it checked (no second resolution), follows no
//! redirect, gives up after a timeout and reads at most [`MAX_BODY`] bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::domain::{DomainChallenge, DomainCheck};
use crate::error::{AuthError, Result};

/// The path under which the token is served, followed by the provider ID.
pub const WELL_KNOWN_PATH: &str = "/.well-known/neutrino-sso-verification/";
/// The most of the body read.
pub const MAX_BODY: usize = 4096;
/// The default timeout of the whole fetch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves a host name to its addresses (the port of [`HttpTokenCheck`]'s
/// look-up; [`SystemResolver`] by default).
#[async_trait]
pub trait HostResolver: Send + Sync {
    /// The addresses of `host`.
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>>;
}

/// The operating system's resolver.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

#[async_trait]
impl HostResolver for SystemResolver {
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| AuthError::internal("dns", e))?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

/// Whether an address may be fetched: a public unicast address, or a
/// loopback one when `loopback` is allowed.
pub fn is_public(ip: IpAddr, loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_public(v4, loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_public(v4, loopback);
            }
            if v6.is_loopback() {
                return loopback;
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local
                || s[0] == 0x2001 && s[1] == 0x0db8 // documentation
                || s[0] == 0x0064 && s[1] == 0xff9b // NAT64
                || s[0] == 0x2002 // 6to4
                || s[0] == 0x2001 && s[1] == 0 // Teredo
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // IPv4-compatible
        }
    }
}

fn v4_public(ip: Ipv4Addr, loopback: bool) -> bool {
    if ip.is_loopback() {
        return loopback;
    }
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, the metadata address among them
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240)
}

/// The HTTP proof of a domain; see the module documentation.
#[derive(Clone)]
pub struct HttpTokenCheck {
    resolver: Arc<dyn HostResolver>,
    timeout: Duration,
    loopback: Option<u16>,
}

impl fmt::Debug for HttpTokenCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTokenCheck")
            .field("timeout", &self.timeout)
            .field("loopback", &self.loopback)
            .finish_non_exhaustive()
    }
}

impl Default for HttpTokenCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpTokenCheck {
    /// Over HTTPS on port 443, through the system resolver, with
    /// [`DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        Self {
            resolver: Arc::new(SystemResolver),
            timeout: DEFAULT_TIMEOUT,
            loopback: None,
        }
    }

    /// Resolves names with `resolver`.
    pub fn with_resolver(mut self, resolver: Arc<dyn HostResolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Gives up after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// For tests: allows loopback addresses, fetched over plain HTTP on
    /// `port`. Every other refused address stays refused.
    pub fn allow_loopback(mut self, port: u16) -> Self {
        self.loopback = Some(port);
        self
    }

    async fn fetch(&self, challenge: &DomainChallenge<'_>) -> Result<Option<String>> {
        let domain = challenge.domain;
        let addrs = self.resolver.resolve(domain).await?;
        let loopback = self.loopback.is_some();
        // Every address must be allowed: a name with one public and one
        // private address could be answered either way.
        if addrs.is_empty() || !addrs.iter().all(|ip| is_public(*ip, loopback)) {
            return Err(AuthError::Sso {
                code: "DOMAIN_ADDRESS_NOT_ALLOWED",
                status: 400,
            });
        }
        let (scheme, port) = match self.loopback {
            Some(port) if addrs.iter().all(IpAddr::is_loopback) => ("http", port),
            _ => ("https", 443),
        };
        let pinned = SocketAddr::new(addrs[0], port);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .resolve(domain, pinned)
            .no_proxy()
            .build()
            .map_err(|e| AuthError::internal("http", e))?;
        let url = format!(
            "{scheme}://{domain}:{port}{WELL_KNOWN_PATH}{}",
            challenge.provider_id
        );
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| AuthError::internal("http", e.without_url()))?;
        if !response.status().is_success() {
            return Ok(None);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| AuthError::internal("http", e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Ok(None);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8(body).ok())
    }
}

#[async_trait]
impl DomainCheck for HttpTokenCheck {
    async fn holds(&self, challenge: &DomainChallenge<'_>) -> Result<bool> {
        let fetched = tokio::time::timeout(self.timeout, self.fetch(challenge))
            .await
            .map_err(|_| AuthError::internal("http", "timed out"))??;
        Ok(fetched.is_some_and(|body| challenge.accepts(&body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_fetched() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fd00:ec2::254",
        ] {
            assert!(!is_public(ip.parse().unwrap(), false), "{ip}");
        }
        assert!(is_public("127.0.0.1".parse().unwrap(), true));
        assert!(!is_public("10.0.0.1".parse().unwrap(), true));
        assert!(!is_public("169.254.169.254".parse().unwrap(), true));
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(is_public(ip.parse().unwrap(), false), "{ip}");
        }
    }
}
