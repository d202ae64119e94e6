//! The Cloudflare adapters against the contract-checking fake of the v4 API
//! (the tests' fake, included from `tests/fake`), on 127.0.0.1:
//!
//! * `d1_query`: `D1Executor::query` of a one-row, one-parameter statement,
//!   against the same request made with plain reqwest (send, read the body, no
//!   decoding). The difference is the adapter's own cost per query (encode,
//!   envelope and rows decoded, retry and rate-limit bookkeeping); target
//!   < 50 µs at p50. Besides criterion's estimates, a p50 of each over 2,000
//!   sequential calls is printed.
//! * how many TCP connections 1,000 sequential queries open (the fake counts
//!   the connections it accepts): one on a single-threaded runtime, a few on
//!   this two-thread one, where reqwest's pool can miss a connection that is
//!   just going back to it (`tests/client.rs` asserts the single-threaded 1).
//! * `stack_100ms_per_call`: a stack's three resources (a D1 database, an R2
//!   bucket, a KV namespace) created by `CloudflareProvisioner` with 100 ms of
//!   latency added to every API call, concurrently as tenancy provisioning runs
//!   a stack's independent steps, against one after another. Each create is a
//!   lookup and a create (two calls), so the critical path is 2 × 100 ms and the
//!   sum 6 × 100 ms.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

#[path = "../tests/fake/mod.rs"]
mod fake;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fake::{FakeCloudflare, TOKEN};
use neutrino_cloudflare::{CloudflareProvisionerBuilder, D1Executor};
use neutrino_core::provision::{Provisioner, ResourceKind, ResourceSpec};
use neutrino_core::sql::{SqlExecutor, Statement};
use serde_json::json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A client whose rate limiter never waits (the default allows 1,200 requests
/// in five minutes, Cloudflare's account limit, which a benchmark passes).
fn unlimited(fake: &FakeCloudflare) -> neutrino_cloudflare::CloudflareClient {
    fake.client_builder()
        .with_rate_limit(u32::MAX, Duration::from_millis(1))
        .build()
        .unwrap()
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn d1_query(c: &mut Criterion) {
    let rt = runtime();
    let (fake, db, db_id) = rt.block_on(async {
        let fake = FakeCloudflare::start().await;
        let id = fake.create_database("bench-db");
        let db = D1Executor::new(unlimited(&fake), id.clone());
        (fake, db, id)
    });
    let stmt = Statement::new(r#"SELECT ?1 AS "n""#).bind(7_i64);
    let http = reqwest::Client::new();
    let url = format!(
        "{}/accounts/{}/d1/database/{db_id}/raw",
        fake.base_url,
        fake.account_id()
    );
    let body = json!({"sql": r#"SELECT ?1 AS "n""#, "params": [7]});
    let adapter = || async {
        let rows = db.query(&stmt).await.unwrap();
        assert_eq!(rows.len(), 1);
        black_box(rows);
    };
    let raw = || async {
        let r = http
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        black_box(r.bytes().await.unwrap());
    };

    // p50 over sequential calls, interleaved so both see the same machine.
    let conns = fake.connections();
    let (mut a, mut r) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for _ in 0..200 {
            adapter().await;
            raw().await;
        }
        for _ in 0..2000 {
            let t = Instant::now();
            adapter().await;
            a.push(t.elapsed());
            let t = Instant::now();
            raw().await;
            r.push(t.elapsed());
        }
    });
    let (pa, pr) = (p50(a), p50(r));
    eprintln!(
        "d1_query p50: D1Executor {pa:?}, plain reqwest {pr:?}, adapter overhead {:?}",
        pa.saturating_sub(pr)
    );
    eprintln!(
        "d1_query: {} connection(s) for 4,400 calls of two clients",
        fake.connections() - conns
    );

    let mut g = c.benchmark_group("d1_query");
    g.bench_function("D1Executor::query", |b| b.to_async(&rt).iter(adapter));
    g.bench_function("plain reqwest", |b| b.to_async(&rt).iter(raw));
    g.finish();
    eprintln!(
        "d1_query: {} connection(s) in all so far",
        fake.connections()
    );

    // 1,000 sequential queries on a fresh client: one connection.
    let before = fake.connections();
    let fresh = D1Executor::new(unlimited(&fake), db_id.clone());
    rt.block_on(async {
        for _ in 0..1000 {
            fresh.query(&stmt).await.unwrap();
        }
    });
    eprintln!(
        "d1_query: 1,000 sequential queries opened {} connection(s)",
        fake.connections() - before
    );
    drop(fake);
}

fn stack_100ms_per_call(c: &mut Criterion) {
    let rt = runtime();
    let fake = rt.block_on(FakeCloudflare::start());
    fake.set_latency(Duration::from_millis(100));
    let p = CloudflareProvisionerBuilder::new(unlimited(&fake))
        .build()
        .unwrap();
    let n = AtomicU64::new(0);
    let specs = || {
        let i = n.fetch_add(1, Ordering::Relaxed);
        [
            ResourceSpec::new(ResourceKind::Database, format!("bench-{i}-db")),
            ResourceSpec::new(ResourceKind::Bucket, format!("bench-{i}-storage")),
            ResourceSpec::new(ResourceKind::KvNamespace, format!("bench-{i}-kv")),
        ]
    };
    let mut g = c.benchmark_group("stack_100ms_per_call");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("concurrent", |b| {
        b.to_async(&rt).iter(|| async {
            let [d, r, k] = specs();
            let (d, r, k) = tokio::join!(p.create(&d), p.create(&r), p.create(&k));
            black_box((d.unwrap(), r.unwrap(), k.unwrap()));
        })
    });
    g.sample_size(10);
    g.bench_function("one after another", |b| {
        b.to_async(&rt).iter(|| async {
            for s in specs() {
                black_box(p.create(&s).await.unwrap());
            }
        })
    });
    g.finish();
    drop(fake);
}

criterion_group!(benches, d1_query, stack_100ms_per_call);
criterion_main!(benches);
