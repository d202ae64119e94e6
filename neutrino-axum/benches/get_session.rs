//! `GET /api/auth/get-session` with a valid cookie, side by side in one run:
//! the Rust server (this crate's router on the embedded default, in process),
//! Better Auth 1.7.25 on Node over SQLite (`tests/client/reference-server.mjs`)
//! and a bare axum route answering the same bytes as a constant (the ceiling
//! of this machine and load generator), all driven by the same load
//! generator: N keep-alive HTTP/1.1 connections, each sending its next
//! request as soon as the previous answer is read, for a fixed duration after
//! a warm-up. Then `POST /api/auth/sign-in/email` on both servers (bounded by
//! password hashing).
//!
//! ```sh
//! cargo bench -p neutrino-axum --bench get_session
//! NEUTRINO_BENCH_SECS=20 NEUTRINO_BENCH_CONNECTIONS=128 NEUTRINO_BENCH_SIGNIN_CONNECTIONS=4 \
//!     cargo bench -p neutrino-axum --bench get_session
//! ```
//!
//! Defaults: 10 s per load after a 2 s warm-up, 64 connections for
//! get-session, 8 for sign-in.
//!
//! The Rust server runs as the `auth_server` example runs it (session
//! validation cache on) and, for comparison, with the cache off; the three
//! get-session loads run in three interleaved rounds (one under `cargo
//! test`), so that a change of the machine's load meets all of them.
//!
//! Reports requests per second, p50 and p99 latency, errors and the CPU time
//! of this process per answered request for each, and the ratios against the
//! targets, from the median round (the Rust server at least 20× Better Auth's
//! throughput and at least half of the bare route's). Without Node or the
//! packages of `tests/client` (`scripts/setup-node-tests`) it says so and
//! measures the rest. Under `cargo test` (no `--bench` argument) it runs a
//! short smoke load of every part instead, which checks that each server
//! answers the requests measured (a valid session, a successful sign-in).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[path = "../tests/common/reference.rs"]
mod reference;
#[path = "../tests/common/server.rs"]
mod server;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// How long and how wide each load runs.
#[derive(Clone, Copy, Debug)]
struct Settings {
    warmup: Duration,
    duration: Duration,
    connections: usize,
    /// Connections of the sign-in loads: hashing is CPU-bound, so more
    /// connections than cores only queue.
    sign_in_connections: usize,
}

fn settings() -> Settings {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(default)
    };
    if full {
        Settings {
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs_f64(env("NEUTRINO_BENCH_SECS", 10.0)),
            connections: (env("NEUTRINO_BENCH_CONNECTIONS", 64.0) as usize).max(1),
            sign_in_connections: (env("NEUTRINO_BENCH_SIGNIN_CONNECTIONS", 8.0) as usize).max(1),
        }
    } else {
        Settings {
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
            connections: 4,
            sign_in_connections: 2,
        }
    }
}

/// One request, sent again and again.
#[derive(Clone, Debug)]
struct Load {
    addr: SocketAddr,
    method: Method,
    path: String,
    cookie: Option<HeaderValue>,
    json: Option<Bytes>,
}

impl Load {
    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(header::HOST, self.addr.to_string())
            .header(header::ORIGIN, format!("http://{}", self.addr))
            .header(header::USER_AGENT, "neutrino-bench");
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie.clone());
        }
        let body = match &self.json {
            Some(json) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                json.clone()
            }
            None => Bytes::new(),
        };
        req.body(Full::new(body)).expect("a valid request")
    }
}

/// One answer, read whole.
struct Answer {
    status: StatusCode,
    set_cookies: Vec<String>,
    body: Bytes,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(
    sender: &mut Sender,
    load: &Load,
) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
    sender.ready().await?;
    let res = sender.send_request(load.request()).await?;
    let status = res.status();
    let set_cookies = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let body = res.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        set_cookies,
        body,
    })
}

/// One request on a fresh connection (set-up and checks).
async fn once(load: &Load) -> Answer {
    let mut sender = connect(load.addr).await.expect("connect");
    send(&mut sender, load).await.expect("an answer")
}

/// The CPU time this process has used (user and system, all threads), from
/// `/proc/self/stat` (Linux; `None` elsewhere). The servers measured in
/// process and the load generator share it, so its growth per answered
/// request compares the servers whatever else the machine runs.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ, 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// What one load run measured.
#[derive(Debug)]
struct Outcome {
    ok: u64,
    errors: u64,
    duration: Duration,
    /// CPU time of this process during the measured window, if known.
    cpu: Option<Duration>,
    /// Latencies of the successful requests, in microseconds, sorted.
    latencies: Vec<u32>,
}

impl Outcome {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.duration.as_secs_f64()
    }

    /// CPU microseconds of this process per answered request.
    fn cpu_per_request(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.ok > 0).then(|| cpu.as_secs_f64() * 1e6 / self.ok as f64)
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        Duration::from_micros(u64::from(self.latencies[i - 1]))
    }
}

/// Runs `load` on `s.connections` connections for the warm-up and then the
/// measured duration: the requests answered within the measured duration are
/// counted, each with its latency (from when it was sent).
async fn run(load: &Load, s: Settings) -> Outcome {
    let start = Instant::now();
    let measure_from = start + s.warmup;
    let end = measure_from + s.duration;
    let load = Arc::new(load.clone());
    // The CPU time of the measured window, sampled at its edges.
    let cpu_task = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let first = process_cpu();
        tokio::time::sleep_until(end.into()).await;
        Some(process_cpu()?.saturating_sub(first?))
    });
    let mut tasks = Vec::new();
    for _ in 0..s.connections {
        let load = load.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            let mut sender = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                if sender.is_none() {
                    match connect(load.addr).await {
                        Ok(s) => sender = Some(s),
                        Err(_) => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let conn = sender.as_mut().expect("connected");
                let answer = send(conn, &load).await;
                let done = Instant::now();
                let counted = done >= measure_from && done <= end;
                match answer {
                    Ok(a) if a.status.is_success() => {
                        if counted {
                            ok += 1;
                            let us = (done - t0).as_micros().min(u128::from(u32::MAX)) as u32;
                            latencies.push(us);
                        }
                    }
                    Ok(_) => errors += u64::from(counted),
                    Err(_) => {
                        errors += u64::from(counted);
                        sender = None;
                    }
                }
            }
            (ok, errors, latencies)
        }));
    }
    let mut out = Outcome {
        ok: 0,
        errors: 0,
        duration: s.duration,
        cpu: None,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (ok, errors, latencies) = t.await.expect("a load task");
        out.ok += ok;
        out.errors += errors;
        out.latencies.extend(latencies);
    }
    out.cpu = cpu_task.await.ok().flatten();
    out.latencies.sort_unstable();
    out
}

/// Signs the bench user up on `base` and returns the cookies it was given
/// as a `Cookie` header, checked by a `get-session` that finds the session.
async fn sign_up(addr: SocketAddr) -> (HeaderValue, Bytes) {
    let up = once(&Load {
        addr,
        method: Method::POST,
        path: "/api/auth/sign-up/email".into(),
        cookie: None,
        json: Some(Bytes::from(
            serde_json::json!({"name": "Bench", "email": EMAIL, "password": PASSWORD}).to_string(),
        )),
    })
    .await;
    assert_eq!(
        up.status,
        StatusCode::OK,
        "sign-up on {addr}: {}",
        String::from_utf8_lossy(&up.body)
    );
    let cookie = up
        .set_cookies
        .iter()
        .filter_map(|c| c.split(';').next())
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect::<Vec<_>>()
        .join("; ");
    let cookie = HeaderValue::from_str(&cookie).expect("a cookie header");
    let session = once(&get_session(addr, &cookie)).await;
    let body: serde_json::Value = serde_json::from_slice(&session.body).unwrap_or_default();
    assert!(
        session.status == StatusCode::OK && body["user"]["email"] == EMAIL,
        "get-session on {addr} finds the session: {} {}",
        session.status,
        String::from_utf8_lossy(&session.body)
    );
    (cookie, session.body)
}

fn get_session(addr: SocketAddr, cookie: &HeaderValue) -> Load {
    Load {
        addr,
        method: Method::GET,
        path: "/api/auth/get-session".into(),
        cookie: Some(cookie.clone()),
        json: None,
    }
}

fn sign_in(addr: SocketAddr) -> Load {
    Load {
        addr,
        method: Method::POST,
        path: "/api/auth/sign-in/email".into(),
        cookie: None,
        json: Some(Bytes::from(
            serde_json::json!({"email": EMAIL, "password": PASSWORD}).to_string(),
        )),
    }
}

/// A bare axum route answering `body` as JSON on the get-session path.
async fn start_bare(body: Bytes) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let app = Router::new().route(
        "/api/auth/get-session",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (addr, task)
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("a host:port origin")
}

fn row(name: &str, o: &Outcome) -> String {
    format!(
        "| {name} | {:.0} | {:.2} ms | {:.2} ms | {} | {} |",
        o.per_second(),
        o.percentile(0.50).as_secs_f64() * 1000.0,
        o.percentile(0.99).as_secs_f64() * 1000.0,
        o.errors,
        o.cpu_per_request()
            .map_or_else(|| "n/a".to_owned(), |us| format!("{us:.0} µs")),
    )
}

fn main() {
    let s = settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench(s));
}

async fn bench(s: Settings) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} connections ({} for sign-in), {:?} per load after a {:?} warm-up, {cores} cores",
        s.connections, s.sign_in_connections, s.duration, s.warmup
    );

    // The Rust server, in process, as the example runs it (validation cache
    // on), and the same without the cache (every get-session reads SQLite).
    let rust = server::start(&dir.path().join("rust"), None).await;
    let rust_addr = addr_of(&rust.url);
    let (rust_cookie, session_body) = sign_up(rust_addr).await;
    let uncached = server::start_with(&dir.path().join("rust-uncached"), None, false).await;
    let uncached_addr = addr_of(&uncached.url);
    let (uncached_cookie, _) = sign_up(uncached_addr).await;

    // The bare route answers the Rust server's own get-session bytes.
    let (bare_addr, bare_task) = start_bare(session_body).await;

    // Better Auth on Node, when it can run here.
    let node = match reference::node_missing() {
        Some(why) => {
            println!("Better Auth is not measured: {why}");
            None
        }
        None => {
            let (child, url) = reference::start_reference(&dir.path().join("better-auth"), None);
            let addr = addr_of(&url);
            let (cookie, _) = sign_up(addr).await;
            Some((child, addr, cookie))
        }
    };

    let mut rows = vec![
        "| GET /api/auth/get-session | requests/s | p50 | p99 | errors | CPU per request |"
            .to_owned(),
        "|---|---:|---:|---:|---:|---:|".to_owned(),
    ];
    // Interleaved, so that a change of the machine's load meets all three.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        3
    } else {
        1
    };
    let (mut bares, mut ourses, mut uncacheds) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        bares.push(run(&get_session(bare_addr, &rust_cookie), s).await);
        ourses.push(run(&get_session(rust_addr, &rust_cookie), s).await);
        uncacheds.push(run(&get_session(uncached_addr, &uncached_cookie), s).await);
    }
    for (i, ((bare, ours), uncached)) in bares.iter().zip(&ourses).zip(&uncacheds).enumerate() {
        let n = i + 1;
        rows.push(row(
            &format!("round {n}: bare axum route (constant body)"),
            bare,
        ));
        rows.push(row(
            &format!("round {n}: Rust server (neutrino-axum, SQLite, validation cache on)"),
            ours,
        ));
        rows.push(row(
            &format!("round {n}: Rust server, validation cache off"),
            uncached,
        ));
    }
    // Each round's ratios; the headline is the median round's.
    let ratios: Vec<(f64, f64)> = bares
        .iter()
        .zip(&ourses)
        .zip(&uncacheds)
        .map(|((b, o), u)| {
            let of = |x: &Outcome| x.per_second() / b.per_second().max(f64::MIN_POSITIVE);
            (of(o), of(u))
        })
        .collect();
    let mut order: Vec<usize> = (0..ratios.len()).collect();
    order.sort_by(|&a, &b| ratios[a].0.total_cmp(&ratios[b].0));
    let mid = order[order.len() / 2];
    let ours = &ourses[mid];
    let theirs = match &node {
        Some((_, addr, cookie)) => {
            let o = run(&get_session(*addr, cookie), s).await;
            rows.push(row("Better Auth 1.7.25 (Node, better-sqlite3)", &o));
            rows.push(String::new());
            rows.push(
                "(Better Auth's CPU per request counts only the load generator: its server is another process.)"
                    .to_owned(),
            );
            Some(o)
        }
        None => None,
    };

    rows.push(String::new());
    rows.push(
        "| POST /api/auth/sign-in/email | requests/s | p50 | p99 | errors | CPU per request |"
            .to_owned(),
    );
    rows.push("|---|---:|---:|---:|---:|---:|".to_owned());
    let check = once(&sign_in(rust_addr)).await;
    assert_eq!(check.status, StatusCode::OK, "sign-in on the Rust server");
    let s_in = Settings {
        connections: s.sign_in_connections,
        ..s
    };
    let ours_in = run(&sign_in(rust_addr), s_in).await;
    rows.push(row("Rust server (neutrino-axum, SQLite)", &ours_in));
    if let Some((_, addr, _)) = &node {
        let check = once(&sign_in(*addr)).await;
        assert_eq!(check.status, StatusCode::OK, "sign-in on Better Auth");
        let theirs_in = run(&sign_in(*addr), s_in).await;
        rows.push(row("Better Auth 1.7.25 (Node, better-sqlite3)", &theirs_in));
    }

    println!("{}", rows.join("\n"));
    for (i, (on, off)) in ratios.iter().enumerate() {
        println!(
            "round {}: Rust server / bare route {on:.2} (validation cache off: {off:.2})",
            i + 1
        );
    }
    let of_bare = ratios[mid].0;
    println!(
        "Rust server / bare route, median round: {of_bare:.2} (target at least 0.5: {})",
        if of_bare >= 0.5 { "met" } else { "not met" }
    );
    if let Some(theirs) = &theirs {
        let of_theirs = ours.per_second() / theirs.per_second().max(f64::MIN_POSITIVE);
        println!(
            "Rust server / Better Auth: {of_theirs:.1}x (target at least 20x: {})",
            if of_theirs >= 20.0 { "met" } else { "not met" }
        );
    }
    bare_task.abort();
    drop(node);
    drop(rust);
    drop(uncached);
}
