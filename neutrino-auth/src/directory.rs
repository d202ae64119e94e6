//! Organizations as registry tenants: [`Directory`] creates an organization
//! and its tenant (the saga described in [`crate::org`]), finishes
//! interrupted creations ([`Directory::reconcile`]), and reads organizations
//! and their audit log. It reaches the registry only through the platform's
//! [`PlatformRegistry`] view, so it cannot name another platform's tenants.

use std::time::SystemTime;

use neutrino_core::ids::{TenantId, UserId};
use neutrino_core::naming::rules::is_valid_dns_label;
use neutrino_core::sql::{Row, SqlExecutor, Statement, Value};
use neutrino_tenancy::{NewTenant, PlatformRegistry};

use crate::access::OWNER;
use crate::audit::{self, AuditEntry, AuditEvent, AuditRecord, WriteAudited};
use crate::caller::{Actor, Callers};
use crate::date;
use crate::error::{AuthError, Result};
use crate::member::{MEMBER_COLUMNS, Members};
use crate::model::RequestMeta;
use crate::random::random_id;
use crate::{MAX_IMAGE_LEN, MAX_NAME_LEN};

/// Longest accepted organization metadata (JSON text), in bytes.
pub const MAX_METADATA_LEN: usize = 16 * 1024;

/// What [`crate::org::Organizations::create_organization`] takes.
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
    /// Slug: the registry tenant's label for an organization created here;
    /// one Better Auth created keeps its slug, and its tenant has a label
    /// made from it ([`neutrino_core::naming::tenant_host_labels`]).
    pub slug: String,
    /// Logo URL.
    pub logo: Option<String>,
    /// Metadata as JSON text.
    pub metadata: Option<String>,
    /// When it was created.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
}

/// What [`crate::org::Organizations::reconcile`] did.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Pending creations finished.
    pub completed: usize,
    /// Pending creations dropped because the registry refuses them for good
    /// (their slug was taken meanwhile, the parent is gone, or the tenant
    /// would be nested too deep).
    pub abandoned: usize,
    /// Organizations Better Auth created (rows with no registry tenant) that
    /// this run made tenants, with the same ID.
    pub adopted: usize,
    /// Pending creations, deletions or renamings that could not be finished
    /// this time (left for the next run), and organizations that could not be
    /// adopted (an ID that is not a tenant ID, every host label taken, a
    /// backend error), with why.
    pub failed: Vec<ReconcileFailure>,
    /// Organization deletions finished: the organization of a deleted tenant
    /// deleted, or the tenant of a deleted organization.
    pub deleted: usize,
    /// Registry tenants whose slug and name were made their organization's.
    pub renamed: usize,
}

/// A pending organization creation [`crate::org::Organizations::reconcile`] could not
/// finish, or an organization it could not adopt.
#[derive(Debug)]
pub struct ReconcileFailure {
    /// The organization's ID, as stored.
    pub id: String,
    /// Why it could not be finished.
    pub error: AuthError,
}

/// What became of one pending creation.
enum Reconciled {
    Completed,
    Abandoned,
}

pub(crate) const ORG_COLUMNS: &str = r#""id", "name", "slug", "logo", "createdAt", "metadata""#;

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

/// Refuses an organization's name, slug, logo or metadata (JSON text) that
/// Better Auth would not store.
pub(crate) fn validate_org_fields(
    name: &str,
    slug: &str,
    logo: Option<&str>,
    metadata: Option<&str>,
) -> Result<()> {
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
    if metadata.is_some_and(|m| m.len() > MAX_METADATA_LEN) {
        return Err(AuthError::validation(
            "metadata",
            format!("must be at most {MAX_METADATA_LEN} bytes of JSON"),
        ));
    }
    Ok(())
}

/// The organizations of one platform, as rows of its auth database and
/// tenants of its registry view.
#[derive(Clone)]
pub(crate) struct Directory {
    callers: Callers,
    members: Members,
    registry: PlatformRegistry,
}

/// The organization with this ID in `db`, if any.
pub(crate) async fn org_row(db: &dyn SqlExecutor, org: &TenantId) -> Result<Option<Organization>> {
    let row = db
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

impl Directory {
    pub(crate) fn new(callers: Callers, members: Members, registry: PlatformRegistry) -> Self {
        Self {
            callers,
            members,
            registry,
        }
    }

    /// [`crate::org::Organizations::check_slug`].
    pub(crate) async fn check_slug(&self, slug: &str) -> Result<()> {
        if self.slug_taken(slug).await? {
            return Err(AuthError::NotAllowed {
                code: "ORGANIZATION_SLUG_ALREADY_TAKEN",
            });
        }
        Ok(())
    }

    async fn slug_taken(&self, slug: &str) -> Result<bool> {
        let rows = self.callers.db()
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
        match self.registry.tenant_by_slug(slug).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// [`crate::org::Organizations::create_organization`].
    pub(crate) async fn create_organization(
        &self,
        actor: &Actor,
        new: NewOrganization,
        meta: &RequestMeta,
    ) -> Result<Organization> {
        let name = new.name.trim().to_owned();
        let metadata = new.metadata.as_ref().map(|m| m.to_string());
        validate_org_fields(&name, &new.slug, new.logo.as_deref(), metadata.as_deref())?;
        if let Some(parent) = &new.parent {
            let s = self.members.standing(actor, parent).await?;
            if !self.members.can(&s, "organization", "update") {
                return Err(AuthError::NotAllowed {
                    code: "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION",
                });
            }
        }
        if self.slug_taken(&new.slug).await? {
            return Err(AuthError::OrganizationAlreadyExists);
        }
        let id = TenantId::generate();
        let now = self.callers.now();
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
        match self.callers.db().execute(&pending).await {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => return Err(AuthError::OrganizationAlreadyExists),
            Err(e) => return Err(e.into()),
        }
        // Step 2: the registry tenant.
        let mut tenant = NewTenant::new(new.slug.as_str(), name.as_str()).with_id(id);
        if let Some(p) = new.parent {
            tenant = tenant.with_parent(p);
        }
        if let Err(e) = self.registry.create_tenant(tenant).await {
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
        let mut writes = self.finish_statements(&org, &actor.user_id, &stamp, meta)?;
        if !new.keep_current_active {
            writes.push(
                Statement::new(
                    r#"UPDATE "session" SET "activeOrganizationId" = ?1, "updatedAt" = ?2 WHERE "token" = ?3"#,
                )
                .bind(id.as_str())
                .bind(stamp.as_str())
                .bind(actor.token.as_str()),
            );
        }
        let entry = audit::insert(
            AuditEvent::OrganizationCreated,
            actor.record(&id, Some(format!("slug={}", org.slug))),
            meta,
            now,
        )?;
        self.callers.db().write_audited(writes, entry).await?;
        if !new.keep_current_active {
            // Cached sessions carry their `activeOrganizationId`.
            self.callers.auth().evict_user(actor.user_id.as_str());
        }
        Ok(org)
    }

    async fn drop_pending(&self, id: &TenantId) -> Result<()> {
        self.callers
            .db()
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
                self.callers.now(),
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

    /// [`crate::org::Organizations::reconcile`].
    pub(crate) async fn reconcile(&self) -> Result<ReconcileReport> {
        self.callers.ensure_writable().await?;
        let rows = self.callers.db()
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
        crate::adopt::Adopter::new(self.callers.clone(), self.registry.clone())
            .adopt_all(&mut report)
            .await?;
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
        match self.registry.tenant(id).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                let mut t = NewTenant::new(org.slug.as_str(), org.name.as_str()).with_id(id);
                if let Some(p) = parent {
                    t = t.with_parent(p);
                }
                if let Err(e) = self.registry.create_tenant(t).await {
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
        let writes = self.finish_statements(&org, &creator, &stamp, &meta)?;
        let entry = audit::insert(
            AuditEvent::OrganizationCreated,
            AuditRecord {
                user_id: Some(creator.as_str()),
                detail: Some(format!("slug={} (reconciled)", org.slug)),
                organization_id: Some(id.as_str()),
                ..AuditRecord::default()
            },
            &meta,
            self.callers.now(),
        )?;
        self.callers.db().write_audited(writes, entry).await?;
        Ok(Reconciled::Completed)
    }

    /// [`crate::org::Organizations::organization`].
    pub(crate) async fn organization(&self, token: &str, org: &TenantId) -> Result<Organization> {
        let actor = self.callers.actor(token).await?;
        self.members.standing(&actor, org).await?;
        org_row(self.callers.db(), org)
            .await?
            .ok_or(AuthError::OrganizationNotFound)
    }

    /// [`crate::org::Organizations::list_organizations`].
    pub(crate) async fn list_organizations(&self, token: &str) -> Result<Vec<Organization>> {
        let actor = self.callers.actor(token).await?;
        let rows = self.callers.db()
            .query(
                &Statement::new(
                    r#"SELECT o."id", o."name", o."slug", o."logo", o."createdAt", o."metadata" FROM "organization" o JOIN "member" m ON m."organizationId" = o."id" WHERE m."userId" = ?1 ORDER BY o."name", o."id""#,
                )
                .bind(actor.user_id.as_str()),
            )
            .await?;
        rows.iter().map(org_from_row).collect()
    }

    /// [`crate::org::Organizations::tenant_audit_log`].
    pub(crate) async fn tenant_audit_log(
        &self,
        org: &TenantId,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let rows = self
            .callers
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
