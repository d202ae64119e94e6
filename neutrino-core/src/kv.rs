//! The key-value port: get, put with an optional TTL, delete, and listing by
//! prefix with a cursor.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::ids::truncate_for_message;

mod sql;
pub use sql::SqlKv;

/// Longest key, in bytes (Cloudflare KV's limit, so keys are portable).
pub const MAX_KEY_LEN: usize = 512;
/// Most keys one [`KvStore::list`] call may ask for.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Checks a key against the rules every backend shares: 1–512 bytes, not `.` or
/// `..`, no control characters.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |reason: String| Error::invalid("kv key", reason);
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(bad(format!(
            "must be 1-{MAX_KEY_LEN} bytes, got {}",
            key.len()
        )));
    }
    if key == "." || key == ".." {
        return Err(bad(format!("must not be {key:?}")));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(bad(format!(
            "must not contain control characters, found {c:?} in {:?}",
            truncate_for_message(key)
        )));
    }
    Ok(())
}

/// Checks a list call's prefix and limit.
pub fn validate_list(prefix: &str, limit: usize) -> Result<()> {
    crate::error::check_listing(
        ("kv prefix", MAX_KEY_LEN),
        ("kv list limit", MAX_LIST_LIMIT),
        prefix,
        limit,
    )
}

/// Checks a TTL: it must be at least one second.
pub fn validate_ttl(ttl: Option<Duration>) -> Result<()> {
    match ttl {
        Some(t) if t < Duration::from_secs(1) => Err(Error::invalid(
            "kv ttl",
            format!("must be at least 1 s, got {t:?}"),
        )),
        _ => Ok(()),
    }
}

/// A key in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvKey {
    /// The key.
    pub name: String,
    /// When it expires, if it has a TTL.
    pub expires_at: Option<SystemTime>,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvPage {
    /// Keys in ascending byte order.
    pub keys: Vec<KvKey>,
    /// Pass to the next [`KvStore::list`] call; `None` when the listing is complete.
    pub cursor: Option<String>,
}

/// A key-value namespace.
///
/// # Contract
/// Every implementation, checked by `testkit::kv`:
/// * Keys are validated with [`validate_key`]; values are arbitrary bytes and come
///   back unchanged.
/// * [`KvStore::put`] overwrites. With a TTL, the key is gone (neither returned
///   nor listed) once the TTL has passed; TTLs under one second are
///   [`Error::InvalidInput`]. Backends with a larger minimum say in their docs how
///   they round it.
/// * [`KvStore::delete`] of a missing key succeeds.
/// * [`KvStore::list`] returns live keys starting with `prefix`, in ascending byte
///   order, at most `limit` (1–1000) per page; following the cursor until it is
///   `None` visits each key exactly once.
/// * Counters are optional. A store whose [`KvStore::atomic_counters`] is `true`
///   implements [`KvStore::increment`] atomically: `n` concurrent increments of
///   one key, from any number of handles on the store, return each of the
///   counts `c+1 … c+n` exactly once. A store that cannot (an eventually
///   consistent one) answers `false` and [`Error::Unsupported`] from
///   `increment`, which is what the default methods do, so a wrapper that does
///   not forward them fails closed.
#[async_trait]
pub trait KvStore: Send + Sync + fmt::Debug + 'static {
    /// The value of `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Stores `value` under `key`, expiring after `ttl` if given.
    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()>;

    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<()>;

    /// One page of the keys starting with `prefix`, after `cursor`.
    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KvPage>;

    /// Whether [`KvStore::increment`] counts atomically on this store (default
    /// `false`). Callers whose rule depends on the count (a rate limiter) must
    /// refuse a store that answers `false`.
    fn atomic_counters(&self) -> bool {
        false
    }

    /// Adds one to the counter at `key`, atomically, and returns the new count
    /// and when the counter expires.
    ///
    /// A missing or expired key, a key without an expiry, and a key holding a
    /// value that is not a decimal count (see [`parse_counter`]) start at 1 and
    /// expire `ttl` from now (at least 1 s, like [`KvStore::put`]); a live
    /// counter keeps its expiry.
    /// The count is stored as its decimal text, so [`KvStore::get`] reads it.
    /// The default is [`Error::Unsupported`].
    async fn increment(&self, key: &str, ttl: Duration) -> Result<KvCounter> {
        let _ = (key, ttl);
        Err(Error::Unsupported {
            operation: "atomic counters".into(),
            backend: "this kv store",
        })
    }
}

/// What [`KvStore::increment`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCounter {
    /// The count after this increment (1 for a new window).
    pub count: u64,
    /// When the counter expires.
    pub expires_at: SystemTime,
}

/// Parses a counter value as [`KvStore::increment`] stores it: decimal ASCII
/// digits, no sign, fitting in a `u64`.
pub fn parse_counter(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 20 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[async_trait]
impl<T: KvStore + ?Sized> KvStore for Arc<T> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        (**self).get(key).await
    }
    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        (**self).put(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        (**self).delete(key).await
    }
    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KvPage> {
        (**self).list(prefix, cursor, limit).await
    }
    fn atomic_counters(&self) -> bool {
        (**self).atomic_counters()
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<KvCounter> {
        (**self).increment(key, ttl).await
    }
}

/// Conveniences over [`KvStore`], for every store.
#[async_trait]
pub trait KvStoreExt: KvStore {
    /// Every live key starting with `prefix`, following cursors to the end.
    async fn list_all(&self, prefix: &str) -> Result<Vec<KvKey>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list(prefix, cursor.as_deref(), MAX_LIST_LIMIT).await?;
            out.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

impl<T: KvStore + ?Sized> KvStoreExt for T {}
