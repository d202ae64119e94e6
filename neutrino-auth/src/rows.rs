//! Reading users and sessions from their rows, and clipping request metadata
//! before it is stored.

use neutrino_core::ids::UserId;
use neutrino_core::sql::{Row, SqlExecutor, Statement, Value};

use crate::date;
use crate::error::{AuthError, Result};
use crate::model::{Session, User};

/// Longest IP address or user agent recorded, in bytes (longer ones are cut).
pub const MAX_META_LEN: usize = 512;

/// The user columns, in the order [`user_from_row`] reads them: the core
/// ones, then the admin and two-factor plugins' ones.
pub(crate) const USER_COLUMNS: &str = r#""id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "banReason", "banExpires", "twoFactorEnabled""#;

/// How many columns [`user_from_row`] reads.
pub(crate) const N_USER_COLUMNS: usize = 12;

/// A stored user ID; a malformed one is a decode error.
pub(crate) fn parse_user_id(s: &str) -> Result<UserId> {
    s.parse().map_err(|_| AuthError::corrupt("user.id"))
}

/// Reads [`USER_COLUMNS`] from `r` starting at column `at` (the ID there is
/// not read again: it is `id`).
///
/// The text columns that become the user's strings (`name`, `email`,
/// `image`, `role`, `banReason`) are moved out of the row, not copied: read
/// them before, not after. The others (the ID, the flags, the dates, among
/// them `banned` and `banExpires`) stay.
pub(crate) fn user_from_row(r: &mut Row, at: usize, id: UserId) -> Result<User> {
    let ban_expires = match r.value(at + 10)? {
        Value::Null => None,
        _ => Some(date::column(r, at + 10, "user.banExpires")?),
    };
    Ok(User {
        id,
        name: r.take(at + 1)?,
        email: r.take(at + 2)?,
        email_verified: r.get(at + 3)?,
        image: r.take(at + 4)?,
        created_at: date::column(r, at + 5, "user.createdAt")?,
        updated_at: date::column(r, at + 6, "user.updatedAt")?,
        role: r.take(at + 7)?,
        banned: r.get(at + 8)?,
        ban_reason: r.take(at + 9)?,
        ban_expires,
        two_factor_enabled: r.get(at + 11)?,
    })
}

/// The user with this ID, or `None`.
pub(crate) async fn load_user(db: &dyn SqlExecutor, user_id: &UserId) -> Result<Option<User>> {
    let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" WHERE "id" = ?1"#);
    let row = db
        .query(&Statement::new(sql).bind(user_id.as_str()))
        .await?
        .into_iter()
        .next();
    row.map(|mut r| user_from_row(&mut r, 0, *user_id))
        .transpose()
}

/// The user with this (normalized) email, or `None`.
pub(crate) async fn find_user_by_email(db: &dyn SqlExecutor, email: &str) -> Result<Option<User>> {
    let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" WHERE "email" = ?1"#);
    let row = db
        .query(&Statement::new(sql).bind(email))
        .await?
        .into_iter()
        .next();
    match row {
        Some(mut r) => {
            let id: String = r.get(0)?;
            Ok(Some(user_from_row(&mut r, 0, parse_user_id(&id)?)?))
        }
        None => Ok(None),
    }
}

/// Reads `id, token, userId, expiresAt, createdAt, updatedAt, ipAddress,
/// userAgent`.
///
/// `id`, `token`, `ipAddress` and `userAgent` are moved out of the row, not
/// copied: read them before, not after.
pub(crate) fn session_from_row(r: &mut Row) -> Result<Session> {
    let user_id = match r.value(2)? {
        Value::Text(s) => parse_user_id(s)?,
        _ => parse_user_id(&r.get::<String>(2)?)?,
    };
    Ok(Session {
        id: r.take(0)?,
        token: r.take(1)?,
        user_id,
        expires_at: date::column(r, 3, "session.expiresAt")?,
        created_at: date::column(r, 4, "session.createdAt")?,
        updated_at: date::column(r, 5, "session.updatedAt")?,
        ip_address: r.take(6)?,
        user_agent: r.take(7)?,
        impersonated_by: None,
        active_organization_id: None,
    })
}

/// `s` cut to at most [`MAX_META_LEN`] bytes, on a character boundary.
pub(crate) fn clip(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|v| {
        let mut end = v.len().min(MAX_META_LEN);
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v[..end].to_owned()
    })
}
