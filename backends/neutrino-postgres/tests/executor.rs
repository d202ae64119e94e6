//! The PostgreSQL executor beyond the conformance suite: secrets kept out of
//! errors, cut-off batches, typed refusals, placeholders inside literals.

mod common;

use std::time::Duration;

use neutrino_core::Error;
use neutrino_core::sql::{SqlExecutor, SqlExecutorExt, Statement, Value};
use neutrino_postgres::PostgresExecutor;

const SECRET: &str = "s3cr3t-pw-4f9a";

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the password: {text}");
}

fn error_texts(e: &Error) -> Vec<String> {
    let mut out = vec![e.to_string(), format!("{e:?}")];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push(s.to_string());
        out.push(format!("{s:?}"));
        src = s.source();
    }
    out
}

/// No error, `Debug` output or message carries the connection's password:
/// not for a malformed URL, an unreachable server, or a working executor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_shows() {
    for url in [
        format!("postgres://app:{SECRET}@127.0.0.1:1/app"),
        format!("postgres://app:{SECRET}@127.0.0.1:notaport/app"),
        format!("host=127.0.0.1 port=1 user=app password={SECRET} dbname=app"),
        format!("host=127.0.0.1 port=1 user=app password='{SECRET}' bogus_option=1"),
        format!("postgres://app:{SECRET}@[::1/app"),
    ] {
        match PostgresExecutor::builder(&url) {
            Err(e) => error_texts(&e)
                .iter()
                .for_each(|t| assert_no_secret("builder error", t)),
            Ok(b) => {
                assert_no_secret("builder", &format!("{b:?}"));
                let b = b.max_connections(1);
                let e = tokio::time::timeout(Duration::from_secs(30), b.connect())
                    .await
                    .expect("a refused connection fails fast")
                    .expect_err("nothing listens on port 1");
                assert!(matches!(e, Error::Backend { .. }), "{e:?}");
                error_texts(&e)
                    .iter()
                    .for_each(|t| assert_no_secret("connect error", t));
            }
        }
    }
    // A server that accepts the password: nothing about the executor shows it.
    let mut url = url::with_password(&common::url(), SECRET);
    let db = PostgresExecutor::connect(&url).await.expect("connect");
    assert_no_secret("executor", &format!("{db:?}"));
    assert_no_secret("settings", &format!("{:?}", db.settings()));
    let e = db.execute(&Statement::new("NOT SQL")).await.unwrap_err();
    error_texts(&e)
        .iter()
        .for_each(|t| assert_no_secret("sql error", t));
    url.clear();
}

mod url {
    /// `url` with `password` set (the test server trusts every password).
    pub(crate) fn with_password(url: &str, password: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
        format!("{scheme}://postgres:{password}@{rest}")
    }
}

/// A batch cut off (its future dropped) is all or nothing, and its
/// connection never serves another call inside the abandoned transaction:
/// neither when the batch was pipelined whole, nor when it ran statement after
/// statement (a statement needing a table an earlier one creates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_batch_is_all_or_nothing_and_leaves_no_open_transaction() {
    let (db, guard) = common::fresh_schema().await;
    let single = PostgresExecutor::builder(&common::url())
        .unwrap()
        .schema(&guard.name)
        .unwrap()
        .max_connections(1)
        .connect()
        .await
        .expect("connect");
    db.execute(&Statement::new(
        r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY)"#,
    ))
    .await
    .unwrap();
    let ids = async || -> Vec<i64> {
        db.query(&Statement::new(r#"SELECT "id" FROM "t" ORDER BY "id""#))
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("id").unwrap())
            .collect()
    };
    let batches = [
        vec![
            Statement::new(r#"INSERT INTO "t" ("id") VALUES (1)"#),
            Statement::new("SELECT pg_sleep(2)"),
            Statement::new(r#"INSERT INTO "t" ("id") VALUES (2)"#),
        ],
        vec![
            Statement::new(r#"CREATE TABLE "t2" ("id" INTEGER PRIMARY KEY)"#),
            Statement::new(r#"INSERT INTO "t2" ("id") VALUES (1)"#),
            Statement::new(r#"INSERT INTO "t" ("id") VALUES (11)"#),
            Statement::new("SELECT pg_sleep(2)"),
            Statement::new(r#"INSERT INTO "t" ("id") VALUES (12)"#),
        ],
    ];
    for (k, batch) in batches.iter().enumerate() {
        let cut = tokio::time::timeout(Duration::from_millis(500), single.batch(batch)).await;
        assert!(cut.is_err(), "batch {k} was cut off");
        // The single connection's next call: had it run inside the abandoned
        // transaction, its insert would stay invisible to other connections.
        let mine = 100 + k as i64;
        single
            .execute(&Statement::new(r#"INSERT INTO "t" ("id") VALUES (?1)"#).bind(mine))
            .await
            .expect("insert after the cut");
        let seen = ids().await;
        assert!(
            seen.contains(&mine),
            "batch {k}: the later insert is committed: {seen:?}"
        );
    }
    // Once the server is done with them, each batch is whole or absent.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = ids().await;
    for pair in [[1, 2], [11, 12]] {
        assert_eq!(
            seen.contains(&pair[0]),
            seen.contains(&pair[1]),
            "a batch is all or nothing: {seen:?}"
        );
    }
}

/// Concurrent inserts of one key: exactly one lands, every other is
/// `AlreadyExists` naming the constraint and never the values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_are_already_exists() {
    let (db, _guard) = common::fresh_schema().await;
    db.execute(&Statement::new(
        r#"CREATE TABLE "u" ("id" INTEGER PRIMARY KEY, "email" TEXT NOT NULL UNIQUE)"#,
    ))
    .await
    .unwrap();
    let tasks: Vec<_> = (0..16_i64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.batch(&[
                    Statement::new(r#"INSERT INTO "u" ("id", "email") VALUES (?1, ?2)"#)
                        .bind(i)
                        .bind("secret-address@example.com"),
                ])
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.is_already_exists(), "{e:?}");
                assert!(!format!("{e:?}").contains("secret-address"), "{e:?}");
            }
        }
    }
    assert_eq!(ok, 1);
}

/// Values of the wrong type, a wrong number of values, other constraint
/// violations and values that do not fit are `InvalidInput`, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_values_are_invalid_input() {
    let (db, _guard) = common::fresh_schema().await;
    db.batch(&[
        Statement::new(r#"CREATE TABLE "p" ("id" INTEGER PRIMARY KEY)"#),
        Statement::new(
            r#"CREATE TABLE "c" ("id" INTEGER PRIMARY KEY, "p" INTEGER NOT NULL REFERENCES "p" ("id"), "n" INTEGER CHECK ("n" > 0))"#,
        ),
    ])
    .await
    .expect("schema");
    let bad = [
        Statement::new(r#"SELECT * FROM "p" WHERE "id" = ?1"#).bind("one"),
        Statement::new(r#"SELECT * FROM "p" WHERE "id" = ?1"#).bind(vec![1_u8]),
        Statement::new(r#"SELECT * FROM "p" WHERE "id" = ?1 AND "id" = ?2"#).bind(1_i64),
        Statement::new(r#"INSERT INTO "c" ("id", "p", "n") VALUES (1, 99, 1)"#),
        Statement::new(r#"INSERT INTO "c" ("id", "p", "n") VALUES (1, NULL, 1)"#),
        Statement::new(r#"SELECT ?1::INTEGER / 0"#).bind(1_i64),
        Statement::new(r#"SELECT CAST(?1 AS INTEGER)"#).bind("x"),
        Statement::new("SELECT ?"),
        Statement::new("SELECT $1").bind(1_i64),
    ];
    for st in bad {
        let e = db.query(&st).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{st:?}: {e:?}");
        let e = db.batch(std::slice::from_ref(&st)).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "batch {st:?}: {e:?}"
        );
    }
}

/// `?N` inside literals, quoted identifiers, dollar quotes and comments is
/// text; `??` is a literal `?` (the `jsonb` operator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholders_inside_literals_are_text() {
    let db = common::admin().await;
    let row = db
        .query_one(
            &Statement::new(
                r#"SELECT '?1 it''s' AS "a", E'\'?2' AS "b", $q$ ?1 $q$ AS "c?1", /* ?1 /* ?2 */ */ ?1 AS "d", -- ?2
                   '{"k":1}'::jsonb ?? 'k' AS "e""#,
            )
            .bind("bound"),
            "row",
            "-",
        )
        .await
        .expect("query");
    assert_eq!(row.get::<String>("a").unwrap(), "?1 it's");
    assert_eq!(row.get::<String>("b").unwrap(), "'?2");
    assert_eq!(row.get::<String>("c?1").unwrap(), " ?1 ");
    assert_eq!(row.get::<String>("d").unwrap(), "bound");
    assert_eq!(row.value("e").unwrap(), &Value::Integer(1));
}

/// Aggregates come back as the port's values: `COUNT` and `SUM` of integers
/// as integers, `AVG` as a real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_decode_to_port_values() {
    let db = common::admin().await;
    let row = db
        .query_one(
            &Statement::new(
                r#"SELECT COUNT(*) AS "n", SUM(x) AS "s", AVG(x) AS "a", MAX(x) AS "m"
                   FROM (VALUES (?1), (?2), (?3)) AS v(x)"#,
            )
            .bind(i64::MAX)
            .bind(-1_i64)
            .bind(4_i64),
            "row",
            "-",
        )
        .await
        .expect("query");
    assert_eq!(row.get::<i64>("n").unwrap(), 3);
    // The exact sum does not fit in 64 bits: the nearest real.
    assert_eq!(row.get::<f64>("s").unwrap(), i64::MAX as f64 + 3.0);
    assert_eq!(row.get::<i64>("m").unwrap(), i64::MAX);
    let row = db
        .query_one(
            &Statement::new(
                r#"SELECT SUM(x) AS "s", AVG(x) AS "a" FROM (VALUES (?1), (?2)) AS v(x)"#,
            )
            .bind(20_000_i64)
            .bind(-3_i64),
            "row",
            "-",
        )
        .await
        .expect("query");
    assert_eq!(row.get::<i64>("s").unwrap(), 19_997);
    assert_eq!(row.value("a").unwrap(), &Value::Real(9_998.5));
}

/// Guarded calls refuse what would reach past the guard on PostgreSQL: SQL
/// run from text built at run time, catalogs, settings, and another schema's
/// tables (which no guard lists), in every call and in batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_calls_refuse_postgres_escape_hatches() {
    use neutrino_core::sql::SqlGuard;
    let (db, _guard) = common::fresh_schema().await;
    let (other, other_guard) = common::fresh_schema().await;
    other
        .batch(&[
            Statement::new(r#"CREATE TABLE "secrets" ("v" TEXT)"#),
            Statement::new(r#"INSERT INTO "secrets" ("v") VALUES ('other schema')"#),
        ])
        .await
        .unwrap();
    db.batch(&[
        Statement::new(r#"CREATE TABLE "notes" ("v" TEXT)"#),
        Statement::new(r#"INSERT INTO "notes" ("v") VALUES ('guarded')"#),
        Statement::new(r#"CREATE TABLE "free" ("v" TEXT)"#),
    ])
    .await
    .unwrap();
    let guard = SqlGuard::new(["notes"]);
    let o = &other_guard.name;
    let attacks = [
        "SELECT query_to_xml('SELECT * FROM no' || 'tes', true, true, '')".to_owned(),
        "SELECT * FROM ts_stat('SELECT to_tsvector(v) FROM no' || 'tes')".to_owned(),
        format!(r#"SELECT * FROM "{o}"."secrets""#),
        format!(r#"INSERT INTO "free" SELECT "v" FROM "{o}"."secrets""#),
        "SELECT relname FROM pg_class".to_owned(),
        "SELECT table_name FROM information_schema.tables".to_owned(),
        "SELECT set_config('search_path', 'public', false)".to_owned(),
        "SET search_path TO public".to_owned(),
        "COPY free FROM PROGRAM 'true'".to_owned(),
        "DO $$ BEGIN PERFORM 1; END $$".to_owned(),
        "SELECT * FROM public.anything".to_owned(),
        r#"SELECT * FROM U&"\006Eotes""#.to_owned(),
        r#"SELECT * FROM "free", U&"no\0074es""#.to_owned(),
        r#"CREATE FUNCTION "f"() RETURNS TEXT LANGUAGE sql AS $$ SELECT 'x' $$"#.to_owned(),
    ];
    for sql in &attacks {
        let st = Statement::new(sql.as_str());
        let e = db.query_guarded(&guard, &st).await.unwrap_err();
        assert!(e.is_permission_denied(), "query {sql}: {e:?}");
        let e = db.execute_guarded(&guard, &st).await.unwrap_err();
        assert!(e.is_permission_denied(), "execute {sql}: {e:?}");
        let batch = [Statement::new(r#"DELETE FROM "free""#), st.clone()];
        let e = db.batch_guarded(&guard, &batch).await.unwrap_err();
        assert!(e.is_permission_denied(), "batch {sql}: {e:?}");
    }
    let rows = db
        .query(&Statement::new(r#"SELECT COUNT(*) AS "n" FROM "free""#))
        .await
        .unwrap();
    assert_eq!(rows[0].get::<i64>("n").unwrap(), 0, "nothing was copied");
    // Free tables still work through the guarded calls.
    db.execute_guarded(
        &guard,
        &Statement::new(r#"INSERT INTO "free" ("v") VALUES (?1)"#).bind("ok"),
    )
    .await
    .expect("a free table");
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever a literal, a quoted alias or a comment holds (`?N`,
        /// `$N`, quotes, `--`, `/*`), the server reads it unchanged, and the
        /// bound values come back exactly.
        #[test]
        fn literals_and_bound_values_reach_the_server_unchanged(
            lit in "[?$0-9a-z'\"\\-/* \\\\é\n]{0,24}",
            text in "\\PC{0,24}",
            int in any::<i64>(),
            blob in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let db = common::admin().await;
                let quoted = lit.replace('\'', "''");
                let alias = lit.replace('"', "\"\"");
                let comment = lit.replace("*/", "").replace("/*", "").replace('\n', " ");
                let sql = format!(
                    r#"SELECT '{quoted}' AS "l", $Q${lit}$Q$ AS "d", 1 AS "a{alias}", /* {comment} */ ?1 AS "t", ?2 AS "i", ?3 AS "b" -- {comment}"#
                );
                let row = db
                    .query_one(
                        &Statement::new(sql.as_str())
                            .bind(text.as_str())
                            .bind(int)
                            .bind(blob.clone()),
                        "row",
                        "-",
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                assert_eq!(row.get::<String>("l").unwrap(), lit);
                assert_eq!(row.get::<String>("d").unwrap(), lit);
                assert_eq!(row.get::<i64>(format!("a{lit}").as_str()).unwrap(), 1);
                assert_eq!(row.get::<String>("t").unwrap(), text);
                assert_eq!(row.get::<i64>("i").unwrap(), int);
                assert_eq!(row.get::<Vec<u8>>("b").unwrap(), blob);
            });
        }
    }
}
