//! [`Registry`]: platforms, tenants, stacks, resources, features and the audit
//! log. Every query takes the platform and filters by it: another platform's
//! record is `NotFound`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, SystemTime};

use neutrino_core::clock::{SharedClock, system_clock};
use neutrino_core::ids::{PlatformId, StackId, TenantId};
use neutrino_core::kv::KvStore;
use neutrino_core::naming::{Domain, platform_status_key, rules};
use neutrino_core::provision::ResourceKind;
use neutrino_core::sql::{Row, SqlExecutor, SqlExecutorExt, Statement};
use neutrino_core::{Error, Result};

use crate::hosts::HostCache;
use crate::model::*;
use crate::schema::MIGRATIONS;
use crate::scope::{ScopeMinter, TenantScope};

/// Settings of a [`Registry`].
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    pub(crate) clock: SharedClock,
    pub(crate) status_ttl: Duration,
    pub(crate) host_cache_ttl: Duration,
    pub(crate) host_cache_capacity: usize,
    pub(crate) max_tenant_depth: u32,
    pub(crate) base_domain: Domain,
}

impl Default for RegistryOptions {
    /// Status cached for 60 s, hosts for 60 s (up to 100,000 of them), tenants
    /// nested at most 4 levels below a top-level tenant, the system clock, the
    /// base domain `nno.app`.
    fn default() -> Self {
        Self {
            clock: system_clock(),
            status_ttl: Duration::from_secs(60),
            host_cache_ttl: Duration::from_secs(60),
            host_cache_capacity: 100_000,
            max_tenant_depth: 4,
            base_domain: Domain::default(),
        }
    }
}

impl RegistryOptions {
    /// The clock for timestamps and cache windows.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a platform's status is cached in this process: the longest a
    /// suspension made by another process takes to stop scopes here (registry
    /// writes of the platform are refused at once regardless).
    pub fn with_status_ttl(mut self, ttl: Duration) -> Self {
        self.status_ttl = ttl;
        self
    }

    /// How long a resolved host is cached in this process: the longest a host
    /// change made elsewhere takes to be seen here.
    pub fn with_host_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.host_cache_ttl = ttl;
        self.host_cache_capacity = capacity;
        self
    }

    /// The deepest a sub-tenant may be nested (a top-level tenant has depth 0).
    pub fn with_max_tenant_depth(mut self, depth: u32) -> Self {
        self.max_tenant_depth = depth;
        self
    }

    /// The deployment's base domain (default `nno.app`), under which every
    /// platform's hostnames live: `auth.svc.{s}.{p}.{base}`,
    /// `{app}.app.{s}.{p}.{base}`, cookie domain `.{p}.{base}`. A DNS record or
    /// custom hostname is platform P's only when it is exactly one of P's hosts
    /// under this base ([`Domain::parse_host`]); a plan built with another
    /// [`Domain`] is refused. A tenant's custom domain may not lie under this
    /// base except under its own platform's `{p}.{base}`.
    pub fn with_base_domain(mut self, domain: Domain) -> Self {
        self.base_domain = domain;
        self
    }
}

pub(crate) struct Inner {
    pub(crate) db: Arc<dyn SqlExecutor>,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) opts: RegistryOptions,
    pub(crate) shared: Arc<Shared>,
}

/// What every handle on one registry database in this process shares: the
/// status cache, the host cache and the scope minter's "given out" flag.
pub(crate) struct Shared {
    status: RwLock<StatusCache>,
    pub(crate) hosts: HostCache,
    /// Tenants known to exist, with their platform and when the registry last
    /// said so. A tenant never changes platform; a deletion through this
    /// process removes its entry (and bumps `tenant_epoch`), so an entry goes
    /// stale only when another process deletes the tenant. Bounded by
    /// [`KNOWN_TENANTS_CAPACITY`] (emptied when full).
    pub(crate) known_tenants: Mutex<HashMap<(PlatformId, TenantId), SystemTime>>,
    /// Bumped by every tenant deletion committed through this process: a read
    /// of the registry that began before one may not fill `known_tenants`.
    pub(crate) tenant_epoch: AtomicU64,
    minter_given: AtomicBool,
    /// An executor on this database (the first handle's): a handle being opened
    /// on a database with the same instance ID proves through it that its
    /// database is this one, not a copy. Goes with the last handle.
    db: Arc<dyn SqlExecutor>,
    /// Tells the groups apart while a handle is being opened.
    serial: u64,
}

#[derive(Default)]
struct StatusCache {
    /// Bumped by every status change committed through this process: a read of
    /// the registry that began before a change may not fill the cache.
    epoch: u64,
    entries: HashMap<PlatformId, (PlatformStatus, SystemTime)>,
}

/// The shared state of each registry database open in this process, by the
/// database's instance ID; held weakly, so it goes with the last handle. A copy
/// of a database (a restored backup, a `VACUUM INTO` file, a copied file)
/// carries the original's instance ID: one ID may then name several databases,
/// each with its own entry, told apart by a probe ([`same_database`]).
static SHARED: LazyLock<Mutex<HashMap<String, Vec<Weak<Shared>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A fresh ID for a registry database that has none yet.
static INSTANCE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh [`Shared::serial`].
/// Most tenants [`Registry::check_tenant`] remembers per registry database.
const KNOWN_TENANTS_CAPACITY: usize = 100_000;

static SHARED_SEQ: AtomicU64 = AtomicU64::new(0);

/// The shared state of the database behind `db`, whose instance ID is
/// `instance`: the entry of a handle already open on the same database, proven
/// the same by [`same_database`], or a new entry when every live entry with
/// this ID is another database. An entry is added only while the map is
/// locked and after every live entry with the ID has been probed, so two opens
/// at once of one database end in one entry.
async fn shared_for(db: &Arc<dyn SqlExecutor>, instance: &str) -> Result<Arc<Shared>> {
    // Entries proven to be other databases (a database never changes behind
    // an entry's executor).
    let mut others: Vec<u64> = Vec::new();
    loop {
        let candidate = {
            let mut map = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            let entries = map.entry(instance.to_owned()).or_default();
            entries.retain(|w| w.strong_count() > 0);
            let next = entries
                .iter()
                .filter_map(Weak::upgrade)
                .find(|s| !others.contains(&s.serial));
            match next {
                Some(shared) => shared,
                None => {
                    let shared = Arc::new(Shared {
                        status: RwLock::new(StatusCache::default()),
                        hosts: HostCache::new(),
                        known_tenants: Mutex::new(HashMap::new()),
                        tenant_epoch: AtomicU64::new(0),
                        minter_given: AtomicBool::new(false),
                        db: db.clone(),
                        serial: SHARED_SEQ.fetch_add(1, Ordering::Relaxed),
                    });
                    entries.push(Arc::downgrade(&shared));
                    map.retain(|_, entries| {
                        entries.retain(|w| w.strong_count() > 0);
                        !entries.is_empty()
                    });
                    return Ok(shared);
                }
            }
        };
        if same_database(db, &candidate.db).await? {
            return Ok(candidate);
        }
        others.push(candidate.serial);
    }
}

/// Whether `ours` and `theirs` reach the same database: a random nonce written
/// through `ours` is read back through `theirs`. A copy never holds the nonce
/// (it is fresh, and concurrent probes write their own rows), so only the same
/// database answers yes. A failure of either side is an error, never a guess.
async fn same_database(ours: &Arc<dyn SqlExecutor>, theirs: &Arc<dyn SqlExecutor>) -> Result<bool> {
    if std::ptr::eq(
        Arc::as_ptr(ours).cast::<()>(),
        Arc::as_ptr(theirs).cast::<()>(),
    ) {
        return Ok(true);
    }
    let nonce = format!("{:032x}", rand::random::<u128>());
    ours.execute(
        &Statement::new(r#"INSERT INTO "neutrino_registry_probe" ("nonce") VALUES (?1)"#)
            .bind(nonce.as_str()),
    )
    .await?;
    let seen = theirs
        .query(
            &Statement::new(
                r#"SELECT 1 AS "seen" FROM "neutrino_registry_probe" WHERE "nonce" = ?1"#,
            )
            .bind(nonce.as_str()),
        )
        .await;
    let removed = ours
        .execute(
            &Statement::new(r#"DELETE FROM "neutrino_registry_probe" WHERE "nonce" = ?1"#)
                .bind(nonce.as_str()),
        )
        .await;
    let seen = !seen?.is_empty();
    removed?;
    Ok(seen)
}

/// SQL that is true while the platform bound at `?{n}` is active: put in the
/// `WHERE` of a write, the database decides in the same statement.
pub(crate) fn active_platform(n: u8) -> String {
    format!(
        r#"EXISTS (SELECT 1 FROM "neutrino_platform" WHERE "id" = ?{n} AND "status" = 'active')"#
    )
}

/// SQL that is true while the platform bound at `?{n}` takes a write: one
/// that records a deletion (the bookkeeping of teardown) in any status it
/// exists in, any other only while it is active.
fn platform_takes(n: u8, deletion: bool) -> String {
    if deletion {
        format!(r#"EXISTS (SELECT 1 FROM "neutrino_platform" WHERE "id" = ?{n})"#)
    } else {
        active_platform(n)
    }
}

/// The registry of platforms and everything in them.
///
/// It lives in one SQL database (through [`SqlExecutor`]) and mirrors each
/// platform's status in KV (`platform:{p}:status`), where edge services read it.
/// Cloning is cheap and shares caches.
///
/// # Platform status: one truth, one mirror
///
/// The registry row is the truth (it is written in the same transaction as its
/// audit entry); the KV key is a mirror for readers that cannot reach the
/// registry. A crash between the two writes can leave them apart; every status
/// read that misses the cache, every status change, and every provisioning
/// operation ([`Provisioning`](crate::provision::Provisioning)'s apply, resume,
/// rollback, teardown, stack deactivation and verify) repairs the mirror from
/// the truth ([`Registry::repair_platform_status`]). Stopping a platform writes
/// the mirror first and reinstating writes it last, so a crash never leaves the
/// mirror more permissive than the truth.
///
/// All handles opened on the same registry database in one process (however
/// many [`Registry::open`] calls, on however many executors) share one status
/// cache, one host cache and one [`ScopeMinter`]: a suspension through one is
/// seen at once by all. The database is recognised by an instance ID the
/// registry writes into it once; a copy of the database (a restored backup, a
/// `VACUUM INTO` file, a copied file) carries the same ID, so a handle opened
/// where the ID is already known proves it is on the same database by a probe
/// (a random nonce written through its executor and read back through the
/// open handle's) and otherwise gets state of its own: a copy shares nothing
/// with the original, in whichever order the two are opened.
///
/// A component that serves one platform holds that platform's view,
/// [`Registry::platform`], rather than the registry: the same operations with
/// no platform argument.
///
/// # What a suspended or deleted platform may still do
///
/// Every write that belongs to a platform checks its status inside the write
/// itself: tenants, sub-tenant moves, hosts, features, stacks, resource records
/// and operator scopes are refused with [`Error::Suspended`] for a suspended
/// platform and [`Error::NotFound`] for a deleted (or unknown) one. What still
/// works, because stopping and cleaning up must: reads, status changes
/// ([`Registry::reinstate`] of a suspended platform, [`Registry::suspend`] and
/// [`Registry::mark_platform_deleted`]), and the bookkeeping of teardown — a
/// resource recorded as `deleted` and a stack marked deleted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::Result<()> {
/// use std::sync::Arc;
/// use neutrino::memory::MemoryKv;
/// use neutrino::sqlite::SqliteExecutor;
/// use neutrino::tenancy::{NewPlatform, NewTenant, PlatformClass, Registry, RegistryOptions};
///
/// let db = Arc::new(SqliteExecutor::memory().await?);
/// let registry = Registry::open(db, Arc::new(MemoryKv::new()), RegistryOptions::default()).await?;
/// let platform = registry.create_platform(NewPlatform::new("Acme Cloud", PlatformClass::Platform)).await?;
/// let tenant = registry.create_tenant(platform.id, NewTenant::new("acme", "Acme Inc.")).await?;
/// let other = registry.create_platform(NewPlatform::new("Other", PlatformClass::Platform)).await?;
/// // Records of one platform are invisible from another.
/// assert!(registry.tenant(other.id, tenant.id).await.unwrap_err().is_not_found());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("db", &self.inner.db)
            .finish_non_exhaustive()
    }
}

/// What [`Registry::create_platform`] needs.
#[derive(Clone, Debug)]
pub struct NewPlatform {
    /// A given ID, or `None` for a fresh one.
    pub id: Option<PlatformId>,
    /// Display name.
    pub name: String,
    /// Who it is for.
    pub class: PlatformClass,
    /// The domain under which tenants get default hosts, e.g. `app.example.com`;
    /// under the registry's base domain only under the platform's own
    /// `{p}.{base}` (which needs [`NewPlatform::with_id`]).
    pub app_domain: Option<String>,
}

impl NewPlatform {
    /// A platform with a fresh ID and no app domain.
    pub fn new(name: impl Into<String>, class: PlatformClass) -> Self {
        Self {
            id: None,
            name: name.into(),
            class,
            app_domain: None,
        }
    }

    /// Tenants get default hosts `{slug}.{domain}`.
    pub fn with_app_domain(mut self, domain: impl Into<String>) -> Self {
        self.app_domain = Some(domain.into());
        self
    }

    /// Registers the platform under a given ID.
    pub fn with_id(mut self, id: PlatformId) -> Self {
        self.id = Some(id);
        self
    }
}

impl NewPlatform {
    /// Its name checked and its app domain normalized.
    fn validated_app_domain(&self) -> Result<Option<String>> {
        validate_text("platform name", &self.name, 200)?;
        self.app_domain
            .as_deref()
            .map(crate::hosts::normalize_host)
            .transpose()
    }
}

/// What [`Registry::create_tenant`] needs.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// A given ID (an auth organization's), or `None` for a fresh one.
    pub id: Option<TenantId>,
    /// Unique within the platform: 1–63 characters of `a-z0-9-`, not beginning or
    /// ending with `-` (it names the tenant's default host).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The parent tenant, for a sub-tenant.
    pub parent: Option<TenantId>,
}

impl NewTenant {
    /// A top-level tenant with a fresh ID.
    pub fn new(slug: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: None,
            slug: slug.into(),
            name: name.into(),
            parent: None,
        }
    }

    /// Makes it a sub-tenant of `parent`.
    pub fn with_parent(mut self, parent: TenantId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Registers the tenant under a given ID.
    pub fn with_id(mut self, id: TenantId) -> Self {
        self.id = Some(id);
        self
    }
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at: SystemTime,
    /// The platform acted on.
    pub platform: PlatformId,
    /// The tenant acted on, if any.
    pub tenant: Option<TenantId>,
    /// Who acted.
    pub actor: String,
    /// What was done, e.g. `"operator_scope"` or `"suspend"`.
    pub action: String,
    /// Why.
    pub reason: String,
}

pub(crate) fn validate_slug(slug: &str) -> Result<()> {
    if rules::is_valid_dns_label(slug) {
        Ok(())
    } else {
        Err(Error::invalid(
            "tenant slug",
            format!(
                "must be 1-63 characters of a-z0-9- not beginning or ending with '-', got {slug:?}"
            ),
        ))
    }
}

pub(crate) fn validate_text(what: &'static str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() || s.len() > max || s.chars().any(char::is_control) {
        return Err(Error::invalid(
            what,
            format!("must be 1-{max} bytes of text without control characters"),
        ));
    }
    Ok(())
}

fn platform_of(row: &Row) -> Result<Platform> {
    Ok(Platform {
        id: parse(row, "id")?,
        name: row.get("name")?,
        class: parse(row, "class")?,
        status: parse(row, "status")?,
        app_domain: row.get("app_domain")?,
        created_at: time(row.get("created_at")?),
        updated_at: time(row.get("updated_at")?),
    })
}

fn tenant_of(row: &Row) -> Result<Tenant> {
    Ok(Tenant {
        platform: parse(row, "platform_id")?,
        id: parse(row, "id")?,
        slug: row.get("slug")?,
        name: row.get("name")?,
        parent: row
            .get::<Option<String>>("parent_id")?
            .map(|p| p.parse())
            .transpose()?,
        depth: row.get("depth")?,
        created_at: time(row.get("created_at")?),
    })
}

/// Refuses a resource name that does not belong to `platform` and `stack`
/// (hostnames: exactly one of the platform's hosts under the base `domain`).
pub(crate) fn check_owner(
    domain: &Domain,
    platform: PlatformId,
    stack: StackId,
    kind: ResourceKind,
    name: &str,
) -> Result<()> {
    let (p, s) = kind.owner(name, domain)?;
    if p != platform || s != stack {
        return Err(Error::invalid(
            "resource name",
            format!(
                "{kind} {name:?} belongs to platform {p}, stack {s}, not to platform {platform}, stack {stack}",
            ),
        ));
    }
    Ok(())
}

fn stack_not_active(stack: StackId) -> Error {
    Error::invalid(
        "stack",
        format!("stack {stack} is not active (deleted or not registered)"),
    )
}

fn resource_of(row: &Row) -> Result<ResourceRecord> {
    Ok(ResourceRecord {
        platform: parse(row, "platform_id")?,
        stack: parse(row, "stack_id")?,
        kind: kind_from_str(&row.get::<String>("kind")?)?,
        logical_name: row.get("logical_name")?,
        provider: row.get("provider")?,
        provider_id: row.get("provider_id")?,
        status: parse(row, "status")?,
    })
}

const TENANT_COLUMNS: &str =
    r#""platform_id", "id", "slug", "name", "parent_id", "depth", "created_at", "updated_at""#;

impl Registry {
    /// The live (not deleted) platform registered under `new.name` by this
    /// method, or a new one made from `new` if there is none; `true` with it when
    /// this call created it. Idempotent on the name, so an app finds its
    /// platform again on every start without keeping its ID:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> neutrino::Result<()> {
    /// use std::sync::Arc;
    /// use neutrino::memory::MemoryKv;
    /// use neutrino::sqlite::SqliteExecutor;
    /// use neutrino::tenancy::{NewPlatform, PlatformClass, Registry, RegistryOptions};
    ///
    /// let db = Arc::new(SqliteExecutor::memory().await?);
    /// let registry = Registry::open(db, Arc::new(MemoryKv::new()), RegistryOptions::default()).await?;
    /// let new = NewPlatform::new("Acme Cloud", PlatformClass::Platform);
    /// let (first, created) = registry.open_or_create_platform(new.clone()).await?;
    /// assert!(created);
    /// let (again, created) = registry.open_or_create_platform(new).await?;
    /// assert!(!created);
    /// assert_eq!(again.id, first.id);
    /// # Ok(()) }
    /// ```
    ///
    /// Concurrent calls with the same name, in this process or any other, get
    /// the same platform: a unique index on the name decides inside the insert
    /// itself, never a lookup before it. The other fields of `new` only apply
    /// when it creates; an existing platform is returned as it is, suspended
    /// included. A deleted platform releases its name, so the next call makes a
    /// new platform. Names are matched exactly (case and spaces count). Only
    /// platforms made here hold a name: [`Registry::create_platform`] never
    /// claims one and may register any number of platforms with the same display
    /// name. A given [`NewPlatform::with_id`] that another platform already has
    /// is [`Error::AlreadyExists`], as an `app_domain` already in use is.
    pub async fn open_or_create_platform(&self, new: NewPlatform) -> Result<(Platform, bool)> {
        let app_domain = new.validated_app_domain()?;
        let select = Statement::new(
            r#"SELECT "id", "name", "class", "status", "app_domain", "created_at", "updated_at"
               FROM "neutrino_platform" WHERE "name_key" = ?1 AND "status" != 'deleted'"#,
        )
        .bind(new.name.as_str());
        // The holder of the name may be deleted between the insert that lost to
        // it and the read that follows; then the name is free again: retry.
        for _ in 0..8 {
            let id = self.new_platform_id(&new, app_domain.as_deref())?;
            let now = self.now_ms();
            let inserted = self
                .db()
                .execute(
                    &Statement::new(
                        r#"INSERT INTO "neutrino_platform" ("id", "name", "class", "status", "app_domain", "created_at", "updated_at", "name_key")
                           VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?5, ?2)
                           ON CONFLICT ("name_key") WHERE "status" != 'deleted' DO NOTHING"#,
                    )
                    .bind(id.as_str())
                    .bind(new.name.as_str())
                    .bind(new.class.as_str())
                    .bind(app_domain.clone())
                    .bind(now),
                )
                .await?
                .rows_affected;
            if inserted == 1 {
                return Ok((self.created_platform(id, new, app_domain, now).await?, true));
            }
            if let Some(row) = self.db().query(&select).await?.first() {
                return Ok((platform_of(row)?, false));
            }
        }
        Err(Error::backend(
            "registry",
            true,
            Error::invalid(
                "platform name",
                "its platform kept being deleted while being opened",
            ),
        ))
    }
}

impl Registry {
    /// Opens the registry on `db` (running its migrations) with statuses mirrored
    /// in `kv`.
    pub async fn open(
        db: Arc<dyn SqlExecutor>,
        kv: Arc<dyn KvStore>,
        opts: RegistryOptions,
    ) -> Result<Self> {
        MIGRATIONS.run(&*db).await?;
        let instance = Self::instance_id(&*db).await?;
        let shared = shared_for(&db, &instance).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                kv,
                opts,
                shared,
            }),
        })
    }

    /// The registry database's instance ID, written by the first opener (the
    /// database keeps the first one written).
    async fn instance_id(db: &dyn SqlExecutor) -> Result<String> {
        let fresh = format!(
            "{}-{}-{}",
            TenantId::generate(),
            TenantId::generate(),
            INSTANCE_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        db.execute(
            &Statement::new(
                r#"INSERT INTO "neutrino_registry_instance" ("singleton", "id") VALUES (1, ?1)
                   ON CONFLICT ("singleton") DO NOTHING"#,
            )
            .bind(fresh),
        )
        .await?;
        let row = db
            .query_one(
                &Statement::new(
                    r#"SELECT "id" FROM "neutrino_registry_instance" WHERE "singleton" = 1"#,
                ),
                "registry instance",
                "1",
            )
            .await?;
        row.get("id")
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.inner.opts.clock.now()
    }

    pub(crate) fn now_ms(&self) -> i64 {
        millis(self.now())
    }

    /// The deployment's base domain ([`RegistryOptions::with_base_domain`]):
    /// build plans with it (`Plan::bootstrap(p, registry.base_domain(), ..)`);
    /// a hostname under any other base belongs to no platform here.
    pub fn base_domain(&self) -> &Domain {
        &self.inner.opts.base_domain
    }

    pub(crate) fn db(&self) -> &dyn SqlExecutor {
        &*self.inner.db
    }

    /// The capability to mint scopes from validated credentials; given out once
    /// per registry database in this process, whichever handle asks (handles on
    /// the same database share it), for as long as any handle on it or the
    /// minter itself lives. A second call is [`Error::PermissionDenied`].
    /// The holder may hand out copies narrowed to one platform
    /// ([`ScopeMinter::restricted_to`]).
    pub fn scope_minter(&self) -> Result<ScopeMinter> {
        if self.inner.shared.minter_given.swap(true, Ordering::SeqCst) {
            return Err(Error::PermissionDenied {
                reason: "the scope minter of this registry was already given out".into(),
            });
        }
        Ok(ScopeMinter {
            registry: self.clone(),
            platform: None,
        })
    }

    /// An operator's scope on a tenant: checks the tenant and platform as a minted
    /// scope would, and writes `actor` and `reason` to the audit log first.
    pub async fn operator_scope(
        &self,
        platform: PlatformId,
        tenant: TenantId,
        actor: &str,
        reason: &str,
    ) -> Result<TenantScope> {
        validate_text("actor", actor, 200)?;
        validate_text("reason", reason, 2000)?;
        self.check_active(platform).await?;
        self.tenant(platform, tenant).await?;
        let audit = self.audit_statement_if(
            &active_platform(2),
            platform,
            Some(tenant),
            actor,
            "operator_scope",
            reason,
        );
        if self.db().execute(&audit).await?.rows_affected == 0 {
            return Err(self
                .refusal(platform, Error::not_found("platform", platform.as_str()))
                .await);
        }
        Ok(TenantScope::new(platform, tenant))
    }

    /// An audit entry written only if `condition` (SQL that may use `?2`, the
    /// platform) holds when the statement runs.
    fn audit_statement_if(
        &self,
        condition: &str,
        platform: PlatformId,
        tenant: Option<TenantId>,
        actor: &str,
        action: &str,
        reason: &str,
    ) -> Statement {
        Statement::new(format!(
            r#"INSERT INTO "neutrino_audit_log" ("at", "platform_id", "tenant_id", "actor", "action", "reason")
               SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE {condition}"#
        ))
        .bind(self.now_ms())
        .bind(platform.as_str())
        .bind(tenant.map(|t| t.as_str().to_owned()))
        .bind(actor)
        .bind(action)
        .bind(reason)
    }

    /// The audit log of a platform, oldest first.
    pub async fn audit_log(&self, platform: PlatformId) -> Result<Vec<AuditEntry>> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT "at", "platform_id", "tenant_id", "actor", "action", "reason"
                       FROM "neutrino_audit_log" WHERE "platform_id" = ?1 ORDER BY "id""#,
                )
                .bind(platform.as_str()),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: time(r.get("at")?),
                    platform: parse(r, "platform_id")?,
                    tenant: r
                        .get::<Option<String>>("tenant_id")?
                        .map(|t| t.parse())
                        .transpose()?,
                    actor: r.get("actor")?,
                    action: r.get("action")?,
                    reason: r.get("reason")?,
                })
            })
            .collect()
    }

    // ---- platforms ----

    /// Registers a platform, active, and mirrors its status to KV (a crash
    /// before the mirror is written is repaired by the next status read or
    /// provisioning operation).
    pub async fn create_platform(&self, new: NewPlatform) -> Result<Platform> {
        let app_domain = new.validated_app_domain()?;
        let id = self.new_platform_id(&new, app_domain.as_deref())?;
        let now = self.now_ms();
        self.db()
            .execute(
                &Statement::new(
                    r#"INSERT INTO "neutrino_platform" ("id", "name", "class", "status", "app_domain", "created_at", "updated_at")
                       VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?5)"#,
                )
                .bind(id.as_str())
                .bind(new.name.as_str())
                .bind(new.class.as_str())
                .bind(app_domain.clone())
                .bind(now),
            )
            .await?;
        self.created_platform(id, new, app_domain, now).await
    }

    /// The ID `new` is to be registered under (its own or a fresh one), with
    /// its `app_domain` checked against it.
    fn new_platform_id(&self, new: &NewPlatform, app_domain: Option<&str>) -> Result<PlatformId> {
        let id = new.id.unwrap_or_else(PlatformId::generate);
        if let Some(d) = app_domain {
            self.check_under_own(id, d, "an app domain")?;
        }
        Ok(id)
    }

    /// The platform `new` just inserted, active, as `id` at `now` (ms): its
    /// status cache cleared and its KV status mirrored.
    async fn created_platform(
        &self,
        id: PlatformId,
        new: NewPlatform,
        app_domain: Option<String>,
        now: i64,
    ) -> Result<Platform> {
        self.invalidate_status(id);
        self.repair_platform_status(id).await?;
        Ok(Platform {
            id,
            name: new.name,
            class: new.class,
            status: PlatformStatus::Active,
            app_domain,
            created_at: time(now),
            updated_at: time(now),
        })
    }

    /// A platform by ID; from a platform's view, [`PlatformRegistry::record`].
    ///
    /// [`PlatformRegistry::record`]: crate::PlatformRegistry::record
    pub async fn platform_record(&self, id: PlatformId) -> Result<Platform> {
        let row = self
            .db()
            .query_one(
                &Statement::new(
                    r#"SELECT "id", "name", "class", "status", "app_domain", "created_at", "updated_at"
                       FROM "neutrino_platform" WHERE "id" = ?1"#,
                )
                .bind(id.as_str()),
                "platform",
                id.as_str(),
            )
            .await?;
        platform_of(&row)
    }

    /// Every platform, by ID.
    pub async fn platforms(&self) -> Result<Vec<Platform>> {
        let rows = self
            .db()
            .query(&Statement::new(
                r#"SELECT "id", "name", "class", "status", "app_domain", "created_at", "updated_at"
                   FROM "neutrino_platform" ORDER BY "id""#,
            ))
            .await?;
        rows.iter().map(platform_of).collect()
    }

    /// This process's cached statuses, to read.
    fn status_cache(&self) -> RwLockReadGuard<'_, StatusCache> {
        self.inner
            .shared
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// This process's cached statuses, to change.
    fn status_cache_mut(&self) -> RwLockWriteGuard<'_, StatusCache> {
        self.inner
            .shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets this process's cached status of `id` and makes every registry
    /// read begun before now unable to fill the cache.
    fn invalidate_status(&self, id: PlatformId) {
        let mut cache = self.status_cache_mut();
        cache.epoch += 1;
        cache.entries.remove(&id);
    }

    fn status_epoch(&self) -> u64 {
        self.status_cache().epoch
    }

    /// Caches `status`, read from the registry after `epoch` was taken, unless a
    /// status change has been committed in this process since.
    fn cache_status(&self, id: PlatformId, status: PlatformStatus, epoch: u64) {
        let mut cache = self.status_cache_mut();
        if cache.epoch == epoch {
            cache.entries.insert(id, (status, self.now()));
        }
    }

    /// The error for a write to `platform` that its conditional statement
    /// refused: [`Error::Suspended`] for a suspended platform, [`Error::NotFound`]
    /// for a deleted or unknown one, `otherwise` for an active one (the write was
    /// refused for another reason).
    pub(crate) async fn refusal(&self, platform: PlatformId, otherwise: Error) -> Error {
        match self.platform_record(platform).await {
            Ok(p) => match p.status {
                PlatformStatus::Active => otherwise,
                PlatformStatus::Suspended => Error::Suspended {
                    entity: "platform",
                    id: platform.to_string(),
                },
                _ => Error::not_found("platform", platform.as_str()),
            },
            Err(e) => e,
        }
    }

    /// Makes the KV mirror (`platform:{p}:status`) and this process's cache agree
    /// with the registry, the truth, and returns the status. Idempotent; every
    /// status read that misses the cache and every provisioning operation calls
    /// it, so the mirror converges after a crash between the two writes.
    pub async fn repair_platform_status(&self, id: PlatformId) -> Result<PlatformStatus> {
        let key = platform_status_key(id);
        let epoch = self.status_epoch();
        let mut truth = self.platform_record(id).await?.status;
        let mirrored = self.inner.kv.get(&key).await?;
        if mirrored.as_deref() == Some(truth.as_str().as_bytes()) {
            self.cache_status(id, truth, epoch);
            return Ok(truth);
        }
        // Write, then check the truth did not change meanwhile (a concurrent
        // change elsewhere may have written the mirror before this write landed).
        for _ in 0..16 {
            self.inner.kv.put(&key, truth.as_str().into(), None).await?;
            let again = self.platform_record(id).await?.status;
            if again == truth {
                self.cache_status(id, truth, epoch);
                return Ok(truth);
            }
            truth = again;
        }
        Err(Error::backend(
            "tenancy",
            true,
            std::io::Error::other(format!("the status of platform {id} kept changing")),
        ))
    }

    async fn set_status(
        &self,
        id: PlatformId,
        status: PlatformStatus,
        actor: &str,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        validate_text("actor", actor, 200)?;
        validate_text("reason", reason, 2000)?;
        // Only to keep the mirror free of keys for unknown platforms; the rule
        // (never out of `deleted`) is decided by the conditional update below.
        self.platform_record(id).await?;
        if status != PlatformStatus::Active {
            // Stopping: the mirror first, so edge readers stop even if the
            // registry write then fails; the repair below (or the next one after a
            // crash) puts the mirror back to the truth.
            self.inner
                .kv
                .put(&platform_status_key(id), status.as_str().into(), None)
                .await?;
        }
        let not_deleted = r#""status" != 'deleted'"#;
        let audit = self.audit_statement_if(
            &format!(
                r#"EXISTS (SELECT 1 FROM "neutrino_platform" WHERE "id" = ?2 AND {not_deleted})"#
            ),
            id,
            None,
            actor,
            action,
            reason,
        );
        let update = Statement::new(format!(
            r#"UPDATE "neutrino_platform" SET "status" = ?2, "updated_at" = ?3 WHERE "id" = ?1 AND {not_deleted}"#
        ))
        .bind(id.as_str())
        .bind(status.as_str())
        .bind(self.now_ms());
        let written = self.db().batch(&[audit, update]).await;
        self.invalidate_status(id);
        // Reinstating: the mirror last, so a failure leaves it stopped.
        let repaired = self.repair_platform_status(id).await;
        let out = written?;
        repaired?;
        if out.get(1).is_none_or(|o| o.rows_affected == 0) {
            return Err(Error::invalid(
                "platform status",
                format!("platform {id} is deleted"),
            ));
        }
        Ok(())
    }

    /// Suspends a platform: writes KV and the registry, records the audit entry.
    /// Scopes of the platform then fail with [`Error::Suspended`]: at once
    /// through every handle on this registry database in this process, and
    /// within the status TTL (≤ 60 s by default) in other processes; every
    /// registry write of the platform is refused at once everywhere. A deleted
    /// platform cannot be suspended ([`Error::InvalidInput`]).
    pub async fn suspend(&self, id: PlatformId, actor: &str, reason: &str) -> Result<()> {
        self.set_status(id, PlatformStatus::Suspended, actor, "suspend", reason)
            .await
    }

    /// Reinstates a suspended platform (same propagation as [`Registry::suspend`]).
    pub async fn reinstate(&self, id: PlatformId, actor: &str, reason: &str) -> Result<()> {
        self.set_status(id, PlatformStatus::Active, actor, "reinstate", reason)
            .await
    }

    /// Marks a platform deleted (a tombstone); its scopes fail with `NotFound`.
    pub async fn mark_platform_deleted(
        &self,
        id: PlatformId,
        actor: &str,
        reason: &str,
    ) -> Result<()> {
        self.set_status(id, PlatformStatus::Deleted, actor, "delete", reason)
            .await
    }

    /// A platform's status as seen by scope checks: from this process's cache
    /// (shared by every handle on this registry database) if younger than the
    /// status TTL, else from the registry, repairing the KV mirror if it
    /// disagrees.
    pub async fn platform_status(&self, id: PlatformId) -> Result<PlatformStatus> {
        let now = self.now();
        {
            let cache = self.status_cache();
            if let Some((status, at)) = cache.entries.get(&id)
                && now.duration_since(*at).unwrap_or(Duration::MAX) < self.inner.opts.status_ttl
            {
                return Ok(*status);
            }
        }
        self.repair_platform_status(id).await
    }

    /// `Ok` for an active platform, [`Error::Suspended`] for a suspended one,
    /// [`Error::NotFound`] for a deleted or unknown one.
    pub async fn check_active(&self, id: PlatformId) -> Result<()> {
        match self.platform_status(id).await? {
            PlatformStatus::Active => Ok(()),
            PlatformStatus::Suspended => Err(Error::Suspended {
                entity: "platform",
                id: id.to_string(),
            }),
            _ => Err(Error::not_found("platform", id.as_str())),
        }
    }

    // ---- tenants ----

    /// Creates a tenant (a sub-tenant if `parent` is set), and its default host if
    /// the platform has an app domain, in one atomic batch. A given ID
    /// ([`NewTenant::with_id`]) that is already a tenant's, of this platform
    /// or another, is [`Error::AlreadyExists`] (`entity` `"tenant"` for
    /// another platform's), and so is a slug another tenant of this platform
    /// holds or a default host that is taken.
    pub async fn create_tenant(&self, platform: PlatformId, new: NewTenant) -> Result<Tenant> {
        validate_slug(&new.slug)?;
        validate_text("tenant name", &new.name, 200)?;
        let p = self.platform_record(platform).await?;
        let depth = match new.parent {
            Some(parent) => {
                let parent = self.tenant(platform, parent).await?;
                let depth = parent.depth + 1;
                if depth > self.inner.opts.max_tenant_depth {
                    return Err(Error::invalid(
                        "tenant parent",
                        format!(
                            "sub-tenants may be nested at most {} levels deep",
                            self.inner.opts.max_tenant_depth
                        ),
                    ));
                }
                depth
            }
            None => 0,
        };
        let id = new.id.unwrap_or_else(TenantId::generate);
        let now = self.now_ms();
        let mut batch = vec![Statement::new(format!(
            // The depth is the parent's as it is inside the write (a concurrent
            // move may have changed it since the read above), and the limit is
            // checked there too.
            r#"INSERT INTO "neutrino_tenant" ({TENANT_COLUMNS})
               SELECT ?1, ?2, ?3, ?4, ?5,
                      COALESCE((SELECT "depth" + 1 FROM "neutrino_tenant" WHERE "platform_id" = ?1 AND "id" = ?5), 0),
                      ?7, ?7
               WHERE {} AND (?5 IS NULL OR EXISTS (SELECT 1 FROM "neutrino_tenant"
                   WHERE "platform_id" = ?1 AND "id" = ?5 AND "depth" + 1 <= ?6))
                 AND NOT EXISTS (SELECT 1 FROM "neutrino_tenant_tombstone" WHERE "platform_id" = ?1 AND "id" = ?2)"#,
            active_platform(1)
        ))
        .bind(platform.as_str())
        .bind(id.as_str())
        .bind(new.slug.as_str())
        .bind(new.name.as_str())
        .bind(new.parent.map(|p| p.as_str().to_owned()))
        .bind(i64::from(self.inner.opts.max_tenant_depth))
        .bind(now)];
        if let Some(domain) = &p.app_domain {
            let host = format!("{}.{domain}", new.slug);
            batch.push(self.insert_host(
                &host,
                platform,
                id,
                HostKind::Default,
                HostStatus::Active,
                None,
            ));
        }
        // A tenant ID names one tenant in the whole registry: the unique
        // index on the ID alone refuses another platform's (migration 7), and
        // the read after it only names the entity in the error.
        let out = match self.db().batch(&batch).await {
            Err(e) if e.is_already_exists() => {
                let elsewhere = self
                    .db()
                    .query(
                        &Statement::new(
                            r#"SELECT 1 FROM "neutrino_tenant" WHERE "id" = ?1 AND "platform_id" <> ?2"#,
                        )
                        .bind(id.as_str())
                        .bind(platform.as_str()),
                    )
                    .await?;
                return Err(if elsewhere.is_empty() {
                    e
                } else {
                    Error::AlreadyExists {
                        entity: "tenant",
                        id: id.to_string(),
                    }
                });
            }
            other => other?,
        };
        if out.first().is_none_or(|o| o.rows_affected == 0) {
            // A deleted tenant's ID is never given again.
            if self.is_tenant_deleted(platform, id).await? {
                return Err(Error::AlreadyExists {
                    entity: "tenant",
                    id: id.to_string(),
                });
            }
            if let Some(parent) = new.parent {
                // Refused inside the write: the parent may have gone or moved.
                let parent = self.tenant(platform, parent).await?;
                if parent.depth + 1 > self.inner.opts.max_tenant_depth {
                    return Err(Error::invalid(
                        "tenant parent",
                        format!(
                            "sub-tenants may be nested at most {} levels deep",
                            self.inner.opts.max_tenant_depth
                        ),
                    ));
                }
            }
            return Err(self
                .refusal(platform, Error::not_found("platform", platform.as_str()))
                .await);
        }
        self.inner.shared.hosts.clear();
        Ok(Tenant {
            platform,
            id,
            slug: new.slug,
            name: new.name,
            parent: new.parent,
            depth,
            created_at: time(now),
        })
    }

    /// A tenant of `platform`; a tenant of another platform is `NotFound`.
    pub async fn tenant(&self, platform: PlatformId, id: TenantId) -> Result<Tenant> {
        self.tenant_where(platform, "id", id.as_str()).await
    }

    /// The tenant of `platform` whose `column` (`id` or `slug`) is `value`.
    async fn tenant_where(
        &self,
        platform: PlatformId,
        column: &'static str,
        value: &str,
    ) -> Result<Tenant> {
        let row = self
            .db()
            .query_one(
                &Statement::new(format!(
                    r#"SELECT {TENANT_COLUMNS} FROM "neutrino_tenant" WHERE "platform_id" = ?1 AND "{column}" = ?2"#
                ))
                .bind(platform.as_str())
                .bind(value),
                "tenant",
                value,
            )
            .await?;
        tenant_of(&row)
    }

    /// `Ok` if `id` is a live tenant of `platform` ([`Error::NotFound`]
    /// otherwise), answered from this process's set of known tenants when it
    /// can be: the check of a scope being minted, which needs no other field
    /// of the tenant. Only existence is cached; a deletion through any handle
    /// of this process removes the entry at once.
    pub(crate) async fn check_tenant(&self, platform: PlatformId, id: TenantId) -> Result<()> {
        self.check_tenant_within(platform, id, None).await
    }

    /// [`Registry::check_tenant`], trusting a cached answer only if it is
    /// younger than `max_age` (when given).
    pub(crate) async fn check_tenant_within(
        &self,
        platform: PlatformId,
        id: TenantId,
        max_age: Option<Duration>,
    ) -> Result<()> {
        let shared = &self.inner.shared;
        let known = || {
            shared
                .known_tenants
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        let now = self.now();
        if let Some(at) = known().get(&(platform, id))
            && max_age.is_none_or(|m| now.duration_since(*at).unwrap_or(Duration::MAX) < m)
        {
            return Ok(());
        }
        loop {
            let epoch = shared.tenant_epoch.load(Ordering::SeqCst);
            self.tenant(platform, id).await?;
            let mut set = known();
            // A deletion committed meanwhile may have been of this tenant:
            // read again.
            if shared.tenant_epoch.load(Ordering::SeqCst) != epoch {
                continue;
            }
            if set.len() >= KNOWN_TENANTS_CAPACITY {
                set.clear();
            }
            set.insert((platform, id), now);
            return Ok(());
        }
    }

    /// A tenant of `platform` by slug.
    pub async fn tenant_by_slug(&self, platform: PlatformId, slug: &str) -> Result<Tenant> {
        self.tenant_where(platform, "slug", slug).await
    }

    /// Every tenant of `platform`, by slug.
    pub async fn tenants(&self, platform: PlatformId) -> Result<Vec<Tenant>> {
        let rows = self
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {TENANT_COLUMNS} FROM "neutrino_tenant" WHERE "platform_id" = ?1 ORDER BY "slug""#
                ))
                .bind(platform.as_str()),
            )
            .await?;
        rows.iter().map(tenant_of).collect()
    }

    /// The tenant and all its sub-tenants, at any depth, with their depths.
    async fn subtree_with_depth(
        &self,
        platform: PlatformId,
        id: TenantId,
    ) -> Result<Vec<(TenantId, u32)>> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"WITH RECURSIVE "sub" ("id", "depth") AS (
                           SELECT "id", "depth" FROM "neutrino_tenant" WHERE "platform_id" = ?1 AND "id" = ?2
                           UNION
                           SELECT "t"."id", "t"."depth" FROM "neutrino_tenant" AS "t"
                           JOIN "sub" ON "t"."parent_id" = "sub"."id"
                           WHERE "t"."platform_id" = ?1
                       )
                       SELECT "id", "depth" FROM "sub""#,
                )
                .bind(platform.as_str())
                .bind(id.as_str()),
            )
            .await?;
        if rows.is_empty() {
            return Err(Error::not_found("tenant", id.as_str()));
        }
        rows.iter()
            .map(|r| Ok((parse(r, "id")?, r.get("depth")?)))
            .collect()
    }

    /// The tenant and all its sub-tenants, at any depth.
    pub async fn subtree(&self, platform: PlatformId, id: TenantId) -> Result<Vec<TenantId>> {
        Ok(self
            .subtree_with_depth(platform, id)
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect())
    }

    /// Moves a tenant (with its sub-tenants) under another parent, or to the top
    /// level. Refuses cycles (a tenant under itself or its own sub-tenant) and moves
    /// that would nest any tenant deeper than allowed.
    pub async fn reparent(
        &self,
        platform: PlatformId,
        id: TenantId,
        parent: Option<TenantId>,
    ) -> Result<()> {
        self.reparent_checks(platform, id, parent).await?;
        let now = self.now_ms();
        // The checks above read the tree; the write decides again on the tree as
        // it is inside the transaction, so concurrent moves cannot make a cycle or
        // nest deeper than allowed: the parent is not in the moved subtree, and
        // the new parent's depth plus the subtree's height fits. The depths of
        // the subtree are then recomputed from the tree, not from the read.
        let subtree_sql = r#"WITH RECURSIVE "sub" ("id", "rel") AS (
                   SELECT ?2, 0
                   UNION
                   SELECT "t"."id", "sub"."rel" + 1 FROM "neutrino_tenant" AS "t"
                   JOIN "sub" ON "t"."parent_id" = "sub"."id"
                   WHERE "t"."platform_id" = ?1 AND "sub"."rel" < 10000
               )"#;
        let out = self
            .db()
            .batch(&[
                Statement::new(format!(
                    r#"UPDATE "neutrino_tenant" SET "parent_id" = ?3, "updated_at" = ?4
                       WHERE "platform_id" = ?1 AND "id" = ?2 AND {active}
                         AND (?3 IS NULL OR (
                           EXISTS (SELECT 1 FROM "neutrino_tenant" WHERE "platform_id" = ?1 AND "id" = ?3)
                           AND ?3 NOT IN ({subtree_sql} SELECT "id" FROM "sub")))
                         AND COALESCE((SELECT "depth" + 1 FROM "neutrino_tenant" WHERE "platform_id" = ?1 AND "id" = ?3), 0)
                             + ({subtree_sql} SELECT max("rel") FROM "sub") <= ?5"#,
                    active = active_platform(1)
                ))
                .bind(platform.as_str())
                .bind(id.as_str())
                .bind(parent.map(|p| p.as_str().to_owned()))
                .bind(now)
                .bind(i64::from(self.inner.opts.max_tenant_depth)),
                Statement::new(format!(
                    r#"WITH RECURSIVE "sub" ("id", "d") AS (
                           SELECT "t"."id", COALESCE("pp"."depth" + 1, 0) FROM "neutrino_tenant" AS "t"
                           LEFT JOIN "neutrino_tenant" AS "pp"
                             ON "pp"."platform_id" = "t"."platform_id" AND "pp"."id" = "t"."parent_id"
                           WHERE "t"."platform_id" = ?1 AND "t"."id" = ?2
                           UNION
                           SELECT "t"."id", "sub"."d" + 1 FROM "neutrino_tenant" AS "t"
                           JOIN "sub" ON "t"."parent_id" = "sub"."id"
                           WHERE "t"."platform_id" = ?1 AND "sub"."d" < 10000
                       )
                       UPDATE "neutrino_tenant" SET "depth" = (SELECT "d" FROM "sub" WHERE "sub"."id" = "neutrino_tenant"."id"), "updated_at" = ?3
                       WHERE "platform_id" = ?1 AND "id" IN (SELECT "id" FROM "sub") AND {}"#,
                    active_platform(1)
                ))
                .bind(platform.as_str())
                .bind(id.as_str())
                .bind(now),
            ])
            .await?;
        if out.first().is_none_or(|o| o.rows_affected == 0) {
            // Refused inside the write: say why, from the tree as it is now.
            self.reparent_checks(platform, id, parent).await?;
            return Err(self
                .refusal(platform, Error::not_found("tenant", id.as_str()))
                .await);
        }
        Ok(())
    }

    /// The checks of [`Registry::reparent`] on the tree as read now, for a
    /// precise error; the write decides again.
    async fn reparent_checks(
        &self,
        platform: PlatformId,
        id: TenantId,
        parent: Option<TenantId>,
    ) -> Result<()> {
        let subtree = self.subtree_with_depth(platform, id).await?;
        let own_depth = subtree
            .iter()
            .find(|(t, _)| *t == id)
            .map_or(0, |(_, d)| *d);
        let new_depth = match parent {
            Some(p) => {
                if subtree.iter().any(|(t, _)| *t == p) {
                    return Err(Error::invalid(
                        "tenant parent",
                        format!(
                            "tenant {p} is {id} or one of its sub-tenants: that would make a cycle"
                        ),
                    ));
                }
                self.tenant(platform, p).await?.depth + 1
            }
            None => 0,
        };
        let deepest = subtree.iter().map(|(_, d)| *d).max().unwrap_or(own_depth);
        let new_deepest = i64::from(deepest) - i64::from(own_depth) + i64::from(new_depth);
        if new_deepest > i64::from(self.inner.opts.max_tenant_depth) {
            return Err(Error::invalid(
                "tenant parent",
                format!(
                    "sub-tenants may be nested at most {} levels deep",
                    self.inner.opts.max_tenant_depth
                ),
            ));
        }
        Ok(())
    }

    // ---- stacks and resources ----

    /// Registers a stack made from `template`.
    pub async fn create_stack(
        &self,
        platform: PlatformId,
        id: StackId,
        template: &StackTemplate,
    ) -> Result<Stack> {
        validate_text("stack template name", &template.name, 100)?;
        let now = self.now_ms();
        let out = self
            .db()
            .execute(
                &Statement::new(format!(
                    r#"INSERT INTO "neutrino_stack" ("platform_id", "id", "template", "template_version", "status", "created_at", "updated_at")
                       SELECT ?1, ?2, ?3, ?4, 'active', ?5, ?5 WHERE {}"#,
                    active_platform(1)
                ))
                .bind(platform.as_str())
                .bind(id.as_str())
                .bind(template.name.as_str())
                .bind(template.version)
                .bind(now),
            )
            .await?;
        if out.rows_affected == 0 {
            return Err(self
                .refusal(platform, Error::not_found("platform", platform.as_str()))
                .await);
        }
        Ok(Stack {
            platform,
            id,
            template: template.name.clone(),
            template_version: template.version,
            status: "active".into(),
        })
    }

    /// A stack of `platform`.
    pub async fn stack(&self, platform: PlatformId, id: StackId) -> Result<Stack> {
        let row = self
            .db()
            .query_one(
                &Statement::new(
                    r#"SELECT "id", "template", "template_version", "status" FROM "neutrino_stack"
                       WHERE "platform_id" = ?1 AND "id" = ?2"#,
                )
                .bind(platform.as_str())
                .bind(id.as_str()),
                "stack",
                id.as_str(),
            )
            .await?;
        Ok(Stack {
            platform,
            id: parse(&row, "id")?,
            template: row.get("template")?,
            template_version: row.get("template_version")?,
            status: row.get("status")?,
        })
    }

    /// The stacks of `platform`, by ID.
    pub async fn stacks(&self, platform: PlatformId) -> Result<Vec<Stack>> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT "id", "template", "template_version", "status" FROM "neutrino_stack"
                       WHERE "platform_id" = ?1 ORDER BY "id""#,
                )
                .bind(platform.as_str()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Stack {
                    platform,
                    id: parse(row, "id")?,
                    template: row.get("template")?,
                    template_version: row.get("template_version")?,
                    status: row.get("status")?,
                })
            })
            .collect()
    }

    /// Marks a stack `active` or `deleted` (a tombstone). Marking it deleted
    /// works in any platform status (teardown must); marking it active needs an
    /// active platform.
    pub async fn set_stack_status(
        &self,
        platform: PlatformId,
        stack: StackId,
        deleted: bool,
    ) -> Result<()> {
        let condition = platform_takes(1, deleted);
        let out = self
            .db()
            .execute(
                &Statement::new(format!(
                    r#"UPDATE "neutrino_stack" SET "status" = ?3, "updated_at" = ?4 WHERE "platform_id" = ?1 AND "id" = ?2 AND {condition}"#,
                ))
                .bind(platform.as_str())
                .bind(stack.as_str())
                .bind(if deleted { "deleted" } else { "active" })
                .bind(self.now_ms()),
            )
            .await?;
        if out.rows_affected == 0 {
            let missing = Error::not_found("stack", stack.as_str());
            return Err(if deleted {
                missing
            } else {
                self.refusal(platform, missing).await
            });
        }
        Ok(())
    }

    /// Refuses a record whose name is not a resource of its own platform and
    /// stack ([`check_owner`]).
    fn check_record_owner(&self, rec: &ResourceRecord) -> Result<()> {
        check_owner(
            self.base_domain(),
            rec.platform,
            rec.stack,
            rec.kind,
            &rec.logical_name,
        )
    }

    /// Records (inserts or updates) what is known about a resource.
    ///
    /// The name must belong to the record's platform and stack, parsed back from
    /// the name ([`ResourceKind::owner`], hostnames under exactly the
    /// registry's [base domain](Registry::base_domain)): a record naming another platform's
    /// resource (or one of no platform) is [`Error::InvalidInput`] and nothing is
    /// written, so teardown can never be pointed at someone else's resource.
    ///
    /// Recording it `deleted` works in any platform status (teardown must); any
    /// other status needs an active platform.
    pub async fn record_resource(&self, rec: &ResourceRecord) -> Result<()> {
        self.check_record_owner(rec)?;
        let now = self.now_ms();
        let condition = platform_takes(1, rec.status == ResourceStatus::Deleted);
        let out = self
            .db()
            .execute(
                &Statement::new(format!(
                    r#"INSERT INTO "neutrino_resource" ("platform_id", "stack_id", "kind", "logical_name", "provider", "provider_id", "status", "created_at", "updated_at")
                       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8 WHERE {condition}
                       ON CONFLICT ("platform_id", "kind", "logical_name") DO UPDATE SET
                         "stack_id" = excluded."stack_id", "provider" = excluded."provider",
                         "provider_id" = excluded."provider_id", "status" = excluded."status",
                         "updated_at" = excluded."updated_at""#,
                ))
                .bind(rec.platform.as_str())
                .bind(rec.stack.as_str())
                .bind(rec.kind.as_str())
                .bind(rec.logical_name.as_str())
                .bind(rec.provider.as_str())
                .bind(rec.provider_id.clone())
                .bind(rec.status.as_str())
                .bind(now),
            )
            .await?;
        if out.rows_affected == 0 {
            return Err(self
                .refusal(
                    rec.platform,
                    Error::not_found("platform", rec.platform.as_str()),
                )
                .await);
        }
        Ok(())
    }

    /// Claims a resource for the plan `plan` before it is created: writes the
    /// record as `pending` with `created_by = plan` (NULL when `adopted`: the
    /// resource existed before the plan) if there is no record or only a
    /// tombstone, and only while the stack is active. A live record is left as
    /// it is (it stays its creator's). Errors if the stack is not active.
    pub(crate) async fn claim_resource(
        &self,
        rec: &ResourceRecord,
        plan: &str,
        adopted: bool,
    ) -> Result<()> {
        self.check_record_owner(rec)?;
        let now = self.now_ms();
        let created_by = (!adopted).then(|| plan.to_owned());
        self.db()
            .execute(
                &Statement::new(format!(
                    r#"INSERT INTO "neutrino_resource" ("platform_id", "stack_id", "kind", "logical_name", "provider", "provider_id", "status", "created_at", "updated_at", "created_by")
                       SELECT ?1, ?2, ?3, ?4, ?5, NULL, 'pending', ?6, ?6, ?7
                       WHERE EXISTS (SELECT 1 FROM "neutrino_stack" WHERE "platform_id" = ?1 AND "id" = ?2 AND "status" = 'active')
                         AND {active}
                       ON CONFLICT ("platform_id", "kind", "logical_name") DO UPDATE SET
                         "stack_id" = excluded."stack_id", "provider" = excluded."provider",
                         "provider_id" = NULL, "status" = 'pending',
                         "updated_at" = excluded."updated_at", "created_by" = excluded."created_by"
                       WHERE "neutrino_resource"."status" = 'deleted'"#,
                    active = active_platform(1),
                ))
                .bind(rec.platform.as_str())
                .bind(rec.stack.as_str())
                .bind(rec.kind.as_str())
                .bind(rec.logical_name.as_str())
                .bind(rec.provider.as_str())
                .bind(now)
                .bind(created_by),
            )
            .await?;
        // No row written: either someone's live record (fine: theirs), or the
        // platform or the stack is not active (refused).
        match self
            .resource(rec.platform, rec.kind, &rec.logical_name)
            .await
        {
            Ok(r) if r.status != ResourceStatus::Deleted => Ok(()),
            Ok(_) => Err(self
                .refusal(rec.platform, stack_not_active(rec.stack))
                .await),
            Err(e) if e.is_not_found() => Err(self
                .refusal(rec.platform, stack_not_active(rec.stack))
                .await),
            Err(e) => Err(e),
        }
    }

    /// The live (not deleted) records of `stack` that the plan `plan` created.
    pub(crate) async fn resources_created_by(
        &self,
        platform: PlatformId,
        stack: StackId,
        plan: &str,
    ) -> Result<Vec<ResourceRecord>> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT * FROM "neutrino_resource" WHERE "platform_id" = ?1 AND "stack_id" = ?2
                       AND "created_by" = ?3 AND "status" != 'deleted' ORDER BY "kind", "logical_name""#,
                )
                .bind(platform.as_str())
                .bind(stack.as_str())
                .bind(plan),
            )
            .await?;
        rows.iter().map(resource_of).collect()
    }

    /// Marks a resource record of `platform` deleted without checking its name:
    /// for records that do not belong to the platform (written by hand or by an
    /// older version), whose resource is never touched.
    pub(crate) async fn tombstone_resource(
        &self,
        platform: PlatformId,
        kind: ResourceKind,
        logical_name: &str,
    ) -> Result<()> {
        self.db()
            .execute(
                &Statement::new(
                    r#"UPDATE "neutrino_resource" SET "status" = 'deleted', "provider_id" = NULL, "updated_at" = ?4
                       WHERE "platform_id" = ?1 AND "kind" = ?2 AND "logical_name" = ?3"#,
                )
                .bind(platform.as_str())
                .bind(kind.as_str())
                .bind(logical_name)
                .bind(self.now_ms()),
            )
            .await?;
        Ok(())
    }

    /// Marks a stack deleted if none of its resources is live, in one
    /// conditional write; `false` if some still are (or the stack is unknown).
    pub(crate) async fn mark_stack_deleted_if_empty(
        &self,
        platform: PlatformId,
        stack: StackId,
    ) -> Result<bool> {
        let out = self
            .db()
            .execute(
                &Statement::new(
                    r#"UPDATE "neutrino_stack" SET "status" = 'deleted', "updated_at" = ?3
                       WHERE "platform_id" = ?1 AND "id" = ?2 AND NOT EXISTS (
                         SELECT 1 FROM "neutrino_resource" WHERE "platform_id" = ?1 AND "stack_id" = ?2
                         AND "status" != 'deleted')"#,
                )
                .bind(platform.as_str())
                .bind(stack.as_str())
                .bind(self.now_ms()),
            )
            .await?;
        Ok(out.rows_affected > 0)
    }

    /// A resource of `platform`.
    pub async fn resource(
        &self,
        platform: PlatformId,
        kind: ResourceKind,
        logical_name: &str,
    ) -> Result<ResourceRecord> {
        let row = self
            .db()
            .query_one(
                &Statement::new(
                    r#"SELECT * FROM "neutrino_resource" WHERE "platform_id" = ?1 AND "kind" = ?2 AND "logical_name" = ?3"#,
                )
                .bind(platform.as_str())
                .bind(kind.as_str())
                .bind(logical_name),
                "resource",
                logical_name,
            )
            .await?;
        resource_of(&row)
    }

    /// Every resource of `platform`, by kind and name.
    pub async fn resources(&self, platform: PlatformId) -> Result<Vec<ResourceRecord>> {
        let rows = self
            .db()
            .query(
                &Statement::new(
                    r#"SELECT * FROM "neutrino_resource" WHERE "platform_id" = ?1 ORDER BY "kind", "logical_name""#,
                )
                .bind(platform.as_str()),
            )
            .await?;
        rows.iter().map(resource_of).collect()
    }

    // ---- features ----

    /// Sets a feature for a tenant (an operator call; checks the tenant belongs to
    /// the platform, and refuses a suspended or deleted platform).
    pub async fn set_feature(
        &self,
        platform: PlatformId,
        tenant: TenantId,
        feature: &Feature,
    ) -> Result<()> {
        let key_ok = !feature.key.is_empty()
            && feature.key.len() <= 64
            && feature
                .key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !key_ok {
            return Err(Error::invalid(
                "feature key",
                format!(
                    "must be 1-64 characters of a-z0-9._-, got {:?}",
                    feature.key
                ),
            ));
        }
        self.tenant(platform, tenant).await?;
        let config = serde_json::to_string(&feature.config)
            .map_err(|e| Error::invalid("feature config", e.to_string()))?;
        let out = self
            .db()
            .execute(
                &Statement::new(format!(
                    r#"INSERT INTO "neutrino_feature" ("platform_id", "tenant_id", "key", "version", "enabled", "config", "updated_at")
                       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE {}
                       ON CONFLICT ("platform_id", "tenant_id", "key") DO UPDATE SET
                         "version" = excluded."version", "enabled" = excluded."enabled",
                         "config" = excluded."config", "updated_at" = excluded."updated_at""#,
                    active_platform(1)
                ))
                .bind(platform.as_str())
                .bind(tenant.as_str())
                .bind(feature.key.as_str())
                .bind(feature.version)
                .bind(feature.enabled)
                .bind(config)
                .bind(self.now_ms()),
            )
            .await?;
        if out.rows_affected == 0 {
            return Err(self
                .refusal(platform, Error::not_found("tenant", tenant.as_str()))
                .await);
        }
        Ok(())
    }

    /// The scope's tenant's setting of a feature, if any.
    pub async fn feature(&self, scope: &TenantScope, key: &str) -> Result<Option<Feature>> {
        self.check_active(scope.platform()).await?;
        let row = self
            .db()
            .query_opt(
                &Statement::new(
                    r#"SELECT "key", "version", "enabled", "config" FROM "neutrino_feature"
                       WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "key" = ?3"#,
                )
                .bind(scope.platform().as_str())
                .bind(scope.tenant().as_str())
                .bind(key),
            )
            .await?;
        row.map(|r| {
            let config: String = r.get("config")?;
            Ok(Feature {
                key: r.get("key")?,
                version: r.get("version")?,
                enabled: r.get("enabled")?,
                config: serde_json::from_str(&config).map_err(|e| Error::Decode {
                    what: format!("feature {key} config"),
                    reason: e.to_string(),
                })?,
            })
        })
        .transpose()
    }

    /// Whether a feature is enabled for the scope's tenant (never set = off).
    pub async fn is_enabled(&self, scope: &TenantScope, key: &str) -> Result<bool> {
        Ok(self.feature(scope, key).await?.is_some_and(|f| f.enabled))
    }
}
