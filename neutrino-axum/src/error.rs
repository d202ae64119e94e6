//! [`ApiError`]: an error answered the way Better Auth answers it.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use neutrino_auth::AuthError;

/// What the body of an [`ApiError`] holds: Better Auth has three shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"message": …, "code": …}` (Better Auth's `APIError.from`).
    Full,
    /// `{"message": …}` without a code (Better Auth's
    /// `APIError.fromStatus(status, {message})`).
    MessageOnly,
    /// No body at all, `Content-Type: application/json` and zero bytes
    /// (Better Auth's `APIError.fromStatus(status)`).
    Empty,
}

/// An error answered the way Better Auth answers it: its HTTP status and a
/// JSON body `{"message": …, "code": …}`, or one of Better Auth's two other
/// shapes where it uses them: `{"message": …}` alone
/// ([`ApiError::message_only`]) or an empty body ([`ApiError::empty`]).
///
/// Messages never hold secrets (tokens, passwords, cookie values): they are
/// Better Auth's messages for its codes, or written by this crate. An error
/// of the store (the database failed) is a 500 with an empty body, as Better
/// Auth answers an uncaught error: its text stays on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    shape: Shape,
    /// Boxed: most errors carry none, and an error stays small to return.
    headers: Option<Box<HeaderMap>>,
    /// Better Auth's `details` of a full body, e.g. `{"tryAgainIn": ms}` of
    /// an API key's `RATE_LIMITED`; boxed for the same reason.
    details: Option<Box<serde_json::Value>>,
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
            shape: Shape::Full,
            headers: None,
            details: None,
        }
    }

    /// An error whose body is `{"message": …}` without a code.
    pub fn message_only(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            shape: Shape::MessageOnly,
            ..Self::new(status, "", message)
        }
    }

    /// An error with no body (`Content-Type: application/json`, zero bytes).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            shape: Shape::Empty,
            ..Self::new(status, "", "")
        }
    }

    /// Better Auth's `VALIDATION_ERROR` (400) with its message, e.g.
    /// `[body.email] Invalid email address`.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// This error with a header added to its response (e.g. a `Set-Cookie`
    /// that Better Auth keeps on an error, or `X-Retry-After`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers
            .get_or_insert_with(Default::default)
            .append(name, value);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Better Auth's error code, e.g. `"UNAUTHORIZED"`; empty for the
    /// message-only and empty shapes.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message of the body; empty for the empty shape.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The headers added with [`ApiError::with_header`], if any.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.headers.as_deref()
    }
}

/// Better Auth's message for one of its codes (`BASE_ERROR_CODES` and the
/// plugins' codes), or `None` for a code it has no fixed message for.
pub(crate) fn better_auth_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "USER_NOT_FOUND" => "User not found",
        "FAILED_TO_CREATE_USER" => "Failed to create user",
        "FAILED_TO_CREATE_SESSION" => "Failed to create session",
        "FAILED_TO_UPDATE_USER" => "Failed to update user",
        "FAILED_TO_GET_SESSION" => "Failed to get session",
        "INVALID_PASSWORD" => "Invalid password",
        "INVALID_EMAIL" => "Invalid email",
        "INVALID_EMAIL_OR_PASSWORD" => "Invalid email or password",
        "SOCIAL_ACCOUNT_ALREADY_LINKED" => "Social account already linked",
        "PROVIDER_NOT_FOUND" => "Provider not found",
        "INVALID_TOKEN" => "Invalid token",
        "TOKEN_EXPIRED" => "Token expired",
        "ID_TOKEN_NOT_SUPPORTED" => "id_token not supported",
        "FAILED_TO_GET_USER_INFO" => "Failed to get user info",
        "USER_EMAIL_NOT_FOUND" => "User email not found",
        "EMAIL_NOT_VERIFIED" => "Email not verified",
        "PASSWORD_TOO_SHORT" => "Password too short",
        "PASSWORD_TOO_LONG" => "Password too long",
        "USER_ALREADY_EXISTS" => "User already exists.",
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL" => "User already exists. Use another email.",
        "EMAIL_CAN_NOT_BE_UPDATED" => "Email can not be updated",
        "CREDENTIAL_ACCOUNT_NOT_FOUND" => "Credential account not found",
        "SESSION_EXPIRED" => "Session expired. Re-authenticate to perform this action.",
        "FAILED_TO_UNLINK_LAST_ACCOUNT" => "You can't unlink your last account",
        "ACCOUNT_NOT_FOUND" => "Account not found",
        "USER_ALREADY_HAS_PASSWORD" => {
            "User already has a password. Provide that to delete the account."
        }
        "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED" => {
            "Cross-site navigation login blocked. This request appears to be a CSRF attack."
        }
        "VERIFICATION_EMAIL_NOT_ENABLED" => "Verification email isn't enabled",
        "EMAIL_ALREADY_VERIFIED" => "Email is already verified",
        "EMAIL_MISMATCH" => "Email mismatch",
        "SESSION_NOT_FRESH" => "Session is not fresh",
        "LINKED_ACCOUNT_ALREADY_EXISTS" => "Linked account already exists",
        "INVALID_ORIGIN" => "Invalid origin",
        "INVALID_CALLBACK_URL" => "Invalid callbackURL",
        "INVALID_REDIRECT_URL" => "Invalid redirectURL",
        "INVALID_ERROR_CALLBACK_URL" => "Invalid errorCallbackURL",
        "INVALID_NEW_USER_CALLBACK_URL" => "Invalid newUserCallbackURL",
        "MISSING_OR_NULL_ORIGIN" => "Missing or null Origin",
        "CALLBACK_URL_REQUIRED" => "callbackURL is required",
        "FAILED_TO_CREATE_VERIFICATION" => "Unable to create verification",
        "FIELD_NOT_ALLOWED" => "Field not allowed to be set",
        "ASYNC_VALIDATION_NOT_SUPPORTED" => "Async validation is not supported",
        "VALIDATION_ERROR" => "Validation Error",
        "MISSING_FIELD" => "Field is required",
        "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED" => {
            "POST method requires deferSessionRefresh to be enabled in session config"
        }
        "BODY_MUST_BE_AN_OBJECT" => "Body must be an object",
        "PASSWORD_ALREADY_SET" => "User already has a password set",
        "EMAIL_PASSWORD_DISABLED" => "Email and password is not enabled",
        "EMAIL_PASSWORD_SIGN_UP_DISABLED" => "Email and password sign up is not enabled",
        "RESET_PASSWORD_DISABLED" => "Reset password isn't enabled",
        "CHANGE_EMAIL_DISABLED" => "Change email is disabled",
        "UNAUTHORIZED" => "Unauthorized",
        "BANNED_USER" => {
            "You have been banned from this application. Please contact support if you believe this is an error."
        }
        // Two-factor.
        "OTP_NOT_ENABLED" => "OTP not enabled",
        "OTP_HAS_EXPIRED" => "OTP has expired",
        "TOTP_NOT_ENABLED" => "TOTP not enabled",
        "TWO_FACTOR_NOT_ENABLED" => "Two factor isn't enabled",
        "BACKUP_CODES_NOT_ENABLED" => "Backup codes aren't enabled",
        "INVALID_BACKUP_CODE" => "Invalid backup code",
        "INVALID_CODE" => "Invalid code",
        "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE" => "Too many attempts. Please request a new code.",
        "INVALID_TWO_FACTOR_COOKIE" => "Invalid two factor cookie",
        // Organization.
        "ORGANIZATION_ALREADY_EXISTS" => "Organization already exists",
        "ORGANIZATION_NOT_FOUND" => "Organization not found",
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION" => "User is not a member of the organization",
        "MEMBER_NOT_FOUND" => "Member not found",
        "ROLE_NOT_FOUND" => "Role not found",
        "NO_ACTIVE_ORGANIZATION" => "No active organization",
        "INVITATION_NOT_FOUND" => "Invitation not found",
        "INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION" => {
            "Inviter is no longer a member of the organization"
        }
        "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION" => {
            "Email verification required to view or list invitations for the session email"
        }
        "INVITATION_LIMIT_REACHED" => "Invitation limit reached",
        "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION" => {
            "User is already a member of this organization"
        }
        "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION" => {
            "User is already invited to this organization"
        }
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER" => {
            "You cannot leave the organization as the only owner"
        }
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER" => {
            "You cannot leave the organization without an owner"
        }
        "ORGANIZATION_SLUG_ALREADY_TAKEN" => "Organization slug already taken",
        // API keys.
        "KEY_NOT_FOUND" => "API Key not found",
        "INVALID_API_KEY" => "Invalid API key.",
        "USAGE_EXCEEDED" => "API Key has reached its usage limit",
        "RATE_LIMITED" => "Rate limit exceeded.",
        "NO_VALUES_TO_UPDATE" => "No values to update.",
        _ => return None,
    })
}

/// `NO_FIELDS_TO_UPDATE` as `"No fields to update"`: a readable sentence
/// for a code Better Auth has no message for.
fn sentence_of(code: &str) -> String {
    let lower = code.to_ascii_lowercase().replace('_', " ");
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match &e {
            AuthError::TooManyRequests { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                return too_many_requests(secs);
            }
            // Better Auth's `{"message","code","details":{"tryAgainIn":ms}}`.
            AuthError::ApiKeyRateLimited { retry_after } => {
                let ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
                let mut err = Self::new(status, e.code(), "Rate limit exceeded.");
                err.details = Some(Box::new(serde_json::json!({ "tryAgainIn": ms })));
                return err;
            }
            // Better Auth answers these with a message and no code.
            AuthError::Refused { code } => {
                let message = match *code {
                    "NO_FIELDS_TO_UPDATE" => Some("No fields to update"),
                    "EMAIL_IS_THE_SAME" => Some("Email is the same"),
                    "NOT_IMPERSONATING" => Some("You are not impersonating anyone"),
                    _ => None,
                };
                if let Some(m) = message {
                    return Self::message_only(status, m);
                }
            }
            _ => {}
        }
        // SSO's 502 (`DOMAIN_VERIFICATION_FAILED`) carries Better Auth's code.
        if status.is_server_error() && !matches!(e, AuthError::Sso { .. }) {
            // The store's text (a database error) stays on the server.
            return Self::empty(status);
        }
        let code = e.code();
        // Where Better Auth's status for a code differs from the library's.
        let status = match code {
            "ORGANIZATION_SLUG_ALREADY_TAKEN" => StatusCode::BAD_REQUEST,
            "KEY_NOT_FOUND" => StatusCode::NOT_FOUND,
            _ => status,
        };
        let message: Cow<'static, str> = match (code, better_auth_message(code)) {
            // Neutrino's own prose says which field and why, without values.
            ("VALIDATION_ERROR" | "PLATFORM_SUSPENDED" | "NOT_FOUND" | "FORBIDDEN", _) => {
                e.to_string().into()
            }
            (_, Some(m)) => m.into(),
            (_, None) => sentence_of(code).into(),
        };
        Self::new(status, code, message)
    }
}

/// Better Auth's 429: `{"message":"Too many requests. Please try again
/// later."}` (no code) and `X-Retry-After` in seconds.
pub(crate) fn too_many_requests(secs: u64) -> ApiError {
    ApiError::message_only(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests. Please try again later.",
    )
    .with_header(
        HeaderName::from_static("x-retry-after"),
        HeaderValue::from(secs),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.shape {
            Shape::Full => match self.details {
                Some(details) => serde_json::json!({
                    "message": self.message,
                    "code": self.code,
                    "details": details,
                })
                .to_string(),
                None => {
                    serde_json::json!({ "message": self.message, "code": self.code }).to_string()
                }
            },
            Shape::MessageOnly => serde_json::json!({ "message": self.message }).to_string(),
            Shape::Empty => String::new(),
        };
        let mut res = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(headers) = self.headers {
            for (name, value) in headers.iter() {
                res.headers_mut().append(name.clone(), value.clone());
            }
        }
        res
    }
}
