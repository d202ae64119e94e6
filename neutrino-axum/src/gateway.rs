//! The gateway layer: every request routed to its platform and tenant.
//!
//! [`Gateway`] is a tower [`Layer`] over any inner service (an axum
//! [`Router`](axum::Router), [`api`](crate::api)'s router, a host app's own
//! routes). For each request, before the inner service runs, it:
//!
//! 1. decides who sent it and for which host: by default no proxy is
//!    trusted, so `X-Forwarded-Host`, `X-Forwarded-Proto`,
//!    `X-Forwarded-For` and `Forwarded` are removed and the request is routed
//!    by its `Host` header (or the URI's authority) and the connection's peer
//!    address; when the peer is one of the configured trusted proxies
//!    ([`Gateway::trust_proxies`]) their `X-Forwarded-*` values are used and
//!    then overwritten with the gateway's decision. The `Host` header the
//!    inner service sees is the host the request was routed by;
//! 2. resolves the host through the registry (its in-process host cache):
//!    a platform's own hosts (`auth.svc.{stack}.{p}.{base}` and
//!    `{app}.app.{stack}.{p}.{base}`) route to the platform with no tenant, a
//!    tenant's active host (default subdomain or custom domain) to the
//!    platform and the tenant. An unknown host, and a host of a platform this
//!    gateway does not serve, is 404: never another platform's data;
//! 3. answers a suspended platform with 403 (`PLATFORM_SUSPENDED`) and a
//!    deleted one with 404 at once, from the registry's status cache (no
//!    database read per request);
//! 4. answers CORS preflights for the platform's trusted origins
//!    ([`neutrino_auth::Auth::trusted_origins`]) and adds the CORS headers,
//!    with credentials, to the answers to those origins only
//!    (`Vary: Origin` always);
//! 5. refuses a body larger than the limit (1 MiB by default,
//!    [`Gateway::body_limit`]) with 413, announced or streamed;
//! 6. inserts the request's [`Platform`], its [`ClientIp`] and its
//!    [`ResolvedHost`] into the request's extensions, where the
//!    [`extract`](crate::extract)ors and the [`api`](crate::api) router find
//!    them. The session is read at most once per request, through the
//!    platform's session cache, by the first extractor that needs it; when
//!    it was extended (sliding expiry) the gateway sends the session cookie
//!    again, on the platform's cookie domain when the host is under it and
//!    host-only otherwise (a tenant's custom domain).
//!
//! Every request runs in a `tracing` span `request` with the fields
//! `method`, `path` (without the query string, and with long path segments,
//! where tokens travel, replaced by `…`), `platform`, `tenant` and `status`;
//! no header value, cookie, token or key is ever recorded.
//!
//! Errors are Better Auth-shaped bodies ([`ApiError`]).
//!
//! ```no_run
//! # async fn run(registry: neutrino_tenancy::Registry, shop: neutrino_platform::Platform, blog: neutrino_platform::Platform) -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get, ServiceExt};
//! use neutrino_axum::gateway::Gateway;
//! use tower_layer::Layer;
//!
//! let routes = Router::new().route("/", get(|| async { "hello" }));
//! let app = Gateway::new(&registry).serve(shop).serve(blog).layer(routes);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use neutrino_auth::AuthSession;
use neutrino_auth::origin::{is_trusted, origin_of};
use neutrino_core::Error;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::naming::HostParts;
use neutrino_platform::Platform;
use neutrino_tenancy::{PlatformStatus, Registry, normalize_host};
use tokio::sync::OnceCell;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;
use tracing::field::Empty;

use crate::{ApiError, ClientIp};

/// The default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The forwarded headers the gateway removes (and, behind a trusted proxy,
/// rewrites) before anything else reads them.
const FORWARDED_HEADERS: [&str; 4] = [
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-for",
    "forwarded",
];

/// The gateway layer; see the [module documentation](self).
///
/// Built once: [`Gateway::new`] on the process's [`Registry`], one
/// [`Gateway::serve`] per platform served, then used as a [`Layer`] (or
/// given to [`axum::Router::layer`]). Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    registry: Registry,
    platforms: HashMap<PlatformId, Platform>,
    proxies: Vec<IpNet>,
    body_limit: usize,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut platforms: Vec<_> = self.config.platforms.keys().collect();
        platforms.sort();
        f.debug_struct("Gateway")
            .field("platforms", &platforms)
            .field("trusted_proxies", &self.config.proxies)
            .field("body_limit", &self.config.body_limit)
            .finish()
    }
}

impl Gateway {
    /// A gateway resolving hosts through `registry` (the registry the
    /// served platforms' runtimes were opened on), serving no platform yet,
    /// trusting no proxy, with a body limit of [`DEFAULT_BODY_LIMIT`].
    pub fn new(registry: &Registry) -> Self {
        Self {
            config: Arc::new(Config {
                registry: registry.clone(),
                platforms: HashMap::new(),
                proxies: Vec::new(),
                body_limit: DEFAULT_BODY_LIMIT,
            }),
        }
    }

    /// Serves `platform` too: its hosts route to it. Serving a platform a
    /// second time replaces the first runtime.
    pub fn serve(mut self, platform: Platform) -> Self {
        Arc::make_mut(&mut self.config)
            .platforms
            .insert(platform.id(), platform);
        self
    }

    /// Trusts these proxies: a request whose connection's peer is one of
    /// them (an exact address, `10.0.0.1` or `::1`, or a CIDR block,
    /// `10.0.0.0/8` or `fd00::/8`) is routed by its `X-Forwarded-Host`, and
    /// its client address is the right-most `X-Forwarded-For` entry that is
    /// not itself a trusted proxy. The peer address comes from axum's
    /// [`ConnectInfo`] (serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`); without it no
    /// request is trusted. Replaces any earlier list.
    ///
    /// An entry that is not an address or a block is [`Error::InvalidInput`].
    pub fn trust_proxies<I, S>(mut self, proxies: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list = proxies
            .into_iter()
            .map(|p| IpNet::parse(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Arc::make_mut(&mut self.config).proxies = list;
        Ok(self)
    }

    /// The largest request body accepted, in bytes (default
    /// [`DEFAULT_BODY_LIMIT`]); a larger one, announced by `Content-Length`
    /// or streamed, is answered 413 (`PAYLOAD_TOO_LARGE`).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).body_limit = bytes;
        self
    }
}

impl<S> Layer<S> for Gateway {
    type Service = GatewayService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GatewayService {
            config: self.config.clone(),
            inner,
        }
    }
}

/// The service [`Gateway`] wraps around an inner service.
#[derive(Clone)]
pub struct GatewayService<S> {
    config: Arc<Config>,
    inner: S,
}

impl<S> fmt::Debug for GatewayService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayService").finish_non_exhaustive()
    }
}

impl<S> Service<Request<Body>> for GatewayService<S>
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone is the one polled ready for this call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(handle(config, req, inner))
    }
}

/// What the gateway resolved a request's host to: inserted into the request's
/// extensions, and an extractor (a 500 outside the gateway).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedHost {
    host: String,
    platform: PlatformId,
    tenant: Option<TenantId>,
}

impl ResolvedHost {
    /// The normalised host the request was routed by.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The platform.
    pub fn platform(&self) -> PlatformId {
        self.platform
    }

    /// The tenant whose host this is; `None` for a platform's own hosts
    /// (its auth API, its apps).
    pub fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }
}

impl<St: Send + Sync> FromRequestParts<St> for ResolvedHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<ResolvedHost>()
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "no resolved host for this request: serve it through the gateway layer",
                )
            })
    }
}

/// Per-request state the extractors share with the gateway: the session,
/// read once, and the cookie to send again when it was extended.
pub(crate) struct RequestState {
    session: OnceCell<Option<Arc<AuthSession>>>,
    /// Whether the host is under the platform's cookie domain.
    shared_cookie_ok: bool,
    refreshed_cookie: Mutex<Option<HeaderValue>>,
}

impl RequestState {
    /// The request's session, read through the platform's session cache on
    /// the first call and remembered for the request.
    pub(crate) async fn session<F, Fut>(
        &self,
        read: F,
    ) -> Result<Option<Arc<AuthSession>>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Arc<AuthSession>>, ApiError>>,
    {
        self.session.get_or_try_init(read).await.cloned()
    }

    /// Asks the gateway to send the session cookie of `platform` for `token`
    /// again (the session was extended).
    pub(crate) fn send_refreshed(&self, platform: &Platform, token: &str) {
        let mut cookie = platform.auth().cookies().session_cookie(token, true);
        if !self.shared_cookie_ok {
            cookie.unset_domain();
        }
        if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
            *self
                .refreshed_cookie
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(v);
        }
    }
}

/// An address or a CIDR block of trusted proxies.
#[derive(Clone, Copy, PartialEq, Eq)]
struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl IpNet {
    fn parse(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(
                "trusted proxy",
                format!(
                    "expected an IP address or a CIDR block, got {:?}",
                    s.chars().take(60).collect::<String>()
                ),
            )
        };
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                    return Err(bad());
                }
                let n: u8 = p.parse().map_err(|_| bad())?;
                if n > max {
                    return Err(bad());
                }
                n
            }
            None => max,
        };
        Ok(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Config {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|n| n.contains(ip))
    }

    /// The host's platform runtime and tenant, or the answer to give.
    async fn route(&self, host: &str) -> Result<(String, &Platform, Option<TenantId>), ApiError> {
        let host = normalize_host(host).map_err(|_| unknown_host())?;
        let (platform, tenant) = match self.registry.base_domain().parse_host(&host) {
            Ok(HostParts::AuthService { platform, .. } | HostParts::App { platform, .. }) => {
                (platform, None)
            }
            _ => match self.registry.resolve(&host).await {
                Ok(Some((platform, tenant))) => (platform, Some(tenant)),
                Ok(None) => return Err(unknown_host()),
                Err(Error::InvalidInput { .. }) => return Err(unknown_host()),
                Err(e) => return Err(internal(&e)),
            },
        };
        let runtime = self.platforms.get(&platform).ok_or_else(unknown_host)?;
        match runtime.registry().status().await {
            Ok(PlatformStatus::Active) => Ok((host, runtime, tenant)),
            Ok(PlatformStatus::Suspended) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "PLATFORM_SUSPENDED",
                "this platform is suspended",
            )),
            Ok(_) => Err(unknown_host()),
            Err(e) if e.is_not_found() => Err(unknown_host()),
            Err(e) => Err(internal(&e)),
        }
    }
}

fn unknown_host() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no site is served at this host",
    )
}

fn internal(e: &Error) -> ApiError {
    tracing::error!(error = %e, "the gateway could not route a request");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "internal server error",
    )
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "the request body is too large",
    )
}

/// The path as recorded in spans: segments of 16 characters or more (where a
/// reset or verification token travels) replaced by `…`, at most 200
/// characters.
fn path_for_span(path: &str) -> String {
    let mut out = path
        .split('/')
        .map(|seg| if seg.len() >= 16 { "…" } else { seg })
        .collect::<Vec<_>>()
        .join("/");
    if out.len() > 200 {
        let mut cut = 200;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The last comma-separated value of a header (the nearest proxy's), trimmed.
fn last_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let all: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = all.join(",");
    joined
        .rsplit(',')
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The client's address behind trusted proxies: the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy, else the left-most
/// entry, else the peer.
fn forwarded_client(config: &Config, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    let entries: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|e| parse_forwarded_ip(e.trim()))
        .collect();
    entries
        .iter()
        .rev()
        .find(|ip| !config.trusts(**ip))
        .or_else(|| entries.first())
        .copied()
        .unwrap_or(peer)
}

/// An `X-Forwarded-For` entry: an address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:80`).
fn parse_forwarded_ip(e: &str) -> Option<IpAddr> {
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = e.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    None
}

/// The host a request names: its URI's authority (absolute form, HTTP/2),
/// else its `Host` header.
fn request_host(req: &Request<Body>) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        return Some(a.as_str().rsplit('@').next().unwrap_or("").to_owned());
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next()?;
    if hosts.next().is_some() {
        return None;
    }
    first.to_str().ok().map(str::to_owned)
}

/// The request's `Origin` when it is one of the platform's trusted origins.
fn trusted_origin(platform: &Platform, headers: &HeaderMap) -> Option<HeaderValue> {
    let mut all = headers.get_all(header::ORIGIN).iter();
    let value = all.next()?;
    if all.next().is_some() {
        return None;
    }
    let origin = value.to_str().ok()?;
    (origin_of(origin).as_deref() == Some(origin)
        && is_trusted(origin, platform.auth().trusted_origins()))
    .then(|| value.clone())
}

fn add_vary(headers: &mut HeaderMap, what: &'static str) {
    headers.append(header::VARY, HeaderValue::from_static(what));
}

/// Adds the CORS headers of an answer to `origin` (a trusted origin or none).
fn cors(resp: &mut Response, origin: Option<&HeaderValue>) {
    let h = resp.headers_mut();
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    ] {
        h.remove(name);
    }
    add_vary(h, "origin");
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// The answer to a CORS preflight.
fn preflight(headers: &HeaderMap, origin: Option<&HeaderValue>) -> Response {
    let Some(origin) = origin else {
        let mut resp = ApiError::new(StatusCode::FORBIDDEN, "INVALID_ORIGIN", "invalid origin")
            .into_response();
        cors(&mut resp, None);
        return resp;
    };
    let mut resp = StatusCode::NO_CONTENT.into_response();
    cors(&mut resp, Some(origin));
    let h = resp.headers_mut();
    add_vary(h, "access-control-request-method");
    add_vary(h, "access-control-request-headers");
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE"),
    );
    // The requested headers, when each is a valid header name.
    let requested: Option<Vec<String>> = headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<&str>>>()
        .map(|vs| {
            vs.iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_ascii_lowercase)
                .collect()
        });
    if let Some(names) = requested
        && !names.is_empty()
        && names
            .iter()
            .all(|n| HeaderName::from_bytes(n.as_bytes()).is_ok())
        && let Ok(v) = HeaderValue::from_str(&names.join(", "))
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    resp
}

async fn handle<S>(config: Arc<Config>, req: Request<Body>, inner: S) -> Result<Response, S::Error>
where
    S: Service<Request<Body>> + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %path_for_span(req.uri().path()),
        platform = Empty,
        tenant = Empty,
        status = Empty,
    );
    async move {
        let resp = route_and_call(&config, req, inner).await?;
        tracing::Span::current().record("status", resp.status().as_u16());
        tracing::debug!("answered");
        Ok(resp)
    }
    .instrument(span)
    .await
}

async fn route_and_call<S>(
    config: &Config,
    mut req: Request<Body>,
    mut inner: S,
) -> Result<Response, S::Error>
where
    S: Service<Request<Body>> + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    // 1. Who sent it, for which host.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let trusted_peer = peer.filter(|ip| config.trusts(*ip));
    let (host, client, proto) = match trusted_peer {
        Some(peer) => (
            last_value(req.headers(), "x-forwarded-host").or_else(|| request_host(&req)),
            Some(forwarded_client(config, req.headers(), peer)),
            last_value(req.headers(), "x-forwarded-proto")
                .filter(|p| p.eq_ignore_ascii_case("http") || p.eq_ignore_ascii_case("https")),
        ),
        None => (request_host(&req), peer, None),
    };
    let headers = req.headers_mut();
    for name in FORWARDED_HEADERS {
        headers.remove(name);
    }
    let Some(host) = host else {
        return Ok(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the request names no host",
        )
        .into_response());
    };

    // 2–3. Host to platform and tenant; the platform's status.
    let (normalized, platform, tenant) = match config.route(&host).await {
        Ok(found) => found,
        Err(e) => return Ok(e.into_response()),
    };
    let span = tracing::Span::current();
    span.record("platform", tracing::field::display(platform.id()));
    if let Some(t) = tenant {
        span.record("tenant", tracing::field::display(t));
    }
    // The inner service sees the host the request was routed by, and behind
    // a trusted proxy the gateway's own forwarded values.
    if let Ok(v) = HeaderValue::from_str(&host) {
        let headers = req.headers_mut();
        headers.insert(header::HOST, v.clone());
        if trusted_peer.is_some() {
            headers.insert("x-forwarded-host", v);
            if let Some(client) = client
                && let Ok(c) = HeaderValue::from_str(&client.to_string())
            {
                headers.insert("x-forwarded-for", c);
            }
            if let Some(p) = proto
                .as_deref()
                .and_then(|p| HeaderValue::from_str(&p.to_ascii_lowercase()).ok())
            {
                headers.insert("x-forwarded-proto", p);
            }
        }
    }

    // 4. CORS.
    let origin = trusted_origin(platform, req.headers());
    if req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return Ok(preflight(req.headers(), origin.as_ref()));
    }
    let finish = |mut resp: Response| {
        cors(&mut resp, origin.as_ref());
        resp
    };

    // 5. The body limit, announced.
    let limit = config.body_limit;
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    match announced {
        Some(Some(n)) if n > limit as u64 => return Ok(finish(too_large().into_response())),
        Some(None) => {
            return Ok(finish(
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "invalid content-length",
                )
                .into_response(),
            ));
        }
        _ => {}
    }

    // 6. What handlers read.
    let state = Arc::new(RequestState {
        session: OnceCell::new(),
        shared_cookie_ok: under_cookie_domain(platform, &normalized),
        refreshed_cookie: Mutex::new(None),
    });
    let ext = req.extensions_mut();
    ext.insert(platform.clone());
    if let Some(ip) = client {
        ext.insert(ClientIp(ip));
    }
    ext.insert(ResolvedHost {
        host: normalized,
        platform: platform.id(),
        tenant,
    });
    ext.insert(state.clone());
    let exceeded = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        Body::new(LimitedBody {
            inner: body,
            left: limit,
            exceeded: exceeded.clone(),
        })
    });

    let resp = inner.call(req).await?.into_response();
    // A body cut short by the limit: whatever the handler answered, 413.
    let mut resp = if exceeded.load(Ordering::SeqCst) {
        too_large().into_response()
    } else {
        resp
    };
    let refreshed = state
        .refreshed_cookie
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    // Unless the handler set the session cookie itself (a sign-in, a
    // sign-out): its answer is the newer one.
    let name = format!("{}=", platform.auth().cookies().session_cookie_name());
    let handler_set = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(name.as_bytes()));
    if let Some(cookie) = refreshed
        && !handler_set
    {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(finish(resp))
}

/// Whether `host` (normalised) is under the platform's session cookie domain.
fn under_cookie_domain(platform: &Platform, host: &str) -> bool {
    match &platform.auth().cookies().config().domain {
        neutrino_auth::CookieDomain::HostOnly => true,
        neutrino_auth::CookieDomain::Shared(d) => {
            let d = d.trim_start_matches('.').to_ascii_lowercase();
            host == d || host.strip_suffix(&d).is_some_and(|r| r.ends_with('.'))
        }
    }
}

/// A request body that fails once more than `left` bytes have come, and says
/// so through `exceeded`.
struct LimitedBody {
    inner: Body,
    left: usize,
    exceeded: Arc<AtomicBool>,
}

/// The error a body over the limit ends with.
#[derive(Debug)]
struct BodyTooLarge;

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body is larger than the gateway's limit")
    }
}

impl std::error::Error for BodyTooLarge {}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.exceeded.load(Ordering::SeqCst) {
            return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if data.len() > self.left {
                        self.exceeded.store(true, Ordering::SeqCst);
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                    }
                    self.left -= data.len();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_blocks_match_addresses_and_refuse_nonsense() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one = IpNet::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "host",
            "::/129",
            "1.2.3.4/8/8",
        ] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn span_paths_drop_long_segments() {
        assert_eq!(path_for_span("/notes/abc"), "/notes/abc");
        assert_eq!(
            path_for_span("/api/auth/reset-password/0123456789abcdef0123"),
            "/api/auth/reset-password/…"
        );
        assert!(path_for_span(&"/a".repeat(500)).len() <= 204);
    }
}
