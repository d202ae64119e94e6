//! Provisioning: a platform's bootstrap and its stacks' activation, as plans
//! that survive failures.
//!
//! A [`Plan`] is data: steps that create named resources through the
//! [`Provisioner`] port, or migrate a database once it exists, with the steps
//! each one waits for. It can be printed (a dry run) before it is applied.
//!
//! [`Provisioning::apply`] checks up front that the provisioner supports every
//! kind the plan needs, then runs independent steps concurrently (bounded) and
//! dependent ones in order. Each resource is recorded in the registry as
//! `pending` *before* it is created and `ready` (with the provider's ID) after,
//! so whatever a crash leaves behind is known: [`Provisioning::resume`] finishes
//! the plan (creation is idempotent by name) and [`Provisioning::rollback`]
//! deletes what the plan created, in reverse order. Both are idempotent and safe
//! after a crash at any point. Errors the provisioner marks retryable are retried
//! with exponential backoff and jitter.
//!
//! Every operation here first repairs the platform's KV status mirror from the
//! registry ([`Registry::repair_platform_status`]), so a crash between the two
//! status writes is healed by whatever runs next.
//!
//! Ownership, decided by the registry in one conditional write per resource:
//! the record names the plan that created the resource (an identity derived
//! from the plan, so the same plan rebuilt after a crash is recognised). A
//! resource already recorded live by another plan stays that plan's; one that
//! existed at the provider before the plan is *adopted*: recorded, never this
//! plan's to roll back. Every name a plan creates or migrates, and every record
//! written, rolled back or torn down, must belong to the plan's (record's)
//! platform and stack, parsed back from the name
//! ([`ResourceKind::owner`](neutrino_core::provision::ResourceKind::owner)) and
//! checked before anything is touched.
//!
//! Applying a plan to a stack marked deleted revives the stack (re-onboarding);
//! a resource is never recorded in a stack that is not active, and
//! [`Provisioning::verify`] reports live records in a deleted stack.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use neutrino_core::ids::{PlatformId, StackId};
use neutrino_core::migrate::Migrations;
use neutrino_core::naming::{AppName, Domain, ResourceName, ResourceRole};
use neutrino_core::provision::{
    DatabaseConnector, Provisioner, Resource, ResourceKind, ResourceSpec,
};
use neutrino_core::{Error, Result};
use rand::Rng;

use crate::Registry;
use crate::model::{PlatformStatus, ResourceRecord, ResourceStatus, StackTemplate};
use crate::registry::check_owner;

/// What a step does.
#[derive(Clone)]
pub enum Action {
    /// Create (or find) a resource.
    Create(ResourceSpec),
    /// Run migrations on a database the plan creates.
    Migrate {
        /// The database's name.
        database: String,
        /// The migrations, in order.
        migrations: Vec<&'static Migrations>,
    },
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Create(spec) => write!(f, "create {} {}", spec.kind, spec.name),
            Action::Migrate {
                database,
                migrations,
            } => {
                let names: Vec<&str> = migrations.iter().map(|m| m.component()).collect();
                write!(f, "migrate {database} ({})", names.join(", "))
            }
        }
    }
}

/// One step of a plan.
#[derive(Clone, Debug)]
pub struct Step {
    /// What it does.
    pub action: Action,
    /// Indexes of the steps it waits for (all earlier in the plan).
    pub after: Vec<usize>,
}

/// What a plan sets up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanKind {
    /// A platform's bootstrap (its default stack's auth service, console, DNS).
    Bootstrap,
    /// A stack made from a template.
    Stack(StackTemplate),
}

/// The steps that set up a platform or a stack.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The platform.
    pub platform: PlatformId,
    /// The stack the resources belong to.
    pub stack: StackId,
    /// Bootstrap or stack.
    pub kind: PlanKind,
    /// The steps, in an order that respects their dependencies.
    pub steps: Vec<Step>,
}

/// A minimal ES module standing in for a worker until its real code is deployed.
const PLACEHOLDER_WORKER: &str = "export default { async fetch() { return new Response(\"not deployed yet\", { status: 503 }); } };\n";
/// The compatibility date placeholder workers are created with.
const COMPATIBILITY_DATE: &str = "2026-01-01";

fn worker(name: &ResourceName, bindings: &str) -> ResourceSpec {
    ResourceSpec::new(ResourceKind::Worker, name.as_str())
        .param("script", PLACEHOLDER_WORKER)
        .param("compatibility_date", COMPATIBILITY_DATE)
        .param("bindings", bindings)
}

impl Plan {
    /// The bootstrap of a platform: its auth database (then `auth_migrations` run
    /// on it), its auth worker (bound to that database), its console app, and DNS
    /// records for `auth.svc.default.{p}.{base}` and the console host.
    ///
    /// **Auth migrations.** Pass `&[&neutrino::auth::schema::MIGRATIONS]` and
    /// applying the plan creates the auth database *and* migrates it, so it is
    /// ready when provisioning ends; with `&[]` it is created empty. Either way a
    /// host app calls `Auth::migrate` when it starts: the same migrations
    /// (already applied ones are skipped, so it costs one read), plus the ones a
    /// newer version of the crate brings, which a platform bootstrapped earlier
    /// has not run.
    ///
    /// **On the embedded default** (`LocalProvisioner`) the worker, console app
    /// and DNS steps are records only: they are kept in the provisioner's state
    /// and the registry, but nothing runs the worker or publishes the names. On
    /// Cloudflare the same plan deploys a placeholder worker and creates the DNS
    /// records.
    ///
    /// ```
    /// use neutrino::ids::PlatformId;
    /// use neutrino::naming::Domain;
    /// use neutrino::tenancy::provision::Plan;
    /// let p: PlatformId = "k3m9p2xw7q".parse().unwrap();
    /// let plan = Plan::bootstrap(p, &Domain::default(), &[]);
    /// let text = plan.to_string();
    /// assert!(text.contains("1. create database k3m9p2xw7q-default-auth-db"), "{text}");
    /// assert!(text.contains("create dns_record auth.svc.default.k3m9p2xw7q.nno.app"), "{text}");
    /// ```
    pub fn bootstrap(
        platform: PlatformId,
        domain: &Domain,
        auth_migrations: &[&'static Migrations],
    ) -> Self {
        let stack = StackId::DEFAULT;
        let auth_db = ResourceName::auth_database(platform);
        let auth_worker = ResourceName::auth_worker(platform);
        let console = ResourceName::console(platform);
        let mut steps = vec![Step {
            action: Action::Create(ResourceSpec::new(ResourceKind::Database, auth_db.as_str())),
            after: vec![],
        }];
        let mut worker_after = vec![0];
        if !auth_migrations.is_empty() {
            steps.push(Step {
                action: Action::Migrate {
                    database: auth_db.to_string(),
                    migrations: auth_migrations.to_vec(),
                },
                after: vec![0],
            });
            worker_after = vec![1];
        }
        let auth_worker_step = steps.len();
        steps.push(Step {
            action: Action::Create(worker(&auth_worker, &format!(r#"{{"DB":"{auth_db}"}}"#))),
            after: worker_after,
        });
        let console_step = steps.len();
        steps.push(Step {
            action: Action::Create(worker(&console, "{}")),
            after: vec![],
        });
        let console_app = AppName::new("console").unwrap_or_else(|_| unreachable!("a valid label"));
        for (host, target, after) in [
            (
                domain.auth_host(platform, stack),
                &auth_worker,
                auth_worker_step,
            ),
            (
                domain.app_host(platform, stack, &console_app),
                &console,
                console_step,
            ),
        ] {
            steps.push(Step {
                action: Action::Create(
                    ResourceSpec::new(ResourceKind::DnsRecord, host)
                        .param("type", "CNAME")
                        .param("content", format!("{target}.workers.dev")),
                ),
                after: vec![after],
            });
        }
        Self {
            platform,
            stack,
            kind: PlanKind::Bootstrap,
            steps,
        }
    }

    /// A stack from a template: one resource per role (database, storage, KV),
    /// all independent. Roles that exist only in the default stack's bootstrap are
    /// refused.
    pub fn stack(platform: PlatformId, stack: StackId, template: &StackTemplate) -> Result<Self> {
        let mut steps = Vec::new();
        let mut seen = HashSet::new();
        for role in &template.resources {
            if !seen.insert(*role) {
                return Err(Error::invalid(
                    "stack template",
                    format!("{role:?} is listed twice"),
                ));
            }
            let kind = match role {
                ResourceRole::Database => ResourceKind::Database,
                ResourceRole::Storage => ResourceKind::Bucket,
                ResourceRole::Kv => ResourceKind::KvNamespace,
                other => {
                    return Err(Error::invalid(
                        "stack template",
                        format!("{other:?} is made by the platform's bootstrap, not by a stack"),
                    ));
                }
            };
            let name = ResourceName::new(platform, stack, *role)?;
            steps.push(Step {
                action: Action::Create(ResourceSpec::new(kind, name.as_str())),
                after: vec![],
            });
        }
        Ok(Self {
            platform,
            stack,
            kind: PlanKind::Stack(template.clone()),
            steps,
        })
    }

    /// The resource kinds the plan creates.
    pub fn kinds(&self) -> BTreeSet<ResourceKind> {
        self.creates().map(|s| s.kind).collect()
    }

    /// The resources the plan creates, in plan order.
    pub fn creates(&self) -> impl Iterator<Item = &ResourceSpec> {
        self.steps.iter().filter_map(|s| match &s.action {
            Action::Create(spec) => Some(spec),
            Action::Migrate { .. } => None,
        })
    }

    /// The identity recorded on every resource this plan creates, so that its
    /// rollback deletes only those: what it is (`bootstrap`, or the stack
    /// template's name and version) and a digest of the resources it creates.
    /// Derived from the plan alone, so the same plan rebuilt after a crash has
    /// it too, and a different plan (even for the same template) does not.
    fn key(&self) -> String {
        let what = match &self.kind {
            PlanKind::Bootstrap => "bootstrap".to_owned(),
            PlanKind::Stack(t) => format!("stack:{}:v{}", t.name, t.version),
        };
        let mut creates: Vec<String> = self
            .creates()
            .map(|s| format!("{} {}", s.kind, s.name))
            .collect();
        creates.sort();
        // FNV-1a, 64 bits: stable across builds and processes.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in what.bytes().chain(creates.join("\n").into_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{what}:{h:016x}")
    }

    /// Checks the whole plan before anything is touched: steps wait only for
    /// earlier steps, every name is valid, and every name it creates or migrates
    /// belongs to the plan's platform and stack (parsed back from the name), so a
    /// plan can never reach another platform's resources. Hostnames belong to a
    /// platform only under exactly the base `domain` (the registry's).
    fn validate(&self, domain: &Domain) -> Result<()> {
        let mut created = HashSet::new();
        for (i, s) in self.steps.iter().enumerate() {
            if let Some(bad) = s.after.iter().find(|a| **a >= i) {
                return Err(Error::invalid(
                    "plan",
                    format!(
                        "step {} waits for step {}, which does not come before it",
                        i + 1,
                        bad + 1
                    ),
                ));
            }
            match &s.action {
                Action::Create(spec) => {
                    check_owner(domain, self.platform, self.stack, spec.kind, &spec.name)?;
                    created.insert((spec.kind, spec.name.as_str()));
                }
                Action::Migrate { database, .. } => {
                    check_owner(
                        domain,
                        self.platform,
                        self.stack,
                        ResourceKind::Database,
                        database,
                    )?;
                    if !created.contains(&(ResourceKind::Database, database.as_str())) {
                        return Err(Error::invalid(
                            "plan",
                            format!(
                                "step {} migrates {database}, which no earlier step creates",
                                i + 1
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            PlanKind::Bootstrap => "bootstrap".to_owned(),
            PlanKind::Stack(t) => format!("template {} v{}", t.name, t.version),
        };
        writeln!(
            f,
            "plan for platform {}, stack {} ({what}):",
            self.platform, self.stack
        )?;
        for (i, s) in self.steps.iter().enumerate() {
            write!(f, "  {}. {}", i + 1, s.action)?;
            if !s.after.is_empty() {
                let after: Vec<String> = s.after.iter().map(|a| (a + 1).to_string()).collect();
                write!(f, " (after {})", after.join(", "))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Retries of errors the provisioner marks retryable.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// The first backoff; it doubles each attempt.
    pub initial: Duration,
    /// The longest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, backoff from 100 ms doubling up to 5 s, with full jitter.
    fn default() -> Self {
        Self {
            attempts: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// Where a step stands, for progress reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepState {
    /// It started.
    Started,
    /// It failed with a retryable error and will run again.
    Retrying {
        /// The attempt that failed (1-based).
        attempt: u32,
        /// What failed.
        error: String,
    },
    /// It finished.
    Done,
    /// It failed for good.
    Failed {
        /// What failed.
        error: String,
    },
}

/// A step's progress, as [`Provisioning::with_observer`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepEvent {
    /// The step (0-based index in the plan).
    pub step: usize,
    /// How many steps the plan has.
    pub total: usize,
    /// What the step does, e.g. `create database k3m9p2xw7q-default-auth-db`.
    pub description: String,
    /// Where it stands.
    pub state: StepState,
}

type Observer = Arc<dyn Fn(&StepEvent) + Send + Sync>;

/// What [`Provisioning::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// Recorded as ready in the registry, but the provider does not have it.
    pub missing: Vec<ResourceRecord>,
    /// The provider has it (named for the platform), but the registry does not
    /// record it as ready.
    pub unexpected: Vec<Resource>,
    /// Both have it, with different provider IDs.
    pub mismatched: Vec<(ResourceRecord, Resource)>,
    /// Recorded as live (pending or ready) in a stack that is marked deleted or
    /// not registered, or on a platform marked deleted.
    pub in_deleted_stack: Vec<ResourceRecord>,
}

impl Drift {
    /// Whether registry and provider agree.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.mismatched.is_empty()
            && self.in_deleted_stack.is_empty()
    }
}

/// Applies, resumes and rolls back plans, tears resources down, and checks
/// drift, through a [`Provisioner`] and the [`Registry`].
#[derive(Clone)]
pub struct Provisioning {
    registry: Registry,
    provisioner: Arc<dyn Provisioner>,
    connector: Option<Arc<dyn DatabaseConnector>>,
    concurrency: usize,
    retry: RetryPolicy,
    observer: Option<Observer>,
}

impl fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provisioning")
            .field("provisioner", &self.provisioner)
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The order in which kinds are torn down: what points at others first.
const TEARDOWN_ORDER: [ResourceKind; 6] = [
    ResourceKind::DnsRecord,
    ResourceKind::CustomHostname,
    ResourceKind::Worker,
    ResourceKind::KvNamespace,
    ResourceKind::Bucket,
    ResourceKind::Database,
];

const ACTOR: &str = "neutrino-provisioning";

impl Provisioning {
    /// Provisioning through `provisioner`, recording in `registry`; 4 steps at a
    /// time, the default retry policy, no database connector (plans with
    /// migration steps then fail their up-front check).
    pub fn new(registry: Registry, provisioner: Arc<dyn Provisioner>) -> Self {
        Self {
            registry,
            provisioner,
            connector: None,
            concurrency: 4,
            retry: RetryPolicy::default(),
            observer: None,
        }
    }

    /// How migration steps reach the databases the plan creates.
    pub fn with_connector(mut self, connector: Arc<dyn DatabaseConnector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// How many independent steps run at once (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The retry policy for retryable provisioner errors.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Called with every step's progress (from the applying task; keep it quick).
    pub fn with_observer(mut self, f: impl Fn(&StepEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Refuses, before anything is created, a plan the provisioner cannot carry
    /// out whole: unsupported kinds (all of them named), migration steps without a
    /// connector, malformed steps, and names that are not the plan's platform's
    /// and stack's — hostnames included, which must be the platform's hosts
    /// under exactly the registry's base domain
    /// ([`RegistryOptions::with_base_domain`](crate::RegistryOptions::with_base_domain)):
    /// a plan built with another [`Domain`] is refused.
    pub fn check(&self, plan: &Plan) -> Result<()> {
        plan.validate(self.registry.base_domain())?;
        let unsupported: Vec<&str> = plan
            .kinds()
            .into_iter()
            .filter(|k| !self.provisioner.supports(*k))
            .map(ResourceKind::as_str)
            .collect();
        if !unsupported.is_empty() {
            return Err(Error::Unsupported {
                operation: format!("{} resources, which the plan needs", unsupported.join(", ")),
                backend: self.provisioner.provider(),
            });
        }
        let migrates = plan
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Migrate { .. }));
        if migrates && self.connector.is_none() {
            return Err(Error::Config {
                backend: "provisioning",
                key: "connector",
                reason: "the plan migrates a database but no database connector was given".into(),
            });
        }
        Ok(())
    }

    fn emit(&self, plan: &Plan, step: usize, state: StepState) {
        if let Some(f) = &self.observer {
            f(&StepEvent {
                step,
                total: plan.steps.len(),
                description: plan.steps[step].action.to_string(),
                state,
            });
        }
    }

    /// Carries the plan out; see the module docs. The platform must be registered
    /// and active: a deleted platform is never brought back by a re-run or a
    /// resume ([`Error::InvalidInput`]; tear it down or roll back instead), and a
    /// suspended one is [`Error::Suspended`] until reinstated. The stack is
    /// registered if it is not yet. Repairs the platform's KV status mirror first.
    pub async fn apply(&self, plan: &Plan) -> Result<()> {
        self.check(plan)?;
        match self.registry.repair_platform_status(plan.platform).await? {
            PlatformStatus::Active => {}
            PlatformStatus::Suspended => {
                return Err(Error::Suspended {
                    entity: "platform",
                    id: plan.platform.to_string(),
                });
            }
            _ => {
                return Err(Error::invalid(
                    "platform",
                    format!("platform {} is deleted", plan.platform),
                ));
            }
        }
        self.ensure_stack(plan).await?;
        let n = plan.steps.len();
        let mut done = vec![false; n];
        let mut started = vec![false; n];
        let mut running = FuturesUnordered::new();
        let mut first_error: Option<Error> = None;
        loop {
            if first_error.is_none() {
                for (i, step) in plan.steps.iter().enumerate() {
                    if running.len() >= self.concurrency {
                        break;
                    }
                    if !started[i] && step.after.iter().all(|a| done[*a]) {
                        started[i] = true;
                        running.push(async move { (i, self.run_step(plan, i).await) });
                    }
                }
            }
            match running.next().await {
                Some((i, Ok(()))) => done[i] = true,
                Some((_, Err(e))) => {
                    first_error.get_or_insert(e);
                }
                None => break,
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Finishes a plan that failed or was interrupted (the same as
    /// [`Provisioning::apply`], which skips nothing but creates nothing twice).
    pub async fn resume(&self, plan: &Plan) -> Result<()> {
        self.apply(plan).await
    }

    /// Registers the plan's stack, or revives it if it is marked deleted: a plan
    /// applied to a deleted stack (re-onboarding after a rollback) makes it
    /// active again before it records anything in it.
    async fn ensure_stack(&self, plan: &Plan) -> Result<()> {
        match self.registry.stack(plan.platform, plan.stack).await {
            Ok(s) if s.status == "deleted" => {
                self.registry
                    .set_stack_status(plan.platform, plan.stack, false)
                    .await
            }
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => {
                let template = match &plan.kind {
                    PlanKind::Bootstrap => StackTemplate {
                        name: "bootstrap".into(),
                        version: 1,
                        resources: vec![
                            ResourceRole::AuthDatabase,
                            ResourceRole::AuthWorker,
                            ResourceRole::Console,
                        ],
                    },
                    PlanKind::Stack(t) => t.clone(),
                };
                match self
                    .registry
                    .create_stack(plan.platform, plan.stack, &template)
                    .await
                {
                    Err(e) if !e.is_already_exists() => Err(e),
                    _ => Ok(()),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn record(
        &self,
        plan: &Plan,
        spec: &ResourceSpec,
        provider_id: Option<String>,
        status: ResourceStatus,
    ) -> Result<()> {
        self.registry
            .record_resource(&ResourceRecord {
                platform: plan.platform,
                stack: plan.stack,
                kind: spec.kind,
                logical_name: spec.name.clone(),
                provider: self.provisioner.provider().to_owned(),
                provider_id,
                status,
            })
            .await
    }

    async fn retrying<T, F, Fut>(&self, step: Option<(&Plan, usize)>, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt < self.retry.attempts => {
                    if let Some((plan, i)) = step {
                        self.emit(
                            plan,
                            i,
                            StepState::Retrying {
                                attempt,
                                error: e.to_string(),
                            },
                        );
                    }
                    let cap = self
                        .retry
                        .initial
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(self.retry.max);
                    let wait = cap.mul_f64(rand::rng().random_range(0.0..=1.0));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn run_step(&self, plan: &Plan, i: usize) -> Result<()> {
        self.emit(plan, i, StepState::Started);
        let result = match &plan.steps[i].action {
            Action::Create(spec) => self.create(plan, i, spec).await,
            Action::Migrate {
                database,
                migrations,
            } => self.migrate(plan, database, migrations).await,
        };
        match &result {
            Ok(()) => self.emit(plan, i, StepState::Done),
            Err(e) => self.emit(
                plan,
                i,
                StepState::Failed {
                    error: e.to_string(),
                },
            ),
        }
        result
    }

    async fn create(&self, plan: &Plan, i: usize, spec: &ResourceSpec) -> Result<()> {
        // Claimed before it exists: a crash after the create leaves a record
        // naming this plan as its creator. A resource that already exists (and
        // is not recorded live) is adopted: recorded, but never this plan's to
        // roll back. A live record stays its creator's.
        let exists = match self
            .retrying(Some((plan, i)), || {
                self.provisioner.get(spec.kind, &spec.name)
            })
            .await
        {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e),
        };
        self.registry
            .claim_resource(
                &ResourceRecord {
                    platform: plan.platform,
                    stack: plan.stack,
                    kind: spec.kind,
                    logical_name: spec.name.clone(),
                    provider: self.provisioner.provider().to_owned(),
                    provider_id: None,
                    status: ResourceStatus::Pending,
                },
                &plan.key(),
                exists,
            )
            .await?;
        match self
            .retrying(Some((plan, i)), || self.provisioner.create(spec))
            .await
        {
            Ok(r) => {
                self.record(plan, spec, Some(r.provider_id), ResourceStatus::Ready)
                    .await
            }
            Err(e) => {
                // Best effort: the error that matters is the provisioner's.
                let _ = self.record(plan, spec, None, ResourceStatus::Failed).await;
                Err(e)
            }
        }
    }

    async fn migrate(
        &self,
        plan: &Plan,
        database: &str,
        migrations: &[&'static Migrations],
    ) -> Result<()> {
        let connector = self.connector.as_ref().ok_or_else(|| Error::Config {
            backend: "provisioning",
            key: "connector",
            reason: "no database connector".into(),
        })?;
        // The create step recorded the provider's ID: no need to ask the provider.
        let record = self
            .registry
            .resource(plan.platform, ResourceKind::Database, database)
            .await?;
        let resource = Resource {
            kind: ResourceKind::Database,
            name: database.to_owned(),
            provider_id: record.provider_id.ok_or_else(|| {
                Error::not_found("database", format!("{database} (not created yet)"))
            })?,
        };
        let db = connector.connect(&resource).await?;
        for m in migrations {
            m.run(&*db).await?;
        }
        Ok(())
    }

    async fn delete(
        &self,
        plan_platform: PlatformId,
        stack: StackId,
        kind: ResourceKind,
        name: &str,
    ) -> Result<()> {
        self.retrying(None, || self.provisioner.delete(kind, name))
            .await?;
        self.registry
            .record_resource(&ResourceRecord {
                platform: plan_platform,
                stack,
                kind,
                logical_name: name.to_owned(),
                provider: self.provisioner.provider().to_owned(),
                provider_id: None,
                status: ResourceStatus::Deleted,
            })
            .await
    }

    /// Undoes a plan: deletes (with their data) the resources this plan created,
    /// in reverse order, and nothing else: a resource another plan created (e.g.
    /// the bootstrap's auth database when a stack plan on the default stack is
    /// rolled back), one that existed before the plan (adopted), or one of
    /// another platform is never touched. Then marks the platform deleted
    /// (bootstrap), or the stack deleted if none of its resources is left
    /// (stack plan). Idempotent, and safe after a crash at any point; works on a
    /// suspended or deleted platform, and repairs its KV status mirror.
    pub async fn rollback(&self, plan: &Plan) -> Result<()> {
        plan.validate(self.registry.base_domain())?;
        self.registry.repair_platform_status(plan.platform).await?;
        let owned: Vec<ResourceRecord> = self
            .registry
            .resources_created_by(plan.platform, plan.stack, &plan.key())
            .await?;
        for spec in plan.creates().collect::<Vec<_>>().into_iter().rev() {
            if let Some(r) = owned
                .iter()
                .find(|r| r.kind == spec.kind && r.logical_name == spec.name)
            {
                self.delete_record(r).await?;
            }
        }
        match plan.kind {
            PlanKind::Bootstrap => {
                self.mark_platform_deleted(plan.platform, "bootstrap rolled back")
                    .await
            }
            PlanKind::Stack(_) => self
                .registry
                .mark_stack_deleted_if_empty(plan.platform, plan.stack)
                .await
                .map(|_| ()),
        }
    }

    async fn live_resources(&self, platform: PlatformId) -> Result<Vec<ResourceRecord>> {
        Ok(self
            .registry
            .resources(platform)
            .await?
            .into_iter()
            .filter(|r| r.status != ResourceStatus::Deleted)
            .collect())
    }

    async fn delete_records(&self, mut records: Vec<ResourceRecord>) -> Result<()> {
        records.sort_by_key(|r| {
            TEARDOWN_ORDER
                .iter()
                .position(|k| *k == r.kind)
                .unwrap_or(usize::MAX)
        });
        for r in records {
            self.delete_record(&r).await?;
        }
        Ok(())
    }

    /// Deletes a recorded resource, after checking again that its name belongs
    /// to the record's platform and stack: a record that does not (written by
    /// hand or by an older version) is only marked deleted, and the resource it
    /// names, someone else's, is left alone.
    async fn delete_record(&self, r: &ResourceRecord) -> Result<()> {
        if check_owner(
            self.registry.base_domain(),
            r.platform,
            r.stack,
            r.kind,
            &r.logical_name,
        )
        .is_err()
        {
            return self
                .registry
                .tombstone_resource(r.platform, r.kind, &r.logical_name)
                .await;
        }
        self.delete(r.platform, r.stack, r.kind, &r.logical_name)
            .await
    }

    async fn mark_platform_deleted(&self, platform: PlatformId, reason: &str) -> Result<()> {
        if self.registry.platform_record(platform).await?.status != PlatformStatus::Deleted {
            self.registry
                .mark_platform_deleted(platform, ACTOR, reason)
                .await?;
        } else {
            // Deleted by an earlier run that may have stopped before the mirror.
            self.registry.repair_platform_status(platform).await?;
        }
        for s in self.registry.stacks(platform).await? {
            self.registry.set_stack_status(platform, s.id, true).await?;
        }
        Ok(())
    }

    async fn mark_stack_deleted(&self, platform: PlatformId, stack: StackId) -> Result<()> {
        match self.registry.set_stack_status(platform, stack, true).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Deletes every live resource of a stack, with its data (what points at
    /// others first, databases last), then marks the stack deleted; the registry
    /// keeps the records as tombstones.
    pub async fn deactivate_stack(&self, platform: PlatformId, stack: StackId) -> Result<()> {
        self.registry.repair_platform_status(platform).await?;
        let records = self
            .live_resources(platform)
            .await?
            .into_iter()
            .filter(|r| r.stack == stack)
            .collect();
        self.delete_records(records).await?;
        self.mark_stack_deleted(platform, stack).await
    }

    /// Deletes every live resource of a platform, with its data, then marks its
    /// stacks and the platform deleted; the registry keeps tombstones. A record
    /// whose name does not belong to the platform (written by hand or by an
    /// older version) is only marked deleted: the resource it names is never
    /// touched. Works on a suspended or deleted platform (a re-run finishes an
    /// interrupted one) and repairs its KV status mirror.
    pub async fn teardown_platform(&self, platform: PlatformId) -> Result<()> {
        self.registry.repair_platform_status(platform).await?;
        let records = self.live_resources(platform).await?;
        self.delete_records(records).await?;
        self.mark_platform_deleted(platform, "torn down").await
    }

    /// Compares the registry's records of a platform with what the provisioner
    /// reports, and reports live records in a deleted stack (or of a deleted
    /// platform). Resources the provisioner has are attributed to the platform by
    /// name: `{platform}-…`, or one of the platform's hostnames under the
    /// registry's base domain.
    pub async fn verify(&self, platform: PlatformId) -> Result<Drift> {
        self.registry.repair_platform_status(platform).await?;
        let records = self.live_resources(platform).await?;
        let mut drift = Drift::default();
        let platform_deleted =
            self.registry.platform_record(platform).await?.status == PlatformStatus::Deleted;
        let active: HashSet<StackId> = self
            .registry
            .stacks(platform)
            .await?
            .into_iter()
            .filter(|s| s.status != "deleted")
            .map(|s| s.id)
            .collect();
        drift.in_deleted_stack = records
            .iter()
            .filter(|r| platform_deleted || !active.contains(&r.stack))
            .cloned()
            .collect();
        let mut actual: Vec<Resource> = Vec::new();
        for kind in ResourceKind::ALL {
            if !self.provisioner.supports(kind) {
                continue;
            }
            let listed = match kind {
                ResourceKind::DnsRecord | ResourceKind::CustomHostname => {
                    let base = self.registry.base_domain();
                    self.provisioner
                        .list(kind, "")
                        .await?
                        .into_iter()
                        .filter(|r| kind.owner(&r.name, base).is_ok_and(|(p, _)| p == platform))
                        .collect()
                }
                _ => self.provisioner.list(kind, &format!("{platform}-")).await?,
            };
            actual.extend(listed);
        }
        for rec in &records {
            match actual
                .iter()
                .find(|a| a.kind == rec.kind && a.name == rec.logical_name)
            {
                None if rec.status == ResourceStatus::Ready => drift.missing.push(rec.clone()),
                Some(a)
                    if rec.status == ResourceStatus::Ready
                        && rec.provider_id.as_deref() != Some(a.provider_id.as_str()) =>
                {
                    drift.mismatched.push((rec.clone(), a.clone()))
                }
                _ => {}
            }
        }
        for a in actual {
            let known = records.iter().any(|r| {
                r.kind == a.kind && r.logical_name == a.name && r.status == ResourceStatus::Ready
            });
            if !known {
                drift.unexpected.push(a);
            }
        }
        Ok(drift)
    }
}
