//! Social sign-in: `POST /sign-in/social` and `GET /callback/:provider`, on
//! [`Auth::sign_in_social`](neutrino_auth::Auth::sign_in_social) and
//! [`Auth::social_callback`](neutrino_auth::Auth::social_callback).
//!
//! * `POST /sign-in/social` takes Better Auth's body (`provider`,
//!   `callbackURL`, `errorCallbackURL`, `newUserCallbackURL`,
//!   `disableRedirect`, `loginHint`, sent to the provider as `login_hint`)
//!   and answers `{url, redirect}` (with `Location` unless
//!   `disableRedirect`), and sets the signed `{prefix}.state` cookie (5
//!   minutes) that binds the handshake to this browser. An unknown provider
//!   is 404 `PROVIDER_NOT_FOUND`; an untrusted redirect target 403
//!   `INVALID_CALLBACK_URL` (the router's check of every callback field
//!   answers first). Sign-in with an ID token (`idToken`) is not offered:
//!   404 `ID_TOKEN_NOT_SUPPORTED`.
//! * `GET /callback/:provider` completes the handshake: the session cookie
//!   is set as sign-in sets it and the answer is a 302 to the callback URL
//!   (the new-user URL for a new user); on an error, a 302 to the error URL
//!   (the sign-in's `errorCallbackURL`, else `/error`) with `?error=<code>`.
//!   The state cookie is expired either way.

use axum::http::{HeaderValue, StatusCode, header};
use neutrino_auth::AuthSession;
use neutrino_auth::oauth::social::{SocialCallbackError, SocialSignIn, SocialSignedIn};
use neutrino_auth::oauth::{Authorization, CallbackParams};
use serde_json::json;

use super::Ctx;
use super::session::set_session_cookies;
use super::wire::{Fields, Reply, query_get};
use crate::ApiError;

type Answer = Result<Reply, ApiError>;

/// Lifetime of the state cookie (Better Auth: 5 minutes).
const STATE_COOKIE_MAX_AGE: u64 = 300;

/// The routes of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SocialRoute {
    SignIn,
    /// The provider's ID is the rest of the path.
    Callback,
}

pub(super) fn route(get: bool, post: bool, path: &str) -> Option<SocialRoute> {
    if post && path == "/sign-in/social" {
        return Some(SocialRoute::SignIn);
    }
    let id = path.strip_prefix("/callback/")?;
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (get && valid).then_some(SocialRoute::Callback)
}

pub(super) async fn handle(route: SocialRoute, ctx: &Ctx) -> Answer {
    match route {
        SocialRoute::SignIn => sign_in_social(ctx).await,
        SocialRoute::Callback => {
            let id = ctx.path.trim_start_matches("/callback/");
            callback(ctx, id).await
        }
    }
}

fn state_cookie_name(ctx: &Ctx) -> String {
    let config = ctx.platform.auth().cookies().config();
    let secure = if config.secure { "__Secure-" } else { "" };
    format!("{secure}{}.state", config.prefix)
}

async fn sign_in_social(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let provider = f.string("provider");
    let callback_url = f.opt_string("callbackURL");
    let error_callback_url = f.opt_string("errorCallbackURL");
    let new_user_callback_url = f.opt_string("newUserCallbackURL");
    let disable_redirect = f.opt_bool("disableRedirect").unwrap_or(false);
    let login_hint = f.opt_string("loginHint");
    let id_token = f.raw("idToken").is_some_and(|v| !v.is_null());
    f.finish()?;
    let auth = ctx.platform.auth();
    if auth.social_provider(&provider).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "PROVIDER_NOT_FOUND",
            "Provider not found",
        ));
    }
    if id_token {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ID_TOKEN_NOT_SUPPORTED",
            "id token not supported",
        ));
    }
    let started = auth
        .sign_in_social(SocialSignIn {
            provider,
            callback_url,
            error_callback_url,
            new_user_callback_url,
            login_hint,
        })
        .await
        .map_err(oauth_error)?;
    Ok(authorization_reply(ctx, &started, !disable_redirect))
}

/// The answer of a sign-in that starts a handshake (social or SSO):
/// `{url, redirect}`, `Location` when `redirect`, and the signed state
/// cookie that binds the handshake to this browser.
pub(super) fn authorization_reply(ctx: &Ctx, started: &Authorization, redirect: bool) -> Reply {
    let auth = ctx.platform.auth();
    let cookie = ctx.jar.set_cookie(
        &state_cookie_name(ctx),
        &auth.cookies().sign(&started.state),
        Some(STATE_COOKIE_MAX_AGE),
    );
    let mut reply =
        Reply::json(json!({ "url": started.url, "redirect": redirect })).cookies([cookie]);
    if redirect && let Ok(v) = HeaderValue::from_str(&started.url) {
        reply = reply.header(header::LOCATION, v);
    }
    reply
}

pub(super) fn oauth_error(e: neutrino_auth::oauth::OAuthError) -> ApiError {
    use neutrino_auth::oauth::OAuthError as E;
    match e {
        E::Auth(a) => a.into(),
        E::ProviderNotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "PROVIDER_NOT_FOUND",
            "Provider not found",
        ),
        E::InvalidCallbackUrl => ApiError::new(
            StatusCode::FORBIDDEN,
            "INVALID_CALLBACK_URL",
            "Invalid callbackURL",
        ),
        other => {
            tracing::warn!(error = %other, "social sign-in could not start");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "PROVIDER_UNAVAILABLE",
                "The identity provider could not be reached",
            )
        }
    }
}

async fn callback(ctx: &Ctx, provider: &str) -> Answer {
    let params = callback_params(ctx);
    let name = state_cookie_name(ctx);
    let done = ctx
        .platform
        .auth()
        .social_callback(provider, &params, ctx.cookies.get(&name), &ctx.meta)
        .await;
    Ok(callback_reply(ctx, provider, done))
}

/// The callback's query.
pub(super) fn callback_params(ctx: &Ctx) -> CallbackParams {
    let param = |name| query_get(&ctx.query, name).map(str::to_owned);
    CallbackParams {
        code: param("code"),
        state: param("state"),
        error: param("error"),
        iss: param("iss"),
    }
}

/// The request's signed state cookie, as sent.
pub(super) fn state_cookie(ctx: &Ctx) -> Option<&str> {
    ctx.cookies.get(&state_cookie_name(ctx))
}

/// The answer of a callback (social or SSO): the session cookies and a 302
/// to the callback URL, or a 302 to the error URL; the state cookie expired
/// either way.
pub(super) fn callback_reply(
    ctx: &Ctx,
    provider: &str,
    done: Result<SocialSignedIn, SocialCallbackError>,
) -> Reply {
    let expire_state = ctx.jar.expire(&state_cookie_name(ctx));
    match done {
        Ok(done) => {
            let found = AuthSession {
                session: done.signed_in.session.clone(),
                user: done.signed_in.user.clone(),
                refreshed: false,
            };
            let mut cookies = set_session_cookies(ctx, &found, !done.signed_in.remember_me);
            cookies.push(expire_state);
            Reply::redirect(&done.redirect).cookies(cookies)
        }
        Err(e) => {
            tracing::info!(error = %e.error, provider, "sign-in callback refused");
            Reply::redirect(&e.redirect).cookies([expire_state])
        }
    }
}
