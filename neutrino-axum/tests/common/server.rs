//! The Rust server of the official-client test and the benchmark: one
//! platform on the embedded default, served by [`AuthApi`] on a free loopback
//! port, in this process, as the `auth_server` example serves it.

use std::net::SocketAddr;
use std::path::Path;

use neutrino_auth::{CookieConfig, CookieDomain, RequestMeta, SessionCacheConfig, SignUpEmail};
use neutrino_core::naming::ResourceName;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_platform::{LocalPlatforms, Platform};
use tokio::task::JoinHandle;

use neutrino_axum::api::AuthApi;

/// The secret of the test platform (at least 32 bytes).
const SECRET: &str = "official-client-secret-0123456789abcdef";

/// A server running in this process; stopped when dropped.
pub(crate) struct RustServer {
    /// Its origin, e.g. `http://127.0.0.1:41234`.
    pub(crate) url: String,
    /// The platform it serves.
    #[allow(dead_code)]
    pub(crate) platform: Platform,
    task: JoinHandle<()>,
}

impl Drop for RustServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves a platform kept in `folder` on `127.0.0.1:0` as the `auth_server`
/// example does (plain-HTTP host-only cookies, trusting its own origin, the
/// in-process session validation cache on), rate limits off (Better Auth's default outside production, which
/// is how the reference server runs). With `admin` (`email:password`), that
/// user is created first with the role `admin`, as a host app bootstraps its
/// first administrator.
pub(crate) async fn start(folder: &Path, admin: Option<&str>) -> RustServer {
    start_with(folder, admin, true).await
}

/// [`start`], with the session validation cache on or off.
pub(crate) async fn start_with(
    folder: &Path,
    admin: Option<&str>,
    session_cache: bool,
) -> RustServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let url = format!("http://{addr}");
    let local = LocalPlatforms::open(folder)
        .await
        .expect("open the platforms folder");
    let base = url.clone();
    let platform = local
        .platform("official-client", SECRET)
        .with_auth(move |a| {
            let a = a
                .with_base_url(base.clone())
                .with_cookies(CookieConfig {
                    secure: false,
                    domain: CookieDomain::HostOnly,
                    ..CookieConfig::default()
                })
                .with_trusted_origins([base]);
            if session_cache {
                a.with_session_cache(SessionCacheConfig::default())
            } else {
                a
            }
        })
        .build()
        .await
        .expect("the platform");
    if let Some(admin) = admin {
        let (email, password) = admin.split_once(':').expect("admin is email:password");
        platform
            .auth()
            .sign_up_email(
                SignUpEmail::new("Admin", email, password),
                &RequestMeta::new("127.0.0.1", "seed"),
            )
            .await
            .expect("seed the admin");
        let db = local
            .provisioner()
            .database(ResourceName::auth_database(platform.id()).as_str())
            .await
            .expect("the platform's auth database");
        db.execute(
            &Statement::new(r#"UPDATE "user" SET "role" = 'admin' WHERE "email" = ?1"#).bind(email),
        )
        .await
        .expect("make the seeded user an admin");
    }
    let app = AuthApi::new(platform.clone())
        .without_rate_limit()
        .router()
        .expect("the auth router");
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    RustServer {
        url,
        platform,
        task,
    }
}
