//! Better Auth's admin plugin (§6 of the facts), on [`Auth`]'s admin
//! operations: every permission is checked there, with the caller's session
//! read from the database.
//!
//! Impersonation keeps the admin's own session in the signed `admin_session`
//! cookie (`"<admin token>:<dont_remember or empty>"`), as Better Auth does;
//! `stop-impersonating` gives it back only to the impersonation session of
//! the admin whose live session it names, once.
//!
//! [`Auth`]: neutrino_auth::Auth

use std::time::Duration;

use axum::http::StatusCode;
use neutrino_auth::admin::{AdminUpdateUser, CreateUser, ListUsers, SearchField, SearchOperator};
use neutrino_auth::{Auth, AuthError, AuthSession, Session};
use neutrino_core::ids::UserId;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::session::{Current, require, set_session_cookies, with_cookies};
use super::wire::{Fields, Reply, query_get, session_json, user_json};
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
    ImpersonateUser,
    StopImpersonating,
    GetUser,
    CreateUser,
    UpdateUser,
    ListUserSessions,
    RevokeUserSession,
    SetUserPassword,
    HasPermission,
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
        "impersonate-user" if post => ImpersonateUser,
        "stop-impersonating" if post => StopImpersonating,
        "get-user" if get => GetUser,
        "create-user" if post => CreateUser,
        "update-user" if post => UpdateUser,
        "list-user-sessions" if post => ListUserSessions,
        "revoke-user-session" if post => RevokeUserSession,
        "set-user-password" if post => SetUserPassword,
        "has-permission" if post => HasPermission,
        _ => return None,
    })
}

pub(super) async fn handle(route: AdminRoute, ctx: &Ctx) -> Answer {
    match route {
        AdminRoute::SetRole => set_role(ctx).await,
        AdminRoute::BanUser => ban_user(ctx).await,
        AdminRoute::ListUsers => list_users(ctx).await,
        AdminRoute::ImpersonateUser => impersonate_user(ctx).await,
        AdminRoute::StopImpersonating => stop_impersonating(ctx).await,
        AdminRoute::GetUser => get_user(ctx).await,
        AdminRoute::CreateUser => create_user(ctx).await,
        AdminRoute::UpdateUser => update_user(ctx).await,
        AdminRoute::RevokeUserSession => revoke_user_session(ctx).await,
        AdminRoute::SetUserPassword => set_user_password(ctx).await,
        AdminRoute::HasPermission => has_permission(ctx).await,
        AdminRoute::UnbanUser
        | AdminRoute::RevokeUserSessions
        | AdminRoute::RemoveUser
        | AdminRoute::ListUserSessions => on_user(route, ctx).await,
    }
}

/// The caller's session token.
fn token(current: &Current) -> &str {
    &current.found.session.token
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
        .map_err(|_| admin_error(AuthError::UserNotFound))
}

/// Better Auth's 404 for `USER_NOT_FOUND` on admin routes.
fn admin_error(e: AuthError) -> ApiError {
    not_found(e.into())
}

/// `e`, as Better Auth's 404 where it is `USER_NOT_FOUND`.
fn not_found(e: ApiError) -> ApiError {
    if e.code() == "USER_NOT_FOUND" {
        ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "User not found")
    } else {
        e
    }
}

/// Better Auth's admin handler: the caller's session from the database (401
/// with an empty body without one), one library call with it (`run`, given
/// the auth and the session's token), and its answer as JSON, with the
/// cookies the session's resolution sends (on an error too); an unknown
/// user is Better Auth's 404. The body's fields are validated before, by
/// the caller.
async fn admin_call(
    ctx: &Ctx,
    run: impl AsyncFnOnce(&Auth, &str) -> Result<Value, ApiError>,
) -> Answer {
    let (current, cookies) = admin_session(ctx).await?;
    match run(ctx.platform.auth(), token(&current)).await {
        Ok(body) => Ok(Reply::json(body).cookies(cookies)),
        Err(e) => Err(with_cookies(not_found(e), cookies)),
    }
}

/// Better Auth's 400 `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` where the
/// email is another user's, as the admin routes answer it.
fn email_taken(e: AuthError) -> ApiError {
    match e {
        AuthError::UserAlreadyExists => ApiError::new(
            StatusCode::BAD_REQUEST,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            "User already exists. Use another email.",
        ),
        e => admin_error(e),
    }
}

/// A body `{userId}` (Better Auth's `z.coerce.string()`), validated.
fn user_id_body(ctx: &Ctx) -> Result<String, ApiError> {
    let mut f = Fields::new(&ctx.body, true);
    let target = coerced_string(&mut f, "userId");
    f.finish()?;
    Ok(target)
}

/// zod's `z.coerce.string()`: a string, or a number or boolean as text.
fn coerced_string(f: &mut Fields<'_>, name: &str) -> String {
    match f.raw(name) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => f.string(name),
    }
}

/// A role given as a string or an array of strings; `None` with the
/// issue recorded otherwise.
fn roles_of(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// Better Auth's 400 `INVALID_ROLE_TYPE`.
fn invalid_role_type() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_ROLE_TYPE",
        "Invalid role type",
    )
}

async fn set_role(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = coerced_string(&mut f, "userId");
    let role = match f.raw("role").and_then(roles_of) {
        Some(r) => r,
        None => {
            f.string("role");
            Vec::new()
        }
    };
    f.finish()?;
    admin_call(ctx, async move |auth, tok| {
        let roles: Vec<&str> = role.iter().map(String::as_str).collect();
        let u = auth
            .admin_set_role(tok, &user_id(&target)?, &roles, &ctx.meta)
            .await?;
        Ok(json!({ "user": u }))
    })
    .await
}

async fn ban_user(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = coerced_string(&mut f, "userId");
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
    admin_call(ctx, async move |auth, tok| {
        let u = auth
            .admin_ban_user(
                tok,
                &user_id(&target)?,
                reason.as_deref(),
                expires_in,
                &ctx.meta,
            )
            .await?;
        Ok(json!({ "user": u }))
    })
    .await
}

/// The admin routes whose body is `{userId}` alone: one library call on
/// that user.
/// - `POST /admin/unban-user`: `{"user": …}`;
/// - `POST /admin/revoke-user-sessions` and `POST /admin/remove-user`:
///   `{"success": true}`;
/// - `POST /admin/list-user-sessions`: `{"sessions": […]}`, without their
///   tokens.
async fn on_user(route: AdminRoute, ctx: &Ctx) -> Answer {
    let target = user_id_body(ctx)?;
    admin_call(ctx, async move |auth, tok| {
        let id = user_id(&target)?;
        let meta = &ctx.meta;
        let success = json!({ "success": true });
        let body = match route {
            AdminRoute::UnbanUser => auth
                .admin_unban_user(tok, &id, meta)
                .await
                .map(|u| json!({ "user": u })),
            AdminRoute::RevokeUserSessions => auth
                .admin_revoke_user_sessions(tok, &id, meta)
                .await
                .map(|_| success),
            AdminRoute::RemoveUser => auth
                .admin_remove_user(tok, &id, meta)
                .await
                .map(|()| success),
            // `ListUserSessions`, the only other route `handle` sends here.
            _ => auth
                .admin_list_user_sessions(tok, &id)
                .await
                .map(|sessions| {
                    let list: Vec<Value> = sessions.iter().map(listed_session).collect();
                    json!({ "sessions": list })
                }),
        };
        body.map_err(admin_error)
    })
    .await
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
    admin_call(ctx, async move |auth, tok| {
        let list = auth.admin_list_users(tok, &query).await?;
        let mut body = json!({ "users": list.users, "total": list.total });
        if limit.is_some() {
            body["limit"] = json!(list.limit);
        }
        if offset.is_some() {
            body["offset"] = json!(list.offset);
        }
        Ok(body)
    })
    .await
}

/// Better Auth's `POST /admin/impersonate-user`: a session of the user,
/// marked, for an hour. Cookies in Better Auth's order: the session's
/// cookies deleted, the admin's session kept in the signed `admin_session`
/// (`"<admin token>:<dont_remember>"`, the session cookie's `Max-Age`), then
/// the new session's cookie without `Max-Age` and `dont_remember`.
async fn impersonate_user(ctx: &Ctx) -> Answer {
    let target = user_id_body(ctx)?;
    let (current, cookies) = admin_session(ctx).await?;
    let run = async {
        ctx.platform
            .auth()
            .admin_impersonate_user(token(&current), &user_id(&target)?, &ctx.meta)
            .await
            .map_err(admin_error)
    };
    let signed = match run.await {
        Ok(s) => s,
        Err(e) => return Err(with_cookies(e, cookies)),
    };
    let jar = &ctx.jar;
    let mut out = jar.delete_session(&ctx.cookies);
    let remember = if current.dont_remember { "true" } else { "" };
    let max_age = ctx.platform.auth().cookies().config().max_age.as_secs();
    out.push(
        jar.set_cookie(
            jar.admin_session_name(),
            &jar.signer()
                .sign(&format!("{}:{remember}", token(&current))),
            Some(max_age),
        ),
    );
    let found = AuthSession {
        session: signed.session,
        user: signed.user,
        refreshed: false,
    };
    out.extend(set_session_cookies(ctx, &found, true));
    Ok(Reply::json(json!({
        "session": session_json(&found.session),
        "user": user_json(&found.user),
    }))
    .cookies(out))
}

/// Better Auth's 500 `{"message":"Failed to find admin session"}`.
fn no_admin_session() -> ApiError {
    ApiError::message_only(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Failed to find admin session",
    )
}

/// Better Auth's `POST /admin/stop-impersonating`: the caller's session
/// must be an impersonation session and the signed `admin_session` cookie
/// must name a live session of the admin who started it; the impersonation
/// session ends (once, whatever the concurrency), the admin's session
/// cookie is set again and `admin_session` expired.
async fn stop_impersonating(ctx: &Ctx) -> Answer {
    let (current, cookies) = admin_session(ctx).await?;
    if current.found.session.impersonated_by.is_none() {
        return Err(with_cookies(
            ApiError::message_only(StatusCode::BAD_REQUEST, "You are not impersonating anyone"),
            cookies,
        ));
    }
    let jar = &ctx.jar;
    // The signed value `"<admin token>:<dont_remember>"`; anything else is
    // no admin session at all.
    let held = ctx
        .cookies
        .get(jar.admin_session_name())
        .and_then(|v| jar.signer().verify(v).ok())
        .and_then(|v| {
            let (admin_token, remember) = v.split_once(':')?;
            (!admin_token.is_empty()).then(|| (admin_token.to_owned(), !remember.is_empty()))
        });
    let Some((admin_token, dont_remember)) = held else {
        return Err(with_cookies(no_admin_session(), cookies));
    };
    let admin = match ctx
        .platform
        .auth()
        .stop_impersonating(token(&current), &admin_token, &ctx.meta)
        .await
    {
        Ok(a) => a,
        Err(AuthError::Unauthorized) => return Err(with_cookies(no_admin_session(), cookies)),
        Err(e) => return Err(with_cookies(e.into(), cookies)),
    };
    let mut out = cookies;
    out.extend(set_session_cookies(ctx, &admin, dont_remember));
    out.push(jar.expire(jar.admin_session_name()));
    Ok(Reply::json(json!({
        "session": session_json(&admin.session),
        "user": user_json(&admin.user),
    }))
    .cookies(out))
}

/// Better Auth's `GET /admin/get-user?id`: the user itself (not wrapped).
async fn get_user(ctx: &Ctx) -> Answer {
    let Some(id) = query_get(&ctx.query, "id").map(str::to_owned) else {
        return Err(ApiError::validation(
            "[query.id] Invalid input: expected string, received undefined",
        ));
    };
    admin_call(ctx, async move |auth, tok| {
        let u = auth.admin_get_user(tok, &user_id(&id)?).await?;
        Ok(json!(u))
    })
    .await
}

/// A user field of Better Auth's `data` that this server does not take
/// over the admin routes: 400 `FIELD_NOT_ALLOWED`.
fn field_not_allowed(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "FIELD_NOT_ALLOWED",
        format!("{name} is not allowed to be set"),
    )
}

/// The `data` record of create-user and update-user: `image`
/// (string or null), `emailVerified` (boolean), `name` (string), `email`
/// (string) and `role` (string or array of strings) where `allowed`.
struct Data {
    name: Option<String>,
    email: Option<String>,
    image: Option<Option<String>>,
    email_verified: Option<bool>,
    role: Option<Vec<String>>,
}

fn parse_data(data: &Map<String, Value>, allowed: &[&str]) -> Result<Data, ApiError> {
    let mut out = Data {
        name: None,
        email: None,
        image: None,
        email_verified: None,
        role: None,
    };
    let expected = |k: &str, want: &str| {
        ApiError::validation(format!("[body.data.{k}] Invalid input: expected {want}"))
    };
    for (k, v) in data {
        if !allowed.contains(&k.as_str()) {
            return Err(match k.as_str() {
                "password" => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
                    "Password cannot be updated through update-user. Use the set-user-password endpoint instead",
                ),
                "id" => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "USER_ID_CANNOT_BE_UPDATED",
                    "User id cannot be updated",
                ),
                _ => field_not_allowed(k),
            });
        }
        match (k.as_str(), v) {
            ("name", Value::String(s)) => out.name = Some(s.clone()),
            ("name", _) => return Err(expected(k, "string")),
            ("email", Value::String(s)) => out.email = Some(s.clone()),
            ("email", _) => return Err(expected(k, "string")),
            ("image", Value::String(s)) => out.image = Some(Some(s.clone())),
            ("image", Value::Null) => out.image = Some(None),
            ("image", _) => return Err(expected(k, "string")),
            ("emailVerified", Value::Bool(b)) => out.email_verified = Some(*b),
            ("emailVerified", _) => return Err(expected(k, "boolean")),
            ("role", v) => out.role = Some(roles_of(v).ok_or_else(invalid_role_type)?),
            _ => return Err(field_not_allowed(k)),
        }
    }
    Ok(out)
}

/// Better Auth's `POST /admin/create-user {email, password?, name, role?,
/// data?}`: `{"user": …}`; a taken address is 400 here.
async fn create_user(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let email = f.string("email");
    let password = f.opt_string("password");
    let name = f.string("name");
    let role = match f.raw("role") {
        None => None,
        Some(v) => match roles_of(v) {
            Some(r) => Some(r),
            None => {
                f.string("role");
                None
            }
        },
    };
    let data = match f.raw("data") {
        None => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            f.string("data");
            None
        }
    };
    f.finish()?;
    let data = match data {
        Some(m) => parse_data(m, &["role", "image", "emailVerified"])?,
        None => parse_data(&Map::new(), &[])?,
    };
    admin_call(ctx, async move |auth, tok| {
        let req = CreateUser {
            email,
            password,
            name,
            roles: role.or(data.role),
            image: data.image.flatten(),
            email_verified: data.email_verified.unwrap_or(false),
        };
        let u = auth
            .admin_create_user(tok, req, &ctx.meta)
            .await
            .map_err(email_taken)?;
        Ok(json!({ "user": u }))
    })
    .await
}

/// Better Auth's `POST /admin/update-user {userId, data}`: the user itself
/// (not wrapped). `data` takes `name`, `email`, `image`, `emailVerified`
/// and `role`; bans go through ban-user and unban-user.
async fn update_user(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let target = coerced_string(&mut f, "userId");
    let data = match f.raw("data") {
        Some(Value::Object(m)) => Some(m),
        _ => {
            f.string("data");
            None
        }
    };
    f.finish()?;
    let data = data.cloned().unwrap_or_default();
    admin_call(ctx, async move |auth, tok| {
        if data.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "NO_DATA_TO_UPDATE",
                "No data to update",
            ));
        }
        let d = parse_data(&data, &["name", "email", "image", "emailVerified", "role"])?;
        let update = AdminUpdateUser {
            name: d.name,
            image: d.image,
            email: d.email,
            email_verified: d.email_verified,
            roles: d.role,
        };
        let u = auth
            .admin_update_user(tok, &user_id(&target)?, update, &ctx.meta)
            .await
            .map_err(email_taken)?;
        Ok(json!(u))
    })
    .await
}

/// A session as the admin routes show it: Better Auth's fields with
/// `impersonatedBy`, without its token (a bearer credential).
fn listed_session(s: &Session) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.entry("impersonatedBy").or_insert(Value::Null);
    }
    v
}

/// Better Auth's `POST /admin/revoke-user-session {sessionToken}` (a
/// session's token or ID): `{"success": true}`, whether or not it existed.
async fn revoke_user_session(ctx: &Ctx) -> Answer {
    let session = Fields::only_string(&ctx.body, "sessionToken")?;
    admin_call(ctx, async move |auth, tok| {
        auth.admin_revoke_user_session(tok, &session, &ctx.meta)
            .await?;
        Ok(json!({ "success": true }))
    })
    .await
}

/// Better Auth's `POST /admin/set-user-password {newPassword, userId}`:
/// `{"status": true}`.
async fn set_user_password(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let password = f.string("newPassword");
    let target = coerced_string(&mut f, "userId");
    f.finish()?;
    let mut issues = Vec::new();
    if password.is_empty() {
        issues.push("[body.newPassword] newPassword cannot be empty");
    }
    if target.is_empty() {
        issues.push("[body.userId] userId cannot be empty");
    }
    if !issues.is_empty() {
        return Err(ApiError::validation(issues.join("; ")));
    }
    admin_call(ctx, async move |auth, tok| {
        auth.admin_set_user_password(tok, &user_id(&target)?, &password, &ctx.meta)
            .await?;
        Ok(json!({ "status": true }))
    })
    .await
}

/// A record of arrays of strings (`{"user": ["create"]}`), or `None`.
fn permission_record(v: &Value) -> Option<Vec<(String, Vec<String>)>> {
    let Value::Object(m) = v else { return None };
    m.iter()
        .map(|(k, v)| {
            let Value::Array(items) = v else { return None };
            let actions = items
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?;
            Some((k.clone(), actions))
        })
        .collect()
}

/// Better Auth's `POST /admin/has-permission {permissions}`: whether the
/// caller holds them, `{"error": null, "success": …}`. Over HTTP the
/// caller's own session decides (Better Auth ignores `userId` and `role`
/// when there is one, and a request without one is 401).
async fn has_permission(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let _user = f.raw("userId").map(|_| coerced_string(&mut f, "userId"));
    let _role = f.opt_string("role");
    let (one, many) = (f.raw("permission"), f.raw("permissions"));
    let record = match (one, many) {
        (Some(_), Some(_)) | (None, None) => {
            f.string("permissions");
            None
        }
        (Some(v), None) | (None, Some(v)) => match permission_record(v) {
            Some(r) => Some(r),
            None => {
                f.string("permissions");
                None
            }
        },
    };
    f.finish()?;
    if many.is_none() {
        return Err(ApiError::message_only(
            StatusCode::BAD_REQUEST,
            "invalid permission check. no permission(s) were passed.",
        ));
    }
    let permissions = record.unwrap_or_default();
    admin_call(ctx, async move |auth, tok| {
        let success = auth.admin_has_permission(tok, &permissions).await?;
        Ok(json!({ "error": null, "success": success }))
    })
    .await
}
