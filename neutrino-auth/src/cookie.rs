//! The signed session cookie, byte for byte as Better Auth writes it.
//!
//! * Name: `{prefix}.session_token` (prefix `better-auth` by default), with
//!   `__Secure-` in front when cookies are secure.
//! * Value: `encodeURIComponent(token + "." + base64(HMAC-SHA256(secret, token)))`,
//!   the signature being standard base64 with padding (44 characters), so `+`,
//!   `/` and `=` travel as `%2B`, `%2F` and `%3D`.
//! * Attributes: `HttpOnly; SameSite=Lax; Path=/`, `Secure` when secure,
//!   `Max-Age` = the session lifetime (none for "remember me" off), and a
//!   `Domain` of `.{p}.nno.app` in platform-wide mode or no `Domain` in
//!   host-only mode. (The `cookie` crate writes the domain without its leading
//!   dot, `Domain={p}.nno.app`; browsers treat both alike, RFC 6265 §5.2.3.)
//!
//! Parsing URL-decodes, splits at the last `.`, requires a 44-character signature
//! ending in `=`, and checks the HMAC in constant time. Anything else is a typed
//! [`CookieError`].
//!
//! ```
//! use neutrino::auth::cookie::{CookieConfig, SessionCookies};
//! let cookies = SessionCookies::new(b"a secret of at least thirty-two bytes!", CookieConfig::default());
//! let value = cookies.sign("Tq8Zr5yQ2w0YbV3nKx7mLs1PdF4gHj6C");
//! assert_eq!(cookies.verify(&value).unwrap(), "Tq8Zr5yQ2w0YbV3nKx7mLs1PdF4gHj6C");
//! let mut tampered = value.clone();
//! tampered.replace_range(0..1, "U");
//! assert!(cookies.verify(&tampered).is_err());
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use neutrino_core::ids::PlatformId;
use neutrino_core::naming::Domain;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest cookie value accepted, in bytes (browsers cap a cookie near 4 KiB).
pub const MAX_COOKIE_VALUE_LEN: usize = 4096;
/// Longest session token accepted inside a cookie, in bytes.
pub const MAX_TOKEN_LEN: usize = 256;
/// Length of the base64 signature (32 bytes, padded).
const SIGNATURE_LEN: usize = 44;

/// What JavaScript's `encodeURIComponent` leaves alone: letters, digits and
/// `-_.!~*'()`. The one copy of this set in the crate.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `s` encoded as JavaScript's `encodeURIComponent` would.
pub(crate) fn encode_uri_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// Why a cookie value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The value is longer than [`MAX_COOKIE_VALUE_LEN`] (or the token than
    /// [`MAX_TOKEN_LEN`]).
    #[error("value too long: {len} bytes")]
    Oversized {
        /// The length found.
        len: usize,
    },
    /// The value is not valid percent-encoded UTF-8.
    #[error("value is not valid percent-encoded utf-8")]
    Encoding,
    /// There is no `token.signature` structure, or the token is empty.
    #[error("value is not token.signature")]
    Malformed,
    /// The signature is not 44 characters of padded base64 (e.g. truncated).
    #[error("signature is not 44 characters of base64")]
    SignatureFormat,
    /// The signature does not match the token: tampered or signed with another
    /// secret.
    #[error("signature does not match")]
    SignatureMismatch,
}

/// Where the session cookie applies.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum CookieDomain {
    /// No `Domain` attribute: the cookie goes back only to the host that set it
    /// (one tenant per host).
    #[default]
    HostOnly,
    /// `Domain=<domain>`: every host under it gets the cookie, e.g.
    /// `.k3m9p2xw7q.nno.app` for one login across all of a platform's apps.
    Shared(String),
}

impl CookieDomain {
    /// The platform-wide domain, `.{p}.{base}` (`.k3m9p2xw7q.nno.app`).
    pub fn platform(platform: PlatformId, domain: &Domain) -> Self {
        Self::Shared(domain.cookie_domain(platform))
    }
}

/// How the session cookies are named and scoped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    /// Name prefix (default `better-auth`).
    pub prefix: String,
    /// `Secure` attribute and `__Secure-` name prefix (default `false`; set it
    /// whenever the site is served over HTTPS).
    pub secure: bool,
    /// Host-only or shared across a domain.
    pub domain: CookieDomain,
    /// `Max-Age` of a remembered session cookie (default 7 days, the session
    /// lifetime).
    pub max_age: Duration,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            prefix: "better-auth".into(),
            secure: false,
            domain: CookieDomain::HostOnly,
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Signs, verifies and builds the session cookies.
///
/// Cheap to clone: the key and the names are computed once and shared.
#[derive(Clone)]
pub struct SessionCookies {
    inner: Arc<CookiesInner>,
}

/// What [`SessionCookies`] shares between its clones.
struct CookiesInner {
    mac: HmacSha256,
    config: CookieConfig,
    session_name: String,
    dont_remember_name: String,
    session_data_name: String,
    admin_session_name: String,
}

impl fmt::Debug for SessionCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCookies")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SessionCookies {
    /// Cookies signed with `secret` (Better Auth's `secret`, as bytes).
    pub fn new(secret: &[u8], config: CookieConfig) -> Self {
        let name = |suffix: &str| {
            let secure = if config.secure { "__Secure-" } else { "" };
            format!("{secure}{}.{suffix}", config.prefix)
        };
        let inner = CookiesInner {
            // HMAC takes keys of any length, so the fallback is never used.
            mac: HmacSha256::new_from_slice(secret).unwrap_or_else(|_| {
                <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default())
            }),
            session_name: name("session_token"),
            dont_remember_name: name("dont_remember"),
            session_data_name: name("session_data"),
            admin_session_name: name("admin_session"),
            config,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CookieConfig {
        &self.inner.config
    }

    /// The session cookie's name, e.g. `better-auth.session_token`.
    pub fn session_cookie_name(&self) -> &str {
        &self.inner.session_name
    }

    /// The "remember me off" marker cookie's name, e.g. `better-auth.dont_remember`.
    pub fn dont_remember_cookie_name(&self) -> &str {
        &self.inner.dont_remember_name
    }

    /// The cookie cache's cookie name (Better Auth's `session.cookieCache`),
    /// e.g. `better-auth.session_data`.
    pub fn session_data_cookie_name(&self) -> &str {
        &self.inner.session_data_name
    }

    /// The admin plugin's impersonation cookie name, e.g.
    /// `better-auth.admin_session`.
    pub fn admin_session_cookie_name(&self) -> &str {
        &self.inner.admin_session_name
    }

    fn signature(&self, value: &str) -> String {
        let mut mac = self.inner.mac.clone();
        mac.update(value.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    /// The cookie value for `value`: `encodeURIComponent(value.signature)`.
    pub fn sign(&self, value: &str) -> String {
        let signed = format!("{value}.{}", self.signature(value));
        encode_uri_component(&signed)
    }

    /// Checks a cookie value and returns what was signed (the session token).
    pub fn verify<'a>(&self, cookie_value: &'a str) -> Result<Cow<'a, str>, CookieError> {
        if cookie_value.len() > MAX_COOKIE_VALUE_LEN {
            return Err(CookieError::Oversized {
                len: cookie_value.len(),
            });
        }
        let decoded = percent_decode_str(cookie_value)
            .decode_utf8()
            .map_err(|_| CookieError::Encoding)?;
        let (token, sig) = decoded.rsplit_once('.').ok_or(CookieError::Malformed)?;
        if token.is_empty() {
            return Err(CookieError::Malformed);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(CookieError::Oversized { len: token.len() });
        }
        if sig.len() != SIGNATURE_LEN || !sig.ends_with('=') {
            return Err(CookieError::SignatureFormat);
        }
        let mut raw = [0u8; 33];
        let n = STANDARD
            .decode_slice(sig, &mut raw)
            .map_err(|_| CookieError::SignatureFormat)?;
        if n != 32 {
            return Err(CookieError::SignatureFormat);
        }
        let mut mac = self.inner.mac.clone();
        mac.update(token.as_bytes());
        mac.verify_slice(&raw[..32])
            .map_err(|_| CookieError::SignatureMismatch)?;
        let token_len = token.len();
        Ok(match decoded {
            Cow::Borrowed(s) => Cow::Borrowed(&s[..token_len]),
            Cow::Owned(mut s) => {
                s.truncate(token_len);
                Cow::Owned(s)
            }
        })
    }

    /// The `Set-Cookie` for a session: `Max-Age` = the configured lifetime when
    /// `remember_me`, no `Max-Age` (a browser-session cookie) otherwise.
    pub fn session_cookie(&self, token: &str, remember_me: bool) -> Cookie<'static> {
        let max_age = remember_me.then_some(self.inner.config.max_age);
        self.build(self.inner.session_name.clone(), self.sign(token), max_age)
    }

    /// The `dont_remember` marker Better Auth sets next to a session cookie when
    /// "remember me" is off: the signed value `true`.
    pub fn dont_remember_cookie(&self) -> Cookie<'static> {
        self.build(
            self.inner.dont_remember_name.clone(),
            self.sign("true"),
            None,
        )
    }

    /// The cookies to send on sign-in: the session cookie, plus the
    /// `dont_remember` marker when `remember_me` is off.
    pub fn sign_in_cookies(&self, token: &str, remember_me: bool) -> Vec<Cookie<'static>> {
        let mut out = vec![self.session_cookie(token, remember_me)];
        if !remember_me {
            out.push(self.dont_remember_cookie());
        }
        out
    }

    /// The cookies to send on sign-out: both names with an empty value and
    /// `Max-Age=0`.
    pub fn expired_cookies(&self) -> Vec<Cookie<'static>> {
        [&self.inner.session_name, &self.inner.dont_remember_name]
            .into_iter()
            .map(|n| self.build(n.clone(), String::new(), Some(Duration::ZERO)))
            .collect()
    }

    fn build(&self, name: String, value: String, max_age: Option<Duration>) -> Cookie<'static> {
        let mut c = Cookie::new(name, value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        if self.inner.config.secure {
            c.set_secure(true);
        }
        if let CookieDomain::Shared(d) = &self.inner.config.domain {
            c.set_domain(d.clone());
        }
        if let Some(age) = max_age {
            let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
            c.set_max_age(cookie::time::Duration::seconds(secs));
        }
        c
    }

    /// Reads a `Cookie` request header: the session cookie's value (still
    /// signed) and whether a valid `dont_remember` marker is present.
    pub fn from_cookie_header<'h>(&self, header: &'h str) -> SessionCookieValue<'h> {
        let mut out = SessionCookieValue::default();
        for pair in header.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            if name == self.inner.session_name {
                out.session = Some(value);
            } else if name == self.inner.dont_remember_name {
                out.dont_remember = self.verify(value).is_ok_and(|v| v == "true");
            }
        }
        out
    }
}

/// The session cookie found in a `Cookie` header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCookieValue<'h> {
    /// The signed session cookie value, if present.
    pub session: Option<&'h str>,
    /// Whether the `dont_remember` marker is present and valid.
    pub dont_remember: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"better-auth-secret-12345678901234567890";

    fn cookies() -> SessionCookies {
        SessionCookies::new(SECRET, CookieConfig::default())
    }

    #[test]
    fn signature_matches_better_auth_for_a_known_token() {
        // base64(HMAC-SHA256("better-auth-secret-12345678901234567890", token)),
        // computed with Node's crypto as Better Auth does.
        let token = "PC048OqVWTAyvDH8MIRzHyhTp0vF0001";
        let value = cookies().sign(token);
        assert_eq!(
            value,
            "PC048OqVWTAyvDH8MIRzHyhTp0vF0001.dznw6w%2BbMw8dtf5OEOgTLBewq%2F3k8Hw%2Fd6AWaDMKTVw%3D"
        );
        assert_eq!(cookies().verify(&value).unwrap(), token);
    }

    #[test]
    fn attributes_follow_better_auth() {
        let c = cookies().session_cookie("tok", true).to_string();
        assert!(c.starts_with("better-auth.session_token=tok."), "{c}");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
            assert!(c.contains(attr), "{attr} missing in {c}");
        }
        assert!(!c.contains("Domain"), "{c}");
        assert!(!c.contains("Secure"), "{c}");

        let shared = SessionCookies::new(
            SECRET,
            CookieConfig {
                secure: true,
                domain: CookieDomain::platform("k3m9p2xw7q".parse().unwrap(), &Domain::default()),
                ..CookieConfig::default()
            },
        );
        let c = shared.session_cookie("tok", false).to_string();
        assert!(c.starts_with("__Secure-better-auth.session_token="), "{c}");
        assert!(c.contains("Domain=k3m9p2xw7q.nno.app"), "{c}");
        assert!(c.contains("Secure"), "{c}");
        assert!(!c.contains("Max-Age"), "{c}");
        let all = shared.sign_in_cookies("tok", false);
        assert_eq!(all[1].name(), "__Secure-better-auth.dont_remember");
        let expired: Vec<String> = shared
            .expired_cookies()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert!(
            expired.iter().all(|c| c.contains("Max-Age=0")),
            "{expired:?}"
        );
    }

    #[test]
    fn malformed_values_get_typed_errors() {
        let c = cookies();
        let good = c.sign("abc");
        let cases: Vec<(String, CookieError)> = vec![
            ("x".repeat(5000), CookieError::Oversized { len: 5000 }),
            ("%FF%FE".into(), CookieError::Encoding),
            ("%E2%82".into(), CookieError::Encoding),
            ("nodot".into(), CookieError::Malformed),
            (format!(".{}", &good[4..]), CookieError::Malformed),
            (
                good[..good.len() - 4].to_string(),
                CookieError::SignatureFormat,
            ),
            ("abc.".into(), CookieError::SignatureFormat),
            (
                format!("abc.{}=", "!".repeat(43)),
                CookieError::SignatureFormat,
            ),
            (
                good.replacen("abc", "abd", 1),
                CookieError::SignatureMismatch,
            ),
        ];
        for (value, want) in cases {
            assert_eq!(c.verify(&value).unwrap_err(), want, "{value:?}");
        }
        let other = SessionCookies::new(
            b"another secret entirely, 32 bytes+",
            CookieConfig::default(),
        );
        assert_eq!(
            other.verify(&good).unwrap_err(),
            CookieError::SignatureMismatch
        );
    }

    #[test]
    fn cookie_header_parsing_finds_the_session_and_marker() {
        let c = cookies();
        let v = c.sign("tok");
        let header = format!(
            "a=b; better-auth.session_token={v}; better-auth.dont_remember={}",
            c.sign("true")
        );
        let found = c.from_cookie_header(&header);
        assert_eq!(found.session, Some(v.as_str()));
        assert!(found.dont_remember);
        let forged = c.from_cookie_header("better-auth.dont_remember=true.xyz");
        assert!(!forged.dont_remember);
        assert_eq!(c.from_cookie_header("").session, None);
    }

    proptest! {
        #[test]
        fn encoding_then_parsing_gives_back_the_token(token in "[A-Za-z0-9]{1,64}") {
            let c = cookies();
            let signed = c.sign(&token);
            prop_assert_eq!(c.verify(&signed).unwrap(), token);
        }

        #[test]
        fn a_cookie_altered_in_any_byte_never_verifies(
            token in "[A-Za-z0-9]{32}",
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let c = cookies();
            let value = c.sign(&token);
            let mut bytes = value.clone().into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let altered = String::from_utf8_lossy(&bytes).into_owned();
            // Percent-encoding case (%2f for %2F) decodes to the same bytes; that
            // is the same cookie, not an alteration.
            let same = percent_decode_str(&altered).collect::<Vec<u8>>()
                == percent_decode_str(&value).collect::<Vec<u8>>();
            prop_assume!(!same);
            prop_assert!(c.verify(&altered).is_err());
        }

        #[test]
        fn arbitrary_values_never_panic(value in "\\PC{0,200}") {
            let _ = cookies().verify(&value);
        }
    }
}
