//! The handshake's state: one `verification` row per authorization, in
//! Better Auth's format (`identifier` = the state, `value` = its JSON state
//! data), taken back by one `DELETE … RETURNING`: a state completes once.

use std::time::{Duration, SystemTime};

use neutrino_core::clock::millis_since_epoch;
use neutrino_core::sql::{SqlExecutor, Statement};
use serde::{Deserialize, Serialize};

use super::error::OAuthError;
use crate::date;
use crate::random::random_id;

/// Lifetime of a handshake's state (Better Auth: 10 minutes).
pub const STATE_TTL: Duration = Duration::from_secs(600);
/// Longest state accepted from a callback.
const MAX_STATE_LEN: usize = 128;

const INSERT_STATE: &str = r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?5)"#;
const TAKE_STATE: &str =
    r#"DELETE FROM "verification" WHERE "identifier" = ?1 RETURNING "value", "expiresAt""#;

/// Better Auth's state data (`StateData`), plus the provider it was issued
/// for.
#[derive(Serialize, Deserialize)]
pub(crate) struct StateData {
    #[serde(rename = "callbackURL")]
    pub(crate) callback_url: String,
    #[serde(rename = "codeVerifier")]
    pub(crate) code_verifier: String,
    #[serde(rename = "errorURL", default, skip_serializing_if = "Option::is_none")]
    pub(crate) error_url: Option<String>,
    #[serde(
        rename = "newUserURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) new_user_url: Option<String>,
    #[serde(rename = "expiresAt")]
    pub(crate) expires_at: i64,
    #[serde(
        rename = "oauthState",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) oauth_state: Option<String>,
    #[serde(
        rename = "idTokenNonce",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) id_token_nonce: Option<String>,
    #[serde(
        rename = "providerId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) provider_id: Option<String>,
    /// Set when the handshake links a provider account to a signed-in user
    /// (Better Auth's `link`) instead of signing in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) link: Option<LinkData>,
    /// Better Auth's `requestSignUp`: the sign-in may create a user even
    /// when the provider disables implicit sign-up.
    #[serde(
        rename = "requestSignUp",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub(crate) request_sign_up: bool,
}

/// The user a link handshake was started by, and the session it was started
/// in (which must still be live when the provider answers).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LinkData {
    #[serde(rename = "userId")]
    pub(crate) user_id: String,
    pub(crate) email: String,
    #[serde(rename = "sessionId")]
    pub(crate) session_id: String,
}

/// Writes `data` under `state`, valid [`STATE_TTL`] from `now`.
pub(crate) async fn store(
    db: &dyn SqlExecutor,
    state: &str,
    data: &StateData,
    now: SystemTime,
) -> Result<(), OAuthError> {
    let value = serde_json::to_string(data).map_err(|_| OAuthError::Config { reason: "state" })?;
    db.execute(
        &Statement::new(INSERT_STATE)
            .bind(random_id()?)
            .bind(state)
            .bind(value)
            .bind(date::format(now + STATE_TTL))
            .bind(date::format(now)),
    )
    .await?;
    Ok(())
}

/// Takes the state `state` (deleting it: a second take finds nothing) and
/// checks it is live and was issued as `state`.
pub(crate) async fn take(
    db: &dyn SqlExecutor,
    state: &str,
    now: SystemTime,
) -> Result<StateData, OAuthError> {
    if state.is_empty() || state.len() > MAX_STATE_LEN {
        return Err(OAuthError::StateMismatch);
    }
    let row = db
        .query(&Statement::new(TAKE_STATE).bind(state))
        .await?
        .into_iter()
        .next()
        .ok_or(OAuthError::StateMismatch)?;
    let value: String = row.get(0)?;
    let expires: String = row.get(1)?;
    if date::parse(&expires).is_none_or(|e| e <= now) {
        return Err(OAuthError::StateMismatch);
    }
    let data: StateData = serde_json::from_str(&value).map_err(|_| OAuthError::StateMismatch)?;
    if data.expires_at <= millis_since_epoch(now) {
        return Err(OAuthError::StateMismatch);
    }
    if data.oauth_state.as_deref().is_some_and(|s| s != state) {
        return Err(OAuthError::StateMismatch);
    }
    Ok(data)
}
