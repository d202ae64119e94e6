//! The object-store port: one bucket's objects, by key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::ids::truncate_for_message;

/// Longest key, in bytes (S3's and R2's limit).
pub const MAX_KEY_LEN: usize = 1024;
/// Largest total size of user metadata (names + values), in bytes (R2's limit).
pub const MAX_METADATA_LEN: usize = 8192;
/// Most objects one [`ObjectStore::list`] call may ask for.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Checks a key against the rules every backend shares, so a key that works on one
/// works on all and none can escape a local bucket folder: 1–1024 bytes, no NUL or
/// other control characters, no leading `/`, and no `.` or `..` path segment.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |reason: String| Error::invalid("object key", reason);
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(bad(format!(
            "must be 1-{MAX_KEY_LEN} bytes, got {}",
            key.len()
        )));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(bad(format!(
            "must not contain control characters, found {c:?}"
        )));
    }
    if key.starts_with('/') {
        return Err(bad(format!(
            "must not start with '/', got {:?}",
            truncate_for_message(key)
        )));
    }
    if key.split(['/', '\\']).any(|seg| seg == "." || seg == "..") {
        return Err(bad(format!(
            "must not contain a '.' or '..' segment, got {:?}",
            truncate_for_message(key)
        )));
    }
    Ok(())
}

/// Options of a put.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// The object's content type, e.g. `image/png`.
    pub content_type: Option<String>,
    /// User metadata: lowercase names of `a-z0-9-_`, printable ASCII values.
    pub metadata: BTreeMap<String, String>,
}

impl PutOptions {
    /// Checks the content type and metadata against the rules every backend
    /// shares (so they round-trip unchanged through HTTP headers).
    pub fn validate(&self) -> Result<()> {
        let printable = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b));
        if let Some(ct) = &self.content_type
            && (ct.is_empty() || !printable(ct))
        {
            return Err(Error::invalid(
                "content type",
                "must be non-empty printable ASCII",
            ));
        }
        let mut total = 0;
        for (k, v) in &self.metadata {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return Err(Error::invalid(
                    "object metadata",
                    format!(
                        "names must be non-empty a-z0-9-_, got {:?}",
                        truncate_for_message(k)
                    ),
                ));
            }
            if !printable(v) {
                return Err(Error::invalid(
                    "object metadata",
                    format!("value of {k:?} must be printable ASCII"),
                ));
            }
            total += k.len() + v.len();
        }
        if total > MAX_METADATA_LEN {
            return Err(Error::invalid(
                "object metadata",
                format!("must be at most {MAX_METADATA_LEN} bytes in all, got {total}"),
            ));
        }
        Ok(())
    }
}

/// Everything known about a stored object but its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: SystemTime,
    /// Its content type, if one was given.
    pub content_type: Option<String>,
    /// Its user metadata.
    pub metadata: BTreeMap<String, String>,
}

/// An object in a listing (listings do not carry content type or metadata).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: SystemTime,
}

/// An object with its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its metadata.
    pub meta: ObjectMeta,
    /// Its bytes.
    pub data: Bytes,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectPage {
    /// Objects in ascending byte order of their keys.
    pub objects: Vec<ListedObject>,
    /// Pass to the next [`ObjectStore::list`] call; `None` when the listing is
    /// complete.
    pub cursor: Option<String>,
}

/// The objects of one bucket.
///
/// # Contract
/// Every implementation, checked by `testkit::object`:
/// * Keys are validated with [`validate_key`] (path traversal is
///   [`Error::InvalidInput`] on every backend) and options with
///   [`PutOptions::validate`].
/// * [`ObjectStore::put`] replaces the whole object atomically: a reader sees the
///   old object or the new one, never a mix.
/// * [`ObjectStore::get`] and [`ObjectStore::head`] of a missing key are
///   [`Error::NotFound`]; [`ObjectStore::delete`] of a missing key succeeds.
/// * [`ObjectStore::list`] returns objects whose keys start with `prefix`, in
///   ascending byte order, at most `limit` (1–1000) per page; following the
///   cursor until it is `None` visits each object exactly once.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug + 'static {
    /// Stores `data` under `key`.
    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<ObjectMeta>;

    /// The object under `key`.
    async fn get(&self, key: &str) -> Result<Object>;

    /// The metadata of the object under `key`.
    async fn head(&self, key: &str) -> Result<ObjectMeta>;

    /// Removes the object under `key`.
    async fn delete(&self, key: &str) -> Result<()>;

    /// One page of the objects whose keys start with `prefix`, after `cursor`.
    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ObjectPage>;
}

#[async_trait]
impl<T: ObjectStore + ?Sized> ObjectStore for Arc<T> {
    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        (**self).put(key, data, opts).await
    }
    async fn get(&self, key: &str) -> Result<Object> {
        (**self).get(key).await
    }
    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        (**self).head(key).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        (**self).delete(key).await
    }
    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ObjectPage> {
        (**self).list(prefix, cursor, limit).await
    }
}

/// Checks a list call's prefix and limit.
pub fn validate_list(prefix: &str, limit: usize) -> Result<()> {
    crate::error::check_listing(
        ("object prefix", MAX_KEY_LEN),
        ("object list limit", MAX_LIST_LIMIT),
        prefix,
        limit,
    )
}

/// Conveniences over [`ObjectStore`], for every store.
#[async_trait]
pub trait ObjectStoreExt: ObjectStore {
    /// Every object whose key starts with `prefix`, following cursors to the end.
    async fn list_all(&self, prefix: &str) -> Result<Vec<ListedObject>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list(prefix, cursor.as_deref(), MAX_LIST_LIMIT).await?;
            out.extend(page.objects);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

impl<T: ObjectStore + ?Sized> ObjectStoreExt for T {}
