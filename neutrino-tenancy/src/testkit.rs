//! The tenancy conformance suite: every behaviour of the registry and the scoped
//! store, run against any [`SqlExecutor`] + [`KvStore`] pair by
//! [`tenancy_suite!`](crate::tenancy_suite).
//!
//! Each case opens its own [`Registry`] on a manual clock, with fresh random
//! platforms, tenants and table names, so cases share nothing but the database.

use std::sync::Arc;
use std::time::Duration;

use neutrino_core::Error;
use neutrino_core::clock::ManualClock;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::kv::KvStore;
use neutrino_core::naming::platform_status_key;
use neutrino_core::sql::{SqlExecutor, Statement, Value};
use neutrino_core::testkit::unique;

use crate::*;

/// The stores a case runs on.
#[derive(Clone, Debug)]
pub struct Stores {
    /// The database for the registry and the tenanted tables.
    pub db: Arc<dyn SqlExecutor>,
    /// The KV namespace for platform statuses.
    pub kv: Arc<dyn KvStore>,
}

/// Runs the suite: `$factory` is an `async fn() -> (Stores, Guard)`. A backend
/// whose guarded SQL calls judge statements as parsed (SQLite's authorizer)
/// adds `authorizer`: `tenancy_suite!(factory, authorizer)` also runs the cases
/// that a text-only judgement cannot pass.
#[macro_export]
macro_rules! tenancy_suite {
    ($factory:path, authorizer) => {
        $crate::tenancy_suite!($factory);
        mod tenancy_authorizer {
            #[allow(unused_imports)]
            use super::*;
            $crate::__tenancy_cases!(
                $factory,
                [raw_sql_cannot_reach_guarded_tables_through_later_views_and_triggers]
            );
        }
    };
    ($factory:path) => {
        mod tenancy_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__tenancy_cases!(
                $factory,
                [
                    records_of_another_platform_are_not_found,
                    another_tenants_row_is_not_found_for_every_operation,
                    scope_columns_are_set_by_the_scope_and_never_written,
                    list_filters_orders_and_pages,
                    subtenant_rows_are_included_only_when_asked,
                    raw_sql_on_tenanted_tables_is_refused,
                    raw_sql_cannot_reach_guarded_tables_however_spelled,
                    raw_sql_on_free_tables_still_works,
                    undeclared_tables_and_columns_are_refused,
                    existing_tables_get_the_scope_columns,
                    suspension_stops_scopes_within_the_status_ttl,
                    hosts_follow_their_lifecycle_and_resolve_to_one_tenant,
                    a_host_cannot_be_claimed_twice,
                    features_are_evaluated_per_tenant,
                    tenant_trees_have_a_depth_limit_and_no_cycles,
                    operator_scopes_are_audited_and_the_log_is_append_only,
                    the_scope_minter_is_given_once_and_checks_tenants,
                    handles_on_one_database_share_status_and_the_minter,
                    suspended_and_deleted_platforms_refuse_every_write,
                    writes_racing_a_suspension_stop_when_it_returns,
                    the_status_mirror_converges_to_the_registry,
                ]
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tenancy_cases {
    ($factory:path, [$($case:ident),* $(,)?]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (stores, _guard) = $factory().await;
                $crate::testkit::$case(&stores).await;
            }
        )*
    };
}

/// A registry on `stores` with a manual clock.
pub async fn registry(stores: &Stores, clock: &ManualClock) -> Registry {
    Registry::open(
        stores.db.clone(),
        stores.kv.clone(),
        RegistryOptions::default().with_clock(Arc::new(clock.clone())),
    )
    .await
    .expect("open registry")
}

async fn platform(r: &Registry) -> PlatformId {
    r.create_platform(NewPlatform::new("Test platform", PlatformClass::Platform))
        .await
        .expect("create platform")
        .id
}

async fn tenant(r: &Registry, p: PlatformId) -> TenantId {
    r.create_tenant(p, NewTenant::new(unique("t-"), "Test tenant"))
        .await
        .expect("create tenant")
        .id
}

async fn scope(r: &Registry, p: PlatformId, t: TenantId) -> TenantScope {
    r.operator_scope(p, t, "testkit", "conformance case")
        .await
        .expect("scope")
}

fn items() -> TenantTable {
    TenantTable::new(
        &unique("item_"),
        &[("label", ColumnType::Text), ("n", ColumnType::Integer)],
    )
    .expect("declare table")
}

async fn store(r: &Registry, stores: &Stores, tables: &[&TenantTable]) -> TenantStore {
    TenantStore::open(
        r,
        stores.db.clone(),
        tables.iter().map(|t| (*t).clone()).collect(),
    )
    .await
    .expect("open store")
}

/// Registry records of another platform are `NotFound`.
pub async fn records_of_another_platform_are_not_found(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p1, p2) = (platform(&r).await, platform(&r).await);
    let t1 = tenant(&r, p1).await;
    assert!(r.tenant(p1, t1).await.is_ok());
    assert!(r.tenant(p2, t1).await.unwrap_err().is_not_found());
    let slug = r.tenant(p1, t1).await.unwrap().slug;
    assert!(
        r.tenant_by_slug(p2, &slug)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(r.tenants(p2).await.unwrap().is_empty());
    let e = r
        .operator_scope(p2, t1, "ops", "wrong platform")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = r
        .create_tenant(p2, NewTenant::new(unique("s-"), "Sub").with_parent(t1))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "a parent from another platform: {e:?}");
    // The same slug may exist once per platform.
    r.create_tenant(p2, NewTenant::new(slug.clone(), "Same slug"))
        .await
        .expect("slug reused in p2");
    let e = r
        .create_tenant(p1, NewTenant::new(slug, "Dup"))
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
}

/// Tenant A's scope with tenant B's row ID: every operation is `NotFound`, and B's
/// row is unchanged.
pub async fn another_tenants_row_is_not_found_for_every_operation(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p, other_p) = (platform(&r).await, platform(&r).await);
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let c = tenant(&r, other_p).await;
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    let (sa, sb, sc) = (
        scope(&r, p, a).await,
        scope(&r, p, b).await,
        scope(&r, other_p, c).await,
    );
    let id = s
        .insert(&sb, &t, Record::new().set("label", "b's").set("n", 1_i64))
        .await
        .unwrap();
    for foreign in [&sa, &sc] {
        assert!(s.get(foreign, &t, &id).await.unwrap_err().is_not_found());
        let e = s
            .update(foreign, &t, &id, Record::new().set("label", "stolen"))
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        assert!(s.delete(foreign, &t, &id).await.unwrap_err().is_not_found());
        let page = s.list(foreign, &t, &ListQuery::new()).await.unwrap();
        assert!(page.rows.is_empty());
    }
    let missing = s.get(&sa, &t, "no-such-id").await.unwrap_err();
    let foreign = s.get(&sa, &t, &id).await.unwrap_err();
    assert_eq!(
        missing.to_string().replace("no-such-id", "X"),
        foreign.to_string().replace(&id, "X"),
        "another tenant's row must look exactly like a missing one"
    );
    let row = s.get(&sb, &t, &id).await.unwrap();
    assert_eq!(row.get::<String>("label").unwrap(), "b's");
    // The same id may be used by another tenant without revealing the first.
    let same = s
        .insert(
            &sa,
            &t,
            Record::new().set("id", id.as_str()).set("label", "a's"),
        )
        .await
        .unwrap();
    assert_eq!(same, id);
    assert_eq!(
        s.get(&sb, &t, &id)
            .await
            .unwrap()
            .get::<String>("label")
            .unwrap(),
        "b's"
    );
    assert_eq!(
        s.get(&sa, &t, &id)
            .await
            .unwrap()
            .get::<String>("label")
            .unwrap(),
        "a's"
    );
    let e = s
        .insert(&sa, &t, Record::new().set("id", id.as_str()))
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
}

/// Inserts set `platform_id`/`tenant_id`; callers can neither set nor change them.
pub async fn scope_columns_are_set_by_the_scope_and_never_written(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    let sa = scope(&r, p, a).await;
    let id = s
        .insert(&sa, &t, Record::new().set("label", "x"))
        .await
        .unwrap();
    let row = s.get(&sa, &t, &id).await.unwrap();
    assert_eq!(row.get::<String>("platform_id").unwrap(), p.as_str());
    assert_eq!(row.get::<String>("tenant_id").unwrap(), a.as_str());
    for col in ["tenant_id", "platform_id"] {
        let e = s
            .insert(&sa, &t, Record::new().set(col, b.as_str()))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{col}: {e:?}");
    }
    for col in ["tenant_id", "platform_id", "id"] {
        let e = s
            .update(&sa, &t, &id, Record::new().set(col, b.as_str()))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{col}: {e:?}");
    }
    s.update(
        &sa,
        &t,
        &id,
        Record::new().set("label", "y").set("n", 7_i64),
    )
    .await
    .unwrap();
    let row = s.get(&sa, &t, &id).await.unwrap();
    assert_eq!(row.get::<String>("tenant_id").unwrap(), a.as_str());
    assert_eq!(row.get::<i64>("n").unwrap(), 7);
    s.delete(&sa, &t, &id).await.unwrap();
    assert!(s.get(&sa, &t, &id).await.unwrap_err().is_not_found());
}

/// Filters bind values, ordering is stable, and cursors visit every row once.
pub async fn list_filters_orders_and_pages(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    let (sa, sb) = (scope(&r, p, a).await, scope(&r, p, b).await);
    for i in 0..23_i64 {
        let n: Value = if i % 5 == 0 {
            Value::Null
        } else {
            Value::Integer(i % 7)
        };
        s.insert(
            &sa,
            &t,
            Record::new().set("label", format!("a{i:02}")).set("n", n),
        )
        .await
        .unwrap();
        s.insert(
            &sb,
            &t,
            Record::new().set("label", format!("b{i:02}")).set("n", i),
        )
        .await
        .unwrap();
    }
    for order in [Order::Asc, Order::Desc] {
        let mut seen = Vec::new();
        let mut q = ListQuery::new().order_by("n", order).limit(4);
        for _ in 0..10 {
            let page = s.list(&sa, &t, &q).await.unwrap();
            seen.extend(page.rows.iter().map(|r| {
                (
                    r.get::<Option<i64>>("n").unwrap(),
                    r.get::<String>("id").unwrap(),
                )
            }));
            match page.cursor {
                Some(c) => q = q.after(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 23, "{order:?}: every row once");
        let mut sorted = seen.clone();
        sorted.sort();
        if order == Order::Desc {
            sorted.reverse();
        }
        assert_eq!(
            seen, sorted,
            "{order:?}: NULLs first ascending, last descending, ties by id"
        );
    }
    let q = ListQuery::new()
        .filter("n", Op::Ge, 5_i64)
        .filter("label", Op::Like, "a%");
    let rows = s.list(&sa, &t, &q).await.unwrap().rows;
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.get::<i64>("n").unwrap() >= 5));
    let nulls = s
        .list(
            &sa,
            &t,
            &ListQuery::new().filter("n", Op::IsNull, Value::Null),
        )
        .await
        .unwrap()
        .rows;
    assert_eq!(nulls.len(), 5);
    // A value that looks like SQL is just a value.
    let q = ListQuery::new().filter("label", Op::Eq, "x' OR '1'='1");
    assert!(s.list(&sa, &t, &q).await.unwrap().rows.is_empty());
    let e = s
        .list(&sa, &t, &ListQuery::new().after("not-a-cursor"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    for limit in [0, MAX_PAGE + 1] {
        assert!(
            s.list(&sa, &t, &ListQuery::new().limit(limit))
                .await
                .is_err()
        );
    }
}

/// Sub-tenants' rows appear only with `including_subtenants`, and never a
/// sibling's or a parent's.
pub async fn subtenant_rows_are_included_only_when_asked(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let parent = tenant(&r, p).await;
    let child = r
        .create_tenant(p, NewTenant::new(unique("c-"), "Child").with_parent(parent))
        .await
        .unwrap()
        .id;
    let grandchild = r
        .create_tenant(
            p,
            NewTenant::new(unique("g-"), "Grandchild").with_parent(child),
        )
        .await
        .unwrap()
        .id;
    let sibling = tenant(&r, p).await;
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    for (tn, label) in [
        (parent, "parent"),
        (child, "child"),
        (grandchild, "grandchild"),
        (sibling, "sibling"),
    ] {
        s.insert(
            &scope(&r, p, tn).await,
            &t,
            Record::new().set("label", label),
        )
        .await
        .unwrap();
    }
    let labels = |rows: Vec<neutrino_core::sql::Row>| {
        let mut l: Vec<String> = rows.iter().map(|r| r.get("label").unwrap()).collect();
        l.sort();
        l
    };
    let sp = scope(&r, p, parent).await;
    assert_eq!(
        labels(s.list(&sp, &t, &ListQuery::new()).await.unwrap().rows),
        ["parent"]
    );
    assert_eq!(
        labels(
            s.list(&sp, &t, &ListQuery::new().including_subtenants())
                .await
                .unwrap()
                .rows
        ),
        ["child", "grandchild", "parent"]
    );
    let sc = scope(&r, p, child).await;
    assert_eq!(
        labels(
            s.list(&sc, &t, &ListQuery::new().including_subtenants())
                .await
                .unwrap()
                .rows
        ),
        ["child", "grandchild"]
    );
}

/// Raw SQL through the store's guard cannot touch a tenanted table.
pub async fn raw_sql_on_tenanted_tables_is_refused(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    let raw = s.raw();
    let name = t.name().to_owned();
    for sql in [
        format!(r#"SELECT * FROM "{name}""#),
        format!("select * from {}", name.to_uppercase()),
        format!(r#"DELETE FROM main."{name}""#),
        format!(r#"UPDATE [{name}] SET "label" = 'x'"#),
    ] {
        let e = raw.query(&Statement::new(sql.clone())).await.unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{sql}: {e:?}");
        let e = raw
            .batch(&[Statement::new("SELECT 1"), Statement::new(sql.clone())])
            .await
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{sql}: {e:?}");
    }
    let other = unique("free_");
    raw.execute(&Statement::new(format!(
        r#"CREATE TABLE "{other}" ("v" TEXT)"#
    )))
    .await
    .expect("untenanted table");
}

/// Mixes the ASCII case of `s`: `AbCd…`.
fn mixed_case(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Raw SQL cannot read, write, move, copy, shadow or drop a guarded table (a
/// declared tenanted table or one of the registry's), whatever the spelling of
/// its name and whatever the statement kind, nor reach it through a view or a
/// trigger the host created before opening the store; another tenant's data is
/// unchanged afterwards. Each attack runs through `execute`, `query` and inside
/// a `batch`.
pub async fn raw_sql_cannot_reach_guarded_tables_however_spelled(stores: &Stores) {
    raw_sql_attacks(stores, true).await;
}

/// As [`raw_sql_cannot_reach_guarded_tables_however_spelled`], with the host's
/// view and trigger created after the store was opened: only a backend that
/// judges statements as parsed (SQLite's authorizer) sees through them; run by
/// `tenancy_suite!(factory, authorizer)`.
pub async fn raw_sql_cannot_reach_guarded_tables_through_later_views_and_triggers(stores: &Stores) {
    raw_sql_attacks(stores, false).await;
}

async fn raw_sql_attacks(stores: &Stores, host_objects_first: bool) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let (sa, sb) = (scope(&r, p, a).await, scope(&r, p, b).await);
    let t = items();
    let first = store(&r, stores, &[&t]).await;
    let n = t.name().to_owned();
    let secret = first
        .insert(
            &sb,
            &t,
            Record::new().set("label", "b-secret").set("n", 7_i64),
        )
        .await
        .unwrap();
    // What the host set up itself, outside raw(): a view over the tenanted
    // table, and a trigger on a free table that writes the tenanted one.
    let (view, free, trig) = (unique("hostview_"), unique("free_"), unique("hosttrig_"));
    let host = |sql: String| {
        let db = stores.db.clone();
        async move { db.execute(&Statement::new(sql)).await.unwrap() }
    };
    host(format!(r#"CREATE VIEW "{view}" AS SELECT * FROM "{n}""#)).await;
    host(format!(r#"CREATE TABLE "{free}" ("v" TEXT)"#)).await;
    let pad = unique("pad_");
    host(format!(r#"CREATE TABLE "{pad}" ("v" TEXT)"#)).await;
    host(format!(
        r#"CREATE TRIGGER "{trig}" AFTER INSERT ON "{free}" BEGIN
             UPDATE "{n}" SET "label" = NEW."v"; END"#
    ))
    .await;
    let s = if host_objects_first {
        store(&r, stores, &[&t]).await
    } else {
        first
    };
    let raw = s.raw();
    // Sampled index keys (sqlite_stat1), where the backend keeps them.
    let _ = stores.db.execute(&Statement::new("ANALYZE")).await;
    // The store's own statement, cached by the executor.
    s.get(&sb, &t, &secret).await.unwrap();
    let get_sql = t.def.get_sql.to_string();
    let file = std::env::temp_dir().join(unique("stolen_"));
    let file = file.to_string_lossy().replace('\'', "''");
    let (stolen, mn) = (unique("stolen_"), mixed_case(&n));
    let attacks: Vec<Statement> = [
        format!("SELECT * FROM '{n}'"),
        format!(r#"SELECT * FROM "{n}""#),
        format!("SELECT * FROM [{n}]"),
        format!("SELECT * FROM `{n}`"),
        format!("SELECT * FROM main.{n}"),
        format!(r#"SELECT * FROM MAIN."{mn}""#),
        format!("SELECT/**/*/*x*/FROM/* '{n}' */'{mn}'"),
        format!("SELECT count(*) FROM '{n}'"),
        format!("SELECT EXISTS (SELECT 1 FROM '{n}')"),
        format!("WITH c AS (SELECT * FROM '{n}') SELECT * FROM c"),
        format!(r#"SELECT * FROM "{free}" WHERE "v" IN (SELECT "label" FROM '{n}')"#),
        format!(r#"SELECT * FROM "{view}""#),
        format!("UPDATE '{n}' SET label = 'pwned'"),
        format!("UPDATE '{n}' SET tenant_id = '{a}'"),
        format!("DELETE FROM '{n}'"),
        format!("INSERT INTO '{n}' (platform_id, tenant_id, id, label) SELECT platform_id, '{a}', id || 'x', label FROM '{n}'"),
        format!(r#"INSERT INTO "{free}" SELECT "label" FROM '{n}'"#),
        format!(r#"INSERT INTO "{free}" VALUES ('pwned')"#),
        format!("DROP TABLE '{n}'"),
        format!("ALTER TABLE '{n}' RENAME TO '{stolen}'"),
        format!("ALTER TABLE '{n}' ADD COLUMN x TEXT"),
        format!(r#"ALTER TABLE "{free}" RENAME TO '{mn}'"#),
        format!("CREATE VIEW '{stolen}' AS SELECT * FROM '{n}'"),
        format!("CREATE TEMP VIEW '{stolen}' AS SELECT 1"),
        format!(
            r#"CREATE TRIGGER '{stolen}' AFTER INSERT ON "{free}" BEGIN DELETE FROM "{free}"; END"#
        ),
        format!("CREATE TABLE '{stolen}' AS SELECT * FROM '{n}'"),
        format!(r#"CREATE TABLE '{stolen}' ("x" TEXT REFERENCES '{n}' ("id"))"#),
        format!("CREATE TEMP TABLE '{n}' (id TEXT, platform_id TEXT, tenant_id TEXT, label TEXT, n INTEGER)"),
        format!("CREATE INDEX '{stolen}' ON '{n}' (label)"),
        format!("VACUUM INTO '{file}'"),
        "VACUUM".to_owned(),
        format!("ATTACH '{file}' AS stolen"),
        "DETACH DATABASE temp".to_owned(),
        "PRAGMA writable_schema = 1".to_owned(),
        "PRAGMA foreign_keys = OFF".to_owned(),
        "SELECT * FROM sqlite_stat1".to_owned(),
        "ANALYZE".to_owned(),
        format!(
            r#"UPDATE "neutrino_tenant" SET "parent_id" = '{a}', "depth" = 1 WHERE "id" = '{b}'"#
        ),
        format!(r#"SELECT * FROM 'NEUTRINO_TENANT' WHERE "platform_id" = '{p}'"#),
        "DELETE FROM neutrino_audit_log".to_owned(),
        "SELECT load_extension('stolen')".to_owned(),
        r#"UPDATE sqlite_sequence SET "seq" = 0"#.to_owned(),
        format!("SELECT 1; DROP TABLE '{n}'"),
        format!(r#"UPDATE "{pad}" SET "v" = (SELECT label FROM '{n}' LIMIT 1)"#),
        format!("INSERT INTO '{n}' DEFAULT VALUES RETURNING *"),
        "BEGIN".to_owned(),
        "COMMIT".to_owned(),
        "SAVEPOINT stolen".to_owned(),
    ]
    .into_iter()
    .map(Statement::new)
    .chain([Statement::new(get_sql)
        .bind(p.as_str())
        .bind(b.as_str())
        .bind(secret.as_str())])
    .collect();
    let mut admitted = Vec::new();
    for st in &attacks {
        let refused = |r: Result<(), Error>| !matches!(r, Err(Error::PermissionDenied { .. }));
        if refused(raw.execute(st).await.map(drop)) {
            admitted.push(format!("execute {st:?}"));
        }
        if refused(raw.query(st).await.map(drop)) {
            admitted.push(format!("query {st:?}"));
        }
        let batch = [
            Statement::new(format!(r#"DELETE FROM "{pad}""#)),
            st.clone(),
        ];
        if refused(raw.batch(&batch).await.map(drop)) {
            admitted.push(format!("batch {st:?}"));
        }
    }
    assert!(admitted.is_empty(), "not refused: {admitted:#?}");
    // The victim's row, as the store sees it: unchanged, not copied, not moved.
    let row = s.get(&sb, &t, &secret).await.unwrap();
    assert_eq!(row.get::<String>("label").unwrap(), "b-secret");
    assert_eq!(row.get::<i64>("n").unwrap(), 7);
    let all = |sc: TenantScope| {
        let (s, t) = (s.clone(), t.clone());
        async move { s.list(&sc, &t, &ListQuery::new()).await.unwrap().rows.len() }
    };
    assert_eq!(all(sb.clone()).await, 1);
    assert_eq!(all(sa.clone()).await, 0);
    let q = ListQuery::new().including_subtenants();
    assert!(s.list(&sa, &t, &q).await.unwrap().rows.is_empty());
    assert_eq!(r.tenant(p, b).await.unwrap().parent, None);
    assert_eq!(r.subtree(p, a).await.unwrap(), vec![a]);
    let stolen_objects = stores
        .db
        .query(&Statement::new(format!(
            r#"SELECT "name" FROM sqlite_master WHERE "name" = '{stolen}' OR "name" = '{mn}' COLLATE NOCASE"#
        )))
        .await
        .unwrap();
    assert_eq!(
        stolen_objects.len(),
        1,
        "only the tenanted table: {stolen_objects:?}"
    );
    let free_rows = stores
        .db
        .query(&Statement::new(format!(r#"SELECT * FROM "{free}""#)))
        .await
        .unwrap();
    assert!(free_rows.is_empty(), "{free_rows:?}");
    assert!(!std::path::Path::new(&file).exists());
}

/// Raw SQL on tables nobody guards works as before: DDL, writes, reads, joins,
/// batches, and reading the schema of a tenanted table.
pub async fn raw_sql_on_free_tables_still_works(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    let raw = s.raw();
    let (x, y) = (unique("free_"), unique("free_"));
    raw.batch(&[
        Statement::new(format!(
            r#"CREATE TABLE "{x}" ("id" INTEGER PRIMARY KEY, "v" TEXT)"#
        )),
        Statement::new(format!(r#"CREATE TABLE "{y}" ("x_id" INTEGER, "w" TEXT)"#)),
        Statement::new(format!(r#"CREATE INDEX "{y}_x" ON "{y}" ("x_id")"#)),
    ])
    .await
    .unwrap();
    let out = raw
        .batch(&[
            Statement::new(format!(r#"INSERT INTO "{x}" ("id", "v") VALUES (?1, ?2)"#))
                .bind(1_i64)
                .bind("one"),
            Statement::new(format!(r#"INSERT INTO "{y}" VALUES (?1, ?2)"#))
                .bind(1_i64)
                .bind("uno"),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 2);
    let rows = raw
        .query(&Statement::new(format!(
            r#"SELECT "v", "w" FROM "{x}" JOIN "{y}" ON "{y}"."x_id" = "{x}"."id" WHERE "{x}"."id" = ?1"#
        )).bind(1_i64))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String>("w").unwrap(), "uno");
    let done = raw
        .execute(&Statement::new(format!(
            r#"UPDATE "{x}" SET "v" = 'eins' WHERE "id" = 1"#
        )))
        .await
        .unwrap();
    assert_eq!(done.rows_affected, 1);
    raw.execute(&Statement::new(format!(r#"DROP TABLE "{y}""#)))
        .await
        .unwrap();
    let z = unique("free_");
    raw.execute(&Statement::new(format!(
        r#"CREATE TABLE "{z}" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "v" TEXT)"#
    )))
    .await
    .unwrap();
    let out = raw
        .execute(&Statement::new(format!(
            r#"INSERT INTO "{z}" ("v") VALUES ('a')"#
        )))
        .await
        .unwrap();
    assert_eq!(out.rows_affected, 1);
}

/// Only declared tables and columns can be named; identifiers cannot inject SQL.
pub async fn undeclared_tables_and_columns_are_refused(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    let (t, undeclared) = (items(), items());
    let s = store(&r, stores, &[&t]).await;
    let sa = scope(&r, p, a).await;
    let e = s
        .insert(&sa, &undeclared, Record::new().set("label", "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let e = s
        .insert(&sa, &t, Record::new().set(r#"label" = 1; --"#, "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let q = ListQuery::new().order_by(r#"n"; DROP TABLE "x"#, Order::Asc);
    assert!(matches!(
        s.list(&sa, &t, &q).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    let q = ListQuery::new().filter("tenant_id", Op::Ne, "x");
    assert!(matches!(
        s.list(&sa, &t, &q).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(TenantTable::new(r#"x"; DROP TABLE y; --"#, &[]).is_err());
    assert!(TenantTable::new("neutrino_tenant", &[]).is_err());
    assert!(TenantTable::new("ok", &[("bad col", ColumnType::Text)]).is_err());
}

/// An existing table without the scope columns gets them; its old rows belong to
/// no tenant.
pub async fn existing_tables_get_the_scope_columns(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    let name = unique("legacy_");
    stores
        .db
        .execute(&Statement::new(format!(
            r#"CREATE TABLE "{name}" ("label" TEXT)"#
        )))
        .await
        .unwrap();
    stores
        .db
        .execute(&Statement::new(format!(
            r#"INSERT INTO "{name}" VALUES ('old')"#
        )))
        .await
        .unwrap();
    let t = TenantTable::new(
        &name,
        &[("label", ColumnType::Text), ("extra", ColumnType::Integer)],
    )
    .unwrap();
    let s = store(&r, stores, &[&t]).await;
    let sa = scope(&r, p, a).await;
    assert!(
        s.list(&sa, &t, &ListQuery::new())
            .await
            .unwrap()
            .rows
            .is_empty(),
        "old rows belong to no tenant"
    );
    let id = s
        .insert(
            &sa,
            &t,
            Record::new().set("label", "new").set("extra", 1_i64),
        )
        .await
        .unwrap();
    assert_eq!(
        s.get(&sa, &t, &id)
            .await
            .unwrap()
            .get::<i64>("extra")
            .unwrap(),
        1
    );
    // Opening again changes nothing.
    store(&r, stores, &[&t]).await;
}

/// Writes a platform's status as another process's registry would (the row,
/// then the KV mirror), without touching this process's shared state.
async fn change_status_elsewhere(stores: &Stores, p: PlatformId, status: &str) {
    stores
        .db
        .execute(
            &Statement::new(r#"UPDATE "neutrino_platform" SET "status" = ?2 WHERE "id" = ?1"#)
                .bind(p.as_str())
                .bind(status),
        )
        .await
        .unwrap();
    stores
        .kv
        .put(
            &platform_status_key(p),
            status.as_bytes().to_vec().into(),
            None,
        )
        .await
        .unwrap();
}

/// Suspension: at once through every handle on the database in this process,
/// after at most the status TTL for a change made by another process; KV
/// carries the status; reinstating restores access.
pub async fn suspension_stops_scopes_within_the_status_ttl(stores: &Stores) {
    let clock = ManualClock::new();
    let here = registry(stores, &clock).await;
    let other_handle = registry(stores, &clock).await;
    let p = platform(&here).await;
    let a = tenant(&here, p).await;
    let t = items();
    let s_here = store(&here, stores, &[&t]).await;
    let s_other = store(&other_handle, stores, &[&t]).await;
    let sa = scope(&here, p, a).await;
    let id = s_here
        .insert(&sa, &t, Record::new().set("label", "x"))
        .await
        .unwrap();
    s_other
        .get(&sa, &t, &id)
        .await
        .expect("warms the other handle's view");

    here.suspend(p, "ops@neutrino", "unpaid invoice")
        .await
        .unwrap();
    let e = s_here.get(&sa, &t, &id).await.unwrap_err();
    assert!(
        matches!(e, Error::Suspended { .. }),
        "immediate here: {e:?}"
    );
    let e = s_other.get(&sa, &t, &id).await.unwrap_err();
    assert!(
        matches!(e, Error::Suspended { .. }),
        "immediate through another handle on the same database: {e:?}"
    );
    assert_eq!(
        stores
            .kv
            .get(&platform_status_key(p))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"suspended"[..])
    );
    assert!(matches!(
        here.operator_scope(p, a, "ops", "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert!(matches!(
        here.is_enabled(&sa, "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));

    here.reinstate(p, "ops@neutrino", "paid").await.unwrap();
    s_here.get(&sa, &t, &id).await.expect("reinstated here");
    s_other
        .get(&sa, &t, &id)
        .await
        .expect("reinstated through the other handle");

    // A suspension by another process is seen once the cached status expires.
    change_status_elsewhere(stores, p, "suspended").await;
    clock.advance(Duration::from_secs(59));
    s_here
        .get(&sa, &t, &id)
        .await
        .expect("still cached as active before the TTL");
    clock.advance(Duration::from_secs(2));
    let e = s_here.get(&sa, &t, &id).await.unwrap_err();
    assert!(matches!(e, Error::Suspended { .. }), "after the TTL: {e:?}");
    change_status_elsewhere(stores, p, "active").await;
    clock.advance(Duration::from_secs(61));
    s_here
        .get(&sa, &t, &id)
        .await
        .expect("reinstated after the TTL");

    // A KV miss is repaired from the registry.
    stores.kv.delete(&platform_status_key(p)).await.unwrap();
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        here.platform_status(p).await.unwrap(),
        PlatformStatus::Active
    );
    assert_eq!(
        stores
            .kv
            .get(&platform_status_key(p))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"active"[..])
    );
    let actions: Vec<String> = here
        .audit_log(p)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"suspend".to_string()) && actions.contains(&"reinstate".to_string()));
}

/// Two registry handles on one database share the status cache and the scope
/// minter: a suspension through one stops the other at once, and the second
/// `scope_minter()` is refused whichever handle asks.
pub async fn handles_on_one_database_share_status_and_the_minter(stores: &Stores) {
    let clock = ManualClock::new();
    let one = registry(stores, &clock).await;
    let two = registry(stores, &clock).await;
    let p = platform(&one).await;
    let a = tenant(&one, p).await;
    let minter = two.scope_minter().expect("the first minter");
    assert!(matches!(
        one.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    assert!(matches!(
        registry(stores, &clock).await.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    minter.mint(p, a).await.expect("warm: active");
    assert_eq!(
        two.platform_status(p).await.unwrap(),
        PlatformStatus::Active
    );
    one.suspend(p, "ops", "test").await.unwrap();
    assert!(matches!(
        minter.mint(p, a).await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert_eq!(
        two.platform_status(p).await.unwrap(),
        PlatformStatus::Suspended
    );
    assert!(matches!(
        two.operator_scope(p, a, "ops", "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));
    two.reinstate(p, "ops", "test").await.unwrap();
    minter
        .mint(p, a)
        .await
        .expect("reinstated through the other handle");
    one.mark_platform_deleted(p, "ops", "test").await.unwrap();
    assert!(minter.mint(p, a).await.unwrap_err().is_not_found());

    // A minter narrowed to one platform mints only for it.
    let q = platform(&one).await;
    let b = tenant(&one, q).await;
    let only_q = minter.restricted_to(q).unwrap();
    only_q.mint(q, b).await.expect("its own platform");
    assert!(matches!(
        only_q.mint(p, a).await.unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    assert!(matches!(
        only_q.restricted_to(p).unwrap_err(),
        Error::PermissionDenied { .. }
    ));
}

fn resource(p: PlatformId, name: &str, status: ResourceStatus) -> ResourceRecord {
    ResourceRecord {
        platform: p,
        stack: neutrino_core::ids::StackId::DEFAULT,
        kind: neutrino_core::provision::ResourceKind::Database,
        logical_name: name.to_owned(),
        provider: "testkit".into(),
        provider_id: None,
        status,
    }
}

/// Every platform write is refused for a suspended platform (`Suspended`) and a
/// deleted one (`NotFound`), through a fresh handle too; status changes and
/// teardown bookkeeping still work.
pub async fn suspended_and_deleted_platforms_refuse_every_write(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let domain = format!("{}.example.com", unique("app"));
    let p = r
        .create_platform(
            NewPlatform::new("Stopped", PlatformClass::Platform).with_app_domain(domain.as_str()),
        )
        .await
        .unwrap()
        .id;
    let a = tenant(&r, p).await;
    let b = tenant(&r, p).await;
    let pending = format!("{}.example.org", unique("p"));
    let verified = format!("{}.example.org", unique("v"));
    let active = format!("{}.example.org", unique("a"));
    for h in [&pending, &verified, &active] {
        r.add_custom_domain(p, a, h).await.unwrap();
    }
    r.verify_custom_domain(p, &verified).await.unwrap();
    r.verify_custom_domain(p, &active).await.unwrap();
    r.activate_custom_domain(p, &active).await.unwrap();
    let template = StackTemplate {
        name: "web".into(),
        version: 1,
        resources: vec![],
    };
    let stack: neutrino_core::ids::StackId = "web0000001".parse().unwrap();
    r.create_stack(p, stack, &template).await.unwrap();
    let db_name = format!("{p}-default-auth-db");
    r.record_resource(&resource(p, &db_name, ResourceStatus::Ready))
        .await
        .unwrap();
    for (stop, expect_suspended) in [("suspend", true), ("delete", false)] {
        let before = (
            r.tenants(p).await.unwrap(),
            r.hosts(p, a).await.unwrap(),
            r.stacks(p).await.unwrap(),
            r.resources(p).await.unwrap(),
        );
        if stop == "suspend" {
            r.suspend(p, "ops", "test").await.unwrap();
        } else {
            r.mark_platform_deleted(p, "ops", "test").await.unwrap();
        }
        // A fresh handle (empty cache) and the suspending one.
        let fresh = registry(stores, &clock).await;
        for h in [&r, &fresh] {
            let refused = |e: Error| {
                if expect_suspended {
                    assert!(matches!(e, Error::Suspended { .. }), "{stop}: {e:?}");
                } else {
                    assert!(e.is_not_found(), "{stop}: {e:?}");
                }
            };
            refused(
                h.create_tenant(p, NewTenant::new(unique("t-"), "New"))
                    .await
                    .unwrap_err(),
            );
            refused(
                h.create_tenant(p, NewTenant::new(unique("t-"), "Sub").with_parent(a))
                    .await
                    .unwrap_err(),
            );
            refused(h.reparent(p, b, Some(a)).await.unwrap_err());
            refused(
                h.set_feature(
                    p,
                    a,
                    &Feature {
                        key: "beta".into(),
                        version: 1,
                        enabled: true,
                        config: serde_json::json!({}),
                    },
                )
                .await
                .unwrap_err(),
            );
            refused(
                h.add_custom_domain(p, a, &format!("{}.example.org", unique("n")))
                    .await
                    .unwrap_err(),
            );
            refused(h.verify_custom_domain(p, &pending).await.unwrap_err());
            refused(h.activate_custom_domain(p, &verified).await.unwrap_err());
            refused(h.remove_host(p, &active).await.unwrap_err());
            refused(
                h.create_stack(p, "web0000002".parse().unwrap(), &template)
                    .await
                    .unwrap_err(),
            );
            refused(h.set_stack_status(p, stack, false).await.unwrap_err());
            for status in [
                ResourceStatus::Pending,
                ResourceStatus::Ready,
                ResourceStatus::Failed,
            ] {
                let in_web_stack = ResourceRecord {
                    stack,
                    ..resource(
                        p,
                        neutrino_core::naming::ResourceName::new(
                            p,
                            stack,
                            neutrino_core::naming::ResourceRole::Database,
                        )
                        .unwrap()
                        .as_str(),
                        status,
                    )
                };
                refused(h.record_resource(&in_web_stack).await.unwrap_err());
                refused(
                    h.record_resource(&resource(p, &db_name, status))
                        .await
                        .unwrap_err(),
                );
            }
            refused(h.operator_scope(p, a, "ops", "look").await.unwrap_err());
        }
        assert_eq!(
            (
                r.tenants(p).await.unwrap(),
                r.hosts(p, a).await.unwrap(),
                r.stacks(p).await.unwrap(),
                r.resources(p).await.unwrap(),
            ),
            before,
            "{stop}: nothing changed"
        );
        if stop == "suspend" {
            r.reinstate(p, "ops", "test").await.unwrap();
            r.create_tenant(p, NewTenant::new(unique("t-"), "Back"))
                .await
                .expect("reinstated: writes work again");
            let spare = format!("{}.example.org", unique("s"));
            r.add_custom_domain(p, b, &spare).await.expect("reinstated");
            r.remove_host(p, &spare).await.expect("reinstated");
        }
    }
    // Teardown bookkeeping works on a deleted platform.
    r.record_resource(&resource(p, &db_name, ResourceStatus::Deleted))
        .await
        .expect("a tombstone");
    r.set_stack_status(p, stack, true)
        .await
        .expect("a stack tombstone");
    assert!(r.reinstate(p, "ops", "undo").await.is_err());
    assert_eq!(r.platform_status(p).await.unwrap(), PlatformStatus::Deleted);
    // Unknown platforms: NotFound, and nothing is mirrored for them.
    let ghost = PlatformId::generate();
    assert!(
        r.suspend(ghost, "ops", "x")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        r.create_tenant(ghost, NewTenant::new("x", "X"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        stores
            .kv
            .get(&platform_status_key(ghost))
            .await
            .unwrap()
            .is_none()
    );
}

/// Writes through another handle racing a suspension: once `suspend` has
/// returned, no write of the platform succeeds, and every write that answered
/// `Ok` is in the registry.
pub async fn writes_racing_a_suspension_stop_when_it_returns(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let other = registry(stores, &clock).await;
    let p = platform(&r).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let suspended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (other, stop, suspended) = (other.clone(), stop.clone(), suspended.clone());
        writers.push(tokio::spawn(async move {
            let mut created = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let after = suspended.load(std::sync::atomic::Ordering::SeqCst);
                let slug = format!("w{w}-{i}-{}", unique("t"));
                i += 1;
                match other.create_tenant(p, NewTenant::new(&slug, "Racer")).await {
                    Ok(t) => {
                        assert!(!after, "a tenant was created after suspend returned");
                        created.push(t.id);
                    }
                    Err(Error::Suspended { .. }) => {}
                    Err(e) => panic!("unexpected: {e:?}"),
                }
                tokio::task::yield_now().await;
            }
            created
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    r.suspend(p, "ops", "race").await.unwrap();
    suspended.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut created = Vec::new();
    for w in writers {
        created.extend(w.await.expect("writer"));
    }
    let in_registry: Vec<TenantId> = r
        .tenants(p)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(created.len(), in_registry.len());
    for t in created {
        assert!(in_registry.contains(&t));
    }
}

/// The registry is the truth and KV its mirror: whatever KV says after a crash
/// between the two writes, the next status read answers the registry's status
/// and repairs KV; so does an explicit repair.
pub async fn the_status_mirror_converges_to_the_registry(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    let key = platform_status_key(p);
    let mirror = || async {
        String::from_utf8(
            stores
                .kv
                .get(&key)
                .await
                .unwrap()
                .unwrap_or_default()
                .to_vec(),
        )
        .unwrap()
    };
    assert_eq!(mirror().await, "active", "create_platform mirrors");
    // KV says deleted (a crash after the mirror write of a delete): the
    // registry's `active` wins, the platform keeps working.
    for (kv, truth) in [
        ("deleted", "active"),
        ("suspended", "active"),
        ("garbage", "active"),
    ] {
        stores
            .kv
            .put(&key, kv.as_bytes().to_vec().into(), None)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(61));
        assert_eq!(r.platform_status(p).await.unwrap().as_str(), truth);
        assert_eq!(mirror().await, truth);
        r.operator_scope(p, a, "ops", "works")
            .await
            .expect("active");
    }
    // Registry says suspended but KV says active (a crash before the mirror):
    // repaired to suspended.
    change_status_elsewhere(stores, p, "suspended").await;
    stores
        .kv
        .put(&key, b"active".to_vec().into(), None)
        .await
        .unwrap();
    assert_eq!(
        r.repair_platform_status(p).await.unwrap(),
        PlatformStatus::Suspended
    );
    assert_eq!(mirror().await, "suspended");
    assert!(matches!(
        r.operator_scope(p, a, "ops", "x").await.unwrap_err(),
        Error::Suspended { .. }
    ));
    assert!(
        r.repair_platform_status(PlatformId::generate())
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// Default and custom hosts resolve to exactly their tenant, only when active;
/// normalisation applies; removed hosts stop resolving.
pub async fn hosts_follow_their_lifecycle_and_resolve_to_one_tenant(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let domain = format!("{}.example.com", unique("app"));
    let p = r
        .create_platform(
            NewPlatform::new("Hosted", PlatformClass::Platform).with_app_domain(domain.as_str()),
        )
        .await
        .unwrap()
        .id;
    let acme = r
        .create_tenant(p, NewTenant::new("acme", "Acme"))
        .await
        .unwrap()
        .id;
    let other = r
        .create_tenant(p, NewTenant::new("other", "Other"))
        .await
        .unwrap()
        .id;
    assert_eq!(
        r.resolve(&format!("acme.{domain}")).await.unwrap(),
        Some((p, acme))
    );
    assert_eq!(
        r.resolve(&format!("ACME.{}.:443", domain.to_uppercase()))
            .await
            .unwrap(),
        Some((p, acme))
    );
    assert_eq!(
        r.resolve(&format!("other.{domain}")).await.unwrap(),
        Some((p, other))
    );
    assert_eq!(r.resolve(&format!("nobody.{domain}")).await.unwrap(), None);

    let custom = format!("{}.acme-corp.test", unique("app"));
    let rec = r.add_custom_domain(p, acme, &custom).await.unwrap();
    assert_eq!(rec.status, HostStatus::Pending);
    assert!(rec.verification_token.is_some());
    assert_eq!(
        r.resolve(&custom).await.unwrap(),
        None,
        "pending does not resolve"
    );
    let e = r.activate_custom_domain(p, &custom).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "must be verified first: {e:?}"
    );
    r.verify_custom_domain(p, &custom).await.unwrap();
    assert_eq!(
        r.resolve(&custom).await.unwrap(),
        None,
        "verified does not resolve yet"
    );
    r.activate_custom_domain(p, &custom).await.unwrap();
    assert_eq!(r.resolve(&custom).await.unwrap(), Some((p, acme)));
    let hosts: Vec<String> = r
        .hosts(p, acme)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.host)
        .collect();
    assert!(
        hosts.contains(&custom) && hosts.contains(&format!("acme.{domain}")),
        "{hosts:?}"
    );
    r.remove_host(p, &custom).await.unwrap();
    assert_eq!(
        r.resolve(&custom).await.unwrap(),
        None,
        "removed does not resolve"
    );
    for bad in [
        "",
        "localhost",
        "a..b",
        "-x.com",
        "10.0.0.1",
        "[::1]",
        "x.com:99999",
        "exa mple.com",
    ] {
        assert!(
            matches!(r.resolve(bad).await, Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
    }
}

/// A custom domain held by one tenant cannot be claimed by another (of any
/// platform) until it is removed.
pub async fn a_host_cannot_be_claimed_twice(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p1, p2) = (platform(&r).await, platform(&r).await);
    let (a, b, c) = (
        tenant(&r, p1).await,
        tenant(&r, p1).await,
        tenant(&r, p2).await,
    );
    let host = format!("{}.shared.test", unique("d"));
    r.add_custom_domain(p1, a, &host).await.unwrap();
    for (p, t) in [(p1, b), (p2, c), (p1, a)] {
        let e = r
            .add_custom_domain(p, t, &host.to_uppercase())
            .await
            .unwrap_err();
        assert!(e.is_already_exists(), "{e:?}");
    }
    let e = r.remove_host(p2, &host).await.unwrap_err();
    assert!(
        e.is_not_found(),
        "another platform cannot release it: {e:?}"
    );
    r.remove_host(p1, &host).await.unwrap();
    r.add_custom_domain(p2, c, &host)
        .await
        .expect("claimable after removal");
}

/// Features are per tenant: set for one, off for another.
pub async fn features_are_evaluated_per_tenant(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let f = Feature {
        key: "billing.invoices".into(),
        version: 2,
        enabled: true,
        config: serde_json::json!({"currency": "EUR"}),
    };
    r.set_feature(p, a, &f).await.unwrap();
    let (sa, sb) = (scope(&r, p, a).await, scope(&r, p, b).await);
    assert!(r.is_enabled(&sa, "billing.invoices").await.unwrap());
    assert!(!r.is_enabled(&sb, "billing.invoices").await.unwrap());
    assert_eq!(
        r.feature(&sa, "billing.invoices").await.unwrap(),
        Some(f.clone())
    );
    r.set_feature(
        p,
        a,
        &Feature {
            enabled: false,
            ..f.clone()
        },
    )
    .await
    .unwrap();
    assert!(!r.is_enabled(&sa, "billing.invoices").await.unwrap());
    let other_p = platform(&r).await;
    assert!(
        r.set_feature(other_p, a, &f)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let bad = Feature {
        key: "Bad Key".into(),
        ..f
    };
    assert!(matches!(
        r.set_feature(p, a, &bad).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
}

/// Sub-tenants nest up to the limit; moves that would make a cycle or nest too
/// deep are refused.
pub async fn tenant_trees_have_a_depth_limit_and_no_cycles(stores: &Stores) {
    let clock = ManualClock::new();
    let r = Registry::open(
        stores.db.clone(),
        stores.kv.clone(),
        RegistryOptions::default()
            .with_clock(Arc::new(clock.clone()))
            .with_max_tenant_depth(2),
    )
    .await
    .unwrap();
    let p = platform(&r).await;
    let root = tenant(&r, p).await;
    let child = r
        .create_tenant(p, NewTenant::new(unique("c-"), "C").with_parent(root))
        .await
        .unwrap();
    assert_eq!(child.depth, 1);
    let grandchild = r
        .create_tenant(p, NewTenant::new(unique("g-"), "G").with_parent(child.id))
        .await
        .unwrap();
    assert_eq!(grandchild.depth, 2);
    let e = r
        .create_tenant(
            p,
            NewTenant::new(unique("x-"), "X").with_parent(grandchild.id),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    for target in [root, child.id, grandchild.id] {
        let e = r.reparent(p, root, Some(target)).await.unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }
    let other = tenant(&r, p).await;
    r.reparent(p, child.id, Some(other))
        .await
        .expect("moving a 2-level subtree under a top-level tenant fits");
    assert_eq!(r.tenant(p, grandchild.id).await.unwrap().depth, 2);
    let deep = r
        .create_tenant(p, NewTenant::new(unique("d-"), "D").with_parent(other))
        .await
        .unwrap();
    let e = r.reparent(p, child.id, Some(deep.id)).await.unwrap_err();
    assert!(e.to_string().contains("levels deep"), "{e}");
    r.reparent(p, child.id, None).await.unwrap();
    assert_eq!(r.tenant(p, child.id).await.unwrap().depth, 0);
    assert_eq!(r.tenant(p, grandchild.id).await.unwrap().depth, 1);
    let mut sub = r.subtree(p, child.id).await.unwrap();
    sub.sort();
    let mut want = vec![child.id, grandchild.id];
    want.sort();
    assert_eq!(sub, want);
}

/// Operator scopes write the audit log first, and the log refuses updates and
/// deletes.
pub async fn operator_scopes_are_audited_and_the_log_is_append_only(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    r.operator_scope(p, a, "support@neutrino", "ticket 4711")
        .await
        .unwrap();
    let log = r.audit_log(p).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == "operator_scope")
        .expect("audit entry");
    assert_eq!(
        (entry.actor.as_str(), entry.reason.as_str(), entry.tenant),
        ("support@neutrino", "ticket 4711", Some(a))
    );
    assert!(r.operator_scope(p, a, "", "no actor").await.is_err());
    assert!(r.operator_scope(p, a, "ops", " ").await.is_err());
    let upd = stores
        .db
        .execute(&Statement::new(
            r#"UPDATE "neutrino_audit_log" SET "reason" = 'edited'"#,
        ))
        .await;
    assert!(upd.is_err(), "updates are refused");
    let del = stores
        .db
        .execute(&Statement::new(r#"DELETE FROM "neutrino_audit_log""#))
        .await;
    assert!(del.is_err(), "deletes are refused");
    assert_eq!(r.audit_log(p).await.unwrap(), log);
}

/// The minter is given once; it refuses tenants of another platform and
/// suspended platforms.
pub async fn the_scope_minter_is_given_once_and_checks_tenants(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let minter = r.scope_minter().expect("first");
    assert!(matches!(
        r.scope_minter().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    let (p1, p2) = (platform(&r).await, platform(&r).await);
    let a = tenant(&r, p1).await;
    let s = minter.mint(p1, a).await.unwrap();
    assert_eq!((s.platform(), s.tenant()), (p1, a));
    assert!(minter.mint(p2, a).await.unwrap_err().is_not_found());
    assert!(
        minter
            .mint(p1, TenantId::generate())
            .await
            .unwrap_err()
            .is_not_found()
    );
    r.suspend(p1, "ops", "test").await.unwrap();
    assert!(matches!(
        minter.mint(p1, a).await.unwrap_err(),
        Error::Suspended { .. }
    ));
}
