//! Cases of the [`ObjectStore`] contract.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::error::Error;
use crate::object::{ObjectStore, ObjectStoreExt, PutOptions};

use super::unique;

/// Data, content type and metadata round-trip; `head` agrees with `get`.
pub async fn round_trip_with_metadata(store: &dyn ObjectStore) {
    let key = format!("{}/report.json", unique("rt-"));
    let opts = PutOptions {
        content_type: Some("application/json".into()),
        metadata: BTreeMap::from([
            ("owner".into(), "tenant-1".into()),
            ("x_y-z".into(), "a b".into()),
        ]),
    };
    let data = Bytes::from_static(br#"{"ok":true}"#);
    let put = store.put(&key, data.clone(), &opts).await.expect("put");
    assert_eq!(put.key, key);
    assert_eq!(put.size, data.len() as u64);
    let got = store.get(&key).await.expect("get");
    assert_eq!(got.data, data);
    assert_eq!(got.meta.content_type.as_deref(), Some("application/json"));
    assert_eq!(got.meta.metadata, opts.metadata);
    let head = store.head(&key).await.expect("head");
    assert_eq!(head.key, key);
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(head.content_type, got.meta.content_type);
    assert_eq!(head.metadata, got.meta.metadata);
}

/// `get` and `head` of a missing key are `NotFound`.
pub async fn missing_object_is_not_found(store: &dyn ObjectStore) {
    let key = unique("missing-");
    assert!(store.get(&key).await.unwrap_err().is_not_found());
    assert!(store.head(&key).await.unwrap_err().is_not_found());
}

/// Delete removes the object; deleting a missing key succeeds.
pub async fn delete_removes_and_is_idempotent(store: &dyn ObjectStore) {
    let key = unique("del-");
    store
        .put(&key, Bytes::from_static(b"x"), &PutOptions::default())
        .await
        .expect("put");
    store.delete(&key).await.expect("delete");
    assert!(store.get(&key).await.unwrap_err().is_not_found());
    store.delete(&key).await.expect("delete again");
}

/// A second put replaces data and metadata whole.
pub async fn put_overwrites(store: &dyn ObjectStore) {
    let key = unique("ow-");
    let first = PutOptions {
        content_type: Some("text/plain".into()),
        metadata: BTreeMap::from([("v".into(), "1".into())]),
    };
    store
        .put(&key, Bytes::from_static(b"first version"), &first)
        .await
        .expect("put");
    store
        .put(&key, Bytes::from_static(b"second"), &PutOptions::default())
        .await
        .expect("put again");
    let got = store.get(&key).await.expect("get");
    assert_eq!(got.data, Bytes::from_static(b"second"));
    assert_eq!(got.meta.size, 6);
    assert_eq!(got.meta.content_type, None);
    assert!(got.meta.metadata.is_empty());
}

/// A zero-byte object is stored and listed.
pub async fn empty_object_round_trips(store: &dyn ObjectStore) {
    let key = unique("empty-");
    store
        .put(&key, Bytes::new(), &PutOptions::default())
        .await
        .expect("put");
    assert_eq!(store.get(&key).await.expect("get").data, Bytes::new());
    let listed = store.list_all(&key).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 0);
}

/// Listing returns exactly the objects with the prefix, in byte order, with sizes.
pub async fn list_by_prefix_in_byte_order(store: &dyn ObjectStore) {
    let prefix = unique("lp-");
    let mut keys = vec![
        format!("{prefix}/b.txt"),
        format!("{prefix}/a/deep/c.txt"),
        format!("{prefix}/A.txt"),
        format!("{prefix}/a.txt"),
    ];
    for (i, k) in keys.iter().enumerate() {
        store
            .put(k, Bytes::from(vec![b'x'; i + 1]), &PutOptions::default())
            .await
            .expect("put");
    }
    store
        .put(
            &format!("{}-other", prefix),
            Bytes::from_static(b"o"),
            &PutOptions::default(),
        )
        .await
        .expect("put other");
    let sizes: BTreeMap<String, u64> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), i as u64 + 1))
        .collect();
    keys.sort();
    let page = store
        .list(&format!("{prefix}/"), None, 100)
        .await
        .expect("list");
    let got: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
    assert_eq!(got, keys);
    for o in &page.objects {
        assert_eq!(o.size, sizes[&o.key], "size of {}", o.key);
    }
    assert_eq!(page.cursor, None);
}

/// Following cursors visits every object exactly once.
pub async fn list_pages_visit_every_object_once(store: &dyn ObjectStore) {
    let prefix = unique("pg-");
    let mut want: Vec<String> = (0..23).map(|i| format!("{prefix}/{i:03}")).collect();
    for k in &want {
        store
            .put(k, Bytes::from_static(b"v"), &PutOptions::default())
            .await
            .expect("put");
    }
    want.sort();
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..23 {
        let page = store
            .list(&prefix, cursor.as_deref(), 5)
            .await
            .expect("list page");
        assert!(page.objects.len() <= 5);
        got.extend(page.objects.into_iter().map(|o| o.key));
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(cursor, None, "listing did not terminate");
    assert_eq!(got, want);
}

/// Keys that could escape a folder are `InvalidInput` on every backend.
pub async fn traversal_keys_are_rejected(store: &dyn ObjectStore) {
    let long = "k".repeat(1025);
    for key in [
        "",
        "..",
        "../x",
        "a/../../b",
        "a/./b",
        "/etc/passwd",
        "a\0b",
        "a\\..\\b",
        long.as_str(),
    ] {
        let e = store
            .put(key, Bytes::from_static(b"x"), &PutOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "put {key:?}: {e:?}"
        );
        let e = store.get(key).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "get {key:?}: {e:?}"
        );
        let e = store.delete(key).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "delete {key:?}: {e:?}"
        );
    }
    for limit in [0, 1001] {
        assert!(store.list("", None, limit).await.is_err(), "limit {limit}");
    }
}

/// Keys with unicode, spaces and punctuation round-trip and list.
pub async fn unicode_and_space_keys_round_trip(store: &dyn ObjectStore) {
    let prefix = unique("uni-");
    let keys = [
        format!("{prefix}/héllo wörld.txt"),
        format!("{prefix}/日本語/ファイル"),
        format!("{prefix}/a+b=c&d?e#f%20g"),
        format!("{prefix}/emoji \u{1F680}"),
        format!("{prefix}/{}", "long".repeat(200)),
    ];
    for (i, k) in keys.iter().enumerate() {
        store
            .put(k, Bytes::from(format!("v{i}")), &PutOptions::default())
            .await
            .expect("put");
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            store.get(k).await.expect("get").data,
            Bytes::from(format!("v{i}")),
            "{k}"
        );
    }
    let mut want = keys.to_vec();
    want.sort();
    let got: Vec<String> = store
        .list_all(&prefix)
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(got, want);
}

/// Metadata names outside `a-z0-9-_`, non-ASCII values and oversized metadata are
/// `InvalidInput`.
pub async fn invalid_metadata_is_rejected(store: &dyn ObjectStore) {
    let key = unique("meta-");
    let cases = [
        BTreeMap::from([("Upper".to_string(), "v".to_string())]),
        BTreeMap::from([("ok".to_string(), "naïve".to_string())]),
        BTreeMap::from([("ok".to_string(), "x".repeat(9000))]),
    ];
    for metadata in cases {
        let opts = PutOptions {
            content_type: None,
            metadata,
        };
        let e = store
            .put(&key, Bytes::from_static(b"x"), &opts)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    }
    assert!(
        store.get(&key).await.unwrap_err().is_not_found(),
        "nothing was stored"
    );
}
