//! Better Auth's admin plugin (§6 of the facts), on [`Auth`]'s admin
//! operations: every permission is checked there, with the caller's session
//! read from the database.
//!
//! [`Auth`]: neutrino_auth::Auth

use std::time::Duration;

use axum::http::StatusCode;
use neutrino_auth::admin::{ListUsers, SearchField, SearchOperator};
use neutrino_core::ids::UserId;
use serde_json::{Value, json};

use super::Ctx;
use super::session::{Current, require, with_cookies};
use super::wire::{Fields, Reply, query_get};
use crate::ApiError;

type Answer = Result<Reply, ApiError>;

/// The admin endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AdminRoute {
    SetRole,
    BanUser,
    UnbanUser,
    ListUsers,
    RevokeUserSessions,
    RemoveUser,
}

pub(super) fn route(get: bool, post: bool, path: &str) -> Option<AdminRoute> {
    use AdminRoute::*;
    Some(match path.strip_prefix("/admin/")? {
        "set-role" if post => SetRole,
        "ban-user" if post => BanUser,
        "unban-user" if post => UnbanUser,
        "list-users" if get => ListUsers,
        "revoke-user-sessions" if post => RevokeUserSessions,
        "remove-user" if post => RemoveUser,
        _ => return None,
    })
}

pub(super) async fn handle(route: AdminRoute, ctx: &Ctx) -> Answer {
    match route {
        AdminRoute::SetRole => set_role(ctx).await,
        AdminRoute::BanUser => ban_user(ctx).await,
        AdminRoute::UnbanUser => unban_user(ctx).await,
        AdminRoute::ListUsers => list_users(ctx).await,
        AdminRoute::RevokeUserSessions => revoke_user_sessions(ctx).await,
        AdminRoute::RemoveUser => remove_user(ctx).await,
    }
}

/// Better Auth's admin session middleware: 401 with an empty body without a
/// session.
async fn admin_session(ctx: &Ctx) -> Result<(Current, Vec<String>), ApiError> {
    require(ctx).await.map_err(|e| match e.status() {
        StatusCode::UNAUTHORIZED => ApiError::empty(StatusCode::UNAUTHORIZED),
        _ => e,
    })
}

fn user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse::<UserId>()
        .map_err(|_| admin_error(neutrino_auth::AuthError::UserNotFound))
}

/// Better Auth's 404 for `USER_NOT_FOUND` on admin routes.
fn admin_error(e: neutrino_auth::AuthError) -> ApiError {
    let e = ApiError::from(e);
    if e.code() == "USER_NOT_FOUND" {
        ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "User not found")
    } else {
        e
    }
}

async fn set_role(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = f.string("userId");
    let role = match f.raw("role") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => {
            f.string("role");
            Vec::new()
        }
    };
    f.finish()?;
    let (current, cookies) = admin_session(ctx).await?;
    let roles: Vec<&str> = role.iter().map(String::as_str).collect();
    let run = async {
        let target = user_id(&target)?;
        ctx.platform
            .auth()
            .admin_set_role(&current.found.session.token, &target, &roles, &ctx.meta)
            .await
            .map_err(admin_error)
    };
    match run.await {
        Ok(u) => Ok(Reply::json(json!({ "user": u })).cookies(cookies)),
        Err(e) => Err(with_cookies(e, cookies)),
    }
}

async fn ban_user(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = f.string("userId");
    let reason = f.opt_string("banReason");
    let expires = match f.raw("banExpiresIn") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            f.opt_string("banExpiresIn");
            None
        }
    };
    f.finish()?;
    let expires_in = match expires {
        None => None,
        Some(secs) if (1.0..=100.0 * 365.0 * 86400.0).contains(&secs) => {
            Some(Duration::from_secs_f64(secs))
        }
        Some(_) => {
            return Err(ApiError::validation(
                "[body.banExpiresIn] must be between 1 s and 100 years",
            ));
        }
    };
    let (current, cookies) = admin_session(ctx).await?;
    let run = async {
        let target = user_id(&target)?;
        ctx.platform
            .auth()
            .admin_ban_user(
                &current.found.session.token,
                &target,
                reason.as_deref(),
                expires_in,
                &ctx.meta,
            )
            .await
            .map_err(admin_error)
    };
    match run.await {
        Ok(u) => Ok(Reply::json(json!({ "user": u })).cookies(cookies)),
        Err(e) => Err(with_cookies(e, cookies)),
    }
}

async fn unban_user(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = f.string("userId");
    f.finish()?;
    let (current, cookies) = admin_session(ctx).await?;
    let run = async {
        let target = user_id(&target)?;
        ctx.platform
            .auth()
            .admin_unban_user(&current.found.session.token, &target, &ctx.meta)
            .await
            .map_err(admin_error)
    };
    match run.await {
        Ok(u) => Ok(Reply::json(json!({ "user": u })).cookies(cookies)),
        Err(e) => Err(with_cookies(e, cookies)),
    }
}

fn number(ctx: &Ctx, name: &str) -> Result<Option<u32>, ApiError> {
    match query_get(&ctx.query, name) {
        None | Some("") => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            ApiError::validation(format!("[query.{name}] Invalid input: expected number"))
        }),
    }
}

async fn list_users(ctx: &Ctx) -> Answer {
    let limit = number(ctx, "limit")?;
    let offset = number(ctx, "offset")?;
    let query = ListUsers {
        search_value: query_get(&ctx.query, "searchValue").map(str::to_owned),
        search_field: match query_get(&ctx.query, "searchField") {
            Some("name") => SearchField::Name,
            _ => SearchField::Email,
        },
        search_operator: match query_get(&ctx.query, "searchOperator") {
            Some("starts_with") => SearchOperator::StartsWith,
            Some("ends_with") => SearchOperator::EndsWith,
            _ => SearchOperator::Contains,
        },
        limit,
        offset,
        descending: query_get(&ctx.query, "sortDirection") == Some("desc"),
    };
    let (current, cookies) = admin_session(ctx).await?;
    let list = ctx
        .platform
        .auth()
        .admin_list_users(&current.found.session.token, &query)
        .await
        .map_err(|e| with_cookies(admin_error(e), cookies.clone()))?;
    let mut body = json!({ "users": list.users, "total": list.total });
    if limit.is_some() {
        body["limit"] = json!(list.limit);
    }
    if offset.is_some() {
        body["offset"] = json!(list.offset);
    }
    Ok(Reply::json(body).cookies(cookies))
}

async fn revoke_user_sessions(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = f.string("userId");
    f.finish()?;
    let (current, cookies) = admin_session(ctx).await?;
    let run = async {
        let target = user_id(&target)?;
        ctx.platform
            .auth()
            .admin_revoke_user_sessions(&current.found.session.token, &target, &ctx.meta)
            .await
            .map_err(admin_error)
    };
    match run.await {
        Ok(_) => Ok(Reply::json(json!({ "success": true })).cookies(cookies)),
        Err(e) => Err(with_cookies(e, cookies)),
    }
}

async fn remove_user(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = f.string("userId");
    f.finish()?;
    let (current, cookies) = admin_session(ctx).await?;
    let run = async {
        let target = user_id(&target)?;
        ctx.platform
            .auth()
            .admin_remove_user(&current.found.session.token, &target, &ctx.meta)
            .await
            .map_err(admin_error)
    };
    match run.await {
        Ok(()) => Ok(Reply::json(json!({ "success": true })).cookies(cookies)),
        Err(e) => Err(with_cookies(e, cookies)),
    }
}
