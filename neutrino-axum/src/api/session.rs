//! Better Auth's session resolution (its `get-session` algorithm, §1.10 of
//! the facts): the signed `session_token`, the `session_data` cookie cache,
//! the database, and the cookies each outcome sends.

use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode, header};
use neutrino_auth::{AuthSession, GetSessionOptions};
use serde_json::Value;

use super::Ctx;
use super::cookies::Cached;
use super::wire::Reply;
use crate::ApiError;

/// How an endpoint reads the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// `GET /get-session`: the cookie cache may answer.
    MayUseCache {
        /// `?disableCookieCache`.
        disable_cache: bool,
        /// `?disableRefresh`.
        disable_refresh: bool,
    },
    /// Every other endpoint: the database decides (Better Auth's sensitive
    /// session middleware).
    Database,
}

/// A session found in the database, with the request's cookie state.
pub(crate) struct Current {
    pub(crate) found: Arc<AuthSession>,
    /// Whether a valid `dont_remember` marker came with the request.
    pub(crate) dont_remember: bool,
}

/// What resolution gives.
pub(crate) enum Resolved {
    /// No valid session.
    None,
    /// The cookie cache answered (only with [`Read::MayUseCache`]).
    Cached(Cached),
    /// The database answered.
    Found(Current),
}

/// The session of a request, and the `Set-Cookie` values its resolution
/// sends (refresh, cache, or deletion).
pub(crate) async fn resolve(ctx: &Ctx, read: Read) -> Result<(Resolved, Vec<String>), ApiError> {
    let jar = &ctx.jar;
    let mut cookies = Vec::new();
    let token = ctx
        .cookies
        .get(jar.session_token_name())
        .and_then(|v| jar.signer().verify(v).ok())
        .map(|t| t.into_owned());
    let dont_remember = ctx
        .cookies
        .get(jar.dont_remember_name())
        .and_then(|v| jar.signer().verify(v).ok())
        .is_some_and(|v| v == "true");
    let has_data = jar.session_data_value(&ctx.cookies).is_some();
    if ctx.cache.is_none() && has_data {
        cookies.extend(jar.expire_session_data(&ctx.cookies));
    }
    let Some(token) = token else {
        return Ok((Resolved::None, cookies));
    };
    let now = SystemTime::now();
    let (disable_cache, disable_refresh) = match read {
        Read::MayUseCache {
            disable_cache,
            disable_refresh,
        } => (disable_cache, disable_refresh),
        Read::Database => (true, false),
    };
    if let Some(cache) = &ctx.cache
        && !disable_cache
        && let Some(value) = jar.session_data_value(&ctx.cookies)
    {
        match cache.decode(jar.signer(), &value, &token, now) {
            Some(hit) => return Ok((Resolved::Cached(hit), cookies)),
            None => cookies.extend(jar.expire_session_data(&ctx.cookies)),
        }
    }
    let opts = GetSessionOptions {
        disable_refresh: dont_remember || disable_refresh,
        disable_cache: matches!(read, Read::Database),
    };
    let found = ctx.platform.auth().get_session_with(&token, opts).await?;
    let Some(found) = found else {
        return Ok((Resolved::None, jar.delete_session(&ctx.cookies)));
    };
    if found.refreshed {
        cookies.extend(set_session_cookies(ctx, &found, false));
    } else if !(dont_remember || disable_refresh)
        && let Some(cache) = &ctx.cache
    {
        cookies.extend(cache.set_cookies(jar, &found, now, dont_remember));
    }
    Ok((
        Resolved::Found(Current {
            found,
            dont_remember,
        }),
        cookies,
    ))
}

/// The session an endpoint needs, from the database: 401 `UNAUTHORIZED`
/// (with the cookies resolution sends) without one.
pub(crate) async fn require(ctx: &Ctx) -> Result<(Current, Vec<String>), ApiError> {
    let (resolved, cookies) = resolve(ctx, Read::Database).await?;
    match resolved {
        Resolved::Found(c) => Ok((c, cookies)),
        _ => Err(with_cookies(
            ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized"),
            cookies,
        )),
    }
}

/// Better Auth's `setSessionCookie`: `session_token` (no `Max-Age` when
/// "remember me" is off), the `dont_remember` marker set or expired, and
/// `session_data` when the cache is on.
pub(crate) fn set_session_cookies(
    ctx: &Ctx,
    found: &AuthSession,
    dont_remember: bool,
) -> Vec<String> {
    let jar = &ctx.jar;
    let max_age = ctx.platform.auth().cookies().config().max_age.as_secs();
    let mut out =
        vec![jar.session_token(&found.session.token, (!dont_remember).then_some(max_age))];
    if dont_remember {
        out.push(jar.dont_remember());
    } else if ctx.cookies.get(jar.dont_remember_name()).is_some() {
        out.push(jar.expire(jar.dont_remember_name()));
    }
    if let Some(cache) = &ctx.cache {
        out.extend(cache.set_cookies(jar, found, SystemTime::now(), dont_remember));
    }
    out
}

/// A handler's frame: the caller's session from the database (401
/// `UNAUTHORIZED` without one), `run` with its token, and its answer as
/// JSON with the cookies the session's resolution sends (on an error too).
pub(crate) async fn with_token(
    ctx: &Ctx,
    run: impl AsyncFnOnce(&str) -> Result<Value, ApiError>,
) -> Result<Reply, ApiError> {
    let (current, cookies) = require(ctx).await?;
    match run(&current.found.session.token).await {
        Ok(v) => Ok(Reply::json(v).cookies(cookies)),
        Err(e) => Err(with_cookies(e, cookies)),
    }
}

/// `e` with these `Set-Cookie` values (Better Auth keeps the cookies set
/// before an error).
pub(crate) fn with_cookies(mut e: ApiError, cookies: Vec<String>) -> ApiError {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            e = e.with_header(header::SET_COOKIE, v);
        }
    }
    e
}

/// The `{"session","user"}` answer of a cached session.
pub(crate) fn cached_json(hit: Cached) -> Value {
    serde_json::json!({ "session": hit.session, "user": hit.user })
}
