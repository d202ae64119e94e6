//! Better Auth's core endpoints (§2 of the facts).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use neutrino_auth::user::{DeleteUser, UpdateUser};
use neutrino_auth::{AuthError, ChangePassword, SignInEmail, SignInOutcome, SignUpEmail};
use serde_json::{Value, json};

use super::session::{
    self, Read, Resolved, cached_json, require, set_session_cookies, with_cookies, with_token,
};
use super::wire::{
    Fields, OwnSession, Reply, SessionAndUser, looks_like_email, query_get, session_json, user_json,
};
use super::{Ctx, Route};
use crate::ApiError;

type Answer = Result<Reply, ApiError>;

pub(super) async fn handle(route: Route, ctx: &Ctx) -> Answer {
    match route {
        Route::SignUpEmail => sign_up_email(ctx).await,
        Route::SignInEmail => sign_in_email(ctx).await,
        Route::SignOut => sign_out(ctx).await,
        Route::GetSession => get_session(ctx).await,
        Route::GetSessionPost => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED",
            "POST method requires deferSessionRefresh to be enabled in session config",
        )),
        Route::ListSessions => list_sessions(ctx).await,
        Route::RevokeSession => revoke_session(ctx).await,
        Route::RevokeSessions => revoke_sessions(ctx, false).await,
        Route::RevokeOtherSessions => revoke_sessions(ctx, true).await,
        Route::UpdateUser => update_user(ctx).await,
        Route::ChangePassword => change_password(ctx).await,
        Route::ChangeEmail => change_email(ctx).await,
        Route::DeleteUser => delete_user(ctx).await,
        Route::DeleteUserCallback => delete_user_callback(ctx).await,
        Route::VerifyPassword => verify_password(ctx).await,
        Route::ListAccounts => list_accounts(ctx).await,
        Route::UpdateSession => update_session(ctx).await,
        Route::RequestPasswordReset => request_password_reset(ctx).await,
        Route::ResetPasswordCallback => reset_password_callback(ctx),
        Route::ResetPassword => reset_password(ctx).await,
        Route::SendVerificationEmail => send_verification_email(ctx).await,
        Route::VerifyEmail => verify_email(ctx).await,
        Route::Ok => Ok(Reply::json(json!({ "ok": true }))),
        Route::Error => Ok(error_page(ctx)),
        Route::Org(r) => super::org::handle(r, ctx).await,
        Route::TwoFactor(r) => super::two_factor::handle(r, ctx).await,
        Route::ApiKey(r) => super::api_key::handle(r, ctx).await,
        Route::Admin(r) => super::admin::handle(r, ctx).await,
        Route::Social(r) => super::social::handle(r, ctx).await,
        Route::Sso(r) => super::sso::handle(r, ctx).await,
    }
}

/// The user fields sign-up refuses (`input: false` without a default in
/// Better Auth's admin plugin), when truthy.
const NOT_SETTABLE: [&str; 3] = ["role", "banReason", "banExpires"];

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn field_not_allowed(fields: &Fields<'_>) -> Result<(), ApiError> {
    for name in NOT_SETTABLE {
        if truthy(fields.raw(name)) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "FIELD_NOT_ALLOWED",
                format!("{name} is not allowed to be set"),
            ));
        }
    }
    Ok(())
}

async fn sign_up_email(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let name = f.string("name");
    let email = f.email("email");
    let password = f.string("password");
    let image = f.opt_string("image");
    let _callback = f.opt_string("callbackURL");
    let remember_me = f.opt_bool("rememberMe");
    let field_check = field_not_allowed(&f);
    f.finish()?;
    field_check?;
    if password.is_empty() {
        return Err(ApiError::validation(
            "[body.password] Too small: expected string to have >=1 characters",
        ));
    }
    let req = SignUpEmail {
        name,
        email,
        password,
        image,
        remember_me: remember_me.unwrap_or(true),
    };
    let auth = ctx.platform.auth();
    let signed = auth.sign_up_email(req, &ctx.meta).await?;
    let user = user_json(&signed.user);
    match &signed.session {
        None => Ok(Reply::json(json!({ "token": null, "user": user }))),
        Some(s) => {
            let token = s.token.clone();
            let dont_remember = !signed.remember_me;
            let found = neutrino_auth::AuthSession {
                session: s.clone(),
                user: signed.user.clone(),
                refreshed: false,
            };
            Ok(
                Reply::json(json!({ "token": token, "user": user })).cookies(set_session_cookies(
                    ctx,
                    &found,
                    dont_remember,
                )),
            )
        }
    }
}

async fn sign_in_email(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let email = f.string("email");
    let password = f.string("password");
    let callback = f.opt_string("callbackURL");
    let remember_me = f.opt_bool("rememberMe");
    f.finish()?;
    if !looks_like_email(email.trim()) {
        return Err(AuthError::InvalidEmail.into());
    }
    let req = SignInEmail {
        email,
        password,
        remember_me: remember_me.unwrap_or(true),
    };
    let auth = ctx.platform.auth();
    let trust = super::two_factor::trust_cookie(ctx);
    let signed_in = auth
        .sign_in_email_trusting(req, trust.as_deref(), &ctx.meta)
        .await?;
    match signed_in.outcome {
        SignInOutcome::SignedIn(signed) => {
            let found = neutrino_auth::AuthSession {
                session: signed.session.clone(),
                user: signed.user.clone(),
                refreshed: false,
            };
            let cookies = set_session_cookies(ctx, &found, !signed.remember_me);
            let mut body = json!({
                "redirect": callback.is_some(),
                "token": signed.session.token,
                "user": user_json(&signed.user),
            });
            let mut reply;
            if let Some(url) = &callback {
                body["url"] = Value::String(url.clone());
                reply = Reply::json(body);
                if let Ok(v) = HeaderValue::from_str(url) {
                    reply = reply.header(header::LOCATION, v);
                }
            } else {
                reply = Reply::json(body);
            }
            let refreshed = signed_in.trust_device.as_deref();
            let trust_cookie = refreshed.map(|v| super::two_factor::set_trust_cookie(ctx, v));
            Ok(reply.cookies(cookies).cookies(trust_cookie))
        }
        SignInOutcome::TwoFactorRequired(challenge) => {
            let jar = &ctx.jar;
            let mut cookies = vec![jar.expire(jar.session_token_name())];
            cookies.extend(jar.expire_session_data(&ctx.cookies));
            if !remember_me.unwrap_or(true) {
                cookies.push(jar.dont_remember());
            }
            cookies.push(super::two_factor::challenge_cookie(ctx, &challenge));
            // Better Auth expires a trust cookie that did not skip the
            // second factor.
            if trust.is_some() {
                cookies.push(super::two_factor::expire_trust_cookie(ctx));
            }
            Ok(Reply::json(json!({
                "twoFactorRedirect": true,
                "twoFactorMethods": ["totp"],
            }))
            .cookies(cookies))
        }
    }
}

async fn sign_out(ctx: &Ctx) -> Answer {
    let jar = &ctx.jar;
    let token = ctx
        .cookies
        .get(jar.session_token_name())
        .and_then(|v| jar.signer().verify(v).ok());
    if let Some(token) = token {
        ctx.platform.auth().sign_out(&token, &ctx.meta).await?;
    }
    Ok(Reply::json(json!({ "success": true })).cookies(jar.delete_session(&ctx.cookies)))
}

/// `z.coerce.boolean()` fixed: absent, empty, `false` and `0` are false.
fn query_flag(ctx: &Ctx, name: &str) -> bool {
    query_get(&ctx.query, name).is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v.eq_ignore_ascii_case("false") || v == "0")
    })
}

async fn get_session(ctx: &Ctx) -> Answer {
    let read = Read::MayUseCache {
        disable_cache: query_flag(ctx, "disableCookieCache"),
        disable_refresh: query_flag(ctx, "disableRefresh"),
    };
    let (resolved, cookies) = session::resolve(ctx, read).await?;
    let reply = match resolved {
        Resolved::None => Reply::json(Value::Null),
        Resolved::Cached(hit) => Reply::json(cached_json(hit)),
        Resolved::Found(c) => Reply::json_of(&SessionAndUser {
            session: OwnSession::of(&c.found.session),
            user: &c.found.user,
        })?,
    };
    Ok(reply
        .cookies(cookies)
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
        .header(header::PRAGMA, HeaderValue::from_static("no-cache")))
}

async fn list_sessions(ctx: &Ctx) -> Answer {
    let (current, cookies) = require(ctx).await?;
    let auth = ctx.platform.auth();
    if !auth.is_fresh(&current.found.session) {
        return Err(with_cookies(AuthError::SessionNotFresh.into(), cookies));
    }
    let sessions = auth.list_sessions(&current.found.user.id).await?;
    let list: Vec<Value> = sessions
        .iter()
        .filter(|s| s.impersonated_by.is_none())
        .map(session_json)
        .collect();
    Ok(Reply::json(Value::Array(list)).cookies(cookies))
}

async fn revoke_session(ctx: &Ctx) -> Answer {
    let token = Fields::only_string(&ctx.body, "token")?;
    let (current, mut cookies) = require(ctx).await?;
    let auth = ctx.platform.auth();
    auth.revoke_session(&current.found.user.id, &token, &ctx.meta)
        .await?;
    if token == current.found.session.token {
        cookies = ctx.jar.delete_session(&ctx.cookies);
    }
    Ok(Reply::json(json!({ "status": true })).cookies(cookies))
}

async fn revoke_sessions(ctx: &Ctx, others_only: bool) -> Answer {
    let (current, cookies) = require(ctx).await?;
    let auth = ctx.platform.auth();
    let user = &current.found.user.id;
    if others_only {
        auth.revoke_other_sessions(user, &current.found.session.token, &ctx.meta)
            .await?;
        Ok(Reply::json(json!({ "status": true })).cookies(cookies))
    } else {
        auth.revoke_sessions(user, &ctx.meta).await?;
        Ok(Reply::json(json!({ "status": true })).cookies(ctx.jar.delete_session(&ctx.cookies)))
    }
}

async fn update_user(ctx: &Ctx) -> Answer {
    if !matches!(&ctx.body, super::wire::Body::Json(Value::Object(_))) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BODY_MUST_BE_AN_OBJECT",
            "Body must be an object",
        ));
    }
    let mut f = Fields::new(&ctx.body, true);
    let name = f.opt_string("name");
    let image = f.nullable_string("image");
    let email_set = truthy(f.raw("email"));
    let field_check = field_not_allowed(&f);
    f.finish()?;
    if email_set {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "EMAIL_CAN_NOT_BE_UPDATED",
            "Email can not be updated",
        ));
    }
    field_check?;
    let (current, _) = require(ctx).await?;
    let auth = ctx.platform.auth();
    let user = auth
        .update_user(
            &current.found.session.token,
            UpdateUser { name, image },
            &ctx.meta,
        )
        .await?;
    let found = neutrino_auth::AuthSession {
        session: current.found.session.clone(),
        user,
        refreshed: false,
    };
    Ok(
        Reply::json(json!({ "status": true })).cookies(set_session_cookies(
            ctx,
            &found,
            current.dont_remember,
        )),
    )
}

async fn change_password(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let new_password = f.string("newPassword");
    let current_password = f.string("currentPassword");
    let revoke = f.opt_bool("revokeOtherSessions").unwrap_or(false);
    f.finish()?;
    let (current, cookies) = require(ctx).await?;
    let auth = ctx.platform.auth();
    let token = current.found.session.token.clone();
    auth.change_password(
        &current.found.user.id,
        ChangePassword {
            current_password,
            new_password,
            revoke_other_sessions: revoke,
        },
        Some(&token),
        &ctx.meta,
    )
    .await
    .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    if revoke {
        Ok(Reply::json(json!({
            "token": token,
            "user": user_json(&current.found.user),
        }))
        .cookies(set_session_cookies(
            ctx,
            &current.found,
            current.dont_remember,
        )))
    } else {
        Ok(
            Reply::json(json!({ "token": null, "user": user_json(&current.found.user) }))
                .cookies(cookies),
        )
    }
}

async fn change_email(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let new_email = f.email("newEmail");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    let (current, cookies) = require(ctx).await?;
    ctx.platform
        .auth()
        .change_email(
            &current.found.session.token,
            &new_email,
            callback.as_deref(),
            &ctx.meta,
        )
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::json(json!({ "status": true })).cookies(cookies))
}

/// Better Auth: deletion not enabled is a 404 without a body.
fn deletion_error(e: AuthError, cookies: Vec<String>) -> ApiError {
    match e {
        AuthError::Store(neutrino_core::Error::NotFound { .. }) => {
            with_cookies(ApiError::empty(StatusCode::NOT_FOUND), cookies)
        }
        // Better Auth answers a bad deletion token with 404.
        AuthError::InvalidToken => with_cookies(
            ApiError::new(StatusCode::NOT_FOUND, "INVALID_TOKEN", "Invalid token"),
            cookies,
        ),
        e => with_cookies(e.into(), cookies),
    }
}

fn user_deleted() -> Value {
    json!({ "success": true, "message": "User deleted" })
}

async fn delete_user(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, false);
    let password = f.opt_string("password");
    let token = f.opt_string("token");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    let (current, cookies) = require(ctx).await?;
    let auth = ctx.platform.auth();
    let session_token = &current.found.session.token;
    if let Some(token) = token {
        if let Some(p) = password.as_deref() {
            auth.verify_password(session_token, p)
                .await
                .map_err(|e| deletion_error(e, cookies.clone()))?;
        }
        auth.delete_user_with_token(session_token, &token, &ctx.meta)
            .await
            .map_err(|e| deletion_error(e, cookies.clone()))?;
        return Ok(Reply::json(user_deleted()).cookies(ctx.jar.delete_session(&ctx.cookies)));
    }
    let done = auth
        .request_delete_user(
            session_token,
            password.as_deref(),
            callback.as_deref(),
            &ctx.meta,
        )
        .await
        .map_err(|e| deletion_error(e, cookies.clone()))?;
    Ok(match done {
        DeleteUser::Deleted => {
            Reply::json(user_deleted()).cookies(ctx.jar.delete_session(&ctx.cookies))
        }
        DeleteUser::VerificationSent => Reply::json(json!({
            "success": true,
            "message": "Verification email sent",
        }))
        .cookies(cookies),
    })
}

/// `GET /delete-user/callback?token=&callbackURL=`: the mailed link, opened
/// by its owner signed in.
async fn delete_user_callback(ctx: &Ctx) -> Answer {
    let callback = query_get(&ctx.query, "callbackURL");
    let Some(token) = query_get(&ctx.query, "token") else {
        return Err(ApiError::validation(
            "[query.token] Invalid input: expected string, received undefined",
        ));
    };
    let auth = ctx.platform.auth();
    // Better Auth's `originCheck` on the callback: no open redirect.
    if callback.is_some_and(|cb| !auth.is_safe_callback(cb)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "INVALID_CALLBACK_URL",
            "Invalid callbackURL",
        ));
    }
    let (resolved, cookies) = session::resolve(ctx, Read::Database).await?;
    let Resolved::Found(current) = resolved else {
        return Err(with_cookies(
            ApiError::new(
                StatusCode::NOT_FOUND,
                "FAILED_TO_GET_USER_INFO",
                "Failed to get user info",
            ),
            cookies,
        ));
    };
    auth.delete_user_with_token(&current.found.session.token, token, &ctx.meta)
        .await
        .map_err(|e| match e {
            AuthError::Store(neutrino_core::Error::NotFound { .. }) => {
                ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found")
            }
            e => deletion_error(e, cookies.clone()),
        })?;
    let gone = ctx.jar.delete_session(&ctx.cookies);
    Ok(match callback {
        Some(cb) => Reply::redirect(cb).cookies(gone),
        None => Reply::json(user_deleted()).cookies(gone),
    })
}

/// `POST /verify-password`: `{password}` → `{status: true}`.
async fn verify_password(ctx: &Ctx) -> Answer {
    let password = Fields::only_string(&ctx.body, "password")?;
    with_token(ctx, async |token| {
        ctx.platform
            .auth()
            .verify_password(token, &password)
            .await?;
        Ok(json!({ "status": true }))
    })
    .await
}

/// `GET /list-accounts`: the caller's accounts, without tokens or password.
async fn list_accounts(ctx: &Ctx) -> Answer {
    let (current, cookies) = require(ctx).await?;
    let accounts = ctx
        .platform
        .auth()
        .list_accounts(&current.found.user.id)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    let list = serde_json::to_value(accounts).unwrap_or_else(|_| json!([]));
    Ok(Reply::json(list).cookies(cookies))
}

/// `POST /update-session`: sessions have no additional fields here, so
/// every object body is Better Auth's `No fields to update`.
async fn update_session(ctx: &Ctx) -> Answer {
    if !matches!(&ctx.body, super::wire::Body::Json(Value::Object(_))) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BODY_MUST_BE_AN_OBJECT",
            "Body must be an object",
        ));
    }
    let (_, cookies) = require(ctx).await?;
    Err(with_cookies(
        ApiError::message_only(StatusCode::BAD_REQUEST, "No fields to update"),
        cookies,
    ))
}

const RESET_SENT: &str = "If this email exists in our system, check your email for the reset link";

async fn request_password_reset(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let email = f.email("email");
    let redirect_to = f.opt_string("redirectTo");
    f.finish()?;
    ctx.platform
        .auth()
        .request_password_reset(&email, redirect_to.as_deref(), &ctx.meta)
        .await?;
    Ok(Reply::json(
        json!({ "status": true, "message": RESET_SENT }),
    ))
}

fn reset_password_callback(ctx: &Ctx) -> Answer {
    let token = ctx.path.trim_start_matches("/reset-password/");
    let Some(callback) = query_get(&ctx.query, "callbackURL") else {
        return Err(ApiError::validation(
            "[query.callbackURL] Invalid input: expected string, received undefined",
        ));
    };
    if !ctx.platform.auth().is_safe_callback(callback) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "INVALID_CALLBACK_URL",
            "Invalid callbackURL",
        ));
    }
    let token_ok = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let sep = if callback.contains('?') { '&' } else { '?' };
    let location = if token_ok {
        format!("{callback}{sep}token={token}")
    } else {
        format!("{callback}{sep}error=INVALID_TOKEN")
    };
    Ok(Reply::redirect(&location))
}

async fn reset_password(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let new_password = f.string("newPassword");
    let token = f.opt_string("token");
    f.finish()?;
    let token = token.or_else(|| query_get(&ctx.query, "token").map(str::to_owned));
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(AuthError::InvalidToken.into());
    };
    ctx.platform
        .auth()
        .reset_password(&token, &new_password, &ctx.meta)
        .await?;
    Ok(Reply::json(json!({ "status": true })))
}

/// Without a session the answer takes at least this long, as in Better
/// Auth: known and unknown addresses cost the same.
const BLIND_ANSWER: Duration = Duration::from_millis(500);

async fn send_verification_email(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let email = f.email("email");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    let (resolved, cookies) = session::resolve(ctx, Read::Database).await?;
    let auth = ctx.platform.auth();
    match resolved {
        Resolved::Found(current) => {
            let user = &current.found.user;
            if !user.email.eq_ignore_ascii_case(email.trim()) {
                return Err(with_cookies(
                    ApiError::new(StatusCode::BAD_REQUEST, "EMAIL_MISMATCH", "Email mismatch"),
                    cookies,
                ));
            }
            if user.email_verified {
                return Err(with_cookies(
                    AuthError::EmailAlreadyVerified.into(),
                    cookies,
                ));
            }
            auth.send_verification_email(&user.email, callback.as_deref())
                .await
                .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
            Ok(Reply::json(json!({ "status": true })).cookies(cookies))
        }
        _ => {
            let started = tokio::time::Instant::now();
            let result = auth
                .send_verification_email(&email, callback.as_deref())
                .await;
            tokio::time::sleep_until(started + BLIND_ANSWER).await;
            result.map_err(|e| with_cookies(e.into(), cookies.clone()))?;
            Ok(Reply::json(json!({ "status": true })).cookies(cookies))
        }
    }
}

async fn verify_email(ctx: &Ctx) -> Answer {
    let callback = query_get(&ctx.query, "callbackURL");
    if let Some(cb) = callback
        && !ctx.platform.auth().is_safe_callback(cb)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "INVALID_CALLBACK_URL",
            "Invalid callbackURL",
        ));
    }
    let Some(token) = query_get(&ctx.query, "token") else {
        return Err(ApiError::validation(
            "[query.token] Invalid input: expected string, received undefined",
        ));
    };
    let result = ctx.platform.auth().verify_email(token, &ctx.meta).await;
    match (result, callback) {
        (Ok(_), Some(cb)) => Ok(Reply::redirect(cb)),
        (Ok(_), None) => Ok(Reply::json(json!({ "status": true, "user": null }))),
        (Err(e), Some(cb)) if e.status() < 500 => {
            let sep = if cb.contains('?') { '&' } else { '?' };
            Ok(Reply::redirect(&format!("{cb}{sep}error={}", e.code())))
        }
        // Better Auth answers a bad verification token with 401.
        (Err(AuthError::InvalidToken), None) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "Invalid token",
        )),
        (Err(e), _) => Err(e.into()),
    }
}

/// Better Auth's `GET /error` page: the code if it is made of
/// `['A-Za-z0-9_-]`, else `UNKNOWN`; nothing else of the request is shown.
fn error_page(ctx: &Ctx) -> Reply {
    let code = query_get(&ctx.query, "error")
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 200
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"'_-".contains(&b))
        })
        .unwrap_or("UNKNOWN")
        .replace('\'', "&#39;");
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>\
         <body><h1>Something went wrong</h1><p>Error code: <code>{code}</code></p></body></html>"
    );
    Reply::text("text/html", page)
}
