//! Social sign-in (Better Auth's `/sign-in/social` and `/callback/:provider`)
//! on the handshake, with Better Auth's `account` table.
//!
//! * The providers are those of [`crate::AuthBuilder::with_social_provider`]:
//!   [`ProviderConfig::google`], [`ProviderConfig::github`], and generic
//!   [`ProviderConfig::oidc`] / [`ProviderConfig::oauth2`] ones by ID.
//! * An account is found by (`providerId`, `accountId` = the provider's
//!   subject), unique in the database: a second sign-in creates nothing.
//! * No account yet, a user with the provider's email: linked only when the
//!   provider says the address is verified (`account_not_linked`
//!   otherwise): an unverified address at a provider never takes over an
//!   account.
//! * No user: one is created (unless sign-up is disabled) with
//!   `emailVerified` from the provider; concurrent first sign-ins create one
//!   user (the unique email and account decide, the loser signs in).
//! * Tokens: the access and refresh tokens are stored encrypted with Better
//!   Auth's `symmetricEncrypt` under the platform secret (Better Auth's
//!   `account.encryptOAuthTokens`), unless
//!   [`crate::AuthBuilder::with_encrypt_oauth_tokens`] turns it off; the ID
//!   token is stored as is, as Better Auth does.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use neutrino_core::clock::millis_since_epoch;
use neutrino_core::ids::UserId;
use neutrino_core::sql::{Statement, Value};

use super::{
    CallbackParams, OAuthClient, OAuthError, ProviderConfig, RedirectTargets, VerifiedIdentity,
};
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::auth::Auth;
use crate::date;
use crate::email::normalize_email;
use crate::error::AuthError;
use crate::model::{RequestMeta, SignedIn, User};
use crate::random::random_id;
use crate::rows;
use crate::session;
use crate::twofactor::symmetric_encrypt;

const SELECT_ACCOUNT: &str =
    r#"SELECT "id", "userId" FROM "account" WHERE "providerId" = ?1 AND "accountId" = ?2"#;
const INSERT_ACCOUNT: &str = r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "scope", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"#;
const UPDATE_ACCOUNT: &str = r#"UPDATE "account" SET "accessToken" = ?1, "refreshToken" = COALESCE(?2, "refreshToken"), "idToken" = ?3, "accessTokenExpiresAt" = ?4, "scope" = ?5, "updatedAt" = ?6 WHERE "id" = ?7"#;
const INSERT_USER: &str = r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "twoFactorEnabled") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'user', 0, 0)"#;

/// The social providers of one auth server.
pub(crate) struct Social {
    pub(crate) client: OAuthClient,
    pub(crate) providers: Vec<ProviderConfig>,
    pub(crate) secret: Arc<[u8]>,
    pub(crate) encrypt_tokens: bool,
    /// Whether SSO providers may use `http` on loopback (tests).
    pub(crate) sso_insecure_loopback: bool,
    /// The options of linking and unlinking accounts.
    pub(crate) linking: super::accounts::AccountLinking,
}

/// What [`Auth::sign_in_social`] takes: Better Auth's body of
/// `POST /sign-in/social`.
#[derive(Clone, Debug, Default)]
pub struct SocialSignIn {
    /// The provider's ID.
    pub provider: String,
    /// Where to go after signing in (default: the base URL).
    pub callback_url: Option<String>,
    /// Where to go on an error.
    pub error_callback_url: Option<String>,
    /// Where a new user goes.
    pub new_user_callback_url: Option<String>,
    /// Sent to the provider as `login_hint` (Better Auth's `loginHint`).
    pub login_hint: Option<String>,
    /// Better Auth's `requestSignUp`: a user may be created even when the
    /// provider disables implicit sign-up.
    pub request_sign_up: bool,
}

/// What [`Auth::sign_in_social_id_token`] takes: Better Auth's body of
/// `POST /sign-in/social` with `idToken`.
#[derive(Clone, Default)]
pub struct SocialIdTokenSignIn {
    /// The provider's ID (an OIDC provider).
    pub provider: String,
    /// The ID token the client got from the provider.
    pub token: String,
    /// The nonce the client sent the provider (the token must carry it;
    /// without one, the token must carry none).
    pub nonce: Option<String>,
    /// The access token issued with it (checked against `at_hash`).
    pub access_token: Option<String>,
    /// The refresh token issued with it.
    pub refresh_token: Option<String>,
    /// Better Auth's `requestSignUp`.
    pub request_sign_up: bool,
}

impl std::fmt::Debug for SocialIdTokenSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocialIdTokenSignIn")
            .field("provider", &self.provider)
            .field("request_sign_up", &self.request_sign_up)
            .finish_non_exhaustive()
    }
}

/// A completed social sign-in.
#[derive(Debug)]
pub struct SocialSignedIn {
    /// The user and the new session.
    pub signed_in: SignedIn,
    /// Whether the user was created by this sign-in.
    pub is_new_user: bool,
    /// Where to send the browser.
    pub redirect: String,
}

/// What a completed `GET /callback/:provider` did.
#[derive(Debug)]
pub enum SocialCallback {
    /// A sign-in handshake: the user is signed in.
    SignedIn(Box<SocialSignedIn>),
    /// A link handshake ([`Auth::link_social`]): the provider account was
    /// linked to the user who started it; nobody is signed in.
    Linked(super::accounts::SocialLinked),
}

impl SocialCallback {
    /// The sign-in, if this callback signed someone in.
    pub fn signed_in(self) -> Option<SocialSignedIn> {
        match self {
            Self::SignedIn(s) => Some(*s),
            Self::Linked(_) => None,
        }
    }

    /// Where to send the browser.
    pub fn redirect(&self) -> &str {
        match self {
            Self::SignedIn(s) => &s.redirect,
            Self::Linked(l) => &l.redirect,
        }
    }
}

/// A failed callback: the error and where to send the browser
/// (`{errorURL}?error={code}`).
#[derive(Debug)]
pub struct SocialCallbackError {
    /// Why it failed.
    pub error: OAuthError,
    /// The redirect, with the error code.
    pub redirect: String,
}

/// A failed callback after its state was taken: to the sign-in's error URL
/// (or the error page) with the error's code.
pub(crate) fn callback_error(
    error: OAuthError,
    targets: &RedirectTargets,
    auth: &Auth,
) -> SocialCallbackError {
    let base = targets
        .error_callback_url
        .clone()
        .unwrap_or_else(|| auth.error_page());
    SocialCallbackError {
        redirect: with_error(&base, &error.code()),
        error,
    }
}

/// Where a completed sign-in goes: the new-user URL for a new user, else
/// the callback URL.
pub(crate) fn signed_in_redirect(targets: RedirectTargets, is_new_user: bool) -> String {
    match (is_new_user, targets.new_user_callback_url) {
        (true, Some(u)) => u,
        _ => targets.callback_url,
    }
}

pub(crate) fn with_error(base: &str, code: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let code: String = url_encode(code);
    format!("{base}{sep}error={code}")
}

/// What `URLSearchParams` leaves unescaped besides letters and digits.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

impl Auth {
    fn social(&self) -> Result<&Social, OAuthError> {
        Ok(&self.inner.social)
    }

    /// The configured social provider `id`.
    pub fn social_provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.inner.social.providers.iter().find(|p| p.id() == id)
    }

    /// The handshake of this auth server (for SSO callers, whose providers
    /// come from elsewhere): state in this auth database, redirect targets
    /// checked against its trusted origins.
    pub fn oauth(&self) -> &OAuthClient {
        &self.inner.social.client
    }

    /// Whether SSO providers may use `http` on loopback
    /// ([`crate::AuthBuilder::with_insecure_loopback_sso`]).
    pub(crate) fn sso_insecure_loopback(&self) -> bool {
        self.inner.social.sso_insecure_loopback
    }

    /// The callback URL of SSO provider `id`:
    /// `{baseURL}{basePath}/sso/callback/{id}`.
    pub fn sso_redirect_uri(&self, id: &str) -> String {
        self.inner
            .verifications
            .link(&format!("/sso/callback/{id}"))
    }

    /// The callback URL of provider `id`: `{baseURL}{basePath}/callback/{id}`.
    pub fn social_redirect_uri(&self, id: &str) -> String {
        self.inner.verifications.link(&format!("/callback/{id}"))
    }

    /// The auth server's error page, where failed callbacks go by default.
    pub fn error_page(&self) -> String {
        self.inner.verifications.link("/error")
    }

    /// Better Auth's `POST /sign-in/social` (the redirect flow): checks the
    /// redirect targets and starts the handshake. The caller sends the
    /// browser to [`super::Authorization::url`] and binds
    /// [`super::Authorization::state`] to it (a signed cookie).
    ///
    /// Errors: `PROVIDER_NOT_FOUND`, `INVALID_CALLBACK_URL`, the platform's
    /// status, and discovery failures.
    pub async fn sign_in_social(
        &self,
        req: SocialSignIn,
    ) -> Result<super::Authorization, OAuthError> {
        let provider = self
            .social_provider(&req.provider)
            .ok_or(OAuthError::ProviderNotFound)?;
        let social = self.social()?;
        self.ensure_writable().await?;
        let targets = self.redirect_targets(
            req.callback_url,
            req.error_callback_url,
            req.new_user_callback_url,
        );
        social
            .client
            .begin_with(
                provider,
                &self.social_redirect_uri(provider.id()),
                targets,
                req.login_hint.as_deref(),
                None,
                req.request_sign_up,
            )
            .await
    }

    /// Better Auth's `POST /sign-in/social` with an `idToken`: verifies the
    /// ID token with the provider's JWKS exactly as a callback's (`alg`
    /// pinned, `iss`, `aud`, `exp`, `nonce`, `at_hash`), then signs in as a
    /// callback does (its account, the user with its verified email, or a
    /// new user unless sign-up is disabled or the provider disables
    /// implicit sign-up and `request_sign_up` is off). Answers the user and
    /// the new session, and whether the user is new.
    ///
    /// Errors: `PROVIDER_NOT_FOUND`, `invalid_id_token` (also for a provider
    /// without ID tokens), `email_not_found`, `account_not_linked`,
    /// `signup_disabled`, the platform's status.
    pub async fn sign_in_social_id_token(
        &self,
        req: SocialIdTokenSignIn,
        meta: &RequestMeta,
    ) -> Result<(SignedIn, bool), OAuthError> {
        let provider = self
            .social_provider(&req.provider)
            .ok_or(OAuthError::ProviderNotFound)?;
        let social = self.social()?;
        self.ensure_writable().await?;
        let identity = social
            .client
            .verify_id_token(
                provider,
                &req.token,
                req.nonce.as_deref().filter(|n| !n.is_empty()),
                req.access_token.as_deref(),
                req.refresh_token.as_deref(),
            )
            .await?;
        let allow_sign_up = !provider.disables_implicit_sign_up() || req.request_sign_up;
        self.sign_in_identity(social, identity, allow_sign_up, meta)
            .await
    }

    /// A sign-in's redirect targets from its body: empty ones are absent,
    /// the callback URL defaults to the base URL (or `/`).
    pub(crate) fn redirect_targets(
        &self,
        callback_url: Option<String>,
        error_callback_url: Option<String>,
        new_user_callback_url: Option<String>,
    ) -> RedirectTargets {
        let callback_url = match callback_url.filter(|c| !c.is_empty()) {
            Some(c) => c,
            None => self
                .inner
                .base_url
                .as_ref()
                .map_or_else(|| "/".to_owned(), |(u, _)| u.clone()),
        };
        RedirectTargets {
            callback_url,
            error_callback_url: error_callback_url.filter(|c| !c.is_empty()),
            new_user_callback_url: new_user_callback_url.filter(|c| !c.is_empty()),
        }
    }

    /// Better Auth's `GET /callback/:provider`: `state_cookie` is the
    /// request's signed state cookie as sent (its signature is checked
    /// here). Takes the state (once), exchanges the code, verifies the
    /// identity, then for a sign-in finds, links or creates the user and
    /// creates a session, and for a link ([`Auth::link_social`]) links the
    /// provider account to the user who started it
    /// ([`crate::oauth::accounts`]).
    ///
    /// On error, [`SocialCallbackError::redirect`] is the handshake's error
    /// URL (or [`Auth::error_page`]) with `?error=<code>`.
    pub async fn social_callback(
        &self,
        provider_id: &str,
        params: &CallbackParams,
        state_cookie: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<SocialCallback, SocialCallbackError> {
        self.social_callback_in_session(provider_id, params, state_cookie, None, meta)
            .await
    }

    /// [`Auth::social_callback`] in the browser's session `session_token`
    /// (the session cookie's token, signature checked): a link handshake
    /// completes only in the very session that started it, so a link is
    /// never completed by another user's browser or without a session
    /// (`unable_to_link_account`).
    pub async fn social_callback_in_session(
        &self,
        provider_id: &str,
        params: &CallbackParams,
        state_cookie: Option<&str>,
        session_token: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<SocialCallback, SocialCallbackError> {
        let default_error = self.error_page();
        let (Some(provider), Ok(social)) = (self.social_provider(provider_id), self.social())
        else {
            // Better Auth's callback code for an unknown provider.
            return Err(SocialCallbackError {
                redirect: with_error(&default_error, "oauth_provider_not_found"),
                error: OAuthError::ProviderNotFound,
            });
        };
        let (identity, targets, link, request_sign_up) = self
            .callback_handshake(
                provider,
                &self.social_redirect_uri(provider.id()),
                params,
                state_cookie,
            )
            .await?;
        if let Some(link) = link {
            let values = self
                .account_values(social, &identity)
                .map_err(|e| callback_error(e, &targets, self))?;
            return self
                .link_identity(identity, link, session_token, targets.clone(), values)
                .await
                .map(SocialCallback::Linked)
                .map_err(|e| callback_error(e, &targets, self));
        }
        let allow_sign_up = !provider.disables_implicit_sign_up() || request_sign_up;
        let (signed_in, is_new_user) = self
            .sign_in_identity(social, identity, allow_sign_up, meta)
            .await
            .map_err(|e| callback_error(e, &targets, self))?;
        Ok(SocialCallback::SignedIn(Box::new(SocialSignedIn {
            redirect: signed_in_redirect(targets, is_new_user),
            signed_in,
            is_new_user,
        })))
    }

    /// The handshake half of a sign-in callback, for social sign-in and SSO
    /// alike: takes the state bound to this browser (`state_cookie`, its
    /// signature checked here) for `provider`, exchanges the code at
    /// `redirect_uri` and answers the verified identity and the sign-in's
    /// redirect targets. Errors before the state is taken go to the error
    /// page, later ones to the sign-in's error URL. A link's state signs
    /// nobody in here (`state_mismatch`).
    pub(crate) async fn callback_identity(
        &self,
        provider: &ProviderConfig,
        redirect_uri: &str,
        params: &CallbackParams,
        state_cookie: Option<&str>,
    ) -> Result<(VerifiedIdentity, RedirectTargets), SocialCallbackError> {
        let (identity, targets, link, _) = self
            .callback_handshake(provider, redirect_uri, params, state_cookie)
            .await?;
        if link.is_some() {
            return Err(callback_error(OAuthError::StateMismatch, &targets, self));
        }
        Ok((identity, targets))
    }

    /// [`Auth::callback_identity`], answering the link of a link handshake.
    async fn callback_handshake(
        &self,
        provider: &ProviderConfig,
        redirect_uri: &str,
        params: &CallbackParams,
        state_cookie: Option<&str>,
    ) -> Result<
        (
            VerifiedIdentity,
            RedirectTargets,
            Option<super::state::LinkData>,
            bool,
        ),
        SocialCallbackError,
    > {
        let client = self.oauth();
        let browser = state_cookie.and_then(|c| self.cookies().verify(c).ok());
        let pending = client
            .take_state(provider, params, browser.as_deref())
            .await
            .map_err(|e| SocialCallbackError {
                redirect: with_error(&self.error_page(), &e.code()),
                error: e,
            })?;
        let targets = pending.targets.clone();
        let link = pending.link.clone();
        let request_sign_up = pending.request_sign_up;
        let identity = client
            .exchange(provider, redirect_uri, pending, params)
            .await
            .map_err(|e| callback_error(e, &targets, self))?;
        Ok((identity, targets, link, request_sign_up))
    }

    fn account_values(
        &self,
        social: &Social,
        identity: &VerifiedIdentity,
    ) -> Result<[Value; 5], OAuthError> {
        let seal = |t: &Option<String>| -> Result<Value, OAuthError> {
            Ok(match t {
                Some(t) if social.encrypt_tokens => {
                    Value::from(symmetric_encrypt(&social.secret, t)?)
                }
                Some(t) => Value::from(t.clone()),
                None => Value::Null,
            })
        };
        let t = &identity.tokens;
        Ok([
            seal(&t.access_token)?,
            seal(&t.refresh_token)?,
            t.id_token.clone().map_or(Value::Null, Value::from),
            t.access_token_expires_at
                .map_or(Value::Null, |e| Value::from(date::format(e))),
            t.scope.clone().map_or(Value::Null, Value::from),
        ])
    }

    /// Signs in the user of `identity`: its account, or the user with its
    /// (provider-verified) email, or a new user.
    async fn sign_in_identity(
        &self,
        social: &Social,
        identity: VerifiedIdentity,
        allow_sign_up: bool,
        meta: &RequestMeta,
    ) -> Result<(SignedIn, bool), OAuthError> {
        self.ensure_writable().await?;
        let email = identity.email.as_deref().ok_or(OAuthError::EmailNotFound)?;
        let email = normalize_email(email).map_err(|_| OAuthError::EmailNotFound)?;
        let values = self.account_values(social, &identity)?;
        let db = self.db();
        // A lost race (another callback created the user or the account
        // first) is retried: the second pass finds what the winner wrote.
        for _ in 0..3 {
            let now = self.now();
            let now = UNIX_EPOCH + Duration::from_millis(millis_since_epoch(now).unsigned_abs());
            let stamp = date::format(now);
            let account = db
                .query(
                    &Statement::new(SELECT_ACCOUNT)
                        .bind(identity.provider_id.as_str())
                        .bind(identity.subject.as_str()),
                )
                .await?
                .into_iter()
                .next();
            let mut claimed = false;
            let (user, mut writes, is_new) = if let Some(row) = account {
                let account_id: String = row.get(0)?;
                let user_id: String = row.get(1)?;
                let user_id = rows::parse_user_id(&user_id)?;
                let user = rows::load_user(&**db, &user_id)
                    .await?
                    .ok_or(AuthError::UserNotFound)?;
                let mut update = Statement::with_params(UPDATE_ACCOUNT, values.to_vec());
                update = update.bind(stamp.as_str()).bind(account_id);
                (user, vec![update], false)
            } else if let Some(mut user) = rows::find_user_by_email(&**db, &email).await? {
                if !identity.email_verified {
                    return Err(OAuthError::AccountNotLinked);
                }
                // The provider proves the address; a user who never did
                // is handed over whole (see `claim_unproven_user`).
                let mut writes = super::claim_unproven_user(user.id.as_str(), &stamp);
                user.email_verified = true;
                claimed = true;
                let insert = self.insert_account(&identity, &user.id, &values, &stamp)?;
                let guarded = crate::stmt::insert_where(
                    &insert,
                    r#"NOT EXISTS (SELECT 1 FROM "account" WHERE "providerId" = ?1 AND "accountId" = ?2)"#,
                    vec![
                        identity.provider_id.as_str().into(),
                        identity.subject.as_str().into(),
                    ],
                )?;
                writes.push(guarded);
                (user, writes, false)
            } else {
                if self.inner.disable_sign_up || !allow_sign_up {
                    return Err(OAuthError::SignUpDisabled);
                }
                let user = User::new_row(
                    UserId::generate_in(self.inner.id_format),
                    (identity.name.clone().unwrap_or_default(), email.clone()),
                    identity.email_verified,
                    identity.image.clone(),
                    now,
                );
                let insert_user = Statement::new(INSERT_USER)
                    .bind(user.id.as_str())
                    .bind(user.name.as_str())
                    .bind(user.email.as_str())
                    .bind(user.email_verified)
                    .bind(user.image.as_deref())
                    .bind(stamp.as_str());
                let insert = self.insert_account(&identity, &user.id, &values, &stamp)?;
                (user, vec![insert_user, insert], true)
            };
            if self.inner.require_email_verification && !user.email_verified {
                return Err(AuthError::EmailNotVerified.into());
            }
            let (session, insert_session) = self.new_session(&user.id, true, meta, now)?;
            let guard = format!(
                r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?1) AND {}"#,
                session::not_banned("?1", "?2")
            );
            let insert_session = crate::stmt::insert_where(
                &insert_session,
                &guard,
                vec![user.id.as_str().into(), stamp.as_str().into()],
            )?;
            let session_index = writes.len();
            writes.push(insert_session);
            let entry = audit::insert_where(
                if is_new {
                    AuditEvent::SignUp
                } else {
                    AuditEvent::SignIn
                },
                AuditRecord {
                    user_id: Some(user.id.as_str()),
                    session_id: Some(&session.id),
                    email: Some(&user.email),
                    detail: Some(format!("social: {}", identity.provider_id)),
                    organization_id: None,
                },
                meta,
                now,
                r#"EXISTS (SELECT 1 FROM "session" WHERE "id" = ?11)"#,
                vec![Value::from(session.id.clone())],
            )?;
            match db.write_audited(writes, entry).await {
                Ok(out) => {
                    if out.get(session_index).map_or(0, |o| o.rows_affected) == 0 {
                        return Err(match rows::load_user(&**db, &user.id).await? {
                            Some(_) => AuthError::BannedUser.into(),
                            None => AuthError::UserNotFound.into(),
                        });
                    }
                    if claimed {
                        // Its sessions may have been removed.
                        self.evict_user(user.id.as_str());
                    }
                    return Ok((
                        SignedIn {
                            user,
                            session,
                            remember_me: true,
                        },
                        is_new,
                    ));
                }
                Err(e) if e.is_already_exists() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AuthError::Store(neutrino_core::Error::backend(
            "social sign-in",
            true,
            "too many concurrent sign-ins",
        ))
        .into())
    }

    fn insert_account(
        &self,
        identity: &VerifiedIdentity,
        user: &UserId,
        values: &[Value; 5],
        stamp: &str,
    ) -> Result<Statement, OAuthError> {
        let mut params: Vec<Value> = vec![
            random_id()?.into(),
            identity.subject.as_str().into(),
            identity.provider_id.as_str().into(),
            user.as_str().into(),
        ];
        params.extend(values.iter().cloned());
        params.push(stamp.into());
        Ok(Statement::with_params(INSERT_ACCOUNT, params))
    }
}
