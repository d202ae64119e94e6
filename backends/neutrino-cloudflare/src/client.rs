//! The v4 API client: one pooled HTTP client, bearer auth, the response envelope
//! decoded once, retries with backoff, a client-side rate limiter and pagination.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use neutrino_core::{Error, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::Rng;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::error::{ApiMessage, BACKEND, CloudflareError};

/// Cloudflare's documented API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// Cloudflare's documented client API limit: 1,200 requests per five minutes per
/// user. Passing it locks the account's API calls out for five minutes.
pub const DEFAULT_RATE_LIMIT: (u32, Duration) = (1200, Duration::from_secs(300));

/// Everything but unreserved characters is percent-encoded in path segments, so
/// KV keys such as `a/b c:é` stay one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An API token: shown as `"***"` by `Debug`, never put in errors or spans.
#[derive(Clone)]
struct ApiToken(Arc<str>);

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How failed calls are retried: exponential backoff with jitter, `Retry-After`
/// honoured, attempts and waiting capped.
///
/// Retried: HTTP 429, 5xx and connection failures. Calls that are not idempotent
/// (a D1 query may write) are retried only when the request provably was not
/// processed (429, connection refused); their 5xx is returned as a retryable
/// error for the caller to decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most requests per call, the first included (at least 1).
    pub max_attempts: u32,
    /// The first backoff; doubled per attempt.
    pub base_delay: Duration,
    /// The longest single wait. A `Retry-After` longer than this ends the retries
    /// (the error is returned, still retryable, rather than sleeping for minutes).
    pub max_delay: Duration,
    /// The most time spent waiting in one call.
    pub max_total_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_total_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff before attempt `attempt + 1`: `base * 2^(attempt-1)`, capped at
    /// `max_delay`, with "equal jitter" (a random point in its upper half).
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1_u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter).min(half)
    }
}

/// A sliding-window limiter: at most `max` requests in any `window`.
///
/// A request's slot is held from before it is sent until its answer arrives,
/// and the window is counted from the answer: the server saw the request no
/// later than that, so spacing holds at the server even when sending is slow.
#[derive(Debug)]
struct RateLimiter {
    max: usize,
    window: Duration,
    /// One entry per slot: `None` while in flight, then when it finished.
    slots: std::sync::Mutex<Vec<(u64, Option<Instant>)>>,
    next_id: std::sync::atomic::AtomicU64,
    freed: tokio::sync::Notify,
}

/// A booked slot; finished when dropped.
struct Slot<'a> {
    limiter: &'a RateLimiter,
    id: u64,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut slots = self.limiter.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.iter_mut().find(|(id, _)| *id == self.id) {
            s.1 = Some(now);
        }
        drop(slots);
        self.limiter.freed.notify_waiters();
    }
}

impl RateLimiter {
    fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max as usize,
            window,
            slots: std::sync::Mutex::new(Vec::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// Waits until one more request fits in the window, and books it.
    async fn acquire(&self) -> Slot<'_> {
        loop {
            let notified = self.freed.notified();
            let wait = {
                let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                slots.retain(|(_, done)| done.is_none_or(|t| now.duration_since(t) < self.window));
                if slots.len() < self.max {
                    let id = self
                        .next_id
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    slots.push((id, None));
                    return Slot { limiter: self, id };
                }
                slots
                    .iter()
                    .filter_map(|(_, done)| *done)
                    .map(|t| (t + self.window).saturating_duration_since(now))
                    .min()
            };
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                // Every slot is in flight: wait for one to finish.
                None => notified.await,
            }
        }
    }
}

/// A request body.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    None,
    Json(Json),
    Bytes {
        data: Bytes,
        content_type: &'static str,
    },
    Multipart(Vec<Part>),
}

/// One part of a `multipart/form-data` body.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub(crate) name: String,
    pub(crate) file_name: Option<String>,
    pub(crate) content_type: String,
    pub(crate) data: Bytes,
}

/// One API call, rebuilt for every attempt.
#[derive(Clone, Debug)]
pub(crate) struct ApiRequest {
    pub(crate) op: &'static str,
    pub(crate) method: Method,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Body,
    pub(crate) idempotent: bool,
}

impl ApiRequest {
    /// A request to `/{segments…}`; each segment is percent-encoded.
    pub(crate) fn new(op: &'static str, method: Method, segments: &[&str]) -> Self {
        let idempotent = method != Method::POST;
        Self {
            op,
            method,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: Body::None,
            idempotent,
        }
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    pub(crate) fn json(mut self, body: Json) -> Self {
        self.body = Body::Json(body);
        self
    }

    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Marks a POST as safe to repeat (e.g. a create that fails on a duplicate).
    pub(crate) fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }
}

/// The decoded envelope of a successful call.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) result: Json,
    pub(crate) result_info: Option<Json>,
}

impl Envelope {
    pub(crate) fn result<T: DeserializeOwned>(self, what: &'static str) -> Result<T> {
        serde_json::from_value(self.result).map_err(|e| CloudflareError::decode(what, e).into())
    }
}

/// How a listing pages.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Paging {
    /// `page` and `per_page`, stopping at `result_info.total_count`.
    Page { per_page: u32 },
    /// `cursor` and a size parameter, stopping when the cursor is empty.
    Cursor { size_param: &'static str, size: u32 },
}

/// Builds a [`CloudflareClient`].
///
/// ```
/// use std::time::Duration;
/// use neutrino::cloudflare::{CloudflareClientBuilder, RetryPolicy};
///
/// let client = CloudflareClientBuilder::new()
///     .with_account_id("0123456789abcdef0123456789abcdef")
///     .with_api_token("token")
///     .with_rate_limit(600, Duration::from_secs(300))
///     .with_retry(RetryPolicy::default())
///     .build()
///     .unwrap();
/// assert!(!format!("{client:?}").contains("token\""));
/// ```
#[derive(Clone, Debug)]
pub struct CloudflareClientBuilder {
    account_id: Option<String>,
    token: Option<ApiToken>,
    base_url: String,
    retry: RetryPolicy,
    rate_limit: (u32, Duration),
    timeout: Duration,
}

impl Default for CloudflareClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl CloudflareClientBuilder {
    /// A builder with Cloudflare's base URL, the default retry policy, the
    /// documented rate limit and a 60 s request timeout.
    pub fn new() -> Self {
        Self {
            account_id: None,
            token: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            retry: RetryPolicy::default(),
            rate_limit: DEFAULT_RATE_LIMIT,
            timeout: Duration::from_secs(60),
        }
    }

    /// A builder from `CLOUDFLARE_ACCOUNT_ID`, `CLOUDFLARE_API_TOKEN` and,
    /// optionally, `CLOUDFLARE_API_BASE_URL`. Missing variables are reported by
    /// [`CloudflareClientBuilder::build`].
    pub fn from_env() -> Self {
        let mut b = Self::new();
        if let Ok(v) = std::env::var("CLOUDFLARE_ACCOUNT_ID") {
            b = b.with_account_id(v);
        }
        if let Ok(v) = std::env::var("CLOUDFLARE_API_TOKEN") {
            b = b.with_api_token(v);
        }
        if let Ok(v) = std::env::var("CLOUDFLARE_API_BASE_URL") {
            b = b.with_base_url(v);
        }
        b
    }

    /// The account every account-level call goes to.
    pub fn with_account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = Some(id.into());
        self
    }

    /// The API token, sent as `Authorization: Bearer …`.
    pub fn with_api_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(ApiToken(token.into().into()));
        self
    }

    /// The API base URL (tests point it at a local server).
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// At most `max` requests in any `per` (default 1,200 per 5 minutes).
    pub fn with_rate_limit(mut self, max: u32, per: Duration) -> Self {
        self.rate_limit = (max, per);
        self
    }

    /// The timeout of one request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings and builds the client.
    pub fn build(self) -> Result<CloudflareClient> {
        let cfg = |key: &'static str, reason: &str| Error::Config {
            backend: BACKEND,
            key,
            reason: reason.to_owned(),
        };
        let account_id = self
            .account_id
            .ok_or_else(|| cfg("account_id", "missing (set CLOUDFLARE_ACCOUNT_ID)"))?;
        if account_id.is_empty()
            || account_id.len() > 32
            || !account_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(cfg("account_id", "must be 1-32 ascii letters and digits"));
        }
        let token = self
            .token
            .ok_or_else(|| cfg("api_token", "missing (set CLOUDFLARE_API_TOKEN)"))?;
        if token.0.is_empty() || !token.0.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(cfg("api_token", "must be non-empty printable ascii"));
        }
        let base = Url::parse(self.base_url.trim_end_matches('/'))
            .map_err(|e| cfg("base_url", &e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(cfg("base_url", "must be an http or https url"));
        }
        if self.retry.max_attempts == 0 {
            return Err(cfg("retry.max_attempts", "must be at least 1"));
        }
        let (max, per) = self.rate_limit;
        if max == 0 || per.is_zero() {
            return Err(cfg(
                "rate_limit",
                "must allow at least one request per window",
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("neutrino-cloudflare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::backend(BACKEND, false, CloudflareError::Transport(e)))?;
        Ok(CloudflareClient {
            inner: Arc::new(Inner {
                http,
                base,
                account_id,
                token,
                retry: self.retry,
                limiter: RateLimiter::new(max, per),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    account_id: String,
    token: ApiToken,
    retry: RetryPolicy,
    limiter: RateLimiter,
}

/// A Cloudflare v4 API client for one account. Cheap to clone: clones share one
/// connection pool and one rate limiter.
#[derive(Clone, Debug)]
pub struct CloudflareClient {
    inner: Arc<Inner>,
}

/// A successful raw answer.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

impl CloudflareClient {
    /// The account ID.
    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }

    /// `["accounts", account_id, rest…]`.
    pub(crate) fn account_path<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["accounts", self.account_id()];
        v.extend_from_slice(rest);
        v
    }

    fn url(&self, req: &ApiRequest) -> Url {
        let mut url = self.inner.base.clone();
        let mut path = url.path().trim_end_matches('/').to_owned();
        for s in &req.segments {
            path.push('/');
            path.extend(utf8_percent_encode(s, SEGMENT));
        }
        url.set_path(&path);
        if !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(req.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    async fn send_once(&self, req: &ApiRequest) -> Result<RawResponse, CloudflareError> {
        let _slot = self.inner.limiter.acquire().await;
        let mut rb = self
            .inner
            .http
            .request(req.method.clone(), self.url(req))
            .header(AUTHORIZATION, format!("Bearer {}", self.inner.token.0));
        rb = match &req.body {
            Body::None => rb,
            Body::Json(v) => rb.json(v),
            Body::Bytes { data, content_type } => {
                rb.header(CONTENT_TYPE, *content_type).body(data.clone())
            }
            Body::Multipart(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for p in parts {
                    let mut part = reqwest::multipart::Part::bytes(p.data.to_vec())
                        .mime_str(&p.content_type)
                        .map_err(|e| CloudflareError::decode("multipart content type", e))?;
                    if let Some(f) = &p.file_name {
                        part = part.file_name(f.clone());
                    }
                    form = form.part(p.name.clone(), part);
                }
                rb.multipart(form)
            }
        };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(RawResponse {
                status: status.as_u16(),
                body,
            });
        }
        Err(api_error(status, &headers, &body))
    }

    /// Sends `req` with retries and rate limiting; a success status gives the raw
    /// answer.
    pub(crate) async fn send(&self, req: &ApiRequest) -> Result<RawResponse, CloudflareError> {
        let policy = &self.inner.retry;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.send_once(req).await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            let may_retry = if req.idempotent {
                err.is_retryable()
            } else {
                // Not processed: rate limited, or never connected.
                err.status() == Some(429)
                    || matches!(&err, CloudflareError::Transport(t) if t.is_connect())
            };
            if !may_retry {
                return Err(err);
            }
            let wait = match &err {
                CloudflareError::Api {
                    retry_after: Some(d),
                    ..
                } => *d,
                _ => policy.backoff(attempt),
            };
            if attempt >= policy.max_attempts
                || wait > policy.max_delay
                || waited + wait > policy.max_total_delay
            {
                return Err(if attempt > 1 {
                    CloudflareError::GaveUp {
                        attempts: attempt,
                        last: Box::new(err),
                    }
                } else {
                    err
                });
            }
            tracing::debug!(
                op = req.op,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// Sends `req` and decodes the envelope of its answer.
    pub(crate) async fn call(&self, req: &ApiRequest) -> Result<Envelope, CloudflareError> {
        let raw = self.send(req).await?;
        decode_envelope(raw.status, &raw.body)
    }

    /// Every item of a listing, following pages or cursors to the end: the one
    /// place pagination is handled. `extract` takes the items out of a `result`.
    pub(crate) async fn list_all<T>(
        &self,
        req: ApiRequest,
        paging: Paging,
        extract: impl Fn(Json) -> Result<Vec<T>, CloudflareError>,
    ) -> Result<Vec<T>, CloudflareError> {
        let mut out = Vec::new();
        let mut page = 1_u32;
        let mut cursor: Option<String> = None;
        loop {
            let mut r = req.clone();
            match paging {
                Paging::Page { per_page } => {
                    r = r.query("page", page).query("per_page", per_page);
                }
                Paging::Cursor { size_param, size } => {
                    r = r.query(size_param, size);
                    if let Some(c) = &cursor {
                        r = r.query("cursor", c);
                    }
                }
            }
            let env = self.call(&r).await?;
            let info = env.result_info.clone().unwrap_or(Json::Null);
            let items = extract(env.result)?;
            let n = items.len();
            out.extend(items);
            match paging {
                Paging::Page { per_page } => {
                    let total = info.get("total_count").and_then(Json::as_u64);
                    let done = match total {
                        Some(t) => u64::from(page) * u64::from(per_page) >= t,
                        None => n < per_page as usize,
                    };
                    if done || n == 0 {
                        return Ok(out);
                    }
                    page += 1;
                }
                Paging::Cursor { .. } => match next_cursor(&info) {
                    Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                    _ => return Ok(out),
                },
            }
        }
    }
}

/// A transport error without its URL: paths can hold KV keys, which may be
/// sensitive, and errors never carry them.
fn transport(e: reqwest::Error) -> CloudflareError {
    CloudflareError::Transport(e.without_url())
}

/// The non-empty `result_info.cursor` of a cursor-style listing.
pub(crate) fn next_cursor(info: &Json) -> Option<String> {
    info.get("cursor")
        .and_then(Json::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// Decodes `{success, errors, result, result_info}` answered with `status`;
/// `success: false` is an API error (with that status) even with a success
/// status.
pub(crate) fn decode_envelope(status: u16, body: &[u8]) -> Result<Envelope, CloudflareError> {
    #[derive(serde::Deserialize)]
    struct Raw {
        success: bool,
        #[serde(default)]
        errors: Vec<ApiMessage>,
        #[serde(default)]
        result: Json,
        #[serde(default)]
        result_info: Option<Json>,
    }
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| CloudflareError::decode("response envelope", e))?;
    if !raw.success {
        return Err(CloudflareError::Api {
            status,
            errors: raw.errors,
            retry_after: None,
        });
    }
    Ok(Envelope {
        result: raw.result,
        result_info: raw.result_info,
    })
}

fn api_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> CloudflareError {
    #[derive(serde::Deserialize)]
    struct Failure {
        #[serde(default)]
        errors: Vec<ApiMessage>,
    }
    let errors = serde_json::from_slice::<Failure>(body)
        .map(|f| f.errors)
        .unwrap_or_default();
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    CloudflareError::Api {
        status: status.as_u16(),
        errors,
        retry_after,
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past is zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(3));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(3)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(3));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            max_total_delay: Duration::from_secs(5),
        };
        for attempt in 1..10 {
            let d = p.backoff(attempt);
            let full = (Duration::from_millis(100) * (1 << (attempt - 1))).min(p.max_delay);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?} vs {full:?}");
        }
    }

    #[test]
    fn envelope_failure_carries_code_and_message() {
        let e = decode_envelope(
            200,
            br#"{"success":false,"errors":[{"code":7502,"message":"exists"}],"messages":[],"result":null}"#,
        )
        .unwrap_err();
        assert!(e.has_code(7502));
        assert!(e.to_string().contains("7502 exists"), "{e}");
        let e = decode_envelope(200, b"<html>").unwrap_err();
        assert!(matches!(e, CloudflareError::Decode { .. }));
    }
}
