//! The race suite: every single-use, counted or unique rule of the auth layer
//! attacked with many simultaneous calls on a multi-thread runtime, in repeated
//! rounds, on any SQL backend, by [`auth_race_suite!`](crate::auth_race_suite).
//!
//! * one session per TOTP time step, across concurrent challenges;
//! * one session per backup code, across concurrent challenges;
//! * at most [`MAX_ATTEMPTS`] codes evaluated per challenge, and the right
//!   code refused after the lock;
//! * one membership per user and tenant through concurrent `add_member` and
//!   `accept_invitation` (and accept racing cancel), and removing it removes
//!   access;
//! * at most `max` attempts per rate-limit window, and a store that cannot
//!   count atomically refused when the limiter is built;
//! * an API key with `remaining = N` verifies exactly N times, a refill
//!   gives exactly its amount again, and a rate-limited key at most
//!   `rateLimitMax` times per window, each use counted once.
//!
//! Each case makes its own [`Auth`] and registry on a manual clock, with fresh
//! random users and tenants, so cases share nothing but the databases. Run by
//! [`auth_race_suite!`](crate::auth_race_suite) alone, or as part of
//! [`auth_suite!`](crate::auth_suite).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use neutrino_core::clock::{Clock, ManualClock};
use neutrino_core::ids::UserId;
use neutrino_core::kv::{KvPage, KvStore};
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_core::testkit::unique;
use neutrino_tenancy::{NewPlatform, PlatformClass};

use super::fixtures::{
    self, AuthStores, PASSWORD, SECRET, auth_with, meta, registry, unique_email,
};
use crate::apikey::NewApiKey;
use crate::audit::AuditEvent;
use crate::org::{NewOrganization, Organization, Organizations};
use crate::twofactor::{DIGITS, PERIOD, hotp, symmetric_decrypt};
use crate::{
    Auth, AuthBuilder, AuthError, RateLimitConfig, RequestMeta, SignInEmail, SignInOutcome,
    SignUpEmail, TwoFactorChallenge,
};

/// Concurrent calls per round.
pub const CALLS: usize = 16;
/// Rounds per case.
pub const ROUNDS: usize = 4;
/// The two-factor attempt limit the suite checks.
pub const MAX_ATTEMPTS: u32 = crate::twofactor::MAX_ATTEMPTS;

fn auth_on(
    stores: &AuthStores,
    clock: &ManualClock,
    b: impl FnOnce(AuthBuilder) -> AuthBuilder,
) -> impl Future<Output = Auth> + Send + 'static {
    auth_with(&stores.auth_db, clock, b)
}

/// Runs `CALLS` copies of `f(i)` at once on the runtime's worker threads,
/// released together by a barrier; returns their results in order.
async fn at_once<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let fut = f(i);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("task panicked"));
    }
    out
}

/// A user with two-factor on: its id, the TOTP secret and backup codes.
pub(crate) struct TwoFactorUser {
    pub(crate) id: UserId,
    pub(crate) email: String,
    pub(crate) secret: String,
    pub(crate) backup_codes: Vec<String>,
}

pub(crate) async fn two_factor_user(auth: &Auth, clock: &ManualClock) -> TwoFactorUser {
    two_factor_user_at(auth, clock, &unique_email()).await
}

/// [`two_factor_user`] with the address `email`.
pub(crate) async fn two_factor_user_at(
    auth: &Auth,
    clock: &ManualClock,
    email: &str,
) -> TwoFactorUser {
    let (id, token, email) = signed_up_at(auth, email).await;
    let setup = auth
        .enable_two_factor(&token, PASSWORD, "Race", &meta())
        .await
        .expect("enable two-factor");
    let enc: String = auth
        .db()
        .query(
            &Statement::new(r#"SELECT "secret" FROM "twoFactor" WHERE "userId" = ?1"#)
                .bind(id.as_str()),
        )
        .await
        .expect("read two-factor")
        .remove(0)
        .get(0)
        .expect("secret");
    let secret = symmetric_decrypt(SECRET.as_bytes(), &enc).expect("decrypt");
    let code = code_at(&secret, clock, 0);
    auth.verify_two_factor_setup(&token, &code, &meta())
        .await
        .expect("verify setup");
    // Out of the setup code's window.
    clock.advance(Duration::from_secs(3 * PERIOD));
    TwoFactorUser {
        id,
        email,
        secret,
        backup_codes: setup.backup_codes,
    }
}

fn step_now(clock: &ManualClock) -> u64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / PERIOD)
}

pub(crate) fn code_at(secret: &str, clock: &ManualClock, offset: i64) -> String {
    hotp(
        secret.as_bytes(),
        step_now(clock).wrapping_add_signed(offset),
        DIGITS,
    )
}

/// Codes valid in no step of the ±1 window.
fn wrong_codes(secret: &str, clock: &ManualClock, n: usize) -> Vec<String> {
    let valid: Vec<String> = (-1..=1).map(|o| code_at(secret, clock, o)).collect();
    (0u32..)
        .map(|i| format!("{:06}", (i * 7919 + 13) % 1_000_000))
        .filter(|c| !valid.contains(c))
        .take(n)
        .collect()
}

/// A password sign-in of the two-factor user `email`: its challenge.
pub(crate) async fn challenge(auth: &Auth, email: &str) -> TwoFactorChallenge {
    match auth
        .sign_in_email_2fa(SignInEmail::new(email, PASSWORD), &meta())
        .await
        .expect("password sign-in")
    {
        SignInOutcome::TwoFactorRequired(c) => c,
        SignInOutcome::SignedIn(_) => panic!("two-factor user signed in without a code"),
    }
}

/// An [`Auth`] on the stores and a user of it with two-factor on.
async fn two_factor_case(stores: &AuthStores, clock: &ManualClock) -> (Auth, TwoFactorUser) {
    let auth = auth_on(stores, clock, |b| b).await;
    let u = two_factor_user(&auth, clock).await;
    (auth, u)
}

/// `n` challenges of the two-factor user `email`, one password sign-in each.
async fn challenges(auth: &Auth, email: &str, n: usize) -> Arc<Vec<TwoFactorChallenge>> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(challenge(auth, email).await);
    }
    Arc::new(all)
}

async fn sessions_of(auth: &Auth, user: &UserId) -> usize {
    auth.list_sessions(user).await.expect("list sessions").len()
}

async fn failed_evaluations(auth: &Auth, user: &UserId) -> usize {
    auth.audit_log(Some(user), 10_000)
        .await
        .expect("audit log")
        .iter()
        .filter(|e| e.event == AuditEvent::TwoFactorFailed)
        .count()
}

/// 40 wrong codes at once on one challenge: at most 5 are evaluated (each
/// evaluation of a wrong code is audited), and the right code is refused
/// afterwards. With the right code among 16 concurrent wrong ones, at most one
/// session, and still at most 5 evaluations in all.
pub async fn wrong_codes_are_evaluated_at_most_five_times_per_challenge(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (auth, u) = two_factor_case(stores, clock).await;
    for round in 0..ROUNDS {
        clock.advance(Duration::from_secs(3 * PERIOD));
        let before = failed_evaluations(&auth, &u.id).await;
        let sessions = sessions_of(&auth, &u.id).await;
        let ch = challenge(&auth, &u.email).await;
        let wrong = Arc::new(wrong_codes(&u.secret, clock, 40));
        let results = at_once(40, |i| {
            let (auth, ch, wrong) = (auth.clone(), ch.clone(), Arc::clone(&wrong));
            async move { auth.verify_totp(&ch, &wrong[i], &meta()).await }
        })
        .await;
        for r in &results {
            let code = r.as_ref().expect_err("a wrong code signed in").code();
            assert!(
                code == "INVALID_CODE" || code == "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
                "round {round}: {code}"
            );
        }
        let evaluated = failed_evaluations(&auth, &u.id).await - before;
        assert!(
            evaluated <= MAX_ATTEMPTS as usize,
            "round {round}: {evaluated} wrong codes evaluated on one challenge"
        );
        let right = code_at(&u.secret, clock, 0);
        assert!(
            auth.verify_totp(&ch, &right, &meta()).await.is_err(),
            "round {round}: the right code signed in after the lock"
        );
        assert_eq!(sessions_of(&auth, &u.id).await, sessions);

        // The right code hidden among wrong ones.
        clock.advance(Duration::from_secs(3 * PERIOD));
        let before = failed_evaluations(&auth, &u.id).await;
        let ch = challenge(&auth, &u.email).await;
        let mut codes = wrong_codes(&u.secret, clock, CALLS - 1);
        codes.insert(round % CALLS, code_at(&u.secret, clock, 0));
        let codes = Arc::new(codes);
        let results = at_once(CALLS, |i| {
            let (auth, ch, codes) = (auth.clone(), ch.clone(), Arc::clone(&codes));
            async move { auth.verify_totp(&ch, &codes[i], &meta()).await }
        })
        .await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let evaluated = failed_evaluations(&auth, &u.id).await - before;
        assert!(ok <= 1, "round {round}: {ok} sessions from one challenge");
        assert!(
            evaluated + ok <= MAX_ATTEMPTS as usize,
            "round {round}: {} codes evaluated on one challenge",
            evaluated + ok
        );
        assert_eq!(sessions_of(&auth, &u.id).await, sessions + ok);
    }
}

/// One TOTP code sent on 16 challenges at once gives exactly one session.
pub async fn one_totp_code_gives_one_session_across_concurrent_challenges(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (auth, u) = two_factor_case(stores, clock).await;
    for round in 0..ROUNDS {
        clock.advance(Duration::from_secs(3 * PERIOD));
        let sessions = sessions_of(&auth, &u.id).await;
        let challenges = challenges(&auth, &u.email, CALLS).await;
        // The current step's code in even rounds, the next step's in odd ones.
        let code = code_at(&u.secret, clock, i64::from(round % 2 == 1));
        let results = at_once(CALLS, |i| {
            let (auth, chs, code) = (auth.clone(), Arc::clone(&challenges), code.clone());
            async move { auth.verify_totp(&chs[i], &code, &meta()).await }
        })
        .await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {ok} sessions from one TOTP code");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(r.code(), "INVALID_CODE", "round {round}");
        }
        assert_eq!(sessions_of(&auth, &u.id).await, sessions + 1);
        // Replayed later on a fresh challenge: refused.
        let ch = challenge(&auth, &u.email).await;
        assert!(auth.verify_totp(&ch, &code, &meta()).await.is_err());
    }
}

/// One backup code sent on 16 challenges at once gives exactly one session;
/// two codes used at once give one session each (the swap of the encrypted
/// list is retried, never merged).
pub async fn one_backup_code_gives_one_session_across_concurrent_challenges(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (auth, u) = two_factor_case(stores, clock).await;
    let codes = Arc::new(u.backup_codes.clone());
    for round in 0..ROUNDS {
        let sessions = sessions_of(&auth, &u.id).await;
        let challenges = challenges(&auth, &u.email, CALLS).await;
        // Round r: half the calls use code 2r, half code 2r+1.
        let results = at_once(CALLS, |i| {
            let (auth, chs, codes) = (auth.clone(), Arc::clone(&challenges), Arc::clone(&codes));
            async move {
                let code = &codes[2 * round + i % 2];
                (i % 2, auth.verify_backup_code(&chs[i], code, &meta()).await)
            }
        })
        .await;
        for which in 0..2 {
            let ok = results
                .iter()
                .filter(|(w, r)| *w == which && r.is_ok())
                .count();
            assert_eq!(ok, 1, "round {round}: {ok} sessions from one backup code");
        }
        assert_eq!(sessions_of(&auth, &u.id).await, sessions + 2);
        let ch = challenge(&auth, &u.email).await;
        assert!(
            auth.verify_backup_code(&ch, &codes[2 * round], &meta())
                .await
                .is_err(),
            "round {round}: a used backup code signed in again"
        );
    }
}

/// One challenge answered 16 times at once, with the right TOTP code and
/// different valid backup codes: at most one session, and the challenge is
/// consumed by it.
pub async fn one_challenge_gives_at_most_one_session(stores: &AuthStores, clock: &ManualClock) {
    let auth = auth_on(stores, clock, |b| b).await;
    for round in 0..ROUNDS {
        // A fresh user per round: ten backup codes each.
        let u = two_factor_user(&auth, clock).await;
        let codes = Arc::new(u.backup_codes.clone());
        let sessions = sessions_of(&auth, &u.id).await;
        let ch = challenge(&auth, &u.email).await;
        let totp = code_at(&u.secret, clock, 0);
        let results = at_once(CALLS, |i| {
            let (auth, ch, codes, totp) =
                (auth.clone(), ch.clone(), Arc::clone(&codes), totp.clone());
            async move {
                if i % 2 == 0 {
                    auth.verify_totp(&ch, &totp, &meta()).await
                } else {
                    auth.verify_backup_code(&ch, &codes[i / 2], &meta()).await
                }
            }
        })
        .await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert!(ok <= 1, "round {round}: {ok} sessions from one challenge");
        assert_eq!(sessions_of(&auth, &u.id).await, sessions + ok);
        assert!(
            auth.verify_totp(&ch, &code_at(&u.secret, clock, 1), &meta())
                .await
                .is_err(),
            "round {round}: a consumed challenge answered again"
        );
    }
}

/// A platform with a registry and organizations on the stores.
async fn organizations(stores: &AuthStores, clock: &ManualClock) -> Arc<Organizations> {
    let auth = auth_on(stores, clock, |b| b).await;
    let registry = registry(stores, clock).await;
    let platform = registry
        .create_platform(NewPlatform::new("Race", PlatformClass::Platform))
        .await
        .expect("platform")
        .id;
    let minter = registry.scope_minter().expect("minter");
    Arc::new(fixtures::organizations(auth, registry, platform, minter))
}

/// [`organizations`] and the session token of a fresh user, the owner of
/// the case's organizations.
async fn owned_organizations(
    stores: &AuthStores,
    clock: &ManualClock,
) -> (Arc<Organizations>, String) {
    let orgs = organizations(stores, clock).await;
    let (_, owner, _) = signed_up(orgs.auth()).await;
    (orgs, owner)
}

async fn signed_up(auth: &Auth) -> (UserId, String, String) {
    signed_up_at(auth, &unique_email()).await
}

async fn signed_up_at(auth: &Auth, email: &str) -> (UserId, String, String) {
    let email = email.to_owned();
    let s = auth
        .sign_up_email(SignUpEmail::new("Member", &email, PASSWORD), &meta())
        .await
        .expect("sign up");
    let token = s
        .token()
        .expect("sign-up without required verification signs in")
        .to_owned();
    (s.user.id, token, email)
}

/// A fresh organization "Race" of the user of `owner`, its slug `prefix` and
/// a random ID.
async fn race_org(orgs: &Organizations, owner: &str, prefix: &str) -> Organization {
    fixtures::create_org(orgs, owner, NewOrganization::new("Race", unique(prefix))).await
}

async fn memberships(auth: &Auth, org: &str, user: &UserId) -> i64 {
    auth.db()
        .query(
            &Statement::new(
                r#"SELECT COUNT(*) FROM "member" WHERE "organizationId" = ?1 AND "userId" = ?2"#,
            )
            .bind(org)
            .bind(user.as_str()),
        )
        .await
        .expect("count members")[0]
        .get(0)
        .expect("count")
}

/// 16 `add_member` calls for one user at once: one membership, the others
/// `USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION`.
pub async fn concurrent_add_member_makes_one_membership(stores: &AuthStores, clock: &ManualClock) {
    let (orgs, owner) = owned_organizations(stores, clock).await;
    for round in 0..ROUNDS {
        let org = race_org(&orgs, &owner, "race-add-").await;
        let (user, _, _) = signed_up(orgs.auth()).await;
        let results = at_once(CALLS, |_| {
            let (orgs, owner) = (Arc::clone(&orgs), owner.clone());
            async move {
                orgs.add_member(&owner, &org.id, &user, "member", &meta())
                    .await
            }
        })
        .await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {ok} add_member calls succeeded");
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(e.code(), "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION");
        }
        assert_eq!(memberships(orgs.auth(), org.id.as_str(), &user).await, 1);
    }
}

/// 16 `accept_invitation` calls at once (on several sessions of the invitee):
/// one membership; removing it removes access (`scope()` fails).
pub async fn concurrent_accepts_make_one_membership_and_removal_ends_access(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (orgs, owner) = owned_organizations(stores, clock).await;
    for round in 0..ROUNDS {
        let org = race_org(&orgs, &owner, "race-acc-").await;
        let (user, token, email) = signed_up(orgs.auth()).await;
        let mut tokens = vec![token];
        for _ in 1..4 {
            tokens.push(
                orgs.auth()
                    .sign_in_email(SignInEmail::new(&email, PASSWORD), &meta())
                    .await
                    .expect("sign in")
                    .session
                    .token,
            );
        }
        let inv = orgs
            .invite_member(&owner, &org.id, &email, "member", &meta())
            .await
            .expect("invite");
        let tokens = Arc::new(tokens);
        let results = at_once(CALLS, |i| {
            let (orgs, tokens, inv) = (Arc::clone(&orgs), Arc::clone(&tokens), inv.id.clone());
            async move {
                orgs.accept_invitation(&tokens[i % tokens.len()], &inv, &meta())
                    .await
            }
        })
        .await;
        let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(ok.len(), 1, "round {round}: {} accepts succeeded", ok.len());
        assert_eq!(memberships(orgs.auth(), org.id.as_str(), &user).await, 1);
        let member = ok[0].1.clone();
        // Every session that became active on the tenant loses it with the
        // membership.
        let active =
            tokens[results.iter().position(Result::is_ok).unwrap_or(0) % tokens.len()].clone();
        orgs.scope(&active).await.expect("the member's scope");
        orgs.remove_member(&owner, &org.id, &member.id, &meta())
            .await
            .expect("remove member");
        assert_eq!(memberships(orgs.auth(), org.id.as_str(), &user).await, 0);
        for t in tokens.iter() {
            assert!(
                orgs.scope(t).await.is_err(),
                "round {round}: a removed member still has a scope"
            );
        }
        // The used invitation cannot bring the user back.
        assert!(
            orgs.accept_invitation(&tokens[0], &inv.id, &meta())
                .await
                .is_err()
        );
        assert_eq!(memberships(orgs.auth(), org.id.as_str(), &user).await, 0);
    }
}

/// Accepts racing a cancel of the same invitation: either it was accepted
/// (one membership, status `accepted`) or canceled (no membership), never both.
pub async fn accept_racing_cancel_leaves_one_consistent_outcome(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (orgs, owner) = owned_organizations(stores, clock).await;
    for round in 0..4 * ROUNDS {
        let org = race_org(&orgs, &owner, "race-can-").await;
        let (user, token, email) = signed_up(orgs.auth()).await;
        let inv = orgs
            .invite_member(&owner, &org.id, &email, "member", &meta())
            .await
            .expect("invite");
        let results = at_once(CALLS, |i| {
            let (orgs, owner, token, inv) = (
                Arc::clone(&orgs),
                owner.clone(),
                token.clone(),
                inv.id.clone(),
            );
            async move {
                // Spread the calls so that some cancels land between an
                // accept's read of the invitation and its write.
                for _ in 0..(i * 7 + round * 3) % 24 {
                    tokio::task::yield_now().await;
                }
                if i % 2 == 0 {
                    orgs.accept_invitation(&token, &inv, &meta())
                        .await
                        .map(|_| "accepted")
                } else {
                    orgs.cancel_invitation(&owner, &inv, &meta())
                        .await
                        .map(|_| "canceled")
                }
            }
        })
        .await;
        let accepted = results
            .iter()
            .filter(|r| matches!(r, Ok("accepted")))
            .count();
        let canceled = results
            .iter()
            .filter(|r| matches!(r, Ok("canceled")))
            .count();
        assert_eq!(accepted + canceled, 1, "round {round}: {results:?}");
        let status: String = orgs
            .auth()
            .db()
            .query(
                &Statement::new(r#"SELECT "status" FROM "invitation" WHERE "id" = ?1"#)
                    .bind(inv.id.as_str()),
            )
            .await
            .expect("invitation")[0]
            .get(0)
            .expect("status");
        let members = memberships(orgs.auth(), org.id.as_str(), &user).await;
        if accepted == 1 {
            assert_eq!((status.as_str(), members), ("accepted", 1), "round {round}");
        } else {
            assert_eq!((status.as_str(), members), ("canceled", 0), "round {round}");
        }
    }
}

/// 32 sign-ins from one address at once, with a limit of 3 per 10 s: exactly 3
/// are let through per window, the rest get `TOO_MANY_REQUESTS`.
pub async fn concurrent_sign_ins_from_one_address_stay_within_the_limit(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let config = RateLimitConfig {
        window: Duration::from_secs(10),
        max: 3,
    };
    let auth = auth_on(stores, clock, |b| {
        b.with_rate_limit(stores.counters.clone(), config)
    })
    .await;
    let ip = format!("203.0.113.{}", rand::random::<u8>());
    for round in 0..ROUNDS {
        clock.advance(Duration::from_secs(11));
        let results = at_once(2 * CALLS, |_| {
            let (auth, ip) = (auth.clone(), ip.clone());
            async move {
                auth.sign_in_email(
                    SignInEmail::new(unique_email(), "wrong password"),
                    &RequestMeta::new(ip, "race-suite"),
                )
                .await
            }
        })
        .await;
        let through = results
            .iter()
            .filter(|r| !matches!(r, Err(AuthError::TooManyRequests { .. })))
            .count();
        assert_eq!(
            through, config.max as usize,
            "round {round}: {through} attempts let through a limit of {}",
            config.max
        );
    }
}

/// A KV store without atomic counters, as an eventually consistent one is.
struct NoCounters(Arc<dyn KvStore>);

impl fmt::Debug for NoCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoCounters")
    }
}

#[async_trait]
impl KvStore for NoCounters {
    async fn get(&self, key: &str) -> neutrino_core::Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn put(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> neutrino_core::Result<()> {
        self.0.put(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> neutrino_core::Result<()> {
        self.0.delete(key).await
    }
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> neutrino_core::Result<KvPage> {
        self.0.list(prefix, cursor, limit).await
    }
}

/// The rate limiter is refused at build time on a store that cannot count
/// atomically, and accepted on the suite's counter store.
pub async fn a_store_that_cannot_count_atomically_is_refused(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let refused = AuthBuilder::new_shared(stores.auth_db.clone(), SECRET)
        .with_clock(Arc::new(clock.clone()))
        .with_rate_limit(
            Arc::new(NoCounters(stores.counters.clone())),
            RateLimitConfig::default(),
        )
        .build()
        .expect_err("a store without atomic counters was accepted");
    assert!(
        matches!(
            refused,
            AuthError::Store(neutrino_core::Error::Config {
                key: "rate_limit",
                ..
            })
        ),
        "{refused:?}"
    );
    AuthBuilder::new_shared(stores.auth_db.clone(), SECRET)
        .with_rate_limit(stores.counters.clone(), RateLimitConfig::default())
        .build()
        .expect("the suite's counter store is accepted");
}

/// A fresh API key of a fresh organization's owner, made with `new`.
async fn limited_key(orgs: &Organizations, new: NewApiKey) -> String {
    let (_, owner, _) = signed_up(orgs.auth()).await;
    let org = race_org(orgs, &owner, "race-key-").await;
    orgs.create_api_key(
        &owner,
        NewApiKey {
            organization: Some(org.id),
            ..new
        },
        &meta(),
    )
    .await
    .expect("api key")
    .key
}

/// `CALLS` verifications of `key` at once: how many succeeded; every
/// failure must have the code `refused`.
async fn verify_at_once(orgs: &Arc<Organizations>, key: &str, refused: &str) -> usize {
    let key: Arc<str> = Arc::from(key);
    let results = at_once(CALLS, |_| {
        let (orgs, key) = (Arc::clone(orgs), Arc::clone(&key));
        async move { orgs.verify_api_key(&key).await }
    })
    .await;
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.code(), refused, "unexpected refusal: {e}");
    }
    results.iter().filter(|r| r.is_ok()).count()
}

async fn stored_key_counts(auth: &Auth, key: &str) -> (Option<i64>, Option<i64>) {
    let row = auth
        .db()
        .query(
            &Statement::new(r#"SELECT "remaining", "requestCount" FROM "apikey" WHERE "key" = ?1"#)
                .bind(crate::apikey::hash_key(key)),
        )
        .await
        .expect("read key")
        .remove(0);
    (row.get(0).expect("remaining"), row.get(1).expect("count"))
}

/// 16 verifications at once of a key with `remaining = N` (N < 16): exactly
/// N succeed, the others answer `USAGE_EXCEEDED`, `remaining` ends at 0 and
/// each use is counted once. Once the refill is due, 16 more at once get
/// exactly the refill amount.
pub async fn a_key_with_n_uses_left_verifies_exactly_n_times_under_concurrency(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let orgs = organizations(stores, clock).await;
    for round in 0..ROUNDS {
        let n = 3 + round as u32;
        let refill = crate::apikey::ApiKeyRefill {
            interval: Duration::from_secs(3600),
            amount: n + 1,
        };
        let new = NewApiKey {
            remaining: Some(n),
            refill: Some(refill),
            ..Default::default()
        };
        let key = limited_key(&orgs, new).await;
        let ok = verify_at_once(&orgs, &key, "USAGE_EXCEEDED").await;
        assert_eq!(ok, n as usize, "round {round}: {ok} of {CALLS} verified");
        assert_eq!(
            stored_key_counts(orgs.auth(), &key).await,
            (Some(0), Some(i64::from(n))),
            "round {round}: remaining and uses counted"
        );
        // Not yet due: still nothing.
        clock.advance(Duration::from_secs(1800));
        assert_eq!(verify_at_once(&orgs, &key, "USAGE_EXCEEDED").await, 0);
        clock.advance(Duration::from_secs(1801));
        let ok = verify_at_once(&orgs, &key, "USAGE_EXCEEDED").await;
        assert_eq!(
            ok,
            n as usize + 1,
            "round {round}: {ok} verified after the refill"
        );
        assert_eq!(stored_key_counts(orgs.auth(), &key).await.0, Some(0));
    }
}

/// 16 verifications at once of a key limited to `max` per window: exactly
/// `max` succeed, the others answer `RATE_LIMITED`; within the window no
/// more get in; after it, `max` again.
pub async fn a_rate_limited_key_verifies_at_most_max_times_per_window_under_concurrency(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let orgs = organizations(stores, clock).await;
    for round in 0..ROUNDS {
        let max = 2 + round as u32;
        let window = Duration::from_secs(60);
        let rate_limit = Some(crate::apikey::ApiKeyRateLimit { window, max });
        let key = limited_key(
            &orgs,
            NewApiKey {
                rate_limit,
                ..Default::default()
            },
        )
        .await;
        let ok = verify_at_once(&orgs, &key, "RATE_LIMITED").await;
        assert_eq!(ok, max as usize, "round {round}: {ok} of {CALLS} verified");
        assert_eq!(
            stored_key_counts(orgs.auth(), &key).await.1,
            Some(i64::from(max))
        );
        clock.advance(Duration::from_secs(30));
        assert_eq!(verify_at_once(&orgs, &key, "RATE_LIMITED").await, 0);
        match orgs.verify_api_key(&key).await {
            Err(AuthError::ApiKeyRateLimited { retry_after }) => {
                assert!(retry_after <= Duration::from_secs(30) && !retry_after.is_zero());
            }
            other => panic!("round {round}: expected RATE_LIMITED, got {other:?}"),
        }
        clock.advance(Duration::from_secs(31));
        let ok = verify_at_once(&orgs, &key, "RATE_LIMITED").await;
        assert_eq!(
            ok, max as usize,
            "round {round}: {ok} verified in the next window"
        );
    }
}

/// A deletion racing joins, accepts and key creations on the same
/// organization: whatever order the database picks, afterwards no member,
/// invitation or key of it is left, and no session or key gets a scope on it.
pub async fn deleting_an_organization_racing_joins_and_keys_leaves_nothing_usable(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let (orgs, owner) = owned_organizations(stores, clock).await;
    for round in 0..3 * ROUNDS {
        let org = race_org(&orgs, &owner, "race-del-").await;
        let mut joiners = Vec::new();
        let mut invitees = Vec::new();
        for _ in 0..4 {
            joiners.push(signed_up(orgs.auth()).await);
            let (id, token, email) = signed_up(orgs.auth()).await;
            let inv = orgs
                .invite_member(&owner, &org.id, &email, "member", &meta())
                .await
                .expect("invite");
            invitees.push((id, token, inv.id));
        }
        let joiners = Arc::new(joiners);
        let invitees = Arc::new(invitees);
        let results = at_once(CALLS, |i| {
            let (orgs, owner, joiners, invitees) = (
                Arc::clone(&orgs),
                owner.clone(),
                Arc::clone(&joiners),
                Arc::clone(&invitees),
            );
            async move {
                match i % 4 {
                    0 if i == 0 => orgs
                        .delete_organization(&owner, &org.id, &meta())
                        .await
                        .map(|_| None),
                    0 | 1 => {
                        let (user, _, _) = &joiners[i % joiners.len()];
                        orgs.add_member(&owner, &org.id, user, "member", &meta())
                            .await
                            .map(|_| None)
                    }
                    2 => {
                        let (_, token, inv) = &invitees[i % invitees.len()];
                        orgs.accept_invitation(token, inv, &meta())
                            .await
                            .map(|_| None)
                    }
                    _ => orgs
                        .create_api_key(
                            &owner,
                            NewApiKey {
                                organization: Some(org.id),
                                owned_by_organization: i % 8 == 3,
                                ..NewApiKey::default()
                            },
                            &meta(),
                        )
                        .await
                        .map(|k| Some(k.key)),
                }
            }
        })
        .await;
        assert!(
            results[0].is_ok(),
            "round {round}: the deletion failed: {:?}",
            results[0]
        );
        let left: i64 = orgs.auth().db()
            .query(
                &Statement::new(
                    r#"SELECT (SELECT COUNT(*) FROM "member" WHERE "organizationId" = ?1) + (SELECT COUNT(*) FROM "invitation" WHERE "organizationId" = ?1 AND "status" = 'pending') + (SELECT COUNT(*) FROM "apikey" WHERE "referenceId" = ?1) + (SELECT COUNT(*) FROM "organization" WHERE "id" = ?1)"#,
                )
                .bind(org.id.as_str()),
            )
            .await
            .expect("count")[0]
            .get(0)
            .expect("count");
        assert_eq!(
            left, 0,
            "round {round}: rows of the deleted organization left"
        );
        for key in results.iter().flatten().flatten() {
            assert!(
                orgs.verify_api_key(key).await.is_err(),
                "round {round}: a key of the deleted organization verifies"
            );
        }
        for (_, token, _) in invitees.iter() {
            assert!(
                orgs.scope(token).await.is_err(),
                "round {round}: an invitee has a scope"
            );
        }
        for (user, token, _) in joiners.iter() {
            let _ = orgs.set_active(token, Some(&org.id), &meta()).await;
            assert!(
                orgs.scope(token).await.is_err(),
                "round {round}: {user} has a scope"
            );
        }
    }
}

/// One trusted device's value used by 16 password sign-ins at once: one
/// skips the second factor (and gets the new value), the others get a
/// challenge; the new value then works once more.
pub async fn one_trust_value_signs_in_once_under_concurrency(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let auth = auth_on(stores, clock, |b| b).await;
    let u = two_factor_user(&auth, clock).await;
    let ch = challenge(&auth, &u.email).await;
    let signed = auth
        .verify_backup_code(&ch, &u.backup_codes[0], &meta())
        .await
        .expect("backup code");
    let mut value = auth
        .trust_device(&signed.session.token)
        .await
        .expect("trust device");
    for round in 0..ROUNDS {
        let sessions = sessions_of(&auth, &u.id).await;
        let shared = Arc::new(value.clone());
        let results = at_once(CALLS, |_| {
            let (auth, email, shared) = (auth.clone(), u.email.clone(), Arc::clone(&shared));
            async move {
                auth.sign_in_email_trusting(
                    SignInEmail::new(&email, PASSWORD),
                    Some(&shared),
                    &meta(),
                )
                .await
                .expect("password sign-in")
            }
        })
        .await;
        let trusted: Vec<_> = results
            .into_iter()
            .filter(|r| matches!(r.outcome, SignInOutcome::SignedIn(_)))
            .collect();
        assert_eq!(
            trusted.len(),
            1,
            "round {round}: one trust value, {} sessions",
            trusted.len()
        );
        assert_eq!(sessions_of(&auth, &u.id).await, sessions + 1);
        value = trusted[0].trust_device.clone().expect("a new trust value");
    }
}

/// Concurrent unlinks of each of a user's two accounts leave one account:
/// the `DELETE` counts the user's accounts itself, in repeated rounds.
pub async fn concurrent_unlinks_never_remove_the_last_account(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    use crate::oauth::accounts::AccountSelector;
    let auth = fixtures::auth(stores, clock).await;
    for round in 0..8 {
        let signed = auth
            .sign_up_email(
                SignUpEmail::new("Two Accounts", unique_email(), PASSWORD),
                &meta(),
            )
            .await
            .expect("sign up");
        let user = signed.user.id;
        // A second account, as a link leaves it.
        auth.db()
            .execute(
                &Statement::new(
                    r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "createdAt", "updatedAt") VALUES (?1, ?2, 'acme', ?3, ?4, ?4)"#,
                )
                .bind(unique("acct"))
                .bind(unique("sub"))
                .bind(user.as_str())
                .bind(crate::date::format(clock.now())),
            )
            .await
            .expect("a second account");
        let accounts = auth.list_accounts(&user).await.expect("accounts");
        assert_eq!(accounts.len(), 2);
        let mut tasks = Vec::new();
        for a in accounts {
            let (auth, token) = (
                auth.clone(),
                signed.session.clone().expect("a session").token,
            );
            tasks.push(tokio::spawn(async move {
                let which = AccountSelector {
                    account_id: Some(a.id),
                    provider_id: None,
                };
                auth.unlink_account(&token, &which).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(()) => ok += 1,
                Err(e) => assert_eq!(e.code(), "FAILED_TO_UNLINK_LAST_ACCOUNT", "round {round}"),
            }
        }
        assert_eq!(ok, 1, "round {round}: one unlink of two");
        let left = auth.list_accounts(&user).await.expect("accounts");
        assert_eq!(left.len(), 1, "round {round}: the last account stays");
    }
}
