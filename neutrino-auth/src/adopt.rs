//! Adoption: organizations that Better Auth created on the shared auth
//! database (its `organization` rows, with no registry tenant) become
//! registry tenants with the same ID.
//!
//! [`Adopter::adopt_all`] runs in [`crate::org::Organizations::reconcile`];
//! [`Adopter::adopt`] runs on first use, when a scope is minted for an
//! organization the caller stands in (`set_active`, `scope()`, a tenant API
//! key) and its tenant is missing. Both are idempotent and safe when several
//! processes adopt at once: the registry's primary key (one tenant per ID)
//! and its unique label per platform decide, in the write that creates the
//! tenant.
//!
//! The tenant's label (its registry slug, which names its default host) is
//! the first of [`tenant_host_labels`] the registry accepts: the
//! organization's slug itself when it is a DNS label and free, otherwise the
//! slug mapped to a label with a suffix derived from the organization's ID.
//! The organization row is never written: Better Auth keeps reading its slug
//! unchanged. A row whose ID is another platform's tenant (a forged or copied
//! row) is never adopted: a tenant ID names one tenant in the registry.

use std::collections::HashSet;

use neutrino_core::Error;
use neutrino_core::ids::TenantId;
use neutrino_core::naming::tenant_host_labels;
use neutrino_core::sql::{Row, Statement};
use neutrino_tenancy::{NewTenant, PlatformRegistry};

use crate::audit::{self, AuditEvent, AuditRecord};
use crate::caller::Callers;
use crate::directory::{ReconcileFailure, ReconcileReport};
use crate::error::{AuthError, Result};
use crate::model::RequestMeta;

/// Longest tenant name the registry takes, in bytes.
const MAX_TENANT_NAME_LEN: usize = 200;

/// What became of one organization without a tenant.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Adoption {
    /// This call created its tenant, with this label.
    Adopted(String),
    /// Its tenant exists (another process adopted it meanwhile).
    AlreadyThere,
}

/// Makes registry tenants of the platform's organizations that have none.
#[derive(Clone)]
pub(crate) struct Adopter {
    callers: Callers,
    registry: PlatformRegistry,
}

/// The IDs of the platform's live tenants.
pub(crate) async fn tenant_ids(registry: &PlatformRegistry) -> Result<HashSet<TenantId>> {
    Ok(registry
        .tenants()
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect())
}

impl Adopter {
    pub(crate) fn new(callers: Callers, registry: PlatformRegistry) -> Self {
        Self { callers, registry }
    }

    /// Adopts every organization of the auth database that has no tenant of
    /// the platform, counting them in `report`: an organization that cannot
    /// be adopted (an ID that is not a tenant ID, or is another platform's
    /// tenant, every label taken, a backend error) goes to
    /// [`ReconcileReport::failed`] with its row's ID, and the others go on.
    pub(crate) async fn adopt_all(&self, report: &mut ReconcileReport) -> Result<()> {
        let rows = self
            .callers
            .db()
            .query(&Statement::new(
                r#"SELECT "id", "slug", "name" FROM "organization" ORDER BY "createdAt", "id""#,
            ))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let tenants = tenant_ids(&self.registry).await?;
        for r in rows {
            let raw: String = match r.get(0) {
                Ok(id) => id,
                Err(e) => {
                    report.failed.push(ReconcileFailure {
                        id: String::new(),
                        error: e.into(),
                    });
                    continue;
                }
            };
            if raw.parse().is_ok_and(|id: TenantId| tenants.contains(&id)) {
                continue;
            }
            match self.adopt_row(&raw, &r).await {
                Ok(Adoption::Adopted(_)) => report.adopted += 1,
                Ok(Adoption::AlreadyThere) => {}
                Err(error) => report.failed.push(ReconcileFailure { id: raw, error }),
            }
        }
        Ok(())
    }

    /// Adopts the organization `org` if it has a row and no tenant: `None`
    /// when there is no such organization.
    pub(crate) async fn adopt(&self, org: &TenantId) -> Result<Option<Adoption>> {
        let row = self
            .callers
            .row(
                Statement::new(
                    r#"SELECT "id", "slug", "name" FROM "organization" WHERE "id" = ?1"#,
                )
                .bind(org.as_str()),
            )
            .await?;
        match row {
            Some(r) => Ok(Some(self.adopt_row(org.as_str(), &r).await?)),
            None => Ok(None),
        }
    }

    /// Creates the tenant of the organization row `r` (`"id", "slug",
    /// "name"`) whose ID is `raw`, under the first label the registry takes.
    async fn adopt_row(&self, raw: &str, r: &Row) -> Result<Adoption> {
        let id: TenantId = raw.parse().map_err(|e: Error| {
            AuthError::Store(Error::Decode {
                what: "organization.id".to_owned(),
                reason: format!("cannot be a tenant id: {e}"),
            })
        })?;
        let slug: String = r.get(1)?;
        let name: String = r.get(2)?;
        let name = tenant_name(&name, &slug);
        for label in tenant_host_labels(&slug, &id) {
            match self
                .registry
                .create_tenant(NewTenant::new(label.as_str(), name.as_str()).with_id(id))
                .await
            {
                Ok(_) => {
                    self.record(&id, &slug, &label).await?;
                    return Ok(Adoption::Adopted(label));
                }
                // The ID is another platform's tenant: the row claims a tenant
                // that is not this platform's, and is never adopted here.
                Err(
                    e @ Error::AlreadyExists {
                        entity: "tenant", ..
                    },
                ) => return Err(e.into()),
                // The ID or the label is taken: which one, the registry says.
                Err(e) if e.is_already_exists() => match self.registry.tenant(id).await {
                    Ok(_) => return Ok(Adoption::AlreadyThere),
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(AuthError::Store(Error::AlreadyExists {
            entity: "tenant host label",
            id: format!("every label for organization {id}"),
        }))
    }

    /// The audit entry of an adoption, in the organization's log.
    async fn record(&self, id: &TenantId, slug: &str, label: &str) -> Result<()> {
        let entry = audit::insert(
            AuditEvent::OrganizationCreated,
            AuditRecord {
                detail: Some(format!(
                    "adopted: slug={} label={label}",
                    slug.chars().take(100).collect::<String>()
                )),
                organization_id: Some(id.as_str()),
                ..AuditRecord::default()
            },
            &RequestMeta::default(),
            self.callers.now(),
        )?;
        self.callers.db().execute(&entry).await?;
        Ok(())
    }
}

/// The registry name of an organization named `name`: its control
/// characters made spaces, cut to the registry's limit; the slug (or
/// `organization`) when nothing is left.
pub(crate) fn tenant_name(name: &str, slug: &str) -> String {
    let clean = |s: &str| -> String {
        let mut out = String::new();
        for c in s.chars() {
            let c = if c.is_control() { ' ' } else { c };
            if out.len() + c.len_utf8() > MAX_TENANT_NAME_LEN {
                break;
            }
            out.push(c);
        }
        out.trim().to_owned()
    };
    [clean(name), clean(slug)]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| "organization".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_fit_the_registry() {
        assert_eq!(tenant_name("Initech Labs", "x"), "Initech Labs");
        assert_eq!(tenant_name(" \t\n", "Initech_Labs"), "Initech_Labs");
        assert_eq!(tenant_name("", ""), "organization");
        assert_eq!(tenant_name("a\u{0}b", ""), "a b");
        let long = "é".repeat(300);
        let n = tenant_name(&long, "");
        assert!(n.len() <= MAX_TENANT_NAME_LEN && n.chars().all(|c| c == 'é'));
    }
}
