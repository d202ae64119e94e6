//! Host resolution: a request's host to exactly one (platform, tenant), or to
//! nothing.
//!
//! A tenant has a default host `{slug}.{app domain}` (made with the tenant when
//! its platform has an app domain) and may claim custom domains, which go
//! `pending → verified → active`, and may be `removed` from any state. Only
//! `active` hosts resolve. A host claimed by one tenant (in any state but
//! `removed`) cannot be claimed by another.
//!
//! Hosts are normalised before they are stored or looked up: ASCII lowercase,
//! one trailing dot removed, a `:port` suffix removed; what remains must be a DNS
//! name of at least two labels of `a-z0-9-` (internationalised names in their
//! punycode form). IP literals are refused.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::naming::rules;
use neutrino_core::sql::{Row, SqlExecutorExt, Statement};
use neutrino_core::{Error, Result};

use crate::Registry;
use crate::model::{HostKind, HostRecord, HostStatus, parse};
use crate::registry::active_platform;

/// Normalises a request host (see the module docs), or says why it is not one.
///
/// ```
/// use neutrino::tenancy::normalize_host;
/// assert_eq!(normalize_host("App.Acme.com.:8443").unwrap(), "app.acme.com");
/// assert!(normalize_host("127.0.0.1").is_err());
/// assert!(normalize_host("[::1]:80").is_err());
/// ```
pub fn normalize_host(host: &str) -> Result<String> {
    let bad = |reason: &str| {
        Error::invalid(
            "host",
            format!(
                "{reason}, got {:?}",
                host.chars().take(80).collect::<String>()
            ),
        )
    };
    if host.len() > 300 {
        return Err(bad("must be at most 253 characters"));
    }
    let mut h = host.trim();
    if h.starts_with('[') {
        return Err(bad("IP literals are not tenant hosts"));
    }
    if let Some((name, port)) = h.rsplit_once(':') {
        if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
            return Err(bad("a port must be a number from 0 to 65535"));
        }
        h = name;
    }
    let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
    if h.len() > 253 {
        return Err(bad("must be at most 253 characters"));
    }
    let labels: Vec<&str> = h.split('.').collect();
    if labels.len() < 2 || !labels.iter().all(|l| rules::is_valid_dns_label(l)) {
        return Err(bad("must be a DNS name of at least two labels of a-z0-9-"));
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("IP literals are not tenant hosts"));
    }
    Ok(h)
}

/// Whether normalised `host` is `domain` or under it, at a label boundary.
fn under(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

type Target = Option<(PlatformId, TenantId)>;

/// This process's cache of resolved hosts (including misses), bounded and
/// time-limited; cleared whenever this process changes a host.
pub(crate) struct HostCache {
    map: RwLock<HashMap<String, (Target, SystemTime)>>,
}

impl HostCache {
    pub(crate) fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, host: &str, now: SystemTime, ttl: Duration) -> Option<Target> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let (target, at) = map.get(host)?;
        (now.duration_since(*at).unwrap_or(Duration::MAX) < ttl).then_some(*target)
    }

    fn put(&self, host: String, target: Target, now: SystemTime, ttl: Duration, capacity: usize) {
        if capacity == 0 || ttl.is_zero() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= capacity {
            map.clear();
        }
        map.insert(host, (target, now));
    }

    pub(crate) fn clear(&self) {
        self.map.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn host_of(row: &Row) -> Result<HostRecord> {
    Ok(HostRecord {
        host: row.get("host")?,
        platform: parse(row, "platform_id")?,
        tenant: parse(row, "tenant_id")?,
        kind: parse(row, "kind")?,
        status: parse(row, "status")?,
        verification_token: row.get("verification_token")?,
    })
}

/// The platform and tenant an active host serves.
const RESOLVE: &str = r#"SELECT "platform_id", "tenant_id" FROM "neutrino_host" WHERE "host" = ?1 AND "status" = 'active'"#;

const HOST_COLUMNS: &str =
    r#""host", "platform_id", "tenant_id", "kind", "status", "verification_token""#;

impl Registry {
    /// Refuses a normalised tenant host (`what`: a custom domain, an app
    /// domain) that is the base domain or under it but not under `platform`'s
    /// own `{p}.{base}`: under the base, hosts are platforms' own, and
    /// `.{q}.{base}` is platform Q's cookie domain.
    pub(crate) fn check_under_own(
        &self,
        platform: PlatformId,
        host: &str,
        what: &str,
    ) -> Result<()> {
        let base = self.base_domain().base();
        let own = format!("{platform}.{base}");
        if under(host, base) && !under(host, &own) {
            return Err(Error::invalid(
                "host",
                format!("{what} under the base domain {base} must be under its platform's {own}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn insert_host(
        &self,
        host: &str,
        platform: PlatformId,
        tenant: TenantId,
        kind: HostKind,
        status: HostStatus,
        token: Option<String>,
    ) -> Statement {
        // Only while the platform is active and the tenant exists (in a batch
        // that creates the tenant, only if that insert was not refused): the
        // database decides in the write.
        Statement::new(format!(
            r#"INSERT INTO "neutrino_host" ("host", "platform_id", "tenant_id", "kind", "status", "verification_token", "created_at", "updated_at")
               SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 WHERE {}
                 AND EXISTS (SELECT 1 FROM "neutrino_tenant" WHERE "platform_id" = ?2 AND "id" = ?3)"#,
            active_platform(2)
        ))
        .bind(host)
        .bind(platform.as_str())
        .bind(tenant.as_str())
        .bind(kind.as_str())
        .bind(status.as_str())
        .bind(token)
        .bind(self.now_ms())
    }

    /// Claims a custom domain for a tenant, `pending` until verified. Returns the
    /// record with the verification token the owner must publish. A host that
    /// another tenant (or this one) holds is [`Error::AlreadyExists`]; a host
    /// equal to or under any platform's app domain (where default hosts live),
    /// or equal to or under the registry's base domain but not under this
    /// platform's `{p}.{base}` (another platform's cookie domain, or the
    /// deployment's own), is [`Error::InvalidInput`].
    pub async fn add_custom_domain(
        &self,
        platform: PlatformId,
        tenant: TenantId,
        host: &str,
    ) -> Result<HostRecord> {
        let host = normalize_host(host)?;
        self.check_under_own(platform, &host, "a custom domain")?;
        self.tenant(platform, tenant).await?;
        let token = format!("neutrino-verify={}", TenantId::generate());
        // A host under a platform's app domain (any platform's) is a default
        // host, present or future: a claim there would take another tenant's
        // slug, possibly on another platform. The write decides.
        let insert = self.insert_host(
            &host,
            platform,
            tenant,
            HostKind::Custom,
            HostStatus::Pending,
            Some(token.clone()),
        );
        let insert = insert.params().iter().cloned().fold(
            Statement::new(format!(
                r#"{} AND NOT EXISTS (SELECT 1 FROM "neutrino_platform" WHERE "app_domain" IS NOT NULL
                     AND (?1 = "app_domain" OR substr(?1, length(?1) - length("app_domain")) = '.' || "app_domain"))"#,
                insert.sql()
            )),
            Statement::bind,
        );
        let out = self.db().execute(&insert).await.map_err(|e| match e {
            Error::AlreadyExists { .. } => Error::AlreadyExists {
                entity: "host",
                id: host.clone(),
            },
            other => other,
        })?;
        if out.rows_affected == 0 {
            let under = self
                .db()
                .query(
                    &Statement::new(
                        r#"SELECT 1 FROM "neutrino_platform" WHERE "app_domain" IS NOT NULL
                           AND (?1 = "app_domain" OR substr(?1, length(?1) - length("app_domain")) = '.' || "app_domain")"#,
                    )
                    .bind(host.as_str()),
                )
                .await?;
            if !under.is_empty() {
                return Err(Error::invalid(
                    "host",
                    "a custom domain may not be under a platform's app domain",
                ));
            }
            return Err(self
                .refusal(platform, Error::not_found("tenant", tenant.as_str()))
                .await);
        }
        self.inner.shared.hosts.clear();
        Ok(HostRecord {
            host,
            platform,
            tenant,
            kind: HostKind::Custom,
            status: HostStatus::Pending,
            verification_token: Some(token),
        })
    }

    /// The hosts of a tenant that are not removed.
    pub async fn hosts(&self, platform: PlatformId, tenant: TenantId) -> Result<Vec<HostRecord>> {
        let rows = self
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {HOST_COLUMNS} FROM "neutrino_host"
                       WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "status" != 'removed' ORDER BY "host""#
                ))
                .bind(platform.as_str())
                .bind(tenant.as_str()),
            )
            .await?;
        rows.iter().map(host_of).collect()
    }

    async fn claimed(&self, platform: PlatformId, host: &str) -> Result<HostRecord> {
        let host = normalize_host(host)?;
        let row = self
            .db()
            .query_one(
                &Statement::new(format!(
                    r#"SELECT {HOST_COLUMNS} FROM "neutrino_host"
                       WHERE "host" = ?1 AND "platform_id" = ?2 AND "status" != 'removed'"#
                ))
                .bind(host.as_str())
                .bind(platform.as_str()),
                "host",
                &host,
            )
            .await?;
        host_of(&row)
    }

    async fn move_host(
        &self,
        platform: PlatformId,
        host: &str,
        from: &[HostStatus],
        to: HostStatus,
    ) -> Result<HostRecord> {
        let mut rec = self.claimed(platform, host).await?;
        if !from.contains(&rec.status) {
            return Err(Error::invalid(
                "host status",
                format!("{} is {}, it cannot become {to}", rec.host, rec.status),
            ));
        }
        let out = self
            .db()
            .execute(
                &Statement::new(format!(
                    r#"UPDATE "neutrino_host" SET "status" = ?3, "updated_at" = ?4
                       WHERE "host" = ?1 AND "platform_id" = ?2 AND "status" = ?5 AND {}"#,
                    active_platform(2)
                ))
                .bind(rec.host.as_str())
                .bind(platform.as_str())
                .bind(to.as_str())
                .bind(self.now_ms())
                .bind(rec.status.as_str()),
            )
            .await?;
        if out.rows_affected == 0 {
            let changed = Error::invalid(
                "host status",
                format!("{} changed meanwhile; try again", rec.host),
            );
            return Err(self.refusal(platform, changed).await);
        }
        self.inner.shared.hosts.clear();
        rec.status = to;
        Ok(rec)
    }

    /// Marks a pending custom domain verified, once its owner has proven control
    /// (e.g. the verification token is published, or the edge provider reports the
    /// hostname verified).
    pub async fn verify_custom_domain(
        &self,
        platform: PlatformId,
        host: &str,
    ) -> Result<HostRecord> {
        self.move_host(platform, host, &[HostStatus::Pending], HostStatus::Verified)
            .await
    }

    /// Starts serving a verified custom domain: it resolves from now on.
    pub async fn activate_custom_domain(
        &self,
        platform: PlatformId,
        host: &str,
    ) -> Result<HostRecord> {
        self.move_host(platform, host, &[HostStatus::Verified], HostStatus::Active)
            .await
    }

    /// Releases a host; it stops resolving and may be claimed again.
    pub async fn remove_host(&self, platform: PlatformId, host: &str) -> Result<HostRecord> {
        self.move_host(
            platform,
            host,
            &[
                HostStatus::Pending,
                HostStatus::Verified,
                HostStatus::Active,
            ],
            HostStatus::Removed,
        )
        .await
    }

    /// The (platform, tenant) an active host belongs to, or `None`. A malformed
    /// host is [`Error::InvalidInput`].
    ///
    /// Answers, including misses, are cached in this process for the host cache
    /// TTL; changes made through this registry clear the cache at once.
    pub async fn resolve(&self, host: &str) -> Result<Option<(PlatformId, TenantId)>> {
        let host = normalize_host(host)?;
        let now = self.now();
        let ttl = self.inner.opts.host_cache_ttl;
        if let Some(hit) = self.inner.shared.hosts.get(&host, now, ttl) {
            return Ok(hit);
        }
        let row = self
            .db()
            .query_opt(&Statement::new(RESOLVE).bind(host.as_str()))
            .await?;
        let target = match row {
            Some(r) => Some((parse(&r, "platform_id")?, parse(&r, "tenant_id")?)),
            None => None,
        };
        self.inner
            .shared
            .hosts
            .put(host, target, now, ttl, self.inner.opts.host_cache_capacity);
        Ok(target)
    }
}
