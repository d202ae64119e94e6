//! The executor's connection, which sends a bound call or a batch under one
//! `Sync`: no binding outlives its call (failed, cut off or concurrent), a
//! call cut off mid-way never leaves its connection to the next caller, the
//! prepared-statement cache is bounded, a Unix-socket host is reached, and
//! a role logs in with the password the server asks for (SCRAM-SHA-256, MD5,
//! cleartext), never with a wrong or missing one, and TLS is used and the
//! server's certificate verified as `sslmode` says.

mod common;

use std::time::Duration;

use neutrino_core::Error;
use neutrino_core::ids::{PlatformId, TenantId};
use neutrino_core::sql::{SqlExecutor, Statement, TenantBinding, Value};
use neutrino_postgres::PostgresExecutor;

/// An executor of ONE connection on `schema`: every call meets what the
/// previous one left on it.
async fn single(schema: &str) -> PostgresExecutor {
    PostgresExecutor::builder(&common::url())
        .unwrap()
        .schema(schema)
        .unwrap()
        .max_connections(1)
        .connect()
        .await
        .expect("connect")
}

/// The binding the connection sees now, outside any call's transaction:
/// none (`''` once set locally before, or `NULL`).
async fn leftover(db: &PostgresExecutor) -> Vec<String> {
    let rows = db
        .query(&Statement::new(
            "SELECT coalesce(current_setting('neutrino.scope', true), '') AS s",
        ))
        .await
        .expect("an unbound call after the others");
    let row = &rows[0];
    ["s"]
        .iter()
        .map(|c| row.get::<String>(*c).unwrap())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The binding a call sees: its tenant (the second half of the first pair
/// of `neutrino.scope`) and its first further readable tenant.
const SEEN: &str = "SELECT split_part(split_part(current_setting('neutrino.scope', true), ',', 1), '/', 2) AS t, \
     split_part(split_part(current_setting('neutrino.scope', true), ',', 2), '/', 2) AS s";

/// Calls bound to many tenants at once on one or two connections, some
/// failing inside the transaction, some cut off at every point of their
/// round trip, some statements that end or open transactions themselves:
/// every call sees its own binding only, and no call — bound or not — ever
/// meets another's binding or an open transaction afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_binding_outlives_its_call_under_concurrency_failures_and_cancellation() {
    let (_db, guard) = common::fresh_schema().await;
    for connections in [1usize, 2] {
        let db = PostgresExecutor::builder(&common::url())
            .unwrap()
            .schema(&guard.name)
            .unwrap()
            .max_connections(connections)
            .connect()
            .await
            .expect("connect");
        let platform = PlatformId::generate();
        let mut tasks = Vec::new();
        for k in 0..48u64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let tenant = TenantId::generate();
                let other = TenantId::generate();
                let b = TenantBinding::new(platform, tenant).reading_also([other]);
                match k % 6 {
                    // A plain bound read: its own binding, whole.
                    0 | 1 => {
                        let rows = db.query_bound(&b, &Statement::new(SEEN)).await.unwrap();
                        assert_eq!(rows[0].get::<String>("t").unwrap(), tenant.to_string());
                        assert_eq!(rows[0].get::<String>("s").unwrap(), other.to_string());
                    }
                    // Fails inside the bound transaction (after the binding).
                    2 => {
                        let e = db
                            .query_bound(
                                &b,
                                &Statement::new("SELECT 1 / (length(current_setting('neutrino.scope')) - length(current_setting('neutrino.scope'))) AS x"),
                            )
                            .await
                            .unwrap_err();
                        assert!(matches!(e, neutrino_core::Error::InvalidInput { .. }), "{e:?}");
                    }
                    // Cut off at a point of its round trip that varies: a
                    // read (the round trip's implicit transaction) or a
                    // write (between BEGIN and COMMIT).
                    3 => {
                        let pause = Duration::from_micros(50 * (k % 40));
                        let sql = if k % 12 == 3 {
                            "SELECT split_part(split_part(current_setting('neutrino.scope', true), ',', 1), '/', 2) AS t, pg_sleep(0.002)"
                        } else {
                            "WITH w AS (SELECT pg_sleep(0.002)) \
                             SELECT split_part(split_part(current_setting('neutrino.scope', true), ',', 1), '/', 2) AS t FROM w"
                        };
                        let _ = tokio::time::timeout(pause, db.query_bound(&b, &Statement::new(sql)))
                            .await;
                    }
                    // A statement that commits the bound transaction early:
                    // the binding ends with it.
                    4 => {
                        let _ = db.execute_bound(&b, &Statement::new("COMMIT")).await;
                    }
                    // An unbound statement that opens a transaction: refused,
                    // rolled back, never left for the next caller.
                    _ => {
                        let e = db.execute(&Statement::new("BEGIN")).await.unwrap_err();
                        assert!(matches!(e, neutrino_core::Error::InvalidInput { .. }), "{e:?}");
                    }
                }
                // Whatever the connection served before, nothing is bound
                // outside a call.
                let left = leftover(&db).await;
                assert!(left.is_empty(), "a binding outlived its call: {left:?}");
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        // The pool still serves: a bound read sees its binding.
        let tenant = TenantId::generate();
        let rows = db
            .query_bound(&TenantBinding::new(platform, tenant), &Statement::new(SEEN))
            .await
            .unwrap();
        assert_eq!(rows[0].get::<String>("t").unwrap(), tenant.to_string());
        assert!(leftover(&db).await.is_empty());
    }
}

/// A call cut off after its messages were sent, while the server still
/// works on them: its connection never serves the next call (which would
/// read the old call's answer as its own), and the next call sees its own
/// rows and its own binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_off_mid_protocol_never_serves_the_next() {
    let (_db, guard) = common::fresh_schema().await;
    let db = single(&guard.name).await;
    let platform = PlatformId::generate();
    for round in 0..6 {
        let victim = TenantId::generate();
        let cut = tokio::time::timeout(
            Duration::from_millis(30),
            db.query_bound(
                &TenantBinding::new(platform, victim),
                &Statement::new(
                    "SELECT split_part(split_part(current_setting('neutrino.scope', true), ',', 1), '/', 2) AS t, pg_sleep(0.2)::text AS z",
                ),
            ),
        )
        .await;
        assert!(cut.is_err(), "round {round}: the call was cut off");
        let next = TenantId::generate();
        let rows = db
            .query_bound(
                &TenantBinding::new(platform, next),
                &Statement::new("SELECT split_part(split_part(current_setting('neutrino.scope', true), ',', 1), '/', 2) AS t"),
            )
            .await
            .expect("the next call");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].get::<String>("t").unwrap(),
            next.to_string(),
            "round {round}: the next call saw another call's answer"
        );
        let plain = db.query(&Statement::new("SELECT 7 AS n")).await.unwrap();
        assert_eq!(plain[0].get::<i64>("n").unwrap(), 7);
    }
}

/// After a bound call that failed, the same connection serves the next
/// call outside any transaction and bound to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bound_call_is_rolled_back_before_the_next() {
    let (_db, guard) = common::fresh_schema().await;
    let db = single(&guard.name).await;
    db.execute(&Statement::new(
        r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY)"#,
    ))
    .await
    .unwrap();
    let b = TenantBinding::new(PlatformId::generate(), TenantId::generate());
    db.execute_bound(&b, &Statement::new(r#"INSERT INTO "t" ("id") VALUES (1)"#))
        .await
        .unwrap();
    let e = db
        .execute_bound(&b, &Statement::new(r#"INSERT INTO "t" ("id") VALUES (1)"#))
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
    assert!(leftover(&db).await.is_empty());
    // Not inside the failed transaction: this insert is committed and seen
    // by another connection.
    db.execute(&Statement::new(r#"INSERT INTO "t" ("id") VALUES (2)"#))
        .await
        .expect("the next call runs");
    let other = single(&guard.name).await;
    let n: i64 = other
        .query(&Statement::new(r#"SELECT count(*) AS n FROM "t""#))
        .await
        .unwrap()[0]
        .get("n")
        .unwrap();
    assert_eq!(n, 2);
}

/// However many distinct statements a connection runs, it keeps a bounded
/// number prepared on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prepared_statement_cache_is_bounded() {
    let (_db, guard) = common::fresh_schema().await;
    let db = single(&guard.name).await;
    let b = TenantBinding::new(PlatformId::generate(), TenantId::generate());
    let prepared = async || -> i64 {
        db.query(&Statement::new(
            "SELECT count(*) AS n FROM pg_catalog.pg_prepared_statements",
        ))
        .await
        .unwrap()[0]
            .get("n")
            .unwrap()
    };
    // The same statements again and again: prepared once.
    for i in 0..50 {
        db.query_bound(&b, &Statement::new("SELECT ?1 AS n").bind(i))
            .await
            .unwrap();
        db.execute_bound(&b, &Statement::new("SELECT ?1 AS n").bind(i))
            .await
            .unwrap();
    }
    let once = prepared().await;
    assert!(once <= 6, "{once} statements prepared for a few texts");
    for i in 0..1200 {
        let sql = format!("SELECT {i} AS n");
        let rows = if i % 2 == 0 {
            db.query(&Statement::new(sql)).await
        } else {
            db.query_bound(&b, &Statement::new(sql)).await
        }
        .unwrap();
        assert_eq!(rows[0].get::<i64>("n").unwrap(), i);
    }
    let n = prepared().await;
    assert!(n <= 520, "{n} statements kept prepared");
}

/// A `NULL` whose type the statement does not fix is bound as text, alone,
/// bound to a tenant and in a batch beside a `NULL` the server types; a
/// cached plan that a schema change made stale is prepared again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untyped_nulls_and_stale_plans() {
    let (_db, guard) = common::fresh_schema().await;
    let db = single(&guard.name).await;
    let rows = db
        .query(&Statement::new("SELECT ?1 AS x").bind(Value::Null))
        .await
        .unwrap();
    assert_eq!(rows[0].value("x").unwrap(), &Value::Null);
    let b = TenantBinding::new(PlatformId::generate(), TenantId::generate());
    let rows = db
        .query_bound(&b, &Statement::new("SELECT ?1 AS x").bind(Value::Null))
        .await
        .unwrap();
    assert_eq!(rows[0].value("x").unwrap(), &Value::Null);
    db.batch(&[
        Statement::new(r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "n" INTEGER)"#),
        Statement::new(r#"INSERT INTO "t" ("id", "n") VALUES (1, ?1)"#).bind(Value::Null),
        Statement::new("SELECT ?1").bind(Value::Null),
    ])
    .await
    .unwrap();
    let all = Statement::new(r#"SELECT * FROM "t""#);
    assert_eq!(db.query(&all).await.unwrap()[0].values().len(), 2);
    db.execute(&Statement::new(r#"ALTER TABLE "t" ADD COLUMN "m" TEXT"#))
        .await
        .unwrap();
    assert_eq!(db.query(&all).await.unwrap()[0].values().len(), 3);
    assert_eq!(db.query_bound(&b, &all).await.unwrap()[0].values().len(), 3);
}

/// A configuration naming a Unix-socket directory as its host connects
/// there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_host_is_reached() {
    let Ok(dir) = std::env::var("NEUTRINO_TEST_POSTGRES_DIR") else {
        panic!("NEUTRINO_TEST_POSTGRES_DIR is not set: run the tests with scripts/test");
    };
    let url = common::url();
    let port = url
        .rsplit_once(':')
        .and_then(|(_, r)| r.split('/').next())
        .expect("a port in the URL");
    let db = PostgresExecutor::connect(&format!(
        "host={dir} port={port} user=postgres dbname=postgres"
    ))
    .await
    .expect("connect over the socket");
    let rows = db
        .query(&Statement::new(
            "SELECT coalesce(inet_client_addr()::text, 'local') AS a",
        ))
        .await
        .unwrap();
    assert_eq!(rows[0].get::<String>("a").unwrap(), "local");
}

/// A role that `scripts/postgres` makes authenticate with `method` (its
/// `pg_hba.conf` lines come before the trust lines), and the password a test
/// gives it.
struct PasswordRole {
    name: &'static str,
    /// The `pg_hba.conf` method.
    method: &'static str,
    /// How its password is stored (`password_encryption`).
    stored: &'static str,
    password: &'static str,
}

/// A password no role has.
const WRONG_PASSWORD: &str = "wrong-Zt8rQ2vLx9";

/// The server's URL for `role`, with `password` if any.
fn url_as(role: &str, password: Option<&str>) -> String {
    let url = common::url();
    let (_, rest) = url.split_once("://").expect("a postgres:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    match password {
        Some(p) => format!("postgres://{role}:{p}@{host}"),
        None => format!("postgres://{role}@{host}"),
    }
}

/// Creates `role` (if another run has not) with its password, stored as it
/// says, after checking that the server asks it for a password: a server
/// started by an older `scripts/postgres` trusts it, and the test fails saying
/// so.
async fn set_up(role: &PasswordRole) {
    let admin = common::admin().await;
    let rules = admin
        .query(
            &Statement::new(
                "SELECT auth_method AS m FROM pg_catalog.pg_hba_file_rules \
                 WHERE type = 'host' AND ?1 = ANY (user_name) AND error IS NULL",
            )
            .bind(role.name),
        )
        .await
        .expect("read pg_hba.conf's rules");
    let methods: Vec<String> = rules.iter().map(|r| r.get("m").unwrap()).collect();
    assert!(
        methods.iter().any(|m| m == role.method),
        "the test server does not ask role {} for a password ({} in pg_hba.conf; rules found: \
         {methods:?}): it was started by an older scripts/postgres; start it with the current \
         one, which makes that role authenticate over TCP",
        role.name,
        role.method,
    );
    admin
        .batch(&[
            Statement::new(format!(
                "DO $$ BEGIN CREATE ROLE {} LOGIN; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
                role.name
            )),
            Statement::new(format!("SET LOCAL password_encryption = '{}'", role.stored)),
            Statement::new(format!(
                "ALTER ROLE {} LOGIN PASSWORD '{}'",
                role.name, role.password
            )),
        ])
        .await
        .expect("create the role");
    let stored = admin
        .query(
            &Statement::new("SELECT rolpassword AS p FROM pg_catalog.pg_authid WHERE rolname = ?1")
                .bind(role.name),
        )
        .await
        .unwrap();
    let stored: String = stored[0].get("p").unwrap();
    let prefix = if role.stored == "md5" {
        "md5"
    } else {
        "SCRAM-SHA-256$"
    };
    assert!(
        stored.starts_with(prefix),
        "{}'s password is stored as {prefix}",
        role.name
    );
}

/// The role logs in with its password and runs a query; a wrong password and
/// no password are each a typed error that says authentication failed and
/// carries neither password, and the server is reached no further.
async fn logs_in_only_with_its_password(role: PasswordRole) {
    set_up(&role).await;
    let db = PostgresExecutor::connect(&url_as(role.name, Some(role.password)))
        .await
        .unwrap_or_else(|e| panic!("{} logs in with its password: {e}", role.name));
    let rows = db
        .query(&Statement::new("SELECT current_user::TEXT AS u"))
        .await
        .unwrap();
    assert_eq!(rows[0].get::<String>("u").unwrap(), role.name);
    assert!(
        !format!("{db:?}").contains(role.password),
        "the executor's Debug output leaves the password out"
    );
    for (given, why) in [
        (Some(WRONG_PASSWORD), "a wrong password"),
        (None, "no password"),
    ] {
        let e = match PostgresExecutor::connect(&url_as(role.name, given)).await {
            Ok(_) => panic!(
                "{} logged in with {why}: the server does not ask it for a password \
                 ({} in pg_hba.conf); start the server with the current scripts/postgres",
                role.name, role.method
            ),
            Err(e) => e,
        };
        assert!(
            matches!(
                e,
                Error::Config {
                    backend: "postgres",
                    key: "credentials",
                    ..
                }
            ),
            "{} with {why}: {e:?}",
            role.name
        );
        let shown = format!("{e} {e:?}");
        assert!(
            shown.contains("authentication failed"),
            "{} with {why}: {shown}",
            role.name
        );
        for secret in [role.password, WRONG_PASSWORD] {
            assert!(
                !shown.contains(secret),
                "{} with {why}: the error shows a password: {shown}",
                role.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scram_sha_256_login_needs_the_right_password() {
    logs_in_only_with_its_password(PasswordRole {
        name: "neutrino_scram",
        method: "scram-sha-256",
        stored: "scram-sha-256",
        password: "scram-Pw4kT9xQ",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_md5_login_needs_the_right_password() {
    logs_in_only_with_its_password(PasswordRole {
        name: "neutrino_md5",
        method: "md5",
        stored: "md5",
        password: "md5-Pw7hR2mV",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleartext_login_needs_the_right_password() {
    logs_in_only_with_its_password(PasswordRole {
        name: "neutrino_clear",
        method: "password",
        stored: "scram-sha-256",
        password: "clear-Pw3nB8wZ",
    })
    .await;
}

/// The test server's port.
fn port() -> String {
    let url = common::url();
    url.rsplit_once(':')
        .and_then(|(_, r)| r.split('/').next())
        .expect("a port in the URL")
        .to_owned()
}

/// The CA that signed the test server's certificate (issued for `localhost`
/// only), and one that signed nothing: `scripts/postgres` makes them.
fn certificate_authorities() -> (String, String) {
    let dir = std::env::var("NEUTRINO_TEST_POSTGRES_DIR")
        .expect("NEUTRINO_TEST_POSTGRES_DIR is not set: run the tests with scripts/test");
    let (ca, other) = (format!("{dir}/ca.crt"), format!("{dir}/other-ca.crt"));
    assert!(
        std::path::Path::new(&ca).exists() && std::path::Path::new(&other).exists(),
        "the test server has no TLS certificates (no ca.crt in its folder): it was started by \
         an older scripts/postgres, or without openssl on the machine; start it with the \
         current one, with openssl installed"
    );
    (ca, other)
}

/// Whether the executor's connection is encrypted, as the server sees it.
async fn encrypted(db: &PostgresExecutor) -> bool {
    db.query(&Statement::new(
        "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()",
    ))
    .await
    .unwrap()[0]
        .get::<bool>("ssl")
        .unwrap()
}

/// `require` encrypts; `verify-ca` and `verify-full` encrypt once the
/// certificate verifies (`verify-full`: for the host connected to);
/// `disable` and `prefer` (the default) do not encrypt; a certificate of
/// another CA, or for another name under `verify-full`, is a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_used_and_verified_as_sslmode_says() {
    let (ca, other) = certificate_authorities();
    let port = port();
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");
    for (url, tls) in [
        (url("127.0.0.1", "sslmode=require"), true),
        (
            url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")),
            true,
        ),
        (
            url("127.0.0.1", &format!("sslmode=require&sslrootcert={ca}")),
            true,
        ),
        (
            url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={ca}"),
            ),
            true,
        ),
        (
            format!(
                "host=localhost port={port} user=postgres dbname=postgres \
                 sslmode = verify-full sslrootcert='{ca}'"
            ),
            true,
        ),
        (url("127.0.0.1", "sslmode=disable"), false),
        (url("127.0.0.1", "sslmode=prefer"), false),
        (url("127.0.0.1", "application_name=x"), false),
    ] {
        let db = PostgresExecutor::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(encrypted(&db).await, tls, "{url}");
    }
    for url in [
        // The certificate is for localhost, not 127.0.0.1.
        url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={other}"),
        ),
        url(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={other}"),
        ),
        url("127.0.0.1", &format!("sslmode=require&sslrootcert={other}")),
    ] {
        let e = PostgresExecutor::connect(&url)
            .await
            .map(|_| ())
            .expect_err(&url);
        assert!(
            matches!(e, Error::Config { key: "sslmode", .. }),
            "{url}: {e:?}"
        );
        assert!(e.to_string().contains("TLS failed"), "{url}: {e}");
    }
}

/// A server that refuses TLS is a typed error under `require`, and nothing
/// but the TLS request was sent to it: no start-up message, no password, in
/// cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_against_a_server_without_tls_sends_nothing_in_cleartext() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).await.unwrap();
        socket.write_all(b"N").await.unwrap();
        let mut after = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut after)).await;
        (request, after)
    });
    let secret = "pw-Hq5vN2";
    let e = PostgresExecutor::builder(&format!(
        "postgres://u:{secret}@127.0.0.1:{port}/db?sslmode=require"
    ))
    .unwrap()
    .max_connections(1)
    .connect()
    .await
    .map(|_| ())
    .expect_err("a server without TLS");
    assert!(matches!(e, Error::Config { key: "sslmode", .. }), "{e:?}");
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("does not accept TLS"), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    let (request, after) = server.await.unwrap();
    // SSLRequest: length 8, code 80877103.
    assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
    assert!(
        after.is_empty(),
        "sent in cleartext after the refusal: {after:?}"
    );
}

/// A URL whose password holds a raw `?` still demands TLS with
/// `sslmode=require`: it is refused, or TLS is asked for first; never a
/// start-up message (and a password) in cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unencoded_password_does_not_hide_sslmode_require() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let Ok(Ok((mut socket, _))) =
            tokio::time::timeout(Duration::from_secs(3), listener.accept()).await
        else {
            return None;
        };
        let mut first = [0u8; 8];
        let _ = tokio::time::timeout(Duration::from_secs(3), socket.read_exact(&mut first)).await;
        let _ = socket.write_all(b"N").await;
        Some(first)
    });
    let secret = "pw?Zr8kL4";
    let url = format!("postgres://u:{secret}@127.0.0.1:{port}/db?sslmode=require");
    let outcome = match PostgresExecutor::builder(&url) {
        Ok(b) => b.max_connections(1).connect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Some(first) = server.await.unwrap() {
        // SSLRequest: length 8, code 80877103.
        assert_eq!(first, [0, 0, 0, 8, 4, 210, 22, 47], "sent in cleartext");
    }
    let e = outcome.expect_err("no server accepts this connection");
    assert!(matches!(e, Error::Config { key: "sslmode", .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("Zr8kL4"), "{e:?}");
}

/// An unknown `sslmode`, a verifying mode without its CA file, a CA file
/// that cannot be read or without a mode that uses it, and client
/// certificates are typed errors before anything is sent, without the
/// password.
#[test]
fn tls_settings_that_cannot_be_honoured_are_refused() {
    let secret = "pw-Qm3xT7";
    for (url, key) in [
        (
            format!("postgres://u:{secret}@h/db?sslmode=sometimes"),
            "sslmode",
        ),
        (
            format!("host=h user=u password={secret} sslmode=allow"),
            "sslmode",
        ),
        (
            format!("postgres://u:{secret}@h/db?sslmode=verify-full"),
            "sslrootcert",
        ),
        (
            format!("postgres://u:{secret}@h/db?sslmode=verify-ca"),
            "sslrootcert",
        ),
        (
            format!("postgres://u:{secret}@h/db?sslrootcert=ca.pem"),
            "sslrootcert",
        ),
        (
            format!("postgres://u:{secret}@h/db?sslmode=verify-full&sslrootcert=/no/such/file"),
            "sslrootcert",
        ),
        (
            format!("postgres://u:{secret}@h/db?sslmode=require&sslcert=c.pem&sslkey=k.pem"),
            "sslmode",
        ),
    ] {
        let e = PostgresExecutor::builder(&url).map(|_| ()).expect_err(&url);
        assert!(
            matches!(e, Error::Config { key: k, .. } if k == key),
            "{url}: {e:?}"
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(secret), "{url}: {shown}");
    }
}
