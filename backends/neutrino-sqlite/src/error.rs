//! rusqlite errors in terms of [`neutrino_core::Error`].

use neutrino_core::Error;
use rusqlite::ErrorCode;
use rusqlite::ffi;

pub(crate) const BACKEND: &str = "sqlite";

/// Maps a rusqlite error to the portable kinds: unique and primary-key violations
/// become `AlreadyExists`, other constraint failures and bad SQL `InvalidInput`,
/// busy/locked databases retryable `Backend` errors.
pub(crate) fn map(e: rusqlite::Error) -> Error {
    use rusqlite::Error as E;
    match e {
        E::SqliteFailure(f, msg) => match f.code {
            ErrorCode::ConstraintViolation
                if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Error::AlreadyExists {
                    entity: "row",
                    id: msg.unwrap_or_else(|| "unique constraint".into()),
                }
            }
            ErrorCode::ConstraintViolation => Error::InvalidInput {
                what: "row",
                reason: msg.unwrap_or_else(|| f.to_string()),
            },
            ErrorCode::Unknown => Error::InvalidInput {
                what: "sql statement",
                reason: msg.unwrap_or_else(|| f.to_string()),
            },
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                Error::backend(BACKEND, true, E::SqliteFailure(f, msg))
            }
            _ => Error::backend(BACKEND, false, E::SqliteFailure(f, msg)),
        },
        E::SqlInputError { msg, .. } => Error::InvalidInput {
            what: "sql statement",
            reason: msg,
        },
        E::InvalidParameterCount(given, expected) => Error::InvalidInput {
            what: "sql parameters",
            reason: format!("statement takes {expected} values, {given} were bound"),
        },
        E::MultipleStatement => Error::InvalidInput {
            what: "sql statement",
            reason: "only one statement may be run per call".into(),
        },
        E::InvalidParameterName(name) => Error::InvalidInput {
            what: "sql parameters",
            reason: format!("unknown parameter {name}"),
        },
        other => Error::backend(BACKEND, false, other),
    }
}

/// An I/O error of the local backends: a missing file is the caller's `NotFound`
/// to decide, everything else a backend error (interrupted and would-block ones
/// retryable).
pub(crate) fn io(backend: &'static str, e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let retryable = matches!(e.kind(), K::Interrupted | K::WouldBlock | K::TimedOut);
    Error::backend(backend, retryable, e)
}
