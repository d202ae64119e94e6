//! Sessions behind one narrow interface, [`SessionStore`]: validation with
//! sliding expiry, listing, revocation and sign-out. [`DbSessions`] keeps
//! them in the auth database; the validation cache
//! ([`crate::cache::CachingSessions`]) wraps a store and implements the same
//! trait, so no caller checks the cache (tower-sessions' `CachingSessionStore`
//! shape). This module never imports [`crate::Auth`].

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use neutrino_core::clock::{SharedClock, millis_since_epoch};
use neutrino_core::ids::UserId;
use neutrino_core::sql::{SqlExecutor, Statement};

use crate::audit::AuditEvent;
use crate::cookie::{MAX_TOKEN_LEN, SessionCookies};
use crate::date;
use crate::error::Result;
use crate::gate::PlatformGate;
use crate::model::{AuthSession, RequestMeta, Session};
use crate::random::random_id;
use crate::rows::{clip, parse_user_id, session_from_row, user_from_row};

/// Session lifetimes, Better Auth's `session` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// `expiresIn`: lifetime of a remembered session (default 7 days); also the
    /// cookie's `Max-Age`.
    pub expires_in: Duration,
    /// `updateAge`: a session is extended by `expires_in` once it is this old
    /// since its last extension (default 1 day).
    pub update_age: Duration,
    /// `freshAge`: sensitive operations need a session younger than this
    /// (default 1 day; zero turns the check off).
    pub fresh_age: Duration,
    /// Lifetime of a session created with "remember me" off (default 1 day).
    pub dont_remember_expires_in: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            expires_in: Duration::from_secs(7 * 24 * 3600),
            update_age: Duration::from_secs(24 * 3600),
            fresh_age: Duration::from_secs(24 * 3600),
            dont_remember_expires_in: Duration::from_secs(24 * 3600),
        }
    }
}

/// Options of [`crate::Auth::get_session_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetSessionOptions {
    /// Do not extend the session (Better Auth's `disableRefresh`, and what a
    /// `dont_remember` cookie implies).
    pub disable_refresh: bool,
    /// Skip the validation cache and read the database.
    pub disable_cache: bool,
}

impl GetSessionOptions {
    /// Do not extend the session; the cache may answer.
    pub(crate) const QUIET: Self = Self {
        disable_refresh: true,
        disable_cache: false,
    };
}

pub(crate) const INSERT_SESSION_SELECT: &str = r#"INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8"#;
const INSERT_SESSION: &str = r#"INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"#;
/// The session and its user by token, the statement every uncached
/// validation runs: its text is shared, not copied, by each call.
static SELECT_SESSION: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(SELECT_SESSION_SQL));
const SELECT_SESSION_SQL: &str = r#"SELECT s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt", u."role", u."banned", u."banReason", u."banExpires", u."twoFactorEnabled", s."impersonatedBy", s."activeOrganizationId" FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = ?1"#;
const REFRESH_SESSION: &str =
    r#"UPDATE "session" SET "expiresAt" = ?1, "updatedAt" = ?2 WHERE "token" = ?3"#;
const DELETE_SESSION: &str = r#"DELETE FROM "session" WHERE "token" = ?1"#;
const DELETE_USER_SESSION: &str = r#"DELETE FROM "session" WHERE "token" = ?1 AND "userId" = ?2"#;
const DELETE_USER_SESSIONS: &str = r#"DELETE FROM "session" WHERE "userId" = ?1"#;
const DELETE_OTHER_SESSIONS: &str =
    r#"DELETE FROM "session" WHERE "userId" = ?1 AND "token" <> ?2"#;
const SELECT_USER_SESSIONS: &str = r#"SELECT "id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "activeOrganizationId" FROM "session" WHERE "userId" = ?1 AND "expiresAt" > ?2 AND "impersonatedBy" IS NULL ORDER BY "createdAt""#;
/// Audit rows written from the session being deleted, in the same batch.
const AUDIT_FROM_SESSION: &str = r#"INSERT INTO "neutrinoAuditLog" ("id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail") SELECT ?1, ?2, ?3, s."userId", s."id", NULL, ?4, ?5, NULL FROM "session" s WHERE s."token" = ?6"#;

/// SQL that holds unless the user whose ID is bound at placeholder `user` is
/// banned at the time bound at `now` (an ISO date): Better Auth's admin
/// plugin refuses a session to a banned user and lets an expired ban lapse.
/// Every session insert for a user's own sign-in carries it, so a ban
/// committed before the insert always wins.
pub(crate) fn not_banned(user: &str, now: &str) -> String {
    format!(
        r#"NOT EXISTS (SELECT 1 FROM "user" WHERE "id" = {user} AND "banned" = 1 AND ("banExpires" IS NULL OR "banExpires" > {now}))"#
    )
}

/// Lifts the ban of the user bound at ?2 if it expired before ?1 (an ISO
/// date), as Better Auth does when that user next signs in.
pub(crate) const LIFT_EXPIRED_BAN: &str = r#"UPDATE "user" SET "banned" = 0, "banReason" = NULL, "banExpires" = NULL, "updatedAt" = ?1 WHERE "id" = ?2 AND "banned" = 1 AND "banExpires" IS NOT NULL AND "banExpires" <= ?1"#;

/// Whether a stored ban (`banned`, `banExpires`) is in force at `now`.
pub(crate) fn ban_in_force(banned: Option<bool>, expires: Option<&str>, now: SystemTime) -> bool {
    banned == Some(true) && expires.is_none_or(|e| e > date::format(now).as_str())
}

/// Which of a user's sessions a revocation ends.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Revoke<'a> {
    /// The session with this token, if it is the user's.
    One(&'a UserId, &'a str),
    /// Every session of the user.
    All(&'a UserId),
    /// Every session of the user but this one (`None`: all of them).
    Others(&'a UserId, Option<&'a str>),
}

impl Revoke<'_> {
    /// The user whose sessions end.
    pub(crate) fn user(&self) -> &UserId {
        match *self {
            Self::One(user, _) | Self::All(user) | Self::Others(user, _) => user,
        }
    }
}

/// The sessions of one auth database, as the flows see them.
#[async_trait]
pub(crate) trait SessionStore: Send + Sync {
    /// The session with `token` and its user, or `None` if there is none or
    /// it has expired (an expired row is deleted); extends it when due.
    async fn get(&self, token: &str, opts: GetSessionOptions) -> Result<Option<Arc<AuthSession>>>;

    /// [`SessionStore::get`] from a signed cookie value; a tampered one is an
    /// error.
    async fn get_signed(
        &self,
        cookie_value: &str,
        opts: GetSessionOptions,
    ) -> Result<Option<Arc<AuthSession>>>;

    /// The user's unexpired sessions, oldest first.
    async fn list(&self, user_id: &UserId) -> Result<Vec<Session>>;

    /// Ends the sessions `which` in one batch with `with` (the audit row, a
    /// password change); returns how many sessions ended.
    async fn revoke(&self, which: Revoke<'_>, with: Vec<Statement>) -> Result<u64>;

    /// Deletes the session with `token` (a no-op for an unknown one), with
    /// its `sign_out` audit row in the same batch.
    async fn sign_out(&self, token: &str, meta: &RequestMeta) -> Result<()>;

    /// Forgets what is held in memory about `user_id` (its user row changed:
    /// role, email verification); a no-op without a cache.
    fn forget_user(&self, user_id: &str);

    /// Forgets what is held in memory about sessions whose active
    /// organization is `org` (it was deleted); a no-op without a cache.
    fn forget_organization(&self, org: &str);

    /// Entries held in memory (0 without a cache).
    fn cached(&self) -> usize;
}

/// A new session row for `user_id` and the statement that inserts it.
pub(crate) fn new_session(
    config: &SessionConfig,
    user_id: &UserId,
    remember_me: bool,
    meta: &RequestMeta,
    now: SystemTime,
) -> Result<(Session, Statement)> {
    let ttl = if remember_me {
        config.expires_in
    } else {
        config.dont_remember_expires_in
    };
    let now = UNIX_EPOCH + Duration::from_millis(millis_since_epoch(now).unsigned_abs());
    let session = Session {
        id: random_id()?,
        token: random_id()?,
        user_id: *user_id,
        expires_at: now + ttl,
        created_at: now,
        updated_at: now,
        ip_address: clip(&meta.ip_address),
        user_agent: clip(&meta.user_agent),
        impersonated_by: None,
        active_organization_id: None,
    };
    let stmt = Statement::new(INSERT_SESSION)
        .bind(session.id.as_str())
        .bind(date::format(session.expires_at))
        .bind(session.token.as_str())
        .bind(date::format(now))
        .bind(date::format(now))
        .bind(session.ip_address.as_deref())
        .bind(session.user_agent.as_deref())
        .bind(user_id.as_str());
    Ok((session, stmt))
}

/// Whether a valid session is due for extension at `now` (sliding expiry,
/// Better Auth's rule: once `now >= expiresAt - expiresIn + updateAge`).
///
/// A "remember me off" session (lifetime no longer than
/// `dont_remember_expires_in`) is never due, even when the caller has no
/// `dont_remember` cookie to tell: otherwise the first validation would turn
/// a one-day session into a seven-day one. An impersonation is time-boxed:
/// never due.
pub(crate) fn refresh_due(cfg: &SessionConfig, session: &Session, now: SystemTime) -> bool {
    if session.impersonated_by.is_some() {
        return false;
    }
    let short_lived = cfg.dont_remember_expires_in < cfg.expires_in
        && session
            .expires_at
            .duration_since(session.created_at)
            .is_ok_and(|life| life <= cfg.dont_remember_expires_in);
    let due = session
        .expires_at
        .checked_sub(cfg.expires_in)
        .map(|t| t + cfg.update_age);
    !short_lived && due.is_none_or(|due| now >= due)
}

/// Sessions in the auth database's `session` table.
pub(crate) struct DbSessions {
    db: Arc<dyn SqlExecutor>,
    cookies: SessionCookies,
    clock: SharedClock,
    config: SessionConfig,
    gate: Arc<PlatformGate>,
}

impl DbSessions {
    /// Sessions in `db`, with these lifetimes; extended only while `gate`
    /// allows writes.
    pub(crate) fn new(
        db: Arc<dyn SqlExecutor>,
        cookies: SessionCookies,
        clock: SharedClock,
        config: SessionConfig,
        gate: Arc<PlatformGate>,
    ) -> Self {
        Self {
            db,
            cookies,
            clock,
            config,
            gate,
        }
    }
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn get(&self, token: &str, opts: GetSessionOptions) -> Result<Option<Arc<AuthSession>>> {
        // A token never holds NUL (PostgreSQL cannot even compare one in text).
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.contains('\0') {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(mut row) = self
            .db
            .query(&Statement::new(Arc::clone(&SELECT_SESSION)).bind(token))
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let banned: Option<bool> = row.get(15)?;
        let ban_expires: Option<String> = row.get(17)?;
        let banned = ban_in_force(banned, ban_expires.as_deref(), now);
        let mut session = session_from_row(&mut row)?;
        let user = user_from_row(&mut row, 7, session.user_id)?;
        let impersonated: Option<String> = row.get(19)?;
        session.impersonated_by = impersonated.as_deref().map(parse_user_id).transpose()?;
        session.active_organization_id = row.take(20)?;
        if banned {
            // A ban ends the user's sessions in its own batch; a session that
            // still exists (written by another process meanwhile) is refused.
            return Ok(None);
        }
        if session.expires_at <= now {
            self.db
                .execute(&Statement::new(DELETE_SESSION).bind(token))
                .await?;
            return Ok(None);
        }
        let cfg = &self.config;
        let mut refreshed = false;
        // A suspended platform's sessions validate but are not extended.
        if !opts.disable_refresh
            && refresh_due(cfg, &session, now)
            && self.gate.ensure_writable().await.is_ok()
        {
            let now_trunc =
                UNIX_EPOCH + Duration::from_millis(millis_since_epoch(now).unsigned_abs());
            let expires = now_trunc + cfg.expires_in;
            self.db
                .execute(
                    &Statement::new(REFRESH_SESSION)
                        .bind(date::format(expires))
                        .bind(date::format(now_trunc))
                        .bind(token),
                )
                .await?;
            session.expires_at = expires;
            session.updated_at = now_trunc;
            refreshed = true;
        }
        Ok(Some(Arc::new(AuthSession {
            session,
            user,
            refreshed,
        })))
    }

    async fn get_signed(
        &self,
        cookie_value: &str,
        opts: GetSessionOptions,
    ) -> Result<Option<Arc<AuthSession>>> {
        let token = self.cookies.verify(cookie_value)?;
        self.get(&token, opts).await
    }

    async fn list(&self, user_id: &UserId) -> Result<Vec<Session>> {
        let rows = self
            .db
            .query(
                &Statement::new(SELECT_USER_SESSIONS)
                    .bind(user_id.as_str())
                    .bind(date::format(self.clock.now())),
            )
            .await?;
        rows.into_iter()
            .map(|mut r| {
                let mut session = session_from_row(&mut r)?;
                session.active_organization_id = r.take(8)?;
                Ok(session)
            })
            .collect()
    }

    async fn revoke(&self, which: Revoke<'_>, with: Vec<Statement>) -> Result<u64> {
        let user_id = which.user().as_str();
        let delete = match which {
            Revoke::One(_, token) => Statement::new(DELETE_USER_SESSION)
                .bind(token)
                .bind(user_id),
            Revoke::All(_) | Revoke::Others(_, None) => {
                Statement::new(DELETE_USER_SESSIONS).bind(user_id)
            }
            Revoke::Others(_, Some(keep)) => Statement::new(DELETE_OTHER_SESSIONS)
                .bind(user_id)
                .bind(keep),
        };
        let mut batch = Vec::with_capacity(with.len() + 1);
        batch.push(delete);
        batch.extend(with);
        let out = self.db.batch(&batch).await?;
        Ok(out.first().map_or(0, |o| o.rows_affected))
    }

    async fn sign_out(&self, token: &str, meta: &RequestMeta) -> Result<()> {
        let batch = [
            Statement::new(AUDIT_FROM_SESSION)
                .bind(random_id()?)
                .bind(date::format(self.clock.now()))
                .bind(AuditEvent::SignOut.as_str())
                .bind(meta.ip_address.as_deref())
                .bind(meta.user_agent.as_deref())
                .bind(token),
            Statement::new(DELETE_SESSION).bind(token),
        ];
        self.db.batch(&batch).await?;
        Ok(())
    }

    fn forget_user(&self, _user_id: &str) {}

    fn forget_organization(&self, _org: &str) {}

    fn cached(&self) -> usize {
        0
    }
}
