//! The one-Sync experiment of the benches (`benches/one_sync`, not shipped):
//! under row-level security, a bound call reaches its tenant's rows only, the
//! binding never outlives the pipeline it was sent in (an error in the middle
//! included), a batch is atomic, a unique violation keeps its SQLSTATE, and
//! the password stays out of `Debug`.

mod common;

#[path = "../benches/one_sync/mod.rs"]
mod one_sync;

use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::sql::Value;
use neutrino_tenancy::{ColumnType, TenantStore, TenantTable};
use one_sync::{Fail, OneSync, Target};
use tokio_postgres::types::{ToSql, Type};

/// One statement's parameters.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

fn table() -> TenantTable {
    TenantTable::new(
        &neutrino_core::testkit::unique("onesync_"),
        &[("label", ColumnType::Text)],
    )
    .expect("table")
}

/// A fresh table migrated by the owner of a fresh schema under row-level
/// security, and the application role's target on it.
async fn migrated_table() -> (TenantTable, Target, common::RlsGuard) {
    let (owner, _app, guard) = common::fresh_rls_schema().await;
    let t = table();
    TenantStore::migrate(&owner, std::slice::from_ref(&t))
        .await
        .unwrap();
    let target = Target::from_url(&common::url(), &guard.app, Some(&guard.schema.name));
    (t, target, guard)
}

/// The settings of the binding as the connection sees them now.
async fn settings(c: &mut OneSync) -> [String; 3] {
    let mut out = [String::new(), String::new(), String::new()];
    for (o, name) in out.iter_mut().zip([
        "neutrino.platform",
        "neutrino.tenant",
        "neutrino.subtenants",
    ]) {
        *o = c.setting(name).await.unwrap().unwrap_or_default();
    }
    out
}

/// `e` is the database's refusal `code`, and no binding is left behind.
async fn refused_unbound(c: &mut OneSync, e: Fail, code: &str) {
    assert_eq!(e.code(), Some(code), "{e}");
    assert_eq!(settings(c).await, ["", "", ""]);
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_sync_binding_never_outlives_its_pipeline() {
    let (t, target, guard) = migrated_table().await;
    let mut c = OneSync::connect(&target).await.unwrap();
    let (p, a, b) = (
        PlatformId::generate().to_string(),
        TenantId::generate().to_string(),
        TenantId::generate().to_string(),
    );
    let insert = c
        .prepare(
            &format!(
                r#"INSERT INTO "{}" ("platform_id", "tenant_id", "id", "label") VALUES ($1, $2, $3, 'x')"#,
                t.name()
            ),
            &[Type::TEXT, Type::TEXT, Type::TEXT],
        )
        .await
        .unwrap();
    let select = c
        .prepare(
            &format!(r#"SELECT "id" FROM "{}" ORDER BY "id""#, t.name()),
            &[],
        )
        .await
        .unwrap();
    let ids = |rows: Vec<Vec<Value>>| rows.iter().map(|r| text(&r[0])).collect::<Vec<_>>();

    // A batch bound to `a`: both rows in, then visible to `a` only.
    let (a1, a2): (Params<'_>, Params<'_>) = (&[&p, &a, &"a1"], &[&p, &a, &"a2"]);
    let counts = c
        .batch(Some([&p, &a, ""]), &[(&insert, a1), (&insert, a2)])
        .await
        .unwrap();
    assert_eq!(counts, [1, 1]);
    assert_eq!(settings(&mut c).await, ["", "", ""]);
    assert_eq!(
        ids(c.query_bound([&p, &a, ""], &select, &[]).await.unwrap()),
        ["a1", "a2"]
    );
    assert!(
        c.query_bound([&p, &b, ""], &select, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        c.query(&select, &[]).await.unwrap().is_empty(),
        "unbound sees nothing"
    );
    assert_eq!(settings(&mut c).await, ["", "", ""]);

    // An error in the middle of a one-Sync pipeline: the first statement ran,
    // the second is a duplicate key, the third would run after it. Nothing
    // is kept, the SQLSTATE is the unique violation's, and nothing is bound
    // afterwards.
    let (b1, dup, b3): (Params<'_>, Params<'_>, Params<'_>) =
        (&[&p, &a, &"a3"], &[&p, &a, &"a1"], &[&p, &a, &"a4"]);
    let three = [(&*insert, b1), (&*insert, dup), (&*insert, b3)];
    let e = c.batch(Some([&p, &a, &b]), &three).await.unwrap_err();
    refused_unbound(&mut c, e, "23505").await;
    let seen = ids(c.query_bound([&p, &a, ""], &select, &[]).await.unwrap());
    assert_eq!(seen, ["a1", "a2"], "the batch is atomic");
    // The same in the pipeline's implicit transaction (no `BEGIN`): the
    // error aborts it whole.
    let e = c
        .batch_in(false, Some([&p, &a, ""]), &three)
        .await
        .unwrap_err();
    refused_unbound(&mut c, e, "23505").await;
    let seen = ids(c.query_bound([&p, &a, ""], &select, &[]).await.unwrap());
    assert_eq!(seen, ["a1", "a2"], "the implicit transaction is atomic");
    // The same for a bound call alone (the binding's select, then the
    // failing statement, under one Sync), and for a row-level-security
    // refusal (a row for another tenant).
    let e = c
        .query_bound([&p, &a, ""], &insert, &[&p, &a, &"a1"])
        .await
        .unwrap_err();
    refused_unbound(&mut c, e, "23505").await;
    let e = c
        .query_bound([&p, &a, ""], &insert, &[&p, &b, &"b1"])
        .await
        .unwrap_err();
    refused_unbound(&mut c, e, "42501").await;

    // A statement that opens a transaction of its own cannot keep the
    // binding past the call: the connection is rolled back, the call fails.
    let begin = c.prepare("BEGIN", &[]).await.unwrap();
    assert!(c.query_bound([&p, &a, &b], &begin, &[]).await.is_err());
    assert_eq!(settings(&mut c).await, ["", "", ""]);
    assert!(c.query(&select, &[]).await.unwrap().is_empty());
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_connections_in_parallel_each_see_their_own_binding() {
    let (t, target, guard) = migrated_table().await;
    let p = PlatformId::generate().to_string();
    let tenants: Vec<String> = (0..4).map(|_| TenantId::generate().to_string()).collect();
    let tasks = tenants.iter().cloned().map(|tenant| {
        let (target, p, name) = (target.clone(), p.clone(), t.name().to_owned());
        tokio::spawn(async move {
            let mut c = OneSync::connect(&target).await.unwrap();
            let insert = c
                .prepare(
                    &format!(
                        r#"INSERT INTO "{name}" ("platform_id", "tenant_id", "id", "label") VALUES ($1, $2, $3, 'x')"#
                    ),
                    &[Type::TEXT, Type::TEXT, Type::TEXT],
                )
                .await
                .unwrap();
            let select = c
                .prepare(&format!(r#"SELECT "tenant_id" FROM "{name}""#), &[])
                .await
                .unwrap();
            for i in 0..50 {
                let id = format!("{tenant}-{i}");
                c.query_bound([&p, &tenant, ""], &insert, &[&p, &tenant, &id])
                    .await
                    .unwrap();
                let rows = c.query_bound([&p, &tenant, ""], &select, &[]).await.unwrap();
                assert_eq!(rows.len(), i + 1);
                assert!(rows.iter().all(|r| text(&r[0]) == tenant));
            }
            assert_eq!(settings(&mut c).await, ["", "", ""]);
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.unwrap();
    }
    drop(guard);
}

#[test]
fn the_password_stays_out_of_debug() {
    let t = Target::from_url("postgres://app:s3cr3t-pw@localhost:5432/db", "", None);
    assert_eq!(t.password.as_deref(), Some("s3cr3t-pw"));
    let shown = format!("{t:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("app"), "{shown}");
}
