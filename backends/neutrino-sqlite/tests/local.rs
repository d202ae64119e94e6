//! Behaviour of the embedded backend beyond the shared port contracts: deletes
//! leave no data behind, readers run beside a writer, expired keys are purged
//! (traces: `tests/tracing.rs`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neutrino_core::clock::ManualClock;
use neutrino_core::kv::KvStore;
use neutrino_core::object::{ObjectStore, PutOptions};
use neutrino_core::provision::{Provisioner, ResourceKind, ResourceSpec};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::{LocalProvisioner, SqliteExecutor, SqliteKv};

async fn create(local: &LocalProvisioner, kind: ResourceKind, name: &str) {
    local.create(&ResourceSpec::new(kind, name)).await.unwrap();
}

/// The value of "k" in the namespace `ns`.
async fn get_k(local: &LocalProvisioner, ns: &str) -> Option<Bytes> {
    local.kv(ns).await.unwrap().get("k").await.unwrap()
}

/// The names `sql` reads from the `sqlite_master` of the database at `path`.
async fn table_names(path: impl AsRef<std::path::Path>, sql: &str) -> Vec<String> {
    let db = SqliteExecutor::open(path.as_ref()).await.unwrap();
    let rows = db.query(&Statement::new(sql)).await.unwrap();
    rows.iter()
        .map(|r| r.get::<String>("name").unwrap())
        .collect()
}

#[tokio::test]
async fn deleting_a_bucket_removes_every_object_and_the_folder() {
    let root = tempfile::tempdir().unwrap();
    let local = LocalProvisioner::open(root.path()).await.unwrap();
    create(&local, ResourceKind::Bucket, "k3m9p2xw7q-default-storage").await;
    let bucket = local.bucket("k3m9p2xw7q-default-storage").await.unwrap();
    for i in 0..20 {
        bucket
            .put(
                &format!("dir/{i}.bin"),
                Bytes::from(vec![1u8; 1000]),
                &PutOptions::default(),
            )
            .await
            .unwrap();
    }
    let folder = root.path().join("buckets/k3m9p2xw7q-default-storage");
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 20);
    local
        .delete(ResourceKind::Bucket, "k3m9p2xw7q-default-storage")
        .await
        .unwrap();
    assert!(!folder.exists(), "no remnant of the bucket may remain");
    assert!(
        local
            .bucket("k3m9p2xw7q-default-storage")
            .await
            .unwrap_err()
            .is_not_found()
    );
    create(&local, ResourceKind::Bucket, "k3m9p2xw7q-default-storage").await;
    let again = local.bucket("k3m9p2xw7q-default-storage").await.unwrap();
    assert!(
        again.get("dir/0.bin").await.unwrap_err().is_not_found(),
        "a recreated bucket starts empty"
    );
}

#[tokio::test]
async fn deleting_a_database_removes_its_file_and_journal() {
    let root = tempfile::tempdir().unwrap();
    let local = LocalProvisioner::open(root.path()).await.unwrap();
    let name = "k3m9p2xw7q-default-db";
    create(&local, ResourceKind::Database, name).await;
    {
        let db = local.database(name).await.unwrap();
        db.execute(&Statement::new(r#"CREATE TABLE "t" ("v" TEXT)"#))
            .await
            .unwrap();
        db.execute(&Statement::new(r#"INSERT INTO "t" VALUES ('secret row')"#))
            .await
            .unwrap();
    }
    local.delete(ResourceKind::Database, name).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(root.path().join("databases"))
        .unwrap()
        .collect();
    assert!(files.is_empty(), "left behind: {files:?}");
    create(&local, ResourceKind::Database, name).await;
    let db = local.database(name).await.unwrap();
    let e = db
        .query(&Statement::new(r#"SELECT * FROM "t""#))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no such table"), "{e}");
}

#[tokio::test]
async fn deleting_a_kv_namespace_removes_only_its_keys() {
    let root = tempfile::tempdir().unwrap();
    let local = LocalProvisioner::open(root.path()).await.unwrap();
    for ns in ["aaaaaaaaaa-default-kv", "bbbbbbbbbb-default-kv"] {
        create(&local, ResourceKind::KvNamespace, ns).await;
        local
            .kv(ns)
            .await
            .unwrap()
            .put("k", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
    }
    local
        .delete(ResourceKind::KvNamespace, "aaaaaaaaaa-default-kv")
        .await
        .unwrap();
    assert!(
        local
            .kv("aaaaaaaaaa-default-kv")
            .await
            .unwrap_err()
            .is_not_found()
    );
    create(&local, ResourceKind::KvNamespace, "aaaaaaaaaa-default-kv").await;
    assert_eq!(get_k(&local, "aaaaaaaaaa-default-kv").await, None);
    assert_eq!(
        get_k(&local, "bbbbbbbbbb-default-kv").await,
        Some(Bytes::from_static(b"v"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_read_while_the_writer_writes_and_never_see_half_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(dir.path().join("c.sqlite"))
        .await
        .unwrap();
    db.execute(&Statement::new(
        r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "pad" BLOB)"#,
    ))
    .await
    .unwrap();
    const N: i64 = 20_000;
    let inserts: Vec<Statement> = (0..N)
        .map(|i| Statement::new(r#"INSERT INTO "t" VALUES (?1, zeroblob(200))"#).bind(i))
        .collect();
    let writer = {
        let db = db.clone();
        tokio::spawn(async move { db.batch(&inserts).await })
    };
    let count = Statement::new(r#"SELECT COUNT(*) AS "n" FROM "t""#);
    let mut reads_during_write = 0;
    let mut seen = Vec::new();
    while !writer.is_finished() {
        let n: i64 = common::count_n(&db, &count).await;
        seen.push(n);
        if !writer.is_finished() {
            reads_during_write += 1;
        }
    }
    writer.await.unwrap().unwrap();
    assert!(
        reads_during_write > 0,
        "readers were blocked for the whole write"
    );
    assert!(
        seen.iter().all(|&n| n == 0 || n == N),
        "a reader saw part of a batch: {seen:?}"
    );
    let n: i64 = common::count_n(&db, &count).await;
    assert_eq!(n, N);
}

#[tokio::test]
async fn purge_expired_deletes_only_expired_keys_of_its_namespace() {
    let clock = ManualClock::new();
    let db = SqliteExecutor::memory().await.unwrap();
    let a = SqliteKv::open_with_clock(db.clone(), "a", Arc::new(clock.clone()))
        .await
        .unwrap();
    let b = SqliteKv::open_with_clock(db.clone(), "b", Arc::new(clock.clone()))
        .await
        .unwrap();
    a.put(
        "short",
        Bytes::from_static(b"1"),
        Some(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    a.put("forever", Bytes::from_static(b"2"), None)
        .await
        .unwrap();
    b.put(
        "short",
        Bytes::from_static(b"3"),
        Some(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    clock.advance(Duration::from_secs(61));
    assert_eq!(a.purge_expired().await.unwrap(), 1);
    assert_eq!(a.purge_expired().await.unwrap(), 0);
    let rows = db
        .query(&Statement::new(
            r#"SELECT "namespace", "key" FROM "_neutrino_kv" ORDER BY 1, 2"#,
        ))
        .await
        .unwrap();
    let left: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get("namespace").unwrap(), r.get("key").unwrap()))
        .collect();
    assert_eq!(
        left,
        [("a".into(), "forever".into()), ("b".into(), "short".into())]
    );
}

/// The tables this backend keeps in a database it may share with a host app are
/// reserved, so raw SQL handed to host code can never reach them.
#[tokio::test]
async fn the_backends_own_tables_are_reserved() {
    let root = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(root.path().join("own.sqlite"))
        .await
        .unwrap();
    SqliteKv::open(db.clone(), "ns").await.unwrap();
    LocalProvisioner::open(root.path().join("local"))
        .await
        .unwrap();
    let mut tables = Vec::new();
    let not_sqlites = r#"SELECT "name" FROM sqlite_master WHERE "type" = 'table' AND "name" NOT LIKE 'sqlite\_%' ESCAPE '\'"#;
    for file in [root.path().join("own.sqlite")] {
        tables.extend(table_names(file, not_sqlites).await);
    }
    for entry in std::fs::read_dir(root.path().join("local")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sqlite") {
            tables.extend(
                table_names(
                    &path,
                    r#"SELECT "name" FROM sqlite_master WHERE "type" = 'table'"#,
                )
                .await,
            );
        }
    }
    assert!(tables.iter().any(|t| t == "_neutrino_kv"), "{tables:?}");
    for t in tables.iter().filter(|t| !t.starts_with("sqlite_")) {
        assert!(
            neutrino_core::naming::RESERVED_TABLES.contains(&t.as_str()),
            "{t} is not reserved"
        );
    }
}
