//! The end of a tenant's life, and its renaming: [`Registry::delete_tenant`]
//! moves a tenant to the tombstones, [`Registry::rename_tenant`] changes its
//! slug (and default host) and name.
//!
//! A deleted tenant leaves `neutrino_tenant` (with its hosts and features) in
//! one atomic batch that records it in `neutrino_tenant_tombstone`: from then
//! on every registry query treats it as unknown, no scope is minted for it, its
//! hosts resolve to nothing, and its ID is never given to a tenant again (the
//! tombstone keeps it). A [`crate::TenantStore`] call with a scope minted
//! before the deletion is refused ([`Error::NotFound`]): at once in this
//! process, and in other processes once their cached answer is older than the
//! status TTL (60 s by default), the same window as a suspension. The
//! tenant's rows in a store stay where they are, unreachable, until
//! [`crate::TenantStore::purge_deleted_tenant`] removes them.

use std::sync::atomic::Ordering;

use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::sql::Statement;
use neutrino_core::{Error, Result};

use crate::model::{HostKind, HostStatus, parse};
use crate::registry::{Registry, active_platform, validate_slug, validate_text};

impl Registry {
    /// Deletes a tenant of `platform`, recording `actor` and `reason` in the
    /// platform's audit log: the tenant, its hosts and its features go, and a
    /// tombstone keeps its ID (never reused) and slug (freed for others).
    ///
    /// Idempotent: deleting a deleted tenant is `Ok`. Errors: an unknown
    /// tenant ([`Error::NotFound`]); a tenant with live sub-tenants
    /// ([`Error::InvalidInput`]: delete them first, the database decides
    /// inside the write); a suspended platform ([`Error::Suspended`]).
    pub async fn delete_tenant(
        &self,
        platform: PlatformId,
        id: TenantId,
        actor: &str,
        reason: &str,
    ) -> Result<()> {
        validate_text("actor", actor, 200)?;
        validate_text("reason", reason, 2000)?;
        let now = self.now_ms();
        let tombstoned = r#"EXISTS (SELECT 1 FROM "neutrino_tenant_tombstone" WHERE "platform_id" = ?1 AND "id" = ?2)"#;
        let batch = vec![
            Statement::new(format!(
                r#"INSERT INTO "neutrino_tenant_tombstone" ("platform_id", "id", "slug", "deleted_at")
                   SELECT "platform_id", "id", "slug", ?3 FROM "neutrino_tenant" t
                   WHERE t."platform_id" = ?1 AND t."id" = ?2 AND {}
                     AND NOT EXISTS (SELECT 1 FROM "neutrino_tenant" c WHERE c."platform_id" = ?1 AND c."parent_id" = ?2)"#,
                active_platform(1)
            ))
            .bind(platform.as_str())
            .bind(id.as_str())
            .bind(now),
            Statement::new(format!(
                r#"DELETE FROM "neutrino_host" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND {tombstoned}"#
            ))
            .bind(platform.as_str())
            .bind(id.as_str()),
            Statement::new(format!(
                r#"DELETE FROM "neutrino_feature" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND {tombstoned}"#
            ))
            .bind(platform.as_str())
            .bind(id.as_str()),
            Statement::new(format!(
                r#"DELETE FROM "neutrino_tenant" WHERE "platform_id" = ?1 AND "id" = ?2 AND {tombstoned}"#
            ))
            .bind(platform.as_str())
            .bind(id.as_str()),
            Statement::new(format!(
                r#"INSERT INTO "neutrino_audit_log" ("at", "platform_id", "tenant_id", "actor", "action", "reason")
                   SELECT ?3, ?1, ?2, ?4, 'tenant_deleted', ?5 WHERE {tombstoned}
                     AND NOT EXISTS (SELECT 1 FROM "neutrino_tenant" WHERE "platform_id" = ?1 AND "id" = ?2)"#
            ))
            .bind(platform.as_str())
            .bind(id.as_str())
            .bind(now)
            .bind(actor)
            .bind(reason),
        ];
        let out = self.db().batch(&batch).await?;
        self.forget_tenant(platform, id);
        if out.first().is_some_and(|o| o.rows_affected == 1) {
            return Ok(());
        }
        if self.is_tenant_deleted(platform, id).await? {
            return Ok(());
        }
        match self.tenant(platform, id).await {
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        let refused = Error::invalid(
            "tenant",
            format!("tenant {id} has sub-tenants: delete them first"),
        );
        Err(self.refusal(platform, refused).await)
    }

    /// Drops `id` from this process's set of known tenants, so that the next
    /// scope check of it reads the registry.
    fn forget_tenant(&self, platform: PlatformId, id: TenantId) {
        let shared = &self.inner.shared;
        let mut set = shared
            .known_tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shared.tenant_epoch.fetch_add(1, Ordering::SeqCst);
        set.remove(&(platform, id));
        drop(set);
        shared.hosts.clear();
    }

    /// Whether `id` is a deleted tenant of `platform` (it has a tombstone).
    pub async fn is_tenant_deleted(&self, platform: PlatformId, id: TenantId) -> Result<bool> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT 1 FROM "neutrino_tenant_tombstone" WHERE "platform_id" = ?1 AND "id" = ?2"#,
                )
                .bind(platform.as_str())
                .bind(id.as_str()),
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// The deleted tenants of `platform`, oldest deletion first.
    pub async fn deleted_tenants(&self, platform: PlatformId) -> Result<Vec<TenantId>> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT "id" FROM "neutrino_tenant_tombstone" WHERE "platform_id" = ?1 ORDER BY "deleted_at", "id""#,
                )
                .bind(platform.as_str()),
            )
            .await?;
        rows.iter().map(|r| parse(r, "id")).collect()
    }

    /// Sets a live tenant's slug and name; its default host (under the
    /// platform's app domain, if it has one) follows the slug, in the same
    /// atomic batch. Errors: an unknown or deleted tenant ([`Error::NotFound`]),
    /// a slug another tenant holds or a host another tenant claimed
    /// ([`Error::AlreadyExists`], decided by the unique indexes), an invalid
    /// slug or name ([`Error::InvalidInput`]), a suspended platform.
    pub async fn rename_tenant(
        &self,
        platform: PlatformId,
        id: TenantId,
        slug: &str,
        name: &str,
    ) -> Result<()> {
        validate_slug(slug)?;
        validate_text("tenant name", name, 200)?;
        let p = self.platform_record(platform).await?;
        let now = self.now_ms();
        let mut batch = vec![
            Statement::new(format!(
                r#"UPDATE "neutrino_tenant" SET "slug" = ?3, "name" = ?4, "updated_at" = ?5
                   WHERE "platform_id" = ?1 AND "id" = ?2 AND {}"#,
                active_platform(1)
            ))
            .bind(platform.as_str())
            .bind(id.as_str())
            .bind(slug)
            .bind(name)
            .bind(now),
        ];
        if let Some(domain) = &p.app_domain {
            let host = format!("{slug}.{domain}");
            batch.push(
                Statement::new(
                    r#"DELETE FROM "neutrino_host" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "kind" = 'default' AND "host" <> ?3"#,
                )
                .bind(platform.as_str())
                .bind(id.as_str())
                .bind(host.as_str()),
            );
            batch.push(
                Statement::new(format!(
                    r#"INSERT INTO "neutrino_host" ("host", "platform_id", "tenant_id", "kind", "status", "verification_token", "created_at", "updated_at")
                       SELECT ?1, ?2, ?3, ?4, ?5, NULL, ?6, ?6 WHERE {}
                         AND EXISTS (SELECT 1 FROM "neutrino_tenant" WHERE "platform_id" = ?2 AND "id" = ?3)
                         AND NOT EXISTS (SELECT 1 FROM "neutrino_host" WHERE "platform_id" = ?2 AND "tenant_id" = ?3 AND "kind" = 'default' AND "host" = ?1)"#,
                    active_platform(2)
                ))
                .bind(host.as_str())
                .bind(platform.as_str())
                .bind(id.as_str())
                .bind(HostKind::Default.as_str())
                .bind(HostStatus::Active.as_str())
                .bind(now),
            );
        }
        let out = self.db().batch(&batch).await?;
        self.inner.shared.hosts.clear();
        if out.first().is_none_or(|o| o.rows_affected == 0) {
            self.tenant(platform, id).await?;
            return Err(self
                .refusal(platform, Error::not_found("tenant", id.as_str()))
                .await);
        }
        Ok(())
    }
}
