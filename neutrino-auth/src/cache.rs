//! The optional session validation cache.
//!
//! A bounded in-process map from session token to the validated session and
//! user, so that repeated [`crate::Auth::get_session`] calls skip the database.
//! Off by default.
//!
//! **Revocation lag.** Revocations, sign-outs and password changes made through
//! the same [`crate::Auth`] evict the affected entries at once. A revocation made
//! elsewhere (another process, another `Auth` over the same database, Better Auth
//! itself) is seen only when the entry expires: a revoked session can keep
//! validating in this process for at most the cache TTL (default 60 s, at most
//! 5 min). Changes to the user (name, email verification) show up with the same
//! lag. A cached session never outlives its own `expiresAt`, and sliding expiry
//! is only applied on a cache miss (the TTL is far shorter than `updateAge`).
//! Role changes, email verification, two-factor changes and a change of a
//! session's active organization made through the same `Auth` drop the
//! user's entries at once; an organization's deletion clears the active
//! organization of its members' sessions, which show it after the same lag.
//!
//! The cache is a wrapper, `CachingSessions`, around the database's session
//! store, implementing the same crate-private `SessionStore` trait: every
//! read, revocation and sign-out goes through it, and no call site checks it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use neutrino_core::clock::{SharedClock, millis_since_epoch};
use neutrino_core::ids::UserId;
use neutrino_core::sql::Statement;
use subtle::ConstantTimeEq;

use crate::cookie::{MAX_COOKIE_VALUE_LEN, SessionCookies};
use crate::error::Result;
use crate::model::{AuthSession, RequestMeta, Session};
use crate::session::{GetSessionOptions, Revoke, SessionStore};

/// The longest TTL the cache accepts.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(300);

/// Settings of the validation cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCacheConfig {
    /// How long an entry is trusted (default 60 s, at most [`MAX_CACHE_TTL`]).
    pub ttl: Duration,
    /// Most entries kept (default 10,000); when full, expired entries are
    /// dropped first, then arbitrary ones.
    pub max_entries: usize,
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            max_entries: 10_000,
        }
    }
}

struct Entry {
    value: Arc<AuthSession>,
    /// The session's signed cookie value as this crate writes it: a request
    /// presenting exactly this value needs no second HMAC check.
    cookie: String,
    /// When the entry stops being trusted, ms since the epoch: the earlier of
    /// insertion + TTL and the session's expiry.
    valid_until: i64,
}

pub(crate) struct SessionCache {
    ttl_ms: i64,
    max_entries: usize,
    map: Mutex<HashMap<String, Entry>>,
    /// Bumped (under the map's lock) by every eviction: a value read from
    /// the database before an eviction is not cached after it, so a session
    /// revoked while a read of it was in flight is not put back.
    evictions: std::sync::atomic::AtomicU64,
}

impl SessionCache {
    pub(crate) fn new(config: SessionCacheConfig) -> Self {
        Self {
            ttl_ms: i64::try_from(config.ttl.as_millis()).unwrap_or(i64::MAX),
            max_entries: config.max_entries.max(1),
            map: Mutex::new(HashMap::new()),
            evictions: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The eviction count, read before a database read whose result
    /// [`SessionCache::put`] may store.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(std::sync::atomic::Ordering::Acquire)
    }

    fn evicted(&self) {
        self.evictions
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, token: &str, now_ms: i64) -> Option<Arc<AuthSession>> {
        let mut map = self.lock();
        match map.get(token) {
            Some(e) if e.valid_until > now_ms => Some(Arc::clone(&e.value)),
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }

    /// A hit only if `cookie` is, byte for byte, the signed value stored with
    /// the entry (compared in constant time): it was verified when stored.
    pub(crate) fn get_by_cookie(
        &self,
        token: &str,
        cookie: &str,
        now_ms: i64,
    ) -> Option<Arc<AuthSession>> {
        let map = self.lock();
        let e = map.get(token)?;
        let same: bool = e.cookie.as_bytes().ct_eq(cookie.as_bytes()).into();
        (same && e.valid_until > now_ms).then(|| Arc::clone(&e.value))
    }

    /// Stores `value`, unless an eviction happened since `evictions_before`
    /// was read (the value may be one the eviction revoked).
    pub(crate) fn put(
        &self,
        value: Arc<AuthSession>,
        cookie: String,
        session_expires_ms: i64,
        now_ms: i64,
        evictions_before: u64,
    ) {
        let valid_until = now_ms.saturating_add(self.ttl_ms).min(session_expires_ms);
        let mut map = self.lock();
        if self.evictions() != evictions_before {
            return;
        }
        if map.len() >= self.max_entries && !map.contains_key(&value.session.token) {
            map.retain(|_, e| e.valid_until > now_ms);
            while map.len() >= self.max_entries {
                let Some(k) = map.keys().next().cloned() else {
                    break;
                };
                map.remove(&k);
            }
        }
        map.insert(
            value.session.token.clone(),
            Entry {
                value,
                cookie,
                valid_until,
            },
        );
    }

    pub(crate) fn remove(&self, token: &str) {
        let mut map = self.lock();
        self.evicted();
        map.remove(token);
    }

    pub(crate) fn remove_user(&self, user_id: &str, keep_token: Option<&str>) {
        // The user's own sessions, and those it holds as an impersonator.
        let mut map = self.lock();
        self.evicted();
        map.retain(|token, e| {
            let theirs = e.value.user.id.as_str() == user_id
                || e.value
                    .session
                    .impersonated_by
                    .is_some_and(|by| by.as_str() == user_id);
            !theirs || Some(token.as_str()) == keep_token
        });
    }

    /// Drops the sessions whose active organization is `org`.
    pub(crate) fn remove_organization(&self, org: &str) {
        let mut map = self.lock();
        self.evicted();
        map.retain(|_, e| e.value.session.active_organization_id.as_deref() != Some(org));
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// A session store with the validation cache in front: reads are answered
/// from the cache when they can be, misses go to the wrapped store and are
/// cached, and every revocation, sign-out and user change goes to the store
/// and then evicts what it touched.
pub(crate) struct CachingSessions<S> {
    store: S,
    cache: SessionCache,
    cookies: SessionCookies,
    clock: SharedClock,
}

impl<S: SessionStore> CachingSessions<S> {
    /// `store` behind a cache of `config`; `cookies` signs the cached
    /// sessions' cookie values, `clock` times the entries.
    pub(crate) fn new(
        store: S,
        config: SessionCacheConfig,
        cookies: SessionCookies,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            cache: SessionCache::new(config),
            cookies,
            clock,
        }
    }

    /// The entry for a cookie value identical to the one stored with it (so
    /// verified before); `None` sends the caller through full verification.
    fn by_cookie(&self, cookie_value: &str) -> Option<Arc<AuthSession>> {
        if cookie_value.len() > MAX_COOKIE_VALUE_LEN {
            return None;
        }
        let (token, _) = cookie_value.rsplit_once('.')?;
        if token.contains('%') {
            return None;
        }
        self.cache
            .get_by_cookie(token, cookie_value, self.clock.now_millis())
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for CachingSessions<S> {
    async fn get(&self, token: &str, opts: GetSessionOptions) -> Result<Option<Arc<AuthSession>>> {
        let now_ms = self.clock.now_millis();
        if !opts.disable_cache
            && let Some(hit) = self.cache.get(token, now_ms)
        {
            return Ok(Some(hit));
        }
        let evictions = self.cache.evictions();
        let Some(value) = self.store.get(token, opts).await? else {
            self.cache.remove(token);
            return Ok(None);
        };
        let cached = if value.refreshed {
            Arc::new(AuthSession {
                refreshed: false,
                ..(*value).clone()
            })
        } else {
            Arc::clone(&value)
        };
        let cookie = self.cookies.sign(&cached.session.token);
        let expires_ms = millis_since_epoch(cached.session.expires_at);
        self.cache
            .put(cached, cookie, expires_ms, now_ms, evictions);
        Ok(Some(value))
    }

    async fn get_signed(
        &self,
        cookie_value: &str,
        opts: GetSessionOptions,
    ) -> Result<Option<Arc<AuthSession>>> {
        if let Some(hit) = self.by_cookie(cookie_value) {
            return Ok(Some(hit));
        }
        let token = self.cookies.verify(cookie_value)?;
        self.get(&token, opts).await
    }

    async fn list(&self, user_id: &UserId) -> Result<Vec<Session>> {
        self.store.list(user_id).await
    }

    async fn revoke(&self, which: Revoke<'_>, with: Vec<Statement>) -> Result<u64> {
        let n = self.store.revoke(which, with).await?;
        match which {
            Revoke::One(_, token) if n > 0 => self.cache.remove(token),
            Revoke::One(..) => {}
            Revoke::All(user) => self.cache.remove_user(user.as_str(), None),
            Revoke::Others(user, keep) => self.cache.remove_user(user.as_str(), keep),
        }
        Ok(n)
    }

    async fn sign_out(&self, token: &str, meta: &RequestMeta) -> Result<()> {
        self.store.sign_out(token, meta).await?;
        self.cache.remove(token);
        Ok(())
    }

    fn forget_user(&self, user_id: &str) {
        self.store.forget_user(user_id);
        self.cache.remove_user(user_id, None);
    }

    fn forget_organization(&self, org: &str) {
        self.store.forget_organization(org);
        self.cache.remove_organization(org);
    }

    fn cached(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::model::User;

    fn session(token: &str) -> Arc<AuthSession> {
        let now = SystemTime::now();
        let user_id = UserId::generate();
        Arc::new(AuthSession {
            session: Session {
                id: format!("id-{token}"),
                token: token.to_owned(),
                user_id,
                expires_at: now + Duration::from_secs(3600),
                created_at: now,
                updated_at: now,
                ip_address: None,
                user_agent: None,
                impersonated_by: None,
                active_organization_id: None,
            },
            user: User {
                id: user_id,
                name: "U".into(),
                email: "u@example.com".into(),
                email_verified: false,
                image: None,
                created_at: now,
                updated_at: now,
                role: None,
                banned: None,
                ban_reason: None,
                ban_expires: None,
                two_factor_enabled: None,
            },
            refreshed: false,
        })
    }

    #[test]
    fn a_read_that_raced_an_eviction_is_not_cached() {
        let cache = SessionCache::new(SessionCacheConfig::default());
        let now = millis_since_epoch(SystemTime::now());
        let far = now + 3_600_000;
        // A read starts (the count is taken), the session is revoked and
        // evicted meanwhile, then the read's result arrives: not stored.
        let before = cache.evictions();
        cache.remove("t1");
        cache.put(session("t1"), "t1.sig".into(), far, now, before);
        assert!(cache.get("t1", now).is_none());
        let before = cache.evictions();
        cache.remove_user("someone", None);
        cache.put(session("t2"), "t2.sig".into(), far, now, before);
        assert!(cache.get("t2", now).is_none());
        // Without an eviction in between, it is.
        let before = cache.evictions();
        cache.put(session("t3"), "t3.sig".into(), far, now, before);
        assert!(cache.get("t3", now).is_some());
    }
}
