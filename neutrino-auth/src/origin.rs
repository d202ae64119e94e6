//! The origin (CSRF) check for state-changing requests, with Better Auth's rules.
//!
//! * A non-`GET` request that carries cookies must come from a trusted origin:
//!   its `Origin` header, or else (no or an empty `Origin`) its `Referer`'s
//!   origin. None, or an `Origin` of `null`, is `MISSING_OR_NULL_ORIGIN`; an untrusted one `INVALID_ORIGIN`.
//! * Sign-in and sign-up without cookies are checked too when the request has
//!   an `Origin` or any `Sec-Fetch-*` header; a cross-site top-level navigation
//!   (`Sec-Fetch-Site: cross-site` with `Sec-Fetch-Mode: navigate`) is
//!   `CROSS_SITE_NAVIGATION_LOGIN_BLOCKED`.
//! * Callback and redirect URLs must be relative paths (`/x`; not `//x`, nor
//!   with a `\`, `%2f` or `%5c`) or on a trusted origin (its authority ending
//!   at `/`, `\`, `?` or `#`, as browsers read it), else
//!   `INVALID_CALLBACK_URL`.
//!
//! Trusted origins are the base URL's origin and the configured list. Entries
//! may contain `*` (any run of characters) and `?` (one character), e.g.
//! `https://*.k3m9p2xw7q.nno.app`; an entry without `://` is matched against the
//! host alone. There is no CSRF token: SameSite=Lax cookies plus this check are
//! the protection, as in Better Auth.

use crate::error::{AuthError, Result};

/// The parts of a request the origin check reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// Whether a `Cookie` header is present.
    pub has_cookies: bool,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Referer` header.
    pub referer: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
    /// The `Sec-Fetch-Mode` header.
    pub sec_fetch_mode: Option<&'a str>,
    /// The `Sec-Fetch-Dest` header.
    pub sec_fetch_dest: Option<&'a str>,
    /// Whether this is a sign-in or sign-up route.
    pub is_sign_in_or_up: bool,
    /// Callback / redirect URLs carried by the request (`callbackURL`,
    /// `redirectTo`, …).
    pub callback_urls: Vec<&'a str>,
}

/// `scheme://host[:port]` of an absolute http(s) URL, lowercased; `None` for
/// anything else.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    // A browser ends the authority of an http(s) URL at `\\` as at `/`:
    // `http://evil.example\\@trusted/` is evil.example's.
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

/// Glob match with `*` and `?`, ASCII case-insensitive.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p].eq_ignore_ascii_case(&text[t])) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether `origin` (already `scheme://host`) matches one of `trusted`.
pub fn is_trusted(origin: &str, trusted: &[String]) -> bool {
    let host = origin.split_once("://").map_or(origin, |(_, h)| h);
    trusted.iter().any(|t| {
        let t = t.trim().trim_end_matches('/');
        if t.contains("://") {
            if t.contains(['*', '?']) {
                glob(t.as_bytes(), origin.as_bytes())
            } else {
                origin_of(t).is_some_and(|o| o == origin)
            }
        } else {
            glob(t.as_bytes(), host.as_bytes())
        }
    })
}

fn safe_relative(url: &str) -> bool {
    let path = url[..url.find(['?', '#']).unwrap_or(url.len())].to_ascii_lowercase();
    url.starts_with('/')
        && !url.starts_with("//")
        && !url.contains('\\')
        && !path.contains("%2f")
        && !path.contains("%5c")
        && !url.chars().any(|c| c.is_control())
}

/// The trusted origins of one auth server and the checks made with them: a
/// component on its own, which [`crate::Auth`] hands out through
/// [`crate::Auth::origins`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedOrigins {
    list: Vec<String>,
}

impl TrustedOrigins {
    /// These origins (see the module documentation for the patterns).
    pub fn new(list: Vec<String>) -> Self {
        Self { list }
    }

    /// The trusted origins: the base URL's and the configured ones.
    pub fn list(&self) -> &[String] {
        &self.list
    }

    /// Whether `url` is an acceptable callback or redirect target.
    pub fn is_safe_callback(&self, url: &str) -> bool {
        safe_relative(url) || origin_of(url).is_some_and(|o| is_trusted(&o, &self.list))
    }

    /// Runs the origin check on a request; see the module docs.
    pub fn check(&self, req: &OriginRequest<'_>) -> Result<()> {
        let trusted = &self.list;
        let safe_method = matches!(
            req.method.to_ascii_uppercase().as_str(),
            "GET" | "HEAD" | "OPTIONS"
        );
        let has_fetch_meta = req.sec_fetch_site.is_some()
            || req.sec_fetch_mode.is_some()
            || req.sec_fetch_dest.is_some();
        let must_check = !safe_method
            && (req.has_cookies
                || (req.is_sign_in_or_up && (req.origin.is_some() || has_fetch_meta)));
        if must_check {
            if req.is_sign_in_or_up
                && !req.has_cookies
                && req
                    .sec_fetch_site
                    .is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
                && req
                    .sec_fetch_mode
                    .is_some_and(|m| m.eq_ignore_ascii_case("navigate"))
            {
                return Err(AuthError::CrossSiteNavigationLoginBlocked);
            }
            // Better Auth's `origin || referer`: a `null` Origin (a sandboxed
            // or cross-origin-redirected request) is not replaced by the
            // Referer, which a redirect through another site keeps.
            let claimed = match req.origin.map(str::trim) {
                Some("null") => return Err(AuthError::MissingOrNullOrigin),
                Some(o) if !o.is_empty() => Some(o),
                _ => req
                    .referer
                    .map(str::trim)
                    .filter(|r| !r.is_empty() && *r != "null"),
            };
            let Some(claimed) = claimed else {
                return Err(AuthError::MissingOrNullOrigin);
            };
            let origin = origin_of(claimed).ok_or(AuthError::InvalidOrigin)?;
            if !is_trusted(&origin, trusted) {
                return Err(AuthError::InvalidOrigin);
            }
        }
        if req.callback_urls.iter().any(|u| !self.is_safe_callback(u)) {
            return Err(AuthError::InvalidCallbackUrl);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_extracted_and_matched() {
        assert_eq!(
            origin_of("https://App.Example.com:8443/x?y#z").as_deref(),
            Some("https://app.example.com:8443")
        );
        assert_eq!(origin_of("/relative"), None);
        assert_eq!(origin_of("https://"), None);
        let trusted = vec![
            "https://*.k3m9p2xw7q.nno.app".to_owned(),
            "localhost:3000".to_owned(),
            "https://exact.io/".to_owned(),
        ];
        assert!(is_trusted(
            "https://console.app.default.k3m9p2xw7q.nno.app",
            &trusted
        ));
        assert!(!is_trusted("https://k3m9p2xw7q.nno.app.evil.com", &trusted));
        assert!(!is_trusted(
            "http://console.app.default.k3m9p2xw7q.nno.app",
            &trusted
        ));
        assert!(is_trusted("http://localhost:3000", &trusted));
        assert!(is_trusted("https://exact.io", &trusted));
        assert!(!is_trusted("https://exact.io.evil", &trusted));
        assert!(glob(b"a*b?c", b"aXXbYc"));
        assert!(!glob(b"a*b?c", b"aXXbc"));
    }
}
