//! Better Auth's cookies on the wire: the request's `Cookie` headers read as
//! better-call reads them, `Set-Cookie` values written in Better Auth's
//! attribute order, and the `session_data` cookie cache.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use neutrino_auth::{AuthSession, CookieDomain, SessionCookies};
use serde_json::Value;

use super::wire::{session_json, user_json};

/// Longest value kept of one request cookie (browsers cap a cookie near 4 KiB).
const MAX_VALUE: usize = 4096;
/// Most `session_data` chunks read, as Better Auth.
const MAX_CHUNKS: usize = 100;
/// Longest serialized `session_data` cookie before Better Auth chunks it.
const CHUNK_LIMIT: usize = 4050;

/// The cookies of a request: every `Cookie` header, split at `;`, the first
/// occurrence of a name winning (better-call's parser), double quotes
/// stripped.
#[derive(Default)]
pub(crate) struct RequestCookies {
    pairs: Vec<(String, String)>,
    /// Whether the request had any `Cookie` header (the origin check's
    /// condition).
    pub(crate) present: bool,
}

impl RequestCookies {
    /// Parses the `Cookie` headers (non-UTF-8 headers are ignored).
    pub(crate) fn parse<'a>(headers: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut out = Self::default();
        for raw in headers {
            out.present = true;
            let Ok(text) = std::str::from_utf8(raw) else {
                continue;
            };
            for pair in text.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let name = name.trim();
                let value = value.trim().trim_matches('"');
                if name.is_empty() || value.len() > MAX_VALUE {
                    continue;
                }
                if out.pairs.iter().any(|(n, _)| n == name) {
                    continue;
                }
                out.pairs.push((name.to_owned(), value.to_owned()));
            }
        }
        out
    }

    /// The value of the cookie named `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The names present that start with `prefix`.
    pub(crate) fn names_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(move |n| n.starts_with(prefix))
    }
}

/// The names and attributes of Better Auth's cookies for one platform, from
/// its [`SessionCookies`] (prefix, `__Secure-`, domain).
#[derive(Clone)]
pub(crate) struct CookieJar {
    /// Shared, so a request's jar costs a reference count.
    signer: SessionCookies,
}

impl CookieJar {
    pub(crate) fn new(cookies: &SessionCookies) -> Self {
        Self {
            signer: cookies.clone(),
        }
    }

    pub(crate) fn session_token_name(&self) -> &str {
        self.signer.session_cookie_name()
    }

    pub(crate) fn session_data_name(&self) -> &str {
        self.signer.session_data_cookie_name()
    }

    pub(crate) fn dont_remember_name(&self) -> &str {
        self.signer.dont_remember_cookie_name()
    }

    /// The admin plugin's `admin_session` cookie (impersonation).
    pub(crate) fn admin_session_name(&self) -> &str {
        self.signer.admin_session_cookie_name()
    }

    pub(crate) fn signer(&self) -> &SessionCookies {
        &self.signer
    }

    /// A `Set-Cookie` value in Better Auth's order:
    /// `name=value; Max-Age=N; Domain=d; Path=/; HttpOnly; Secure; SameSite=Lax`.
    pub(crate) fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut out = format!("{name}={value}");
        if let Some(age) = max_age {
            out.push_str(&format!("; Max-Age={age}"));
        }
        let config = self.signer.config();
        if let CookieDomain::Shared(d) = &config.domain {
            out.push_str(&format!("; Domain={d}"));
        }
        out.push_str("; Path=/; HttpOnly");
        if config.secure {
            out.push_str("; Secure");
        }
        out.push_str("; SameSite=Lax");
        out
    }

    /// The deletion of `name`: an empty value and `Max-Age=0`.
    pub(crate) fn expire(&self, name: &str) -> String {
        self.set_cookie(name, "", Some(0))
    }

    /// The signed `session_token` cookie; `Max-Age` = `max_age` unless
    /// "remember me" is off (a browser-session cookie).
    pub(crate) fn session_token(&self, token: &str, max_age: Option<u64>) -> String {
        self.set_cookie(self.session_token_name(), &self.signer.sign(token), max_age)
    }

    /// The signed `dont_remember` marker (`"true"`), a browser-session
    /// cookie.
    pub(crate) fn dont_remember(&self) -> String {
        self.set_cookie(self.dont_remember_name(), &self.signer.sign("true"), None)
    }

    /// Better Auth's `deleteSessionCookie`: `session_token`, every
    /// `session_data` cookie and chunk the request carried (and
    /// `session_data` itself), and `dont_remember`.
    pub(crate) fn delete_session(&self, req: &RequestCookies) -> Vec<String> {
        let mut out = vec![self.expire(self.session_token_name())];
        out.extend(self.expire_session_data(req));
        out.push(self.expire(self.dont_remember_name()));
        out
    }

    /// Expires `session_data` and each `session_data.N` chunk the request
    /// carried.
    pub(crate) fn expire_session_data(&self, req: &RequestCookies) -> Vec<String> {
        let mut out = vec![self.expire(self.session_data_name())];
        let chunk_prefix = format!("{}.", self.session_data_name());
        for name in req.names_with_prefix(&chunk_prefix) {
            if name[chunk_prefix.len()..]
                .bytes()
                .all(|b| b.is_ascii_digit())
            {
                out.push(self.expire(name));
            }
        }
        out
    }

    /// The `session_data` value carried by the request: the cookie itself,
    /// or its chunks `.0`, `.1`, … joined in order.
    pub(crate) fn session_data_value(&self, req: &RequestCookies) -> Option<String> {
        let name = self.session_data_name();
        if let Some(v) = req.get(name) {
            return Some(v.to_owned());
        }
        // Chunks only when some cookie starts with the name (no name to
        // format on a request without them).
        req.names_with_prefix(name).next()?;
        let mut joined = String::new();
        for i in 0..MAX_CHUNKS {
            match req.get(&format!("{name}.{i}")) {
                Some(v) => joined.push_str(v),
                None => break,
            }
        }
        (!joined.is_empty()).then_some(joined)
    }
}

/// The cookie cache: Better Auth's `session_data` in its `compact` strategy,
/// `base64url(JSON {session: P, expiresAt, signature})` with
/// `P = {session, user, updatedAt, version: "1"}` and `signature =
/// base64url(HMAC-SHA256(secret, JSON({...P, expiresAt})))`.
///
/// One change: the HMAC also covers the platform's ID (`HMAC(secret,
/// platform + "\n" + JSON)`), so that a cache cookie of one platform is no
/// session on another platform signed with the same secret.
#[derive(Clone)]
pub(crate) struct CookieCache {
    max_age: Duration,
    platform: String,
}

/// What a verified `session_data` cookie holds.
pub(crate) struct Cached {
    pub(crate) session: Value,
    pub(crate) user: Value,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `base64url(HMAC-SHA256(secret, text))` with the platform's secret, taken
/// from the signed-cookie signature (`encodeURIComponent(text + "." +
/// base64(HMAC))`), which is the same HMAC.
fn hmac_b64url(signer: &SessionCookies, text: &str) -> Option<String> {
    let signed = signer.sign(text);
    let (_, sig) = signed.rsplit_once('.')?;
    let sig = sig
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    let raw = STANDARD.decode(sig).ok()?;
    Some(URL_SAFE_NO_PAD.encode(raw))
}

/// Equality of two strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl CookieCache {
    pub(crate) fn new(max_age: Duration, platform: impl Into<String>) -> Self {
        Self {
            max_age,
            platform: platform.into(),
        }
    }

    /// The signature of `signed` for this platform.
    fn signature(&self, signer: &SessionCookies, signed: &str) -> Option<String> {
        hmac_b64url(signer, &format!("{}\n{signed}", self.platform))
    }

    /// The `session_data` value for `found` at `now`; with `dont_remember`
    /// the payload lives 60 s (Better Auth's `maxAge || 60` for a cookie
    /// without `Max-Age`).
    pub(crate) fn encode(
        &self,
        signer: &SessionCookies,
        found: &AuthSession,
        now: SystemTime,
        dont_remember: bool,
    ) -> Option<String> {
        let life = if dont_remember {
            Duration::from_secs(60)
        } else {
            self.max_age
        };
        let payload = serde_json::json!({
            "session": session_json(&found.session),
            "user": user_json(&found.user),
        });
        // `P` in Better Auth's key order: session, user, updatedAt, version.
        let p = format!(
            r#"{{"session":{},"user":{},"updatedAt":{},"version":"1"}}"#,
            payload["session"],
            payload["user"],
            millis(now)
        );
        let expires_at = millis(now + life);
        let signed = format!(r#"{},"expiresAt":{expires_at}}}"#, &p[..p.len() - 1]);
        let signature = self.signature(signer, &signed)?;
        let outer =
            format!(r#"{{"session":{p},"expiresAt":{expires_at},"signature":"{signature}"}}"#);
        Some(URL_SAFE_NO_PAD.encode(outer))
    }

    /// The `Set-Cookie` values for `found`: one `session_data`, or chunks
    /// `.0…` when it is longer than Better Auth's limit (none when over 100
    /// chunks).
    pub(crate) fn set_cookies(
        &self,
        jar: &CookieJar,
        found: &AuthSession,
        now: SystemTime,
        dont_remember: bool,
    ) -> Vec<String> {
        let Some(value) = self.encode(jar.signer(), found, now, dont_remember) else {
            return Vec::new();
        };
        let max_age = (!dont_remember).then_some(self.max_age.as_secs());
        let whole = jar.set_cookie(jar.session_data_name(), &value, max_age);
        if whole.len() <= CHUNK_LIMIT {
            return vec![whole];
        }
        let room = CHUNK_LIMIT.saturating_sub(whole.len() - value.len()).max(1);
        let parts: Vec<&str> = value
            .as_bytes()
            .chunks(room)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        if parts.len() > MAX_CHUNKS {
            return Vec::new();
        }
        parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                jar.set_cookie(&format!("{}.{i}", jar.session_data_name()), part, max_age)
            })
            .collect()
    }

    /// Decodes and verifies a `session_data` value; `None` for anything
    /// malformed, forged, expired, or for another token than `token`.
    pub(crate) fn decode(
        &self,
        signer: &SessionCookies,
        value: &str,
        token: &str,
        now: SystemTime,
    ) -> Option<Cached> {
        let raw = URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok()?;
        let outer = std::str::from_utf8(&raw).ok()?;
        let rest = outer.strip_prefix(r#"{"session":"#)?;
        let at = rest.rfind(r#","expiresAt":"#)?;
        let (p, tail) = rest.split_at(at);
        let tail = tail.strip_prefix(r#","expiresAt":"#)?;
        let (expires, tail) = tail.split_once(',')?;
        let signature = tail
            .strip_prefix(r#""signature":""#)?
            .strip_suffix(r#""}"#)?;
        let expires_at: i64 = expires.parse().ok()?;
        if !p.ends_with('}') {
            return None;
        }
        let signed = format!(r#"{},"expiresAt":{expires_at}}}"#, &p[..p.len() - 1]);
        if !same(&self.signature(signer, &signed)?, signature) {
            return None;
        }
        let now_ms = millis(now);
        if expires_at <= now_ms {
            return None;
        }
        let mut payload: Value = serde_json::from_str(p).ok()?;
        if payload.get("version")?.as_str()? != "1" {
            return None;
        }
        let session = payload.get_mut("session")?.take();
        let user = payload.get_mut("user")?.take();
        if session.get("token")?.as_str()? != token {
            return None;
        }
        let session_expires = session
            .get("expiresAt")?
            .as_str()
            .and_then(neutrino_auth::date::parse)?;
        if millis(session_expires) <= now_ms {
            return None;
        }
        Some(Cached { session, user })
    }
}
