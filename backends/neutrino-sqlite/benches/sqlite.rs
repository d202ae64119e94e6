//! Point selects through `SqliteExecutor` against raw rusqlite on the same file,
//! and `SqliteKv` gets. Targets: executor ≥ 100,000 selects/s from one async task
//! and ≥ 50% of raw rusqlite's rate; KV get ≥ 100,000/s.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use neutrino_core::kv::KvStore;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::{SqliteExecutor, SqliteKv};

const ROWS: i64 = 10_000;
const SELECT: &str = r#"SELECT "id", "name", "score" FROM "item" WHERE "id" = ?1"#;

fn point_select(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.sqlite");
    let db = rt.block_on(async {
        let db = SqliteExecutor::open(&path).await.unwrap();
        db.execute(&Statement::new(
            r#"CREATE TABLE "item" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "score" REAL NOT NULL)"#,
        ))
        .await
        .unwrap();
        let inserts: Vec<Statement> = (0..ROWS)
            .map(|i| {
                Statement::new(r#"INSERT INTO "item" ("id", "name", "score") VALUES (?1, ?2, ?3)"#)
                    .bind(i)
                    .bind(format!("item-{i}"))
                    .bind(i as f64 / 3.0)
            })
            .collect();
        db.batch(&inserts).await.unwrap();
        db
    });

    let mut g = c.benchmark_group("sqlite_point_select");
    g.throughput(Throughput::Elements(1));
    let mut i = 0_i64;
    g.bench_function("executor", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7919) % ROWS;
            let st = Statement::new(SELECT).bind(i);
            let db = &db;
            async move { black_box(db.query(&st).await.unwrap()) }
        })
    });

    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.set_prepared_statement_cache_capacity(128);
    let mut j = 0_i64;
    g.bench_function("raw_rusqlite", |b| {
        b.iter(|| {
            j = (j + 7919) % ROWS;
            let mut st = raw.prepare_cached(SELECT).unwrap();
            let row: (i64, String, f64) = st
                .query_row([j], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
            black_box(row)
        })
    });
    g.finish();

    let kv = rt.block_on(async {
        let kv = SqliteKv::open(db.clone(), "bench").await.unwrap();
        for k in 0..1000 {
            kv.put(&format!("key:{k}"), vec![7u8; 64].into(), None)
                .await
                .unwrap();
        }
        kv
    });
    let mut g = c.benchmark_group("sqlite_kv");
    g.throughput(Throughput::Elements(1));
    let mut k = 0_usize;
    let keys: Vec<String> = (0..1000).map(|k| format!("key:{k}")).collect();
    g.bench_function("get_present", |b| {
        b.to_async(&rt).iter(|| {
            k = (k + 17) % keys.len();
            let key = &keys[k];
            let kv = &kv;
            async move { black_box(kv.get(key).await.unwrap()) }
        })
    });
    g.finish();
}

criterion_group!(benches, point_select);
criterion_main!(benches);
