//! The KV port on a Workers KV namespace.

use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use neutrino_core::kv::{self, KvKey, KvPage, KvStore};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use reqwest::Method;
use serde_json::Value as Json;
use tracing::Instrument;

use crate::client::{ApiRequest, Body, CloudflareClient, next_cursor};
use crate::error::{CloudflareError, not_found_or};

/// Workers KV's shortest `expiration_ttl`, in seconds.
pub const MIN_TTL_SECS: u64 = 60;
/// The smallest `limit` Workers KV accepts when listing keys.
const MIN_LIST_LIMIT: usize = 10;

/// A Workers KV namespace as a [`KvStore`].
///
/// * Values are sent raw (`application/octet-stream`) and read back raw; keys are
///   percent-encoded in the URL path, so any valid key (spaces, `/`, `:`,
///   non-ASCII) is one path segment.
/// * **TTLs**: Workers KV refuses an `expiration_ttl` under 60 s. The adapter
///   sends `expiration_ttl` = the TTL rounded up to whole seconds, and at least
///   60 s: a key put with a TTL of 10 s lives 60 s. TTLs under one second are
///   refused with [`Error::InvalidInput`], as on every backend. The TTL is
///   relative, so expiry follows Cloudflare's clock, not this machine's.
/// * **Listing**: Workers KV lists at least 10 keys per call. For smaller pages
///   the adapter fetches 10 and returns its own cursor (`"{skip}:{kv cursor}"`)
///   that resumes inside that page, so following cursors still visits each key
///   exactly once. Cursors are opaque and valid only for this adapter.
/// * Workers KV is eventually consistent across Cloudflare's locations: a write
///   is visible at once where it was made, and elsewhere within about 60 s.
#[derive(Clone, Debug)]
pub struct WorkersKv {
    client: CloudflareClient,
    namespace_id: String,
}

impl WorkersKv {
    /// The namespace with ID `namespace_id` (a provisioner's
    /// [`Resource::provider_id`](neutrino_core::provision::Resource)).
    pub fn new(client: CloudflareClient, namespace_id: impl Into<String>) -> Self {
        Self {
            client,
            namespace_id: namespace_id.into(),
        }
    }

    /// The namespace ID.
    pub fn namespace_id(&self) -> &str {
        &self.namespace_id
    }

    fn value_request(&self, op: &'static str, method: Method, key: &str) -> ApiRequest {
        ApiRequest::new(
            op,
            method,
            &self.client.account_path(&[
                "storage",
                "kv",
                "namespaces",
                &self.namespace_id,
                "values",
                key,
            ]),
        )
    }

    fn map(&self, e: CloudflareError) -> Error {
        not_found_or(e, "kv namespace", &self.namespace_id)
    }
}

/// The `expiration_ttl` sent for a TTL: whole seconds rounded up, at least 60.
pub fn effective_ttl_secs(ttl: Duration) -> u64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    secs.max(MIN_TTL_SECS)
}

fn parse_cursor(cursor: Option<&str>) -> Result<(usize, Option<String>)> {
    let Some(c) = cursor else {
        return Ok((0, None));
    };
    let bad = || Error::invalid("kv cursor", "not a cursor of this store");
    let (skip, kv) = c.split_once(':').ok_or_else(bad)?;
    let skip: usize = skip.parse().map_err(|_| bad())?;
    if skip >= kv::MAX_LIST_LIMIT {
        return Err(bad());
    }
    Ok((skip, (!kv.is_empty()).then(|| kv.to_owned())))
}

#[derive(serde::Deserialize)]
struct ListedKey {
    name: String,
    #[serde(default)]
    expiration: Option<u64>,
}

#[async_trait]
impl KvStore for WorkersKv {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let span = port_span(Port::Kv, "cloudflare", "get", &self.namespace_id);
        async {
            kv::validate_key(key)?;
            let req = self.value_request("kv.get", Method::GET, key);
            match self.client.send(&req).await {
                Ok(raw) => Ok(Some(raw.body)),
                // A missing key and a missing namespace are both 404 (and share
                // codes); only the namespace's message names it.
                Err(e) if e.status() == Some(404) && !e.message_contains("namespace") => Ok(None),
                Err(e) => Err(self.map(e)),
            }
        }
        .instrument(span)
        .await
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        let span = port_span(Port::Kv, "cloudflare", "put", &self.namespace_id);
        async {
            kv::validate_key(key)?;
            kv::validate_ttl(ttl)?;
            let mut req = self
                .value_request("kv.put", Method::PUT, key)
                .body(Body::Bytes {
                    data: value,
                    content_type: "application/octet-stream",
                });
            if let Some(ttl) = ttl {
                req = req.query("expiration_ttl", effective_ttl_secs(ttl));
            }
            self.client.call(&req).await.map_err(|e| self.map(e))?;
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let span = port_span(Port::Kv, "cloudflare", "delete", &self.namespace_id);
        async {
            kv::validate_key(key)?;
            let req = self.value_request("kv.delete", Method::DELETE, key);
            match self.client.call(&req).await {
                Ok(_) => Ok(()),
                Err(e) if e.status() == Some(404) && !e.message_contains("namespace") => Ok(()),
                Err(e) => Err(self.map(e)),
            }
        }
        .instrument(span)
        .await
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KvPage> {
        let span = port_span(Port::Kv, "cloudflare", "list", &self.namespace_id);
        async {
            kv::validate_list(prefix, limit)?;
            let (skip, kv_cursor) = parse_cursor(cursor)?;
            let fetch = (skip + limit).clamp(MIN_LIST_LIMIT, kv::MAX_LIST_LIMIT);
            let mut req = ApiRequest::new(
                "kv.list",
                Method::GET,
                &self.client.account_path(&[
                    "storage",
                    "kv",
                    "namespaces",
                    &self.namespace_id,
                    "keys",
                ]),
            )
            .query("limit", fetch);
            if !prefix.is_empty() {
                req = req.query("prefix", prefix);
            }
            if let Some(c) = &kv_cursor {
                req = req.query("cursor", c);
            }
            let env = self.client.call(&req).await.map_err(|e| self.map(e))?;
            let info = env.result_info.clone().unwrap_or(Json::Null);
            let listed: Vec<ListedKey> = env.result("kv key listing")?;
            let fetched = listed.len();
            let keys: Vec<KvKey> = listed
                .into_iter()
                .skip(skip)
                .take(limit)
                .map(|k| KvKey {
                    name: k.name,
                    expires_at: k.expiration.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
                })
                .collect();
            let cursor = if skip + limit < fetched {
                Some(format!(
                    "{}:{}",
                    skip + limit,
                    kv_cursor.as_deref().unwrap_or("")
                ))
            } else {
                next_cursor(&info).map(|c| format!("0:{c}"))
            };
            Ok(KvPage { keys, cursor })
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_kv_minimum() {
        assert_eq!(effective_ttl_secs(Duration::from_secs(1)), 60);
        assert_eq!(effective_ttl_secs(Duration::from_millis(60_001)), 61);
        assert_eq!(effective_ttl_secs(Duration::from_secs(3600)), 3600);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(parse_cursor(None).unwrap(), (0, None));
        assert_eq!(parse_cursor(Some("3:")).unwrap(), (3, None));
        assert_eq!(
            parse_cursor(Some("0:abc:def")).unwrap(),
            (0, Some("abc:def".into()))
        );
        for bad in ["", "x:y", "5000:a", "abc"] {
            assert!(parse_cursor(Some(bad)).is_err(), "{bad}");
        }
    }
}
