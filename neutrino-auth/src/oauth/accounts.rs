//! Better Auth's account routes on the social providers: linking a provider
//! account to the signed-in user (`/link-social` and its callback),
//! unlinking one (`/unlink-account`), the provider's tokens of an account
//! (`/get-access-token`, `/refresh-token`) and its user information
//! (`/account-info`).
//!
//! Every operation takes the caller's session token and acts on that
//! session's user only: another user's account answers as a missing one
//! (`ACCOUNT_NOT_FOUND`).
//!
//! * **Link.** [`Auth::link_social`] starts the handshake with the link in
//!   its state: the user, their email and the session it was started in.
//!   The state is bound to the browser like a sign-in's, and its callback
//!   ([`Auth::social_callback_in_session`]) links instead of signing in:
//!   nobody is signed in, no session cookie is set. The link is refused
//!   unless the callback comes in the very session that started it, live
//!   (`unable_to_link_account`: another user's browser, a signed-out one or
//!   an ended session completes nothing), when the
//!   provider does not say the address is verified and is not trusted
//!   (`unable_to_link_account`), when the addresses differ and
//!   [`AccountLinking::allow_different_emails`] is off
//!   (`email_does_not_match`), and when the provider account belongs to
//!   another user (`account_already_linked_to_different_user`; the unique
//!   provider account decides, concurrent links of one provider account to
//!   two users link it once).
//! * **Unlink.** [`Auth::unlink_account`] needs a fresh session
//!   (`SESSION_NOT_FRESH`). The last account is never removed (unless
//!   [`AccountLinking::allow_unlinking_all`]): the `DELETE` itself counts the
//!   user's accounts, so concurrent unlinks of a user's two accounts leave
//!   one (`FAILED_TO_UNLINK_LAST_ACCOUNT`).
//! * **Tokens.** [`Auth::account_access_token`] answers the decrypted
//!   access token, refreshed first at the provider's token endpoint when it
//!   expires within 5 seconds and a refresh token is stored;
//!   [`Auth::refresh_account_token`] always refreshes. The new tokens are
//!   stored (encrypted as at sign-in) in one `UPDATE`; a refused refresh or
//!   a garbled answer is [`OAuthError::TokenRefresh`] and changes nothing.
//!   The answers' `Debug` shows no token.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use neutrino_core::clock::millis_since_epoch;
use neutrino_core::sql::{Row, Statement, Value};

use super::state::LinkData;
use super::{AccountProfile, Authorization, OAuthError, ProviderConfig, RedirectTargets};
use super::{ProviderTokens, VerifiedIdentity};
use crate::auth::Auth;
use crate::date;
use crate::error::AuthError;
use crate::model::AuthSession;
use crate::twofactor::{symmetric_decrypt, symmetric_encrypt};

/// Better Auth's `account.accountLinking` options for linking and
/// unlinking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLinking {
    /// Whether provider accounts may be linked at all (default `true`).
    pub enabled: bool,
    /// Whether a provider account with another email than the user's may be
    /// linked (default `false`).
    pub allow_different_emails: bool,
    /// Whether a user's last account may be unlinked (default `false`).
    pub allow_unlinking_all: bool,
    /// Providers whose email addresses are trusted without their
    /// `email_verified` (default none).
    pub trusted_providers: Vec<String>,
}

impl Default for AccountLinking {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_different_emails: false,
            allow_unlinking_all: false,
            trusted_providers: Vec::new(),
        }
    }
}

/// What [`Auth::link_social`] takes: Better Auth's body of
/// `POST /link-social` (the redirect flow).
#[derive(Clone, Debug, Default)]
pub struct LinkSocial {
    /// The provider's ID.
    pub provider: String,
    /// Where to go once linked (default: the base URL).
    pub callback_url: Option<String>,
    /// Where to go on an error.
    pub error_callback_url: Option<String>,
    /// Scopes to request besides the provider's.
    pub scopes: Vec<String>,
    /// Sent to the provider as `login_hint` (Better Auth's `loginHint`).
    pub login_hint: Option<String>,
}

/// Which of the caller's accounts an operation is about: Better Auth's
/// `accountId` (the account's ID), or a provider (`providerId`) with
/// optionally the provider's account ID or the account's ID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountSelector {
    /// The account's ID (Better Auth's `accountId` since 1.4), or with
    /// `provider_id` the provider's ID of the account.
    pub account_id: Option<String>,
    /// The provider's ID.
    pub provider_id: Option<String>,
}

/// The answer of [`Auth::account_access_token`] (Better Auth's
/// `/get-access-token`).
#[derive(Clone)]
pub struct AccessToken {
    /// The access token, decrypted.
    pub access_token: String,
    /// When it expires.
    pub access_token_expires_at: Option<SystemTime>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The ID token.
    pub id_token: Option<String>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The answer of [`Auth::refresh_account_token`] (Better Auth's
/// `/refresh-token`).
#[derive(Clone)]
pub struct RefreshedTokens {
    /// The new access token.
    pub access_token: String,
    /// The refresh token: the provider's new one, else the stored one.
    pub refresh_token: String,
    /// When the access token expires.
    pub access_token_expires_at: Option<SystemTime>,
    /// When the refresh token expires (as stored).
    pub refresh_token_expires_at: Option<SystemTime>,
    /// The account's scopes, as stored.
    pub scope: Option<String>,
    /// The ID token: the provider's new one, else the stored one.
    pub id_token: Option<String>,
    /// The provider's ID.
    pub provider_id: String,
    /// The account's ID.
    pub account_id: String,
}

impl fmt::Debug for RefreshedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshedTokens")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("provider_id", &self.provider_id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// The answer of [`Auth::account_info`] (Better Auth's `/account-info`).
#[derive(Clone, Debug)]
pub struct ProviderAccountInfo {
    /// The provider's profile of the user.
    pub user: AccountProfile,
    /// The provider's user-info answer, as it sent it.
    pub data: serde_json::Value,
    /// The account's ID.
    pub id: String,
    /// The provider's ID.
    pub provider_id: String,
    /// The provider's ID of the account.
    pub account_id: String,
}

/// A completed link: where to send the browser.
#[derive(Debug)]
pub struct SocialLinked {
    /// The user the account was linked to.
    pub user_id: String,
    /// The provider's ID.
    pub provider_id: String,
    /// Where to send the browser (the link's callback URL).
    pub redirect: String,
}

/// One stored account, tokens as stored.
struct StoredAccount {
    id: String,
    provider_id: String,
    account_id: String,
    access_token: Option<String>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    access_token_expires_at: Option<SystemTime>,
    refresh_token_expires_at: Option<SystemTime>,
    scope: Option<String>,
}

const INSERT_ACCOUNT: &str = r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "scope", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"#;
const ACCOUNT_COLUMNS: &str = r#""id", "providerId", "accountId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope""#;

fn opt_date(r: &Row, i: usize, what: &'static str) -> Result<Option<SystemTime>, OAuthError> {
    let v: Option<String> = r.get(i)?;
    Ok(v.map(|s| date::stored(&s, what)).transpose()?)
}

fn stored_account(r: &Row) -> Result<StoredAccount, OAuthError> {
    Ok(StoredAccount {
        id: r.get(0)?,
        provider_id: r.get(1)?,
        account_id: r.get(2)?,
        access_token: r.get(3)?,
        refresh_token: r.get(4)?,
        id_token: r.get(5)?,
        access_token_expires_at: opt_date(r, 6, "account.accessTokenExpiresAt")?,
        refresh_token_expires_at: opt_date(r, 7, "account.refreshTokenExpiresAt")?,
        scope: r.get(8)?,
    })
}

/// The `WHERE` condition of a selector, on parameters from `?2`, and its
/// values; `None` when it selects nothing.
fn selector_sql(which: &AccountSelector) -> Option<(&'static str, Vec<Value>)> {
    let acc = which.account_id.as_deref().filter(|s| !s.is_empty());
    let prov = which.provider_id.as_deref().filter(|s| !s.is_empty());
    match (acc, prov) {
        (Some(a), None) => Some((r#""id" = ?2"#, vec![a.into()])),
        (None, Some(p)) => Some((r#""providerId" = ?2"#, vec![p.into()])),
        (Some(a), Some(p)) => Some((
            r#""providerId" = ?2 AND ("accountId" = ?3 OR "id" = ?3)"#,
            vec![p.into(), a.into()],
        )),
        (None, None) => None,
    }
}

fn parse_scopes(scope: Option<&str>) -> Vec<String> {
    scope
        .map(|s| {
            s.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whole milliseconds, as the database keeps them.
fn millis(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis_since_epoch(t).unsigned_abs())
}

impl Auth {
    fn linking(&self) -> &AccountLinking {
        &self.inner.social.linking
    }

    /// The caller's session behind `token` (read from the database).
    async fn account_caller(&self, token: &str) -> Result<std::sync::Arc<AuthSession>, OAuthError> {
        Ok(self.caller_session(token).await?)
    }

    /// A stored token as the provider issued it.
    fn open_token(&self, stored: &str) -> Result<String, OAuthError> {
        let social = &self.inner.social;
        let looks_sealed = !stored.is_empty()
            && stored.len().is_multiple_of(2)
            && stored.bytes().all(|b| b.is_ascii_hexdigit());
        if social.encrypt_tokens && looks_sealed {
            symmetric_decrypt(&social.secret, stored)
                .map_err(|_| AuthError::corrupt("account token").into())
        } else {
            Ok(stored.to_owned())
        }
    }

    /// A token as it is stored.
    fn seal_token(&self, token: &str) -> Result<String, OAuthError> {
        let social = &self.inner.social;
        if social.encrypt_tokens {
            Ok(symmetric_encrypt(&social.secret, token)?)
        } else {
            Ok(token.to_owned())
        }
    }

    /// The caller's account `which`.
    async fn own_account(
        &self,
        user_id: &str,
        which: &AccountSelector,
    ) -> Result<StoredAccount, OAuthError> {
        let (cond, values) = selector_sql(which).ok_or(OAuthError::AccountNotFound)?;
        let mut params: Vec<Value> = vec![user_id.into()];
        params.extend(values);
        let sql = format!(
            r#"SELECT {ACCOUNT_COLUMNS} FROM "account" WHERE "userId" = ?1 AND {cond} ORDER BY "createdAt", "id" LIMIT 1"#
        );
        let row = self
            .db()
            .query(&Statement::with_params(sql, params))
            .await?
            .into_iter()
            .next()
            .ok_or(OAuthError::AccountNotFound)?;
        stored_account(&row)
    }

    /// Better Auth's `POST /link-social` (the redirect flow): starts a
    /// handshake with `req.provider` whose callback links the provider
    /// account to the user of the session `token` (see the module docs).
    ///
    /// Errors: `UNAUTHORIZED`, `PROVIDER_NOT_FOUND`, `INVALID_CALLBACK_URL`,
    /// the platform's status, discovery failures.
    pub async fn link_social(
        &self,
        token: &str,
        req: LinkSocial,
    ) -> Result<Authorization, OAuthError> {
        let found = self.account_caller(token).await?;
        let provider = self
            .social_provider(&req.provider)
            .ok_or(OAuthError::ProviderNotFound)?;
        self.ensure_writable().await?;
        let targets = self.redirect_targets(req.callback_url, req.error_callback_url, None);
        let mut provider = provider.clone();
        if !req.scopes.is_empty() {
            if req.scopes.len() > 32
                || req.scopes.iter().any(|s| {
                    s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic())
                })
            {
                return Err(OAuthError::Config { reason: "scopes" });
            }
            let mut scopes = provider.scopes().to_vec();
            for s in req.scopes {
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            provider = provider.with_scopes(scopes);
        }
        let link = LinkData {
            user_id: found.user.id.as_str().to_owned(),
            email: found.user.email.clone(),
            session_id: found.session.id.clone(),
        };
        self.oauth()
            .begin_with(
                &provider,
                &self.social_redirect_uri(provider.id()),
                targets,
                req.login_hint.as_deref(),
                Some(link),
                false,
            )
            .await
    }

    /// Links the verified `identity` to the user of `link` (the callback of
    /// a link handshake).
    pub(crate) async fn link_identity(
        &self,
        identity: VerifiedIdentity,
        link: LinkData,
        session_token: Option<&str>,
        targets: RedirectTargets,
        values: [Value; 5],
    ) -> Result<SocialLinked, OAuthError> {
        // Completed in the session that started it, or not at all.
        let session = match session_token {
            Some(t) => self.caller_session(t).await.ok(),
            None => None,
        };
        if !session
            .is_some_and(|s| s.session.id == link.session_id && s.user.id.as_str() == link.user_id)
        {
            return Err(OAuthError::UnableToLinkAccount);
        }
        self.ensure_writable().await?;
        let linking = self.linking();
        let trusted = linking
            .trusted_providers
            .iter()
            .any(|p| p == &identity.provider_id);
        if !linking.enabled || !(trusted || identity.email_verified) {
            return Err(OAuthError::UnableToLinkAccount);
        }
        let same_email = identity
            .email
            .as_deref()
            .is_some_and(|e| e.to_lowercase() == link.email.to_lowercase());
        if !same_email && !linking.allow_different_emails {
            return Err(OAuthError::EmailDoesNotMatch);
        }
        let now = millis(self.now());
        let stamp = date::format(now);
        // Written only while the session that started the link is live and
        // the provider account is nobody's (the unique index decides a race).
        let mut params: Vec<Value> = vec![
            crate::random::random_id()?.into(),
            identity.subject.as_str().into(),
            identity.provider_id.as_str().into(),
            link.user_id.as_str().into(),
        ];
        params.extend(values.iter().cloned());
        params.push(stamp.as_str().into());
        let insert = crate::stmt::insert_where(
            &Statement::with_params(INSERT_ACCOUNT, params),
            r#"EXISTS (SELECT 1 FROM "session" WHERE "id" = ?1 AND "userId" = ?2 AND "expiresAt" > ?3) AND NOT EXISTS (SELECT 1 FROM "account" WHERE "providerId" = ?4 AND "accountId" = ?5)"#,
            vec![
                Value::from(link.session_id.clone()),
                link.user_id.as_str().into(),
                stamp.as_str().into(),
                identity.provider_id.as_str().into(),
                identity.subject.as_str().into(),
            ],
        )?;
        let inserted = match self.db().execute(&insert).await {
            Ok(n) => n.rows_affected > 0,
            Err(e) if e.is_already_exists() => false,
            Err(e) => return Err(e.into()),
        };
        if !inserted {
            // Already linked (to this user: its tokens are renewed), linked
            // to another user, or the session has ended.
            let mut params: Vec<Value> = values.to_vec();
            params.push(stamp.as_str().into());
            params.push(identity.provider_id.as_str().into());
            params.push(identity.subject.as_str().into());
            params.push(link.user_id.as_str().into());
            params.push(Value::from(link.session_id.clone()));
            let update = Statement::with_params(
                r#"UPDATE "account" SET "accessToken" = ?1, "refreshToken" = COALESCE(?2, "refreshToken"), "idToken" = ?3, "accessTokenExpiresAt" = ?4, "scope" = COALESCE(?5, "scope"), "updatedAt" = ?6 WHERE "providerId" = ?7 AND "accountId" = ?8 AND "userId" = ?9 AND EXISTS (SELECT 1 FROM "session" WHERE "id" = ?10 AND "userId" = ?9 AND "expiresAt" > ?6)"#,
                params,
            );
            if self.db().execute(&update).await?.rows_affected == 0 {
                let owner = self
                    .db()
                    .query(
                        &Statement::new(
                            r#"SELECT "userId" FROM "account" WHERE "providerId" = ?1 AND "accountId" = ?2"#,
                        )
                        .bind(identity.provider_id.as_str())
                        .bind(identity.subject.as_str()),
                    )
                    .await?
                    .into_iter()
                    .next();
                return Err(match owner {
                    Some(r) if r.get::<String>(0)? != link.user_id => {
                        OAuthError::AlreadyLinkedToDifferentUser
                    }
                    _ => OAuthError::UnableToLinkAccount,
                });
            }
        }
        Ok(SocialLinked {
            user_id: link.user_id,
            provider_id: identity.provider_id,
            redirect: targets.callback_url,
        })
    }

    /// Better Auth's `POST /unlink-account`: removes the account `which` of
    /// the user of the session `token`, unless it is their last one (see
    /// the module docs).
    ///
    /// Errors: `UNAUTHORIZED`, `SESSION_NOT_FRESH`, `ACCOUNT_NOT_FOUND`,
    /// `FAILED_TO_UNLINK_LAST_ACCOUNT`, the platform's status.
    pub async fn unlink_account(
        &self,
        token: &str,
        which: &AccountSelector,
    ) -> Result<(), OAuthError> {
        let found = self.account_caller(token).await?;
        if !self.is_fresh(&found.session) {
            return Err(AuthError::SessionNotFresh.into());
        }
        self.ensure_writable().await?;
        let user = found.user.id.as_str();
        let allow_all = self.linking().allow_unlinking_all;
        let (cond, values) = selector_sql(which).ok_or(OAuthError::AccountNotFound)?;
        let n = values.len();
        let mut params: Vec<Value> = vec![user.into()];
        params.extend(values);
        params.push(allow_all.into());
        let allow = n + 2;
        // One row: the first match. The count is taken by the DELETE
        // itself, so two concurrent unlinks cannot both pass it.
        let delete = Statement::with_params(
            format!(
                r#"DELETE FROM "account" WHERE "id" = (SELECT "id" FROM "account" WHERE "userId" = ?1 AND {cond} ORDER BY "createdAt", "id" LIMIT 1) AND "userId" = ?1 AND (?{allow} = 1 OR (SELECT COUNT(*) FROM "account" WHERE "userId" = ?1) > 1)"#
            ),
            params,
        );
        if self.db().execute(&delete).await?.rows_affected > 0 {
            return Ok(());
        }
        let count = self
            .db()
            .query(
                &Statement::new(r#"SELECT COUNT(*) FROM "account" WHERE "userId" = ?1"#).bind(user),
            )
            .await?
            .into_iter()
            .next()
            .map(|r| r.get::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        Err(if count <= 1 && !allow_all {
            OAuthError::LastAccount
        } else {
            OAuthError::AccountNotFound
        })
    }

    /// The configured social provider of a stored account.
    fn account_provider(&self, account: &StoredAccount) -> Result<&ProviderConfig, OAuthError> {
        self.social_provider(&account.provider_id)
            .ok_or(OAuthError::ProviderNotSupported)
    }

    /// Refreshes `account`'s tokens at `provider` and stores them, in one
    /// `UPDATE` of the caller's row.
    async fn refresh_stored(
        &self,
        user_id: &str,
        provider: &ProviderConfig,
        account: &StoredAccount,
    ) -> Result<(ProviderTokens, String), OAuthError> {
        let stored = account
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or(OAuthError::RefreshTokenNotFound)?;
        let refresh_token = self.open_token(stored)?;
        self.ensure_writable().await?;
        let tokens = self.oauth().refresh(provider, &refresh_token).await?;
        let access = tokens
            .access_token
            .as_deref()
            .ok_or(OAuthError::TokenRefresh)?;
        let sealed_refresh = tokens
            .refresh_token
            .as_deref()
            .map(|t| self.seal_token(t))
            .transpose()?;
        let now = date::format(millis(self.now()));
        let update = Statement::new(
            r#"UPDATE "account" SET "accessToken" = ?1, "refreshToken" = COALESCE(?2, "refreshToken"), "accessTokenExpiresAt" = ?3, "idToken" = COALESCE(?4, "idToken"), "updatedAt" = ?5 WHERE "id" = ?6 AND "userId" = ?7"#,
        )
        .bind(self.seal_token(access)?)
        .bind(sealed_refresh)
        .bind(tokens.access_token_expires_at.map(date::format))
        .bind(tokens.id_token.clone())
        .bind(now)
        .bind(account.id.as_str())
        .bind(user_id);
        if self.db().execute(&update).await?.rows_affected == 0 {
            // Unlinked meanwhile.
            return Err(OAuthError::AccountNotFound);
        }
        Ok((tokens, refresh_token))
    }

    /// Better Auth's `POST /get-access-token`: the access token of the
    /// caller's account `which`, refreshed first when it expires within 5
    /// seconds and a refresh token is stored.
    ///
    /// Errors: `UNAUTHORIZED`, `ACCOUNT_NOT_FOUND`, `PROVIDER_NOT_SUPPORTED`,
    /// [`OAuthError::TokenRefresh`], [`OAuthError::AccessTokenNotFound`].
    pub async fn account_access_token(
        &self,
        token: &str,
        which: &AccountSelector,
    ) -> Result<AccessToken, OAuthError> {
        let found = self.account_caller(token).await?;
        let user = found.user.id.as_str();
        let account = self.own_account(user, which).await?;
        self.fresh_access_token(user, account).await
    }

    /// The access token of the caller's `account`, refreshed first when it
    /// expires within 5 seconds and a refresh token is stored.
    async fn fresh_access_token(
        &self,
        user: &str,
        account: StoredAccount,
    ) -> Result<AccessToken, OAuthError> {
        let provider = self.account_provider(&account)?;
        let expiring = account
            .access_token_expires_at
            .is_some_and(|e| e < self.now() + Duration::from_secs(5));
        let has_refresh = account
            .refresh_token
            .as_deref()
            .is_some_and(|t| !t.is_empty());
        if expiring && has_refresh {
            let (tokens, _) = self.refresh_stored(user, provider, &account).await?;
            return Ok(AccessToken {
                access_token: tokens.access_token.ok_or(OAuthError::TokenRefresh)?,
                access_token_expires_at: tokens
                    .access_token_expires_at
                    .or(account.access_token_expires_at),
                scopes: parse_scopes(account.scope.as_deref()),
                id_token: tokens.id_token.or(account.id_token),
            });
        }
        let access = account
            .access_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or(OAuthError::AccessTokenNotFound)?;
        Ok(AccessToken {
            access_token: self.open_token(access)?,
            access_token_expires_at: account.access_token_expires_at,
            scopes: parse_scopes(account.scope.as_deref()),
            id_token: account.id_token,
        })
    }

    /// Better Auth's `POST /refresh-token`: refreshes the tokens of the
    /// caller's account `which` at its provider and stores them.
    ///
    /// Errors: `UNAUTHORIZED`, `ACCOUNT_NOT_FOUND`, `PROVIDER_NOT_SUPPORTED`,
    /// `REFRESH_TOKEN_NOT_FOUND`, [`OAuthError::TokenRefresh`] (the stored
    /// tokens unchanged), the platform's status.
    pub async fn refresh_account_token(
        &self,
        token: &str,
        which: &AccountSelector,
    ) -> Result<RefreshedTokens, OAuthError> {
        let found = self.account_caller(token).await?;
        let user = found.user.id.as_str();
        let account = self.own_account(user, which).await?;
        let provider = self.account_provider(&account)?;
        let (tokens, old_refresh) = self.refresh_stored(user, provider, &account).await?;
        Ok(RefreshedTokens {
            access_token: tokens.access_token.ok_or(OAuthError::TokenRefresh)?,
            refresh_token: tokens.refresh_token.unwrap_or(old_refresh),
            access_token_expires_at: tokens.access_token_expires_at,
            refresh_token_expires_at: account.refresh_token_expires_at,
            scope: account.scope,
            id_token: tokens.id_token.or(account.id_token),
            provider_id: account.provider_id,
            account_id: account.id,
        })
    }

    /// Better Auth's `GET /account-info`: the provider's user information
    /// for the caller's account `which`, from its user-info endpoint with
    /// the account's access token (refreshed first as
    /// [`Auth::account_access_token`] does).
    ///
    /// Errors: those of [`Auth::account_access_token`], and
    /// `unable_to_get_user_info`.
    pub async fn account_info(
        &self,
        token: &str,
        which: &AccountSelector,
    ) -> Result<ProviderAccountInfo, OAuthError> {
        let found = self.account_caller(token).await?;
        let account = self.own_account(found.user.id.as_str(), which).await?;
        let provider = self.account_provider(&account)?.clone();
        let (id, provider_id, account_id) = (
            account.id.clone(),
            account.provider_id.clone(),
            account.account_id.clone(),
        );
        let access = self
            .fresh_access_token(found.user.id.as_str(), account)
            .await?;
        let (user, data) = self
            .oauth()
            .account_profile(&provider, &access.access_token)
            .await?;
        Ok(ProviderAccountInfo {
            user,
            data,
            id,
            provider_id,
            account_id,
        })
    }
}
