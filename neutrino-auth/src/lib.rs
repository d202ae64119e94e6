//! # neutrino-auth
//!
//! Users, passwords, sessions and cookies for one Neutrino platform, data- and
//! wire-compatible with [Better Auth](https://www.better-auth.com): a database
//! written by Better Auth is used as is, its users sign in with their
//! passwords, its session cookies validate here, and sessions created here
//! validate in Better Auth.
//!
//! Every platform has its own auth database (`{p}-default-auth-db`); an
//! [`Auth`] works on that one database through the
//! [`SqlExecutor`](neutrino_core::sql::SqlExecutor) port.
//!
//! * [`schema`]: Better Auth's `user`, `session`, `account`, `verification`
//!   tables as migrations, plus an append-only audit log;
//! * [`password`]: a one-line [`password::PasswordPolicy`]: Better Auth's
//!   scrypt (default, never locks a user out of Better Auth) or argon2id;
//!   both formats verify, off the async executor;
//! * [`admin`]: Better Auth's admin plugin (roles, bans, impersonation,
//!   creating, updating and removing users, their sessions and passwords,
//!   permission checks) and [`user`]: update, change email, delete, list
//!   accounts;
//! * [`Auth::sign_up_email`], [`Auth::sign_in_email`], [`Auth::sign_out`] with
//!   Better Auth's error codes ([`AuthError::code`]);
//! * sessions: [`Auth::get_session`] with sliding expiry, revocation, an
//!   optional validation [`cache`];
//! * [`cookie`]: the signed `better-auth.session_token` cookie, platform-wide or
//!   host-only;
//! * [`origin`] checks and a [`rate_limit`]er for sign-in;
//! * password reset and email verification ([`verification`]) through a
//!   [`mail::Mailer`];
//! * [`org`]: organizations as registry tenants, members, tenant and platform
//!   roles ([`access`]), the active tenant and the
//!   [`TenantScope`](neutrino_tenancy::TenantScope) minted from it;
//! * [`invitation`]s by email, the only way in when sign-up is disabled (the
//!   secret mailed to the invitee, not the invitation's ID, proves the address);
//! * [`apikey`]s, stored hashed, verified into the same scopes;
//! * [`oauth`]: the OAuth 2.0 / OpenID Connect handshake (state, PKCE,
//!   nonce, ID tokens verified on `jsonwebtoken`, discovery and JWKS cached
//!   per issuer) and social sign-in (Google, GitHub, generic providers) on
//!   Better Auth's `account` table;
//! * [`twofactor`]: TOTP with encrypted secrets and single-use backup codes;
//! * [`sso`]: per-tenant SSO providers (Better Auth's `sso` plugin), verified
//!   email domains, the "SSO required" switch, just-in-time membership;
//! * the [`audit`] log;
//! * `testkit` (feature `testkit`): the auth conformance suite every SQL
//!   backend runs with `auth_suite!(factory)`: shared fixtures (a platform's
//!   `Auth` and `Organizations`, two tenants and their people, a second
//!   platform), the behaviour cases (sign-up, sign-in, sign-out, sessions,
//!   cookies, organizations and roles, invitations, two-factor, API keys,
//!   suspension, bad input), the race suite, and the cross-tenant matrix: one
//!   table over every public operation that takes a tenant, a record of one or
//!   another user's credential, kept complete by a scan of the sources.
//!
//! ## Components
//!
//! [`Auth`] is a thin assembly: each concern is its own type that never
//! imports `Auth`, and the sign-in and sign-up flows call them through narrow
//! interfaces. The modules form a graph without cycles (an arrow reads
//! "uses"):
//!
//! ```text
//! auth (Auth, AuthBuilder: assembly, sign-up and sign-in flows)
//!  ├─> session     SessionStore trait, DbSessions (sliding expiry, revocation)
//!  ├─> cache       CachingSessions: the validation cache wrapping a SessionStore
//!  ├─> credential  password accounts and the password check ─> password
//!  ├─> twofactor   TwoFactor: TOTP, backup codes, sign-in challenges
//!  ├─> verification Verifications: password reset, email verification
//!  ├─> origin      TrustedOrigins: the origin (CSRF) check
//!  ├─> cookie      SessionCookies
//!  ├─> rate_limit, gate (platform status before a write)
//!  └─> rows, audit, stmt, date, random, digest, error (shared helpers, one place each)
//!
//! org (Organizations: assembly; the public types are re-exported here)
//!  ├─> directory   Directory: organizations as registry tenants, the creation saga, reconcile
//!  ├─> active      ActiveTenant: the active organization, scope(); Scopes: minting
//!  ├─> apikey      ApiKeys: create, list, disable, verify into a scope
//!  ├─> invitation  Invitations: invite, accept, reject, cancel, sign up through one
//!  ├─> member      Members: standing, memberships, tenant and platform roles
//!  └─> caller      Callers: a session token to its caller, in one query
//! directory ─> member, caller;  active ─> directory, member, caller
//! apikey ─> active, member, caller;  invitation ─> member, caller
//! member ─> caller, access;  caller ─> auth, session, access
//! ```
//!
//! The organization components reach the registry only through the
//! platform's [`PlatformRegistry`](neutrino_tenancy::PlatformRegistry) view
//! and mint scopes with a minter restricted to that platform, so nothing
//! reached through one platform's [`org::Organizations`] names another
//! platform's tenant.
//!
//! Errors: [`AuthError`] carries Better Auth's codes; store errors are core's
//! [`neutrino_core::Error`] inside [`AuthError::Store`], with code and status
//! following their kind, and every `AuthError` converts into
//! `neutrino_core::Error` (the facade's `neutrino::Error`) by its kind.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> neutrino::auth::Result<()> {
//! use neutrino::auth::{Auth, RequestMeta, SignInEmail, SignUpEmail};
//!
//! let db = neutrino::sqlite::SqliteExecutor::memory().await?;
//! let auth = Auth::builder(db, "a secret of at least thirty-two bytes!").build()?;
//! auth.migrate().await?;
//!
//! let meta = RequestMeta::new("203.0.113.7", "doc-test");
//! let ada = auth
//!     .sign_up_email(SignUpEmail::new("Ada", "Ada@Example.com", "correct horse battery"), &meta)
//!     .await?
//!     .signed_in()
//!     .expect("no email verification required: signed in at once");
//! assert_eq!(ada.user.email, "ada@example.com");
//!
//! // The Set-Cookie header to send, and what the browser sends back.
//! let set_cookie = auth.cookies().session_cookie(&ada.session.token, true);
//! assert!(set_cookie.to_string().starts_with("better-auth.session_token="));
//! let found = auth.get_session_from_cookie(set_cookie.value()).await?.expect("valid");
//! assert_eq!(found.user.id, ada.user.id);
//!
//! let again = auth.sign_in_email(SignInEmail::new("ada@example.com", "correct horse battery"), &meta).await?;
//! auth.sign_out(&again.session.token, &meta).await?;
//! assert!(auth.get_session(&again.session.token).await?.is_none());
//!
//! let wrong = auth.sign_in_email(SignInEmail::new("ada@example.com", "wrong password"), &meta).await;
//! assert_eq!(wrong.unwrap_err().code(), "INVALID_EMAIL_OR_PASSWORD");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
mod active;
pub mod admin;
mod adopt;
pub mod apikey;
pub mod audit;
mod auth;
pub mod cache;
mod caller;
pub mod cookie;
mod credential;
pub mod date;
mod delegate;
mod digest;
mod directory;
pub mod email;
mod error;
mod gate;
pub mod invitation;
mod lifecycle;
pub mod mail;
mod member;
mod model;
pub mod oauth;
pub mod org;
pub mod origin;
pub mod password;
mod random;
pub mod rate_limit;
mod rows;
pub mod schema;
mod session;
pub mod sso;
mod stmt;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod twofactor;
pub mod user;
pub mod verification;

pub use auth::{Auth, AuthBuilder, ChangePassword, MAX_IMAGE_LEN, MAX_NAME_LEN, MIN_SECRET_LEN};
pub use cache::SessionCacheConfig;
pub use cookie::{CookieConfig, CookieDomain, CookieError, SessionCookies};
pub use error::{AuthError, Result};
pub use model::{
    AuthSession, MAX_JSON_BODY, RequestMeta, Session, SignInEmail, SignUpEmail, SignedIn, SignedUp,
    User,
};
pub use neutrino_core::ids::IdFormat;
pub use password::PasswordPolicy;
pub use rate_limit::RateLimitConfig;
pub use rows::MAX_META_LEN;
pub use session::{GetSessionOptions, SessionConfig};
pub use twofactor::{
    SignInOutcome, TRUST_DEVICE_TTL, TrustedSignIn, TwoFactorChallenge, TwoFactorSetup,
};
