//! Password reset and email verification, in Better Auth's formats.
//!
//! * **Password reset**: a 24-character `[A-Za-z0-9]` token, stored in
//!   `verification` as `identifier = "reset-password:<token>"`, `value` = the user
//!   ID, valid 1 hour. The mail links to
//!   `{baseURL}{basePath}/reset-password/<token>?callbackURL=…`. The row is
//!   deleted when the token is used, so a token works once.
//! * **Email verification**: Better Auth's JWT (HS256, key = the secret),
//!   payload `{email, userId, iat, exp}`, valid 1 hour, linked as
//!   `{baseURL}{basePath}/verify-email?token=<jwt>&callbackURL=…`. Verifying
//!   sets `emailVerified` only if it was not set, so a token works once.
//!
//! Requesting a reset or a verification email answers the same for an
//! unknown, an unverified and a verified address (no account enumeration);
//! both flows need a [`crate::mail::Mailer`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use neutrino_core::clock::{SharedClock, millis_since_epoch};
use neutrino_core::ids::UserId;
use neutrino_core::sql::{SqlExecutor, Statement};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::credential::CREDENTIAL;
use crate::date;
use crate::email::normalize_email;
use crate::error::{AuthError, Result};
use crate::gate::PlatformGate;
use crate::mail::Mailer;
use crate::mail::{Email, EmailKind};
use crate::model::{RequestMeta, User};
use crate::origin::TrustedOrigins;
use crate::password::Passwords;
use crate::random::{random_id, random_string};
use crate::rows;
use crate::session::{Revoke, SessionStore};

/// Lifetime of a password-reset token (Better Auth: 3600 s).
pub const RESET_PASSWORD_TTL: Duration = Duration::from_secs(3600);
/// Lifetime of an email-verification token (Better Auth: 3600 s).
pub const VERIFY_EMAIL_TTL: Duration = Duration::from_secs(3600);
/// Length of a password-reset token.
pub const RESET_TOKEN_LEN: usize = 24;
/// Longest verification token accepted.
const MAX_TOKEN_INPUT: usize = 4096;

const INSERT_VERIFICATION: &str = r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"#;
const TAKE_VERIFICATION: &str =
    r#"DELETE FROM "verification" WHERE "identifier" = ?1 RETURNING "value", "expiresAt""#;
const SET_PASSWORD: &str = r#"UPDATE "account" SET "password" = ?1, "updatedAt" = ?2 WHERE "userId" = ?3 AND "providerId" = ?4"#;
const ADD_CREDENTIAL: &str = r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") SELECT ?1, ?2, ?3, ?2, ?4, ?5, ?5 WHERE NOT EXISTS (SELECT 1 FROM "account" WHERE "userId" = ?2 AND "providerId" = ?3)"#;
const MARK_VERIFIED: &str = r#"UPDATE "user" SET "emailVerified" = 1, "updatedAt" = ?1 WHERE "id" = ?2 AND "emailVerified" = 0"#;

#[derive(Serialize, Deserialize)]
struct Claims {
    email: String,
    #[serde(rename = "userId", default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(rename = "updateTo", default, skip_serializing_if = "Option::is_none")]
    update_to: Option<String>,
    #[serde(
        rename = "requestType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    request_type: Option<String>,
    iat: i64,
    exp: i64,
}

/// Better Auth's `requestType` of the token mailed to a new address.
const CHANGE_EMAIL_VERIFICATION: &str = "change-email-verification";

fn query_component(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Password reset and email verification of one auth database: the tokens,
/// the links mailed, and the writes that act on them. Holds what it needs
/// and never imports [`crate::Auth`]; [`crate::Auth`]'s methods call it.
pub(crate) struct Verifications {
    db: Arc<dyn SqlExecutor>,
    secret: Arc<[u8]>,
    clock: SharedClock,
    gate: Arc<PlatformGate>,
    sessions: Arc<dyn SessionStore>,
    passwords: Arc<Passwords>,
    origins: TrustedOrigins,
    mailer: Option<Arc<dyn Mailer>>,
    /// The base URL (without its trailing `/`) and the base path of links.
    base: (String, String),
    revoke_sessions_on_password_reset: bool,
}

/// What [`Verifications::new`] takes.
pub(crate) struct VerificationParts {
    pub(crate) db: Arc<dyn SqlExecutor>,
    pub(crate) secret: Arc<[u8]>,
    pub(crate) clock: SharedClock,
    pub(crate) gate: Arc<PlatformGate>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) passwords: Arc<Passwords>,
    pub(crate) origins: TrustedOrigins,
    pub(crate) mailer: Option<Arc<dyn Mailer>>,
    pub(crate) base_url: String,
    pub(crate) base_path: String,
    pub(crate) revoke_sessions_on_password_reset: bool,
}

impl Verifications {
    /// Verifications with these parts.
    pub(crate) fn new(p: VerificationParts) -> Self {
        Self {
            db: p.db,
            secret: p.secret,
            clock: p.clock,
            gate: p.gate,
            sessions: p.sessions,
            passwords: p.passwords,
            origins: p.origins,
            mailer: p.mailer,
            base: (p.base_url, p.base_path),
            revoke_sessions_on_password_reset: p.revoke_sessions_on_password_reset,
        }
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) fn link(&self, path: &str) -> String {
        format!("{}{}{path}", self.base.0, self.base.1)
    }

    fn check_callback(&self, callback: Option<&str>) -> Result<()> {
        match callback {
            Some(url) if !self.origins.is_safe_callback(url) => Err(AuthError::InvalidCallbackUrl),
            _ => Ok(()),
        }
    }

    /// Better Auth's `POST /request-password-reset`: mails a reset link if the
    /// email belongs to a user, and answers the same either way: unknown,
    /// unverified and verified addresses all get `Ok(())`, after the same
    /// work (a token is drawn and one batch written in every case), and a
    /// mailer failure is logged, not returned.
    pub(crate) async fn request_password_reset(
        &self,
        email: &str,
        redirect_to: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<()> {
        let Some(mailer) = self.mailer.clone() else {
            return Err(AuthError::ResetPasswordDisabled);
        };
        self.check_callback(redirect_to)?;
        let email = normalize_email(email)?;
        self.gate.ensure_writable().await?;
        crate::sso::ensure_password_allowed(&*self.db, &email).await?;
        let now = self.now();
        let user = rows::find_user_by_email(&*self.db, &email).await?;
        let audit_stmt = audit::insert(
            AuditEvent::PasswordResetRequested,
            AuditRecord {
                user_id: user.as_ref().map(|u| u.id.as_str()),
                email: Some(&email),
                ..AuditRecord::default()
            },
            meta,
            now,
        )?;
        let token = random_string(RESET_TOKEN_LEN)?;
        let stamp = date::format(now);
        let mut batch = Vec::with_capacity(2);
        if let Some(u) = &user {
            batch.push(
                Statement::new(INSERT_VERIFICATION)
                    .bind(random_id()?)
                    .bind(format!("reset-password:{token}"))
                    .bind(u.id.as_str())
                    .bind(date::format(now + RESET_PASSWORD_TTL))
                    .bind(stamp.as_str())
                    .bind(stamp.as_str()),
            );
        }
        self.db.write_audited(batch, audit_stmt).await?;
        let Some(user) = user else {
            return Ok(());
        };
        let url = format!(
            "{}?callbackURL={}",
            self.link(&format!("/reset-password/{token}")),
            query_component(redirect_to.unwrap_or(""))
        );
        send_logged(&*mailer, EmailKind::ResetPassword, &user, url, token).await;
        Ok(())
    }

    /// Better Auth's `POST /reset-password`: consumes the token and sets the new
    /// password (creating the `credential` account if the user had none).
    ///
    /// Errors: `INVALID_TOKEN` (unknown, used or expired),
    /// `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`.
    pub(crate) async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.gate.ensure_writable().await?;
        let password = self.passwords.normalize(new_password)?;
        if token.is_empty() || token.len() > MAX_TOKEN_INPUT {
            return Err(AuthError::InvalidToken);
        }
        let row = self
            .db
            .query(&Statement::new(TAKE_VERIFICATION).bind(format!("reset-password:{token}")))
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::InvalidToken)?;
        let user_id: String = row.get(0)?;
        let expires: String = row.get(1)?;
        let now = self.now();
        if date::parse(&expires).is_none_or(|e| e <= now) {
            return Err(AuthError::InvalidToken);
        }
        // An address whose tenant requires SSO gets no password.
        let email = self
            .db
            .query(
                &Statement::new(r#"SELECT "email" FROM "user" WHERE "id" = ?1"#)
                    .bind(user_id.as_str()),
            )
            .await?
            .into_iter()
            .next();
        let email: String = match email {
            Some(r) => r.get(0)?,
            None => return Err(AuthError::InvalidToken),
        };
        crate::sso::ensure_password_allowed(&*self.db, &email).await?;
        let hash = self.passwords.hash(&password).await?;
        let stamp = date::format(now);
        let mut set_password = Statement::new(SET_PASSWORD)
            .bind(hash.as_str())
            .bind(stamp.as_str())
            .bind(user_id.as_str())
            .bind(CREDENTIAL);
        let mut add_credential = Statement::new(ADD_CREDENTIAL)
            .bind(random_id()?)
            .bind(user_id.as_str())
            .bind(CREDENTIAL)
            .bind(hash.as_str())
            .bind(stamp.as_str());
        // The password only if the user still has this email and no tenant
        // requires SSO for it when it is written (read in the same
        // statement): a policy switched on meanwhile refuses it.
        let mut guard =
            r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?1 AND "email" = ?2)"#.to_owned();
        let mut guard_params: Vec<neutrino_core::sql::Value> =
            vec![user_id.as_str().into(), email.as_str().into()];
        if let Some((cond, params)) = crate::sso::password_allowed_guard(&email, 3) {
            guard.push_str(" AND ");
            guard.push_str(&cond);
            guard_params.extend(params);
        }
        for stmt in [&mut set_password, &mut add_credential] {
            let mut params = stmt.params().to_vec();
            let cond = crate::stmt::renumber(&guard, params.len());
            params.extend(guard_params.iter().cloned());
            *stmt = Statement::with_params(format!("{} AND {cond}", stmt.sql()), params);
        }
        let mut writes = vec![set_password, add_credential];
        // Its audit entry only if the password was set.
        let entry = audit::insert_where(
            AuditEvent::PasswordReset,
            AuditRecord {
                user_id: Some(&user_id),
                ..AuditRecord::default()
            },
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "account" WHERE "userId" = ?11 AND "providerId" = ?12 AND "password" = ?13)"#,
            vec![
                user_id.as_str().into(),
                CREDENTIAL.into(),
                hash.as_str().into(),
            ],
        )?;
        if self.revoke_sessions_on_password_reset {
            let user: UserId = user_id.parse().map_err(|_| AuthError::corrupt("user.id"))?;
            writes.push(entry);
            self.sessions.revoke(Revoke::All(&user), writes).await?;
        } else {
            self.db.write_audited(writes, entry).await?;
        }
        // Whether the write set the password (the hash is salted: only this
        // reset wrote it).
        let set = self
            .db
            .query(
                &Statement::new(
                    r#"SELECT 1 FROM "account" WHERE "userId" = ?1 AND "providerId" = ?2 AND "password" = ?3"#,
                )
                .bind(user_id.as_str())
                .bind(CREDENTIAL)
                .bind(hash.as_str()),
            )
            .await?;
        if set.is_empty() {
            // SSO became required since the check above (or the user's
            // email changed).
            crate::sso::ensure_password_allowed(&*self.db, &email).await?;
            return Err(AuthError::InvalidToken);
        }
        Ok(())
    }

    fn sign_jwt(&self, claims: &Claims) -> Result<String> {
        let key = jsonwebtoken::EncodingKey::from_secret(&self.secret)
            .map_err(|e| AuthError::internal("token signer", e))?;
        jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), claims, &key)
            .map_err(|e| AuthError::internal("token signer", e))
    }

    /// Checks the signature (HS256 only: the algorithm is pinned, `none` and
    /// every other algorithm are refused) and reads the claims; expiry is
    /// checked by the caller, which tells an expired token apart.
    fn verify_jwt(&self, token: &str) -> Result<Claims> {
        if token.len() > MAX_TOKEN_INPUT {
            return Err(AuthError::InvalidToken);
        }
        let key = jsonwebtoken::DecodingKey::from_secret(&self.secret)
            .map_err(|e| AuthError::internal("token verifier", e))?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|_| AuthError::InvalidToken)
    }

    /// Better Auth's `POST /send-verification-email` (without a session):
    /// mails a verification link to an unverified user, and answers `Ok(())`
    /// for unknown, unverified and verified addresses alike (a token is
    /// signed in every case; a mailer failure is logged, not returned).
    ///
    /// Errors: `VERIFICATION_EMAIL_NOT_ENABLED` (no mailer),
    /// `INVALID_CALLBACK_URL`, `INVALID_EMAIL`.
    pub(crate) async fn send_verification_email(
        &self,
        email: &str,
        callback_url: Option<&str>,
    ) -> Result<()> {
        if self.mailer.is_none() {
            return Err(AuthError::VerificationEmailNotEnabled);
        }
        self.check_callback(callback_url)?;
        let email = normalize_email(email)?;
        self.gate.ensure_writable().await?;
        match rows::find_user_by_email(&*self.db, &email).await? {
            Some(user) if !user.email_verified => {
                self.mail_verification(&user, callback_url).await;
            }
            _ => {
                // Same work as a real mail: sign a token nobody receives.
                self.verification_token(&email, None)?;
            }
        }
        Ok(())
    }

    fn verification_token(&self, email: &str, user_id: Option<String>) -> Result<String> {
        let iat = millis_since_epoch(self.now()) / 1000;
        let exp = iat + i64::try_from(VERIFY_EMAIL_TTL.as_secs()).unwrap_or(3600);
        self.sign_jwt(&Claims {
            email: email.to_owned(),
            user_id,
            update_to: None,
            request_type: None,
            iat,
            exp,
        })
    }

    /// Mails `new_email` a link that moves `user` to it (Better Auth's
    /// `change-email-verification` token: `email` the current address,
    /// `updateTo` the new one, `userId`). Nothing is sent when the address
    /// already belongs to a user, and the answer is the same.
    pub(crate) async fn request_change_email(
        &self,
        user: &User,
        new_email: &str,
        callback_url: Option<&str>,
    ) -> Result<()> {
        let Some(mailer) = self.mailer.clone() else {
            return Err(AuthError::VerificationEmailNotEnabled);
        };
        self.check_callback(callback_url)?;
        let iat = millis_since_epoch(self.now()) / 1000;
        let exp = iat + i64::try_from(VERIFY_EMAIL_TTL.as_secs()).unwrap_or(3600);
        let token = self.sign_jwt(&Claims {
            email: user.email.clone(),
            user_id: Some(user.id.to_string()),
            update_to: Some(new_email.to_owned()),
            request_type: Some(CHANGE_EMAIL_VERIFICATION.to_owned()),
            iat,
            exp,
        })?;
        if rows::find_user_by_email(&*self.db, new_email)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let url = format!(
            "{}?token={token}&callbackURL={}",
            self.link("/verify-email"),
            query_component(callback_url.unwrap_or("/"))
        );
        let sent = mailer
            .send(Email {
                kind: EmailKind::ChangeEmail,
                to: new_email.to_owned(),
                user_id: user.id.to_string(),
                url,
                token,
            })
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "change-email verification not sent");
        }
        Ok(())
    }

    /// Applies a change-email token: the account that still has the old
    /// address (and the token's user ID) gets the new one, once.
    async fn apply_change_email(
        &self,
        claims: &Claims,
        update_to: &str,
        meta: &RequestMeta,
    ) -> Result<User> {
        if claims.request_type.as_deref() != Some(CHANGE_EMAIL_VERIFICATION) {
            return Err(AuthError::InvalidToken);
        }
        let user_id: UserId = claims
            .user_id
            .as_deref()
            .ok_or(AuthError::InvalidToken)?
            .parse()
            .map_err(|_| AuthError::InvalidToken)?;
        let old = normalize_email(&claims.email).map_err(|_| AuthError::InvalidToken)?;
        let new = normalize_email(update_to).map_err(|_| AuthError::InvalidToken)?;
        let now = self.now();
        let update = Statement::new(
            r#"UPDATE "user" SET "email" = ?1, "updatedAt" = ?2 WHERE "id" = ?3 AND "email" = ?4"#,
        )
        .bind(new.as_str())
        .bind(date::format(now))
        .bind(user_id.as_str())
        .bind(old.as_str());
        let entry = audit::insert_where(
            AuditEvent::EmailChanged,
            AuditRecord {
                user_id: Some(user_id.as_str()),
                email: Some(&new),
                detail: Some(format!("from {old}")),
                ..AuditRecord::default()
            },
            meta,
            now,
            audit::CHANGED,
            Vec::new(),
        )?;
        let out = match self.db.write_audited(vec![update], entry).await {
            Ok(out) => out,
            Err(e) if e.is_already_exists() => return Err(AuthError::UserAlreadyExists),
            Err(e) => return Err(e.into()),
        };
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(AuthError::InvalidToken);
        }
        self.sessions.forget_user(user_id.as_str());
        rows::load_user(&*self.db, &user_id)
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// Mails `user` a verification link; failures are logged, never returned
    /// (the caller's answer must not depend on them).
    pub(crate) async fn mail_verification(&self, user: &User, callback_url: Option<&str>) {
        let Some(mailer) = self.mailer.clone() else {
            return;
        };
        let token = match self.verification_token(&user.email, Some(user.id.to_string())) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "verification email not sent");
                return;
            }
        };
        let url = format!(
            "{}?token={token}&callbackURL={}",
            self.link("/verify-email"),
            query_component(callback_url.unwrap_or("/"))
        );
        send_logged(&*mailer, EmailKind::VerifyEmail, user, url, token).await;
    }

    /// Better Auth's `GET /verify-email`: checks the token and marks the email
    /// verified. Returns the updated user.
    ///
    /// Errors: `INVALID_TOKEN` (bad signature, malformed, or already used),
    /// `TOKEN_EXPIRED`, `USER_NOT_FOUND`.
    pub(crate) async fn verify_email(&self, token: &str, meta: &RequestMeta) -> Result<User> {
        self.gate.ensure_writable().await?;
        let claims = self.verify_jwt(token)?;
        let now = self.now();
        let now_s = millis_since_epoch(now) / 1000;
        if claims.exp <= now_s {
            return Err(AuthError::TokenExpired);
        }
        if let Some(update_to) = claims.update_to.as_deref() {
            return self.apply_change_email(&claims, update_to, meta).await;
        }
        let email = normalize_email(&claims.email).map_err(|_| AuthError::InvalidToken)?;
        let mut user = rows::find_user_by_email(&*self.db, &email)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        if claims
            .user_id
            .as_deref()
            .is_some_and(|u| u != user.id.as_str())
        {
            return Err(AuthError::InvalidToken);
        }
        let stamp = date::format(now);
        let changed = self
            .db
            .execute(
                &Statement::new(MARK_VERIFIED)
                    .bind(stamp.as_str())
                    .bind(user.id.as_str()),
            )
            .await?;
        if changed.rows_affected == 0 {
            return Err(AuthError::InvalidToken);
        }
        self.db
            .execute(&audit::insert(
                AuditEvent::EmailVerified,
                AuditRecord {
                    user_id: Some(user.id.as_str()),
                    email: Some(&user.email),
                    ..AuditRecord::default()
                },
                meta,
                now,
            )?)
            .await?;
        self.sessions.forget_user(user.id.as_str());
        user.email_verified = true;
        user.updated_at =
            UNIX_EPOCH + Duration::from_millis(millis_since_epoch(now).unsigned_abs());
        Ok(user)
    }
}

/// Sends `user` an email of `kind` with `url` and `token`; a failure is
/// logged, never returned (the caller's answer must not depend on it).
async fn send_logged(
    mailer: &dyn Mailer,
    kind: EmailKind,
    user: &User,
    url: String,
    token: String,
) {
    let sent = mailer
        .send(Email {
            kind,
            to: user.email.clone(),
            user_id: user.id.to_string(),
            url,
            token,
        })
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, ?kind, "email not sent");
    }
}
