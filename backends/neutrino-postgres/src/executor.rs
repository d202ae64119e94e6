//! [`PostgresExecutor`]: the SQL port on a pool of PostgreSQL connections.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts};
use futures_util::future::{join_all, try_join_all};
use neutrino_core::sql::{
    Columns, Dialect, ExecOutcome, Row, SqlExecutor, SqlGuard, Statement, TenantBinding, Value,
    leading_keyword,
};
use neutrino_core::{Error, Result};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use crate::error::{self, BACKEND};
use crate::rewrite::{has_unicode_escapes, rewrite, words_and_identifiers};
use crate::value::{Cell, Param, param_type};

/// How many rewritten statement texts an executor keeps; the cache starts
/// over beyond.
const REWRITE_CACHE: usize = 1024;

/// Most prepared statements a connection keeps; the cache starts over beyond.
const STATEMENT_CACHE: usize = 512;

/// Connections a pool opens at most, unless set.
const DEFAULT_MAX_CONNECTIONS: usize = 10;

/// Where an executor connects, for `Debug` and messages: never the password.
#[derive(Clone)]
struct Target {
    hosts: String,
    dbname: String,
    user: String,
    schema: Option<String>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("hosts", &self.hosts)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("schema", &self.schema)
            .finish()
    }
}

/// Checks a schema name: what the provisioner creates (a resource name:
/// lowercase letters, digits, `-` and `_`, 1–63 bytes), never `pg_…`.
pub(crate) fn validate_schema(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "schema name",
            "must be 1-63 bytes of a-z, 0-9, - and _, not starting with pg_",
        ))
    }
}

/// Settings of a [`PostgresExecutor`], from [`PostgresExecutor::builder`].
#[derive(Clone)]
pub struct PostgresExecutorBuilder {
    config: tokio_postgres::Config,
    schema: Option<String>,
    max_connections: usize,
}

impl fmt::Debug for PostgresExecutorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresExecutorBuilder")
            .field("target", &target(&self.config, self.schema.clone()))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

fn target(config: &tokio_postgres::Config, schema: Option<String>) -> Target {
    use tokio_postgres::config::Host;
    let ports = config.get_ports();
    let hosts = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(h) => format!("{h}:{port}"),
                #[cfg(unix)]
                Host::Unix(p) => format!("{}:{port}", p.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    Target {
        hosts,
        dbname: config.get_dbname().unwrap_or_default().to_owned(),
        user: config.get_user().unwrap_or_default().to_owned(),
        schema,
    }
}

impl PostgresExecutorBuilder {
    /// Binds the executor to `schema`: its connections' `search_path` is that
    /// schema only, so unqualified names are its tables. The schema must exist
    /// when [`PostgresExecutorBuilder::connect`] runs.
    pub fn schema(mut self, schema: &str) -> Result<Self> {
        validate_schema(schema)?;
        self.schema = Some(schema.to_owned());
        Ok(self)
    }

    /// Connections the pool opens at most (default 10, at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Opens the pool and checks that the server answers (and that the schema,
    /// if any, exists: else [`Error::NotFound`]).
    pub async fn connect(self) -> Result<PostgresExecutor> {
        let settings = Arc::new(self.clone());
        let mut config = self.config;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // Every transaction serializable, as SQLite's single writer makes
        // them: a write guarded by `EXISTS` over another row is decided on
        // what is committed, and a conflict is retried (see `conflicted`).
        let mut options = String::from("-c default_transaction_isolation=serializable");
        if let Some(schema) = &self.schema {
            // Validated above: no quote, space or backslash to escape.
            options.push_str(&format!(" -c search_path=\"{schema}\""));
        }
        config.options(options);
        config.application_name("neutrino");
        let target = Arc::new(target(&config, self.schema.clone()));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.max_connections)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(Duration::from_secs(30)),
                create: Some(Duration::from_secs(15)),
                recycle: Some(Duration::from_secs(5)),
            })
            .build()
            .map_err(|e| Error::Config {
                backend: BACKEND,
                key: "pool",
                reason: e.to_string(),
            })?;
        let exec = PostgresExecutor {
            pool,
            target,
            settings,
            rewrites: Arc::default(),
        };
        let conn = exec.conn().await?;
        if let Some(schema) = &exec.target.schema {
            let found = conn
                .client()
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                    &[schema],
                )
                .await
                .map_err(error::map)?;
            if found.is_none() {
                return Err(Error::not_found("database", schema.clone()));
            }
        }
        drop(conn);
        Ok(exec)
    }
}

/// The SQL port on PostgreSQL: a pool of connections to one database,
/// optionally bound to one schema. Cheap to clone (clones share the pool).
///
/// See the crate's docs for how the port's SQL and values map to PostgreSQL.
///
/// ```no_run
/// # async fn run() -> neutrino::Result<()> {
/// use neutrino::postgres::PostgresExecutor;
/// use neutrino::sql::{SqlExecutor, Statement};
/// let db = PostgresExecutor::builder("postgres://app@localhost/app")?
///     .schema("k3m9p2xw7q-default-db")?
///     .connect()
///     .await?;
/// db.execute(&Statement::new(r#"CREATE TABLE IF NOT EXISTS "pet" ("id" INTEGER PRIMARY KEY, "name" TEXT)"#)).await?;
/// let rows = db.query(&Statement::new(r#"INSERT INTO "pet" ("name") VALUES (?1) RETURNING "id""#).bind("rex")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresExecutor {
    pool: Pool,
    target: Arc<Target>,
    settings: Arc<PostgresExecutorBuilder>,
    rewrites: Arc<RewriteCache>,
}

impl fmt::Debug for PostgresExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresExecutor")
            .field("target", &*self.target)
            .finish_non_exhaustive()
    }
}

/// A pooled connection that leaves the pool for good if dropped while armed
/// (a batch cut off between `BEGIN` and `COMMIT`): closing it rolls back.
struct Conn {
    obj: Option<Object>,
    armed: bool,
}

impl Conn {
    fn client(&self) -> &deadpool_postgres::ClientWrapper {
        self.obj
            .as_deref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.armed
            && let Some(obj) = self.obj.take()
        {
            drop(Object::take(obj));
        }
    }
}

/// What one statement gave back.
enum Ran {
    Count(u64),
    Rows(Vec<tokio_postgres::Row>),
}

/// Whether a statement is worth keeping prepared: DML, not DDL.
fn cacheable(sql: &str) -> bool {
    matches!(
        leading_keyword(sql).as_deref(),
        Some("select" | "insert" | "update" | "delete" | "with" | "values")
    )
}

/// A statement's text rewritten for PostgreSQL, with what the executor needs
/// to know of it: computed once per text (see [`RewriteCache`]).
struct Rewritten {
    sql: String,
    /// DML, kept prepared on each connection.
    cacheable: bool,
    /// A plain `SELECT`: decides nothing the database must keep (see
    /// [`PostgresExecutor::run_bound`]).
    read: bool,
}

impl Rewritten {
    fn new(sql: &str) -> Result<Self> {
        let rewritten = rewrite(sql)?;
        Ok(Self {
            cacheable: cacheable(&rewritten),
            read: leading_keyword(&rewritten).as_deref() == Some("select"),
            sql: rewritten,
        })
    }
}

/// The rewritten text of the statements an executor ran, by their text in
/// the port's dialect: a call finds it there instead of lexing its SQL again.
#[derive(Default)]
struct RewriteCache {
    map: std::sync::RwLock<std::collections::HashMap<Arc<str>, Arc<Rewritten>>>,
}

impl RewriteCache {
    fn get(&self, sql: &Arc<str>) -> Result<Arc<Rewritten>> {
        let found = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&**sql)
            .cloned();
        if let Some(r) = found {
            return Ok(r);
        }
        let r = Arc::new(Rewritten::new(sql)?);
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= REWRITE_CACHE {
            map.clear();
        }
        map.insert(Arc::clone(sql), Arc::clone(&r));
        Ok(r)
    }
}

/// A statement rewritten for PostgreSQL, with its parameters' declared types.
struct Prepared {
    text: Arc<Rewritten>,
    types: Vec<Type>,
}

impl Prepared {
    fn sql(&self) -> &str {
        &self.text.sql
    }
}

async fn prepare(
    client: &deadpool_postgres::ClientWrapper,
    p: &Prepared,
) -> std::result::Result<tokio_postgres::Statement, tokio_postgres::Error> {
    prepare_with(client, p, p.text.cacheable).await
}

/// Prepares `p`, from and into the connection's cache if `cache`.
async fn prepare_with(
    client: &deadpool_postgres::ClientWrapper,
    p: &Prepared,
    cache: bool,
) -> std::result::Result<tokio_postgres::Statement, tokio_postgres::Error> {
    let first = if cache {
        if client.statement_cache.size() > STATEMENT_CACHE {
            client.statement_cache.clear();
        }
        client.prepare_typed_cached(p.sql(), &p.types).await
    } else {
        client.prepare_typed(p.sql(), &p.types).await
    };
    match first {
        // A NULL whose type the statement does not fix (`SELECT ?1`): text.
        Err(e)
            if e.code() == Some(&SqlState::INDETERMINATE_DATATYPE)
                || e.code() == Some(&SqlState::AMBIGUOUS_PARAMETER) =>
        {
            let types: Vec<Type> = p
                .types
                .iter()
                .map(|t| if t.oid() == 0 { Type::TEXT } else { t.clone() })
                .collect();
            client.prepare_typed(p.sql(), &types).await
        }
        other => other,
    }
}

fn params(stmt: &Statement) -> Vec<Param<'_>> {
    stmt.params().iter().map(Param).collect()
}

fn refs<'a>(ps: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// How many times a transaction that lost a serialization conflict or a
/// deadlock runs again before the conflict is reported. Sized for many
/// transactions at once on a small, loaded machine: 40 ran out when about
/// 150 concurrent calls of the cross-tenant matrix met on two busy cores.
const MAX_CONFLICT_RETRIES: u32 = 64;

/// A serialization failure or a deadlock: the transaction was rolled back
/// whole, and running it again is safe.
fn conflicted(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// A short pause, its bound doubling with the attempt from 0.5 ms up to
/// 32 ms, jittered so that the transactions that conflicted do not meet
/// again.
async fn back_off(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let cap = 500u64 << attempt.saturating_sub(1).min(6);
    let micros = u64::from(nanos) % cap.max(1);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// When a failed statement or transaction runs again: once after a stale
/// cached plan (the cache cleared first), and up to
/// `MAX_CONFLICT_RETRIES` times after a conflict (with a pause).
#[derive(Default)]
struct Retry {
    replanned: bool,
    conflicts: u32,
}

impl Retry {
    /// Whether to run again after `e`, once ready to.
    async fn again(&mut self, conn: &Conn, e: &tokio_postgres::Error) -> bool {
        if !self.replanned && stale_plan(e) {
            conn.client().statement_cache.clear();
            self.replanned = true;
        } else if self.conflicts < MAX_CONFLICT_RETRIES && conflicted(e) {
            self.conflicts += 1;
            back_off(self.conflicts).await;
        } else {
            return false;
        }
        true
    }
}

/// Whether a failure came from a cached plan that a schema change made stale:
/// worth preparing afresh and trying once more.
fn stale_plan(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED)
        && e.as_db_error()
            .is_some_and(|d| d.message().contains("cached plan"))
}

fn to_rows(rows: Vec<tokio_postgres::Row>) -> Result<Vec<Row>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Columns = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect::<Vec<_>>()
        .into();
    rows.iter()
        .map(|r| {
            let values = (0..r.len())
                .map(|i| {
                    r.try_get::<_, Cell>(i)
                        .map(|c| c.0)
                        .map_err(|e| Error::Decode {
                            what: format!("column {}", columns[i]),
                            reason: std::error::Error::source(&e)
                                .map_or_else(|| e.to_string(), |s| s.to_string()),
                        })
                })
                .collect::<Result<Vec<Value>>>()?;
            Row::new(columns.clone(), values)
        })
        .collect()
}

/// An ID written into SQL text as a literal: only the IDs of a
/// [`TenantBinding`], whose alphabet (ASCII letters, digits and `-`) has
/// nothing to escape; anything else is refused, never written.
struct Literal<'a>(&'a str);

impl<'a> Literal<'a> {
    fn id(id: &'a str) -> Result<Self> {
        if !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            Ok(Self(id))
        } else {
            Err(Error::invalid(
                "tenant binding",
                "an ID of the binding is not of the ID alphabet",
            ))
        }
    }
}

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.0)
    }
}

/// The simple query that begins a bound transaction: `BEGIN` (at
/// `READ COMMITTED` for a `read`, else at the connection's `SERIALIZABLE`)
/// and the binding's settings (`neutrino.platform`, `neutrino.tenant`, and
/// `neutrino.subtenants`: the further readable tenants, comma-separated), set
/// with `SET LOCAL` (as `set_config(…, true)`): local to the transaction. The
/// IDs are written in as literals ([`Literal`]): with the `BEGIN` in one
/// message, that saves the binding a request of its own, and `SET` is a
/// utility statement, which the server neither plans nor executes as a
/// query (measured cheaper than a `SELECT set_config(…)`).
fn binding_sql(binding: &TenantBinding, read: bool) -> Result<String> {
    use std::fmt::Write as _;
    let platform = binding.platform();
    let tenant = binding.tenant();
    let mut also = String::new();
    for (i, t) in binding.also_readable().iter().enumerate() {
        if i > 0 {
            also.push(',');
        }
        also.push_str(Literal::id(t.as_str())?.0);
    }
    let mut sql = String::with_capacity(200 + also.len());
    sql.push_str(if read {
        "BEGIN ISOLATION LEVEL READ COMMITTED; "
    } else {
        "BEGIN; "
    });
    // Writing to a `String` cannot fail.
    let _ = write!(
        sql,
        "SET LOCAL neutrino.platform = {}; SET LOCAL neutrino.tenant = {}; \
         SET LOCAL neutrino.subtenants = {}",
        Literal::id(platform.as_str())?,
        Literal::id(tenant.as_str())?,
        // IDs checked above, joined by commas (`''` when none).
        Literal(&also),
    );
    Ok(sql)
}

impl PostgresExecutor {
    /// Settings for an executor on the database of `url` (a `postgres://` URL
    /// or a `key=value` connection string). A malformed one is
    /// [`Error::Config`], without the text (it may hold a password).
    pub fn builder(url: &str) -> Result<PostgresExecutorBuilder> {
        let config = tokio_postgres::Config::from_str(url).map_err(|_| Error::Config {
            backend: BACKEND,
            key: "url",
            reason: "not a PostgreSQL connection URL or string".into(),
        })?;
        Ok(PostgresExecutorBuilder {
            config,
            schema: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        })
    }

    /// An executor on the database of `url`, with the default settings.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url)?.connect().await
    }

    /// Settings for another executor on the same server and database, as this
    /// one was made (for one bound to another schema).
    pub fn settings(&self) -> PostgresExecutorBuilder {
        let mut b = (*self.settings).clone();
        b.schema = None;
        b
    }

    /// The schema this executor is bound to, if any.
    pub fn schema(&self) -> Option<&str> {
        self.target.schema.as_deref()
    }

    /// `stmt` rewritten (from the cache), with its parameters' types.
    fn prepared(&self, stmt: &Statement) -> Result<Prepared> {
        Ok(Prepared {
            text: self.rewrites.get(stmt.sql_arc())?,
            types: stmt.params().iter().map(param_type).collect(),
        })
    }

    async fn conn(&self) -> Result<Conn> {
        let obj = self.pool.get().await.map_err(error::pool)?;
        Ok(Conn {
            obj: Some(obj),
            armed: false,
        })
    }

    /// Runs one statement: its rows if `rows`, else only its count.
    async fn run_one(&self, stmt: &Statement, rows: bool) -> Result<Ran> {
        let p = self.prepared(stmt)?;
        let conn = self.conn().await?;
        let ps = params(stmt);
        let rs = refs(&ps);
        let mut retry = Retry::default();
        loop {
            let prepared = prepare(conn.client(), &p).await.map_err(error::map)?;
            let ran = if rows {
                conn.client().query(&prepared, &rs).await.map(Ran::Rows)
            } else {
                conn.client().execute(&prepared, &rs).await.map(Ran::Count)
            };
            let e = match ran {
                Ok(ran) => return Ok(ran),
                Err(e) => e,
            };
            if !retry.again(&conn, &e).await {
                return Err(error::map(e));
            }
        }
    }

    /// Runs one statement bound to `binding`, in a transaction of its own,
    /// pipelined on one connection in three requests: a simple query that
    /// begins the transaction and sets the binding's transaction-local
    /// settings ([`binding_sql`]), the statement, and `COMMIT`.
    ///
    /// A plain `SELECT` runs at `READ COMMITTED` (one snapshot, taken when the
    /// statement starts, of what is committed): a read decides nothing that
    /// the database must keep, and every rule that must hold is decided by a
    /// write, which stays `SERIALIZABLE` (a write guarded by `EXISTS` is
    /// decided on what is committed, and a conflict is retried). Serializable
    /// reads would only add predicate locks for the writes to check.
    async fn run_bound(
        &self,
        binding: &TenantBinding,
        stmt: &Statement,
        rows: bool,
    ) -> Result<Ran> {
        let p = self.prepared(stmt)?;
        let begin = binding_sql(binding, p.text.read)?;
        let mut conn = self.conn().await?;
        let ps = params(stmt);
        let rs = refs(&ps);
        let mut retry = Retry::default();
        loop {
            let prepared = prepare(conn.client(), &p).await.map_err(error::map)?;
            conn.armed = true;
            let client = conn.client();
            // Sent in this order without waiting in between; the settings
            // are the transaction's own (`SET LOCAL`), gone at its
            // end, so the connection goes back to the pool bound to nothing.
            // A failed statement fails the transaction, and `COMMIT` of a
            // failed transaction rolls it back.
            let (begun, ran, committed) = futures_util::future::join3(
                client.batch_execute(&begin),
                async {
                    if rows {
                        client.query(&prepared, &rs).await.map(Ran::Rows)
                    } else {
                        client.execute(&prepared, &rs).await.map(Ran::Count)
                    }
                },
                client.batch_execute("COMMIT"),
            )
            .await;
            conn.armed = false;
            let failure = match (begun, ran, committed) {
                (Err(e), ..) | (_, Err(e), _) | (_, _, Err(e)) => e,
                (Ok(()), Ok(ran), Ok(())) => return Ok(ran),
            };
            if !retry.again(&conn, &failure).await {
                return Err(error::map(failure));
            }
        }
    }

    async fn run_batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        let texts = stmts
            .iter()
            .map(|s| self.prepared(s))
            .collect::<Result<Vec<_>>>()?;
        let mut conn = self.conn().await?;
        let mut retry = Retry::default();
        loop {
            let client = conn.client();
            // Prepared (or found in the cache) first, pipelined: a statement
            // the server refuses to parse fails the batch before anything runs.
            let Ok(prepared) = try_join_all(texts.iter().map(|p| prepare(client, p))).await else {
                // A statement may need what an earlier one creates (a table,
                // then its index): statement after statement, in the
                // transaction.
                return self.run_batch_in_order(conn, stmts, &texts).await;
            };
            let ps: Vec<Vec<Param<'_>>> = stmts.iter().map(params).collect();
            let rs: Vec<Vec<&(dyn ToSql + Sync)>> = ps.iter().map(|p| refs(p)).collect();
            conn.armed = true;
            let client = conn.client();
            // Sent in this order on one connection, without waiting in
            // between: after a failure the server rejects the rest of the
            // transaction, and `COMMIT` of a failed transaction rolls it back.
            let (begun, results, committed) = futures_util::future::join3(
                client.batch_execute("BEGIN"),
                join_all(
                    prepared
                        .iter()
                        .zip(&rs)
                        .map(|(st, r)| client.execute(st, r)),
                ),
                client.batch_execute("COMMIT"),
            )
            .await;
            conn.armed = false;
            let mut failure = begun.err();
            let mut counts = Vec::with_capacity(results.len());
            for r in results {
                match r {
                    Ok(n) => counts.push(n),
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            if failure.is_none() {
                failure = committed.err();
            }
            match failure {
                None => {
                    return Ok(counts
                        .into_iter()
                        .map(|n| ExecOutcome {
                            rows_affected: n,
                            last_insert_rowid: None,
                        })
                        .collect());
                }
                // A conflict rolled the batch back whole (a failed `COMMIT`
                // commits nothing): it runs again on what is committed now.
                Some(e) => {
                    if !retry.again(&conn, &e).await {
                        return Err(error::map(e));
                    }
                }
            }
        }
    }

    /// A batch whose statements are prepared one after the other inside its
    /// transaction, none kept in the cache (a rolled-back `CREATE` would leave
    /// them pointing at nothing).
    async fn run_batch_in_order(
        &self,
        mut conn: Conn,
        stmts: &[Statement],
        texts: &[Prepared],
    ) -> Result<Vec<ExecOutcome>> {
        conn.armed = true;
        let client = conn.client();
        client.batch_execute("BEGIN").await.map_err(error::map)?;
        let mut outcomes = Vec::with_capacity(stmts.len());
        let mut failure = None;
        for (stmt, p) in stmts.iter().zip(texts) {
            let ps = params(stmt);
            let rs = refs(&ps);
            let ran = match prepare_with(client, p, false).await {
                Ok(st) => client.execute(&st, &rs).await,
                Err(e) => Err(e),
            };
            match ran {
                Ok(n) => outcomes.push(ExecOutcome {
                    rows_affected: n,
                    last_insert_rowid: None,
                }),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let end = if failure.is_some() {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        let ended = client.batch_execute(end).await;
        conn.armed = false;
        match (failure, ended) {
            (Some(e), _) | (None, Err(e)) => Err(error::map(e)),
            (None, Ok(())) => Ok(outcomes),
        }
    }

    /// The PostgreSQL part of the text check of guarded calls, on top of
    /// [`SqlGuard::check_text`]: see [`PostgresExecutor`]'s trait impl.
    fn check_guarded_text(guard: &SqlGuard, sql: &str) -> Result<()> {
        guard.check_text(sql)?;
        check_postgres_text(sql)
    }
}

/// Statement kinds a guarded caller may run: reads, writes and the DDL of its
/// own tables.
const GUARDED_KINDS: &[&str] = &[
    "select", "insert", "update", "delete", "with", "values", "create", "alter", "drop",
];

/// Words refused anywhere in guarded SQL on PostgreSQL: catalogs, functions
/// that run SQL given as text, read files or settings, and the objects whose
/// bodies run later under someone else's authority.
const POSTGRES_DANGEROUS_WORDS: &[&str] = &[
    "information_schema",
    "current_setting",
    "set_config",
    "dblink",
    "ts_stat",
    "ts_rewrite",
    "copy",
    "function",
    "procedure",
    "rule",
    "policy",
    "extension",
    "schema",
    "role",
    "publication",
    "subscription",
    "language",
    "operator",
    "aggregate",
    "public",
];

/// See [`PostgresExecutor::check_guarded`].
fn check_postgres_text(sql: &str) -> Result<()> {
    let denied = |reason: String| Error::PermissionDenied { reason };
    let kind = leading_keyword(sql).unwrap_or_default();
    if !GUARDED_KINDS.contains(&kind.as_str()) {
        return Err(denied(format!(
            "{kind} statements are not allowed in guarded SQL"
        )));
    }
    let unjudged = |e: Error| denied(format!("the statement cannot be judged: {e}"));
    if has_unicode_escapes(sql).map_err(unjudged)? {
        return Err(denied(
            "U& identifiers and strings are not allowed in guarded SQL".into(),
        ));
    }
    let (words, idents) = words_and_identifiers(sql).map_err(unjudged)?;
    for w in words.iter().chain(
        idents
            .iter()
            .map(|i| i.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        if POSTGRES_DANGEROUS_WORDS.contains(&w.as_str())
            || w.starts_with("pg_")
            || w.starts_with("lo_")
            || w.contains("to_xml")
            || w.starts_with("query_to")
            || w.starts_with("xpath")
        {
            return Err(denied(format!("{w} is not allowed in guarded SQL")));
        }
    }
    // Another schema is reached only by naming it: the provisioner's schemas
    // are resource names, which have a `-`; table names here never do.
    if let Some(i) = idents.iter().find(|i| i.contains('-') || i.contains('.')) {
        return Err(denied(format!(
            "{} names another schema, which guarded SQL may not reach",
            i.to_ascii_lowercase()
        )));
    }
    Ok(())
}

#[async_trait]
impl SqlExecutor for PostgresExecutor {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome> {
        match self.run_one(stmt, false).await? {
            Ran::Count(n) => Ok(ExecOutcome {
                rows_affected: n,
                last_insert_rowid: None,
            }),
            Ran::Rows(rows) => Ok(ExecOutcome {
                rows_affected: rows.len() as u64,
                last_insert_rowid: None,
            }),
        }
    }

    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>> {
        match self.run_one(stmt, true).await? {
            Ran::Rows(rows) => to_rows(rows),
            Ran::Count(_) => Ok(Vec::new()),
        }
    }

    /// Runs `stmt` in a transaction of its own that first sets
    /// `neutrino.platform`, `neutrino.tenant` and `neutrino.subtenants` (the
    /// binding's further readable tenants, comma-separated) with `SET LOCAL`:
    /// for that transaction only, pipelined with it.
    async fn execute_bound(
        &self,
        binding: &TenantBinding,
        stmt: &Statement,
    ) -> Result<ExecOutcome> {
        let rows_affected = match self.run_bound(binding, stmt, false).await? {
            Ran::Count(n) => n,
            Ran::Rows(rows) => rows.len() as u64,
        };
        Ok(ExecOutcome {
            rows_affected,
            last_insert_rowid: None,
        })
    }

    async fn query_bound(&self, binding: &TenantBinding, stmt: &Statement) -> Result<Vec<Row>> {
        match self.run_bound(binding, stmt, true).await? {
            Ran::Rows(rows) => to_rows(rows),
            Ran::Count(_) => Ok(Vec::new()),
        }
    }

    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        if stmts.is_empty() {
            return Ok(Vec::new());
        }
        self.run_batch(stmts).await
    }

    /// Refuses on the text, conservatively: [`SqlGuard::check_text`], and
    /// every statement that is not a read, a write or a table's DDL; that
    /// names a catalog (`pg_…`, `information_schema`), a function that runs
    /// SQL given as text or reads files or settings (`query_to_xml`,
    /// `ts_stat`, `dblink`, `lo_…`, `current_setting`, `set_config`, …), an
    /// object kind whose body runs later (`FUNCTION`, `RULE`, `POLICY`, …), or
    /// another schema (a quoted name with a `-` or a `.`, or `public`).
    fn check_guarded(&self, guard: &SqlGuard, sql: &str) -> Result<()> {
        Self::check_guarded_text(guard, sql)
    }
}

#[cfg(test)]
mod tests {
    use neutrino_core::ids::{PlatformId, TenantId};

    use super::*;

    #[test]
    fn only_ids_of_the_id_alphabet_are_written_as_literals() {
        for bad in ["", "a'b", "a\\b", "a b", "a;b", "é", &"a".repeat(65)] {
            assert!(Literal::id(bad).is_err(), "{bad:?}");
        }
        let (p, t, u) = (
            PlatformId::generate(),
            TenantId::generate(),
            TenantId::generate(),
        );
        let b = TenantBinding::new(p, t).reading_also([u]);
        let sql = binding_sql(&b, true).unwrap();
        assert!(sql.starts_with("BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL "));
        assert!(sql.contains(&format!("SET LOCAL neutrino.platform = '{p}';")));
        assert!(sql.contains(&format!("SET LOCAL neutrino.tenant = '{t}';")));
        assert!(sql.ends_with(&format!("SET LOCAL neutrino.subtenants = '{u}'")));
        let sql = binding_sql(&TenantBinding::new(p, t), false).unwrap();
        assert!(sql.starts_with("BEGIN; SET LOCAL "));
        assert!(sql.ends_with("SET LOCAL neutrino.subtenants = ''"));
    }

    #[test]
    fn guarded_text_refuses_postgres_escape_hatches() {
        let g = SqlGuard::new(["notes"]);
        for sql in [
            "SELECT * FROM pg_catalog.pg_class",
            "SELECT query_to_xml('select * from no' || 'tes', true, true, '')",
            "SELECT * FROM ts_stat('select 1')",
            "SELECT current_setting('app.tenant')",
            "SELECT set_config('app.tenant', 'x', false)",
            "SET search_path = other",
            "COPY x TO '/tmp/x'",
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
            r#"SELECT * FROM "k3m9p2xw7q-default-db"."thing""#,
            "SELECT * FROM public.thing",
            "SELECT lo_import('/etc/passwd')",
            "DO $$ BEGIN END $$",
            "SELECT * FROM information_schema.tables",
            "SELECT * FROM notes",
            r#"SELECT * FROM U&"\006Eotes""#,
            r#"SELECT * FROM u&"n\006Ftes" UESCAPE '\'"#,
        ] {
            let e = PostgresExecutor::check_guarded_text(&g, sql).unwrap_err();
            assert!(e.is_permission_denied(), "{sql}: {e:?}");
        }
        for sql in [
            r#"SELECT "a"."id" FROM "things" AS "a" WHERE "a"."n" = ?1"#,
            r#"CREATE TABLE "things" ("id" INTEGER PRIMARY KEY)"#,
            r#"INSERT INTO "things" ("id") VALUES (?1)"#,
        ] {
            PostgresExecutor::check_guarded_text(&g, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}
