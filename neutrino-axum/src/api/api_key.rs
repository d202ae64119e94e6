//! Better Auth's API-key plugin (§5 of the facts), on the platform's
//! [`Organizations`](neutrino_auth::org::Organizations). Verification stays
//! server-side ([`Platform::scope_from_api_key`]), as in Better Auth:
//! `/api-key/verify` is not routed.
//!
//! [`Platform::scope_from_api_key`]: neutrino_platform::Platform::scope_from_api_key

use std::time::Duration;

use axum::http::StatusCode;
use neutrino_auth::AuthError;
use neutrino_auth::apikey::{ApiKey, ApiKeyUpdate, DEFAULT_RATE_LIMIT, NewApiKey};
use serde_json::{Value, json};

use super::Ctx;
use super::session::{Current, require, with_cookies};
use super::wire::{Fields, Reply, query_get};
use crate::ApiError;

type Answer = Result<Reply, ApiError>;

/// The API-key endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ApiKeyRoute {
    Create,
    Get,
    List,
    Update,
    Delete,
}

pub(super) fn route(get: bool, post: bool, path: &str) -> Option<ApiKeyRoute> {
    use ApiKeyRoute::*;
    Some(match path.strip_prefix("/api-key/")? {
        "create" if post => Create,
        "get" if get => Get,
        "list" if get => List,
        "update" if post => Update,
        "delete" if post => Delete,
        _ => return None,
    })
}

pub(super) async fn handle(route: ApiKeyRoute, ctx: &Ctx) -> Answer {
    match route {
        ApiKeyRoute::Create => create(ctx).await,
        ApiKeyRoute::Get => get(ctx).await,
        ApiKeyRoute::List => list(ctx).await,
        ApiKeyRoute::Update => update(ctx).await,
        ApiKeyRoute::Delete => delete(ctx).await,
    }
}

/// Fields only a server may set (Better Auth's `SERVER_ONLY_PROPERTY`).
const SERVER_ONLY: [&str; 7] = [
    "remaining",
    "refillAmount",
    "refillInterval",
    "rateLimitEnabled",
    "rateLimitTimeWindow",
    "rateLimitMax",
    "permissions",
];

const MIN_EXPIRES_IN: u64 = 24 * 3600;
const MAX_EXPIRES_IN: u64 = 365 * 24 * 3600;

/// An API key as Better Auth shows it (never its hash).
fn key_json(key: &ApiKey) -> Value {
    let mut v = serde_json::to_value(key).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.entry("configId").or_insert(json!("default"));
        m.entry("metadata").or_insert(Value::Null);
        // Better Auth leaves out an organization it has none of.
        if m.get("organizationId").is_some_and(Value::is_null) {
            m.remove("organizationId");
        }
    }
    v
}

/// Better Auth's name rule: 1 to 32 characters.
fn check_name(name: Option<&str>) -> Result<(), ApiError> {
    if name.is_some_and(|n| n.is_empty() || n.chars().count() > 32) {
        return Err(bad(
            "INVALID_NAME_LENGTH",
            "The name length is either too large or too small.",
        ));
    }
    Ok(())
}

/// The session of `create` and `update`, read from the database: 401
/// `UNAUTHORIZED_SESSION` without one.
async fn require_session(ctx: &Ctx) -> Result<(Current, Vec<String>), ApiError> {
    require(ctx).await.map_err(|e| {
        if e.status() == StatusCode::UNAUTHORIZED {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED_SESSION",
                "Unauthorized or invalid session",
            )
        } else {
            e
        }
    })
}

/// The caller's keys, with the cookies the session read sends.
async fn own_keys(ctx: &Ctx) -> Result<(Vec<ApiKey>, Vec<String>), ApiError> {
    let (current, cookies) = require(ctx).await?;
    match ctx
        .platform
        .orgs()
        .list_api_keys(&current.found.session.token)
        .await
    {
        Ok(keys) => Ok((keys, cookies)),
        Err(e) => Err(with_cookies(e.into(), cookies)),
    }
}

fn bad(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// `expiresIn` in seconds: `None` when absent or null.
fn expires_in(v: Option<&Value>) -> Result<Option<Duration>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let secs = n.as_f64().unwrap_or(-1.0);
            if secs < MIN_EXPIRES_IN as f64 {
                Err(bad(
                    "EXPIRES_IN_IS_TOO_SMALL",
                    "The expiresIn is smaller than the predefined minimum value.",
                ))
            } else if secs > MAX_EXPIRES_IN as f64 {
                Err(bad(
                    "EXPIRES_IN_IS_TOO_LARGE",
                    "The expiresIn is larger than the predefined maximum value.",
                ))
            } else {
                Ok(Some(Duration::from_secs(secs as u64)))
            }
        }
        Some(_) => Err(ApiError::validation(
            "[body.expiresIn] Invalid input: expected number",
        )),
    }
}

async fn create(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, false);
    let name = f.opt_string("name");
    let prefix = f.opt_string("prefix");
    let organization = f.opt_string("organizationId");
    let _ = f.opt_string("configId");
    let expires = f.raw("expiresIn").cloned();
    let user_id = f.raw("userId").is_some();
    let server_only = SERVER_ONLY.iter().any(|k| match f.raw(k) {
        None => false,
        Some(Value::Null) => *k != "remaining",
        Some(_) => true,
    });
    let metadata = f
        .raw("metadata")
        .is_some_and(|m| !matches!(m, Value::Null | Value::Bool(false)));
    f.finish()?;
    if server_only {
        return Err(bad(
            "SERVER_ONLY_PROPERTY",
            "The property you're trying to set can only be set from the server auth instance only.",
        ));
    }
    if metadata {
        return Err(bad("METADATA_DISABLED", "Metadata is disabled."));
    }
    let expires_in = expires_in(expires.as_ref())?;
    check_name(name.as_deref())?;
    let (current, cookies) = require_session(ctx).await?;
    if user_id {
        return Err(with_cookies(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED_SESSION",
                "Unauthorized or invalid session",
            ),
            cookies,
        ));
    }
    let organization =
        match organization {
            Some(id) => Some(id.parse().map_err(|_| {
                with_cookies(AuthError::OrganizationNotFound.into(), cookies.clone())
            })?),
            None => None,
        };
    let new = NewApiKey {
        name,
        organization,
        expires_in,
        prefix,
        // Better Auth's default for a key made over HTTP.
        rate_limit: Some(DEFAULT_RATE_LIMIT),
        ..NewApiKey::default()
    };
    let created = ctx
        .platform
        .orgs()
        .create_api_key(&current.found.session.token, new, &ctx.meta)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let mut body = key_json(&created.record);
    body["key"] = Value::String(created.key);
    Ok(Reply::json(body).cookies(cookies))
}

async fn get(ctx: &Ctx) -> Answer {
    let Some(id) = query_get(&ctx.query, "id").map(str::to_owned) else {
        return Err(ApiError::validation(
            "[query.id] Invalid input: expected string, received undefined",
        ));
    };
    let (keys, cookies) = own_keys(ctx).await?;
    match keys.iter().find(|k| k.id == id) {
        Some(k) => Ok(Reply::json(key_json(k)).cookies(cookies)),
        None => Err(with_cookies(AuthError::ApiKeyNotFound.into(), cookies)),
    }
}

/// `GET /api-key/list[?organizationId=]`: the caller's keys, or an
/// organization's own keys for a member who may read them (403
/// `USER_NOT_MEMBER_OF_ORGANIZATION` / `INSUFFICIENT_API_KEY_PERMISSIONS`).
async fn list(ctx: &Ctx) -> Answer {
    let (keys, cookies) = match query_get(&ctx.query, "organizationId") {
        Some(org) if !org.is_empty() => {
            let (current, cookies) = require(ctx).await?;
            let fail = |e: AuthError| with_cookies(e.into(), cookies.clone());
            // An ID that cannot be an organization's is answered as one
            // the caller is not a member of.
            let org = org.parse().map_err(|_| {
                fail(AuthError::NotAllowed {
                    code: "USER_NOT_MEMBER_OF_ORGANIZATION",
                })
            })?;
            let keys = ctx
                .platform
                .orgs()
                .list_organization_api_keys(&current.found.session.token, &org)
                .await
                .map_err(fail)?;
            (keys, cookies)
        }
        _ => own_keys(ctx).await?,
    };
    let list: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(Reply::json(json!({ "apiKeys": list, "total": keys.len() })).cookies(cookies))
}

async fn update(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let id = f.string("keyId");
    let name = f.opt_string("name");
    let enabled = f.opt_bool("enabled");
    let expires = f.raw("expiresIn").cloned();
    let _ = f.opt_string("configId");
    let server_only = SERVER_ONLY.iter().any(|k| f.raw(k).is_some());
    f.finish()?;
    // Better Auth's order: the session, the server-only fields, the key,
    // then each value.
    let (current, cookies) = require_session(ctx).await?;
    let fail = |e: ApiError| with_cookies(e, cookies.clone());
    if server_only {
        return Err(fail(bad(
            "SERVER_ONLY_PROPERTY",
            "The property you're trying to set can only be set from the server auth instance only.",
        )));
    }
    check_name(name.as_deref()).map_err(fail)?;
    let expires_in = match &expires {
        None => None,
        Some(v) => Some(expires_in(Some(v)).map_err(fail)?),
    };
    let update = ApiKeyUpdate {
        name,
        enabled,
        expires_in,
    };
    let key = ctx
        .platform
        .orgs()
        .update_api_key(&current.found.session.token, &id, update, &ctx.meta)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(Reply::json(key_json(&key)).cookies(cookies))
}

async fn delete(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let id = f.string("keyId");
    let _ = f.opt_string("configId");
    f.finish()?;
    let (current, cookies) = require(ctx).await?;
    ctx.platform
        .orgs()
        .delete_api_key(&current.found.session.token, &id, &ctx.meta)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::json(json!({ "success": true })).cookies(cookies))
}
