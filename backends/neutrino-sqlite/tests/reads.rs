//! Reads on the caller's thread: long reads leave the async runtime free, a `BEGIN` through `query` never leaves a reader on
//! an old snapshot, lost connections are replaced, and many concurrent readers
//! share a small pool while writes go on. Readers map the database file and
//! still see every write, across the writer's idle checkpoints, the file
//! growing, and the file shrinking under their maps.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use neutrino_core::sql::{SqlExecutor, SqlExecutorExt, Statement};
use neutrino_sqlite::{SqliteExecutor, SqliteExecutorBuilder};

/// A read-only statement that runs for a long time (hundreds of
/// milliseconds) in SQLite's virtual machine.
fn long_read() -> Statement {
    counting(3_000_000)
}

/// Counts to `n` in a recursive query: well over the inline budget for
/// `n` in the hundreds of thousands.
fn counting(n: i64) -> Statement {
    Statement::new(
        r#"WITH RECURSIVE c("x") AS (SELECT 1 UNION ALL SELECT "x" + 1 FROM c WHERE "x" < ?1) SELECT count(*) AS "n" FROM c"#,
    )
    .bind(n)
}

/// Counts how often the runtime polls a task that does nothing but yield,
/// until `stop` is set.
fn ticker(stop: Arc<AtomicBool>) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let ticks = Arc::new(AtomicU64::new(0));
    let t = Arc::clone(&ticks);
    let handle = tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            t.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    (ticks, handle)
}

async fn open(dir: &tempfile::TempDir) -> SqliteExecutor {
    let db = SqliteExecutor::open(dir.path().join("r.sqlite"))
        .await
        .unwrap();
    create_t(&db).await;
    db
}

/// Creates the table "t" ("id", "v").
async fn create_t(db: &SqliteExecutor) {
    db.execute(&Statement::new(
        r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "v" TEXT NOT NULL)"#,
    ))
    .await
    .unwrap();
}

/// An executor of "r.sqlite" in `dir` with `readers` read connections.
async fn with_readers(dir: &tempfile::TempDir, readers: usize) -> SqliteExecutor {
    SqliteExecutorBuilder::new(dir.path().join("r.sqlite"))
        .with_readers(readers)
        .build()
        .await
        .unwrap()
}

/// Runs the long read beside a ticker on the test's runtime, and checks that
/// the runtime went on running the ticker meanwhile.
async fn a_long_read_leaves_the_runtime_free() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let (ticks, took) = long_read_beside_ticker(db).await;
    assert!(
        took > Duration::from_millis(30),
        "the read is too short to tell ({took:?})"
    );
    assert!(
        ticks >= 5,
        "the runtime ran other tasks only {ticks} times during a {took:?} read"
    );
}

/// Runs the long read while a ticker task runs on the same runtime; returns
/// the ticks seen during the read and how long it took.
async fn long_read_beside_ticker(db: SqliteExecutor) -> (u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let (ticks, ticker) = ticker(Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reader = tokio::spawn(async move {
        let start = Instant::now();
        let n: i64 = db
            .query_one(&long_read(), "count", "c")
            .await
            .unwrap()
            .get("n")
            .unwrap();
        (n, start.elapsed())
    });
    let before = ticks.load(Ordering::Relaxed);
    let (n, took) = reader.await.unwrap();
    let during = ticks.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    ticker.await.unwrap();
    assert_eq!(n, 3_000_000);
    (during, took)
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_read_leaves_a_current_thread_runtime_free() {
    a_long_read_leaves_the_runtime_free().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_long_read_leaves_a_multi_thread_runtime_free() {
    a_long_read_leaves_the_runtime_free().await;
}

#[tokio::test]
async fn a_begin_through_query_never_leaves_a_reader_on_an_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = with_readers(&dir, 1).await;
    create_t(&db).await;
    let count = Statement::new(r#"SELECT count(*) AS "n" FROM "t""#);
    for begin in ["BEGIN", "BEGIN DEFERRED", "SAVEPOINT s"] {
        let before: i64 = common::count_n(&db, &count).await;
        // Whether or not it succeeds, it must not pin the reader's snapshot.
        let _ = db.query(&Statement::new(begin)).await;
        let _ = db.query(&count).await;
        db.execute(&Statement::new(r#"INSERT INTO "t" ("v") VALUES ('x')"#))
            .await
            .unwrap();
        let after: i64 = common::count_n(&db, &count).await;
        assert_eq!(after, before + 1, "a read after {begin:?} missed a write");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_long_read_does_not_shrink_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let db = with_readers(&dir, 1).await;
    for _ in 0..2 {
        let r =
            tokio::time::timeout(Duration::from_millis(2), db.query(&counting(1_000_000))).await;
        assert!(r.is_err(), "the long read should have been cancelled");
    }
    let one = db
        .query_one(&Statement::new(r#"SELECT 1 AS "one""#), "row", "1")
        .await
        .unwrap();
    assert_eq!(one.get::<i64>("one").unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_readers_share_a_small_pool_and_read_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = with_readers(&dir, 2).await;
    db.execute(&Statement::new(
        r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "task" INTEGER NOT NULL)"#,
    ))
    .await
    .unwrap();
    let tasks: Vec<_> = (0..16_i64)
        .map(|task| {
            let db = db.clone();
            tokio::spawn(async move {
                let mine = Statement::new(r#"SELECT count(*) AS "n" FROM "t" WHERE "task" = ?1"#)
                    .bind(task);
                for i in 1..=20_i64 {
                    db.execute(
                        &Statement::new(r#"INSERT INTO "t" ("task") VALUES (?1)"#).bind(task),
                    )
                    .await
                    .unwrap();
                    let n: i64 = common::count_n(&db, &mine).await;
                    assert_eq!(n, i, "task {task} missed its own write");
                    if i % 10 == 0 {
                        let rows = db.query(&counting(100_000)).await.unwrap();
                        assert_eq!(rows.len(), 1);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n: i64 = common::count_n(&db, &Statement::new(r#"SELECT count(*) AS "n" FROM "t""#)).await;
    assert_eq!(n, 16 * 20);
}

#[tokio::test]
async fn rows_are_named_by_the_schema_they_were_read_under() {
    let dir = tempfile::tempdir().unwrap();
    for cache in [1, 128] {
        let db = SqliteExecutorBuilder::new(dir.path().join(format!("n{cache}.sqlite")))
            .with_readers(1)
            .with_statement_cache(cache)
            .build()
            .await
            .unwrap();
        create_t(&db).await;
        db.execute(&Statement::new(r#"INSERT INTO "t" ("v") VALUES ('a')"#))
            .await
            .unwrap();
        let all = Statement::new(r#"SELECT * FROM "t""#);
        let other = Statement::new(r#"SELECT "id" AS "other" FROM "t""#);
        let names = |rows: Vec<neutrino_core::sql::Row>| rows[0].columns().to_vec();
        for _ in 0..3 {
            assert_eq!(names(db.query(&all).await.unwrap()), ["id", "v"]);
            // With a one-statement cache, this evicts the other statement.
            db.query(&other).await.unwrap();
        }
        db.execute(&Statement::new(
            r#"ALTER TABLE "t" RENAME COLUMN "v" TO "w""#,
        ))
        .await
        .unwrap();
        for _ in 0..3 {
            // The reader sees the new schema first through another statement,
            // so the next one is prepared under it rather than prepared again.
            db.query(&other).await.unwrap();
            assert_eq!(
                names(db.query(&all).await.unwrap()),
                ["id", "w"],
                "cache {cache}"
            );
        }
        db.execute(&Statement::new(r#"ALTER TABLE "t" ADD COLUMN "x" INTEGER"#))
            .await
            .unwrap();
        for _ in 0..3 {
            let rows = db.query(&all).await.unwrap();
            assert_eq!(rows[0].columns(), ["id", "w", "x"], "cache {cache}");
            assert_eq!(rows[0].get::<String>("w").unwrap(), "a");
            db.query(&other).await.unwrap();
        }
    }
}

/// SQL with no statement in it (empty, white space, comments) read from a
/// file database answers no rows and never panics, on every read path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_without_a_statement_reads_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    for sql in ["", "   ", "-- only a comment", "/* a comment */", ";"] {
        for _ in 0..3 {
            let rows = db.query(&Statement::new(sql)).await;
            assert!(
                rows.as_ref().is_ok_and(|r| r.is_empty()),
                "{sql:?}: {rows:?}"
            );
        }
    }
    assert_eq!(
        db.query(&Statement::new("SELECT 1 AS \"one\""))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// The `mmap_size` a reader runs with, read through `query`.
async fn reader_mmap_size(db: &SqliteExecutor) -> i64 {
    db.query_one(&Statement::new("PRAGMA mmap_size"), "pragma", "mmap_size")
        .await
        .unwrap()
        .get("mmap_size")
        .unwrap()
}

#[tokio::test]
async fn readers_map_the_database_file_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let mapped = SqliteExecutor::open(dir.path().join("m.sqlite"))
        .await
        .unwrap();
    assert_eq!(reader_mmap_size(&mapped).await, 1 << 30);
    let unmapped = SqliteExecutorBuilder::new(dir.path().join("m.sqlite"))
        .with_read_mmap_size(0)
        .build()
        .await
        .unwrap();
    assert_eq!(reader_mmap_size(&unmapped).await, 0);
}

/// Whether the database file alone (without its WAL) holds `n` rows in "t":
/// a copy of the file is opened where no WAL is next to it.
fn file_alone_has_rows(path: &std::path::Path, n: i64) -> bool {
    let copy = tempfile::tempdir().unwrap();
    let to = copy.path().join("copy.sqlite");
    std::fs::copy(path, &to).unwrap();
    let c = rusqlite::Connection::open(&to).unwrap();
    c.query_row(r#"SELECT count(*) FROM "t""#, [], |r| r.get::<_, i64>(0))
        .is_ok_and(|got| got == n)
}

#[tokio::test]
async fn an_idle_writer_checkpoints_the_wal_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let db = open(&dir).await;
    let rows: Vec<Statement> = (0..50)
        .map(|i| Statement::new(r#"INSERT INTO "t" ("v") VALUES (?1)"#).bind(format!("row {i}")))
        .collect();
    db.batch(&rows).await.unwrap();
    // Far below SQLite's own checkpoint (1,000 WAL pages): the rows are in the
    // WAL only.
    assert!(!file_alone_has_rows(&path, 50));
    let start = Instant::now();
    while !file_alone_has_rows(&path, 50) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the idle writer never checkpointed the WAL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_readers_see_every_write_across_checkpoints_and_file_growth() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let count = Statement::new(r#"SELECT count(*) AS "n", max("v") AS "m" FROM "t""#);
    let mut total = 0_i64;
    for round in 0..3_i64 {
        // Rows of 2 KiB: each round grows the file past what was mapped.
        let rows: Vec<Statement> = (0..300)
            .map(|_| {
                Statement::new(r#"INSERT INTO "t" ("v") VALUES (?1)"#)
                    .bind(format!("{round}{}", "x".repeat(2048)))
            })
            .collect();
        db.batch(&rows).await.unwrap();
        total += 300;
        for wait in [0, 1_300] {
            // Read right after the write (pages in the WAL), and after the
            // writer's idle checkpoint (pages in the mapped file).
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let (db, count) = (db.clone(), count.clone());
                    tokio::spawn(async move {
                        let row = db.query_one(&count, "count", "t").await.unwrap();
                        (
                            row.get::<i64>("n").unwrap(),
                            row.get::<String>("m").unwrap(),
                        )
                    })
                })
                .collect();
            for t in tasks {
                let (n, m) = t.await.unwrap();
                assert_eq!(n, total, "round {round}, after {wait} ms");
                assert!(m.starts_with(&round.to_string()), "round {round}: {m:.4}");
            }
        }
        db.execute(
            &Statement::new(r#"UPDATE "t" SET "v" = ?1 WHERE "id" = 1"#)
                .bind(format!("{}", round + 1)),
        )
        .await
        .unwrap();
        let v: String = db
            .query_one(
                &Statement::new(r#"SELECT "v" FROM "t" WHERE "id" = 1"#),
                "t",
                "1",
            )
            .await
            .unwrap()
            .get("v")
            .unwrap();
        assert_eq!(v, (round + 1).to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_readers_survive_the_file_shrinking_under_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let db = open(&dir).await;
    let rows: Vec<Statement> = (0..2_000)
        .map(|i| {
            Statement::new(r#"INSERT INTO "t" ("v") VALUES (?1)"#)
                .bind(format!("{i:04}{}", "y".repeat(1024)))
        })
        .collect();
    db.batch(&rows).await.unwrap();
    let count = Statement::new(r#"SELECT count(*) AS "n", sum(length("v")) AS "l" FROM "t""#);
    let read_all = |expect: i64| {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (db, count) = (db.clone(), count.clone());
                tokio::spawn(async move {
                    let row = db.query_one(&count, "count", "t").await.unwrap();
                    row.get::<i64>("n").unwrap()
                })
            })
            .collect();
        async move {
            for t in tasks {
                assert_eq!(t.await.unwrap(), expect);
            }
        }
    };
    // Every reader maps the whole file once it is checkpointed.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    read_all(2_000).await;
    let big = std::fs::metadata(&path).unwrap().len();
    db.execute(&Statement::new(r#"DELETE FROM "t" WHERE "id" > 10"#))
        .await
        .unwrap();
    db.execute(&Statement::new("VACUUM")).await.unwrap();
    read_all(10).await;
    // The checkpoint truncates the file below what the readers had mapped.
    let start = Instant::now();
    while std::fs::metadata(&path).unwrap().len() >= big / 4 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the file never shrank"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        read_all(10).await;
    }
    let rows: Vec<Statement> = (0..500)
        .map(|_| Statement::new(r#"INSERT INTO "t" ("v") VALUES ('z')"#))
        .collect();
    db.batch(&rows).await.unwrap();
    read_all(510).await;
}

/// Reads queue for the one connection of a pool, some of them long enough to
/// hold it on the blocking pool or in `block_in_place`: every waiting read is
/// woken and served, on both runtime flavours.
#[test]
fn reads_waiting_for_a_connection_are_all_served() {
    for multi in [false, true] {
        let mut builder = if multi {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        if multi {
            builder.worker_threads(2);
        }
        let rt = builder.enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let db = with_readers(&dir, 1).await;
            let tasks: Vec<_> = (0..16_i64)
                .map(|task| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        for i in 0..6_i64 {
                            let n = if (task + i) % 3 == 0 { 200_000 } else { 3 };
                            let row = db.query_one(&counting(n), "count", "c").await.unwrap();
                            assert_eq!(row.get::<i64>("n").unwrap(), n);
                        }
                    })
                })
                .collect();
            let all = async {
                for t in tasks {
                    t.await.unwrap();
                }
            };
            tokio::time::timeout(Duration::from_secs(60), all)
                .await
                .unwrap_or_else(|_| panic!("reads were left waiting (multi-thread: {multi})"));
        });
    }
}

/// The read locks this process holds on `shm` (start offsets in the file), from
/// Linux's /proc/locks.
#[cfg(target_os = "linux")]
fn read_locks_held(shm: &std::path::Path) -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(shm).unwrap().ino();
    let pid = std::process::id().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // id: POSIX ADVISORY READ pid maj:min:inode start end
            let at = f.iter().position(|w| *w == "POSIX")?;
            let (mode, owner, file, start) = (
                f.get(at + 2)?,
                f.get(at + 3)?,
                f.get(at + 4)?,
                f.get(at + 5)?,
            );
            (*mode == "READ"
                && *owner == pid
                && file.rsplit(':').next()?.parse::<u64>().ok()? == inode)
                .then(|| start.parse().ok())?
        })
        .collect()
}

/// Once the idle writer has checkpointed the WAL whole, the process keeps
/// holding the read lock that readers of a checkpointed database take (the
/// first read-mark slot of the WAL index, byte 123 of the `-shm` file), so a
/// read does not take and drop the file lock itself; it is let go for a
/// write, and taken again once the WAL is checkpointed.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_idle_executor_holds_the_read_lock_of_its_checkpointed_database() {
    const READ_MARK_0: u64 = 123;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let shm = dir.path().join("r.sqlite-shm");
    let db = open(&dir).await;
    let held = |want: bool| {
        let shm = shm.clone();
        async move {
            let start = Instant::now();
            while read_locks_held(&shm).contains(&READ_MARK_0) != want {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "read lock held: {}, expected {want}",
                    !want
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    held(true).await;
    // Let go before a write (SQLite's checkpoint after it must not wait), and
    // taken again only once the idle writer has checkpointed it.
    db.batch(&[Statement::new(r#"INSERT INTO "t" ("v") VALUES ('a')"#)])
        .await
        .unwrap();
    assert!(
        !read_locks_held(&shm).contains(&READ_MARK_0),
        "held during a write"
    );
    assert!(!file_alone_has_rows(&path, 1));
    held(true).await;
    assert!(file_alone_has_rows(&path, 1), "held before the checkpoint");
}

/// Another connection to the file, in this process or another, writes and
/// then checkpoints the WAL away (`TRUNCATE` waits for every reader) while an
/// executor sits idle holding its read lock: the checkpoint goes through
/// within the hold's renewal, and the executor reads the rows after it.
#[tokio::test]
async fn another_connection_checkpoints_past_an_idle_executor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let db = open(&dir).await;
    db.query(&Statement::new(r#"SELECT count(*) FROM "t""#))
        .await
        .unwrap();
    // Idle long enough to checkpoint and hold the read lock.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let path2 = path.clone();
    let took = tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(&path2).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        for i in 0..50 {
            c.execute(r#"INSERT INTO "t" ("v") VALUES (?1)"#, [format!("row {i}")])
                .unwrap();
        }
        let start = Instant::now();
        let (busy, log, done): (i64, i64, i64) = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((busy, log, done), (0, 0, 0), "the checkpoint was refused");
        start.elapsed()
    })
    .await
    .unwrap();
    assert!(
        took < Duration::from_secs(5),
        "the checkpoint waited {took:?}"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("r.sqlite-wal"))
            .unwrap()
            .len(),
        0
    );
    assert!(file_alone_has_rows(&path, 50));
    let n: i64 = common::count_n(&db, &Statement::new(r#"SELECT count(*) AS "n" FROM "t""#)).await;
    assert_eq!(n, 50);
}
