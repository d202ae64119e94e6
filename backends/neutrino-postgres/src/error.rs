//! tokio-postgres and pool errors in terms of [`neutrino_core::Error`].

use std::fmt;

use neutrino_core::Error;
use tokio_postgres::error::SqlState;

pub(crate) const BACKEND: &str = "postgres";

/// A backend failure described in words of our own: the driver's errors are
/// kept out of messages that could carry connection details.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// Maps a driver error: SQLSTATE 23505 is `AlreadyExists` naming the
/// constraint, other constraint violations, bad SQL and values that do not fit
/// `InvalidInput`, a refused privilege `PermissionDenied`, conflicts and lost
/// connections retryable `Backend` errors. Only the server's primary message
/// is kept, never its detail (which quotes the row's values).
pub(crate) fn map(e: tokio_postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        if e.is_closed() {
            return Error::backend(BACKEND, true, Failure("the connection was closed".into()));
        }
        let text = e.to_string();
        // Errors of binding a value (see `value::Param`) and of the number of
        // values: the caller's input.
        if text.contains("error serializing parameter") || text.contains("parameters but") {
            let reason =
                std::error::Error::source(&e).map_or_else(|| text.clone(), |s| s.to_string());
            return Error::invalid("sql parameters", reason);
        }
        if text.contains("error deserializing column") {
            let reason = std::error::Error::source(&e).map_or(text, |s| s.to_string());
            return Error::Decode {
                what: "postgres column".into(),
                reason,
            };
        }
        // The driver's own words for the failure are fixed phrases (never an
        // address or a password); the I/O kind behind it, if any, is added.
        let retryable = !matches!(
            text.as_str(),
            "authentication error" | "invalid configuration" | "invalid connection string"
        );
        return Error::backend(
            BACKEND,
            retryable,
            Failure(format!("{text} ({})", io_kind(&e))),
        );
    };
    let code = db.code();
    let msg = || db.message().to_owned();
    let class = &code.code()[..2];
    if *code == SqlState::UNIQUE_VIOLATION {
        return Error::AlreadyExists {
            entity: "row",
            id: db.constraint().map_or_else(
                || "unique constraint".into(),
                |c| format!("unique constraint {c}"),
            ),
        };
    }
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        return Error::PermissionDenied { reason: msg() };
    }
    match class {
        // Constraint violations, bad SQL or undefined objects, values that do not fit.
        "23" => Error::invalid("row", msg()),
        "42" | "0A" | "21" | "2F" | "3F" => Error::invalid("sql statement", msg()),
        // The message of a data exception may quote the value: give the SQLSTATE.
        "22" => Error::invalid(
            "sql value",
            format!("the value does not fit (SQLSTATE {})", code.code()),
        ),
        // Serialization failures, deadlocks, lock timeouts, resources,
        // shutdowns, connection trouble: worth another try.
        "40" | "55" | "53" | "57" | "08" => Error::backend(
            BACKEND,
            true,
            Failure(format!("{} (SQLSTATE {})", msg(), code.code())),
        ),
        _ => Error::backend(
            BACKEND,
            false,
            Failure(format!("{} (SQLSTATE {})", msg(), code.code())),
        ),
    }
}

/// The kind of I/O failure behind a connection error, without addresses.
fn io_kind(e: &tokio_postgres::Error) -> String {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind().to_string();
        }
        src = s.source();
    }
    "see the server's log".into()
}

/// Maps a pool error.
pub(crate) fn pool(e: deadpool_postgres::PoolError) -> Error {
    use deadpool_postgres::PoolError as P;
    match e {
        P::Backend(e) => map(e),
        P::Timeout(t) => Error::backend(
            BACKEND,
            true,
            Failure(format!("timed out waiting for a connection ({t:?})")),
        ),
        P::Closed => Error::backend(BACKEND, false, Failure("the pool is closed".into())),
        other => Error::backend(BACKEND, false, Failure(format!("pool: {other}"))),
    }
}
