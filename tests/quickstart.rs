//! Keeps the quickstart example alive: its `run` is called here, twice on the same
//! folder, and, with the `postgres` feature, its `run_postgres` twice on the same
//! PostgreSQL database.

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_onboards_a_platform_and_a_second_run_reuses_it() {
    let root = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let first = quickstart::run(root.path(), &mut out)
        .await
        .expect("first run");
    let p = first.platform;
    assert!(!first.reused);
    assert_eq!(
        first.provider_ids,
        [
            format!("databases/{p}-default-db.sqlite"),
            format!("buckets/{p}-default-storage"),
            format!("kv/{p}-default-kv"),
        ]
    );
    assert_eq!(
        first.read_back,
        (
            "hello from the database".into(),
            Some(("hello from KV".into(), "hello from the bucket".into()))
        )
    );
    assert_eq!(first.validated_email, "ada@example.com");
    assert_eq!(first.acme_members, 2);
    assert_eq!(first.bob_rows, 1);
    let c = &first.set_cookie;
    assert!(c.starts_with("__Secure-better-auth.session_token="), "{c}");
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        &format!("Domain={p}.nno.app"),
    ] {
        assert!(c.contains(attr), "{attr} missing in {c}");
    }
    let text = String::from_utf8(out).unwrap();
    for want in [
        format!("2. migrate {p}-default-auth-db (neutrino-auth)"),
        "signed up       ada@example.com".to_string(),
        format!("auth host       auth.svc.default.{p}.nno.app"),
        format!("cookie domain   .{p}.nno.app"),
        format!("1. create database {p}-default-auth-db"),
        format!("status          platform:{p}:status = active"),
        "drift           none".to_string(),
        "acme lists 1 of its own notes; globex reading acme's note: row not found".to_string(),
        "invited         bob@example.com to acme (accepted)".to_string(),
        "members         acme has 2".to_string(),
        "bob's scope     acme: lists 1 notes; globex's note: row not found".to_string(),
        "active tenant   ada: ".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    assert!(
        root.path()
            .join(format!("databases/{p}-default-auth-db.sqlite"))
            .is_file()
    );
    assert!(
        root.path()
            .join(format!("buckets/{p}-default-storage"))
            .read_dir()
            .unwrap()
            .count()
            == 1
    );

    let mut out = Vec::new();
    let second = quickstart::run(root.path(), &mut out)
        .await
        .expect("second run");
    assert!(second.reused, "the second run finds the platform");
    assert_eq!(second.platform, p);
    assert_eq!(second.provider_ids, first.provider_ids);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("drift           none"), "{text}");
    assert!(text.contains("acme lists 2 of its own notes"), "{text}");
    assert!(text.contains("signed in       ada@example.com"), "{text}");
    assert!(!text.contains("invited"), "no second invitation: {text}");
    assert!(
        text.contains("bob's scope     acme: lists 2 notes; globex's note: row not found"),
        "{text}"
    );
    assert_eq!(second.acme_members, 2);
    assert_eq!(second.bob_rows, 2);
    assert_eq!(second.validated_email, "ada@example.com");
    let dbs = root
        .path()
        .join("databases")
        .read_dir()
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sqlite")
        })
        .count();
    assert_eq!(dbs, 2, "one auth and one stack database (plus nothing new)");
}

/// The same story on PostgreSQL, twice on one fresh database: the second run
/// finds the platform, its users, organizations, membership and rows again.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_runs_on_postgres_and_a_second_run_finds_everything() {
    // A database of its own, so that the test sees only what its runs made.
    let db = FreshDatabase::create("quickstart").await;
    let url = db.url.clone();

    let mut out = Vec::new();
    let first = quickstart::run_postgres(&url, &mut out)
        .await
        .expect("first run");
    let text = String::from_utf8(out).unwrap();
    let p = first.platform;
    assert!(!first.reused, "{text}");
    assert_eq!(
        first.provider_ids.len(),
        1,
        "the stack database only: {text}"
    );
    assert_eq!(first.read_back, ("hello from the database".into(), None));
    assert_eq!(first.validated_email, "ada@example.com");
    assert_eq!((first.acme_members, first.bob_rows), (2, 1));
    assert!(first.set_cookie.contains(&format!("Domain={p}.nno.app")));
    for want in [
        "signed up       ada@example.com".to_string(),
        format!("provisioned     database {p}-default-db -> "),
        "drift           none".to_string(),
        format!("status          platform:{p}:status = active"),
        "invited         bob@example.com to acme (accepted)".to_string(),
        "acme lists 1 of its own notes; globex reading acme's note: row not found".to_string(),
        "bob's scope     acme: lists 1 notes; globex's note: row not found".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }

    let mut out = Vec::new();
    let second = quickstart::run_postgres(&url, &mut out)
        .await
        .expect("second run");
    let text = String::from_utf8(out).unwrap();
    assert!(second.reused, "the second run finds the platform: {text}");
    assert_eq!(second.platform, p);
    assert_eq!(second.provider_ids, first.provider_ids);
    assert!(text.contains("signed in       ada@example.com"), "{text}");
    assert!(!text.contains("invited"), "no second invitation: {text}");
    assert!(text.contains("acme lists 2 of its own notes"), "{text}");
    assert!(text.contains("drift           none"), "{text}");
    assert_eq!((second.acme_members, second.bob_rows), (2, 2));
    store_role_is_held_by_row_level_security(&url, p).await;
    db.remove().await;
}

/// Concurrent first starts of one platform on a fresh PostgreSQL database
/// (replicas started together on a new deployment): the registry record, the
/// provisioning, the auth database's claim and migrations and the tenanted
/// tables' migration race, and every start opens the same platform.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_starts_on_postgres_all_open_the_platform() {
    use neutrino::tenancy::{ColumnType, TenantTable};

    let db = FreshDatabase::create("quickstart_first_starts").await;
    let platforms = quickstart::postgres_platforms(&db.url)
        .await
        .expect("platforms");
    let tables = vec![TenantTable::new("note", &[("body", ColumnType::Text)]).unwrap()];
    let mut apps = start_together(&platforms, "Together", &tables, 8).await;
    let p = apps[0].id();
    assert!(apps.iter().all(|a| a.id() == p), "one platform");
    assert_eq!(
        apps.iter().filter(|a| a.is_new()).count(),
        1,
        "exactly one start made it"
    );
    drop_all(apps.remove(0), apps, platforms);
    db.remove().await;
}

/// Concurrent restarts of one platform on PostgreSQL, each migrating the
/// tenanted tables (and their policies) as their owner and granting the
/// store's role: all open the same platform, and each store reads and
/// writes rows.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_on_postgres_all_open_the_platform() {
    use neutrino::tenancy::{ColumnType, ListQuery, Record, TenantTable};

    let db = FreshDatabase::create("quickstart_starts").await;
    let platforms = quickstart::postgres_platforms(&db.url)
        .await
        .expect("platforms");
    let tables = vec![
        TenantTable::new("note", &[("body", ColumnType::Text)]).unwrap(),
        TenantTable::new("task", &[("title", ColumnType::Text)]).unwrap(),
    ];
    // The first start alone, then concurrent restarts, as replicas do
    // (concurrent first starts: the test above).
    let first = platforms
        .platform("Concurrent", "a test secret of 32 bytes or more....")
        .tables(tables.clone())
        .build()
        .await
        .expect("first start");
    assert!(first.is_new());
    let apps = start_together(&platforms, "Concurrent", &tables, 6).await;
    assert!(apps.iter().all(|a| !a.is_new()));
    let p = first.id();
    assert!(apps.iter().all(|a| a.id() == p));
    let tenant = apps[0]
        .registry()
        .create_tenant(neutrino::tenancy::NewTenant::new("acme", "Acme"))
        .await
        .expect("tenant");
    let scope = apps[0]
        .registry()
        .operator_scope(tenant.id, "test", "concurrent starts")
        .await
        .expect("scope");
    for app in &apps {
        app.store()
            .insert(&scope, &tables[0], Record::new().set("body", "hi"))
            .await
            .expect("insert");
    }
    let rows = apps[1]
        .store()
        .list(&scope, &tables[0], &ListQuery::new())
        .await
        .expect("list")
        .rows;
    assert_eq!(rows.len(), apps.len());
    drop_all(first, apps, platforms);
    db.remove().await;
}

/// A database of its own on the test server, so that a test sees only what
/// it made; dropped by [`FreshDatabase::remove`].
#[cfg(feature = "postgres")]
struct FreshDatabase {
    admin: neutrino::postgres::PostgresExecutor,
    drop: neutrino::sql::Statement,
    url: String,
}

#[cfg(feature = "postgres")]
impl FreshDatabase {
    /// Creates the database `{prefix}_{pid}` afresh.
    async fn create(prefix: &str) -> Self {
        use neutrino::postgres::PostgresExecutor;
        use neutrino::sql::{SqlExecutor, Statement};

        let Ok(server) = std::env::var("NEUTRINO_TEST_POSTGRES_URL") else {
            panic!(
                "NEUTRINO_TEST_POSTGRES_URL is not set: start a server with \
                 `eval \"$(scripts/postgres start)\"` (it needs initdb, pg_ctl and postgres)"
            );
        };
        let admin = PostgresExecutor::connect(&server).await.expect("connect");
        let name = format!("{prefix}_{}", std::process::id());
        let drop = Statement::new(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#));
        admin.execute(&drop).await.expect("drop");
        admin
            .execute(&Statement::new(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .expect("create database");
        let (base, _) = server.rsplit_once('/').expect("a URL with a database");
        let url = format!("{base}/{name}");
        Self { admin, drop, url }
    }

    /// Drops the database.
    async fn remove(self) {
        use neutrino::sql::SqlExecutor;
        self.admin.execute(&self.drop).await.expect("drop");
    }
}

/// `n` starts of the platform `name` with `tables` at once, as replicas
/// start together; every one must open it.
#[cfg(feature = "postgres")]
async fn start_together(
    platforms: &neutrino::Platforms,
    name: &str,
    tables: &[neutrino::tenancy::TenantTable],
    n: usize,
) -> Vec<neutrino::Platform> {
    let starts: Vec<_> = (0..n)
        .map(|_| {
            let start = platforms
                .platform(name, "a test secret of 32 bytes or more....")
                .tables(tables.to_vec())
                .build();
            tokio::spawn(start)
        })
        .collect();
    let mut apps = Vec::new();
    for s in starts {
        apps.push(s.await.unwrap().expect("every start opens the platform"));
    }
    apps
}

/// Closes the runtimes (and their pools) before the database is dropped.
#[cfg(feature = "postgres")]
fn drop_all(
    first: neutrino::Platform,
    apps: Vec<neutrino::Platform>,
    platforms: neutrino::Platforms,
) {
    drop(first);
    drop(apps);
    drop(platforms);
}

/// The quickstart's tenant store role, through the same connector: not a
/// superuser, no `BYPASSRLS`, not the tables' owner, so an unbound raw query
/// sees no row and a binding to one tenant sees that tenant's rows only,
/// whatever its `WHERE`; the owner sees them all. The role has no `USAGE` on
/// the registry's or the auth database's schemas.
#[cfg(feature = "postgres")]
async fn store_role_is_held_by_row_level_security(url: &str, p: neutrino::ids::PlatformId) {
    use neutrino::ids::StackId;
    use neutrino::naming::ResourceName;
    use neutrino::postgres::{PostgresExecutor, PostgresProvisioner};
    use neutrino::provision::{DatabaseConnector, Provisioner, ResourceKind};
    use neutrino::sql::{SqlExecutor, SqlExecutorExt, Statement, TenantBinding};

    let admin = PostgresExecutor::connect(url).await.expect("connect");
    let provisioner = PostgresProvisioner::new(admin.clone());
    let app_url = quickstart::quickstart_app_role(&admin, url)
        .await
        .expect("role");
    let stack_name = ResourceName::stack_database(p, StackId::DEFAULT);
    let stack = provisioner
        .get(ResourceKind::Database, stack_name.as_str())
        .await
        .expect("stack database");
    let owner = provisioner.connect(&stack).await.expect("owner");
    let rows = provisioner
        .role_connector(PostgresExecutor::builder(&app_url).expect("url"))
        .connect(&stack)
        .await
        .expect("role connection");
    let count = r#"SELECT count(*) AS "n" FROM "note""#;
    let all: i64 = owner
        .query_one(&Statement::new(count), "notes", "all")
        .await
        .unwrap()
        .get("n")
        .unwrap();
    assert_eq!(all, 4, "two notes of acme, two of globex");
    let unbound: i64 = rows
        .query_one(&Statement::new(count), "notes", "unbound")
        .await
        .unwrap()
        .get("n")
        .unwrap();
    assert_eq!(
        unbound, 0,
        "an unbound query of the store's role sees no row"
    );
    let tenants = owner
        .query(&Statement::new(
            r#"SELECT DISTINCT "tenant_id" FROM "note" ORDER BY "tenant_id""#,
        ))
        .await
        .unwrap();
    assert_eq!(tenants.len(), 2);
    for t in &tenants {
        let tenant: String = t.get("tenant_id").unwrap();
        let binding = TenantBinding::new(p, tenant.parse().expect("a tenant ID"));
        let seen = rows
            .query_bound(
                &binding,
                &Statement::new(r#"SELECT "tenant_id" FROM "note" WHERE 1 = 1"#),
            )
            .await
            .unwrap();
        assert_eq!(seen.len(), 2, "a binding sees its tenant's two notes");
        for r in &seen {
            assert_eq!(r.get::<String>("tenant_id").unwrap(), tenant);
        }
    }
    for schema in [
        "neutrino-registry".to_owned(),
        ResourceName::auth_database(p).as_str().to_owned(),
    ] {
        let usage: bool = rows
            .query_one(
                &Statement::new(r#"SELECT has_schema_privilege(?1, 'USAGE') AS "u""#)
                    .bind(schema.as_str()),
                "schema",
                &schema,
            )
            .await
            .unwrap()
            .get("u")
            .unwrap();
        assert!(!usage, "the store's role has no USAGE on {schema}");
    }
}
