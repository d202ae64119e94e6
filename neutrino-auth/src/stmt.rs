//! Helpers that build guarded SQL statements: a write that happens only
//! when a condition holds, decided by the database inside the batch.

use neutrino_core::sql::{Statement, Value};

use crate::error::{AuthError, Result};

/// `sql` with its placeholders `?k` renumbered `?(k + by)`.
pub(crate) fn renumber(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '?' {
            let mut k = 0usize;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                k = k * 10 + d as usize;
                chars.next();
            }
            out.push_str(&(k + by).to_string());
        }
    }
    out
}

/// `INSERT … VALUES (?1 … ?n)` turned into `INSERT … SELECT ?1 … ?n WHERE
/// cond`, `cond`'s placeholders (`?1 …`) renumbered after the statement's.
pub(crate) fn insert_where(stmt: &Statement, cond: &str, extra: Vec<Value>) -> Result<Statement> {
    let bad = || AuthError::corrupt("guarded insert");
    let (head, values) = stmt.sql().rsplit_once(" VALUES (").ok_or_else(bad)?;
    let values = values.strip_suffix(')').ok_or_else(bad)?;
    let renumbered = renumber(cond, stmt.params().len());
    let mut params = stmt.params().to_vec();
    params.extend(extra);
    Ok(Statement::with_params(
        format!("{head} SELECT {values} WHERE {renumbered}"),
        params,
    ))
}
