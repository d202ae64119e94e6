//! [`Credentials`]: the users' `credential` accounts (their password hashes)
//! and the password check every flow that asks for the current password
//! calls. Never imports [`crate::Auth`].

use std::sync::Arc;

use neutrino_core::ids::UserId;
use neutrino_core::sql::{SqlExecutor, Statement};

use crate::error::{AuthError, Result};
use crate::password::{NormalizedPassword, Passwords};

/// Better Auth's provider ID of password accounts.
pub(crate) const CREDENTIAL: &str = "credential";

const SELECT_CREDENTIAL_BY_USER: &str =
    r#"SELECT "id", "password" FROM "account" WHERE "userId" = ?1 AND "providerId" = ?2 LIMIT 1"#;

/// The password accounts of one auth database and the hasher.
#[derive(Clone)]
pub(crate) struct Credentials {
    db: Arc<dyn SqlExecutor>,
    passwords: Arc<Passwords>,
}

impl Credentials {
    /// Password accounts in `db`, hashed with `passwords`.
    pub(crate) fn new(db: Arc<dyn SqlExecutor>, passwords: Arc<Passwords>) -> Self {
        Self { db, passwords }
    }

    /// The user's `credential` account: its ID and password hash
    /// (`CREDENTIAL_ACCOUNT_NOT_FOUND` without one).
    pub(crate) async fn account(&self, user_id: &UserId) -> Result<(String, String)> {
        let row = self
            .db
            .query(
                &Statement::new(SELECT_CREDENTIAL_BY_USER)
                    .bind(user_id.as_str())
                    .bind(CREDENTIAL),
            )
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::CredentialAccountNotFound)?;
        let account_id: String = row.get(0)?;
        let hash: Option<String> = row.get(1)?;
        Ok((
            account_id,
            hash.ok_or(AuthError::CredentialAccountNotFound)?,
        ))
    }

    /// Checks `password` (already normalized) against the user's hash
    /// (`INVALID_PASSWORD` when wrong); returns the account ID.
    pub(crate) async fn verify(
        &self,
        user_id: &UserId,
        password: &NormalizedPassword,
    ) -> Result<String> {
        let (account_id, hash) = self.account(user_id).await?;
        if self.passwords.verify(&hash, password).await?.is_match() {
            Ok(account_id)
        } else {
            Err(AuthError::InvalidPassword)
        }
    }

    /// Checks a user's password (`INVALID_PASSWORD` when wrong or not a
    /// password the policy accepts, `CREDENTIAL_ACCOUNT_NOT_FOUND` without
    /// one).
    pub(crate) async fn check(&self, user_id: &UserId, password: &str) -> Result<()> {
        let password = self
            .passwords
            .normalize(password)
            .map_err(|_| AuthError::InvalidPassword)?;
        self.verify(user_id, &password).await.map(drop)
    }
}
