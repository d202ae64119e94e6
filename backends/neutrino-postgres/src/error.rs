//! Connection and pool errors in terms of [`neutrino_core::Error`].

use std::fmt;

use neutrino_core::Error;

use crate::wire::Fail;

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

/// Maps a connection's failure: SQLSTATE 23505 is `AlreadyExists` naming the
/// constraint, other constraint violations, bad SQL and values that do not
/// fit `InvalidInput`, a refused privilege `PermissionDenied`, a failed
/// authentication (SQLSTATE class 28, or credentials that cannot answer what
/// the server asks) `Config` on the credentials, conflicts and lost
/// connections retryable `Backend` errors. Only the server's primary
/// message is kept, never its detail (which quotes the row's values).
pub(crate) fn map(e: Fail) -> Error {
    let (code, message, constraint) = match e {
        Fail::Db {
            code,
            message,
            constraint,
        } => (code, message, constraint),
        Fail::Param(reason) => return Error::invalid("sql parameters", reason),
        Fail::Decode { column, reason } => {
            return Error::Decode {
                what: format!("column {column}"),
                reason,
            };
        }
        Fail::OpenTransaction => {
            return Error::invalid(
                "sql statement",
                "a statement may not leave a transaction open (it was rolled back)",
            );
        }
        // Fixed words and an I/O kind: never an address or a password.
        Fail::Broken(why) => {
            return Error::backend(BACKEND, true, Failure(format!("connection lost: {why}")));
        }
        Fail::Connect(why) => {
            return Error::backend(BACKEND, true, Failure(format!("cannot connect: {why}")));
        }
        Fail::Auth(why) => return auth_failed(why),
        Fail::Tls(why) => {
            return Error::Config {
                backend: BACKEND,
                key: "sslmode",
                reason: format!("TLS failed: {why}"),
            };
        }
    };
    // The server refused the credentials (a wrong password, a role that may
    // not log in): its message names the user, never the password.
    if code.starts_with("28") {
        return auth_failed(format!("{message} (SQLSTATE {code})"));
    }
    if code == "23505" {
        return Error::AlreadyExists {
            entity: "row",
            id: constraint.map_or_else(
                || "unique constraint".into(),
                |c| format!("unique constraint {c}"),
            ),
        };
    }
    if code == "42501" {
        return Error::PermissionDenied { reason: message };
    }
    // A Bind whose values do not match the statement's parameters.
    if code == "08P01" && message.contains("parameters") {
        return Error::invalid("sql parameters", message);
    }
    match code.get(..2).unwrap_or_default() {
        // Constraint violations, bad SQL or undefined objects, values that do not fit.
        "23" => Error::invalid("row", message),
        "42" | "0A" | "21" | "2F" | "3F" => Error::invalid("sql statement", message),
        // The message of a data exception may quote the value: give the SQLSTATE.
        "22" => Error::invalid(
            "sql value",
            format!("the value does not fit (SQLSTATE {code})"),
        ),
        // Serialization failures, deadlocks, lock timeouts, resources,
        // shutdowns, connection trouble: worth another try.
        "40" | "55" | "53" | "57" | "08" => Error::backend(
            BACKEND,
            true,
            Failure(format!("{message} (SQLSTATE {code})")),
        ),
        _ => Error::backend(
            BACKEND,
            false,
            Failure(format!("{message} (SQLSTATE {code})")),
        ),
    }
}

/// A failed authentication: not worth another try with the same settings.
fn auth_failed(why: String) -> Error {
    Error::Config {
        backend: BACKEND,
        key: "credentials",
        reason: format!("authentication failed: {why}"),
    }
}

/// Maps a pool error.
pub(crate) fn pool(e: deadpool::managed::PoolError<Fail>) -> Error {
    use deadpool::managed::PoolError as P;
    match e {
        P::Backend(e) => map(e),
        P::Timeout(t) => Error::backend(
            BACKEND,
            true,
            Failure(format!("timed out waiting for a connection ({t:?})")),
        ),
        P::Closed => Error::backend(BACKEND, false, Failure("the pool is closed".into())),
        other => Error::backend(BACKEND, false, Failure(format!("pool: {other:?}"))),
    }
}
