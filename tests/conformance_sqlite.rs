//! The conformance suites against the embedded default backend, on files in a
//! temporary folder (and SQL also on an in-memory database).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use neutrino::clock::ManualClock;
use neutrino::kv::KvStore;
use neutrino::object::{ObjectStore, PutOptions};
use neutrino::provision::{Provisioner, ResourceKind};
use neutrino::sql::{SqlExecutor, Statement};
use neutrino::sqlite::{LocalObjectStore, LocalProvisioner, SqliteExecutor, SqliteKv};
use neutrino_core::testkit::provisioner::RefusedDelete;
use tempfile::TempDir;

async fn sqlite_file() -> (Arc<dyn SqlExecutor>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteExecutor::open(dir.path().join("test.sqlite"))
        .await
        .expect("open");
    (Arc::new(db), dir)
}

async fn sqlite_kv(clock: ManualClock) -> (Arc<dyn KvStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteExecutor::open(dir.path().join("kv.sqlite"))
        .await
        .expect("open");
    let kv = SqliteKv::open_with_clock(db, "test", Arc::new(clock))
        .await
        .expect("kv");
    (Arc::new(kv), dir)
}

async fn local_objects() -> (Arc<dyn ObjectStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalObjectStore::open(dir.path())
        .await
        .expect("open bucket");
    (Arc::new(store), dir)
}

async fn local_provisioner() -> (Arc<dyn Provisioner>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = LocalProvisioner::open(dir.path()).await.expect("open root");
    (Arc::new(p), dir)
}

neutrino_core::sql_suite!(sqlite_file);
neutrino_core::kv_suite!(sqlite_kv);
neutrino_core::object_suite!(local_objects);
/// Makes the local provisioner's deletes fail: its trash folder, where a
/// deleted database file or bucket folder is moved before its data is removed,
/// is replaced by a file, so the move fails.
struct LocalRefusal {
    local: Arc<LocalProvisioner>,
    trash: PathBuf,
}

const ROWS: usize = 3;

#[async_trait]
impl RefusedDelete for LocalRefusal {
    fn kinds(&self) -> Vec<ResourceKind> {
        vec![ResourceKind::Database, ResourceKind::Bucket]
    }

    async fn arrange(&self, kind: ResourceKind, name: &str) {
        match kind {
            ResourceKind::Database => {
                let db = self.local.database(name).await.expect("open");
                db.execute(&Statement::new(r#"CREATE TABLE "t" ("v" INTEGER)"#))
                    .await
                    .expect("create table");
                for i in 0..ROWS {
                    db.execute(&Statement::new(r#"INSERT INTO "t" VALUES (?1)"#).bind(i as i64))
                        .await
                        .expect("insert");
                }
            }
            _ => {
                let bucket = self.local.bucket(name).await.expect("open");
                for i in 0..ROWS {
                    bucket
                        .put(
                            &format!("dir/{i}.txt"),
                            format!("object {i}").into(),
                            &PutOptions::default(),
                        )
                        .await
                        .expect("put");
                }
            }
        }
        std::fs::remove_dir_all(&self.trash).expect("remove trash");
        std::fs::write(&self.trash, "not a folder").expect("block trash");
    }

    async fn content_intact(&self, kind: ResourceKind, name: &str) -> bool {
        match kind {
            ResourceKind::Database => {
                let Ok(db) = self.local.database(name).await else {
                    return false;
                };
                match db.query(&Statement::new(r#"SELECT "v" FROM "t""#)).await {
                    Ok(rows) => rows.len() == ROWS,
                    Err(_) => false,
                }
            }
            _ => {
                let Ok(bucket) = self.local.bucket(name).await else {
                    return false;
                };
                for i in 0..ROWS {
                    match bucket.get(&format!("dir/{i}.txt")).await {
                        Ok(o) if o.data == format!("object {i}").as_bytes() => {}
                        _ => return false,
                    }
                }
                true
            }
        }
    }

    async fn release(&self, _kind: ResourceKind, _name: &str) {
        std::fs::remove_file(&self.trash).expect("unblock trash");
        std::fs::create_dir(&self.trash).expect("trash folder");
    }
}

async fn local_refusal() -> (Arc<dyn Provisioner>, Arc<dyn RefusedDelete>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = Arc::new(LocalProvisioner::open(dir.path()).await.expect("open root"));
    let refusal = LocalRefusal {
        local: local.clone(),
        trash: dir.path().join(".trash"),
    };
    (local, Arc::new(refusal), dir)
}

neutrino_core::provisioner_suite!(local_provisioner, refused_delete = local_refusal);

mod in_memory {
    use super::*;

    async fn sqlite_memory() -> (Arc<dyn SqlExecutor>, ()) {
        (Arc::new(SqliteExecutor::memory().await.expect("open")), ())
    }

    neutrino_core::sql_suite!(sqlite_memory);
}

mod no_readers {
    //! Every call on the writer connection: the routing must not matter.
    use super::*;
    use neutrino::sqlite::SqliteExecutorBuilder;

    async fn writer_only() -> (Arc<dyn SqlExecutor>, TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = SqliteExecutorBuilder::new(dir.path().join("w.sqlite"))
            .with_readers(0)
            .with_handoff_spin(std::time::Duration::ZERO, std::time::Duration::ZERO)
            .build()
            .await
            .expect("open");
        (Arc::new(db), dir)
    }

    neutrino_core::sql_suite!(writer_only);
}
