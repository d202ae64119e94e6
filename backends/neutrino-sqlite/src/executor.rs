//! [`SqliteExecutor`]: the SQL port over rusqlite.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use neutrino_core::sql::{Columns, ExecOutcome, Row, SqlExecutor, SqlGuard, Statement, Value};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior};
use tokio::runtime::{Handle, RuntimeFlavor};
use tracing::Instrument;

use crate::error::{BACKEND, map};
use crate::guard::{Authorized, cache_key, check_text, install_authorizer};
use crate::reader::{Inline, Pool, Reader, blocking, column_names, install_budget};
use crate::worker::{PinOpener, Worker};

/// Where the database lives.
#[derive(Clone, Debug)]
enum Target {
    File(PathBuf),
    Memory,
}

/// Configures and opens a [`SqliteExecutor`].
///
/// ```no_run
/// # async fn f() -> neutrino::Result<()> {
/// use std::time::Duration;
/// use neutrino::sqlite::SqliteExecutorBuilder;
/// let db = SqliteExecutorBuilder::new("app.sqlite")
///     .with_readers(4)
///     .with_busy_timeout(Duration::from_secs(10))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqliteExecutorBuilder {
    target: Target,
    readers: usize,
    busy_timeout: Duration,
    statement_cache: usize,
    reply_spin: Duration,
    idle_spin: Duration,
    guarded_time_limit: Option<Duration>,
    read_mmap_size: i64,
}

/// The default of [`SqliteExecutorBuilder::with_read_mmap_size`]: 1 GiB.
const READ_MMAP_SIZE: i64 = 1 << 30;

impl SqliteExecutorBuilder {
    /// A database file at `path` (created if missing), with the defaults: as
    /// many reader connections as the machine has cores (at least 2, at most
    /// 8), a 5 s busy timeout, 128 cached statements, no hand-off spinning,
    /// readers that map up to 1 GiB of the file.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            target: Target::File(path.as_ref().to_owned()),
            readers: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)),
            busy_timeout: Duration::from_secs(5),
            statement_cache: 128,
            reply_spin: Duration::ZERO,
            idle_spin: Duration::ZERO,
            guarded_time_limit: Some(Duration::from_secs(10)),
            read_mmap_size: READ_MMAP_SIZE,
        }
    }

    /// A private in-memory database: one connection, gone when the executor is
    /// dropped.
    pub fn memory() -> Self {
        Self {
            target: Target::Memory,
            readers: 0,
            ..Self::new("")
        }
    }

    /// How many read-only connections serve `query` calls alongside the writer
    /// (0 sends every call to the writer): at most this many reads run at once,
    /// more wait for a free connection. Ignored for in-memory databases.
    pub fn with_readers(mut self, n: usize) -> Self {
        self.readers = n;
        self
    }

    /// How many bytes of the database file each reader connection maps into
    /// memory (SQLite's `mmap_size`): 1 GiB by default, 0 to read every page
    /// with `read` calls instead.
    ///
    /// The bundled SQLite keeps one page cache, behind one lock, for all the
    /// connections of a process, and a read takes that lock for every page it
    /// touches: readers on several threads then wait for each other. A page
    /// read through the map does not go through that cache, so concurrent
    /// reads scale with the cores. Pages written since the last checkpoint
    /// are read from the WAL, through the cache; the writer checkpoints
    /// after a second without writes, so a read-mostly database is read
    /// through the map. The map is read-only. As with any memory-mapped file,
    /// an I/O error while reading it (a failing disk, a network file system
    /// that goes away) stops the process with a signal instead of returning an
    /// error: turn it off for such storage.
    pub fn with_read_mmap_size(mut self, bytes: u64) -> Self {
        self.read_mmap_size = i64::try_from(bytes).unwrap_or(i64::MAX);
        self
    }

    /// How long a statement waits for another process's lock before failing with
    /// a retryable error.
    pub fn with_busy_timeout(mut self, d: Duration) -> Self {
        self.busy_timeout = d;
        self
    }

    /// How many prepared statements each connection keeps.
    pub fn with_statement_cache(mut self, n: usize) -> Self {
        self.statement_cache = n;
        self
    }

    /// How long one guarded call ([`SqlExecutor::execute_guarded`],
    /// `query_guarded`, `batch_guarded`: a `TenantStore`'s raw SQL) may run
    /// once its connection starts it: 10 s by default, `None` for no limit.
    ///
    /// A statement still running then is interrupted and the call fails with
    /// [`Error::InvalidInput`] naming the limit; a batch is rolled back whole,
    /// and the connection serves the next call as usual. Without it, a
    /// runaway statement (an endless recursive query) would hold the only
    /// writer connection, and every other caller's writes with it, for ever.
    /// Trusted calls (`execute`, `query`, `batch`) are never limited.
    pub fn with_guarded_time_limit(mut self, limit: Option<Duration>) -> Self {
        self.guarded_time_limit = limit;
        self
    }

    /// How long a caller polls for its reply before yielding to the runtime, and
    /// how long the writer's idle thread polls for work before sleeping. Zero
    /// (the default) turns spinning off.
    ///
    /// Only calls handed to the writer's thread use it: writes, batches, and
    /// reads of an in-memory database or of an executor without readers.
    /// Reads of a database file run on the caller's thread and never spin.
    /// Spinning saves the two thread wake-ups of a hand-off only when the
    /// machine has a free core; on a busy one it takes the time slice of the
    /// thread it waits for.
    pub fn with_handoff_spin(mut self, reply: Duration, idle: Duration) -> Self {
        self.reply_spin = reply;
        self.idle_spin = idle;
        self
    }

    /// Opens the connections: WAL journal, `synchronous=NORMAL` (durable across
    /// process crashes; on power loss the last commits may be lost, never the
    /// database's integrity: see the crate docs, "Durability"),
    /// `foreign_keys=ON`, the busy timeout and the statement cache on each.
    pub async fn build(self) -> Result<SqliteExecutor> {
        if i32::try_from(self.busy_timeout.as_millis()).is_err() {
            return Err(Error::Config {
                backend: BACKEND,
                key: "busy_timeout",
                reason: format!("must be at most {} ms", i32::MAX),
            });
        }
        if self.statement_cache == 0 {
            return Err(Error::Config {
                backend: BACKEND,
                key: "statement_cache",
                reason: "must be at least 1".into(),
            });
        }
        let label = match &self.target {
            Target::File(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            Target::Memory => ":memory:".to_owned(),
        };
        let file = matches!(self.target, Target::File(_));
        let writer = {
            let cfg = self.clone();
            // With readers, the idle writer holds their read lock: see `Pin`.
            let pin: Option<PinOpener> = (file && self.readers > 0).then(|| {
                let cfg = self.clone();
                Box::new(move || open(&cfg, false)) as PinOpener
            });
            Worker::spawn(
                format!("sqlite-w {label}"),
                move || open(&cfg, true),
                self.idle_spin,
                file,
                pin,
            )
            .await?
        };
        let readers = match self.target {
            Target::File(_) if self.readers > 0 => {
                let cfg = self.clone();
                Some(Pool::new(self.readers, self.busy_timeout, move || {
                    open(&cfg, false)
                })?)
            }
            _ => None,
        };
        Ok(SqliteExecutor {
            inner: Arc::new(Inner {
                label,
                writer,
                readers,
                reply_spin: self.reply_spin,
            }),
        })
    }
}

fn open(cfg: &SqliteExecutorBuilder, writer: bool) -> Result<Connection> {
    let conn = match &cfg.target {
        Target::Memory => Connection::open_in_memory(),
        Target::File(path) => {
            let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if writer {
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            Connection::open_with_flags(path, flags)
        }
    }
    .map_err(map)?;
    install_authorizer(&conn, cfg.guarded_time_limit);
    conn.busy_timeout(cfg.busy_timeout).map_err(map)?;
    conn.set_prepared_statement_cache_capacity(cfg.statement_cache);
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(map)?;
    if let Target::File(_) = cfg.target {
        if writer {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(map)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::Config {
                    backend: BACKEND,
                    key: "journal_mode",
                    reason: format!("the database refused WAL mode and is in {mode} mode"),
                });
            }
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(map)?;
        } else {
            conn.pragma_update(None, "query_only", true).map_err(map)?;
            // Pages of the file are read through the map, not SQLite's page
            // cache: see `with_read_mmap_size`.
            conn.pragma_update(None, "mmap_size", cfg.read_mmap_size)
                .map_err(map)?;
            // Reads run inline with no busy wait and a time budget: see
            // `reader`.
            conn.busy_timeout(Duration::ZERO).map_err(map)?;
            install_budget(&conn, cfg.guarded_time_limit);
        }
    }
    Ok(conn)
}

#[derive(Debug)]
struct Inner {
    label: String,
    writer: Worker,
    readers: Option<Pool>,
    reply_spin: Duration,
}

/// A [`SqlExecutor`] on a SQLite database file (or in memory).
///
/// One writer connection on its own thread, and a pool of read-only
/// connections. Writes are handed to the writer's thread and serialised there;
/// `batch` runs in one `BEGIN IMMEDIATE` transaction. A `query` on a database
/// file runs on a pooled reader, on the thread that polls the call: readers
/// read concurrently while the writer writes (WAL), see every write that
/// returned before the read began, and keep their prepared statements cached.
/// Readers map the database file (see
/// [`SqliteExecutorBuilder::with_read_mmap_size`]) and the writer checkpoints
/// the WAL after a second without writes, so concurrent reads of a
/// read-mostly database do not queue on SQLite's process-wide page cache.
/// From then on the writer's thread also holds, on a connection of its own,
/// the read lock those reads take, so a read makes no file-lock system call;
/// it lets go before every job, and every second, when it checkpoints again.
/// Another connection's checkpoint (which needs that lock) waits for it at
/// most that second, as it would for any read that long.
/// A `query` whose statement writes (`INSERT … RETURNING`) is sent to the
/// writer. In-memory databases have only the writer's connection.
///
/// # Reads and the async runtime
/// A read runs inline for at most about 50 µs of SQLite's work and never waits
/// on a lock there. A longer read, or one that meets a lock, is stopped (it
/// changed nothing) and run again where blocking is allowed:
/// * on a multi-thread tokio runtime, in [`tokio::task::block_in_place`]: the
///   worker's other tasks move to another thread meanwhile (as with any
///   `block_in_place`, other futures of the same task, such as the branches of
///   a `join!`, wait for it);
/// * on a current-thread runtime, on tokio's blocking pool, while the runtime
///   runs other tasks;
/// * outside a tokio runtime, on the writer's thread.
///
/// Cloning is cheap and shares the connections; they close when the last clone
/// is dropped.
///
/// # Guarded calls
/// [`SqlExecutor::execute_guarded`], `query_guarded` and `batch_guarded` are
/// judged by SQLite's authorizer, which sees every table a statement reads or
/// writes after parsing, through views and triggers, whatever the spelling of
/// the names. Refused ([`Error::PermissionDenied`], nothing done):
/// * reading or writing a guarded table, `sqlite_stat*`, `dbstat` or
///   `sqlite_dbpage`, and writing `sqlite_sequence` (the AUTOINCREMENT
///   counters of every table);
/// * creating, dropping, altering or indexing a guarded table, or an object
///   named like one (a TEMP table of that name would shadow it for later
///   statements on the connection), and any `CREATE`, `ALTER` or `DROP` whose
///   text names a guarded table anywhere (a rename's new name or a foreign
///   key's parent reach no authorizer call);
/// * creating a trigger, a view or a virtual table (their bodies run later
///   under other callers' authority);
/// * `ATTACH`, `DETACH`, `VACUUM` (also `VACUUM INTO`), `ANALYZE`, transaction
///   control and savepoints (a `COMMIT` inside a batch would break its
///   atomicity), every pragma except the read-only schema ones (`table_info`,
///   `table_xinfo`, `table_list`, `index_list`, `index_info`, `index_xinfo`,
///   `foreign_key_list`), and the functions `load_extension`, `fts3_tokenizer`,
///   `readfile`, `writefile`, `edit`.
///
/// Everything else, including a guarded name inside a string literal, runs as
/// usual. The authorizer is installed once per connection and judges only
/// during a guarded call, including when SQLite re-prepares a statement after a
/// schema change; guarded statements are cached under keys tagged with the
/// guard, so a statement a trusted caller prepared is never reused, unjudged,
/// by a guarded call.
///
/// Each guarded call may run for a limited time (10 s by default, see
/// [`SqliteExecutorBuilder::with_guarded_time_limit`]): past it, its statement
/// is interrupted, the call fails with [`Error::InvalidInput`] and a batch is
/// rolled back whole.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::Result<()> {
/// use neutrino::sql::{SqlExecutor, SqlExecutorExt, Statement};
/// use neutrino::sqlite::SqliteExecutor;
///
/// let dir = tempfile::tempdir().unwrap();
/// let db = SqliteExecutor::open(dir.path().join("app.sqlite")).await?;
/// db.execute(&Statement::new(r#"CREATE TABLE "pet" ("id" INTEGER PRIMARY KEY, "name" TEXT)"#)).await?;
/// db.execute(&Statement::new(r#"INSERT INTO "pet" ("name") VALUES (?1)"#).bind("Rex")).await?;
/// let row = db.query_one(&Statement::new(r#"SELECT "name" FROM "pet""#), "pet", "1").await?;
/// assert_eq!(row.get::<String>("name")?, "Rex");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteExecutor {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqliteExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteExecutor")
            .field("database", &self.inner.label)
            .field("readers", &self.inner.readers.is_some())
            .finish()
    }
}

impl SqliteExecutor {
    /// Opens (or creates) the database file at `path` with the default settings.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        SqliteExecutorBuilder::new(path).build().await
    }

    /// A private in-memory database.
    pub async fn memory() -> Result<Self> {
        SqliteExecutorBuilder::memory().build().await
    }

    /// The database's file name (or `:memory:`), as it appears in traces.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// A `query`, guarded or not: on a pooled reader (see the type's docs), or
    /// on the writer when there is none or the statement writes.
    async fn read(&self, guard: Option<&SqlGuard>, stmt: &Statement) -> Result<Vec<Row>> {
        if let Some(pool) = &self.inner.readers {
            let key: Cow<'_, str> = match guard {
                Some(g) => Cow::Owned(cache_key(g, stmt.sql())),
                None => Cow::Borrowed(stmt.sql()),
            };
            let mut lease = pool.lease().await?;
            let mut spilled = false;
            if let Some(reader) = lease.reader() {
                let inline = Inline::start();
                let r = read_on(reader, guard, &key, stmt);
                spilled = inline.spilled(&r);
                drop(inline);
                if !spilled {
                    match r? {
                        ReadReply::Rows(rows) => return Ok(rows),
                        ReadReply::NeedsWriter => {}
                    }
                }
            }
            if spilled {
                let timeout = pool.busy_timeout();
                let reply = match Handle::try_current().map(|h| h.runtime_flavor()) {
                    Ok(RuntimeFlavor::MultiThread) => match lease.reader() {
                        Some(reader) => {
                            let (r, reusable) = tokio::task::block_in_place(|| {
                                blocking(reader, timeout, |r| read_on(r, guard, &key, stmt))
                            });
                            if !reusable {
                                lease.discard();
                            }
                            Some(r?)
                        }
                        None => None,
                    },
                    Ok(_) => match lease.take() {
                        Some(mut reader) => {
                            let (g, st, key) = (guard.cloned(), stmt.clone(), key.into_owned());
                            let (reader, r, reusable) = tokio::task::spawn_blocking(move || {
                                let (r, reusable) = blocking(&mut reader, timeout, |r| {
                                    read_on(r, g.as_ref(), &key, &st)
                                });
                                (reader, r, reusable)
                            })
                            .await
                            .map_err(|e| Error::backend(BACKEND, false, e))?;
                            if reusable {
                                lease.put(reader);
                            }
                            Some(r?)
                        }
                        None => None,
                    },
                    // No runtime to block in: the writer's thread runs it.
                    Err(_) => None,
                };
                if let Some(ReadReply::Rows(rows)) = reply {
                    return Ok(rows);
                }
            }
        }
        let (st, g) = (stmt.clone(), guard.cloned());
        self.inner
            .writer
            .call(self.inner.reply_spin, move |c| match &g {
                None => run_query(c, st.sql(), &st),
                Some(g) => authorized(c, g, |c| run_query(c, &cache_key(g, st.sql()), &st)),
            })
            .await?
    }

    fn span(&self, op: &'static str) -> tracing::Span {
        port_span(Port::Sql, BACKEND, op, &self.inner.label)
    }
}

/// Binds a [`Value`] without copying it.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn owned(v: ValueRef<'_>, column: &str) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => {
            Value::Text(String::from_utf8(t.to_vec()).map_err(|_| Error::Decode {
                what: format!("column {column}"),
                reason: "text is not valid UTF-8".into(),
            })?)
        }
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

/// SQL with no statement in it (only white space, comments or `;`): SQLite
/// prepares nothing, and there are no rows to read.
fn no_statement(stmt: &rusqlite::Statement<'_>) -> bool {
    // Checked only for statements without columns, the rare case.
    stmt.column_count() == 0 && stmt.expanded_sql().is_none()
}

/// What a reader answers to a `query`.
enum ReadReply {
    Rows(Vec<Row>),
    /// The statement writes: send it to the writer.
    NeedsWriter,
}

/// Runs a query on a reader: statements that write are handed back. `key` is
/// the statement's text as cached: its SQL, or for a guarded call the SQL tagged
/// with the guard.
fn run_read(reader: &mut Reader, key: &str, st: &Statement) -> Result<ReadReply> {
    let mut stmt = reader.conn.prepare_cached(key).map_err(map)?;
    if no_statement(&stmt) {
        return Ok(ReadReply::Rows(Vec::new()));
    }
    if !stmt.readonly() {
        return Ok(ReadReply::NeedsWriter);
    }
    reader.names.prepare(&stmt, key);
    let names = &mut reader.names;
    rows_of(&mut stmt, st, |s| names.of(s, key)).map(ReadReply::Rows)
}

fn run_query(conn: &Connection, key: &str, st: &Statement) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(key).map_err(map)?;
    if no_statement(&stmt) {
        return Ok(Vec::new());
    }
    rows_of(&mut stmt, st, column_names)
}

/// The rows of `stmt`, named by `names`. The names are taken after the first
/// step: SQLite prepares a statement again after a schema change when it
/// steps it, and its columns may change then.
fn rows_of(
    stmt: &mut rusqlite::CachedStatement<'_>,
    st: &Statement,
    mut names: impl FnMut(&rusqlite::Statement<'_>) -> Result<Columns>,
) -> Result<Vec<Row>> {
    let mut rows = stmt
        .query(rusqlite::params_from_iter(st.params().iter().map(Param)))
        .map_err(map)?;
    let mut out = Vec::new();
    let mut named: Option<Columns> = None;
    while let Some(r) = rows.next().map_err(map)? {
        let columns = match &named {
            Some(c) => c,
            None => named.insert(names(r.as_ref())?),
        };
        let n = columns.len();
        let mut values = Vec::with_capacity(n);
        for (i, name) in columns.iter().enumerate() {
            values.push(owned(r.get_ref(i).map_err(map)?, name)?);
        }
        out.push(Row::new(Arc::clone(columns), values)?);
    }
    Ok(out)
}

fn run_execute(conn: &Connection, key: &str, st: &Statement) -> Result<ExecOutcome> {
    let mut stmt = conn.prepare_cached(key).map_err(map)?;
    let writes = !stmt.readonly();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(st.params().iter().map(Param)))
        .map_err(map)?;
    while rows.next().map_err(map)?.is_some() {}
    drop(rows);
    Ok(if writes {
        ExecOutcome {
            rows_affected: conn.changes(),
            last_insert_rowid: Some(conn.last_insert_rowid()),
        }
    } else {
        ExecOutcome::default()
    })
}

/// Runs `stmts` in one `BEGIN IMMEDIATE` transaction; with a guard, its
/// authorizer judges every statement (and is removed before `COMMIT` or the
/// rollback, which it would deny).
fn run_batch(
    conn: &mut Connection,
    stmts: &[Statement],
    guard: Option<&SqlGuard>,
) -> Result<Vec<ExecOutcome>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map)?;
    let out = match guard {
        None => stmts
            .iter()
            .map(|st| run_execute(&tx, st.sql(), st))
            .collect::<Result<Vec<_>>>()?,
        Some(g) => {
            let auth = Authorized::install(g);
            auth.judged(
                stmts
                    .iter()
                    .map(|st| run_execute(&tx, &cache_key(g, st.sql()), st))
                    .collect::<Result<Vec<_>>>(),
            )?
        }
    };
    tx.commit().map_err(map)?;
    Ok(out)
}

/// Runs a read on `conn`, judged by `guard`'s authorizer if there is one.
fn read_on(
    reader: &mut Reader,
    guard: Option<&SqlGuard>,
    key: &str,
    st: &Statement,
) -> Result<ReadReply> {
    match guard {
        None => run_read(reader, key, st),
        Some(g) => {
            let auth = Authorized::install(g);
            auth.judged(run_read(reader, key, st))
        }
    }
}

/// Runs `f` with `guard`'s authorizer installed on `conn`.
fn authorized<T>(
    conn: &Connection,
    guard: &SqlGuard,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let auth = Authorized::install(guard);
    auth.judged(f(conn))
}

#[async_trait]
impl SqlExecutor for SqliteExecutor {
    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome> {
        let st = stmt.clone();
        self.inner
            .writer
            .call(self.inner.reply_spin, move |c| {
                run_execute(c, st.sql(), &st)
            })
            .instrument(self.span("execute"))
            .await?
    }

    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>> {
        self.read(None, stmt).instrument(self.span("query")).await
    }

    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        if stmts.is_empty() {
            return Ok(Vec::new());
        }
        let sts = stmts.to_vec();
        self.inner
            .writer
            .call(self.inner.reply_spin, move |c| run_batch(c, &sts, None))
            .instrument(self.span("batch"))
            .await?
    }

    fn check_guarded(&self, guard: &SqlGuard, sql: &str) -> Result<()> {
        check_text(guard, sql)
    }

    async fn execute_guarded(&self, guard: &SqlGuard, stmt: &Statement) -> Result<ExecOutcome> {
        self.check_guarded(guard, stmt.sql())?;
        let (st, g) = (stmt.clone(), guard.clone());
        self.inner
            .writer
            .call(self.inner.reply_spin, move |c| {
                authorized(c, &g, |c| run_execute(c, &cache_key(&g, st.sql()), &st))
            })
            .instrument(self.span("execute"))
            .await?
    }

    async fn query_guarded(&self, guard: &SqlGuard, stmt: &Statement) -> Result<Vec<Row>> {
        self.check_guarded(guard, stmt.sql())?;
        self.read(Some(guard), stmt)
            .instrument(self.span("query"))
            .await
    }

    async fn batch_guarded(
        &self,
        guard: &SqlGuard,
        stmts: &[Statement],
    ) -> Result<Vec<ExecOutcome>> {
        if stmts.is_empty() {
            return Ok(Vec::new());
        }
        stmts
            .iter()
            .try_for_each(|st| self.check_guarded(guard, st.sql()))?;
        let (sts, g) = (stmts.to_vec(), guard.clone());
        self.inner
            .writer
            .call(self.inner.reply_spin, move |c| run_batch(c, &sts, Some(&g)))
            .instrument(self.span("batch"))
            .await?
    }
}
