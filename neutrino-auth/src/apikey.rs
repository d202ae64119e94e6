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
//!
//! Better Auth's limits hold whoever created the key: `remaining` (uses left,
//! [`AuthError::ApiKeyUsageExceeded`] at 0), its refill (`refillAmount` every
//! `refillInterval` ms since `lastRefillAt`) and the per-key rate limit
//! (`rateLimitMax` uses within `rateLimitTimeWindow` ms of `lastRequest`,
//! [`AuthError::ApiKeyRateLimited`] beyond). One conditional
//! `UPDATE … RETURNING` per verification decides them and records the use,
//! so concurrent verifications never exceed them, and a refused verification
//! uses nothing. Keys made here have no rate limit unless
//! [`NewApiKey::rate_limit`] sets one ([`DEFAULT_RATE_LIMIT`] is Better Auth's
//! plugin default, 10 a day, which its HTTP API gives every key); a key
//! Better Auth made keeps the limit it was given.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use neutrino_core::ids::{PlatformId, TenantId, UserId};
use neutrino_core::sql::{Dialect, Row, Statement, Value};
use neutrino_tenancy::TenantScope;

use crate::access::PlatformRole;
use crate::active::{MemberScope, Scopes};
use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::caller::{Actor, Callers};
use crate::date;
use crate::error::{AuthError, Result};
use crate::member::{Members, STANDING_COLUMNS, standing_from_row, standing_joins};
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
/// The `configId` of organization-owned keys: Better Auth's API-key plugin
/// configured with `{configId: "organization", references: "organization"}`
/// next to its default configuration. Such a key's `referenceId` is the
/// organization's ID.
pub const ORGANIZATION_CONFIG_ID: &str = "organization";

/// What [`crate::org::Organizations::create_api_key`] takes.
#[derive(Clone, Debug, Default)]
pub struct NewApiKey {
    /// A name to recognise it by.
    pub name: Option<String>,
    /// Bind the key to this tenant (the creator must be a member, or a platform
    /// admin); `None` makes a platform key.
    pub organization: Option<TenantId>,
    /// Make the key the organization's own (Better Auth's organization-owned
    /// keys, `referenceId` = the organization): it acts as the organization,
    /// with only its own [`NewApiKey::permissions`], and keeps working after
    /// its creator leaves or is deleted, until the organization is. Needs
    /// [`NewApiKey::organization`] and `apiKey:create` there (owners have it).
    pub owned_by_organization: bool,
    /// Lifetime; `None` never expires.
    pub expires_in: Option<Duration>,
    /// What the key may do, `{resource: [action]}`; `None` leaves it to the
    /// owner's roles.
    pub permissions: Option<BTreeMap<String, Vec<String>>>,
    /// The visible prefix (default [`DEFAULT_PREFIX`]): 1–16 characters of
    /// `[A-Za-z0-9_-]`.
    pub prefix: Option<String>,
    /// How many verifications the key allows (`remaining`); `None` is
    /// unlimited. With a [`NewApiKey::refill`] and no `remaining`, the key
    /// starts with the refill amount, as Better Auth's does.
    pub remaining: Option<u32>,
    /// Sets `remaining` back to `amount` once `interval` has passed since
    /// the last refill (or the creation).
    pub refill: Option<ApiKeyRefill>,
    /// At most `max` verifications within `window` of the previous one
    /// (Better Auth's per-key rate limit); `None` leaves the key unlimited.
    pub rate_limit: Option<ApiKeyRateLimit>,
}

/// The refill of an API key's `remaining` count (`refillInterval`,
/// `refillAmount`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiKeyRefill {
    /// Time between refills (stored in milliseconds, at least 1 ms).
    pub interval: Duration,
    /// What `remaining` becomes at a refill (at least 1).
    pub amount: u32,
}

/// The per-key rate limit of an API key (`rateLimitTimeWindow`,
/// `rateLimitMax`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiKeyRateLimit {
    /// The window (stored in milliseconds, at least 1 ms).
    pub window: Duration,
    /// Verifications allowed within it (at least 1).
    pub max: u32,
}

/// Better Auth's API-key plugin default: 10 verifications a day
/// (`rateLimitMax: 10`, `rateLimitTimeWindow: 86400000`).
pub const DEFAULT_RATE_LIMIT: ApiKeyRateLimit = ApiKeyRateLimit {
    window: Duration::from_secs(24 * 3600),
    max: 10,
};

/// What [`crate::org::Organizations::update_api_key`] changes: each field
/// that is `Some`, the others stay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiKeyUpdate {
    /// A new name (at most [`MAX_KEY_NAME_LEN`] bytes, no control
    /// characters).
    pub name: Option<String>,
    /// Enable or disable the key.
    pub enabled: Option<bool>,
    /// A new lifetime from now; `Some(None)` makes the key never expire.
    pub expires_in: Option<Option<Duration>>,
}

impl ApiKeyUpdate {
    /// Whether it changes nothing.
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.enabled.is_none() && self.expires_in.is_none()
    }
}

/// An `apikey` row, without its hash.
///
/// Serializes in Better Auth's field names: `{"id","name","start","prefix",
/// "referenceId","organizationId","enabled","expiresAt","permissions",
/// "lastRequest","requestCount","remaining","refillInterval","refillAmount",
/// "lastRefillAt","rateLimitEnabled","rateLimitTimeWindow","rateLimitMax",
/// "createdAt","updatedAt"}`, dates as ISO-8601 strings,
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
    /// Who owns it (`referenceId`): the user it acts as, or the organization.
    #[serde(rename = "referenceId")]
    pub owner: ApiKeyOwner,
    /// The tenant it is bound to, if any (the owner, for an organization's key).
    pub organization_id: Option<TenantId>,
    /// Whether it may be used.
    pub enabled: bool,
    /// Whether the per-key rate limit applies.
    pub rate_limit_enabled: bool,
    /// When it was created.
    #[serde(serialize_with = "crate::date::serialize")]
    pub created_at: SystemTime,
    /// When it was last changed (created, updated, or used).
    #[serde(serialize_with = "crate::date::serialize")]
    pub updated_at: SystemTime,
    /// When it stops working.
    #[serde(serialize_with = "crate::date::serialize_opt")]
    pub expires_at: Option<SystemTime>,
    /// What it may do, as JSON `{resource: [action]}`.
    #[serde(serialize_with = "json_text")]
    pub permissions: Option<String>,
    /// When it was last used.
    #[serde(serialize_with = "crate::date::serialize_opt")]
    pub last_request: Option<SystemTime>,
    /// Uses counted in the current rate-limit window (all uses for a key
    /// without a rate limit).
    pub request_count: i64,
    /// The rate-limit window, in milliseconds.
    pub rate_limit_time_window: Option<i64>,
    /// Verifications allowed per window.
    pub rate_limit_max: Option<i64>,
    /// Verifications left (`None`: unlimited).
    pub remaining: Option<i64>,
    /// Milliseconds between refills of `remaining`.
    pub refill_interval: Option<i64>,
    /// What `remaining` becomes at a refill.
    pub refill_amount: Option<i64>,
    /// When `remaining` was last refilled.
    #[serde(serialize_with = "crate::date::serialize_opt")]
    pub last_refill_at: Option<SystemTime>,
}

/// Who owns an API key (its `referenceId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKeyOwner {
    /// A user's key, acting as the user.
    User(UserId),
    /// An organization's own key.
    Organization(TenantId),
}

impl ApiKeyOwner {
    /// The `referenceId`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::User(u) => u.as_str(),
            Self::Organization(o) => o.as_str(),
        }
    }
}

impl serde::Serialize for ApiKeyOwner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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
    /// An organization's own key: the tenant's scope, acting as the
    /// organization, with only the key's permissions. Only
    /// [`crate::org::Organizations::verify_api_key`] makes one.
    #[non_exhaustive]
    Organization {
        /// The organization's tenant scope.
        scope: TenantScope,
        /// The key's ID.
        key_id: String,
        /// The key's permissions JSON, if it has any.
        permissions: Option<String>,
    },
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

const COLUMNS: &str = r#""id", "name", "start", "prefix", "referenceId", "metadata", "enabled", "expiresAt", "permissions", "lastRequest", "requestCount", "createdAt", "remaining", "refillInterval", "refillAmount", "lastRefillAt", "rateLimitEnabled", "rateLimitTimeWindow", "rateLimitMax", "configId", "updatedAt""#;

/// Columns of [`COLUMNS`], the first index after them.
const N_COLUMNS: usize = 21;

fn from_row(r: &Row) -> Result<ApiKey> {
    let reference: String = r.get(4)?;
    let metadata: Option<String> = r.get(5)?;
    let config: Option<String> = r.get(19)?;
    let owned_by_org = config.as_deref() == Some(ORGANIZATION_CONFIG_ID);
    let org = if owned_by_org {
        Some(reference.clone())
    } else {
        metadata
            .as_deref()
            .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
            .and_then(|v| v.get("organizationId")?.as_str().map(str::to_owned))
    };
    let owner = if owned_by_org {
        ApiKeyOwner::Organization(
            reference
                .parse()
                .map_err(|_| AuthError::corrupt("apikey.referenceId"))?,
        )
    } else {
        ApiKeyOwner::User(
            reference
                .parse()
                .map_err(|_| AuthError::corrupt("apikey.referenceId"))?,
        )
    };
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
        owner,
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
        remaining: r.get(12)?,
        refill_interval: r.get(13)?,
        refill_amount: r.get(14)?,
        last_refill_at: opt_time(15, "apikey.lastRefillAt")?,
        rate_limit_enabled: r.get::<Option<bool>>(16)?.unwrap_or(true),
        rate_limit_time_window: r.get(17)?,
        rate_limit_max: r.get(18)?,
        updated_at: date::column(r, 20, "apikey.updatedAt")?,
    })
}

/// A key name as Neutrino accepts one: at most [`MAX_KEY_NAME_LEN`] bytes,
/// no control characters.
fn check_name(name: Option<&str>) -> Result<()> {
    if name.is_some_and(|n| n.len() > MAX_KEY_NAME_LEN || n.chars().any(char::is_control)) {
        return Err(AuthError::validation(
            "name",
            format!("must be at most {MAX_KEY_NAME_LEN} bytes without control characters"),
        ));
    }
    Ok(())
}

/// `now + lifetime`, or a validation error when it is beyond any date.
fn expiry(now: SystemTime, lifetime: Duration) -> Result<SystemTime> {
    now.checked_add(lifetime)
        .filter(|t| date::parse(&date::format(*t)).is_some())
        .ok_or_else(|| AuthError::validation("expiresIn", "is too far in the future"))
}

/// A refill or rate limit as stored: `(interval or window in ms, amount or
/// max)`, both at least 1.
fn stored_limit(
    interval: Duration,
    count: u32,
    interval_field: &'static str,
    count_field: &'static str,
) -> Result<(i64, i64)> {
    if count == 0 {
        return Err(AuthError::validation(count_field, "must be at least 1"));
    }
    let ms = i64::try_from(interval.as_millis())
        .ok()
        .filter(|&ms| ms >= 1)
        .ok_or_else(|| {
            AuthError::validation(interval_field, "must be between 1 ms and i64::MAX ms")
        })?;
    Ok((ms, i64::from(count)))
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
        // The membership the decision below rests on, re-checked inside the
        // insert: `None` for a platform admin who is not a member.
        let mut held_role: Option<String> = None;
        if let Some(org) = &new.organization {
            let standing = if new.owned_by_organization {
                // Better Auth's codes for organization-owned keys.
                match self.members.standing(&actor, org).await {
                    Err(AuthError::NotAMember) => {
                        return Err(AuthError::NotAllowed {
                            code: "USER_NOT_MEMBER_OF_ORGANIZATION",
                        });
                    }
                    other => other?,
                }
            } else {
                self.members.standing(&actor, org).await?
            };
            if new.owned_by_organization
                && !(standing.is_owner() || self.members.can(&standing, "apiKey", "create"))
            {
                return Err(AuthError::NotAllowed {
                    code: "INSUFFICIENT_API_KEY_PERMISSIONS",
                });
            }
            held_role = standing.member.map(|m| m.role);
        } else if new.owned_by_organization {
            return Err(AuthError::NotAllowed {
                code: "ORGANIZATION_ID_REQUIRED",
            });
        }
        check_name(new.name.as_deref())?;
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
        let refill = new
            .refill
            .map(|r| stored_limit(r.interval, r.amount, "refillInterval", "refillAmount"))
            .transpose()?;
        let rate_limit = new
            .rate_limit
            .map(|r| stored_limit(r.window, r.max, "rateLimitTimeWindow", "rateLimitMax"))
            .transpose()?;
        let remaining = new
            .remaining
            .map(i64::from)
            .or(refill.map(|(_, amount)| amount));
        let key = format!("{prefix}{}", random_letters(KEY_LEN)?);
        let now = self.callers.now();
        let stamp = date::format(now);
        let permissions = new
            .permissions
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| AuthError::validation("permissions", "must serialize to JSON"))?;
        // An organization's key is Better Auth's: `referenceId` names the
        // organization, and `metadata` stays empty.
        let metadata = new
            .organization
            .filter(|_| !new.owned_by_organization)
            .map(|o| serde_json::json!({ "organizationId": o.as_str() }).to_string());
        let owner = match new.organization {
            Some(o) if new.owned_by_organization => ApiKeyOwner::Organization(o),
            _ => ApiKeyOwner::User(actor.user_id),
        };
        let config_id = match owner {
            ApiKeyOwner::Organization(_) => ORGANIZATION_CONFIG_ID,
            ApiKeyOwner::User(_) => "default",
        };
        let expires_at = new.expires_in.map(|d| expiry(now, d)).transpose()?;
        let record = ApiKey {
            id: random_id()?,
            name: new.name,
            start: Some(key.chars().take(START_LEN).collect()),
            prefix: Some(prefix),
            owner,
            organization_id: new.organization,
            enabled: true,
            expires_at: expires_at.and_then(|t| date::parse(&date::format(t))),
            permissions,
            last_request: None,
            request_count: 0,
            created_at: date::parse(&stamp).unwrap_or(now),
            updated_at: date::parse(&stamp).unwrap_or(now),
            remaining,
            refill_interval: refill.map(|(i, _)| i),
            refill_amount: refill.map(|(_, a)| a),
            last_refill_at: None,
            rate_limit_enabled: rate_limit.is_some(),
            rate_limit_time_window: rate_limit.map(|(w, _)| w),
            rate_limit_max: rate_limit.map(|(_, m)| m),
        };
        // A key bound to an organization is made only while the organization
        // exists and the creator's membership is still the one judged above
        // (a platform admin's standing needs none): the database decides.
        let (guard, guard_params) = match (&record.organization_id, &held_role) {
            (None, _) => ("TRUE", Vec::new()),
            (Some(o), Some(role)) => (
                r#"EXISTS (SELECT 1 FROM "organization" WHERE "id" = ?18) AND EXISTS (SELECT 1 FROM "member" WHERE "organizationId" = ?18 AND "userId" = ?19 AND "role" = ?20)"#,
                vec![
                    Value::from(o.as_str()),
                    Value::from(actor.user_id.as_str()),
                    Value::from(role.as_str()),
                ],
            ),
            (Some(o), None) => (
                r#"EXISTS (SELECT 1 FROM "organization" WHERE "id" = ?18)"#,
                vec![Value::from(o.as_str())],
            ),
        };
        let insert = Statement::with_params(
            format!(
                r#"INSERT INTO "apikey" ("id", "configId", "name", "start", "referenceId", "prefix", "key", "enabled", "rateLimitEnabled", "requestCount", "expiresAt", "createdAt", "updatedAt", "permissions", "metadata", "remaining", "refillInterval", "refillAmount", "rateLimitTimeWindow", "rateLimitMax") SELECT ?1, ?17, ?2, ?3, ?4, ?5, ?6, 1, ?11, 0, ?7, ?8, ?8, ?9, ?10, ?12, ?13, ?14, ?15, ?16 WHERE {guard}"#
            ),
            vec![
                Value::from(record.id.clone()),
                record.name.clone().into(),
                record.start.clone().into(),
                Value::from(owner.as_str().to_owned()),
                record.prefix.clone().into(),
                Value::from(hash_key(&key)),
                expires_at.map(date::format).into(),
                Value::from(stamp.clone()),
                record.permissions.clone().into(),
                metadata.into(),
                Value::from(record.rate_limit_enabled),
                record.remaining.into(),
                record.refill_interval.into(),
                record.refill_amount.into(),
                record.rate_limit_time_window.into(),
                record.rate_limit_max.into(),
                Value::from(config_id.to_owned()),
            ]
            .into_iter()
            .chain(guard_params)
            .collect(),
        );
        let audit_stmt = audit::insert_where(
            AuditEvent::ApiKeyCreated,
            AuditRecord {
                detail: Some(format!("key={}", record.id)),
                organization_id: record.organization_id.as_ref().map(TenantId::as_str),
                ..AuditRecord::in_session(actor.user_id.as_str(), &actor.session_id)
            },
            meta,
            now,
            r#"EXISTS (SELECT 1 FROM "apikey" WHERE "id" = ?11)"#,
            vec![Value::from(record.id.clone())],
        )?;
        let out = self
            .callers
            .db()
            .write_audited(vec![insert], audit_stmt)
            .await?;
        if out.first().is_none_or(|o| o.rows_affected == 0) {
            // The organization went, or the membership changed, meanwhile.
            return Err(AuthError::OrganizationNotFound);
        }
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

    /// [`crate::org::Organizations::list_organization_api_keys`]: the
    /// caller's standing and the organization's own keys read in one query,
    /// so the keys shown are those of the membership that allowed them.
    pub(crate) async fn list_organization_api_keys(
        &self,
        token: &str,
        org: &TenantId,
    ) -> Result<Vec<ApiKey>> {
        let actor = self.callers.actor(token).await?;
        let keyed: Vec<String> = COLUMNS.split(", ").map(|c| format!("k.{c}")).collect();
        let rows = self
            .callers
            .db()
            .query(
                &Statement::new(format!(
                    r#"SELECT {}, {STANDING_COLUMNS} FROM (SELECT ?1 AS "org", ?2 AS "user") q {} LEFT JOIN "apikey" k ON k."referenceId" = q."org" AND k."configId" = '{ORGANIZATION_CONFIG_ID}' AND o."id" IS NOT NULL ORDER BY k."createdAt" DESC, k."id""#,
                    keyed.join(", "),
                    standing_joins(r#"q."org""#, r#"q."user""#)
                ))
                .bind(org.as_str())
                .bind(actor.user_id.as_str()),
            )
            .await?;
        let first = rows.first().ok_or_else(|| AuthError::corrupt("standing"))?;
        // A non-member, and anyone naming an organization this platform does
        // not have (another platform's, or none), gets Better Auth's answer
        // for a non-member.
        let standing =
            standing_from_row(first, N_COLUMNS, actor.platform_admin).map_err(|e| match e {
                AuthError::NotAMember | AuthError::OrganizationNotFound => AuthError::NotAllowed {
                    code: "USER_NOT_MEMBER_OF_ORGANIZATION",
                },
                e => e,
            })?;
        if !(standing.is_owner() || self.members.can(&standing, "apiKey", "read")) {
            return Err(AuthError::NotAllowed {
                code: "INSUFFICIENT_API_KEY_PERMISSIONS",
            });
        }
        let mut keys = Vec::new();
        for r in &rows {
            if r.get::<Option<String>>(0)?.is_some() {
                keys.push(from_row(r)?);
            }
        }
        Ok(keys)
    }

    /// The key `id` if the caller may `action` it: its own key, or a key of
    /// an organization where the caller is an owner or holds
    /// `apiKey:{action}` (Better Auth's rule); with the SQL (placeholders
    /// from `?1`, and their values) that re-checks that standing inside the
    /// write. Anyone else's key is `KEY_NOT_FOUND`.
    async fn managed_key(
        &self,
        actor: &Actor,
        id: &str,
        action: &str,
    ) -> Result<(ApiKey, String, Vec<Value>)> {
        let row = self
            .callers
            .row(
                Statement::new(format!(r#"SELECT {COLUMNS} FROM "apikey" WHERE "id" = ?1"#))
                    .bind(id),
            )
            .await?
            .ok_or(AuthError::ApiKeyNotFound)?;
        let key = from_row(&row)?;
        match key.owner {
            ApiKeyOwner::User(u) if u == actor.user_id => Ok((key, "TRUE".to_owned(), Vec::new())),
            ApiKeyOwner::User(_) => Err(AuthError::ApiKeyNotFound),
            ApiKeyOwner::Organization(org) => {
                let s = self
                    .members
                    .standing(actor, &org)
                    .await
                    .map_err(|_| AuthError::ApiKeyNotFound)?;
                if !(s.is_owner() || self.members.can(&s, "apiKey", action)) {
                    return Err(AuthError::NotAllowed {
                        code: "INSUFFICIENT_API_KEY_PERMISSIONS",
                    });
                }
                Ok(match s.member {
                    Some(m) => (
                        r#"EXISTS (SELECT 1 FROM "member" WHERE "organizationId" = ?1 AND "userId" = ?2 AND "role" = ?3)"#.to_owned(),
                        vec![
                            Value::from(org.as_str()),
                            Value::from(actor.user_id.as_str()),
                            Value::from(m.role),
                        ],
                    ),
                    None => ("TRUE".to_owned(), Vec::new()),
                })
                .map(|(g, p)| (key, g, p))
            }
        }
    }

    /// Writes `change` to `key` with its audit row (`event`, `detail`) in
    /// one batch; `API_KEY_NOT_FOUND` when the change touched no row (the
    /// key, or the caller's standing over it, went meanwhile).
    async fn write_key_change(
        &self,
        actor: &Actor,
        key: &ApiKey,
        change: Statement,
        (event, detail): (AuditEvent, String),
        meta: &RequestMeta,
        now: SystemTime,
    ) -> Result<()> {
        let record = AuditRecord {
            detail: Some(detail),
            organization_id: key.organization_id.as_ref().map(TenantId::as_str),
            ..AuditRecord::in_session(actor.user_id.as_str(), &actor.session_id)
        };
        let audit_stmt = audit::insert_where(event, record, meta, now, audit::CHANGED, Vec::new())?;
        let out = self
            .callers
            .db()
            .write_audited(vec![change], audit_stmt)
            .await?;
        if out.first().is_none_or(|o| o.rows_affected == 0) {
            return Err(AuthError::ApiKeyNotFound);
        }
        Ok(())
    }

    /// [`crate::org::Organizations::update_api_key`]: the changes and
    /// `updatedAt` in one conditional write that re-checks the caller's
    /// standing.
    pub(crate) async fn update_api_key(
        &self,
        token: &str,
        id: &str,
        update: ApiKeyUpdate,
        meta: &RequestMeta,
    ) -> Result<ApiKey> {
        let actor = self.callers.writer(token).await?;
        let (key, guard, guard_params) = self.managed_key(&actor, id, "update").await?;
        check_name(update.name.as_deref())?;
        if update.is_empty() {
            return Err(AuthError::Refused {
                code: "NO_VALUES_TO_UPDATE",
            });
        }
        let now = self.callers.now();
        let stamp = date::format(now);
        let expires_at = match update.expires_in {
            Some(Some(d)) => Some(Some(expiry(now, d)?)),
            Some(None) => Some(None),
            None => None,
        };
        let mut params = vec![
            Value::from(update.name.is_some()),
            update.name.clone().into(),
            Value::from(update.enabled.is_some()),
            Value::from(update.enabled.unwrap_or(key.enabled)),
            Value::from(expires_at.is_some()),
            expires_at.flatten().map(date::format).into(),
            Value::from(stamp.clone()),
            Value::from(id),
            Value::from(key.owner.as_str()),
        ];
        params.extend(guard_params);
        let mut changed = Vec::new();
        if update.name.is_some() {
            changed.push("name".to_owned());
        }
        if let Some(enabled) = update.enabled {
            changed.push(format!("enabled={enabled}"));
        }
        if expires_at.is_some() {
            changed.push("expiresAt".to_owned());
        }
        let change = Statement::with_params(
            format!(
                r#"UPDATE "apikey" SET "name" = CASE WHEN ?1 = 1 THEN ?2 ELSE "name" END, "enabled" = CASE WHEN ?3 = 1 THEN ?4 ELSE "enabled" END, "expiresAt" = CASE WHEN ?5 = 1 THEN ?6 ELSE "expiresAt" END, "updatedAt" = ?7 WHERE "id" = ?8 AND "referenceId" = ?9 AND {}"#,
                crate::stmt::renumber(&guard, 9)
            ),
            params,
        );
        let detail = format!("key={id} {}", changed.join(" "));
        self.write_key_change(
            &actor,
            &key,
            change,
            (AuditEvent::ApiKeyUpdated, detail),
            meta,
            now,
        )
        .await?;
        Ok(ApiKey {
            name: update.name.or(key.name),
            enabled: update.enabled.unwrap_or(key.enabled),
            expires_at: match expires_at {
                Some(t) => t.and_then(|t| date::parse(&date::format(t))),
                None => key.expires_at,
            },
            updated_at: date::parse(&stamp).unwrap_or(now),
            ..key
        })
    }

    /// [`crate::org::Organizations::delete_api_key`].
    pub(crate) async fn delete_api_key(
        &self,
        token: &str,
        id: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let actor = self.callers.writer(token).await?;
        let (key, guard, guard_params) = self.managed_key(&actor, id, "delete").await?;
        let now = self.callers.now();
        let mut params = vec![Value::from(id), Value::from(key.owner.as_str())];
        params.extend(guard_params);
        let change = Statement::with_params(
            format!(
                r#"DELETE FROM "apikey" WHERE "id" = ?1 AND "referenceId" = ?2 AND {}"#,
                crate::stmt::renumber(&guard, 2)
            ),
            params,
        );
        let detail = format!("key={id}");
        self.write_key_change(
            &actor,
            &key,
            change,
            (AuditEvent::ApiKeyDeleted, detail),
            meta,
            now,
        )
        .await?;
        Ok(())
    }

    /// [`crate::org::Organizations::verify_api_key`].
    ///
    /// One conditional `UPDATE … RETURNING` decides and records the use: the
    /// key is enabled, unexpired, its owner exists and is not banned, it has a
    /// use left (after a refill that is due), its rate-limit window is not
    /// full, and the owner of a tenant key is a member of the tenant (or a
    /// platform admin); the same statement takes the use, refills, counts the
    /// request and returns the row with its owner's role and standing in the
    /// tenant, from which the scope is minted. Concurrent verifications are
    /// serialized by the row write, so `remaining = N` gives exactly N uses and
    /// a window at most `rateLimitMax`. Only a refused key is read again, to
    /// say why.
    pub(crate) async fn verify_api_key(&self, key: &str) -> Result<ApiKeyScope> {
        if key.is_empty() || key.len() > 256 {
            return Err(AuthError::InvalidApiKey);
        }
        // A suspended or deleted platform refuses before a use is spent.
        self.callers.ensure_writable().await?;
        let hash = hash_key(key);
        let db = self.callers.db();
        let dialect = db.dialect();
        // The owner's `user.role` as read by a refusal that found a platform
        // admin who is not a member of the key's tenant: the next try takes a
        // use only if that role is still the owner's (a compare-and-set).
        let mut admin_role: Option<String> = None;
        let mut attempts = 0;
        let row = loop {
            let now = self.callers.now();
            let stamp = date::format(now);
            let now_ms = neutrino_core::clock::millis_since_epoch(now);
            let rows = db
                .query(
                    &Statement::new(use_statement(dialect))
                        .bind(hash.as_str())
                        .bind(stamp.as_str())
                        .bind(now_ms)
                        .bind(admin_role.as_deref()),
                )
                .await?;
            if let Some(row) = rows.into_iter().next() {
                break row;
            }
            attempts += 1;
            // The key was refused: read it to say why. A state that would have
            // passed (a window or refill that came due in between, a platform
            // admin owner who is not a member) is tried once more.
            match self.refusal(&hash, now).await? {
                Refusal::Refused(e) => return Err(e),
                _ if attempts >= 3 => return Err(AuthError::InvalidApiKey),
                Refusal::AsAdmin(role) => admin_role = Some(role),
                Refusal::Passes => {}
            }
        };
        let rec = from_row(&row)?;
        let user_role: Option<String> = row.get(N_COLUMNS)?;
        let platform_admin =
            self.callers.auth().platform_role_of(user_role.as_deref()) == PlatformRole::Admin;
        let user = match rec.owner {
            ApiKeyOwner::User(u) => u,
            ApiKeyOwner::Organization(org) => {
                // The use above required the organization row; the registry
                // refuses a deleted organization's tenant.
                let scope = self.scopes.tenant(org).await.map_err(|e| match e {
                    AuthError::OrganizationNotFound => AuthError::InvalidApiKey,
                    e => e,
                })?;
                return Ok(ApiKeyScope::Organization {
                    scope,
                    key_id: rec.id,
                    permissions: rec.permissions,
                });
            }
        };
        // The tenant and the standing in it are the ones the write decided on,
        // read in the same statement: not the metadata parsed again, not a
        // membership read afterwards.
        let org: Option<String> = row.get(N_COLUMNS + 1)?;
        match org {
            Some(org) => {
                let org: TenantId = org
                    .parse()
                    .map_err(|_| AuthError::corrupt("apikey.metadata"))?;
                let standing = standing_from_row(&row, N_COLUMNS + 2, platform_admin)?;
                Ok(ApiKeyScope::Tenant(
                    self.scopes
                        .issue(&user, standing, org, rec.permissions.clone())
                        .await?,
                ))
            }
            None => {
                // The platform must be active, as for a tenant scope.
                self.callers.ensure_writable().await?;
                Ok(ApiKeyScope::Platform {
                    platform: self.scopes.platform(),
                    user_id: user,
                    permissions: rec.permissions.clone(),
                })
            }
        }
    }

    /// Why the key of `hash` cannot be used at `now`: a refusal, or that it
    /// could be used (as a platform admin with the role read here, when its
    /// owner is one and not a member of the key's tenant).
    async fn refusal(&self, hash: &str, now: SystemTime) -> Result<Refusal> {
        let db = self.callers.db();
        let binding = KeyBinding::of(db.dialect());
        let Some(row) = db
            .query(
                &Statement::new(format!(
                    r#"SELECT {COLUMNS}, (SELECT u."banned" FROM "user" u WHERE u."id" = "apikey"."referenceId"), (SELECT u."banExpires" FROM "user" u WHERE u."id" = "apikey"."referenceId"), COALESCE((SELECT u."id" FROM "user" u WHERE u."id" = "apikey"."referenceId" AND COALESCE("apikey"."configId", '') <> '{ORGANIZATION_CONFIG_ID}'), (SELECT g."id" FROM "organization" g WHERE g."id" = "apikey"."referenceId" AND "apikey"."configId" = '{ORGANIZATION_CONFIG_ID}')), (SELECT u."role" FROM "user" u WHERE u."id" = "apikey"."referenceId"), CASE WHEN {well_formed} THEN 1 ELSE 0 END, CASE WHEN {member} THEN 1 ELSE 0 END, (SELECT og."id" FROM "organization" og WHERE og."id" = {org}), {org} FROM "apikey" WHERE "key" = ?1"#,
                    well_formed = binding.well_formed,
                    member = binding.member(),
                    org = binding.org,
                ))
                .bind(hash),
            )
            .await?
            .into_iter()
            .next()
        else {
            return Ok(Refusal::Refused(AuthError::InvalidApiKey));
        };
        let rec = from_row(&row)?;
        let banned: Option<bool> = row.get(N_COLUMNS)?;
        let ban_expires: Option<String> = row.get(N_COLUMNS + 1)?;
        let owner: Option<String> = row.get(N_COLUMNS + 2)?;
        let role: Option<String> = row.get(N_COLUMNS + 3)?;
        let well_formed: bool = row.get(N_COLUMNS + 4)?;
        let member: bool = row.get(N_COLUMNS + 5)?;
        let org_exists = row.get::<Option<String>>(N_COLUMNS + 6)?.is_some();
        let bound = row.get::<Option<String>>(N_COLUMNS + 7)?.is_some();
        if !well_formed
            || !rec.enabled
            || rec.expires_at.is_some_and(|t| t <= now)
            || owner.is_none()
        {
            return Ok(Refusal::Refused(AuthError::InvalidApiKey));
        }
        if ban_in_force(banned, ban_expires.as_deref(), now) {
            return Ok(Refusal::Refused(AuthError::BannedUser));
        }
        let now_ms = neutrino_core::clock::millis_since_epoch(now);
        let ms = |t: Option<SystemTime>| t.map(neutrino_core::clock::millis_since_epoch);
        if let Some(remaining) = rec.remaining {
            let refill_due = match (rec.refill_interval, rec.refill_amount) {
                (Some(i), Some(a)) if i > 0 && a > 0 => {
                    let last = ms(rec.last_refill_at.or(Some(rec.created_at))).unwrap_or(0);
                    now_ms.saturating_sub(last) > i
                }
                _ => false,
            };
            if remaining <= 0 && !refill_due {
                return Ok(Refusal::Refused(AuthError::ApiKeyUsageExceeded));
            }
        }
        if let (true, Some(window), Some(max), Some(last)) = (
            rec.rate_limit_enabled,
            rec.rate_limit_time_window,
            rec.rate_limit_max,
            ms(rec.last_request),
        ) {
            let elapsed = now_ms.saturating_sub(last);
            if elapsed <= window && rec.request_count >= max {
                let wait = u64::try_from(window.saturating_sub(elapsed).max(1)).unwrap_or(1);
                return Ok(Refusal::Refused(AuthError::ApiKeyRateLimited {
                    retry_after: Duration::from_millis(wait),
                }));
            }
        }
        if bound && !member {
            // A tenant key whose owner is not a member of the tenant: usable
            // only by a platform admin, and only while the tenant exists.
            let admin =
                self.callers.auth().platform_role_of(role.as_deref()) == PlatformRole::Admin;
            return Ok(match (admin, org_exists, role) {
                (true, true, Some(role)) => Refusal::AsAdmin(role),
                (true, _, _) => Refusal::Refused(AuthError::OrganizationNotFound),
                (false, _, _) => Refusal::Refused(AuthError::NotAMember),
            });
        }
        Ok(Refusal::Passes)
    }
}

/// Why a verification took no use ([`ApiKeys::refusal`]).
enum Refusal {
    /// The key may not be used now.
    Refused(AuthError),
    /// The key could be used: its state changed in between.
    Passes,
    /// The key could be used by its owner as a platform admin who is not a
    /// member of the key's tenant, while the owner's `user.role` is this.
    AsAdmin(String),
}

/// SQL over the `apikey` row in scope: the tenant its metadata binds it to,
/// and whether its owner may act in that tenant, per dialect.
struct KeyBinding {
    /// The `organizationId` string of the metadata's JSON object, or `NULL`
    /// (no metadata, no such member, or not a string).
    org: String,
    /// Whether the metadata binds the key to one tenant or to none: `NULL`,
    /// or JSON whose `organizationId` is a string, `null` or absent.
    /// Malformed metadata never makes a tenant key a platform key (SQLite
    /// says no here; PostgreSQL refuses to run the statement).
    well_formed: String,
}

impl KeyBinding {
    fn of(dialect: Dialect) -> Self {
        const META: &str = r#""apikey"."metadata""#;
        match dialect {
            Dialect::Postgres => {
                let field = format!("(CAST({META} AS jsonb) -> 'organizationId')");
                Self {
                    org: format!(
                        "(CASE WHEN jsonb_typeof({field}) = 'string' THEN CAST({META} AS jsonb) ->> 'organizationId' END)"
                    ),
                    well_formed: format!(
                        "({META} IS NULL OR COALESCE(jsonb_typeof({field}), 'null') IN ('string', 'null'))"
                    ),
                }
            }
            _ => Self {
                org: format!(
                    "(CASE WHEN json_valid({META}) AND json_type({META}, '$.organizationId') = 'text' THEN json_extract({META}, '$.organizationId') END)"
                ),
                well_formed: format!(
                    "({META} IS NULL OR (json_valid({META}) AND COALESCE(json_type({META}, '$.organizationId'), 'null') IN ('text', 'null')))"
                ),
            },
        }
    }

    /// Whether the key's owner is a member of its tenant.
    fn member(&self) -> String {
        format!(
            r#"EXISTS (SELECT 1 FROM "member" m WHERE m."organizationId" = {} AND m."userId" = "apikey"."referenceId")"#,
            self.org
        )
    }

    /// Column `col` of the owner's membership of the key's tenant, or `NULL`.
    fn membership(&self, col: &str) -> String {
        format!(
            r#"(SELECT m."{col}" FROM "member" m WHERE m."organizationId" = {} AND m."userId" = "apikey"."referenceId" ORDER BY m."id" LIMIT 1)"#,
            self.org
        )
    }

    /// Whether the key may be used by its owner in its tenant: a platform
    /// key, a member's key, or the key of a platform admin whose `user.role`
    /// is still `?4` (the role a refusal read and judged) of an existing
    /// tenant.
    fn may_act(&self) -> String {
        format!(
            r#"({org} IS NULL OR {member} OR (EXISTS (SELECT 1 FROM "user" a WHERE a."id" = "apikey"."referenceId" AND a."role" = ?4) AND EXISTS (SELECT 1 FROM "organization" og WHERE og."id" = {org})))"#,
            org = self.org,
            member = self.member(),
        )
    }

    /// The returned columns after the owner's role: the tenant, then the
    /// standing in it as [`STANDING_COLUMNS`](crate::member::STANDING_COLUMNS)
    /// lists it (the organization row's ID and the membership).
    fn returning(&self) -> String {
        format!(
            r#"{org}, (SELECT og."id" FROM "organization" og WHERE og."id" = {org}), {}, {}, {}, {}, {}"#,
            self.membership("id"),
            self.membership("organizationId"),
            self.membership("userId"),
            self.membership("role"),
            self.membership("createdAt"),
            org = self.org,
        )
    }
}

/// Milliseconds since the Unix epoch of a stored date expression.
fn millis_of(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::Postgres => {
            format!("CAST(ROUND(EXTRACT(EPOCH FROM CAST({expr} AS timestamptz)) * 1000) AS BIGINT)")
        }
        _ => format!("CAST(ROUND((julianday({expr}) - 2440587.5) * 86400000.0) AS INTEGER)"),
    }
}

/// The statement that takes one use of the key whose hash is `?1` at `?2`
/// (the stored date) = `?3` (milliseconds since the epoch), or changes
/// nothing and returns no row when the key may not be used; `?4` is the
/// owner's `user.role` when a refusal found a platform admin who is not a
/// member of the key's tenant (`NULL` otherwise). Better Auth's
/// rules, decided in the row write: a refill is due when `refillInterval`
/// and `refillAmount` are set and more than `refillInterval` ms passed since
/// `lastRefillAt` (or `createdAt`); the request is in the window when
/// `lastRequest` is at most `rateLimitTimeWindow` ms old. Neutrino's: the
/// owner of a key bound to a tenant (its metadata's `organizationId`) is a
/// member of it, or a platform admin while the tenant exists; so a key
/// refused for membership keeps its uses.
fn use_statement(dialect: Dialect) -> String {
    let refill_due = format!(
        r#"("refillInterval" IS NOT NULL AND "refillAmount" IS NOT NULL AND "refillInterval" > 0 AND "refillAmount" > 0 AND ?3 - {} > "refillInterval")"#,
        millis_of(dialect, r#"COALESCE("lastRefillAt", "createdAt")"#)
    );
    let limited = r#"(COALESCE(CAST("rateLimitEnabled" AS INTEGER), 1) <> 0 AND "rateLimitTimeWindow" IS NOT NULL AND "rateLimitMax" IS NOT NULL)"#;
    let in_window = format!(
        r#"("lastRequest" IS NOT NULL AND ?3 - {} <= "rateLimitTimeWindow")"#,
        millis_of(dialect, r#""lastRequest""#)
    );
    let expires = millis_of(dialect, r#""expiresAt""#);
    let binding = KeyBinding::of(dialect);
    format!(
        r#"UPDATE "apikey" SET
 "remaining" = CASE WHEN "remaining" IS NULL THEN NULL WHEN {refill_due} THEN "refillAmount" - 1 ELSE "remaining" - 1 END,
 "lastRefillAt" = CASE WHEN "remaining" IS NOT NULL AND {refill_due} THEN ?2 ELSE "lastRefillAt" END,
 "requestCount" = CASE WHEN {limited} AND NOT {in_window} THEN 1 ELSE COALESCE("requestCount", 0) + 1 END,
 "lastRequest" = ?2,
 "updatedAt" = ?2
 WHERE "key" = ?1
 AND COALESCE(CAST("enabled" AS INTEGER), 1) <> 0
 AND ("expiresAt" IS NULL OR {expires} > ?3)
 AND ("remaining" IS NULL OR "remaining" > 0 OR {refill_due})
 AND NOT ({limited} AND {in_window} AND COALESCE("requestCount", 0) >= "rateLimitMax")
 AND (("configId" = '{ORGANIZATION_CONFIG_ID}' AND EXISTS (SELECT 1 FROM "organization" g WHERE g."id" = "apikey"."referenceId"))
   OR (COALESCE("configId", '') <> '{ORGANIZATION_CONFIG_ID}' AND EXISTS (SELECT 1 FROM "user" o WHERE o."id" = "apikey"."referenceId" AND NOT (COALESCE(CAST(o."banned" AS INTEGER), 0) <> 0 AND (o."banExpires" IS NULL OR o."banExpires" > ?2)))
    AND {well_formed}
    AND {may_act}))
 RETURNING {COLUMNS}, (SELECT r."role" FROM "user" r WHERE r."id" = "apikey"."referenceId"), {returning}"#,
        well_formed = binding.well_formed,
        may_act = binding.may_act(),
        returning = binding.returning(),
    )
}
