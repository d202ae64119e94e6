#![allow(missing_docs)]
//! Session reads on SQLite without hand-off spinning, measured in one run
//! against the three targets of issue 14 §6:
//!
//! * uncached `get_session` ≥ 70% of raw rusqlite's rate on the same query;
//! * 16 calls in flight on a multi-thread runtime ≥ 1.5× the rate of one;
//! * cached `get_session` ≥ 1,000,000/s.
//!
//! The pairs that are compared run alternately, in blocks, so a neighbour's
//! load on a shared machine hits both alike; each rate is the median over the
//! rounds. Also shown: the same reads handed to a connection thread (the
//! previous design, readers 0, no spinning), and raw rusqlite with the file
//! mapped as the executor's readers map it.
//!
//! The reads start once the executor's writer has been idle long enough to
//! checkpoint the WAL: a read-mostly steady state.
//!
//! `cargo bench -p neutrino-auth --bench session_reads`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_auth::testkit::seed_sessions;
use neutrino_auth::{Auth, AuthBuilder, SessionCacheConfig};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_core::testkit::{current_thread_runtime, multi_thread_runtime};
use neutrino_sqlite::{SqliteExecutor, SqliteExecutorBuilder};
use tokio::runtime::Runtime;

const SECRET: &str = "benchmark-secret-0123456789abcdef012345";
const USERS: usize = 1000;
/// The statement `get_session` runs.
const SESSION_JOIN: &str = r#"SELECT s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt" FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = ?1"#;
/// Calls per block, and rounds of blocks.
const BLOCK: usize = 4000;
const ROUNDS: usize = 15;

/// `USERS` users with one session each; returns the session tokens.
async fn populate(auth: &Auth, db: &SqliteExecutor) -> Vec<String> {
    auth.migrate().await.unwrap();
    seed_sessions(auth, db, USERS, None)
        .await
        .into_iter()
        .map(|s| s.token.to_string())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Calls per second of `BLOCK` calls of `f`.
fn rate(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    BLOCK as f64 / t.elapsed().as_secs_f64()
}

/// CPU time of the calling thread, from Linux's schedstat (None elsewhere).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Calls per second of `BLOCK` calls of `f` in wall time, and the calling
/// thread's CPU time they took (zero where there is no per-thread CPU clock;
/// the clock may tick coarsely, so only sums over many rounds are used).
fn rates(f: impl FnOnce()) -> (f64, Duration) {
    let (t, c) = (Instant::now(), thread_cpu());
    f();
    let wall = BLOCK as f64 / t.elapsed().as_secs_f64();
    let cpu = match (c, thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    (wall, cpu)
}

/// CPU time of the whole process (user and system), from Linux's
/// /proc/self/stat (None elsewhere).
fn process_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// `BLOCK` uncached `get_session` calls on a multi-thread runtime, `in_flight`
/// tasks each making its share one after another.
fn spread(rt: &Runtime, auth: &Auth, tokens: &Arc<Vec<String>>, in_flight: usize) -> f64 {
    rate(|| {
        rt.block_on(async {
            let tasks: Vec<_> = (0..in_flight)
                .map(|t| {
                    let (auth, tokens) = (auth.clone(), Arc::clone(tokens));
                    tokio::spawn(async move {
                        let mut i = t * 37;
                        for _ in 0..BLOCK / in_flight {
                            i = (i + 1) % tokens.len();
                            black_box(auth.get_session(&tokens[i]).await.unwrap().unwrap());
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
    })
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to configure.
    let load_before = load_average();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.sqlite");
    let ct = current_thread_runtime();
    let (db, auth, handoff, cached, tokens, cookies) = ct.block_on(async {
        let db = SqliteExecutor::open(&path).await.unwrap();
        let auth = AuthBuilder::new(db.clone(), SECRET).build().unwrap();
        let tokens = populate(&auth, &db).await;
        let handoff_db = SqliteExecutorBuilder::new(&path)
            .with_readers(0)
            .build()
            .await
            .unwrap();
        let handoff = AuthBuilder::new(handoff_db, SECRET).build().unwrap();
        let cached = AuthBuilder::new(db.clone(), SECRET)
            .with_session_cache(SessionCacheConfig {
                ttl: Duration::from_secs(300),
                max_entries: 10_000,
            })
            .build()
            .unwrap();
        let cookies: Vec<String> = tokens.iter().map(|t| auth.cookies().sign(t)).collect();
        for c in &cookies {
            cached.get_session_from_cookie(c).await.unwrap().unwrap();
        }
        (db, auth, handoff, cached, tokens, cookies)
    });

    // A read-mostly steady state: the executor's writer checkpoints the WAL
    // after a second without writes (then readers read the mapped file).
    std::thread::sleep(Duration::from_millis(1500));

    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.set_prepared_statement_cache_capacity(128);
    // The same, with the file mapped as the executor's readers map it.
    let raw_mapped = rusqlite::Connection::open(&path).unwrap();
    raw_mapped.set_prepared_statement_cache_capacity(128);
    raw_mapped
        .pragma_update(None, "mmap_size", 1_i64 << 30)
        .unwrap();
    let raw_calls = |raw: &rusqlite::Connection, start: usize| {
        let mut i = start;
        for _ in 0..BLOCK {
            i = (i + 1) % tokens.len();
            let mut st = raw.prepare_cached(SESSION_JOIN).unwrap();
            let row: Vec<rusqlite::types::Value> = st
                .query_row([tokens[i].as_str()], |r| {
                    (0..14)
                        .map(|c| r.get::<_, rusqlite::types::Value>(c))
                        .collect()
                })
                .unwrap();
            black_box(row);
        }
    };
    let get_calls = |auth: &Auth, start: usize| {
        ct.block_on(async {
            let mut i = start;
            for _ in 0..BLOCK {
                i = (i + 1) % tokens.len();
                black_box(auth.get_session(&tokens[i]).await.unwrap().unwrap());
            }
        })
    };

    // Warm up every path (statement caches, page cache).
    raw_calls(&raw, 0);
    raw_calls(&raw_mapped, 0);
    get_calls(&auth, 0);
    get_calls(&handoff, 0);

    let query_calls = |start: usize| {
        ct.block_on(async {
            let mut i = start;
            for _ in 0..BLOCK {
                i = (i + 1) % tokens.len();
                let st = Statement::new(SESSION_JOIN).bind(tokens[i].as_str());
                black_box(db.query(&st).await.unwrap());
            }
        })
    };
    query_calls(0);

    let (mut r_raw, mut r_query, mut r_get) = (Vec::new(), Vec::new(), Vec::new());
    let (mut r_handoff, mut r_mapped) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let s = round * 61;
        r_raw.push(rates(|| raw_calls(&raw, s)));
        r_mapped.push(rates(|| raw_calls(&raw_mapped, s)));
        r_query.push(rates(|| query_calls(s)));
        r_get.push(rates(|| get_calls(&auth, s)));
        r_handoff.push(rate(|| get_calls(&handoff, s)));
    }

    let mt = multi_thread_runtime(2);
    let shared = Arc::new(tokens.clone());
    let mt_auth = mt.block_on(async {
        let db = SqliteExecutor::open(&path).await.unwrap();
        AuthBuilder::new(db, SECRET).build().unwrap()
    });
    spread(&mt, &mt_auth, &shared, 1);
    spread(&mt, &mt_auth, &shared, 16);
    let (mut r_one, mut r_sixteen) = (Vec::new(), Vec::new());
    // Cores the process used while each ran (CPU seconds per wall second).
    let (mut cores_one, mut cores_sixteen) = ((0.0, 0.0), (0.0, 0.0));
    let measure = |in_flight: usize, cores: &mut (f64, f64)| {
        let (c, t) = (process_cpu(), Instant::now());
        let r = spread(&mt, &mt_auth, &shared, in_flight);
        if let (Some(a), Some(b)) = (c, process_cpu()) {
            cores.0 += b - a;
            cores.1 += t.elapsed().as_secs_f64();
        }
        r
    };
    for _ in 0..ROUNDS {
        r_one.push(measure(1, &mut cores_one));
        r_sixteen.push(measure(16, &mut cores_sixteen));
    }

    let mut r_cached = Vec::new();
    for round in 0..ROUNDS {
        r_cached.push(rate(|| {
            ct.block_on(async {
                let mut i = round;
                for _ in 0..BLOCK {
                    i = (i + 1) % cookies.len();
                    black_box(cached.get_session_from_cookie(&cookies[i]).await.unwrap());
                }
            })
        }));
    }

    // Median wall rate, and calls per CPU-second over all rounds.
    let split = |v: Vec<(f64, Duration)>| {
        let (w, c): (Vec<f64>, Vec<Duration>) = v.into_iter().unzip();
        let cpu: Duration = c.iter().sum();
        let per_cpu = if cpu.is_zero() {
            0.0
        } else {
            (ROUNDS * BLOCK) as f64 / cpu.as_secs_f64()
        };
        (median(w), per_cpu)
    };
    let (raw, raw_cpu) = split(r_raw);
    let (mapped, mapped_cpu) = split(r_mapped);
    let (query, query_cpu) = split(r_query);
    let (get, get_cpu) = split(r_get);
    let handoff = median(r_handoff);
    let (one, sixteen, cached) = (median(r_one), median(r_sixteen), median(r_cached));
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "session_reads ({ROUNDS} rounds of {BLOCK} calls, median rates; \
         [calls per CPU-second of the calling thread, all rounds])"
    );
    println!(
        "load average before: {load_before}, after: {}",
        load_average()
    );
    println!("raw rusqlite, same query              {raw:>10.0}/s  [{raw_cpu:>8.0}/s]");
    println!("  raw, file mapped as the readers do  {mapped:>10.0}/s  [{mapped_cpu:>8.0}/s]");
    println!("executor query, same query            {query:>10.0}/s  [{query_cpu:>8.0}/s]");
    println!("get_session uncached, current-thread  {get:>10.0}/s  [{get_cpu:>8.0}/s]");
    println!("  hand-off to a connection thread     {handoff:>10.0}/s");
    let cores = |(cpu, wall): (f64, f64)| if wall > 0.0 { cpu / wall } else { 0.0 };
    let (c1, c16) = (cores(cores_one), cores(cores_sixteen));
    println!("get_session uncached, 2 workers, 1    {one:>10.0}/s  (process used {c1:.2} cores)");
    println!(
        "get_session uncached, 2 workers, 16   {sixteen:>10.0}/s  (process used {c16:.2} cores)"
    );
    println!("get_session cached                    {cached:>10.0}/s");
    println!(
        "uncached / raw = {:.2} [{:.2}] (target >= 0.70: {})",
        get / raw,
        get_cpu / raw_cpu,
        verdict(get / raw >= 0.70)
    );
    println!(
        "uncached / raw with the file mapped = {:.2} [{:.2}]",
        get / mapped,
        get_cpu / mapped_cpu
    );
    println!(
        "16 in flight / 1 in flight = {:.2} (target >= 1.5: {}); per core used: {:.2}",
        sixteen / one,
        verdict(sixteen / one >= 1.5),
        if c1 > 0.0 && c16 > 0.0 {
            (sixteen / c16) / (one / c1)
        } else {
            0.0
        }
    );
    println!(
        "cached = {:.2} M/s (target >= 1.0: {})",
        cached / 1e6,
        verdict(cached >= 1e6)
    );
}
