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
//!   answers first). With `idToken: {token, nonce?, accessToken?,
//!   refreshToken?}` (OIDC providers; others 404 `ID_TOKEN_NOT_SUPPORTED`)
//!   the token is verified as a callback's and the answer is the session
//!   cookies and `{redirect: false, token, user}`; a token that fails
//!   verification is 401 `INVALID_TOKEN`. `requestSignUp` lets a provider
//!   with implicit sign-up disabled create a user.
//! * `GET /callback/:provider` completes the handshake: the session cookie
//!   is set as sign-in sets it and the answer is a 302 to the callback URL
//!   (the new-user URL for a new user); on an error, a 302 to the error URL
//!   (the sign-in's `errorCallbackURL`, else `/error`) with `?error=<code>`.
//!   The state cookie is expired either way. The callback of a link
//!   handshake links and answers a 302 to its callback URL without a
//!   session cookie (nobody is signed in).
//! * The caller's provider accounts
//!   ([`neutrino_auth::oauth::accounts`]), a session required (401
//!   `UNAUTHORIZED`): `POST /link-social` (Better Auth's body; answers as
//!   `/sign-in/social` does; an `idToken` is 404 `ID_TOKEN_NOT_SUPPORTED`),
//!   `POST /unlink-account` (`{accountId}` — the account's ID — or
//!   `{providerId, accountId?}`; a fresh session; `{status: true}`, 400
//!   `ACCOUNT_NOT_FOUND` or `FAILED_TO_UNLINK_LAST_ACCOUNT`),
//!   `POST /get-access-token` (`{accessToken, accessTokenExpiresAt?,
//!   scopes, idToken?}`, 400 `FAILED_TO_GET_ACCESS_TOKEN`),
//!   `POST /refresh-token` (`{accessToken, refreshToken,
//!   accessTokenExpiresAt?, refreshTokenExpiresAt?, scope?, idToken?,
//!   providerId, accountId}`, 400 `FAILED_TO_REFRESH_ACCESS_TOKEN` or
//!   `REFRESH_TOKEN_NOT_FOUND`) and `GET /account-info?accountId=`
//!   (`{user, data, account: {id, providerId, accountId}}`, 401
//!   `FAILED_TO_GET_USER_INFO`). Another user's account answers
//!   `ACCOUNT_NOT_FOUND`, as a missing one.

use axum::http::{HeaderValue, StatusCode, header};
use neutrino_auth::AuthSession;
use neutrino_auth::oauth::accounts::{AccountSelector, LinkSocial};
use neutrino_auth::oauth::social::{
    SocialCallback, SocialCallbackError, SocialIdTokenSignIn, SocialSignIn, SocialSignedIn,
};
use neutrino_auth::oauth::{Authorization, CallbackParams, OAuthError};
use serde_json::{Value, json};

use super::Ctx;
use super::session::{require, set_session_cookies, with_cookies, with_token};
use super::wire::{Fields, Reply, query_get, user_json};
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
    LinkSocial,
    UnlinkAccount,
    GetAccessToken,
    RefreshToken,
    AccountInfo,
}

pub(super) fn route(get: bool, post: bool, path: &str) -> Option<SocialRoute> {
    match path {
        "/sign-in/social" if post => return Some(SocialRoute::SignIn),
        "/link-social" if post => return Some(SocialRoute::LinkSocial),
        "/unlink-account" if post => return Some(SocialRoute::UnlinkAccount),
        "/get-access-token" if post => return Some(SocialRoute::GetAccessToken),
        "/refresh-token" if post => return Some(SocialRoute::RefreshToken),
        "/account-info" if get => return Some(SocialRoute::AccountInfo),
        _ => {}
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
        SocialRoute::LinkSocial => link_social(ctx).await,
        SocialRoute::UnlinkAccount => unlink_account(ctx).await,
        SocialRoute::GetAccessToken => tokens(ctx, false).await,
        SocialRoute::RefreshToken => tokens(ctx, true).await,
        SocialRoute::AccountInfo => account_info(ctx).await,
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
    let request_sign_up = f.opt_bool("requestSignUp").unwrap_or(false);
    let id_token = match f.raw("idToken") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => {
            let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
            let valid = o.get("token").is_some_and(Value::is_string)
                && ["nonce", "accessToken", "refreshToken"]
                    .iter()
                    .all(|k| o.get(*k).is_none_or(Value::is_string));
            if !valid {
                return Err(ApiError::validation(
                    "[body.idToken] Invalid input: expected {token: string, nonce?: string, accessToken?: string, refreshToken?: string}".to_owned(),
                ));
            }
            Some(SocialIdTokenSignIn {
                provider: provider.clone(),
                token: text("token").unwrap_or_default(),
                nonce: text("nonce"),
                access_token: text("accessToken"),
                refresh_token: text("refreshToken"),
                request_sign_up,
            })
        }
        Some(_) => {
            return Err(ApiError::validation(
                "[body.idToken] Invalid input: expected object".to_owned(),
            ));
        }
    };
    f.finish()?;
    let auth = ctx.platform.auth();
    let Some(config) = auth.social_provider(&provider) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "PROVIDER_NOT_FOUND",
            "Provider not found",
        ));
    };
    if let Some(mut req) = id_token {
        if !config.supports_id_token_sign_in() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ID_TOKEN_NOT_SUPPORTED",
                "id_token not supported",
            ));
        }
        req.provider = provider;
        return id_token_sign_in(ctx, req).await;
    }
    let started = auth
        .sign_in_social(SocialSignIn {
            provider,
            callback_url,
            error_callback_url,
            new_user_callback_url,
            login_hint,
            request_sign_up,
        })
        .await
        .map_err(oauth_error)?;
    Ok(authorization_reply(ctx, &started, !disable_redirect))
}

/// `POST /sign-in/social` with an `idToken`: the session cookies and
/// `{redirect: false, token, user}`.
async fn id_token_sign_in(ctx: &Ctx, req: SocialIdTokenSignIn) -> Answer {
    let auth = ctx.platform.auth();
    let (signed_in, _) =
        auth.sign_in_social_id_token(req, &ctx.meta)
            .await
            .map_err(|e| match e {
                OAuthError::Auth(a) => a.into(),
                OAuthError::ProviderNotFound => oauth_error(e),
                OAuthError::EmailNotFound => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "USER_EMAIL_NOT_FOUND",
                    "User email not found",
                ),
                OAuthError::AccountNotLinked => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "OAUTH_LINK_ERROR",
                    "account not linked",
                ),
                OAuthError::SignUpDisabled => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "OAUTH_LINK_ERROR",
                    "signup disabled",
                ),
                other => {
                    tracing::info!(error = %other, "id token sign-in refused");
                    ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "Invalid token")
                }
            })?;
    let found = AuthSession {
        session: signed_in.session.clone(),
        user: signed_in.user.clone(),
        refreshed: false,
    };
    let cookies = set_session_cookies(ctx, &found, !signed_in.remember_me);
    Ok(Reply::json(json!({
        "redirect": false,
        "token": signed_in.session.token,
        "user": user_json(&signed_in.user),
    }))
    .cookies(cookies))
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
        .social_callback_in_session(
            provider,
            &params,
            ctx.cookies.get(&name),
            session_token(ctx).as_deref(),
            &ctx.meta,
        )
        .await;
    Ok(match done {
        Ok(SocialCallback::Linked(linked)) => {
            // A link signs nobody in: no session cookie.
            Reply::redirect(&linked.redirect).cookies([ctx.jar.expire(&name)])
        }
        Ok(SocialCallback::SignedIn(signed_in)) => callback_reply(ctx, provider, Ok(*signed_in)),
        Err(e) => callback_reply(ctx, provider, Err(e)),
    })
}

/// The request's session token (the session cookie, signature checked).
fn session_token(ctx: &Ctx) -> Option<String> {
    let jar = &ctx.jar;
    ctx.cookies
        .get(jar.session_token_name())
        .and_then(|v| jar.signer().verify(v).ok())
        .map(|t| t.into_owned())
}

/// `POST /link-social` (session required): Better Auth's body; answers
/// like `POST /sign-in/social`, the handshake's callback linking the
/// provider account to the caller.
async fn link_social(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let provider = f.string("provider");
    let callback_url = f.opt_string("callbackURL");
    let error_callback_url = f.opt_string("errorCallbackURL");
    let disable_redirect = f.opt_bool("disableRedirect").unwrap_or(false);
    let _ = f.opt_bool("requestSignUp");
    let login_hint = f.opt_string("loginHint");
    let id_token = f.raw("idToken").is_some_and(|v| !v.is_null());
    let scopes = match f.raw("scopes") {
        None => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            return Err(ApiError::validation(
                "[body.scopes] Invalid input: expected array of strings".to_owned(),
            ));
        }
    };
    f.finish()?;
    let (current, cookies) = require(ctx).await?;
    let auth = ctx.platform.auth();
    let fail = |e: ApiError| with_cookies(e, cookies.clone());
    if auth.social_provider(&provider).is_none() {
        return Err(fail(oauth_error(OAuthError::ProviderNotFound)));
    }
    if id_token {
        return Err(fail(ApiError::new(
            StatusCode::NOT_FOUND,
            "ID_TOKEN_NOT_SUPPORTED",
            "id_token not supported",
        )));
    }
    let started = auth
        .link_social(
            &current.found.session.token,
            LinkSocial {
                provider,
                callback_url,
                error_callback_url,
                scopes,
                login_hint,
            },
        )
        .await
        .map_err(|e| fail(account_error(e, Op::Link)))?;
    let reply = authorization_reply(ctx, &started, !disable_redirect);
    Ok(reply.cookies(cookies))
}

/// Which account route an error comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Link,
    Unlink,
    GetAccessToken,
    RefreshToken,
    AccountInfo,
}

/// Better Auth's answers for the errors of the account routes.
fn account_error(e: OAuthError, op: Op) -> ApiError {
    let bad = |code: &'static str, message: &'static str| {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    };
    match e {
        OAuthError::AccountNotFound => bad("ACCOUNT_NOT_FOUND", "Account not found"),
        OAuthError::LastAccount => bad(
            "FAILED_TO_UNLINK_LAST_ACCOUNT",
            "You can't unlink your last account",
        ),
        OAuthError::ProviderNotSupported if op == Op::AccountInfo => bad(
            "PROVIDER_NOT_CONFIGURED",
            "Account is not associated with a configured social provider.",
        ),
        OAuthError::ProviderNotSupported => {
            bad("PROVIDER_NOT_SUPPORTED", "Provider is not supported.")
        }
        OAuthError::RefreshTokenNotFound => {
            bad("REFRESH_TOKEN_NOT_FOUND", "Refresh token not found")
        }
        OAuthError::AccessTokenNotFound if op == Op::GetAccessToken => bad(
            "FAILED_TO_GET_ACCESS_TOKEN",
            "Failed to get a valid access token",
        ),
        OAuthError::AccessTokenNotFound => bad("ACCESS_TOKEN_NOT_FOUND", "Access token not found"),
        OAuthError::UserInfo => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "FAILED_TO_GET_USER_INFO",
            "Failed to get user info",
        ),
        OAuthError::Auth(a) => a.into(),
        e @ (OAuthError::ProviderNotFound | OAuthError::InvalidCallbackUrl) => oauth_error(e),
        other => {
            tracing::info!(error = %other, "provider token request failed");
            match op {
                Op::RefreshToken => bad(
                    "FAILED_TO_REFRESH_ACCESS_TOKEN",
                    "Failed to refresh access token",
                ),
                Op::GetAccessToken | Op::AccountInfo => bad(
                    "FAILED_TO_GET_ACCESS_TOKEN",
                    "Failed to get a valid access token",
                ),
                Op::Link | Op::Unlink => oauth_error(other),
            }
        }
    }
}

/// The account selection of a body or query: `accountId` (the account's
/// ID), or `providerId` with optionally `accountId`; `userId` is the
/// session's user's anyway, and `useAccountCookie` selects nothing (no
/// account cookie is kept).
fn selector(account_id: Option<String>, provider_id: Option<String>) -> AccountSelector {
    AccountSelector {
        account_id,
        provider_id,
    }
}

/// `POST /unlink-account` (fresh session required): `{accountId}` or
/// `{providerId, accountId?}` → `{status: true}`.
async fn unlink_account(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let account_id = f.opt_string("accountId");
    let provider_id = f.opt_string("providerId");
    if account_id.is_none() && provider_id.is_none() {
        f.string("accountId");
    }
    f.finish()?;
    let which = selector(account_id, provider_id);
    with_token(ctx, async |token| {
        ctx.platform
            .auth()
            .unlink_account(token, &which)
            .await
            .map_err(|e| account_error(e, Op::Unlink))?;
        Ok(json!({ "status": true }))
    })
    .await
}

fn date(t: Option<std::time::SystemTime>) -> Value {
    t.map_or(Value::Null, |t| Value::from(neutrino_auth::date::format(t)))
}

/// `POST /get-access-token` and `POST /refresh-token` (session required).
async fn tokens(ctx: &Ctx, refresh: bool) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let account_id = f.opt_string("accountId");
    let provider_id = f.opt_string("providerId");
    let _ = f.opt_string("userId");
    let _ = f.opt_bool("useAccountCookie");
    f.finish()?;
    let which = selector(account_id, provider_id);
    let auth = ctx.platform.auth();
    with_token(ctx, async |token| {
        if refresh {
            let t = auth
                .refresh_account_token(token, &which)
                .await
                .map_err(|e| account_error(e, Op::RefreshToken))?;
            let mut out = json!({
                "accessToken": t.access_token,
                "refreshToken": t.refresh_token,
                "providerId": t.provider_id,
                "accountId": t.account_id,
            });
            for (k, v) in [
                ("accessTokenExpiresAt", date(t.access_token_expires_at)),
                ("refreshTokenExpiresAt", date(t.refresh_token_expires_at)),
                ("scope", t.scope.map_or(Value::Null, Value::from)),
                ("idToken", t.id_token.map_or(Value::Null, Value::from)),
            ] {
                if !v.is_null() {
                    out[k] = v;
                }
            }
            Ok(out)
        } else {
            let t = auth
                .account_access_token(token, &which)
                .await
                .map_err(|e| account_error(e, Op::GetAccessToken))?;
            let mut out = json!({ "accessToken": t.access_token, "scopes": t.scopes });
            if let Some(e) = t.access_token_expires_at {
                out["accessTokenExpiresAt"] = date(Some(e));
            }
            if let Some(i) = t.id_token {
                out["idToken"] = Value::from(i);
            }
            Ok(out)
        }
    })
    .await
}

/// `GET /account-info?accountId=` (session required): `{user, data,
/// account: {id, providerId, accountId}}`.
async fn account_info(ctx: &Ctx) -> Answer {
    let param = |name| query_get(&ctx.query, name).map(str::to_owned);
    let which = selector(param("accountId"), param("providerId"));
    with_token(ctx, async |token| {
        let info = ctx
            .platform
            .auth()
            .account_info(token, &which)
            .await
            .map_err(|e| account_error(e, Op::AccountInfo))?;
        Ok(json!({
            "user": info.user,
            "data": info.data,
            "account": {
                "id": info.id,
                "providerId": info.provider_id,
                "accountId": info.account_id,
            },
        }))
    })
    .await
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
