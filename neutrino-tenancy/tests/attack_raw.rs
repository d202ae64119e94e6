//! Attacks on `TenantStore::raw()` and the registry through the public API, on
//! a SQLite file: routes to tenanted data that do not name a guarded table, and
//! races on the registry's tenant tree.

mod common;

use std::sync::Arc;
use std::time::Duration;

use neutrino_core::Error;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::{SqliteExecutor, SqliteExecutorBuilder, SqliteKv};
use neutrino_tenancy::*;

use common::{platform, tenant};

struct Env {
    _dir: tempfile::TempDir,
    db: Arc<dyn SqlExecutor>,
    r: Registry,
    p: PlatformId,
    a: TenantId,
    b: TenantId,
}

async fn env() -> Env {
    env_with(|b| b).await
}

/// An environment whose executor is configured by `configure`.
async fn env_with(configure: impl FnOnce(SqliteExecutorBuilder) -> SqliteExecutorBuilder) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sqlite");
    let db: Arc<dyn SqlExecutor> = Arc::new(
        configure(SqliteExecutorBuilder::new(&path))
            .build()
            .await
            .unwrap(),
    );
    let kv = SqliteKv::open(SqliteExecutor::open(&path).await.unwrap(), "status")
        .await
        .unwrap();
    let r = Registry::open(db.clone(), Arc::new(kv), RegistryOptions::default())
        .await
        .unwrap();
    let p = platform(&r, "Victim").await;
    let a = tenant(&r, p, "attacker", "A").await;
    let b = tenant(&r, p, "victim", "B").await;
    Env {
        _dir: dir,
        db,
        r,
        p,
        a,
        b,
    }
}

fn notes() -> TenantTable {
    TenantTable::new("notes", &[("body", ColumnType::Text)]).unwrap()
}

async fn scope(e: &Env, t: TenantId) -> TenantScope {
    e.r.operator_scope(e.p, t, "attack", "test").await.unwrap()
}

/// A table named like a table-valued function the store and the registry call
/// (`json_each`) shadows it for every connection: the scoped list with
/// sub-tenants and `reparent` fail for every tenant of every platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_cannot_shadow_the_functions_the_store_and_registry_use() {
    for temp in ["", "TEMP "] {
        let e = env().await;
        let t = notes();
        let store = TenantStore::open(&e.r, e.db.clone(), vec![t.clone()])
            .await
            .unwrap();
        let sb = scope(&e, e.b).await;
        store
            .insert(&sb, &t, Record::new().set("body", "b"))
            .await
            .unwrap();
        let _ = store
            .raw()
            .execute(&Statement::new(format!(
                r#"CREATE {temp}TABLE json_each ("value" TEXT)"#
            )))
            .await;
        let _ = store
            .raw()
            .execute(&Statement::new(format!(
                r#"CREATE {temp}TABLE pragma_table_info ("name" TEXT)"#
            )))
            .await;
        let _ = store
            .raw()
            .batch(&[
                Statement::new(format!(r#"CREATE {temp}TABLE "shadow" ("value" TEXT)"#)),
                Statement::new(r#"ALTER TABLE "shadow" RENAME TO "JSON_EACH""#),
            ])
            .await;
        let q = ListQuery::new().including_subtenants();
        let listed = store.list(&sb, &t, &q).await;
        assert!(
            listed.is_ok(),
            "{temp}: the victim's list failed: {listed:?}"
        );
        let moved = e.r.reparent(e.p, e.b, Some(e.a)).await;
        assert!(moved.is_ok(), "{temp}: reparent failed: {moved:?}");
        let reopened = TenantStore::open(&e.r, e.db.clone(), vec![t.clone()]).await;
        assert!(reopened.is_ok(), "{temp}: reopen failed: {reopened:?}");
    }
}

/// A foreign-key action (ON DELETE CASCADE / SET NULL) from a free parent table
/// into a guarded child: deleting from the free table through raw() must not
/// delete or change tenanted rows. The host's adopted table declares the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_cannot_reach_guarded_rows_through_foreign_key_actions() {
    let e = env().await;
    // The host's own schema, before adopting the table as tenanted.
    e.db.execute(&Statement::new(
        r#"CREATE TABLE "folder" ("id" TEXT PRIMARY KEY)"#,
    ))
    .await
    .unwrap();
    e.db.execute(&Statement::new(
        r#"CREATE TABLE "notes" ("id" TEXT PRIMARY KEY, "platform_id" TEXT, "tenant_id" TEXT, "body" TEXT,
             "folder" TEXT DEFAULT 'inbox' REFERENCES "folder" ("id") ON DELETE CASCADE ON UPDATE CASCADE)"#,
    ))
    .await
    .unwrap();
    e.db.execute(&Statement::new(r#"INSERT INTO "folder" VALUES ('inbox')"#))
        .await
        .unwrap();
    let t = notes();
    let store = TenantStore::open(&e.r, e.db.clone(), vec![t.clone()])
        .await
        .unwrap();
    let sb = scope(&e, e.b).await;
    let id = store
        .insert(&sb, &t, Record::new().set("body", "b-secret"))
        .await
        .unwrap();
    let raw = store.raw();
    let upd = raw
        .execute(&Statement::new(
            r#"UPDATE "folder" SET "id" = 'moved' WHERE "id" = 'inbox'"#,
        ))
        .await;
    let del = raw
        .execute(&Statement::new(r#"DELETE FROM "folder""#))
        .await;
    let drop = raw.execute(&Statement::new(r#"DROP TABLE "folder""#)).await;
    let row = store.get(&sb, &t, &id).await;
    assert!(
        row.is_ok(),
        "the victim's row is gone: update {upd:?}, delete {del:?}, drop {drop:?}"
    );
}

/// A runaway statement through raw() must not hold the database's only writer
/// forever: other tenants' writes still complete (a short limit, so the test
/// is fast), and the runaway call gets a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_raw_statement_does_not_stop_other_tenants_writes() {
    let e = env_with(|b| b.with_guarded_time_limit(Some(Duration::from_millis(500)))).await;
    let t = notes();
    let store = TenantStore::open(&e.r, e.db.clone(), vec![t.clone()])
        .await
        .unwrap();
    store
        .raw()
        .execute(&Statement::new(r#"CREATE TABLE "free" ("v" INTEGER)"#))
        .await
        .unwrap();
    let raw = store.raw();
    let runaway = tokio::spawn(async move {
        raw.execute(&Statement::new(
            r#"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
               INSERT INTO "free" SELECT count(*) FROM c"#,
        ))
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Minting the scope writes too: it waits for the writer as well.
    let w = tokio::time::timeout(Duration::from_secs(10), async {
        let sb = scope(&e, e.b).await;
        store.insert(&sb, &t, Record::new().set("body", "b")).await
    })
    .await;
    assert!(
        matches!(w, Ok(Ok(_))),
        "the victim's write did not complete"
    );
    let r = tokio::time::timeout(Duration::from_secs(10), runaway)
        .await
        .expect("the runaway statement was never stopped")
        .unwrap();
    assert!(
        matches!(
            &r,
            Err(Error::InvalidInput {
                what: "sql statement",
                ..
            })
        ),
        "{r:?}"
    );
}

/// Two concurrent moves, each legal alone, must not make a cycle in the tenant
/// tree (A under B and B under A), nor nest deeper than the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reparents_never_make_a_cycle() {
    let e = env().await;
    for round in 0..40 {
        let x =
            e.r.create_tenant(e.p, NewTenant::new(format!("x{round}"), "X"))
                .await
                .unwrap()
                .id;
        let y =
            e.r.create_tenant(e.p, NewTenant::new(format!("y{round}"), "Y"))
                .await
                .unwrap()
                .id;
        let (r1, r2) = (e.r.clone(), e.r.clone());
        let p = e.p;
        let h1 = tokio::spawn(async move { r1.reparent(p, x, Some(y)).await });
        let h2 = tokio::spawn(async move { r2.reparent(p, y, Some(x)).await });
        let (o1, o2) = (h1.await.unwrap(), h2.await.unwrap());
        let tx = e.r.tenant(e.p, x).await.unwrap();
        let ty = e.r.tenant(e.p, y).await.unwrap();
        assert!(
            !(tx.parent == Some(y) && ty.parent == Some(x)),
            "round {round}: a cycle: {o1:?} {o2:?}"
        );
    }
}

/// Hostile raw text gets a typed error, never a panic, and nothing after a NUL
/// byte runs: NUL bytes, empty and comment-only text, huge statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bad_input_is_a_typed_error() {
    let e = env().await;
    let t = notes();
    let store = TenantStore::open(&e.r, e.db.clone(), vec![t.clone()])
        .await
        .unwrap();
    let raw = store.raw();
    for (sql, must_fail) in [
        ("SELECT 1\0; DROP TABLE notes".to_owned(), false),
        ("\0".to_owned(), false),
        (String::new(), false),
        ("   ".to_owned(), false),
        ("-- only a comment".to_owned(), false),
        // SQLite reads an unterminated comment as a comment to the end.
        ("/* unterminated".to_owned(), false),
        (format!("SELECT {}", "1 + ".repeat(200_000) + "1"), true),
        (
            format!("SELECT * FROM notes{}", " ".repeat(1_000_000)),
            true,
        ),
        (
            format!("SELECT * FROM {}notes", " ".repeat(1_000_000)),
            true,
        ),
    ] {
        let r = raw.query(&Statement::new(sql.clone())).await;
        if must_fail {
            assert!(r.is_err(), "{:.40}: {r:?}", sql);
        }
        if let Ok(rows) = &r {
            assert!(rows.len() <= 1, "{:.40}", sql);
        }
        let _ = raw.execute(&Statement::new(sql.clone())).await;
    }
    let sb = scope(&e, e.b).await;
    store
        .insert(&sb, &t, Record::new().set("body", "still works"))
        .await
        .unwrap();
}

/// Concurrent moves and sub-tenant creation never nest deeper than the limit,
/// and every stored depth matches the tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_moves_and_creates_keep_depths_true_and_within_the_limit() {
    let e = env().await;
    for round in 0..15 {
        // Two chains of two: r1 > c1 and r2 > c2 (depth limit is the default).
        let mk = |slug: String, parent: Option<TenantId>| {
            let r = e.r.clone();
            let p = e.p;
            async move {
                let mut n = NewTenant::new(slug, "T");
                if let Some(parent) = parent {
                    n = n.with_parent(parent);
                }
                r.create_tenant(p, n).await.unwrap().id
            }
        };
        let r1 = mk(format!("r1-{round}"), None).await;
        let c1 = mk(format!("c1-{round}"), Some(r1)).await;
        let r2 = mk(format!("r2-{round}"), None).await;
        let c2 = mk(format!("c2-{round}"), Some(r2)).await;
        let mut hs = Vec::new();
        for (i, (x, y)) in [(r1, Some(c2)), (r2, Some(c1)), (c1, Some(r2)), (c2, None)]
            .into_iter()
            .enumerate()
        {
            let r = e.r.clone();
            let p = e.p;
            hs.push(tokio::spawn(async move {
                let _ = r.reparent(p, x, y).await;
                let _ = r
                    .create_tenant(
                        p,
                        NewTenant::new(format!("n{i}-{round}"), "N").with_parent(x),
                    )
                    .await;
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        // Every tenant's depth is its parent's + 1, and within the limit.
        for t in e.r.tenants(e.p).await.unwrap() {
            let expect = match t.parent {
                Some(p) => e.r.tenant(e.p, p).await.unwrap().depth + 1,
                None => 0,
            };
            assert_eq!(t.depth, expect, "round {round}: {t:?}");
            assert!(t.depth <= 4, "{t:?}");
        }
    }
}

/// A SQL backend without an authorizer (as D1): the trait's default guarded
/// calls judge on the text. Real SQLite underneath, with foreign keys on.
#[derive(Debug)]
struct TextJudged(SqliteExecutor);

#[async_trait::async_trait]
impl SqlExecutor for TextJudged {
    async fn execute(
        &self,
        stmt: &Statement,
    ) -> neutrino_core::Result<neutrino_core::sql::ExecOutcome> {
        self.0.execute(stmt).await
    }
    async fn query(&self, stmt: &Statement) -> neutrino_core::Result<Vec<neutrino_core::sql::Row>> {
        self.0.query(stmt).await
    }
    async fn batch(
        &self,
        stmts: &[Statement],
    ) -> neutrino_core::Result<Vec<neutrino_core::sql::ExecOutcome>> {
        self.0.batch(stmts).await
    }
}

/// On a backend that judges raw SQL on its text (D1), a foreign-key action
/// from the host's free parent table into an adopted tenanted table reaches
/// tenanted rows without naming them: the parent must be guarded too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn text_judged_raw_cannot_reach_guarded_rows_through_foreign_key_actions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d1.sqlite");
    let db: Arc<dyn SqlExecutor> = Arc::new(TextJudged(SqliteExecutor::open(&path).await.unwrap()));
    let r = Registry::open(
        db.clone(),
        Arc::new(neutrino_core::memory::MemoryKv::new()),
        RegistryOptions::default(),
    )
    .await
    .unwrap();
    let p = platform(&r, "Victim").await;
    let b = tenant(&r, p, "victim", "B").await;
    db.execute(&Statement::new(
        r#"CREATE TABLE "folder" ("id" TEXT PRIMARY KEY)"#,
    ))
    .await
    .unwrap();
    db.execute(&Statement::new(
        r#"CREATE TABLE "notes" ("id" TEXT PRIMARY KEY, "platform_id" TEXT, "tenant_id" TEXT, "body" TEXT,
             "folder" TEXT DEFAULT 'inbox' REFERENCES "folder" ("id") ON DELETE CASCADE ON UPDATE CASCADE)"#,
    ))
    .await
    .unwrap();
    db.execute(&Statement::new(r#"INSERT INTO "folder" VALUES ('inbox')"#))
        .await
        .unwrap();
    let t = notes();
    let store = TenantStore::open(&r, db.clone(), vec![t.clone()])
        .await
        .unwrap();
    let sb = r.operator_scope(p, b, "attack", "test").await.unwrap();
    let id = store
        .insert(&sb, &t, Record::new().set("body", "b-secret"))
        .await
        .unwrap();
    let del = store
        .raw()
        .execute(&Statement::new(r#"DELETE FROM "folder""#))
        .await;
    let row = store.get(&sb, &t, &id).await;
    assert!(row.is_ok(), "the victim's row is gone: delete {del:?}");
}

/// A copy of the registry database (a backup restored beside the original, a
/// test fixture) carries the original's instance ID: in one process the two
/// databases must still not share one status cache and one minter, or a
/// platform suspended in the copy reads active there, and a scope is minted
/// for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_registry_database_does_not_share_status_with_the_original() {
    let e = env().await;
    e.r.suspend(e.p, "ops", "copy").await.unwrap();
    let copy = e._dir.path().join("copy.sqlite");
    e.db.execute(&Statement::new(format!(
        "VACUUM INTO '{}'",
        copy.to_string_lossy().replace('\'', "''")
    )))
    .await
    .unwrap();
    e.r.reinstate(e.p, "ops", "original only").await.unwrap();
    // Warm the status cache through the original: active there.
    assert_eq!(
        e.r.platform_status(e.p).await.unwrap(),
        PlatformStatus::Active
    );
    let db2: Arc<dyn SqlExecutor> = Arc::new(SqliteExecutor::open(&copy).await.unwrap());
    let r2 = Registry::open(
        db2,
        Arc::new(neutrino_core::memory::MemoryKv::new()),
        RegistryOptions::default(),
    )
    .await
    .unwrap();
    // In the copy the platform is suspended.
    assert_eq!(
        r2.platform_status(e.p).await.unwrap(),
        PlatformStatus::Suspended
    );
    let minter = r2.scope_minter().expect("the copy's own minter");
    assert!(matches!(
        minter.mint(e.p, e.b).await,
        Err(Error::Suspended { .. })
    ));
}

/// `VACUUM INTO` a file beside the original's: the copy.
async fn copy_of(
    db: &Arc<dyn SqlExecutor>,
    dir: &std::path::Path,
    name: &str,
) -> std::path::PathBuf {
    let copy = dir.join(name);
    db.execute(&Statement::new(format!(
        "VACUUM INTO '{}'",
        copy.to_string_lossy().replace('\'', "''")
    )))
    .await
    .unwrap();
    copy
}

async fn open_registry(db: Arc<dyn SqlExecutor>) -> Registry {
    Registry::open(
        db,
        Arc::new(neutrino_core::memory::MemoryKv::new()),
        RegistryOptions::default(),
    )
    .await
    .unwrap()
}

async fn open_file(path: &std::path::Path) -> Registry {
    open_registry(Arc::new(SqliteExecutor::open(path).await.unwrap())).await
}

/// The copy is opened first (no handle on the original is alive), the original
/// after it: the original must not take the copy's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_opened_after_its_copy_does_not_share_with_it() {
    let e = env().await;
    e.r.suspend(e.p, "ops", "copy").await.unwrap();
    let copy = copy_of(&e.db, e._dir.path(), "copy.sqlite").await;
    e.r.reinstate(e.p, "ops", "original only").await.unwrap();
    let (p, b, dir) = (e.p, e.b, e._dir);
    drop((e.r, e.db));
    let rc = open_file(&copy).await;
    assert_eq!(
        rc.platform_status(p).await.unwrap(),
        PlatformStatus::Suspended
    );
    let copy_minter = rc.scope_minter().expect("the copy's minter");
    let ro = open_file(&dir.path().join("app.sqlite")).await;
    assert_eq!(ro.platform_status(p).await.unwrap(), PlatformStatus::Active);
    let minter = ro.scope_minter().expect("the original's own minter");
    assert!(minter.mint(p, b).await.is_ok());
    assert!(matches!(
        copy_minter.mint(p, b).await,
        Err(Error::Suspended { .. })
    ));
    // A suspension of the original is seen at once by a second handle on it,
    // not by the copy's.
    let ro2 = open_file(&dir.path().join("app.sqlite")).await;
    assert!(ro2.scope_minter().is_err(), "one minter per database");
    rc.reinstate(p, "ops", "copy only").await.unwrap();
    assert_eq!(rc.platform_status(p).await.unwrap(), PlatformStatus::Active);
    ro2.suspend(p, "ops", "original").await.unwrap();
    assert_eq!(
        ro.platform_status(p).await.unwrap(),
        PlatformStatus::Suspended
    );
    assert_eq!(rc.platform_status(p).await.unwrap(), PlatformStatus::Active);
}

/// An original, two copies of it and a copy of a copy, each opened by several
/// handles at once on executors of their own: handles on one database share
/// one minter and one status cache, handles on different ones share nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_of_an_original_and_its_copies_group_by_database() {
    let e = env().await;
    let dir = e._dir.path().to_owned();
    let c1 = copy_of(&e.db, &dir, "c1.sqlite").await;
    let c2 = copy_of(&e.db, &dir, "c2.sqlite").await;
    let c3 = {
        let db: Arc<dyn SqlExecutor> = Arc::new(SqliteExecutor::open(&c1).await.unwrap());
        copy_of(&db, &dir, "c3.sqlite").await
    };
    let (p, dir_guard) = (e.p, e._dir);
    drop((e.r, e.db));
    let original = dir.join("app.sqlite");
    // Half the rounds keep a handle on the original open throughout.
    for round in 0..4 {
        let keep = if round % 2 == 0 {
            None
        } else {
            Some(open_file(&original).await)
        };
        let paths = [original.clone(), c1.clone(), c2.clone(), c3.clone()];
        let mut tasks = Vec::new();
        for _ in 0..3 {
            for (i, path) in paths.iter().enumerate() {
                let path = path.clone();
                tasks.push(tokio::spawn(async move { (i, open_file(&path).await) }));
            }
        }
        let mut handles: Vec<Vec<Registry>> = vec![Vec::new(); 4];
        for t in tasks {
            let (i, r) = t.await.unwrap();
            handles[i].push(r);
        }
        // One minter per database, whichever handle asks first.
        for (i, hs) in handles.iter().enumerate() {
            let given = hs.iter().filter(|r| r.scope_minter().is_ok()).count()
                + usize::from(i == 0 && keep.as_ref().is_some_and(|k| k.scope_minter().is_ok()));
            assert_eq!(given, 1, "round {round}: database {i} gave {given} minters");
        }
        // A suspension in one database is seen at once by its other handles
        // and by no other database's.
        for i in 0..4 {
            for hs in &handles {
                for r in hs {
                    assert_eq!(r.platform_status(p).await.unwrap(), PlatformStatus::Active);
                }
            }
            handles[i][0].suspend(p, "ops", "one").await.unwrap();
            for (j, hs) in handles.iter().enumerate() {
                let want = if i == j {
                    PlatformStatus::Suspended
                } else {
                    PlatformStatus::Active
                };
                for r in hs {
                    assert_eq!(
                        r.platform_status(p).await.unwrap(),
                        want,
                        "round {round}: suspended {i}, read {j}"
                    );
                }
            }
            handles[i][1].reinstate(p, "ops", "one").await.unwrap();
            assert_eq!(
                handles[i][2].platform_status(p).await.unwrap(),
                PlatformStatus::Active
            );
        }
        drop(keep);
    }
    drop(dir_guard);
}

/// In-memory databases: a copy made into a file from an in-memory original,
/// and an in-memory database given another one's instance ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_registries_and_their_copies_do_not_share() {
    let dir = tempfile::tempdir().unwrap();
    let mem: Arc<dyn SqlExecutor> = Arc::new(SqliteExecutor::memory().await.unwrap());
    let r = open_registry(mem.clone()).await;
    let p = platform(&r, "Victim").await;
    r.suspend(p, "ops", "copy").await.unwrap();
    let copy = copy_of(&mem, dir.path(), "copy.sqlite").await;
    r.reinstate(p, "ops", "original only").await.unwrap();
    assert_eq!(r.platform_status(p).await.unwrap(), PlatformStatus::Active);
    let _minter = r.scope_minter().unwrap();
    let rc = open_file(&copy).await;
    assert_eq!(
        rc.platform_status(p).await.unwrap(),
        PlatformStatus::Suspended
    );
    assert!(rc.scope_minter().is_ok(), "the copy's own minter");
    // The same in-memory database through a second handle shares.
    let r2 = open_registry(mem.clone()).await;
    assert!(r2.scope_minter().is_err());

    // A second in-memory database carrying the first one's instance ID.
    let id_of = |db: Arc<dyn SqlExecutor>| async move {
        db.query(&Statement::new(
            r#"SELECT "id" FROM "neutrino_registry_instance""#,
        ))
        .await
        .unwrap()[0]
            .get::<String>("id")
            .unwrap()
    };
    let id = id_of(mem.clone()).await;
    let other: Arc<dyn SqlExecutor> = Arc::new(SqliteExecutor::memory().await.unwrap());
    drop(open_registry(other.clone()).await);
    other
        .execute(
            &Statement::new(r#"UPDATE "neutrino_registry_instance" SET "id" = ?1"#)
                .bind(id.as_str()),
        )
        .await
        .unwrap();
    let ro = open_registry(other.clone()).await;
    assert_eq!(id_of(other.clone()).await, id);
    assert!(ro.scope_minter().is_ok(), "the other database's own minter");
    assert!(matches!(
        ro.platform_status(p).await,
        Err(ref e) if e.is_not_found()
    ));
    assert_eq!(r.platform_status(p).await.unwrap(), PlatformStatus::Active);
}
