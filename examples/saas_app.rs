//! A SaaS app behind the gateway layer: one platform, two tenants on two
//! hosts, a tenant-scoped notes API and a platform-admin route.
//!
//! ```sh
//! cargo run --example saas_app --features axum             # serve on 127.0.0.1:3000, data in a temp folder
//! cargo run --example saas_app --features axum -- data     # … with its data in ./data
//! cargo run --example saas_app --features axum -- --self-test
//! ```
//!
//! Served, it prints the two tenants' hosts (`acme.localhost`,
//! `globex.localhost`) and a session cookie per user, for `curl`:
//!
//! ```sh
//! curl -H 'cookie: <ada cookie>' http://acme.localhost:3000/notes
//! ```
//!
//! `--self-test` starts the app on a free port, drives it over HTTP and stops:
//! each tenant sees only its rows, a member of one tenant naming the other
//! (by its host or the `x-neutrino-tenant` header) is refused, and the
//! platform-admin route refuses a tenant owner.

use std::net::SocketAddr;
use std::path::Path;

use axum::extract::{Extension, Path as UrlPath};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router, ServiceExt};
use neutrino::Platform;
use neutrino::auth::access::{AccessPolicy, PlatformRole};
use neutrino::auth::org::NewOrganization;
use neutrino::auth::{RequestMeta, SignInEmail, SignUpEmail};
use neutrino::axum::ApiError;
use neutrino::axum::extract::{CurrentTenant, PlatformAdmin, Require};
use neutrino::axum::gateway::{Gateway, GatewayService};
use neutrino::ids::TenantId;
use neutrino::tenancy::{ColumnType, ListQuery, Record, TenantTable};
use serde_json::{Value, json};
use tower_layer::Layer;

/// The example's secret; a real app reads its own from the environment.
const SECRET: &str = "saas-app example secret, 32 bytes or more";
const PASSWORD: &str = "correct horse battery staple";
/// The tenants' hosts (custom domains; `*.localhost` reaches this machine).
pub(crate) const HOSTS: [&str; 2] = ["acme.localhost", "globex.localhost"];
/// The users: Acme's owner, Globex's owner, the platform admin.
const USERS: [(&str, &str); 3] = [
    ("Ada", "ada@acme.example"),
    ("Bea", "bea@globex.example"),
    ("Root", "root@saas.example"),
];

neutrino::axum::permission!(
    /// Adding a note.
    NoteCreate = "note": "create"
);
neutrino::axum::permission!(
    /// Deleting a note.
    NoteDelete = "note": "delete"
);

/// The notes table, declared once: a store knows its tables by declaration.
fn notes() -> TenantTable {
    static NOTES: std::sync::LazyLock<TenantTable> = std::sync::LazyLock::new(|| {
        TenantTable::new("note", &[("body", ColumnType::Text)]).expect("a valid table")
    });
    NOTES.clone()
}

fn meta() -> RequestMeta {
    RequestMeta::new("127.0.0.1", "saas_app example")
}

fn store_error(e: neutrino::Error) -> ApiError {
    if e.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "note not found")
    } else {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "internal server error",
        )
    }
}

/// `GET /notes`: the request's tenant's notes.
async fn list_notes(
    Extension(app): Extension<Platform>,
    tenant: CurrentTenant,
) -> Result<Json<Value>, ApiError> {
    let page = app
        .store()
        .list(tenant.tenant_scope(), &notes(), &ListQuery::default())
        .await
        .map_err(store_error)?;
    let rows: Vec<Value> = page
        .rows
        .iter()
        .map(|r| json!({ "id": r.get::<String>("id").ok(), "body": r.get::<String>("body").ok() }))
        .collect();
    Ok(Json(
        json!({ "tenant": tenant.tenant().to_string(), "notes": rows }),
    ))
}

/// `POST /notes {"body": …}`: needs `note:create`.
async fn create_note(
    Extension(app): Extension<Platform>,
    caller: Require<NoteCreate>,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let text = body["body"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 10_000)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "body must be a string of 1 to 10000 bytes",
            )
        })?;
    let id = app
        .store()
        .insert(
            caller.tenant_scope(),
            &notes(),
            Record::new().set("body", text),
        )
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// `GET /notes/{id}`: one note of the request's tenant; another tenant's is
/// 404, exactly like a missing one.
async fn get_note(
    Extension(app): Extension<Platform>,
    tenant: CurrentTenant,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let row = app
        .store()
        .get(tenant.tenant_scope(), &notes(), &id)
        .await
        .map_err(store_error)?;
    Ok(Json(
        json!({ "id": id, "body": row.get::<String>("body").ok() }),
    ))
}

/// `DELETE /notes/{id}`: needs `note:delete`.
async fn delete_note(
    Extension(app): Extension<Platform>,
    caller: Require<NoteDelete>,
    UrlPath(id): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    app.store()
        .delete(caller.tenant_scope(), &notes(), &id)
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/tenants`: every tenant of the platform, for its admins only.
async fn admin_tenants(
    Extension(app): Extension<Platform>,
    _admin: PlatformAdmin,
) -> Result<Json<Value>, ApiError> {
    let tenants = app.registry().tenants().await.map_err(store_error)?;
    Ok(Json(json!(
        tenants
            .iter()
            .map(|t| json!({ "id": t.id.to_string(), "slug": t.slug }))
            .collect::<Vec<_>>()
    )))
}

/// The app: its platform and the gateway-wrapped router.
pub(crate) struct App {
    /// The platform's runtime.
    pub(crate) platform: Platform,
    /// The router behind the gateway, to serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub(crate) service: GatewayService<Router>,
    /// The tenants, in the order of [`HOSTS`].
    pub(crate) tenants: [TenantId; 2],
    /// A `Cookie` header value per user of [`USERS`] (a fresh sign-in).
    pub(crate) cookies: [String; 3],
    /// The platform's auth API host (no tenant).
    pub(crate) auth_host: String,
}

/// Opens (on its first start, sets up) the app in `folder`: the platform,
/// its notes table and policy, two tenants with their hosts and owners, and
/// a platform admin.
pub(crate) async fn app(folder: &Path) -> Result<App, Box<dyn std::error::Error>> {
    let local = neutrino::LocalPlatforms::open(folder).await?;
    let policy = AccessPolicy::better_auth_default()
        .grant("owner", "note", &["create", "delete"])
        .grant("admin", "note", &["create", "delete"])
        .grant("member", "note", &["create"]);
    let platform = local
        .platform("SaaS", SECRET)
        .tables(vec![notes()])
        .with_orgs(move |o| o.with_policy(policy))
        .build()
        .await?;
    let auth = platform.auth();
    if platform.is_new() {
        let mut tokens = Vec::new();
        for (name, email) in USERS {
            let up = auth
                .sign_up_email(SignUpEmail::new(name, email, PASSWORD), &meta())
                .await?;
            tokens.push(up.session.ok_or("no session")?.token);
        }
        for (i, (name, host)) in [("Acme", HOSTS[0]), ("Globex", HOSTS[1])]
            .into_iter()
            .enumerate()
        {
            let org = platform
                .orgs()
                .create_organization(
                    &tokens[i],
                    NewOrganization::new(name, name.to_lowercase()),
                    &meta(),
                )
                .await?;
            let reg = platform.registry();
            reg.add_custom_domain(org.id, host).await?;
            reg.verify_custom_domain(host).await?;
            reg.activate_custom_domain(host).await?;
        }
        let root = auth.get_session(&tokens[2]).await?.ok_or("no session")?;
        platform
            .orgs()
            .operator_set_platform_role(
                &root.user.id,
                PlatformRole::Admin,
                "saas_app",
                "first start",
                &meta(),
            )
            .await?;
    }
    let mut cookies = Vec::new();
    for (_, email) in USERS {
        let signed = auth
            .sign_in_email(
                SignInEmail {
                    email: email.into(),
                    password: PASSWORD.into(),
                    remember_me: true,
                },
                &meta(),
            )
            .await?;
        let c = auth.cookies().session_cookie(&signed.session.token, true);
        cookies.push(format!("{}={}", c.name(), c.value()));
    }
    let reg = platform.registry();
    let tenants = [
        reg.tenant_by_slug("acme").await?.id,
        reg.tenant_by_slug("globex").await?.id,
    ];
    let routes = Router::new()
        .route("/notes", get(list_notes).post(create_note))
        .route("/notes/{id}", get(get_note).delete(delete_note))
        .route("/admin/tenants", get(admin_tenants));
    let service = Gateway::new(local.registry())
        .serve(platform.clone())
        .layer(routes);
    let auth_host = local
        .registry()
        .base_domain()
        .auth_host(platform.id(), neutrino::ids::StackId::DEFAULT);
    Ok(App {
        platform,
        service,
        tenants,
        cookies: cookies.try_into().map_err(|_| "three cookies")?,
        auth_host,
    })
}

/// What the self-test saw.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// The notes each tenant's owner listed on its host.
    pub(crate) notes: [Vec<String>; 2],
    /// Acme's owner on Globex's host.
    pub(crate) other_host: u16,
    /// Acme's owner naming Globex by the tenant header.
    pub(crate) other_header: u16,
    /// Acme's owner reading Globex's note by ID on Acme's host.
    pub(crate) other_note: u16,
    /// Acme's owner on the platform-admin route.
    pub(crate) admin_as_owner: u16,
    /// The platform admin on it, and the tenants it listed.
    pub(crate) admin_as_admin: (u16, usize),
}

/// Starts the app in `folder` on a free port and drives it over HTTP.
pub(crate) async fn self_test(folder: &Path) -> Result<Report, Box<dyn std::error::Error>> {
    let app = app(folder).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = app.service.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            service.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");
    let [ada, bea, root] = &app.cookies;
    let mut report = Report::default();
    let mut ids = Vec::new();
    for (i, (host, cookie)) in [(HOSTS[0], ada), (HOSTS[1], bea)].into_iter().enumerate() {
        let created: Value = http
            .post(url("/notes"))
            .header("host", host)
            .header("cookie", cookie)
            .json(&json!({ "body": format!("a note of {host}") }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ids.push(created["id"].as_str().unwrap_or_default().to_owned());
        let listed: Value = http
            .get(url("/notes"))
            .header("host", host)
            .header("cookie", cookie)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        report.notes[i] = listed["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["body"].as_str().map(str::to_owned))
            .collect();
    }
    let status = |r: reqwest::RequestBuilder| async move {
        Ok::<u16, reqwest::Error>(r.send().await?.status().as_u16())
    };
    report.other_host = status(
        http.get(url("/notes"))
            .header("host", HOSTS[1])
            .header("cookie", ada),
    )
    .await?;
    report.other_header = status(
        http.get(url("/notes"))
            .header("host", &app.auth_host)
            .header("x-neutrino-tenant", app.tenants[1].to_string())
            .header("cookie", ada),
    )
    .await?;
    report.other_note = status(
        http.get(url(&format!("/notes/{}", ids[1])))
            .header("host", HOSTS[0])
            .header("cookie", ada),
    )
    .await?;
    report.admin_as_owner = status(
        http.get(url("/admin/tenants"))
            .header("host", &app.auth_host)
            .header("cookie", ada),
    )
    .await?;
    let resp = http
        .get(url("/admin/tenants"))
        .header("host", &app.auth_host)
        .header("cookie", root)
        .send()
        .await?;
    let code = resp.status().as_u16();
    let listed: Value = resp.json().await?;
    report.admin_as_admin = (code, listed.as_array().map_or(0, Vec::len));
    server.abort();
    Ok(report)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let self_testing = args.iter().any(|a| a == "--self-test");
    let temp = tempfile::tempdir()?;
    let folder = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    if self_testing {
        let report = self_test(&folder).await?;
        println!("{report:#?}");
        let ok = report.notes.iter().all(|n| !n.is_empty())
            && report.notes[0].iter().all(|n| n.contains(HOSTS[0]))
            && report.notes[1].iter().all(|n| n.contains(HOSTS[1]))
            && report.other_host == 403
            && report.other_header == 403
            && report.other_note == 404
            && report.admin_as_owner == 403
            && report.admin_as_admin.0 == 200;
        if !ok {
            return Err("the self-test failed".into());
        }
        println!("self-test passed");
        return Ok(());
    }
    let app = app(&folder).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "serving platform {} on http://127.0.0.1:3000, data in {}",
        app.platform.id(),
        folder.display()
    );
    println!(
        "tenant hosts: {} and {}; platform host: {}",
        HOSTS[0], HOSTS[1], app.auth_host
    );
    for ((name, _), cookie) in USERS.iter().zip(&app.cookies) {
        println!("{name}'s cookie: {cookie}");
    }
    axum::serve(
        listener,
        app.service
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
