//! [`ApiError`]: an error answered the way Better Auth answers it.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use neutrino_auth::AuthError;

/// An error answered the way Better Auth answers it: its HTTP status and a
/// JSON body `{"message": …, "code": …}`.
///
/// Messages never hold secrets (tokens, passwords, cookie values): they come
/// from [`AuthError`]'s messages, which never do, or are written by this
/// crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl ApiError {
    /// An error with this status, Better Auth code and message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Better Auth's error code, e.g. `"UNAUTHORIZED"`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message of the body.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message, "code": self.code });
        (self.status, axum::Json(body)).into_response()
    }
}
