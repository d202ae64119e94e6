//! Sign-in through an identity provider: the OAuth 2.0 / OpenID Connect
//! authorization-code handshake as a building block, and social sign-in on
//! it.
//!
//! # The handshake
//! [`OAuthClient`] drives one provider ([`ProviderConfig`]) for any caller:
//! social sign-in here, and per-tenant SSO, whose providers (issuer, client
//! credentials) come from the database.
//!
//! 1. [`OAuthClient::begin`] checks the redirect targets against the trusted
//!    origins (no open redirect), draws a `state`, a PKCE verifier (S256) and
//!    an OIDC `nonce`, stores them in Better Auth's `verification` table in
//!    Better Auth's state format (10 minutes), and answers the provider's
//!    authorization URL and the state. The caller binds the state to the
//!    browser (the HTTP layer sets it in a signed cookie, as Better Auth
//!    does).
//! 2. [`OAuthClient::take_state`], on the callback, checks the browser's
//!    state equals the callback's and takes the row in one atomic
//!    `DELETE … RETURNING`: a replayed or concurrent callback with the same
//!    state gets exactly one success. It answers the [`Pending`] handshake,
//!    whose redirect targets the caller uses for errors from then on.
//! 3. [`OAuthClient::exchange`] sends the code with the PKCE verifier to the
//!    token endpoint and answers the [`VerifiedIdentity`]: for OIDC, from an
//!    ID token verified on `jsonwebtoken` (signature with a key of the
//!    issuer's JWKS, `alg` pinned per provider, `iss`, `aud`/`azp`, `exp`,
//!    `nbf`, `iat`, the `nonce` of this handshake, `at_hash`); for OAuth 2.0
//!    and GitHub, from the user-info API.
//!
//! Discovery and JWKS are cached per issuer ([`discovery`]). Nothing here
//! logs or prints codes, tokens, verifiers or client secrets.
//!
//! # Social sign-in
//! [`crate::Auth::sign_in_social`] and [`crate::Auth::social_callback`]: the
//! providers of [`crate::AuthBuilder::with_social_provider`] on Better Auth's
//! `account` table (see [`social`]).

pub mod accounts;
pub mod discovery;
mod error;
mod jose;
mod provider;
pub mod social;
mod state;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use neutrino_core::clock::{SharedClock, millis_since_epoch};
use neutrino_core::sql::SqlExecutor;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use error::OAuthError;
pub use provider::{Endpoints, Profile, ProviderConfig};
pub use state::STATE_TTL;

use discovery::{Discovery, Http, checked_url};
use error::provider_error;
use state::{LinkData, StateData};

use crate::origin::TrustedOrigins;
use crate::random::random_string;

/// The redirect targets of one sign-in, each a relative path or a URL on a
/// trusted origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedirectTargets {
    /// Where the browser goes after signing in.
    pub callback_url: String,
    /// Where it goes on an error (`?error=…` appended); the auth server's
    /// error page when `None`.
    pub error_callback_url: Option<String>,
    /// Where a new user goes; `callback_url` when `None`.
    pub new_user_callback_url: Option<String>,
}

/// An authorization to send the browser to.
#[derive(Clone)]
pub struct Authorization {
    /// The provider's authorization URL.
    pub url: String,
    /// The state, to bind to the browser (a signed cookie).
    pub state: String,
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization").finish_non_exhaustive()
    }
}

/// The query (or form) of a provider's callback.
#[derive(Clone, Default, Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state.
    pub state: Option<String>,
    /// The provider's error code.
    pub error: Option<String>,
    /// RFC 9207's issuer.
    pub iss: Option<String>,
}

impl fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackParams")
            .field("error", &self.error)
            .field("iss", &self.iss)
            .finish_non_exhaustive()
    }
}

/// A handshake whose state was taken: what [`OAuthClient::exchange`]
/// finishes.
pub struct Pending {
    /// The sign-in's redirect targets (checked when it began).
    pub targets: RedirectTargets,
    code_verifier: String,
    nonce: Option<String>,
    pub(crate) link: Option<LinkData>,
    pub(crate) request_sign_up: bool,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

/// The provider's tokens.
#[derive(Clone, Default)]
pub struct ProviderTokens {
    /// The access token.
    pub access_token: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<String>,
    /// The ID token (OIDC).
    pub id_token: Option<String>,
    /// When the access token expires.
    pub access_token_expires_at: Option<SystemTime>,
    /// The granted scopes, as the provider wrote them.
    pub scope: Option<String>,
}

impl fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Who signed in, as the provider vouches for it.
#[derive(Clone, Debug)]
pub struct VerifiedIdentity {
    /// The provider's ID.
    pub provider_id: String,
    /// The issuer (OIDC).
    pub issuer: Option<String>,
    /// The provider's stable ID of the user (`sub`; GitHub's numeric ID).
    pub subject: String,
    /// The email address.
    pub email: Option<String>,
    /// Whether the provider says the address is verified.
    pub email_verified: bool,
    /// The display name.
    pub name: Option<String>,
    /// The picture URL.
    pub image: Option<String>,
    /// The tokens.
    pub tokens: ProviderTokens,
}

/// The OAuth 2.0 / OIDC handshake for any provider; see the module docs.
/// Cheap to clone: clones share the discovery and JWKS cache.
#[derive(Clone)]
pub struct OAuthClient {
    db: Arc<dyn SqlExecutor>,
    clock: SharedClock,
    origins: TrustedOrigins,
    discovery: Arc<Discovery>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct StandardClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, deserialize_with = "jose::lenient_bool")]
    email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

/// S256 of a PKCE verifier.
/// The writes that hand an existing user, whose address was never proven,
/// to whoever a provider has just vouched for as that address's owner: the
/// user's password, sessions, API keys and second factor are removed and
/// the address marked verified, all only while the user is still unverified
/// at write time. They go in the same batch as the provider account linked
/// to the user.
///
/// Without them, someone who signed up with another person's address (and
/// so knows its password) keeps a way into the account that person then
/// signs in to through a provider: a pre-registration takeover.
pub(crate) fn claim_unproven_user(
    user_id: &str,
    stamp: &str,
) -> Vec<neutrino_core::sql::Statement> {
    use neutrino_core::sql::Statement;
    const UNPROVEN: &str =
        r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?1 AND "emailVerified" = 0)"#;
    let mut writes: Vec<Statement> = [
        r#"DELETE FROM "account" WHERE "userId" = ?1 AND "providerId" = 'credential'"#,
        r#"DELETE FROM "session" WHERE "userId" = ?1"#,
        r#"DELETE FROM "apikey" WHERE "referenceId" = ?1"#,
        r#"DELETE FROM "twoFactor" WHERE "userId" = ?1"#,
    ]
    .into_iter()
    .map(|sql| Statement::new(format!("{sql} AND {UNPROVEN}")).bind(user_id))
    .collect();
    writes.push(
        Statement::new(
            r#"UPDATE "user" SET "emailVerified" = 1, "twoFactorEnabled" = 0, "updatedAt" = ?2 WHERE "id" = ?1 AND "emailVerified" = 0"#,
        )
        .bind(user_id)
        .bind(stamp),
    );
    writes
}

/// The provider's token endpoint: its own setting, else the discovery
/// document's.
fn token_endpoint(
    provider: &ProviderConfig,
    metadata: Option<&discovery::Metadata>,
) -> Result<String, OAuthError> {
    provider
        .endpoints()
        .token
        .clone()
        .or_else(|| metadata.map(|m| m.token_endpoint.clone()))
        .ok_or(OAuthError::Config {
            reason: "no token endpoint",
        })
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Keeps a provider-supplied string only if it is reasonably short.
fn short(s: Option<String>, max: usize) -> Option<String> {
    s.filter(|v| !v.is_empty() && v.len() <= max && !v.chars().any(char::is_control))
}

impl OAuthClient {
    /// A client on `db` (the auth database, for the state), checking redirect
    /// targets against `origins`; unknown key IDs refetch a JWKS at most once
    /// per `jwks_refetch_interval` per issuer.
    pub(crate) fn new(
        db: Arc<dyn SqlExecutor>,
        clock: SharedClock,
        origins: TrustedOrigins,
        jwks_refetch_interval: Duration,
    ) -> Result<Self, OAuthError> {
        Ok(Self {
            db,
            clock,
            origins,
            discovery: Arc::new(Discovery::new(Http::new()?, jwks_refetch_interval)),
        })
    }

    fn check_targets(&self, t: &RedirectTargets) -> Result<(), OAuthError> {
        let all = std::iter::once(&t.callback_url)
            .chain(t.error_callback_url.as_ref())
            .chain(t.new_user_callback_url.as_ref());
        for url in all {
            if url.len() > 2048 || !self.origins.is_safe_callback(url) {
                return Err(OAuthError::InvalidCallbackUrl);
            }
        }
        Ok(())
    }

    async fn authorization_endpoint(&self, p: &ProviderConfig) -> Result<String, OAuthError> {
        if let Some(e) = &p.endpoints().authorization {
            return Ok(e.clone());
        }
        let (Some(issuer), Some(url)) = (p.issuer(), p.discovery_url()) else {
            return Err(OAuthError::Config {
                reason: "no issuer",
            });
        };
        Ok(self
            .discovery
            .metadata(issuer, &url, p.allow_loopback_http())
            .await?
            .authorization_endpoint
            .clone())
    }

    /// Starts a sign-in with `provider`: checks `targets`, stores the state
    /// and answers the authorization URL, whose `redirect_uri` is
    /// `redirect_uri` (the caller's callback route, e.g.
    /// `{baseURL}/api/auth/callback/{provider}`).
    ///
    /// Errors: `INVALID_CALLBACK_URL`; [`OAuthError::Config`],
    /// [`OAuthError::Endpoint`] (discovery).
    pub async fn begin(
        &self,
        provider: &ProviderConfig,
        redirect_uri: &str,
        targets: RedirectTargets,
    ) -> Result<Authorization, OAuthError> {
        self.begin_with(provider, redirect_uri, targets, None, None, false)
            .await
    }

    /// [`OAuthClient::begin`], with `login_hint` (the user's address or
    /// identifier, Better Auth's `loginHint`) sent to the provider as the
    /// authorization URL's `login_hint` when present and not empty.
    pub async fn begin_with_login_hint(
        &self,
        provider: &ProviderConfig,
        redirect_uri: &str,
        targets: RedirectTargets,
        login_hint: Option<&str>,
    ) -> Result<Authorization, OAuthError> {
        self.begin_with(provider, redirect_uri, targets, login_hint, None, false)
            .await
    }

    /// [`OAuthClient::begin_with_login_hint`], for a link handshake when
    /// `link` is set, and with Better Auth's `requestSignUp`.
    pub(crate) async fn begin_with(
        &self,
        provider: &ProviderConfig,
        redirect_uri: &str,
        targets: RedirectTargets,
        login_hint: Option<&str>,
        link: Option<LinkData>,
        request_sign_up: bool,
    ) -> Result<Authorization, OAuthError> {
        provider.validate()?;
        self.check_targets(&targets)?;
        let endpoint = self.authorization_endpoint(provider).await?;
        let mut url = checked_url(&endpoint, provider.allow_loopback_http())?;
        let state = random_string(32)?;
        let code_verifier = random_string(128)?;
        let nonce = match provider.profile() {
            Profile::Oidc => Some(random_string(32)?),
            _ => None,
        };
        let now = self.clock.now();
        let data = StateData {
            callback_url: targets.callback_url,
            code_verifier,
            error_url: targets.error_callback_url,
            new_user_url: targets.new_user_callback_url,
            expires_at: millis_since_epoch(now + STATE_TTL),
            oauth_state: Some(state.clone()),
            id_token_nonce: nonce.clone(),
            provider_id: Some(provider.state_binding()),
            link,
            request_sign_up,
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", provider.client_id())
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge(&data.code_verifier))
                .append_pair("code_challenge_method", "S256");
            if !provider.scopes().is_empty() {
                q.append_pair("scope", &provider.scopes().join(" "));
            }
            if let Some(n) = &nonce {
                q.append_pair("nonce", n);
            }
            if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
                q.append_pair("login_hint", hint);
            }
        }
        state::store(&*self.db, &state, &data, now).await?;
        Ok(Authorization {
            url: url.to_string(),
            state,
        })
    }

    /// Takes the state of a callback for `provider`: `browser_state` is the
    /// state bound to the requesting browser (the signed cookie's value,
    /// signature checked); it must equal the callback's. The state is
    /// deleted in the same statement that reads it, so it completes once.
    ///
    /// Errors: `state_not_found`, `state_mismatch` (unknown, used, expired,
    /// another browser's, another provider's).
    pub async fn take_state(
        &self,
        provider: &ProviderConfig,
        params: &CallbackParams,
        browser_state: Option<&str>,
    ) -> Result<Pending, OAuthError> {
        let state = params.state.as_deref().ok_or(OAuthError::StateNotFound)?;
        let same_browser =
            browser_state.is_some_and(|b| bool::from(b.as_bytes().ct_eq(state.as_bytes())));
        if !same_browser {
            return Err(OAuthError::StateMismatch);
        }
        let data = state::take(&*self.db, state, self.clock.now()).await?;
        // A state without its provider, or of another provider (another
        // tenant's SSO provider, or social sign-in), completes nothing here.
        if data.provider_id.as_deref() != Some(provider.state_binding().as_str()) {
            return Err(OAuthError::StateMismatch);
        }
        Ok(Pending {
            targets: RedirectTargets {
                callback_url: data.callback_url,
                error_callback_url: data.error_url,
                new_user_callback_url: data.new_user_url,
            },
            code_verifier: data.code_verifier,
            nonce: data.id_token_nonce,
            link: data.link,
            request_sign_up: data.request_sign_up,
        })
    }

    /// Finishes a taken handshake: the provider's error or code of
    /// `params`, the code exchanged (with the PKCE verifier, at the
    /// `redirect_uri` of [`OAuthClient::begin`]) and the identity verified.
    ///
    /// Errors: the provider's error, `no_code`, `issuer_mismatch`,
    /// `invalid_code`, `invalid_id_token`, `unable_to_get_user_info`,
    /// [`OAuthError::Endpoint`].
    pub async fn exchange(
        &self,
        provider: &ProviderConfig,
        redirect_uri: &str,
        pending: Pending,
        params: &CallbackParams,
    ) -> Result<VerifiedIdentity, OAuthError> {
        provider.validate()?;
        if let Some(e) = &params.error {
            return Err(provider_error(e));
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(OAuthError::NoCode)?;
        if code.len() > 2048 {
            return Err(OAuthError::InvalidCode);
        }
        if let (Some(iss), Some(expected)) = (params.iss.as_deref(), provider.issuer())
            && iss != expected
        {
            return Err(OAuthError::IssuerMismatch);
        }
        let loopback = provider.allow_loopback_http();
        let metadata = self.provider_metadata(provider).await?;
        let token_endpoint = token_endpoint(provider, metadata.as_deref())?;
        let http = self.discovery.http();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pending.code_verifier.as_str()),
            ("client_id", provider.client_id()),
            ("client_secret", provider.client_secret()),
        ];
        let (status, body) = http
            .send(
                http.post(checked_url(&token_endpoint, loopback)?)
                    .form(&form),
            )
            .await?;
        if !status.is_success() {
            return Err(OAuthError::InvalidCode);
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .ok()
            .filter(|a: &TokenAnswer| a.access_token.is_some() || a.id_token.is_some())
            .ok_or(OAuthError::InvalidCode)?;
        let now = self.clock.now();
        let tokens = ProviderTokens {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            id_token: answer.id_token,
            access_token_expires_at: answer
                .expires_in
                .map(|s| now + Duration::from_secs(s.min(10 * 365 * 86_400))),
            scope: short(answer.scope, 2048),
        };
        match provider.profile() {
            Profile::Oidc => {
                let metadata = metadata.ok_or(OAuthError::Config {
                    reason: "no issuer",
                })?;
                self.oidc_identity(provider, &metadata, pending.nonce.as_deref(), true, tokens)
                    .await
            }
            Profile::OAuth2 => self.oauth2_identity(provider, tokens).await,
            Profile::GitHub => self.github_identity(provider, tokens).await,
        }
    }

    async fn oidc_identity(
        &self,
        provider: &ProviderConfig,
        metadata: &discovery::Metadata,
        nonce: Option<&str>,
        require_nonce: bool,
        tokens: ProviderTokens,
    ) -> Result<VerifiedIdentity, OAuthError> {
        let issuer = provider.issuer().ok_or(OAuthError::Config {
            reason: "no issuer",
        })?;
        let loopback = provider.allow_loopback_http();
        // A state without a nonce cannot bind the token to this handshake.
        if require_nonce && nonce.is_none() {
            return Err(OAuthError::InvalidIdToken {
                reason: "nonce mismatch",
            });
        }
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or(OAuthError::InvalidIdToken { reason: "missing" })?;
        let (alg, kid) = jose::header(id_token, provider.algorithms())?;
        let jwks_uri = provider
            .endpoints()
            .jwks
            .clone()
            .unwrap_or_else(|| metadata.jwks_uri.clone());
        let mut keys = self
            .discovery
            .jwks(issuer, &jwks_uri, loopback, false)
            .await?;
        if jose::find_key(&keys, alg, kid.as_deref()).is_none() {
            keys = self
                .discovery
                .jwks(issuer, &jwks_uri, loopback, true)
                .await?;
        }
        let key = jose::find_key(&keys, alg, kid.as_deref()).ok_or(OAuthError::InvalidIdToken {
            reason: "unknown key",
        })?;
        let claims = jose::verify(
            id_token,
            alg,
            key,
            &jose::Expect {
                issuer,
                client_id: provider.client_id(),
                nonce,
                access_token: tokens.access_token.as_deref(),
                now: self.clock.now(),
            },
        )?;
        let mut identity = VerifiedIdentity {
            provider_id: provider.id().to_owned(),
            issuer: Some(issuer.to_owned()),
            subject: claims.sub.clone(),
            email: claims.email.clone(),
            email_verified: claims.email_verified.unwrap_or(false),
            name: claims.name.clone(),
            image: claims.picture.clone(),
            tokens,
        };
        let userinfo = provider
            .endpoints()
            .userinfo
            .clone()
            .or_else(|| metadata.userinfo_endpoint.clone());
        if identity.email.is_none()
            && let (Some(url), Some(access)) = (userinfo, identity.tokens.access_token.as_deref())
        {
            let info: StandardClaims = self.userinfo(&url, access, loopback).await?;
            // The user-info answer must be about the token's subject.
            if info.sub != identity.subject {
                return Err(OAuthError::UserInfo);
            }
            identity.email = info.email;
            identity.email_verified = info.email_verified.unwrap_or(false);
            identity.name = identity.name.or(info.name);
            identity.image = identity.image.or(info.picture);
        }
        Ok(tidy(identity))
    }

    async fn userinfo<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        access_token: &str,
        loopback: bool,
    ) -> Result<T, OAuthError> {
        let http = self.discovery.http();
        http.json(
            http.get(checked_url(url, loopback)?)
                .bearer_auth(access_token),
        )
        .await
        .map_err(|_| OAuthError::UserInfo)
    }

    async fn oauth2_identity(
        &self,
        provider: &ProviderConfig,
        tokens: ProviderTokens,
    ) -> Result<VerifiedIdentity, OAuthError> {
        let url = provider
            .endpoints()
            .userinfo
            .clone()
            .ok_or(OAuthError::UserInfo)?;
        let access = tokens.access_token.clone().ok_or(OAuthError::UserInfo)?;
        let info: StandardClaims = self
            .userinfo(&url, &access, provider.allow_loopback_http())
            .await?;
        Ok(tidy(VerifiedIdentity {
            provider_id: provider.id().to_owned(),
            issuer: None,
            subject: info.sub,
            email: info.email,
            email_verified: info.email_verified.unwrap_or(false),
            name: info.name,
            image: info.picture,
            tokens,
        }))
    }

    async fn github_identity(
        &self,
        provider: &ProviderConfig,
        tokens: ProviderTokens,
    ) -> Result<VerifiedIdentity, OAuthError> {
        let e = provider.endpoints();
        let loopback = provider.allow_loopback_http();
        let access = tokens.access_token.clone().ok_or(OAuthError::UserInfo)?;
        let user_url = e.userinfo.clone().ok_or(OAuthError::UserInfo)?;
        let user: GitHubUser = self.userinfo(&user_url, &access, loopback).await?;
        let (email, verified) = match &e.emails {
            Some(url) => {
                let emails: Vec<GitHubEmail> = self.userinfo(url, &access, loopback).await?;
                emails
                    .into_iter()
                    .find(|m| m.primary)
                    .map_or((None, false), |m| (Some(m.email), m.verified))
            }
            None => (None, false),
        };
        Ok(tidy(VerifiedIdentity {
            provider_id: provider.id().to_owned(),
            issuer: None,
            subject: user.id.to_string(),
            email,
            email_verified: verified,
            name: user.name.or(user.login),
            image: user.avatar_url,
            tokens,
        }))
    }
}

impl OAuthClient {
    /// Verifies an ID token the client got from `provider` itself (Better
    /// Auth's `idToken` sign-in) exactly as a callback's: a key of the
    /// issuer's JWKS, `alg` pinned, `iss`, `aud`/`azp`, `exp`, `nbf`,
    /// `iat`, `at_hash` with `access_token`, and the `nonce` (when `nonce`
    /// is `None`, the token must carry none).
    pub(crate) async fn verify_id_token(
        &self,
        provider: &ProviderConfig,
        id_token: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
        refresh_token: Option<&str>,
    ) -> Result<VerifiedIdentity, OAuthError> {
        provider.validate()?;
        if !provider.supports_id_token_sign_in() {
            return Err(OAuthError::InvalidIdToken {
                reason: "not supported",
            });
        }
        if id_token.len() > 16_384 || access_token.is_some_and(|t| t.len() > 8192) {
            return Err(OAuthError::InvalidIdToken { reason: "too long" });
        }
        let metadata = self
            .provider_metadata(provider)
            .await?
            .ok_or(OAuthError::Config {
                reason: "no issuer",
            })?;
        let tokens = ProviderTokens {
            access_token: access_token.filter(|t| !t.is_empty()).map(str::to_owned),
            refresh_token: refresh_token
                .filter(|t| !t.is_empty() && t.len() <= 8192)
                .map(str::to_owned),
            id_token: Some(id_token.to_owned()),
            access_token_expires_at: None,
            scope: None,
        };
        self.oidc_identity(provider, &metadata, nonce, false, tokens)
            .await
    }

    /// The discovery document of an OIDC provider (`None` for others).
    async fn provider_metadata(
        &self,
        provider: &ProviderConfig,
    ) -> Result<Option<Arc<discovery::Metadata>>, OAuthError> {
        if provider.profile() != Profile::Oidc {
            return Ok(None);
        }
        let (Some(issuer), Some(url)) = (provider.issuer(), provider.discovery_url()) else {
            return Err(OAuthError::Config {
                reason: "no issuer",
            });
        };
        Ok(Some(
            self.discovery
                .metadata(issuer, &url, provider.allow_loopback_http())
                .await?,
        ))
    }

    /// Exchanges `refresh_token` at the provider's token endpoint (grant
    /// `refresh_token`). A refusal, or an answer that is not a token answer
    /// with an access token, is [`OAuthError::TokenRefresh`]; nothing of the
    /// provider's answer is kept in the error.
    pub(crate) async fn refresh(
        &self,
        provider: &ProviderConfig,
        refresh_token: &str,
    ) -> Result<ProviderTokens, OAuthError> {
        provider.validate()?;
        let metadata = self.provider_metadata(provider).await?;
        let token_endpoint = token_endpoint(provider, metadata.as_deref())?;
        let http = self.discovery.http();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", provider.client_id()),
            ("client_secret", provider.client_secret()),
        ];
        let (status, body) = http
            .send(
                http.post(checked_url(
                    &token_endpoint,
                    provider.allow_loopback_http(),
                )?)
                .form(&form),
            )
            .await
            .map_err(|_| OAuthError::TokenRefresh)?;
        if !status.is_success() {
            return Err(OAuthError::TokenRefresh);
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .ok()
            .filter(|a: &TokenAnswer| a.access_token.as_deref().is_some_and(|t| !t.is_empty()))
            .ok_or(OAuthError::TokenRefresh)?;
        let now = self.clock.now();
        Ok(ProviderTokens {
            access_token: answer.access_token.filter(|t| t.len() <= 8192),
            refresh_token: answer
                .refresh_token
                .filter(|t| !t.is_empty() && t.len() <= 8192),
            id_token: answer
                .id_token
                .filter(|t| !t.is_empty() && t.len() <= 16384),
            access_token_expires_at: answer
                .expires_in
                .map(|s| now + Duration::from_secs(s.min(10 * 365 * 86_400))),
            scope: short(answer.scope, 2048),
        })
        .and_then(|t| {
            if t.access_token.is_none() {
                Err(OAuthError::TokenRefresh)
            } else {
                Ok(t)
            }
        })
    }

    /// The provider's user information for `access_token`, from its
    /// user-info endpoint: the profile as [`AccountProfile`] and the raw
    /// answer.
    pub(crate) async fn account_profile(
        &self,
        provider: &ProviderConfig,
        access_token: &str,
    ) -> Result<(AccountProfile, serde_json::Value), OAuthError> {
        provider.validate()?;
        let loopback = provider.allow_loopback_http();
        let metadata = self.provider_metadata(provider).await?;
        let e = provider.endpoints();
        let url = e
            .userinfo
            .clone()
            .or_else(|| metadata.as_ref().and_then(|m| m.userinfo_endpoint.clone()))
            .ok_or(OAuthError::UserInfo)?;
        let raw: serde_json::Value = self.userinfo(&url, access_token, loopback).await?;
        let profile = match provider.profile() {
            Profile::GitHub => {
                let user: GitHubUser =
                    serde_json::from_value(raw.clone()).map_err(|_| OAuthError::UserInfo)?;
                let (email, verified) = match &e.emails {
                    Some(url) => {
                        let emails: Vec<GitHubEmail> =
                            self.userinfo(url, access_token, loopback).await?;
                        emails
                            .into_iter()
                            .find(|m| m.primary)
                            .map_or((None, false), |m| (Some(m.email), m.verified))
                    }
                    None => (None, false),
                };
                AccountProfile {
                    id: user.id.to_string(),
                    email,
                    email_verified: verified,
                    name: user.name.or(user.login),
                    image: user.avatar_url,
                }
            }
            _ => {
                let info: StandardClaims =
                    serde_json::from_value(raw.clone()).map_err(|_| OAuthError::UserInfo)?;
                AccountProfile {
                    id: info.sub,
                    email: info.email,
                    email_verified: info.email_verified.unwrap_or(false),
                    name: info.name,
                    image: info.picture,
                }
            }
        };
        let mut p = profile;
        p.email = short(p.email, 254);
        p.name = short(p.name, crate::MAX_NAME_LEN);
        p.image = short(p.image, crate::MAX_IMAGE_LEN);
        if p.email.is_none() {
            p.email_verified = false;
        }
        Ok((p, raw))
    }
}

/// A provider's profile of an account's user (Better Auth's `getUserInfo`
/// `user`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountProfile {
    /// The provider's ID of the user.
    pub id: String,
    /// The email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the provider says the address is verified.
    #[serde(rename = "emailVerified")]
    pub email_verified: bool,
    /// The display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The picture URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Drops oversized or control-character profile fields.
fn tidy(mut i: VerifiedIdentity) -> VerifiedIdentity {
    i.email = short(i.email, 254);
    i.name = short(i.name, crate::MAX_NAME_LEN);
    i.image = short(i.image, crate::MAX_IMAGE_LEN);
    if i.email.is_none() {
        i.email_verified = false;
    }
    i
}

/// OIDC's `at_hash` of `access_token` for tokens signed with `alg` (the test
/// identity provider computes it with the verifier's own function).
#[cfg(feature = "testkit")]
#[doc(hidden)]
pub fn at_hash_for_tests(alg: jsonwebtoken::Algorithm, access_token: &str) -> String {
    jose::token_hash(alg, access_token)
}
