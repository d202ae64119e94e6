//! The key-value port: get, put with an optional TTL, delete, and listing by
//! prefix with a cursor.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::ids::truncate_for_message;

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
