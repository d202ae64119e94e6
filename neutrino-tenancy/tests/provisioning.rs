//! Provisioning under failure: fault injection at every step of the bootstrap
//! plan (error, panic, dropped future), resume and rollback leaving zero orphans,
//! concurrent bootstraps, retries, teardown, drift, and a property test over random
//! plans and failure points.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use neutrino_core::Error;
use neutrino_core::ids::{PlatformId, StackId};
use neutrino_core::memory::MemoryProvisioner;
use neutrino_core::migrate::{Migration, Migrations};
use neutrino_core::naming::{Domain, ResourceRole};
use neutrino_core::provision::{
    DatabaseConnector, Provisioner, Resource, ResourceKind, ResourceSpec,
};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::{LocalProvisioner, SqliteExecutor};
use neutrino_tenancy::provision::{
    Action, Plan, PlanKind, Provisioning, RetryPolicy, Step, StepState,
};
use neutrino_tenancy::*;
use proptest::prelude::*;

static AUTH_TEST_MIGRATIONS: Migrations = Migrations::new(
    "auth-test",
    &[Migration {
        version: 1,
        name: "users",
        statements: &[r#"CREATE TABLE "user" ("id" TEXT PRIMARY KEY)"#],
    }],
);

/// What the wrapper does at the k-th create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Returns a non-retryable error.
    Fail,
    /// Panics.
    Panic,
    /// Creates the resource, then never returns (the caller drops the future).
    CreateThenHang,
    /// Returns a retryable error this many times, then works.
    Flaky(usize),
}

/// A provisioner that misbehaves at the `at`-th create call (0-based).
#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn Provisioner>,
    at: usize,
    fault: Fault,
    creates: AtomicUsize,
    flaky_left: AtomicUsize,
}

impl Faulty {
    fn new(inner: Arc<dyn Provisioner>, at: usize, fault: Fault) -> Self {
        let flaky = if let Fault::Flaky(n) = fault { n } else { 0 };
        Self {
            inner,
            at,
            fault,
            creates: AtomicUsize::new(0),
            flaky_left: AtomicUsize::new(flaky),
        }
    }
}

#[async_trait]
impl Provisioner for Faulty {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }
    fn supports(&self, kind: ResourceKind) -> bool {
        self.inner.supports(kind)
    }
    async fn create(&self, spec: &ResourceSpec) -> neutrino_core::Result<Resource> {
        let n = self.creates.fetch_add(1, Ordering::SeqCst);
        if n == self.at {
            match self.fault {
                Fault::Fail => return Err(Error::invalid("injected", "failure at this step")),
                Fault::Panic => panic!("injected panic at create #{n}"),
                Fault::CreateThenHang => {
                    self.inner.create(spec).await?;
                    std::future::pending::<()>().await;
                }
                Fault::Flaky(_) => {}
            }
        }
        if let Fault::Flaky(_) = self.fault
            && n >= self.at
            && self.flaky_left.load(Ordering::SeqCst) > 0
        {
            self.flaky_left.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::backend(
                "faulty",
                true,
                std::io::Error::other("try again"),
            ));
        }
        self.inner.create(spec).await
    }
    async fn get(&self, kind: ResourceKind, name: &str) -> neutrino_core::Result<Resource> {
        self.inner.get(kind, name).await
    }
    async fn delete(&self, kind: ResourceKind, name: &str) -> neutrino_core::Result<()> {
        self.inner.delete(kind, name).await
    }
    async fn list(&self, kind: ResourceKind, prefix: &str) -> neutrino_core::Result<Vec<Resource>> {
        self.inner.list(kind, prefix).await
    }
}

struct Env {
    registry: Registry,
    local: Arc<LocalProvisioner>,
    platform: PlatformId,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let registry = neutrino_tenancy::testkit::memory_kv_registry(Arc::new(
        SqliteExecutor::open(dir.path().join("registry.sqlite"))
            .await
            .unwrap(),
    ))
    .await;
    let local = Arc::new(
        LocalProvisioner::open(dir.path().join("cloud"))
            .await
            .unwrap(),
    );
    let platform = registry
        .create_platform(NewPlatform::new("P", PlatformClass::Platform))
        .await
        .unwrap()
        .id;
    Env {
        registry,
        local,
        platform,
        _dir: dir,
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        initial: Duration::from_millis(1),
        max: Duration::from_millis(5),
    }
}

impl Env {
    fn provisioning(&self, p: Arc<dyn Provisioner>) -> Provisioning {
        Provisioning::new(self.registry.clone(), p)
            .with_connector(self.local.clone() as Arc<dyn DatabaseConnector>)
            .with_retry(fast_retry())
    }

    fn bootstrap(&self) -> Plan {
        Plan::bootstrap(self.platform, &Domain::default(), &[&AUTH_TEST_MIGRATIONS])
    }

    /// Every (kind, name) the provisioner holds for this platform.
    async fn held(&self) -> BTreeSet<(ResourceKind, String)> {
        held(&*self.local, self.platform).await
    }

    /// Registry records of this platform that are not tombstones.
    async fn live_records(&self) -> BTreeSet<(ResourceKind, String, ResourceStatus)> {
        self.registry
            .resources(self.platform)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.status != ResourceStatus::Deleted)
            .map(|r| (r.kind, r.logical_name, r.status))
            .collect()
    }

    async fn assert_complete(&self, plan: &Plan) {
        let want: BTreeSet<(ResourceKind, String)> =
            plan.creates().map(|s| (s.kind, s.name.clone())).collect();
        assert_eq!(
            self.held().await,
            want,
            "the provisioner holds exactly the plan's resources"
        );
        let records: BTreeSet<(ResourceKind, String, ResourceStatus)> = want
            .iter()
            .map(|(k, n)| (*k, n.clone(), ResourceStatus::Ready))
            .collect();
        assert_eq!(
            self.live_records().await,
            records,
            "every resource is recorded ready"
        );
        let drift = Provisioning::new(self.registry.clone(), self.local.clone())
            .verify(self.platform)
            .await
            .unwrap();
        assert!(drift.is_clean(), "{drift:?}");
        let db = self
            .local
            .database(&format!("{}-default-auth-db", self.platform))
            .await
            .unwrap();
        db.query(&Statement::new(r#"SELECT * FROM "user""#))
            .await
            .expect("auth migrations ran");
    }

    async fn assert_nothing_left(&self) {
        assert!(
            self.held().await.is_empty(),
            "orphans in the provisioner: {:?}",
            self.held().await
        );
        assert!(
            self.live_records().await.is_empty(),
            "orphans in the registry: {:?}",
            self.live_records().await
        );
        assert_eq!(
            self.registry
                .platform_record(self.platform)
                .await
                .unwrap()
                .status,
            PlatformStatus::Deleted
        );
    }
}

async fn held(p: &dyn Provisioner, platform: PlatformId) -> BTreeSet<(ResourceKind, String)> {
    let mut out = BTreeSet::new();
    for kind in ResourceKind::ALL {
        if !p.supports(kind) {
            continue;
        }
        for r in p.list(kind, "").await.unwrap() {
            if r.name.contains(platform.as_str()) {
                out.insert((kind, r.name));
            }
        }
    }
    out
}

/// Applies with a fault at create `k`; returns once the apply has failed (or
/// its future was dropped).
async fn apply_with_fault(e: &Env, k: usize, fault: Fault) {
    apply_plan_with_fault(e, e.bootstrap(), k, fault).await;
}

/// Applies `plan` with `fault` injected at the `k`-th create and checks the
/// apply ends as that fault makes it end. A hung apply is dropped where it
/// hangs, as a process dying there would leave it: nothing of it runs on
/// behind the test's back.
async fn apply_plan_with_fault(e: &Env, plan: Plan, k: usize, fault: Fault) {
    let faulty: Arc<dyn Provisioner> = Arc::new(Faulty::new(e.local.clone(), k, fault));
    let prov = e.provisioning(faulty);
    match fault {
        Fault::Panic => {
            let res = tokio::spawn(async move { prov.apply(&plan).await }).await;
            assert!(res.unwrap_err().is_panic());
        }
        Fault::CreateThenHang => {
            let res = tokio::time::timeout(Duration::from_millis(300), prov.apply(&plan)).await;
            assert!(res.is_err(), "the apply must hang at the injected step");
        }
        Fault::Fail => {
            let err = prov.apply(&plan).await.unwrap_err();
            assert!(err.to_string().contains("injected"), "{err}");
        }
        Fault::Flaky(_) => prov
            .apply(&plan)
            .await
            .expect("retries absorb the flakiness"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_every_bootstrap_step_is_resumed_to_a_complete_platform() {
    let creates = Env::bootstrap(&env().await).creates().count();
    assert_eq!(creates, 5);
    for k in 0..creates {
        for fault in [Fault::Fail, Fault::Panic, Fault::CreateThenHang] {
            let e = env().await;
            apply_with_fault(&e, k, fault).await;
            let plan = e.bootstrap();
            let prov = e.provisioning(e.local.clone());
            prov.resume(&plan)
                .await
                .unwrap_or_else(|err| panic!("resume after {fault:?} at {k}: {err}"));
            e.assert_complete(&plan).await;
            prov.resume(&plan).await.expect("resume is idempotent");
            e.assert_complete(&plan).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_every_bootstrap_step_is_rolled_back_to_nothing() {
    for k in 0..5 {
        for fault in [Fault::Fail, Fault::Panic, Fault::CreateThenHang] {
            let e = env().await;
            apply_with_fault(&e, k, fault).await;
            let plan = e.bootstrap();
            let prov = e.provisioning(e.local.clone());
            prov.rollback(&plan)
                .await
                .unwrap_or_else(|err| panic!("rollback after {fault:?} at {k}: {err}"));
            e.assert_nothing_left().await;
            prov.rollback(&plan).await.expect("rollback is idempotent");
            e.assert_nothing_left().await;
            let err = prov.apply(&plan).await.unwrap_err();
            assert!(
                err.to_string().contains("deleted"),
                "a rolled-back platform stays deleted: {err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_bootstraps_end_with_one_set_of_resources() {
    let e = env().await;
    let plan = e.bootstrap();
    let (a, b) = (
        e.provisioning(e.local.clone()),
        e.provisioning(e.local.clone()),
    );
    let (ra, rb) = tokio::join!(a.apply(&plan), b.apply(&plan));
    ra.unwrap();
    rb.unwrap();
    e.assert_complete(&plan).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_errors_are_retried_and_reported() {
    let e = env().await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let faulty: Arc<dyn Provisioner> = Arc::new(Faulty::new(e.local.clone(), 2, Fault::Flaky(2)));
    let prov = e
        .provisioning(faulty)
        .with_observer(move |ev| seen.lock().unwrap().push(ev.clone()));
    let plan = e.bootstrap();
    prov.apply(&plan).await.unwrap();
    e.assert_complete(&plan).await;
    let events = events.lock().unwrap().clone();
    let retries = events
        .iter()
        .filter(|ev| matches!(ev.state, StepState::Retrying { .. }))
        .count();
    assert_eq!(retries, 2, "{events:#?}");
    let done = events
        .iter()
        .filter(|ev| ev.state == StepState::Done)
        .count();
    assert_eq!(done, plan.steps.len(), "every step reports done");
    assert!(events.iter().all(|ev| ev.total == plan.steps.len()));

    let e = env().await;
    let faulty: Arc<dyn Provisioner> = Arc::new(Faulty::new(e.local.clone(), 0, Fault::Flaky(100)));
    let err = e
        .provisioning(faulty)
        .apply(&e.bootstrap())
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "gives up after the policy's attempts: {err}"
    );
}

#[tokio::test]
async fn unsupported_kinds_are_reported_before_anything_is_created() {
    let e = env().await;
    let only_db: Arc<dyn Provisioner> =
        Arc::new(MemoryProvisioner::supporting(&[ResourceKind::Database]));
    let prov =
        Provisioning::new(e.registry.clone(), only_db.clone()).with_connector(e.local.clone());
    let err = prov.apply(&e.bootstrap()).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(
        msg.contains("worker") && msg.contains("dns_record"),
        "names every missing kind: {msg}"
    );
    assert!(
        held(&*only_db, e.platform).await.is_empty(),
        "nothing was created"
    );
    let no_connector = Provisioning::new(e.registry.clone(), e.local.clone());
    assert!(matches!(
        no_connector.apply(&e.bootstrap()).await.unwrap_err(),
        Error::Config { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_deletes_data_and_keeps_tombstones() {
    let e = env().await;
    let prov = e.provisioning(e.local.clone());
    prov.apply(&e.bootstrap()).await.unwrap();
    let stack = StackId::generate();
    let template = StackTemplate {
        name: "app".into(),
        version: 3,
        resources: vec![
            ResourceRole::Database,
            ResourceRole::Storage,
            ResourceRole::Kv,
        ],
    };
    let plan = Plan::stack(e.platform, stack, &template).unwrap();
    prov.apply(&plan).await.unwrap();
    assert_eq!(
        e.registry
            .stack(e.platform, stack)
            .await
            .unwrap()
            .template_version,
        3
    );
    let bucket = e
        .local
        .bucket(&format!("{}-{stack}-storage", e.platform))
        .await
        .unwrap();
    use neutrino_core::object::{ObjectStore, PutOptions};
    bucket
        .put("data.bin", vec![1, 2, 3].into(), &PutOptions::default())
        .await
        .unwrap();

    prov.deactivate_stack(e.platform, stack).await.unwrap();
    assert!(
        e.local
            .bucket(&format!("{}-{stack}-storage", e.platform))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        e.registry.stack(e.platform, stack).await.unwrap().status,
        "deleted"
    );
    let tombstones = e.registry.resources(e.platform).await.unwrap();
    assert!(
        tombstones
            .iter()
            .filter(|r| r.stack == stack)
            .all(|r| r.status == ResourceStatus::Deleted)
    );
    assert_eq!(
        tombstones.iter().filter(|r| r.stack == stack).count(),
        3,
        "tombstones are kept"
    );
    e.assert_complete(&e.bootstrap()).await;

    prov.teardown_platform(e.platform).await.unwrap();
    e.assert_nothing_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_missing_unexpected_and_mismatched_resources() {
    let e = env().await;
    let prov = e.provisioning(e.local.clone());
    let plan = e.bootstrap();
    prov.apply(&plan).await.unwrap();
    let console = format!("{}-default-console", e.platform);
    e.local
        .delete(ResourceKind::Worker, &console)
        .await
        .unwrap();
    let stray = format!("{}-zzzzzzzzzz-db", e.platform);
    e.local
        .create(&ResourceSpec::new(ResourceKind::Database, &stray))
        .await
        .unwrap();
    let drift = prov.verify(e.platform).await.unwrap();
    assert_eq!(
        drift
            .missing
            .iter()
            .map(|r| r.logical_name.as_str())
            .collect::<Vec<_>>(),
        [console.as_str()]
    );
    assert_eq!(
        drift
            .unexpected
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        [stray.as_str()]
    );
    assert!(drift.mismatched.is_empty());
    prov.resume(&plan).await.unwrap();
    let drift = prov.verify(e.platform).await.unwrap();
    assert!(
        drift.missing.is_empty(),
        "resume recreated the missing worker"
    );
}

#[test]
fn plans_print_as_a_dry_run_and_refuse_bootstrap_roles_in_stacks() {
    let p: PlatformId = "k3m9p2xw7q".parse().unwrap();
    let text = Plan::bootstrap(p, &Domain::default(), &[&AUTH_TEST_MIGRATIONS]).to_string();
    let want = "plan for platform k3m9p2xw7q, stack default (bootstrap):
  1. create database k3m9p2xw7q-default-auth-db
  2. migrate k3m9p2xw7q-default-auth-db (auth-test) (after 1)
  3. create worker k3m9p2xw7q-default-auth (after 2)
  4. create worker k3m9p2xw7q-default-console
  5. create dns_record auth.svc.default.k3m9p2xw7q.nno.app (after 3)
  6. create dns_record console.app.default.k3m9p2xw7q.nno.app (after 4)
";
    assert_eq!(text, want);
    let bad = StackTemplate {
        name: "x".into(),
        version: 1,
        resources: vec![ResourceRole::AuthDatabase],
    };
    assert!(Plan::stack(p, StackId::generate(), &bad).is_err());
    let dup = StackTemplate {
        name: "x".into(),
        version: 1,
        resources: vec![ResourceRole::Kv, ResourceRole::Kv],
    };
    assert!(Plan::stack(p, StackId::generate(), &dup).is_err());
}

// ---- property test: resume ∘ fail = apply; rollback ∘ fail = nothing ----

fn roles() -> impl Strategy<Value = Vec<ResourceRole>> {
    prop::sample::subsequence(
        vec![
            ResourceRole::Database,
            ResourceRole::Storage,
            ResourceRole::Kv,
        ],
        1..=3,
    )
}

async fn memory_env() -> (Registry, PlatformId) {
    let registry = neutrino_tenancy::testkit::memory_kv_registry(Arc::new(
        SqliteExecutor::memory().await.unwrap(),
    ))
    .await;
    let platform = registry
        .create_platform(NewPlatform::new("P", PlatformClass::Platform))
        .await
        .unwrap()
        .id;
    (registry, platform)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn resume_after_failure_equals_apply_and_rollback_restores_the_provider(
        stack_roles in roles(),
        with_bootstrap in any::<bool>(),
        fail_at in 0usize..8,
        panic_instead in any::<bool>(),
        on_default_stack in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let template = StackTemplate { name: "t".into(), version: 1, resources: stack_roles };
            // The reference: a clean apply on a fresh provider.
            let (registry, platform) = memory_env().await;
            let mut plans = Vec::new();
            if with_bootstrap {
                plans.push(Plan::bootstrap(platform, &Domain::default(), &[]));
            }
            // The stack plan shares the default stack with the bootstrap, or not.
            let stack = if on_default_stack { StackId::DEFAULT } else { StackId::generate() };
            plans.push(Plan::stack(platform, stack, &template).unwrap());
            let clean: Arc<dyn Provisioner> = Arc::new(MemoryProvisioner::new());
            let prov = Provisioning::new(registry, clean.clone()).with_retry(fast_retry());
            for plan in &plans {
                prov.apply(plan).await.unwrap();
            }
            let want = held(&*clean, platform).await;

            for rollback in [false, true] {
                let (registry, _) = memory_env().await;
                // Same plans, re-targeted at this registry's platform.
                registry
                    .create_platform(NewPlatform::new("P", PlatformClass::Platform).with_id(platform))
                    .await
                    .unwrap();
                let inner: Arc<dyn Provisioner> = Arc::new(MemoryProvisioner::new());
                let fault = if panic_instead { Fault::Panic } else { Fault::Fail };
                let faulty: Arc<dyn Provisioner> = Arc::new(Faulty::new(inner.clone(), fail_at, fault));
                let failing = Provisioning::new(registry.clone(), faulty).with_retry(fast_retry());
                let mut finished = 0;
                for plan in plans.clone() {
                    let f = failing.clone();
                    let r = tokio::spawn(async move { f.apply(&plan).await }).await;
                    if !matches!(r, Ok(Ok(()))) {
                        break;
                    }
                    finished += 1;
                }
                let healthy = Provisioning::new(registry.clone(), inner.clone()).with_retry(fast_retry());
                if rollback {
                    let last = plans.last().unwrap();
                    healthy.rollback(last).await.unwrap();
                    if with_bootstrap && finished >= 1 {
                        // Rolling back the stack plan leaves the finished bootstrap whole.
                        let bootstrap: BTreeSet<(ResourceKind, String)> =
                            plans[0].creates().map(|s| (s.kind, s.name.clone())).collect();
                        prop_assert_eq!(held(&*inner, platform).await, bootstrap, "the bootstrap survives");
                        let drift = healthy.verify(platform).await.unwrap();
                        prop_assert!(drift.is_clean(), "{:?}", drift);
                    }
                    for plan in plans.iter().rev() {
                        healthy.rollback(plan).await.unwrap();
                    }
                    prop_assert!(held(&*inner, platform).await.is_empty(), "rollback leaves the provider as it was");
                } else {
                    for plan in &plans {
                        healthy.resume(plan).await.unwrap();
                    }
                    prop_assert_eq!(held(&*inner, platform).await, want.clone(), "resume after a failure equals a clean apply");
                }
            }
            Ok(())
        })?;
    }
}

// ---- a plan touches only what it created, on its own platform ----

impl Env {
    /// Writes a row into a database the provisioner holds.
    async fn write_row(&self, database: &str) {
        let db = self.local.database(database).await.unwrap();
        db.execute(&Statement::new(
            r#"CREATE TABLE IF NOT EXISTS "precious" ("v" TEXT)"#,
        ))
        .await
        .unwrap();
        db.execute(&Statement::new(r#"INSERT INTO "precious" VALUES ('kept')"#))
            .await
            .unwrap();
    }

    /// Whether the row `write_row` wrote is still there.
    async fn row_survives(&self, database: &str) -> bool {
        let Ok(db) = self.local.database(database).await else {
            return false;
        };
        match db
            .query(&Statement::new(r#"SELECT "v" FROM "precious""#))
            .await
        {
            Ok(rows) => rows.len() == 1,
            Err(_) => false,
        }
    }

    async fn verify(&self) -> neutrino_tenancy::provision::Drift {
        Provisioning::new(self.registry.clone(), self.local.clone())
            .verify(self.platform)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_back_a_failed_default_stack_plan_keeps_the_finished_bootstrap() {
    let stack_creates = Plan::stack(
        "k3m9p2xw7q".parse().unwrap(),
        StackId::DEFAULT,
        &common::app_template(),
    )
    .unwrap()
    .creates()
    .count();
    for k in 0..stack_creates {
        for fault in [Fault::Fail, Fault::Panic, Fault::CreateThenHang] {
            let e = env().await;
            let prov = e.provisioning(e.local.clone());
            let bootstrap = e.bootstrap();
            prov.apply(&bootstrap).await.unwrap();
            let auth_db = format!("{}-default-auth-db", e.platform);
            e.write_row(&auth_db).await;

            let plan = Plan::stack(e.platform, StackId::DEFAULT, &common::app_template()).unwrap();
            apply_plan_with_fault(&e, plan.clone(), k, fault).await;

            prov.rollback(&plan)
                .await
                .unwrap_or_else(|err| panic!("rollback after {fault:?} at {k}: {err}"));
            e.assert_complete(&bootstrap).await;
            assert!(
                e.row_survives(&auth_db).await,
                "{fault:?} at {k}: the auth database keeps its data"
            );
            assert_eq!(
                e.registry
                    .stack(e.platform, StackId::DEFAULT)
                    .await
                    .unwrap()
                    .status,
                "active",
                "the default stack still holds the bootstrap's resources"
            );
            prov.rollback(&plan).await.expect("rollback is idempotent");
            e.assert_complete(&bootstrap).await;

            // Applying the plan again completes it beside the bootstrap.
            prov.apply(&plan).await.unwrap();
            assert!(e.verify().await.is_clean(), "{:?}", e.verify().await);
            assert_eq!(e.held().await.len(), 5 + stack_creates);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_never_deletes_adopted_or_earlier_plans_resources() {
    let e = env().await;
    let prov = e.provisioning(e.local.clone());
    prov.apply(&e.bootstrap()).await.unwrap();
    let auth_db = format!("{}-default-auth-db", e.platform);
    e.write_row(&auth_db).await;

    // A hand-built stack plan on the default stack that "creates" the
    // bootstrap's auth database: it adopts it, and its rollback keeps it.
    let hand = Plan {
        platform: e.platform,
        stack: StackId::DEFAULT,
        kind: PlanKind::Stack(common::app_template()),
        steps: vec![
            Step {
                action: Action::Create(ResourceSpec::new(ResourceKind::Database, &auth_db)),
                after: vec![],
            },
            Step {
                action: Action::Create(ResourceSpec::new(
                    ResourceKind::Database,
                    format!("{}-default-db", e.platform),
                )),
                after: vec![],
            },
        ],
    };
    prov.apply(&hand).await.unwrap();
    prov.rollback(&hand).await.unwrap();
    assert!(e.row_survives(&auth_db).await, "the auth database survives");
    e.assert_complete(&e.bootstrap()).await;

    // A hand-built plan of the same template as a finished plan, naming only
    // part of it: its rollback deletes none of the finished plan's resources.
    let stack = StackId::generate();
    let full = Plan::stack(e.platform, stack, &common::app_template()).unwrap();
    prov.apply(&full).await.unwrap();
    let db = format!("{}-{stack}-db", e.platform);
    e.write_row(&db).await;
    let mut part = full.clone();
    part.steps.retain(
        |s| matches!(&s.action, Action::Create(spec) if spec.kind == ResourceKind::Database),
    );
    assert_eq!(part.steps.len(), 1);
    prov.apply(&part).await.unwrap();
    prov.rollback(&part).await.unwrap();
    assert!(
        e.row_survives(&db).await,
        "the finished plan's database survives"
    );
    assert!(e.verify().await.is_clean(), "{:?}", e.verify().await);
    prov.rollback(&full).await.unwrap();
    assert!(
        !e.row_survives(&db).await,
        "its own plan's rollback deletes it"
    );

    // A database that existed before any plan (not recorded) is adopted too.
    let stack = StackId::generate();
    let db = format!("{}-{stack}-db", e.platform);
    e.local
        .create(&ResourceSpec::new(ResourceKind::Database, &db))
        .await
        .unwrap();
    e.write_row(&db).await;
    let plan = Plan::stack(e.platform, stack, &common::app_template()).unwrap();
    prov.apply(&plan).await.unwrap();
    prov.rollback(&plan).await.unwrap();
    assert!(e.row_survives(&db).await, "an adopted database survives");
    assert!(
        !e.held().await.contains(&(
            ResourceKind::Bucket,
            format!("{}-{stack}-storage", e.platform)
        )),
        "what the plan did create is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_live_resources_of_a_deleted_stack_and_reapply_revives_it() {
    let e = env().await;
    let prov = e.provisioning(e.local.clone());
    prov.apply(&e.bootstrap()).await.unwrap();
    let stack = StackId::generate();
    let plan = Plan::stack(e.platform, stack, &common::app_template()).unwrap();
    prov.apply(&plan).await.unwrap();
    assert!(e.verify().await.is_clean());

    e.registry
        .set_stack_status(e.platform, stack, true)
        .await
        .unwrap();
    let drift = e.verify().await;
    assert!(!drift.is_clean());
    assert_eq!(drift.in_deleted_stack.len(), 3, "{drift:?}");
    assert!(drift.in_deleted_stack.iter().all(|r| r.stack == stack));

    // Re-onboarding onto a deleted stack revives it.
    prov.deactivate_stack(e.platform, stack).await.unwrap();
    assert!(e.verify().await.is_clean());
    prov.apply(&plan).await.unwrap();
    assert_eq!(
        e.registry.stack(e.platform, stack).await.unwrap().status,
        "active"
    );
    assert!(e.verify().await.is_clean(), "{:?}", e.verify().await);
}

/// Platform `Q` beside the env's platform, with a stack whose database holds
/// data.
async fn victim(e: &Env) -> (PlatformId, StackId, String) {
    let q = e
        .registry
        .create_platform(NewPlatform::new("Q", PlatformClass::Platform))
        .await
        .unwrap()
        .id;
    let stack = StackId::generate();
    let plan = Plan::stack(q, stack, &common::app_template()).unwrap();
    e.provisioning(e.local.clone()).apply(&plan).await.unwrap();
    let db = format!("{q}-{stack}-db");
    e.write_row(&db).await;
    (q, stack, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_for_one_platform_cannot_touch_another_platforms_resources() {
    let e = env().await;
    let (q, q_stack, q_db) = victim(&e).await;
    let q_held = held(&*e.local, q).await;
    let p_stack = StackId::generate();
    let memory: Arc<dyn Provisioner> = Arc::new(MemoryProvisioner::new());
    memory
        .create(&ResourceSpec::new(ResourceKind::Database, &q_db))
        .await
        .unwrap();
    let foreign_names = [
        // Q's database, under P's own stack or Q's stack ID.
        (p_stack, ResourceKind::Database, q_db.clone()),
        (q_stack, ResourceKind::Database, q_db.clone()),
        (
            StackId::DEFAULT,
            ResourceKind::Database,
            format!("{q}-default-auth-db"),
        ),
        (
            StackId::DEFAULT,
            ResourceKind::Worker,
            format!("{q}-default-auth"),
        ),
        (
            StackId::DEFAULT,
            ResourceKind::DnsRecord,
            format!("auth.svc.default.{q}.nno.app"),
        ),
        // A name of no platform at all.
        (p_stack, ResourceKind::Database, "shared-db".to_owned()),
        // P's own name, but in another stack than the plan's.
        (
            p_stack,
            ResourceKind::Database,
            format!("{}-{}-db", e.platform, StackId::generate()),
        ),
    ];
    for provisioner in [e.local.clone() as Arc<dyn Provisioner>, memory.clone()] {
        let prov = e.provisioning(provisioner.clone());
        for (stack, kind, name) in &foreign_names {
            // The foreign name comes after a legitimate step: the whole plan is
            // checked before anything is touched.
            let plan = Plan {
                platform: e.platform,
                stack: *stack,
                kind: PlanKind::Stack(common::app_template()),
                steps: vec![
                    Step {
                        action: Action::Create(ResourceSpec::new(
                            ResourceKind::Database,
                            format!("{}-{stack}-db", e.platform),
                        )),
                        after: vec![],
                    },
                    Step {
                        action: Action::Create(ResourceSpec::new(*kind, name)),
                        after: vec![],
                    },
                ],
            };
            let err = prov.apply(&plan).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{name}: {err:?}");
            let err = prov.rollback(&plan).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{name}: {err:?}");
            assert!(
                held(&*provisioner, e.platform).await.is_empty(),
                "{name}: nothing of P was created"
            );
        }
        // A migration of another platform's database is refused the same way.
        let plan = Plan {
            platform: e.platform,
            stack: p_stack,
            kind: PlanKind::Stack(common::app_template()),
            steps: vec![Step {
                action: Action::Migrate {
                    database: q_db.clone(),
                    migrations: vec![&AUTH_TEST_MIGRATIONS],
                },
                after: vec![],
            }],
        };
        assert!(matches!(
            prov.apply(&plan).await.unwrap_err(),
            Error::InvalidInput { .. }
        ));
    }
    assert!(e.row_survives(&q_db).await, "Q's database keeps its data");
    assert_eq!(held(&*e.local, q).await, q_held, "Q keeps every resource");
    assert!(memory.get(ResourceKind::Database, &q_db).await.is_ok());
    assert!(
        e.registry.resources(e.platform).await.unwrap().is_empty(),
        "nothing was recorded for P"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_naming_another_platforms_resource_is_refused_and_never_torn_down() {
    let e = env().await;
    let (q, q_stack, q_db) = victim(&e).await;
    let q_held = held(&*e.local, q).await;
    let prov = e.provisioning(e.local.clone());
    prov.apply(&e.bootstrap()).await.unwrap();

    for (stack, name) in [
        (q_stack, q_db.clone()),
        (StackId::DEFAULT, q_db.clone()),
        (StackId::DEFAULT, format!("{q}-default-auth-db")),
        (StackId::DEFAULT, "shared-db".to_owned()),
    ] {
        let err = e
            .registry
            .record_resource(&ResourceRecord {
                platform: e.platform,
                stack,
                kind: ResourceKind::Database,
                logical_name: name.clone(),
                provider: "local".into(),
                provider_id: Some(name.clone()),
                status: ResourceStatus::Ready,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{name}: {err:?}");
    }

    // A record written before the check existed (straight into the table).
    let raw = SqliteExecutor::open(e._dir.path().join("registry.sqlite"))
        .await
        .unwrap();
    raw.execute(
        &Statement::new(
            r#"INSERT INTO "neutrino_resource" ("platform_id", "stack_id", "kind", "logical_name", "provider", "provider_id", "status", "created_at", "updated_at")
               VALUES (?1, ?2, 'database', ?3, 'local', ?3, 'ready', 0, 0)"#,
        )
        .bind(e.platform.as_str())
        .bind(q_stack.as_str())
        .bind(q_db.as_str()),
    )
    .await
    .unwrap();

    prov.deactivate_stack(e.platform, q_stack).await.unwrap();
    assert!(e.row_survives(&q_db).await, "deactivate left Q's database");
    raw.execute(
        &Statement::new(
            r#"UPDATE "neutrino_resource" SET "status" = 'ready' WHERE "platform_id" = ?1 AND "logical_name" = ?2"#,
        )
        .bind(e.platform.as_str())
        .bind(q_db.as_str()),
    )
    .await
    .unwrap();
    prov.teardown_platform(e.platform).await.unwrap();
    e.assert_nothing_left().await;
    assert!(e.row_survives(&q_db).await, "Q's database keeps its data");
    assert_eq!(held(&*e.local, q).await, q_held, "Q keeps every resource");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_is_never_left_deleted_under_a_concurrent_plans_resources() {
    let e = env().await;
    let prov = e.provisioning(e.local.clone());
    let only = |name: &str, role: ResourceRole| StackTemplate {
        name: name.into(),
        version: 1,
        resources: vec![role],
    };
    for _ in 0..20 {
        let stack = StackId::generate();
        let a = Plan::stack(e.platform, stack, &only("a", ResourceRole::Database)).unwrap();
        let b = Plan::stack(e.platform, stack, &only("b", ResourceRole::Kv)).unwrap();
        prov.apply(&a).await.unwrap();
        let (p1, p2) = (prov.clone(), prov.clone());
        let (a2, b2) = (a.clone(), b.clone());
        let (rolled, applied) = tokio::join!(
            tokio::spawn(async move { p1.rollback(&a2).await }),
            tokio::spawn(async move { p2.apply(&b2).await }),
        );
        rolled.unwrap().unwrap();
        let drift = e.verify().await;
        assert!(drift.in_deleted_stack.is_empty(), "{drift:?}");
        match applied.unwrap() {
            Ok(()) => {
                assert!(drift.is_clean(), "{drift:?}");
                assert_eq!(
                    e.registry.stack(e.platform, stack).await.unwrap().status,
                    "active"
                );
            }
            Err(err) => assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}"),
        }
        assert!(
            !e.held()
                .await
                .contains(&(ResourceKind::Database, format!("{}-{stack}-db", e.platform))),
            "plan a's rollback deleted its database"
        );
    }
}
