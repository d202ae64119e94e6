//! Organizations as tenants: Better Auth's organization plugin on top of the
//! Neutrino registry.
//!
//! An organization *is* a registry tenant with the same ID. Creating one takes
//! three steps over two databases (the registry's and the platform's auth
//! database), so it is written as a small saga:
//!
//! 1. a `neutrinoPendingOrganization` row records the intent (the organization
//!    is pending: no scope can be minted for it, no one is a member);
//! 2. the registry tenant is created with the organization's ID (and parent);
//! 3. one batch inserts the `organization` row and the creator's `owner`
//!    membership, deletes the pending row, writes the audit log and makes the
//!    organization the session's active one: from then on it is active.
//!
//! A crash between steps leaves a pending row; [`Organizations::reconcile`]
//! finishes every pending creation and is idempotent. A creation the registry
//! refuses (depth limit, unknown parent, slug taken, suspended platform)
//! leaves nothing pending.
//!
//! Every state-changing operation (organizations, members, roles, the active
//! organization, invitations, API keys, operator role changes, reconcile)
//! refuses a suspended platform with the store's `Suspended` error and a
//! deleted one as `NotFound`; reads keep working, and scopes are not minted
//! while suspended. Changes made without a permission check are operator
//! paths, named `operator_…`, with who and why written to the audit log.
//!
//! Every operation takes the caller's session token and checks it, then the
//! caller's membership and roles ([`crate::access`]). A platform admin
//! (`user.role` = `platform-admin`) manages every organization of its platform;
//! the auth database is per platform, so it can do nothing on another one.
//! The organizations reach the registry only through the platform's
//! [`PlatformRegistry`] view and mint scopes with a minter restricted to the
//! platform: a tenant of another platform is `ORGANIZATION_NOT_FOUND` here,
//! whatever the auth database's rows claim.
//! [`Organizations::scope`] mints the [`TenantScope`] from the session's active
//! organization, and [`Organizations::verify_api_key`] from an API key: the
//! only ways to get one besides the audited [`Organizations::operator_scope`].

use std::fmt;
use std::time::Duration;

use neutrino_core::ids::{PlatformId, TenantId, UserId};
use neutrino_tenancy::{PlatformRegistry, ScopeMinter, TenantScope};

use crate::Auth;
use crate::access::{AccessPolicy, PlatformRole};
use crate::active::{ActiveTenant, Scopes};
use crate::adopt::Adopter;
use crate::apikey::{ApiKey, ApiKeyScope, ApiKeyUpdate, ApiKeys, CreatedApiKey, NewApiKey};
use crate::audit::{AuditEntry, Operator};
use crate::caller::Callers;
use crate::delegate::delegate;
use crate::directory::Directory;
use crate::error::Result;
use crate::invitation::{Invitation, Invitations};
use crate::lifecycle::Lifecycle;
use crate::member::Members;
use crate::model::{RequestMeta, SignUpEmail, SignedIn};
use crate::sso::Sso;

pub use crate::active::MemberScope;
pub use crate::directory::{
    MAX_METADATA_LEN, NewOrganization, Organization, ReconcileFailure, ReconcileReport,
};
pub use crate::lifecycle::{FullOrganization, MemberUser, MemberWithUser, OrganizationUpdate};
pub use crate::member::Member;

/// Default number of pending invitations an organization may have (Better
/// Auth's `invitationLimit`).
pub const DEFAULT_INVITATION_LIMIT: u32 = 100;
/// Default lifetime of an invitation (Better Auth's `invitationExpiresIn`, 48 h).
pub const DEFAULT_INVITATION_TTL: Duration = Duration::from_secs(48 * 3600);

/// Organizations, members, roles and the active tenant of one platform;
/// see the module documentation.
///
/// A thin assembly of components, each holding only what it needs: the
/// organizations and their tenants, memberships and roles, the active tenant
/// and its scopes, invitations, and API keys.
pub struct Organizations {
    parts: Parts,
    /// Resolves the session token of the methods that write.
    callers: Callers,
    members: Members,
    directory: Directory,
    lifecycle: Lifecycle,
    active: ActiveTenant,
    api_keys: ApiKeys,
    invitations: Invitations,
    sso: Sso,
}

/// What the components of [`Organizations`] are assembled from: the shared
/// handles and the settings.
struct Parts {
    auth: Auth,
    registry: PlatformRegistry,
    scopes: Scopes,
    policy: AccessPolicy,
    invitation_limit: u32,
    invitation_ttl: Duration,
}

impl fmt::Debug for Organizations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Organizations")
            .field("platform", &self.parts.registry.id())
            .field("invitation_limit", &self.parts.invitation_limit)
            .field("invitation_ttl", &self.parts.invitation_ttl)
            .finish_non_exhaustive()
    }
}

impl Organizations {
    /// Organizations of the platform `registry` is the view of
    /// ([`neutrino_tenancy::Registry::platform`]), whose auth database `auth`
    /// works on, with scopes minted by `minter` (the registry's one-time
    /// [`neutrino_tenancy::Registry::scope_minter`], or a minter restricted to
    /// this platform): it is restricted to the platform here, so nothing
    /// reached through these organizations can mint for, or name a tenant
    /// of, another platform. Uses Better Auth's default access policy, 100
    /// pending invitations per organization and 48 h invitations.
    ///
    /// Binds `auth` (and its clones) to the platform: from then on its
    /// sign-up, sign-in and every other state-changing call refuse a
    /// suspended or deleted platform.
    ///
    /// Errors: a `minter` restricted to another platform (the store's
    /// `PermissionDenied`); an `auth` already bound to another platform
    /// (`VALIDATION_ERROR`: an auth database belongs to one platform).
    pub fn new(auth: Auth, registry: PlatformRegistry, minter: ScopeMinter) -> Result<Self> {
        let scopes = Scopes::new(minter, registry.id())?;
        auth.bind_platform(registry.clone())?;
        Ok(Self::assemble(Parts {
            auth,
            registry,
            scopes,
            policy: AccessPolicy::better_auth_default(),
            invitation_limit: DEFAULT_INVITATION_LIMIT,
            invitation_ttl: DEFAULT_INVITATION_TTL,
        }))
    }

    /// The components, built from the settings.
    fn assemble(parts: Parts) -> Self {
        let Parts {
            auth,
            registry,
            scopes,
            policy,
            invitation_limit,
            invitation_ttl,
        } = &parts;
        let callers = Callers::new(auth.clone());
        let members = Members::new(callers.clone(), policy.clone());
        let scopes = scopes
            .clone()
            .with_adopter(Adopter::new(callers.clone(), registry.clone()));
        Self {
            directory: Directory::new(callers.clone(), members.clone(), registry.clone()),
            lifecycle: Lifecycle::new(callers.clone(), members.clone(), registry.clone()),
            active: ActiveTenant::new(
                callers.clone(),
                members.clone(),
                scopes.clone(),
                registry.clone(),
            ),
            api_keys: ApiKeys::new(callers.clone(), members.clone(), scopes.clone()),
            invitations: Invitations::new(
                callers.clone(),
                members.clone(),
                *invitation_limit,
                *invitation_ttl,
            ),
            sso: Sso::new(callers.clone(), members.clone()),
            members,
            callers,
            parts: Parts { scopes, ..parts },
        }
    }

    /// Replaces the access-control policy (e.g. the default one extended with
    /// the host app's resources).
    pub fn with_policy(self, policy: AccessPolicy) -> Self {
        Self::assemble(Parts {
            policy,
            ..self.parts
        })
    }

    /// Sets how many pending invitations an organization may have.
    pub fn with_invitation_limit(self, limit: u32) -> Self {
        Self::assemble(Parts {
            invitation_limit: limit,
            ..self.parts
        })
    }

    /// The platform.
    pub fn platform(&self) -> PlatformId {
        self.parts.registry.id()
    }

    /// The access-control policy.
    pub fn policy(&self) -> &AccessPolicy {
        &self.parts.policy
    }

    /// The auth component.
    pub fn auth(&self) -> &Auth {
        &self.parts.auth
    }

    /// Per-tenant SSO providers, verified domains, the SSO policy and SSO
    /// sign-in ([`crate::sso`]).
    pub fn sso(&self) -> &Sso {
        &self.sso
    }

    /// Whether the scope's holder may perform `action` on `resource` in its
    /// tenant: a platform admin may do everything; a member what its roles
    /// grant; an API key, in addition, only what its own permissions list.
    pub fn has_permission(&self, scope: &MemberScope, resource: &str, action: &str) -> bool {
        crate::active::has_permission(&self.parts.policy, scope, resource, action)
    }

    delegate! { directory => {
        /// Whether `slug` is free (Better Auth's `check-slug`):
        /// `ORGANIZATION_SLUG_ALREADY_TAKEN` otherwise.
        pub async fn check_slug(&self, slug: &str) -> Result<()>;
    }}

    delegate! { writer directory => {
        /// Better Auth's `POST /organization/create`: creates the organization and
        /// its registry tenant (same ID, same slug, `parent` as parent tenant), makes
        /// the caller its `owner` and, unless asked not to, its session's active
        /// organization.
        ///
        /// A sub-organization needs `organization:update` on its parent. Errors:
        /// `UNAUTHORIZED`, `ORGANIZATION_ALREADY_EXISTS`, `VALIDATION_ERROR`,
        /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION` (parent).
        pub async fn create_organization(
            &self,
            token: &str,
            new: NewOrganization,
            meta: &RequestMeta,
        ) -> Result<Organization>;
    }}

    delegate! { directory => {
        /// An organization the caller belongs to (any, for a platform admin).
        /// Errors: `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, `ORGANIZATION_NOT_FOUND`.
        pub async fn organization(&self, token: &str, org: &TenantId) -> Result<Organization>;

        /// Better Auth's `GET /organization/list`: the organizations the caller is
        /// a member of, by name.
        pub async fn list_organizations(&self, token: &str) -> Result<Vec<Organization>>;

        /// The newest audit entries of one organization (its own log), at most
        /// `limit`.
        pub async fn tenant_audit_log(&self, org: &TenantId, limit: u32) -> Result<Vec<AuditEntry>>;
    }}

    /// Finishes every organization creation interrupted between its steps:
    /// creates the missing registry tenant, then the organization and its
    /// owner. Idempotent; run it at startup or periodically. A creation the
    /// registry refuses for good (slug taken meanwhile, parent gone, too
    /// deep) is dropped; one that fails otherwise (a backend error, a
    /// malformed row) is reported in [`ReconcileReport::failed`] and left
    /// pending, and the others go on. Refused as a whole on a suspended or
    /// deleted platform.
    ///
    /// Then adopts the organizations Better Auth created on the shared
    /// database (rows with no tenant): each gets a top-level registry
    /// tenant with its ID, labelled with the first of
    /// [`neutrino_core::naming::tenant_host_labels`] the registry takes
    /// (its slug when that is a DNS label and free), counted in
    /// [`ReconcileReport::adopted`]; its row is left as it is. An ID that
    /// is not a tenant ID (Better Auth's `serial` or custom IDs) is
    /// reported in [`ReconcileReport::failed`]. Several processes may
    /// reconcile at once: the registry adopts each organization once.
    /// An organization is also adopted on first use, when `set_active`,
    /// `scope` or a tenant API key finds its tenant missing.
    ///
    /// Then finishes the organizations' deletions and renamings: an
    /// organization whose registry tenant is deleted is deleted (a crash
    /// between the two halves of
    /// [`Organizations::delete_organization`]); the tenant of an
    /// organization deleted from the auth database alone (by Better Auth) is
    /// deleted; a live tenant's slug and name follow its organization's
    /// ([`ReconcileReport::deleted`], [`ReconcileReport::renamed`]).
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let mut report = self.directory.reconcile().await?;
        let lifecycle = self.lifecycle.reconcile().await?;
        report.deleted += lifecycle.deleted;
        report.renamed += lifecycle.renamed;
        report.failed.extend(
            lifecycle
                .failed
                .into_iter()
                .map(|(id, error)| ReconcileFailure { id, error }),
        );
        Ok(report)
    }

    delegate! { writer lifecycle => {
        /// Better Auth's `POST /organization/update`: changes the
        /// organization's name, slug, logo or metadata. Needs
        /// `organization:update` (owners and admins). The registry tenant's
        /// slug, default host and name follow; a slug is unique on the
        /// platform, decided by the databases. Errors: `UNAUTHORIZED`,
        /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`,
        /// `YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION`,
        /// `ORGANIZATION_SLUG_ALREADY_TAKEN`, `ORGANIZATION_NOT_FOUND`,
        /// `VALIDATION_ERROR`.
        pub async fn update_organization(
            &self,
            token: &str,
            org: &TenantId,
            update: OrganizationUpdate,
            meta: &RequestMeta,
        ) -> Result<Organization>;

        /// Better Auth's `POST /organization/delete`: deletes the
        /// organization, its members, invitations and own API keys, clears it
        /// as any session's active organization, and deletes its registry
        /// tenant first: scopes minted before stop working at the next store
        /// call, and the ID is never reused. A crash between the two leaves an
        /// organization whose tenant is gone, which lets no one in (every way
        /// in mints a scope, which the registry refuses) and which
        /// [`Organizations::reconcile`], or the same call again, deletes. The
        /// tenant's rows in a store stay, unreachable, until
        /// [`neutrino_tenancy::TenantStore::purge_deleted_tenant`]. Needs
        /// `organization:delete` (owners). Answers the deleted organization. Errors: `UNAUTHORIZED`,
        /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`,
        /// `YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION`,
        /// `ORGANIZATION_NOT_FOUND`, `VALIDATION_ERROR` (it has
        /// sub-organizations).
        pub async fn delete_organization(
            &self,
            token: &str,
            org: &TenantId,
            meta: &RequestMeta,
        ) -> Result<Organization>;
    }}

    delegate! { lifecycle => {
        /// Better Auth's `GET /organization/get-full-organization`: the
        /// organization `org` (the session's active one when `None`; `None`
        /// back when there is none) with its members and their users and its
        /// invitations (empty unless the caller may `invitation:create`).
        /// Membership required (or platform admin). Errors: `UNAUTHORIZED`,
        /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, `ORGANIZATION_NOT_FOUND`.
        pub async fn get_full_organization(
            &self,
            token: &str,
            org: Option<&TenantId>,
        ) -> Result<Option<FullOrganization>>;
    }}

    delegate! { writer members => {
        /// Better Auth's server-side `addMember`: makes an existing user a member
        /// with `role` (comma-separated). Needs `member:create`; only owners add
        /// owners. Errors: `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`,
        /// `ROLE_NOT_FOUND`, `USER_NOT_FOUND`,
        /// `USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION`, `YOU_ARE_NOT_ALLOWED_…`.
        pub async fn add_member(
            &self,
            token: &str,
            org: &TenantId,
            user: &UserId,
            role: &str,
            meta: &RequestMeta,
        ) -> Result<Member>;
    }}

    delegate! { members => {
        /// Better Auth's `GET /organization/list-members`, oldest first.
        pub async fn list_members(&self, token: &str, org: &TenantId) -> Result<Vec<Member>>;
    }}

    delegate! { writer members => {
        /// Better Auth's `POST /organization/update-member-role`. Needs
        /// `member:update`; only owners touch owners or grant `owner`; the last
        /// owner cannot be demoted (`YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER`).
        pub async fn update_member_role(
            &self,
            token: &str,
            org: &TenantId,
            member_id: &str,
            role: &str,
            meta: &RequestMeta,
        ) -> Result<Member>;

        /// Better Auth's `POST /organization/remove-member`. Needs `member:delete`;
        /// only owners remove owners; the last owner cannot be removed
        /// (`YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER`).
        pub async fn remove_member(
            &self,
            token: &str,
            org: &TenantId,
            member_id: &str,
            meta: &RequestMeta,
        ) -> Result<Member>;

        /// Better Auth's `POST /organization/leave`; the last owner cannot leave.
        pub async fn leave(
            &self,
            token: &str,
            org: &TenantId,
            meta: &RequestMeta,
        ) -> Result<Member>;
    }}

    delegate! { members => {
        /// A user's platform role.
        pub async fn platform_role(&self, user: &UserId) -> Result<PlatformRole>;
    }}

    /// Sets a user's platform role: an operator path with no permission
    /// check, so named as such; `operator` names who and `reason` why, both
    /// written to the audit log with the change. Refused on a suspended or
    /// deleted platform.
    pub async fn operator_set_platform_role(
        &self,
        user: &UserId,
        role: PlatformRole,
        operator: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let operator = Operator::new(operator, reason)?;
        self.members
            .operator_set_platform_role(user, role, operator, meta)
            .await
    }

    delegate! { writer active => {
        /// Better Auth's `POST /organization/set-active`: makes `org` the session's
        /// active organization (`None` clears it). Only an organization the user
        /// belongs to, or any of the platform for a platform admin.
        pub async fn set_active(
            &self,
            token: &str,
            org: Option<&TenantId>,
            meta: &RequestMeta,
        ) -> Result<Option<Organization>>;
    }}

    delegate! { active => {
        /// The [`MemberScope`] (and so the [`TenantScope`]) of a session's active
        /// organization, after checking the session, the membership (or platform
        /// admin role), the tenant and the platform's status. Errors:
        /// `UNAUTHORIZED`, `NO_ACTIVE_ORGANIZATION`,
        /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, `ORGANIZATION_NOT_FOUND`,
        /// a suspended platform's store error.
        pub async fn scope(&self, token: &str) -> Result<MemberScope>;

        /// The [`MemberScope`] of `org` for a session, whatever the session's
        /// active organization: the tenant a request names (by its host or a
        /// header), so that the active tenant is per request and not per
        /// session row, which every browser tab of the user shares. The
        /// session is validated as [`Auth::get_session`] does (through the
        /// session cache when it is on) and the membership (or platform admin
        /// role) is read on every call, so a removal or a role change takes
        /// effect at once. Errors: `UNAUTHORIZED`,
        /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION` for a user who is not a
        /// member, whether `org` exists or not (a platform admin gets
        /// `ORGANIZATION_NOT_FOUND` for one that does not), a suspended
        /// platform's store error.
        pub async fn scope_in(&self, token: &str, org: &TenantId) -> Result<MemberScope>;

        /// Better Auth's `GET /organization/get-active-member`: the caller's
        /// membership in the session's active organization, read with the
        /// session. Errors: `UNAUTHORIZED`, `NO_ACTIVE_ORGANIZATION`,
        /// `MEMBER_NOT_FOUND` (a platform admin who is not a member, or a
        /// membership removed since the organization was made active).
        pub async fn active_member(&self, token: &str) -> Result<Member>;

        /// An operator's scope on a tenant of this platform: recorded twice, in the
        /// registry's platform-wide audit log and in the tenant's own (this auth
        /// database's log, under the organization).
        pub async fn operator_scope(
            &self,
            org: &TenantId,
            operator: &str,
            reason: &str,
            meta: &RequestMeta,
        ) -> Result<TenantScope>;
    }}

    delegate! { api_keys => {
        /// Creates an API key acting as the caller, bound to a tenant the caller
        /// belongs to or to the whole platform, or, with
        /// [`NewApiKey::owned_by_organization`], a key of the organization
        /// itself (needs `apiKey:create` there, which owners have; errors
        /// `USER_NOT_MEMBER_OF_ORGANIZATION`, `INSUFFICIENT_API_KEY_PERMISSIONS`,
        /// `ORGANIZATION_ID_REQUIRED`); the key is in the answer only.
        pub async fn create_api_key(
            &self,
            token: &str,
            new: NewApiKey,
            meta: &RequestMeta,
        ) -> Result<CreatedApiKey>;

        /// The caller's API keys, newest first.
        pub async fn list_api_keys(&self, token: &str) -> Result<Vec<ApiKey>>;

        /// Better Auth's `GET /api-key/list?organizationId=`: the
        /// organization's own keys ([`NewApiKey::owned_by_organization`]),
        /// newest first, for a member who is an owner or holds `apiKey:read`
        /// there. The membership and the keys are read in one query. A
        /// non-member, and an organization this platform does not have, get
        /// `USER_NOT_MEMBER_OF_ORGANIZATION`; a member without the right,
        /// `INSUFFICIENT_API_KEY_PERMISSIONS` (both 403).
        pub async fn list_organization_api_keys(
            &self,
            token: &str,
            organization: &TenantId,
        ) -> Result<Vec<ApiKey>>;

        /// Changes the name, `enabled` or lifetime of one of the caller's
        /// keys, or of a key of an organization where the caller is an owner
        /// or holds `apiKey:update` (`INSUFFICIENT_API_KEY_PERMISSIONS` for
        /// a member without it; `KEY_NOT_FOUND` for anyone else's), and its
        /// `updatedAt`; `NO_VALUES_TO_UPDATE` for an update that changes
        /// nothing, `VALIDATION_ERROR` for a bad name or lifetime.
        pub async fn update_api_key(
            &self,
            token: &str,
            id: &str,
            update: ApiKeyUpdate,
            meta: &RequestMeta,
        ) -> Result<ApiKey>;

        /// Deletes one of the caller's keys, or a key of an organization
        /// where the caller is an owner or holds `apiKey:delete`
        /// (`INSUFFICIENT_API_KEY_PERMISSIONS` for a member without it;
        /// `KEY_NOT_FOUND` for anyone else's).
        pub async fn delete_api_key(&self, token: &str, id: &str, meta: &RequestMeta) -> Result<()>;

        /// Checks a key (as sent in `x-api-key`) and returns what it may act on,
        /// recording its use. An unknown, disabled or expired key, a key of
        /// another platform, a tenant key whose owner left the tenant, or an
        /// organization's key once the organization is deleted is
        /// `INVALID_API_KEY` (or `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`).
        pub async fn verify_api_key(&self, key: &str) -> Result<ApiKeyScope>;
    }}

    delegate! { writer invitations => {
        /// Better Auth's `POST /organization/invite-member`: invites `email` with
        /// `role` (comma-separated) for 48 h. Needs `invitation:create`; only
        /// owners invite owners; one pending invitation per email and organization;
        /// at most the invitation limit pending. Errors:
        /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, `ROLE_NOT_FOUND`,
        /// `INVALID_EMAIL`, `USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION`,
        /// `USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION`, `INVITATION_LIMIT_REACHED`,
        /// `YOU_ARE_NOT_ALLOWED_…`.
        pub async fn invite_member(
            &self,
            token: &str,
            org: &TenantId,
            email: &str,
            role: &str,
            meta: &RequestMeta,
        ) -> Result<Invitation>;

        /// Better Auth's `POST /organization/accept-invitation`: the caller's
        /// email must match (case-insensitive); the caller becomes a member with
        /// the invited roles and the organization becomes the session's active one.
        /// With `require_email_verification`, the caller's email must be verified
        /// (`EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION`).
        pub async fn accept_invitation(
            &self,
            token: &str,
            invitation_id: &str,
            meta: &RequestMeta,
        ) -> Result<(Invitation, Member)>;
    }}

    delegate! { invitations => {
        /// Signs a new user up through an invitation and accepts it: the way in
        /// when sign-up is disabled.
        ///
        /// `invitation_token` is the secret of the invitation email
        /// ([`crate::mail::EmailKind::Invitation`], sent by [`Organizations::invite_member`]
        /// when a mailer is configured): holding it proves that the requester
        /// reads the invited mailbox, which the invitation's ID (visible to
        /// members who list invitations) does not. The sign-up email must be the
        /// invited one; the user is created with the email verified. Errors:
        /// `INVITATION_NOT_FOUND` (unknown or used token, another address, the
        /// invitation no longer pending or expired),
        /// `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` (sign in and accept instead),
        /// the sign-up errors.
        pub async fn sign_up_with_invitation(
            &self,
            invitation_token: &str,
            req: SignUpEmail,
            meta: &RequestMeta,
        ) -> Result<(SignedIn, Member)>;

        /// Better Auth's `GET /organization/get-invitation`: a pending, unexpired
        /// invitation addressed to the caller (case-insensitive email). Any other
        /// (someone else's, answered, expired or unknown) is
        /// `INVITATION_NOT_FOUND`: its existence is not revealed. With
        /// `require_email_verification`, the caller's email must be verified
        /// (`EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION`, 403). An invitation
        /// whose inviter has left the organization is
        /// `INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION` (400), as in
        /// Better Auth; the invitation, its organization and the inviter's
        /// membership are read in one query.
        pub async fn get_invitation(&self, token: &str, invitation_id: &str) -> Result<Invitation>;
    }}

    delegate! { writer invitations => {
        /// Better Auth's `POST /organization/reject-invitation` (the invitee only).
        pub async fn reject_invitation(
            &self,
            token: &str,
            invitation_id: &str,
            meta: &RequestMeta,
        ) -> Result<Invitation>;

        /// Better Auth's `POST /organization/cancel-invitation`: needs
        /// `invitation:cancel` in the invitation's organization.
        pub async fn cancel_invitation(
            &self,
            token: &str,
            invitation_id: &str,
            meta: &RequestMeta,
        ) -> Result<Invitation>;
    }}

    delegate! { invitations => {
        /// Better Auth's `GET /organization/list-invitations`: every invitation of
        /// the organization, newest first. Needs `invitation:create`
        /// (`YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS`); invitations with the
        /// `owner` role are shown to owners (and platform admins) only.
        pub async fn list_invitations(
            &self,
            token: &str,
            org: &TenantId,
        ) -> Result<Vec<Invitation>>;

        /// Better Auth's `GET /organization/list-user-invitations`: the caller's
        /// pending, unexpired invitations.
        pub async fn list_user_invitations(&self, token: &str) -> Result<Vec<Invitation>>;
    }}
}
