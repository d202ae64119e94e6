//! In-memory backends for fast tests: [`MemoryKv`], [`MemoryObjectStore`] and
//! [`MemoryProvisioner`]. They follow the same contracts as the real backends
//! (the conformance suites run against them) and keep nothing after they are
//! dropped.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use tracing::Instrument;

use crate::clock::{SharedClock, system_clock};
use crate::error::{Error, Result};
use crate::kv::{self, KvCounter, KvKey, KvPage, KvStore};
use crate::object::{self, ListedObject, Object, ObjectMeta, ObjectPage, ObjectStore, PutOptions};
use crate::provision::{Provisioner, Resource, ResourceKind, ResourceSpec, check_request};
use crate::trace::{Port, port_span};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-written (every
    // mutation is a single insert or remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A page of at most `limit` entries of `keys` after `cursor`; the cursor of the
/// page is its last key when more follow.
fn page_of<T>(
    entries: impl Iterator<Item = (String, T)>,
    limit: usize,
) -> (Vec<(String, T)>, Option<String>) {
    let mut out: Vec<(String, T)> = Vec::with_capacity(limit.min(64));
    let mut more = false;
    for e in entries {
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(e);
    }
    let cursor = if more {
        out.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    (out, cursor)
}

/// A range over a `BTreeMap<String, _>` of the keys starting with `prefix` and
/// greater than `cursor`.
fn after<'a, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'a str,
    cursor: Option<&'a str>,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    use std::ops::Bound;
    let start = match cursor {
        Some(c) if c >= prefix => Bound::Excluded(c.to_owned()),
        _ => Bound::Included(prefix.to_owned()),
    };
    map.range((start, Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
}

#[derive(Debug)]
struct KvEntry {
    value: Bytes,
    expires_at: Option<SystemTime>,
}

/// A [`KvStore`] in memory, with an injectable clock for TTL tests.
#[derive(Debug)]
pub struct MemoryKv {
    map: Mutex<BTreeMap<String, KvEntry>>,
    clock: SharedClock,
}

impl MemoryKv {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// An empty store on `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            map: Mutex::new(BTreeMap::new()),
            clock,
        }
    }
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new()
    }
}

fn live(e: &KvEntry, now: SystemTime) -> bool {
    e.expires_at.is_none_or(|t| t > now)
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let _g = port_span(Port::Kv, "memory", "get", "memory").entered();
        kv::validate_key(key)?;
        let now = self.clock.now();
        let mut map = lock(&self.map);
        match map.get(key) {
            Some(e) if live(e, now) => Ok(Some(e.value.clone())),
            Some(_) => {
                map.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        let _g = port_span(Port::Kv, "memory", "put", "memory").entered();
        kv::validate_key(key)?;
        kv::validate_ttl(ttl)?;
        let expires_at = ttl.map(|t| self.clock.now() + t);
        lock(&self.map).insert(key.to_owned(), KvEntry { value, expires_at });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let _g = port_span(Port::Kv, "memory", "delete", "memory").entered();
        kv::validate_key(key)?;
        lock(&self.map).remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KvPage> {
        let _g = port_span(Port::Kv, "memory", "list", "memory").entered();
        kv::validate_list(prefix, limit)?;
        let now = self.clock.now();
        let map = lock(&self.map);
        let entries = after(&map, prefix, cursor)
            .filter(|(_, e)| live(e, now))
            .map(|(k, e)| (k.clone(), e.expires_at));
        let (keys, cursor) = page_of(entries, limit);
        Ok(KvPage {
            keys: keys
                .into_iter()
                .map(|(name, expires_at)| KvKey { name, expires_at })
                .collect(),
            cursor,
        })
    }

    fn atomic_counters(&self) -> bool {
        true
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<KvCounter> {
        let _g = port_span(Port::Kv, "memory", "increment", "memory").entered();
        kv::validate_key(key)?;
        kv::validate_ttl(Some(ttl))?;
        let now = self.clock.now();
        // One lock around the read and the write: atomic.
        let mut map = lock(&self.map);
        let current = map.get(key).and_then(|e| match e.expires_at {
            Some(t) if t > now => kv::parse_counter(&e.value).map(|c| (c, t)),
            _ => None,
        });
        let (count, expires_at) = match current {
            Some((c, t)) => (c.saturating_add(1), t),
            None => (1, now + ttl),
        };
        map.insert(
            key.to_owned(),
            KvEntry {
                value: Bytes::from(count.to_string()),
                expires_at: Some(expires_at),
            },
        );
        Ok(KvCounter { count, expires_at })
    }
}

/// An [`ObjectStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryObjectStore {
    map: Mutex<BTreeMap<String, Object>>,
}

impl MemoryObjectStore {
    /// An empty bucket.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ObjectStore for MemoryObjectStore {
    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        let _g = port_span(Port::Object, "memory", "put", "memory").entered();
        object::validate_key(key)?;
        opts.validate()?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            size: data.len() as u64,
            last_modified: SystemTime::now(),
            content_type: opts.content_type.clone(),
            metadata: opts.metadata.clone(),
        };
        lock(&self.map).insert(
            key.to_owned(),
            Object {
                meta: meta.clone(),
                data,
            },
        );
        Ok(meta)
    }

    async fn get(&self, key: &str) -> Result<Object> {
        let _g = port_span(Port::Object, "memory", "get", "memory").entered();
        object::validate_key(key)?;
        lock(&self.map)
            .get(key)
            .cloned()
            .ok_or_else(|| Error::not_found("object", key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let _g = port_span(Port::Object, "memory", "head", "memory").entered();
        object::validate_key(key)?;
        lock(&self.map)
            .get(key)
            .map(|o| o.meta.clone())
            .ok_or_else(|| Error::not_found("object", key))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let _g = port_span(Port::Object, "memory", "delete", "memory").entered();
        object::validate_key(key)?;
        lock(&self.map).remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ObjectPage> {
        let _g = port_span(Port::Object, "memory", "list", "memory").entered();
        object::validate_list(prefix, limit)?;
        let map = lock(&self.map);
        let entries = after(&map, prefix, cursor)
            .map(|(k, o)| (k.clone(), (o.meta.size, o.meta.last_modified)));
        let (objects, cursor) = page_of(entries, limit);
        Ok(ObjectPage {
            objects: objects
                .into_iter()
                .map(|(key, (size, last_modified))| ListedObject {
                    key,
                    size,
                    last_modified,
                })
                .collect(),
            cursor,
        })
    }
}

/// A [`Provisioner`] that only records resources, for tests of the layers above.
///
/// It supports every [`ResourceKind`] unless built with
/// [`MemoryProvisioner::supporting`]; provider IDs are `mem-{kind}-{n}`.
#[derive(Debug)]
pub struct MemoryProvisioner {
    resources: Mutex<BTreeMap<(ResourceKind, String), Resource>>,
    kinds: Vec<ResourceKind>,
    next: AtomicU64,
}

impl MemoryProvisioner {
    /// A provisioner for every kind.
    pub fn new() -> Self {
        Self::supporting(&ResourceKind::ALL)
    }

    /// A provisioner for the given kinds only.
    pub fn supporting(kinds: &[ResourceKind]) -> Self {
        Self {
            resources: Mutex::new(BTreeMap::new()),
            kinds: kinds.to_vec(),
            next: AtomicU64::new(1),
        }
    }
}

impl Default for MemoryProvisioner {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Provisioner for MemoryProvisioner {
    fn provider(&self) -> &'static str {
        "memory"
    }

    fn supports(&self, kind: ResourceKind) -> bool {
        self.kinds.contains(&kind)
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        let span = port_span(Port::Provision, "memory", "create", &spec.name);
        async {
            check_request(self, spec.kind, &spec.name)?;
            let mut map = lock(&self.resources);
            let r = map
                .entry((spec.kind, spec.name.clone()))
                .or_insert_with(|| Resource {
                    kind: spec.kind,
                    name: spec.name.clone(),
                    provider_id: format!(
                        "mem-{}-{}",
                        spec.kind,
                        self.next.fetch_add(1, Ordering::Relaxed)
                    ),
                });
            Ok(r.clone())
        }
        .instrument(span)
        .await
    }

    async fn get(&self, kind: ResourceKind, name: &str) -> Result<Resource> {
        let _g = port_span(Port::Provision, "memory", "get", name).entered();
        check_request(self, kind, name)?;
        lock(&self.resources)
            .get(&(kind, name.to_owned()))
            .cloned()
            .ok_or_else(|| Error::not_found("resource", format!("{kind} {name}")))
    }

    async fn delete(&self, kind: ResourceKind, name: &str) -> Result<()> {
        let _g = port_span(Port::Provision, "memory", "delete", name).entered();
        check_request(self, kind, name)?;
        lock(&self.resources).remove(&(kind, name.to_owned()));
        Ok(())
    }

    async fn list(&self, kind: ResourceKind, prefix: &str) -> Result<Vec<Resource>> {
        let _g = port_span(Port::Provision, "memory", "list", prefix).entered();
        if !self.supports(kind) {
            return Err(Error::Unsupported {
                operation: format!("{kind} resources"),
                backend: "memory",
            });
        }
        Ok(lock(&self.resources)
            .iter()
            .filter(|((k, n), _)| *k == kind && n.starts_with(prefix))
            .map(|(_, r)| r.clone())
            .collect())
    }
}
