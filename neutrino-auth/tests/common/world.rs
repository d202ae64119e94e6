//! A platform with a registry and an auth database on real SQLite files, and a
//! second platform on the same registry, for the organization tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use neutrino_auth::org::Organizations;
use neutrino_auth::testkit;
use neutrino_auth::{Auth, AuthBuilder, SignUpEmail, SignedIn};
use neutrino_core::clock::ManualClock;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::memory::MemoryKv;
use neutrino_core::sql::{ExecOutcome, Row, SqlExecutor, SqlGuard, Statement};
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::{NewPlatform, Registry, RegistryOptions};
use tempfile::TempDir;

use super::{PASSWORD, SECRET, meta, unique_email};

/// A `SqlExecutor` that fails the next statement whose SQL contains a pattern,
/// once: how the tests inject a crash between the steps of a saga. It also
/// counts the round trips made through it (a query, an execute or a batch
/// each count one), for the tests of how many reads an operation costs.
#[derive(Clone, Debug)]
pub struct FaultyDb {
    inner: SqliteExecutor,
    fail_on: Arc<Mutex<Option<String>>>,
    calls: Arc<AtomicUsize>,
}

impl FaultyDb {
    pub fn new(inner: SqliteExecutor) -> Self {
        Self {
            inner,
            fail_on: Arc::new(Mutex::new(None)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Round trips made through this executor (and its clones) so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Fails the next statement (or batch holding one) containing `pattern`.
    pub fn fail_next(&self, pattern: &str) {
        *self.fail_on.lock().unwrap() = Some(pattern.to_owned());
    }

    fn check(&self, stmts: &[&Statement]) -> neutrino_core::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.fail_on.lock().unwrap();
        if let Some(p) = guard.as_deref()
            && stmts.iter().any(|s| s.sql().contains(p))
        {
            *guard = None;
            return Err(neutrino_core::Error::backend(
                "faulty",
                true,
                "injected failure",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl SqlExecutor for FaultyDb {
    async fn execute(&self, stmt: &Statement) -> neutrino_core::Result<ExecOutcome> {
        self.check(&[stmt])?;
        self.inner.execute(stmt).await
    }
    async fn query(&self, stmt: &Statement) -> neutrino_core::Result<Vec<Row>> {
        self.check(&[stmt])?;
        self.inner.query(stmt).await
    }
    async fn batch(&self, stmts: &[Statement]) -> neutrino_core::Result<Vec<ExecOutcome>> {
        self.check(&stmts.iter().collect::<Vec<_>>())?;
        self.inner.batch(stmts).await
    }
    async fn execute_guarded(
        &self,
        guard: &SqlGuard,
        stmt: &Statement,
    ) -> neutrino_core::Result<ExecOutcome> {
        self.check(&[stmt])?;
        self.inner.execute_guarded(guard, stmt).await
    }
    async fn query_guarded(
        &self,
        guard: &SqlGuard,
        stmt: &Statement,
    ) -> neutrino_core::Result<Vec<Row>> {
        self.check(&[stmt])?;
        self.inner.query_guarded(guard, stmt).await
    }
    async fn batch_guarded(
        &self,
        guard: &SqlGuard,
        stmts: &[Statement],
    ) -> neutrino_core::Result<Vec<ExecOutcome>> {
        self.check(&stmts.iter().collect::<Vec<_>>())?;
        self.inner.batch_guarded(guard, stmts).await
    }
}

/// One platform: its auth database and organizations.
pub struct Platform {
    pub id: PlatformId,
    pub auth: Auth,
    pub orgs: Organizations,
    pub auth_db: FaultyDb,
    pub raw_auth_db: SqliteExecutor,
}

pub struct World {
    pub dir: TempDir,
    pub clock: ManualClock,
    pub registry: Registry,
    pub registry_db: FaultyDb,
    pub a: Platform,
    pub b: Platform,
}

impl World {
    pub async fn new() -> Self {
        Self::with(|b| b, |o| o).await
    }

    pub async fn with(
        configure: impl Fn(AuthBuilder) -> AuthBuilder,
        configure_orgs: impl Fn(Organizations) -> Organizations,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new();
        let raw = SqliteExecutor::open(dir.path().join("registry.sqlite"))
            .await
            .expect("registry db");
        let registry_db = FaultyDb::new(raw.clone());
        let kv = Arc::new(MemoryKv::with_clock(Arc::new(clock.clone())));
        let open = || {
            Registry::open(
                Arc::new(registry_db.clone()),
                kv.clone(),
                RegistryOptions::default().with_clock(Arc::new(clock.clone())),
            )
        };
        let registry = open().await.expect("registry");
        // A second handle on the same registry for platform B. Handles on one
        // database share the one scope minter: each platform gets a copy narrowed
        // to it.
        let registry_b = open().await.expect("registry b");
        let minter = registry.scope_minter().expect("minter");
        let mut platforms = Vec::new();
        for (name, reg) in [("a", registry.clone()), ("b", registry_b)] {
            let p = reg
                .create_platform(NewPlatform::new(
                    format!("Platform {name}"),
                    neutrino_tenancy::PlatformClass::Platform,
                ))
                .await
                .expect("platform")
                .id;
            let raw_auth_db = SqliteExecutor::open(dir.path().join(format!("auth-{name}.sqlite")))
                .await
                .expect("auth db");
            let auth_db = FaultyDb::new(raw_auth_db.clone());
            let auth = configure(
                AuthBuilder::new(auth_db.clone(), SECRET).with_clock(Arc::new(clock.clone())),
            )
            .build()
            .expect("auth");
            auth.migrate().await.expect("migrate");
            let minter = minter.restricted_to(p).expect("minter");
            let orgs = configure_orgs(neutrino_auth::testkit::organizations(
                auth.clone(),
                reg,
                p,
                minter,
            ));
            platforms.push(Platform {
                id: p,
                auth,
                orgs,
                auth_db,
                raw_auth_db,
            });
        }
        let b = platforms.pop().expect("b");
        let a = platforms.pop().expect("a");
        Self {
            dir,
            clock,
            registry,
            registry_db,
            a,
            b,
        }
    }
}

impl Platform {
    /// Signs a fresh user up; returns the user and its session.
    pub async fn user(&self, name: &str) -> SignedIn {
        self.auth
            .sign_up_email(SignUpEmail::new(name, unique_email(), PASSWORD), &meta())
            .await
            .expect("sign up")
            .signed_in()
            .expect("signed in")
    }

    /// Every row of `table` whose `column` is `org`, as text, for before/after
    /// comparisons.
    pub async fn rows_of(&self, table: &str, column: &str, org: &TenantId) -> Vec<String> {
        testkit::rows_of(&self.raw_auth_db, table, column, org.as_str()).await
    }

    /// A snapshot of everything an organization owns:
    /// [`testkit::ORGANIZATION_ROWS`].
    pub async fn snapshot(&self, org: &TenantId) -> Vec<String> {
        testkit::snapshot_of(&self.raw_auth_db, &testkit::ORGANIZATION_ROWS, org.as_str()).await
    }
}
