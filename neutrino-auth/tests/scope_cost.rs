//! What one `scope()` costs: round trips to the auth database and to the
//! registry database, counted by the test executors around them, cold and warm,
//! with and without the session cache.
//!
//! Before the scope read was joined, a call cost 3 auth round trips (2 with a
//! cached session) and 1 registry round trip (2 once the status cache had run
//! out). Now it is one auth query (session, platform role, active
//! organization and membership together) whether or not the session is
//! cached, and no registry query once the tenant is known and the platform's
//! status is cached. The membership is still read on every call: a change
//! made anywhere, even outside this process, takes effect at once.

mod common;

use std::time::Duration;

use common::world::World;
use neutrino_auth::org::NewOrganization;
use neutrino_auth::{SessionCacheConfig, testkit};
use neutrino_core::sql::{SqlExecutor, Statement};

/// Round trips (auth, registry) of one `scope()` call on platform A.
async fn cost(w: &World, token: &str) -> (usize, usize) {
    let (auth, registry) = (w.a.auth_db.calls(), w.registry_db.calls());
    w.a.orgs.scope(token).await.expect("scope");
    (w.a.auth_db.calls() - auth, w.registry_db.calls() - registry)
}

/// The costs of four calls: the first (the tenant not yet known to the
/// registry's cache), the next, one after the status cache has run out, and
/// the next; then checks that a membership change made behind this process's
/// back is seen by the very next call.
async fn measure(w: &World) -> Vec<(usize, usize)> {
    let ada = w.a.user("Ada").await;
    let tok = &ada.session.token;
    testkit::create_org(&w.a.orgs, tok, NewOrganization::new("Acme", "acme")).await;
    let first = cost(w, tok).await;
    let second = cost(w, tok).await;
    // The registry's status cache (60 s) has run out; the session is not due
    // for extension yet.
    w.clock.advance(Duration::from_secs(61));
    let stale_status = cost(w, tok).await;
    let again = cost(w, tok).await;

    // Another process demotes her, then removes her: the next scope sees each.
    let set_role = Statement::new(r#"UPDATE "member" SET "role" = 'member' WHERE "userId" = ?1"#)
        .bind(ada.user.id.as_str());
    w.a.raw_auth_db.execute(&set_role).await.unwrap();
    assert_eq!(w.a.orgs.scope(tok).await.unwrap().roles(), "member");
    let remove =
        Statement::new(r#"DELETE FROM "member" WHERE "userId" = ?1"#).bind(ada.user.id.as_str());
    w.a.raw_auth_db.execute(&remove).await.unwrap();
    assert_eq!(
        w.a.orgs.scope(tok).await.unwrap_err().code(),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    // And a session revoked elsewhere is refused at once, cached or not.
    let revoke = Statement::new(r#"DELETE FROM "session" WHERE "token" = ?1"#).bind(tok.as_str());
    w.a.raw_auth_db.execute(&revoke).await.unwrap();
    assert_eq!(
        w.a.orgs.scope(tok).await.unwrap_err().code(),
        "UNAUTHORIZED"
    );
    vec![first, second, stale_status, again]
}

/// (auth, registry) round trips of: the first call, a warm one, one after the
/// status cache ran out, a warm one.
const EXPECTED: [(usize, usize); 4] = [(1, 1), (1, 0), (1, 1), (1, 0)];

#[tokio::test]
async fn scope_costs_without_the_session_cache() {
    let w = World::new().await;
    assert_eq!(measure(&w).await, EXPECTED);
}

#[tokio::test]
async fn scope_costs_with_the_session_cache() {
    let w = World::with(
        |b| b.with_session_cache(SessionCacheConfig::default()),
        |o| o,
    )
    .await;
    assert_eq!(measure(&w).await, EXPECTED);
}

/// `scope()` keeps sessions as `get_session` does: one due for extension is
/// extended, an expired one is refused and deleted.
#[tokio::test]
async fn scope_extends_a_session_due_for_it_and_refuses_an_expired_one() {
    let w = World::new().await;
    let ada = w.a.user("Ada").await;
    let tok = &ada.session.token;
    testkit::create_org(&w.a.orgs, tok, NewOrganization::new("Acme", "acme")).await;
    let expires = || async {
        let rows =
            w.a.raw_auth_db
                .query(
                    &Statement::new(r#"SELECT "expiresAt" FROM "session" WHERE "token" = ?1"#)
                        .bind(tok.as_str()),
                )
                .await
                .unwrap();
        rows.first().map(|r| r.get::<String>(0).unwrap())
    };
    let before = expires().await.expect("session");
    // Past `updateAge` (1 day): due for extension.
    w.clock.advance(Duration::from_secs(24 * 3600 + 60));
    w.a.orgs.scope(tok).await.expect("scope");
    let after = expires().await.expect("session");
    assert!(after > before, "extended: {before} -> {after}");
    // Past its expiry: refused, and gone.
    w.clock.advance(Duration::from_secs(8 * 24 * 3600));
    assert_eq!(
        w.a.orgs.scope(tok).await.unwrap_err().code(),
        "UNAUTHORIZED"
    );
    assert_eq!(expires().await, None);
}
