//! The active tenant and the scopes minted from it: [`ActiveTenant`] sets a
//! session's active organization and turns a session into its
//! [`MemberScope`]; [`Scopes`] mints the [`TenantScope`] behind every member
//! scope (the sessions' and the API keys') with a minter restricted to the
//! platform.
//!
//! [`ActiveTenant::scope`] reads the session, the user's platform role, the
//! active organization and the membership in it in one query of the auth
//! database; the tenant's existence and the platform's status come from the
//! registry's in-process caches. A membership is read on every call, so a
//! role change or a removal takes effect at once.

use std::fmt;
use std::sync::Arc;

use neutrino_core::ids::{PlatformId, TenantId, UserId};
use neutrino_core::sql::Statement;
use neutrino_tenancy::{PlatformRegistry, ScopeMinter, TenantScope};

use crate::access::{self, AccessPolicy, PlatformRole};
use crate::adopt::Adopter;
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::caller::{Actor, Callers, JOINED_AT, Join};
use crate::cookie::MAX_TOKEN_LEN;
use crate::date;
use crate::directory::{Organization, org_row};
use crate::error::{AuthError, Result};
use crate::member::{
    Member, Members, STANDING_COLUMNS, Standing, standing_from_row, standing_joins,
};
use crate::model::RequestMeta;

/// What a validated session (or API key) may do in its active tenant: the
/// [`TenantScope`] for the tenanted stores, and the roles behind it.
///
/// Only [`crate::org::Organizations::scope`] and [`crate::org::Organizations::verify_api_key`] make one.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberScope {
    scope: TenantScope,
    user_id: UserId,
    roles: String,
    platform_admin: bool,
    permissions: Option<String>,
}

impl fmt::Debug for MemberScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberScope")
            .field("scope", &self.scope)
            .field("user_id", &self.user_id)
            .field("roles", &self.roles)
            .field("platform_admin", &self.platform_admin)
            .finish_non_exhaustive()
    }
}

impl MemberScope {
    /// The tenant scope, for [`neutrino_tenancy::TenantStore`] calls.
    pub fn tenant_scope(&self) -> &TenantScope {
        &self.scope
    }

    /// The platform.
    pub fn platform(&self) -> PlatformId {
        self.scope.platform()
    }

    /// The tenant (organization).
    pub fn tenant(&self) -> TenantId {
        self.scope.tenant()
    }

    /// The user acting.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The user's comma-separated tenant roles (empty for a platform admin who
    /// is not a member).
    pub fn roles(&self) -> &str {
        &self.roles
    }

    /// Whether the user is a platform admin.
    pub fn is_platform_admin(&self) -> bool {
        self.platform_admin
    }
}

/// Maps a registry error about a tenant to the organization error.
fn tenant_err(e: neutrino_core::Error) -> AuthError {
    if e.is_not_found() {
        AuthError::OrganizationNotFound
    } else {
        AuthError::Store(e)
    }
}

/// Mints member scopes of one platform.
#[derive(Clone)]
pub(crate) struct Scopes {
    /// Restricted to `platform`.
    minter: Arc<ScopeMinter>,
    platform: PlatformId,
    /// Adopts an organization whose tenant is missing, on first use.
    adopter: Option<Adopter>,
}

impl Scopes {
    /// Scopes of `platform`, minted by `minter` restricted to it.
    pub(crate) fn new(minter: ScopeMinter, platform: PlatformId) -> Result<Self> {
        let minter = minter.restricted_to(platform)?;
        Ok(Self {
            minter: Arc::new(minter),
            platform,
            adopter: None,
        })
    }

    /// The same scopes, adopting with `adopter` an organization whose
    /// tenant is missing ([`crate::adopt`]).
    pub(crate) fn with_adopter(mut self, adopter: Adopter) -> Self {
        self.adopter = Some(adopter);
        self
    }

    /// The platform.
    pub(crate) fn platform(&self) -> PlatformId {
        self.platform
    }

    /// A [`TenantScope`] on `org`, after the registry's checks (the tenant is
    /// the platform's, the platform is active). An organization of the auth
    /// database with no tenant (one Better Auth created) is adopted first;
    /// callers have checked the caller's standing in it.
    pub(crate) async fn tenant(&self, org: TenantId) -> Result<TenantScope> {
        match self.minter.mint(self.platform, org).await {
            Err(e) if e.is_not_found() => {
                let Some(adopter) = &self.adopter else {
                    return Err(AuthError::OrganizationNotFound);
                };
                match adopter.adopt(&org).await {
                    Ok(Some(_)) => self
                        .minter
                        .mint(self.platform, org)
                        .await
                        .map_err(tenant_err),
                    Ok(None) => Err(AuthError::OrganizationNotFound),
                    // Another platform's tenant is not one of this platform's.
                    Err(AuthError::Store(e)) if e.is_already_exists() => {
                        Err(AuthError::OrganizationNotFound)
                    }
                    Err(AuthError::Store(e)) => Err(tenant_err(e)),
                    Err(e) => Err(e),
                }
            }
            r => r.map_err(tenant_err),
        }
    }

    /// The member scope of `user` with `standing` in `org`, narrowed to
    /// `permissions` for an API key.
    pub(crate) async fn issue(
        &self,
        user: &UserId,
        standing: Standing,
        org: TenantId,
        permissions: Option<String>,
    ) -> Result<MemberScope> {
        let scope = self.tenant(org).await?;
        Ok(MemberScope {
            scope,
            user_id: *user,
            platform_admin: standing.platform_admin,
            roles: standing.member.map(|m| m.role).unwrap_or_default(),
            permissions,
        })
    }
}

/// Whether `scope`'s holder may perform `action` on `resource` under
/// `policy`: a platform admin may do everything; a member what its roles
/// grant; an API key, in addition, only what its own permissions list.
pub(crate) fn has_permission(
    policy: &AccessPolicy,
    scope: &MemberScope,
    resource: &str,
    action: &str,
) -> bool {
    if let Some(p) = &scope.permissions
        && !access::permits(p, resource, action)
    {
        return false;
    }
    scope.platform_admin || policy.allows(&scope.roles, resource, action)
}

/// The session's active organization and the scope minted from it.
#[derive(Clone)]
pub(crate) struct ActiveTenant {
    callers: Callers,
    members: Members,
    scopes: Scopes,
    registry: PlatformRegistry,
}

impl ActiveTenant {
    pub(crate) fn new(
        callers: Callers,
        members: Members,
        scopes: Scopes,
        registry: PlatformRegistry,
    ) -> Self {
        Self {
            callers,
            members,
            scopes,
            registry,
        }
    }

    /// [`crate::org::Organizations::set_active`].
    pub(crate) async fn set_active(
        &self,
        actor: &Actor,
        org: Option<&TenantId>,
        meta: &RequestMeta,
    ) -> Result<Option<Organization>> {
        let found = match org {
            Some(id) => {
                self.members.standing(actor, id).await?;
                self.scopes.tenant(*id).await?;
                Some(
                    org_row(self.callers.db(), id)
                        .await?
                        .ok_or(AuthError::OrganizationNotFound)?,
                )
            }
            None => None,
        };
        let now = self.callers.now();
        let id = found.as_ref().map(|o| o.id);
        self.callers
            .db()
            .write_audited(
                vec![
                    Statement::new(
                        r#"UPDATE "session" SET "activeOrganizationId" = ?1, "updatedAt" = ?2 WHERE "token" = ?3"#,
                    )
                    .bind(id.map(|i| i.as_str().to_owned()))
                    .bind(date::format(now))
                    .bind(actor.token.as_str()),
                ],
                audit::insert(
                    AuditEvent::ActiveOrganizationSet,
                    AuditRecord {
                        organization_id: id.as_ref().map(TenantId::as_str),
                        ..AuditRecord::in_session(actor.user_id.as_str(), &actor.session_id)
                    },
                    meta,
                    now,
                )?,
            )
            .await?;
        // Cached sessions carry their `activeOrganizationId`.
        self.callers.auth().evict_user(actor.user_id.as_str());
        Ok(found)
    }

    /// The member scope of a session's active organization: the session, the
    /// user's platform role, the active organization and the membership in it
    /// read in one query, then the tenant minted.
    pub(crate) async fn scope(&self, token: &str) -> Result<MemberScope> {
        let (actor, org, standing) = self.active_standing(token).await?;
        self.scopes.issue(&actor.user_id, standing, org, None).await
    }

    /// [`crate::org::Organizations::scope_in`]: the session read through the
    /// session store (and its cache), then the user's standing in `org` read
    /// on every call, then the tenant minted. The session's active
    /// organization plays no part.
    pub(crate) async fn scope_in(&self, token: &str, org: &TenantId) -> Result<MemberScope> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.contains('\0') {
            return Err(AuthError::Unauthorized);
        }
        let auth = self.callers.auth();
        let user = auth.caller_session(token).await?.user.id;
        // The user's platform role and standing in `org`, in one read.
        let row = self
            .callers
            .row(
                Statement::new(format!(
                    r#"SELECT u."role", {STANDING_COLUMNS} FROM (SELECT ?1 AS "org", ?2 AS "user") q
                       JOIN "user" u ON u."id" = q."user" {}"#,
                    standing_joins(r#"q."org""#, r#"q."user""#)
                ))
                .bind(org.as_str())
                .bind(user.as_str()),
            )
            .await?
            .ok_or(AuthError::Unauthorized)?;
        let role: Option<String> = row.get(0)?;
        let admin = auth.platform_role_of(role.as_deref()) == PlatformRole::Admin;
        let standing = standing_from_row(&row, 1, admin)?;
        self.scopes.issue(&user, standing, *org, None).await
    }

    /// [`crate::org::Organizations::active_member`].
    pub(crate) async fn active_member(&self, token: &str) -> Result<Member> {
        // Better Auth answers `MEMBER_NOT_FOUND` here where `scope()` says
        // the user is not a member.
        let (_, _, standing) = self.active_standing(token).await.map_err(|e| match e {
            AuthError::NotAMember => AuthError::MemberNotFound,
            e => e,
        })?;
        standing.member.ok_or(AuthError::MemberNotFound)
    }

    /// The session's caller, active organization and standing in it, in one
    /// read of the auth database.
    async fn active_standing(&self, token: &str) -> Result<(Actor, TenantId, Standing)> {
        let joins = standing_joins(r#"s."activeOrganizationId""#, r#"s."userId""#);
        let (actor, row) = self
            .callers
            .read(
                token,
                Some(Join {
                    columns: STANDING_COLUMNS,
                    joins: &joins,
                }),
            )
            .await?;
        let org: TenantId = actor
            .active
            .as_deref()
            .ok_or(AuthError::NoActiveOrganization)?
            .parse()
            .map_err(|_| AuthError::NoActiveOrganization)?;
        let standing = standing_from_row(&row, JOINED_AT, actor.platform_admin)?;
        Ok((actor, org, standing))
    }

    /// [`crate::org::Organizations::operator_scope`].
    pub(crate) async fn operator_scope(
        &self,
        org: &TenantId,
        operator: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<TenantScope> {
        let scope = self
            .registry
            .operator_scope(*org, operator, reason)
            .await
            .map_err(tenant_err)?;
        self.callers
            .db()
            .execute(&audit::insert(
                AuditEvent::OperatorAccess,
                AuditRecord {
                    detail: Some(format!("operator {operator}: {reason}")),
                    organization_id: Some(org.as_str()),
                    ..AuditRecord::default()
                },
                meta,
                self.callers.now(),
            )?)
            .await?;
        Ok(scope)
    }
}
