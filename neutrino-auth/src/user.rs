//! A user's own account, as Better Auth's core user endpoints: update the
//! name and image, change the email address (through a link mailed to the
//! new address), delete the account, list the linked accounts.
//!
//! Deleting a user (here or by an admin, [`crate::Auth::admin_remove_user`])
//! removes its sessions, accounts, two-factor setup, memberships, API keys
//! and the invitations it sent, in one batch with the audit entry; the
//! audit log keeps its history.

use std::sync::Arc;
use std::time::SystemTime;

use neutrino_core::ids::UserId;
use neutrino_core::sql::{Statement, Value};
use serde::Serialize;
use tracing::Instrument;

use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::auth::{MAX_IMAGE_LEN, MAX_NAME_LEN, span};
use crate::date;
use crate::email::normalize_email;
use crate::error::{AuthError, Result};
use crate::model::{AuthSession, RequestMeta, User};
use crate::{Auth, rows};

/// Better Auth's `user` options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserConfig {
    /// Users may delete their own account (Better Auth's
    /// `user.deleteUser.enabled`, default `false`).
    pub delete_user: bool,
    /// Users may change their email address (Better Auth's
    /// `user.changeEmail.enabled`, default `false`); it needs a mailer.
    pub change_email: bool,
}

/// What [`Auth::update_user`] changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateUser {
    /// The new display name.
    pub name: Option<String>,
    /// The new image URL (`Some(None)` removes it).
    pub image: Option<Option<String>>,
}

/// The identifier prefix of deletion tokens in `verification` (Better
/// Auth's `delete-account-<token>`).
const DELETE_PREFIX: &str = "delete-account-";

/// How long a deletion link works (Better Auth's `deleteTokenExpiresIn`
/// default, one day).
pub const DELETE_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

/// What [`Auth::request_delete_user`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteUser {
    /// The account is deleted (Better Auth's `"User deleted"`).
    Deleted,
    /// A deletion link was mailed (Better Auth's `"Verification email
    /// sent"`).
    VerificationSent,
}

/// A linked account, as Better Auth's `GET /list-accounts` answers it: no
/// token and no password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// `id`.
    pub id: String,
    /// `providerId`: `credential` for email and password.
    pub provider_id: String,
    /// `accountId`: the user's ID at the provider.
    pub account_id: String,
    /// `userId`.
    pub user_id: UserId,
    /// The granted scopes (`scope`, split on commas).
    pub scopes: Vec<String>,
    /// `createdAt`.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
    /// `updatedAt`.
    #[serde(serialize_with = "crate::date::serialize")]
    pub updated_at: SystemTime,
}
/// The audit entry of `found`'s user deleting their account, written only
/// where the deletion changed rows.
fn deletion_audit(
    found: &AuthSession,
    detail: Option<&str>,
    meta: &RequestMeta,
    now: SystemTime,
) -> Result<Statement> {
    audit::insert_where(
        AuditEvent::UserDeleted,
        AuditRecord {
            email: Some(&found.user.email),
            detail: detail.map(str::to_owned),
            ..AuditRecord::in_session(found.user.id.as_str(), &found.session.id)
        },
        meta,
        now,
        audit::CHANGED,
        Vec::new(),
    )
}

/// The statements that delete user `?1` and what hangs off it, each guarded
/// by `guard` (SQL whose placeholders start at `?2`, bound to `params`;
/// `?2` is the session the guard rests on, which is kept until the user row
/// goes). The user's deletion is the last statement.
pub(crate) fn delete_user_statements(
    user: &UserId,
    guard: &str,
    params: &[Value],
) -> Vec<Statement> {
    let stmt = |sql: String| {
        let mut s = Statement::new(sql).bind(user.as_str());
        for p in params {
            s = s.bind(p.clone());
        }
        s
    };
    let mut out: Vec<Statement> = [
        ("account", "userId"),
        ("twoFactor", "userId"),
        ("member", "userId"),
        ("apikey", "referenceId"),
        ("invitation", "inviterId"),
    ]
    .iter()
    .map(|(table, column)| {
        stmt(format!(
            r#"DELETE FROM "{table}" WHERE "{column}" = ?1 AND {guard}"#
        ))
    })
    .collect();
    out.push(stmt(format!(
        r#"DELETE FROM "session" WHERE ("userId" = ?1 OR "impersonatedBy" = ?1) AND "id" <> ?2 AND {guard}"#
    )));
    out.push(stmt(format!(
        r#"DELETE FROM "user" WHERE "id" = ?1 AND {guard}"#
    )));
    out
}

/// A user's name: at most `MAX_NAME_LEN` bytes, without control
/// characters.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(AuthError::validation(
            "name",
            format!("must be at most {MAX_NAME_LEN} bytes without control characters"),
        ));
    }
    Ok(())
}

impl Auth {
    /// Better Auth's `POST /update-user`: changes the caller's name and/or
    /// image. Returns the updated user.
    ///
    /// Errors: `UNAUTHORIZED`, `NO_FIELDS_TO_UPDATE` (Better Auth's 400 "No
    /// fields to update"), `VALIDATION_ERROR`.
    pub async fn update_user(
        &self,
        token: &str,
        update: UpdateUser,
        meta: &RequestMeta,
    ) -> Result<User> {
        async {
            let name = update.name.map(|n| n.trim().to_owned());
            if let Some(n) = &name {
                check_name(n)?;
            }
            if let Some(Some(i)) = &update.image
                && i.len() > MAX_IMAGE_LEN
            {
                return Err(AuthError::validation(
                    "image",
                    format!("must be at most {MAX_IMAGE_LEN} bytes"),
                ));
            }
            if name.is_none() && update.image.is_none() {
                return Err(AuthError::Refused {
                    code: "NO_FIELDS_TO_UPDATE",
                });
            }
            self.ensure_writable().await?;
            let current = self.session_of(token).await?;
            let now = self.now();
            let stmt = Statement::new(
                r#"UPDATE "user" SET "name" = CASE WHEN ?1 = 1 THEN ?2 ELSE "name" END, "image" = CASE WHEN ?3 = 1 THEN ?4 ELSE "image" END, "updatedAt" = ?5 WHERE "id" = ?6 AND EXISTS (SELECT 1 FROM "session" WHERE "id" = ?7 AND "userId" = ?6)"#,
            )
            .bind(name.is_some())
            .bind(name.as_deref())
            .bind(update.image.is_some())
            .bind(update.image.clone().flatten())
            .bind(date::format(now))
            .bind(current.1.as_str())
            .bind(current.0.as_str());
            let entry = audit::insert_where(
                AuditEvent::UserUpdated,
                AuditRecord::in_session(current.1.as_str(), &current.0),
                meta,
                now,
                audit::CHANGED,
                Vec::new(),
            )?;
            let out = self.db().write_audited(vec![stmt], entry).await?;
            if out.first().map_or(0, |o| o.rows_affected) == 0 {
                return Err(AuthError::Unauthorized);
            }
            self.evict_user(current.1.as_str());
            self.get_user(&current.1)
                .await?
                .ok_or(AuthError::UserNotFound)
        }
        .instrument(span("update_user"))
        .await
    }

    /// Better Auth's `POST /change-email` (its default flow): mails the new
    /// address a verification link ([`crate::mail::EmailKind::ChangeEmail`]);
    /// [`Auth::verify_email`] with its token makes the change, if the
    /// account still has the old address then. An address that already
    /// belongs to a user answers `Ok(())` with nothing sent, as Better Auth
    /// does, so the call does not reveal which addresses have accounts.
    ///
    /// Errors: `UNAUTHORIZED`, `CHANGE_EMAIL_DISABLED`, `EMAIL_IS_THE_SAME`
    /// (Better Auth's 400 "Email is the same"),
    /// `VERIFICATION_EMAIL_NOT_ENABLED` (no mailer), `INVALID_EMAIL`,
    /// `INVALID_CALLBACK_URL`.
    pub async fn change_email(
        &self,
        token: &str,
        new_email: &str,
        callback_url: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<()> {
        async {
            if !self.inner.users.change_email {
                return Err(AuthError::Refused {
                    code: "CHANGE_EMAIL_DISABLED",
                });
            }
            let new_email = normalize_email(new_email)?;
            self.ensure_writable().await?;
            let (session_id, user_id) = self.session_of(token).await?;
            let user = self
                .get_user(&user_id)
                .await?
                .ok_or(AuthError::Unauthorized)?;
            if user.email == new_email {
                return Err(AuthError::Refused {
                    code: "EMAIL_IS_THE_SAME",
                });
            }
            self.inner
                .verifications
                .request_change_email(&user, &new_email, callback_url)
                .await?;
            self.db()
                .execute(&audit::insert(
                    AuditEvent::EmailChangeRequested,
                    AuditRecord {
                        email: Some(&user.email),
                        ..AuditRecord::in_session(user.id.as_str(), &session_id)
                    },
                    meta,
                    self.now(),
                )?)
                .await?;
            Ok(())
        }
        .instrument(span("change_email"))
        .await
    }

    /// The caller of a deletion (session `token`, read from the database),
    /// once deletion is enabled and the store writable.
    ///
    /// Errors: `NOT_FOUND` when deletion is not enabled, `UNAUTHORIZED`.
    async fn deleting_caller(&self, token: &str) -> Result<Arc<AuthSession>> {
        if !self.inner.users.delete_user {
            return Err(neutrino_core::Error::not_found("endpoint", "delete-user").into());
        }
        self.ensure_writable().await?;
        self.caller_session(token).await
    }

    /// Better Auth's `POST /delete-user`: deletes the caller's account with
    /// its sessions, accounts, two-factor setup, memberships and API keys.
    /// With `password` it must be right; without, the session must be fresh
    /// (younger than `freshAge`).
    ///
    /// Errors: `UNAUTHORIZED`, `NOT_FOUND` when deletion is not enabled
    /// ([`UserConfig::delete_user`]; Better Auth answers 404),
    /// `INVALID_PASSWORD`, `CREDENTIAL_ACCOUNT_NOT_FOUND`, `SESSION_EXPIRED`.
    pub async fn delete_user(
        &self,
        token: &str,
        password: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<()> {
        async {
            let found = self.deleting_caller(token).await?;
            let user = found.user.id;
            match password {
                Some(p) => self.inner.credentials.check(&user, p).await?,
                None if !self.is_fresh(&found.session) => return Err(AuthError::SessionExpired),
                None => {}
            }
            let now = self.now();
            let guard =
                r#"EXISTS (SELECT 1 FROM "session" gs WHERE gs."id" = ?2 AND gs."userId" = ?1)"#;
            let writes =
                delete_user_statements(&user, guard, &[Value::from(found.session.id.clone())]);
            let last = writes.len() - 1;
            let entry = deletion_audit(&found, None, meta, now)?;
            self.ensure_writable().await?;
            let out = self.db().write_audited(writes, entry).await?;
            if out.get(last).map_or(0, |o| o.rows_affected) == 0 {
                return Err(AuthError::Unauthorized);
            }
            // The session the guard rested on (gone already where foreign
            // keys cascade; it no longer validates either way).
            self.db()
                .execute(
                    &Statement::new(r#"DELETE FROM "session" WHERE "userId" = ?1"#)
                        .bind(user.as_str()),
                )
                .await?;
            self.evict_user(user.as_str());
            Ok(())
        }
        .instrument(span("delete_user"))
        .await
    }

    /// Better Auth's `POST /verify-password`: whether `password` is the
    /// password of the caller (session `token`, read from the database).
    /// Errors: `UNAUTHORIZED`, `INVALID_PASSWORD` (also for a user without a
    /// password, as Better Auth answers).
    pub async fn verify_password(&self, token: &str, password: &str) -> Result<()> {
        let found = self.caller_session(token).await?;
        match self.inner.credentials.check(&found.user.id, password).await {
            Err(AuthError::CredentialAccountNotFound) => Err(AuthError::InvalidPassword),
            other => other,
        }
    }

    /// Better Auth's `POST /delete-user` without a token: when deletion goes
    /// by link ([`crate::AuthBuilder::with_delete_user_verification`]), checks
    /// `password` if given, then mails the caller a single-use link, valid
    /// for [`DELETE_LINK_TTL`], to `/delete-user/callback?token=…&callbackURL=…`
    /// (`callback_url` must be relative or of a trusted origin:
    /// `INVALID_CALLBACK_URL`); else it is [`Auth::delete_user`].
    ///
    /// Errors: those of [`Auth::delete_user`]; a mailer failure is the
    /// mailer's `Backend` error.
    pub async fn request_delete_user(
        &self,
        token: &str,
        password: Option<&str>,
        callback_url: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<DeleteUser> {
        if !self.inner.delete_by_link {
            self.delete_user(token, password, meta).await?;
            return Ok(DeleteUser::Deleted);
        }
        async {
            if !self.inner.users.delete_user {
                return Err(neutrino_core::Error::not_found("endpoint", "delete-user").into());
            }
            if callback_url.is_some_and(|u| !self.is_safe_callback(u)) {
                return Err(AuthError::InvalidCallbackUrl);
            }
            self.ensure_writable().await?;
            let found = self.caller_session(token).await?;
            let user = &found.user;
            if let Some(p) = password {
                self.inner.credentials.check(&user.id, p).await?;
            }
            let secret = crate::random::random_lower_alnum(32)?;
            let now = self.now();
            let insert = Statement::new(
                r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?5)"#,
            )
            .bind(crate::random::random_id()?)
            .bind(format!("{DELETE_PREFIX}{secret}"))
            .bind(user.id.as_str())
            .bind(date::format(now + DELETE_LINK_TTL))
            .bind(date::format(now));
            self.db().execute(&insert).await?;
            let url = format!(
                "{}?token={secret}&callbackURL={}",
                self.link("/delete-user/callback"),
                crate::cookie::encode_uri_component(callback_url.unwrap_or("/"))
            );
            let Some(mailer) = self.inner.mailer.clone() else {
                return Err(AuthError::config("mailer", "deletion by link needs a mailer"));
            };
            mailer
                .send(crate::mail::Email {
                    kind: crate::mail::EmailKind::DeleteAccount,
                    to: user.email.clone(),
                    user_id: user.id.to_string(),
                    url,
                    token: secret,
                })
                .await
                .map_err(|e| neutrino_core::Error::backend("mailer", false, e))?;
            let _ = meta;
            Ok(DeleteUser::VerificationSent)
        }
        .instrument(span("request_delete_user"))
        .await
    }

    /// Better Auth's deletion by token (`POST /delete-user` with `token`, and
    /// `GET /delete-user/callback?token=`): deletes the caller's account (as
    /// [`Auth::delete_user`]) if `delete_token` is a live deletion token
    /// issued to the caller. The token is consumed in the batch that
    /// deletes, and only if it is still there: it works once, and only for
    /// the user it was mailed to.
    ///
    /// Errors: `NOT_FOUND` when deletion is not enabled, `UNAUTHORIZED`,
    /// `INVALID_TOKEN` (unknown, used, expired or another user's).
    pub async fn delete_user_with_token(
        &self,
        token: &str,
        delete_token: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        async {
            let found = self.deleting_caller(token).await?;
            let user = found.user.id;
            let valid = !delete_token.is_empty()
                && delete_token.len() <= 64
                && delete_token.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid {
                return Err(AuthError::InvalidToken);
            }
            let identifier = format!("{DELETE_PREFIX}{delete_token}");
            // The token is consumed by renaming its row to a marker only
            // this call knows, if it is live and the caller's; every delete
            // after rests on the marker, and the marker goes last.
            let marker = format!("{DELETE_PREFIX}used-{}", crate::random::random_id()?);
            let now = self.now();
            let consume = Statement::new(
                r#"UPDATE "verification" SET "identifier" = ?1, "updatedAt" = ?4 WHERE "identifier" = ?2 AND "value" = ?3 AND "expiresAt" > ?4 AND EXISTS (SELECT 1 FROM "session" WHERE "id" = ?5 AND "userId" = ?3)"#,
            )
            .bind(marker.as_str())
            .bind(identifier.as_str())
            .bind(user.as_str())
            .bind(date::format(now))
            .bind(found.session.id.as_str());
            let guard = r#"EXISTS (SELECT 1 FROM "session" gs WHERE gs."id" = ?2 AND gs."userId" = ?1) AND EXISTS (SELECT 1 FROM "verification" gv WHERE gv."identifier" = ?3 AND gv."value" = ?1)"#;
            let params = [
                Value::from(found.session.id.clone()),
                Value::from(marker.clone()),
            ];
            let mut writes = vec![consume];
            writes.extend(delete_user_statements(&user, guard, &params));
            let last = writes.len() - 1;
            let entry = deletion_audit(&found, Some("by link"), meta, now)?;
            let out = self.db().write_audited(writes, entry).await?;
            if out.first().map_or(0, |o| o.rows_affected) == 0 {
                return Err(AuthError::InvalidToken);
            }
            if out.get(last).map_or(0, |o| o.rows_affected) == 0 {
                return Err(AuthError::Unauthorized);
            }
            for stmt in [
                Statement::new(r#"DELETE FROM "session" WHERE "userId" = ?1"#).bind(user.as_str()),
                Statement::new(r#"DELETE FROM "verification" WHERE "identifier" = ?1"#)
                    .bind(marker.as_str()),
            ] {
                self.db().execute(&stmt).await?;
            }
            self.evict_user(user.as_str());
            Ok(())
        }
        .instrument(span("delete_user_with_token"))
        .await
    }

    /// Better Auth's `GET /list-accounts`: the user's linked accounts,
    /// without tokens or password hashes.
    pub async fn list_accounts(&self, user_id: &UserId) -> Result<Vec<AccountInfo>> {
        let rows = self
            .db()
            .query(
                &Statement::new(r#"SELECT "id", "providerId", "accountId", "userId", "scope", "createdAt", "updatedAt" FROM "account" WHERE "userId" = ?1 ORDER BY "createdAt", "id""#)
                    .bind(user_id.as_str()),
            )
            .await?;
        rows.iter()
            .map(|r| {
                let uid: String = r.get(3)?;
                let scope: Option<String> = r.get(4)?;
                Ok(AccountInfo {
                    id: r.get(0)?,
                    provider_id: r.get(1)?,
                    account_id: r.get(2)?,
                    user_id: rows::parse_user_id(&uid)?,
                    scopes: scope
                        .map(|s| {
                            s.split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    created_at: date::column(r, 5, "account.createdAt")?,
                    updated_at: date::column(r, 6, "account.updatedAt")?,
                })
            })
            .collect()
    }

    /// The session ID and user of a valid session token (not extended).
    async fn session_of(&self, token: &str) -> Result<(String, UserId)> {
        let found = self.caller_session(token).await?;
        Ok((found.session.id.clone(), found.user.id))
    }
}
