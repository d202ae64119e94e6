//! The records the auth calls return: [`User`], [`Session`], [`AuthSession`],
//! and the request metadata they record ([`RequestMeta`]).

use std::fmt;
use std::time::SystemTime;

use neutrino_core::ids::UserId;
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, Result};

/// A row of `user`.
///
/// Serializes as Better Auth's API shows a user with its admin and two-factor
/// plugins (camelCase, dates as ISO-8601 strings, `null` for an absent
/// value): `{"id","name","email","emailVerified","image","createdAt",
/// "updatedAt","role","banned","banReason","banExpires","twoFactorEnabled"}`.
/// It holds no secret: password hashes live in `account` and are never read
/// into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// `id`: 32 characters of `[A-Za-z0-9]`, or a UUID where Better Auth's
    /// `generateId: "uuid"` wrote it ([`crate::IdFormat`]).
    pub id: UserId,
    /// `name`.
    pub name: String,
    /// `email`, trimmed and lowercase.
    pub email: String,
    /// `emailVerified`.
    pub email_verified: bool,
    /// `image`: a URL, if any.
    pub image: Option<String>,
    /// `createdAt`.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
    /// `updatedAt`.
    #[serde(serialize_with = "crate::date::serialize")]
    pub updated_at: SystemTime,
    /// `role` (admin plugin): comma-separated role names; `None` on rows
    /// written without it.
    pub role: Option<String>,
    /// `banned` (admin plugin); `None` on rows written without it.
    pub banned: Option<bool>,
    /// `banReason` (admin plugin).
    pub ban_reason: Option<String>,
    /// `banExpires` (admin plugin): when a ban lapses (`None`: until lifted,
    /// or no ban).
    #[serde(serialize_with = "crate::date::serialize_opt")]
    pub ban_expires: Option<SystemTime>,
    /// `twoFactorEnabled` (two-factor plugin); `None` on rows written
    /// without it.
    pub two_factor_enabled: Option<bool>,
}

impl User {
    /// A new user as `INSERT_USER` writes it, with the plugins' defaults
    /// (role `user`, not banned, two-factor off).
    pub(crate) fn new_row(
        id: UserId,
        (name, email): (String, String),
        email_verified: bool,
        image: Option<String>,
        now: SystemTime,
    ) -> Self {
        Self {
            id,
            name,
            email,
            email_verified,
            image,
            created_at: now,
            updated_at: now,
            role: Some("user".to_owned()),
            banned: Some(false),
            ban_reason: None,
            ban_expires: None,
            two_factor_enabled: Some(false),
        }
    }
}

/// A row of `session`. Its `Debug` leaves the token out.
///
/// Serializes in Better Auth's field names (camelCase, dates as ISO-8601
/// strings): `{"id","userId","expiresAt","createdAt","updatedAt","ipAddress",
/// "userAgent","activeOrganizationId"}`, **without `token`**. Better Auth's `get-session` and
/// `list-sessions` do return the token, but it is a bearer secret: whoever
/// reads it can act as the user until the session ends, so a JSON view written
/// to a page, a log or another user's session list must not carry it. A host
/// that serves Better Auth's wire format adds `session.token` itself, only in
/// the answer to the session's own owner.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// `id`.
    pub id: String,
    /// `token`: the secret the cookie carries (signed). Never serialized.
    #[serde(skip_serializing)]
    pub token: String,
    /// `userId`.
    pub user_id: UserId,
    /// `expiresAt`.
    #[serde(serialize_with = "crate::date::serialize")]
    pub expires_at: SystemTime,
    /// `createdAt`.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
    /// `updatedAt`: last refresh.
    #[serde(serialize_with = "crate::date::serialize")]
    pub updated_at: SystemTime,
    /// `ipAddress` of the request that created it.
    pub ip_address: Option<String>,
    /// `userAgent` of the request that created it.
    pub user_agent: Option<String>,
    /// `impersonatedBy`: the admin who holds this session while impersonating
    /// its user ([`crate::Auth::admin_impersonate_user`]); serialized only
    /// when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_by: Option<UserId>,
    /// `activeOrganizationId` (organization plugin): the organization set
    /// active in this session, `null` when none.
    pub active_organization_id: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("ip_address", &self.ip_address)
            .field("user_agent", &self.user_agent)
            .field("impersonated_by", &self.impersonated_by)
            .field("active_organization_id", &self.active_organization_id)
            .finish_non_exhaustive()
    }
}

/// A valid session and its user, as [`crate::Auth::get_session`] returns them.
///
/// Serializes as Better Auth's `get-session` answer, `{"session","user"}`
/// (the session without its token, see [`Session`]); `refreshed` is left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuthSession {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: User,
    /// Whether this call extended the session (sliding expiry), so the host
    /// should send the session cookie again.
    #[serde(skip_serializing)]
    pub refreshed: bool,
}

/// What a successful sign-up or sign-in returns.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// The new session.
    pub session: Session,
    /// Whether the session is remembered (a persistent cookie).
    pub remember_me: bool,
}

/// What a sign-up returns: the user and, unless the platform requires a
/// verified email first, its session.
#[derive(Clone, Debug)]
pub struct SignedUp {
    /// The user (with `require_email_verification`, for an address that
    /// already has an account, a synthetic user that was not stored: the
    /// answer does not tell the two apart).
    pub user: User,
    /// The new session; `None` (Better Auth's `token: null`) when the email
    /// must be verified before signing in.
    pub session: Option<Session>,
    /// Whether the session is remembered (a persistent cookie).
    pub remember_me: bool,
}

impl SignedUp {
    /// The session token, if a session was created.
    pub fn token(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.token.as_str())
    }

    /// The user and its session as after a sign-in; `None` without a session.
    pub fn signed_in(self) -> Option<SignedIn> {
        let session = self.session?;
        Some(SignedIn {
            user: self.user,
            session,
            remember_me: self.remember_me,
        })
    }
}

/// Who made a request: recorded on sessions and in the audit log, used by the
/// rate limiter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The client's IP address (from the connection or a trusted proxy's
    /// `x-forwarded-for`).
    pub ip_address: Option<String>,
    /// The `user-agent` header.
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// Metadata with an IP address and user agent.
    pub fn new(ip_address: impl Into<String>, user_agent: impl Into<String>) -> Self {
        Self {
            ip_address: Some(ip_address.into()),
            user_agent: Some(user_agent.into()),
        }
    }
}

/// The body of Better Auth's `POST /sign-up/email`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUpEmail {
    /// Display name.
    pub name: String,
    /// Email address; trimmed and lowercased before use.
    pub email: String,
    /// Password, 8–128 characters after NFKC by default.
    pub password: String,
    /// Profile image URL.
    #[serde(default)]
    pub image: Option<String>,
    /// Keep the session for `expiresIn` (default) or for one day with a
    /// browser-session cookie.
    #[serde(default = "default_true")]
    pub remember_me: bool,
}

/// The body of Better Auth's `POST /sign-in/email`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInEmail {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
    /// See [`SignUpEmail::remember_me`].
    #[serde(default = "default_true")]
    pub remember_me: bool,
}

fn default_true() -> bool {
    true
}

impl SignUpEmail {
    /// A sign-up with `remember_me` on and no image.
    pub fn new(
        name: impl Into<String>,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
            password: password.into(),
            image: None,
            remember_me: true,
        }
    }

    /// Parses a JSON request body; malformed JSON is [`AuthError::BadRequest`], a
    /// missing or mistyped field [`neutrino_core::Error::InvalidInput`] (code `VALIDATION_ERROR`). Errors never quote
    /// the body.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        from_json(body)
    }
}

impl SignInEmail {
    /// A sign-in with `remember_me` on.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            remember_me: true,
        }
    }

    /// Parses a JSON request body, as [`SignUpEmail::from_json`].
    pub fn from_json(body: &[u8]) -> Result<Self> {
        from_json(body)
    }
}

impl fmt::Debug for SignUpEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignUpEmail")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("image", &self.image)
            .field("remember_me", &self.remember_me)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SignInEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInEmail")
            .field("email", &self.email)
            .field("remember_me", &self.remember_me)
            .finish_non_exhaustive()
    }
}

/// Longest JSON body accepted by the `from_json` parsers.
pub const MAX_JSON_BODY: usize = 64 * 1024;

fn from_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T> {
    if body.len() > MAX_JSON_BODY {
        return Err(AuthError::validation(
            "body",
            format!("must be at most {MAX_JSON_BODY} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            // serde_json's data errors may quote the offending value (a
            // password): only the position is kept.
            Category::Data => AuthError::validation(
                "body",
                format!(
                    "a field is missing or has the wrong type (line {} column {})",
                    e.line(),
                    e.column()
                ),
            ),
            Category::Io | Category::Syntax | Category::Eof => AuthError::BadRequest {
                line: e.line(),
                column: e.column(),
            },
        }
    })
}
