//! A platform's auth API on a real socket, on the embedded default, and a
//! client that keeps nothing between requests.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use neutrino_auth::mail::RecordingMailer;
use neutrino_auth::user::UserConfig;
use neutrino_auth::{CookieConfig, CookieDomain, SessionConfig};
use neutrino_axum::api::AuthApi;
use neutrino_platform::{LocalPlatforms, Platform};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const SECRET: &str = "a test secret of at least thirty-two bytes";
pub const PASSWORD: &str = "correct horse battery";

pub struct Server {
    pub _folder: tempfile::TempDir,
    pub origin: String,
    pub base: String,
    pub http: reqwest::Client,
    pub platform: Platform,
    pub mailer: Arc<RecordingMailer>,
    pub task: tokio::task::JoinHandle<()>,
}

/// What a server is started with.
#[derive(Clone, Default)]
pub struct Opts {
    pub cookie_cache: Option<Duration>,
    pub rate_limit: bool,
    pub secure: bool,
    pub fresh_age: Option<Duration>,
    /// The in-process session validation cache on (default settings).
    pub session_cache: bool,
    /// Users delete their account through a mailed link.
    pub delete_link: bool,
    /// How `/sso/verify-domain` checks a domain.
    pub domain_check: Option<Arc<dyn neutrino_auth::sso::DomainCheck>>,
    /// SSO providers may be plain `http` on loopback (the test identity
    /// provider).
    pub sso_loopback: bool,
}

pub async fn server() -> Server {
    server_with(Opts::default()).await
}

pub async fn server_with(opts: Opts) -> Server {
    let folder = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = format!("http://{addr}");
    let mailer = Arc::new(RecordingMailer::new());
    let platforms = LocalPlatforms::open(folder.path()).await.unwrap();
    let url = if opts.secure {
        format!("https://{addr}")
    } else {
        origin.clone()
    };
    let m = Arc::clone(&mailer);
    let o = origin.clone();
    let secure = opts.secure;
    let fresh = opts.fresh_age;
    let session_cache = opts.session_cache;
    let delete_link = opts.delete_link;
    let sso_loopback = opts.sso_loopback;
    let platform = platforms
        .platform("web", SECRET)
        .with_auth(move |a| {
            let mut a = a
                .with_base_url(url)
                .with_cookies(CookieConfig {
                    secure,
                    domain: CookieDomain::HostOnly,
                    ..CookieConfig::default()
                })
                .with_trusted_origins([o])
                .with_mailer(m)
                .with_users(UserConfig {
                    delete_user: true,
                    change_email: true,
                })
                .with_delete_user_verification(delete_link)
                .with_insecure_loopback_sso(sso_loopback);
            if let Some(f) = fresh {
                a = a.with_session(SessionConfig {
                    fresh_age: f,
                    ..SessionConfig::default()
                });
            }
            if session_cache {
                a = a.with_session_cache(neutrino_auth::SessionCacheConfig::default());
            }
            a
        })
        .build()
        .await
        .unwrap();
    let mut api = AuthApi::new(platform.clone());
    if let Some(age) = opts.cookie_cache {
        api = api.with_cookie_cache(age);
    }
    if !opts.rate_limit {
        api = api.without_rate_limit();
    }
    if let Some(check) = opts.domain_check.clone() {
        api = api.with_domain_check(check);
    }
    let app = api.router().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Server {
        _folder: folder,
        base: format!("{origin}/api/auth"),
        origin,
        http,
        platform,
        mailer,
        task,
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `Set-Cookie` of `name`, if any (the last one).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .rfind(|c| c.starts_with(&format!("{name}=")))
    }

    /// `name=value` pairs of the cookies set with a value, for a `Cookie`
    /// header.
    pub fn cookie_header(&self) -> String {
        cookie_header(&self.headers)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub async fn read(res: reqwest::Response) -> Res {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Res {
        status,
        headers,
        text,
    }
}

/// The TOTP code of `secret` now (6 digits, 30 s).
pub fn totp_now(secret: &[u8]) -> String {
    totp_at(secret, 0)
}

/// The TOTP code of `secret` `ahead` seconds from now.
pub fn totp_at(secret: &[u8], ahead: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    neutrino_auth::twofactor::totp(secret, now + ahead, 6)
}

impl Server {
    /// Makes `email` an admin the way an operator would: in the auth
    /// database.
    pub async fn make_admin(&self, email: &str) {
        use neutrino_core::sql::{SqlExecutor, Statement};
        self.auth_db()
            .await
            .execute(
                &Statement::new(r#"UPDATE "user" SET "role" = 'admin' WHERE "email" = ?1"#)
                    .bind(email),
            )
            .await
            .unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A JSON POST as the JS client sends it from a page on the trusted
    /// origin, with `cookie` if not empty.
    pub async fn post(&self, path: &str, cookie: &str, body: Value) -> Res {
        let mut req = self
            .http
            .post(self.url(path))
            .header("origin", &self.origin)
            .json(&body);
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        read(req.send().await.unwrap()).await
    }

    /// A GET with `cookie` if not empty.
    pub async fn get(&self, path: &str, cookie: &str) -> Res {
        let mut req = self.http.get(self.url(path));
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        read(req.send().await.unwrap()).await
    }

    /// Signs up `email` and returns the response (its cookies sign in).
    pub async fn sign_up(&self, email: &str) -> Res {
        let res = self
            .post(
                "/sign-up/email",
                "",
                serde_json::json!({"name": "Ada", "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        res
    }

    pub async fn sign_in(&self, email: &str) -> Res {
        let res = self.try_sign_in("", credentials(email)).await;
        assert_eq!(res.status, 200, "{}", res.text);
        res
    }

    /// A sign-in with `body` (see [`credentials`]) and `cookie` if not
    /// empty, whatever its answer.
    pub async fn try_sign_in(&self, cookie: &str, body: Value) -> Res {
        self.post("/sign-in/email", cookie, body).await
    }

    /// A sign-up with `body`, whatever its answer.
    pub async fn try_sign_up(&self, body: Value) -> Res {
        self.post("/sign-up/email", "", body).await
    }

    /// Signs up `email`; the `Cookie` header of its session.
    pub async fn cookie_of(&self, email: &str) -> String {
        self.sign_up(email).await.cookie_header()
    }

    /// Sends `req` (built on [`Server::http`]) as it is; its answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        read(req.send().await.unwrap()).await
    }

    /// A POST of `body` with `content_type` if any, and no origin or cookie.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Res {
        let mut req = self.http.post(self.url(path)).body(body);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        self.send(req).await
    }

    /// A POST of `{"password": password}` to `path`, as [`Server::post`].
    pub async fn post_password(&self, path: &str, cookie: &str, password: &str) -> Res {
        self.post(path, cookie, serde_json::json!({ "password": password }))
            .await
    }

    /// A POST of `/organization/{endpoint}`, as [`Server::post`].
    pub async fn org_post(&self, endpoint: &str, cookie: &str, body: Value) -> Res {
        self.post(&format!("/organization/{endpoint}"), cookie, body)
            .await
    }

    /// A GET of `/organization/{endpoint}` naming the organization `org`.
    pub async fn org_get(&self, endpoint: &str, org: &str, cookie: &str) -> Res {
        self.get(
            &format!("/organization/{endpoint}?organizationId={org}"),
            cookie,
        )
        .await
    }

    /// Creates the organization `name` (`slug`) as the holder of `cookie`;
    /// the answer's body.
    pub async fn create_org(&self, cookie: &str, name: &str, slug: &str) -> Value {
        let body = serde_json::json!({"name": name, "slug": slug});
        let res = self.org_post("create", cookie, body).await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json()
    }

    /// Invites with `body` as the holder of `cookie`; the answer's body.
    pub async fn invite(&self, cookie: &str, body: Value) -> Value {
        let res = self.org_post("invite-member", cookie, body).await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json()
    }

    /// Turns two-factor on for the holder of `cookie` (not yet verified);
    /// the setup's TOTP URI and backup codes.
    pub async fn enable_two_factor(&self, cookie: &str) -> TwoFactor {
        let res = self
            .post_password("/two-factor/enable", cookie, PASSWORD)
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let body = res.json();
        TwoFactor {
            uri: body["totpURI"].as_str().unwrap().to_owned(),
            backup_codes: body["backupCodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect(),
            body,
        }
    }

    /// Signs `email` up and turns two-factor on, verified with the TOTP
    /// code of now; the session's `Cookie` header and the setup.
    pub async fn two_factor_user(&self, email: &str) -> (String, TwoFactor) {
        let cookie = self.cookie_of(email).await;
        let setup = self.enable_two_factor(&cookie).await;
        let res = self
            .post(
                "/two-factor/verify-totp",
                &cookie,
                serde_json::json!({"code": totp_now(&setup.secret())}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        (cookie, setup)
    }

    /// The platform's auth database, opened beside the server, as an
    /// operator reaches it.
    pub async fn auth_db(&self) -> neutrino_sqlite::SqliteExecutor {
        let path = self._folder.path().join("databases").join(format!(
            "{}.sqlite",
            neutrino_core::naming::ResourceName::auth_database(self.platform.id()).as_str()
        ));
        neutrino_sqlite::SqliteExecutor::open(&path).await.unwrap()
    }
}

/// A two-factor setup, as `/two-factor/enable` answered it.
pub struct TwoFactor {
    /// The `otpauth://` URI.
    pub uri: String,
    /// The backup codes.
    pub backup_codes: Vec<String>,
    /// The whole answer.
    pub body: Value,
}

impl TwoFactor {
    /// The TOTP secret of the URI.
    pub fn secret(&self) -> Vec<u8> {
        secret_of(&self.uri)
    }
}

/// The secret of an `otpauth://` URI.
pub fn secret_of(uri: &str) -> Vec<u8> {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    neutrino_auth::testkit::base32_decode(b32)
}

/// The body of a sign-in of `email` with [`PASSWORD`].
pub fn credentials(email: &str) -> Value {
    serde_json::json!({"email": email, "password": PASSWORD})
}

/// `name=value` pairs of the cookies `headers` set with a value, for a
/// `Cookie` header.
pub fn cookie_header(headers: &HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| cookie_pair(v.to_str().unwrap()))
        .filter(|p| !p.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `name=value` part of a `Set-Cookie` value, for a `Cookie` header.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The `id` of an answer's body.
pub fn id_of(body: &Value) -> String {
    body["id"].as_str().unwrap().to_owned()
}

/// Awaits every status task: each must be `counted` or `other`; the number
/// that were `counted`.
pub async fn count_status(
    tasks: Vec<tokio::task::JoinHandle<u16>>,
    counted: u16,
    other: u16,
) -> usize {
    let mut n = 0;
    for t in tasks {
        match t.await.unwrap() {
            s if s == counted => n += 1,
            s if s == other => {}
            s => panic!("unexpected {s}"),
        }
    }
    n
}

/// A server with the session cookie cache on (five minutes).
pub async fn server_with_cookie_cache() -> Server {
    server_with(Opts {
        cookie_cache: Some(Duration::from_secs(300)),
        ..Opts::default()
    })
    .await
}

/// A server with the rate limits on, to share among tasks.
pub async fn rate_limited_server() -> Arc<Server> {
    Arc::new(
        server_with(Opts {
            rate_limit: true,
            ..Opts::default()
        })
        .await,
    )
}

/// Awaits every request task: none may fail with a 5xx; the number that
/// answered 200.
pub async fn count_ok(tasks: Vec<tokio::task::JoinHandle<Res>>) -> usize {
    let mut ok = 0;
    for t in tasks {
        let res = t.await.unwrap();
        assert!(res.status < 500, "{}", res.text);
        if res.status == 200 {
            ok += 1;
        }
    }
    ok
}
