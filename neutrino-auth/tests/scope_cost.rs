//! What one `scope()` costs: round trips to the auth database and to the
//! registry database, counted by the test executors around them, cold and warm,
//! with and without the session cache.

mod common;

use std::time::Duration;

use common::meta;
use common::world::World;
use neutrino_auth::SessionCacheConfig;
use neutrino_auth::org::NewOrganization;

/// Round trips (auth, registry) of one `scope()` call on platform A.
async fn cost(w: &World, token: &str) -> (usize, usize) {
    let (auth, registry) = (w.a.auth_db.calls(), w.registry_db.calls());
    w.a.orgs.scope(token).await.expect("scope");
    (
        w.a.auth_db.calls() - auth,
        w.registry_db.calls() - registry,
    )
}

async fn measure(w: &World) -> Vec<(usize, usize)> {
    let ada = w.a.user("Ada").await;
    let tok = &ada.session.token;
    w.a.orgs
        .create_organization(tok, NewOrganization::new("Acme", "acme"), &meta())
        .await
        .expect("create");
    let first = cost(w, tok).await;
    let second = cost(w, tok).await;
    // The registry's status cache (60 s) has run out; the session is not due
    // for extension yet.
    w.clock.advance(Duration::from_secs(61));
    let stale_status = cost(w, tok).await;
    let again = cost(w, tok).await;
    vec![first, second, stale_status, again]
}

#[tokio::test]
async fn scope_costs_without_the_session_cache() {
    let w = World::new().await;
    let c = measure(&w).await;
    eprintln!("no cache: {c:?}");
}

#[tokio::test]
async fn scope_costs_with_the_session_cache() {
    let w = World::with(
        |b| b.with_session_cache(SessionCacheConfig::default()),
        |o| o,
    )
    .await;
    let c = measure(&w).await;
    eprintln!("cache: {c:?}");
}
