//! [`PostgresExecutor`]: the SQL port on a pool of PostgreSQL connections.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool::managed;
use neutrino_core::sql::{
    Dialect, ExecOutcome, Row, SqlExecutor, SqlGuard, Statement, TenantBinding, Value,
    leading_keyword,
};
use neutrino_core::{Error, Result};

use crate::error::{self, BACKEND};
use crate::rewrite::{has_unicode_escapes, rewrite, words_and_identifiers};
use crate::wire::{Dial, Fail, Host, Item, Out, Wire};

/// How many rewritten statement texts an executor keeps; the cache starts
/// over beyond.
const REWRITE_CACHE: usize = 1024;

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
    tls: crate::tls::Tls,
    schema: Option<String>,
    max_connections: usize,
}

impl fmt::Debug for PostgresExecutorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresExecutorBuilder")
            .field("target", &target(&self.config, self.schema.clone()))
            .field("tls", &self.tls)
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

/// How the pool's connections reach the server, from the configuration:
/// its hosts (TCP names or addresses, Unix-socket directories) with their
/// ports, tried in order.
fn dial(config: &tokio_postgres::Config, tls: crate::tls::Tls, options: String) -> Result<Dial> {
    use tokio_postgres::config::Host as H;
    let invalid = |reason: &str| Error::Config {
        backend: BACKEND,
        key: "url",
        reason: reason.into(),
    };
    let ports = config.get_ports();
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let mut hosts: Vec<(Host, u16)> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| match h {
            H::Tcp(h) => (Host::Tcp(h.clone()), port(i)),
            #[cfg(unix)]
            H::Unix(p) => (Host::Unix(p.clone()), port(i)),
        })
        .collect();
    if hosts.is_empty() {
        hosts = config
            .get_hostaddrs()
            .iter()
            .enumerate()
            .map(|(i, a)| (Host::Tcp(a.to_string()), port(i)))
            .collect();
    }
    if hosts.is_empty() {
        return Err(invalid("names no host"));
    }
    let user = config.get_user().ok_or_else(|| invalid("names no user"))?;
    Ok(Dial {
        hosts,
        user: user.to_owned(),
        password: config.get_password().map(<[u8]>::to_vec),
        dbname: config.get_dbname().map(str::to_owned),
        options: Some(options),
        application_name: config
            .get_application_name()
            .unwrap_or("neutrino")
            .to_owned(),
        connect_timeout: config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10)),
        tls,
    })
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
        let config = self.config;
        // Reads at `READ COMMITTED` whatever the server's default; every
        // write begins its own `SERIALIZABLE` transaction (see `BEGIN`).
        let mut options = String::from("-c default_transaction_isolation=read\\ committed");
        if let Some(schema) = &self.schema {
            // Validated above: no quote, space or backslash to escape.
            options.push_str(&format!(" -c search_path=\"{schema}\""));
        }
        if let Some(more) = config.get_options() {
            options.push(' ');
            options.push_str(more);
        }
        let target = Arc::new(target(&config, self.schema.clone()));
        let dial = dial(&config, self.tls.clone(), options)?;
        let pool = Pool::builder(WireManager { dial })
            .max_size(self.max_connections)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(15)))
            .recycle_timeout(Some(Duration::from_secs(5)))
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
        let check = match &exec.target.schema {
            Some(schema) => {
                Statement::new("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ?1")
                    .bind(schema.as_str())
            }
            None => Statement::new("SELECT 1"),
        };
        if exec.query(&check).await?.is_empty()
            && let Some(schema) = &exec.target.schema
        {
            return Err(Error::not_found("database", schema.clone()));
        }
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

/// The pool's connections: [`Wire`]s, never reused unless idle.
pub(crate) struct WireManager {
    dial: Dial,
}

impl managed::Manager for WireManager {
    type Type = Wire;
    type Error = Fail;

    async fn create(&self) -> std::result::Result<Wire, Fail> {
        Wire::connect(&self.dial).await
    }

    async fn recycle(&self, wire: &mut Wire, _: &managed::Metrics) -> managed::RecycleResult<Fail> {
        if wire.reusable() {
            Ok(())
        } else {
            Err(managed::RecycleError::Message(
                "left mid-call or broken".into(),
            ))
        }
    }
}

type Pool = managed::Pool<WireManager>;

/// A pooled connection that leaves the pool for good, closed at once, if it
/// is not idle when dropped (a call cut off mid-way: the server rolls back
/// what it had not committed when the socket closes).
struct Conn {
    obj: Option<managed::Object<WireManager>>,
}

impl Conn {
    fn wire(&mut self) -> &mut Wire {
        self.obj
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take()
            && !obj.reusable()
        {
            drop(managed::Object::take(obj));
        }
    }
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

/// How many times a transaction that lost a serialization conflict or a
/// deadlock runs again before the conflict is reported. Sized for many
/// transactions at once on a small, loaded machine: 40 ran out when about
/// 150 concurrent calls of the cross-tenant matrix met on two busy cores.
const MAX_CONFLICT_RETRIES: u32 = 64;

/// A serialization failure or a deadlock: the transaction was rolled back
/// whole, and running it again is safe.
fn conflicted(e: &Fail) -> bool {
    matches!(e.code(), Some("40001" | "40P01"))
}

/// A `NULL` whose type the statement does not fix (`SELECT ?1`).
fn undetermined(e: &Fail) -> bool {
    matches!(e.code(), Some("42P18" | "42P08"))
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

/// When a failed call runs again: once after a stale cached plan (the
/// connection's statements closed first), and up to
/// `MAX_CONFLICT_RETRIES` times after a conflict (with a pause).
#[derive(Default)]
struct Retry {
    replanned: bool,
    conflicts: u32,
}

impl Retry {
    /// Whether to run again after `e`, once ready to.
    async fn again(&mut self, conn: &mut Conn, e: &Fail) -> bool {
        if !conn.wire().reusable() {
            return false;
        }
        if !self.replanned && stale_plan(e) {
            conn.wire().evict();
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
fn stale_plan(e: &Fail) -> bool {
    e.code() == Some("0A000") && e.message().is_some_and(|m| m.contains("cached plan"))
}

/// An ID of a [`TenantBinding`], checked to be of the ID alphabet (ASCII
/// letters, digits and `-`): written into `neutrino.scope`, whose pairs are
/// joined with `/` and separated with `,`, where no ID may carry either.
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

/// The binding as the value of [`BIND_SQL`]: the `platform/tenant` pairs it
/// reaches, comma-separated, the tenant it writes as first and its further
/// readable tenants after (the form the policies of the tenant store's
/// tables read). Every ID is checked to be of the ID alphabet
/// ([`Literal`]), so that none can smuggle a `/` or a `,`.
fn binding_value(binding: &TenantBinding) -> Result<[Value; 1]> {
    let platform = binding.platform();
    let platform = Literal::id(platform.as_str())?.0;
    let mut scope = String::new();
    for (i, t) in std::iter::once(binding.tenant())
        .chain(binding.also_readable().iter().copied())
        .enumerate()
    {
        if i > 0 {
            scope.push(',');
        }
        scope.push_str(platform);
        scope.push('/');
        scope.push_str(Literal::id(t.as_str())?.0);
    }
    Ok([Value::Text(scope)])
}

/// Sets the binding for the transaction only: `set_config(…, true)`, as
/// `SET LOCAL`. A `WHERE`, not a select list: the server sends back a row
/// of no columns (`set_config` never returns `NULL`). One setting, not one
/// per ID: each `set_config` call is work for the server on every call.
const BIND_SQL: &str = "SELECT WHERE set_config('neutrino.scope', $1, true) IS NOT NULL";

/// Begins a write or a batch: `SERIALIZABLE`, as SQLite's single writer
/// makes them: a write guarded by `EXISTS` over another row is decided on
/// what is committed, and a conflict is retried (see `conflicted`).
const BEGIN: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";

const COMMIT: &str = "COMMIT";

/// A statement the executor itself runs, kept prepared.
fn fixed<'a>(sql: &'a str, values: &'a [Value]) -> Item<'a> {
    Item {
        sql,
        values,
        cache: true,
        rows: false,
    }
}

impl PostgresExecutor {
    /// Settings for an executor on the database of `url` (a `postgres://` URL
    /// or a `key=value` connection string). A malformed one is
    /// [`Error::Config`], without the text (it may hold a password).
    ///
    /// TLS is as the URL's `sslmode` says: `disable`, or `prefer` (the
    /// default), connect without it (`prefer` does not try it); `require`
    /// encrypts without checking the server's certificate (unless
    /// `sslrootcert` names a CA file: then as `verify-ca`); `verify-ca` checks
    /// that a CA of `sslrootcert` signed it; `verify-full` also that it was
    /// issued for the host. A server that refuses TLS or a certificate that
    /// does not verify is [`Error::Config`] with the key `sslmode` when
    /// connecting; an unknown `sslmode`, a missing or unreadable `sslrootcert`
    /// and client certificates are [`Error::Config`] here.
    pub fn builder(url: &str) -> Result<PostgresExecutorBuilder> {
        let (url, tls) = crate::tls::split(url)?;
        let config = tokio_postgres::Config::from_str(&url).map_err(|_| Error::Config {
            backend: BACKEND,
            key: "url",
            reason: "not a PostgreSQL connection URL or string".into(),
        })?;
        // tokio-postgres must not have read a demand for TLS that the split
        // missed (a URL whose password holds a raw `?`): that would be a
        // connection in cleartext.
        if matches!(tls, crate::tls::Tls::Off)
            && !matches!(
                config.get_ssl_mode(),
                tokio_postgres::config::SslMode::Disable | tokio_postgres::config::SslMode::Prefer
            )
        {
            return Err(Error::Config {
                backend: BACKEND,
                key: "sslmode",
                reason: "the URL's sslmode cannot be read unambiguously: percent-encode the user and password".into(),
            });
        }
        Ok(PostgresExecutorBuilder {
            config,
            tls,
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

    /// `stmt` rewritten (from the cache).
    fn rewritten(&self, stmt: &Statement) -> Result<Arc<Rewritten>> {
        self.rewrites.get(stmt.sql_arc())
    }

    async fn conn(&self) -> Result<Conn> {
        let obj = self.pool.get().await.map_err(error::pool)?;
        Ok(Conn { obj: Some(obj) })
    }

    /// Runs `items` on one connection as one pipeline ended by one `Sync`
    /// (one round trip), again after a conflict or a stale plan, and once
    /// with the `NULL`s of the statement that needs it declared `TEXT`.
    async fn call(&self, items: &[Item<'_>]) -> Result<Vec<Out>> {
        let mut conn = self.conn().await?;
        let mut retry = Retry::default();
        let mut text_nulls = vec![false; items.len()];
        loop {
            let (failure, at) = match conn.wire().run(items, &text_nulls).await {
                Ok(outs) => return Ok(outs),
                Err(f) => f,
            };
            if undetermined(&failure)
                && let Some(i) = at
                && !text_nulls[i]
                && items[i].values.iter().any(|v| matches!(v, Value::Null))
                && conn.wire().reusable()
            {
                text_nulls[i] = true;
                continue;
            }
            if !retry.again(&mut conn, &failure).await {
                return Err(error::map(failure));
            }
        }
    }

    /// Runs one statement in one round trip: its rows if `rows`, else only
    /// its count. A write (DML that is not a plain `SELECT`) runs in a
    /// `SERIALIZABLE` transaction of its own (`BEGIN`, the statement,
    /// `COMMIT` under one `Sync`); anything else in the implicit transaction
    /// of its round trip, at the connection's `READ COMMITTED`.
    async fn run_one(&self, stmt: &Statement, rows: bool) -> Result<Out> {
        let p = self.rewritten(stmt)?;
        let one = Item {
            sql: &p.sql,
            values: stmt.params(),
            cache: p.cacheable,
            rows,
        };
        if p.cacheable && !p.read {
            let items = [fixed(BEGIN, &[]), one, fixed(COMMIT, &[])];
            let mut outs = self.call(&items).await?;
            outs.truncate(2);
            return outs
                .pop()
                .ok_or_else(|| Error::invalid("sql statement", "gave no result"));
        }
        let mut outs = self.call(&[one]).await?;
        outs.pop()
            .ok_or_else(|| Error::invalid("sql statement", "gave no result"))
    }

    /// Runs one statement bound to `binding`, in a transaction of its own
    /// sent in one round trip: the binding's settings with
    /// `set_config(…, true)` (local to the transaction) and the statement,
    /// ended by one `Sync`; a write between `BEGIN ISOLATION LEVEL
    /// SERIALIZABLE` and `COMMIT`, anything else in the implicit transaction
    /// that the `Sync` ends. A failure anywhere rolls the whole transaction
    /// back, and the connection is idle outside any transaction before it can
    /// serve another call (see [`Wire::run`]).
    ///
    /// A plain `SELECT` runs at `READ COMMITTED` (one snapshot, taken when the
    /// statement starts, of what is committed): a read decides nothing that
    /// the database must keep, and every rule that must hold is decided by a
    /// write, which is `SERIALIZABLE` (a write guarded by `EXISTS` is decided
    /// on what is committed, and a conflict is retried). Serializable reads
    /// would only add predicate locks for the writes to check.
    async fn run_bound(
        &self,
        binding: &TenantBinding,
        stmt: &Statement,
        rows: bool,
    ) -> Result<Out> {
        let p = self.rewritten(stmt)?;
        let bound = binding_value(binding)?;
        let one = Item {
            sql: &p.sql,
            values: stmt.params(),
            cache: p.cacheable,
            rows,
        };
        let mut outs = if p.read {
            self.call(&[fixed(BIND_SQL, &bound), one]).await?
        } else {
            let items = [
                fixed(BEGIN, &[]),
                fixed(BIND_SQL, &bound),
                one,
                fixed(COMMIT, &[]),
            ];
            let mut outs = self.call(&items).await?;
            outs.truncate(3);
            outs
        };
        outs.pop()
            .ok_or_else(|| Error::invalid("sql statement", "gave no result"))
    }

    /// A batch in one transaction sent in one round trip: `BEGIN`, the
    /// statements and `COMMIT`, ended by one `Sync`. The server parses each
    /// statement after the previous one ran, so a statement may use what an
    /// earlier one creates (a table, then its index).
    async fn run_batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        let texts = stmts
            .iter()
            .map(|s| self.rewritten(s))
            .collect::<Result<Vec<_>>>()?;
        let mut items = Vec::with_capacity(stmts.len() + 2);
        items.push(fixed(BEGIN, &[]));
        for (s, p) in stmts.iter().zip(&texts) {
            items.push(Item {
                sql: &p.sql,
                values: s.params(),
                cache: p.cacheable,
                rows: false,
            });
        }
        items.push(fixed(COMMIT, &[]));
        let outs = self.call(&items).await?;
        Ok(outs
            .into_iter()
            .skip(1)
            .take(stmts.len())
            .map(|o| ExecOutcome {
                rows_affected: match o {
                    Out::Count(n) => n,
                    Out::Rows(r) => r.len() as u64,
                },
                last_insert_rowid: None,
            })
            .collect())
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
        let rows_affected = match self.run_one(stmt, false).await? {
            Out::Count(n) => n,
            Out::Rows(rows) => rows.len() as u64,
        };
        Ok(ExecOutcome {
            rows_affected,
            last_insert_rowid: None,
        })
    }

    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>> {
        match self.run_one(stmt, true).await? {
            Out::Rows(rows) => Ok(rows),
            Out::Count(_) => Ok(Vec::new()),
        }
    }

    /// Runs `stmt` in a transaction of its own that first sets
    /// `neutrino.scope` (the binding's `platform/tenant` pairs,
    /// comma-separated: its tenant first, then its further readable
    /// tenants) with `set_config(…, true)`: for that transaction only, sent with it in one
    /// round trip under one `Sync`.
    async fn execute_bound(
        &self,
        binding: &TenantBinding,
        stmt: &Statement,
    ) -> Result<ExecOutcome> {
        let rows_affected = match self.run_bound(binding, stmt, false).await? {
            Out::Count(n) => n,
            Out::Rows(rows) => rows.len() as u64,
        };
        Ok(ExecOutcome {
            rows_affected,
            last_insert_rowid: None,
        })
    }

    async fn query_bound(&self, binding: &TenantBinding, stmt: &Statement) -> Result<Vec<Row>> {
        match self.run_bound(binding, stmt, true).await? {
            Out::Rows(rows) => Ok(rows),
            Out::Count(_) => Ok(Vec::new()),
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
        assert_eq!(
            binding_value(&b).unwrap(),
            [Value::Text(format!("{p}/{t},{p}/{u}"))]
        );
        assert_eq!(
            binding_value(&TenantBinding::new(p, t)).unwrap(),
            [Value::Text(format!("{p}/{t}"))]
        );
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
