//! The crash test: a child process onboards several platforms on the embedded
//! default (SQLite file registry, SQLite KV, `LocalProvisioner` in a folder) and
//! is killed (SIGKILL) at a random moment of its run; a second child resumes,
//! rolls back or tears down each platform and may be killed too; the undo then
//! runs again to the end, and an audit checks what is left:
//!
//! * nothing on disk (or recorded by the local provisioner) that the registry
//!   does not record as a ready resource of a registered platform;
//! * nothing recorded as live that the provisioner does not have (same provider
//!   ID), and no resource twice;
//! * the KV status mirror agrees with the registry for every platform, and KV
//!   holds no status of an unknown platform;
//! * every SQLite file passes `PRAGMA integrity_check`;
//! * a resumed platform is active, complete, clean under `verify`, and takes
//!   writes and scopes; a rolled back or torn down one is deleted with no live
//!   resource.
//!
//! `NEUTRINO_CRASH_SEED` replays a run (the seed is printed on failure);
//! `NEUTRINO_CRASH_TRIALS` sets the number of trials (default 50).
//!
//! The child is this test binary run again with the ignored `crash_child` test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use neutrino_core::ids::{PlatformId, StackId};
use neutrino_core::kv::{KvStore, KvStoreExt};
use neutrino_core::migrate::{Migration, Migrations};
use neutrino_core::naming::{Domain, platform_status_key};
use neutrino_core::provision::{DatabaseConnector, Provisioner, ResourceKind};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::{LocalProvisioner, SqliteExecutor, SqliteKv};
use neutrino_tenancy::provision::{Plan, Provisioning, RetryPolicy};
use neutrino_tenancy::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

static APP_MIGRATIONS: Migrations = Migrations::new(
    "crash-test-app",
    &[
        Migration {
            version: 1,
            name: "users",
            statements: &[r#"CREATE TABLE "user" ("id" TEXT PRIMARY KEY, "email" TEXT NOT NULL)"#],
        },
        Migration {
            version: 2,
            name: "sessions",
            statements: &[
                r#"CREATE TABLE "session" ("id" TEXT PRIMARY KEY, "user_id" TEXT NOT NULL)"#,
                r#"CREATE INDEX "session_user" ON "session" ("user_id")"#,
            ],
        },
    ],
);

/// Platforms each onboarding child registers.
const PLATFORMS: usize = 3;

fn stack_id() -> StackId {
    "app0000001".parse().expect("a stack ID")
}

fn bootstrap(p: PlatformId) -> Plan {
    Plan::bootstrap(p, &Domain::default(), &[&APP_MIGRATIONS])
}

fn stack_plan(p: PlatformId) -> Plan {
    Plan::stack(p, stack_id(), &common::app_template()).expect("a stack plan")
}

/// What the undo does to a platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undo {
    Resume,
    Rollback,
    Teardown,
}

/// The undo for the `i`-th platform (by ID) of trial `trial`: every kind of
/// undo in every trial once there are three platforms.
fn undo_for(trial: usize, i: usize) -> Undo {
    match (trial + i) % 3 {
        0 => Undo::Resume,
        1 => Undo::Rollback,
        _ => Undo::Teardown,
    }
}

struct World {
    registry: Registry,
    kv: SqliteKv,
    local: Arc<LocalProvisioner>,
    provisioning: Provisioning,
}

async fn open(dir: &Path) -> World {
    let (registry, kv) =
        common::open_files(&dir.join("registry.sqlite"), &dir.join("kv.sqlite")).await;
    let local = Arc::new(
        LocalProvisioner::open(dir.join("cloud"))
            .await
            .expect("local provisioner"),
    );
    let provisioning = Provisioning::new(registry.clone(), local.clone() as Arc<dyn Provisioner>)
        .with_connector(local.clone() as Arc<dyn DatabaseConnector>)
        .with_retry(RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
        });
    World {
        registry,
        kv,
        local,
        provisioning,
    }
}

/// The child's work: `onboard` registers and provisions platforms (suspending
/// and reinstating the first on the way); `undo` carries out each platform's
/// undo.
async fn child(dir: &Path, mode: &str, trial: usize) {
    let w = open(dir).await;
    match mode {
        "onboard" => {
            for i in 0..PLATFORMS {
                let p = w
                    .registry
                    .create_platform(NewPlatform::new(
                        format!("Crash {i}"),
                        PlatformClass::Platform,
                    ))
                    .await
                    .expect("platform")
                    .id;
                w.provisioning
                    .apply(&bootstrap(p))
                    .await
                    .expect("bootstrap");
                w.registry
                    .create_tenant(p, NewTenant::new("first", "First tenant"))
                    .await
                    .expect("tenant");
                if i == 0 {
                    w.registry
                        .suspend(p, "crash-test", "status churn")
                        .await
                        .expect("suspend");
                    w.registry
                        .reinstate(p, "crash-test", "status churn")
                        .await
                        .expect("reinstate");
                }
                w.provisioning.apply(&stack_plan(p)).await.expect("stack");
            }
        }
        "undo" => undo(&w, trial).await,
        other => panic!("unknown child mode {other}"),
    }
}

async fn undo(w: &World, trial: usize) {
    let platforms = w.registry.platforms().await.expect("platforms");
    for (i, p) in platforms.iter().enumerate() {
        let p = p.id;
        match undo_for(trial, i) {
            Undo::Resume => {
                // The truth decides: a platform left suspended is reinstated by
                // the operator before the resume.
                if w.registry
                    .platform_record(p)
                    .await
                    .expect("platform")
                    .status
                    == PlatformStatus::Suspended
                {
                    w.registry
                        .reinstate(p, "crash-test", "resume")
                        .await
                        .expect("reinstate");
                }
                w.provisioning
                    .resume(&bootstrap(p))
                    .await
                    .expect("resume bootstrap");
                w.provisioning
                    .resume(&stack_plan(p))
                    .await
                    .expect("resume stack");
            }
            Undo::Rollback => {
                w.provisioning
                    .rollback(&stack_plan(p))
                    .await
                    .expect("roll back the stack");
                w.provisioning
                    .rollback(&bootstrap(p))
                    .await
                    .expect("roll back the bootstrap");
            }
            Undo::Teardown => w.provisioning.teardown_platform(p).await.expect("teardown"),
        }
    }
}

/// The helper the crash test runs as a child process (ignored in normal runs).
#[test]
#[ignore = "run by the crash test as a child process"]
fn crash_child() {
    let dir = std::env::var("NEUTRINO_CRASH_DIR").expect("NEUTRINO_CRASH_DIR");
    let mode = std::env::var("NEUTRINO_CRASH_MODE").expect("NEUTRINO_CRASH_MODE");
    let trial: usize = std::env::var("NEUTRINO_CRASH_TRIAL")
        .expect("NEUTRINO_CRASH_TRIAL")
        .parse()
        .expect("a trial number");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(child(Path::new(&dir), &mode, trial));
}

fn spawn(dir: &Path, mode: &str, trial: usize) -> std::process::Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NEUTRINO_CRASH_DIR", dir)
        .env("NEUTRINO_CRASH_MODE", mode)
        .env("NEUTRINO_CRASH_TRIAL", trial.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child")
}

/// Runs a child to the end; its stderr on failure.
fn run(dir: &Path, mode: &str, trial: usize) -> Result<Duration, String> {
    let start = Instant::now();
    let out = spawn(dir, mode, trial)
        .wait_with_output()
        .expect("wait for the child");
    if out.status.success() {
        Ok(start.elapsed())
    } else {
        Err(format!(
            "the {mode} child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs a child and SIGKILLs it after `after` (if it is still running then).
/// Whether it was killed.
fn run_and_kill(dir: &Path, mode: &str, trial: usize, after: Duration) -> Result<bool, String> {
    let mut child = spawn(dir, mode, trial);
    let deadline = Instant::now() + after;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            if status.success() {
                return Ok(false);
            }
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("the {mode} child failed ({status}): {err}"));
        }
        if Instant::now() >= deadline {
            child.kill().expect("SIGKILL the child");
            child.wait().expect("reap the child");
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

fn sqlite_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sqlite_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "sqlite") {
            out.push(path);
        }
    }
}

/// Everything the audit checks (see the module docs).
async fn audit(dir: &Path, trial: usize) -> Result<(), String> {
    // Integrity first, before anything opens (and checkpoints) the files.
    let mut files = Vec::new();
    sqlite_files(dir, &mut files);
    for f in &files {
        let db = SqliteExecutor::open(f).await.map_err(|e| e.to_string())?;
        let rows = db
            .query(&Statement::new("PRAGMA integrity_check"))
            .await
            .map_err(|e| e.to_string())?;
        let verdict: Vec<String> = rows
            .iter()
            .map(|r| r.get::<String>("integrity_check").unwrap_or_default())
            .collect();
        check(verdict == ["ok"], || {
            format!("{} fails integrity_check: {verdict:?}", f.display())
        })?;
    }

    let w = open(dir).await;
    let platforms = w.registry.platforms().await.map_err(|e| e.to_string())?;
    let ids: BTreeSet<PlatformId> = platforms.iter().map(|p| p.id).collect();

    // KV mirrors the registry, read raw (a registry read would repair it).
    for (i, p) in platforms.iter().enumerate() {
        let mirrored =
            w.kv.get(&platform_status_key(p.id))
                .await
                .map_err(|e| e.to_string())?;
        check(
            mirrored.as_deref() == Some(p.status.as_str().as_bytes()),
            || {
                format!(
                    "platform {} is {} in the registry (after {:?}) but {:?} in KV",
                    p.id,
                    p.status,
                    undo_for(trial, i),
                    mirrored.map(|m| String::from_utf8_lossy(&m).into_owned())
                )
            },
        )?;
    }
    for key in
        w.kv.list_all("platform:")
            .await
            .map_err(|e| e.to_string())?
    {
        let known = ids.iter().any(|p| key.name == platform_status_key(*p));
        check(known, || format!("KV holds {} of no platform", key.name))?;
    }

    // What the provisioner holds, and what is in its folders.
    let mut held: BTreeMap<(ResourceKind, String), String> = BTreeMap::new();
    for kind in ResourceKind::ALL {
        for r in w.local.list(kind, "").await.map_err(|e| e.to_string())? {
            let dup = held.insert((r.kind, r.name.clone()), r.provider_id);
            check(dup.is_none(), || format!("{kind} {} is held twice", r.name))?;
        }
    }
    // Every record of every platform (the registry's primary key makes a
    // (platform, kind, name) unique; a provider ID must be too).
    let mut live: BTreeMap<(ResourceKind, String), ResourceRecord> = BTreeMap::new();
    let mut provider_ids = BTreeSet::new();
    for p in &platforms {
        for r in w
            .registry
            .resources(p.id)
            .await
            .map_err(|e| e.to_string())?
        {
            if r.status == ResourceStatus::Deleted {
                continue;
            }
            if let Some(id) = &r.provider_id {
                check(provider_ids.insert(id.clone()), || {
                    format!("provider ID {id} is recorded twice")
                })?;
            }
            let dup = live.insert((r.kind, r.logical_name.clone()), r.clone());
            check(dup.is_none(), || {
                format!("{} {} is recorded twice", r.kind, r.logical_name)
            })?;
        }
    }
    for ((kind, name), provider_id) in &held {
        let rec = live.get(&(*kind, name.clone()));
        check(
            rec.is_some_and(|r| {
                r.status == ResourceStatus::Ready && r.provider_id.as_ref() == Some(provider_id)
            }),
            || format!("{kind} {name} exists but the registry records {rec:?}"),
        )?;
    }
    for ((kind, name), rec) in &live {
        check(
            rec.status == ResourceStatus::Ready
                && held.get(&(*kind, name.clone())) == rec.provider_id.as_ref(),
            || {
                format!(
                    "{kind} {name} is recorded as {rec:?} but the provisioner holds {:?}",
                    held.get(&(*kind, name.clone()))
                )
            },
        )?;
    }
    for (sub, kind) in [
        ("databases", ResourceKind::Database),
        ("buckets", ResourceKind::Bucket),
    ] {
        for entry in std::fs::read_dir(dir.join("cloud").join(sub)).map_err(|e| e.to_string())? {
            let name = entry
                .map_err(|e| e.to_string())?
                .file_name()
                .to_string_lossy()
                .into_owned();
            let base = ["-wal", "-shm", "-journal"]
                .iter()
                .fold(name.clone(), |n, s| {
                    n.strip_suffix(s).map(str::to_owned).unwrap_or(n)
                });
            let base = base.strip_suffix(".sqlite").unwrap_or(&base).to_owned();
            check(live.contains_key(&(kind, base.clone())), || {
                format!("{sub}/{name} is on disk but the registry does not know it")
            })?;
        }
    }

    // Each platform ended as its undo says.
    for (i, p) in platforms.iter().enumerate() {
        let own = live.values().filter(|r| r.platform == p.id).count();
        match undo_for(trial, i) {
            Undo::Resume => {
                check(p.status == PlatformStatus::Active, || {
                    format!("resumed platform {} is {}", p.id, p.status)
                })?;
                let want = bootstrap(p.id).creates().count() + stack_plan(p.id).creates().count();
                check(own == want, || {
                    format!(
                        "resumed platform {} has {own} live resources of {want}",
                        p.id
                    )
                })?;
                let drift = w
                    .provisioning
                    .verify(p.id)
                    .await
                    .map_err(|e| e.to_string())?;
                check(drift.is_clean(), || {
                    format!("resumed platform {} drifts: {drift:?}", p.id)
                })?;
                let t = w
                    .registry
                    .create_tenant(p.id, NewTenant::new("audit", "Audit"))
                    .await
                    .map_err(|e| format!("resumed platform {} refuses a tenant: {e}", p.id))?;
                w.registry
                    .operator_scope(p.id, t.id, "crash-test", "audit")
                    .await
                    .map_err(|e| format!("resumed platform {} refuses a scope: {e}", p.id))?;
            }
            undo => {
                check(p.status == PlatformStatus::Deleted, || {
                    format!("platform {} is {} after {undo:?}", p.id, p.status)
                })?;
                check(own == 0, || {
                    format!(
                        "platform {} keeps {own} live resources after {undo:?}",
                        p.id
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// One trial: onboarding killed after `kill_onboard`, the undo killed after
/// `kill_undo` (if `Some`), the undo again to the end, then the audit. How many
/// children were really killed (a child may finish first).
fn trial(
    dir: &Path,
    trial: usize,
    kill_onboard: Duration,
    kill_undo: Option<Duration>,
) -> Result<usize, String> {
    let mut killed = usize::from(run_and_kill(dir, "onboard", trial, kill_onboard)?);
    if let Some(after) = kill_undo {
        killed += usize::from(run_and_kill(dir, "undo", trial, after)?);
    }
    run(dir, "undo", trial)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(audit(dir, trial))?;
    Ok(killed)
}

#[test]
fn onboarding_killed_at_random_points_is_undone_to_a_consistent_state() {
    let seed: u64 = std::env::var("NEUTRINO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let trials: usize = std::env::var("NEUTRINO_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let started = Instant::now();
    let root = tempfile::tempdir().expect("temp dir");

    // Calibration: a whole run without kills, which must audit clean too.
    let dir = root.path().join("calibration");
    std::fs::create_dir_all(&dir).expect("dir");
    let onboard_time = run(&dir, "onboard", 0).expect("the onboarding child runs");
    let undo_time = run(&dir, "undo", 0).expect("the undo child runs");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(audit(&dir, 0))
        .unwrap_or_else(|e| panic!("calibration run (seed {seed}): {e}"));

    let mut rng = StdRng::seed_from_u64(seed);
    let plans: Vec<(usize, Duration, Option<Duration>)> = (1..=trials)
        .map(|t| {
            // Kill moments spread over the whole run (and a little past it).
            let onboard = onboard_time.mul_f64(rng.random_range(0.0..1.1));
            let undo = (t % 2 == 0).then(|| undo_time.mul_f64(rng.random_range(0.0..1.0)));
            (t, onboard, undo)
        })
        .collect();
    let plans = Arc::new(plans);
    let next = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (plans, next, killed) = (plans.clone(), next.clone(), killed.clone());
            let root = root.path().to_owned();
            std::thread::spawn(move || -> Result<(), String> {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(t, onboard, undo)) = plans.get(i) else {
                        return Ok(());
                    };
                    let dir = root.join(format!("trial-{t}"));
                    std::fs::create_dir_all(&dir).expect("dir");
                    let k = trial(&dir, t, onboard, undo).map_err(|e| {
                        format!(
                            "trial {t} (onboarding killed after {onboard:?}, undo killed after {undo:?}): {e}"
                        )
                    })?;
                    killed.fetch_add(k, Ordering::SeqCst);
                    let _ = std::fs::remove_dir_all(&dir);
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .expect("worker")
            .unwrap_or_else(|e| panic!("crash test failed, seed {seed}: {e}"));
    }
    let killed = killed.load(Ordering::SeqCst);
    eprintln!(
        "crash test: {trials} trials passed, {killed} children killed mid-run (seed {seed}; onboarding {onboard_time:?}, undo {undo_time:?}; {:?} in all)",
        started.elapsed()
    );
    assert!(
        killed >= trials / 2,
        "too few children were killed mid-run ({killed} of {trials} trials): the kill moments do not cover the run"
    );
}
