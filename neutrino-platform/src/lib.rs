//! [`Platform`]: one platform's runtime, assembled once at start-up and handed
//! to every request.
//!
//! Host apps use it through the `neutrino` facade (`neutrino::Platform`); it
//! is a crate of its own so that the HTTP layer can build on it.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use neutrino_auth::org::{MemberScope, Organizations};
use neutrino_auth::{Auth, AuthBuilder, AuthError, CookieConfig, CookieDomain};
use neutrino_core::ids::{PlatformId, StackId};
use neutrino_core::sql::{SqlExecutor, SqlExecutorExt, Statement};
use neutrino_core::{Error, Result};
use neutrino_tenancy::{PlatformRegistry, Registry, ScopeMinter, TenantStore, TenantTable};

mod provisioned;
pub use provisioned::Platforms;

use neutrino_auth::apikey::ApiKeyScope;

type AuthSettings = Box<dyn FnOnce(AuthBuilder) -> AuthBuilder + Send>;
type OrgSettings = Box<dyn FnOnce(Organizations) -> Organizations + Send>;

/// One platform's runtime: its registry view, its auth layer, its
/// organizations and its tenant store, opened, migrated and reconciled once at
/// start-up, and what a request needs from them.
///
/// Build it from backends with [`Platform::builder`]; found or created by
/// name and provisioned by any provisioner (PostgreSQL, Cloudflare, …) with
/// [`Platforms::platform`]; or, on the embedded default, from a folder with
/// `Platform::open_local` (feature `sqlite`; for several platforms of one
/// folder, `LocalPlatforms`).
///
/// Cheap to clone (an [`Arc`] inside), `Send + Sync`: clone it into every
/// handler. A process may hold any number of them, one per platform it
/// serves, all on one [`Registry`]; each serves its own platform only: a
/// session, an API key or a tenant scope of another platform is refused.
///
/// Per request, one call turns a credential into the scope every
/// [`TenantStore`] call takes: [`Platform::scope_from_cookie_header`],
/// [`Platform::scope`] (a session token) and [`Platform::scope_from_api_key`].
/// Errors are [`Error`]; a Better Auth error keeps its code (e.g.
/// `UNAUTHORIZED`, `NO_ACTIVE_ORGANIZATION`) in the message, and the same
/// calls on [`Platform::orgs`] and [`Platform::auth`] answer [`AuthError`]
/// itself, with its code and HTTP status.
///
/// A suspended platform's runtime keeps working for reads of the auth layer
/// and sign-out, and refuses every write (sign-up, sign-in, organizations,
/// tenant rows) and every new scope with [`Error::Suspended`] (HTTP 403).
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

struct Inner {
    registry: PlatformRegistry,
    orgs: Organizations,
    store: TenantStore,
    is_new: bool,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// A runtime for `platform` of `registry`, from backends: the platform's
    /// auth database ([`PlatformBuilder::auth_db`]) and the database of its
    /// tenanted tables ([`PlatformBuilder::store`]) are required. Scopes are
    /// minted by a copy of `minter` (the registry's [`Registry::scope_minter`],
    /// or one already narrowed to this platform) narrowed to `platform`.
    ///
    /// `secret` signs cookies and tokens (Better Auth's `BETTER_AUTH_SECRET`,
    /// at least 32 bytes, from the host's environment); there is no default.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> neutrino::Result<()> {
    /// use std::sync::Arc;
    /// use neutrino::Platform;
    /// use neutrino::memory::MemoryKv;
    /// use neutrino::sqlite::SqliteExecutor;
    /// use neutrino::tenancy::{NewPlatform, PlatformClass, Registry, RegistryOptions};
    ///
    /// let registry_db = Arc::new(SqliteExecutor::memory().await?);
    /// let registry = Registry::open(registry_db, Arc::new(MemoryKv::new()), RegistryOptions::default()).await?;
    /// // Once per registry: every platform's runtime takes a copy of it.
    /// let minter = registry.scope_minter()?;
    /// let (shop, _) = registry.open_or_create_platform(NewPlatform::new("Shop", PlatformClass::Platform)).await?;
    /// let app = Platform::builder(&registry, &minter, shop.id, "the shop's secret, 32 bytes or more")
    ///     .auth_db(Arc::new(SqliteExecutor::memory().await?))
    ///     .store(Arc::new(SqliteExecutor::memory().await?), vec![])
    ///     .with_auth(|a| a.with_trusted_origins(["https://shop.example.com"]))
    ///     .build()
    ///     .await?;
    /// assert_eq!(app.id(), shop.id);
    /// // Without a session there is no scope.
    /// assert!(app.scope_from_cookie_header("theme=dark").await.unwrap_err().is_permission_denied());
    /// # Ok(()) }
    /// ```
    pub fn builder(
        registry: &Registry,
        minter: &ScopeMinter,
        platform: PlatformId,
        secret: impl Into<Vec<u8>>,
    ) -> PlatformBuilder {
        PlatformBuilder::new(
            Source::Backends {
                registry: registry.clone(),
                minter: minter.restricted_to(platform),
                platform,
            },
            secret.into(),
        )
    }

    /// The platform's ID.
    pub fn id(&self) -> PlatformId {
        self.inner.registry.id()
    }

    /// Whether opening this runtime created the platform (its first start,
    /// e.g. to seed data). Always `false` for [`Platform::builder`], which
    /// opens an existing platform.
    pub fn is_new(&self) -> bool {
        self.inner.is_new
    }

    /// The registry seen from this platform: its tenants, hosts, features,
    /// stacks, resources, status and audit log.
    pub fn registry(&self) -> &PlatformRegistry {
        &self.inner.registry
    }

    /// The platform's auth layer: sign-up, sign-in, sessions and cookies.
    pub fn auth(&self) -> &Auth {
        self.inner.orgs.auth()
    }

    /// The platform's organizations (its tenants), members, invitations and
    /// API keys.
    pub fn orgs(&self) -> &Organizations {
        &self.inner.orgs
    }

    /// The platform's tenant store, restricted to this platform: it reads and
    /// writes only the rows of the scope it is given, and refuses another
    /// platform's scope.
    pub fn store(&self) -> &TenantStore {
        &self.inner.store
    }

    /// The scope of a session's active organization, from the session token
    /// ([`Organizations::scope`]): `UNAUTHORIZED` (as
    /// [`Error::PermissionDenied`]) without a valid session of this platform,
    /// `NO_ACTIVE_ORGANIZATION` (as [`Error::NotFound`]) when the session has
    /// none, [`Error::Suspended`] when the platform is suspended.
    pub async fn scope(&self, token: &str) -> Result<MemberScope> {
        Ok(self.inner.orgs.scope(token).await?)
    }

    /// [`Platform::scope`] from a request's whole `Cookie` header: the signed
    /// session cookie is verified first (a missing, tampered or foreign cookie
    /// is `UNAUTHORIZED`, as [`Error::PermissionDenied`], before anything is
    /// read). To send a refreshed session cookie back, read the session with
    /// [`Auth::get_session_from_cookie_header`].
    pub async fn scope_from_cookie_header(&self, header: &str) -> Result<MemberScope> {
        let cookies = self.auth().cookies();
        let value = cookies
            .from_cookie_header(header)
            .session
            .ok_or(AuthError::Unauthorized)?;
        let token = cookies.verify(value).map_err(AuthError::from)?;
        self.scope(&token).await
    }

    /// What an API key (as sent in `x-api-key`) may act on
    /// ([`Organizations::verify_api_key`]): a tenant key's [`MemberScope`], or
    /// the platform for a platform key. A key of another platform, unknown,
    /// disabled or expired is `INVALID_API_KEY` (as
    /// [`Error::PermissionDenied`]).
    pub async fn scope_from_api_key(&self, key: &str) -> Result<ApiKeyScope> {
        Ok(self.inner.orgs.verify_api_key(key).await?)
    }
}

/// The table in which an auth database records the one platform it serves.
const AUTH_PLATFORM_TABLE: &str = "neutrino_auth_platform";

/// Claims `db` for `platform`, or refuses it when it already serves another
/// platform: an auth database has no platform column, so two platforms on one
/// auth database would accept each other's sessions. The database decides:
/// the first claim's insert wins, and every later one reads the winner back.
async fn claim_auth_db(db: &dyn SqlExecutor, platform: PlatformId) -> Result<()> {
    // One schema change at a time: concurrent first starts would race in the
    // catalog otherwise.
    neutrino_core::migrate::schema_batch(
        db,
        &[Statement::new(format!(
            r#"CREATE TABLE IF NOT EXISTS "{AUTH_PLATFORM_TABLE}" ("singleton" INTEGER PRIMARY KEY CHECK ("singleton" = 1), "platform_id" TEXT NOT NULL)"#
        ))],
    )
    .await?;
    db.execute(
        &Statement::new(format!(
            r#"INSERT INTO "{AUTH_PLATFORM_TABLE}" ("singleton", "platform_id") VALUES (1, ?1) ON CONFLICT ("singleton") DO NOTHING"#
        ))
        .bind(platform.as_str()),
    )
    .await?;
    let row = db
        .query_one(
            &Statement::new(format!(
                r#"SELECT "platform_id" FROM "{AUTH_PLATFORM_TABLE}" WHERE "singleton" = 1"#
            )),
            "auth database platform",
            "1",
        )
        .await?;
    let owner: String = row.get(0)?;
    if owner == platform.as_str() {
        Ok(())
    } else {
        Err(Error::Config {
            backend: "platform",
            key: "auth_db",
            reason: format!("this auth database serves platform {owner}, not {platform}"),
        })
    }
}

enum Source {
    Backends {
        registry: Registry,
        minter: Result<ScopeMinter>,
        platform: PlatformId,
    },
    Provisioned {
        platforms: Platforms,
        name: String,
    },
}

/// Builds a [`Platform`]: from [`Platform::builder`] (backends),
/// [`Platforms::platform`] (found or created by name and provisioned) or
/// `LocalPlatforms::platform` (a folder, feature `sqlite`).
pub struct PlatformBuilder {
    source: Source,
    secret: Vec<u8>,
    auth_db: Option<Arc<dyn SqlExecutor>>,
    store_db: Option<Arc<dyn SqlExecutor>>,
    tables: Vec<TenantTable>,
    auth_settings: Option<AuthSettings>,
    org_settings: Option<OrgSettings>,
}

impl fmt::Debug for PlatformBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let platform = match &self.source {
            Source::Backends { platform, .. } => platform.to_string(),
            Source::Provisioned { name, .. } => name.clone(),
        };
        f.debug_struct("PlatformBuilder")
            .field("platform", &platform)
            .field("tables", &self.tables.len())
            .finish_non_exhaustive()
    }
}

impl PlatformBuilder {
    /// A builder for `source` with nothing else set yet.
    pub(crate) fn new(source: Source, secret: Vec<u8>) -> Self {
        Self {
            source,
            secret,
            auth_db: None,
            store_db: None,
            tables: Vec::new(),
            auth_settings: None,
            org_settings: None,
        }
    }

    /// The platform's auth database (required from backends; a provisioned
    /// platform has its own).
    pub fn auth_db(mut self, db: Arc<dyn SqlExecutor>) -> Self {
        self.auth_db = Some(db);
        self
    }

    /// The database of the host's tenanted tables and the tables themselves
    /// (required from backends; a provisioned platform keeps them in its
    /// default stack database, see [`PlatformBuilder::tables`]).
    pub fn store(mut self, db: Arc<dyn SqlExecutor>, tables: Vec<TenantTable>) -> Self {
        self.store_db = Some(db);
        self.tables = tables;
        self
    }

    /// The host's tenanted tables, in the store database this builder has.
    pub fn tables(mut self, tables: Vec<TenantTable>) -> Self {
        self.tables = tables;
        self
    }

    /// More settings of the auth layer (base URL, trusted origins, cookies,
    /// session cache, mailer, …), applied after the runtime's own: the base
    /// URL `https://` + the platform's auth host and `Secure` cookies shared
    /// across the platform's domain.
    pub fn with_auth(
        mut self,
        f: impl FnOnce(AuthBuilder) -> AuthBuilder + Send + 'static,
    ) -> Self {
        self.auth_settings = Some(Box::new(f));
        self
    }

    /// More settings of the organizations (access policy, invitation limit).
    pub fn with_orgs(
        mut self,
        f: impl FnOnce(Organizations) -> Organizations + Send + 'static,
    ) -> Self {
        self.org_settings = Some(Box::new(f));
        self
    }

    /// Opens the runtime: checks the platform exists (an unknown or deleted
    /// one is [`Error::NotFound`]; from [`Platforms`], registers and
    /// provisions it first), claims the auth database for the platform, builds and migrates
    /// the auth layer, binds it to the platform's organizations, finishes
    /// pending organization creations ([`Organizations::reconcile`]; on a
    /// suspended platform they wait for a start after reinstatement) and
    /// opens the tenant store restricted to the platform (from [`Platforms`]
    /// with a store connector, after migrating its tables through the
    /// provisioner's connector: [`Platforms::with_store_connector`]).
    /// Idempotent: every start runs it.
    ///
    /// Errors: a missing database is [`Error::Config`]; so is an auth
    /// database that already serves another platform (an auth database has
    /// no platform column, so two platforms sharing one would accept each
    /// other's sessions; the first platform to open it owns it for good), and
    /// a bad secret or auth setting. A minter narrowed to another platform is
    /// [`Error::PermissionDenied`], a table declared twice
    /// [`Error::InvalidInput`].
    pub async fn build(self) -> Result<Platform> {
        let Self {
            source,
            secret,
            auth_db,
            store_db,
            tables,
            auth_settings,
            org_settings,
        } = self;
        let missing = |key| Error::Config {
            backend: "platform",
            key,
            reason: "is required".into(),
        };
        let (registry, minter, platform, auth_db, store_db, owner_db, is_new) = match source {
            Source::Backends {
                registry,
                minter,
                platform,
            } => {
                let minter = minter?;
                registry.platform_record(platform).await?;
                (
                    registry,
                    minter,
                    platform,
                    auth_db.ok_or_else(|| missing("auth_db"))?,
                    store_db.ok_or_else(|| missing("store"))?,
                    None,
                    false,
                )
            }
            Source::Provisioned { platforms, name } => {
                let opened = platforms.open_platform(&name).await?;
                // A store database of the host's own is the host's to migrate.
                let (store_db, owner_db) = match store_db {
                    Some(db) => (db, None),
                    None => (opened.store_db, opened.owner_db),
                };
                (
                    platforms.registry().clone(),
                    platforms.minter(opened.id)?,
                    opened.id,
                    auth_db.unwrap_or(opened.auth_db),
                    store_db,
                    owner_db,
                    opened.created,
                )
            }
        };
        claim_auth_db(&*auth_db, platform).await?;
        let domain = registry.base_domain();
        let mut auth = AuthBuilder::new_shared(auth_db, secret)
            .with_base_url(format!(
                "https://{}",
                domain.auth_host(platform, StackId::DEFAULT)
            ))
            .with_cookies(CookieConfig {
                secure: true,
                domain: CookieDomain::platform(platform, domain),
                ..CookieConfig::default()
            });
        if let Some(f) = auth_settings {
            auth = f(auth);
        }
        let auth = auth.build()?;
        auth.migrate().await?;
        let mut orgs = Organizations::new(auth, registry.platform(platform), minter)?;
        if let Some(f) = org_settings {
            orgs = f(orgs);
        }
        // A suspended platform refuses every write: its pending creations
        // wait for a start after it is reinstated, and it is served as it is.
        match orgs.reconcile().await {
            Err(e) if e.is_suspended() => {}
            other => {
                other?;
            }
        }
        // The tables are their owner's to create, the store's role only
        // reads and writes rows (see `Platforms::with_store_connector`).
        if let Some(owner) = owner_db {
            TenantStore::migrate(&*owner, &tables).await?;
        }
        let store = TenantStore::open(&registry, store_db, tables)
            .await?
            .restricted_to(platform)?;
        Ok(Platform {
            inner: Arc::new(Inner {
                registry: registry.platform(platform),
                orgs,
                store,
                is_new,
            }),
        })
    }
}

#[cfg(feature = "sqlite")]
pub use local::LocalPlatforms;

#[cfg(feature = "sqlite")]
mod local {
    use std::path::Path;

    use neutrino_core::provision::{Provisioner, ResourceKind, ResourceSpec};
    use neutrino_sqlite::{LocalProvisioner, SqliteExecutor};
    use neutrino_tenancy::RegistryOptions;

    use super::*;

    /// The KV namespace of the registry's status mirror in a folder.
    const REGISTRY_KV: &str = "neutrino-registry";

    /// The platforms kept in one local folder (the embedded default): the
    /// registry (`registry.sqlite`), and each platform's databases, buckets
    /// and KV namespaces, made by the [`LocalProvisioner`]: [`Platforms`] on
    /// a folder.
    ///
    /// Open the folder once per process and make each platform's
    /// [`Platform`] from it ([`LocalPlatforms::platform`]): it holds the
    /// registry's one [`ScopeMinter`], so it is the only way to serve several
    /// platforms of one folder from one process. Cheap to clone.
    #[derive(Clone)]
    pub struct LocalPlatforms {
        provisioner: Arc<LocalProvisioner>,
        platforms: Platforms,
    }

    impl fmt::Debug for LocalPlatforms {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("LocalPlatforms")
                .field("root", &self.provisioner.root())
                .finish_non_exhaustive()
        }
    }

    impl LocalPlatforms {
        /// Opens (creating it if needed) the folder and its registry. A second
        /// handle on the same folder in the same process is
        /// [`Error::PermissionDenied`] while this one lives (the registry's
        /// scope minter is already given out): share this one.
        pub async fn open(folder: impl AsRef<Path>) -> Result<Self> {
            Self::open_with(folder, RegistryOptions::default()).await
        }

        /// [`LocalPlatforms::open`] with the registry's options (base domain,
        /// status TTL, clock, …).
        pub async fn open_with(folder: impl AsRef<Path>, opts: RegistryOptions) -> Result<Self> {
            let folder = folder.as_ref();
            let provisioner = Arc::new(LocalProvisioner::open(folder).await?);
            provisioner
                .create(&ResourceSpec::new(ResourceKind::KvNamespace, REGISTRY_KV))
                .await?;
            let registry = Registry::open(
                Arc::new(SqliteExecutor::open(folder.join("registry.sqlite")).await?),
                Arc::new(provisioner.kv(REGISTRY_KV).await?),
                opts,
            )
            .await?;
            let minter = registry.scope_minter()?;
            let platforms =
                Platforms::new(registry, minter, provisioner.clone(), provisioner.clone());
            Ok(Self {
                provisioner,
                platforms,
            })
        }

        /// The registry (operator-level: suspension, every platform).
        pub fn registry(&self) -> &Registry {
            self.platforms.registry()
        }

        /// The folder's platforms as [`Platforms`], the shape every
        /// provisioner's platforms have.
        pub fn platforms(&self) -> &Platforms {
            &self.platforms
        }

        /// The provisioner of the folder, to open a platform's other
        /// resources (buckets, KV namespaces) by name.
        pub fn provisioner(&self) -> &Arc<LocalProvisioner> {
            &self.provisioner
        }

        /// The runtime of the platform named `name` in this folder, as
        /// [`Platforms::platform`]: made on its first start, with its
        /// bootstrap and its default stack (a database, which holds the
        /// tenanted tables, a bucket and a KV namespace) provisioned.
        /// `secret` as in [`Platform::builder`].
        pub fn platform(&self, name: &str, secret: impl Into<Vec<u8>>) -> PlatformBuilder {
            self.platforms.platform(name, secret)
        }
    }

    impl Platform {
        /// The one-liner of the embedded default: opens `folder`
        /// ([`LocalPlatforms::open`]) and the platform named `name` in it
        /// ([`LocalPlatforms::platform`]), with `tables` as its tenanted
        /// tables. To serve several platforms of one folder, or to pass more
        /// settings, use [`LocalPlatforms`].
        pub async fn open_local(
            folder: impl AsRef<Path>,
            name: &str,
            secret: impl Into<Vec<u8>>,
            tables: Vec<TenantTable>,
        ) -> Result<Platform> {
            LocalPlatforms::open(folder)
                .await?
                .platform(name, secret)
                .tables(tables)
                .build()
                .await
        }
    }
}
