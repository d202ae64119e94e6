//! Cases of the [`KvStore`] contract.

use std::time::Duration;

use bytes::Bytes;

use crate::clock::ManualClock;
use crate::error::Error;
use crate::kv::{KvStore, KvStoreExt};

use super::{join_all, unique};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A value put is the value got.
pub async fn round_trip(kv: &dyn KvStore, _clock: &ManualClock) {
    let key = unique("rt:");
    kv.put(&key, b("hello"), None).await.expect("put");
    assert_eq!(kv.get(&key).await.expect("get"), Some(b("hello")));
}

/// A key never written is `None`.
pub async fn missing_key_is_none(kv: &dyn KvStore, _clock: &ManualClock) {
    assert_eq!(kv.get(&unique("missing:")).await.expect("get"), None);
}

/// A second put replaces the value (and drops an earlier TTL).
pub async fn put_overwrites(kv: &dyn KvStore, clock: &ManualClock) {
    let key = unique("ow:");
    kv.put(&key, b("one"), Some(Duration::from_secs(60)))
        .await
        .expect("put");
    kv.put(&key, b("two"), None).await.expect("put again");
    clock.advance(Duration::from_secs(120));
    assert_eq!(kv.get(&key).await.expect("get"), Some(b("two")));
}

/// Delete removes the key; deleting a missing key succeeds.
pub async fn delete_removes_and_is_idempotent(kv: &dyn KvStore, _clock: &ManualClock) {
    let key = unique("del:");
    kv.put(&key, b("x"), None).await.expect("put");
    kv.delete(&key).await.expect("delete");
    assert_eq!(kv.get(&key).await.expect("get"), None);
    kv.delete(&key).await.expect("delete again");
}

/// Arbitrary bytes, including empty values, come back unchanged.
pub async fn binary_and_empty_values_round_trip(kv: &dyn KvStore, _clock: &ManualClock) {
    let key = unique("bin:");
    let value: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    kv.put(&key, Bytes::from(value.clone()), None)
        .await
        .expect("put");
    assert_eq!(
        kv.get(&key).await.expect("get").as_deref(),
        Some(&value[..])
    );
    let empty = unique("empty:");
    kv.put(&empty, Bytes::new(), None).await.expect("put empty");
    assert_eq!(kv.get(&empty).await.expect("get empty"), Some(Bytes::new()));
}

/// A key with a TTL is readable before it passes and gone (not got, not listed)
/// after.
pub async fn ttl_expires_keys(kv: &dyn KvStore, clock: &ManualClock) {
    let prefix = unique("ttl:");
    let short = format!("{prefix}short");
    let long = format!("{prefix}long");
    kv.put(&short, b("s"), Some(Duration::from_secs(60)))
        .await
        .expect("put short");
    kv.put(&long, b("l"), Some(Duration::from_secs(3600)))
        .await
        .expect("put long");
    clock.advance(Duration::from_secs(59));
    assert_eq!(kv.get(&short).await.expect("get"), Some(b("s")));
    let listed = kv.list_all(&prefix).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.expires_at.is_some()), "{listed:?}");
    clock.advance(Duration::from_secs(2));
    assert_eq!(kv.get(&short).await.expect("get expired"), None);
    let names: Vec<String> = kv
        .list_all(&prefix)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, std::slice::from_ref(&long));
    assert_eq!(kv.get(&long).await.expect("get long"), Some(b("l")));
}

/// A TTL under one second is refused.
pub async fn short_ttl_is_rejected(kv: &dyn KvStore, _clock: &ManualClock) {
    let e = kv
        .put(&unique("ttl0:"), b("x"), Some(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
}

/// Listing returns exactly the keys with the prefix, in byte order.
pub async fn list_by_prefix_in_byte_order(kv: &dyn KvStore, _clock: &ManualClock) {
    let prefix = unique("lp:");
    let other = unique("lq:");
    let mut keys = vec![
        format!("{prefix}b"),
        format!("{prefix}a"),
        format!("{prefix}B"),
        format!("{prefix}a/é"),
        format!("{prefix}a b"),
    ];
    for k in &keys {
        kv.put(k, b("v"), None).await.expect("put");
    }
    kv.put(&format!("{other}a"), b("v"), None)
        .await
        .expect("put other");
    keys.sort();
    let page = kv.list(&prefix, None, 100).await.expect("list");
    let names: Vec<String> = page.keys.into_iter().map(|k| k.name).collect();
    assert_eq!(names, keys);
    assert_eq!(page.cursor, None);
    assert!(
        kv.list(&unique("none:"), None, 10)
            .await
            .expect("list")
            .keys
            .is_empty()
    );
}

/// Following cursors visits every key exactly once.
pub async fn list_pages_visit_every_key_once(kv: &dyn KvStore, _clock: &ManualClock) {
    let prefix = unique("pg:");
    let mut want: Vec<String> = (0..25).map(|i| format!("{prefix}{i:03}")).collect();
    for k in &want {
        kv.put(k, b("v"), None).await.expect("put");
    }
    want.sort();
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = kv
            .list(&prefix, cursor.as_deref(), 10)
            .await
            .expect("list page");
        assert!(page.keys.len() <= 10);
        got.extend(page.keys.into_iter().map(|k| k.name));
        pages += 1;
        assert!(pages <= 25, "listing does not terminate");
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(got, want);
}

/// Empty, oversized, `.`/`..` and control-character keys are `InvalidInput`.
pub async fn invalid_keys_are_rejected(kv: &dyn KvStore, _clock: &ManualClock) {
    let long = "k".repeat(513);
    for key in ["", ".", "..", "a\0b", "line\nbreak", long.as_str()] {
        let e = kv.put(key, b("x"), None).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "put {key:?}: {e:?}"
        );
        let e = kv.get(key).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "get {key:?}: {e:?}"
        );
    }
    kv.put(&"k".repeat(512), b("x"), None)
        .await
        .expect("512 bytes is allowed");
}

/// A list limit of 0 or over 1,000 is `InvalidInput`.
pub async fn invalid_list_limits_are_rejected(kv: &dyn KvStore, _clock: &ManualClock) {
    for limit in [0, 1001] {
        let e = kv.list("", None, limit).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{limit}: {e:?}");
    }
}

/// A store with atomic counters counts every one of many concurrent increments
/// exactly once, keeps the window's expiry, restarts after it and reads back as
/// decimal text; a store without them says so and refuses `increment`.
pub async fn counters_are_atomic_or_refused(kv: &dyn KvStore, clock: &ManualClock) {
    let key = unique("ctr:");
    let ttl = Duration::from_secs(10);
    if !kv.atomic_counters() {
        let e = kv.increment(&key, ttl).await.expect_err("no counters");
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        return;
    }
    let first = kv.increment(&key, ttl).await.expect("increment");
    assert_eq!(first.count, 1);
    // Many at once, as many handles would: each count is given exactly once.
    let mut counts: Vec<u64> = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        tasks.push(kv.increment(&key, ttl));
    }
    for r in join_all(tasks).await {
        let c = r.expect("concurrent increment");
        assert_eq!(
            c.expires_at, first.expires_at,
            "a live counter keeps its expiry"
        );
        counts.push(c.count);
    }
    counts.sort_unstable();
    assert_eq!(counts, (2..=25).collect::<Vec<u64>>());
    assert_eq!(kv.get(&key).await.expect("get"), Some(b("25")));
    // After the window, a new one.
    clock.advance(Duration::from_secs(11));
    let again = kv.increment(&key, ttl).await.expect("increment");
    assert_eq!(again.count, 1);
    assert!(again.expires_at > first.expires_at);
    // A plain value, or one without expiry, is not a counter: it restarts.
    let plain = unique("ctr-plain:");
    kv.put(&plain, b("not a number"), Some(ttl))
        .await
        .expect("put");
    assert_eq!(kv.increment(&plain, ttl).await.expect("inc").count, 1);
    let forever = unique("ctr-forever:");
    kv.put(&forever, b("41"), None).await.expect("put");
    assert_eq!(kv.increment(&forever, ttl).await.expect("inc").count, 1);
    // The rules of put apply.
    assert!(matches!(
        kv.increment(&unique("ctr-short:"), Duration::from_millis(10))
            .await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        kv.increment("", ttl).await,
        Err(Error::InvalidInput { .. })
    ));
}
