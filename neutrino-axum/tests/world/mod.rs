//! Two platforms of one folder behind one gateway, over a real socket.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router, ServiceExt};
use neutrino_auth::apikey::{ApiKeyScope, CreatedApiKey, NewApiKey};
use neutrino_auth::org::NewOrganization;
use neutrino_auth::{RequestMeta, SignUpEmail, SignedIn};
use neutrino_axum::ClientIp;
use neutrino_axum::extract::{
    ApiKey, CurrentSession, CurrentTenant, Meta, PlatformAdmin, Require, permissions,
};
use neutrino_axum::gateway::{Gateway, ResolvedHost};
use neutrino_core::ids::TenantId;
use neutrino_platform::{LocalPlatforms, Platform};
use neutrino_tenancy::{ListQuery, Record, TenantTable};
use serde_json::{Value, json};
use tower_layer::Layer;

pub const SECRET: &str = "a test secret of at least thirty-two bytes!!";
pub const PASSWORD: &str = "correct horse battery staple";

/// The one declaration of the notes table: a store knows its tables by
/// declaration, not by name.
pub fn notes() -> TenantTable {
    static NOTES: std::sync::LazyLock<TenantTable> = std::sync::LazyLock::new(|| {
        TenantTable::new("note", &[("body", neutrino_tenancy::ColumnType::Text)]).unwrap()
    });
    NOTES.clone()
}

/// An API key of `owner` for `tenant` of P (a user's key, unless `shape`
/// makes it the organization's), shaped by `shape`.
pub async fn tenant_key(
    w: &World,
    owner: &User,
    tenant: TenantId,
    shape: impl FnOnce(&mut NewApiKey),
) -> CreatedApiKey {
    let mut new = NewApiKey {
        organization: Some(tenant),
        ..NewApiKey::default()
    };
    shape(&mut new);
    w.p.orgs()
        .create_api_key(owner.token(), new, &meta())
        .await
        .unwrap()
}

/// The membership in A of `user`, as A's owner Ada lists it.
pub async fn member_of_a(w: &World, user: &User) -> neutrino_auth::org::Member {
    let members = w.p.orgs().list_members(w.ada.token(), &w.a).await.unwrap();
    members
        .into_iter()
        .find(|m| m.user_id == user.signed.user.id)
        .unwrap()
}

/// Runs futures at once on the runtime; their outputs in order.
pub async fn spawn_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

pub fn meta() -> RequestMeta {
    RequestMeta::new("127.0.0.1", "test")
}

/// A user of a platform with their cookie header value.
pub struct User {
    pub signed: SignedIn,
    pub cookie: String,
}

impl User {
    pub fn token(&self) -> &str {
        &self.signed.session.token
    }
}

pub async fn user(p: &Platform, name: &str) -> User {
    let email = format!(
        "{}-{}@example.com",
        name.to_lowercase(),
        TenantId::generate()
    );
    let up = p
        .auth()
        .sign_up_email(SignUpEmail::new(name, email, PASSWORD), &meta())
        .await
        .unwrap();
    let session = up.session.unwrap();
    let c = p.auth().cookies().session_cookie(&session.token, true);
    User {
        cookie: format!("{}={}", c.name(), c.value()),
        signed: SignedIn {
            user: up.user,
            session,
            remember_me: true,
        },
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub folder: LocalPlatforms,
    pub p: Platform,
    pub q: Platform,
    /// Owner of tenant A of P.
    pub ada: User,
    /// Owner of tenant B of P.
    pub bea: User,
    /// A plain member of A and of B, B active on the session.
    pub ben: User,
    /// Owner of Q's tenant.
    pub quinn: User,
    pub a: TenantId,
    pub b: TenantId,
    pub qt: TenantId,
    pub a_host: String,
    pub b_host: String,
    pub q_host: String,
}

impl World {
    /// P's auth host.
    pub fn auth_host(&self) -> String {
        self.auth_host_of(&self.p)
    }

    /// The auth host of `platform`.
    pub fn auth_host_of(&self, platform: &Platform) -> String {
        self.folder
            .registry()
            .base_domain()
            .auth_host(platform.id(), neutrino_core::ids::StackId::DEFAULT)
    }
}

async fn host(p: &Platform, t: TenantId, host: &str) {
    p.registry().add_custom_domain(t, host).await.unwrap();
    p.registry().verify_custom_domain(host).await.unwrap();
    p.registry().activate_custom_domain(host).await.unwrap();
}

pub async fn world_with(
    settings: impl Fn(neutrino_auth::AuthBuilder) -> neutrino_auth::AuthBuilder + Send + Clone + 'static,
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let folder = LocalPlatforms::open(dir.path()).await.unwrap();
    let s = settings.clone();
    let p = folder
        .platform("Pea", SECRET)
        .tables(vec![notes()])
        .with_auth(move |a| s(a.with_trusted_origins(["https://app.pea.example"])))
        .build()
        .await
        .unwrap();
    let q = folder
        .platform("Queue", SECRET)
        .tables(vec![notes()])
        .with_auth(move |a| settings(a.with_trusted_origins(["https://app.queue.example"])))
        .build()
        .await
        .unwrap();
    let ada = user(&p, "Ada").await;
    let bea = user(&p, "Bea").await;
    let ben = user(&p, "Ben").await;
    let quinn = user(&q, "Quinn").await;
    let suffix: String = TenantId::generate()
        .to_string()
        .to_ascii_lowercase()
        .chars()
        .take(10)
        .collect();
    let a = p
        .orgs()
        .create_organization(
            ada.token(),
            NewOrganization::new("Acme", format!("acme-{suffix}")),
            &meta(),
        )
        .await
        .unwrap()
        .id;
    let b = p
        .orgs()
        .create_organization(
            bea.token(),
            NewOrganization::new("Globex", format!("globex-{suffix}")),
            &meta(),
        )
        .await
        .unwrap()
        .id;
    let qt = q
        .orgs()
        .create_organization(
            quinn.token(),
            NewOrganization::new("Initech", format!("initech-{suffix}")),
            &meta(),
        )
        .await
        .unwrap()
        .id;
    for t in [a, b] {
        let owner = if t == a { &ada } else { &bea };
        p.orgs()
            .add_member(owner.token(), &t, &ben.signed.user.id, "member", &meta())
            .await
            .unwrap();
    }
    p.orgs()
        .set_active(ben.token(), Some(&b), &meta())
        .await
        .unwrap();
    let (a_host, b_host, q_host) = (
        format!("acme-{suffix}.example.com"),
        format!("globex-{suffix}.example.com"),
        format!("initech-{suffix}.example.org"),
    );
    host(&p, a, &a_host).await;
    host(&p, b, &b_host).await;
    host(&q, qt, &q_host).await;
    // A row in each tenant.
    for (pl, owner) in [(&p, &ada), (&p, &bea), (&q, &quinn)] {
        let scope = pl.scope(owner.token()).await.unwrap();
        pl.store()
            .insert(
                scope.tenant_scope(),
                &notes(),
                Record::new().set("body", format!("note of {}", scope.tenant())),
            )
            .await
            .unwrap();
    }
    World {
        dir,
        folder,
        p,
        q,
        ada,
        bea,
        ben,
        quinn,
        a,
        b,
        qt,
        a_host,
        b_host,
        q_host,
    }
}

pub async fn world() -> World {
    world_with(|a| a).await
}

/// [`served_world`] with the platforms' auth on a manual clock, and the clock.
pub async fn served_world_on_a_manual_clock() -> (World, Client, neutrino_core::clock::ManualClock)
{
    let clock = neutrino_core::clock::ManualClock::new();
    let c2 = clock.clone();
    let w = world_with(move |a| a.with_clock(Arc::new(c2.clone()))).await;
    let c = Client::new(serve(gateway(&w)).await);
    (w, c, clock)
}

/// [`world`], served behind its [`gateway`] on a loopback port, and a client
/// of it.
pub async fn served_world() -> (World, Client) {
    let w = world().await;
    let c = Client::new(serve(gateway(&w)).await);
    (w, c)
}

async fn whoami(
    host: ResolvedHost,
    ip: Option<axum::Extension<ClientIp>>,
    Meta(meta): Meta,
    headers: HeaderMap,
) -> Json<Value> {
    let forwarded: Vec<String> = [
        "x-forwarded-host",
        "x-forwarded-for",
        "x-forwarded-proto",
        "forwarded",
    ]
    .iter()
    .filter_map(|h| {
        headers
            .get(*h)
            .map(|v| format!("{h}={}", v.to_str().unwrap_or("?")))
    })
    .collect();
    Json(json!({
        "host": host.host(),
        "platform": host.platform().to_string(),
        "tenant": host.tenant().map(|t| t.to_string()),
        "ip": ip.map(|i| i.0.0.to_string()),
        "metaIp": meta.ip_address,
        "hostHeader": headers.get("host").and_then(|v| v.to_str().ok()),
        "forwarded": forwarded,
    }))
}

async fn list_notes(
    axum::Extension(platform): axum::Extension<Platform>,
    tenant: CurrentTenant,
) -> Result<Json<Value>, neutrino_axum::ApiError> {
    let page = platform
        .store()
        .list(tenant.tenant_scope(), &notes(), &ListQuery::default())
        .await
        .map_err(|e| {
            neutrino_axum::ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                e.to_string(),
            )
        })?;
    let bodies: Vec<String> = page
        .rows
        .iter()
        .map(|r| r.get::<String>("body").unwrap())
        .collect();
    Ok(Json(json!({
        "tenant": tenant.tenant().to_string(),
        "roles": tenant.member().map(|m| m.roles()),
        "orgKey": tenant.organization_key_id(),
        "notes": bodies,
    })))
}

async fn session(s: CurrentSession) -> Json<Value> {
    Json(json!({ "user": s.user.id.to_string() }))
}

async fn update_org(r: Require<permissions::OrganizationUpdate>) -> Json<Value> {
    Json(json!({ "tenant": r.tenant().to_string() }))
}

/// Three extractors over one `x-api-key`: the key must be verified (and a
/// use taken) once.
async fn key_thrice(
    k: ApiKey,
    t: CurrentTenant,
    r: Require<permissions::OrganizationUpdate>,
) -> Json<Value> {
    let key_tenant = match k.scope() {
        ApiKeyScope::Tenant(s) => Some(s.tenant()),
        ApiKeyScope::Organization { scope, .. } => Some(scope.tenant()),
        _ => None,
    };
    assert_eq!(key_tenant, Some(t.tenant()));
    Json(json!({ "tenant": r.tenant().to_string() }))
}

async fn admin(a: PlatformAdmin) -> Json<Value> {
    Json(json!({ "admin": a.session().user.id.to_string() }))
}

async fn key(k: ApiKey) -> Json<Value> {
    Json(match k.scope() {
        ApiKeyScope::Tenant(s) => json!({ "tenant": s.tenant().to_string() }),
        ApiKeyScope::Organization { scope, .. } => {
            json!({ "tenant": scope.tenant().to_string(), "organization": true })
        }
        _ => json!({ "platform": true }),
    })
}

async fn limited(
    axum::Extension(platform): axum::Extension<Platform>,
    Meta(meta): Meta,
) -> Result<&'static str, neutrino_axum::ApiError> {
    platform
        .auth()
        .check_rate_limit(&meta, "/sign-in/email")
        .await?;
    Ok("ok")
}

/// Signs out and expires the cookies, as an auth handler does.
async fn sign_out(
    axum::Extension(platform): axum::Extension<Platform>,
    s: CurrentSession,
) -> axum::response::Response {
    platform.auth().sign_out(s.token(), &meta()).await.unwrap();
    let mut resp = axum::response::IntoResponse::into_response("signed out");
    for c in platform.auth().cookies().expired_cookies() {
        resp.headers_mut().append(
            "set-cookie",
            axum::http::HeaderValue::from_str(&c.to_string()).unwrap(),
        );
    }
    resp
}

async fn echo(body: axum::body::Bytes) -> String {
    format!("{} bytes", body.len())
}

async fn echo_path(Path(rest): Path<String>) -> String {
    rest
}

pub fn routes() -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/notes", get(list_notes))
        .route("/session", get(session))
        .route("/org", post(update_org))
        .route("/admin", get(admin))
        .route("/key", get(key))
        .route("/key-thrice", post(key_thrice))
        .route("/limited", get(limited))
        .route("/echo", post(echo))
        .route("/sign-out", post(sign_out))
        .route("/p/{*rest}", get(echo_path))
}

/// Serves `gateway` over `routes()` on 127.0.0.1:0.
pub async fn serve(gateway: Gateway) -> SocketAddr {
    serve_app(gateway.layer(routes())).await
}

/// Serves `app` on 127.0.0.1:0, with the connection's address.
pub async fn serve_app<S>(app: S) -> SocketAddr
where
    S: tower_service::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

pub fn gateway(w: &World) -> Gateway {
    Gateway::new(w.folder.registry())
        .serve(w.p.clone())
        .serve(w.q.clone())
}

/// A client that sends requests to `addr` with the given `Host`.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub addr: SocketAddr,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            http: reqwest::Client::new(),
            addr,
        }
    }

    /// A GET of `path` on `host` with the API key `key`; its answer.
    pub async fn get_with_key(&self, host: &str, path: &str, key: &str) -> (u16, Value) {
        answer(self.get(host, path).header("x-api-key", key)).await
    }

    pub fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("http://{}{path}", self.addr))
            .header("host", host)
    }

    pub fn post(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("http://{}{path}", self.addr))
            .header("host", host)
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        host: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("http://{}{path}", self.addr))
            .header("host", host)
    }
}

/// Status and JSON body (or `null`).
/// The body of the answer to `r`, as text.
pub async fn text_of(r: reqwest::RequestBuilder) -> String {
    r.send().await.unwrap().text().await.unwrap()
}

/// The body of the answer to `r`, as JSON.
pub async fn json_of(r: reqwest::RequestBuilder) -> Value {
    r.send().await.unwrap().json().await.unwrap()
}

pub async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn shared<T>(t: T) -> Arc<T> {
    Arc::new(t)
}
