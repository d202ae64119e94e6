//! A platform's Better Auth API, served from Rust on the embedded default.
//!
//! ```sh
//! cargo run --example auth_server --features axum -- <folder>
//! ```
//!
//! * `<folder>` keeps the platform (its registry, auth database and stack):
//!   a second run on the same folder keeps its users and their sessions.
//! * `NEUTRINO_ADDR`: where to listen (default `127.0.0.1:3000`).
//! * `NEUTRINO_TRUSTED_ORIGINS`: the origins trusted by the origin (CSRF)
//!   check, comma-separated (default: the server's own URL).
//! * `NEUTRINO_SECRET`: the secret that signs cookies and tokens (at least
//!   32 bytes). Without it, a secret is generated on the first run and kept
//!   in `<folder>/auth-secret` (readable by its owner only), so later runs
//!   accept the sessions of earlier ones.
//! * `NEUTRINO_RATE_LIMIT=off` turns rate limiting off (Better Auth's
//!   default outside production; on here otherwise).
//! * `NEUTRINO_COOKIE_CACHE=<seconds>` turns Better Auth's cookie cache
//!   (`session_data`) on with that lifetime (off by default, as in Better
//!   Auth).
//! * `NEUTRINO_SESSION_CACHE=off` turns the in-process session validation
//!   cache off (on by default: `get-session` and the other session reads
//!   skip the database for 60 s per session). This server is the only
//!   writer of its folder's auth database, and every sign-out, revocation,
//!   ban, role or user change goes through it and evicts the entries it
//!   touches at once (a read in flight during an eviction is not cached), so
//!   the cache changes no answer. Turn it off when another process (a
//!   second server, Better Auth) writes the same database: a revocation made
//!   there would show here only when the entry expires.
//!
//! It prints `listening on http://…` once it accepts connections. Point
//! Better Auth's JS client at it: `createAuthClient({ baseURL:
//! "http://127.0.0.1:3000" })`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use neutrino::auth::{CookieConfig, CookieDomain, SessionCacheConfig};
use neutrino::axum::api::AuthApi;
use neutrino::{LocalPlatforms, Platform};

/// The platform's name in its folder.
const PLATFORM: &str = "auth-server";
/// The file that keeps a generated secret.
const SECRET_FILE: &str = "auth-secret";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the server runs with.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The platform's folder.
    pub(crate) folder: PathBuf,
    /// The address to listen on.
    pub(crate) addr: SocketAddr,
    /// Trusted origins; empty means the server's own URL.
    pub(crate) trusted_origins: Vec<String>,
    /// The secret, or `None` for the one kept in the folder.
    pub(crate) secret: Option<String>,
    /// Whether rate limiting is on.
    pub(crate) rate_limit: bool,
    /// The cookie cache's lifetime, if on.
    pub(crate) cookie_cache: Option<std::time::Duration>,
    /// Whether the in-process session validation cache is on.
    pub(crate) session_cache: bool,
}

impl Settings {
    /// The settings from the command line and the environment.
    pub(crate) fn from_env() -> Result<Self, BoxError> {
        let folder = std::env::args_os()
            .nth(1)
            .map(PathBuf::from)
            .ok_or("usage: auth_server <folder>")?;
        let addr = std::env::var("NEUTRINO_ADDR")
            .unwrap_or_else(|_| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| format!("NEUTRINO_ADDR: {e}"))?;
        let trusted_origins = std::env::var("NEUTRINO_TRUSTED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let secret = std::env::var("NEUTRINO_SECRET").ok();
        let rate_limit =
            !std::env::var("NEUTRINO_RATE_LIMIT").is_ok_and(|v| v.eq_ignore_ascii_case("off"));
        let cookie_cache = match std::env::var("NEUTRINO_COOKIE_CACHE") {
            Ok(v) => Some(std::time::Duration::from_secs(
                v.trim()
                    .parse()
                    .map_err(|e| format!("NEUTRINO_COOKIE_CACHE: {e}"))?,
            )),
            Err(_) => None,
        };
        let session_cache =
            !std::env::var("NEUTRINO_SESSION_CACHE").is_ok_and(|v| v.eq_ignore_ascii_case("off"));
        Ok(Self {
            folder,
            addr,
            trusted_origins,
            secret,
            rate_limit,
            cookie_cache,
            session_cache,
        })
    }
}

/// The secret kept in the folder, made on the first run.
fn folder_secret(folder: &Path) -> Result<String, BoxError> {
    use rand::TryRngCore;
    let path = folder.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().to_owned()),
        Ok(_) => return Err(format!("{} holds no usable secret", path.display()).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    use std::io::Write;
    opts.open(&path)?.write_all(secret.as_bytes())?;
    Ok(secret)
}

/// Serves until `shutdown` completes; `ready` gets the address once the
/// listener accepts connections.
pub(crate) async fn run(
    settings: Settings,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    std::fs::create_dir_all(&settings.folder)?;
    let secret = match &settings.secret {
        Some(s) if s.len() >= 32 => s.clone(),
        Some(_) => return Err("NEUTRINO_SECRET must be at least 32 bytes".into()),
        None => folder_secret(&settings.folder)?,
    };
    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let trusted = if settings.trusted_origins.is_empty() {
        vec![url.clone()]
    } else {
        settings.trusted_origins.clone()
    };
    let platforms = LocalPlatforms::open(&settings.folder).await?;
    let session_cache = settings.session_cache;
    let platform: Platform = platforms
        .platform(PLATFORM, secret)
        .with_auth(move |a| {
            let a = a
                .with_base_url(url)
                .with_cookies(CookieConfig {
                    secure: false,
                    domain: CookieDomain::HostOnly,
                    ..CookieConfig::default()
                })
                .with_trusted_origins(trusted);
            if session_cache {
                a.with_session_cache(SessionCacheConfig::default())
            } else {
                a
            }
        })
        .build()
        .await?;
    let mut api = AuthApi::new(platform);
    if !settings.rate_limit {
        api = api.without_rate_limit();
    }
    if let Some(age) = settings.cookie_cache {
        api = api.with_cookie_cache(age);
    }
    let app = api.router()?;
    ready(addr);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let settings = Settings::from_env()?;
    run(
        settings,
        |addr| println!("listening on http://{addr}"),
        std::future::pending(),
    )
    .await
}
