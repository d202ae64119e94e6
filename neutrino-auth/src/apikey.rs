//! API keys (Better Auth's `apikey` table): platform-scoped keys, optionally
//! bound to one tenant, for machine access.
//!
//! A key is a visible prefix and 64 letters (`nno_` + `[a-zA-Z]{64}` by
//! default). It is shown once, when created; the table keeps
//! `base64url_nopad(SHA-256(key))` and the first 6 characters (`start`) to
//! recognise it in lists. Keys live in the platform's auth database, so a key
//! of platform A is unknown on platform B. [`crate::org::Organizations::verify_api_key`]
//! turns a key into the scope a session of its owner would have: the tenant's
//! [`MemberScope`] for a tenant-bound key (narrowed by the key's own
//! permissions), or the platform scope otherwise.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use neutrino_core::ids::{PlatformId, TenantId, UserId};
use neutrino_core::sql::{Row, Statement};

use crate::access::PlatformRole;
use crate::active::{MemberScope, Scopes};
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::caller::Callers;
use crate::date;
use crate::error::{AuthError, Result};
use crate::member::Members;
use crate::model::RequestMeta;
use crate::random::{random_id, random_letters};
use crate::session::ban_in_force;

/// The default visible prefix of a key.
pub const DEFAULT_PREFIX: &str = "nno_";
/// Characters of a key after its prefix.
pub const KEY_LEN: usize = 64;
/// Characters of a key kept in clear (`start`), as Better Auth does.
pub const START_LEN: usize = 6;
/// Longest accepted key name, in bytes.
pub const MAX_KEY_NAME_LEN: usize = 200;

/// What [`crate::org::Organizations::create_api_key`] takes.
#[derive(Clone, Debug, Default)]
pub struct NewApiKey {
    /// A name to recognise it by.
    pub name: Option<String>,
    /// Bind the key to this tenant (the creator must be a member, or a platform
    /// admin); `None` makes a platform key.
    pub organization: Option<TenantId>,
    /// Lifetime; `None` never expires.
    pub expires_in: Option<Duration>,
    /// What the key may do, `{resource: [action]}`; `None` leaves it to the
    /// owner's roles.
    pub permissions: Option<BTreeMap<String, Vec<String>>>,
    /// The visible prefix (default [`DEFAULT_PREFIX`]): 1–16 characters of
    /// `[A-Za-z0-9_-]`.
    pub prefix: Option<String>,
}

/// An `apikey` row, without its hash.
///
/// Serializes in Better Auth's field names: `{"id","name","start","prefix",
/// "referenceId","organizationId","enabled","expiresAt","permissions",
/// "lastRequest","requestCount","createdAt"}`, dates as ISO-8601 strings,
/// `permissions` as the stored JSON object (or `null`). The key and its hash
/// are never part of it: the key exists only in [`CreatedApiKey`], which does
/// not serialize.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// The first characters of the key, for display.
    pub start: Option<String>,
    /// Its visible prefix.
    pub prefix: Option<String>,
    /// The user it acts as (`referenceId`).
    #[serde(rename = "referenceId")]
    pub user_id: UserId,
    /// The tenant it is bound to, if any.
    pub organization_id: Option<TenantId>,
    /// Whether it may be used.
    pub enabled: bool,
    /// When it stops working.
    #[serde(serialize_with = "crate::date::serialize_opt")]
    pub expires_at: Option<SystemTime>,
    /// What it may do, as JSON `{resource: [action]}`.
    #[serde(serialize_with = "json_text")]
    pub permissions: Option<String>,
    /// When it was last used.
    #[serde(serialize_with = "crate::date::serialize_opt")]
    pub last_request: Option<SystemTime>,
    /// How many times it was used.
    pub request_count: i64,
    /// When it was created.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
}

/// Serializes stored JSON text as the JSON value it holds (the text itself if
/// it does not parse), or `null`.
fn json_text<S: serde::Serializer>(
    text: &Option<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize;
    match text {
        Some(t) => match serde_json::from_str::<serde_json::Value>(t) {
            Ok(v) => v.serialize(s),
            Err(_) => s.serialize_str(t),
        },
        None => s.serialize_none(),
    }
}

/// A key just created: the only time the key itself is available.
#[derive(Clone)]
pub struct CreatedApiKey {
    /// The key, to show once to its owner.
    pub key: String,
    /// Its record.
    pub record: ApiKey,
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// What a verified key may act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiKeyScope {
    /// A tenant-bound key: the tenant's scope as its owner's session would get.
    Tenant(MemberScope),
    /// A platform key: the platform, acting as its owner. Only
    /// [`crate::org::Organizations::verify_api_key`] makes one.
    #[non_exhaustive]
    Platform {
        /// The platform.
        platform: PlatformId,
        /// The key's owner.
        user_id: UserId,
        /// The key's permissions JSON, if it has any.
        permissions: Option<String>,
    },
}

/// `base64url_nopad(SHA-256(key))`, as Better Auth stores keys.
pub fn hash_key(key: &str) -> String {
    crate::digest::sha256_base64url(key)
}

const COLUMNS: &str = r#""id", "name", "start", "prefix", "referenceId", "metadata", "enabled", "expiresAt", "permissions", "lastRequest", "requestCount", "createdAt""#;

fn from_row(r: &Row) -> Result<ApiKey> {
    let user: String = r.get(4)?;
    let metadata: Option<String> = r.get(5)?;
    let org = metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .and_then(|v| v.get("organizationId")?.as_str().map(str::to_owned));
    let opt_time = |i: usize, what| -> Result<Option<SystemTime>> {
        let s: Option<String> = r.get(i)?;
        s.map(|s| date::stored(&s, what)).transpose()
    };
    let enabled: Option<bool> = r.get(6)?;
    let count: Option<i64> = r.get(10)?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        start: r.get(2)?,
        prefix: r.get(3)?,
        user_id: user
            .parse()
            .map_err(|_| AuthError::corrupt("apikey.referenceId"))?,
        organization_id: org
            .map(|o| o.parse())
            .transpose()
            .map_err(|_| AuthError::corrupt("apikey.metadata"))?,
        enabled: enabled.unwrap_or(true),
        expires_at: opt_time(7, "apikey.expiresAt")?,
        permissions: r.get(8)?,
        last_request: opt_time(9, "apikey.lastRequest")?,
        request_count: count.unwrap_or(0),
        created_at: date::column(r, 11, "apikey.createdAt")?,
    })
}

/// The API keys of one platform's auth database.
#[derive(Clone)]
pub(crate) struct ApiKeys {
    callers: Callers,
    members: Members,
    scopes: Scopes,
}

impl ApiKeys {
    pub(crate) fn new(callers: Callers, members: Members, scopes: Scopes) -> Self {
        Self {
            callers,
            members,
            scopes,
        }
    }

    /// [`crate::org::Organizations::create_api_key`].
    pub(crate) async fn create_api_key(
        &self,
        token: &str,
        new: NewApiKey,
        meta: &RequestMeta,
    ) -> Result<CreatedApiKey> {
        let actor = self.callers.writer(token).await?;
        if let Some(org) = &new.organization {
            self.members.standing(&actor, org).await?;
        }
        if new
            .name
            .as_ref()
            .is_some_and(|n| n.len() > MAX_KEY_NAME_LEN || n.chars().any(char::is_control))
        {
            return Err(AuthError::validation(
                "name",
                format!("must be at most {MAX_KEY_NAME_LEN} bytes without control characters"),
            ));
        }
        let prefix = new.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        if prefix.is_empty()
            || prefix.len() > 16
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(AuthError::validation(
                "prefix",
                "must be 1-16 characters of A-Za-z0-9_-",
            ));
        }
        let key = format!("{prefix}{}", random_letters(KEY_LEN)?);
        let now = self.callers.now();
        let stamp = date::format(now);
        let permissions = new
            .permissions
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| AuthError::validation("permissions", "must serialize to JSON"))?;
        let metadata = new
            .organization
            .map(|o| serde_json::json!({ "organizationId": o.as_str() }).to_string());
        let expires_at = new.expires_in.map(|d| now + d);
        let record = ApiKey {
            id: random_id()?,
            name: new.name,
            start: Some(key.chars().take(START_LEN).collect()),
            prefix: Some(prefix),
            user_id: actor.user_id,
            organization_id: new.organization,
            enabled: true,
            expires_at: expires_at.and_then(|t| date::parse(&date::format(t))),
            permissions,
            last_request: None,
            request_count: 0,
            created_at: date::parse(&stamp).unwrap_or(now),
        };
        let insert = Statement::new(
            r#"INSERT INTO "apikey" ("id", "configId", "name", "start", "referenceId", "prefix", "key", "enabled", "rateLimitEnabled", "requestCount", "expiresAt", "createdAt", "updatedAt", "permissions", "metadata") VALUES (?1, 'default', ?2, ?3, ?4, ?5, ?6, 1, 0, 0, ?7, ?8, ?8, ?9, ?10)"#,
        )
        .bind(record.id.as_str())
        .bind(record.name.as_deref())
        .bind(record.start.as_deref())
        .bind(actor.user_id.as_str())
        .bind(record.prefix.as_deref())
        .bind(hash_key(&key))
        .bind(expires_at.map(date::format))
        .bind(stamp.as_str())
        .bind(record.permissions.as_deref())
        .bind(metadata);
        let audit_stmt = audit::insert(
            AuditEvent::ApiKeyCreated,
            AuditRecord {
                detail: Some(format!("key={}", record.id)),
                organization_id: record.organization_id.as_ref().map(TenantId::as_str),
                ..AuditRecord::in_session(actor.user_id.as_str(), &actor.session_id)
            },
            meta,
            now,
        )?;
        self.callers
            .db()
            .write_audited(vec![insert], audit_stmt)
            .await?;
        Ok(CreatedApiKey { key, record })
    }

    /// [`crate::org::Organizations::list_api_keys`].
    pub(crate) async fn list_api_keys(&self, token: &str) -> Result<Vec<ApiKey>> {
        let actor = self.callers.actor(token).await?;
        let rows = self.callers.db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {COLUMNS} FROM "apikey" WHERE "referenceId" = ?1 ORDER BY "createdAt" DESC, "id""#
                ))
                .bind(actor.user_id.as_str()),
            )
            .await?;
        rows.iter().map(from_row).collect()
    }

    async fn own_key(&self, user: &UserId, id: &str) -> Result<ApiKey> {
        let row = self
            .callers
            .row(
                Statement::new(format!(
                    r#"SELECT {COLUMNS} FROM "apikey" WHERE "id" = ?1 AND "referenceId" = ?2"#
                ))
                .bind(id)
                .bind(user.as_str()),
            )
            .await?
            .ok_or(AuthError::ApiKeyNotFound)?;
        from_row(&row)
    }

    /// [`crate::org::Organizations::set_api_key_enabled`].
    pub(crate) async fn set_api_key_enabled(
        &self,
        token: &str,
        id: &str,
        enabled: bool,
        meta: &RequestMeta,
    ) -> Result<ApiKey> {
        let actor = self.callers.writer(token).await?;
        let key = self.own_key(&actor.user_id, id).await?;
        let now = self.callers.now();
        self.callers.db()
            .write_audited(vec![
                Statement::new(
                    r#"UPDATE "apikey" SET "enabled" = ?1, "updatedAt" = ?2 WHERE "id" = ?3 AND "referenceId" = ?4"#,
                )
                .bind(enabled)
                .bind(date::format(now))
                .bind(id)
                .bind(actor.user_id.as_str())], audit::insert(
                    AuditEvent::ApiKeyUpdated,
                    AuditRecord {
                        detail: Some(format!("key={id} enabled={enabled}")),
                        organization_id: key.organization_id.as_ref().map(TenantId::as_str),
                        ..AuditRecord::in_session(actor.user_id.as_str(), &actor.session_id)
                    },
                    meta,
                    now,
                )?)
            .await?;
        Ok(ApiKey { enabled, ..key })
    }

    /// [`crate::org::Organizations::delete_api_key`].
    pub(crate) async fn delete_api_key(
        &self,
        token: &str,
        id: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let actor = self.callers.writer(token).await?;
        let key = self.own_key(&actor.user_id, id).await?;
        let now = self.callers.now();
        self.callers
            .db()
            .write_audited(
                vec![
                    Statement::new(
                        r#"DELETE FROM "apikey" WHERE "id" = ?1 AND "referenceId" = ?2"#,
                    )
                    .bind(id)
                    .bind(actor.user_id.as_str()),
                ],
                audit::insert(
                    AuditEvent::ApiKeyDeleted,
                    AuditRecord {
                        detail: Some(format!("key={id}")),
                        organization_id: key.organization_id.as_ref().map(TenantId::as_str),
                        ..AuditRecord::in_session(actor.user_id.as_str(), &actor.session_id)
                    },
                    meta,
                    now,
                )?,
            )
            .await?;
        Ok(())
    }

    /// [`crate::org::Organizations::verify_api_key`].
    pub(crate) async fn verify_api_key(&self, key: &str) -> Result<ApiKeyScope> {
        if key.is_empty() || key.len() > 256 {
            return Err(AuthError::InvalidApiKey);
        }
        let row = self
            .callers
            .row(
                Statement::new(format!(
                    r#"SELECT {COLUMNS} FROM "apikey" WHERE "key" = ?1"#
                ))
                .bind(hash_key(key)),
            )
            .await?
            .ok_or(AuthError::InvalidApiKey)?;
        let rec = from_row(&row)?;
        let now = self.callers.now();
        if !rec.enabled || rec.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::InvalidApiKey);
        }
        let owner = self
            .callers
            .row(
                Statement::new(
                    r#"SELECT "role", "banned", "banExpires" FROM "user" WHERE "id" = ?1"#,
                )
                .bind(rec.user_id.as_str()),
            )
            .await?
            .ok_or(AuthError::InvalidApiKey)?;
        let user_role: Option<String> = owner.get(0)?;
        let banned: Option<bool> = owner.get(1)?;
        let ban_expires: Option<String> = owner.get(2)?;
        // A banned owner's keys verify no more than its sessions do.
        if ban_in_force(banned, ban_expires.as_deref(), now) {
            return Err(AuthError::BannedUser);
        }
        let platform_admin =
            self.callers.auth().platform_role_of(user_role.as_deref()) == PlatformRole::Admin;
        let scope = match rec.organization_id {
            Some(org) => {
                let standing = self
                    .members
                    .standing_of(&rec.user_id, platform_admin, &org)
                    .await?;
                ApiKeyScope::Tenant(
                    self.scopes
                        .issue(&rec.user_id, standing, org, rec.permissions.clone())
                        .await?,
                )
            }
            None => {
                // The platform must be active, as for a tenant scope.
                self.callers.ensure_writable().await?;
                ApiKeyScope::Platform {
                    platform: self.scopes.platform(),
                    user_id: rec.user_id,
                    permissions: rec.permissions.clone(),
                }
            }
        };
        self.callers.db()
            .execute(
                &Statement::new(
                    r#"UPDATE "apikey" SET "lastRequest" = ?1, "requestCount" = COALESCE("requestCount", 0) + 1 WHERE "id" = ?2"#,
                )
                .bind(date::format(now))
                .bind(rec.id.as_str()),
            )
            .await?;
        Ok(scope)
    }
}
