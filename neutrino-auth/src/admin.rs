//! Better Auth's admin plugin on the same rows: platform admins list and
//! search users, set roles, ban and unban, impersonate users, create,
//! update and remove users, list and revoke their sessions, set their
//! passwords, and check permissions ([`AdminConfig::has_permission`]:
//! Better Auth's default `admin` role, [`ADMIN_ROLE_PERMISSIONS`], and
//! [`AdminConfig::admin_user_ids`]).
//!
//! * **Who is an admin.** A user whose `user.role` (a comma-separated list,
//!   as Better Auth stores it) holds one of [`AdminConfig::admin_roles`]
//!   (Better Auth's `adminRoles`, default `admin`) or Neutrino's
//!   `platform-admin`. The same names make a user a platform admin of
//!   [`crate::org`] ([`crate::access::PlatformRole::Admin`]).
//! * **Every operation** takes the caller's session token, reads the caller's
//!   role from the database (never from a cache), refuses on a suspended or
//!   deleted platform, and writes its change and its audit entry in one
//!   batch guarded on the caller's session still existing with the role that
//!   was read: a caller demoted or signed out meanwhile changes nothing.
//! * **Bans** (Better Auth's `banned`, `banReason`, `banExpires`): the ban and
//!   the deletion of every session of the user are one batch, and every
//!   session insert of a sign-in is guarded on the user not being banned, so
//!   a ban and a concurrent sign-in never leave a session behind. A banned
//!   user's sign-in answers `BANNED_USER` (403) once the password is right;
//!   a ban whose `banExpires` has passed is lifted by that user's next
//!   sign-in, as in Better Auth.
//! * **Impersonation** creates a session of the target marked
//!   `session.impersonatedBy` with the admin's ID, lasting
//!   [`AdminConfig::impersonation_duration`] (Better Auth's 1 h) and never
//!   extended, left out of the target's [`Auth::list_sessions`]. Admins are
//!   not impersonated unless [`AdminConfig::allow_impersonating_admins`].
//!   Start and stop are each audited twice, for the admin and for the user.
//!   [`Auth::stop_impersonating`] needs the admin's own session token (what
//!   Better Auth keeps in its signed `admin_session` cookie) and returns that
//!   session.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use neutrino_core::ids::UserId;
use neutrino_core::sql::{Row, Statement, Value};
use serde::Serialize;
use tracing::Instrument;

use crate::Auth;
use crate::access::{PlatformRole, has_role};
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::auth::span;
use crate::date;
use crate::error::{AuthError, Result};
use crate::model::{AuthSession, RequestMeta, SignedIn, User};
use crate::rows::{USER_COLUMNS, parse_user_id, user_from_row};
use crate::session::{self, GetSessionOptions};

mod users;

pub use users::{AdminUpdateUser, CreateUser};

/// Longest ban reason, in bytes.
pub const MAX_BAN_REASON_LEN: usize = 2000;
/// Longest role name, in bytes.
pub const MAX_ROLE_LEN: usize = 64;
/// Most users one [`Auth::admin_list_users`] call returns.
pub const MAX_LIST_LIMIT: u32 = 1000;
/// Longest ban: about 100 years.
const MAX_BAN: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

/// Better Auth's admin plugin options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// Role names that make a user an admin (Better Auth's `adminRoles`,
    /// default `["admin"]`); `platform-admin` always does.
    pub admin_roles: Vec<String>,
    /// Lifetime of an impersonation session (Better Auth's
    /// `impersonationSessionDuration`, default 1 h).
    pub impersonation_duration: Duration,
    /// Whether admins may impersonate other admins (Better Auth's
    /// `allowImpersonatingAdmins`, default `false`).
    pub allow_impersonating_admins: bool,
    /// The ban reason when none is given (Better Auth's `defaultBanReason`,
    /// default `No reason`).
    pub default_ban_reason: String,
    /// The ban length when none is given (Better Auth's
    /// `defaultBanExpiresIn`; default `None`: until lifted).
    pub default_ban_expires_in: Option<Duration>,
    /// Users who hold every admin permission whatever their role (Better
    /// Auth's `adminUserIds`), `user:impersonate-admins` included.
    pub admin_user_ids: Vec<UserId>,
}

/// What Better Auth's default `admin` role grants (its `adminAc`), per
/// resource; the `user` role grants nothing. `user:impersonate-admins` is
/// granted to [`AdminConfig::admin_user_ids`] only.
pub const ADMIN_ROLE_PERMISSIONS: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "create",
            "list",
            "set-role",
            "ban",
            "impersonate",
            "delete",
            "set-password",
            "set-email",
            "set-phone",
            "get",
            "update",
        ],
    ),
    ("session", &["list", "revoke", "delete"]),
];

/// Every resource and action of Better Auth's admin access control (its
/// `defaultStatements`).
const KNOWN_RESOURCES: &[&str] = &["user", "session"];

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            admin_roles: vec!["admin".to_owned()],
            impersonation_duration: Duration::from_secs(3600),
            allow_impersonating_admins: false,
            default_ban_reason: "No reason".to_owned(),
            default_ban_expires_in: None,
            admin_user_ids: Vec::new(),
        }
    }
}

impl AdminConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |key, reason: &str| AuthError::config(key, reason);
        if self.admin_roles.iter().any(|r| check_role(r).is_err()) {
            return Err(bad(
                "admin.admin_roles",
                "each must be 1-64 bytes without commas or control characters",
            ));
        }
        if self.impersonation_duration < Duration::from_secs(60)
            || self.impersonation_duration > Duration::from_secs(7 * 24 * 3600)
        {
            return Err(bad(
                "admin.impersonation_duration",
                "must be between 60 s and 7 days",
            ));
        }
        check_reason(&self.default_ban_reason)
            .map_err(|_| bad("admin.default_ban_reason", "must be 1-2000 bytes of text"))?;
        if self
            .default_ban_expires_in
            .is_some_and(|d| d.is_zero() || d > MAX_BAN)
        {
            return Err(bad(
                "admin.default_ban_expires_in",
                "must be between 1 s and 100 years",
            ));
        }
        Ok(())
    }

    /// Whether a stored `user.role` makes its user an admin.
    pub fn is_admin(&self, role: Option<&str>) -> bool {
        role.is_some_and(|r| {
            has_role(r, PlatformRole::Admin.as_str())
                || self.admin_roles.iter().any(|a| has_role(r, a))
        })
    }

    /// Whether `user`, whose stored `user.role` is `role`, is an admin: one
    /// of [`AdminConfig::admin_user_ids`] or an admin role.
    pub fn is_admin_user(&self, user: &UserId, role: Option<&str>) -> bool {
        self.admin_user_ids.contains(user) || self.is_admin(role)
    }

    /// Better Auth's admin `hasPermission`: whether `user` with the stored
    /// `role` holds every action asked of every resource in `permissions`
    /// (`{"user": ["create"], "session": ["list"]}`). One of
    /// [`AdminConfig::admin_user_ids`] holds all; an admin role holds
    /// [`ADMIN_ROLE_PERMISSIONS`]; any other role nothing. An empty request,
    /// an unknown resource or an empty list of actions is not granted.
    pub fn has_permission(
        &self,
        user: &UserId,
        role: Option<&str>,
        permissions: &[(String, Vec<String>)],
    ) -> bool {
        if self.admin_user_ids.contains(user) {
            return true;
        }
        if permissions.is_empty() || !self.is_admin(role) {
            return false;
        }
        permissions.iter().all(|(resource, actions)| {
            KNOWN_RESOURCES.contains(&resource.as_str())
                && !actions.is_empty()
                && ADMIN_ROLE_PERMISSIONS
                    .iter()
                    .find(|(r, _)| r == resource)
                    .is_some_and(|(_, granted)| {
                        actions.iter().all(|a| granted.contains(&a.as_str()))
                    })
        })
    }

    /// Whether `actor` may act on an admin `target` as on themselves
    /// (impersonate them, set their password or email): Better Auth's
    /// `allowImpersonatingAdmins` or `user:impersonate-admins`.
    fn may_act_as_admins(&self, actor: &UserId) -> bool {
        self.allow_impersonating_admins || self.admin_user_ids.contains(actor)
    }
}

fn check_role(role: &str) -> Result<()> {
    if role.is_empty()
        || role.len() > MAX_ROLE_LEN
        || role != role.trim()
        || role.contains(',')
        || role.chars().any(char::is_control)
    {
        return Err(AuthError::validation(
            "role",
            "each role must be 1-64 bytes without commas, surrounding spaces or control characters",
        ));
    }
    Ok(())
}

fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty()
        || reason.len() > MAX_BAN_REASON_LEN
        || reason.chars().any(char::is_control)
    {
        return Err(AuthError::validation(
            "banReason",
            "must be 1-2000 bytes of text without control characters",
        ));
    }
    Ok(())
}

/// A user with the admin plugin's fields, as Better Auth's admin endpoints
/// answer it: the [`User`] (which carries `role`, `banned`, `banReason`,
/// `banExpires` itself, as stored), with the ban read as in force or not.
/// Serializes as its user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// `role`: comma-separated role names (`None` on rows written without it).
    #[serde(skip)]
    pub role: Option<String>,
    /// `banned` (`false` on rows written without it).
    #[serde(skip)]
    pub banned: bool,
    /// `banReason`.
    #[serde(skip)]
    pub ban_reason: Option<String>,
    /// `banExpires`: when the ban lapses (`None`: until lifted).
    #[serde(skip)]
    pub ban_expires: Option<SystemTime>,
}

/// Which user column [`ListUsers`] searches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SearchField {
    /// `email` (Better Auth's default).
    #[default]
    Email,
    /// `name`.
    Name,
}

/// How [`ListUsers::search_value`] matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SearchOperator {
    /// Anywhere in the field (Better Auth's default).
    #[default]
    Contains,
    /// At the start.
    StartsWith,
    /// At the end.
    EndsWith,
}

/// Better Auth's `GET /admin/list-users` query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListUsers {
    /// Text to search for (case-insensitive for ASCII); `None`: every user.
    pub search_value: Option<String>,
    /// The column searched.
    pub search_field: SearchField,
    /// How it matches.
    pub search_operator: SearchOperator,
    /// At most this many users (default 100, at most [`MAX_LIST_LIMIT`]).
    pub limit: Option<u32>,
    /// Users skipped first.
    pub offset: Option<u32>,
    /// Newest first instead of oldest first.
    pub descending: bool,
}

/// What [`Auth::admin_list_users`] answers: `{"users","total","limit","offset"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserList {
    /// The page of users.
    pub users: Vec<AdminUser>,
    /// How many users match in all.
    pub total: u64,
    /// The limit applied.
    pub limit: u32,
    /// The offset applied.
    pub offset: u32,
}

/// The caller of an admin operation, as read from the database.
struct AdminActor {
    user_id: UserId,
    session_id: String,
    role: String,
}

impl AdminActor {
    /// SQL that holds while the caller's session exists and its user still
    /// has the role that was read; its two placeholders are `?{at}` and
    /// `?{at+1}`, bound by [`AdminActor::guard_params`].
    fn guard(at: usize) -> String {
        format!(
            r#"EXISTS (SELECT 1 FROM "session" gs JOIN "user" gu ON gu."id" = gs."userId" WHERE gs."id" = ?{at} AND COALESCE(gu."role", '') = ?{})"#,
            at + 1
        )
    }

    fn guard_params(&self) -> [Value; 2] {
        [
            Value::from(self.session_id.clone()),
            Value::from(self.role.clone()),
        ]
    }

    /// `sql` (a statement ending in a `WHERE` clause, with `params` bound
    /// from `?1`) with [`AdminActor::guard`] added to that clause.
    fn guarded(&self, sql: &str, mut params: Vec<Value>) -> Statement {
        let sql = format!("{sql} AND {}", Self::guard(params.len() + 1));
        params.extend(self.guard_params());
        Statement::with_params(sql, params)
    }
}

/// Deletes every session of the user `?1` (to be [`AdminActor::guarded`]):
/// its own and those it opened as an impersonator, so an admin who is banned
/// stops acting as anyone at once.
const END_SESSIONS: &str =
    r#"DELETE FROM "session" WHERE ("userId" = ?1 OR "impersonatedBy" = ?1)"#;

/// An admin operation on one user, once the caller is known to be an admin.
struct AdminOp<'a> {
    /// The caller.
    actor: AdminActor,
    /// The user changed.
    user: &'a UserId,
    /// Better Auth's code for a caller who is not allowed.
    code: &'static str,
    /// The request.
    meta: &'a RequestMeta,
    /// The time of the change.
    now: SystemTime,
}

impl AdminOp<'_> {
    /// The time of the change, as stored.
    fn now_text(&self) -> Value {
        date::format(self.now).into()
    }
}

/// The audit entry of an [`AdminOp`]'s change.
struct AdminEntry<'a> {
    event: AuditEvent,
    detail: String,
    /// When the entry lands: SQL whose placeholders start at `?11`, and
    /// their values.
    cond: &'a str,
    params: Vec<Value>,
}

impl<'a> AdminEntry<'a> {
    /// An entry that lands when the write before it changed a row.
    fn new(event: AuditEvent, detail: String) -> Self {
        Self {
            event,
            detail,
            cond: audit::CHANGED,
            params: Vec::new(),
        }
    }

    /// The entry, landing only when `cond` holds.
    fn when(self, cond: &'a str, params: Vec<Value>) -> Self {
        Self {
            cond,
            params,
            ..self
        }
    }
}

fn admin_user_from_row(r: &mut Row) -> Result<AdminUser> {
    let id: String = r.get(0)?;
    let user = user_from_row(r, 0, parse_user_id(&id)?)?;
    Ok(AdminUser {
        role: user.role.clone(),
        banned: user.banned.unwrap_or(false),
        ban_reason: user.ban_reason.clone(),
        ban_expires: user.ban_expires,
        user,
    })
}

fn like_pattern(value: &str, op: SearchOperator) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    match op {
        SearchOperator::Contains => format!("%{escaped}%"),
        SearchOperator::StartsWith => format!("{escaped}%"),
        SearchOperator::EndsWith => format!("%{escaped}"),
    }
}

impl Auth {
    /// The platform role a stored `user.role` gives, with this platform's
    /// admin role names ([`AdminConfig::admin_roles`]).
    pub fn platform_role_of(&self, role: Option<&str>) -> PlatformRole {
        if self.inner.admin.is_admin(role) {
            PlatformRole::Admin
        } else {
            PlatformRole::User
        }
    }

    /// The admin options.
    pub fn admin_config(&self) -> &AdminConfig {
        &self.inner.admin
    }

    /// The user with the admin plugin's fields, or `None`.
    pub async fn get_admin_user(&self, user_id: &UserId) -> Result<Option<AdminUser>> {
        let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" WHERE "id" = ?1"#);
        let row = self
            .db()
            .query(&Statement::new(sql).bind(user_id.as_str()))
            .await?
            .into_iter()
            .next();
        row.map(|mut r| admin_user_from_row(&mut r)).transpose()
    }

    /// The caller behind `token`, if it is an admin; `not_allowed` is Better
    /// Auth's code for a caller who is not.
    async fn admin_actor(&self, token: &str, not_allowed: &'static str) -> Result<AdminActor> {
        self.ensure_writable().await?;
        let found = self.caller_session(token).await?;
        // The role from the database, never from the session cache.
        let row = self
            .db()
            .query(
                &Statement::new(r#"SELECT u."role" FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."id" = ?1"#)
                    .bind(found.session.id.as_str()),
            )
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::Unauthorized)?;
        let role: Option<String> = row.get(0)?;
        if !self
            .inner
            .admin
            .is_admin_user(&found.user.id, role.as_deref())
        {
            return Err(AuthError::NotAllowed { code: not_allowed });
        }
        Ok(AdminActor {
            user_id: found.user.id,
            session_id: found.session.id.clone(),
            role: role.unwrap_or_default(),
        })
    }

    /// After a guarded write changed nothing: `USER_NOT_FOUND` if the target
    /// is gone, else the caller lost its standing meanwhile.
    async fn explain_no_change(&self, target: &UserId, not_allowed: &'static str) -> AuthError {
        match self.get_user(target).await {
            Ok(None) => AuthError::UserNotFound,
            Ok(Some(_)) => AuthError::NotAllowed { code: not_allowed },
            Err(e) => e,
        }
    }

    async fn reload_admin_user(&self, user: &UserId) -> Result<AdminUser> {
        self.get_admin_user(user)
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// [`Auth::admin_actor`] for an operation on `user`.
    async fn admin_op<'a>(
        &self,
        token: &str,
        user: &'a UserId,
        code: &'static str,
        meta: &'a RequestMeta,
    ) -> Result<AdminOp<'a>> {
        Ok(AdminOp {
            actor: self.admin_actor(token, code).await?,
            user,
            code,
            meta,
            now: self.now(),
        })
    }

    /// Writes `writes` (guarded with [`AdminActor::guarded`]) and `entry`
    /// in one batch and drops the user's cached sessions; when write
    /// `decides` changed nothing, says why. Returns the rows write `decides`
    /// (else the first) affected.
    async fn admin_change(
        &self,
        op: &AdminOp<'_>,
        writes: Vec<Statement>,
        decides: Option<usize>,
        entry: AdminEntry<'_>,
    ) -> Result<u64> {
        let entry = audit::insert_where(
            entry.event,
            AuditRecord {
                user_id: Some(op.user.as_str()),
                detail: Some(entry.detail),
                ..AuditRecord::default()
            },
            op.meta,
            op.now,
            entry.cond,
            entry.params,
        )?;
        let out = self.db().write_audited(writes, entry).await?;
        let affected = out.get(decides.unwrap_or(0)).map_or(0, |o| o.rows_affected);
        if decides.is_some() && affected == 0 {
            return Err(self.explain_no_change(op.user, op.code).await);
        }
        self.evict_user(op.user.as_str());
        Ok(affected)
    }

    /// Better Auth's `GET /admin/list-users`: users matching the search,
    /// oldest first, with the total count.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_LIST_USERS`.
    pub async fn admin_list_users(&self, token: &str, query: &ListUsers) -> Result<UserList> {
        async {
            self.admin_actor(token, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
                .await?;
            let limit = query.limit.unwrap_or(100).min(MAX_LIST_LIMIT);
            let offset = query.offset.unwrap_or(0);
            let column = match query.search_field {
                SearchField::Email => r#""email""#,
                SearchField::Name => r#""name""#,
            };
            if query.search_value.as_ref().is_some_and(|v| v.len() > 256) {
                return Err(AuthError::validation(
                    "searchValue",
                    "must be at most 256 bytes",
                ));
            }
            let pattern = query
                .search_value
                .as_deref()
                .map(|v| like_pattern(v, query.search_operator));
            let filter = format!(r#"(?1 IS NULL OR {column} LIKE ?1 ESCAPE '\')"#);
            let order = if query.descending { "DESC" } else { "ASC" };
            let page = Statement::new(format!(
                r#"SELECT {USER_COLUMNS} FROM "user" WHERE {filter} ORDER BY "createdAt" {order}, "id" {order} LIMIT ?2 OFFSET ?3"#
            ))
            .bind(pattern.clone())
            .bind(limit)
            .bind(offset);
            let count =
                Statement::new(format!(r#"SELECT COUNT(*) FROM "user" WHERE {filter}"#))
                    .bind(pattern);
            let users = self
                .db()
                .query(&page)
                .await?
                .into_iter()
                .map(|mut r| admin_user_from_row(&mut r))
                .collect::<Result<Vec<_>>>()?;
            let total: i64 = self
                .db()
                .query(&count)
                .await?
                .first()
                .map(|r| r.get(0))
                .transpose()?
                .unwrap_or(0);
            Ok(UserList {
                users,
                total: u64::try_from(total).unwrap_or(0),
                limit,
                offset,
            })
        }
        .instrument(span("admin_list_users"))
        .await
    }

    /// Better Auth's `POST /admin/set-role`: sets the user's roles (stored
    /// comma-separated). The user's cached sessions are dropped.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE`,
    /// `USER_NOT_FOUND`, `VALIDATION_ERROR` (an empty or malformed role).
    pub async fn admin_set_role(
        &self,
        token: &str,
        user: &UserId,
        roles: &[&str],
        meta: &RequestMeta,
    ) -> Result<AdminUser> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE";
            if roles.is_empty() {
                return Err(AuthError::validation("role", "at least one role"));
            }
            for r in roles {
                check_role(r)?;
            }
            let role = roles.join(",");
            let op = self.admin_op(token, user, CODE, meta).await?;
            let update = op.actor.guarded(
                r#"UPDATE "user" SET "role" = ?1, "updatedAt" = ?2 WHERE "id" = ?3"#,
                vec![role.as_str().into(), op.now_text(), user.as_str().into()],
            );
            let detail = format!("role={role} by admin {}", op.actor.user_id);
            let entry = AdminEntry::new(AuditEvent::PlatformRoleChanged, detail);
            self.admin_change(&op, vec![update], Some(0), entry).await?;
            self.reload_admin_user(user).await
        }
        .instrument(span("admin_set_role"))
        .await
    }

    /// Better Auth's `POST /admin/ban-user`: bans the user (`reason`, or the
    /// configured default; for `expires_in`, or the configured default, or
    /// until lifted) and deletes every session of theirs, in one batch.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_BAN_USERS`,
    /// `YOU_CANNOT_BAN_YOURSELF`, `USER_NOT_FOUND`, `VALIDATION_ERROR`.
    pub async fn admin_ban_user(
        &self,
        token: &str,
        user: &UserId,
        reason: Option<&str>,
        expires_in: Option<Duration>,
        meta: &RequestMeta,
    ) -> Result<AdminUser> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS";
            let cfg = &self.inner.admin;
            let reason = reason.unwrap_or(&cfg.default_ban_reason);
            check_reason(reason)?;
            let expires_in = expires_in.or(cfg.default_ban_expires_in);
            if expires_in.is_some_and(|d| d.is_zero() || d > MAX_BAN) {
                return Err(AuthError::validation(
                    "banExpiresIn",
                    "must be between 1 s and 100 years",
                ));
            }
            let op = self.admin_op(token, user, CODE, meta).await?;
            if op.actor.user_id == *user {
                return Err(AuthError::Refused {
                    code: "YOU_CANNOT_BAN_YOURSELF",
                });
            }
            let expires = expires_in.map(|d| date::format(op.now + d));
            let ban = op.actor.guarded(
                r#"UPDATE "user" SET "banned" = 1, "banReason" = ?1, "banExpires" = ?2, "updatedAt" = ?3 WHERE "id" = ?4"#,
                vec![reason.into(), expires.as_deref().into(), op.now_text(), user.as_str().into()],
            );
            // Same guard: both or neither.
            let end_sessions = op.actor.guarded(END_SESSIONS, vec![user.as_str().into()]);
            let detail = format!(
                "by admin {} until {}: {reason}",
                op.actor.user_id,
                expires.as_deref().unwrap_or("lifted")
            );
            let entry = AdminEntry::new(AuditEvent::UserBanned, detail).when(
                r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?11 AND "banned" = 1 AND "updatedAt" = ?12)"#,
                vec![user.as_str().into(), op.now_text()],
            );
            self.admin_change(&op, vec![ban, end_sessions], Some(0), entry)
                .await?;
            self.reload_admin_user(user).await
        }
        .instrument(span("admin_ban_user"))
        .await
    }

    /// Better Auth's `POST /admin/unban-user`: lifts the ban.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_BAN_USERS`,
    /// `USER_NOT_FOUND`.
    pub async fn admin_unban_user(
        &self,
        token: &str,
        user: &UserId,
        meta: &RequestMeta,
    ) -> Result<AdminUser> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS";
            let op = self.admin_op(token, user, CODE, meta).await?;
            let unban = op.actor.guarded(
                r#"UPDATE "user" SET "banned" = 0, "banReason" = NULL, "banExpires" = NULL, "updatedAt" = ?1 WHERE "id" = ?2"#,
                vec![op.now_text(), user.as_str().into()],
            );
            let detail = format!("by admin {}", op.actor.user_id);
            let entry = AdminEntry::new(AuditEvent::UserUnbanned, detail);
            self.admin_change(&op, vec![unban], Some(0), entry).await?;
            self.reload_admin_user(user).await
        }
        .instrument(span("admin_unban_user"))
        .await
    }

    /// Better Auth's `POST /admin/revoke-user-sessions`: ends every session
    /// of the user. Returns how many ended.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS`.
    pub async fn admin_revoke_user_sessions(
        &self,
        token: &str,
        user: &UserId,
        meta: &RequestMeta,
    ) -> Result<u64> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS";
            let op = self.admin_op(token, user, CODE, meta).await?;
            let delete = op.actor.guarded(END_SESSIONS, vec![user.as_str().into()]);
            let guard = AdminActor::guard(11);
            let detail = format!("all, by admin {}", op.actor.user_id);
            let entry = AdminEntry::new(AuditEvent::SessionRevoked, detail)
                .when(&guard, op.actor.guard_params().into());
            self.admin_change(&op, vec![delete], None, entry).await
        }
        .instrument(span("admin_revoke_user_sessions"))
        .await
    }

    /// Better Auth's `POST /admin/remove-user`: deletes the user with their
    /// sessions, accounts, two-factor setup, memberships and API keys. The
    /// audit log keeps their entries.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS`,
    /// `YOU_CANNOT_REMOVE_YOURSELF`, `USER_NOT_FOUND`.
    pub async fn admin_remove_user(
        &self,
        token: &str,
        user: &UserId,
        meta: &RequestMeta,
    ) -> Result<()> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS";
            let op = self.admin_op(token, user, CODE, meta).await?;
            if op.actor.user_id == *user {
                return Err(AuthError::Refused {
                    code: "YOU_CANNOT_REMOVE_YOURSELF",
                });
            }
            let writes = crate::user::delete_user_statements(
                user,
                &AdminActor::guard(2),
                &op.actor.guard_params(),
            );
            let last = writes.len() - 1;
            let detail = format!("by admin {}", op.actor.user_id);
            let entry = AdminEntry::new(AuditEvent::UserRemoved, detail);
            self.admin_change(&op, writes, Some(last), entry).await?;
            Ok(())
        }
        .instrument(span("admin_remove_user"))
        .await
    }

    /// Better Auth's `POST /admin/impersonate-user`: a session of `user`
    /// marked `impersonatedBy` the caller, lasting
    /// [`AdminConfig::impersonation_duration`], never extended and not in the
    /// user's [`Auth::list_sessions`]. Audited for both the admin and the
    /// user. Keep the caller's own token to call
    /// [`Auth::stop_impersonating`] with.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS`,
    /// `YOU_CANNOT_IMPERSONATE_ADMINS`, `USER_NOT_FOUND`, `BANNED_USER`.
    pub async fn admin_impersonate_user(
        &self,
        token: &str,
        user: &UserId,
        meta: &RequestMeta,
    ) -> Result<SignedIn> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS";
            let actor = self.admin_actor(token, CODE).await?;
            let target = self.get_admin_user(user).await?.ok_or(AuthError::UserNotFound)?;
            let cfg = &self.inner.admin;
            if cfg.is_admin_user(user, target.role.as_deref())
                && !cfg.may_act_as_admins(&actor.user_id)
            {
                return Err(AuthError::NotAllowed {
                    code: "YOU_CANNOT_IMPERSONATE_ADMINS",
                });
            }
            let now = self.now();
            let (mut session, _) = self.new_session(user, false, meta, now)?;
            session.expires_at = session.created_at + cfg.impersonation_duration;
            session.impersonated_by = Some(actor.user_id);
            // The target must still have the role that was checked, must not
            // be banned, and the admin must still be one.
            let insert = actor.guarded(
                &format!(
                    r#"INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId", "impersonatedBy") SELECT ?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM "user" WHERE "id" = ?7 AND COALESCE("role", '') = ?9) AND {}"#,
                    session::not_banned("?7", "?4"),
                ),
                vec![
                    session.id.as_str().into(),
                    date::format(session.expires_at).into(),
                    session.token.as_str().into(),
                    date::format(session.created_at).into(),
                    session.ip_address.as_deref().into(),
                    session.user_agent.as_deref().into(),
                    user.as_str().into(),
                    actor.user_id.as_str().into(),
                    target.role.clone().unwrap_or_default().into(),
                ],
            );
            let made = r#"EXISTS (SELECT 1 FROM "session" WHERE "id" = ?11)"#;
            let for_admin = audit::insert_where(
                AuditEvent::ImpersonationStarted,
                AuditRecord {
                    detail: Some(format!("impersonating user {user} in session {}", session.id)),
                    ..AuditRecord::in_session(actor.user_id.as_str(), &actor.session_id)
                },
                meta,
                now,
                made,
                vec![session.id.clone().into()],
            )?;
            let for_user = audit::insert_where(
                AuditEvent::ImpersonationStarted,
                AuditRecord {
                    detail: Some(format!("impersonated by admin {}", actor.user_id)),
                    ..AuditRecord::in_session(user.as_str(), &session.id)
                },
                meta,
                now,
                made,
                vec![session.id.clone().into()],
            )?;
            let out = self
                .db()
                .write_audited(vec![insert, for_admin], for_user)
                .await?;
            if out.first().map_or(0, |o| o.rows_affected) == 0 {
                let now_target = self.get_admin_user(user).await?;
                return Err(match now_target {
                    None => AuthError::UserNotFound,
                    Some(t) if t.banned
                        && t.ban_expires.is_none_or(|e| e > self.now()) =>
                    {
                        AuthError::BannedUser
                    }
                    Some(_) => AuthError::NotAllowed { code: CODE },
                });
            }
            Ok(SignedIn {
                user: target.user,
                session,
                remember_me: false,
            })
        }
        .instrument(span("admin_impersonate_user"))
        .await
    }

    /// Better Auth's `POST /admin/stop-impersonating`: ends the impersonation
    /// session `token` and returns the admin's own session, `admin_token`
    /// (which must belong to the admin who started it). Audited for both.
    /// Like sign-out, it only takes authority away, so it also works on a
    /// suspended platform.
    ///
    /// Of concurrent calls for one impersonation, one succeeds.
    ///
    /// Errors: `UNAUTHORIZED` (no such session, or it already ended, or
    /// `admin_token` is not the impersonating admin's), `NOT_IMPERSONATING` (Better Auth's 400 "You
    /// are not impersonating anyone").
    pub async fn stop_impersonating(
        &self,
        token: &str,
        admin_token: &str,
        meta: &RequestMeta,
    ) -> Result<Arc<AuthSession>> {
        async {
            let current = self.caller_session(token).await?;
            let row = self
                .db()
                .query(
                    &Statement::new(r#"SELECT "impersonatedBy" FROM "session" WHERE "id" = ?1"#)
                        .bind(current.session.id.as_str()),
                )
                .await?
                .into_iter()
                .next()
                .ok_or(AuthError::Unauthorized)?;
            let by: Option<String> = row.get(0)?;
            let by = by.ok_or(AuthError::Refused {
                code: "NOT_IMPERSONATING",
            })?;
            // The admin's session from the database, never from the cache.
            let admin = self
                .get_session_with(
                    admin_token,
                    GetSessionOptions {
                        disable_refresh: true,
                        disable_cache: true,
                    },
                )
                .await?
                .filter(|a| a.user.id.as_str() == by && a.session.token != token)
                .ok_or(AuthError::Unauthorized)?;
            let now = self.now();
            let live =
                r#"EXISTS (SELECT 1 FROM "session" WHERE "id" = ?11 AND "impersonatedBy" = ?12)"#;
            let params = || {
                vec![
                    Value::from(current.session.id.clone()),
                    Value::from(by.clone()),
                ]
            };
            let for_admin = audit::insert_where(
                AuditEvent::ImpersonationStopped,
                AuditRecord {
                    user_id: Some(&by),
                    session_id: Some(&admin.session.id),
                    detail: Some(format!(
                        "stopped impersonating user {} in session {}",
                        current.user.id, current.session.id
                    )),
                    ..AuditRecord::default()
                },
                meta,
                now,
                live,
                params(),
            )?;
            let for_user = audit::insert_where(
                AuditEvent::ImpersonationStopped,
                AuditRecord {
                    detail: Some(format!("impersonation by admin {by} stopped")),
                    ..AuditRecord::in_session(current.user.id.as_str(), &current.session.id)
                },
                meta,
                now,
                live,
                params(),
            )?;
            // The entries first (they see the session), then its deletion.
            let delete = Statement::new(
                r#"DELETE FROM "session" WHERE "id" = ?1 AND "impersonatedBy" = ?2"#,
            )
            .bind(current.session.id.as_str())
            .bind(by.as_str());
            let out = self.db().batch(&[for_admin, for_user, delete]).await?;
            self.evict_user(current.user.id.as_str());
            // Only the call whose batch ended the session restores the
            // admin's: a concurrent stop found it already gone.
            if out.get(2).map_or(0, |o| o.rows_affected) == 0 {
                return Err(AuthError::Unauthorized);
            }
            Ok(admin)
        }
        .instrument(span("stop_impersonating"))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_roles_are_matched_as_whole_names_in_role_lists() {
        let cfg = AdminConfig::default();
        assert!(cfg.is_admin(Some("admin")));
        assert!(cfg.is_admin(Some("user,admin")));
        assert!(cfg.is_admin(Some("platform-admin")));
        assert!(!cfg.is_admin(Some("administrator")));
        assert!(!cfg.is_admin(Some("user")));
        assert!(!cfg.is_admin(None));
        let custom = AdminConfig {
            admin_roles: vec!["support".into()],
            ..AdminConfig::default()
        };
        assert!(custom.is_admin(Some("support")));
        assert!(!custom.is_admin(Some("admin")));
        assert!(custom.is_admin(Some("platform-admin")));
    }

    #[test]
    fn search_patterns_escape_like_wildcards() {
        assert_eq!(
            like_pattern("a%b_c\\", SearchOperator::Contains),
            "%a\\%b\\_c\\\\%"
        );
        assert_eq!(like_pattern("ada", SearchOperator::StartsWith), "ada%");
        assert_eq!(like_pattern("ada", SearchOperator::EndsWith), "%ada");
    }

    #[test]
    fn config_is_validated() {
        assert!(AdminConfig::default().validate().is_ok());
        for bad in [
            AdminConfig {
                admin_roles: vec!["a,b".into()],
                ..AdminConfig::default()
            },
            AdminConfig {
                impersonation_duration: Duration::ZERO,
                ..AdminConfig::default()
            },
            AdminConfig {
                default_ban_reason: String::new(),
                ..AdminConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
