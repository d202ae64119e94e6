//! Errors of the Cloudflare API, and their one path into [`neutrino_core::Error`].

use std::fmt;
use std::time::Duration;

use neutrino_core::Error;

/// The backend name used in [`Error::Backend`] and in spans.
pub(crate) const BACKEND: &str = "cloudflare";

/// One entry of the `errors` array of Cloudflare's response envelope.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ApiMessage {
    /// Cloudflare's numeric code, e.g. `7502` or `10014`. Codes are per product:
    /// the same number can mean different things in D1 and in R2.
    pub code: u32,
    /// Cloudflare's message.
    pub message: String,
}

/// What went wrong talking to Cloudflare. Kept as the source of the
/// [`neutrino_core::Error`] every public call returns; never holds the API token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloudflareError {
    /// The API answered with `success: false` (or an error status).
    #[error("cloudflare api error (http {status}): {}", format_messages(errors))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The envelope's `errors`, possibly empty if the body was not an envelope.
        errors: Vec<ApiMessage>,
        /// The `Retry-After` the API asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or its answer not read.
    #[error("cloudflare request failed")]
    Transport(#[source] reqwest::Error),
    /// The answer was not what the API documents.
    #[error("cannot decode cloudflare response for {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Retries stopped before the call succeeded: too many attempts, or the next
    /// wait would pass the configured cap.
    #[error("cloudflare call gave up after {attempts} attempts")]
    GaveUp {
        /// How many requests were sent.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        last: Box<CloudflareError>,
    },
}

fn format_messages(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error details".into();
    }
    errors
        .iter()
        .map(|e| format!("{} {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl CloudflareError {
    /// The HTTP status of an API error (looking through [`CloudflareError::GaveUp`]).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The envelope's error entries (looking through [`CloudflareError::GaveUp`]).
    pub fn messages(&self) -> &[ApiMessage] {
        match self {
            Self::Api { errors, .. } => errors,
            Self::GaveUp { last, .. } => last.messages(),
            _ => &[],
        }
    }

    /// Whether the envelope carries error `code`.
    pub fn has_code(&self, code: u32) -> bool {
        self.messages().iter().any(|m| m.code == code)
    }

    /// Whether any error message contains `needle` (ASCII case-insensitive).
    pub(crate) fn message_contains(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        self.messages()
            .iter()
            .any(|m| m.message.to_ascii_lowercase().contains(&needle))
    }

    /// Whether the same call may succeed later: HTTP 429, 5xx, and connection
    /// failures or timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::Transport(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            Self::GaveUp { last, .. } => last.is_retryable(),
            Self::Decode { .. } => false,
        }
    }

    pub(crate) fn decode(what: &'static str, reason: impl fmt::Display) -> Self {
        Self::Decode {
            what,
            reason: reason.to_string(),
        }
    }
}

impl From<CloudflareError> for Error {
    /// The one path into the portable error: a 404 stays a backend error here
    /// (callers that know the entity turn it into [`Error::NotFound`]), a
    /// malformed answer is [`Error::Decode`], everything else
    /// [`Error::Backend`] with the Cloudflare error kept as the source.
    fn from(e: CloudflareError) -> Self {
        match e {
            CloudflareError::Decode { what, reason } => Error::Decode {
                what: format!("cloudflare {what}"),
                reason,
            },
            other => {
                let retryable = other.is_retryable();
                Error::backend(BACKEND, retryable, other)
            }
        }
    }
}

/// Maps an API error of a product call: 404 becomes `NotFound` of `entity`/`id`,
/// anything else goes the common path.
pub(crate) fn not_found_or(e: CloudflareError, entity: &'static str, id: &str) -> Error {
    if e.status() == Some(404) {
        Error::not_found(entity, id)
    } else {
        e.into()
    }
}
