//! An organization's life after its creation: [`Lifecycle`] updates it (the
//! registry tenant's slug, default host and name follow), deletes it (the
//! registry tenant goes with it), reads it whole (Better Auth's
//! `get-full-organization`), and lets [`crate::org::Organizations::reconcile`]
//! finish what a crash or Better Auth left half done.
//!
//! # Deleting: two databases, one order
//!
//! The registry and the auth database are separate, so a deletion is two
//! writes, in this order:
//!
//! 1. the registry tenant is deleted (a tombstone keeps its ID): from then on
//!    no scope is minted for it (sessions, API keys, operators), its hosts
//!    resolve to nothing, and a [`neutrino_tenancy::TenantStore`] call with a
//!    scope minted before is refused;
//! 2. one batch of the auth database deletes the organization, its members,
//!    its invitations (and their mailed secrets) and its own API keys, and
//!    clears it as the active organization of every session.
//!
//! A crash after 1 leaves an organization row whose tenant is gone: it lets
//! no one in (every way in mints a scope, which the registry refuses), and
//! `reconcile` (or the same deletion again) finishes step 2. A crash before 1
//! changes nothing. The other order could leave a live tenant without an
//! organization whose old scopes still work, so it is not used.
//!
//! Better Auth deleting an organization (its own step 2 alone) leaves the
//! tenant live: `reconcile` deletes the tenant of every organization this
//! auth database created (its audit log says so) whose row is gone.
//!
//! # Updating: the slug in both
//!
//! The registry tenant's slug (and so its default host) and name follow the
//! organization's: the registry is renamed first (its unique slug decides),
//! then the organization row (its own unique slug decides); if the second
//! refuses, the first is undone. A crash between them leaves the tenant
//! renamed and the organization not: `reconcile` makes the tenant follow the
//! organization again (the auth database is the truth for names), as it does
//! after Better Auth renames one.

use std::collections::HashSet;

use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::naming::rules::is_valid_dns_label;
use neutrino_core::sql::{Statement, Value};
use neutrino_tenancy::PlatformRegistry;

use crate::adopt::tenant_ids;
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::caller::{Actor, Callers};
use crate::directory::{ORG_COLUMNS, Organization, org_from_row, org_row, validate_org_fields};
use crate::error::{AuthError, Result};
use crate::invitation::{self, Invitation};
use crate::member::{MEMBER_COLUMNS, Member, Members};
use crate::model::RequestMeta;
use crate::{access, apikey};

/// What [`crate::org::Organizations::update_organization`] changes (Better
/// Auth's `data`): `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct OrganizationUpdate {
    /// A new display name.
    pub name: Option<String>,
    /// A new slug (1–63 characters of `a-z0-9-`, unique on the platform):
    /// the registry tenant's slug and default host follow it.
    pub slug: Option<String>,
    /// A new logo URL, or `Some(None)` to remove it.
    pub logo: Option<Option<String>>,
    /// New metadata, or `Some(None)` to remove it.
    pub metadata: Option<Option<serde_json::Value>>,
}

/// A member's user, as Better Auth joins it: `{"id","name","email","image"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemberUser {
    /// The user's ID.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Image URL.
    pub image: Option<String>,
}

/// A member with its user (Better Auth's member object with `user`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemberWithUser {
    /// The membership.
    #[serde(flatten)]
    pub member: Member,
    /// Its user.
    pub user: MemberUser,
}

/// Better Auth's `get-full-organization` answer: the organization with its
/// members (and their users) and invitations. Serializes as
/// `{...organization, "members": [...], "invitations": [...]}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FullOrganization {
    /// The organization.
    #[serde(flatten)]
    pub organization: Organization,
    /// Its members, oldest first, each with its user.
    pub members: Vec<MemberWithUser>,
    /// Its invitations, newest first: empty unless the caller may
    /// `invitation:create`; those with the `owner` role only for owners.
    pub invitations: Vec<Invitation>,
}

/// What `reconcile` did to organizations deleted or renamed half-way.
#[derive(Debug, Default)]
pub(crate) struct LifecycleReport {
    pub(crate) deleted: usize,
    pub(crate) renamed: usize,
    pub(crate) failed: Vec<(String, AuthError)>,
}

/// The most members [`Lifecycle::get_full_organization`] returns (Better
/// Auth's default `membershipLimit`).
const FULL_MEMBERS_LIMIT: u32 = 100;

/// The registry's actor name of deletions done by `reconcile`.
const RECONCILE_ACTOR: &str = "neutrino-auth reconcile";

/// Updates, deletions and whole reads of organizations.
#[derive(Clone)]
pub(crate) struct Lifecycle {
    callers: Callers,
    members: Members,
    registry: PlatformRegistry,
}

impl Lifecycle {
    pub(crate) fn new(callers: Callers, members: Members, registry: PlatformRegistry) -> Self {
        Self {
            callers,
            members,
            registry,
        }
    }

    /// SQL that holds while the caller's standing is the one judged: its
    /// membership still has `role` (`?{n}` the organization, `?{n+1}` the
    /// user, `?{n+2}` the role), or nothing for a platform admin who is not a
    /// member.
    fn standing_guard(actor: &Actor, member: Option<&Member>, n: usize) -> (String, Vec<Value>) {
        match member {
            Some(m) => (
                format!(
                    r#"EXISTS (SELECT 1 FROM "member" WHERE "organizationId" = ?{n} AND "userId" = ?{} AND "role" = ?{})"#,
                    n + 1,
                    n + 2
                ),
                vec![
                    Value::from(m.organization_id.as_str()),
                    Value::from(actor.user_id.as_str()),
                    Value::from(m.role.as_str()),
                ],
            ),
            None => ("TRUE".to_owned(), Vec::new()),
        }
    }

    /// [`crate::org::Organizations::update_organization`].
    pub(crate) async fn update_organization(
        &self,
        actor: &Actor,
        org: &TenantId,
        update: OrganizationUpdate,
        meta: &RequestMeta,
    ) -> Result<Organization> {
        let s = self.members.standing(actor, org).await?;
        if !self.members.can(&s, "organization", "update") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
            });
        }
        let cur = org_row(self.callers.db(), org)
            .await?
            .ok_or(AuthError::OrganizationNotFound)?;
        let name = match &update.name {
            Some(n) => n.trim().to_owned(),
            None => cur.name.clone(),
        };
        let slug = update.slug.clone().unwrap_or_else(|| cur.slug.clone());
        let logo = match update.logo {
            Some(l) => l,
            None => cur.logo.clone(),
        };
        let metadata = match &update.metadata {
            Some(m) => m.as_ref().map(|v| v.to_string()),
            None => cur.metadata.clone(),
        };
        // A slug Better Auth gave that is not a host label stays as it is
        // unless it changes; a new one must be a label.
        let checked_slug = if slug == cur.slug && !is_valid_dns_label(&slug) {
            "unchanged"
        } else {
            slug.as_str()
        };
        validate_org_fields(&name, checked_slug, logo.as_deref(), metadata.as_deref())?;
        let renamed = slug != cur.slug || name != cur.name;
        // The tenant's label follows a new slug; with the slug unchanged it
        // stays what it is (an adopted organization's label may differ from
        // its slug), and only the name follows.
        let current = match self.registry.tenant(*org).await {
            Ok(t) => Some(t),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        let label = match &current {
            Some(t) if slug == cur.slug => Some(t.slug.clone()),
            _ => is_valid_dns_label(&slug).then(|| slug.clone()),
        };
        let mut registry_renamed = false;
        if let (true, Some(label)) = (renamed, &label) {
            let reg_name = crate::adopt::tenant_name(&name, &slug);
            match self.registry.rename_tenant(*org, label, &reg_name).await {
                Ok(()) => registry_renamed = true,
                Err(e) if e.is_already_exists() => return Err(slug_taken()),
                Err(e) if e.is_not_found() => {
                    if self.registry.is_tenant_deleted(*org).await? {
                        return Err(AuthError::OrganizationNotFound);
                    }
                    // A tenant not made yet (an organization Better Auth
                    // created): reconcile gives it the new slug.
                }
                Err(neutrino_core::Error::InvalidInput { reason, .. }) => {
                    return Err(AuthError::validation("organization", reason));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (guard, guard_params) = Self::standing_guard(actor, s.member.as_ref(), 6);
        let mut params = vec![
            Value::from(org.as_str()),
            Value::from(name.as_str()),
            Value::from(slug.as_str()),
            logo.clone().into(),
            metadata.clone().into(),
        ];
        params.extend(guard_params);
        let write = Statement::with_params(
            format!(
                r#"UPDATE "organization" SET "name" = ?2, "slug" = ?3, "logo" = ?4, "metadata" = ?5 WHERE "id" = ?1 AND {guard}"#
            ),
            params,
        );
        let entry = audit::insert_where(
            AuditEvent::OrganizationUpdated,
            actor.record(org, Some(format!("slug={slug} (was {})", cur.slug))),
            meta,
            self.callers.now(),
            audit::CHANGED,
            Vec::new(),
        )?;
        let out = self.callers.db().write_audited(vec![write], entry).await;
        let failure = match out {
            Ok(o) if o.first().is_some_and(|o| o.rows_affected == 1) => None,
            Ok(_) => Some(if org_row(self.callers.db(), org).await?.is_none() {
                AuthError::OrganizationNotFound
            } else {
                AuthError::NotAllowed {
                    code: "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
                }
            }),
            Err(e) if e.is_already_exists() => Some(slug_taken()),
            Err(e) => Some(e.into()),
        };
        if let Some(e) = failure {
            if registry_renamed {
                // Undo the registry's half; should this fail too, reconcile
                // makes the tenant follow the organization again.
                if let Some(t) = &current {
                    let _ = self.registry.rename_tenant(*org, &t.slug, &t.name).await;
                }
            }
            return Err(e);
        }
        Ok(Organization {
            name,
            slug,
            logo,
            metadata,
            ..cur
        })
    }

    /// [`crate::org::Organizations::delete_organization`].
    pub(crate) async fn delete_organization(
        &self,
        actor: &Actor,
        org: &TenantId,
        meta: &RequestMeta,
    ) -> Result<Organization> {
        let s = self.members.standing(actor, org).await?;
        if !self.members.can(&s, "organization", "delete") {
            return Err(AuthError::NotAllowed {
                code: "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
            });
        }
        let found = org_row(self.callers.db(), org)
            .await?
            .ok_or(AuthError::OrganizationNotFound)?;
        // Step 1: the tenant (see the module documentation).
        self.delete_tenant(org, &format!("user {}", actor.user_id))
            .await?;
        // Step 2: the organization and everything of it.
        self.finish_delete(org, Some(actor), meta).await?;
        Ok(found)
    }

    /// Deletes the registry tenant of `org`; an organization that never had
    /// one (made by Better Auth, not adopted yet) has nothing to delete.
    async fn delete_tenant(&self, org: &TenantId, actor: &str) -> Result<()> {
        match self
            .registry
            .delete_tenant(*org, actor, "organization deleted")
            .await
        {
            Ok(()) => Ok(()),
            Err(neutrino_core::Error::InvalidInput { .. }) => Err(AuthError::validation(
                "organization",
                "has sub-organizations: delete them first",
            )),
            Err(e) if e.is_not_found() => {
                // An unknown tenant (the platform is active: checked first).
                self.callers.ensure_writable().await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Step 2 of a deletion, idempotent: the organization, its members, its
    /// invitations and their secrets, its own API keys and its place as any
    /// session's active organization go in one batch, audited if the
    /// organization row was there.
    async fn finish_delete(
        &self,
        org: &TenantId,
        actor: Option<&Actor>,
        meta: &RequestMeta,
    ) -> Result<()> {
        let id = org.as_str();
        let writes = vec![
            Statement::new(format!(
                r#"DELETE FROM "verification" WHERE "identifier" LIKE '{}%' AND "value" IN (SELECT "id" FROM "invitation" WHERE "organizationId" = ?1)"#,
                invitation::TOKEN_PREFIX
            ))
            .bind(id),
            Statement::new(r#"DELETE FROM "invitation" WHERE "organizationId" = ?1"#).bind(id),
            Statement::new(r#"DELETE FROM "member" WHERE "organizationId" = ?1"#).bind(id),
            Statement::new(r#"DELETE FROM "apikey" WHERE "configId" = ?1 AND "referenceId" = ?2"#)
                .bind(apikey::ORGANIZATION_CONFIG_ID)
                .bind(id),
            Statement::new(
                r#"UPDATE "session" SET "activeOrganizationId" = NULL WHERE "activeOrganizationId" = ?1"#,
            )
            .bind(id),
            Statement::new(r#"DELETE FROM "neutrinoPendingOrganization" WHERE "id" = ?1"#).bind(id),
            Statement::new(r#"DELETE FROM "organization" WHERE "id" = ?1"#).bind(id),
        ];
        let record = match actor {
            Some(a) => a.record(org, None),
            None => AuditRecord {
                detail: Some("reconciled".to_owned()),
                organization_id: Some(id),
                ..AuditRecord::default()
            },
        };
        let entry = audit::insert_where(
            AuditEvent::OrganizationDeleted,
            record,
            meta,
            self.callers.now(),
            audit::CHANGED,
            Vec::new(),
        )?;
        self.callers.db().write_audited(writes, entry).await?;
        // Cached sessions carry their `activeOrganizationId`: those showing
        // this organization go at once (a read that raced the deletion is
        // not cached after it).
        self.callers.auth().evict_organization(id);
        Ok(())
    }

    /// [`crate::org::Organizations::get_full_organization`].
    pub(crate) async fn get_full_organization(
        &self,
        token: &str,
        org: Option<&TenantId>,
    ) -> Result<Option<FullOrganization>> {
        let actor = self.callers.actor(token).await?;
        let id = match org {
            Some(o) => *o,
            None => match actor.active.as_deref() {
                None => return Ok(None),
                Some(a) => a.parse().map_err(|_| AuthError::OrganizationNotFound)?,
            },
        };
        let s = self.members.standing(&actor, &id).await?;
        let organization = org_row(self.callers.db(), &id)
            .await?
            .ok_or(AuthError::OrganizationNotFound)?;
        let rows = self
            .callers
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {}, u."name", u."email", u."image" FROM "member" m JOIN "user" u ON u."id" = m."userId" WHERE m."organizationId" = ?1 ORDER BY m."createdAt", m."id" LIMIT ?2"#,
                    MEMBER_COLUMNS
                        .split(", ")
                        .map(|c| format!("m.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .bind(id.as_str())
                .bind(FULL_MEMBERS_LIMIT),
            )
            .await?;
        let members = rows
            .iter()
            .map(|r| {
                let member = crate::member::member_from_row(r)?;
                Ok(MemberWithUser {
                    user: MemberUser {
                        id: member.user_id,
                        name: r.get(5)?,
                        email: r.get(6)?,
                        image: r.get(7)?,
                    },
                    member,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let invitations = if self.members.can(&s, "invitation", "create") {
            let owner = s.is_owner();
            let rows = self
                .callers
                .db()
                .query(
                    &Statement::new(format!(
                        r#"SELECT {} FROM "invitation" WHERE "organizationId" = ?1 ORDER BY "createdAt" DESC, "id""#,
                        invitation::COLUMNS
                    ))
                    .bind(id.as_str()),
                )
                .await?;
            rows.iter()
                .map(invitation::from_row)
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .filter(|i| owner || !access::has_role(&i.role, access::OWNER))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Some(FullOrganization {
            organization,
            members,
            invitations,
        }))
    }

    /// The lifecycle half of `reconcile`: finishes deletions whose registry
    /// half is done, deletes the tenants of organizations deleted from the
    /// auth database alone (by Better Auth), and makes each live tenant's
    /// slug and name follow its organization's.
    pub(crate) async fn reconcile(&self) -> Result<LifecycleReport> {
        let mut report = LifecycleReport::default();
        let meta = RequestMeta::default();
        let orgs: Vec<Organization> = self
            .callers
            .db()
            .query(&Statement::new(format!(
                r#"SELECT {ORG_COLUMNS} FROM "organization""#
            )))
            .await?
            .iter()
            .map(org_from_row)
            .filter_map(Result::ok)
            .collect();
        let org_ids: HashSet<TenantId> = orgs.iter().map(|o| o.id).collect();
        // 1. Tenants deleted, organizations still there.
        for id in self.registry.deleted_tenants().await? {
            if org_ids.contains(&id) {
                match self.finish_delete(&id, None, &meta).await {
                    Ok(()) => report.deleted += 1,
                    Err(e) => report.failed.push((id.to_string(), e)),
                }
            }
        }
        // 2. Organizations deleted, tenants still there: only tenants this
        // auth database made organizations of (a tenant made in the registry
        // alone is not an organization).
        let made: Vec<String> = self
            .callers
            .db()
            .query(
                &Statement::new(
                    r#"SELECT DISTINCT "organizationId" FROM "neutrinoAuditLog" WHERE "event" = ?1 AND "organizationId" IS NOT NULL AND "organizationId" NOT IN (SELECT "id" FROM "organization") AND "organizationId" NOT IN (SELECT "id" FROM "neutrinoPendingOrganization")"#,
                )
                .bind(AuditEvent::OrganizationCreated.as_str()),
            )
            .await?
            .iter()
            .filter_map(|r| r.get::<String>(0).ok())
            .collect();
        if !made.is_empty() {
            let live = tenant_ids(&self.registry).await?;
            for id in made.iter().filter_map(|m| m.parse::<TenantId>().ok()) {
                if live.contains(&id) {
                    match self.delete_tenant(&id, RECONCILE_ACTOR).await {
                        Ok(()) => report.deleted += 1,
                        Err(e) => report.failed.push((id.to_string(), e)),
                    }
                }
            }
        }
        // 3. Names: the tenant follows its organization.
        let tenants = self.registry.tenants().await?;
        for t in tenants {
            let Some(o) = orgs.iter().find(|o| o.id == t.id) else {
                continue;
            };
            // The registry's name is the organization's as the registry
            // takes it; its slug (the host label) follows a slug that is a
            // label, unless that label is another tenant's: an organization
            // adopted under a suffixed label keeps it.
            let name = crate::adopt::tenant_name(&o.name, &o.slug);
            let slug = if is_valid_dns_label(&o.slug) {
                o.slug.as_str()
            } else {
                t.slug.as_str()
            };
            if slug == t.slug && name == t.name {
                continue;
            }
            match self.registry.rename_tenant(t.id, slug, &name).await {
                Ok(()) => report.renamed += 1,
                Err(e) if e.is_already_exists() && slug != t.slug => {
                    if name != t.name {
                        match self.registry.rename_tenant(t.id, &t.slug, &name).await {
                            Ok(()) => report.renamed += 1,
                            Err(e) => report.failed.push((t.id.to_string(), e.into())),
                        }
                    }
                }
                Err(e) => report.failed.push((t.id.to_string(), e.into())),
            }
        }
        Ok(report)
    }
}

fn slug_taken() -> AuthError {
    AuthError::NotAllowed {
        code: "ORGANIZATION_SLUG_ALREADY_TAKEN",
    }
}
