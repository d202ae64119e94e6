//! A scoped get by ID on PostgreSQL: the same query through plain
//! tokio-postgres (the baseline), through the executor unbound on a role that
//! row-level security does not hold (RLS off; target ≤ 1.2× the baseline),
//! through the executor bound to the tenant as the application role (RLS on;
//! target ≤ 1.3×), the bound call on a role that RLS does not hold (the cost of
//! the transaction around the statement alone), and `TenantStore::get` as the
//! application role (RLS on; target ≤ 1.3×) and on a role that RLS does not
//! hold (RLS off; the scoped get, target ≤ 1.2×), and the plain query again
//! as that role (the superuser's baseline skips the privilege checks every
//! other role pays). The interleaved comparison
//! also prints the CPU each call costs the client (this thread) and the
//! server (the measured connections' server processes), on Linux.
//!
//! Needs a server: `eval "$(scripts/postgres start)"`, then
//! `cargo bench -p neutrino-postgres --bench rls`.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use neutrino_core::ids::generate_id;
use neutrino_core::sql::{SqlExecutor, Statement, TenantBinding};
use neutrino_postgres::PostgresExecutor;
use neutrino_tenancy::testkit::{insert_items, item_table, memory_kv_registry};
use neutrino_tenancy::*;

/// Rounds and calls per block of the interleaved comparison.
const ROUNDS: usize = 15;
const BLOCK: usize = 300;

/// The cases of the interleaved comparison, in order.
const CASES: [&str; 9] = [
    "plain tokio-postgres",
    "executor, rls off",
    "executor bound, rls off",
    "executor bound, rls on",
    "TenantStore::get, rls on",
    "TenantStore::get, rls off",
    "plain, bound in 4 requests",
    "plain, bound in 3 requests",
    "plain tokio-postgres, rls off role",
];

fn url() -> String {
    std::env::var("NEUTRINO_TEST_POSTGRES_URL")
        .expect("NEUTRINO_TEST_POSTGRES_URL: start a server with scripts/postgres start")
}

fn url_as(role: &str) -> String {
    let url = url();
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

fn scoped_get(c: &mut Criterion) {
    let rt = neutrino_core::testkit::current_thread_runtime();
    let name = format!("bench-{}", generate_id());
    let (owner_role, app_role, norls_role) = (
        format!("{name}-owner"),
        format!("{name}-app"),
        format!("{name}-norls"),
    );
    let (admin, app, norls, store, store_off, table, scope, ids, client) = rt.block_on(async {
        let admin = PostgresExecutor::connect(&url()).await.unwrap();
        admin
            .batch(&[
                Statement::new(format!(r#"CREATE ROLE "{owner_role}" LOGIN"#)),
                Statement::new(format!(r#"CREATE ROLE "{app_role}" LOGIN"#)),
                Statement::new(format!(r#"CREATE ROLE "{norls_role}" LOGIN"#)),
                Statement::new(format!(
                    r#"CREATE SCHEMA "{name}" AUTHORIZATION "{owner_role}""#
                )),
                Statement::new(format!(
                    r#"GRANT USAGE ON SCHEMA "{name}" TO "{app_role}", "{norls_role}""#
                )),
                Statement::new(format!(
                    r#"ALTER DEFAULT PRIVILEGES FOR ROLE "{owner_role}" IN SCHEMA "{name}"
                       GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{app_role}", "{norls_role}""#
                )),
            ])
            .await
            .unwrap();
        let connect = |u: String| {
            let name = name.clone();
            async move {
                PostgresExecutor::builder(&u)
                    .unwrap()
                    .schema(&name)
                    .unwrap()
                    .connect()
                    .await
                    .unwrap()
            }
        };
        let owner = connect(url_as(&owner_role)).await;
        let app = connect(url_as(&app_role)).await;
        let norls = connect(url_as(&norls_role)).await;
        let admin = connect(url()).await;
        let registry = memory_kv_registry(Arc::new(owner.clone())).await;
        let p = registry
            .create_platform(NewPlatform::new("Bench", PlatformClass::Platform))
            .await
            .unwrap()
            .id;
        let table = item_table();
        TenantStore::migrate(&owner, std::slice::from_ref(&table))
            .await
            .unwrap();
        let store = TenantStore::open(&registry, Arc::new(app.clone()), vec![table.clone()])
            .await
            .unwrap();
        // The same store on a role that row-level security does not hold:
        // opened while the role is held (the store's start-up check refuses
        // any other), then given BYPASSRLS, before it plans any read.
        let store_off =
            TenantStore::open(&registry, Arc::new(norls.clone()), vec![table.clone()])
                .await
                .unwrap();
        admin
            .execute(&Statement::new(format!(
                r#"ALTER ROLE "{norls_role}" BYPASSRLS"#
            )))
            .await
            .unwrap();
        let mut scope = None;
        let mut ids = Vec::new();
        for t in 0..4 {
            let tenant = registry
                .create_tenant(p, NewTenant::new(format!("t{t}"), "Bench"))
                .await
                .unwrap()
                .id;
            let s = registry
                .operator_scope(p, tenant, "bench", "bench")
                .await
                .unwrap();
            let inserted = insert_items(&store, &s, &table, 500).await;
            if t == 0 {
                ids = inserted;
            }
            scope.get_or_insert(s);
        }
        let (client, conn) = tokio_postgres::connect(&conn_string(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        (
            admin,
            app,
            norls,
            store,
            store_off,
            table,
            scope.unwrap(),
            ids,
            client,
        )
    });
    let sql = r#"SELECT * FROM "item" WHERE "platform_id" = ?1 AND "tenant_id" = ?2 AND "id" = ?3"#;
    let pg_sql = sql
        .replace(r#""item""#, &format!(r#""{name}"."item""#))
        .replace("?1", "$1")
        .replace("?2", "$2")
        .replace("?3", "$3");
    let (p, t) = (scope.platform().to_string(), scope.tenant().to_string());
    let pair = format!("{p}/{t}");
    let binding = TenantBinding::new(scope.platform(), scope.tenant());
    let st = |i: usize| {
        Statement::new(sql)
            .bind(p.as_str())
            .bind(t.as_str())
            .bind(ids[i % ids.len()].as_str())
    };

    // Interleaved: each case in turn, a block of calls at a time, so that a
    // neighbour's load on a shared machine hits all alike; the ratios are
    // what the targets are about.
    let prepared = rt.block_on(client.prepare(&pg_sql)).unwrap();
    // The same query through plain tokio-postgres as the role that
    // row-level security does not hold (`TenantStore::get, rls off`'s
    // role): the superuser's baseline skips the privilege checks a role
    // that is not one always pays.
    let client_off = rt.block_on(async {
        let (c, conn) =
            tokio_postgres::connect(&conn_string_as(&norls_role), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        c
    });
    let prepared_off = rt.block_on(client_off.prepare(&pg_sql)).unwrap();
    let bind4 = rt
        .block_on(client.prepare("SELECT set_config('neutrino.scope', $1, true)"))
        .unwrap();
    let bind3 =
        format!("BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL neutrino.scope = '{p}/{t}'");
    // The server processes of the measured connections (each pool serves
    // these one-at-a-time calls from one connection), for the CPU each case
    // costs the server; on Linux, from `/proc/PID/schedstat` (0 elsewhere, or
    // when the server runs on another machine).
    let pid = Statement::new("SELECT pg_backend_pid()::BIGINT AS \"pid\"");
    let backends: Vec<i64> = rt.block_on(async {
        let mut pids = vec![i64::from(
            client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get::<_, i32>(0),
        )];
        for db in [&admin, &app, &norls] {
            pids.push(db.query(&pid).await.unwrap()[0].get("pid").unwrap());
        }
        pids.push(i64::from(
            client_off
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get::<_, i32>(0),
        ));
        pids
    });
    let cpu = |pid: Option<i64>| -> f64 {
        let path = match pid {
            Some(p) => format!("/proc/{p}/schedstat"),
            None => "/proc/thread-self/schedstat".to_owned(),
        };
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let server_cpu = || backends.iter().map(|p| cpu(Some(*p))).sum::<f64>();
    {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
        let mut client_ns = [0.0f64; CASES.len()];
        let mut server_ns = [0.0f64; CASES.len()];
        let mut k = 0;
        for _ in 0..ROUNDS {
            for (n, times) in times.iter_mut().enumerate() {
                let start = Instant::now();
                let (c0, s0) = (cpu(None), server_cpu());
                rt.block_on(async {
                    for _ in 0..BLOCK {
                        k += 1;
                        let id = &ids[k % ids.len()];
                        match n {
                            0 => drop(black_box(
                                client.query(&prepared, &[&p, &t, id]).await.unwrap(),
                            )),
                            1 => drop(black_box(admin.query(&st(k)).await.unwrap())),
                            2 => drop(black_box(
                                admin.query_bound(&binding, &st(k)).await.unwrap(),
                            )),
                            3 => drop(black_box(app.query_bound(&binding, &st(k)).await.unwrap())),
                            4 => drop(black_box(store.get(&scope, &table, id).await.unwrap())),
                            5 => drop(black_box(store_off.get(&scope, &table, id).await.unwrap())),
                            // The floors of tokio-postgres for a bound read:
                            // the same transaction in four requests (the
                            // binding a prepared statement) and in three (the
                            // binding in the simple query of `BEGIN`, as the
                            // executor sends it), each request with its own
                            // Sync.
                            6 => {
                                let (b, _, r, c) = futures_util::future::join4(
                                    client.batch_execute("BEGIN"),
                                    client.execute(&bind4, &[&pair]),
                                    client.query(&prepared, &[&p, &t, id]),
                                    client.batch_execute("COMMIT"),
                                )
                                .await;
                                b.unwrap();
                                c.unwrap();
                                drop(black_box(r.unwrap()));
                            }
                            8 => drop(black_box(
                                client_off
                                    .query(&prepared_off, &[&p, &t, id])
                                    .await
                                    .unwrap(),
                            )),
                            _ => {
                                let (b, r, c) = futures_util::future::join3(
                                    client.batch_execute(&bind3),
                                    client.query(&prepared, &[&p, &t, id]),
                                    client.batch_execute("COMMIT"),
                                )
                                .await;
                                b.unwrap();
                                c.unwrap();
                                drop(black_box(r.unwrap()));
                            }
                        }
                    }
                });
                times.push(start.elapsed().as_secs_f64() * 1e6 / BLOCK as f64);
                client_ns[n] += cpu(None) - c0;
                server_ns[n] += server_cpu() - s0;
            }
        }
        let medians: Vec<f64> = times
            .iter_mut()
            .map(|t| {
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            })
            .collect();
        println!("scoped get (interleaved, median of {ROUNDS} rounds of {BLOCK} calls):");
        for (n, (name, us)) in CASES.iter().zip(&medians).enumerate() {
            let calls = (ROUNDS * BLOCK) as f64;
            println!(
                "  {name:<36} {us:>8.1} µs/call  {:.2}× plain  \
                 CPU per call: client {:.1} µs, server {:.1} µs",
                us / medians[0],
                client_ns[n] / calls / 1e3,
                server_ns[n] / calls / 1e3,
            );
        }
        for (what, n, target) in [
            ("executor, rls off / plain", 1, 1.2),
            ("executor bound, rls on / plain", 3, 1.3),
            ("TenantStore::get, rls on / plain", 4, 1.3),
            ("TenantStore::get, rls off / plain", 5, 1.2),
        ] {
            let ratio = medians[n] / medians[0];
            let verdict = if ratio <= target { "met" } else { "MISSED" };
            println!("  target: {what}: {ratio:.2}× (target ≤ {target}×): {verdict}");
        }
        println!(
            "  TenantStore::get, rls off / plain as the same role: {:.2}×",
            medians[5] / medians[8]
        );
    }

    let mut g = c.benchmark_group("postgres_scoped_get");
    g.measurement_time(Duration::from_secs(5));
    let mut i = 0;
    g.bench_function("tokio-postgres", |b| {
        b.iter(|| {
            i += 1;
            let id = &ids[i % ids.len()];
            let rows = rt.block_on(client.query(&prepared, &[&p, &t, id])).unwrap();
            black_box(rows);
        })
    });
    g.bench_function("executor, rls off", |b| {
        b.iter(|| {
            i += 1;
            black_box(rt.block_on(admin.query(&st(i))).unwrap());
        })
    });
    g.bench_function("executor bound, rls off", |b| {
        b.iter(|| {
            i += 1;
            black_box(rt.block_on(admin.query_bound(&binding, &st(i))).unwrap());
        })
    });
    g.bench_function("executor bound, rls on", |b| {
        b.iter(|| {
            i += 1;
            black_box(rt.block_on(app.query_bound(&binding, &st(i))).unwrap());
        })
    });
    g.bench_function("TenantStore::get, rls on", |b| {
        b.iter(|| {
            i += 1;
            let id = &ids[i % ids.len()];
            black_box(rt.block_on(store.get(&scope, &table, id)).unwrap());
        })
    });
    g.bench_function("TenantStore::get, rls off", |b| {
        b.iter(|| {
            i += 1;
            let id = &ids[i % ids.len()];
            black_box(rt.block_on(store_off.get(&scope, &table, id)).unwrap());
        })
    });
    g.finish();

    rt.block_on(async {
        let _ = admin
            .execute(&Statement::new(format!(r#"DROP SCHEMA "{name}" CASCADE"#)))
            .await;
        let _ = admin
            .batch(&[
                Statement::new(format!(
                    r#"DROP OWNED BY "{owner_role}", "{app_role}", "{norls_role}" CASCADE"#
                )),
                Statement::new(format!(
                    r#"DROP ROLE "{owner_role}", "{app_role}", "{norls_role}""#
                )),
            ])
            .await;
    });
}

/// The server's URL as tokio-postgres' key=value string, for the baseline.
fn conn_string() -> String {
    conn_string_as("")
}

/// The connection string of the test server's URL, as `role` (the URL's
/// own user when empty).
fn conn_string_as(role: &str) -> String {
    let url = url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let (user, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    let user = if role.is_empty() { user } else { role };
    format!("host={host} port={port} user={user} dbname={db}")
}

criterion_group!(benches, scoped_get);
criterion_main!(benches);
