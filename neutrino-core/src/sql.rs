//! The SQL port: parameterised statements in SQLite's dialect, rows back, and an
//! atomic batch.
//!
//! Its model is D1's (no interactive transactions over HTTP), so the domain crates
//! write their SQL once and it runs on SQLite, on D1 and later on PostgreSQL:
//!
//! * placeholders are numbered, `?1 ?2 …`, and never mixed with bare `?`;
//! * identifiers are `"quoted"`, and every value is bound, never spliced into SQL;
//! * writes that belong together go in one [`SqlExecutor::batch`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};

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
/// use neutrino_core::sql::{Statement, Value};
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
    /// The rowid of the last inserted row, where the backend reports one.
    pub last_insert_rowid: Option<i64>,
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
            .ok_or_else(|| Error::Decode {
                what: format!("column {col}"),
                reason: "no such column in the result".into(),
            })
    }

    /// A column converted to `T`; a type mismatch is an [`Error::Decode`] naming
    /// the column.
    ///
    /// ```
    /// use neutrino_core::sql::{Row, Value};
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
}

/// Conversion from a column [`Value`].
pub trait FromValue: Sized {
    /// Converts, or says why not.
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

fn mismatch(expected: &str, v: &Value) -> String {
    format!("expected {expected}, found {}", v.type_name())
}

impl FromValue for Value {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(v.clone())
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
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(mismatch("blob", other)),
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
#[async_trait]
pub trait SqlExecutor: Send + Sync + fmt::Debug + 'static {
    /// Runs one statement that returns no rows (or whose rows are ignored).
    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome>;

    /// Runs one statement and returns its rows.
    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>>;

    /// Runs statements in order as one atomic unit.
    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>>;
}

#[async_trait]
impl<T: SqlExecutor + ?Sized> SqlExecutor for Arc<T> {
    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome> {
        (**self).execute(stmt).await
    }
    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>> {
        (**self).query(stmt).await
    }
    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        (**self).batch(stmts).await
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
