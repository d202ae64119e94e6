//! Row-level security on PostgreSQL: what a bound call reaches, that a
//! binding never outlives its transaction, and every refusal of the start-up
//! check in `TenantStore::open`.

mod common;

use std::sync::Arc;

use neutrino_core::Error;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::sql::{SqlExecutor, Statement, TenantBinding};
use neutrino_postgres::{PostgresExecutor, PostgresKv};
use neutrino_tenancy::{ColumnType, Registry, RegistryOptions, TenantStore, TenantTable};

fn table() -> TenantTable {
    TenantTable::new(
        &neutrino_core::testkit::unique("rls_"),
        &[("label", ColumnType::Text)],
    )
    .expect("table")
}

async fn insert(app: &PostgresExecutor, b: &TenantBinding, t: &TenantTable, id: &str) {
    let st = Statement::new(format!(
        r#"INSERT INTO "{}" ("platform_id", "tenant_id", "id", "label") VALUES (?1, ?2, ?3, ?4)"#,
        t.name()
    ))
    .bind(b.platform().as_str())
    .bind(b.tenant().as_str())
    .bind(id)
    .bind(format!("label of {id}"));
    assert_eq!(app.execute_bound(b, &st).await.unwrap().rows_affected, 1);
}

async fn ids(app: &PostgresExecutor, b: Option<&TenantBinding>, t: &TenantTable) -> Vec<String> {
    let st = Statement::new(format!(r#"SELECT "id" FROM "{}" ORDER BY "id""#, t.name()));
    let rows = match b {
        Some(b) => app.query_bound(b, &st).await.unwrap(),
        None => app.query(&st).await.unwrap(),
    };
    rows.iter()
        .map(|r| r.get::<String>("id").unwrap())
        .collect()
}

/// A bound statement reaches its tenant's rows only, whatever its `WHERE`;
/// writes for another tenant and moves to another tenant are refused; a
/// binding's further readable tenants are read, never written; an unbound
/// statement sees and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_statements_reach_only_their_tenants_rows() {
    let (owner, app, _guard) = common::fresh_rls_schema().await;
    let t = table();
    TenantStore::migrate(&owner, std::slice::from_ref(&t))
        .await
        .unwrap();
    let p = PlatformId::generate();
    let (a, b, c) = (
        TenantBinding::new(p, TenantId::generate()),
        TenantBinding::new(p, TenantId::generate()),
        TenantBinding::new(p, TenantId::generate()),
    );
    let other_platform = TenantBinding::new(PlatformId::generate(), a.tenant());
    insert(&app, &a, &t, "a1").await;
    insert(&app, &b, &t, "b1").await;
    insert(&app, &c, &t, "c1").await;
    insert(&app, &other_platform, &t, "q1").await;

    assert_eq!(ids(&app, Some(&a), &t).await, ["a1"]);
    assert_eq!(ids(&app, Some(&other_platform), &t).await, ["q1"]);
    assert!(ids(&app, None, &t).await.is_empty(), "unbound: no row");
    assert!(
        ids(&owner, None, &t).await.is_empty(),
        "forced on the owner"
    );

    // A write for another tenant: refused by the policy's check.
    let planted = Statement::new(format!(
        r#"INSERT INTO "{}" ("platform_id", "tenant_id", "id") VALUES (?1, ?2, 'planted')"#,
        t.name()
    ))
    .bind(p.as_str())
    .bind(b.tenant().as_str());
    let e = app.execute_bound(&a, &planted).await.unwrap_err();
    assert!(e.is_permission_denied(), "{e:?}");
    let e = app.execute(&planted).await.unwrap_err();
    assert!(e.is_permission_denied(), "unbound insert: {e:?}");
    // Moving a row to another tenant or platform: refused.
    for (col, to) in [
        ("tenant_id", b.tenant().to_string()),
        ("platform_id", PlatformId::generate().to_string()),
    ] {
        let moved = Statement::new(format!(r#"UPDATE "{}" SET "{col}" = ?1"#, t.name())).bind(to);
        let e = app.execute_bound(&a, &moved).await.unwrap_err();
        assert!(e.is_permission_denied(), "{col}: {e:?}");
    }
    // Without a WHERE, an update or delete reaches the bound tenant's rows only.
    let all = Statement::new(format!(r#"UPDATE "{}" SET "label" = 'x'"#, t.name()));
    assert_eq!(app.execute_bound(&a, &all).await.unwrap().rows_affected, 1);
    assert_eq!(app.execute(&all).await.unwrap().rows_affected, 0);
    // Sub-tenants: read, never written.
    let parent = a.clone().reading_also([c.tenant()]);
    assert_eq!(ids(&app, Some(&parent), &t).await, ["a1", "c1"]);
    assert_eq!(
        app.execute_bound(&parent, &all)
            .await
            .unwrap()
            .rows_affected,
        1,
        "only the bound tenant's row is written"
    );
    let delete = Statement::new(format!(r#"DELETE FROM "{}""#, t.name()));
    assert_eq!(app.execute(&delete).await.unwrap().rows_affected, 0);
    assert_eq!(
        app.execute_bound(&parent, &delete)
            .await
            .unwrap()
            .rows_affected,
        1
    );
    assert_eq!(ids(&app, Some(&b), &t).await, ["b1"]);
    assert_eq!(ids(&app, Some(&c), &t).await, ["c1"]);
    let label = Statement::new(format!(r#"SELECT "label" FROM "{}""#, t.name()));
    let rows = app.query_bound(&c, &label).await.unwrap();
    assert_eq!(rows[0].get::<String>("label").unwrap(), "label of c1");
}

/// The policies compare a row's `platform_id || '/' || tenant_id` with the
/// binding's `platform/tenant` pairs: rows planted (past row-level security)
/// with a `/` or a `,` in their scope columns, so that their joined columns
/// spell a bound pair or a list of them, are never read, updated or
/// deleted by any binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_columns_holding_the_separators_never_spell_a_binding() {
    let (owner, app, guard) = common::fresh_rls_schema().await;
    let t = table();
    TenantStore::migrate(&owner, std::slice::from_ref(&t))
        .await
        .unwrap();
    let p = PlatformId::generate();
    let (a, c) = (TenantId::generate(), TenantId::generate());
    let bound = TenantBinding::new(p, a);
    let parent = bound.clone().reading_also([c]);
    insert(&app, &bound, &t, "own").await;
    let planted = [
        (format!("{p}/{a}"), String::new()),
        (String::new(), format!("{p}/{a}")),
        (format!("{p}/"), a.to_string()),
        (p.to_string(), format!("/{a}")),
        (p.to_string(), format!("{a},{p}/{c}")),
        (format!("{p}/{a},{p}"), c.to_string()),
        (format!("{p}/{a},"), String::new()),
        (p.to_string(), format!("{a}/")),
    ];
    let admin = common::admin().await;
    for (i, (platform, tenant)) in planted.iter().enumerate() {
        let st = Statement::new(format!(
            r#"INSERT INTO "{}"."{}" ("platform_id", "tenant_id", "id", "label") VALUES (?1, ?2, ?3, 'planted')"#,
            guard.schema.name,
            t.name()
        ))
        .bind(platform.as_str())
        .bind(tenant.as_str())
        .bind(format!("planted{i}"));
        assert_eq!(admin.execute(&st).await.unwrap().rows_affected, 1);
    }
    assert_eq!(ids(&app, Some(&bound), &t).await, ["own"]);
    assert_eq!(ids(&app, Some(&parent), &t).await, ["own"]);
    for sql in [
        format!(r#"UPDATE "{}" SET "label" = 'touched'"#, t.name()),
        format!(r#"DELETE FROM "{}" WHERE "id" <> 'own'"#, t.name()),
    ] {
        for b in [&bound, &parent] {
            let n = app.execute_bound(b, &Statement::new(sql.clone())).await;
            assert!(n.unwrap().rows_affected <= 1, "{sql}");
        }
    }
    let left = admin
        .query(&Statement::new(format!(
            r#"SELECT count(*) AS "n" FROM "{}"."{}" WHERE "label" = 'planted'"#,
            guard.schema.name,
            t.name()
        )))
        .await
        .unwrap();
    assert_eq!(left[0].get::<i64>("n").unwrap(), planted.len() as i64);
}

/// The binding is the transaction's only: the next statement on the same
/// connection, bound to nothing, reads nothing and sees no setting; many
/// tenants' bound reads racing on two connections each see their own rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_never_outlives_its_transaction() {
    let (owner, _app, guard) = common::fresh_rls_schema().await;
    let t = table();
    TenantStore::migrate(&owner, std::slice::from_ref(&t))
        .await
        .unwrap();
    let one = PostgresExecutor::builder(&common::url_as(&guard.app))
        .unwrap()
        .schema(&guard.schema.name)
        .unwrap()
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    let p = PlatformId::generate();
    let a = TenantBinding::new(p, TenantId::generate());
    insert(&one, &a, &t, "a1").await;
    assert_eq!(ids(&one, Some(&a), &t).await, ["a1"]);
    let setting =
        Statement::new("SELECT coalesce(current_setting('neutrino.scope', true), '') AS \"v\"");
    let row = &one.query(&setting).await.unwrap()[0];
    assert_eq!(row.get::<String>("v").unwrap(), "");
    assert!(ids(&one, None, &t).await.is_empty());
    // A bound statement that fails leaves nothing bound either.
    let bad = Statement::new(format!(r#"SELECT "nope" FROM "{}""#, t.name()));
    assert!(one.query_bound(&a, &bad).await.is_err());
    assert!(ids(&one, None, &t).await.is_empty());
    // Nor does one that fails when it runs, in the middle of the pipelined
    // transaction: a duplicate key is `AlreadyExists`, a division by zero its
    // own error, and the connection is back in the pool with no transaction
    // open and nothing bound (the next unbound statement runs, and sees
    // nothing).
    let dup = Statement::new(format!(
        r#"INSERT INTO "{}" ("platform_id", "tenant_id", "id", "label") VALUES (?1, ?2, 'a1', 'again')"#,
        t.name()
    ))
    .bind(a.platform().as_str())
    .bind(a.tenant().as_str());
    let e = one.execute_bound(&a, &dup).await.unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
    let zero = Statement::new(format!(
        r#"SELECT 1 / (count(*) - 1) AS "x" FROM "{}""#,
        t.name()
    ));
    assert!(one.query_bound(&a, &zero).await.is_err());
    let row = &one.query(&setting).await.unwrap()[0];
    assert_eq!(row.get::<String>("v").unwrap(), "");
    assert!(ids(&one, None, &t).await.is_empty());
    assert_eq!(ids(&one, Some(&a), &t).await, ["a1"]);
    // A binding with further readable tenants: none of them outlives it.
    let wide = a
        .clone()
        .reading_also([TenantId::generate(), TenantId::generate()]);
    assert_eq!(ids(&one, Some(&wide), &t).await, ["a1"]);
    let row = &one.query(&setting).await.unwrap()[0];
    assert_eq!(row.get::<String>("v").unwrap(), "");

    let two = PostgresExecutor::builder(&common::url_as(&guard.app))
        .unwrap()
        .schema(&guard.schema.name)
        .unwrap()
        .max_connections(2)
        .connect()
        .await
        .unwrap();
    let tenants: Vec<TenantBinding> = (0..6)
        .map(|_| TenantBinding::new(p, TenantId::generate()))
        .collect();
    for (i, b) in tenants.iter().enumerate() {
        insert(&two, b, &t, &format!("row{i}")).await;
    }
    let mut tasks = Vec::new();
    for round in 0..20 {
        for (i, b) in tenants.iter().enumerate() {
            let (two, b, t) = (two.clone(), b.clone(), t.clone());
            tasks.push(tokio::spawn(async move {
                let bound = round % 2 == 0;
                let got = ids(&two, bound.then_some(&b), &t).await;
                if bound {
                    assert_eq!(got, [format!("row{i}")]);
                } else {
                    assert!(got.is_empty(), "unbound read saw {got:?}");
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Registry, table and executors for the start-up check's cases.
struct Setup {
    registry: Registry,
    owner: PostgresExecutor,
    app: PostgresExecutor,
    guard: common::RlsGuard,
    table: TenantTable,
    _kv_guard: common::SchemaGuard,
}

async fn setup() -> Setup {
    let (owner, app, guard) = common::fresh_rls_schema().await;
    let (kv_db, kv_guard) = common::fresh_schema().await;
    let kv = PostgresKv::open(kv_db, "status").await.unwrap();
    let registry = Registry::open(
        Arc::new(owner.clone()),
        Arc::new(kv),
        RegistryOptions::default(),
    )
    .await
    .unwrap();
    let table = table();
    TenantStore::migrate(&owner, std::slice::from_ref(&table))
        .await
        .unwrap();
    Setup {
        registry,
        owner,
        app,
        guard,
        table,
        _kv_guard: kv_guard,
    }
}

impl Setup {
    async fn open_as(&self, db: PostgresExecutor) -> neutrino_core::Result<TenantStore> {
        TenantStore::open(&self.registry, Arc::new(db), vec![self.table.clone()]).await
    }

    async fn open(&self) -> neutrino_core::Result<TenantStore> {
        self.open_as(self.app.clone()).await
    }

    /// Opening as the application role is refused with a configuration
    /// error whose reason holds every one of `words`.
    async fn refused(&self, db: PostgresExecutor, words: &[&str]) {
        match self.open_as(db).await {
            Err(Error::Config { reason, .. }) => {
                for w in words {
                    assert!(reason.contains(w), "{w:?} not in {reason:?}");
                }
            }
            other => panic!("not refused ({words:?}): {other:?}"),
        }
    }

    async fn owner_runs(&self, sql: String) {
        self.owner.execute(&Statement::new(sql)).await.unwrap();
    }

    async fn admin_runs(&self, sql: String) {
        common::admin()
            .await
            .execute(&Statement::new(sql))
            .await
            .unwrap();
    }

    /// `migrate` as the owner puts the table right again.
    async fn repair(&self) {
        TenantStore::migrate(&self.owner, std::slice::from_ref(&self.table))
            .await
            .unwrap();
        self.open().await.expect("open after the repair");
    }
}

/// Every table without row-level security enabled, without it forced,
/// without one of its policies, with a changed policy, one of an earlier
/// release or another permissive one,
/// missing, or without a row grant: refused, naming the table; `migrate`
/// repairs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_check_refuses_tables_that_rls_does_not_hold() {
    let s = setup().await;
    s.open().await.expect("a migrated table opens");
    let n = s.table.name().to_owned();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!(r#"ALTER TABLE "{n}" DISABLE ROW LEVEL SECURITY"#),
            vec!["enabled"],
        ),
        (
            format!(r#"ALTER TABLE "{n}" NO FORCE ROW LEVEL SECURITY"#),
            vec!["force"],
        ),
        (
            format!(r#"DROP POLICY "neutrino_read" ON "{n}""#),
            vec!["lacks policy neutrino_read"],
        ),
        (
            format!(r#"DROP POLICY "neutrino_insert" ON "{n}""#),
            vec!["lacks policy neutrino_insert"],
        ),
        (
            format!(r#"DROP POLICY "neutrino_update" ON "{n}""#),
            vec!["lacks policy neutrino_update"],
        ),
        (
            format!(r#"DROP POLICY "neutrino_delete" ON "{n}""#),
            vec!["lacks policy neutrino_delete"],
        ),
        (
            format!(r#"CREATE POLICY "open" ON "{n}" USING (true) WITH CHECK (true)"#),
            vec!["policy open"],
        ),
        (
            format!(
                r#"CREATE POLICY "reader" ON "{n}" FOR SELECT TO PUBLIC USING ("tenant_id" = split_part(current_setting('neutrino.scope', true), '/', 2))"#
            ),
            vec!["policy reader"],
        ),
        // The policies of an earlier release, left beside the new ones.
        (
            format!(
                r#"CREATE POLICY "neutrino_subtenants" ON "{n}" FOR SELECT TO PUBLIC USING ("platform_id" = current_setting('neutrino.platform', true))"#
            ),
            vec!["policy neutrino_subtenants"],
        ),
        (
            format!(
                r#"ALTER POLICY "neutrino_read" ON "{n}" USING ("tenant_id" = split_part(current_setting('neutrino.scope', true), '/', 2))"#
            ),
            vec!["policy neutrino_read"],
        ),
        (
            format!(
                r#"ALTER POLICY "neutrino_update" ON "{n}" WITH CHECK (("platform_id" || '/' || "tenant_id") = ANY (string_to_array(current_setting('neutrino.scope', true), ',')))"#
            ),
            vec!["policy neutrino_update"],
        ),
        (
            format!(
                r#"ALTER POLICY "neutrino_delete" ON "{n}" USING (("platform_id" || '/' || "tenant_id") = ANY (string_to_array(current_setting('neutrino.scope', true), ',')))"#
            ),
            vec!["policy neutrino_delete"],
        ),
        (
            format!(
                r#"ALTER POLICY "neutrino_insert" ON "{n}" TO "{}""#,
                s.guard.app
            ),
            vec!["policy neutrino_insert"],
        ),
        (
            format!(r#"REVOKE DELETE ON "{n}" FROM "{}""#, s.guard.app),
            vec!["delete"],
        ),
        (
            format!(r#"REVOKE SELECT ON "{n}" FROM "{}""#, s.guard.app),
            vec!["select"],
        ),
    ];
    for (sql, words) in cases {
        s.owner_runs(sql.clone()).await;
        let mut words = words;
        words.push(&n);
        s.refused(s.app.clone(), &words).await;
        if sql.starts_with("REVOKE") {
            s.owner_runs(format!(
                r#"GRANT SELECT, INSERT, UPDATE, DELETE ON "{n}" TO "{}""#,
                s.guard.app
            ))
            .await;
        }
        if let Some(name) = ["open", "reader"]
            .into_iter()
            .find(|p| sql.contains(&format!(r#"CREATE POLICY "{p}""#)))
        {
            // Another permissive policy is the host's to drop.
            s.refused(s.app.clone(), &[&n]).await;
            s.owner_runs(format!(r#"DROP POLICY "{name}" ON "{n}""#))
                .await;
        }
        s.repair().await;
    }
    // A restrictive policy only narrows: accepted.
    s.owner_runs(format!(
        r#"CREATE POLICY "narrow" ON "{n}" AS RESTRICTIVE USING ("id" <> 'hidden')"#
    ))
    .await;
    s.open().await.expect("a restrictive policy is fine");
    // A declared table that was never migrated.
    let missing = table();
    match TenantStore::open(&s.registry, Arc::new(s.app.clone()), vec![missing.clone()]).await {
        Err(Error::Config { reason, .. }) => {
            assert!(reason.contains(missing.name()) && reason.contains("does not exist"))
        }
        other => panic!("{other:?}"),
    }
    // A table without its scope columns.
    let legacy = table();
    s.owner_runs(format!(
        r#"CREATE TABLE "{}" ("label" TEXT)"#,
        legacy.name()
    ))
    .await;
    match TenantStore::open(&s.registry, Arc::new(s.app.clone()), vec![legacy.clone()]).await {
        Err(Error::Config { reason, .. }) => {
            assert!(reason.contains(legacy.name()) && reason.contains("scope columns"))
        }
        other => panic!("{other:?}"),
    }
}

/// A role that could bypass the policies is refused, naming it: a superuser,
/// a role with BYPASSRLS, the tables' owner, a member of the owner's role or
/// of a role with BYPASSRLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_check_refuses_roles_that_can_bypass_rls() {
    let s = setup().await;
    let (app, owner) = (s.guard.app.clone(), s.guard.owner.clone());
    let superuser = PostgresExecutor::builder(&common::url())
        .unwrap()
        .schema(&s.guard.schema.name)
        .unwrap()
        .connect()
        .await
        .unwrap();
    s.refused(superuser, &["superuser"]).await;
    s.refused(s.owner.clone(), &["owned by", &owner, s.table.name()])
        .await;

    s.admin_runs(format!(r#"ALTER ROLE "{app}" BYPASSRLS"#))
        .await;
    s.refused(s.app.clone(), &["BYPASSRLS", &app]).await;
    s.admin_runs(format!(r#"ALTER ROLE "{app}" NOBYPASSRLS"#))
        .await;
    s.open().await.expect("the role is fine again");

    s.admin_runs(format!(r#"GRANT "{owner}" TO "{app}""#)).await;
    s.refused(s.app.clone(), &["owned by", &owner]).await;
    s.admin_runs(format!(r#"REVOKE "{owner}" FROM "{app}""#))
        .await;
    s.open().await.expect("the role is fine again");

    let bypasser = format!("{}-bypass", s.guard.schema.name);
    s.admin_runs(format!(r#"CREATE ROLE "{bypasser}" NOLOGIN BYPASSRLS"#))
        .await;
    s.admin_runs(format!(r#"GRANT "{bypasser}" TO "{app}""#))
        .await;
    let refused = s.open().await;
    s.admin_runs(format!(r#"DROP ROLE "{bypasser}""#)).await;
    match refused {
        Err(Error::Config { reason, .. }) => {
            assert!(
                reason.contains(&bypasser) && reason.contains("BYPASSRLS"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    s.open().await.expect("the role is fine again");
}

/// `PostgresProvisioner::role_connector`: concurrent connects to one of the
/// provisioner's schemas all succeed; the role reaches the rows of the
/// schema's tables, those made before its first connect and after, and
/// `TenantStore::open` accepts it (no superuser, no `BYPASSRLS`, not the
/// owner); it gets nothing on a schema it never connected to, and a schema
/// the provisioner did not make is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_connector_grants_its_role_the_rows_of_its_schemas_only() {
    use neutrino_core::provision::{DatabaseConnector, Provisioner, ResourceKind, ResourceSpec};
    use neutrino_core::sql::SqlExecutorExt;
    use neutrino_postgres::PostgresProvisioner;

    let admin = common::admin().await;
    let provisioner = PostgresProvisioner::new(admin.clone());
    let (stack, other) = (
        neutrino_core::testkit::unique("rc-"),
        neutrino_core::testkit::unique("rc-"),
    );
    let _guards = [
        common::SchemaGuard {
            name: stack.clone(),
        },
        common::SchemaGuard {
            name: other.clone(),
        },
    ];
    let role = format!("{stack}-app");
    admin
        .execute(&Statement::new(format!(
            r#"CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"#
        )))
        .await
        .unwrap();
    let db = provisioner
        .create(&ResourceSpec::new(ResourceKind::Database, &stack))
        .await
        .unwrap();
    provisioner
        .create(&ResourceSpec::new(ResourceKind::Database, &other))
        .await
        .unwrap();
    // A table made before the role's first connect, and one after.
    let owner = provisioner.connect(&db).await.unwrap();
    let (before, after) = (table(), table());
    TenantStore::migrate(&*owner, std::slice::from_ref(&before))
        .await
        .unwrap();
    let connector =
        provisioner.role_connector(PostgresExecutor::builder(&common::url_as(&role)).unwrap());
    // Concurrent grants on one object fail in PostgreSQL unless taken in
    // turn: rounds of concurrent connects.
    let mut app = None;
    for _ in 0..6 {
        let connects = (0..12).map(|_| connector.connect(&db));
        for c in futures_util::future::join_all(connects).await {
            app = Some(c.expect("every concurrent connect succeeds"));
        }
    }
    let app = app.unwrap();
    TenantStore::migrate(&*owner, std::slice::from_ref(&after))
        .await
        .unwrap();

    let (kv_db, _kv_guard) = common::fresh_schema().await;
    let registry = Registry::open(
        Arc::new(owner.clone()),
        Arc::new(PostgresKv::open(kv_db, "status").await.unwrap()),
        RegistryOptions::default(),
    )
    .await
    .unwrap();
    TenantStore::open(&registry, app.clone(), vec![before.clone(), after.clone()])
        .await
        .expect("the role's store opens: row-level security holds it");
    let b = TenantBinding::new(PlatformId::generate(), TenantId::generate());
    for t in [&before, &after] {
        let st = Statement::new(format!(
            r#"INSERT INTO "{}" ("platform_id", "tenant_id", "id") VALUES (?1, ?2, 'r1')"#,
            t.name()
        ))
        .bind(b.platform().as_str())
        .bind(b.tenant().as_str());
        app.execute_bound(&b, &st).await.unwrap();
        let count = Statement::new(format!(r#"SELECT count(*) AS "n" FROM "{}""#, t.name()));
        let n: i64 = app
            .query_one(&count, "rows", "unbound")
            .await
            .unwrap()
            .get("n")
            .unwrap();
        assert_eq!(n, 0, "unbound, the role sees no row of {}", t.name());
        let n: i64 = app.query_bound(&b, &count).await.unwrap()[0]
            .get("n")
            .unwrap();
        assert_eq!(
            n,
            1,
            "bound, the role sees its tenant's row of {}",
            t.name()
        );
    }
    let usage: bool = app
        .query_one(
            &Statement::new(r#"SELECT has_schema_privilege(?1, 'USAGE') AS "u""#)
                .bind(other.as_str()),
            "schema",
            &other,
        )
        .await
        .unwrap()
        .get("u")
        .unwrap();
    assert!(!usage, "no USAGE on a schema the role never connected to");
    let (_, foreign) = common::fresh_schema().await;
    let not_ours = neutrino_core::provision::Resource {
        kind: ResourceKind::Database,
        name: foreign.name.clone(),
        provider_id: foreign.name.clone(),
    };
    assert!(
        connector
            .connect(&not_ours)
            .await
            .unwrap_err()
            .is_not_found()
    );

    drop(app);
    drop(owner);
    drop(registry);
    let _ = admin
        .batch(&[
            Statement::new(format!(r#"DROP OWNED BY "{role}" CASCADE"#)),
            Statement::new(format!(r#"DROP ROLE IF EXISTS "{role}""#)),
        ])
        .await;
}

/// A partition of a tenanted table, or a table that inherits from one,
/// holds that table's rows; reached by its own name, its own row-level
/// security decides, not the parent's. `migrate` gives each the parent's
/// policies: unbound (the store's raw SQL) a partition or child reads and
/// writes no row, bound it reaches its tenant's rows only; and the start-up
/// check refuses a declared table with a partition or child that row-level
/// security does not hold, naming both, until `migrate` repairs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_and_child_tables_are_held_like_their_parent() {
    let s = setup().await;
    let (parted, plain) = (table(), s.table.clone());
    let (pn, tn) = (parted.name().to_owned(), plain.name().to_owned());
    // The host's own layout: a table partitioned by tenant, with two
    // partitions (one of them nested), and an archive inheriting from a
    // table that `migrate` made.
    for sql in [
        format!(
            r#"CREATE TABLE "{pn}" ("platform_id" TEXT NOT NULL, "tenant_id" TEXT NOT NULL, "id" TEXT NOT NULL, "label" TEXT, PRIMARY KEY ("platform_id", "tenant_id", "id")) PARTITION BY HASH ("tenant_id")"#
        ),
        format!(
            r#"CREATE TABLE "{pn}_0" PARTITION OF "{pn}" FOR VALUES WITH (MODULUS 2, REMAINDER 0)"#
        ),
        format!(
            r#"CREATE TABLE "{pn}_1" PARTITION OF "{pn}" FOR VALUES WITH (MODULUS 2, REMAINDER 1) PARTITION BY HASH ("id")"#
        ),
        format!(
            r#"CREATE TABLE "{pn}_1a" PARTITION OF "{pn}_1" FOR VALUES WITH (MODULUS 1, REMAINDER 0)"#
        ),
        format!(r#"CREATE TABLE "{tn}_archive" () INHERITS ("{tn}")"#),
    ] {
        s.owner_runs(sql).await;
    }
    TenantStore::migrate(&s.owner, &[parted.clone(), plain.clone()])
        .await
        .unwrap();
    let tables = vec![parted.clone(), plain.clone()];
    let store = TenantStore::open(&s.registry, Arc::new(s.app.clone()), tables.clone())
        .await
        .expect("migrated, the tables and their partitions open");

    let p = PlatformId::generate();
    let tenants: Vec<TenantBinding> = (0..8)
        .map(|_| TenantBinding::new(p, TenantId::generate()))
        .collect();
    for (i, b) in tenants.iter().enumerate() {
        insert(&s.app, b, &parted, &format!("row{i}")).await;
    }
    // A row in the archive, put there by its owner's maintenance.
    let admin = common::admin().await;
    admin
        .execute(
            &Statement::new(format!(
                r#"INSERT INTO "{}"."{tn}_archive" ("platform_id", "tenant_id", "id", "label") VALUES (?1, ?2, 'old', 'archived')"#,
                s.guard.schema.name
            ))
            .bind(p.as_str())
            .bind(tenants[0].tenant().as_str()),
        )
        .await
        .unwrap();
    let reached = [
        format!("{pn}_0"),
        format!("{pn}_1"),
        format!("{pn}_1a"),
        format!("{tn}_archive"),
    ];
    let raw = store.raw();
    for name in &reached {
        let all = Statement::new(format!(r#"SELECT "id" FROM "{name}""#));
        match raw.query(&all).await {
            Ok(rows) => assert!(
                rows.is_empty(),
                "raw SQL read {} rows of {name}",
                rows.len()
            ),
            Err(e) => assert!(e.is_permission_denied(), "{name}: {e:?}"),
        }
        let touch = Statement::new(format!(r#"UPDATE "{name}" SET "label" = 'touched'"#));
        match raw.execute(&touch).await {
            Ok(out) => assert_eq!(out.rows_affected, 0, "raw SQL updated rows of {name}"),
            Err(e) => assert!(e.is_permission_denied(), "{name}: {e:?}"),
        }
        let plant = Statement::new(format!(
            r#"INSERT INTO "{name}" ("platform_id", "tenant_id", "id") VALUES (?1, ?2, 'planted')"#
        ))
        .bind(p.as_str())
        .bind(tenants[1].tenant().as_str());
        // Refused by the policy, or by the partition's bound first.
        assert!(raw.execute(&plant).await.is_err(), "{name}: planted");
        // Bound, a partition is its tenant's rows only.
        let bound = s.app.query_bound(&tenants[0], &all).await.unwrap();
        assert!(bound.len() <= 1, "{name}: {} rows", bound.len());
    }
    let mut seen = Vec::new();
    for name in &reached[..2] {
        for b in &tenants {
            let st = Statement::new(format!(r#"SELECT "id" FROM "{name}""#));
            for r in s.app.query_bound(b, &st).await.unwrap() {
                seen.push((b.tenant(), r.get::<String>("id").unwrap()));
            }
        }
    }
    assert_eq!(
        seen.len(),
        tenants.len(),
        "each tenant its own row: {seen:?}"
    );
    let untouched = admin
        .query(&Statement::new(format!(
            r#"SELECT count(*) AS "n" FROM "{}"."{pn}" WHERE "id" = 'planted' OR "label" = 'touched'"#,
            s.guard.schema.name
        )))
        .await
        .unwrap();
    assert_eq!(untouched[0].get::<i64>("n").unwrap(), 0);

    // A partition or child that row-level security does not hold: refused.
    for (name, sql, words) in [
        (
            format!("{pn}_0"),
            format!(r#"ALTER TABLE "{pn}_0" DISABLE ROW LEVEL SECURITY"#),
            "enabled",
        ),
        (
            format!("{pn}_1a"),
            format!(r#"ALTER TABLE "{pn}_1a" NO FORCE ROW LEVEL SECURITY"#),
            "force",
        ),
        (
            format!("{tn}_archive"),
            format!(r#"DROP POLICY "neutrino_read" ON "{tn}_archive""#),
            "lacks policy neutrino_read",
        ),
        (
            format!("{tn}_archive"),
            format!(r#"CREATE POLICY "open" ON "{tn}_archive" USING (true)"#),
            "policy open",
        ),
    ] {
        s.owner_runs(sql.clone()).await;
        let parent = if name.starts_with(&pn) { &pn } else { &tn };
        match TenantStore::open(&s.registry, Arc::new(s.app.clone()), tables.clone()).await {
            Err(Error::Config { reason, .. }) => {
                for w in [name.as_str(), parent.as_str(), words] {
                    assert!(reason.contains(w), "{w:?} not in {reason:?}");
                }
            }
            other => panic!("not refused ({sql}): {other:?}"),
        }
        if sql.contains(r#"POLICY "open""#) {
            s.owner_runs(format!(r#"DROP POLICY "open" ON "{tn}_archive""#))
                .await;
        }
        TenantStore::migrate(&s.owner, &tables).await.unwrap();
        TenantStore::open(&s.registry, Arc::new(s.app.clone()), tables.clone())
            .await
            .expect("migrate repairs it");
    }
}

/// A materialized view over a tenanted table is a copy of its rows that
/// row-level security does not hold (PostgreSQL has none on materialized
/// views; one made by a role that RLS does not hold, or refreshed bound,
/// holds other tenants' rows): the store's raw SQL may not read it, as
/// it may not read a view over one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_never_reads_a_materialized_view_of_a_tenanted_table() {
    let s = setup().await;
    let p = PlatformId::generate();
    let victim = TenantBinding::new(p, TenantId::generate());
    insert(&s.app, &victim, &s.table, "secret").await;
    let (schema, n) = (&s.guard.schema.name, s.table.name());
    let copy = format!("{n}_copy");
    s.admin_runs(format!(
        r#"CREATE MATERIALIZED VIEW "{schema}"."{copy}" AS SELECT "id", "label" FROM "{schema}"."{n}""#
    ))
    .await;
    s.admin_runs(format!(
        r#"GRANT SELECT ON "{schema}"."{copy}" TO "{}""#,
        s.guard.app
    ))
    .await;
    let store = s.open().await.unwrap();
    let read = Statement::new(format!(r#"SELECT "label" FROM "{copy}""#));
    match store.raw().query(&read).await {
        Ok(rows) => assert!(
            rows.is_empty(),
            "raw SQL read {} rows of {copy}",
            rows.len()
        ),
        Err(e) => assert!(e.is_permission_denied(), "{e:?}"),
    }
}

/// A query on a table that a tenanted table inherits from (or is a
/// partition of) reads and writes the tenanted table's rows under that
/// table's policies, not the tenanted table's: the start-up check refuses
/// such a parent unless row-level security holds it too, naming both;
/// declared as a tenanted table and migrated, it is held, and each tenant
/// reads its own rows through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenanted_table_under_a_parent_that_rls_does_not_hold_is_refused() {
    let s = setup().await;
    let n = s.table.name().to_owned();
    let base_name = format!("{n}_base");
    let p = PlatformId::generate();
    let victim = TenantBinding::new(p, TenantId::generate());
    insert(&s.app, &victim, &s.table, "secret").await;
    s.owner_runs(format!(r#"CREATE TABLE "{base_name}" ("label" TEXT)"#))
        .await;
    s.owner_runs(format!(r#"ALTER TABLE "{n}" INHERIT "{base_name}""#))
        .await;
    s.owner_runs(format!(
        r#"GRANT SELECT, UPDATE, DELETE ON "{base_name}" TO "{}""#,
        s.guard.app
    ))
    .await;
    let read_base = Statement::new(format!(r#"SELECT "label" FROM "{base_name}""#));
    match s.open().await {
        Err(Error::Config { reason, .. }) => {
            for w in [base_name.as_str(), n.as_str(), "enabled"] {
                assert!(reason.contains(w), "{w:?} not in {reason:?}");
            }
        }
        Ok(store) => {
            let rows = store.raw().query(&read_base).await;
            panic!("not refused; raw SQL on the parent: {rows:?}");
        }
        Err(e) => panic!("{e:?}"),
    }
    // Declared and migrated, the parent is held.
    let base = TenantTable::new(&base_name, &[("label", ColumnType::Text)]).unwrap();
    let tables = vec![base.clone(), s.table.clone()];
    TenantStore::migrate(&s.owner, &tables).await.unwrap();
    let store = TenantStore::open(&s.registry, Arc::new(s.app.clone()), tables)
        .await
        .expect("the parent is held");
    let e = store.raw().query(&read_base).await.unwrap_err();
    assert!(e.is_permission_denied(), "{e:?}");
    assert!(ids(&s.app, None, &base).await.is_empty());
    let other = TenantBinding::new(p, TenantId::generate());
    assert!(ids(&s.app, Some(&other), &base).await.is_empty());
    assert_eq!(ids(&s.app, Some(&victim), &base).await, ["secret"]);
}
