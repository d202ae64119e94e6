//! OIDC discovery and JWKS, cached per issuer, and the one HTTP client every
//! provider request goes through.
//!
//! * Metadata comes from `{issuer}/.well-known/openid-configuration` (or
//!   the provider's discovery endpoint); its `issuer` must equal the
//!   configured issuer exactly. It is cached per issuer and document URL.
//! * The JWKS is fetched from the document's `jwks_uri` (or the provider's
//!   configured one) and cached. A token whose `kid` is not in the cache
//!   triggers one refetch, at most once per refetch interval per issuer, so
//!   tokens with random key IDs cannot make the server hammer the provider;
//!   a key the provider rotated out stops verifying once the set is fetched
//!   again.
//! * Requests: `https` only (plain `http` only to a loopback address, and
//!   only when the provider opts in, for tests), no redirects followed, a
//!   timeout, and answers capped at [`MAX_RESPONSE`] bytes. URLs come from
//!   the configuration and the issuer's own document only, never from a
//!   token (`jku`, `x5u` are ignored).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::OAuthError;

/// Largest answer read from a provider, in bytes.
pub const MAX_RESPONSE: usize = 256 * 1024;
/// The time a provider request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long discovery metadata and a JWKS are kept before being fetched again.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The default shortest time between two JWKS fetches of one issuer caused by
/// unknown key IDs.
pub const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

fn endpoint(reason: &'static str) -> OAuthError {
    OAuthError::Endpoint { reason }
}

/// Parses `url` and checks it may be fetched: `https`, or `http` to a
/// loopback address when `allow_loopback_http`.
pub(crate) fn checked_url(url: &str, allow_loopback_http: bool) -> Result<Url, OAuthError> {
    let parsed = Url::parse(url).map_err(|_| endpoint("malformed url"))?;
    if parsed.username() != "" || parsed.password().is_some() {
        return Err(endpoint("url with credentials"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| endpoint("url without host"))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_loopback_http && is_loopback(host) => Ok(parsed),
        _ => Err(endpoint("url must be https")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The discovery document's fields used here.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    #[serde(default)]
    pub(crate) userinfo_endpoint: Option<String>,
    pub(crate) jwks_uri: String,
}

/// The HTTP client of provider requests.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

impl Http {
    pub(crate) fn new() -> Result<Self, OAuthError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .user_agent("neutrino-auth")
            .build()
            .map_err(|_| endpoint("http client"))?;
        Ok(Self { client })
    }

    /// Sends `req` and reads a JSON answer of a 2xx status, at most
    /// [`MAX_RESPONSE`] bytes.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, OAuthError> {
        let (status, body) = self.send(req).await?;
        if !status.is_success() {
            return Err(endpoint("error status"));
        }
        serde_json::from_slice(&body).map_err(|_| endpoint("malformed answer"))
    }

    /// Sends `req`: its status and body (at most [`MAX_RESPONSE`] bytes).
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), OAuthError> {
        let mut resp = req
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| endpoint("request failed"))?;
        let status = resp.status();
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_RESPONSE as u64)
        {
            return Err(endpoint("answer too large"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|_| endpoint("request failed"))? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(endpoint("answer too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    pub(crate) fn get(&self, url: Url) -> reqwest::RequestBuilder {
        self.client.get(url)
    }

    pub(crate) fn post(&self, url: Url) -> reqwest::RequestBuilder {
        self.client.post(url)
    }
}

struct Entry {
    metadata: Option<(Arc<Metadata>, Instant)>,
    jwks: Option<(Arc<JwkSet>, Instant)>,
}

/// Discovery metadata and JWKS per issuer.
pub(crate) struct Discovery {
    http: Http,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
    refetch_interval: Duration,
}

/// Most issuers cached; beyond, the cache starts again.
const MAX_ISSUERS: usize = 1024;

impl Discovery {
    pub(crate) fn new(http: Http, refetch_interval: Duration) -> Self {
        Self {
            http,
            entries: Mutex::new(HashMap::new()),
            refetch_interval,
        }
    }

    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    fn entry(&self, key: &str) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ISSUERS && !map.contains_key(key) {
            map.clear();
        }
        Arc::clone(map.entry(key.to_owned()).or_insert_with(|| {
            Arc::new(tokio::sync::Mutex::new(Entry {
                metadata: None,
                jwks: None,
            }))
        }))
    }

    /// The issuer's discovery metadata from `url` (its document),
    /// fetched once per [`METADATA_TTL`]. Cached per issuer and document:
    /// a provider naming another provider's issuer with its own document
    /// never replaces the metadata the other provider uses.
    pub(crate) async fn metadata(
        &self,
        issuer: &str,
        url: &str,
        allow_loopback_http: bool,
    ) -> Result<Arc<Metadata>, OAuthError> {
        let entry = self.entry(&format!("metadata\n{issuer}\n{url}"));
        let mut e = entry.lock().await;
        if let Some((m, at)) = &e.metadata
            && at.elapsed() < METADATA_TTL
        {
            return Ok(Arc::clone(m));
        }
        let url = checked_url(url, allow_loopback_http)?;
        let m: Metadata = self.http.json(self.http.get(url)).await?;
        if m.issuer != issuer {
            return Err(endpoint(
                "discovery issuer differs from the configured issuer",
            ));
        }
        for u in [&m.authorization_endpoint, &m.token_endpoint, &m.jwks_uri]
            .into_iter()
            .chain(m.userinfo_endpoint.as_ref())
        {
            checked_url(u, allow_loopback_http)?;
        }
        let m = Arc::new(m);
        e.metadata = Some((Arc::clone(&m), Instant::now()));
        Ok(m)
    }

    /// The key set at `jwks_uri` of `issuer`: the cached one, or fetched
    /// when there is none, it is older than [`METADATA_TTL`], or `refetch`
    /// (a key was not found) and the last fetch is older than the refetch
    /// interval.
    pub(crate) async fn jwks(
        &self,
        issuer: &str,
        jwks_uri: &str,
        allow_loopback_http: bool,
        refetch: bool,
    ) -> Result<Arc<JwkSet>, OAuthError> {
        let entry = self.entry(&format!("{issuer}\n{jwks_uri}"));
        let mut e = entry.lock().await;
        if let Some((set, at)) = &e.jwks {
            let fresh = at.elapsed() < METADATA_TTL;
            let may_refetch = at.elapsed() >= self.refetch_interval;
            if fresh && !(refetch && may_refetch) {
                return Ok(Arc::clone(set));
            }
        }
        let url = checked_url(jwks_uri, allow_loopback_http)?;
        let set: JwkSet = self.http.json(self.http.get(url)).await?;
        let set = Arc::new(set);
        e.jwks = Some((Arc::clone(&set), Instant::now()));
        Ok(set)
    }
}
