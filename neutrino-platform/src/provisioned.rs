//! [`Platforms`]: platforms found or created by name, and provisioned, by any
//! provisioner.

use std::fmt;
use std::sync::Arc;

use neutrino_core::Result;
use neutrino_core::ids::{PlatformId, StackId};
use neutrino_core::naming::{ResourceName, ResourceRole};
use neutrino_core::provision::{DatabaseConnector, Provisioner, ResourceKind};
use neutrino_core::sql::SqlExecutor;
use neutrino_tenancy::provision::{Action, Plan, Provisioning, Step};
use neutrino_tenancy::{
    NewPlatform, PlatformClass, PlatformStatus, Registry, ScopeMinter, StackTemplate,
};

use crate::{PlatformBuilder, Source};

/// The platforms of one [`Registry`] whose resources one provisioner makes
/// (the embedded default's `LocalProvisioner`, PostgreSQL's schemas,
/// Cloudflare, …), each found or created by its name at start-up.
///
/// [`Platforms::platform`] opens a platform's runtime the way a folder of the
/// embedded default does, on any backend: the platform is registered on its
/// first start ([`Registry::open_or_create_platform`]: one live platform per
/// name, even under concurrent starts), its bootstrap (the auth database,
/// migrated, and what else of it the provisioner makes: workers and DNS
/// records on Cloudflare, records only on the embedded default; PostgreSQL
/// makes databases only, so there the host serves the auth API itself) and its
/// default stack (a database, which holds the tenanted tables, and a bucket
/// and a KV namespace where the provisioner makes them) are provisioned, and
/// resumed on a later start if a crash interrupted them.
///
/// Make one per registry and process: it holds the registry's one
/// [`ScopeMinter`]. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> neutrino::Result<()> {
/// use std::sync::Arc;
/// use neutrino::Platforms;
/// use neutrino::postgres::{PostgresExecutor, PostgresKv, PostgresProvisioner};
/// use neutrino::provision::{DatabaseConnector, Provisioner, ResourceKind, ResourceSpec};
/// use neutrino::tenancy::{Registry, RegistryOptions};
///
/// let url = "postgres://app@localhost/app";
/// let provisioner = Arc::new(PostgresProvisioner::new(PostgresExecutor::connect(url).await?));
/// // The registry's own database: a schema, with its status KV in it.
/// let db = provisioner.create(&ResourceSpec::new(ResourceKind::Database, "neutrino-registry")).await?;
/// let registry_db = PostgresExecutor::connect(url).await?.settings().schema(&db.provider_id)?.connect().await?;
/// let kv = Arc::new(PostgresKv::open(registry_db.clone(), "status").await?);
/// let registry = Registry::open(Arc::new(registry_db), kv, RegistryOptions::default()).await?;
/// let minter = registry.scope_minter()?;
/// // The tenant stores as an application role (NOSUPERUSER NOBYPASSRLS), which
/// // row-level security holds.
/// let app_role = provisioner.role_connector(PostgresExecutor::builder("postgres://app_rows@localhost/app")?);
/// let platforms = Platforms::new(registry, minter, provisioner.clone(), provisioner)
///     .with_store_connector(Arc::new(app_role));
/// let app = platforms.platform("Shop", "the shop's secret, 32 bytes or more").build().await?;
/// # Ok(()) }
/// ```
/// On PostgreSQL, the tenant store must connect as a role that row-level
/// security holds (`TenantStore::open` refuses a superuser, a role with
/// `BYPASSRLS` or the tables' owner), not as the provisioner's own role: give
/// it its connector with [`Platforms::with_store_connector`] (e.g.
/// `PostgresProvisioner::role_connector`).
#[derive(Clone)]
pub struct Platforms {
    inner: Arc<Inner>,
    store_connector: Option<Arc<dyn DatabaseConnector>>,
}

struct Inner {
    registry: Registry,
    minter: ScopeMinter,
    provisioner: Arc<dyn Provisioner>,
    connector: Arc<dyn DatabaseConnector>,
}

impl fmt::Debug for Platforms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platforms")
            .field("provider", &self.inner.provisioner.provider())
            .finish_non_exhaustive()
    }
}

/// A platform opened by name, with its databases.
pub(crate) struct Opened {
    pub(crate) id: PlatformId,
    pub(crate) created: bool,
    pub(crate) auth_db: Arc<dyn SqlExecutor>,
    pub(crate) store_db: Arc<dyn SqlExecutor>,
    /// The stack database through the provisioner's connector, which
    /// migrates the tenanted tables, when the store has a connector of its
    /// own ([`Platforms::with_store_connector`]).
    pub(crate) owner_db: Option<Arc<dyn SqlExecutor>>,
}

impl Platforms {
    /// The platforms of `registry`, made by `provisioner`, their databases
    /// reached through `connector` (usually the provisioner itself). `minter`
    /// is the registry's [`Registry::scope_minter`]: each platform's runtime
    /// gets a copy narrowed to it.
    pub fn new(
        registry: Registry,
        minter: ScopeMinter,
        provisioner: Arc<dyn Provisioner>,
        connector: Arc<dyn DatabaseConnector>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                minter,
                provisioner,
                connector,
            }),
            store_connector: None,
        }
    }

    /// These platforms with each one's tenant store served through
    /// `connector`'s connection to the platform's default stack database
    /// (only that database: the auth database stays on the provisioner's
    /// connector), while [`PlatformBuilder::build`] creates and extends the
    /// tenanted tables and their row-level security
    /// (`TenantStore::migrate`) through the provisioner's connector, as
    /// their owner, before it opens the store.
    ///
    /// Needed on PostgreSQL, where `TenantStore::open` refuses a role that
    /// row-level security would not hold: pass
    /// `PostgresProvisioner::role_connector` with an application role
    /// (`NOSUPERUSER NOBYPASSRLS`, owning nothing). Without it (the embedded
    /// default, D1) the store opens on the provisioner's connector and
    /// migrates its own tables.
    pub fn with_store_connector(mut self, connector: Arc<dyn DatabaseConnector>) -> Self {
        self.store_connector = Some(connector);
        self
    }

    /// The registry (operator-level: suspension, every platform).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The provisioner, to verify a platform's resources or open its others.
    pub fn provisioner(&self) -> &Arc<dyn Provisioner> {
        &self.inner.provisioner
    }

    /// The runtime of the platform named `name`, made and provisioned on its
    /// first start (see [`Platforms`]); [`PlatformBuilder::build`] does it.
    /// `secret` as in [`crate::Platform::builder`].
    pub fn platform(&self, name: &str, secret: impl Into<Vec<u8>>) -> PlatformBuilder {
        PlatformBuilder::new(
            Source::Provisioned {
                platforms: self.clone(),
                name: name.to_owned(),
            },
            secret.into(),
        )
    }

    pub(crate) fn minter(&self, platform: PlatformId) -> Result<ScopeMinter> {
        self.inner.minter.restricted_to(platform)
    }

    /// The default stack: a database, and a bucket and a KV namespace where
    /// the provisioner makes them.
    fn default_stack(&self) -> StackTemplate {
        let p = &self.inner.provisioner;
        let mut resources = vec![ResourceRole::Database];
        if p.supports(ResourceKind::Bucket) {
            resources.push(ResourceRole::Storage);
        }
        if p.supports(ResourceKind::KvNamespace) {
            resources.push(ResourceRole::Kv);
        }
        StackTemplate {
            name: "app".into(),
            version: 1,
            resources,
        }
    }

    pub(crate) async fn open_platform(&self, name: &str) -> Result<Opened> {
        let Inner {
            registry,
            provisioner,
            connector,
            ..
        } = &*self.inner;
        let (record, created) = registry
            .open_or_create_platform(NewPlatform::new(name, PlatformClass::Platform))
            .await?;
        let id = record.id;
        // A suspended platform cannot be provisioned, and its resources
        // exist from its earlier starts: it is opened as it is.
        if registry.platform_status(id).await? == PlatformStatus::Active {
            let provisioning = Provisioning::new(registry.clone(), provisioner.clone())
                .with_connector(connector.clone());
            let bootstrap = Plan::bootstrap(
                id,
                registry.base_domain(),
                &[&neutrino_auth::schema::MIGRATIONS],
            );
            provisioning
                .apply(&supported_part(bootstrap, &**provisioner))
                .await?;
            let stack = Plan::stack(id, StackId::DEFAULT, &self.default_stack())?;
            provisioning.apply(&stack).await?;
        }
        let get = |name: ResourceName| async move {
            provisioner.get(ResourceKind::Database, name.as_str()).await
        };
        let auth = get(ResourceName::auth_database(id)).await?;
        let stack = get(ResourceName::stack_database(id, StackId::DEFAULT)).await?;
        let stack_owner = connector.connect(&stack).await?;
        let (store_db, owner_db) = match &self.store_connector {
            Some(store) => (store.connect(&stack).await?, Some(stack_owner)),
            None => (stack_owner, None),
        };
        Ok(Opened {
            id,
            created,
            auth_db: connector.connect(&auth).await?,
            store_db,
            owner_db,
        })
    }
}

/// The steps of `plan` that `provisioner` carries out: those of a kind it
/// makes, and the migrations of the databases it makes. A step that waited
/// for one left out waits for what that one waited for.
fn supported_part(plan: Plan, provisioner: &dyn Provisioner) -> Plan {
    let kept: Vec<bool> = plan
        .steps
        .iter()
        .map(|s| {
            provisioner.supports(match &s.action {
                Action::Create(spec) => spec.kind,
                Action::Migrate { .. } => ResourceKind::Database,
            })
        })
        .collect();
    // Each step's waits, on kept steps only, by their new indexes.
    let mut new_index = vec![None; plan.steps.len()];
    let mut waits: Vec<Vec<usize>> = Vec::with_capacity(plan.steps.len());
    let mut steps = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let mut after: Vec<usize> = Vec::new();
        for &a in &step.after {
            match new_index[a] {
                Some(n) => after.push(n),
                None => after.extend(waits[a].iter().copied()),
            }
        }
        after.sort_unstable();
        after.dedup();
        if kept[i] {
            new_index[i] = Some(steps.len());
            steps.push(Step {
                action: step.action.clone(),
                after: after.clone(),
            });
        }
        waits.push(after);
    }
    Plan { steps, ..plan }
}
