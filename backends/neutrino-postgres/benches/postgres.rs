//! PostgreSQL benchmarks, row-level security off (issue 17 §5):
//!
//! * a scoped get by ID through `TenantStore` (as an application role that
//!   row-level security holds, as the store always runs on PostgreSQL: the
//!   statement bound to the scope's tenant) against the same query through
//!   plain tokio-postgres with a prepared statement (target: ≤ 1.2× its cost),
//!   and, in the interleaved comparison, the same query through the executor
//!   and through plain tokio-postgres at the executor's isolation level
//!   (serializable), to show where a difference goes;
//! * a batch of 5 statements against a single statement (target: close to one
//!   round trip), and against the 5 run one by one;
//! * uncached `Auth::get_session` in process (target: ≥ 20,000/s), one call at
//!   a time and with 16 in flight, and the same query through plain
//!   tokio-postgres, 16 in flight pipelined on one connection.
//!
//! `cargo bench -p neutrino-postgres --bench postgres` with
//! `NEUTRINO_TEST_POSTGRES_URL` set (`eval "$(scripts/postgres start)"` starts a
//! throwaway server and sets it); without it the bench says so and exits 0.
//! Everything runs in a schema of its own, dropped at the end.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use futures_util::stream::{self, StreamExt};
use neutrino_auth::AuthBuilder;
use neutrino_auth::testkit::seed_sessions;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_postgres::PostgresExecutor;
use neutrino_tenancy::TenantStore;
use neutrino_tenancy::testkit::{
    insert_items, item_table, memory_kv_registry, platform_with_tenant,
};
use tokio::runtime::Runtime;

/// The query a scoped get runs, in PostgreSQL's terms.
const PLAIN_GET: &str =
    r#"SELECT * FROM "item" WHERE "platform_id" = $1 AND "tenant_id" = $2 AND "id" = $3"#;
const SECRET: &str = "benchmark-secret-0123456789abcdef012345";
const ROWS: usize = 1000;
/// The statement an uncached `get_session` runs, in PostgreSQL's terms.
const PLAIN_SESSION: &str = r#"SELECT s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt", u."banned", u."banExpires", s."impersonatedBy" FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = $1"#;
/// Calls in flight in the concurrent `get_session` case.
const IN_FLIGHT: usize = 16;

fn url() -> Option<String> {
    std::env::var("NEUTRINO_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `url` with its user replaced by `role` (the throwaway server trusts local
/// connections: no password).
fn url_as(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

/// Whether the command line's filter (criterion's positional argument) may
/// select a bench of `group`: its set-up is skipped otherwise.
fn selected(group: &str) -> bool {
    let mut args = std::env::args().skip(1).peekable();
    let mut filter = None;
    while let Some(a) = args.next() {
        if a.starts_with('-') {
            // A flag's value is its next argument, unless that is a flag.
            if !matches!(a.as_str(), "--bench" | "--test" | "--list" | "--exact")
                && args.peek().is_some_and(|v| !v.starts_with('-'))
            {
                args.next();
            }
        } else {
            filter = Some(a);
        }
    }
    filter.is_none_or(|f| group.contains(&f) || f.contains(group))
}

/// Rounds and calls per block of the interleaved comparisons.
const ROUNDS: usize = 15;
const BLOCK: usize = 300;

/// Runs each case in turn, a block of `BLOCK` calls at a time, for `ROUNDS`
/// rounds, so that a neighbour's load on a shared machine hits all alike;
/// prints each case's median time per call and its ratio to the first case.
/// One case of [`interleaved`]: its name, and its call for the k-th time.
type Case<'a> = (
    &'a str,
    Box<dyn FnMut(usize) -> futures_util::future::BoxFuture<'a, ()> + 'a>,
);

/// Prints a ratio of the interleaved medians against its target.
fn against_target(what: &str, ratio: f64, target: f64) {
    let verdict = if ratio <= target { "met" } else { "MISSED" };
    println!("  target: {what}: {ratio:.2}× (target ≤ {target}×): {verdict}");
}

fn interleaved(rt: &Runtime, title: &str, cases: &mut [Case<'_>]) -> Vec<f64> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (n, (_, call)) in cases.iter_mut().enumerate() {
            let start = Instant::now();
            rt.block_on(async {
                for k in 0..BLOCK {
                    call(k).await;
                }
            });
            times[n].push(start.elapsed().as_secs_f64() * 1e6 / BLOCK as f64);
        }
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let first = median(&mut times[0]);
    println!("{title} (interleaved, median of {ROUNDS} rounds of {BLOCK} calls):");
    let mut medians = Vec::with_capacity(cases.len());
    for (n, (name, _)) in cases.iter().enumerate() {
        let us = median(&mut times[n]);
        println!(
            "  {name:<40} {us:>8.1} µs/call {:>9.0}/s  {:.2}× the first",
            1e6 / us,
            us / first
        );
        medians.push(us);
    }
    medians
}

/// A schema of its own, dropped when this is.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    async fn create(url: &str) -> Self {
        let name = format!("bench-{}", std::process::id());
        let admin = PostgresExecutor::connect(url).await.unwrap();
        for sql in [
            format!(r#"DROP SCHEMA IF EXISTS "{name}" CASCADE"#),
            format!(r#"CREATE SCHEMA "{name}""#),
        ] {
            admin.execute(&Statement::new(sql)).await.unwrap();
        }
        Self {
            url: url.to_owned(),
            name,
        }
    }

    async fn executor(&self) -> PostgresExecutor {
        PostgresExecutor::builder(&self.url)
            .unwrap()
            .schema(&self.name)
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A plain tokio-postgres client on the schema.
    async fn plain_client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!(r#"SET search_path TO "{}""#, self.name))
            .await
            .unwrap();
        client
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            neutrino_core::testkit::current_thread_runtime().block_on(async {
                if let Ok(db) = PostgresExecutor::connect(&url).await {
                    let sql = format!(r#"DROP SCHEMA IF EXISTS "{name}" CASCADE"#);
                    let _ = db.execute(&Statement::new(sql)).await;
                    // The store's role of the scoped get, if made.
                    let role = format!("{name}-app");
                    let _ = db
                        .batch(&[
                            Statement::new(format!(r#"DROP OWNED BY "{role}" CASCADE"#)),
                            Statement::new(format!(r#"DROP ROLE "{role}""#)),
                        ])
                        .await;
                }
            })
        })
        .join();
    }
}

fn scoped_get(c: &mut Criterion) {
    let Some(url) = url().filter(|_| selected("postgres_get_by_id")) else {
        return;
    };
    let rt = neutrino_core::testkit::current_thread_runtime();
    let (schema, db, store, table, scope, ids, plain, prepared) = rt.block_on(async {
        let schema = Schema::create(&url).await;
        let db = Arc::new(schema.executor().await);
        let registry = memory_kv_registry(db.clone()).await;
        let (p, t) = platform_with_tenant(&registry, "Bench", ("bench", "Bench")).await;
        let table = item_table();
        // On PostgreSQL the store runs as a role that row-level security
        // holds (`TenantStore::open` refuses any other): the tables are the
        // schema owner's, the store's role has row grants only.
        TenantStore::migrate(&*db, std::slice::from_ref(&table))
            .await
            .unwrap();
        let app_role = format!("{}-app", schema.name);
        db.batch(&[
            Statement::new(format!(
                r#"CREATE ROLE "{app_role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"#
            )),
            Statement::new(format!(
                r#"GRANT USAGE ON SCHEMA "{}" TO "{app_role}""#,
                schema.name
            )),
            Statement::new(format!(
                r#"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{}" TO "{app_role}""#,
                schema.name
            )),
        ])
        .await
        .unwrap();
        let app = PostgresExecutor::builder(&url_as(&url, &app_role))
            .unwrap()
            .schema(&schema.name)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let store = TenantStore::open(&registry, Arc::new(app), vec![table.clone()])
            .await
            .unwrap();
        let scope = registry
            .operator_scope(p, t, "bench", "bench")
            .await
            .unwrap();
        let ids = insert_items(&store, &scope, &table, ROWS as i64).await;
        let plain = schema.plain_client().await;
        let prepared = plain.prepare(PLAIN_GET).await.unwrap();
        (schema, db, store, table, scope, ids, plain, prepared)
    });
    let sql: Arc<str> =
        r#"SELECT * FROM "item" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "id" = ?3"#
            .into();
    let (platform, tenant) = (scope.platform().to_string(), scope.tenant().to_string());
    let (serializable, prepared_serializable) = rt.block_on(async {
        let c = schema.plain_client().await;
        c.batch_execute("SET default_transaction_isolation = serializable")
            .await
            .unwrap();
        let p = c.prepare(PLAIN_GET).await.unwrap();
        (c, p)
    });
    {
        let id = |k: usize| ids[(k * 7) % ids.len()].as_str();
        let (store, table, scope, db, sql) = (&store, &table, &scope, &db, &sql);
        let (pl, te) = (platform.as_str(), tenant.as_str());
        let (rc, ser) = ((&plain, &prepared), (&serializable, &prepared_serializable));
        let t = interleaved(
            &rt,
            "get by ID",
            &mut [
                (
                    "plain tokio-postgres (read committed)",
                    Box::new(move |k| {
                        let id = id(k);
                        Box::pin(async move {
                            black_box(rc.0.query_one(rc.1, &[&pl, &te, &id]).await.unwrap());
                        })
                    }),
                ),
                (
                    "TenantStore::get (scoped, RLS on)",
                    Box::new(move |k| {
                        Box::pin(async move {
                            black_box(store.get(scope, table, id(k)).await.unwrap());
                        })
                    }),
                ),
                (
                    "PostgresExecutor::query, same SQL",
                    Box::new(move |k| {
                        let st = Statement::new(Arc::clone(sql))
                            .bind(pl)
                            .bind(te)
                            .bind(id(k));
                        Box::pin(async move {
                            black_box(db.query(&st).await.unwrap());
                        })
                    }),
                ),
                (
                    "plain tokio-postgres (serializable)",
                    Box::new(move |k| {
                        let id = id(k);
                        Box::pin(async move {
                            black_box(ser.0.query_one(ser.1, &[&pl, &te, &id]).await.unwrap());
                        })
                    }),
                ),
            ],
        );
        against_target(
            "TenantStore::get / plain tokio-postgres (read committed)",
            t[1] / t[0],
            1.2,
        );
        against_target(
            "PostgresExecutor::query / plain tokio-postgres (read committed)",
            t[2] / t[0],
            1.2,
        );
    }
    let mut g = c.benchmark_group("postgres_get_by_id");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("scoped_store_get", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % ids.len();
            let (store, table, scope, id) = (&store, &table, &scope, &ids[i]);
            async move { black_box(store.get(scope, table, id).await.unwrap()) }
        })
    });
    let mut j = 0;
    g.bench_function("plain_tokio_postgres", |b| {
        b.to_async(&rt).iter(|| {
            j = (j + 7) % ids.len();
            let (plain, prepared, id) = (&plain, &prepared, ids[j].as_str());
            let (platform, tenant) = (platform.as_str(), tenant.as_str());
            async move {
                black_box(
                    plain
                        .query_one(prepared, &[&platform, &tenant, &id])
                        .await
                        .unwrap(),
                )
            }
        })
    });
    g.finish();
    drop(schema);
}

fn batch(c: &mut Criterion) {
    let Some(url) = url().filter(|_| selected("postgres_batch")) else {
        return;
    };
    let rt = neutrino_core::testkit::current_thread_runtime();
    let (schema, db) = rt.block_on(async {
        let schema = Schema::create(&url).await;
        let db = schema.executor().await;
        db.execute(&Statement::new(
            r#"CREATE TABLE "counter" ("id" INTEGER PRIMARY KEY, "n" INTEGER NOT NULL)"#,
        ))
        .await
        .unwrap();
        let rows: Vec<Statement> = (1..=5)
            .map(|i| Statement::new(r#"INSERT INTO "counter" ("id", "n") VALUES (?1, 0)"#).bind(i))
            .collect();
        db.batch(&rows).await.unwrap();
        (schema, db)
    });
    let bump =
        |i: i64| Statement::new(r#"UPDATE "counter" SET "n" = "n" + 1 WHERE "id" = ?1"#).bind(i);
    let five: Vec<Statement> = (1..=5).map(bump).collect();
    let one = bump(1);
    // The same batch through plain tokio-postgres: BEGIN, the 5 prepared
    // statements and COMMIT pipelined on one connection, as the executor does.
    let (plain, bump_plain) = rt.block_on(async {
        let c = schema.plain_client().await;
        c.batch_execute("SET default_transaction_isolation = serializable")
            .await
            .unwrap();
        let p = c
            .prepare(r#"UPDATE "counter" SET "n" = "n" + 1 WHERE "id" = $1"#)
            .await
            .unwrap();
        (c, p)
    });
    {
        let (db, one, five) = (&db, &one, &five);
        let (plain, bump_plain) = (&plain, &bump_plain);
        let t = interleaved(
            &rt,
            "batch",
            &mut [
                (
                    "execute, 1 statement",
                    Box::new(move |_| {
                        Box::pin(async move {
                            black_box(db.execute(one).await.unwrap());
                        })
                    }),
                ),
                (
                    "batch of 5 statements",
                    Box::new(move |_| {
                        Box::pin(async move {
                            black_box(db.batch(five).await.unwrap());
                        })
                    }),
                ),
                (
                    "plain tokio-postgres, batch of 5",
                    Box::new(move |_| {
                        Box::pin(async move {
                            let ids: [i64; 5] = [1, 2, 3, 4, 5];
                            let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 1]> =
                                ids.iter().map(|i| [i as _]).collect();
                            let (begun, done, committed) = futures_util::future::join3(
                                plain.batch_execute("BEGIN"),
                                futures_util::future::join_all(
                                    params.iter().map(|p| plain.execute(bump_plain, p)),
                                ),
                                plain.batch_execute("COMMIT"),
                            )
                            .await;
                            begun.unwrap();
                            for d in done {
                                d.unwrap();
                            }
                            committed.unwrap();
                        })
                    }),
                ),
                (
                    "plain tokio-postgres, 1 statement",
                    Box::new(move |_| {
                        Box::pin(async move {
                            black_box(plain.execute(bump_plain, &[&1_i64]).await.unwrap());
                        })
                    }),
                ),
                (
                    "5 statements one by one",
                    Box::new(move |_| {
                        Box::pin(async move {
                            for st in five {
                                black_box(db.execute(st).await.unwrap());
                            }
                        })
                    }),
                ),
            ],
        );
        // "Close to one round trip": reported against a single statement,
        // with 1.5× as the line (the pipelined plain batch of 5 is the floor
        // of tokio-postgres, whose every statement ends with its own Sync).
        against_target("batch of 5 / execute of 1 statement", t[1] / t[0], 1.5);
        against_target(
            "batch of 5 / plain tokio-postgres pipelined batch of 5",
            t[1] / t[2],
            1.2,
        );
    }
    let mut g = c.benchmark_group("postgres_batch");
    g.bench_function("execute_1_statement", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(db.execute(&one).await.unwrap()) })
    });
    g.bench_function("batch_1_statement", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(db.batch(std::slice::from_ref(&one)).await.unwrap()) })
    });
    g.bench_function("batch_5_statements", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(db.batch(&five).await.unwrap()) })
    });
    g.bench_function("execute_5_statements_one_by_one", |b| {
        b.to_async(&rt).iter(|| async {
            for st in &five {
                black_box(db.execute(st).await.unwrap());
            }
        })
    });
    g.finish();
    drop(schema);
}

fn get_session(c: &mut Criterion) {
    let Some(url) = url().filter(|_| selected("postgres_get_session")) else {
        return;
    };
    let rt = neutrino_core::testkit::multi_thread_runtime(2);
    let (schema, auth, tokens) = rt.block_on(async {
        let schema = Schema::create(&url).await;
        let db = schema.executor().await;
        let auth = AuthBuilder::new(db.clone(), SECRET).build().unwrap();
        auth.migrate().await.unwrap();
        let sessions = seed_sessions(&auth, &db, ROWS, None).await;
        let tokens: Vec<String> = sessions.iter().map(|s| s.token.to_string()).collect();
        (schema, auth, tokens)
    });
    let tokens = Arc::new(tokens);
    let mut g = c.benchmark_group("postgres_get_session_uncached");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("one_in_flight", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7) % tokens.len();
            let (auth, token) = (&auth, tokens[i].as_str());
            async move { black_box(auth.get_session(token).await.unwrap().unwrap()) }
        })
    });
    g.bench_function("16_in_flight", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (auth, tokens) = (auth.clone(), tokens.clone());
            async move {
                let start = Instant::now();
                stream::iter(0..iters as usize)
                    .map(|k| {
                        let (auth, tokens) = (auth.clone(), tokens.clone());
                        async move {
                            let token = &tokens[(k * 7) % tokens.len()];
                            black_box(auth.get_session(token).await.unwrap().unwrap());
                        }
                    })
                    .buffer_unordered(IN_FLIGHT)
                    .for_each(|()| async {})
                    .await;
                start.elapsed()
            }
        })
    });
    // The ceiling on this machine: the same query through plain
    // tokio-postgres, 16 in flight pipelined on one connection, at the
    // executor's isolation level.
    let (plain, prepared) = rt.block_on(async {
        let c = schema.plain_client().await;
        c.batch_execute("SET default_transaction_isolation = serializable")
            .await
            .unwrap();
        let p = c.prepare(PLAIN_SESSION).await.unwrap();
        (Arc::new(c), p)
    });
    g.bench_function("plain_tokio_postgres_16_in_flight", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (plain, prepared, tokens) = (plain.clone(), prepared.clone(), tokens.clone());
            async move {
                let start = Instant::now();
                stream::iter(0..iters as usize)
                    .map(|k| {
                        let (plain, prepared, tokens) = (&plain, &prepared, &tokens);
                        async move {
                            let token = tokens[(k * 7) % tokens.len()].as_str();
                            black_box(plain.query_one(prepared, &[&token]).await.unwrap());
                        }
                    })
                    .buffer_unordered(IN_FLIGHT)
                    .for_each(|()| async {})
                    .await;
                start.elapsed()
            }
        })
    });
    g.finish();
    drop(auth);
    drop(schema);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = scoped_get, batch, get_session
}

fn main() {
    if url().is_none() {
        println!(
            "NEUTRINO_TEST_POSTGRES_URL is not set: the PostgreSQL benchmarks need a server \
             (`eval \"$(scripts/postgres start)\"` starts one); skipped"
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
