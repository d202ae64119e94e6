//! The core conformance suites on PostgreSQL.

mod common;

use std::sync::Arc;

use neutrino_core::sql::SqlExecutor;

async fn postgres_db() -> (Arc<dyn SqlExecutor>, common::SchemaGuard) {
    let (db, guard) = common::fresh_schema().await;
    (Arc::new(db), guard)
}

neutrino_core::sql_suite!(postgres_db);

async fn postgres_kv(
    clock: neutrino_core::clock::ManualClock,
) -> (Arc<dyn neutrino_core::kv::KvStore>, common::SchemaGuard) {
    let (db, guard) = common::fresh_schema().await;
    let kv = neutrino_postgres::PostgresKv::open_with_clock(db, "test", Arc::new(clock))
        .await
        .expect("open kv");
    (Arc::new(kv), guard)
}

neutrino_core::kv_suite!(postgres_kv);

mod provisioning {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use neutrino_core::async_trait;
    use neutrino_core::provision::{DatabaseConnector, Provisioner, ResourceKind, ResourceSpec};
    use neutrino_core::sql::{SqlExecutor, SqlExecutorExt, Statement};
    use neutrino_core::testkit::provisioner::RefusedDelete;
    use neutrino_postgres::PostgresProvisioner;

    use super::common;

    async fn provisioner() -> PostgresProvisioner {
        PostgresProvisioner::new(common::admin().await).lock_timeout(Duration::from_millis(300))
    }

    pub(super) async fn postgres_provisioner() -> (Arc<dyn Provisioner>, ()) {
        (Arc::new(provisioner().await), ())
    }

    /// Makes a delete fail by holding a lock on a table of the schema in an
    /// open transaction of another connection.
    pub(super) struct LockedTable {
        p: PostgresProvisioner,
        held: Mutex<HashMap<String, tokio_postgres::Client>>,
    }

    #[async_trait]
    impl RefusedDelete for LockedTable {
        fn kinds(&self) -> Vec<ResourceKind> {
            vec![ResourceKind::Database]
        }

        async fn arrange(&self, kind: ResourceKind, name: &str) {
            let db = self
                .p
                .connect(&self.p.get(kind, name).await.expect("get"))
                .await
                .expect("connect");
            db.batch(&[
                Statement::new(r#"CREATE TABLE "kept" ("id" INTEGER PRIMARY KEY, "v" TEXT)"#),
                Statement::new(r#"INSERT INTO "kept" ("id", "v") VALUES (1, 'still here')"#),
            ])
            .await
            .expect("content");
            let (client, connection) =
                tokio_postgres::connect(&common::url(), tokio_postgres::NoTls)
                    .await
                    .expect("connect");
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    r#"BEGIN; LOCK TABLE "{name}"."kept" IN ACCESS SHARE MODE"#
                ))
                .await
                .expect("lock");
            self.held.lock().unwrap().insert(name.to_owned(), client);
        }

        async fn content_intact(&self, kind: ResourceKind, name: &str) -> bool {
            let Ok(res) = self.p.get(kind, name).await else {
                return false;
            };
            let Ok(db) = self.p.connect(&res).await else {
                return false;
            };
            let row = db
                .query_opt(&Statement::new(r#"SELECT "v" FROM "kept" WHERE "id" = 1"#))
                .await;
            matches!(row, Ok(Some(r)) if r.get::<String>("v").ok().as_deref() == Some("still here"))
        }

        async fn release(&self, _kind: ResourceKind, name: &str) {
            let client = self.held.lock().unwrap().remove(name).expect("held");
            client.batch_execute("COMMIT").await.expect("release");
        }
    }

    pub(super) async fn locked() -> (Arc<dyn Provisioner>, Arc<dyn RefusedDelete>, ()) {
        let p = provisioner().await;
        (
            Arc::new(p.clone()),
            Arc::new(LockedTable {
                p,
                held: Mutex::new(HashMap::new()),
            }),
            (),
        )
    }

    /// The connector opens the schema's executor; other kinds and missing
    /// schemas are refused; a schema not made by the provisioner is never
    /// adopted, listed or dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connector_and_foreign_schemas() {
        let p = provisioner().await;
        let name = neutrino_core::testkit::unique("conn-");
        let res = p
            .create(&ResourceSpec::new(ResourceKind::Database, &name))
            .await
            .expect("create");
        let db = p.connect(&res).await.expect("connect");
        db.execute(&Statement::new(
            r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY)"#,
        ))
        .await
        .expect("a table in the schema");
        let admin = common::admin().await;
        admin
            .query_one(
                &Statement::new(format!(r#"SELECT COUNT(*) AS "n" FROM "{name}"."t""#)),
                "t",
                "-",
            )
            .await
            .expect("the table is in the resource's schema");
        let mut other = res.clone();
        other.kind = ResourceKind::Bucket;
        assert!(matches!(
            p.connect(&other).await.unwrap_err(),
            neutrino_core::Error::InvalidInput { .. }
        ));
        p.delete(ResourceKind::Database, &name)
            .await
            .expect("delete");
        assert!(p.connect(&res).await.unwrap_err().is_not_found());

        let foreign = neutrino_core::testkit::unique("foreign-");
        admin
            .execute(&Statement::new(format!(r#"CREATE SCHEMA "{foreign}""#)))
            .await
            .expect("foreign schema");
        let spec = ResourceSpec::new(ResourceKind::Database, &foreign);
        assert!(p.create(&spec).await.unwrap_err().is_already_exists());
        assert!(
            p.get(ResourceKind::Database, &foreign)
                .await
                .unwrap_err()
                .is_not_found()
        );
        assert!(
            p.list(ResourceKind::Database, &foreign)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            p.delete(ResourceKind::Database, &foreign)
                .await
                .unwrap_err()
                .is_permission_denied()
        );
        admin
            .execute(&Statement::new(format!(r#"DROP SCHEMA "{foreign}""#)))
            .await
            .expect("drop");
        let public = ResourceSpec::new(ResourceKind::Database, "public");
        assert!(p.create(&public).await.is_err(), "public is never adopted");
    }
}

neutrino_core::provisioner_suite!(
    provisioning::postgres_provisioner,
    refused_delete = provisioning::locked
);
