//! Cases of the [`SqlExecutor`] contract.

use crate::error::Error;
use crate::ids::{PlatformId, TenantId};
use crate::sql::{Dialect, SqlExecutor, SqlExecutorExt, Statement, TenantBinding, Value};

use super::{join_all, unique};

async fn table(db: &dyn SqlExecutor, columns: &str) -> String {
    let name = unique("t_");
    db.execute(&Statement::new(format!(
        r#"CREATE TABLE "{name}" ({columns})"#
    )))
    .await
    .expect("create table");
    name
}

async fn count(db: &dyn SqlExecutor, table: &str) -> i64 {
    db.query_one(
        &Statement::new(format!(r#"SELECT COUNT(*) AS "n" FROM "{table}""#)),
        "row",
        table,
    )
    .await
    .expect("count")
    .get("n")
    .expect("count is an integer")
}

/// What a backend's wire format can carry. The SQL suite checks exact round trips
/// of what a backend carries and, for what it cannot, that the backend refuses
/// the value with `InvalidInput` instead of storing something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlCaps {
    /// Integers of the whole `i64` range (else only up to ±(2^53 - 1), as JSON
    /// numbers carry them).
    pub full_range_integers: bool,
    /// Blob values.
    pub blobs: bool,
}

impl SqlCaps {
    /// Everything SQLite stores.
    pub const FULL: SqlCaps = SqlCaps {
        full_range_integers: true,
        blobs: true,
    };

    /// Whether a backend with these capabilities must carry `v` exactly.
    pub fn carries(&self, v: &Value) -> bool {
        const MAX_SAFE: i64 = (1 << 53) - 1;
        match v {
            Value::Integer(i) => self.full_range_integers || (-MAX_SAFE..=MAX_SAFE).contains(i),
            Value::Blob(_) => self.blobs,
            _ => true,
        }
    }
}

/// Every value type round-trips unchanged, extremes included.
pub async fn values_round_trip_with_their_types(db: &dyn SqlExecutor) {
    values_round_trip_within(db, SqlCaps::FULL).await;
}

/// Every value the backend carries round-trips unchanged; every other value is
/// refused with `InvalidInput` and nothing is written.
pub async fn values_round_trip_within(db: &dyn SqlExecutor, caps: SqlCaps) {
    if db.dialect() != Dialect::Sqlite {
        return typed_values_round_trip(db).await;
    }
    // A column without a declared type has no affinity: values keep their type.
    let t = table(db, r#""id" INTEGER PRIMARY KEY, "v""#).await;
    let values = vec![
        Value::Null,
        Value::Integer(0),
        Value::Integer(-1),
        Value::Integer(i64::MIN),
        Value::Integer(i64::MAX),
        Value::Integer((1 << 53) - 1),
        Value::Integer(-((1 << 53) - 1)),
        Value::Integer(1 << 53),
        Value::Integer((1 << 53) + 1),
        Value::Real(1.5),
        Value::Real(-2.25e-300),
        Value::Real(f64::MAX),
        Value::Text(String::new()),
        Value::Text("héllo, 世界 \u{1F600} 'quoted' \"double\"".into()),
        Value::Blob(Vec::new()),
        Value::Blob(vec![0, 255, 0, 128, 10]),
    ];
    let mut carried = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let insert = Statement::new(format!(r#"INSERT INTO "{t}" ("id", "v") VALUES (?1, ?2)"#))
            .bind(i as i64)
            .bind(v.clone());
        if caps.carries(v) {
            db.execute(&insert)
                .await
                .unwrap_or_else(|e| panic!("insert {v:?}: {e}"));
            carried.push(v.clone());
        } else {
            let e = db.execute(&insert).await.unwrap_err();
            assert!(
                matches!(e, Error::InvalidInput { .. }),
                "{v:?} must be refused, got {e:?}"
            );
            assert_eq!(
                count(db, &t).await,
                carried.len() as i64,
                "a refused value wrote nothing"
            );
        }
    }
    let rows = db
        .query(&Statement::new(format!(
            r#"SELECT "id", "v" FROM "{t}" ORDER BY "id""#
        )))
        .await
        .expect("select");
    assert_eq!(rows.len(), carried.len());
    for (row, want) in rows.iter().zip(&carried) {
        assert_eq!(row.value("v").expect("column v"), want);
    }
}

/// On an engine whose columns have one type each (PostgreSQL), every value
/// round-trips unchanged in a column of the port's type for it (`INTEGER`,
/// `REAL`, `TEXT`, `BLOB`), `NULL` in each, and a value of another type than
/// its column's is refused with `InvalidInput`, writing nothing.
async fn typed_values_round_trip(db: &dyn SqlExecutor) {
    let t = table(
        db,
        r#""id" INTEGER PRIMARY KEY, "i" INTEGER, "r" REAL, "s" TEXT, "b" BLOB"#,
    )
    .await;
    let values = [
        ("i", Value::Integer(0)),
        ("i", Value::Integer(-1)),
        ("i", Value::Integer(i64::MIN)),
        ("i", Value::Integer(i64::MAX)),
        ("i", Value::Integer((1 << 53) + 1)),
        ("r", Value::Real(1.5)),
        ("r", Value::Real(-2.25e-300)),
        ("r", Value::Real(f64::MAX)),
        ("s", Value::Text(String::new())),
        (
            "s",
            Value::Text("héllo, 世界 \u{1F600} 'quoted' \"double\" ?1 $1".into()),
        ),
        ("b", Value::Blob(Vec::new())),
        ("b", Value::Blob(vec![0, 255, 0, 128, 10])),
        ("i", Value::Null),
        ("r", Value::Null),
        ("s", Value::Null),
        ("b", Value::Null),
    ];
    for (i, (col, v)) in values.iter().enumerate() {
        db.execute(
            &Statement::new(format!(
                r#"INSERT INTO "{t}" ("id", "{col}") VALUES (?1, ?2)"#
            ))
            .bind(i as i64)
            .bind(v.clone()),
        )
        .await
        .unwrap_or_else(|e| panic!("insert {v:?} into {col}: {e}"));
    }
    let rows = db
        .query(&Statement::new(format!(
            r#"SELECT "id", "i", "r", "s", "b" FROM "{t}" ORDER BY "id""#
        )))
        .await
        .expect("select");
    assert_eq!(rows.len(), values.len());
    for (row, (col, want)) in rows.iter().zip(&values) {
        assert_eq!(row.value(*col).expect("column"), want, "{col}");
    }
    for (col, v) in [
        ("i", Value::Text("12".into())),
        ("i", Value::Blob(vec![1])),
        ("r", Value::Text("1.5".into())),
        ("b", Value::Integer(7)),
        ("b", Value::Text("x".into())),
    ] {
        let e = db
            .execute(
                &Statement::new(format!(
                    r#"INSERT INTO "{t}" ("id", "{col}") VALUES (?1, ?2)"#
                ))
                .bind(1000_i64)
                .bind(v.clone()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "{v:?} into {col} must be refused, got {e:?}"
        );
    }
    assert_eq!(
        count(db, &t).await,
        values.len() as i64,
        "a refusal wrote nothing"
    );
}

/// Typed getters convert by name and index, and a mismatch names the column.
pub async fn typed_getters_convert_and_report_mismatches(db: &dyn SqlExecutor) {
    let t = table(
        db,
        r#""id" TEXT PRIMARY KEY, "n" INTEGER, "flag" INTEGER, "b" BLOB"#,
    )
    .await;
    db.execute(
        &Statement::new(format!(r#"INSERT INTO "{t}" VALUES (?1, ?2, ?3, ?4)"#))
            .bind("a")
            .bind(42_i64)
            .bind(true)
            .bind(None::<Vec<u8>>),
    )
    .await
    .expect("insert");
    let row = db
        .query_one(
            &Statement::new(format!(r#"SELECT * FROM "{t}""#)),
            "row",
            "a",
        )
        .await
        .expect("row");
    assert_eq!(row.columns(), ["id", "n", "flag", "b"]);
    assert_eq!(row.get::<String>("id").unwrap(), "a");
    assert_eq!(row.get::<i64>(1).unwrap(), 42);
    assert_eq!(row.get::<u32>("n").unwrap(), 42);
    assert!(row.get::<bool>("flag").unwrap());
    assert_eq!(row.get::<Option<Vec<u8>>>("b").unwrap(), None);
    let e = row.get::<String>("n").unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("column n"), "{e}");
    let e = row.get::<i64>("missing").unwrap_err();
    assert!(e.to_string().contains("no such column"), "{e}");
    let none = db
        .query_opt(&Statement::new(format!(r#"SELECT * FROM "{t}" WHERE "id" = ?1"#)).bind("zz"))
        .await
        .expect("query");
    assert!(none.is_none());
}

/// A unique or primary-key violation is `AlreadyExists`, and the first row stays.
pub async fn unique_violation_is_already_exists(db: &dyn SqlExecutor) {
    let t = table(db, r#""id" TEXT PRIMARY KEY, "email" TEXT NOT NULL UNIQUE"#).await;
    let insert = |id: &str, email: &str| {
        Statement::new(format!(
            r#"INSERT INTO "{t}" ("id", "email") VALUES (?1, ?2)"#
        ))
        .bind(id)
        .bind(email)
    };
    db.execute(&insert("1", "a@x")).await.expect("first insert");
    let e = db.execute(&insert("2", "a@x")).await.unwrap_err();
    assert!(e.is_already_exists(), "unique column: {e:?}");
    let e = db.execute(&insert("1", "b@x")).await.unwrap_err();
    assert!(e.is_already_exists(), "primary key: {e:?}");
    assert_eq!(count(db, &t).await, 1);
}

/// Syntax errors and missing tables are `InvalidInput`.
pub async fn bad_sql_is_invalid_input(db: &dyn SqlExecutor) {
    let e = db.execute(&Statement::new("SELEC 1")).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "syntax: {e:?}");
    let e = db
        .query(&Statement::new(format!(
            r#"SELECT * FROM "{}""#,
            unique("missing_")
        )))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "missing table: {e:?}"
    );
    let e = db
        .query(&Statement::new("SELECT ?1, ?2").bind(1_i64))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "too few values: {e:?}"
    );
}

/// A failing statement rolls back the whole batch.
pub async fn batch_is_atomic(db: &dyn SqlExecutor) {
    let t = table(db, r#""id" TEXT PRIMARY KEY"#).await;
    let insert =
        |id: &str| Statement::new(format!(r#"INSERT INTO "{t}" ("id") VALUES (?1)"#)).bind(id);
    db.execute(&insert("existing")).await.expect("seed");
    let e = db
        .batch(&[insert("a"), insert("b"), insert("existing"), insert("c")])
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
    assert_eq!(
        count(db, &t).await,
        1,
        "no statement of a failed batch may remain"
    );
    let e = db
        .batch(&[insert("d"), Statement::new("NOT SQL")])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(count(db, &t).await, 1);
}

/// A successful batch applies every statement and reports each outcome.
pub async fn batch_reports_each_outcome(db: &dyn SqlExecutor) {
    let t = table(db, r#""id" INTEGER PRIMARY KEY, "v" TEXT"#).await;
    let out = db
        .batch(&[
            Statement::new(format!(
                r#"INSERT INTO "{t}" ("id", "v") VALUES (1, 'a'), (2, 'b')"#
            )),
            Statement::new(format!(r#"UPDATE "{t}" SET "v" = ?1"#)).bind("z"),
            Statement::new(format!(r#"DELETE FROM "{t}" WHERE "id" = ?1"#)).bind(1_i64),
        ])
        .await
        .expect("batch");
    let affected: Vec<u64> = out.iter().map(|o| o.rows_affected).collect();
    assert_eq!(affected, [2, 2, 1]);
    assert_eq!(count(db, &t).await, 1);
    assert!(db.batch(&[]).await.expect("empty batch").is_empty());
}

/// `execute` reports how many rows a write touched.
pub async fn execute_reports_rows_affected(db: &dyn SqlExecutor) {
    let t = table(db, r#""id" INTEGER PRIMARY KEY, "v" INTEGER"#).await;
    for i in 0..5_i64 {
        let out = db
            .execute(
                &Statement::new(format!(r#"INSERT INTO "{t}" ("id", "v") VALUES (?1, ?1)"#))
                    .bind(i),
            )
            .await
            .expect("insert");
        assert_eq!(out.rows_affected, 1);
    }
    let out = db
        .execute(
            &Statement::new(format!(r#"UPDATE "{t}" SET "v" = 0 WHERE "id" >= ?1"#)).bind(2_i64),
        )
        .await
        .expect("update");
    assert_eq!(out.rows_affected, 3);
    let out = db
        .execute(&Statement::new(format!(r#"DELETE FROM "{t}" WHERE "id" = ?1"#)).bind(99_i64))
        .await
        .expect("delete nothing");
    assert_eq!(out.rows_affected, 0);
}

/// A numbered placeholder may be used more than once.
pub async fn numbered_placeholders_can_repeat(db: &dyn SqlExecutor) {
    let row = db
        .query_one(
            &Statement::new(r#"SELECT ?1 + ?1 AS "twice", ?2 AS "s""#)
                .bind(21_i64)
                .bind("x"),
            "row",
            "-",
        )
        .await
        .expect("select");
    assert_eq!(row.get::<i64>("twice").unwrap(), 42);
    assert_eq!(row.get::<String>("s").unwrap(), "x");
}

/// A write that returned is seen by the next read.
pub async fn writes_are_visible_to_later_reads(db: &dyn SqlExecutor) {
    let t = table(db, r#""id" INTEGER PRIMARY KEY, "v" TEXT"#).await;
    for i in 0..20_i64 {
        db.execute(
            &Statement::new(format!(r#"INSERT INTO "{t}" ("id", "v") VALUES (?1, 'x')"#)).bind(i),
        )
        .await
        .expect("insert");
        assert_eq!(count(db, &t).await, i + 1);
    }
}

/// Concurrent writers all land, none lost.
pub async fn concurrent_writes_all_land(db: &dyn SqlExecutor) {
    let t = table(db, r#""id" INTEGER PRIMARY KEY"#).await;
    let writes = (0..50_i64).map(|i| {
        let st = Statement::new(format!(r#"INSERT INTO "{t}" ("id") VALUES (?1)"#)).bind(i);
        async move { db.execute(&st).await }
    });
    for r in join_all(writes).await {
        r.expect("concurrent insert");
    }
    assert_eq!(count(db, &t).await, 50);
}

/// A `query` whose statement writes (`INSERT … RETURNING`) is applied and returns
/// its rows.
pub async fn query_that_writes_is_applied(db: &dyn SqlExecutor) {
    let t = table(db, r#""id" INTEGER PRIMARY KEY, "v" TEXT"#).await;
    let rows = db
        .query(
            &Statement::new(format!(
                r#"INSERT INTO "{t}" ("v") VALUES (?1) RETURNING "id", "v""#
            ))
            .bind("r"),
        )
        .await
        .expect("insert returning");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String>("v").unwrap(), "r");
    assert_eq!(count(db, &t).await, 1);
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Vec::leak(v)
}

fn leak_str(s: String) -> &'static str {
    String::leak(s)
}

/// Migrations apply once, in one atomic unit each, and refuse to run when an
/// applied migration changed or the database is ahead of the code.
pub async fn migrations_apply_once_and_refuse_changes(db: &dyn SqlExecutor) {
    use crate::migrate::{Migration, Migrations};
    let t = unique("m_");
    let component = leak_str(unique("component-"));
    let create = leak_str(format!(r#"CREATE TABLE "{t}" ("id" TEXT PRIMARY KEY)"#));
    let add = leak_str(format!(r#"ALTER TABLE "{t}" ADD COLUMN "name" TEXT"#));
    let v1 = Migration {
        version: 1,
        name: "create",
        statements: leak(vec![create]),
    };
    let v2 = Migration {
        version: 2,
        name: "add name",
        statements: leak(vec![add]),
    };

    let first = Migrations::new(component, leak(vec![v1]));
    assert_eq!(first.run(db).await.expect("first run"), [1]);
    assert!(
        first.run(db).await.expect("second run").is_empty(),
        "nothing to apply twice"
    );

    let both = Migrations::new(component, leak(vec![v1, v2]));
    assert_eq!(both.run(db).await.expect("upgrade"), [2]);
    db.execute(&Statement::new(format!(
        r#"INSERT INTO "{t}" ("id", "name") VALUES ('a', 'b')"#
    )))
    .await
    .expect("new column exists");

    let changed_sql = leak_str(format!("{create} "));
    let changed = Migrations::new(
        component,
        leak(vec![
            Migration {
                statements: leak(vec![changed_sql]),
                ..v1
            },
            v2,
        ]),
    );
    let e = changed.run(db).await.unwrap_err();
    assert!(
        e.to_string().contains("was changed after it was applied"),
        "{e}"
    );

    let e = first.run(db).await.unwrap_err();
    assert!(e.to_string().contains("does not know"), "{e}");

    let other = unique("m_");
    let broken = Migration {
        version: 3,
        name: "broken",
        statements: leak(vec![
            leak_str(format!(r#"CREATE TABLE "{other}" ("id" TEXT)"#)),
            "THIS IS NOT SQL",
        ]),
    };
    let with_broken = Migrations::new(component, leak(vec![v1, v2, broken]));
    assert!(with_broken.run(db).await.is_err());
    let applied: Vec<u32> = with_broken
        .applied(db)
        .await
        .expect("applied")
        .iter()
        .map(|a| a.version)
        .collect();
    assert_eq!(applied, [1, 2], "a failed migration is not recorded");
    let e = db
        .query(&Statement::new(format!(r#"SELECT * FROM "{other}""#)))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "a failed migration leaves nothing: {e:?}"
    );

    let out_of_order = Migrations::new(component, leak(vec![v2, v1]));
    assert!(
        out_of_order.run(db).await.is_err(),
        "versions must increase"
    );

    // A migration added to one engine's list only is refused on every engine.
    let one_sided = Migrations::new(component, leak(vec![v1, v2])).with_postgres(leak(vec![v1]));
    let e = one_sided.run(db).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "the PostgreSQL list must match the default one: {e:?}"
    );
    let renamed = Migration {
        name: "renamed",
        ..v2
    };
    let e = Migrations::new(component, leak(vec![v1, v2]))
        .with_postgres(leak(vec![v1, renamed]))
        .run(db)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "the PostgreSQL list must have the same names: {e:?}"
    );
}

/// The bound calls answer as the plain calls do on a table without row-level
/// security: rows, counts and errors alike; a binding changes nothing for
/// later plain calls.
pub async fn bound_calls_answer_as_plain_calls(db: &dyn SqlExecutor) {
    let t = table(db, r#""k" TEXT PRIMARY KEY, "v" INTEGER"#).await;
    let b = TenantBinding::new(PlatformId::generate(), TenantId::generate())
        .reading_also([TenantId::generate()]);
    let insert = |k: &str, v: i64| {
        Statement::new(format!(r#"INSERT INTO "{t}" ("k", "v") VALUES (?1, ?2)"#))
            .bind(k)
            .bind(v)
    };
    let out = db.execute_bound(&b, &insert("a", 1)).await.unwrap();
    assert_eq!(out.rows_affected, 1);
    db.execute(&insert("b", 2)).await.unwrap();
    let e = db.execute_bound(&b, &insert("a", 3)).await.unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
    let select = Statement::new(format!(r#"SELECT "k", "v" FROM "{t}" ORDER BY "k""#));
    let bound = db.query_bound(&b, &select).await.unwrap();
    assert_eq!(bound, db.query(&select).await.unwrap());
    assert_eq!(bound.len(), 2);
    assert_eq!(bound[0].get::<i64>("v").unwrap(), 1);
    let update = Statement::new(format!(r#"UPDATE "{t}" SET "v" = "v" + 10"#));
    assert_eq!(
        db.execute_bound(&b, &update).await.unwrap().rows_affected,
        2
    );
    let bad = Statement::new(format!(r#"SELEC "k" FROM "{t}""#));
    let e = db.query_bound(&b, &bad).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(count(db, &t).await, 2);
}
