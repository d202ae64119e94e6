//! Scoped get-by-ID against the same hand-written query (target: ≤ 1.2× its
//! cost), a point select through `TenantStore::raw` against the executor
//! (target: within 10%), and host resolution warm (target: ≥ 1,000,000/s) and cold with 100 and
//! 100,000 tenants (target: the larger within 2× of the smaller).
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use neutrino_core::memory::MemoryKv;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::{SqliteExecutor, SqliteExecutorBuilder};
use neutrino_tenancy::testkit::{
    insert_items, item_table, memory_kv_registry, platform_with_tenant,
};
use neutrino_tenancy::*;

fn scoped_get(c: &mut Criterion) {
    let rt = neutrino_core::testkit::current_thread_runtime();
    let dir = tempfile::tempdir().unwrap();
    let (db, store, table, scope, ids) = rt.block_on(async {
        let db = Arc::new(
            SqliteExecutor::open(dir.path().join("bench.sqlite"))
                .await
                .unwrap(),
        );
        let registry = memory_kv_registry(db.clone()).await;
        let (p, t) = platform_with_tenant(&registry, "Bench", ("bench", "Bench")).await;
        let table = item_table();
        let store = TenantStore::open(&registry, db.clone(), vec![table.clone()])
            .await
            .unwrap();
        let scope = registry
            .operator_scope(p, t, "bench", "bench")
            .await
            .unwrap();
        let ids = insert_items(&store, &scope, &table, 1000).await;
        (db, store, table, scope, ids)
    });
    let mut g = c.benchmark_group("tenancy_get_by_id");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("scoped_store_get", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % ids.len();
            let (store, table, scope, id) = (&store, &table, &scope, &ids[i]);
            async move { black_box(store.get(scope, table, id).await.unwrap()) }
        })
    });
    let sql: Arc<str> =
        r#"SELECT * FROM "item" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "id" = ?3"#
            .into();
    let mut j = 0;
    g.bench_function("hand_written_query", |b| {
        b.to_async(&rt).iter(|| {
            j = (j + 7) % ids.len();
            let st = Statement::new(Arc::clone(&sql))
                .bind(scope.platform().as_str())
                .bind(scope.tenant().as_str())
                .bind(ids[j].as_str());
            let db = &db;
            async move { black_box(db.query(&st).await.unwrap()) }
        })
    });
    g.finish();

    // Raw SQL through the store's guard (SQLite's authorizer) against the same
    // point select on the executor itself, on an untenanted table. The
    // hand-off spinning is off for this pair: on a loaded machine a spinning
    // waiter takes the core its connection thread needs, and the times then
    // measure the scheduler rather than the guard.
    let (db, store) = rt.block_on(async {
        let db = Arc::new(
            SqliteExecutorBuilder::new(dir.path().join("raw.sqlite"))
                .with_handoff_spin(Duration::ZERO, Duration::ZERO)
                .build()
                .await
                .unwrap(),
        );
        let registry = memory_kv_registry(db.clone()).await;
        let store = TenantStore::open(&registry, db.clone(), vec![table.clone()])
            .await
            .unwrap();
        db.execute(&Statement::new(
            r#"CREATE TABLE "memo" ("id" INTEGER PRIMARY KEY, "v" TEXT)"#,
        ))
        .await
        .unwrap();
        db.execute(&Statement::new(
            r#"WITH RECURSIVE "c" ("i") AS (SELECT 1 UNION ALL SELECT "i" + 1 FROM "c" WHERE "i" < 1000)
               INSERT INTO "memo" SELECT "i", 'memo ' || "i" FROM "c""#,
        ))
        .await
        .unwrap();
        (db, store)
    });
    let raw = store.raw();
    let memo: Arc<str> = r#"SELECT "v" FROM "memo" WHERE "id" = ?1"#.into();
    let mut g = c.benchmark_group("tenancy_raw_point_select");
    g.throughput(Throughput::Elements(1));
    for (name, guarded) in [("executor", false), ("guarded_raw", true)] {
        let mut k = 0_i64;
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                k = (k + 7) % 1000 + 1;
                let st = Statement::new(Arc::clone(&memo)).bind(k);
                let (db, raw) = (&db, &raw);
                async move {
                    let rows = if guarded {
                        raw.query(&st).await
                    } else {
                        db.query(&st).await
                    };
                    black_box(rows.unwrap())
                }
            })
        });
    }
    g.finish();
}

/// A registry whose platform has `n` tenants, each with a default host.
async fn hosts_registry(dir: &std::path::Path, n: i64, cache: Duration) -> Registry {
    let db = Arc::new(
        SqliteExecutor::open(dir.join(format!("hosts-{n}-{}.sqlite", cache.as_secs())))
            .await
            .unwrap(),
    );
    let registry = Registry::open(
        db.clone(),
        Arc::new(MemoryKv::new()),
        RegistryOptions::default().with_host_cache(cache, 1_000_000),
    )
    .await
    .unwrap();
    let p = registry
        .create_platform(
            NewPlatform::new("Hosts", PlatformClass::Platform).with_app_domain("app.example.com"),
        )
        .await
        .unwrap()
        .id;
    let rows = r#"WITH RECURSIVE "c" ("i") AS (SELECT 1 UNION ALL SELECT "i" + 1 FROM "c" WHERE "i" < ?2)"#;
    db.batch(&[
        Statement::new(format!(
            r#"{rows} INSERT INTO "neutrino_tenant" ("platform_id", "id", "slug", "name", "parent_id", "depth", "created_at", "updated_at")
               SELECT ?1, printf('%032d', "i"), 't' || "i", 'tenant', NULL, 0, 0, 0 FROM "c""#
        ))
        .bind(p.as_str())
        .bind(n),
        Statement::new(format!(
            r#"{rows} INSERT INTO "neutrino_host" ("host", "platform_id", "tenant_id", "kind", "status", "created_at", "updated_at")
               SELECT 't' || "i" || '.app.example.com', ?1, printf('%032d', "i"), 'default', 'active', 0, 0 FROM "c""#
        ))
        .bind(p.as_str())
        .bind(n),
    ])
    .await
    .unwrap();
    registry
}

fn resolve(c: &mut Criterion) {
    let rt = neutrino_core::testkit::current_thread_runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("tenancy_resolve");
    g.throughput(Throughput::Elements(1));

    let warm = rt.block_on(hosts_registry(dir.path(), 100, Duration::from_secs(3600)));
    let hosts: Vec<String> = (1..=100).map(|i| format!("t{i}.app.example.com")).collect();
    rt.block_on(async {
        for h in &hosts {
            assert!(warm.resolve(h).await.unwrap().is_some());
        }
    });
    let mut i = 0;
    g.bench_function("warm_cache", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % hosts.len();
            let (r, h) = (&warm, &hosts[i]);
            async move { black_box(r.resolve(h).await.unwrap()) }
        })
    });

    for n in [100_i64, 100_000] {
        let cold = rt.block_on(hosts_registry(dir.path(), n, Duration::ZERO));
        let mut k = 0_i64;
        g.bench_function(format!("cold_{n}_tenants"), |b| {
            b.to_async(&rt).iter(|| {
                k = (k + 7919) % n + 1;
                let host = format!("t{k}.app.example.com");
                let r = &cold;
                async move { black_box(r.resolve(&host).await.unwrap().expect("known host")) }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, scoped_get, resolve);
criterion_main!(benches);
