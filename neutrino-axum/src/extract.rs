//! Extractors for host handlers.
//!
//! Each reads the request's [`Platform`] from the extensions (inserted by the
//! [`gateway`](crate::gateway) layer or the [`api`](crate::api) router; a
//! handler outside both gets a 500 that says so) and rejects with a Better
//! Auth-shaped body ([`ApiError`]):
//!
//! | extractor | what it gives | rejections |
//! |---|---|---|
//! | [`CurrentSession`] | the signed-in session and its user, from the session cookie through the platform's session cache | 401 `UNAUTHORIZED` |
//! | [`CurrentTenant`] | the request's tenant scope and who acts in it: a member ([`MemberScope`], from the session or a user's tenant API key) or the organization itself (its own API key) | 401, 403 `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, 403 `TENANT_MISMATCH`, 400 for a malformed tenant header; with `x-api-key`, those of [`ApiKey`], and 403 `FORBIDDEN` for a platform key |
//! | [`Require<P>`] | [`CurrentTenant`] holding the [`Permission`] `P` | those of [`CurrentTenant`], 403 `FORBIDDEN` |
//! | [`PlatformAdmin`] | [`CurrentSession`] of a platform admin | 401, 403 `FORBIDDEN` |
//! | [`Meta`] | the client address and user agent, for auth calls | never |
//! | [`ApiKey`] | the scope of the `x-api-key` header's key: a user's tenant key, an organization's own key, a platform key | 401 `INVALID_API_KEY`, 429 `USAGE_EXCEEDED` / `RATE_LIMITED`, 403 `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION` (a user's tenant key whose owner left), 403 `TENANT_MISMATCH` |
//!
//! # The request's tenant
//! The tenant a request acts on is named by the request itself, not by the
//! session row (which every browser tab of the user shares): the tenant of
//! the host the gateway resolved, else the [`TENANT_HEADER`] header
//! (`x-neutrino-tenant: <tenant ID>`), and only when neither names one the
//! session's active organization (Better Auth's behaviour). On a tenant's
//! host a header naming another tenant is `TENANT_MISMATCH`. The membership
//! is checked on every request ([`neutrino_auth::org::Organizations::scope_in`]):
//! a member of tenant A naming tenant B gets the same 403 whether B exists or
//! not.
//!
//! # API keys
//! [`CurrentTenant`] (and so [`Require`]) also accepts an API key in
//! `x-api-key` instead of a session: a user's key bound to a tenant (acting
//! as that member, while the user is one) or an organization's own key
//! (acting as the organization: [`CurrentTenant::member`] is `None`). The
//! key's tenant must be the request's tenant when the host or the header
//! names one (else 403 `TENANT_MISMATCH`). A user key's own permissions
//! narrow what [`Require`] grants its owner; an organization's key is granted
//! only what its permissions list. The key is verified once per request,
//! however many extractors ask, and that verification takes one of its uses
//! (in the same database write that checks it).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use neutrino_auth::apikey::ApiKeyScope;
use neutrino_auth::org::MemberScope;
use neutrino_auth::{AuthError, AuthSession};
use neutrino_core::ids::TenantId;
use neutrino_platform::Platform;
use neutrino_tenancy::TenantScope;

use crate::ApiError;
use crate::context::platform_of;
use crate::gateway::{RequestState, ResolvedHost};

/// The header naming the request's tenant (a tenant ID) where the host does
/// not: `x-neutrino-tenant`.
pub const TENANT_HEADER: &str = "x-neutrino-tenant";

/// The header carrying an API key: `x-api-key`.
pub const API_KEY_HEADER: &str = "x-api-key";

fn unauthorized() -> ApiError {
    ApiError::from(AuthError::Unauthorized)
}

fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "TENANT_MISMATCH",
        "the credential or header names another tenant than the request's",
    )
}

fn forbidden(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
}

/// Every `Cookie` header of the request, joined (HTTP/2 sends one per
/// cookie); `None` when one is not text.
fn cookie_header(headers: &HeaderMap) -> Option<String> {
    let values = headers
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<&str>>>()?;
    Some(values.join("; "))
}

/// The request's session: once per request behind the gateway.
async fn session_of(parts: &Parts) -> Result<Option<Arc<AuthSession>>, ApiError> {
    let platform = platform_of(&parts.extensions)?.clone();
    let read = || async {
        let Some(cookies) = cookie_header(&parts.headers) else {
            return Ok(None);
        };
        match platform
            .auth()
            .get_session_from_cookie_header(&cookies)
            .await
        {
            Ok(found) => Ok(found),
            // A tampered, truncated or foreign cookie is no session.
            Err(AuthError::Cookie(_)) => Ok(None),
            Err(e) => Err(ApiError::from(e)),
        }
    };
    match parts.extensions.get::<Arc<RequestState>>() {
        Some(state) => {
            let found = state.session(read).await?;
            if let Some(s) = &found
                && s.refreshed
            {
                state.send_refreshed(&platform, &s.session.token);
            }
            Ok(found)
        }
        None => read().await,
    }
}

/// The signed-in session and its user, from the platform's session cookie,
/// validated through the platform's session cache; 401 `UNAUTHORIZED`
/// without a valid session. Behind the gateway, the session is read once per
/// request however many extractors ask, and an extended session's cookie is
/// sent again.
///
/// Its `Debug` leaves the session token out.
#[derive(Clone)]
pub struct CurrentSession(Arc<AuthSession>);

impl CurrentSession {
    /// The session and its user.
    pub fn get(&self) -> &AuthSession {
        &self.0
    }

    /// The session token, for calls on the platform's organizations
    /// ([`neutrino_auth::org::Organizations`]). A bearer secret: never log it
    /// or send it to anyone but the session's owner.
    pub fn token(&self) -> &str {
        &self.0.session.token
    }
}

impl Deref for CurrentSession {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.0
    }
}

impl fmt::Debug for CurrentSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentSession")
            .field("session", &self.0.session)
            .field("user", &self.0.user.id)
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        session_of(parts).await?.map(Self).ok_or_else(unauthorized)
    }
}

/// The tenant the request names: the host's, else the tenant header's; a
/// header naming another tenant than the host is `TENANT_MISMATCH`.
fn requested_tenant(parts: &Parts) -> Result<Option<TenantId>, ApiError> {
    let host = parts
        .extensions
        .get::<ResolvedHost>()
        .and_then(ResolvedHost::tenant);
    let mut values = parts.headers.get_all(TENANT_HEADER).iter();
    let header = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(v), None) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<TenantId>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "VALIDATION_ERROR",
                        "x-neutrino-tenant must be one tenant ID",
                    )
                })?,
        ),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "x-neutrino-tenant must be one tenant ID",
            ));
        }
    };
    match (host, header) {
        (Some(h), Some(t)) if h != t => Err(mismatch()),
        (Some(h), _) => Ok(Some(h)),
        (None, t) => Ok(t),
    }
}

/// The `x-api-key` header's key, if the request has one (a key that is not
/// one text value is an invalid key).
fn api_key_of(parts: &Parts) -> Option<Result<&str, ApiError>> {
    let mut values = parts.headers.get_all(API_KEY_HEADER).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err(ApiError::from(AuthError::InvalidApiKey)));
    }
    Some(
        first
            .to_str()
            .map_err(|_| ApiError::from(AuthError::InvalidApiKey)),
    )
}

/// The scope of the request's `x-api-key`, verified once per request: the
/// verification takes one of the key's uses, so every extractor of the
/// request shares it. `None` without the header.
async fn request_key(
    parts: &mut Parts,
    platform: &Platform,
) -> Option<Result<ApiKeyScope, ApiError>> {
    if let Some(VerifiedKey(scope)) = parts.extensions.get::<VerifiedKey>() {
        return Some(Ok(scope.clone()));
    }
    let key = match api_key_of(parts)? {
        Ok(key) => key,
        Err(e) => return Some(Err(e)),
    };
    Some(match platform.orgs().verify_api_key(key).await {
        Ok(scope) => {
            parts.extensions.insert(VerifiedKey(scope.clone()));
            Ok(scope)
        }
        Err(e) => Err(e.into()),
    })
}

/// The key scope a request's extractors verified.
#[derive(Clone)]
struct VerifiedKey(ApiKeyScope);

/// The tenant a key acts in: a tenant key's, an organization's own key's,
/// none for a platform key.
fn key_tenant(scope: &ApiKeyScope) -> Option<TenantId> {
    match scope {
        ApiKeyScope::Tenant(s) => Some(s.tenant()),
        ApiKeyScope::Organization { scope, .. } => Some(scope.tenant()),
        _ => None,
    }
}

/// The request's key scope, checked against the request's tenant.
async fn key_scope(
    parts: &mut Parts,
    platform: &Platform,
    requested: Option<TenantId>,
) -> Option<Result<ApiKeyScope, ApiError>> {
    Some(request_key(parts, platform).await?.and_then(|scope| {
        match (key_tenant(&scope), requested) {
            (Some(s), Some(t)) if s != t => Err(mismatch()),
            _ => Ok(scope),
        }
    }))
}

/// Who acts in the request's tenant.
#[derive(Clone, Debug)]
enum Holder {
    /// A member: a session, or a user's API key bound to the tenant.
    Member(MemberScope),
    /// The organization itself, through one of its own API keys.
    Organization {
        scope: TenantScope,
        key_id: String,
        permissions: Option<String>,
    },
}

/// The caller in the request's tenant (see the [module
/// documentation](self)): a member ([`MemberScope`], from the session or a
/// user's tenant API key in `x-api-key`) or the organization itself (one of
/// its own API keys), with the membership or the key checked on this
/// request.
#[derive(Clone, Debug)]
pub struct CurrentTenant(Holder);

impl CurrentTenant {
    /// The tenant scope: it goes into every
    /// [`neutrino_tenancy::TenantStore`] call.
    pub fn tenant_scope(&self) -> &TenantScope {
        match &self.0 {
            Holder::Member(m) => m.tenant_scope(),
            Holder::Organization { scope, .. } => scope,
        }
    }

    /// The tenant (organization).
    pub fn tenant(&self) -> TenantId {
        self.tenant_scope().tenant()
    }

    /// The member acting, with its roles; `None` when an organization's own
    /// API key acts (no user: only the key's permissions hold).
    pub fn member(&self) -> Option<&MemberScope> {
        match &self.0 {
            Holder::Member(m) => Some(m),
            Holder::Organization { .. } => None,
        }
    }

    /// The ID of the organization's own API key acting, if one does.
    pub fn organization_key_id(&self) -> Option<&str> {
        match &self.0 {
            Holder::Organization { key_id, .. } => Some(key_id),
            Holder::Member(_) => None,
        }
    }

    /// Whether the caller may perform `action` on `resource` here: a member
    /// as [`neutrino_auth::org::Organizations::has_permission`] says, an
    /// organization's key only what its own permissions list (a key without
    /// permissions may do nothing that needs one).
    fn may(&self, platform: &Platform, resource: &str, action: &str) -> bool {
        match &self.0 {
            Holder::Member(m) => platform.orgs().has_permission(m, resource, action),
            Holder::Organization { permissions, .. } => permissions
                .as_deref()
                .is_some_and(|p| neutrino_auth::access::permits(p, resource, action)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let platform = platform_of(&parts.extensions)?.clone();
        let requested = requested_tenant(parts)?;
        if let Some(scope) = key_scope(parts, &platform, requested).await {
            return match scope? {
                ApiKeyScope::Tenant(scope) => Ok(Self(Holder::Member(scope))),
                ApiKeyScope::Organization {
                    scope,
                    key_id,
                    permissions,
                    ..
                } => Ok(Self(Holder::Organization {
                    scope,
                    key_id,
                    permissions,
                })),
                _ => Err(forbidden("a platform api key has no tenant scope")),
            };
        }
        let session = CurrentSession::from_request_parts(parts, state).await?;
        let orgs = platform.orgs();
        let scope = match requested {
            Some(tenant) => orgs.scope_in(session.token(), &tenant).await?,
            None => orgs.scope(session.token()).await?,
        };
        Ok(Self(Holder::Member(scope)))
    }
}

/// A permission of the organizations' access rules: a resource and an
/// action, e.g. `organization:update`. Declare one with
/// [`permission!`](crate::permission).
pub trait Permission: Send + Sync + 'static {
    /// The resource, e.g. `"organization"`.
    const RESOURCE: &'static str;
    /// The action, e.g. `"update"`.
    const ACTION: &'static str;
}

/// Declares [`Permission`] types, one or several separated by `;`:
/// `permission!(pub NoteWrite = "note": "write");`.
#[macro_export]
macro_rules! permission {
    ($($(#[$meta:meta])* $vis:vis $name:ident = $resource:literal : $action:literal);+ $(;)?) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug, Default)]
            $vis struct $name;
            impl $crate::extract::Permission for $name {
                const RESOURCE: &'static str = $resource;
                const ACTION: &'static str = $action;
            }
        )+
    };
}

/// Permissions of Better Auth's default access policy.
pub mod permissions {
    crate::permission!(
        /// `organization:update`.
        pub OrganizationUpdate = "organization": "update";
        /// `organization:delete`.
        pub OrganizationDelete = "organization": "delete";
        /// `member:create`.
        pub MemberCreate = "member": "create";
        /// `member:update`.
        pub MemberUpdate = "member": "update";
        /// `member:delete`.
        pub MemberDelete = "member": "delete";
        /// `invitation:create`.
        pub InvitationCreate = "invitation": "create";
    );
}

/// [`CurrentTenant`] whose holder has the permission `P` in the request's
/// tenant under the platform's access policy
/// ([`neutrino_auth::org::Organizations::has_permission`]: a platform admin
/// has every permission, a member what its roles grant, an API key in
/// addition only what its own permissions list); 403 `FORBIDDEN` otherwise.
pub struct Require<P: Permission>(CurrentTenant, PhantomData<P>);

impl<P: Permission> Require<P> {
    /// The tenant extractor behind it.
    pub fn into_inner(self) -> CurrentTenant {
        self.0
    }
}

impl<P: Permission> Deref for Require<P> {
    type Target = CurrentTenant;

    fn deref(&self) -> &CurrentTenant {
        &self.0
    }
}

impl<P: Permission> Clone for Require<P> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<P: Permission> fmt::Debug for Require<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require")
            .field("permission", &format_args!("{}:{}", P::RESOURCE, P::ACTION))
            .field("tenant", &self.0)
            .finish()
    }
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for Require<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let tenant = CurrentTenant::from_request_parts(parts, state).await?;
        let platform = platform_of(&parts.extensions)?;
        if tenant.may(platform, P::RESOURCE, P::ACTION) {
            Ok(Self(tenant, PhantomData))
        } else {
            Err(forbidden("you are not allowed to do this"))
        }
    }
}

/// [`CurrentSession`] of a platform admin (`user.role` an admin role of the
/// platform), read from the auth database on every request; 403 `FORBIDDEN`
/// for anyone else.
#[derive(Clone, Debug)]
pub struct PlatformAdmin(CurrentSession);

impl PlatformAdmin {
    /// The admin's session.
    pub fn session(&self) -> &CurrentSession {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PlatformAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let session = CurrentSession::from_request_parts(parts, state).await?;
        let platform = platform_of(&parts.extensions)?;
        let role = platform.orgs().platform_role(&session.user.id).await?;
        if role == neutrino_auth::access::PlatformRole::Admin {
            Ok(Self(session))
        } else {
            Err(forbidden("only a platform admin may do this"))
        }
    }
}

/// The scope of the API key in the `x-api-key` header
/// ([`neutrino_auth::org::Organizations::verify_api_key`]): a user's tenant
/// key's [`MemberScope`], an organization's own key, or a platform key. A
/// missing, unknown, disabled, expired or foreign key is 401
/// `INVALID_API_KEY`; a key out of uses or over its rate limit is 429
/// (`USAGE_EXCEEDED`, `RATE_LIMITED`), as in Better Auth; a user's tenant key
/// whose owner is no longer a member is 403
/// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`; a tenant or organization key
/// used where the host or the tenant header names another tenant is 403
/// `TENANT_MISMATCH`. Verified once per request (one use taken), shared with
/// [`CurrentTenant`].
#[derive(Clone, Debug)]
pub struct ApiKey(ApiKeyScope);

impl ApiKey {
    /// What the key may act on.
    pub fn scope(&self) -> &ApiKeyScope {
        &self.0
    }

    /// What the key may act on, owned.
    pub fn into_scope(self) -> ApiKeyScope {
        self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let platform = platform_of(&parts.extensions)?.clone();
        let requested = requested_tenant(parts)?;
        key_scope(parts, &platform, requested)
            .await
            .ok_or_else(|| ApiError::from(AuthError::InvalidApiKey))?
            .map(Self)
    }
}

/// Who sent the request, for the auth calls that record it (sessions, the
/// audit log, the rate limiter): the client address the gateway established
/// ([`ClientIp`](crate::ClientIp)), else the connection's peer address, and
/// the `user-agent`. Never rejects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta(pub neutrino_auth::RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Self(crate::context::request_meta(
            &parts.extensions,
            &parts.headers,
        )))
    }
}
