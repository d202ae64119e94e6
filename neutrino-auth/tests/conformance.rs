//! The auth conformance suite on the embedded backend, on SQLite files and
//! on SQLite in memory; and the check that the cross-tenant matrix has a row
//! for every public operation that takes a tenant.

use std::collections::BTreeSet;
use std::sync::Arc;

use neutrino_auth::testkit::AuthStores;
use neutrino_auth::testkit::matrix::{EXEMPT, OPERATIONS};
use neutrino_auth::testkit::scan::{Source, public_operations, tenant_taking_operations};
use neutrino_core::clock::ManualClock;
use neutrino_core::memory::MemoryKv;
use neutrino_sqlite::{SqliteExecutor, SqliteKv};
use tempfile::TempDir;

/// SQLite files for the two auth databases and the registry, SQLite KV on a
/// second handle of the auth file for the rate limiter's counters (counters
/// shared by several servers).
async fn sqlite_files(clock: ManualClock) -> (AuthStores, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = |name: &str| SqliteExecutor::open(dir.path().join(name));
    let auth_db = open("auth.sqlite").await.expect("auth db");
    let counters = SqliteKv::open_with_clock(
        open("auth.sqlite").await.expect("auth db, second handle"),
        "auth-rate-limit",
        Arc::new(clock.clone()),
    )
    .await
    .expect("kv");
    let stores = AuthStores {
        auth_db: Arc::new(auth_db),
        second_auth_db: Arc::new(open("auth-q.sqlite").await.expect("second auth db")),
        registry_db: Arc::new(open("registry.sqlite").await.expect("registry db")),
        registry_kv: Arc::new(MemoryKv::with_clock(Arc::new(clock))),
        counters: Arc::new(counters),
        tenant_db: None,
    };
    (stores, dir)
}

/// SQLite in memory: one database per store, SQLite KV on the auth database
/// for the counters.
async fn sqlite_memory(clock: ManualClock) -> (AuthStores, ()) {
    let auth_db = SqliteExecutor::memory().await.expect("auth db");
    let counters =
        SqliteKv::open_with_clock(auth_db.clone(), "auth-rate-limit", Arc::new(clock.clone()))
            .await
            .expect("kv");
    let stores = AuthStores {
        auth_db: Arc::new(auth_db),
        second_auth_db: Arc::new(SqliteExecutor::memory().await.expect("second auth db")),
        registry_db: Arc::new(SqliteExecutor::memory().await.expect("registry db")),
        registry_kv: Arc::new(MemoryKv::with_clock(Arc::new(clock))),
        counters: Arc::new(counters),
        tenant_db: None,
    };
    (stores, ())
}

mod file {
    use super::*;
    neutrino_auth::auth_suite!(sqlite_files);
}

mod memory {
    use super::*;
    neutrino_auth::auth_suite!(sqlite_memory);
}

fn sources() -> Vec<Source> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for (krate, dir) in [
        ("neutrino-auth", root.to_path_buf()),
        ("neutrino-tenancy", root.join("../neutrino-tenancy")),
    ] {
        let mut stack = vec![dir.join("src")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("source dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(Source {
                        krate: krate.to_owned(),
                        path: p
                            .strip_prefix(&dir)
                            .expect("under the crate")
                            .to_string_lossy()
                            .replace('\\', "/"),
                        text: std::fs::read_to_string(&p).expect("source"),
                    });
                }
            }
        }
    }
    out
}

/// Every public operation of neutrino-auth and neutrino-tenancy that takes a
/// tenant, a record of one, a user, an ID or a credential has a row in the
/// cross-tenant matrix or an exemption with its reason; and every row and
/// exemption names an operation that exists.
#[test]
fn every_tenant_taking_operation_has_a_row_in_the_matrix() {
    let sources = sources();
    let taking = tenant_taking_operations(&sources);
    assert!(
        taking.contains_key("Organizations::list_members")
            && taking.contains_key("TenantStore::get"),
        "the scan found nothing: {taking:?}"
    );
    let rows: BTreeSet<&str> = OPERATIONS.iter().map(|o| o.operation()).collect();
    let exempt: BTreeSet<&str> = EXEMPT.iter().map(|(o, _)| *o).collect();
    let missing: Vec<String> = taking
        .iter()
        .filter(|(op, _)| !rows.contains(op.as_str()) && !exempt.contains(op.as_str()))
        .map(|(op, params)| format!("{op}({params})"))
        .collect();
    assert!(
        missing.is_empty(),
        "operations without a row in the cross-tenant matrix \
         (neutrino_auth::testkit::matrix::OPERATIONS) or a reason in EXEMPT:\n  {}",
        missing.join("\n  ")
    );
    let all = public_operations(&sources);
    let stale: Vec<&str> = rows
        .iter()
        .chain(exempt.iter())
        .filter(|op| !all.contains(**op))
        .copied()
        .collect();
    assert!(
        stale.is_empty(),
        "matrix rows or exemptions naming no public operation: {stale:?}"
    );
    for (op, reason) in EXEMPT {
        assert!(!reason.trim().is_empty(), "{op} is exempt without a reason");
        assert!(!rows.contains(op), "{op} has a row and an exemption");
    }
}
