//! Better Auth's `sso` plugin (OIDC providers with domain verification), on
//! the platform's [`Sso`](neutrino_auth::sso::Sso):
//!
//! * `POST /sso/register`: registers a provider for an organization the
//!   caller owns or administers; answers the provider with
//!   `domainVerified: false` and its `domainVerificationToken`. Unlike
//!   Better Auth, the answer never echoes the client secret.
//! * `GET /sso/providers` (`{providers}`), `GET /sso/get-provider?providerId=`,
//!   `POST /sso/update-provider` (a partial update: `issuer`, `domain`,
//!   `oidcConfig`'s `clientId`, `clientSecret`, `scopes`, `pkce`,
//!   `discoveryEndpoint`; a new domain is unverified again; the identity
//!   fields change only while no account is linked, else 409) and
//!   `POST /sso/delete-provider` (`{success: true}`; the provider's linked
//!   accounts go with it), as Better Auth's: for owners and admins of the
//!   provider's organization only; a provider of another tenant answers
//!   exactly as a missing one (404 `PROVIDER_NOT_FOUND`), a plain member of
//!   its own gets 403 `YOU_DONT_HAVE_ACCESS_TO_THIS_PROVIDER`. Providers are
//!   answered as Better Auth's `sanitizeProvider` does (`type: "oidc"`,
//!   `oidcConfig.clientIdLastFour`), never with the client secret; no
//!   `spMetadataUrl` (no SAML).
//! * `POST /sso/request-domain-verification` (201
//!   `{"domainVerificationToken"}`) and `POST /sso/verify-domain` (204),
//!   the latter with the [`DomainCheck`] given to
//!   [`AuthApi::with_domain_check`](super::AuthApi::with_domain_check)
//!   (without one: 502 `DOMAIN_VERIFICATION_FAILED`).
//! * `POST /sign-in/sso`: resolves the provider (an unknown one is 404, an
//!   unverified domain 401, as in Better Auth) and starts the OIDC handshake
//!   of social sign-in ([`Sso::sign_in`](neutrino_auth::sso::Sso::sign_in))
//!   with the redirect URI `{baseURL}{basePath}/sso/callback/{providerId}`:
//!   answers `{url, redirect: true}` (with `Location`) and sets the signed
//!   `{prefix}.state` cookie exactly as `/sign-in/social` does; an
//!   untrusted redirect target is 403 `INVALID_CALLBACK_URL`. `loginHint`
//!   (or else the body's `email`) goes to the provider as `login_hint`.
//! * `GET /sso/callback/{providerId}`: completes the handshake
//!   ([`Sso::callback`](neutrino_auth::sso::Sso::callback)): the state must
//!   be this browser's (the state cookie), unused, and issued for this SSO
//!   provider; the ID token is verified against the provider's issuer; the
//!   user, account and membership are found or created. Session cookies and
//!   a 302 to the callback URL (the new-user URL for a new user), or a 302
//!   to the error URL with `?error=<code>` (an unknown or unverified
//!   provider too), as the social callback answers; the state cookie is
//!   expired either way.

use axum::http::StatusCode;
use neutrino_auth::sso::{
    ClientSecret, NewSsoProvider, SsoCallback, SsoProvider, SsoProviderUpdate, SsoSignIn, SsoTarget,
};
use serde_json::{Value, json};

use super::Ctx;
use super::session::{require, with_cookies};
use super::social::{
    authorization_reply, callback_params, callback_reply, oauth_error, state_cookie,
};
use super::wire::{Fields, Reply, query_get};
use crate::ApiError;

type Answer = Result<Reply, ApiError>;

/// The SSO endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SsoRoute {
    Register,
    ListProviders,
    GetProvider,
    UpdateProvider,
    DeleteProvider,
    RequestDomainVerification,
    VerifyDomain,
    SignIn,
    Callback,
}

pub(super) fn route(get: bool, post: bool, path: &str) -> Option<SsoRoute> {
    use SsoRoute::*;
    Some(match path {
        "/sso/register" if post => Register,
        "/sso/providers" if get => ListProviders,
        "/sso/get-provider" if get => GetProvider,
        "/sso/update-provider" if post => UpdateProvider,
        "/sso/delete-provider" if post => DeleteProvider,
        "/sso/request-domain-verification" if post => RequestDomainVerification,
        "/sso/verify-domain" if post => VerifyDomain,
        "/sign-in/sso" if post => SignIn,
        p if get
            && p.strip_prefix("/sso/callback/")
                .is_some_and(|id| !id.is_empty() && !id.contains('/')) =>
        {
            Callback
        }
        _ => return None,
    })
}

pub(super) async fn handle(route: SsoRoute, ctx: &Ctx) -> Answer {
    match route {
        SsoRoute::Register => register(ctx).await,
        SsoRoute::ListProviders => list_providers(ctx).await,
        SsoRoute::GetProvider => get_provider(ctx).await,
        SsoRoute::UpdateProvider => update_provider(ctx).await,
        SsoRoute::DeleteProvider => delete_provider(ctx).await,
        SsoRoute::RequestDomainVerification => request_domain_verification(ctx).await,
        SsoRoute::VerifyDomain => verify_domain(ctx).await,
        SsoRoute::SignIn => sign_in(ctx).await,
        SsoRoute::Callback => callback(ctx).await,
    }
}

/// A provider as `/sso/register` answers it (no client secret).
fn provider_json(p: &SsoProvider) -> Value {
    json!({
        "id": p.id,
        "providerId": p.provider_id,
        "issuer": p.issuer,
        "domain": p.domain,
        "domainVerified": p.domain_verified,
        "organizationId": p.organization_id.to_string(),
        "userId": p.user_id,
        "oidcConfig": {
            "issuer": p.issuer,
            "clientId": p.client_id,
            "discoveryEndpoint": p.discovery_endpoint,
            "scopes": p.scopes,
            "pkce": p.pkce,
        },
        "samlConfig": Value::Null,
    })
}

async fn register(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let provider_id = f.string("providerId");
    let issuer = f.string("issuer");
    let domain = f.string("domain");
    let organization = f.opt_string("organizationId");
    let oidc = f.raw("oidcConfig").cloned();
    let saml = f.raw("samlConfig").is_some();
    f.finish()?;
    if saml {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SAML_NOT_SUPPORTED",
            "SAML providers are not supported",
        ));
    }
    let Some(Value::Object(oidc)) = oidc else {
        return Err(ApiError::validation(
            "[body.oidcConfig] Invalid input: expected object",
        ));
    };
    let text = |k: &str| oidc.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(client_id), Some(client_secret)) = (text("clientId"), text("clientSecret")) else {
        return Err(ApiError::validation(
            "[body.oidcConfig] clientId and clientSecret are required",
        ));
    };
    let scopes = oidc_scopes(&oidc)?.unwrap_or_default();
    let pkce = oidc_pkce(&oidc)?.unwrap_or(true);
    let (current, cookies) = require(ctx).await?;
    // Neutrino's providers always belong to an organization.
    let Some(org) = organization else {
        return Err(with_cookies(
            ApiError::validation("[body.organizationId] an organization is required"),
            cookies,
        ));
    };
    let org = org.parse().map_err(|_| {
        with_cookies(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "YOU_ARE_NOT_A_MEMBER_OF_THE_ORGANIZATION",
                "You are not a member of the organization",
            ),
            cookies.clone(),
        )
    })?;
    let mut new = NewSsoProvider::new(
        provider_id,
        org,
        issuer,
        domain,
        client_id,
        ClientSecret::new(client_secret),
    );
    new.scopes = scopes;
    new.pkce = pkce;
    new.discovery_endpoint = text("discoveryEndpoint");
    let reg = ctx
        .platform
        .orgs()
        .sso()
        .register_provider(&current.found.session.token, new, &ctx.meta)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let mut body = provider_json(&reg.provider);
    body["domainVerificationToken"] = json!(reg.domain_verification_token.expose());
    Ok(Reply::json(body).cookies(cookies))
}

/// `oidcConfig.scopes`: absent (or `null`), or an array of strings.
fn oidc_scopes(oidc: &serde_json::Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    match oidc.get("scopes") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        )),
        Some(_) => Err(ApiError::validation(
            "[body.oidcConfig.scopes] Invalid input: expected array of strings",
        )),
    }
}

/// `oidcConfig.pkce`: absent (or `null`), or a boolean.
fn oidc_pkce(oidc: &serde_json::Map<String, Value>) -> Result<Option<bool>, ApiError> {
    match oidc.get("pkce") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::validation(
            "[body.oidcConfig.pkce] Invalid input: expected boolean",
        )),
    }
}

/// An optional string of `oidcConfig`.
fn oidc_text(oidc: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match oidc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::validation(format!(
            "[body.oidcConfig.{key}] Invalid input: expected string"
        ))),
    }
}

/// Better Auth's `maskClientId`: the last four characters.
fn client_id_last_four(client_id: &str) -> String {
    let n = client_id.chars().count();
    if n <= 4 {
        return "****".to_owned();
    }
    let tail: String = client_id.chars().skip(n - 4).collect();
    format!("****{tail}")
}

/// A provider as Better Auth's provider routes answer it
/// (`sanitizeProvider`): the client ID masked, no client secret.
fn sanitized_json(p: &SsoProvider) -> Value {
    json!({
        "providerId": p.provider_id,
        "type": "oidc",
        "issuer": p.issuer,
        "domain": p.domain,
        "organizationId": p.organization_id.to_string(),
        "domainVerified": p.domain_verified,
        "oidcConfig": {
            "discoveryEndpoint": p.discovery_endpoint,
            "clientIdLastFour": client_id_last_four(&p.client_id),
            "pkce": p.pkce,
            "scopes": p.scopes,
        },
    })
}

/// `GET /sso/providers`: the providers of every organization the caller
/// owns or administers.
async fn list_providers(ctx: &Ctx) -> Answer {
    let (current, cookies) = require(ctx).await?;
    let token = &current.found.session.token;
    let orgs = ctx.platform.orgs();
    let mine = orgs
        .list_organizations(token)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let sso = orgs.sso();
    let mut providers = Vec::new();
    for org in mine {
        match sso.list_providers(token, &org.id).await {
            Ok(list) => providers.extend(list.iter().map(sanitized_json)),
            // Not an owner or admin there (or no longer a member).
            Err(e) if matches!(e.status(), 403 | 404) => {}
            Err(e) => return Err(with_cookies(e.into(), cookies)),
        }
    }
    Ok(Reply::json(json!({ "providers": providers })).cookies(cookies))
}

/// `GET /sso/get-provider?providerId=`: another tenant's provider answers
/// as a missing one.
async fn get_provider(ctx: &Ctx) -> Answer {
    let Some(provider_id) = query_get(&ctx.query, "providerId").map(str::to_owned) else {
        return Err(ApiError::validation(
            "[query.providerId] Invalid input: expected string, received undefined",
        ));
    };
    let (current, cookies) = require(ctx).await?;
    let provider = ctx
        .platform
        .orgs()
        .sso()
        .provider(&current.found.session.token, &provider_id)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::json(sanitized_json(&provider)).cookies(cookies))
}

/// `POST /sso/update-provider`: Better Auth's partial update.
async fn update_provider(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let provider_id = f.string("providerId");
    let issuer = f.opt_string("issuer");
    let domain = f.opt_string("domain");
    let oidc = f.raw("oidcConfig").cloned();
    let saml = f.raw("samlConfig").is_some_and(|v| !v.is_null());
    f.finish()?;
    if saml {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SAML_NOT_SUPPORTED",
            "SAML providers are not supported",
        ));
    }
    let oidc = match oidc {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            return Err(ApiError::validation(
                "[body.oidcConfig] Invalid input: expected object",
            ));
        }
    };
    if issuer.is_none() && domain.is_none() && oidc.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "NO_FIELDS_PROVIDED_FOR_UPDATE",
            "No fields provided for update",
        ));
    }
    let mut update = SsoProviderUpdate {
        issuer,
        domain,
        ..SsoProviderUpdate::default()
    };
    if let Some(oidc) = &oidc {
        update.client_id = oidc_text(oidc, "clientId")?;
        update.client_secret = oidc_text(oidc, "clientSecret")?.map(ClientSecret::new);
        update.discovery_endpoint = oidc_text(oidc, "discoveryEndpoint")?;
        update.scopes = oidc_scopes(oidc)?;
        update.pkce = oidc_pkce(oidc)?;
    }
    let (current, cookies) = require(ctx).await?;
    let provider = ctx
        .platform
        .orgs()
        .sso()
        .update_provider(
            &current.found.session.token,
            &provider_id,
            update,
            &ctx.meta,
        )
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::json(sanitized_json(&provider)).cookies(cookies))
}

/// `POST /sso/delete-provider`: `{success: true}`.
async fn delete_provider(ctx: &Ctx) -> Answer {
    let provider_id = Fields::only_string(&ctx.body, "providerId")?;
    let (current, cookies) = require(ctx).await?;
    ctx.platform
        .orgs()
        .sso()
        .delete_provider(&current.found.session.token, &provider_id, &ctx.meta)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::json(json!({ "success": true })).cookies(cookies))
}

async fn request_domain_verification(ctx: &Ctx) -> Answer {
    let provider_id = Fields::only_string(&ctx.body, "providerId")?;
    let (current, cookies) = require(ctx).await?;
    let token = ctx
        .platform
        .orgs()
        .sso()
        .request_domain_verification(&current.found.session.token, &provider_id)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(
        Reply::json(json!({ "domainVerificationToken": token.expose() }))
            .status(StatusCode::CREATED)
            .cookies(cookies),
    )
}

async fn verify_domain(ctx: &Ctx) -> Answer {
    let provider_id = Fields::only_string(&ctx.body, "providerId")?;
    let (current, cookies) = require(ctx).await?;
    let sso = ctx.platform.orgs().sso();
    let token = &current.found.session.token;
    let result = match &ctx.domain_check {
        Some(check) => {
            sso.verify_domain(token, &provider_id, check.as_ref(), &ctx.meta)
                .await
        }
        // No way to check: the provider is still looked at (404/403/409
        // first), then the proof cannot be found.
        None => {
            sso.verify_domain(token, &provider_id, &NoCheck, &ctx.meta)
                .await
        }
    };
    result.map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::empty(StatusCode::NO_CONTENT).cookies(cookies))
}

/// The check of a server configured without one: never holds.
struct NoCheck;

#[async_trait::async_trait]
impl neutrino_auth::sso::DomainCheck for NoCheck {
    async fn holds(
        &self,
        _: &neutrino_auth::sso::DomainChallenge<'_>,
    ) -> neutrino_auth::Result<bool> {
        Ok(false)
    }
}

async fn sign_in(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let email = f.opt_string("email");
    let slug = f.opt_string("organizationSlug");
    let provider_id = f.opt_string("providerId");
    let domain = f.opt_string("domain");
    let callback_url = f.opt_string("callbackURL");
    let error_callback_url = f.opt_string("errorCallbackURL");
    let new_user_callback_url = f.opt_string("newUserCallbackURL");
    let login_hint = f.opt_string("loginHint");
    let _ = f.opt_bool("requestSignUp");
    let provider_type = f.opt_string("providerType");
    f.finish()?;
    // Better Auth's order: providerId, then the organization, then the
    // domain (given, or the email's).
    let target = match (provider_id, slug, domain, email) {
        (Some(id), _, _, _) => SsoTarget::ProviderId(id),
        (None, Some(slug), _, _) => SsoTarget::OrganizationSlug(slug),
        (None, None, Some(domain), _) => SsoTarget::Domain(domain),
        (None, None, None, Some(email)) => SsoTarget::Email(email),
        (None, None, None, None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "EMAIL_ORGANIZATIONSLUG_DOMAIN_OR_PROVIDERID_IS_REQUIRED",
                "email, organizationSlug, domain or providerId is required",
            ));
        }
    };
    if provider_type.as_deref() == Some("saml") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SAML_PROVIDER_IS_NOT_CONFIGURED",
            "SAML provider is not configured",
        ));
    }
    let started = ctx
        .platform
        .orgs()
        .sso()
        .sign_in(SsoSignIn {
            target,
            callback_url,
            error_callback_url,
            new_user_callback_url,
            login_hint,
        })
        .await
        .map_err(oauth_error)?;
    // Better Auth's sso plugin answers `{url, redirect: true}`.
    Ok(authorization_reply(ctx, &started, true))
}

async fn callback(ctx: &Ctx) -> Answer {
    let provider_id = ctx.path.strip_prefix("/sso/callback/").unwrap_or_default();
    let done = ctx
        .platform
        .orgs()
        .sso()
        .callback(
            SsoCallback {
                provider_id,
                params: &callback_params(ctx),
                state_cookie: state_cookie(ctx),
            },
            &ctx.meta,
        )
        .await;
    Ok(callback_reply(ctx, provider_id, done))
}
