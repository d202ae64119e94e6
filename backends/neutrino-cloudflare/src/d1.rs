//! The SQL port on D1, through `POST …/d1/database/{id}/raw`.

use async_trait::async_trait;
use neutrino_core::sql::{Columns, ExecOutcome, Row, SqlExecutor, Statement, Value};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use reqwest::Method;
use serde_json::{Value as Json, json};
use tracing::Instrument;

use crate::client::{ApiRequest, CloudflareClient};
use crate::error::{CloudflareError, not_found_or};

/// D1's limit on bound parameters per statement.
pub const MAX_BOUND_PARAMS: usize = 100;
/// D1's limit on the size of one SQL statement, in bytes.
pub const MAX_SQL_BYTES: usize = 100_000;
/// D1's limit on one string, blob or row, in bytes (checked on the values bound
/// to one statement).
pub const MAX_ROW_BYTES: usize = 2_000_000;
/// The largest integer D1's JSON API carries exactly: `2^53 - 1`.
///
/// D1 parses request JSON as JavaScript numbers (IEEE doubles) and answers
/// with them, so integers beyond this are refused rather than rounded.
pub const MAX_EXACT_INTEGER: i64 = (1 << 53) - 1;

/// A D1 database as a [`SqlExecutor`].
///
/// # Value encoding
/// D1's `raw` endpoint takes `params` as a JSON array and answers with JSON
/// cells, so every [`Value`] travels as JSON; no value is ever spliced into SQL
/// or wrapped in SQL functions:
///
/// | `Value` | sent as | read back from |
/// |---|---|---|
/// | `Null` | `null` | `null` |
/// | `Integer(i)`, `|i| <= 2^53 - 1` | a JSON integer | a JSON integer |
/// | `Integer(i)`, beyond | refused: [`Error::InvalidInput`] | a JSON integer beyond is a [`Error::Decode`] |
/// | `Real(x)`, finite | a JSON number | a JSON number with a fraction or exponent |
/// | `Real(x)`, NaN or infinite | refused: [`Error::InvalidInput`] | – |
/// | `Text(s)` | a JSON string | a JSON string |
/// | `Blob(b)` | refused: [`Error::InvalidInput`] | an array of byte values; an object cell is a [`Error::Decode`] |
///
/// What D1's wire format cannot carry, and why the adapter refuses instead of
/// corrupting:
/// * integers beyond ±(2^53 − 1): JSON numbers are JavaScript doubles on D1's
///   side, so `i64::MAX` would be stored as `9223372036854775808.0`;
/// * blobs: JSON has no byte type, D1 binds a JSON string as TEXT, and the
///   contract types result cells as number, string or object only (a
///   JavaScript `ArrayBuffer` serializes as `{}`). A cell that is an array of
///   byte values is read as a blob; an object cell is refused with
///   [`Error::Decode`] rather than guessed at;
/// * the difference between an integral REAL and an INTEGER: JavaScript prints
///   `2.0` as `2`, so a REAL with an integral value reads back as
///   [`Value::Integer`] (its numeric value is exact, and `row.get::<f64>()`
///   accepts it).
///
/// The published contract types `params` as strings only; numbers and `null`
/// are what D1's own bindings send (contract deviation 6, decided here).
///
/// # Limits
/// D1's limits are checked before sending, as [`Error::InvalidInput`]: at most
/// [`MAX_BOUND_PARAMS`] values and [`MAX_SQL_BYTES`] of SQL per statement, and
/// at most [`MAX_ROW_BYTES`] of values per statement.
///
/// D1 itself stops a query after 30 s: the API request, a whole batch
/// included, must resolve in that time. That is what bounds a runaway
/// statement sent through a guarded call (a `TenantStore`'s raw SQL) here; the
/// adapter sets no time limit of its own.
///
/// # Batches and retries
/// [`SqlExecutor::batch`] sends D1's batch form (`{"batch": [...]}`), which D1
/// runs as one transaction. Queries may write, so a 5xx answer is not retried
/// by the client (the write may have happened): it is returned as a retryable
/// [`Error::Backend`]. HTTP 429 is retried, as the request was not run.
///
/// # Guarded calls
/// D1 has no authorizer, so the guarded calls (`execute_guarded` …, used by a
/// `TenantStore`'s raw SQL) keep the port's conservative default: the text is
/// judged before sending, and any guarded table name appearing anywhere in it,
/// even inside a string literal or a comment, refuses the statement, as do
/// `ATTACH`, `VACUUM`, `PRAGMA`, new triggers, views and virtual tables and
/// transaction control ([`SqlGuard::check_text`](neutrino_core::sql::SqlGuard::check_text)).
/// Unlike SQLite, it cannot see through views and triggers created after the
/// guard was built.
#[derive(Clone, Debug)]
pub struct D1Executor {
    client: CloudflareClient,
    database_id: String,
}

impl D1Executor {
    /// The database with D1 UUID `database_id` (a provisioner's
    /// [`Resource::provider_id`](neutrino_core::provision::Resource)).
    pub fn new(client: CloudflareClient, database_id: impl Into<String>) -> Self {
        Self {
            client,
            database_id: database_id.into(),
        }
    }

    /// The D1 UUID.
    pub fn database_id(&self) -> &str {
        &self.database_id
    }

    async fn raw(&self, body: Json) -> Result<Vec<RawResult>> {
        let req = ApiRequest::new(
            "d1.raw",
            Method::POST,
            &self
                .client
                .account_path(&["d1", "database", &self.database_id, "raw"]),
        )
        .json(body);
        let env = self
            .client
            .call(&req)
            .await
            .map_err(|e| map_d1(e, &self.database_id))?;
        let results: Vec<RawResult> = env.result("d1 raw result")?;
        Ok(results)
    }
}

#[derive(serde::Deserialize)]
struct RawResult {
    results: RawRows,
    #[serde(default)]
    meta: Meta,
}

#[derive(serde::Deserialize, Default)]
struct RawRows {
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    rows: Vec<Vec<Json>>,
}

#[derive(serde::Deserialize, Default)]
struct Meta {
    #[serde(default)]
    changes: u64,
    #[serde(default)]
    last_row_id: Option<i64>,
}

impl RawResult {
    fn outcome(&self) -> ExecOutcome {
        ExecOutcome {
            rows_affected: self.meta.changes,
            last_insert_rowid: self.meta.last_row_id,
        }
    }

    fn rows(self) -> Result<Vec<Row>> {
        let columns: Columns = self.results.columns.into();
        self.results
            .rows
            .into_iter()
            .map(|cells| {
                let values = cells.iter().map(decode_cell).collect::<Result<Vec<_>>>()?;
                Row::new(columns.clone(), values)
            })
            .collect()
    }
}

/// Maps a D1 query error: unique violations are `AlreadyExists` (whatever the
/// status: workerd's own D1, as Miniflare runs it, answers them with HTTP 500),
/// other SQL errors (HTTP 400) `InvalidInput`, a missing database `NotFound`.
fn map_d1(e: CloudflareError, database_id: &str) -> Error {
    let msg = || {
        e.messages()
            .iter()
            .map(|m| m.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match e.status() {
        Some(_) if e.message_contains("UNIQUE constraint failed") => Error::AlreadyExists {
            entity: "row",
            id: msg(),
        },
        Some(400) if !e.has_code(7404) => Error::InvalidInput {
            what: "sql statement",
            reason: msg(),
        },
        _ => not_found_or(e, "d1 database", database_id),
    }
}

/// Checks D1's limits and encodes one statement as `{sql, params}`.
fn encode_statement(st: &Statement) -> Result<Json> {
    if st.sql().len() > MAX_SQL_BYTES {
        return Err(Error::invalid(
            "sql statement",
            format!(
                "d1 allows at most {MAX_SQL_BYTES} bytes per statement, got {}",
                st.sql().len()
            ),
        ));
    }
    if st.params().len() > MAX_BOUND_PARAMS {
        return Err(Error::invalid(
            "sql parameters",
            format!(
                "d1 allows at most {MAX_BOUND_PARAMS} bound values per statement, got {}",
                st.params().len()
            ),
        ));
    }
    let mut size = 0;
    let params = st
        .params()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            size += match v {
                Value::Text(s) => s.len(),
                Value::Blob(b) => b.len(),
                _ => 8,
            };
            encode_value(v).map_err(|reason| {
                Error::invalid("sql parameters", format!("value ?{}: {reason}", i + 1))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if size > MAX_ROW_BYTES {
        return Err(Error::invalid(
            "sql parameters",
            format!("d1 allows at most {MAX_ROW_BYTES} bytes of values per row, got {size}"),
        ));
    }
    Ok(json!({ "sql": st.sql(), "params": params }))
}

/// One value as a JSON parameter, or why D1 cannot carry it.
fn encode_value(v: &Value) -> std::result::Result<Json, String> {
    match v {
        Value::Null => Ok(Json::Null),
        Value::Integer(i) if (-MAX_EXACT_INTEGER..=MAX_EXACT_INTEGER).contains(i) => {
            Ok(Json::from(*i))
        }
        Value::Integer(_) => {
            Err("integers beyond ±(2^53 - 1) cannot be carried exactly by d1's http api".to_owned())
        }
        Value::Real(x) => serde_json::Number::from_f64(*x)
            .map(Json::Number)
            .ok_or_else(|| "nan and infinite reals cannot be carried by d1's http api".to_owned()),
        Value::Text(s) => Ok(Json::String(s.clone())),
        Value::Blob(_) => Err("d1's http api cannot bind blobs (json has no byte type)".to_owned()),
    }
}

/// One JSON cell of a `raw` answer as a [`Value`].
fn decode_cell(cell: &Json) -> Result<Value> {
    let bad = |reason: String| Error::Decode {
        what: "d1 cell".into(),
        reason,
    };
    match cell {
        Json::Null => Ok(Value::Null),
        Json::Number(n) if n.is_f64() => n
            .as_f64()
            .map(Value::Real)
            .ok_or_else(|| bad("not a number".into())),
        Json::Number(n) => match n.as_i64() {
            Some(i) if (-MAX_EXACT_INTEGER - 1..=MAX_EXACT_INTEGER + 1).contains(&i) => {
                Ok(Value::Integer(i))
            }
            _ => Err(bad(format!(
                "integer {n} is beyond ±2^53 and may have been rounded by d1's http api"
            ))),
        },
        Json::String(s) => Ok(Value::Text(s.clone())),
        Json::Array(items) => items
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect::<Option<Vec<u8>>>()
            .map(Value::Blob)
            .ok_or_else(|| bad("an array cell must hold byte values".into())),
        Json::Bool(b) => Ok(Value::Integer(i64::from(*b))),
        Json::Object(_) => Err(bad(
            "d1's http api answers blob cells as objects that do not carry the bytes".into(),
        )),
    }
}

fn single(results: Vec<RawResult>) -> Result<RawResult> {
    let n = results.len();
    results
        .into_iter()
        .next()
        .filter(|_| n == 1)
        .ok_or_else(|| Error::Decode {
            what: "d1 raw result".into(),
            reason: format!("expected 1 result, got {n}"),
        })
}

#[async_trait]
impl SqlExecutor for D1Executor {
    async fn execute(&self, stmt: &Statement) -> Result<ExecOutcome> {
        let span = port_span(Port::Sql, "d1", "execute", &self.database_id);
        async {
            let body = encode_statement(stmt)?;
            Ok(single(self.raw(body).await?)?.outcome())
        }
        .instrument(span)
        .await
    }

    async fn query(&self, stmt: &Statement) -> Result<Vec<Row>> {
        let span = port_span(Port::Sql, "d1", "query", &self.database_id);
        async {
            let body = encode_statement(stmt)?;
            single(self.raw(body).await?)?.rows()
        }
        .instrument(span)
        .await
    }

    async fn batch(&self, stmts: &[Statement]) -> Result<Vec<ExecOutcome>> {
        let span = port_span(Port::Sql, "d1", "batch", &self.database_id);
        async {
            if stmts.is_empty() {
                return Ok(Vec::new());
            }
            let batch = stmts
                .iter()
                .map(encode_statement)
                .collect::<Result<Vec<_>>>()?;
            let results = self.raw(json!({ "batch": batch })).await?;
            if results.len() != stmts.len() {
                return Err(Error::Decode {
                    what: "d1 batch result".into(),
                    reason: format!("{} statements but {} results", stmts.len(), results.len()),
                });
            }
            Ok(results.iter().map(RawResult::outcome).collect())
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_d1_cannot_carry_are_refused() {
        for v in [
            Value::Integer(i64::MAX),
            Value::Integer(i64::MIN),
            Value::Integer(1 << 53),
            Value::Real(f64::NAN),
            Value::Blob(vec![1]),
        ] {
            assert!(encode_value(&v).is_err(), "{v:?}");
        }
        assert_eq!(
            encode_value(&Value::Integer(MAX_EXACT_INTEGER)).unwrap(),
            json!(MAX_EXACT_INTEGER)
        );
    }

    #[test]
    fn cells_decode_losslessly_or_fail() {
        assert_eq!(decode_cell(&json!(null)).unwrap(), Value::Null);
        assert_eq!(decode_cell(&json!(5)).unwrap(), Value::Integer(5));
        assert_eq!(decode_cell(&json!(1.5)).unwrap(), Value::Real(1.5));
        assert_eq!(
            decode_cell(&json!([0, 255])).unwrap(),
            Value::Blob(vec![0, 255])
        );
        assert!(decode_cell(&json!([256])).is_err());
        assert!(decode_cell(&json!(9_223_372_036_854_775_807_i64)).is_err());
        assert!(decode_cell(&json!({"a": 1})).is_err());
    }

    #[test]
    fn limits_are_checked_before_sending() {
        let many = Statement::with_params("SELECT 1", vec![Value::Null; 101]);
        assert!(matches!(
            encode_statement(&many),
            Err(Error::InvalidInput { .. })
        ));
        let long = Statement::new("x".repeat(MAX_SQL_BYTES + 1));
        assert!(matches!(
            encode_statement(&long),
            Err(Error::InvalidInput { .. })
        ));
        let big = Statement::new("SELECT ?1").bind("x".repeat(MAX_ROW_BYTES + 1));
        assert!(matches!(
            encode_statement(&big),
            Err(Error::InvalidInput { .. })
        ));
    }
}
