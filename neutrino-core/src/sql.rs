//! The SQL port: parameterised statements in SQLite's dialect, rows back, and an
//! atomic batch.
//!
//! Its model is D1's (no interactive transactions over HTTP), so the domain crates
//! write their SQL once and it runs on SQLite, on D1 and later on PostgreSQL:
//!
//! * placeholders are numbered, `?1 ?2 …`, and never mixed with bare `?`;
//! * identifiers are `"quoted"`, and every value is bound, never spliced into SQL;
//! * writes that belong together go in one [`SqlExecutor::batch`].

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::ids::{PlatformId, TenantId};

/// A value bound to a placeholder or read from a column.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The SQLite storage class name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        }
    )*};
}

value_from! {
    i64 => |v| Value::Integer(v),
    i32 => |v| Value::Integer(i64::from(v)),
    u32 => |v| Value::Integer(i64::from(v)),
    bool => |v| Value::Integer(i64::from(v)),
    f64 => |v| Value::Real(v),
    String => |v| Value::Text(v),
    &str => |v| Value::Text(v.to_owned()),
    &String => |v| Value::Text(v.clone()),
    Vec<u8> => |v| Value::Blob(v),
    &[u8] => |v| Value::Blob(v.to_vec()),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A statement and its bound values.
///
/// ```
/// use neutrino::sql::{Statement, Value};
/// let st = Statement::new(r#"SELECT "name" FROM "pet" WHERE "id" = ?1 AND "age" > ?2"#)
///     .bind("p1")
///     .bind(3_i64);
/// assert_eq!(st.params(), &[Value::Text("p1".into()), Value::Integer(3)]);
/// ```
#[derive(Clone, PartialEq)]
pub struct Statement {
    sql: Arc<str>,
    params: Vec<Value>,
}

impl Statement {
    /// A statement without bound values yet.
    pub fn new(sql: impl Into<Arc<str>>) -> Self {
        Self {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    /// A statement with all its values.
    pub fn with_params(sql: impl Into<Arc<str>>, params: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            params,
        }
    }

    /// Binds the next placeholder (`?1`, then `?2`, …).
    pub fn bind(mut self, v: impl Into<Value>) -> Self {
        self.params.push(v.into());
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The SQL text, shared.
    pub fn sql_arc(&self) -> &Arc<str> {
        &self.sql
    }

    /// The bound values, in placeholder order.
    pub fn params(&self) -> &[Value] {
        &self.params
    }
}

impl fmt::Debug for Statement {
    /// Shows the SQL and the types of the bound values, never the values: they may
    /// be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let types: Vec<&str> = self.params.iter().map(Value::type_name).collect();
        f.debug_struct("Statement")
            .field("sql", &&*self.sql)
            .field("params", &types)
            .finish()
    }
}

/// What a write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Rows inserted, updated or deleted.
    pub rows_affected: u64,
    /// The rowid of the last inserted row, where the backend reports one
    /// (SQLite and D1 do; PostgreSQL has no rowid and always reports `None`).
    /// Portable code reads a generated key with `INSERT … RETURNING` through
    /// [`SqlExecutor::query`] instead.
    pub last_insert_rowid: Option<i64>,
}

/// The platform and tenant a statement runs for, handed to the bound calls of
/// [`SqlExecutor`] ([`SqlExecutor::execute_bound`], [`SqlExecutor::query_bound`]).
///
/// An engine that enforces row-level security (PostgreSQL) makes the binding
/// visible to its policies for that statement's transaction only; the rows
/// a bound statement reaches are those of [`TenantBinding::tenant`], and a
/// read also those of [`TenantBinding::also_readable`] (sub-tenants). Other
/// engines ignore it: the statement's own `WHERE` decides there.
///
/// ```
/// use neutrino::ids::{PlatformId, TenantId};
/// use neutrino::sql::TenantBinding;
/// let (p, t) = (PlatformId::generate(), TenantId::generate());
/// let b = TenantBinding::new(p, t);
/// assert_eq!((b.platform(), b.tenant()), (p, t));
/// assert!(b.also_readable().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantBinding {
    platform: PlatformId,
    tenant: TenantId,
    also_readable: Vec<TenantId>,
}

impl TenantBinding {
    /// Statements for `tenant` of `platform`.
    pub fn new(platform: PlatformId, tenant: TenantId) -> Self {
        Self {
            platform,
            tenant,
            also_readable: Vec::new(),
        }
    }

    /// Also lets reads reach the rows of `tenants` (a tenant's sub-tenants);
    /// writes still reach only [`TenantBinding::tenant`]'s rows.
    pub fn reading_also(mut self, tenants: impl IntoIterator<Item = TenantId>) -> Self {
        self.also_readable.extend(tenants);
        self
    }

    /// The platform.
    pub fn platform(&self) -> PlatformId {
        self.platform
    }

    /// The tenant whose rows the statements read and write.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Further tenants whose rows reads may reach.
    pub fn also_readable(&self) -> &[TenantId] {
        &self.also_readable
    }
}

/// The SQL engine behind an executor, for the few statements that cannot be
/// written once for every engine (a migration's DDL, a JSON function, a
/// catalog query).
///
/// Every executor accepts the port's dialect (SQLite's, `?N` placeholders,
/// `"quoted"` identifiers, the column types `INTEGER`, `REAL`, `TEXT` and
/// `BLOB`); code branches on the dialect only where the engines disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite and engines that speak it (D1): dynamically typed columns,
    /// `json_each`, `pragma_*` functions, `last_insert_rowid`.
    Sqlite,
    /// PostgreSQL: every column has one type (`INTEGER` is stored as `BIGINT`,
    /// `REAL` as `DOUBLE PRECISION`, `BLOB` as `BYTEA`, `INTEGER PRIMARY KEY`
    /// gets an identity), no rowid, `jsonb` functions, `information_schema`.
    Postgres,
}

/// The column names of a result set, shared by all its rows.
pub type Columns = Arc<[String]>;

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    columns: Columns,
    values: Vec<Value>,
}

/// Something that picks a column: its index or its name.
pub trait ColumnIndex: fmt::Display + Copy {
    /// The position of the column in `columns`, if any.
    fn position(self, columns: &[String]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn position(self, columns: &[String]) -> Option<usize> {
        (self < columns.len()).then_some(self)
    }
}

impl ColumnIndex for &str {
    fn position(self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

impl Row {
    /// A row; `values` must have one entry per column.
    pub fn new(columns: Columns, values: Vec<Value>) -> Result<Self> {
        if columns.len() != values.len() {
            return Err(Error::Decode {
                what: "row".into(),
                reason: format!("{} columns but {} values", columns.len(), values.len()),
            });
        }
        Ok(Self { columns, values })
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Takes the values out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The raw value of a column.
    pub fn value(&self, col: impl ColumnIndex) -> Result<&Value> {
        col.position(&self.columns)
            .map(|i| &self.values[i])
            .ok_or_else(|| no_column(col))
    }

    /// A column converted to `T`; a type mismatch is an [`Error::Decode`] naming
    /// the column.
    ///
    /// ```
    /// use neutrino::sql::{Row, Value};
    /// let row = Row::new(vec!["n".to_string(), "s".to_string()].into(),
    ///                    vec![Value::Integer(7), Value::Null]).unwrap();
    /// assert_eq!(row.get::<i64>("n").unwrap(), 7);
    /// assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
    /// assert!(row.get::<String>("n").is_err());
    /// ```
    pub fn get<T: FromValue>(&self, col: impl ColumnIndex) -> Result<T> {
        let v = self.value(col)?;
        T::from_value(v).map_err(|reason| Error::Decode {
            what: format!("column {col}"),
            reason,
        })
    }

    /// A column converted to `T` as [`Row::get`] does, moving its value out
    /// of the row instead of copying it (a text or blob is not copied): the
    /// column reads as `NULL` afterwards, whether or not it converted.
    ///
    /// ```
    /// use neutrino::sql::{Row, Value};
    /// let mut row = Row::new(vec!["s".to_string()].into(),
    ///                        vec![Value::Text("hi".into())]).unwrap();
    /// assert_eq!(row.take::<String>("s").unwrap(), "hi");
    /// assert_eq!(row.get::<Option<String>>("s").unwrap(), None);
    /// ```
    pub fn take<T: FromValue>(&mut self, col: impl ColumnIndex) -> Result<T> {
        let i = col.position(&self.columns).ok_or_else(|| no_column(col))?;
        let v = std::mem::replace(&mut self.values[i], Value::Null);
        T::from_owned(v).map_err(|reason| Error::Decode {
            what: format!("column {col}"),
            reason,
        })
    }
}

/// The error for a column that is not in the result.
fn no_column(col: impl ColumnIndex) -> Error {
    Error::Decode {
        what: format!("column {col}"),
        reason: "no such column in the result".into(),
    }
}

/// Conversion from a column [`Value`].
pub trait FromValue: Sized {
    /// Converts, or says why not.
    fn from_value(v: &Value) -> std::result::Result<Self, String>;

    /// Converts a value the caller owns (see [`Row::take`]); by default as
    /// [`FromValue::from_value`] does. Text and blobs are moved, not copied.
    fn from_owned(v: Value) -> std::result::Result<Self, String> {
        Self::from_value(&v)
    }
}

fn mismatch(expected: &str, v: &Value) -> String {
    format!("expected {expected}, found {}", v.type_name())
}

impl FromValue for Value {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(v.clone())
    }

    fn from_owned(v: Value) -> std::result::Result<Self, String> {
        Ok(v)
    }
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Integer(i) => Ok(*i),
            other => Err(mismatch("integer", other)),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> std::result::Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
narrow_int!(i32, u32, u64, usize);

impl FromValue for bool {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match i64::from_value(v)? {
            0 => Ok(false),
            1 => Ok(true),
            i => Err(format!("expected boolean 0 or 1, found {i}")),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            // Integers widen, as in SQLite's own REAL affinity.
            Value::Integer(i) => Ok(*i as f64),
            other => Err(mismatch("real", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(mismatch("text", other)),
        }
    }

    fn from_owned(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s),
            other => Err(mismatch("text", &other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(mismatch("blob", other)),
        }
    }

    fn from_owned(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b),
            other => Err(mismatch("blob", &other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }

    fn from_owned(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_owned(other).map(Some),
        }
    }
}

/// Runs SQL against one database.
///
/// # Contract
/// Every implementation, checked by `testkit::sql`:
/// * Placeholders are `?1 ?2 …`; every [`Value`] round-trips with its type: integers
///   (including `i64::MIN` and `i64::MAX`) stay integers, reals stay reals, `NULL`
///   stays `NULL`, text and blobs (including empty and non-UTF-8 blobs) are
///   unchanged.
/// * A unique or primary-key violation is [`Error::AlreadyExists`]; a syntax error
///   or a missing table is [`Error::InvalidInput`].
/// * [`SqlExecutor::batch`] is atomic: if any statement fails, none of its effects
///   remain, and the error of the failing statement is returned.
/// * A write that has returned is visible to every later call on this executor.
/// * Calls never block the async executor's worker threads.
///
/// ## Guarded calls
/// [`SqlExecutor::execute_guarded`], [`SqlExecutor::query_guarded`] and
/// [`SqlExecutor::batch_guarded`] run SQL from code that must not reach the
/// tables of a [`SqlGuard`] (a `TenantStore`'s raw SQL). A refused statement is
/// [`Error::PermissionDenied`] and has no effect (in a batch, none of the batch
/// has). Every implementation refuses at least what [`SqlGuard::check_text`]
/// refuses, or judges the statement as parsed by the engine:
/// * **the default** (D1 and any backend without an authorizer) refuses
///   conservatively on the text: any guarded name appearing as a word anywhere,
///   inside string literals, quoted identifiers and comments too, and the
///   statement kinds that escape a per-table judgement (`ATTACH`, `DETACH`,
///   `VACUUM`, `PRAGMA`, `ANALYZE`, `CREATE TRIGGER` / `VIEW` / `VIRTUAL TABLE`,
///   transaction control, `load_extension`, `fts3_tokenizer`, `sqlite_stat*`,
///   `dbstat`, `sqlite_dbpage`, `sqlite_sequence`). A string literal that merely contains a guarded
///   name is refused too.
/// * **SQLite** asks the engine's authorizer, which reports every table a
///   statement reads or writes after parsing, through views and triggers; see
///   `neutrino_sqlite::SqliteExecutor` for the exact rules. A guarded name inside
///   a string literal that is not used as a table is accepted there.
///
/// A statement that a trusted caller prepared (and an executor cached) is judged
/// again when it comes through a guarded call: the judgement never depends on
/// what was run before.
///
/// ## Bound calls
/// [`SqlExecutor::execute_bound`] and [`SqlExecutor::query_bound`] run a
/// statement for one tenant ([`TenantBinding`]): a `TenantStore` sends every
/// statement on its tenanted tables through them. They answer exactly as the
/// plain calls would for a statement whose `WHERE` already names the tenant.
/// An engine that enforces row-level security also makes the binding visible
/// to its policies, for that statement's transaction only, never for the
/// connection: a later plain call on the same connection is bound to
/// nothing. The default (SQLite, D1) is the plain call.
#[async_trait]
pub trait SqlExecutor: Send + Sync + fmt::Debug + 'static {
    /// The engine's [`Dialect`] (default [`Dialect::Sqlite`]), for the
    /// statements that differ between engines.
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    /// Runs one statement that returns no rows (or whose rows are ignored).
    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome>;

    /// Runs one statement and returns its rows.
    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>>;

    /// Runs statements in order as one atomic unit.
    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>>;

    /// [`SqlExecutor::execute`] for `binding`'s tenant (see the trait's
    /// Contract, "Bound calls"). The default is the plain call.
    async fn execute_bound(
        &self,
        binding: &TenantBinding,
        stmt: &Statement,
    ) -> Result<ExecOutcome> {
        let _ = binding;
        self.execute(stmt).await
    }

    /// [`SqlExecutor::query`] for `binding`'s tenant (see the trait's
    /// Contract, "Bound calls"). The default is the plain call.
    async fn query_bound(&self, binding: &TenantBinding, stmt: &Statement) -> Result<Vec<Row>> {
        let _ = binding;
        self.query(stmt).await
    }

    /// The check on the text of every statement of the guarded calls below,
    /// before anything runs: the default is [`SqlGuard::check_text`]; an engine
    /// with more ways to reach another table refuses those too.
    fn check_guarded(&self, guard: &SqlGuard, sql: &str) -> Result<()> {
        guard.check_text(sql)
    }

    /// [`SqlExecutor::execute`], refusing a statement that could reach a table of
    /// `guard` (see the trait's Contract). The default refuses on the text with
    /// [`SqlExecutor::check_guarded`].
    async fn execute_guarded(&self, guard: &SqlGuard, stmt: &Statement) -> Result<ExecOutcome> {
        self.check_guarded(guard, stmt.sql())?;
        self.execute(stmt).await
    }

    /// [`SqlExecutor::query`], refusing a statement that could reach a table of
    /// `guard` (see the trait's Contract).
    async fn query_guarded(&self, guard: &SqlGuard, stmt: &Statement) -> Result<Vec<Row>> {
        self.check_guarded(guard, stmt.sql())?;
        self.query(stmt).await
    }

    /// [`SqlExecutor::batch`], refusing the whole batch (nothing of it runs) if
    /// any statement could reach a table of `guard` (see the trait's Contract).
    async fn batch_guarded(
        &self,
        guard: &SqlGuard,
        stmts: &[Statement],
    ) -> Result<Vec<ExecOutcome>> {
        stmts
            .iter()
            .try_for_each(|st| self.check_guarded(guard, st.sql()))?;
        self.batch(stmts).await
    }
}

/// The future an [`SqlExecutor`] method returns (what `async_trait` makes of
/// an `async fn`).
type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Writes methods of `impl SqlExecutor for Arc<T>` that hand back the inner
/// executor's future as it is (each reference argument with its lifetime,
/// as `async_trait` declares them).
macro_rules! forward_to_inner {
    ($($name:ident($($arg:ident: &$lt:lifetime $ty:ty),*) -> $ret:ty;)*) => {$(
        fn $name<'s, $($lt,)* 'f>(&'s self, $($arg: &$lt $ty),*) -> PortFuture<'f, $ret>
        where
            's: 'f,
            $($lt: 'f,)*
            Self: 'f,
        {
            (**self).$name($($arg),*)
        }
    )*};
}

/// Forwards to the shared executor: no second boxed future and poll per
/// call.
impl<T: SqlExecutor + ?Sized> SqlExecutor for Arc<T> {
    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }
    fn check_guarded(&self, guard: &SqlGuard, sql: &str) -> Result<()> {
        (**self).check_guarded(guard, sql)
    }
    forward_to_inner! {
        execute(stmt: &'a Statement) -> ExecOutcome;
        query(stmt: &'a Statement) -> Vec<Row>;
        batch(stmts: &'a [Statement]) -> Vec<ExecOutcome>;
        execute_bound(binding: &'b TenantBinding, stmt: &'a Statement) -> ExecOutcome;
        query_bound(binding: &'b TenantBinding, stmt: &'a Statement) -> Vec<Row>;
        execute_guarded(guard: &'g SqlGuard, stmt: &'a Statement) -> ExecOutcome;
        query_guarded(guard: &'g SqlGuard, stmt: &'a Statement) -> Vec<Row>;
        batch_guarded(guard: &'g SqlGuard, stmts: &'a [Statement]) -> Vec<ExecOutcome>;
    }
}

/// Conveniences over [`SqlExecutor`], for every executor.
#[async_trait]
pub trait SqlExecutorExt: SqlExecutor {
    /// The first row, or `None`.
    async fn query_opt(&self, stmt: &Statement) -> Result<Option<Row>> {
        Ok(self.query(stmt).await?.into_iter().next())
    }

    /// The first row, or [`Error::NotFound`] for `entity` / `id`.
    async fn query_one(&self, stmt: &Statement, entity: &'static str, id: &str) -> Result<Row> {
        self.query_opt(stmt)
            .await?
            .ok_or_else(|| Error::not_found(entity, id))
    }
}

impl<T: SqlExecutor + ?Sized> SqlExecutorExt for T {}

/// Tables that SQL from a guarded caller must never reach, for the guarded calls
/// of [`SqlExecutor`].
///
/// Names compare ASCII case-insensitively, as SQLite compares identifiers. Each
/// guard built has its own [`SqlGuard::id`], so an executor can keep what it
/// prepared under one guard apart from everything else. Build it once and clone
/// it: clones share the set and the identity.
///
/// ```
/// use neutrino::sql::SqlGuard;
/// let g = SqlGuard::new(["note"]);
/// assert!(g.guards("NOTE"));
/// assert!(g.check_text("SELECT * FROM 'Note'").unwrap_err().is_permission_denied());
/// assert!(g.check_text("SELECT * FROM notebook").is_ok());
/// ```
#[derive(Clone)]
pub struct SqlGuard {
    inner: Arc<GuardInner>,
}

struct GuardInner {
    id: u64,
    names: HashSet<String>,
}

impl fmt::Debug for SqlGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.inner.names.iter().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("SqlGuard")
            .field("id", &self.inner.id)
            .field("tables", &names)
            .finish()
    }
}

static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);

/// Words that make [`SqlGuard::check_text`] refuse a statement wherever they
/// appear: statement kinds that copy, attach or reshape the database, change a
/// connection's settings or hold sampled keys of every table.
const DANGEROUS_WORDS: &[&str] = &[
    "attach",
    "detach",
    "vacuum",
    "pragma",
    "analyze",
    "savepoint",
    "rollback",
    "load_extension",
    "fts3_tokenizer",
    "dbstat",
    "sqlite_dbpage",
    "sqlite_sequence",
];

/// Words that start a transaction-control statement.
const TRANSACTION_WORDS: &[&str] = &["begin", "commit", "end", "release"];

/// Objects whose creation is refused: their bodies run later, or read other
/// tables, under someone else's authority.
const DEFERRED_OBJECTS: &[&str] = &["trigger", "view", "virtual"];

impl SqlGuard {
    /// A guard over `tables` (their names, in any case).
    pub fn new<I>(tables: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self {
            inner: Arc::new(GuardInner {
                id: NEXT_GUARD.fetch_add(1, Ordering::Relaxed),
                names: tables
                    .into_iter()
                    .map(|t| t.as_ref().to_ascii_lowercase())
                    .collect(),
            }),
        }
    }

    /// This guard's identity, unique in the process and shared by its clones.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Whether `table` is guarded (ASCII case-insensitive).
    pub fn guards(&self, table: &str) -> bool {
        if table.bytes().any(|b| b.is_ascii_uppercase()) {
            self.inner.names.contains(&table.to_ascii_lowercase())
        } else {
            self.inner.names.contains(table)
        }
    }

    /// Refuses `sql` if a guarded name appears in it as a word anywhere: in an
    /// identifier however quoted, in a string literal, in a comment.
    pub fn check_names(&self, sql: &str) -> Result<()> {
        for w in words(sql) {
            if self.guards(w) {
                return Err(denied(format!(
                    "the statement names the guarded table {}",
                    w.to_ascii_lowercase()
                )));
            }
        }
        Ok(())
    }

    /// The conservative check for backends that cannot see what a statement
    /// touches: [`SqlGuard::check_names`], and a refusal of every statement in
    /// which a dangerous word appears (`ATTACH`, `DETACH`, `VACUUM`, `PRAGMA`,
    /// `ANALYZE`, `SAVEPOINT`, `ROLLBACK`, `load_extension`, `fts3_tokenizer`,
    /// `dbstat`, `sqlite_dbpage`, `sqlite_sequence`, `sqlite_stat…`), that starts with a transaction
    /// keyword (`BEGIN`, `COMMIT`, `END`, `RELEASE`), or that creates a trigger, a
    /// view or a virtual table.
    pub fn check_text(&self, sql: &str) -> Result<()> {
        self.check_names(sql)?;
        let mut creates = false;
        let mut deferred = None;
        if let Some(k) = leading_keyword(sql)
            && TRANSACTION_WORDS.contains(&k.as_str())
        {
            return Err(denied(format!(
                "{k}: transaction control is not allowed in guarded SQL"
            )));
        }
        for w in words(sql) {
            let w = w.to_ascii_lowercase();
            if DANGEROUS_WORDS.contains(&w.as_str()) || w.starts_with("sqlite_stat") {
                return Err(denied(format!("{w} is not allowed in guarded SQL")));
            }
            if w == "create" {
                creates = true;
            }
            if DEFERRED_OBJECTS.contains(&w.as_str()) {
                deferred = Some(w);
            }
        }
        if let Some(w) = deferred
            && creates
        {
            return Err(denied(format!(
                "creating a {w} is not allowed in guarded SQL"
            )));
        }
        // A table named like a table-valued function shadows it for every
        // caller (`json_each(?)` then fails as "not a function"); a rename's
        // new name counts too.
        if (creates || leading_keyword(sql).as_deref() == Some("alter"))
            && let Some(w) = words(sql).find(|w| shadows_function(w))
        {
            return Err(denied(format!(
                "a table named {} would shadow a function of the same name",
                w.to_ascii_lowercase()
            )));
        }
        Ok(())
    }
}

/// Whether a table called `name` would shadow a table-valued function that
/// Neutrino's own SQL calls (SQLite looks a table up before an eponymous
/// virtual table: `json_each(?)` then fails as "not a function" for every
/// caller of the database). Guarded SQL may not create or rename a table to
/// such a name; backends that judge statements after parsing use it too.
pub fn shadows_function(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "json_each" | "json_tree" | "jsonb_each" | "jsonb_tree" | "generate_series"
    ) || n.starts_with("pragma_")
}

fn denied(reason: String) -> Error {
    Error::PermissionDenied { reason }
}

/// The first word of `sql` (after whitespace and comments), ASCII lowercased:
/// the statement's kind (`select`, `create`, `vacuum`, …).
pub fn leading_keyword(sql: &str) -> Option<String> {
    let b = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            i = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p + 1);
        } else if b[i..].starts_with(b"/*") {
            i = b[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(b.len(), |p| i + 2 + p + 2);
        } else {
            break;
        }
    }
    let start = i;
    while i < b.len() && is_word_byte(b[i]) {
        i += 1;
    }
    (i > start).then(|| String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase())
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Every maximal run of identifier characters in `sql` (`A-Za-z0-9_$` and any
/// non-ASCII byte), wherever it is: SQLite identifiers have no escapes, so a
/// table name always appears in the text as one of these words.
fn words(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    #[test]
    fn names_are_found_however_they_are_spelled() {
        let g = SqlGuard::new(["Notes"]);
        for sql in [
            "SELECT * FROM notes",
            "SELECT * FROM 'notes'",
            r#"SELECT * FROM "NoTeS""#,
            "SELECT * FROM [notes]",
            "SELECT * FROM `notes`",
            "SELECT * FROM main.notes",
            "SELECT/*x*/*FROM/**/notes",
            "SELECT 1 -- notes",
            "INSERT INTO t VALUES ('a notes b')",
        ] {
            assert!(
                g.check_names(sql).unwrap_err().is_permission_denied(),
                "{sql}"
            );
        }
        for sql in [
            "SELECT * FROM notes2",
            "SELECT note FROM x",
            "SELECT * FROM notesé",
        ] {
            assert!(g.check_text(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn dangerous_kinds_are_refused_anywhere() {
        let g = SqlGuard::new(["notes"]);
        for sql in [
            "VACUUM INTO 'x.db'",
            "ATTACH 'x.db' AS x",
            "detach x",
            "PRAGMA writable_schema = 1",
            "SELECT * FROM sqlite_stat4",
            "SELECT load_extension('x')",
            "CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END",
            "create view v as select 1",
            "CREATE VIRTUAL TABLE v USING fts5(a)",
            "BEGIN",
            "/* c */ COMMIT",
            "SAVEPOINT a",
            "ANALYZE",
        ] {
            assert!(
                g.check_text(sql).unwrap_err().is_permission_denied(),
                "{sql}"
            );
        }
        assert!(g.check_text("SELECT view FROM pages").is_ok());
        assert!(g.check_text("SELECT CASE WHEN 1 THEN 2 END").is_ok());
    }

    #[test]
    fn the_leading_keyword_skips_comments() {
        assert_eq!(
            leading_keyword("  /* a */ -- b\n VACUUM").as_deref(),
            Some("vacuum")
        );
        assert_eq!(
            leading_keyword("Create table x(a)").as_deref(),
            Some("create")
        );
        assert_eq!(leading_keyword("/* open"), None);
        assert_eq!(leading_keyword(""), None);
    }

    #[test]
    fn tables_that_shadow_table_valued_functions_are_refused_on_the_text() {
        let g = SqlGuard::new(["notes"]);
        for sql in [
            "CREATE TABLE json_each (value TEXT)",
            "CREATE TEMP TABLE \"JSON_EACH\" (value TEXT)",
            "CREATE TABLE pragma_table_info (name TEXT)",
            "ALTER TABLE x RENAME TO [json_tree]",
        ] {
            assert!(g.check_text(sql).is_err(), "{sql}");
        }
        for sql in [
            "SELECT value FROM json_each('[1]')",
            "INSERT INTO x SELECT value FROM json_each(?1)",
        ] {
            assert!(g.check_text(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn guards_have_their_own_identity() {
        let a = SqlGuard::new(["x"]);
        assert_eq!(a.id(), a.clone().id());
        assert_ne!(a.id(), SqlGuard::new(["x"]).id());
    }
}

#[cfg(test)]
mod row_tests {
    use super::*;

    fn row() -> Row {
        Row::new(
            vec!["t".to_string(), "n".to_string(), "b".to_string()].into(),
            vec![
                Value::Text("x".into()),
                Value::Integer(3),
                Value::Blob(vec![1]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn take_moves_the_value_out_and_fails_as_get_does() {
        let mut r = row();
        assert_eq!(r.take::<Option<String>>(0).unwrap().as_deref(), Some("x"));
        assert_eq!(r.get::<Option<String>>(0).unwrap(), None);
        assert_eq!(r.take::<Vec<u8>>("b").unwrap(), vec![1]);
        let (got, taken) = (row().get::<String>(1), r.take::<String>(1));
        assert_eq!(got.unwrap_err().to_string(), taken.unwrap_err().to_string());
        assert!(matches!(r.take::<i64>(7), Err(Error::Decode { .. })));
        assert!(matches!(r.take::<i64>("nope"), Err(Error::Decode { .. })));
    }
}
