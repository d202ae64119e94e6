//! [`DnsResolver`]: TXT and address look-ups over DNS (UDP, then TCP for
//! truncated answers) against configured name servers, for
//! [`super::DnsTxtCheck`] and [`super::HttpTokenCheck`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::TokioAsyncResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;

use super::domain::TxtLookup;
use super::http::HostResolver;
use crate::error::{AuthError, Result};

/// A DNS stub resolver asking the given name servers (e.g. a public
/// resolver, or an authoritative server in a test), without a cache, so a
/// record just published is seen at once.
#[derive(Clone)]
pub struct DnsResolver {
    resolver: TokioAsyncResolver,
    servers: Vec<SocketAddr>,
}

impl fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsResolver")
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

impl DnsResolver {
    /// Asks `servers` (each an address and port), each query timing out
    /// after `timeout`. Errors: `VALIDATION_ERROR` with no server.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Self> {
        if servers.is_empty() {
            return Err(AuthError::validation("servers", "at least one name server"));
        }
        let mut group = NameServerConfigGroup::new();
        for s in servers {
            group.merge(NameServerConfigGroup::from_ips_clear(
                &[s.ip()],
                s.port(),
                true,
            ));
        }
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        opts.cache_size = 0;
        opts.use_hosts_file = false;
        opts.edns0 = true;
        let resolver =
            TokioAsyncResolver::tokio(ResolverConfig::from_parts(None, vec![], group), opts);
        Ok(Self {
            resolver,
            servers: servers.to_vec(),
        })
    }
}

/// The name as an absolute one (no search domains appended).
fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

#[async_trait]
impl TxtLookup for DnsResolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>> {
        match self.resolver.txt_lookup(absolute(name)).await {
            Ok(found) => Ok(found
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect()),
            Err(e) if matches!(e.kind(), ResolveErrorKind::NoRecordsFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(AuthError::internal("dns", e.to_string())),
        }
    }
}

#[async_trait]
impl HostResolver for DnsResolver {
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>> {
        match self.resolver.lookup_ip(absolute(host)).await {
            Ok(found) => Ok(found.iter().collect()),
            Err(e) if matches!(e.kind(), ResolveErrorKind::NoRecordsFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(AuthError::internal("dns", e.to_string())),
        }
    }
}
