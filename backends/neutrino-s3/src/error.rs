//! SDK errors in terms of [`neutrino_core::Error`].

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use neutrino_core::Error;

/// The backend name in errors and spans.
pub(crate) const BACKEND: &str = "s3";

/// What a failed call was about, so a 404 names the right entity.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subject<'a> {
    /// An object of a bucket.
    Object { bucket: &'a str, key: &'a str },
    /// A bucket.
    Bucket(&'a str),
}

/// Error codes that mean "try again later" whatever the status.
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
];

/// The S3 error code and HTTP status of a failed call, if the service answered.
pub(crate) fn code_and_status<E: ProvideErrorMetadata>(
    e: &SdkError<E>,
) -> (Option<&str>, Option<u16>) {
    match e {
        SdkError::ServiceError(s) => (s.err().code(), Some(s.raw().status().as_u16())),
        _ => (None, None),
    }
}

/// Maps an SDK error to the portable kinds: a missing key or bucket is
/// `NotFound`, throttling, timeouts, transport failures and 5xx answers are
/// retryable `Backend` errors, everything else a non-retryable `Backend` error.
/// The SDK error is kept as the source.
pub(crate) fn map<E>(e: SdkError<E>, subject: Subject<'_>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, status) = code_and_status(&e);
    match code {
        Some("NoSuchBucket") => {
            let bucket = match subject {
                Subject::Object { bucket, .. } | Subject::Bucket(bucket) => bucket,
            };
            return Error::not_found("bucket", bucket);
        }
        Some("NoSuchKey") => {
            if let Subject::Object { key, .. } = subject {
                return Error::not_found("object", key);
            }
        }
        _ => {}
    }
    if status == Some(404) {
        // HEAD answers carry no body, so no code: the subject decides.
        return match subject {
            Subject::Object { key, .. } => Error::not_found("object", key),
            Subject::Bucket(bucket) => Error::not_found("bucket", bucket),
        };
    }
    let retryable = is_transient(&e);
    Error::backend(BACKEND, retryable, e)
}

/// Whether the same call may succeed later: throttling, timeouts, transport
/// failures, truncated answers and 5xx answers.
pub(crate) fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    let (code, status) = code_and_status(e);
    match e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ServiceError(_) => {
            status.is_some_and(|s| s == 429 || s >= 500)
                || code.is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    }
}
