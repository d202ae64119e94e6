//! The world of the social sign-in tests (`tests/social.rs`,
//! `tests/account_social.rs`): a platform on the embedded default serving its
//! auth API on a real socket, with three providers of the test identity
//! provider on loopback (`acme` and `strict`, OIDC, `strict` without implicit
//! sign-up; `github`, GitHub's shape), and a browser that keeps its cookies.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use neutrino_auth::oauth::accounts::AccountLinking;
use neutrino_auth::testkit::idp::{IdpUser, TestIdp};
use neutrino_auth::{CookieConfig, CookieDomain};
use neutrino_axum::api::AuthApi;
use neutrino_platform::{LocalPlatforms, Platform};
use serde_json::Value;

/// The platform's secret.
pub const SECRET: &str = "a test secret of at least thirty-two bytes";

/// The server, its identity provider and what keeps them alive.
pub struct World {
    _folder: tempfile::TempDir,
    /// `http://127.0.0.1:port`.
    pub origin: String,
    /// The auth API's base URL.
    pub base: String,
    /// The identity provider; its current user signs in `subject-1`,
    /// `ada@example.com`, verified.
    pub idp: TestIdp,
    _platform: Platform,
}

impl World {
    /// A world with Better Auth's default account-linking options.
    pub async fn start() -> Self {
        Self::with_linking(AccountLinking::default()).await
    }

    /// A world with these account-linking options.
    pub async fn with_linking(linking: AccountLinking) -> Self {
        let idp = TestIdp::start(IdpUser::verified("subject-1", "ada@example.com")).await;
        let folder = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let platforms = LocalPlatforms::open(folder.path()).await.unwrap();
        let (o, acme, github) = (origin.clone(), idp.oidc_provider("acme"), idp.github());
        let strict = idp
            .oidc_provider("strict")
            .with_disable_implicit_sign_up(true);
        let platform = platforms
            .platform("web", SECRET)
            .with_auth(move |a| {
                a.with_base_url(o.clone())
                    .with_cookies(CookieConfig {
                        secure: false,
                        domain: CookieDomain::HostOnly,
                        ..CookieConfig::default()
                    })
                    .with_trusted_origins([o])
                    .with_social_provider(acme)
                    .with_social_provider(github)
                    .with_social_provider(strict)
                    .with_account_linking(linking)
            })
            .build()
            .await
            .unwrap();
        let app = AuthApi::new(platform.clone())
            .without_rate_limit()
            .router()
            .unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        World {
            _folder: folder,
            base: format!("{origin}/api/auth"),
            origin,
            idp,
            _platform: platform,
        }
    }
}

/// A browser: its cookies, no automatic redirects.
#[derive(Clone)]
pub struct Browser {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The cookies kept, by name.
    pub cookies: Vec<(String, String)>,
}

/// One answer as the browser saw it.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `location` header.
    pub location: Option<String>,
    /// Every `set-cookie` header.
    pub set_cookies: Vec<String>,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The error code of the body (empty when it has none).
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Whether the answer sets a session cookie.
    pub fn sets_session(&self) -> bool {
        self.set_cookies
            .iter()
            .any(|c| c.starts_with("better-auth.session_token=") && !c.contains("Max-Age=0"))
    }
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, set_cookies: &[String]) {
        for c in set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    /// The cookie called `name`.
    pub fn cookie(&self, name: &str) -> Option<(String, String)> {
        self.cookies.iter().find(|(k, _)| k == name).cloned()
    }

    /// Whether the browser holds a session cookie.
    pub fn has_session(&self) -> bool {
        self.cookie("better-auth.session_token").is_some()
    }

    /// Sends `req` with the browser's cookies and keeps the cookies set.
    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let req = if self.cookies.is_empty() {
            req
        } else {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req.header("cookie", header)
        };
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let body = res.text().await.unwrap();
        self.keep(&set_cookies);
        Answer {
            status,
            location,
            set_cookies,
            body,
        }
    }

    /// POSTs `body` as JSON to the auth API's `path`, from the server's origin.
    pub async fn post(&mut self, w: &World, path: &str, body: Value) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", w.base))
            .header("origin", &w.origin)
            .json(&body);
        self.send(req).await
    }

    /// `POST /sign-in/social` with `body`.
    pub async fn start(&mut self, w: &World, body: Value) -> Answer {
        self.post(w, "/sign-in/social", body).await
    }

    /// GETs `url`.
    pub async fn get(&mut self, url: &str) -> Answer {
        let req = self.http.get(url);
        self.send(req).await
    }
}
