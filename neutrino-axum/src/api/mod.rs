//! Better Auth 1.7.25's HTTP API for one platform, or for each platform the
//! [`gateway`](crate::gateway) routes to, under a base path (default
//! `/api/auth`).
//!
//! ```no_run
//! # async fn serve(platform: neutrino::Platform) -> Result<(), Box<dyn std::error::Error>> {
//! use neutrino::axum::api::AuthApi;
//!
//! let app = AuthApi::new(platform).router()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await?;
//! # Ok(()) }
//! ```
//!
//! Serve it with the connection's address
//! (`into_make_service_with_connect_info::<SocketAddr>`) or behind the
//! gateway (which inserts a [`ClientIp`](crate::ClientIp)): sessions record
//! the client's address and the rate limiter counts per address.
//!
//! # What a request goes through
//! In Better Auth's order:
//! 1. the rate limit (before routing, so unknown paths count too): 429 with
//!    `X-Retry-After` and `{"message":"Too many requests. Please try again
//!    later."}`;
//! 2. routing: an unknown path, a wrong method (there is no 405), `OPTIONS`,
//!    a trailing slash or `//` are 404 with an empty body;
//! 3. the body: `application/json` only (and forms on sign-in and sign-up),
//!    415 otherwise, 400 `BAD_REQUEST` for malformed JSON, 413 over
//!    [`MAX_BODY`];
//! 4. the origin check (§1.7 of Better Auth's rules, [`Auth::check_origin`])
//!    for every method but `GET`, `HEAD` and `OPTIONS`, and the callback
//!    URLs of the body and query (`callbackURL`, `redirectTo`,
//!    `errorCallbackURL`, `newUserCallbackURL`): a relative path or a
//!    trusted origin;
//! 5. the endpoint: its body is validated (400 `VALIDATION_ERROR`) before
//!    the session is looked at (401).
//!
//! # Endpoints
//! `POST /sign-up/email`, `POST /sign-in/email`, `POST /sign-out`,
//! `GET /get-session`, `GET /list-sessions`, `POST /revoke-session`,
//! `POST /revoke-sessions`, `POST /revoke-other-sessions`,
//! `POST /update-user`, `POST /change-password`, `POST /change-email`,
//! `POST /delete-user`, `GET /delete-user/callback` (deletion by a mailed
//! link when the platform's auth has
//! [`with_delete_user_verification`](neutrino_auth::AuthBuilder::with_delete_user_verification)),
//! `POST /verify-password`, `GET /list-accounts`, `POST /update-session`
//! (sessions have no additional fields: `No fields to update`),
//! `POST /request-password-reset`,
//! `GET /reset-password/:token`, `POST /reset-password`,
//! `POST /send-verification-email`, `GET /verify-email`, `GET /ok`,
//! `GET /error`.
//!
//! Social sign-in (the platform auth's social providers):
//! `POST /sign-in/social`, `GET /callback/:provider` (see the `social`
//! module: the state bound to the browser by a signed `{prefix}.state`
//! cookie, a 302 to the callback URL with the session cookie, or to the
//! error URL with `?error=<code>`). The caller's provider accounts
//! ([`neutrino_auth::oauth::accounts`]): `POST /link-social` (its callback
//! links instead of signing in), `POST /unlink-account`,
//! `POST /get-access-token`, `POST /refresh-token`, `GET /account-info`.
//!
//! The sso plugin (per-tenant OIDC providers, on the platform's
//! [`Sso`](neutrino_auth::sso::Sso)): `POST /sso/register`,
//! `GET /sso/providers`, `GET /sso/get-provider`, `POST /sso/update-provider`,
//! `POST /sso/delete-provider`,
//! `POST /sso/request-domain-verification`, `POST /sso/verify-domain`,
//! `POST /sign-in/sso` and `GET /sso/callback/:providerId` (see the `sso`
//! module: the handshake, state cookie and redirects of social sign-in,
//! the state bound to the one SSO provider it was issued for).
//!
//! The organization plugin, on the platform's organizations (its tenants):
//! `POST /organization/create`, `GET /organization/list`,
//! `POST /organization/set-active`, `GET /organization/get-full-organization`,
//! `GET /organization/get-organization`, `POST /organization/check-slug`,
//! `POST /organization/invite-member`, `POST /organization/accept-invitation`,
//! `POST /organization/reject-invitation`,
//! `POST /organization/cancel-invitation`,
//! `GET /organization/list-invitations`,
//! `GET /organization/list-user-invitations`,
//! `POST /organization/remove-member`, `POST /organization/update-member-role`,
//! `POST /organization/leave`, `GET /organization/get-active-member`,
//! `GET /organization/get-active-member-role`,
//! `GET /organization/list-members`, `POST /organization/update`,
//! `POST /organization/delete`, `GET /organization/get-invitation`,
//! `POST /organization/has-permission`. `get-full-organization` and
//! `get-organization` take `organizationId` or `organizationSlug` (the slug
//! wins) and `membersLimit`. Teams are off, as in Better Auth by default
//! (`teams.enabled`): their routes are 404.
//!
//! The two-factor plugin (TOTP and backup codes): `POST /two-factor/enable`,
//! `POST /two-factor/disable`, `POST /two-factor/get-totp-uri`,
//! `POST /two-factor/verify-totp` (with a
//! session: turns two-factor on; without: completes a sign-in through the
//! signed `two_factor` cookie), `POST /two-factor/generate-backup-codes`,
//! `POST /two-factor/verify-backup-code`; `send-otp` and `verify-otp` answer
//! 400 `OTP_NOT_CONFIGURED`. Trusted devices: `trustDevice: true` on a
//! sign-in's verify sets the signed `{prefix}.trust_device` cookie
//! (`<token>!trust-device-<32>`, Max-Age 30 days) and expires
//! `dont_remember`; a later password sign-in of that user with it skips the
//! second factor and gets a new one (the old one stops working).
//!
//! The api-key plugin: `POST /api-key/create`, `GET /api-key/get`,
//! `GET /api-key/list`, `POST /api-key/update` (`enabled` only: names and
//! lifetimes are set at creation), `POST /api-key/delete`. Verification
//! stays server-side, as in Better Auth (`/api-key/verify` is 404; the
//! host verifies with `Platform::scope_from_api_key`). Keys have no
//! metadata (`METADATA_DISABLED`, Better Auth's default).
//!
//! The admin plugin: `POST /admin/set-role`, `POST /admin/ban-user`,
//! `POST /admin/unban-user`, `GET /admin/list-users`,
//! `POST /admin/revoke-user-sessions`, `POST /admin/remove-user`,
//! `POST /admin/impersonate-user`, `POST /admin/stop-impersonating`,
//! `GET /admin/get-user`, `POST /admin/create-user`,
//! `POST /admin/update-user`, `POST /admin/list-user-sessions`,
//! `POST /admin/revoke-user-session`, `POST /admin/set-user-password`,
//! `POST /admin/has-permission`; every permission is checked by the library
//! against the caller's session read from the database (Better Auth's
//! default `admin` role, the platform's admin role names and
//! [`AdminConfig::admin_user_ids`](neutrino_auth::admin::AdminConfig)).
//! Impersonation follows Better Auth's cookie sequence: the session's
//! cookies deleted, the admin's session kept in the signed
//! `{prefix}.admin_session` cookie (`"<admin token>:<dont_remember>"`, the
//! session cookie's `Max-Age`), the impersonation session's cookie without
//! `Max-Age` with `dont_remember`; the impersonation session lasts an hour
//! and is never extended. `stop-impersonating` needs an impersonation
//! session, a validly signed `admin_session` and that session alive and the
//! impersonating admin's: it ends the impersonation session (once, however
//! many calls race), sets the admin's session cookie again and expires
//! `admin_session`.
//!
//! # Cookies
//! `{prefix}.session_token` (signed), `{prefix}.session_data` (the cookie
//! cache, when on: [`AuthApi::with_cookie_cache`]) and
//! `{prefix}.dont_remember` (and the admin plugin's `{prefix}.admin_session`),
//! named by the platform's
//! [`CookieConfig`](neutrino_auth::CookieConfig) (`__Secure-` in front when
//! it is secure, as Better Auth does for an `https` base URL), written in
//! Better Auth's attribute order `name=value; Max-Age=N; Domain=d; Path=/;
//! HttpOnly; Secure; SameSite=Lax`, and deleted with an empty value and
//! `Max-Age=0`. A request's cookies are read as better-call reads them: the
//! first occurrence of a name wins.
//!
//! # Better Auth's quirks: kept or fixed
//! | quirk (facts file §8) | here | why |
//! |---|---|---|
//! | a) organization `metadata` a string in some answers, an object in others | kept: an object from `create`, the stored text from `list`, `get-full-organization` and `set-active` | the JS client passes it through; a caller written against Better Auth parses what it expects |
//! | b) verify-totp while enabling returns the old token and user | **fixed**: the session is kept (not rotated), the answer is its token and the updated user | the answer matches the state it leaves |
//! | c) the cookie cache is not refreshed after organization changes | not applicable | the `session_data` cache here does not hold the active organization: every organization endpoint reads it from the database |
//! | d) `disableCookieCache=false` (and `disableRefresh=false`) mean *true* | **fixed**: `false`, `0` and an empty value mean false | the client sends `String(value)`; a caller asking for `false` gets what it asked for |
//! | e) the API-key session's `expiresAt` in ms instead of seconds | not applicable | an `x-api-key` header makes no session here (`enableSessionForAPIKeys` off, Better Auth's default); the host verifies keys with `Platform::scope_from_api_key` |
//! | f) `/api-key/verify` from the client is 404 | kept (unknown path) | verification stays server-side, as in Better Auth |
//! | g) `remove-member` without the permission answers 401 instead of 403 | **fixed**: 403 with the code | a missing permission is not a missing session: the client must not treat it as signed out |
//! | POST `/get-session` is 405 `METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED` | kept | `deferSessionRefresh` is not offered |
//! | the rate limiter counts every unknown path as its own key | **fixed**: unknown paths share one key per client | one key per random path lets a client grow the limiter's memory without bound |
//! | the `session_data` signature covers the payload only | **changed**: it also covers the platform's ID | platforms signed with one secret behind one gateway: a cache cookie of one is no session on another |
//! | `cancel-invitation` of another organization's invitation answers `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION` | **changed**: `INVITATION_NOT_FOUND`, as for an ID that does not exist | an outsider does not learn which invitation IDs exist |
//! | writes honour the `session_data` cookie cache (`update-user`) | **fixed**: every write reads the session from the database | a revoked session must not change anything, even while its cache cookie lives |
//! | `change-password` with `revokeOtherSessions` replaces the caller's session too | **changed**: the other sessions are revoked, the caller's is kept and its cookie re-sent (the answer's `token` is its token) | the caller keeps working; only the other sessions lose access |
//! | `GET /reset-password/:token` checks the token before redirecting | **changed**: it redirects with `?token=` without reading it; `POST /reset-password` answers `INVALID_TOKEN` | no lookup of a reset token without a password to set |
//! | `GET /verify-email` answers `user` for a change of address | **changed**: `user` is always `null` | the answer does not tell which kind of token it was |
//! | `GET /error` renders Better Auth's 9.6 kB page | **changed**: a short page with the code | same status and type, no third-party page |
//! | concurrent `stop-impersonating` calls each restore the admin's session | **fixed**: the impersonation session's deletion decides, one call restores it; the others answer 500 "Failed to find admin session" | one impersonation ends once |
//! | `stop-impersonating` may take the impersonation session from the cookie cache | **fixed**: the impersonation session and the admin's are read from the database | a revoked admin session is never restored |
//! | `admin/list-user-sessions` answers each session's token | **changed**: no tokens; `admin/revoke-user-session` takes a session's token or its ID | a token is a bearer credential: another admin's would let an admin act as them without impersonation's checks and audit |
//! | `admin/set-user-password` and a new `email` through `admin/update-user` reach admins too | **changed**: on an admin they need the right to impersonate admins (`YOU_CANNOT_IMPERSONATE_ADMINS` otherwise) | a new password, or an address a reset mail then follows, is impersonation by other means |
//! | `admin/create-user` checks only the password's maximum length | **changed**: sign-up's rules (`PASSWORD_TOO_SHORT` too) | one password policy |
//! | `data` of `admin/create-user` and `admin/update-user` takes any user field | **changed**: `role`, `image`, `emailVerified` (and `name`, `email` on update); other fields 400 `FIELD_NOT_ALLOWED` | bans go through `ban-user`, which ends the sessions in the same write |
//! | a trust cookie keeps working after two-factor is turned off and on again (only the cookie sent to `disable` is forgotten) | **fixed**: turning two-factor off or on forgets every trusted device of the user | a device trusted before must not skip a second factor set up since |
//! | a trust cookie used by two concurrent sign-ins gives two sessions | **fixed**: the old row is replaced in the batch that creates the session, only if it is still there | one trust value signs in once |
//! | `get-invitation` of someone else's invitation answers 403 `YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION` | **changed**: `INVITATION_NOT_FOUND`, as `accept-invitation` and `reject-invitation` answer | an outsider does not learn which invitation IDs exist |
//! | a deletion link opened by another signed-in user is consumed (and fails) | **changed**: it fails without being consumed | a visitor cannot spend someone else's link |
//! | the user and session objects carry the plugins' fields (`twoFactorEnabled`, `role`, `banned`, `activeOrganizationId`, …) | **changed**: the core fields only (the admin endpoints' users carry `role`, `banned`, `banReason`, `banExpires`) | the library's records; the JS client reads none of them to work |
//! | a social or SSO sign-in whose provider vouches for the address links to an existing user who never proved it, who keeps the password and sessions | **changed**: that user's password, sessions, API keys and second factor are removed and the address verified, in the same write as the link | whoever signed up first with another person's address (and so knows the password) keeps no way into the account its owner now signs in to |
//!
//! [`Auth::check_origin`]: neutrino_auth::Auth::check_origin

mod admin;
mod api_key;
mod cookies;
mod core;
mod org;
mod session;
mod social;
mod sso;
mod two_factor;
mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use neutrino_auth::RateLimitConfig;
use neutrino_auth::origin::OriginRequest;
use neutrino_auth::rate_limit::RateLimiter;
use neutrino_auth::sso::DomainCheck;
use neutrino_core::clock::system_clock;
use neutrino_core::kv::KvStore;
use neutrino_core::memory::MemoryKv;
use neutrino_platform::Platform;
use serde_json::Value;

use crate::ApiError;
use crate::context::{platform_of, request_meta};
use cookies::{CookieCache, CookieJar, RequestCookies};
use wire::{Body, parse_body, parse_query};

/// Longest request body read, in bytes; a longer one is 413.
pub const MAX_BODY: usize = 64 * 1024;

/// Most bytes of a body read to answer a request whose body is too large
/// (beyond, the connection is closed).
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Better Auth's default base path.
pub const DEFAULT_BASE_PATH: &str = "/api/auth";

/// Better Auth's default cookie-cache lifetime (`session.cookieCache.maxAge`).
pub const DEFAULT_COOKIE_CACHE_MAX_AGE: Duration = Duration::from_secs(300);

/// Longest cookie lifetime Better Auth accepts (400 days).
const MAX_COOKIE_AGE: Duration = Duration::from_secs(400 * 24 * 3600);

/// Better Auth's HTTP API as an axum [`Router`]: the configuration and the
/// one call that makes the router ([`AuthApi::router`]).
///
/// * one platform: [`AuthApi::new`] with its [`Platform`]; the router
///   inserts it into every request;
/// * many platforms behind the [`gateway`](crate::gateway) layer, which
///   inserts each request's platform: [`AuthApi::for_gateway`].
///
/// Rate limiting is on with Better Auth's production rules (100 requests per
/// 10 s per client and path; 3 per 10 s on `/sign-in*`, `/sign-up*`,
/// `/change-password*`, `/change-email*` and `/two-factor/*`; 3 per 60 s on
/// `/request-password-reset` and `/send-verification-email`), counted in
/// memory per process unless [`AuthApi::with_rate_limit_store`] gives a
/// shared store; [`AuthApi::without_rate_limit`] turns it off (Better Auth's
/// default outside production).
#[derive(Clone)]
pub struct AuthApi {
    platform: Option<Platform>,
    base_path: String,
    cookie_cache: Option<Duration>,
    rate_limit: bool,
    rate_limit_store: Option<Arc<dyn KvStore>>,
    domain_check: Option<Arc<dyn DomainCheck>>,
}

impl fmt::Debug for AuthApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthApi")
            .field("platform", &self.platform.as_ref().map(Platform::id))
            .field("base_path", &self.base_path)
            .field("cookie_cache", &self.cookie_cache)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl AuthApi {
    /// The API of one platform, under `/api/auth`, cookie cache off, rate
    /// limits on.
    pub fn new(platform: Platform) -> Self {
        Self {
            platform: Some(platform),
            ..Self::for_gateway()
        }
    }

    /// The API of whichever platform the gateway layer inserted into the
    /// request (without one, a request is a 500 saying so).
    pub fn for_gateway() -> Self {
        Self {
            platform: None,
            base_path: DEFAULT_BASE_PATH.into(),
            cookie_cache: None,
            rate_limit: true,
            rate_limit_store: None,
            domain_check: None,
        }
    }

    /// How `POST /sso/verify-domain` checks a domain's proof: a
    /// [`neutrino_auth::sso::DnsTxtCheck`] over a
    /// [`neutrino_auth::sso::DnsResolver`], or a
    /// [`neutrino_auth::sso::HttpTokenCheck`]. Without one, no domain
    /// verifies over HTTP (502 `DOMAIN_VERIFICATION_FAILED`).
    pub fn with_domain_check(mut self, check: Arc<dyn DomainCheck>) -> Self {
        self.domain_check = Some(check);
        self
    }

    /// Serves under `path` instead of `/api/auth` (Better Auth's
    /// `basePath`); checked by [`AuthApi::router`].
    pub fn with_base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = path.into();
        self
    }

    /// Turns on Better Auth's cookie cache (`session.cookieCache`): a signed
    /// `session_data` cookie that answers `GET /get-session` for `max_age`
    /// (Better Auth's default: [`DEFAULT_COOKIE_CACHE_MAX_AGE`]) without a
    /// database read. A revoked session stays visible to `get-session` until
    /// the cookie expires (as in Better Auth); every write reads the
    /// database. Checked by [`AuthApi::router`]: 1 s to 400 days.
    pub fn with_cookie_cache(mut self, max_age: Duration) -> Self {
        self.cookie_cache = Some(max_age);
        self
    }

    /// Turns rate limiting off.
    pub fn without_rate_limit(mut self) -> Self {
        self.rate_limit = false;
        self
    }

    /// Counts the rate limits in `store` (which must count atomically), e.g.
    /// to share them between processes.
    pub fn with_rate_limit_store(mut self, store: Arc<dyn KvStore>) -> Self {
        self.rate_limit_store = Some(store);
        self.rate_limit = true;
        self
    }

    /// The router: every path under the base path goes to the API; the host
    /// may merge it with its own routes.
    ///
    /// Errors: [`neutrino_core::Error::InvalidInput`] for a base path that is
    /// not `/` followed by letters, digits and `-._~/` (without `//` or a
    /// trailing `/`), or a cookie-cache lifetime outside 1 s to 400 days;
    /// [`neutrino_core::Error::Config`] for a rate-limit store that cannot
    /// count atomically.
    pub fn router(self) -> neutrino_core::Result<Router> {
        let base = self.base_path.trim_end_matches('/').to_owned();
        let valid_base = base.is_empty()
            || (base.starts_with('/')
                && !base.contains("//")
                && base
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b)));
        if !valid_base {
            return Err(neutrino_core::Error::invalid(
                "base path",
                "must be / followed by letters, digits and -._~/",
            ));
        }
        if let Some(age) = self.cookie_cache
            && (age < Duration::from_secs(1) || age > MAX_COOKIE_AGE)
        {
            return Err(neutrino_core::Error::invalid(
                "cookie cache max age",
                "must be between 1 s and 400 days",
            ));
        }
        let limits = if self.rate_limit {
            let kv = self
                .rate_limit_store
                .unwrap_or_else(|| Arc::new(MemoryKv::new()));
            Some(RateLimits::new(kv).map_err(neutrino_core::Error::from)?)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            base: base.clone(),
            cookie_cache: self.cookie_cache,
            limits,
            domain_check: self.domain_check,
        });
        let router = Router::new()
            .route(&format!("{base}/{{*rest}}"), any(dispatch))
            .with_state(shared);
        Ok(match self.platform {
            Some(p) => router.layer(axum::Extension(p)),
            None => router,
        })
    }
}

/// Better Auth's rate-limit rules, each a [`RateLimiter`] over one store.
struct RateLimits {
    default: RateLimiter,
    strict: RateLimiter,
    slow: RateLimiter,
}

impl RateLimits {
    fn new(kv: Arc<dyn KvStore>) -> neutrino_auth::Result<Self> {
        let rule = |window, max| {
            RateLimiter::new(
                Arc::clone(&kv),
                RateLimitConfig {
                    window: Duration::from_secs(window),
                    max,
                },
                system_clock(),
            )
        };
        Ok(Self {
            default: rule(10, 100)?,
            strict: rule(10, 3)?,
            slow: rule(60, 3)?,
        })
    }

    /// The rule of a path (without the base path).
    fn rule(&self, path: &str) -> &RateLimiter {
        if [
            "/sign-in",
            "/sign-up",
            "/change-password",
            "/change-email",
            "/two-factor/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
        {
            &self.strict
        } else if path == "/request-password-reset"
            || path == "/send-verification-email"
            || path.starts_with("/forget-password")
        {
            &self.slow
        } else {
            &self.default
        }
    }
}

struct Shared {
    base: String,
    cookie_cache: Option<Duration>,
    limits: Option<RateLimits>,
    domain_check: Option<Arc<dyn DomainCheck>>,
}

/// The endpoints served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    SignUpEmail,
    SignInEmail,
    SignOut,
    GetSession,
    GetSessionPost,
    ListSessions,
    RevokeSession,
    RevokeSessions,
    RevokeOtherSessions,
    UpdateUser,
    ChangePassword,
    ChangeEmail,
    DeleteUser,
    DeleteUserCallback,
    VerifyPassword,
    ListAccounts,
    UpdateSession,
    RequestPasswordReset,
    ResetPasswordCallback,
    ResetPassword,
    SendVerificationEmail,
    VerifyEmail,
    Ok,
    Error,
    Org(org::OrgRoute),
    TwoFactor(two_factor::TwoFactorRoute),
    ApiKey(api_key::ApiKeyRoute),
    Admin(admin::AdminRoute),
    Social(social::SocialRoute),
    Sso(sso::SsoRoute),
}

fn route(method: &Method, path: &str) -> Option<Route> {
    use Route::*;
    let get = method == Method::GET;
    let post = method == Method::POST;
    let r = match path {
        "/sign-up/email" if post => SignUpEmail,
        "/sign-in/email" if post => SignInEmail,
        "/sign-out" if post => SignOut,
        "/get-session" if get => GetSession,
        "/get-session" if post => GetSessionPost,
        "/list-sessions" if get => ListSessions,
        "/revoke-session" if post => RevokeSession,
        "/revoke-sessions" if post => RevokeSessions,
        "/revoke-other-sessions" if post => RevokeOtherSessions,
        "/update-user" if post => UpdateUser,
        "/change-password" if post => ChangePassword,
        "/change-email" if post => ChangeEmail,
        "/delete-user" if post => DeleteUser,
        "/delete-user/callback" if get => DeleteUserCallback,
        "/verify-password" if post => VerifyPassword,
        "/list-accounts" if get => ListAccounts,
        "/update-session" if post => UpdateSession,
        "/request-password-reset" if post => RequestPasswordReset,
        "/reset-password" if post => ResetPassword,
        "/send-verification-email" if post => SendVerificationEmail,
        "/verify-email" if get => VerifyEmail,
        "/ok" if get => Ok,
        "/error" if get => Error,
        p if get
            && p.strip_prefix("/reset-password/")
                .is_some_and(|t| !t.is_empty() && !t.contains('/')) =>
        {
            ResetPasswordCallback
        }
        p => {
            return org::route(get, post, p)
                .map(Org)
                .or_else(|| two_factor::route(post, p).map(TwoFactor))
                .or_else(|| api_key::route(get, post, p).map(ApiKey))
                .or_else(|| admin::route(get, post, p).map(Admin))
                .or_else(|| social::route(get, post, p).map(Social))
                .or_else(|| sso::route(get, post, p).map(Sso));
        }
    };
    Some(r)
}

/// One request, parsed, as every endpoint reads it.
pub(crate) struct Ctx {
    pub(crate) platform: Platform,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Body,
    pub(crate) cookies: RequestCookies,
    pub(crate) meta: neutrino_auth::RequestMeta,
    pub(crate) jar: CookieJar,
    pub(crate) cache: Option<CookieCache>,
    pub(crate) domain_check: Option<Arc<dyn DomainCheck>>,
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

async fn dispatch(State(api): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let platform = match platform_of(&parts.extensions) {
        Ok(p) => p.clone(),
        Err(e) => return e.into_response(),
    };
    let meta = request_meta(&parts.extensions, &parts.headers);
    let Some(path) = parts.uri.path().strip_prefix(api.base.as_str()) else {
        return not_found();
    };
    let path = path.to_owned();
    let found = route(&parts.method, &path);
    // The body is read before any answer, so that an early answer (404,
    // 429) does not leave it unread on the connection.
    let bytes = axum::body::to_bytes(HttpBody::new(body), DRAIN_LIMIT)
        .await
        .ok();

    // 1. The rate limit, before routing: Better Auth's key is the client and
    // the path without trailing slashes; unknown paths share one key.
    if let Some(limits) = &api.limits {
        let counted = match found {
            Some(_) => path.trim_end_matches('/'),
            None => "/*unknown*",
        };
        let ip = meta.ip_address.as_deref().unwrap_or("no-trusted-ip");
        let key = format!("{}{counted}", platform.id());
        if let Err(e) = limits.rule(counted).check(ip, &key).await {
            return ApiError::from(e).into_response();
        }
    }

    // 2. Routing.
    let Some(found) = found else {
        return not_found();
    };

    // 3. The body (read whole even when oversized, up to a bound, so the
    // connection stays usable and the client gets the answer).
    let bytes = match bytes {
        Some(b) if b.len() <= MAX_BODY => b,
        _ => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body is too large",
            )
            .into_response();
        }
    };
    let is_sign_in_or_up = matches!(found, Route::SignInEmail | Route::SignUpEmail);
    let body = if parts.method == Method::GET {
        Body::None
    } else {
        match parse_body(&parts.headers, &bytes, is_sign_in_or_up) {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        }
    };
    let query = parse_query(parts.uri.query());
    let cookies = RequestCookies::parse(
        parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.as_bytes()),
    );

    // 4. The origin check and the callback URLs.
    if parts.method != Method::GET
        && let Err(e) = check_origin(
            &platform,
            &parts.method,
            &parts.headers,
            &cookies,
            is_sign_in_or_up,
            &body,
            &query,
        )
    {
        return e.into_response();
    }

    let auth = platform.auth();
    let jar = CookieJar::new(auth.cookies());
    let ctx = Ctx {
        cache: api
            .cookie_cache
            .map(|age| CookieCache::new(age, platform.id().to_string())),
        platform,
        path,
        query,
        body,
        cookies,
        meta,
        jar,
        domain_check: api.domain_check.clone(),
    };
    // 5. The endpoint.
    let result = core::handle(found, &ctx).await;
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The callback-URL fields Better Auth's router checks on every non-GET
/// request, with their error code.
const CALLBACK_FIELDS: [(&str, &str, &str); 4] = [
    ("callbackURL", "INVALID_CALLBACK_URL", "Invalid callbackURL"),
    ("redirectTo", "INVALID_REDIRECT_URL", "Invalid redirectURL"),
    (
        "errorCallbackURL",
        "INVALID_ERROR_CALLBACK_URL",
        "Invalid errorCallbackURL",
    ),
    (
        "newUserCallbackURL",
        "INVALID_NEW_USER_CALLBACK_URL",
        "Invalid newUserCallbackURL",
    ),
];

fn header_str<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Better Auth's `originCheckMiddleware` and `formCsrfMiddleware`.
fn check_origin(
    platform: &Platform,
    method: &Method,
    headers: &axum::http::HeaderMap,
    cookies: &RequestCookies,
    is_sign_in_or_up: bool,
    body: &Body,
    query: &[(String, String)],
) -> Result<(), ApiError> {
    let auth = platform.auth();
    // A header that is not text is no origin at all.
    let origin = match headers.get(header::ORIGIN) {
        Some(v) => Some(v.to_str().unwrap_or("null")),
        None => None,
    };
    let req = OriginRequest {
        method: method.as_str(),
        has_cookies: cookies.present,
        origin,
        referer: header_str(headers, "referer"),
        sec_fetch_site: header_str(headers, "sec-fetch-site"),
        sec_fetch_mode: header_str(headers, "sec-fetch-mode"),
        sec_fetch_dest: header_str(headers, "sec-fetch-dest"),
        is_sign_in_or_up: is_sign_in_or_up && !cookies.present,
        callback_urls: Vec::new(),
    };
    // Better Auth: `Origin: null` with `Sec-Fetch-Site: same-origin` is the
    // request's own origin.
    let same_origin_null = origin.is_some_and(|o| o.trim() == "null")
        && req
            .sec_fetch_site
            .is_some_and(|s| s.eq_ignore_ascii_case("same-origin"));
    let req = if same_origin_null {
        OriginRequest {
            has_cookies: false,
            is_sign_in_or_up: false,
            ..req
        }
    } else if is_sign_in_or_up && cookies.present {
        OriginRequest {
            is_sign_in_or_up: false,
            ..req
        }
    } else {
        req
    };
    auth.check_origin(&req)?;
    let object = match body {
        Body::Json(Value::Object(m)) => Some(m),
        _ => None,
    };
    for (field, code, message) in CALLBACK_FIELDS {
        let from_body = object.and_then(|m| m.get(field));
        let mut values: Vec<&str> = Vec::new();
        match from_body {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => values.push(s),
            Some(_) => {
                return Err(ApiError::message_only(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid {field}: expected a string"),
                ));
            }
        }
        if field == "callbackURL"
            && let Some(q) = wire::query_get(query, field)
        {
            values.push(q);
        }
        if values.iter().any(|u| !auth.is_safe_callback(u)) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, code, message));
        }
    }
    Ok(())
}
