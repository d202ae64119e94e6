//! [`OAuthError`]: why a sign-in through an identity provider failed.

use crate::error::AuthError;

/// Why a handshake or a social sign-in failed. Messages never contain
/// codes, tokens, verifiers, client secrets or provider responses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// No provider with this ID is configured (`PROVIDER_NOT_FOUND`, 404).
    #[error("provider not found")]
    ProviderNotFound,
    /// A redirect target is neither a relative path nor on a trusted origin
    /// (`INVALID_CALLBACK_URL`, 403).
    #[error("invalid callback url")]
    InvalidCallbackUrl,
    /// The callback carried no `state` (`state_not_found`).
    #[error("state not found")]
    StateNotFound,
    /// The `state` is unknown, already used, expired, or not the one this
    /// browser started (`state_mismatch`).
    #[error("state mismatch")]
    StateMismatch,
    /// The provider answered the authorization with an error
    /// (its `error` parameter, restricted to `[a-z_]`).
    #[error("provider refused: {error}")]
    Provider {
        /// The provider's error code.
        error: String,
    },
    /// The callback carried no `code` (`no_code`).
    #[error("no code")]
    NoCode,
    /// The callback's `iss` is not the provider's issuer (`issuer_mismatch`).
    #[error("issuer mismatch")]
    IssuerMismatch,
    /// The token endpoint refused the code (`invalid_code`).
    #[error("invalid code")]
    InvalidCode,
    /// The ID token failed verification (`invalid_id_token`).
    #[error("invalid id token: {reason}")]
    InvalidIdToken {
        /// Which check failed.
        reason: &'static str,
    },
    /// Discovery, JWKS, token or user-info endpoint unusable: a refused URL,
    /// a network failure, a bad status, an oversized or malformed answer
    /// (`discovery_failed`).
    #[error("provider endpoint unusable: {reason}")]
    Endpoint {
        /// What went wrong.
        reason: &'static str,
    },
    /// The provider's user information is missing or malformed
    /// (`unable_to_get_user_info`).
    #[error("unable to get user info")]
    UserInfo,
    /// The provider gave no email address (`email_not_found`).
    #[error("email not found")]
    EmailNotFound,
    /// A user with this email exists and the provider does not say the
    /// address is verified: no linking (`account_not_linked`).
    #[error("account not linked")]
    AccountNotLinked,
    /// Sign-up is disabled and no user has this identity (`signup_disabled`).
    #[error("signup disabled")]
    SignUpDisabled,
    /// The provider's configuration is invalid.
    #[error("invalid provider configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: &'static str,
    },
    /// The caller has no such account (`ACCOUNT_NOT_FOUND`): another
    /// user's account answers the same.
    #[error("account not found")]
    AccountNotFound,
    /// Unlinking would leave the user without an account
    /// (`FAILED_TO_UNLINK_LAST_ACCOUNT`).
    #[error("cannot unlink the last account")]
    LastAccount,
    /// The account's provider is not a configured social provider
    /// (`PROVIDER_NOT_SUPPORTED`).
    #[error("provider not supported")]
    ProviderNotSupported,
    /// The account has no refresh token (`REFRESH_TOKEN_NOT_FOUND`).
    #[error("refresh token not found")]
    RefreshTokenNotFound,
    /// The account has no access token (`ACCESS_TOKEN_NOT_FOUND`).
    #[error("access token not found")]
    AccessTokenNotFound,
    /// The provider refused the refresh token or answered something that is
    /// not a token answer (`FAILED_TO_REFRESH_ACCESS_TOKEN`); the stored
    /// tokens are unchanged.
    #[error("failed to refresh access token")]
    TokenRefresh,
    /// A link's provider account has another email than the user's
    /// (`email_does_not_match`).
    #[error("email does not match")]
    EmailDoesNotMatch,
    /// A link's provider account is linked to another user
    /// (`account_already_linked_to_different_user`).
    #[error("account already linked to a different user")]
    AlreadyLinkedToDifferentUser,
    /// A link could not be made: linking is off, the provider does not say
    /// the email is verified (and is not trusted), or the session that
    /// started it has ended (`unable_to_link_account`).
    #[error("unable to link account")]
    UnableToLinkAccount,
    /// An auth error (the store, a ban, a suspended platform…).
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<neutrino_core::Error> for OAuthError {
    fn from(e: neutrino_core::Error) -> Self {
        Self::Auth(AuthError::Store(e))
    }
}

impl OAuthError {
    /// The code: Better Auth's API code for the errors of
    /// `POST /sign-in/social` (`PROVIDER_NOT_FOUND`, `INVALID_CALLBACK_URL`)
    /// and of the account routes (`ACCOUNT_NOT_FOUND`,
    /// `FAILED_TO_UNLINK_LAST_ACCOUNT`, …), and the `?error=` value of the
    /// callback's redirect for the others.
    pub fn code(&self) -> String {
        match self {
            Self::ProviderNotFound => "PROVIDER_NOT_FOUND".into(),
            Self::InvalidCallbackUrl => "INVALID_CALLBACK_URL".into(),
            Self::StateNotFound => "state_not_found".into(),
            Self::StateMismatch => "state_mismatch".into(),
            Self::Provider { error } => error.clone(),
            Self::NoCode => "no_code".into(),
            Self::IssuerMismatch => "issuer_mismatch".into(),
            Self::InvalidCode => "invalid_code".into(),
            Self::InvalidIdToken { .. } => "invalid_id_token".into(),
            Self::Endpoint { .. } | Self::Config { .. } => "discovery_failed".into(),
            Self::UserInfo => "unable_to_get_user_info".into(),
            Self::EmailNotFound => "email_not_found".into(),
            Self::AccountNotLinked => "account_not_linked".into(),
            Self::SignUpDisabled => "signup_disabled".into(),
            Self::AccountNotFound => "ACCOUNT_NOT_FOUND".into(),
            Self::LastAccount => "FAILED_TO_UNLINK_LAST_ACCOUNT".into(),
            Self::ProviderNotSupported => "PROVIDER_NOT_SUPPORTED".into(),
            Self::RefreshTokenNotFound => "REFRESH_TOKEN_NOT_FOUND".into(),
            Self::AccessTokenNotFound => "ACCESS_TOKEN_NOT_FOUND".into(),
            Self::TokenRefresh => "FAILED_TO_REFRESH_ACCESS_TOKEN".into(),
            Self::EmailDoesNotMatch => "email_does_not_match".into(),
            Self::AlreadyLinkedToDifferentUser => "account_already_linked_to_different_user".into(),
            Self::UnableToLinkAccount => "unable_to_link_account".into(),
            Self::Auth(AuthError::BannedUser) => "banned".into(),
            Self::Auth(e) => e.code().to_ascii_lowercase(),
        }
    }

    /// The HTTP status of an API answer with this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::ProviderNotFound => 404,
            Self::InvalidCallbackUrl => 403,
            Self::Auth(e) => e.status(),
            Self::Endpoint { .. } | Self::Config { .. } => 502,
            _ => 400,
        }
    }
}

/// Sanitizes a provider's `error` parameter into `[a-z0-9_]`, at most 64
/// characters.
pub(crate) fn provider_error(raw: &str) -> OAuthError {
    let error: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    OAuthError::Provider {
        error: if error.is_empty() {
            "provider_error".into()
        } else {
            error
        },
    }
}
