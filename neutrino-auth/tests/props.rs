//! Property tests of sessions and cookies on a real SQLite file.

mod common;

use std::time::Duration;

use common::{Fixture, meta};
use neutrino_auth::{Auth, SessionCacheConfig, testkit};
use neutrino_core::ids::UserId;
use proptest::prelude::*;
use tokio::runtime::Runtime;

struct World {
    rt: Runtime,
    fx: Fixture,
    auth: Auth,
    user: UserId,
    other: UserId,
}

fn world(cache: bool) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (fx, auth, user, other) = rt.block_on(async {
        let fx = Fixture::new().await;
        let mut b = fx.builder();
        if cache {
            b = b.with_session_cache(SessionCacheConfig::default());
        }
        let auth = fx.build(b).await;
        let user = testkit::user(&auth, "A").await.user.id;
        let other = testkit::user(&auth, "B").await.user.id;
        (fx, auth, user, other)
    });
    World {
        rt,
        fx,
        auth,
        user,
        other,
    }
}

#[derive(Clone, Debug)]
enum End {
    SignOut,
    RevokeOne,
    RevokeAll,
    RevokeOthers,
    /// Let it expire: advance the clock past its lifetime by this many seconds.
    Expire(u64),
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        Just(End::SignOut),
        Just(End::RevokeOne),
        Just(End::RevokeAll),
        Just(End::RevokeOthers),
        (0u64..100_000).prop_map(End::Expire),
    ]
}

fn check_never_validates(w: &World, how: End, remember_me: bool, validated_before: bool) {
    w.rt.block_on(async {
        let a = &w.auth;
        let s = a
            .operator_session(&w.user, remember_me, "support", "test session", &meta())
            .await
            .unwrap();
        let keep = a
            .operator_session(&w.user, true, "support", "test session", &meta())
            .await
            .unwrap();
        let bystander = a
            .operator_session(&w.other, true, "support", "test session", &meta())
            .await
            .unwrap();
        if validated_before {
            // Warm the cache, where there is one.
            assert!(a.get_session(&s.token).await.unwrap().is_some());
        }
        let cookie = a.cookies().sign(&s.token);
        match how {
            End::SignOut => a.sign_out(&s.token, &meta()).await.unwrap(),
            End::RevokeOne => {
                a.revoke_session(&w.user, &s.token, &meta()).await.unwrap();
            }
            End::RevokeAll => {
                a.revoke_sessions(&w.user, &meta()).await.unwrap();
            }
            End::RevokeOthers => {
                a.revoke_other_sessions(&w.user, &keep.token, &meta())
                    .await
                    .unwrap();
            }
            End::Expire(extra) => {
                let life = if remember_me {
                    a.session_config().expires_in
                } else {
                    a.session_config().dont_remember_expires_in
                };
                w.fx.clock.advance(life + Duration::from_secs(extra));
            }
        }
        assert!(
            a.get_session(&s.token).await.unwrap().is_none(),
            "{how:?}: the ended session still validates"
        );
        assert!(a.get_session_from_cookie(&cookie).await.unwrap().is_none());
        // Nothing else was touched, except by expiry or revoke-all.
        if !matches!(how, End::Expire(_)) {
            assert!(a.get_session(&bystander.token).await.unwrap().is_some());
            if !matches!(how, End::RevokeAll) {
                assert!(a.get_session(&keep.token).await.unwrap().is_some());
            }
        }
    });
}

fn check_altered_cookie(w: &World, pos: prop::sample::Index, byte: u8) {
    w.rt.block_on(async {
        let a = &w.auth;
        let s = a
            .operator_session(&w.user, true, "support", "test session", &meta())
            .await
            .unwrap();
        let cookie = a.cookies().sign(&s.token);
        // The genuine cookie validates (and warms the cache, where there is one).
        assert!(a.get_session_from_cookie(&cookie).await.unwrap().is_some());
        let mut bytes = cookie.clone().into_bytes();
        let i = pos.index(bytes.len());
        if bytes[i] == byte {
            return;
        }
        bytes[i] = byte;
        let altered = String::from_utf8_lossy(&bytes).into_owned();
        let decoded = |v: &str| percent_encoding::percent_decode_str(v).collect::<Vec<u8>>();
        if decoded(&altered) == decoded(&cookie) {
            // %2f for %2F: the same cookie.
            return;
        }
        let got = a.get_session_from_cookie(&altered).await;
        assert!(
            !matches!(got, Ok(Some(_))),
            "altered cookie validated: byte {i}"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_revoked_or_expired_session_never_validates(
        how in end(),
        remember_me in any::<bool>(),
        validated_before in any::<bool>(),
    ) {
        thread_local! { static W: World = world(false); }
        W.with(|w| check_never_validates(w, how, remember_me, validated_before));
    }

    #[test]
    fn a_revoked_or_expired_session_never_validates_with_the_cache_on(
        how in end(),
        remember_me in any::<bool>(),
        validated_before in any::<bool>(),
    ) {
        thread_local! { static W: World = world(true); }
        W.with(|w| check_never_validates(w, how, remember_me, validated_before));
    }

    #[test]
    fn a_session_cookie_altered_in_any_byte_never_validates(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        thread_local! { static W: World = world(false); }
        W.with(|w| check_altered_cookie(w, pos, byte));
    }

    #[test]
    fn a_session_cookie_altered_in_any_byte_never_validates_with_the_cache_warm(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        thread_local! { static W: World = world(true); }
        W.with(|w| check_altered_cookie(w, pos, byte));
    }
}
