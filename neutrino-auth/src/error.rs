//! [`AuthError`]: what an auth call can answer, with Better Auth's error codes.

use std::time::Duration;

use neutrino_core::{BoxError, Error};

use crate::cookie::CookieError;

/// `Result` with [`AuthError`] as the default error type.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// Why an auth call failed.
///
/// Each variant maps to the error code Better Auth answers with
/// ([`AuthError::code`]) and to its HTTP status ([`AuthError::status`]), so an
/// HTTP layer can reply exactly as Better Auth would. Messages are lowercase and
/// never contain passwords, tokens, hashes or cookie values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The email address is malformed.
    #[error("invalid email")]
    InvalidEmail,
    /// The password is shorter than the configured minimum.
    #[error("password too short: at least {min} characters")]
    PasswordTooShort {
        /// The minimum length.
        min: usize,
    },
    /// The password is longer than the configured maximum.
    #[error("password too long: at most {max} characters")]
    PasswordTooLong {
        /// The maximum length.
        max: usize,
    },
    /// Wrong email or password; deliberately does not say which.
    #[error("invalid email or password")]
    InvalidEmailOrPassword,
    /// The current password given to a password change is wrong.
    #[error("invalid password")]
    InvalidPassword,
    /// A user with this email already exists.
    #[error("user already exists, use another email")]
    UserAlreadyExists,
    /// Sign-up is disabled on this platform (invitation only).
    #[error("email and password sign-up is disabled")]
    SignUpDisabled,
    /// The platform requires a verified email before sign-in.
    #[error("email not verified")]
    EmailNotVerified,
    /// The email is already verified.
    #[error("email already verified")]
    EmailAlreadyVerified,
    /// The user has no password (no `credential` account).
    #[error("credential account not found")]
    CredentialAccountNotFound,
    /// The user does not exist.
    #[error("user not found")]
    UserNotFound,
    /// A reset or verification token is unknown, malformed or already used.
    #[error("invalid token")]
    InvalidToken,
    /// A reset or verification token has expired.
    #[error("token expired")]
    TokenExpired,
    /// The session is too old for a sensitive operation (older than `freshAge`).
    #[error("session is not fresh")]
    SessionNotFresh,
    /// The session cookie is malformed or its signature does not match.
    #[error("invalid session cookie: {0}")]
    Cookie(#[from] CookieError),
    /// The request's origin is not a trusted origin.
    #[error("invalid origin")]
    InvalidOrigin,
    /// A state-changing request carried cookies but no usable origin.
    #[error("missing or null origin")]
    MissingOrNullOrigin,
    /// A cross-site top-level navigation tried to sign in or up.
    #[error("cross-site navigation login blocked")]
    CrossSiteNavigationLoginBlocked,
    /// A callback or redirect URL is neither trusted nor a safe relative path.
    #[error("invalid callback url")]
    InvalidCallbackUrl,
    /// Too many attempts; retry after the given time.
    #[error("too many requests, retry after {} s", retry_after.as_secs())]
    TooManyRequests {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// No mailer is configured, so verification emails cannot be sent.
    #[error("verification email is not enabled")]
    VerificationEmailNotEnabled,
    /// No mailer is configured, so password reset is not available.
    #[error("reset password is disabled")]
    ResetPasswordDisabled,
    /// The request body is not valid JSON.
    #[error("invalid json in request body at line {line} column {column}")]
    BadRequest {
        /// Line of the syntax error.
        line: usize,
        /// Column of the syntax error.
        column: usize,
    },
    /// No valid session (or API key) came with the request.
    #[error("unauthorized")]
    Unauthorized,
    /// An organization with this slug already exists on the platform.
    #[error("organization already exists")]
    OrganizationAlreadyExists,
    /// The organization does not exist on this platform.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The user is not a member of the organization (also the answer for an
    /// organization of another platform or one the user cannot see).
    #[error("user is not a member of the organization")]
    NotAMember,
    /// The member does not exist in this organization.
    #[error("member not found")]
    MemberNotFound,
    /// The user is already a member of the organization.
    #[error("user is already a member of this organization")]
    AlreadyAMember,
    /// The session has no active organization.
    #[error("no active organization")]
    NoActiveOrganization,
    /// The last owner cannot leave or be removed.
    #[error("you cannot leave the organization as the only owner")]
    LastOwner,
    /// The last owner cannot be demoted.
    #[error("you cannot leave the organization without an owner")]
    NoOwnerLeft,
    /// A role name is not known to the access-control policy.
    #[error("role not found")]
    RoleNotFound,
    /// The caller's roles do not allow the operation; `code` is Better Auth's
    /// code for it, e.g. `YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER`.
    #[error("not allowed: {}", code.to_ascii_lowercase().replace('_', " "))]
    NotAllowed {
        /// Better Auth's error code.
        code: &'static str,
    },
    /// The invitation does not exist, is no longer pending, has expired, or
    /// was made for another email address.
    #[error("invitation not found")]
    InvitationNotFound,
    /// The platform requires a verified email, and the invitee's is not.
    #[error("email verification required before accepting or rejecting an invitation")]
    EmailVerificationRequiredForInvitation,
    /// A pending invitation for this email already exists in the organization.
    #[error("user is already invited to this organization")]
    AlreadyInvited,
    /// The organization has as many pending invitations as allowed.
    #[error("invitation limit reached")]
    InvitationLimitReached,
    /// A two-factor or backup code is wrong, expired or already used.
    #[error("invalid code")]
    InvalidCode,
    /// Too many wrong codes for this two-factor challenge.
    #[error("too many attempts, request a new code")]
    TooManyAttempts,
    /// Two-factor authentication is not enabled for the user.
    #[error("two factor not enabled")]
    TwoFactorNotEnabled,
    /// The API key is unknown, disabled, expired or of another platform.
    #[error("invalid api key")]
    InvalidApiKey,
    /// The user has two-factor authentication on: sign in with
    /// [`crate::Auth::sign_in_email_2fa`].
    #[error("two factor required")]
    TwoFactorRequired,
    /// The API key does not exist or belongs to another user.
    #[error("api key not found")]
    ApiKeyNotFound,
    /// The API key has no uses left (`remaining` is 0 and no refill is due;
    /// Better Auth's `USAGE_EXCEEDED`, 429).
    #[error("api key usage exceeded")]
    ApiKeyUsageExceeded,
    /// The API key was used its `rateLimitMax` times within its
    /// `rateLimitTimeWindow` (Better Auth's `RATE_LIMITED`, 429).
    #[error("api key rate limit exceeded, retry after {} ms", retry_after.as_millis())]
    ApiKeyRateLimited {
        /// How long until the window lets the key in again.
        retry_after: Duration,
    },
    /// The user is banned (Better Auth's admin plugin, `BANNED_USER`): no
    /// session is created for them until the ban is lifted or expires.
    #[error("you have been banned from this application")]
    BannedUser,
    /// The session is too old for this operation without the password
    /// (Better Auth's `SESSION_EXPIRED`, e.g. deleting the user).
    #[error("session expired, re-authenticate to perform this action")]
    SessionExpired,
    /// The request cannot be honoured as asked (400); `code` is Better
    /// Auth's code for it, e.g. `YOU_CANNOT_BAN_YOURSELF`, or Neutrino's for
    /// the answers Better Auth gives with a message only
    /// (`NOT_IMPERSONATING`, `NO_FIELDS_TO_UPDATE`, `EMAIL_IS_THE_SAME`).
    #[error("refused: {}", code.to_ascii_lowercase().replace('_', " "))]
    Refused {
        /// The error code.
        code: &'static str,
    },
    /// A single sign-on operation was refused; `code` is Better Auth's code
    /// for it (or Neutrino's, documented on the operation), answered with
    /// `status`.
    #[error("sso: {}", code.to_ascii_lowercase().replace('_', " "))]
    Sso {
        /// The error code, e.g. `SSO_REQUIRED` or `DOMAIN_VERIFIED`.
        code: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// An error of one of core's kinds: the database or KV store failed, a
    /// field is invalid ([`Error::InvalidInput`], code `VALIDATION_ERROR`),
    /// a stored value is malformed ([`Error::Decode`]), the configuration is
    /// wrong ([`Error::Config`]), the platform is suspended
    /// ([`Error::Suspended`], `PLATFORM_SUSPENDED`), or the mailer, the
    /// password hasher or the random number generator failed
    /// ([`Error::Backend`]). Its code and status follow the kind.
    #[error(transparent)]
    Store(#[from] Error),
}

impl AuthError {
    /// Better Auth's error code for this error, e.g. `"INVALID_EMAIL_OR_PASSWORD"`.
    ///
    /// ```
    /// use neutrino::auth::AuthError;
    /// assert_eq!(AuthError::UserAlreadyExists.code(), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidEmail => "INVALID_EMAIL",
            Self::PasswordTooShort { .. } => "PASSWORD_TOO_SHORT",
            Self::PasswordTooLong { .. } => "PASSWORD_TOO_LONG",
            Self::InvalidEmailOrPassword => "INVALID_EMAIL_OR_PASSWORD",
            Self::InvalidPassword => "INVALID_PASSWORD",
            Self::UserAlreadyExists => "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            Self::SignUpDisabled => "EMAIL_PASSWORD_SIGN_UP_DISABLED",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::EmailAlreadyVerified => "EMAIL_ALREADY_VERIFIED",
            Self::CredentialAccountNotFound => "CREDENTIAL_ACCOUNT_NOT_FOUND",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::SessionNotFresh => "SESSION_NOT_FRESH",
            Self::Cookie(_) => "UNAUTHORIZED",
            Self::InvalidOrigin => "INVALID_ORIGIN",
            Self::MissingOrNullOrigin => "MISSING_OR_NULL_ORIGIN",
            Self::CrossSiteNavigationLoginBlocked => "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
            Self::InvalidCallbackUrl => "INVALID_CALLBACK_URL",
            Self::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
            Self::VerificationEmailNotEnabled => "VERIFICATION_EMAIL_NOT_ENABLED",
            Self::ResetPasswordDisabled => "RESET_PASSWORD_DISABLED",
            Self::BadRequest { .. } => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::OrganizationAlreadyExists => "ORGANIZATION_ALREADY_EXISTS",
            Self::OrganizationNotFound => "ORGANIZATION_NOT_FOUND",
            Self::NotAMember => "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
            Self::MemberNotFound => "MEMBER_NOT_FOUND",
            Self::AlreadyAMember => "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
            Self::NoActiveOrganization => "NO_ACTIVE_ORGANIZATION",
            Self::LastOwner => "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
            Self::NoOwnerLeft => "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
            Self::RoleNotFound => "ROLE_NOT_FOUND",
            Self::NotAllowed { code } => code,
            Self::InvitationNotFound => "INVITATION_NOT_FOUND",
            Self::EmailVerificationRequiredForInvitation => {
                "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION"
            }
            Self::AlreadyInvited => "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION",
            Self::InvitationLimitReached => "INVITATION_LIMIT_REACHED",
            Self::InvalidCode => "INVALID_CODE",
            Self::TooManyAttempts => "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
            Self::TwoFactorNotEnabled => "TWO_FACTOR_NOT_ENABLED",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::ApiKeyNotFound => "KEY_NOT_FOUND",
            Self::ApiKeyUsageExceeded => "USAGE_EXCEEDED",
            Self::ApiKeyRateLimited { .. } => "RATE_LIMITED",
            Self::BannedUser => "BANNED_USER",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::Refused { code } => code,
            Self::Sso { code, .. } => code,
            Self::TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            Self::Store(e) => store_code(e),
        }
    }

    /// The HTTP status Better Auth answers this error with.
    ///
    /// ```
    /// use neutrino::auth::AuthError;
    /// assert_eq!(AuthError::InvalidEmailOrPassword.status(), 401);
    /// assert_eq!(AuthError::UserAlreadyExists.status(), 422);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidEmailOrPassword
            | Self::Cookie(_)
            | Self::TokenExpired
            | Self::Unauthorized
            | Self::InvalidCode
            | Self::InvalidApiKey => 401,
            Self::TooManyAttempts => 400,
            Self::UserAlreadyExists => 422,
            Self::EmailNotVerified
            | Self::InvalidOrigin
            | Self::MissingOrNullOrigin
            | Self::CrossSiteNavigationLoginBlocked
            | Self::InvalidCallbackUrl
            | Self::SessionNotFresh
            | Self::NotAMember
            | Self::NotAllowed { .. }
            | Self::EmailVerificationRequiredForInvitation
            | Self::BannedUser
            | Self::TwoFactorRequired => 403,
            Self::TooManyRequests { .. }
            | Self::ApiKeyUsageExceeded
            | Self::ApiKeyRateLimited { .. } => 429,
            Self::Sso { status, .. } => *status,
            Self::Store(e) => store_status(e),
            _ => 400,
        }
    }

    /// Whether the platform is suspended: every state-changing call of a
    /// suspended platform answers this (code `PLATFORM_SUSPENDED`, 403).
    pub fn is_suspended(&self) -> bool {
        matches!(self, Self::Store(Error::Suspended { .. }))
    }

    /// A field is missing, mistyped or invalid: core's
    /// [`Error::InvalidInput`] (code `VALIDATION_ERROR`, 400).
    pub(crate) fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Store(Error::invalid(field, reason))
    }

    /// A stored value is malformed: core's [`Error::Decode`] (500).
    pub(crate) fn corrupt(what: &'static str) -> Self {
        Self::Store(Error::Decode {
            what: what.to_owned(),
            reason: "stored value is malformed".to_owned(),
        })
    }

    /// The auth configuration is invalid: core's [`Error::Config`].
    pub(crate) fn config(key: &'static str, reason: impl Into<String>) -> Self {
        Self::Store(Error::Config {
            backend: "auth",
            key,
            reason: reason.into(),
        })
    }

    /// A component behind auth failed (the mailer, the password hasher, the
    /// random number generator): core's [`Error::Backend`], not retryable.
    pub(crate) fn internal(component: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Store(Error::backend(component, false, source))
    }

    /// The kind of core [`Error`] this error converts into, with its code
    /// kept in the message.
    fn into_core(self) -> Error {
        let code = self.code();
        let text = self.to_string();
        let reason = || format!("{code}: {text}");
        match self {
            Self::Store(e) => e,
            Self::Sso { status: 404, .. } => Error::not_found("sso provider", code),
            Self::Sso { status: 409, .. } => already("sso provider", code),
            Self::Sso { status: 502, .. } => Error::backend("sso", true, reason()),
            Self::Sso { .. } => Error::PermissionDenied { reason: reason() },
            Self::UserNotFound => Error::not_found("user", code),
            Self::CredentialAccountNotFound => Error::not_found("credential account", code),
            Self::OrganizationNotFound => Error::not_found("organization", code),
            Self::MemberNotFound => Error::not_found("member", code),
            Self::RoleNotFound => Error::not_found("role", code),
            Self::InvitationNotFound => Error::not_found("invitation", code),
            Self::ApiKeyNotFound => Error::not_found("api key", code),
            Self::NoActiveOrganization => Error::not_found("active organization", code),
            Self::TwoFactorNotEnabled => Error::not_found("two-factor setup", code),
            Self::UserAlreadyExists => already("user", code),
            Self::OrganizationAlreadyExists => already("organization", code),
            Self::AlreadyAMember => already("member", code),
            Self::AlreadyInvited => already("invitation", code),
            Self::EmailAlreadyVerified => already("email verification", code),
            Self::InvalidEmail
            | Self::PasswordTooShort { .. }
            | Self::PasswordTooLong { .. }
            | Self::BadRequest { .. }
            | Self::InvalidCallbackUrl => Error::InvalidInput {
                what: "request",
                reason: reason(),
            },
            Self::VerificationEmailNotEnabled | Self::ResetPasswordDisabled => Error::Unsupported {
                operation: reason(),
                backend: "auth",
            },
            Self::Cookie(_) => Error::PermissionDenied {
                reason: format!("{code}: invalid session cookie"),
            },
            Self::InvalidEmailOrPassword
            | Self::InvalidPassword
            | Self::SignUpDisabled
            | Self::EmailNotVerified
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::SessionNotFresh
            | Self::InvalidOrigin
            | Self::MissingOrNullOrigin
            | Self::CrossSiteNavigationLoginBlocked
            | Self::TooManyRequests { .. }
            | Self::ApiKeyUsageExceeded
            | Self::ApiKeyRateLimited { .. }
            | Self::Unauthorized
            | Self::NotAMember
            | Self::LastOwner
            | Self::NoOwnerLeft
            | Self::NotAllowed { .. }
            | Self::EmailVerificationRequiredForInvitation
            | Self::InvitationLimitReached
            | Self::InvalidCode
            | Self::TooManyAttempts
            | Self::InvalidApiKey
            | Self::BannedUser
            | Self::SessionExpired
            | Self::Refused { .. }
            | Self::TwoFactorRequired => Error::PermissionDenied { reason: reason() },
        }
    }
}

fn already(entity: &'static str, code: &str) -> Error {
    Error::AlreadyExists {
        entity,
        id: code.to_owned(),
    }
}

/// Better Auth's code for an error of one of core's kinds.
fn store_code(e: &Error) -> &'static str {
    match e {
        Error::NotFound { .. } => "NOT_FOUND",
        Error::AlreadyExists { .. } => "CONFLICT",
        Error::InvalidInput { .. } => "VALIDATION_ERROR",
        Error::Suspended { .. } => "PLATFORM_SUSPENDED",
        Error::PermissionDenied { .. } => "FORBIDDEN",
        Error::Unsupported { .. } => "NOT_IMPLEMENTED",
        _ => "INTERNAL_SERVER_ERROR",
    }
}

/// The HTTP status of an error of one of core's kinds.
fn store_status(e: &Error) -> u16 {
    match e {
        Error::NotFound { .. } => 404,
        Error::AlreadyExists { .. } => 409,
        Error::InvalidInput { .. } => 400,
        Error::Suspended { .. } | Error::PermissionDenied { .. } => 403,
        Error::Unsupported { .. } => 501,
        _ => 500,
    }
}

/// Into the facade's error type (`neutrino::Error`): each Better Auth error
/// becomes the core kind it is (credentials and permissions
/// `PermissionDenied`, a missing entity `NotFound`, a duplicate
/// `AlreadyExists`, a malformed request `InvalidInput`, a feature without its
/// mailer `Unsupported`, too many requests `PermissionDenied`), with its
/// Better Auth code in the message; a store error stays what it is
/// (`Suspended` stays `Suspended`).
///
/// ```
/// use neutrino::auth::AuthError;
/// let e = neutrino::Error::from(AuthError::InvalidEmailOrPassword);
/// assert!(e.is_permission_denied());
/// assert!(e.to_string().contains("INVALID_EMAIL_OR_PASSWORD"));
/// ```
impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        e.into_core()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The core kind an error converts into, by name.
    fn kind(e: &Error) -> &'static str {
        match e {
            Error::NotFound { .. } => "NotFound",
            Error::AlreadyExists { .. } => "AlreadyExists",
            Error::InvalidInput { .. } => "InvalidInput",
            Error::Decode { .. } => "Decode",
            Error::Suspended { .. } => "Suspended",
            Error::PermissionDenied { .. } => "PermissionDenied",
            Error::Unsupported { .. } => "Unsupported",
            Error::Config { .. } => "Config",
            Error::Backend { .. } => "Backend",
            _ => "other",
        }
    }

    /// Every variant, once: the exhaustive match fails to compile when a
    /// variant is added without a row in the table below.
    fn variant(e: &AuthError) -> &'static str {
        match e {
            AuthError::InvalidEmail => "InvalidEmail",
            AuthError::PasswordTooShort { .. } => "PasswordTooShort",
            AuthError::PasswordTooLong { .. } => "PasswordTooLong",
            AuthError::InvalidEmailOrPassword => "InvalidEmailOrPassword",
            AuthError::InvalidPassword => "InvalidPassword",
            AuthError::UserAlreadyExists => "UserAlreadyExists",
            AuthError::SignUpDisabled => "SignUpDisabled",
            AuthError::EmailNotVerified => "EmailNotVerified",
            AuthError::EmailAlreadyVerified => "EmailAlreadyVerified",
            AuthError::CredentialAccountNotFound => "CredentialAccountNotFound",
            AuthError::UserNotFound => "UserNotFound",
            AuthError::InvalidToken => "InvalidToken",
            AuthError::TokenExpired => "TokenExpired",
            AuthError::SessionNotFresh => "SessionNotFresh",
            AuthError::Cookie(_) => "Cookie",
            AuthError::InvalidOrigin => "InvalidOrigin",
            AuthError::MissingOrNullOrigin => "MissingOrNullOrigin",
            AuthError::CrossSiteNavigationLoginBlocked => "CrossSiteNavigationLoginBlocked",
            AuthError::InvalidCallbackUrl => "InvalidCallbackUrl",
            AuthError::TooManyRequests { .. } => "TooManyRequests",
            AuthError::VerificationEmailNotEnabled => "VerificationEmailNotEnabled",
            AuthError::ResetPasswordDisabled => "ResetPasswordDisabled",
            AuthError::BadRequest { .. } => "BadRequest",
            AuthError::Unauthorized => "Unauthorized",
            AuthError::OrganizationAlreadyExists => "OrganizationAlreadyExists",
            AuthError::OrganizationNotFound => "OrganizationNotFound",
            AuthError::NotAMember => "NotAMember",
            AuthError::MemberNotFound => "MemberNotFound",
            AuthError::AlreadyAMember => "AlreadyAMember",
            AuthError::NoActiveOrganization => "NoActiveOrganization",
            AuthError::LastOwner => "LastOwner",
            AuthError::NoOwnerLeft => "NoOwnerLeft",
            AuthError::RoleNotFound => "RoleNotFound",
            AuthError::NotAllowed { .. } => "NotAllowed",
            AuthError::InvitationNotFound => "InvitationNotFound",
            AuthError::EmailVerificationRequiredForInvitation => {
                "EmailVerificationRequiredForInvitation"
            }
            AuthError::AlreadyInvited => "AlreadyInvited",
            AuthError::InvitationLimitReached => "InvitationLimitReached",
            AuthError::InvalidCode => "InvalidCode",
            AuthError::TooManyAttempts => "TooManyAttempts",
            AuthError::TwoFactorNotEnabled => "TwoFactorNotEnabled",
            AuthError::InvalidApiKey => "InvalidApiKey",
            AuthError::TwoFactorRequired => "TwoFactorRequired",
            AuthError::ApiKeyNotFound => "ApiKeyNotFound",
            AuthError::ApiKeyUsageExceeded => "ApiKeyUsageExceeded",
            AuthError::ApiKeyRateLimited { .. } => "ApiKeyRateLimited",
            AuthError::BannedUser => "BannedUser",
            AuthError::SessionExpired => "SessionExpired",
            AuthError::Refused { .. } => "Refused",
            AuthError::Sso { .. } => "Sso",
            AuthError::Store(_) => "Store",
        }
    }

    #[test]
    fn every_error_keeps_its_code_and_status_and_maps_to_its_core_kind() {
        use AuthError as A;
        let store = |e: Error| A::Store(e);
        let cases: Vec<(AuthError, &str, u16, &str)> = vec![
            (A::InvalidEmail, "INVALID_EMAIL", 400, "InvalidInput"),
            (
                A::PasswordTooShort { min: 8 },
                "PASSWORD_TOO_SHORT",
                400,
                "InvalidInput",
            ),
            (
                A::PasswordTooLong { max: 128 },
                "PASSWORD_TOO_LONG",
                400,
                "InvalidInput",
            ),
            (
                A::InvalidEmailOrPassword,
                "INVALID_EMAIL_OR_PASSWORD",
                401,
                "PermissionDenied",
            ),
            (
                A::InvalidPassword,
                "INVALID_PASSWORD",
                400,
                "PermissionDenied",
            ),
            (
                A::UserAlreadyExists,
                "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
                422,
                "AlreadyExists",
            ),
            (
                A::SignUpDisabled,
                "EMAIL_PASSWORD_SIGN_UP_DISABLED",
                400,
                "PermissionDenied",
            ),
            (
                A::EmailNotVerified,
                "EMAIL_NOT_VERIFIED",
                403,
                "PermissionDenied",
            ),
            (
                A::EmailAlreadyVerified,
                "EMAIL_ALREADY_VERIFIED",
                400,
                "AlreadyExists",
            ),
            (
                A::CredentialAccountNotFound,
                "CREDENTIAL_ACCOUNT_NOT_FOUND",
                400,
                "NotFound",
            ),
            (A::UserNotFound, "USER_NOT_FOUND", 400, "NotFound"),
            (A::InvalidToken, "INVALID_TOKEN", 400, "PermissionDenied"),
            (A::TokenExpired, "TOKEN_EXPIRED", 401, "PermissionDenied"),
            (
                A::SessionNotFresh,
                "SESSION_NOT_FRESH",
                403,
                "PermissionDenied",
            ),
            (
                A::Cookie(CookieError::SignatureMismatch),
                "UNAUTHORIZED",
                401,
                "PermissionDenied",
            ),
            (A::InvalidOrigin, "INVALID_ORIGIN", 403, "PermissionDenied"),
            (
                A::MissingOrNullOrigin,
                "MISSING_OR_NULL_ORIGIN",
                403,
                "PermissionDenied",
            ),
            (
                A::CrossSiteNavigationLoginBlocked,
                "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
                403,
                "PermissionDenied",
            ),
            (
                A::InvalidCallbackUrl,
                "INVALID_CALLBACK_URL",
                403,
                "InvalidInput",
            ),
            (
                A::TooManyRequests {
                    retry_after: Duration::from_secs(3),
                },
                "TOO_MANY_REQUESTS",
                429,
                "PermissionDenied",
            ),
            (
                A::VerificationEmailNotEnabled,
                "VERIFICATION_EMAIL_NOT_ENABLED",
                400,
                "Unsupported",
            ),
            (
                A::ResetPasswordDisabled,
                "RESET_PASSWORD_DISABLED",
                400,
                "Unsupported",
            ),
            (
                A::BadRequest { line: 1, column: 2 },
                "BAD_REQUEST",
                400,
                "InvalidInput",
            ),
            (A::Unauthorized, "UNAUTHORIZED", 401, "PermissionDenied"),
            (
                A::OrganizationAlreadyExists,
                "ORGANIZATION_ALREADY_EXISTS",
                400,
                "AlreadyExists",
            ),
            (
                A::OrganizationNotFound,
                "ORGANIZATION_NOT_FOUND",
                400,
                "NotFound",
            ),
            (
                A::NotAMember,
                "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
                403,
                "PermissionDenied",
            ),
            (A::MemberNotFound, "MEMBER_NOT_FOUND", 400, "NotFound"),
            (
                A::AlreadyAMember,
                "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
                400,
                "AlreadyExists",
            ),
            (
                A::NoActiveOrganization,
                "NO_ACTIVE_ORGANIZATION",
                400,
                "NotFound",
            ),
            (
                A::LastOwner,
                "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
                400,
                "PermissionDenied",
            ),
            (
                A::NoOwnerLeft,
                "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
                400,
                "PermissionDenied",
            ),
            (A::RoleNotFound, "ROLE_NOT_FOUND", 400, "NotFound"),
            (
                A::NotAllowed {
                    code: "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
                },
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
                403,
                "PermissionDenied",
            ),
            (
                A::InvitationNotFound,
                "INVITATION_NOT_FOUND",
                400,
                "NotFound",
            ),
            (
                A::EmailVerificationRequiredForInvitation,
                "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION",
                403,
                "PermissionDenied",
            ),
            (
                A::AlreadyInvited,
                "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION",
                400,
                "AlreadyExists",
            ),
            (
                A::InvitationLimitReached,
                "INVITATION_LIMIT_REACHED",
                400,
                "PermissionDenied",
            ),
            (A::InvalidCode, "INVALID_CODE", 401, "PermissionDenied"),
            (
                A::TooManyAttempts,
                "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
                400,
                "PermissionDenied",
            ),
            (
                A::TwoFactorNotEnabled,
                "TWO_FACTOR_NOT_ENABLED",
                400,
                "NotFound",
            ),
            (A::InvalidApiKey, "INVALID_API_KEY", 401, "PermissionDenied"),
            (
                A::TwoFactorRequired,
                "TWO_FACTOR_REQUIRED",
                403,
                "PermissionDenied",
            ),
            (A::ApiKeyNotFound, "KEY_NOT_FOUND", 400, "NotFound"),
            (
                A::ApiKeyUsageExceeded,
                "USAGE_EXCEEDED",
                429,
                "PermissionDenied",
            ),
            (
                A::ApiKeyRateLimited {
                    retry_after: Duration::from_millis(5),
                },
                "RATE_LIMITED",
                429,
                "PermissionDenied",
            ),
            (A::BannedUser, "BANNED_USER", 403, "PermissionDenied"),
            (
                A::SessionExpired,
                "SESSION_EXPIRED",
                400,
                "PermissionDenied",
            ),
            (
                A::Refused {
                    code: "YOU_CANNOT_BAN_YOURSELF",
                },
                "YOU_CANNOT_BAN_YOURSELF",
                400,
                "PermissionDenied",
            ),
            // Store errors: code and status follow the kind, and the kind is kept.
            (
                store(Error::not_found("session", "x")),
                "NOT_FOUND",
                404,
                "NotFound",
            ),
            (
                store(Error::AlreadyExists {
                    entity: "row",
                    id: "x".into(),
                }),
                "CONFLICT",
                409,
                "AlreadyExists",
            ),
            (
                store(Error::invalid("name", "too long")),
                "VALIDATION_ERROR",
                400,
                "InvalidInput",
            ),
            (
                store(Error::Suspended {
                    entity: "platform",
                    id: "k3m9p2xw7q".into(),
                }),
                "PLATFORM_SUSPENDED",
                403,
                "Suspended",
            ),
            (
                store(Error::PermissionDenied {
                    reason: "guard".into(),
                }),
                "FORBIDDEN",
                403,
                "PermissionDenied",
            ),
            (
                store(Error::Unsupported {
                    operation: "x".into(),
                    backend: "d1",
                }),
                "NOT_IMPLEMENTED",
                501,
                "Unsupported",
            ),
            (
                AuthError::corrupt("session.expiresAt"),
                "INTERNAL_SERVER_ERROR",
                500,
                "Decode",
            ),
            (
                AuthError::config("secret", "short"),
                "INTERNAL_SERVER_ERROR",
                500,
                "Config",
            ),
            (
                AuthError::internal("mailer", std::io::Error::other("down")),
                "INTERNAL_SERVER_ERROR",
                500,
                "Backend",
            ),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (e, code, status, expected_kind) in cases {
            seen.insert(variant(&e));
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(e.status(), status, "{e:?}");
            let is_store = matches!(e, A::Store(_));
            let core = Error::from(e);
            assert_eq!(kind(&core), expected_kind, "{code}: {core:?}");
            if !is_store {
                assert!(core.to_string().contains(code), "{code} lost: {core}");
            }
            // Back into an AuthError, the kind's code and status follow.
            let back = AuthError::from(core);
            assert_eq!(kind_of_store(&back), expected_kind);
        }
        // 49 Better Auth variants and the store wrapper.
        assert_eq!(seen.len(), 50, "a variant has no row: {seen:?}");
    }

    fn kind_of_store(e: &AuthError) -> &'static str {
        match e {
            AuthError::Store(e) => kind(e),
            _ => "not a store error",
        }
    }

    #[test]
    fn a_suspended_platform_is_forbidden_not_an_internal_error() {
        let e = AuthError::from(Error::Suspended {
            entity: "platform",
            id: "k3m9p2xw7q".into(),
        });
        assert!(e.is_suspended());
        assert_eq!((e.code(), e.status()), ("PLATFORM_SUSPENDED", 403));
        let core = Error::from(e);
        assert!(matches!(core, Error::Suspended { .. }), "{core:?}");
    }

    #[test]
    fn codes_and_statuses_follow_better_auth() {
        let cases = [
            (AuthError::InvalidEmail, "INVALID_EMAIL", 400),
            (
                AuthError::PasswordTooShort { min: 8 },
                "PASSWORD_TOO_SHORT",
                400,
            ),
            (
                AuthError::InvalidEmailOrPassword,
                "INVALID_EMAIL_OR_PASSWORD",
                401,
            ),
            (
                AuthError::SignUpDisabled,
                "EMAIL_PASSWORD_SIGN_UP_DISABLED",
                400,
            ),
            (AuthError::EmailNotVerified, "EMAIL_NOT_VERIFIED", 403),
            (
                AuthError::MissingOrNullOrigin,
                "MISSING_OR_NULL_ORIGIN",
                403,
            ),
            (
                AuthError::TooManyRequests {
                    retry_after: Duration::from_secs(3),
                },
                "TOO_MANY_REQUESTS",
                429,
            ),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code(), code, "{e}");
            assert_eq!(e.status(), status, "{e}");
        }
    }

    #[test]
    fn messages_are_lowercase() {
        let e = AuthError::TooManyRequests {
            retry_after: Duration::from_secs(7),
        };
        assert_eq!(e.to_string(), "too many requests, retry after 7 s");
        assert_eq!(
            AuthError::UserAlreadyExists.to_string(),
            "user already exists, use another email"
        );
    }
}
