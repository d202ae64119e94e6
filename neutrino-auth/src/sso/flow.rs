//! SSO sign-in on the OIDC handshake ([`crate::oauth::OAuthClient`]):
//! Better Auth's `POST /sign-in/sso` ([`Sso::sign_in`]) and
//! `GET /sso/callback/:providerId` ([`Sso::callback`]).
//!
//! The handshake is the one of social sign-in (state, PKCE, nonce, redirect
//! targets limited to trusted origins, the state bound to the browser by the
//! caller's signed cookie), with the tenant's provider: its issuer,
//! discovery endpoint, client ID, decrypted secret and scopes; ID tokens
//! signed with RS256 (OIDC's default; Better Auth's `oidcConfig` names no
//! algorithm). A state is bound to its SSO provider: one issued for another
//! provider, of this tenant or another, or for social sign-in, completes
//! nothing here.

use super::{Sso, SsoIdentity, SsoProviderConfig, SsoTarget};
use crate::model::RequestMeta;
use crate::oauth::social::{
    SocialCallbackError, SocialSignedIn, callback_error, signed_in_redirect, with_error,
};
use crate::oauth::{Authorization, CallbackParams, OAuthError, ProviderConfig, VerifiedIdentity};

/// What the identity provider's redirect brought to
/// `/sso/callback/{providerId}`, for [`Sso::callback`].
/// Its `Debug` leaves the state cookie out.
#[derive(Clone, Copy)]
pub struct SsoCallback<'a> {
    /// The provider of the callback's path.
    pub provider_id: &'a str,
    /// The redirect's query (`code`, `state`, `error`, `iss`).
    pub params: &'a CallbackParams,
    /// The request's signed state cookie, as sent.
    pub state_cookie: Option<&'a str>,
}

impl std::fmt::Debug for SsoCallback<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoCallback")
            .field("provider_id", &self.provider_id)
            .field("params", self.params)
            .finish_non_exhaustive()
    }
}

/// What [`Sso::sign_in`] takes: Better Auth's body of `POST /sign-in/sso`.
#[derive(Clone, Debug)]
pub struct SsoSignIn {
    /// Which provider.
    pub target: SsoTarget,
    /// Where to go after signing in (default: the base URL).
    pub callback_url: Option<String>,
    /// Where to go on an error.
    pub error_callback_url: Option<String>,
    /// Where a new user goes.
    pub new_user_callback_url: Option<String>,
    /// Sent to the provider as `login_hint`; the target's email when
    /// `None`, as Better Auth does (`loginHint || email`).
    pub login_hint: Option<String>,
}

impl SsoSignIn {
    /// A sign-in with `target` and no redirect targets.
    pub fn new(target: SsoTarget) -> Self {
        Self {
            target,
            callback_url: None,
            error_callback_url: None,
            new_user_callback_url: None,
            login_hint: None,
        }
    }
}

/// The handshake's view of a tenant's provider.
fn handshake_provider(c: &SsoProviderConfig, insecure_loopback: bool) -> ProviderConfig {
    let mut p = ProviderConfig::oidc(
        c.provider_id.as_str(),
        c.issuer.as_str(),
        c.client_id.as_str(),
        c.client_secret.expose(),
    )
    .with_discovery_endpoint(c.discovery_endpoint.as_str())
    .with_insecure_loopback(insecure_loopback)
    .for_sso();
    if !c.scopes.is_empty() {
        p = p.with_scopes(c.scopes.iter().cloned());
    }
    p
}

/// The identity the handshake verified, as SSO takes it: an OIDC identity
/// with an email address.
fn sso_identity(i: VerifiedIdentity) -> Result<SsoIdentity, OAuthError> {
    let (Some(issuer), Some(email)) = (i.issuer, i.email) else {
        return Err(OAuthError::EmailNotFound);
    };
    Ok(SsoIdentity {
        issuer,
        subject: i.subject,
        email,
        email_verified: i.email_verified,
        name: i.name,
        image: i.image,
    })
}

impl Sso {
    /// Better Auth's `POST /sign-in/sso`: resolves the provider
    /// ([`Sso::provider_for_sign_in`]), checks the redirect targets and
    /// starts the handshake with the redirect URI
    /// [`crate::Auth::sso_redirect_uri`]. The caller sends the browser to
    /// [`Authorization::url`] and binds [`Authorization::state`] to it (a
    /// signed cookie).
    ///
    /// Errors: those of [`Sso::provider_for_sign_in`] (as
    /// [`OAuthError::Auth`]), `INVALID_CALLBACK_URL`, the platform's status,
    /// and discovery failures.
    pub async fn sign_in(&self, req: SsoSignIn) -> Result<Authorization, OAuthError> {
        let auth = self.callers.auth();
        let login_hint = req
            .login_hint
            .filter(|h| !h.is_empty())
            .or(match &req.target {
                SsoTarget::Email(email) => Some(email.clone()),
                _ => None,
            });
        let config = self.provider_for_sign_in(req.target).await?;
        auth.ensure_writable().await?;
        let provider = handshake_provider(&config, auth.sso_insecure_loopback());
        let targets = auth.redirect_targets(
            req.callback_url,
            req.error_callback_url,
            req.new_user_callback_url,
        );
        auth.oauth()
            .begin_with_login_hint(
                &provider,
                &auth.sso_redirect_uri(&config.provider_id),
                targets,
                login_hint.as_deref(),
            )
            .await
    }

    /// Better Auth's `GET /sso/callback/:providerId`: `state_cookie` is the
    /// request's signed state cookie as sent (its signature is checked
    /// here). Takes the state (once; it must have been issued to this
    /// browser for this provider), exchanges the code, verifies the ID
    /// token against the provider's issuer, and completes the sign-in
    /// ([`Sso::complete_sign_in`]: user, account, membership, session).
    ///
    /// On error, [`SocialCallbackError::redirect`] is the sign-in's error
    /// URL (or [`crate::Auth::error_page`]) with `?error=<code>`: an
    /// identity without an email is `invalid_provider` (Better Auth's, with
    /// `error_description=missing_user_info`).
    pub async fn callback(
        &self,
        callback: SsoCallback<'_>,
        meta: &RequestMeta,
    ) -> Result<SocialSignedIn, SocialCallbackError> {
        let SsoCallback {
            provider_id,
            params,
            state_cookie,
        } = callback;
        let auth = self.callers.auth();
        let config = self
            .provider_for_sign_in(SsoTarget::ProviderId(provider_id.to_owned()))
            .await
            .map_err(|e| {
                let error = OAuthError::Auth(e);
                SocialCallbackError {
                    redirect: with_error(&auth.error_page(), &error.code()),
                    error,
                }
            })?;
        let provider = handshake_provider(&config, auth.sso_insecure_loopback());
        let (identity, targets) = auth
            .callback_identity(
                &provider,
                &auth.sso_redirect_uri(&config.provider_id),
                params,
                state_cookie,
            )
            .await?;
        let identity = sso_identity(identity).map_err(|error| {
            let base = targets
                .error_callback_url
                .clone()
                .unwrap_or_else(|| auth.error_page());
            SocialCallbackError {
                redirect: format!(
                    "{}&error_description=missing_user_info",
                    with_error(&base, "invalid_provider")
                ),
                error,
            }
        })?;
        let (signed_in, is_new_user) = self
            .complete(&config.provider_id, identity, meta)
            .await
            .map_err(|e| callback_error(e.into(), &targets, auth))?;
        Ok(SocialSignedIn {
            redirect: signed_in_redirect(targets, is_new_user),
            signed_in,
            is_new_user,
        })
    }
}
