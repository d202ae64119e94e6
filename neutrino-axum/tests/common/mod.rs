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
                .with_delete_user_verification(delete_link);
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
        self.set_cookies()
            .iter()
            .map(|c| c.split(';').next().unwrap().to_owned())
            .filter(|p| !p.ends_with('='))
            .collect::<Vec<_>>()
            .join("; ")
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    neutrino_auth::twofactor::totp(secret, now, 6)
}

impl Server {
    /// Makes `email` an admin the way an operator would: in the auth
    /// database.
    pub async fn make_admin(&self, email: &str) {
        use neutrino_core::sql::{SqlExecutor, Statement};
        let path = self._folder.path().join("databases").join(format!(
            "{}.sqlite",
            neutrino_core::naming::ResourceName::auth_database(self.platform.id()).as_str()
        ));
        let db = neutrino_sqlite::SqliteExecutor::open(&path).await.unwrap();
        db.execute(
            &Statement::new(r#"UPDATE "user" SET "role" = 'admin' WHERE "email" = ?1"#).bind(email),
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
        let res = self
            .post(
                "/sign-in/email",
                "",
                serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        res
    }
}
