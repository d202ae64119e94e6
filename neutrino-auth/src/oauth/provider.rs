//! [`ProviderConfig`]: one identity provider, as both social sign-in and
//! per-tenant SSO describe it.

use std::fmt;

use jsonwebtoken::Algorithm;

use super::error::OAuthError;
use super::jose::is_asymmetric;

/// How a provider tells who signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// OpenID Connect: a verified ID token (and the user-info endpoint for
    /// what the token lacks). Discovery from the issuer.
    Oidc,
    /// Plain OAuth 2.0 whose user-info endpoint answers OIDC's standard
    /// claims (`sub`, `email`, `email_verified`, `name`, `picture`); no ID
    /// token.
    OAuth2,
    /// GitHub: `GET /user` and `GET /user/emails` with the access token; no
    /// ID token.
    GitHub,
}

/// Endpoints that replace discovery's (or are needed without it). Every one
/// is optional for an OIDC provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint.
    pub authorization: Option<String>,
    /// The token endpoint.
    pub token: Option<String>,
    /// The user-info endpoint.
    pub userinfo: Option<String>,
    /// The JWKS.
    pub jwks: Option<String>,
    /// GitHub's emails endpoint (`/user/emails`).
    pub emails: Option<String>,
}

/// One identity provider: who it is, the client's credentials, what to ask
/// for and what to accept.
///
/// ```
/// use neutrino::auth::oauth::ProviderConfig;
/// let google = ProviderConfig::google("client-id", "client-secret");
/// assert_eq!(google.id(), "google");
/// // Debug never shows the secret.
/// assert!(!format!("{google:?}").contains("client-secret"));
/// ```
#[derive(Clone)]
pub struct ProviderConfig {
    id: String,
    profile: Profile,
    issuer: Option<String>,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    algorithms: Vec<Algorithm>,
    endpoints: Endpoints,
    allow_loopback_http: bool,
    /// The discovery document's URL, when not the issuer's well-known one.
    discovery: Option<String>,
    /// Whether this is a per-tenant SSO provider: its handshakes are bound
    /// to SSO callbacks, never to social ones (and the other way round).
    sso: bool,
    /// Better Auth's `disableImplicitSignUp`: no user is created unless the
    /// sign-in asks for it (`requestSignUp`).
    disable_implicit_sign_up: bool,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("profile", &self.profile)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("algorithms", &self.algorithms)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    /// A generic OpenID Connect provider `id` at `issuer` (its discovery
    /// document at `{issuer}/.well-known/openid-configuration`), scopes
    /// `openid email profile`, ID tokens signed with RS256.
    pub fn oidc(
        id: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            profile: Profile::Oidc,
            issuer: Some(issuer.into()),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            algorithms: vec![Algorithm::RS256],
            endpoints: Endpoints::default(),
            allow_loopback_http: false,
            discovery: None,
            sso: false,
            disable_implicit_sign_up: false,
        }
    }

    /// A generic OAuth 2.0 provider `id` without ID tokens: its
    /// authorization, token and user-info endpoints (the user-info answer in
    /// OIDC's standard claims).
    pub fn oauth2(
        id: impl Into<String>,
        authorization: impl Into<String>,
        token: impl Into<String>,
        userinfo: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            profile: Profile::OAuth2,
            issuer: None,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: Vec::new(),
            algorithms: Vec::new(),
            endpoints: Endpoints {
                authorization: Some(authorization.into()),
                token: Some(token.into()),
                userinfo: Some(userinfo.into()),
                ..Endpoints::default()
            },
            allow_loopback_http: false,
            discovery: None,
            sso: false,
            disable_implicit_sign_up: false,
        }
    }

    /// Google (`google`): OIDC at `https://accounts.google.com`.
    pub fn google(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::oidc(
            "google",
            "https://accounts.google.com",
            client_id,
            client_secret,
        )
    }

    /// GitHub (`github`): OAuth 2.0 at `github.com` and its REST API,
    /// scopes `read:user user:email`.
    pub fn github(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            id: "github".into(),
            profile: Profile::GitHub,
            issuer: None,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: vec!["read:user".into(), "user:email".into()],
            algorithms: Vec::new(),
            endpoints: Endpoints {
                authorization: Some("https://github.com/login/oauth/authorize".into()),
                token: Some("https://github.com/login/oauth/access_token".into()),
                userinfo: Some("https://api.github.com/user".into()),
                emails: Some("https://api.github.com/user/emails".into()),
                jwks: None,
            },
            allow_loopback_http: false,
            discovery: None,
            sso: false,
            disable_implicit_sign_up: false,
        }
    }

    /// Replaces the issuer (an OIDC provider's discovery then comes from it).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Replaces the endpoints that are `Some` in `endpoints`.
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        let e = &mut self.endpoints;
        let Endpoints {
            authorization,
            token,
            userinfo,
            jwks,
            emails,
        } = endpoints;
        e.authorization = authorization.or(e.authorization.take());
        e.token = token.or(e.token.take());
        e.userinfo = userinfo.or(e.userinfo.take());
        e.jwks = jwks.or(e.jwks.take());
        e.emails = emails.or(e.emails.take());
        self
    }

    /// The scopes asked for.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The algorithms ID tokens may be signed with (default RS256): only
    /// asymmetric ones (RS*, PS*, ES256, ES384); [`ProviderConfig::validate`]
    /// refuses the others.
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Better Auth's `disableImplicitSignUp`: a sign-in with this provider
    /// creates no user unless it asks for it (`requestSignUp`); default off.
    pub fn with_disable_implicit_sign_up(mut self, disable: bool) -> Self {
        self.disable_implicit_sign_up = disable;
        self
    }

    /// Whether a sign-in creates a user only when it asks for it
    /// ([`ProviderConfig::with_disable_implicit_sign_up`]).
    pub fn disables_implicit_sign_up(&self) -> bool {
        self.disable_implicit_sign_up
    }

    /// Whether `alg`-pinned ID tokens of this provider can sign in directly
    /// (Better Auth's `idToken` sign-in): OIDC providers.
    pub fn supports_id_token_sign_in(&self) -> bool {
        self.profile == Profile::Oidc
    }

    /// Lets the provider's endpoints be plain `http` on a loopback address:
    /// for an identity provider started by a test, never in production.
    pub fn with_insecure_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback_http = allow;
        self
    }

    /// Fetches the discovery document from `url` instead of the issuer's
    /// `/.well-known/openid-configuration` (its `issuer` must still be the
    /// configured issuer).
    pub fn with_discovery_endpoint(mut self, url: impl Into<String>) -> Self {
        self.discovery = Some(url.into());
        self
    }

    /// Marks a per-tenant SSO provider (see [`ProviderConfig::state_binding`]).
    pub(crate) fn for_sso(mut self) -> Self {
        self.sso = true;
        self
    }

    /// What a handshake's state is bound to: the provider's ID, prefixed
    /// for SSO providers, so a state issued for social sign-in never
    /// completes an SSO callback of a provider with the same ID, nor the
    /// other way round (IDs have no `:`).
    pub(crate) fn state_binding(&self) -> String {
        if self.sso {
            format!("sso:{}", self.id)
        } else {
            self.id.clone()
        }
    }

    /// The discovery document's URL.
    pub(crate) fn discovery_url(&self) -> Option<String> {
        let issuer = self.issuer.as_deref()?;
        Some(self.discovery.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            )
        }))
    }

    /// The provider's ID (`google`, `github`, a generic provider's own).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How the provider identifies users.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The issuer, for OIDC providers.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The client ID.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn client_secret(&self) -> &str {
        &self.client_secret
    }

    pub(crate) fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub(crate) fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    pub(crate) fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub(crate) fn allow_loopback_http(&self) -> bool {
        self.allow_loopback_http
    }

    /// Checks the configuration: an ID of `[A-Za-z0-9_-]`, a client ID, an
    /// issuer and asymmetric algorithms for OIDC, the endpoints for the
    /// others.
    pub fn validate(&self) -> Result<(), OAuthError> {
        let bad = |reason| Err(OAuthError::Config { reason });
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("provider id must be 1 to 64 characters of [A-Za-z0-9_-]");
        }
        if self.client_id.is_empty() {
            return bad("client id is empty");
        }
        match self.profile {
            Profile::Oidc => {
                if self.issuer.as_deref().is_none_or(str::is_empty) {
                    return bad("an oidc provider needs an issuer");
                }
                if self.algorithms.is_empty() || !self.algorithms.iter().all(|a| is_asymmetric(*a))
                {
                    return bad("id token algorithms must be asymmetric (RS*, PS*, ES256, ES384)");
                }
            }
            Profile::OAuth2 | Profile::GitHub => {
                let e = &self.endpoints;
                if e.authorization.is_none() || e.token.is_none() || e.userinfo.is_none() {
                    return bad(
                        "an oauth2 provider needs its authorization, token and userinfo endpoints",
                    );
                }
            }
        }
        Ok(())
    }
}
