//! The sign-in rate limiter, counting attempts per client IP and path in a
//! [`KvStore`].
//!
//! Better Auth's rule for `/sign-in*` and `/sign-up*`: 3 attempts per 10 s per
//! `ip|path` (configurable). Windows are fixed: the first attempt opens a window,
//! and once `max` attempts are counted the next ones get
//! [`AuthError::TooManyRequests`] with the time left until the window closes.
//! IPv6 addresses are counted per /64, as Better Auth does.
//!
//! Every attempt is one atomic [`KvStore::increment`]: the store decides the
//! count, so concurrent attempts from one IP, on one server or on several
//! sharing the store, never get more than `max` through per window. A store
//! that cannot count atomically (Workers KV, eventually consistent) is refused
//! when the limiter is built ([`neutrino_core::Error::Config`] (in [`AuthError::Store`])), never used best-effort.
//! Refused attempts are counted too, but do not extend the window.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use neutrino_core::clock::SharedClock;
use neutrino_core::kv::KvStore;
use sha2::{Digest, Sha256};

use crate::error::{AuthError, Result};

/// Settings of the rate limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Length of a window (default 10 s).
    pub window: Duration,
    /// Attempts allowed per window (default 3).
    pub max: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            max: 3,
        }
    }
}

/// Counts attempts in a [`KvStore`]; see the module docs.
#[derive(Clone)]
pub struct RateLimiter {
    kv: std::sync::Arc<dyn KvStore>,
    config: RateLimitConfig,
    clock: SharedClock,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("kv", &self.kv)
            .field("config", &self.config)
            .finish()
    }
}

/// The client key: the IP (an IPv6 address cut to its /64), unparseable input
/// kept as given.
fn client_key(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4.to_string();
            }
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.trim().to_owned(),
    }
}

impl RateLimiter {
    /// A limiter over `kv`, which must count atomically
    /// ([`KvStore::atomic_counters`]); otherwise [`neutrino_core::Error::Config`] (in [`AuthError::Store`]).
    pub fn new(
        kv: std::sync::Arc<dyn KvStore>,
        config: RateLimitConfig,
        clock: SharedClock,
    ) -> Result<Self> {
        if config.max == 0 || config.window < Duration::from_secs(1) {
            return Err(AuthError::config(
                "rate_limit",
                "max must be at least 1 and window at least 1 s",
            ));
        }
        if !kv.atomic_counters() {
            return Err(AuthError::config(
                "rate_limit",
                "the store cannot count atomically",
            ));
        }
        Ok(Self { kv, config, clock })
    }

    fn key(ip: &str, path: &str) -> String {
        let digest = Sha256::digest(format!("{}|{path}", client_key(ip)).as_bytes());
        format!("auth-rate-limit:{}", hex::encode(&digest[..16]))
    }

    /// Counts one attempt of `path` by `ip`; `TOO_MANY_REQUESTS` with the
    /// retry-after when over the limit.
    pub async fn check(&self, ip: &str, path: &str) -> Result<()> {
        let key = Self::key(ip, path);
        // The count is decided by the store, in the write that records it.
        let counter = self.kv.increment(&key, self.config.window).await?;
        if counter.count <= u64::from(self.config.max) {
            return Ok(());
        }
        let left = counter
            .expires_at
            .duration_since(self.clock.now())
            .unwrap_or(Duration::ZERO);
        let secs = left
            .as_millis()
            .div_ceil(1000)
            .clamp(1, u128::from(u32::MAX));
        Err(AuthError::TooManyRequests {
            retry_after: Duration::from_secs(u64::try_from(secs).unwrap_or(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(client_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_eq!(client_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(client_key(" 192.0.2.1 "), "192.0.2.1");
        assert_eq!(client_key("not an ip"), "not an ip");
    }
}
