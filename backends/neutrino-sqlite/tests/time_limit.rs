//! The time limit of guarded calls: a runaway statement is interrupted with a
//! typed error, a batch is rolled back whole, the connection serves on, and
//! trusted calls are never limited.

use std::time::{Duration, Instant};

use neutrino_core::Error;
use neutrino_core::sql::{SqlExecutor, SqlExecutorExt, SqlGuard, Statement};
use neutrino_sqlite::{SqliteExecutor, SqliteExecutorBuilder};

/// Far longer than any limit here: a call that has not returned by then was
/// never interrupted.
const PATIENCE: Duration = Duration::from_secs(20);

const LIMIT: Duration = Duration::from_millis(100);

/// An endless statement that writes.
const ENDLESS_INSERT: &str = r#"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
    INSERT INTO "free" SELECT count(*) FROM c"#;

/// An endless statement that only reads.
const ENDLESS_SELECT: &str =
    r#"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"#;

async fn open(dir: &tempfile::TempDir, readers: usize) -> SqliteExecutor {
    let db = SqliteExecutorBuilder::new(dir.path().join("app.sqlite"))
        .with_readers(readers)
        .with_guarded_time_limit(Some(LIMIT))
        .build()
        .await
        .unwrap();
    db.execute(&Statement::new(r#"CREATE TABLE "free" ("v" INTEGER)"#))
        .await
        .unwrap();
    db
}

fn is_time_limit(e: &Error) -> bool {
    matches!(e, Error::InvalidInput { what: "sql statement", reason } if reason.contains("100 ms"))
}

async fn count(db: &SqliteExecutor) -> i64 {
    db.query_one(
        &Statement::new(r#"SELECT count(*) AS n FROM "free""#),
        "free",
        "all",
    )
    .await
    .unwrap()
    .get::<i64>("n")
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_guarded_statement_is_stopped_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    for readers in [0, 2] {
        let db = open(&dir, readers).await;
        let g = SqlGuard::new(["secret"]);
        let started = Instant::now();
        let w = tokio::time::timeout(
            PATIENCE,
            db.execute_guarded(&g, &Statement::new(ENDLESS_INSERT)),
        )
        .await
        .expect("the runaway write was never stopped");
        assert!(
            w.as_ref().is_err_and(is_time_limit),
            "readers {readers}: {w:?}"
        );
        assert!(started.elapsed() >= LIMIT);
        // On a pooled reader the read blocks the thread that polls it: run it
        // on a runtime of its own, so that a read never stopped fails the
        // test instead of hanging it.
        let (db2, g2) = (db.clone(), g.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let _ = tx.send(rt.block_on(async {
                db2.query_guarded(&g2, &Statement::new(ENDLESS_SELECT))
                    .await
            }));
        });
        let r = tokio::task::spawn_blocking(move || rx.recv_timeout(PATIENCE))
            .await
            .unwrap()
            .expect("the runaway read was never stopped");
        assert!(
            r.as_ref().is_err_and(is_time_limit),
            "readers {readers}: {r:?}"
        );
        assert_eq!(count(&db).await, 0);
        db.execute(&Statement::new(r#"DROP TABLE "free""#))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_batch_is_rolled_back_whole_and_the_connection_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 2).await;
    let g = SqlGuard::new(["secret"]);
    let one = Statement::new(r#"INSERT INTO "free" ("v") VALUES (?1)"#).bind(1);
    // Warm the statement cache with the guarded statement the batch starts
    // with, so the next uses find it cached.
    db.execute_guarded(&g, &one).await.unwrap();
    db.execute(&Statement::new(r#"DELETE FROM "free""#))
        .await
        .unwrap();
    let b = tokio::time::timeout(
        PATIENCE,
        db.batch_guarded(&g, &[one.clone(), Statement::new(ENDLESS_INSERT)]),
    )
    .await
    .expect("the runaway batch was never stopped");
    assert!(b.as_ref().is_err_and(is_time_limit), "{b:?}");
    assert_eq!(count(&db).await, 0, "the batch's first write was kept");
    // The connection serves on: cached guarded statements, new ones, trusted
    // ones, and a batch that commits.
    db.execute_guarded(&g, &one).await.unwrap();
    db.execute(&Statement::new(r#"INSERT INTO "free" ("v") VALUES (2)"#))
        .await
        .unwrap();
    db.batch_guarded(&g, &[one.clone(), one.clone()])
        .await
        .unwrap();
    db.batch(&[Statement::new(r#"INSERT INTO "free" ("v") VALUES (3)"#)])
        .await
        .unwrap();
    let rows = db
        .query_guarded(
            &g,
            &Statement::new(r#"SELECT "v" FROM "free" ORDER BY "v""#),
        )
        .await
        .unwrap();
    let vs: Vec<i64> = rows.iter().map(|r| r.get("v").unwrap()).collect();
    assert_eq!(vs, [1, 1, 1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_calls_are_not_limited() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 2).await;
    // Long enough to pass the guarded limit many times over.
    let long = r#"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)
        INSERT INTO "free" SELECT count(*) FROM c"#;
    let started = Instant::now();
    db.execute(&Statement::new(long)).await.unwrap();
    let took = started.elapsed();
    assert!(
        took > LIMIT,
        "the statement was too short to show it: {took:?}"
    );
    db.query(&Statement::new(long.replace(r#"INSERT INTO "free" "#, "")))
        .await
        .unwrap();
    db.batch(&[Statement::new(long)]).await.unwrap();
    assert_eq!(count(&db).await, 2);
}
