#![allow(missing_docs)]
//! neutrino-auth benchmarks: session validation from a signed cookie (uncached
//! and cached), password hashing against raw argon2, and `get_session` latency
//! while 100 sign-ins run on the same runtime.
//!
//! `cargo bench -p neutrino-auth --bench auth`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use neutrino_auth::password::{PasswordConfig, Passwords};
use neutrino_auth::testkit::seed_sessions;
use neutrino_auth::{Auth, AuthBuilder, RequestMeta, SessionCacheConfig, SignInEmail};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_core::testkit::join_all;
use neutrino_sqlite::{SqliteExecutor, SqliteExecutorBuilder};
use tokio::runtime::Runtime;

const SECRET: &str = "benchmark-secret-0123456789abcdef012345";
const PASSWORD: &str = "correct horse battery";
const USERS: usize = 1000;
const SESSION_JOIN: &str = r#"SELECT s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt" FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = ?1"#;

/// A SQLite file with `USERS` users sharing one argon2id hash (so setup does
/// not pay for 1000 hashes), and one session each. Returns the signed cookies.
async fn populate(auth: &Auth, db: &SqliteExecutor) -> Vec<String> {
    auth.migrate().await.unwrap();
    let pw = auth.passwords().normalize(PASSWORD).unwrap();
    let hash = auth.passwords().hash(&pw).await.unwrap();
    let sessions = seed_sessions(auth, db, USERS, Some(hash.as_str())).await;
    sessions
        .iter()
        .map(|s| auth.cookies().sign(&s.token))
        .collect()
}

/// The executor the benchmarks use: the default (reads on the caller's
/// thread, no hand-off spinning), or with the writer's hand-off spinning (20 µs
/// for the reply, 50 µs idle), which only writes use.
async fn open_db(path: &std::path::Path, spin: bool) -> SqliteExecutor {
    let mut b = SqliteExecutorBuilder::new(path);
    if spin {
        b = b.with_handoff_spin(Duration::from_micros(20), Duration::from_micros(50));
    }
    b.build().await.unwrap()
}

fn get_session(c: &mut Criterion) {
    let rt = neutrino_core::testkit::current_thread_runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.sqlite");
    let (db, auth, spinning, cached, cookies) = rt.block_on(async {
        let db = open_db(&path, false).await;
        let auth = AuthBuilder::new(db.clone(), SECRET).build().unwrap();
        let cookies = populate(&auth, &db).await;
        let spinning = AuthBuilder::new(open_db(&path, true).await, SECRET)
            .build()
            .unwrap();
        let cached = AuthBuilder::new(db.clone(), SECRET)
            .with_session_cache(SessionCacheConfig {
                ttl: Duration::from_secs(300),
                max_entries: 10_000,
            })
            .build()
            .unwrap();
        for c in &cookies {
            cached.get_session_from_cookie(c).await.unwrap().unwrap();
        }
        (db, auth, spinning, cached, cookies)
    });
    let tokens: Vec<String> = cookies
        .iter()
        .map(|c| auth.cookies().verify(c).unwrap().into_owned())
        .collect();

    let mut g = c.benchmark_group("get_session");
    g.throughput(Throughput::Elements(1));
    from_cookie(&mut g, &rt, "from_cookie_sqlite_uncached", &auth, &cookies);
    // The same SELECT … JOIN through the same executor, without the auth
    // layer: what get_session adds on top is the difference.
    let mut i = 0;
    g.bench_function("executor_session_join_query_only", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % tokens.len();
            let (db, token) = (&db, &tokens[i]);
            async move {
                black_box(
                    db.query(&Statement::new(SESSION_JOIN).bind(token.as_str()))
                        .await
                        .unwrap(),
                )
            }
        })
    });
    from_cookie(
        &mut g,
        &rt,
        "from_cookie_sqlite_uncached_writer_spin",
        &spinning,
        &cookies,
    );
    g.throughput(Throughput::Elements(16));
    let mut i = 0;
    g.bench_function("from_cookie_sqlite_uncached_16_in_flight", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 16) % (cookies.len() - 16);
            let (auth, batch) = (&auth, &cookies[i..i + 16]);
            async move {
                let calls = batch.iter().map(|c| auth.get_session_from_cookie(c));
                for r in join_all(calls).await {
                    black_box(r.unwrap());
                }
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    from_cookie(&mut g, &rt, "from_cookie_cache_warm", &cached, &cookies);
    let mut i = 0;
    g.bench_function("verify_cookie_only", |b| {
        b.iter(|| {
            i = (i + 1) % cookies.len();
            black_box(auth.cookies().verify(&cookies[i]).unwrap().len())
        })
    });
    g.finish();
}

/// Benchmarks `get_session_from_cookie` on `auth` as `name`, each iteration
/// with the next of `cookies`.
fn from_cookie(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    auth: &Auth,
    cookies: &[String],
) {
    let mut i = 0;
    g.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % cookies.len();
            let cookie = &cookies[i];
            async move { black_box(auth.get_session_from_cookie(cookie).await.unwrap()) }
        })
    });
}

/// Neutrino's default password hashing, and raw argon2id with the same
/// parameters (m = 19456 KiB, t = 2, p = 1).
fn hashers() -> (Passwords, Argon2<'static>) {
    let raw = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).unwrap(),
    );
    (Passwords::new(PasswordConfig::default()).unwrap(), raw)
}

fn hashing(c: &mut Criterion) {
    let rt = neutrino_core::testkit::current_thread_runtime();
    let (passwords, raw) = hashers();
    let pw = passwords.normalize(PASSWORD).unwrap();
    let mut g = c.benchmark_group("password");
    g.sample_size(20);
    g.bench_function("argon2id_raw_m19456_t2_p1", |b| {
        b.iter(|| {
            let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
            black_box(
                raw.hash_password(PASSWORD.as_bytes(), &salt)
                    .unwrap()
                    .to_string(),
            )
        })
    });
    g.bench_function("neutrino_hash_blocking", |b| {
        b.iter(|| black_box(passwords.hash_blocking(&pw).unwrap()))
    });
    g.bench_function("neutrino_hash_async", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(passwords.hash(&pw).await.unwrap()) })
    });
    g.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(label: &str, mut lat: Vec<Duration>) {
    lat.sort();
    println!(
        "{label}: n={} p50={:?} p99={:?} max={:?}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
}

/// `get_session` latency on a 2-worker runtime, alone and while 100 sign-ins
/// (argon2id verification each) run on the same runtime.
fn sign_in_storm() {
    let rt = neutrino_core::testkit::multi_thread_runtime(2);
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let db = open_db(&dir.path().join("auth.sqlite"), false).await;
        let auth = AuthBuilder::new(db.clone(), SECRET).build().unwrap();
        let cookies = Arc::new(populate(&auth, &db).await);

        let probe = |auth: Auth,
                     cookies: Arc<Vec<String>>,
                     stop: Arc<std::sync::atomic::AtomicBool>,
                     max: usize| async move {
            let mut lat = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && lat.len() < max {
                i = (i + 1) % cookies.len();
                let t = Instant::now();
                black_box(auth.get_session_from_cookie(&cookies[i]).await.unwrap());
                lat.push(t.elapsed());
                // One validation every 200 µs: a steady request stream.
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            lat
        };

        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let alone = tokio::spawn(probe(
            auth.clone(),
            Arc::clone(&cookies),
            Arc::clone(&stop),
            2000,
        ))
        .await
        .unwrap();
        report("get_session alone", alone);

        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let prober = tokio::spawn(probe(
            auth.clone(),
            Arc::clone(&cookies),
            Arc::clone(&stop),
            usize::MAX,
        ));
        let start = Instant::now();
        let meta = RequestMeta::new("198.51.100.2", "bench");
        let sign_ins: Vec<_> = (0..100)
            .map(|i| {
                let (auth, meta) = (auth.clone(), meta.clone());
                tokio::spawn(async move {
                    auth.sign_in_email(
                        SignInEmail::new(format!("user{i}@example.com"), PASSWORD),
                        &meta,
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        for s in sign_ins {
            s.await.unwrap();
        }
        let storm = start.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let during = prober.await.unwrap();
        println!("100 concurrent sign-ins finished in {storm:?}");
        report("get_session during 100 sign-ins", during);
    });
}

/// CPU time of the calling thread, from Linux's schedstat (None elsewhere).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Hash cost in CPU time rather than wall time, raw argon2 and Neutrino's
/// hash interleaved on one thread: on a shared machine wall time mostly
/// measures the neighbours.
fn hash_cpu_cost() {
    let (passwords, raw) = hashers();
    let pw = passwords.normalize(PASSWORD).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        let Some(t0) = thread_cpu() else {
            println!("hash cpu cost: no per-thread cpu clock here");
            return;
        };
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        black_box(
            raw.hash_password(PASSWORD.as_bytes(), &salt)
                .unwrap()
                .to_string(),
        );
        let t1 = thread_cpu().unwrap_or(t0);
        black_box(passwords.hash_blocking(&pw).unwrap());
        let t2 = thread_cpu().unwrap_or(t1);
        a.push(t1 - t0);
        b.push(t2 - t1);
    }
    a.sort();
    b.sort();
    let (ma, mb) = (a[a.len() / 2], b[b.len() / 2]);
    println!(
        "hash cpu cost (median of 30, interleaved): argon2 raw {ma:?}, neutrino {mb:?}, ratio {:.3}",
        mb.as_secs_f64() / ma.as_secs_f64()
    );
}

criterion::criterion_group!(benches, get_session, hashing);

fn main() {
    benches();
    hash_cpu_cost();
    sign_in_storm();
    Criterion::default().configure_from_args().final_summary();
}
