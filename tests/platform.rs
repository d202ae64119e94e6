//! The platform runtime (`neutrino::Platform`): assembly from backends and from
//! a folder, several platforms in one process, reopening, suspension, bad
//! input, and the queries a request's scope costs.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use neutrino::auth::apikey::{ApiKeyScope, NewApiKey};
use neutrino::auth::org::NewOrganization;
use neutrino::auth::{AuthError, RequestMeta, SessionCacheConfig, SignInEmail, SignUpEmail};
use neutrino::ids::PlatformId;
use neutrino::memory::MemoryKv;
use neutrino::sql::{ExecOutcome, Row, SqlExecutor, SqlGuard, Statement};
use neutrino::sqlite::SqliteExecutor;
use neutrino::tenancy::{
    ColumnType, ListQuery, NewPlatform, PlatformClass, Record, Registry, RegistryOptions,
    TenantTable,
};
use neutrino::{Error, LocalPlatforms, Platform, PlatformBuilder, Result};

const SECRET: &str = "a test secret of at least thirty-two bytes";
const PASSWORD: &str = "correct horse battery";

/// Compile-time: what a host app clones into every handler.
const _: fn() = || {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    fn sendable<T: Send>() {}
    shared::<Platform>();
    shared::<LocalPlatforms>();
    sendable::<PlatformBuilder>();
};

fn meta() -> RequestMeta {
    RequestMeta::new("203.0.113.7", "platform-test")
}

/// The host app's table, declared once: a store knows its tables by identity.
fn notes() -> TenantTable {
    static NOTES: LazyLock<TenantTable> =
        LazyLock::new(|| TenantTable::new("note", &[("body", ColumnType::Text)]).unwrap());
    NOTES.clone()
}

/// Counts the statements sent to an executor (a batch counts once per
/// statement and once as a round trip).
#[derive(Debug)]
struct Counting {
    inner: SqliteExecutor,
    round_trips: AtomicUsize,
}

impl Counting {
    async fn open(path: &Path) -> Arc<Self> {
        Arc::new(Self {
            inner: SqliteExecutor::open(path).await.unwrap(),
            round_trips: AtomicUsize::new(0),
        })
    }

    fn take(&self) -> usize {
        self.round_trips.swap(0, Ordering::SeqCst)
    }

    fn tick(&self) {
        self.round_trips.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SqlExecutor for Counting {
    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome> {
        self.tick();
        self.inner.execute(stmt).await
    }
    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>> {
        self.tick();
        self.inner.query(stmt).await
    }
    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        self.tick();
        self.inner.batch(stmts).await
    }
    async fn execute_guarded(&self, guard: &SqlGuard, stmt: &Statement) -> Result<ExecOutcome> {
        self.tick();
        self.inner.execute_guarded(guard, stmt).await
    }
    async fn query_guarded(&self, guard: &SqlGuard, stmt: &Statement) -> Result<Vec<Row>> {
        self.tick();
        self.inner.query_guarded(guard, stmt).await
    }
    async fn batch_guarded(
        &self,
        guard: &SqlGuard,
        stmts: &[Statement],
    ) -> Result<Vec<ExecOutcome>> {
        self.tick();
        self.inner.batch_guarded(guard, stmts).await
    }
}

/// A deployment from backends: one registry, a store database shared by its
/// platforms, and an auth database per platform, all SQLite files.
struct Deployment {
    dir: tempfile::TempDir,
    registry: Registry,
    registry_db: Arc<Counting>,
    minter: neutrino::tenancy::ScopeMinter,
    store_db: Arc<SqliteExecutor>,
}

impl Deployment {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let registry_db = Counting::open(&dir.path().join("registry.sqlite")).await;
        let registry = Registry::open(
            registry_db.clone(),
            Arc::new(MemoryKv::new()),
            RegistryOptions::default(),
        )
        .await
        .unwrap();
        let minter = registry.scope_minter().unwrap();
        let store_db = Arc::new(
            SqliteExecutor::open(dir.path().join("app.sqlite"))
                .await
                .unwrap(),
        );
        Self {
            dir,
            registry,
            registry_db,
            minter,
            store_db,
        }
    }

    async fn new_platform(&self, name: &str) -> PlatformId {
        self.registry
            .create_platform(NewPlatform::new(name, PlatformClass::Platform))
            .await
            .unwrap()
            .id
    }

    /// The builder of `platform`, on its own auth database file.
    async fn builder(&self, platform: PlatformId) -> (PlatformBuilder, Arc<Counting>) {
        let auth_db =
            Counting::open(&self.dir.path().join(format!("{platform}-auth.sqlite"))).await;
        let b = Platform::builder(&self.registry, &self.minter, platform, SECRET)
            .auth_db(auth_db.clone())
            .store(self.store_db.clone(), vec![notes()]);
        (b, auth_db)
    }

    async fn platform(&self, name: &str) -> Platform {
        let id = self.new_platform(name).await;
        self.builder(id).await.0.build().await.unwrap()
    }
}

/// Signs `email` up on `app`; the session token and its cookie header.
async fn sign_up(app: &Platform, email: &str) -> (String, String) {
    let signed = app
        .auth()
        .sign_up_email(SignUpEmail::new("User", email, PASSWORD), &meta())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let token = signed.session.token;
    (token.clone(), cookie_header(app, &token))
}

fn cookie_header(app: &Platform, token: &str) -> String {
    let c = app.auth().cookies().session_cookie(token, true);
    format!("theme=dark; {}={}", c.name(), c.value())
}

async fn create_org(app: &Platform, token: &str, slug: &str) -> neutrino::ids::TenantId {
    app.orgs()
        .create_organization(token, NewOrganization::new(slug, slug), &meta())
        .await
        .unwrap()
        .id
}

/// An API key of the holder of `token` for the organization `org`.
async fn member_key(app: &Platform, token: &str, org: neutrino::ids::TenantId) -> String {
    let new = NewApiKey {
        organization: Some(org),
        ..NewApiKey::default()
    };
    app.orgs()
        .create_api_key(token, new, &meta())
        .await
        .unwrap()
        .key
}

fn code_of(e: &Error) -> String {
    e.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_cookie_header_to_a_scope_that_sees_only_its_tenants_rows() {
    let d = Deployment::new().await;
    let app = d.platform("Notes").await;
    let (ada, cookie) = sign_up(&app, "ada@example.com").await;
    let acme = create_org(&app, &ada, "acme").await;
    let scope = app.scope_from_cookie_header(&cookie).await.unwrap();
    assert_eq!((scope.platform(), scope.tenant()), (app.id(), acme));
    assert_eq!(scope.roles(), "owner");
    let t = notes();
    let id = app
        .store()
        .insert(
            scope.tenant_scope(),
            &t,
            Record::new().set("body", "acme's"),
        )
        .await
        .unwrap();
    // Her second organization becomes active: its scope cannot read acme's row.
    let globex = create_org(&app, &ada, "globex").await;
    let other = app.scope(&ada).await.unwrap();
    assert_eq!(other.tenant(), globex);
    let e = app
        .store()
        .get(other.tenant_scope(), &t, &id)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(
        app.store()
            .list(other.tenant_scope(), &t, &ListQuery::new())
            .await
            .unwrap()
            .rows
            .is_empty()
    );
    // The clone is the same runtime.
    let clone = app.clone();
    let back = tokio::spawn(async move { clone.scope(&ada).await.map(|s| s.tenant()) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, globex);
    assert_eq!(app.registry().id(), app.id());
    assert!(!app.is_new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_platforms_in_one_process_refuse_each_others_sessions_keys_and_scopes() {
    let d = Deployment::new().await;
    let (a, b) = (d.platform("A").await, d.platform("B").await);
    let (ada, ada_cookie) = sign_up(&a, "ada@example.com").await;
    let acme = create_org(&a, &ada, "acme").await;
    let key = member_key(&a, &ada, acme).await;
    let (bob, bob_cookie) = sign_up(&b, "bob@example.com").await;
    create_org(&b, &bob, "acme").await;

    // A's session, cookie and key mean nothing on B, and the other way round.
    for e in [
        b.scope(&ada).await.unwrap_err(),
        b.scope_from_cookie_header(&ada_cookie).await.unwrap_err(),
        a.scope(&bob).await.unwrap_err(),
        a.scope_from_cookie_header(&bob_cookie).await.unwrap_err(),
    ] {
        assert!(e.is_permission_denied(), "{e:?}");
        assert!(code_of(&e).contains("UNAUTHORIZED"), "{e}");
    }
    let e = b.scope_from_api_key(&key).await.unwrap_err();
    assert!(code_of(&e).contains("INVALID_API_KEY"), "{e}");
    match a.scope_from_api_key(&key).await.unwrap() {
        ApiKeyScope::Tenant(s) => assert_eq!(s.tenant(), acme),
        other => panic!("a tenant key: {other:?}"),
    }

    // A's scope is refused by B's store, though both use one database, and
    // B's scope never sees A's rows.
    let t = notes();
    let sa = a.scope(&ada).await.unwrap();
    let sb = b.scope(&bob).await.unwrap();
    let id = a
        .store()
        .insert(sa.tenant_scope(), &t, Record::new().set("body", "a"))
        .await
        .unwrap();
    assert!(
        b.store()
            .insert(sa.tenant_scope(), &t, Record::new().set("body", "x"))
            .await
            .is_err()
    );
    assert!(b.store().get(sa.tenant_scope(), &t, &id).await.is_err());
    let e = b.store().get(sb.tenant_scope(), &t, &id).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    // A's organization is not one of B's: switching to it is refused.
    assert!(
        b.orgs()
            .set_active(&bob, Some(&acme), &meta())
            .await
            .is_err()
    );
    assert!(b.registry().tenant(acme).await.unwrap_err().is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_database_serves_one_platform_only() {
    let d = Deployment::new().await;
    let p = d.new_platform("First").await;
    let q = d.new_platform("Second").await;
    let (first, auth_db) = d.builder(p).await;
    first.build().await.unwrap();
    // The same auth database for another platform would let each accept the
    // other's sessions: refused, however many try at once.
    let tries = (0..4).map(|_| {
        let b = Platform::builder(&d.registry, &d.minter, q, SECRET)
            .auth_db(auth_db.clone())
            .store(d.store_db.clone(), vec![notes()]);
        tokio::spawn(b.build())
    });
    for t in tries {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, Error::Config { key: "auth_db", .. }), "{e:?}");
    }
    // Its claim is one of Neutrino's own tables: a store on the same
    // database cannot rewrite it.
    let shared = Platform::builder(&d.registry, &d.minter, p, SECRET)
        .auth_db(auth_db.clone())
        .store(auth_db.clone(), vec![])
        .build()
        .await
        .unwrap();
    for sql in [
        r#"DELETE FROM "neutrino_auth_platform""#,
        r#"UPDATE neutrino_auth_platform SET platform_id = 'x'"#,
    ] {
        let e = shared
            .store()
            .raw()
            .execute(&Statement::new(sql))
            .await
            .unwrap_err();
        assert!(e.is_permission_denied(), "{e:?}");
    }
    // The platform it serves reopens it.
    Platform::builder(&d.registry, &d.minter, p, SECRET)
        .auth_db(auth_db)
        .store(d.store_db.clone(), vec![notes()])
        .build()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fresh_platforms_racing_for_one_auth_database_get_one_owner() {
    let d = Deployment::new().await;
    let auth_db = Counting::open(&d.dir.path().join("shared-auth.sqlite")).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(d.new_platform(&format!("P{n}")).await);
    }
    let tries: Vec<_> = ids
        .iter()
        .map(|p| {
            let b = Platform::builder(&d.registry, &d.minter, *p, SECRET)
                .auth_db(auth_db.clone())
                .store(d.store_db.clone(), vec![notes()]);
            tokio::spawn(b.build())
        })
        .collect();
    let mut ok = 0;
    for t in tries {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(matches!(e, Error::Config { key: "auth_db", .. }), "{e:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one platform owns the auth database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_platform_is_found_again_with_its_users_tenants_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let t = notes();
    let (p, id) = {
        let app = Platform::open_local(dir.path(), "Notes", SECRET, vec![t.clone()])
            .await
            .unwrap();
        assert!(app.is_new());
        let (ada, _) = sign_up(&app, "ada@example.com").await;
        create_org(&app, &ada, "acme").await;
        let scope = app.scope(&ada).await.unwrap();
        let id = app
            .store()
            .insert(scope.tenant_scope(), &t, Record::new().set("body", "kept"))
            .await
            .unwrap();
        (app.id(), id)
    };
    let app = Platform::open_local(dir.path(), "Notes", SECRET, vec![t.clone()])
        .await
        .unwrap();
    assert!(!app.is_new());
    assert_eq!(app.id(), p);
    let ada = app
        .auth()
        .sign_in_email(SignInEmail::new("ada@example.com", PASSWORD), &meta())
        .await
        .unwrap();
    let acme = app
        .orgs()
        .list_organizations(&ada.session.token)
        .await
        .unwrap()
        .remove(0);
    app.orgs()
        .set_active(&ada.session.token, Some(&acme.id), &meta())
        .await
        .unwrap();
    let scope = app.scope(&ada.session.token).await.unwrap();
    let row = app
        .store()
        .get(scope.tenant_scope(), &t, &id)
        .await
        .unwrap();
    assert_eq!(row.get::<String>("body").unwrap(), "kept");
    // A second handle on the folder while this one lives is refused (the
    // registry's scope minter is held once per process).
    let e = LocalPlatforms::open(dir.path()).await.unwrap_err();
    assert!(e.is_permission_denied(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platforms_of_one_folder_started_at_once_are_one_platform_per_name() {
    let dir = tempfile::tempdir().unwrap();
    let folder = LocalPlatforms::open(dir.path()).await.unwrap();
    let starts: Vec<_> = (0..4)
        .map(|i| {
            let name = if i % 2 == 0 { "Even" } else { "Odd" };
            tokio::spawn(folder.platform(name, SECRET).tables(vec![notes()]).build())
        })
        .collect();
    let mut ids = Vec::new();
    for s in starts {
        ids.push(s.await.unwrap().unwrap().id());
    }
    assert_eq!(ids[0], ids[2]);
    assert_eq!(ids[1], ids[3]);
    assert_ne!(ids[0], ids[1]);
    let even = folder
        .platform("Even", SECRET)
        .tables(vec![notes()])
        .build()
        .await
        .unwrap();
    let odd = folder
        .platform("Odd", SECRET)
        .tables(vec![notes()])
        .build()
        .await
        .unwrap();
    let (ada, cookie) = sign_up(&even, "ada@example.com").await;
    create_org(&even, &ada, "acme").await;
    assert!(even.scope_from_cookie_header(&cookie).await.is_ok());
    let e = odd.scope_from_cookie_header(&cookie).await.unwrap_err();
    assert!(e.is_permission_denied(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_platforms_runtime_refuses_writes_and_scopes_with_a_403() {
    let d = Deployment::new().await;
    let app = d.platform("Suspended").await;
    let (ada, cookie) = sign_up(&app, "ada@example.com").await;
    create_org(&app, &ada, "acme").await;
    let scope = app.scope(&ada).await.unwrap();
    let t = notes();
    d.registry
        .suspend(app.id(), "ops@example.com", "unpaid")
        .await
        .unwrap();
    let is_403 = |e: Error| {
        assert!(matches!(e, Error::Suspended { .. }), "{e:?}");
        assert_eq!(AuthError::from(e).status(), 403);
    };
    is_403(
        app.store()
            .insert(scope.tenant_scope(), &t, Record::new().set("body", "x"))
            .await
            .unwrap_err(),
    );
    is_403(app.scope(&ada).await.unwrap_err());
    is_403(app.scope_from_cookie_header(&cookie).await.unwrap_err());
    let e = app
        .orgs()
        .create_organization(&ada, NewOrganization::new("b", "b"), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 403, "{e:?}");
    let e = app
        .auth()
        .sign_up_email(SignUpEmail::new("B", "b@example.com", PASSWORD), &meta())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 403, "{e:?}");
    // A restart while suspended still opens the runtime, and sign-out works...
    let restarted = d.builder(app.id()).await.0.build().await.unwrap();
    restarted.auth().sign_out(&ada, &meta()).await.unwrap();
    // ... and reinstating makes it whole again.
    d.registry
        .reinstate(app.id(), "ops@example.com", "paid")
        .await
        .unwrap();
    let (ada, _) = sign_up(&app, "ada2@example.com").await;
    create_org(&app, &ada, "acme2").await;
    assert!(app.scope(&ada).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_platform_suspended_between_starts_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let folder = LocalPlatforms::open(dir.path()).await.unwrap();
    let app = folder.platform("S", SECRET).build().await.unwrap();
    let (ada, _) = sign_up(&app, "ada@example.com").await;
    folder
        .registry()
        .suspend(app.id(), "ops@example.com", "unpaid")
        .await
        .unwrap();
    drop(app);
    let app = folder.platform("S", SECRET).build().await.unwrap();
    app.auth().sign_out(&ada, &meta()).await.unwrap();
    let e = app.scope(&ada).await.unwrap_err();
    assert!(
        e.is_permission_denied() || matches!(e, Error::Suspended { .. }),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_typed_error_never_a_panic() {
    let d = Deployment::new().await;
    let p = d.new_platform("Bad").await;
    let build = |b: PlatformBuilder| async move { b.build().await.unwrap_err() };
    let auth_db = || async { Counting::open(&d.dir.path().join(format!("{p}-auth.sqlite"))).await };

    // No secret worth the name, no auth database, no store database.
    let e = build(
        Platform::builder(&d.registry, &d.minter, p, "short")
            .auth_db(auth_db().await)
            .store(d.store_db.clone(), vec![]),
    )
    .await;
    assert!(matches!(e, Error::Config { key: "secret", .. }), "{e:?}");
    let e = build(
        Platform::builder(&d.registry, &d.minter, p, SECRET).store(d.store_db.clone(), vec![]),
    )
    .await;
    assert!(matches!(e, Error::Config { key: "auth_db", .. }), "{e:?}");
    let e =
        build(Platform::builder(&d.registry, &d.minter, p, SECRET).auth_db(auth_db().await)).await;
    assert!(matches!(e, Error::Config { key: "store", .. }), "{e:?}");
    // An unknown platform, a deleted one.
    let e = build(d.builder(PlatformId::generate()).await.0).await;
    assert!(e.is_not_found(), "{e:?}");
    let gone = d.new_platform("Gone").await;
    d.registry
        .mark_platform_deleted(gone, "ops@example.com", "test")
        .await
        .unwrap();
    let e = build(d.builder(gone).await.0).await;
    assert!(e.is_not_found(), "{e:?}");
    // A table declared twice, a reserved table name.
    let notes_again = TenantTable::new("note", &[]).unwrap();
    let e = build(
        Platform::builder(&d.registry, &d.minter, p, SECRET)
            .auth_db(auth_db().await)
            .store(d.store_db.clone(), vec![notes(), notes_again]),
    )
    .await;
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(TenantTable::new("neutrino_auth_platform", &[]).is_err());
    // A minter narrowed to another platform.
    let other = d.minter.restricted_to(PlatformId::generate()).unwrap();
    let e = build(
        Platform::builder(&d.registry, &other, p, SECRET)
            .auth_db(auth_db().await)
            .store(d.store_db.clone(), vec![]),
    )
    .await;
    assert!(e.is_permission_denied(), "{e:?}");

    // Per request: empty, oversized, tampered or foreign credentials.
    let app = d.platform("Good").await;
    let (ada, cookie) = sign_up(&app, "ada@example.com").await;
    let long = "x".repeat(100_000);
    for token in ["", "nope", long.as_str(), "\0\u{202e}"] {
        let e = app.scope(token).await.unwrap_err();
        assert!(e.is_permission_denied(), "{e:?}");
        let e = app.scope_from_api_key(token).await.unwrap_err();
        assert!(e.is_permission_denied(), "{e:?}");
    }
    let tampered = cookie.replace(&ada[..4], "AAAA");
    for header in [
        "",
        ";;;",
        "better-auth.session_token=",
        tampered.as_str(),
        long.as_str(),
    ] {
        let e = app.scope_from_cookie_header(header).await.unwrap_err();
        assert!(e.is_permission_denied(), "{header:?}: {e:?}");
        assert!(code_of(&e).contains("UNAUTHORIZED"), "{e}");
    }
    // Signed in, but no organization yet: Better Auth's code is kept.
    let e = app.scope_from_cookie_header(&cookie).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(code_of(&e).contains("NO_ACTIVE_ORGANIZATION"), "{e}");
    // Bad names for a folder's platform.
    let dir = tempfile::tempdir().unwrap();
    let folder = LocalPlatforms::open(dir.path()).await.unwrap();
    for name in ["", &"n".repeat(1000)] {
        let e = folder.platform(name, SECRET).build().await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    }
    let e = folder.platform("Fine", "short").build().await.unwrap_err();
    assert!(matches!(e, Error::Config { key: "secret", .. }), "{e:?}");
    // Secrets stay out of Debug.
    let b = folder.platform("Fine", SECRET);
    assert!(!format!("{b:?}{app:?}{folder:?}").contains(SECRET));
}

/// Queries per request, measured on the auth and registry databases, from
/// the cookie header to the scope: documents today's counts as upper bounds
/// (lower is welcome). Cold is a runtime that has not seen the session yet
/// (a new process); warm is the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_from_a_session_costs_few_queries() {
    let d = Deployment::new().await;
    for cached in [false, true] {
        let id = d.new_platform(&format!("Counted {cached}")).await;
        let with_cache = |b: PlatformBuilder| {
            if cached {
                b.with_auth(|a| a.with_session_cache(SessionCacheConfig::default()))
            } else {
                b
            }
        };
        let app = with_cache(d.builder(id).await.0).build().await.unwrap();
        let (ada, cookie) = sign_up(&app, "ada@example.com").await;
        create_org(&app, &ada, "acme").await;
        // A new process: a fresh runtime on the same databases, whose
        // platform status is already known (it is cached for every request).
        let (b, auth_db) = d.builder(id).await;
        let app = with_cache(b).build().await.unwrap();
        app.registry().status().await.unwrap();
        let _ = (auth_db.take(), d.registry_db.take());
        app.scope_from_cookie_header(&cookie).await.unwrap();
        let cold = (auth_db.take(), d.registry_db.take());
        app.scope_from_cookie_header(&cookie).await.unwrap();
        let warm = (auth_db.take(), d.registry_db.take());
        println!(
            "scope from a cookie header, session cache {}: cold {} auth + {} registry, warm {} auth + {} registry",
            if cached { "on" } else { "off" },
            cold.0,
            cold.1,
            warm.0,
            warm.1
        );
        // One joined read of the session, its user's role, the active
        // organization and the membership, cached session or not; the tenant
        // is read from the registry once per process, then known.
        assert!(cold.0 <= 1 && cold.1 <= 1, "cold: {cold:?}");
        assert!(warm.0 <= 1 && warm.1 == 0, "warm: {warm:?}");
        // An API key: the use taken and recorded with the key and its
        // owner's role returned in one statement, then the membership; the
        // tenant in the registry.
        let acme = app.scope(&ada).await.unwrap().tenant();
        let key = member_key(&app, &ada, acme).await;
        let _ = (auth_db.take(), d.registry_db.take());
        app.scope_from_api_key(&key).await.unwrap();
        let by_key = (auth_db.take(), d.registry_db.take());
        println!(
            "scope from an API key: {} auth + {} registry",
            by_key.0, by_key.1
        );
        assert!(by_key.0 <= 2 && by_key.1 <= 1, "api key: {by_key:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_one_platform_starting_at_once_on_fresh_databases_all_open() {
    let d = Deployment::new().await;
    let p = d.new_platform("Busy").await;
    let auth_db = Counting::open(&d.dir.path().join("busy-auth.sqlite")).await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let b = Platform::builder(&d.registry, &d.minter, p, SECRET)
                .auth_db(auth_db.clone())
                .store(d.store_db.clone(), vec![notes()]);
            tokio::spawn(b.build())
        })
        .collect();
    let mut apps = Vec::new();
    for s in starts {
        apps.push(s.await.unwrap().unwrap());
    }
    // One auth database behind them all: a session of one is a session of all.
    let (ada, cookie) = sign_up(&apps[0], "ada@example.com").await;
    create_org(&apps[1], &ada, "acme").await;
    for app in &apps {
        assert_eq!(app.id(), p);
        assert!(app.scope_from_cookie_header(&cookie).await.is_ok());
    }
}
