//! [`Auth`]: sign-up, sign-in, sign-out, sessions and password changes on one
//! platform's auth database; [`AuthBuilder`] configures it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use neutrino_core::clock::{SharedClock, millis_since_epoch, system_clock};
use neutrino_core::ids::{IdFormat, UserId};
use neutrino_core::kv::KvStore;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_tenancy::PlatformRegistry;
use tracing::Instrument;

use crate::admin::AdminConfig;
use crate::audit::{self, AuditEntry, AuditEvent, AuditRecord, Operator, WriteAudited};
use crate::cache::{CachingSessions, MAX_CACHE_TTL, SessionCacheConfig};
use crate::cookie::{CookieConfig, SessionCookies};
use crate::credential::{CREDENTIAL, Credentials};
use crate::date;
use crate::delegate::delegate;
use crate::email::normalize_email;
use crate::error::{AuthError, Result};
use crate::gate::PlatformGate;
use crate::mail::Mailer;
use crate::model::{
    AuthSession, RequestMeta, Session, SignInEmail, SignUpEmail, SignedIn, SignedUp, User,
};
use crate::oauth::discovery::DEFAULT_JWKS_REFETCH_INTERVAL;
use crate::oauth::social::Social;
use crate::oauth::{OAuthClient, ProviderConfig};
use crate::origin::{OriginRequest, TrustedOrigins, origin_of};
use crate::password::{
    NormalizedPassword, PasswordConfig, PasswordPolicy, Passwords, Verification,
};
use crate::random::random_id;
use crate::rate_limit::{RateLimitConfig, RateLimiter};
use crate::rows::{self, parse_user_id, user_from_row};
use crate::schema::MIGRATIONS;
use crate::session::{
    self, DbSessions, GetSessionOptions, INSERT_SESSION_SELECT, Revoke, SessionConfig, SessionStore,
};
use crate::twofactor::{
    SignInOutcome, TrustedSignIn, TwoFactor, TwoFactorChallenge, TwoFactorSetup,
};
use crate::user::UserConfig;
use crate::verification::{VerificationParts, Verifications};

/// Better Auth's development default secret, refused here.
const DEFAULT_SECRET: &str = "better-auth-secret-12345678901234567890";
/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Longest accepted display name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Longest accepted image URL, in bytes.
pub const MAX_IMAGE_LEN: usize = 2048;

/// What [`Auth::change_password`] takes.
#[derive(Clone)]
pub struct ChangePassword {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
    /// End every other session of the user.
    pub revoke_other_sessions: bool,
}

impl fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePassword")
            .field("revoke_other_sessions", &self.revoke_other_sessions)
            .finish_non_exhaustive()
    }
}

/// Configures an [`Auth`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::auth::Result<()> {
/// use std::time::Duration;
/// use neutrino::auth::{AuthBuilder, SessionCacheConfig};
/// let db = neutrino::sqlite::SqliteExecutor::memory().await?;
/// let auth = AuthBuilder::new(db, "a secret of at least thirty-two bytes!")
///     .with_base_url("https://auth.svc.default.k3m9p2xw7q.nno.app")
///     .with_disable_sign_up(true)
///     .with_session_cache(SessionCacheConfig { ttl: Duration::from_secs(30), max_entries: 1000 })
///     .build()?;
/// assert!(format!("{auth:?}").contains("disable_sign_up: true"));
/// # Ok(()) }
/// ```
pub struct AuthBuilder {
    db: Arc<dyn SqlExecutor>,
    secret: Vec<u8>,
    clock: SharedClock,
    base_url: Option<String>,
    base_path: String,
    session: SessionConfig,
    cookies: CookieConfig,
    passwords: PasswordConfig,
    disable_sign_up: bool,
    require_email_verification: bool,
    revoke_sessions_on_password_reset: bool,
    rehash_legacy_passwords: bool,
    trusted_origins: Vec<String>,
    cache: Option<SessionCacheConfig>,
    rate_limit: Option<(Arc<dyn KvStore>, RateLimitConfig)>,
    mailer: Option<Arc<dyn Mailer>>,
    id_format: IdFormat,
    admin: AdminConfig,
    users: UserConfig,
    delete_by_link: bool,
    social_providers: Vec<ProviderConfig>,
    encrypt_oauth_tokens: bool,
    account_linking: crate::oauth::accounts::AccountLinking,
    jwks_refetch_interval: Duration,
    sso_insecure_loopback: bool,
}

impl fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("db", &self.db)
            .field("base_url", &self.base_url)
            .field("disable_sign_up", &self.disable_sign_up)
            .finish_non_exhaustive()
    }
}

impl AuthBuilder {
    /// Auth on `db` (the platform's auth database), signing cookies and tokens
    /// with `secret` (Better Auth's `BETTER_AUTH_SECRET`: at least 32 bytes).
    pub fn new(db: impl SqlExecutor, secret: impl Into<Vec<u8>>) -> Self {
        Self::new_shared(Arc::new(db), secret)
    }

    /// Like [`AuthBuilder::new`], with a shared executor.
    pub fn new_shared(db: Arc<dyn SqlExecutor>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            db,
            secret: secret.into(),
            clock: system_clock(),
            base_url: None,
            base_path: "/api/auth".into(),
            session: SessionConfig::default(),
            cookies: CookieConfig::default(),
            passwords: PasswordConfig::default(),
            disable_sign_up: false,
            require_email_verification: false,
            revoke_sessions_on_password_reset: false,
            rehash_legacy_passwords: true,
            trusted_origins: Vec::new(),
            cache: None,
            rate_limit: None,
            mailer: None,
            id_format: IdFormat::default(),
            admin: AdminConfig::default(),
            users: UserConfig::default(),
            delete_by_link: false,
            social_providers: Vec::new(),
            encrypt_oauth_tokens: true,
            account_linking: crate::oauth::accounts::AccountLinking::default(),
            jwks_refetch_interval: DEFAULT_JWKS_REFETCH_INTERVAL,
            sso_insecure_loopback: false,
        }
    }

    /// Which password hashes are written (default
    /// [`PasswordPolicy::BetterAuthCompatible`]: Better Auth's scrypt, so
    /// every user can still sign in on Better Auth); see
    /// [`crate::password`] for when to pick [`PasswordPolicy::Argon2id`].
    pub fn with_password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.passwords.policy = policy;
        self
    }

    /// The format of the user IDs this platform writes, as Better Auth's
    /// `advanced.database.generateId` (default [`IdFormat::BetterAuth`];
    /// [`IdFormat::Uuid`] for `generateId: "uuid"`). IDs of both formats are
    /// read whatever this says.
    pub fn with_id_format(mut self, format: IdFormat) -> Self {
        self.id_format = format;
        self
    }

    /// Better Auth's admin plugin options: the admin role names, the
    /// impersonation lifetime, ban defaults.
    pub fn with_admin(mut self, admin: AdminConfig) -> Self {
        self.admin = admin;
        self
    }

    /// Better Auth's `user` options: whether users may delete themselves and
    /// change their email address.
    pub fn with_users(mut self, users: UserConfig) -> Self {
        self.users = users;
        self
    }

    /// The clock (default: the system clock).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The auth server's public URL, e.g. `https://auth.svc.default.{p}.nno.app`:
    /// its origin is trusted, and email links start with it.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The path of the auth routes under the base URL (default `/api/auth`).
    pub fn with_base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = path.into();
        self
    }

    /// Session lifetimes.
    pub fn with_session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Cookie naming and scope; `max_age` is replaced by the session's
    /// `expires_in`.
    pub fn with_cookies(mut self, cookies: CookieConfig) -> Self {
        self.cookies = cookies;
        self
    }

    /// Password length limits and hashing parameters (its `policy` is what
    /// [`AuthBuilder::with_password_policy`] sets).
    pub fn with_passwords(mut self, passwords: PasswordConfig) -> Self {
        self.passwords = passwords;
        self
    }

    /// Refuse sign-up (invitation-only platforms).
    pub fn with_disable_sign_up(mut self, disable: bool) -> Self {
        self.disable_sign_up = disable;
        self
    }

    /// Refuse sign-in until the email is verified.
    pub fn with_require_email_verification(mut self, require: bool) -> Self {
        self.require_email_verification = require;
        self
    }

    /// End every session of a user whose password is reset.
    pub fn with_revoke_sessions_on_password_reset(mut self, revoke: bool) -> Self {
        self.revoke_sessions_on_password_reset = revoke;
        self
    }

    /// Replace a hash that is not in the password policy's format (or is
    /// argon2id with weaker parameters) at the next successful sign-in
    /// (default `true`). Under [`PasswordPolicy::BetterAuthCompatible`] that
    /// only ever turns argon2 hashes into Better Auth's scrypt; under
    /// [`PasswordPolicy::Argon2id`] it turns Better Auth's scrypt hashes into
    /// argon2id, which stock Better Auth cannot verify.
    pub fn with_rehash_legacy_passwords(mut self, rehash: bool) -> Self {
        self.rehash_legacy_passwords = rehash;
        self
    }

    /// Origins trusted besides the base URL's (`https://app.example.com`,
    /// wildcards such as `https://*.k3m9p2xw7q.nno.app`).
    pub fn with_trusted_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Turns the validation cache on (see [`crate::cache`] for the revocation
    /// lag this implies).
    pub fn with_session_cache(mut self, config: SessionCacheConfig) -> Self {
        self.cache = Some(config);
        self
    }

    /// Turns the sign-in and sign-up rate limiter on, counting in `kv`: a
    /// store with atomic counters (`SqliteKv`, `MemoryKv`); [`AuthBuilder::build`]
    /// refuses one without (Workers KV) with [`neutrino_core::Error::Config`] (in [`AuthError::Store`]).
    pub fn with_rate_limit(mut self, kv: Arc<dyn KvStore>, config: RateLimitConfig) -> Self {
        self.rate_limit = Some((kv, config));
        self
    }

    /// The mailer for password-reset and verification emails; without one,
    /// those calls answer `RESET_PASSWORD_DISABLED` / `VERIFICATION_EMAIL_NOT_ENABLED`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Better Auth's `user.deleteUser.sendDeleteAccountVerification`: a user
    /// deletes their account through a link mailed to them
    /// ([`Auth::request_delete_user`], then
    /// [`Auth::delete_user_with_token`]). Needs a mailer and
    /// [`UserConfig::delete_user`] (checked by [`AuthBuilder::build`]).
    pub fn with_delete_user_verification(mut self, enabled: bool) -> Self {
        self.delete_by_link = enabled;
        self
    }

    /// Adds a social provider ([`ProviderConfig::google`],
    /// [`ProviderConfig::github`], or a generic OIDC / OAuth 2.0 one), signed
    /// in with through [`Auth::sign_in_social`] and
    /// [`Auth::social_callback`] (see [`crate::oauth::social`]).
    /// [`AuthBuilder::build`] refuses an invalid one or a duplicate ID.
    pub fn with_social_provider(mut self, provider: ProviderConfig) -> Self {
        self.social_providers.push(provider);
        self
    }

    /// Whether providers' access and refresh tokens are stored encrypted
    /// (Better Auth's `account.encryptOAuthTokens`, its `symmetricEncrypt`
    /// under the secret; default `true`). Better Auth reads them when its
    /// option is on too.
    pub fn with_encrypt_oauth_tokens(mut self, encrypt: bool) -> Self {
        self.encrypt_oauth_tokens = encrypt;
        self
    }

    /// Better Auth's `account.accountLinking` options for linking and
    /// unlinking provider accounts ([`crate::oauth::accounts`]); default:
    /// Better Auth's (linking on, same email only, the last account kept).
    pub fn with_account_linking(mut self, linking: crate::oauth::accounts::AccountLinking) -> Self {
        self.account_linking = linking;
        self
    }

    /// The shortest time between two fetches of an issuer's JWKS caused by
    /// an ID token with an unknown key ID (default 60 s): a provider's key
    /// rotation is picked up at once, tokens with random key IDs cannot
    /// make the server hammer the provider.
    pub fn with_jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// Lets per-tenant SSO providers' endpoints be plain `http` on a
    /// loopback address (default `false`): for an identity provider started
    /// by a test, never in production, where it would let a tenant admin
    /// make the server fetch from its own loopback services.
    pub fn with_insecure_loopback_sso(mut self, allow: bool) -> Self {
        self.sso_insecure_loopback = allow;
        self
    }

    /// Validates the configuration and builds the [`Auth`].
    pub fn build(self) -> Result<Auth> {
        let bad = |key, reason: &str| AuthError::config(key, reason);
        self.admin.validate()?;
        if self.delete_by_link && (self.mailer.is_none() || !self.users.delete_user) {
            return Err(bad(
                "delete_user_verification",
                "needs a mailer and user deletion enabled",
            ));
        }
        if self.secret.len() < MIN_SECRET_LEN {
            return Err(bad("secret", "must be at least 32 bytes"));
        }
        if self.secret == DEFAULT_SECRET.as_bytes() {
            return Err(bad("secret", "must not be Better Auth's default secret"));
        }
        let s = &self.session;
        if s.expires_in < Duration::from_secs(60)
            || s.dont_remember_expires_in < Duration::from_secs(60)
        {
            return Err(bad("session.expires_in", "must be at least 60 s"));
        }
        if s.update_age > s.expires_in {
            return Err(bad("session.update_age", "must not exceed expires_in"));
        }
        if let Some(c) = &self.cache {
            if c.ttl.is_zero() || c.ttl > MAX_CACHE_TTL {
                return Err(bad("cache.ttl", "must be between 1 ms and 5 min"));
            }
            if c.max_entries == 0 {
                return Err(bad("cache.max_entries", "must be at least 1"));
            }
        }
        let base_url = match self.base_url {
            Some(u) => {
                let origin = origin_of(&u)
                    .ok_or_else(|| bad("base_url", "must be an absolute http(s) URL"))?;
                Some((u.trim_end_matches('/').to_owned(), origin))
            }
            None => None,
        };
        if !self.base_path.is_empty() && !self.base_path.starts_with('/') {
            return Err(bad("base_path", "must start with /"));
        }
        let mut trusted = self.trusted_origins;
        if let Some((_, origin)) = &base_url {
            trusted.push(origin.clone());
        }
        let mut ids = std::collections::HashSet::new();
        for p in &self.social_providers {
            p.validate()
                .map_err(|_| bad("social_provider", "invalid provider configuration"))?;
            if !ids.insert(p.id().to_owned()) {
                return Err(bad("social_provider", "duplicate provider id"));
            }
        }
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(bad("jose", "no crypto provider for jsonwebtoken"));
        }
        let social = Social {
            client: OAuthClient::new(
                Arc::clone(&self.db),
                Arc::clone(&self.clock),
                TrustedOrigins::new(trusted.clone()),
                self.jwks_refetch_interval,
            )
            .map_err(|_| bad("oauth", "http client"))?,
            providers: self.social_providers,
            secret: Arc::from(self.secret.as_slice()),
            encrypt_tokens: self.encrypt_oauth_tokens,
            sso_insecure_loopback: self.sso_insecure_loopback,
            linking: self.account_linking,
        };
        let passwords = Arc::new(Passwords::new(self.passwords)?);
        let credentials = Credentials::new(Arc::clone(&self.db), Arc::clone(&passwords));
        let mut cookie_config = self.cookies;
        cookie_config.max_age = s.expires_in;
        let rate_limiter = match self.rate_limit {
            Some((kv, cfg)) => Some(RateLimiter::new(kv, cfg, Arc::clone(&self.clock))?),
            None => None,
        };
        let cookies = SessionCookies::new(&self.secret, cookie_config);
        let gate = Arc::new(PlatformGate::default());
        let db_sessions = DbSessions::new(
            Arc::clone(&self.db),
            cookies.clone(),
            Arc::clone(&self.clock),
            self.session,
            Arc::clone(&gate),
        );
        let sessions: Arc<dyn SessionStore> = match self.cache {
            Some(config) => Arc::new(CachingSessions::new(
                db_sessions,
                config,
                cookies.clone(),
                Arc::clone(&self.clock),
            )),
            None => Arc::new(db_sessions),
        };
        let two_factor = TwoFactor {
            db: Arc::clone(&self.db),
            secret: Arc::from(self.secret.as_slice()),
            clock: Arc::clone(&self.clock),
            gate: Arc::clone(&gate),
            sessions: Arc::clone(&sessions),
            session_config: self.session,
            credentials: credentials.clone(),
        };
        let verifications = Verifications::new(VerificationParts {
            db: Arc::clone(&self.db),
            secret: Arc::from(self.secret.as_slice()),
            clock: Arc::clone(&self.clock),
            gate: Arc::clone(&gate),
            sessions: Arc::clone(&sessions),
            passwords: Arc::clone(&passwords),
            origins: TrustedOrigins::new(trusted.clone()),
            mailer: self.mailer.clone(),
            base_url: base_url
                .as_ref()
                .map_or_else(String::new, |(u, _)| u.clone()),
            base_path: self.base_path.trim_end_matches('/').to_owned(),
            revoke_sessions_on_password_reset: self.revoke_sessions_on_password_reset,
        });
        Ok(Auth {
            inner: Arc::new(Inner {
                two_factor,
                verifications,
                cache: self.cache.is_some(),
                sessions,
                gate,
                cookies,
                db: self.db,
                clock: self.clock,
                base_url,
                session: self.session,
                passwords,
                credentials,
                disable_sign_up: self.disable_sign_up,
                require_email_verification: self.require_email_verification,
                rehash_legacy_passwords: self.rehash_legacy_passwords,
                origins: TrustedOrigins::new(trusted),
                rate_limiter,
                mailer: self.mailer,
                id_format: self.id_format,
                admin: self.admin,
                users: self.users,
                delete_by_link: self.delete_by_link,
                social,
            }),
        })
    }
}

pub(crate) struct Inner {
    pub(crate) db: Arc<dyn SqlExecutor>,
    pub(crate) clock: SharedClock,
    pub(crate) base_url: Option<(String, String)>,
    pub(crate) session: SessionConfig,
    pub(crate) cookies: SessionCookies,
    pub(crate) passwords: Arc<Passwords>,
    pub(crate) credentials: Credentials,
    pub(crate) two_factor: TwoFactor,
    pub(crate) verifications: Verifications,
    pub(crate) disable_sign_up: bool,
    pub(crate) require_email_verification: bool,
    pub(crate) rehash_legacy_passwords: bool,
    pub(crate) origins: TrustedOrigins,
    pub(crate) cache: bool,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) mailer: Option<Arc<dyn Mailer>>,
    /// The platform this auth database belongs to, set once by
    /// [`crate::org::Organizations::new`]: every state-changing call checks its
    /// status ([`Auth::ensure_writable`]).
    pub(crate) gate: Arc<PlatformGate>,
    pub(crate) id_format: IdFormat,
    pub(crate) admin: AdminConfig,
    pub(crate) users: UserConfig,
    /// Deletion goes through a mailed link.
    pub(crate) delete_by_link: bool,
    /// The handshake and the social providers.
    pub(crate) social: Social,
}

/// Users, passwords, sessions and cookies on one platform's auth database,
/// compatible with Better Auth. Cheap to clone.
///
/// **Suspension.** Once bound to its platform (by
/// [`crate::org::Organizations::new`]), every state-changing call — sign-up,
/// sign-in, two-factor steps and changes, password change and reset, reset
/// and verification requests, email verification, operator sessions — checks
/// the platform's status first: a suspended platform answers the store's
/// `Suspended` error ([`AuthError::is_suspended`], code `PLATFORM_SUSPENDED`),
/// a deleted one `NotFound`, at once in this process. What still works is
/// what takes authority away or only reads: sign-out, session revocation,
/// [`Auth::purge_expired`], and session validation (a session is not
/// extended while suspended).
///
/// There is no public access to the auth database itself, and no way to
/// mint a session without a credential except the audited
/// [`Auth::operator_session`].
///
/// See the crate documentation for an example.
#[derive(Clone)]
pub struct Auth {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Auth")
            .field("db", &i.db)
            .field("base_url", &i.base_url.as_ref().map(|(u, _)| u))
            .field("session", &i.session)
            .field("cookies", &i.cookies)
            .field("passwords", &i.passwords)
            .field("disable_sign_up", &i.disable_sign_up)
            .field("require_email_verification", &i.require_email_verification)
            .field("trusted_origins", &i.origins.list())
            .field("cache", &i.cache)
            .field("rate_limit", &i.rate_limiter)
            .field("mailer", &i.mailer)
            .finish_non_exhaustive()
    }
}

// Better Auth's defaults for its plugins' columns: the admin plugin's
// `role = "user"`, `banned = false`, the two-factor plugin's
// `twoFactorEnabled = false`.
const INSERT_USER: &str = r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "twoFactorEnabled") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'user', 0, 0)"#;
const INSERT_ACCOUNT: &str = r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"#;
const SELECT_USER_BY_EMAIL: &str = r#"SELECT "id" FROM "user" WHERE "email" = ?1"#;
const SELECT_CREDENTIAL_BY_EMAIL: &str = r#"SELECT u."id", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt", u."role", u."banned", u."banReason", u."banExpires", u."twoFactorEnabled", a."id", a."password" FROM "user" u LEFT JOIN "account" a ON a."userId" = u."id" AND a."providerId" = ?2 WHERE u."email" = ?1 LIMIT 1"#;
const UPDATE_ACCOUNT_PASSWORD: &str =
    r#"UPDATE "account" SET "password" = ?1, "updatedAt" = ?2 WHERE "id" = ?3"#;
const DELETE_EXPIRED_SESSIONS: &str = r#"DELETE FROM "session" WHERE "expiresAt" <= ?1"#;
const DELETE_EXPIRED_VERIFICATIONS: &str = r#"DELETE FROM "verification" WHERE "expiresAt" <= ?1"#;

/// The span of one auth operation `op`.
pub(crate) fn span(op: &'static str) -> tracing::Span {
    tracing::debug_span!("neutrino.auth", op)
}

impl Auth {
    /// Starts configuring auth on `db` with `secret`.
    pub fn builder(db: impl SqlExecutor, secret: impl Into<Vec<u8>>) -> AuthBuilder {
        AuthBuilder::new(db, secret)
    }

    /// Applies this crate's migrations to the auth database (idempotent).
    /// Also adds the nullable plugin columns that are absent
    /// ([`crate::schema::ensure_columns`]).
    ///
    /// Call it when the app starts, on every start: a platform's bootstrap plan
    /// (`Plan::bootstrap` with [`crate::schema::MIGRATIONS`]) runs the same
    /// migrations once, when the database is provisioned, but only this call
    /// applies the ones a later version of the crate adds. Migrations already
    /// applied are skipped.
    ///
    /// Migration 6 makes memberships unique per user and organization: exact
    /// duplicate `member` rows are merged, but a user with two memberships of
    /// one organization in different roles stops it with
    /// [`neutrino_core::Error::AlreadyExists`] naming the rows, to be resolved
    /// by hand (the unique index would refuse them anyway).
    pub async fn migrate(&self) -> Result<Vec<u32>> {
        let conflicts = crate::schema::conflicting_memberships(&*self.inner.db).await?;
        if !conflicts.is_empty() {
            return Err(neutrino_core::Error::AlreadyExists {
                entity: "membership",
                id: conflicts.join("; "),
            }
            .into());
        }
        let done = MIGRATIONS.run(&*self.inner.db).await?;
        crate::schema::ensure_columns(&*self.inner.db).await?;
        Ok(done)
    }

    /// The session cookies: names, signing, `Set-Cookie` values.
    pub fn cookies(&self) -> &SessionCookies {
        &self.inner.cookies
    }

    /// The trusted origins and the origin (CSRF) check.
    pub fn origins(&self) -> &TrustedOrigins {
        &self.inner.origins
    }

    /// The trusted origins: the base URL's and the configured ones.
    pub fn trusted_origins(&self) -> &[String] {
        self.inner.origins.list()
    }

    /// Whether `url` is an acceptable callback or redirect target: a relative
    /// path or a URL on a trusted origin ([`TrustedOrigins::is_safe_callback`]).
    pub fn is_safe_callback(&self, url: &str) -> bool {
        self.inner.origins.is_safe_callback(url)
    }

    /// The origin (CSRF) check of a request, Better Auth's rules
    /// ([`TrustedOrigins::check`]).
    pub fn check_origin(&self, req: &OriginRequest<'_>) -> Result<()> {
        self.inner.origins.check(req)
    }

    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    /// The session lifetimes.
    pub fn session_config(&self) -> &SessionConfig {
        &self.inner.session
    }

    /// The auth database. Crate-private: raw SQL on it would bypass every
    /// check of this crate (memberships, platform roles, sessions).
    pub(crate) fn db(&self) -> &Arc<dyn SqlExecutor> {
        &self.inner.db
    }

    /// Binds this auth database (and every clone of this `Auth`) to its
    /// platform, once: from then on every state-changing call checks the
    /// platform's status. Binding again to the same platform is a no-op, to
    /// another one an error.
    pub(crate) fn bind_platform(&self, platform: PlatformRegistry) -> Result<()> {
        self.inner.gate.bind(platform)
    }

    /// The one check of platform status before a state change: `Ok` when the
    /// platform is active (or this `Auth` is not bound to one), the store's
    /// [`neutrino_core::Error::Suspended`] when it is suspended, and
    /// [`neutrino_core::Error::NotFound`] when it is deleted or unknown.
    ///
    /// Called at the start of every state-changing operation, and again just
    /// before the write of those that do slow work (password hashing) in
    /// between. What still works on a suspended platform takes authority away
    /// and nothing else: sign-out, session revocation, purging expired rows,
    /// and reads (sessions validate but are not extended).
    pub(crate) async fn ensure_writable(&self) -> Result<()> {
        self.inner.gate.ensure_writable().await
    }

    /// Entries in the validation cache (0 when it is off).
    pub fn cached_sessions(&self) -> usize {
        self.inner.sessions.cached()
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The platform secret, the key of the SSO client secrets' encryption.
    pub(crate) fn sso_secret(&self) -> &[u8] {
        &self.inner.two_factor.secret
    }

    /// The format of new user IDs.
    pub(crate) fn id_format(&self) -> IdFormat {
        self.inner.id_format
    }

    /// Builds a new session row for `user_id` and the statement that inserts it.
    pub(crate) fn new_session(
        &self,
        user_id: &UserId,
        remember_me: bool,
        meta: &RequestMeta,
        now: SystemTime,
    ) -> Result<(Session, Statement)> {
        session::new_session(&self.inner.session, user_id, remember_me, meta, now)
    }

    /// An operator's session for `user_id`, without the user's credential
    /// (support access, or a sign-in method the host app verified itself):
    /// `operator` names who asks and `reason` why, both written to the audit
    /// log (`operator_session`) with the session. Refused on a suspended or
    /// deleted platform, for an unknown user (`USER_NOT_FOUND`) and for a
    /// banned one (`BANNED_USER`).
    pub async fn operator_session(
        &self,
        user_id: &UserId,
        remember_me: bool,
        operator: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<Session> {
        let operator = Operator::new(operator, reason)?;
        self.ensure_writable().await?;
        let now = self.now();
        let (session, stmt) = self.new_session(user_id, remember_me, meta, now)?;
        // The session exists only if the user does, and the audit entry only
        // with the session: one batch.
        // Not for a banned user either: a ban refuses every new session.
        let insert = Statement::with_params(
            format!(
                r#"{INSERT_SESSION_SELECT} WHERE EXISTS (SELECT 1 FROM "user" WHERE "id" = ?8) AND {}"#,
                session::not_banned("?8", "?4")
            ),
            stmt.params().to_vec(),
        );
        let audit_stmt = audit::insert_where(
            AuditEvent::OperatorSession,
            AuditRecord {
                detail: Some(operator.to_string()),
                ..AuditRecord::in_session(user_id.as_str(), &session.id)
            },
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "session" WHERE "id" = ?11)"#,
            vec![neutrino_core::sql::Value::from(session.id.clone())],
        )?;
        let out = self
            .inner
            .db
            .write_audited(vec![insert], audit_stmt)
            .await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(match self.get_user(user_id).await? {
                Some(_) => AuthError::BannedUser,
                None => AuthError::UserNotFound,
            });
        }
        Ok(session)
    }

    /// Better Auth's `POST /sign-up/email`: creates the user, its `credential`
    /// account (argon2id hash) and a session, in one batch.
    ///
    /// With `require_email_verification`, no session is created
    /// ([`SignedUp::session`] is `None`, Better Auth's `token: null`) and a
    /// verification email is sent (with a mailer); an address that is already
    /// registered then gets the same answer (a synthetic unverified user, no
    /// write), so sign-up does not reveal which addresses have accounts.
    ///
    /// Errors: `EMAIL_PASSWORD_SIGN_UP_DISABLED`, `INVALID_EMAIL`,
    /// `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`,
    /// `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` (only without
    /// `require_email_verification`), `TOO_MANY_REQUESTS`, and the platform's
    /// status error when it is suspended or deleted.
    pub async fn sign_up_email(&self, req: SignUpEmail, meta: &RequestMeta) -> Result<SignedUp> {
        self.sign_up_email_inner(req, meta, false).await
    }

    /// [`Auth::sign_up_email`]; `proven` means the caller has proof that the
    /// requester controls the address (an invitation token delivered to it):
    /// the user is created verified, with a session, even when sign-up is
    /// disabled or verification is required.
    pub(crate) async fn sign_up_email_inner(
        &self,
        req: SignUpEmail,
        meta: &RequestMeta,
        proven: bool,
    ) -> Result<SignedUp> {
        async {
            self.ensure_writable().await?;
            if self.inner.disable_sign_up && !proven {
                return Err(AuthError::SignUpDisabled);
            }
            self.rate_limit_if_enabled(meta, "/sign-up/email").await?;
            let email = normalize_email(&req.email)?;
            // A tenant that requires SSO for the email's domain refuses passwords.
            crate::sso::ensure_password_allowed(&*self.inner.db, &email).await?;
            let password = self.inner.passwords.normalize(&req.password)?;
            let name = req.name.trim().to_owned();
            if name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
                return Err(AuthError::validation(
                    "name",
                    format!("must be at most {MAX_NAME_LEN} bytes without control characters"),
                ));
            }
            if req.image.as_ref().is_some_and(|i| i.len() > MAX_IMAGE_LEN) {
                return Err(AuthError::validation(
                    "image",
                    format!("must be at most {MAX_IMAGE_LEN} bytes"),
                ));
            }
            // Without a session to hand out, an existing address answers like
            // a new one.
            let blind = self.inner.require_email_verification && !proven;
            let exists = !self
                .inner
                .db
                .query(&Statement::new(SELECT_USER_BY_EMAIL).bind(email.as_str()))
                .await?
                .is_empty();
            // Hash in every case, so both answers cost the same.
            let hash = self.inner.passwords.hash(&password).await?;
            let now = self.now();
            let now = UNIX_EPOCH + Duration::from_millis(millis_since_epoch(now).unsigned_abs());
            let user = User::new_row(
                UserId::generate_in(self.inner.id_format),
                (name, email),
                proven,
                req.image,
                now,
            );
            let synthetic = || SignedUp {
                user: User {
                    email_verified: false,
                    ..user.clone()
                },
                session: None,
                remember_me: req.remember_me,
            };
            if exists {
                return if blind {
                    Ok(synthetic())
                } else {
                    Err(AuthError::UserAlreadyExists)
                };
            }
            let stamp = date::format(now);
            let insert_user = Statement::new(INSERT_USER)
                .bind(user.id.as_str())
                .bind(user.name.as_str())
                .bind(user.email.as_str())
                .bind(proven)
                .bind(user.image.as_deref())
                .bind(stamp.as_str())
                .bind(stamp.as_str());
            // The user only if no tenant requires SSO for the email when it
            // is written (a policy switched on meanwhile refuses it); its
            // credential, session and audit entry only with the user.
            let sso_guarded = match crate::sso::password_allowed_guard(&user.email, 1) {
                Some((cond, params)) => {
                    Some(crate::stmt::insert_where(&insert_user, &cond, params)?)
                }
                None => None,
            };
            let guarded = sso_guarded.is_some();
            let with_user = r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?1)"#;
            let user_param = || vec![user.id.as_str().into()];
            let mut batch = vec![
                sso_guarded.unwrap_or(insert_user),
                crate::stmt::insert_where(
                    &Statement::new(INSERT_ACCOUNT)
                        .bind(random_id()?)
                        .bind(user.id.as_str())
                        .bind(CREDENTIAL)
                        .bind(user.id.as_str())
                        .bind(hash)
                        .bind(stamp.as_str())
                        .bind(stamp.as_str()),
                    with_user,
                    user_param(),
                )?,
            ];
            let session = if blind {
                None
            } else {
                let (session, insert_session) =
                    self.new_session(&user.id, req.remember_me, meta, now)?;
                batch.push(crate::stmt::insert_where(
                    &insert_session,
                    with_user,
                    user_param(),
                )?);
                Some(session)
            };
            let entry = audit::insert_where(
                AuditEvent::SignUp,
                AuditRecord {
                    user_id: Some(user.id.as_str()),
                    session_id: session.as_ref().map(|s| s.id.as_str()),
                    email: Some(&user.email),
                    detail: proven.then(|| "address proven by invitation".to_owned()),
                    organization_id: None,
                },
                meta,
                now,
                audit::USER_EXISTS,
                user_param(),
            )?;
            // The hash took time: the platform may have been suspended since.
            self.ensure_writable().await?;
            match self.inner.db.write_audited(batch, entry).await {
                Ok(out) if guarded && out.first().is_some_and(|o| o.rows_affected == 0) => {
                    // SSO became required since the check above.
                    return Err(crate::sso::sso_required());
                }
                Ok(_) => {}
                // Another sign-up with the same email won the race.
                Err(e) if e.is_already_exists() => {
                    return if blind {
                        Ok(synthetic())
                    } else {
                        Err(AuthError::UserAlreadyExists)
                    };
                }
                Err(e) => return Err(e.into()),
            }
            if blind {
                self.inner
                    .verifications
                    .mail_verification(&user, None)
                    .await;
            }
            Ok(SignedUp {
                user,
                session,
                remember_me: req.remember_me,
            })
        }
        .instrument(span("sign_up_email"))
        .await
    }

    /// Better Auth's `POST /sign-in/email`: checks the password (argon2id, or
    /// Better Auth's scrypt, which is then rehashed to argon2id) and creates a
    /// session.
    ///
    /// An unknown email costs one password hash too, and answers the same
    /// `INVALID_EMAIL_OR_PASSWORD` as a wrong password. Other errors:
    /// `INVALID_EMAIL`, `EMAIL_NOT_VERIFIED`, `TOO_MANY_REQUESTS`.
    ///
    /// A user with two-factor authentication on gets no session here:
    /// `TWO_FACTOR_REQUIRED`; such users sign in with
    /// [`Auth::sign_in_email_2fa`].
    pub async fn sign_in_email(&self, req: SignInEmail, meta: &RequestMeta) -> Result<SignedIn> {
        match self.sign_in_email_2fa(req, meta).await? {
            SignInOutcome::SignedIn(s) => Ok(*s),
            SignInOutcome::TwoFactorRequired(_) => Err(AuthError::TwoFactorRequired),
        }
    }

    /// [`Auth::sign_in_email`] for platforms with two-factor users: a user
    /// with two-factor authentication on gets a pending challenge instead of a
    /// session, to complete with [`Auth::verify_totp`] or
    /// [`Auth::verify_backup_code`].
    pub async fn sign_in_email_2fa(
        &self,
        req: SignInEmail,
        meta: &RequestMeta,
    ) -> Result<SignInOutcome> {
        Ok(self.sign_in_email_trusting(req, None, meta).await?.outcome)
    }

    /// [`Auth::sign_in_email_2fa`] from a device that may be trusted (Better
    /// Auth's trusted devices): `trust_device` is the value of the request's
    /// `trust_device` cookie, its signature already checked (what
    /// [`Auth::trust_device`] gave).
    ///
    /// A user with two-factor on signs in without a second factor when the
    /// value is theirs (its token is the MAC of their ID and its row under
    /// the platform secret) and its row is live; the row is then replaced by
    /// a new one, in the batch that creates the session and only if the old
    /// row was still there, so a value signs in once:
    /// [`TrustedSignIn::trust_device`] is the new value for the cookie.
    /// Another user's, another platform's, a forged, an expired or a used
    /// value, or one from before two-factor was last turned off or on, gives
    /// the challenge as without one. A banned user gets `BANNED_USER` either
    /// way.
    pub async fn sign_in_email_trusting(
        &self,
        req: SignInEmail,
        trust_device: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<TrustedSignIn> {
        async {
            self.ensure_writable().await?;
            self.rate_limit_if_enabled(meta, "/sign-in/email").await?;
            let email = normalize_email(&req.email)?;
            crate::sso::ensure_password_allowed(&*self.inner.db, &email).await?;
            let password = match self.inner.passwords.normalize(&req.password) {
                Ok(p) => p,
                // A password the policy would refuse cannot be right; the check
                // costs the same hash as any other failure.
                Err(AuthError::PasswordTooLong { .. })
                | Err(AuthError::PasswordTooShort { .. }) => {
                    self.burn_one_hash().await?;
                    self.audit_failed_sign_in(None, &email, meta).await?;
                    return Err(AuthError::InvalidEmailOrPassword);
                }
                Err(e) => return Err(e),
            };
            let row = self
                .inner
                .db
                .query(
                    &Statement::new(SELECT_CREDENTIAL_BY_EMAIL)
                        .bind(email.as_str())
                        .bind(CREDENTIAL),
                )
                .await?
                .into_iter()
                .next();
            let found = match row {
                Some(mut r) => {
                    let id: String = r.get(0)?;
                    let user = user_from_row(&mut r, 0, parse_user_id(&id)?)?;
                    let account: Option<String> = r.take(rows::N_USER_COLUMNS)?;
                    let hash: Option<String> = r.take(rows::N_USER_COLUMNS + 1)?;
                    let banned: Option<bool> = r.get(8)?;
                    let ban_expires: Option<String> = r.get(10)?;
                    let banned = session::ban_in_force(banned, ban_expires.as_deref(), self.now());
                    Some((user, account.zip(hash), banned))
                }
                None => None,
            };
            let Some((user, Some((account_id, hash)), banned)) = found else {
                // Unknown email, or a user without a password: same cost, same answer.
                self.burn_one_hash_with(&password).await?;
                let uid = found.as_ref().map(|(u, _, _)| u.id.to_string());
                self.audit_failed_sign_in(uid.as_deref(), &email, meta)
                    .await?;
                return Err(AuthError::InvalidEmailOrPassword);
            };
            let verdict = self.inner.passwords.verify(&hash, &password).await?;
            let Verification::Match { needs_rehash } = verdict else {
                self.audit_failed_sign_in(Some(user.id.as_str()), &email, meta)
                    .await?;
                return Err(AuthError::InvalidEmailOrPassword);
            };
            // Better Auth's admin plugin refuses the session once the
            // password is right (the insert below refuses it again if a ban
            // lands meanwhile).
            if banned {
                return Err(AuthError::BannedUser);
            }
            if self.inner.require_email_verification && !user.email_verified {
                return Err(AuthError::EmailNotVerified);
            }
            let now = self.now();
            let challenge = || async {
                let challenge = self
                    .inner
                    .two_factor
                    .start_two_factor(&user.id, req.remember_me, meta)
                    .await?;
                Ok::<_, AuthError>(TrustedSignIn {
                    outcome: SignInOutcome::TwoFactorRequired(challenge),
                    trust_device: None,
                })
            };
            let mut trust = None;
            if self.inner.two_factor.two_factor_enabled(&user.id).await? {
                let refreshed = match trust_device {
                    Some(value) => self.inner.two_factor.refresh_trust(&user.id, value, now)?,
                    None => None,
                };
                match refreshed {
                    Some(t) => trust = Some(t),
                    None => return challenge().await,
                }
            }
            let needs_rehash = needs_rehash && self.inner.rehash_legacy_passwords;
            let (session, insert_session) =
                self.new_session(&user.id, req.remember_me, meta, now)?;
            // The session only if the user is not banned when it is written:
            // a ban committed first wins; one committed after deletes it.
            let mut guard = format!(
                r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?1) AND {}"#,
                session::not_banned("?1", "?2")
            );
            let mut guard_params: Vec<neutrino_core::sql::Value> =
                vec![user.id.as_str().into(), date::format(now).into()];
            if let Some((_, identifier, _)) = &trust {
                // A trusted device: only with the row the refresh just made.
                guard.push_str(
                    r#" AND EXISTS (SELECT 1 FROM "verification" WHERE "identifier" = ?3 AND "value" = ?1)"#,
                );
                guard_params.push(identifier.as_str().into());
            }
            // And only if no tenant requires SSO for the email when it is
            // written: a policy switched on meanwhile refuses it.
            let sso_guard = crate::sso::password_allowed_guard(&email, guard_params.len() + 1);
            let sso_guarded = sso_guard.is_some();
            if let Some((cond, params)) = sso_guard {
                guard.push_str(" AND ");
                guard.push_str(&cond);
                guard_params.extend(params);
            }
            let insert_session =
                crate::stmt::insert_where(&insert_session, &guard, guard_params)?;
            let made = r#"EXISTS (SELECT 1 FROM "session" WHERE "id" = ?11)"#;
            let entry = audit::insert_where(
                AuditEvent::SignIn,
                AuditRecord {
                    user_id: Some(user.id.as_str()),
                    session_id: Some(&session.id),
                    email: Some(&user.email),
                    detail: needs_rehash.then(|| {
                        format!(
                            "password rehashed to {}",
                            self.inner.passwords.config().policy.as_str()
                        )
                    }),
                    organization_id: None,
                },
                meta,
                now,
                made,
                vec![session.id.clone().into()],
            )?;
            let lift = Statement::new(session::LIFT_EXPIRED_BAN)
                .bind(date::format(now))
                .bind(user.id.as_str());
            let mut batch = Vec::with_capacity(4);
            let trust_value = match trust {
                Some((rename, _, value)) => {
                    batch.push(rename);
                    Some(value)
                }
                None => None,
            };
            let at = batch.len();
            batch.push(lift);
            batch.push(insert_session);
            if needs_rehash {
                let fresh = self.inner.passwords.hash(&password).await?;
                batch.push(
                    Statement::new(UPDATE_ACCOUNT_PASSWORD)
                        .bind(fresh)
                        .bind(date::format(now))
                        .bind(account_id),
                );
            }
            // The password check took time: the platform may have been
            // suspended since.
            self.ensure_writable().await?;
            let out = self.inner.db.write_audited(batch, entry).await?;
            if out.get(at + 1).map_or(0, |o| o.rows_affected) == 0 {
                if sso_guarded {
                    // SSO became required since the check above.
                    crate::sso::ensure_password_allowed(&*self.inner.db, &email).await?;
                }
                if trust_value.is_some() && out.first().is_some_and(|o| o.rows_affected == 0) {
                    // The trusted device was used, expired or forgotten
                    // meanwhile: the second factor after all.
                    return challenge().await;
                }
                // Banned, or removed, since the password was checked.
                return Err(match self.get_user(&user.id).await? {
                    Some(_) => AuthError::BannedUser,
                    None => AuthError::InvalidEmailOrPassword,
                });
            }
            if out.get(at).is_some_and(|o| o.rows_affected > 0) {
                self.evict_user(user.id.as_str());
            }
            Ok(TrustedSignIn {
                outcome: SignInOutcome::SignedIn(Box::new(SignedIn {
                    user,
                    session,
                    remember_me: req.remember_me,
                })),
                trust_device: trust_value,
            })
        }
        .instrument(span("sign_in_email"))
        .await
    }

    async fn burn_one_hash(&self) -> Result<()> {
        let dummy = self.inner.passwords.normalize("not-a-real-password")?;
        self.burn_one_hash_with(&dummy).await
    }

    async fn burn_one_hash_with(&self, password: &NormalizedPassword) -> Result<()> {
        self.inner.passwords.hash(password).await.map(drop)
    }

    async fn audit_failed_sign_in(
        &self,
        user_id: Option<&str>,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let stmt = audit::insert(
            AuditEvent::SignInFailed,
            AuditRecord {
                user_id,
                email: Some(email),
                ..AuditRecord::default()
            },
            meta,
            self.now(),
        )?;
        self.inner.db.execute(&stmt).await?;
        Ok(())
    }

    async fn rate_limit_if_enabled(&self, meta: &RequestMeta, path: &str) -> Result<()> {
        match (&self.inner.rate_limiter, &meta.ip_address) {
            (Some(limiter), Some(ip)) => limiter.check(ip, path).await,
            _ => Ok(()),
        }
    }

    /// Counts one attempt of `path` from `meta`'s IP against the rate limiter
    /// (a no-op when it is off or the IP is unknown); `TOO_MANY_REQUESTS` with
    /// the retry-after when over the limit. Sign-in and sign-up call it
    /// themselves.
    pub async fn check_rate_limit(&self, meta: &RequestMeta, path: &str) -> Result<()> {
        self.rate_limit_if_enabled(meta, path).await
    }

    /// Better Auth's `POST /sign-out`: deletes the session (a no-op for an
    /// unknown token).
    pub async fn sign_out(&self, token: &str, meta: &RequestMeta) -> Result<()> {
        self.inner
            .sessions
            .sign_out(token, meta)
            .instrument(span("sign_out"))
            .await
    }

    /// The session with this token and its user, or `None` if there is none or
    /// it has expired (an expired row is deleted). Extends the session when it
    /// is older than `updateAge` (sliding expiry); sessions created with
    /// "remember me" off are never extended.
    pub async fn get_session(&self, token: &str) -> Result<Option<Arc<AuthSession>>> {
        self.get_session_with(token, GetSessionOptions::default())
            .await
    }

    /// [`Auth::get_session`] from a signed cookie value: a tampered, truncated
    /// or oversized value is an [`AuthError::Cookie`].
    pub async fn get_session_from_cookie(
        &self,
        cookie_value: &str,
    ) -> Result<Option<Arc<AuthSession>>> {
        self.inner
            .sessions
            .get_signed(cookie_value, GetSessionOptions::default())
            .await
    }

    /// [`Auth::get_session`] from a whole `Cookie` request header: finds the
    /// session cookie (no cookie: `None`), verifies it, and does not extend
    /// sessions marked `dont_remember`.
    pub async fn get_session_from_cookie_header(
        &self,
        header: &str,
    ) -> Result<Option<Arc<AuthSession>>> {
        let found = self.inner.cookies.from_cookie_header(header);
        let Some(value) = found.session else {
            return Ok(None);
        };
        let opts = GetSessionOptions {
            disable_refresh: found.dont_remember,
            ..GetSessionOptions::default()
        };
        self.inner.sessions.get_signed(value, opts).await
    }

    /// [`Auth::get_session`] with options.
    pub async fn get_session_with(
        &self,
        token: &str,
        opts: GetSessionOptions,
    ) -> Result<Option<Arc<AuthSession>>> {
        self.inner.sessions.get(token, opts).await
    }

    /// The valid session behind a caller's `token`, read without extending
    /// it; `UNAUTHORIZED` when there is none.
    pub(crate) async fn caller_session(&self, token: &str) -> Result<Arc<AuthSession>> {
        self.get_session_with(token, GetSessionOptions::QUIET)
            .await?
            .ok_or(AuthError::Unauthorized)
    }

    /// Whether `session` is fresh enough for a sensitive operation (created less
    /// than `freshAge` ago); always true when `freshAge` is zero.
    pub fn is_fresh(&self, session: &Session) -> bool {
        let fresh = self.inner.session.fresh_age;
        fresh.is_zero()
            || self
                .now()
                .duration_since(session.created_at)
                .is_ok_and(|age| age < fresh)
    }

    /// The user's unexpired sessions, oldest first (Better Auth's
    /// `list-sessions`).
    pub async fn list_sessions(&self, user_id: &UserId) -> Result<Vec<Session>> {
        self.inner.sessions.list(user_id).await
    }

    async fn revoke(&self, which: Revoke<'_>, detail: &str, meta: &RequestMeta) -> Result<u64> {
        let user_id = which.user();
        let audit_stmt = audit::insert_where(
            AuditEvent::SessionRevoked,
            AuditRecord {
                user_id: Some(user_id.as_str()),
                detail: Some(detail.to_owned()),
                ..AuditRecord::default()
            },
            meta,
            self.now(),
            audit::USER_EXISTS,
            vec![user_id.as_str().into()],
        )?;
        self.inner.sessions.revoke(which, vec![audit_stmt]).await
    }

    /// Revokes one of the user's sessions by token (a no-op for another user's
    /// token, as in Better Auth). Returns how many sessions were deleted.
    pub async fn revoke_session(
        &self,
        user_id: &UserId,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<u64> {
        self.revoke(Revoke::One(user_id, token), "one", meta).await
    }

    /// Revokes every session of the user, the current one included.
    pub async fn revoke_sessions(&self, user_id: &UserId, meta: &RequestMeta) -> Result<u64> {
        self.revoke(Revoke::All(user_id), "all", meta).await
    }

    /// Revokes every session of the user except `current_token`.
    pub async fn revoke_other_sessions(
        &self,
        user_id: &UserId,
        current_token: &str,
        meta: &RequestMeta,
    ) -> Result<u64> {
        self.revoke(Revoke::Others(user_id, Some(current_token)), "others", meta)
            .await
    }

    /// Better Auth's `POST /change-password`: checks the current password,
    /// stores an argon2id hash of the new one and, if asked, revokes every
    /// other session (all but `current_token`).
    ///
    /// Errors: `INVALID_PASSWORD`, `CREDENTIAL_ACCOUNT_NOT_FOUND`,
    /// `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        req: ChangePassword,
        current_token: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<()> {
        async {
            self.ensure_writable().await?;
            let new = self.inner.passwords.normalize(&req.new_password)?;
            let current = self
                .inner
                .passwords
                .normalize(&req.current_password)
                .map_err(|_| AuthError::InvalidPassword)?;
            let account_id = self.inner.credentials.verify(user_id, &current).await?;
            let fresh = self.inner.passwords.hash(&new).await?;
            let now = self.now();
            let update = Statement::new(UPDATE_ACCOUNT_PASSWORD)
                .bind(fresh)
                .bind(date::format(now))
                .bind(account_id);
            let entry = audit::insert(
                AuditEvent::PasswordChanged,
                AuditRecord {
                    user_id: Some(user_id.as_str()),
                    detail: req
                        .revoke_other_sessions
                        .then(|| "other sessions revoked".to_owned()),
                    ..AuditRecord::default()
                },
                meta,
                now,
            )?;
            self.ensure_writable().await?;
            if req.revoke_other_sessions {
                self.inner
                    .sessions
                    .revoke(Revoke::Others(user_id, current_token), vec![update, entry])
                    .await?;
            } else {
                self.inner.db.write_audited(vec![update], entry).await?;
            }
            Ok(())
        }
        .instrument(span("change_password"))
        .await
    }

    /// Deletes every expired session, verification row and single-use marker;
    /// returns how many
    /// sessions were deleted. Call it from a periodic task.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = date::format(self.now());
        let out = self
            .inner
            .db
            .batch(&[
                Statement::new(DELETE_EXPIRED_SESSIONS).bind(now.as_str()),
                Statement::new(DELETE_EXPIRED_VERIFICATIONS).bind(now.as_str()),
                Statement::new(r#"DELETE FROM "neutrinoUsedCode" WHERE "expiresAt" <= ?1"#)
                    .bind(now.as_str()),
            ])
            .await?;
        Ok(out.first().map_or(0, |o| o.rows_affected))
    }

    /// The user with this ID, or `None`.
    pub async fn get_user(&self, user_id: &UserId) -> Result<Option<User>> {
        rows::load_user(&*self.inner.db, user_id).await
    }

    /// The newest audit entries of a user (or of everyone with `None`), at most
    /// `limit`.
    pub async fn audit_log(&self, user_id: Option<&UserId>, limit: u32) -> Result<Vec<AuditEntry>> {
        let stmt = match user_id {
            Some(u) => Statement::new(audit::SELECT_BY_USER)
                .bind(u.as_str())
                .bind(limit),
            None => Statement::new(audit::SELECT_RECENT).bind(limit),
        };
        let rows = self.inner.db.query(&stmt).await?;
        rows.iter().map(audit::from_row).collect()
    }

    /// Drops what the session cache holds about a user whose row changed.
    pub(crate) fn evict_user(&self, user_id: &str) {
        self.inner.sessions.forget_user(user_id);
    }

    /// Drops the cached sessions whose active organization is `org` (it was
    /// deleted).
    pub(crate) fn evict_organization(&self, org: &str) {
        self.inner.sessions.forget_organization(org);
    }

    delegate! { inner.two_factor => {
        /// Better Auth's `POST /two-factor/enable` (TOTP): checks the password and
        /// stores a new encrypted secret and backup codes, not yet verified; the
        /// first code accepted by [`Auth::verify_two_factor_setup`] turns
        /// two-factor on. `token` is the caller's session token, `issuer` the
        /// name the authenticator app shows.
        pub async fn enable_two_factor(
            &self,
            token: &str,
            password: &str,
            issuer: &str,
            meta: &RequestMeta,
        ) -> Result<TwoFactorSetup>;

        /// Better Auth's `POST /two-factor/get-totp-uri`: the `otpauth://` URI
        /// of the caller's TOTP secret (with `issuer`), once the password is
        /// checked. Errors: `UNAUTHORIZED`, `TWO_FACTOR_NOT_ENABLED` (no setup;
        /// before the password check, as in Better Auth), `INVALID_PASSWORD`,
        /// `CREDENTIAL_ACCOUNT_NOT_FOUND`.
        pub async fn totp_uri(&self, token: &str, password: &str, issuer: &str) -> Result<String>;

        /// Better Auth's `trustDevice: true`: trusts the device of session
        /// `token` (just made by a second factor) for 30 days, and returns the
        /// value to sign into its `trust_device` cookie, which
        /// [`Auth::sign_in_email_trusting`] takes. `UNAUTHORIZED` without a
        /// valid session of a user with two-factor on. Turning two-factor off
        /// or on again forgets every trusted device of the user.
        pub async fn trust_device(&self, token: &str) -> Result<String>;

        /// Better Auth's `POST /two-factor/verify-totp` during setup: the first
        /// valid code turns two-factor on (`INVALID_CODE` otherwise).
        pub async fn verify_two_factor_setup(
            &self,
            token: &str,
            code: &str,
            meta: &RequestMeta,
        ) -> Result<()>;

        /// Better Auth's `POST /two-factor/generate-backup-codes`: checks the
        /// password and replaces the backup codes with 10 new ones.
        pub async fn generate_backup_codes(
            &self,
            token: &str,
            password: &str,
            meta: &RequestMeta,
        ) -> Result<Vec<String>>;

        /// Better Auth's `POST /two-factor/disable`: checks the password and
        /// turns two-factor off.
        pub async fn disable_two_factor(
            &self,
            token: &str,
            password: &str,
            meta: &RequestMeta,
        ) -> Result<()>;

        /// Better Auth's `POST /two-factor/verify-totp` for a sign-in challenge:
        /// a valid, unused code gives the session. Errors: `INVALID_CODE`,
        /// `TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE` (the fifth wrong code; the
        /// challenge is gone). Each attempt is reserved in the database before
        /// the code is evaluated, and a code's time step gives one session.
        pub async fn verify_totp(
            &self,
            challenge: &TwoFactorChallenge,
            code: &str,
            meta: &RequestMeta,
        ) -> Result<SignedIn>;

        /// Better Auth's `POST /two-factor/verify-backup-code`: a backup code,
        /// consumed, gives the session; a code gives one session.
        pub async fn verify_backup_code(
            &self,
            challenge: &TwoFactorChallenge,
            code: &str,
            meta: &RequestMeta,
        ) -> Result<SignedIn>;
    }}

    /// A link under the auth server's base URL and path.
    pub(crate) fn link(&self, path: &str) -> String {
        self.inner.verifications.link(path)
    }

    delegate! { inner.verifications => {
        /// Better Auth's `POST /request-password-reset`: mails a reset link if the
        /// email belongs to a user, and answers the same either way: unknown,
        /// unverified and verified addresses all get `Ok(())`, after the same
        /// work (a token is drawn and one batch written in every case), and a
        /// mailer failure is logged, not returned.
        pub async fn request_password_reset(
            &self,
            email: &str,
            redirect_to: Option<&str>,
            meta: &RequestMeta,
        ) -> Result<()>;

        /// Better Auth's `POST /reset-password`: consumes the token and sets the new
        /// password (creating the `credential` account if the user had none).
        ///
        /// Errors: `INVALID_TOKEN` (unknown, used or expired),
        /// `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`.
        pub async fn reset_password(
            &self,
            token: &str,
            new_password: &str,
            meta: &RequestMeta,
        ) -> Result<()>;

        /// Better Auth's `POST /send-verification-email` (without a session):
        /// mails a verification link to an unverified user, and answers `Ok(())`
        /// for unknown, unverified and verified addresses alike (a token is
        /// signed in every case; a mailer failure is logged, not returned).
        ///
        /// Errors: `VERIFICATION_EMAIL_NOT_ENABLED` (no mailer),
        /// `INVALID_CALLBACK_URL`, `INVALID_EMAIL`.
        pub async fn send_verification_email(
            &self,
            email: &str,
            callback_url: Option<&str>,
        ) -> Result<()>;

        /// Better Auth's `GET /verify-email`: checks the token and marks the email
        /// verified. Returns the updated user.
        ///
        /// A change-email token (from [`Auth::change_email`], or Better Auth's
        /// `change-email-verification` token) moves the account from the token's
        /// old address to its new one instead, once, and only if the account
        /// still has the old address; the new address must be free
        /// (`USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL`). Better Auth's
        /// `change-email-confirmation` step (a token mailed to the old address) is
        /// not supported: `INVALID_TOKEN`.
        ///
        /// Errors: `INVALID_TOKEN` (bad signature, malformed, or already used),
        /// `TOKEN_EXPIRED`, `USER_NOT_FOUND`.
        pub async fn verify_email(&self, token: &str, meta: &RequestMeta) -> Result<User>;
    }}
}
