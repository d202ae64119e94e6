//! Better Auth's admin routes on one user and their sessions: get, create
//! and update a user, list and revoke their sessions, set their password,
//! and the caller's own permission check.
//!
//! Every write is one batch guarded on the caller's session still existing
//! with the admin role that was read, with its
//! audit entry. Writes that would hand the caller another user's
//! credentials (a new password, a new email address, which a reset mail
//! then follows) are refused on an admin target unless the caller may
//! impersonate admins ([`AdminConfig::allow_impersonating_admins`] or
//! [`AdminConfig::admin_user_ids`]), the same rule as impersonation, and
//! their batch is also guarded on the target's role being the one judged.

use neutrino_core::ids::UserId;
use neutrino_core::sql::{Statement, Value};
use tracing::Instrument;

use super::{AdminConfig, AdminEntry, AdminUser, admin_user_from_row, check_role};
use crate::Auth;
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::auth::{MAX_IMAGE_LEN, span};
use crate::credential::CREDENTIAL;
use crate::date;
use crate::email::normalize_email;
use crate::error::{AuthError, Result};
use crate::model::{RequestMeta, Session};
use crate::random::random_id;
use crate::rows::{USER_COLUMNS, parse_user_id, session_from_row};
use crate::user::check_name;

/// Better Auth's `POST /admin/create-user` body.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CreateUser {
    /// The address (normalized as at sign-up; it must be free).
    pub email: String,
    /// The password (the sign-up rules apply); `None`: a user without a
    /// credential account, who signs in some other way.
    pub password: Option<String>,
    /// The display name.
    pub name: String,
    /// The roles (stored comma-separated); `None`: `user`.
    pub roles: Option<Vec<String>>,
    /// `image`.
    pub image: Option<String>,
    /// `emailVerified` (default `false`).
    pub email_verified: bool,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("image", &self.image)
            .field("email_verified", &self.email_verified)
            .finish()
    }
}

/// What Better Auth's `POST /admin/update-user` changes; `None` leaves a
/// field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminUpdateUser {
    /// The new display name.
    pub name: Option<String>,
    /// The new image URL (`Some(None)` removes it).
    pub image: Option<Option<String>>,
    /// The new address (normalized; it must be free).
    pub email: Option<String>,
    /// `emailVerified`.
    pub email_verified: Option<bool>,
    /// The new roles (stored comma-separated).
    pub roles: Option<Vec<String>>,
}

impl AdminUpdateUser {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.image.is_none()
            && self.email.is_none()
            && self.email_verified.is_none()
            && self.roles.is_none()
    }
}

fn check_image(image: Option<&str>) -> Result<()> {
    if image.is_some_and(|i| i.len() > MAX_IMAGE_LEN) {
        return Err(AuthError::validation(
            "image",
            format!("must be at most {MAX_IMAGE_LEN} bytes"),
        ));
    }
    Ok(())
}

fn roles_text(roles: &[String]) -> Result<String> {
    if roles.is_empty() {
        return Err(AuthError::validation("role", "at least one role"));
    }
    for r in roles {
        check_role(r)?;
    }
    Ok(roles.join(","))
}

/// SQL that holds while user `?{at}` exists with the role bound at
/// `?{at+1}` (as it was judged).
fn target_role_guard(at: usize) -> String {
    format!(
        r#"EXISTS (SELECT 1 FROM "user" tu WHERE tu."id" = ?{at} AND COALESCE(tu."role", '') = ?{})"#,
        at + 1
    )
}

const SESSION_COLUMNS: &str = r#""id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "impersonatedBy""#;

impl Auth {
    /// The target of a write that hands out its credentials: refused with
    /// `YOU_CANNOT_IMPERSONATE_ADMINS` on an admin unless `actor` may act as
    /// admins; its role as read, for [`target_role_guard`].
    async fn credential_target(&self, actor: &UserId, target: &UserId) -> Result<String> {
        let found = self
            .get_admin_user(target)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        let cfg: &AdminConfig = &self.inner.admin;
        if cfg.is_admin_user(target, found.role.as_deref()) && !cfg.may_act_as_admins(actor) {
            return Err(AuthError::NotAllowed {
                code: "YOU_CANNOT_IMPERSONATE_ADMINS",
            });
        }
        Ok(found.role.unwrap_or_default())
    }

    /// Better Auth's `GET /admin/get-user`: the user with the admin
    /// plugin's fields.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_GET_USER`,
    /// `USER_NOT_FOUND`.
    pub async fn admin_get_user(&self, token: &str, user: &UserId) -> Result<AdminUser> {
        async {
            self.admin_actor(token, "YOU_ARE_NOT_ALLOWED_TO_GET_USER")
                .await?;
            self.reload_admin_user(user).await
        }
        .instrument(span("admin_get_user"))
        .await
    }

    /// Better Auth's `POST /admin/create-user`: a user (role `user` unless
    /// given) with a credential account when a password is given, in one
    /// batch with its audit entry; no session. The address must be free:
    /// the database's unique constraint decides between concurrent calls.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS`,
    /// `INVALID_EMAIL`, `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`,
    /// `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL`, `VALIDATION_ERROR` (name,
    /// image, role).
    pub async fn admin_create_user(
        &self,
        token: &str,
        req: CreateUser,
        meta: &RequestMeta,
    ) -> Result<AdminUser> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS";
            let actor = self.admin_actor(token, CODE).await?;
            let email = normalize_email(&req.email)?;
            let name = req.name.trim().to_owned();
            check_name(&name)?;
            check_image(req.image.as_deref())?;
            let role = match &req.roles {
                Some(r) => roles_text(r)?,
                None => "user".to_owned(),
            };
            let hash = match &req.password {
                Some(p) => {
                    let p = self.inner.passwords.normalize(p)?;
                    Some(self.inner.passwords.hash(&p).await?)
                }
                None => None,
            };
            let id = UserId::generate_in(self.inner.id_format);
            let now = self.now();
            let stamp = date::format(now);
            let insert = actor.guarded(
                r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "twoFactorEnabled") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, 0, 0 WHERE 1 = 1"#,
                vec![
                    id.as_str().into(),
                    name.as_str().into(),
                    email.as_str().into(),
                    req.email_verified.into(),
                    req.image.as_deref().into(),
                    stamp.as_str().into(),
                    role.as_str().into(),
                ],
            );
            let mut writes = vec![insert];
            if let Some(hash) = hash {
                writes.push(
                    Statement::new(
                        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") SELECT ?1, ?2, ?3, ?2, ?4, ?5, ?5 WHERE EXISTS (SELECT 1 FROM "user" WHERE "id" = ?2)"#,
                    )
                    .bind(random_id()?)
                    .bind(id.as_str())
                    .bind(CREDENTIAL)
                    .bind(hash)
                    .bind(stamp.as_str()),
                );
            }
            let entry = audit::insert_where(
                AuditEvent::SignUp,
                AuditRecord {
                    user_id: Some(id.as_str()),
                    email: Some(&email),
                    detail: Some(format!("created by admin {}", actor.user_id)),
                    ..AuditRecord::default()
                },
                meta,
                now,
                audit::USER_EXISTS,
                vec![id.as_str().into()],
            )?;
            // The password hash took time: the platform may have been
            // suspended since.
            self.ensure_writable().await?;
            let out = match self.db().write_audited(writes, entry).await {
                Ok(out) => out,
                Err(e) if e.is_already_exists() => return Err(AuthError::UserAlreadyExists),
                Err(e) => return Err(e.into()),
            };
            if out.first().map_or(0, |o| o.rows_affected) == 0 {
                return Err(AuthError::NotAllowed { code: CODE });
            }
            self.reload_admin_user(&id).await
        }
        .instrument(span("admin_create_user"))
        .await
    }

    /// Better Auth's `POST /admin/update-user`: changes the user's name,
    /// image, address, `emailVerified` and roles in one guarded batch. A
    /// new address must be free (the unique constraint decides) and, on an
    /// admin, needs the right to act as admins.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS`,
    /// `NO_DATA_TO_UPDATE`, `USER_NOT_FOUND`, `INVALID_EMAIL`,
    /// `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL`,
    /// `YOU_CANNOT_IMPERSONATE_ADMINS`, `VALIDATION_ERROR`.
    pub async fn admin_update_user(
        &self,
        token: &str,
        user: &UserId,
        update: AdminUpdateUser,
        meta: &RequestMeta,
    ) -> Result<AdminUser> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS";
            if update.is_empty() {
                return Err(AuthError::Refused {
                    code: "NO_DATA_TO_UPDATE",
                });
            }
            let name = update.name.as_deref().map(str::trim).map(str::to_owned);
            if let Some(n) = &name {
                check_name(n)?;
            }
            if let Some(i) = &update.image {
                check_image(i.as_deref())?;
            }
            let email = update.email.as_deref().map(normalize_email).transpose()?;
            let role = update.roles.as_deref().map(roles_text).transpose()?;
            let op = self.admin_op(token, user, CODE, meta).await?;
            let credential = email.is_some();
            let target_role = if credential {
                Some(self.credential_target(&op.actor.user_id, user).await?)
            } else {
                None
            };
            let mut sets = vec![r#""updatedAt" = ?1"#.to_owned()];
            let mut params: Vec<Value> = vec![op.now_text(), user.as_str().into()];
            let mut set = |column: &str, v: Value, sets: &mut Vec<String>| {
                params.push(v);
                sets.push(format!(r#""{column}" = ?{}"#, params.len()));
            };
            if let Some(n) = &name {
                set("name", n.as_str().into(), &mut sets);
            }
            if let Some(i) = &update.image {
                set("image", i.as_deref().into(), &mut sets);
            }
            if let Some(e) = &email {
                set("email", e.as_str().into(), &mut sets);
            }
            if let Some(v) = update.email_verified {
                set("emailVerified", v.into(), &mut sets);
            }
            if let Some(r) = &role {
                set("role", r.as_str().into(), &mut sets);
            }
            let mut sql = format!(r#"UPDATE "user" SET {} WHERE "id" = ?2"#, sets.join(", "));
            if let Some(r) = &target_role {
                sql.push_str(&format!(" AND {}", target_role_guard(params.len() + 1)));
                params.push(user.as_str().into());
                params.push(r.as_str().into());
            }
            let write = op.actor.guarded(&sql, params);
            let mut changed: Vec<&str> = Vec::new();
            for (on, what) in [
                (name.is_some(), "name"),
                (update.image.is_some(), "image"),
                (email.is_some(), "email"),
                (update.email_verified.is_some(), "emailVerified"),
                (role.is_some(), "role"),
            ] {
                if on {
                    changed.push(what);
                }
            }
            let detail = format!("{} by admin {}", changed.join(","), op.actor.user_id);
            let entry = AdminEntry::new(AuditEvent::UserUpdated, detail);
            match self.admin_change(&op, vec![write], Some(0), entry).await {
                Ok(_) => {}
                Err(AuthError::Store(e)) if e.is_already_exists() => {
                    return Err(AuthError::UserAlreadyExists);
                }
                Err(e) => return Err(e),
            }
            self.reload_admin_user(user).await
        }
        .instrument(span("admin_update_user"))
        .await
    }

    /// Better Auth's `POST /admin/list-user-sessions`: the user's unexpired
    /// sessions, impersonation sessions included (with `impersonatedBy`),
    /// oldest first. A [`Session`] serializes without its token.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS`.
    pub async fn admin_list_user_sessions(
        &self,
        token: &str,
        user: &UserId,
    ) -> Result<Vec<Session>> {
        async {
            self.admin_actor(token, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS")
                .await?;
            let stmt = Statement::new(format!(
                r#"SELECT {SESSION_COLUMNS} FROM "session" WHERE "userId" = ?1 AND "expiresAt" > ?2 ORDER BY "createdAt", "id""#
            ))
            .bind(user.as_str())
            .bind(date::format(self.now()));
            self.db()
                .query(&stmt)
                .await?
                .into_iter()
                .map(|mut r| {
                    let mut s = session_from_row(&mut r)?;
                    let by: Option<String> = r.get(8)?;
                    s.impersonated_by = by.as_deref().map(parse_user_id).transpose()?;
                    Ok(s)
                })
                .collect()
        }
        .instrument(span("admin_list_user_sessions"))
        .await
    }

    /// Better Auth's `POST /admin/revoke-user-session`: ends the session
    /// whose token, or ID, is `session` (whoever's it is; nothing for an
    /// unknown one, as in Better Auth). Returns how many sessions ended.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS`.
    pub async fn admin_revoke_user_session(
        &self,
        token: &str,
        session: &str,
        meta: &RequestMeta,
    ) -> Result<u64> {
        async {
            let actor = self
                .admin_actor(token, "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
                .await?;
            if session.is_empty() {
                return Ok(0);
            }
            // Whose it is, to drop from the session cache afterwards.
            let owner: Option<String> = self
                .db()
                .query(
                    &Statement::new(
                        r#"SELECT "userId" FROM "session" WHERE "token" = ?1 OR "id" = ?1"#,
                    )
                    .bind(session),
                )
                .await?
                .first()
                .map(|r| r.get(0))
                .transpose()?;
            let now = self.now();
            // The entry first (it reads the session), then the deletion;
            // both under the caller's guard.
            let entry = actor.guarded(
                r#"INSERT INTO "neutrinoAuditLog" ("id", "createdAt", "event", "userId", "sessionId", "email", "ipAddress", "userAgent", "detail") SELECT ?1, ?2, ?3, s."userId", s."id", NULL, ?4, ?5, ?6 FROM "session" s WHERE (s."token" = ?7 OR s."id" = ?7)"#,
                vec![
                    random_id()?.into(),
                    date::format(now).into(),
                    AuditEvent::SessionRevoked.as_str().into(),
                    crate::rows::clip(&meta.ip_address).into(),
                    crate::rows::clip(&meta.user_agent).into(),
                    format!("one, by admin {}", actor.user_id).into(),
                    session.into(),
                ],
            );
            let delete = actor.guarded(
                r#"DELETE FROM "session" WHERE ("token" = ?1 OR "id" = ?1)"#,
                vec![session.into()],
            );
            let out = self.db().batch(&[entry, delete]).await?;
            if let Some(owner) = owner {
                self.evict_user(&owner);
            }
            Ok(out.get(1).map_or(0, |o| o.rows_affected))
        }
        .instrument(span("admin_revoke_user_session"))
        .await
    }

    /// Better Auth's `POST /admin/set-user-password`: the user's credential
    /// password (the sign-up rules apply), made if they had none; their
    /// sessions are kept, as in Better Auth (end them with
    /// [`Auth::admin_revoke_user_sessions`]). On an admin target it needs
    /// the right to act as admins.
    ///
    /// Errors: `UNAUTHORIZED`, `YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD`,
    /// `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`, `USER_NOT_FOUND`,
    /// `YOU_CANNOT_IMPERSONATE_ADMINS`.
    pub async fn admin_set_user_password(
        &self,
        token: &str,
        user: &UserId,
        new_password: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        async {
            const CODE: &str = "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD";
            let password = self.inner.passwords.normalize(new_password)?;
            let op = self.admin_op(token, user, CODE, meta).await?;
            let target_role = self.credential_target(&op.actor.user_id, user).await?;
            let hash = self.inner.passwords.hash(&password).await?;
            self.ensure_writable().await?;
            let target = target_role_guard(5);
            let update = op.actor.guarded(
                &format!(
                    r#"UPDATE "account" SET "password" = ?1, "updatedAt" = ?2 WHERE "userId" = ?3 AND "providerId" = ?4 AND {target}"#
                ),
                vec![
                    hash.as_str().into(),
                    op.now_text(),
                    user.as_str().into(),
                    CREDENTIAL.into(),
                    user.as_str().into(),
                    target_role.as_str().into(),
                ],
            );
            let insert = op.actor.guarded(
                &format!(
                    r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") SELECT ?1, ?2, ?3, ?2, ?4, ?5, ?5 WHERE NOT EXISTS (SELECT 1 FROM "account" WHERE "userId" = ?2 AND "providerId" = ?3) AND {}"#,
                    target_role_guard(6)
                ),
                vec![
                    random_id()?.into(),
                    user.as_str().into(),
                    CREDENTIAL.into(),
                    hash.as_str().into(),
                    op.now_text(),
                    user.as_str().into(),
                    target_role.as_str().into(),
                ],
            );
            let entry = audit::insert_where(
                AuditEvent::PasswordChanged,
                AuditRecord {
                    user_id: Some(user.as_str()),
                    detail: Some(format!("set by admin {}", op.actor.user_id)),
                    ..AuditRecord::default()
                },
                meta,
                op.now,
                r#"EXISTS (SELECT 1 FROM "account" WHERE "userId" = ?11 AND "providerId" = ?12 AND "password" = ?13)"#,
                vec![user.as_str().into(), CREDENTIAL.into(), hash.as_str().into()],
            )?;
            let out = self.db().write_audited(vec![update, insert], entry).await?;
            let changed: u64 = out.iter().take(2).map(|o| o.rows_affected).sum();
            if changed == 0 {
                return Err(self.explain_no_change(user, CODE).await);
            }
            Ok(())
        }
        .instrument(span("admin_set_user_password"))
        .await
    }

    /// Better Auth's `POST /admin/has-permission` for the caller: whether
    /// the user behind `token` holds every action asked
    /// ([`AdminConfig::has_permission`]), their role read from the
    /// database.
    ///
    /// Errors: `UNAUTHORIZED`.
    pub async fn admin_has_permission(
        &self,
        token: &str,
        permissions: &[(String, Vec<String>)],
    ) -> Result<bool> {
        async {
            let found = self.caller_session(token).await?;
            let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" WHERE "id" = ?1"#);
            let mut row = self
                .db()
                .query(&Statement::new(sql).bind(found.user.id.as_str()))
                .await?
                .into_iter()
                .next()
                .ok_or(AuthError::Unauthorized)?;
            let user = admin_user_from_row(&mut row)?;
            Ok(self
                .inner
                .admin
                .has_permission(&user.user.id, user.role.as_deref(), permissions))
        }
        .instrument(span("admin_has_permission"))
        .await
    }
}
