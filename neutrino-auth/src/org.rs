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
//! [`Organizations::scope`] mints the [`TenantScope`] from the session's active
//! organization, and [`Organizations::verify_api_key`] from an API key: the
//! only ways to get one besides the audited [`Organizations::operator_scope`].

use std::fmt;
use std::time::{Duration, SystemTime};

use neutrino_core::ids::{PlatformId, TenantId, UserId};
use neutrino_core::naming::rules::is_valid_dns_label;
use neutrino_core::sql::{Row, Statement, Value};
use neutrino_tenancy::{NewTenant, Registry, ScopeMinter, TenantScope};

use crate::access::{self, AccessPolicy, OWNER, PlatformRole};
use crate::audit::{self, AuditEntry, AuditEvent, AuditRecord, WriteAudited};
use crate::date;
use crate::error::{AuthError, Result};
use crate::model::RequestMeta;
use crate::random::random_id;
use crate::{Auth, MAX_IMAGE_LEN, MAX_NAME_LEN};

/// Default number of pending invitations an organization may have (Better
/// Auth's `invitationLimit`).
pub const DEFAULT_INVITATION_LIMIT: u32 = 100;
/// Default lifetime of an invitation (Better Auth's `invitationExpiresIn`, 48 h).
pub const DEFAULT_INVITATION_TTL: Duration = Duration::from_secs(48 * 3600);
/// Longest accepted organization metadata (JSON text), in bytes.
pub const MAX_METADATA_LEN: usize = 16 * 1024;

/// What [`Organizations::create_organization`] takes.
#[derive(Clone, Debug)]
pub struct NewOrganization {
    /// Display name.
    pub name: String,
    /// Slug, unique on the platform: 1–63 characters of `a-z0-9-` (it names the
    /// tenant's default host).
    pub slug: String,
    /// The parent organization, for a sub-tenant (same platform).
    pub parent: Option<TenantId>,
    /// Logo URL.
    pub logo: Option<String>,
    /// Metadata, stored as JSON text.
    pub metadata: Option<serde_json::Value>,
    /// Leave the session's active organization as it is (Better Auth's
    /// `keepCurrentActiveOrganization`).
    pub keep_current_active: bool,
}

impl NewOrganization {
    /// A top-level organization.
    pub fn new(name: impl Into<String>, slug: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            slug: slug.into(),
            parent: None,
            logo: None,
            metadata: None,
            keep_current_active: false,
        }
    }

    /// Makes it a sub-tenant of `parent`.
    pub fn with_parent(mut self, parent: TenantId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// An `organization` row.
///
/// Serializes as Better Auth's organization list shows one (camelCase, dates
/// as ISO-8601 strings): `{"id","name","slug","logo","metadata","createdAt"}`,
/// `metadata` as the stored JSON text (or `null`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// Its ID, the registry tenant's.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Slug, the registry tenant's.
    pub slug: String,
    /// Logo URL.
    pub logo: Option<String>,
    /// Metadata as JSON text.
    pub metadata: Option<String>,
    /// When it was created.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
}

/// A `member` row: a user's membership of an organization and its roles.
///
/// Serializes as Better Auth's member object:
/// `{"id","organizationId","userId","role","createdAt"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Membership ID.
    pub id: String,
    /// The organization.
    pub organization_id: TenantId,
    /// The user.
    pub user_id: UserId,
    /// Comma-separated tenant roles, e.g. `"owner"` or `"admin,member"`.
    pub role: String,
    /// When the user joined.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
}

/// What a validated session (or API key) may do in its active tenant: the
/// [`TenantScope`] for the tenanted stores, and the roles behind it.
///
/// Only [`Organizations::scope`] and [`Organizations::verify_api_key`] make one.
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

/// What [`Organizations::reconcile`] did.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Pending creations finished.
    pub completed: usize,
    /// Pending creations dropped because the registry refuses them for good
    /// (their slug was taken meanwhile, the parent is gone, or the tenant
    /// would be nested too deep).
    pub abandoned: usize,
    /// Pending creations that could not be finished this time (left pending
    /// for the next run), with why.
    pub failed: Vec<ReconcileFailure>,
}

/// A pending organization creation [`Organizations::reconcile`] could not
/// finish.
#[derive(Debug)]
pub struct ReconcileFailure {
    /// The pending organization's ID, as stored.
    pub id: String,
    /// Why it could not be finished.
    pub error: AuthError,
}

/// What became of one pending creation.
enum Reconciled {
    Completed,
    Abandoned,
}

/// The caller, from a validated session.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub(crate) user_id: UserId,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
    pub(crate) session_id: String,
    pub(crate) token: String,
    pub(crate) active: Option<String>,
    pub(crate) platform_admin: bool,
}

/// The caller's standing in one organization.
#[derive(Clone, Debug)]
pub(crate) struct Standing {
    pub(crate) member: Option<Member>,
    pub(crate) platform_admin: bool,
}

impl Standing {
    pub(crate) fn roles(&self) -> &str {
        self.member.as_ref().map_or("", |m| m.role.as_str())
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.platform_admin || access::has_role(self.roles(), OWNER)
    }
}

/// Organizations, members, roles and the active tenant of one platform;
/// see the module documentation.
pub struct Organizations {
    pub(crate) auth: Auth,
    pub(crate) registry: Registry,
    pub(crate) platform: PlatformId,
    pub(crate) minter: ScopeMinter,
    pub(crate) policy: AccessPolicy,
    pub(crate) invitation_limit: u32,
    pub(crate) invitation_ttl: Duration,
}

impl fmt::Debug for Organizations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Organizations")
            .field("platform", &self.platform)
            .field("policy", &self.policy)
            .field("invitation_limit", &self.invitation_limit)
            .field("invitation_ttl", &self.invitation_ttl)
            .finish_non_exhaustive()
    }
}

const ORG_COLUMNS: &str = r#""id", "name", "slug", "logo", "createdAt", "metadata""#;
const MEMBER_COLUMNS: &str = r#""id", "organizationId", "userId", "role", "createdAt""#;
/// SQL: whether the `"role"` column of the row in scope contains `owner`.
const IS_OWNER_SQL: &str = r#"(',' || REPLACE("role", ' ', '') || ',') LIKE '%,owner,%'"#;

pub(crate) fn org_from_row(r: &Row) -> Result<Organization> {
    let id: String = r.get(0)?;
    Ok(Organization {
        id: id
            .parse()
            .map_err(|_| AuthError::corrupt("organization.id"))?,
        name: r.get(1)?,
        slug: r.get(2)?,
        logo: r.get(3)?,
        created_at: date::column(r, 4, "organization.createdAt")?,
        metadata: r.get(5)?,
    })
}

pub(crate) fn member_from_row(r: &Row) -> Result<Member> {
    let org: String = r.get(1)?;
    let user: String = r.get(2)?;
    Ok(Member {
        id: r.get(0)?,
        organization_id: org
            .parse()
            .map_err(|_| AuthError::corrupt("member.organizationId"))?,
        user_id: user
            .parse()
            .map_err(|_| AuthError::corrupt("member.userId"))?,
        role: r.get(3)?,
        created_at: date::column(r, 4, "member.createdAt")?,
    })
}

/// Maps a registry error about a tenant to the organization error.
fn tenant_err(e: neutrino_core::Error) -> AuthError {
    if e.is_not_found() {
        AuthError::OrganizationNotFound
    } else {
        AuthError::Store(e)
    }
}

/// Maps the registry's refusal to create a tenant to the organization error.
fn registry_refusal(e: neutrino_core::Error) -> AuthError {
    match e {
        e if e.is_already_exists() => AuthError::OrganizationAlreadyExists,
        e if e.is_not_found() => AuthError::OrganizationNotFound,
        neutrino_core::Error::InvalidInput { reason, .. } => {
            AuthError::validation("organization", reason)
        }
        e => AuthError::Store(e),
    }
}

fn validate_org_fields(name: &str, slug: &str, logo: Option<&str>) -> Result<()> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(AuthError::validation(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} bytes without control characters"),
        ));
    }
    if !is_valid_dns_label(slug) {
        return Err(AuthError::validation(
            "slug",
            "must be 1-63 characters of a-z0-9- not beginning or ending with '-'",
        ));
    }
    if logo.is_some_and(|l| l.len() > MAX_IMAGE_LEN) {
        return Err(AuthError::validation(
            "logo",
            format!("must be at most {MAX_IMAGE_LEN} bytes"),
        ));
    }
    Ok(())
}

impl Organizations {
    /// Organizations of `platform`, whose auth database `auth` works on, with
    /// tenants in `registry` and scopes minted by `minter` (the registry's
    /// one-time [`Registry::scope_minter`]). Uses Better Auth's default access
    /// policy, 100 pending invitations per organization and 48 h invitations.
    ///
    /// Binds `auth` (and its clones) to `platform`: from then on its sign-up,
    /// sign-in and every other state-changing call refuse a suspended or
    /// deleted platform.
    pub fn new(auth: Auth, registry: Registry, platform: PlatformId, minter: ScopeMinter) -> Self {
        auth.bind_platform(registry.clone(), platform);
        Self {
            auth,
            registry,
            platform,
            minter,
            policy: AccessPolicy::better_auth_default(),
            invitation_limit: DEFAULT_INVITATION_LIMIT,
            invitation_ttl: DEFAULT_INVITATION_TTL,
        }
    }

    /// Replaces the access-control policy (e.g. the default one extended with
    /// the host app's resources).
    pub fn with_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets how many pending invitations an organization may have.
    pub fn with_invitation_limit(mut self, limit: u32) -> Self {
        self.invitation_limit = limit;
        self
    }

    /// The platform.
    pub fn platform(&self) -> PlatformId {
        self.platform
    }

    /// The access-control policy.
    pub fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    /// The auth component.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.auth.now()
    }

    pub(crate) fn db(&self) -> &dyn neutrino_core::sql::SqlExecutor {
        &**self.auth.db()
    }

    /// The platform-status check before every state change of organizations,
    /// members, roles, invitations and API keys: the platform's
    /// [`neutrino_core::Error::Suspended`] when it is suspended, `NotFound` when
    /// it is deleted. See [`Auth`] for what still works while suspended.
    pub(crate) async fn ensure_writable(&self) -> Result<()> {
        Ok(self.registry.check_active(self.platform).await?)
    }

    /// [`Organizations::actor`] for a state-changing call: the platform must be
    /// active first.
    pub(crate) async fn writer(&self, token: &str) -> Result<Actor> {
        self.ensure_writable().await?;
        self.actor(token).await
    }

    /// The caller of a session token; `UNAUTHORIZED` without a valid session.
    pub(crate) async fn actor(&self, token: &str) -> Result<Actor> {
        let found = self
            .auth
            .get_session(token)
            .await?
            .ok_or(AuthError::Unauthorized)?;
        let row = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT s."activeOrganizationId", u."role" FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = ?1"#,
                )
                .bind(token),
            )
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::Unauthorized)?;
        let role: Option<String> = row.get(1)?;
        Ok(Actor {
            user_id: found.user.id,
            email: found.user.email.clone(),
            email_verified: found.user.email_verified,
            session_id: found.session.id.clone(),
            token: token.to_owned(),
            active: row.get(0)?,
            platform_admin: self.auth.platform_role_of(role.as_deref()) == PlatformRole::Admin,
        })
    }

    pub(crate) async fn org_row(&self, org: &TenantId) -> Result<Option<Organization>> {
        let row = self
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {ORG_COLUMNS} FROM "organization" WHERE "id" = ?1"#
                ))
                .bind(org.as_str()),
            )
            .await?
            .into_iter()
            .next();
        row.as_ref().map(org_from_row).transpose()
    }

    pub(crate) async fn membership(&self, org: &TenantId, user: &UserId) -> Result<Option<Member>> {
        let row = self
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {MEMBER_COLUMNS} FROM "member" WHERE "organizationId" = ?1 AND "userId" = ?2"#
                ))
                .bind(org.as_str())
                .bind(user.as_str()),
            )
            .await?
            .into_iter()
            .next();
        row.as_ref().map(member_from_row).transpose()
    }

    async fn member_by_id(&self, org: &TenantId, member_id: &str) -> Result<Member> {
        let row = self
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {MEMBER_COLUMNS} FROM "member" WHERE "id" = ?1 AND "organizationId" = ?2"#
                ))
                .bind(member_id)
                .bind(org.as_str()),
            )
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::MemberNotFound)?;
        member_from_row(&row)
    }

    /// The caller's standing in `org`: a member, or a platform admin. Anyone
    /// else gets `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, whether or not
    /// the organization exists.
    pub(crate) async fn standing(&self, actor: &Actor, org: &TenantId) -> Result<Standing> {
        if let Some(m) = self.membership(org, &actor.user_id).await? {
            return Ok(Standing {
                member: Some(m),
                platform_admin: actor.platform_admin,
            });
        }
        if actor.platform_admin {
            if self.org_row(org).await?.is_none() {
                return Err(AuthError::OrganizationNotFound);
            }
            return Ok(Standing {
                member: None,
                platform_admin: true,
            });
        }
        Err(AuthError::NotAMember)
    }

    pub(crate) fn can(&self, s: &Standing, resource: &str, action: &str) -> bool {
        s.platform_admin || self.policy.allows(s.roles(), resource, action)
    }

    /// Validates a role list against the policy; returns it normalized
    /// (`"admin,member"`).
    pub(crate) fn normalize_roles(&self, roles: &str) -> Result<String> {
        let list: Vec<&str> = access::split_roles(roles).collect();
        if list.is_empty() || list.iter().any(|r| !self.policy.has_role(r)) {
            return Err(AuthError::RoleNotFound);
        }
        Ok(list.join(","))
    }

    pub(crate) fn record<'a>(
        actor: &'a Actor,
        org: &'a TenantId,
        detail: Option<String>,
    ) -> AuditRecord<'a> {
        AuditRecord {
            user_id: Some(actor.user_id.as_str()),
            session_id: Some(&actor.session_id),
            email: None,
            detail,
            organization_id: Some(org.as_str()),
        }
    }

    // ---- organizations ----

    /// Whether `slug` is free (Better Auth's `check-slug`):
    /// `ORGANIZATION_SLUG_ALREADY_TAKEN` otherwise.
    pub async fn check_slug(&self, slug: &str) -> Result<()> {
        if self.slug_taken(slug).await? {
            return Err(AuthError::NotAllowed {
                code: "ORGANIZATION_SLUG_ALREADY_TAKEN",
            });
        }
        Ok(())
    }

    async fn slug_taken(&self, slug: &str) -> Result<bool> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT 1 FROM "organization" WHERE "slug" = ?1 UNION ALL SELECT 1 FROM "neutrinoPendingOrganization" WHERE "slug" = ?1"#,
                )
                .bind(slug),
            )
            .await?;
        if !rows.is_empty() {
            return Ok(true);
        }
        match self.registry.tenant_by_slug(self.platform, slug).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

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
    ) -> Result<Organization> {
        let actor = self.writer(token).await?;
        let name = new.name.trim().to_owned();
        validate_org_fields(&name, &new.slug, new.logo.as_deref())?;
        let metadata = new.metadata.as_ref().map(|m| m.to_string());
        if metadata
            .as_ref()
            .is_some_and(|m| m.len() > MAX_METADATA_LEN)
        {
            return Err(AuthError::validation(
                "metadata",
                format!("must be at most {MAX_METADATA_LEN} bytes of JSON"),
            ));
        }
        if let Some(parent) = &new.parent {
            let s = self.standing(&actor, parent).await?;
            if !self.can(&s, "organization", "update") {
                return Err(AuthError::NotAllowed {
                    code: "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION",
                });
            }
        }
        if self.slug_taken(&new.slug).await? {
            return Err(AuthError::OrganizationAlreadyExists);
        }
        let id = TenantId::generate();
        let now = self.now();
        let stamp = date::format(now);
        // Step 1: the intent.
        let pending = Statement::new(
            r#"INSERT INTO "neutrinoPendingOrganization" ("id", "slug", "name", "parentId", "logo", "metadata", "creatorId", "createdAt") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"#,
        )
        .bind(id.as_str())
        .bind(new.slug.as_str())
        .bind(name.as_str())
        .bind(new.parent.map(|p| p.as_str().to_owned()))
        .bind(new.logo.as_deref())
        .bind(metadata.as_deref())
        .bind(actor.user_id.as_str())
        .bind(stamp.as_str());
        match self.db().execute(&pending).await {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => return Err(AuthError::OrganizationAlreadyExists),
            Err(e) => return Err(e.into()),
        }
        // Step 2: the registry tenant.
        let mut tenant = NewTenant::new(new.slug.as_str(), name.as_str()).with_id(id);
        if let Some(p) = new.parent {
            tenant = tenant.with_parent(p);
        }
        if let Err(e) = self.registry.create_tenant(self.platform, tenant).await {
            // A refusal is final: nothing stays pending (the slug is free
            // again). Only a backend failure, after which the tenant may or
            // may not exist, is left to `reconcile`.
            if !matches!(e, neutrino_core::Error::Backend { .. }) {
                self.drop_pending(&id).await?;
            }
            return Err(registry_refusal(e));
        }
        // Step 3: the organization, its owner, active.
        let org = Organization {
            id,
            name,
            slug: new.slug,
            logo: new.logo,
            metadata,
            created_at: date::parse(&stamp).unwrap_or(now),
        };
        let mut batch = self.finish_statements(&org, &actor.user_id, &stamp, meta)?;
        batch.push(audit::insert(
            AuditEvent::OrganizationCreated,
            Self::record(&actor, &id, Some(format!("slug={}", org.slug))),
            meta,
            now,
        )?);
        if !new.keep_current_active {
            batch.push(
                Statement::new(
                    r#"UPDATE "session" SET "activeOrganizationId" = ?1, "updatedAt" = ?2 WHERE "token" = ?3"#,
                )
                .bind(id.as_str())
                .bind(stamp.as_str())
                .bind(actor.token.as_str()),
            );
        }
        self.db().batch(&batch).await?;
        Ok(org)
    }

    async fn drop_pending(&self, id: &TenantId) -> Result<()> {
        self.db()
            .execute(
                &Statement::new(r#"DELETE FROM "neutrinoPendingOrganization" WHERE "id" = ?1"#)
                    .bind(id.as_str()),
            )
            .await?;
        Ok(())
    }

    /// Step 3's statements, idempotent: the organization row, the owner's
    /// membership (if the creator exists and is not one yet), the pending row
    /// gone, and the membership's audit entry.
    fn finish_statements(
        &self,
        org: &Organization,
        creator: &UserId,
        stamp: &str,
        meta: &RequestMeta,
    ) -> Result<Vec<Statement>> {
        let member_id = random_id()?;
        Ok(vec![
            Statement::new(format!(
                r#"INSERT INTO "organization" ({ORG_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT ("id") DO NOTHING"#
            ))
            .bind(org.id.as_str())
            .bind(org.name.as_str())
            .bind(org.slug.as_str())
            .bind(org.logo.as_deref())
            .bind(stamp)
            .bind(org.metadata.as_deref()),
            audit::insert_where(
                AuditEvent::MemberAdded,
                AuditRecord {
                    user_id: Some(creator.as_str()),
                    detail: Some(format!("role={OWNER}")),
                    organization_id: Some(org.id.as_str()),
                    ..AuditRecord::default()
                },
                meta,
                self.now(),
                r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?11) AND NOT EXISTS (SELECT 1 FROM "member" WHERE "organizationId" = ?12 AND "userId" = ?11)"#,
                vec![
                    Value::from(creator.as_str().to_owned()),
                    Value::from(org.id.as_str().to_owned()),
                ],
            )?,
            Statement::new(format!(
                r#"INSERT INTO "member" ({MEMBER_COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM "user" WHERE "id" = ?3) AND NOT EXISTS (SELECT 1 FROM "member" WHERE "organizationId" = ?2 AND "userId" = ?3)"#
            ))
            .bind(member_id)
            .bind(org.id.as_str())
            .bind(creator.as_str())
            .bind(OWNER)
            .bind(stamp),
            Statement::new(r#"DELETE FROM "neutrinoPendingOrganization" WHERE "id" = ?1"#)
                .bind(org.id.as_str()),
        ])
    }

    /// Finishes every organization creation interrupted between its steps:
    /// creates the missing registry tenant, then the organization and its
    /// owner. Idempotent; run it at startup or periodically. A creation the
    /// registry refuses for good (slug taken meanwhile, parent gone, too
    /// deep) is dropped; one that fails otherwise (a backend error, a
    /// malformed row) is reported in [`ReconcileReport::failed`] and left
    /// pending, and the others go on. Refused as a whole on a suspended or
    /// deleted platform.
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        self.ensure_writable().await?;
        let rows = self
            .db()
            .query(&Statement::new(
                r#"SELECT "id", "slug", "name", "parentId", "logo", "metadata", "creatorId", "createdAt" FROM "neutrinoPendingOrganization" ORDER BY "createdAt""#,
            ))
            .await?;
        let mut report = ReconcileReport::default();
        for r in rows {
            match self.reconcile_one(&r).await {
                Ok(Reconciled::Completed) => report.completed += 1,
                Ok(Reconciled::Abandoned) => report.abandoned += 1,
                Err(error) => report.failed.push(ReconcileFailure {
                    id: r.get::<String>(0).unwrap_or_default(),
                    error,
                }),
            }
        }
        Ok(report)
    }

    async fn reconcile_one(&self, r: &Row) -> Result<Reconciled> {
        let meta = RequestMeta::default();
        let id: String = r.get(0)?;
        let id: TenantId = id
            .parse()
            .map_err(|_| AuthError::corrupt("neutrinoPendingOrganization.id"))?;
        let creator: String = r.get(6)?;
        let creator: UserId = creator
            .parse()
            .map_err(|_| AuthError::corrupt("neutrinoPendingOrganization.creatorId"))?;
        let parent: Option<String> = r.get(3)?;
        let parent: Option<TenantId> = parent
            .map(|p| p.parse())
            .transpose()
            .map_err(|_| AuthError::corrupt("neutrinoPendingOrganization.parentId"))?;
        let stamp: String = r.get(7)?;
        let org = Organization {
            id,
            slug: r.get(1)?,
            name: r.get(2)?,
            logo: r.get(4)?,
            metadata: r.get(5)?,
            created_at: date::column(r, 7, "neutrinoPendingOrganization.createdAt")?,
        };
        match self.registry.tenant(self.platform, id).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                let mut t = NewTenant::new(org.slug.as_str(), org.name.as_str()).with_id(id);
                if let Some(p) = parent {
                    t = t.with_parent(p);
                }
                if let Err(e) = self.registry.create_tenant(self.platform, t).await {
                    if e.is_already_exists()
                        || e.is_not_found()
                        || matches!(e, neutrino_core::Error::InvalidInput { .. })
                    {
                        self.drop_pending(&id).await?;
                        return Ok(Reconciled::Abandoned);
                    }
                    return Err(e.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
        let mut batch = self.finish_statements(&org, &creator, &stamp, &meta)?;
        batch.push(audit::insert(
            AuditEvent::OrganizationCreated,
            AuditRecord {
                user_id: Some(creator.as_str()),
                detail: Some(format!("slug={} (reconciled)", org.slug)),
                organization_id: Some(id.as_str()),
                ..AuditRecord::default()
            },
            &meta,
            self.now(),
        )?);
        self.db().batch(&batch).await?;
        Ok(Reconciled::Completed)
    }

    /// An organization the caller belongs to (any, for a platform admin).
    /// Errors: `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, `ORGANIZATION_NOT_FOUND`.
    pub async fn organization(&self, token: &str, org: &TenantId) -> Result<Organization> {
        let actor = self.actor(token).await?;
        self.standing(&actor, org).await?;
        self.org_row(org)
            .await?
            .ok_or(AuthError::OrganizationNotFound)
    }

    /// Better Auth's `GET /organization/list`: the organizations the caller is
    /// a member of, by name.
    pub async fn list_organizations(&self, token: &str) -> Result<Vec<Organization>> {
        let actor = self.actor(token).await?;
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT o."id", o."name", o."slug", o."logo", o."createdAt", o."metadata" FROM "organization" o JOIN "member" m ON m."organizationId" = o."id" WHERE m."userId" = ?1 ORDER BY o."name", o."id""#,
                )
                .bind(actor.user_id.as_str()),
            )
            .await?;
        rows.iter().map(org_from_row).collect()
    }

    // ---- members and roles ----

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
    ) -> Result<Member> {
        let actor = self.writer(token).await?;
        let s = self.standing(&actor, org).await?;
        if !self.can(&s, "member", "create") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
            });
        }
        let role = self.normalize_roles(role)?;
        if access::has_role(&role, OWNER) && !s.is_owner() {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE",
            });
        }
        if self.auth.get_user(user).await?.is_none() {
            return Err(AuthError::UserNotFound);
        }
        let member = self
            .insert_member(
                org,
                user,
                &role,
                &actor,
                AuditEvent::MemberAdded,
                meta,
                None,
                |_| Ok(Vec::new()),
            )
            .await?
            .ok_or(AuthError::AlreadyAMember)?;
        Ok(member)
    }

    /// Inserts a membership and its audit entry, with `extra` statements in
    /// the same batch (made from the new membership and placed after it, so
    /// they may be guarded on it). The unique index on `member ("organizationId", "userId")` decides
    /// whether the user is already a member (`AlreadyAMember`). With `guard`
    /// (SQL with placeholders from `?1`, and its values), the membership is
    /// inserted only if it holds inside the batch; `None` comes back if it did
    /// not.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_member(
        &self,
        org: &TenantId,
        user: &UserId,
        role: &str,
        actor: &Actor,
        event: AuditEvent,
        meta: &RequestMeta,
        guard: Option<(&str, Vec<Value>)>,
        extra: impl FnOnce(&Member) -> Result<Vec<Statement>>,
    ) -> Result<Option<Member>> {
        let now = self.now();
        let stamp = date::format(now);
        let member = Member {
            id: random_id()?,
            organization_id: *org,
            user_id: *user,
            role: role.to_owned(),
            created_at: date::parse(&stamp).unwrap_or(now),
        };
        let (cond, cond_params) = match guard {
            Some((sql, params)) => (crate::stmt::renumber(sql, 5), params),
            None => ("1".to_owned(), Vec::new()),
        };
        let mut params = vec![
            Value::from(member.id.clone()),
            Value::from(org.as_str().to_owned()),
            Value::from(user.as_str().to_owned()),
            Value::from(role.to_owned()),
            Value::from(stamp.clone()),
        ];
        params.extend(cond_params);
        let insert = Statement::with_params(
            format!(
                r#"INSERT INTO "member" ({MEMBER_COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5 WHERE {cond}"#
            ),
            params,
        );
        let mut batch = vec![
            insert,
            audit::insert_where(
                event,
                Self::record(actor, org, Some(format!("member={} role={role}", user))),
                meta,
                now,
                r#"EXISTS (SELECT 1 FROM "member" WHERE "id" = ?11)"#,
                vec![Value::from(member.id.clone())],
            )?,
        ];
        batch.extend(extra(&member)?);
        match self.db().batch(&batch).await {
            Ok(out) if out.first().is_some_and(|o| o.rows_affected == 1) => Ok(Some(member)),
            Ok(_) => Ok(None),
            // The unique membership index: one membership per user and tenant.
            Err(e) if e.is_already_exists() => Err(AuthError::AlreadyAMember),
            Err(e) => Err(e.into()),
        }
    }

    /// Better Auth's `GET /organization/list-members`, oldest first.
    pub async fn list_members(&self, token: &str, org: &TenantId) -> Result<Vec<Member>> {
        let actor = self.actor(token).await?;
        self.standing(&actor, org).await?;
        let rows = self
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {MEMBER_COLUMNS} FROM "member" WHERE "organizationId" = ?1 ORDER BY "createdAt", "id""#
                ))
                .bind(org.as_str()),
            )
            .await?;
        rows.iter().map(member_from_row).collect()
    }

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
    ) -> Result<Member> {
        const NOT_ALLOWED: AuthError = AuthError::NotAllowed {
            code: "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        };
        let actor = self.writer(token).await?;
        let s = self.standing(&actor, org).await?;
        if !self.can(&s, "member", "update") {
            return Err(NOT_ALLOWED);
        }
        let role = self.normalize_roles(role)?;
        let target = self.member_by_id(org, member_id).await?;
        let was_owner = access::has_role(&target.role, OWNER);
        let becomes_owner = access::has_role(&role, OWNER);
        if (was_owner || becomes_owner) && !s.is_owner() {
            return Err(NOT_ALLOWED);
        }
        let demotes_owner = was_owner && !becomes_owner;
        let guard = format!(
            r#"(?4 = 0 OR (SELECT COUNT(*) FROM "member" WHERE "organizationId" = ?3 AND {IS_OWNER_SQL}) > 1)"#
        );
        let update = Statement::new(format!(
            r#"UPDATE "member" SET "role" = ?1 WHERE "id" = ?2 AND "organizationId" = ?3 AND {guard}"#
        ))
        .bind(role.as_str())
        .bind(member_id)
        .bind(org.as_str())
        .bind(demotes_owner);
        let audit_stmt = audit::insert_where(
            AuditEvent::MemberRoleChanged,
            Self::record(
                &actor,
                org,
                Some(format!(
                    "member={} role={} (was {})",
                    target.user_id, role, target.role
                )),
            ),
            meta,
            self.now(),
            r#"EXISTS (SELECT 1 FROM "member" WHERE "id" = ?11 AND "role" = ?12)"#,
            vec![Value::from(member_id.to_owned()), Value::from(role.clone())],
        )?;
        let out = self.db().write_audited(vec![update], audit_stmt).await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(if demotes_owner {
                AuthError::NoOwnerLeft
            } else {
                AuthError::MemberNotFound
            });
        }
        Ok(Member { role, ..target })
    }

    /// Deletes a membership unless it is the last owner's, clears it as the
    /// active organization of the user's sessions, and audits it, atomically.
    async fn delete_member(
        &self,
        target: &Member,
        actor: &Actor,
        event: AuditEvent,
        meta: &RequestMeta,
    ) -> Result<()> {
        let org = &target.organization_id;
        let is_owner = access::has_role(&target.role, OWNER);
        let delete = Statement::new(format!(
            r#"DELETE FROM "member" WHERE "id" = ?1 AND "organizationId" = ?2 AND (?3 = 0 OR (SELECT COUNT(*) FROM "member" WHERE "organizationId" = ?2 AND {IS_OWNER_SQL}) > 1)"#
        ))
        .bind(target.id.as_str())
        .bind(org.as_str())
        .bind(is_owner);
        let audit_stmt = audit::insert_where(
            event,
            Self::record(
                actor,
                org,
                Some(format!("member={} role={}", target.user_id, target.role)),
            ),
            meta,
            self.now(),
            r#"NOT EXISTS (SELECT 1 FROM "member" WHERE "id" = ?11)"#,
            vec![Value::from(target.id.clone())],
        )?;
        let clear = Statement::new(
            r#"UPDATE "session" SET "activeOrganizationId" = NULL WHERE "userId" = ?1 AND "activeOrganizationId" = ?2 AND NOT EXISTS (SELECT 1 FROM "member" WHERE "id" = ?3)"#,
        )
        .bind(target.user_id.as_str())
        .bind(org.as_str())
        .bind(target.id.as_str());
        let out = self.db().batch(&[delete, audit_stmt, clear]).await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(if is_owner {
                AuthError::LastOwner
            } else {
                AuthError::MemberNotFound
            });
        }
        Ok(())
    }

    /// Better Auth's `POST /organization/remove-member`. Needs `member:delete`;
    /// only owners remove owners; the last owner cannot be removed
    /// (`YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER`).
    pub async fn remove_member(
        &self,
        token: &str,
        org: &TenantId,
        member_id: &str,
        meta: &RequestMeta,
    ) -> Result<Member> {
        const NOT_ALLOWED: AuthError = AuthError::NotAllowed {
            code: "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        };
        let actor = self.writer(token).await?;
        let s = self.standing(&actor, org).await?;
        if !self.can(&s, "member", "delete") {
            return Err(NOT_ALLOWED);
        }
        let target = self.member_by_id(org, member_id).await?;
        if access::has_role(&target.role, OWNER) && !s.is_owner() {
            return Err(NOT_ALLOWED);
        }
        self.delete_member(&target, &actor, AuditEvent::MemberRemoved, meta)
            .await?;
        Ok(target)
    }

    /// Better Auth's `POST /organization/leave`; the last owner cannot leave.
    pub async fn leave(&self, token: &str, org: &TenantId, meta: &RequestMeta) -> Result<Member> {
        let actor = self.writer(token).await?;
        let me = self
            .membership(org, &actor.user_id)
            .await?
            .ok_or(AuthError::NotAMember)?;
        self.delete_member(&me, &actor, AuditEvent::MemberLeft, meta)
            .await?;
        Ok(me)
    }

    // ---- platform roles ----

    /// A user's platform role.
    pub async fn platform_role(&self, user: &UserId) -> Result<PlatformRole> {
        let row = self
            .db()
            .query(
                &Statement::new(r#"SELECT "role" FROM "user" WHERE "id" = ?1"#).bind(user.as_str()),
            )
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::UserNotFound)?;
        let role: Option<String> = row.get(0)?;
        Ok(self.auth.platform_role_of(role.as_deref()))
    }

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
        for (field, v) in [("operator", operator), ("reason", reason)] {
            if v.trim().is_empty() || v.len() > 2000 || v.chars().any(char::is_control) {
                return Err(AuthError::validation(
                    field,
                    "must be 1-2000 bytes of text without control characters",
                ));
            }
        }
        self.ensure_writable().await?;
        let now = self.now();
        let out = self
            .db()
            .write_audited(
                vec![
                    Statement::new(
                        r#"UPDATE "user" SET "role" = ?1, "updatedAt" = ?2 WHERE "id" = ?3"#,
                    )
                    .bind(role.as_str())
                    .bind(date::format(now))
                    .bind(user.as_str()),
                ],
                audit::insert(
                    AuditEvent::PlatformRoleChanged,
                    AuditRecord {
                        user_id: Some(user.as_str()),
                        detail: Some(format!("role={role} by operator {operator}: {reason}")),
                        ..AuditRecord::default()
                    },
                    meta,
                    now,
                )?,
            )
            .await?;
        if out.first().map_or(0, |o| o.rows_affected) == 0 {
            return Err(AuthError::UserNotFound);
        }
        self.auth.evict_user(user.as_str());
        Ok(())
    }

    // ---- the active tenant and scopes ----

    /// Better Auth's `POST /organization/set-active`: makes `org` the session's
    /// active organization (`None` clears it). Only an organization the user
    /// belongs to, or any of the platform for a platform admin.
    pub async fn set_active(
        &self,
        token: &str,
        org: Option<&TenantId>,
        meta: &RequestMeta,
    ) -> Result<Option<Organization>> {
        let actor = self.writer(token).await?;
        let found = match org {
            Some(id) => {
                self.standing(&actor, id).await?;
                self.minter
                    .mint(self.platform, *id)
                    .await
                    .map_err(tenant_err)?;
                Some(
                    self.org_row(id)
                        .await?
                        .ok_or(AuthError::OrganizationNotFound)?,
                )
            }
            None => None,
        };
        let now = self.now();
        let id = found.as_ref().map(|o| o.id);
        self.db()
            .write_audited(vec![
                Statement::new(
                    r#"UPDATE "session" SET "activeOrganizationId" = ?1, "updatedAt" = ?2 WHERE "token" = ?3"#,
                )
                .bind(id.map(|i| i.as_str().to_owned()))
                .bind(date::format(now))
                .bind(token)], audit::insert(
                    AuditEvent::ActiveOrganizationSet,
                    AuditRecord {
                        user_id: Some(actor.user_id.as_str()),
                        session_id: Some(&actor.session_id),
                        organization_id: id.as_ref().map(TenantId::as_str),
                        ..AuditRecord::default()
                    },
                    meta,
                    now,
                )?)
            .await?;
        Ok(found)
    }

    /// The [`MemberScope`] (and so the [`TenantScope`]) of a session's active
    /// organization, after checking the session, the membership (or platform
    /// admin role), the tenant and the platform's status. Errors:
    /// `UNAUTHORIZED`, `NO_ACTIVE_ORGANIZATION`,
    /// `USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION`, `ORGANIZATION_NOT_FOUND`,
    /// a suspended platform's store error.
    pub async fn scope(&self, token: &str) -> Result<MemberScope> {
        let actor = self.actor(token).await?;
        let active = actor
            .active
            .as_deref()
            .ok_or(AuthError::NoActiveOrganization)?;
        let org: TenantId = active
            .parse()
            .map_err(|_| AuthError::NoActiveOrganization)?;
        self.member_scope_for(&actor.user_id, actor.platform_admin, org, None)
            .await
    }

    /// The scope of `user` in `org`: a member's, or a platform admin's.
    pub(crate) async fn member_scope_for(
        &self,
        user: &UserId,
        platform_admin: bool,
        org: TenantId,
        permissions: Option<String>,
    ) -> Result<MemberScope> {
        let member = self.membership(&org, user).await?;
        if member.is_none() {
            if !platform_admin {
                return Err(AuthError::NotAMember);
            }
            if self.org_row(&org).await?.is_none() {
                return Err(AuthError::OrganizationNotFound);
            }
        }
        let scope = self
            .minter
            .mint(self.platform, org)
            .await
            .map_err(tenant_err)?;
        Ok(MemberScope {
            scope,
            user_id: *user,
            roles: member.map(|m| m.role).unwrap_or_default(),
            platform_admin,
            permissions,
        })
    }

    /// Whether the scope's holder may perform `action` on `resource` in its
    /// tenant: a platform admin may do everything; a member what its roles
    /// grant; an API key, in addition, only what its own permissions list.
    pub fn has_permission(&self, scope: &MemberScope, resource: &str, action: &str) -> bool {
        if let Some(p) = &scope.permissions
            && !access::permits(p, resource, action)
        {
            return false;
        }
        scope.platform_admin || self.policy.allows(&scope.roles, resource, action)
    }

    /// An operator's scope on a tenant of this platform: recorded twice, in the
    /// registry's platform-wide audit log and in the tenant's own (this auth
    /// database's log, under the organization).
    pub async fn operator_scope(
        &self,
        org: &TenantId,
        operator: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<TenantScope> {
        let scope = self
            .registry
            .operator_scope(self.platform, *org, operator, reason)
            .await
            .map_err(tenant_err)?;
        self.db()
            .execute(&audit::insert(
                AuditEvent::OperatorAccess,
                AuditRecord {
                    detail: Some(format!("operator {operator}: {reason}")),
                    organization_id: Some(org.as_str()),
                    ..AuditRecord::default()
                },
                meta,
                self.now(),
            )?)
            .await?;
        Ok(scope)
    }

    /// The newest audit entries of one organization (its own log), at most
    /// `limit`.
    pub async fn tenant_audit_log(&self, org: &TenantId, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = self
            .db()
            .query(
                &Statement::new(audit::SELECT_BY_ORGANIZATION)
                    .bind(org.as_str())
                    .bind(limit),
            )
            .await?;
        rows.iter().map(audit::from_row).collect()
    }
}
