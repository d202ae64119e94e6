//! The race suite on the embedded backend: SQLite files for the auth database
//! and the registry, SQLite KV for the rate limiter's counters.

use std::sync::Arc;

use neutrino_auth::testkit::RaceStores;
use neutrino_core::clock::ManualClock;
use neutrino_core::memory::MemoryKv;
use neutrino_sqlite::{SqliteExecutor, SqliteKv};
use tempfile::TempDir;

async fn sqlite_files(clock: ManualClock) -> (RaceStores, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let auth_db = SqliteExecutor::open(dir.path().join("auth.sqlite"))
        .await
        .expect("auth db");
    let registry_db = SqliteExecutor::open(dir.path().join("registry.sqlite"))
        .await
        .expect("registry db");
    // A second handle on the auth file: counters shared by several servers.
    let counters = SqliteKv::open_with_clock(
        SqliteExecutor::open(dir.path().join("auth.sqlite"))
            .await
            .expect("auth db, second handle"),
        "auth-rate-limit",
        Arc::new(clock.clone()),
    )
    .await
    .expect("kv");
    let stores = RaceStores {
        auth_db: Arc::new(auth_db),
        registry_db: Arc::new(registry_db),
        registry_kv: Arc::new(MemoryKv::with_clock(Arc::new(clock))),
        counters: Arc::new(counters),
    };
    (stores, dir)
}

neutrino_auth::auth_race_suite!(sqlite_files);

mod common;

use common::{Fixture, PASSWORD, meta, unique_email};
use neutrino_auth::SignUpEmail;
use neutrino_core::sql::{SqlExecutor, Statement};

async fn member_rows(db: &SqliteExecutor, org: &str, user: &str) -> Vec<(String, String)> {
    db.query(
        &Statement::new(
            r#"SELECT "id", "role" FROM "member" WHERE "organizationId" = ?1 AND "userId" = ?2 ORDER BY "id""#,
        )
        .bind(org)
        .bind(user),
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
    .collect()
}

/// A database from before the unique membership index: exact duplicates are
/// merged by the migration; duplicates in different roles stop it with an
/// error naming the rows, and nothing is changed until they are resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_membership_migration_merges_exact_duplicates_and_names_conflicts() {
    let f = Fixture::new().await;
    let auth = f.auth().await;
    let mut users = Vec::new();
    for _ in 0..2 {
        users.push(
            auth.sign_up_email(SignUpEmail::new("U", unique_email(), PASSWORD), &meta())
                .await
                .unwrap()
                .user
                .id
                .to_string(),
        );
    }
    // Back to the schema before migration 6.
    f.db.batch(&[
        Statement::new(r#"DROP INDEX "member_organizationId_userId_uidx""#),
        Statement::new(
            r#"DELETE FROM "_neutrino_migrations" WHERE "component" = 'neutrino-auth' AND "version" = 6"#,
        ),
        Statement::new(
            r#"INSERT INTO "organization" ("id", "name", "slug", "createdAt") VALUES ('org0000001', 'O', 'o-dup', '2026-01-01T00:00:00.000Z')"#,
        ),
    ])
    .await
    .unwrap();
    let insert = |id: &str, user: &str, role: &str| {
        Statement::new(
            r#"INSERT INTO "member" ("id", "organizationId", "userId", "role", "createdAt") VALUES (?1, 'org0000001', ?2, ?3, '2026-01-01T00:00:00.000Z')"#,
        )
        .bind(id)
        .bind(user)
        .bind(role)
    };
    f.db.batch(&[
        insert("m-a-1", &users[0], "member"),
        insert("m-a-2", &users[0], "member"),
        insert("m-a-3", &users[0], "member"),
        insert("m-b-1", &users[1], "member"),
        insert("m-b-2", &users[1], "admin"),
    ])
    .await
    .unwrap();

    let e = auth.migrate().await.expect_err("differing duplicates");
    let msg = e.to_string();
    assert!(
        msg.contains("m-b-1 (member)") && msg.contains("m-b-2 (admin)") && msg.contains(&users[1]),
        "{msg}"
    );
    assert!(
        !msg.contains("m-a-"),
        "exact duplicates are not conflicts: {msg}"
    );
    assert_eq!(member_rows(&f.db, "org0000001", &users[0]).await.len(), 3);

    // Resolved by hand: the migration runs and merges the exact duplicates.
    f.db.execute(&Statement::new(
        r#"DELETE FROM "member" WHERE "id" = 'm-b-2'"#,
    ))
    .await
    .unwrap();
    assert_eq!(auth.migrate().await.unwrap(), vec![6]);
    assert_eq!(
        member_rows(&f.db, "org0000001", &users[0]).await,
        vec![("m-a-1".to_owned(), "member".to_owned())]
    );
    assert_eq!(member_rows(&f.db, "org0000001", &users[1]).await.len(), 1);
    // From now on the database refuses a second membership.
    let dup = f.db.execute(&insert("m-a-4", &users[0], "admin")).await;
    assert!(dup.unwrap_err().is_already_exists());
}
