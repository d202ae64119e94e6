//! Better Auth's two-factor plugin (§4 of the facts): TOTP and backup codes,
//! the second step of a two-factor sign-in through the signed `two_factor`
//! cookie, and trusted devices through the signed `trust_device` cookie.

use axum::http::StatusCode;
use neutrino_auth::{AuthError, AuthSession, SignedIn, TwoFactorChallenge};
use serde_json::json;

use super::Ctx;
use super::session::{
    Read, Resolved, require, resolve, set_session_cookies, with_cookies, with_token,
};
use super::wire::{Fields, Reply, user_json};
use crate::ApiError;

type Answer = Result<Reply, ApiError>;

/// The issuer an authenticator app shows when the body names none (Better
/// Auth's `appName` default).
const DEFAULT_ISSUER: &str = "Better Auth";

/// The two-factor endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TwoFactorRoute {
    Enable,
    Disable,
    GetTotpUri,
    VerifyTotp,
    GenerateBackupCodes,
    VerifyBackupCode,
    Otp,
}

pub(super) fn route(post: bool, path: &str) -> Option<TwoFactorRoute> {
    use TwoFactorRoute::*;
    if !post {
        return None;
    }
    Some(match path.strip_prefix("/two-factor/")? {
        "enable" => Enable,
        "disable" => Disable,
        "get-totp-uri" => GetTotpUri,
        "verify-totp" => VerifyTotp,
        "generate-backup-codes" => GenerateBackupCodes,
        "verify-backup-code" => VerifyBackupCode,
        "send-otp" | "verify-otp" => Otp,
        _ => return None,
    })
}

pub(super) async fn handle(route: TwoFactorRoute, ctx: &Ctx) -> Answer {
    match route {
        TwoFactorRoute::Enable => enable(ctx).await,
        TwoFactorRoute::Disable => disable(ctx).await,
        TwoFactorRoute::GetTotpUri => get_totp_uri(ctx).await,
        TwoFactorRoute::GenerateBackupCodes => generate_backup_codes(ctx).await,
        TwoFactorRoute::VerifyTotp => verify(ctx, Kind::Totp).await,
        TwoFactorRoute::VerifyBackupCode => verify(ctx, Kind::BackupCode).await,
        TwoFactorRoute::Otp => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "OTP_NOT_CONFIGURED",
            "OTP is not available",
        )),
    }
}

/// A two-factor cookie's full name (`two_factor`, `trust_device`),
/// `__Secure-` first when cookies are secure.
fn plugin_cookie(ctx: &Ctx, name: &str) -> String {
    let config = ctx.platform.auth().cookies().config();
    let secure = if config.secure { "__Secure-" } else { "" };
    format!("{secure}{}.{name}", config.prefix)
}

/// The `two_factor` cookie's name.
fn cookie_name(ctx: &Ctx) -> String {
    plugin_cookie(ctx, "two_factor")
}

/// The `trust_device` cookie's name.
fn trust_cookie_name(ctx: &Ctx) -> String {
    plugin_cookie(ctx, "trust_device")
}

/// The request's `trust_device` value, its signature checked (Better Auth's
/// `getSignedCookie`: a bad signature is no cookie).
pub(super) fn trust_cookie(ctx: &Ctx) -> Option<String> {
    ctx.cookies
        .get(&trust_cookie_name(ctx))
        .and_then(|v| ctx.jar.signer().verify(v).ok())
        .map(|v| v.into_owned())
}

/// The `Set-Cookie` of a trusted device's value (30 days, Better Auth's
/// `trustDeviceMaxAge`).
pub(super) fn set_trust_cookie(ctx: &Ctx, value: &str) -> String {
    let jar = &ctx.jar;
    jar.set_cookie(
        &trust_cookie_name(ctx),
        &jar.signer().sign(value),
        Some(neutrino_auth::TRUST_DEVICE_TTL.as_secs()),
    )
}

/// The `Set-Cookie` that expires the `trust_device` cookie.
pub(super) fn expire_trust_cookie(ctx: &Ctx) -> String {
    ctx.jar.expire(&trust_cookie_name(ctx))
}

/// The `Set-Cookie` of a sign-in challenge (10 minutes, as Better Auth's
/// `twoFactorCookieMaxAge`).
pub(super) fn challenge_cookie(ctx: &Ctx, challenge: &TwoFactorChallenge) -> String {
    let jar = &ctx.jar;
    jar.set_cookie(
        &cookie_name(ctx),
        &jar.signer().sign(&challenge.id),
        Some(600),
    )
}

async fn enable(ctx: &Ctx) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let password = f.string("password");
    let method = f.opt_string("method");
    let issuer = f.opt_string("issuer");
    f.finish()?;
    if method.as_deref().is_some_and(|m| m != "totp") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "OTP_NOT_CONFIGURED",
            "OTP is not available",
        ));
    }
    let (current, cookies) = require(ctx).await?;
    let issuer = issuer
        .filter(|i| !i.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
    let setup = ctx
        .platform
        .auth()
        .enable_two_factor(&current.found.session.token, &password, &issuer, &ctx.meta)
        .await
        .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
    Ok(Reply::json(json!({
        "method": "totp",
        "totpURI": setup.totp_uri,
        "backupCodes": setup.backup_codes,
    }))
    .cookies(cookies))
}

/// `POST /two-factor/get-totp-uri`: `{password}` → `{totpURI}`.
async fn get_totp_uri(ctx: &Ctx) -> Answer {
    let password = Fields::only_string(&ctx.body, "password")?;
    let (current, cookies) = require(ctx).await?;
    let uri = ctx
        .platform
        .auth()
        .totp_uri(&current.found.session.token, &password, DEFAULT_ISSUER)
        .await
        .map_err(|e| {
            let e = match e {
                AuthError::TwoFactorNotEnabled => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "TOTP_NOT_ENABLED",
                    "TOTP not enabled",
                ),
                e => e.into(),
            };
            with_cookies(e, cookies.clone())
        })?;
    Ok(Reply::json(json!({ "totpURI": uri })).cookies(cookies))
}

async fn disable(ctx: &Ctx) -> Answer {
    let password = Fields::only_string(&ctx.body, "password")?;
    with_token(ctx, async |token| {
        ctx.platform
            .auth()
            .disable_two_factor(token, &password, &ctx.meta)
            .await?;
        Ok(json!({ "status": true }))
    })
    .await
}

async fn generate_backup_codes(ctx: &Ctx) -> Answer {
    let password = Fields::only_string(&ctx.body, "password")?;
    with_token(ctx, async |token| {
        let codes = ctx
            .platform
            .auth()
            .generate_backup_codes(token, &password, &ctx.meta)
            .await?;
        Ok(json!({ "status": true, "backupCodes": codes }))
    })
    .await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Totp,
    BackupCode,
}

/// `verify-totp` and `verify-backup-code`: with a session, the first TOTP
/// code turns two-factor on; without, the `two_factor` cookie's challenge is
/// completed into a session.
async fn verify(ctx: &Ctx, kind: Kind) -> Answer {
    let mut f = Fields::new(&ctx.body, true);
    let code = f.string("code");
    let trust = f.opt_bool("trustDevice").unwrap_or(false);
    // `disableSession` is not offered: validated, then ignored.
    let _ = f.opt_bool("disableSession");
    f.finish()?;
    let auth = ctx.platform.auth();
    let (resolved, cookies) = resolve(ctx, Read::Database).await?;
    if let Resolved::Found(current) = resolved {
        if kind == Kind::BackupCode {
            // A backup code stands in for TOTP at sign-in only.
            return Err(with_cookies(
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_TWO_FACTOR_COOKIE",
                    "Invalid two factor cookie",
                ),
                cookies,
            ));
        }
        let token = current.found.session.token.clone();
        auth.verify_two_factor_setup(&token, &code, &ctx.meta)
            .await
            .map_err(|e| with_cookies(e.into(), cookies.clone()))?;
        let user = auth
            .get_user(&current.found.user.id)
            .await?
            .unwrap_or_else(|| current.found.user.clone());
        // Quirk b fixed: the session is not replaced here, so the answer
        // is the caller's own (valid) token and the updated user.
        return Ok(
            Reply::json(json!({ "token": token, "user": user_json(&user) })).cookies(cookies),
        );
    }
    let jar = &ctx.jar;
    let name = cookie_name(ctx);
    let challenge = ctx
        .cookies
        .get(&name)
        .and_then(|v| jar.signer().verify(v).ok())
        .map(|id| TwoFactorChallenge {
            id: id.into_owned(),
        });
    let Some(challenge) = challenge else {
        return Err(with_cookies(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_TWO_FACTOR_COOKIE",
                "Invalid two factor cookie",
            ),
            cookies,
        ));
    };
    let result = match kind {
        Kind::Totp => auth.verify_totp(&challenge, &code, &ctx.meta).await,
        Kind::BackupCode => auth.verify_backup_code(&challenge, &code, &ctx.meta).await,
    };
    match result {
        Ok(signed) => {
            let mut reply = signed_in(ctx, &signed, &name);
            if trust {
                // Better Auth: the device is trusted and `dont_remember`
                // expired.
                let value = auth.trust_device(&signed.session.token).await?;
                reply = reply.cookies([
                    set_trust_cookie(ctx, &value),
                    jar.expire(jar.dont_remember_name()),
                ]);
            }
            Ok(reply)
        }
        Err(AuthError::TooManyAttempts) => {
            let mut out = cookies;
            out.push(jar.expire(&name));
            Err(with_cookies(AuthError::TooManyAttempts.into(), out))
        }
        // Better Auth names a wrong backup code apart from a wrong TOTP code.
        Err(AuthError::InvalidCode) if kind == Kind::BackupCode => Err(with_cookies(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_BACKUP_CODE",
                "Invalid backup code",
            ),
            cookies,
        )),
        Err(e) => Err(with_cookies(e.into(), cookies)),
    }
}

fn signed_in(ctx: &Ctx, signed: &SignedIn, challenge_cookie: &str) -> Reply {
    let found = AuthSession {
        session: signed.session.clone(),
        user: signed.user.clone(),
        refreshed: false,
    };
    let mut cookies = set_session_cookies(ctx, &found, !signed.remember_me);
    cookies.push(ctx.jar.expire(challenge_cookie));
    Reply::json(json!({
        "token": signed.session.token,
        "user": user_json(&signed.user),
    }))
    .cookies(cookies)
}
