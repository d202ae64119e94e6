//! The error type shared by every Neutrino crate and backend.

use std::error::Error as StdError;

/// A boxed error source, kept whole so callers can inspect it.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with Neutrino's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
///
/// The variants are semantic and portable: a unique-constraint violation is
/// [`Error::AlreadyExists`] on every backend, a missing row, object or key is
/// [`Error::NotFound`], and a failure of the storage or provider behind a port is
/// [`Error::Backend`] with its source kept. Messages are lowercase, name the entity
/// and never contain values that may be secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The entity does not exist (or is not visible from the caller's scope).
    #[error("{entity} not found: {id}")]
    NotFound {
        /// Kind of entity, e.g. `"object"` or `"platform"`.
        entity: &'static str,
        /// The identifier that was looked up.
        id: String,
    },
    /// An entity with the same identity already exists (unique constraint).
    #[error("{entity} already exists: {id}")]
    AlreadyExists {
        /// Kind of entity, e.g. `"row"` or `"resource"`.
        entity: &'static str,
        /// The identifier (or constraint) that collided.
        id: String,
    },
    /// The caller passed something malformed.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was invalid, e.g. `"platform id"`.
        what: &'static str,
        /// Why, e.g. `"must be 10 characters of 0-9a-z, got 11"`.
        reason: String,
    },
    /// A stored value could not be read as the requested type.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded, e.g. `"column \"age\""`.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The platform (or tenant) is suspended: nothing may act in its name until it
    /// is reinstated.
    #[error("{entity} suspended: {id}")]
    Suspended {
        /// Kind of entity, `"platform"` or `"tenant"`.
        entity: &'static str,
        /// Its identifier.
        id: String,
    },
    /// The caller is not allowed to do this.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// Why access was refused.
        reason: String,
    },
    /// The backend does not support this operation.
    #[error("{backend} does not support {operation}")]
    Unsupported {
        /// The operation, e.g. `"create worker"`.
        operation: String,
        /// The backend, e.g. `"local"`.
        backend: &'static str,
    },
    /// A backend was configured wrongly.
    #[error("invalid configuration for {backend}: {key}: {reason}")]
    Config {
        /// The backend being configured.
        backend: &'static str,
        /// The setting that is wrong.
        key: &'static str,
        /// Why it is wrong.
        reason: String,
    },
    /// The storage or provider behind a port failed.
    #[error("{backend} backend error{}", if *retryable { " (retryable)" } else { "" })]
    Backend {
        /// The backend, e.g. `"sqlite"`.
        backend: &'static str,
        /// Whether the same call may succeed if tried again.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            id: id.into(),
        }
    }

    /// Shorthand for [`Error::Backend`].
    pub fn backend(backend: &'static str, retryable: bool, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            backend,
            retryable,
            source: source.into(),
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Backend {
                retryable: true,
                ..
            }
        )
    }

    /// Whether this is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether this is [`Error::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::AlreadyExists { .. })
    }

    /// Whether this is [`Error::PermissionDenied`].
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Error::PermissionDenied { .. })
    }
}

/// The shared check of a listing call: the prefix is at most `max_prefix` bytes
/// and the limit within `1..=max_limit`.
pub(crate) fn check_listing(
    (prefix_what, max_prefix): (&'static str, usize),
    (limit_what, max_limit): (&'static str, usize),
    prefix: &str,
    limit: usize,
) -> Result<()> {
    if prefix.len() > max_prefix {
        return Err(Error::invalid(
            prefix_what,
            format!("must be at most {max_prefix} bytes, got {}", prefix.len()),
        ));
    }
    if !(1..=max_limit).contains(&limit) {
        return Err(Error::invalid(
            limit_what,
            format!("must be 1-{max_limit}, got {limit}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_name_the_entity() {
        let e = Error::not_found("object", "a/b.txt");
        assert_eq!(e.to_string(), "object not found: a/b.txt");
        let e = Error::invalid("platform id", "must be 10 characters of 0-9a-z, got 11");
        assert_eq!(
            e.to_string(),
            "invalid platform id: must be 10 characters of 0-9a-z, got 11"
        );
    }

    #[test]
    fn backend_errors_keep_their_source_and_retryability() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow disk");
        let e = Error::backend("sqlite", true, io);
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "sqlite backend error (retryable)");
        let src = StdError::source(&e).expect("source kept");
        assert_eq!(src.to_string(), "slow disk");
    }
}
