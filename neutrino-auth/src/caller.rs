//! The caller of an organization operation: [`Callers`] reads a session token's
//! session, the user's email and platform role and the session's active
//! organization in one query, with whatever columns a component joins to it
//! (the scope joins the membership of the active organization), and checks
//! the platform's status before a write. This module never imports the
//! organization components.

use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::sql::{Row, SqlExecutor, Statement};

use crate::Auth;
use crate::access::PlatformRole;
use crate::audit::AuditRecord;
use crate::cookie::MAX_TOKEN_LEN;
use crate::error::{AuthError, Result};
use crate::rows::{parse_user_id, session_from_row};
use crate::session::{ban_in_force, refresh_due};

/// The caller, from a validated session.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub(crate) user_id: UserId,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
    pub(crate) session_id: String,
    pub(crate) token: String,
    pub(crate) active: Option<String>,
    pub(crate) platform_admin: bool,
}

impl Actor {
    /// The audit record of an organization event done by this caller.
    pub(crate) fn record<'a>(
        &'a self,
        org: &'a TenantId,
        detail: Option<String>,
    ) -> AuditRecord<'a> {
        AuditRecord {
            user_id: Some(self.user_id.as_str()),
            session_id: Some(&self.session_id),
            email: None,
            detail,
            organization_id: Some(org.as_str()),
        }
    }
}

/// Columns 0–7: the session as [`session_from_row`] reads it; then the user's
/// email, `emailVerified` and `role`, the session's active organization, the
/// user's ban (`banned`, `banExpires`) and the session's `impersonatedBy`.
const CALLER_COLUMNS: &str = r#"s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent", u."email", u."emailVerified", u."role", s."activeOrganizationId", u."banned", u."banExpires", s."impersonatedBy""#;

/// Where columns joined by a [`Join`] start in the row [`Callers::read`]
/// returns.
pub(crate) const JOINED_AT: usize = 15;

/// Columns read with the caller in the same query: `columns` (a SELECT list)
/// from `joins` (`LEFT JOIN …` clauses that may name the session `s` and the
/// user `u`, without placeholders).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Join<'a> {
    pub(crate) columns: &'a str,
    pub(crate) joins: &'a str,
}

/// Resolves session tokens into [`Actor`]s on one auth database.
#[derive(Clone)]
pub(crate) struct Callers {
    auth: Auth,
}

impl Callers {
    pub(crate) fn new(auth: Auth) -> Self {
        Self { auth }
    }

    /// The auth component (mailer, links, sign-up, user changes).
    pub(crate) fn auth(&self) -> &Auth {
        &self.auth
    }

    pub(crate) fn db(&self) -> &dyn SqlExecutor {
        &**self.auth.db()
    }

    /// The first row `stmt` answers, if any.
    pub(crate) async fn row(&self, stmt: Statement) -> Result<Option<Row>> {
        Ok(self.db().query(&stmt).await?.into_iter().next())
    }

    pub(crate) fn now(&self) -> std::time::SystemTime {
        self.auth.now()
    }

    /// The platform-status check before every state change of organizations,
    /// members, roles, invitations and API keys: the platform's
    /// [`neutrino_core::Error::Suspended`] when it is suspended, `NotFound` when
    /// it is deleted.
    pub(crate) async fn ensure_writable(&self) -> Result<()> {
        self.auth.ensure_writable().await
    }

    /// The caller of a session token; `UNAUTHORIZED` without a valid session.
    pub(crate) async fn actor(&self, token: &str) -> Result<Actor> {
        Ok(self.read(token, None).await?.0)
    }

    /// [`Callers::actor`] for a state-changing call: the platform must be
    /// active first.
    pub(crate) async fn writer(&self, token: &str) -> Result<Actor> {
        self.ensure_writable().await?;
        self.actor(token).await
    }

    /// The caller of `token` and the row it was read from, with `join`'s
    /// columns from [`JOINED_AT`] on: one query.
    ///
    /// The session is valid exactly as [`Auth::get_session`] decides: the row
    /// exists (a revocation anywhere is seen at once), with its user, and has
    /// not expired. A session that has expired or is due for extension goes
    /// through the session store once (which deletes or extends it) before it
    /// is read again.
    pub(crate) async fn read(&self, token: &str, join: Option<Join<'_>>) -> Result<(Actor, Row)> {
        // A token never holds NUL (PostgreSQL cannot even compare one in text).
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.contains('\0') {
            return Err(AuthError::Unauthorized);
        }
        let (columns, joins) = match join {
            Some(j) => (format!(", {}", j.columns), j.joins),
            None => (String::new(), ""),
        };
        let stmt = Statement::new(format!(
            r#"SELECT {CALLER_COLUMNS}{columns} FROM "session" s JOIN "user" u ON u."id" = s."userId" {joins} WHERE s."token" = ?1"#
        ))
        .bind(token);
        let mut upkept = false;
        loop {
            let mut row = self
                .db()
                .query(&stmt)
                .await?
                .into_iter()
                .next()
                .ok_or(AuthError::Unauthorized)?;
            let mut session = session_from_row(&mut row)?;
            let impersonated: Option<String> = row.get(14)?;
            session.impersonated_by = impersonated.as_deref().map(parse_user_id).transpose()?;
            let now = self.now();
            // A banned user's session is no session, as in `get_session`.
            let banned: Option<bool> = row.get(12)?;
            let ban_expires: Option<String> = row.get(13)?;
            if ban_in_force(banned, ban_expires.as_deref(), now) {
                return Err(AuthError::Unauthorized);
            }
            let expired = session.expires_at <= now;
            if !upkept && (expired || refresh_due(self.auth.session_config(), &session, now)) {
                upkept = true;
                self.auth
                    .get_session(token)
                    .await?
                    .ok_or(AuthError::Unauthorized)?;
                continue;
            }
            if expired {
                return Err(AuthError::Unauthorized);
            }
            let role: Option<String> = row.get(10)?;
            let actor = Actor {
                user_id: session.user_id,
                email: row.get(8)?,
                email_verified: row.get(9)?,
                session_id: session.id,
                token: token.to_owned(),
                active: row.get(11)?,
                platform_admin: self.auth.platform_role_of(role.as_deref()) == PlatformRole::Admin,
            };
            return Ok((actor, row));
        }
    }
}
