//! The conformance suites and S3-specific cases against an S3-compatible server
//! running in the test process (real HTTP, SigV4 and S3 XML on 127.0.0.1).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use neutrino_core::Error;
use neutrino_core::object::{ObjectStore, ObjectStoreExt, PutOptions};
use neutrino_core::provision::{Provisioner, ResourceKind, ResourceSpec};
use neutrino_core::testkit::provisioner::{
    RefusedDelete, refused_delete_leaves_the_resource_as_it_was,
};
use neutrino_core::testkit::unique;
use neutrino_s3::{S3ClientBuilder, S3ObjectStore, S3Provisioner};
use s3s::S3ErrorCode;
use support::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server};
use tokio::task::JoinSet;

const MIB: usize = 1024 * 1024;

async fn s3_objects() -> (Arc<dyn ObjectStore>, Server) {
    let server = Server::start().await;
    let bucket = unique("obj-");
    server.create_bucket(&bucket);
    let store = S3ObjectStore::new(server.client().await, bucket).expect("store");
    (Arc::new(store), server)
}

async fn s3_provisioner() -> (Arc<dyn Provisioner>, Server) {
    let server = Server::start().await;
    let p = S3Provisioner::new(server.client().await);
    (Arc::new(p), server)
}

neutrino_core::object_suite!(s3_objects);
/// Makes an S3 bucket's delete something the provisioner must refuse:
/// versioning (enabled or suspended) or object lock, with objects in it.
struct S3Refusal {
    server: Arc<Server>,
    p: S3Provisioner,
    /// `Enabled`, `Suspended` or `lock`.
    mode: &'static str,
}

const OBJECTS: usize = 3;

#[async_trait::async_trait]
impl RefusedDelete for S3Refusal {
    fn kinds(&self) -> Vec<ResourceKind> {
        vec![ResourceKind::Bucket]
    }

    async fn arrange(&self, _kind: ResourceKind, name: &str) {
        match self.mode {
            "lock" => self.server.enable_object_lock(name),
            status => self.server.set_versioning(name, status),
        }
        let store = self.p.bucket(name).await.expect("open");
        for i in 0..OBJECTS {
            store
                .put(
                    &format!("k{i}"),
                    Bytes::from(format!("v{i}")),
                    &PutOptions::default(),
                )
                .await
                .expect("put");
        }
    }

    async fn content_intact(&self, _kind: ResourceKind, name: &str) -> bool {
        let Ok(store) = self.p.bucket(name).await else {
            return false;
        };
        for i in 0..OBJECTS {
            match store.get(&format!("k{i}")).await {
                Ok(o) if o.data == format!("v{i}").as_bytes() => {}
                _ => return false,
            }
        }
        true
    }

    async fn release(&self, _kind: ResourceKind, name: &str) {
        self.server.clear_versions(name);
    }
}

async fn s3_refusal(mode: &'static str) -> (Arc<dyn Provisioner>, Arc<dyn RefusedDelete>, ()) {
    let server = Arc::new(Server::start().await);
    let p = S3Provisioner::new(server.client().await);
    let refusal = S3Refusal {
        server,
        p: p.clone(),
        mode,
    };
    (Arc::new(p), Arc::new(refusal), ())
}

async fn versioned_bucket() -> (Arc<dyn Provisioner>, Arc<dyn RefusedDelete>, ()) {
    s3_refusal("Enabled").await
}

neutrino_core::provisioner_suite!(s3_provisioner, refused_delete = versioned_bucket);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_with_suspended_versioning_is_refused_unchanged() {
    let (p, refusal, ()) = s3_refusal("Suspended").await;
    refused_delete_leaves_the_resource_as_it_was(&*p, &*refusal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_with_object_lock_is_refused_unchanged() {
    let (p, refusal, ()) = s3_refusal("lock").await;
    refused_delete_leaves_the_resource_as_it_was(&*p, &*refusal).await;
}

/// A store on a fresh bucket made through the provisioner.
async fn fresh_bucket() -> (S3ObjectStore, S3Provisioner, Server) {
    let server = Server::start().await;
    let p = S3Provisioner::new(server.client().await);
    let name = unique("b-");
    p.create(&ResourceSpec::new(ResourceKind::Bucket, &name))
        .await
        .expect("create bucket");
    let store = p.bucket(&name).await.expect("open bucket");
    (store, p, server)
}

fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mib_object_goes_up_in_parts_and_round_trips() {
    let (store, _p, _server) = fresh_bucket().await;
    let data = pattern(20 * MIB);
    let opts = PutOptions {
        content_type: Some("application/octet-stream".into()),
        metadata: BTreeMap::from([("origin".into(), "multipart".into())]),
    };
    let put = store
        .put("big/20mib.bin", data.clone(), &opts)
        .await
        .expect("put");
    assert_eq!(put.size, (20 * MIB) as u64);
    let got = store.get("big/20mib.bin").await.expect("get");
    assert_eq!(got.data.len(), data.len());
    assert!(got.data == data, "the bytes differ");
    assert_eq!(got.meta.content_type, opts.content_type);
    assert_eq!(got.meta.metadata, opts.metadata);
    // A multipart object's ETag ends in "-{parts}": 8 + 8 + 4 MiB.
    let raw = store
        .client()
        .sdk()
        .head_object()
        .bucket(store.bucket())
        .key("big/20mib.bin")
        .send()
        .await
        .expect("raw head");
    assert!(
        raw.e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .ends_with("-3"),
        "etag {:?}",
        raw.e_tag()
    );
    assert_eq!(raw.content_length(), Some((20 * MIB) as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_at_the_threshold_go_up_whole_and_above_it_in_parts() {
    let server = Server::start().await;
    let client = server
        .builder()
        .with_multipart_threshold(6 * MIB)
        .with_part_size(5 * MIB)
        .with_part_concurrency(1)
        .build()
        .await
        .expect("client");
    let bucket = unique("th-");
    server.create_bucket(&bucket);
    let store = S3ObjectStore::new(client, &bucket).expect("store");
    for (key, len, parts) in [("whole", 6 * MIB, None), ("parts", 6 * MIB + 1, Some("-2"))] {
        let data = pattern(len);
        store
            .put(key, data.clone(), &PutOptions::default())
            .await
            .expect("put");
        let got = store.get(key).await.expect("get");
        assert!(got.data == data, "{key}: bytes differ");
        assert_eq!(got.meta.content_type, None, "{key}");
        let raw = store
            .client()
            .sdk()
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("raw head");
        let etag = raw.e_tag().unwrap_or_default().trim_matches('"').to_owned();
        match parts {
            Some(suffix) => assert!(etag.ends_with(suffix), "{key}: etag {etag}"),
            None => assert!(!etag.contains('-'), "{key}: etag {etag}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_hundred_keys_are_listed_across_pages_exactly_once() {
    let (store, _p, _server) = fresh_bucket().await;
    let store = Arc::new(store);
    let mut want: Vec<String> = (0..1500).map(|i| format!("many/{i:05}")).collect();
    let mut tasks = JoinSet::new();
    for chunk in want.chunks(100) {
        let store = store.clone();
        let keys = chunk.to_vec();
        tasks.spawn(async move {
            for k in keys {
                store
                    .put(&k, Bytes::from_static(b"v"), &PutOptions::default())
                    .await
                    .expect("put");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("put task");
    }
    store
        .put("other/x", Bytes::from_static(b"o"), &PutOptions::default())
        .await
        .expect("put other");
    want.sort();

    let first = store.list("many/", None, 1000).await.expect("page 1");
    assert_eq!(first.objects.len(), 1000);
    assert_eq!(first.cursor.as_deref(), Some(want[999].as_str()));
    let second = store
        .list("many/", first.cursor.as_deref(), 1000)
        .await
        .expect("page 2");
    assert_eq!(second.objects.len(), 500);
    assert_eq!(second.cursor, None);
    let got: Vec<String> = first
        .objects
        .into_iter()
        .chain(second.objects)
        .map(|o| o.key)
        .collect();
    assert_eq!(got, want);

    let all: Vec<String> = store
        .list_all("many/")
        .await
        .expect("list all")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(all, want);
    // A cursor from another backend is just a key: start after any key.
    let from_middle = store
        .list("many/", Some("many/00749"), 10)
        .await
        .expect("from middle");
    assert_eq!(from_middle.objects[0].key, "many/00750");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_and_space_keys_reach_s3_unchanged() {
    let (store, _p, _server) = fresh_bucket().await;
    let keys = [
        "dir with spaces/file name.txt",
        "ünïcödé/日本語 ファイル.txt",
        "plus+and%25percent?query#hash",
        "emoji/\u{1F680} launch",
        "trailing space ",
    ];
    for (i, k) in keys.iter().enumerate() {
        store
            .put(k, Bytes::from(format!("v{i}")), &PutOptions::default())
            .await
            .expect("put");
        assert_eq!(store.head(k).await.expect("head").key, *k);
    }
    // The service sees the keys as given (no encoding of ours in the way).
    let raw = store
        .client()
        .sdk()
        .list_objects_v2()
        .bucket(store.bucket())
        .send()
        .await
        .expect("raw list");
    let mut seen: Vec<&str> = raw.contents().iter().filter_map(|o| o.key()).collect();
    seen.sort();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(seen, want);
    for k in keys {
        store.delete(k).await.expect("delete");
        assert!(store.get(k).await.unwrap_err().is_not_found(), "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_bucket_with_objects_leaves_nothing() {
    let (store, p, server) = fresh_bucket().await;
    let name = store.bucket().to_owned();
    for k in ["a", "b/c", "d e/ü"] {
        store
            .put(k, pattern(10), &PutOptions::default())
            .await
            .expect("put");
    }
    server.leave_open_upload(&name, "half/uploaded");
    assert_eq!(server.stored_items(), 4);

    p.delete(ResourceKind::Bucket, &name)
        .await
        .expect("delete bucket");
    assert!(!server.has_bucket(&name));
    assert_eq!(server.stored_items(), 0, "no objects or uploads remain");
    let e = p.get(ResourceKind::Bucket, &name).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = store.get("a").await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                entity: "bucket",
                ..
            }
        ),
        "{e:?}"
    );
    p.delete(ResourceKind::Bucket, &name)
        .await
        .expect("deleting again succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_bucket_of_more_than_a_thousand_objects_empties_it() {
    let (store, p, server) = fresh_bucket().await;
    let store = Arc::new(store);
    let mut tasks = JoinSet::new();
    for t in 0..10 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..121 {
                store
                    .put(
                        &format!("k/{t}/{i}"),
                        Bytes::from_static(b"x"),
                        &PutOptions::default(),
                    )
                    .await
                    .expect("put");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("put task");
    }
    assert_eq!(server.stored_items(), 1210);
    p.delete(ResourceKind::Bucket, store.bucket())
        .await
        .expect("delete");
    assert_eq!(server.stored_items(), 0);
    assert!(!server.has_bucket(store.bucket()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_map_to_the_core_kinds() {
    let server = Server::start().await;
    let client = server
        .builder()
        .with_max_attempts(1)
        .build()
        .await
        .expect("client");
    let bucket = unique("err-");
    server.create_bucket(&bucket);
    let store = S3ObjectStore::new(client.clone(), &bucket).expect("store");

    let e = store.get("no/such/key").await.unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { entity: "object", id } if id == "no/such/key"),
        "{e:?}"
    );
    let e = store.head("no/such/key").await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                entity: "object",
                ..
            }
        ),
        "{e:?}"
    );

    let missing = S3ObjectStore::new(client.clone(), unique("gone-")).expect("store");
    let e = missing.get("k").await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                entity: "bucket",
                ..
            }
        ),
        "{e:?}"
    );
    let e = missing
        .put("k", Bytes::from_static(b"x"), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                entity: "bucket",
                ..
            }
        ),
        "{e:?}"
    );

    for code in [
        S3ErrorCode::SlowDown,
        S3ErrorCode::InternalError,
        S3ErrorCode::ServiceUnavailable,
    ] {
        server.fail_reads(1, code.clone());
        let e = store.get("no/such/key").await.unwrap_err();
        assert!(e.is_retryable(), "{code:?}: {e:?}");
        assert!(std::error::Error::source(&e).is_some(), "source kept");
    }

    let e = S3ObjectStore::new(client.clone(), "Not_A_Bucket").unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");

    // Wrong secret: refused by the signature check, not retryable, no secret shown.
    let wrong = S3ClientBuilder::new()
        .with_endpoint(&server.endpoint)
        .with_region(support::REGION)
        .with_path_style(true)
        .with_credentials(ACCESS_KEY_ID, "wrong-secret-value")
        .with_max_attempts(1)
        .build()
        .await
        .expect("client");
    let e = S3ObjectStore::new(wrong, &bucket)
        .expect("store")
        .get("k")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Backend {
                retryable: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains("wrong-secret-value"));

    // Nothing listens on the port any more: a transport failure, retryable.
    let endpoint = server.endpoint.clone();
    drop(server);
    let gone = S3ClientBuilder::new()
        .with_endpoint(endpoint)
        .with_region(support::REGION)
        .with_path_style(true)
        .with_credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .with_max_attempts(1)
        .build()
        .await
        .expect("client");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let e = S3ObjectStore::new(gone, &bucket)
        .expect("store")
        .get("k")
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_retries_throttled_calls_within_max_attempts() {
    let server = Server::start().await;
    let bucket = unique("rt-");
    server.create_bucket(&bucket);
    let store = S3ObjectStore::new(
        server
            .builder()
            .with_max_attempts(3)
            .build()
            .await
            .expect("client"),
        &bucket,
    )
    .expect("store");
    store
        .put("k", Bytes::from_static(b"v"), &PutOptions::default())
        .await
        .expect("put");
    server.fail_reads(2, S3ErrorCode::SlowDown);
    assert_eq!(store.get("k").await.expect("third try").data, "v");
}

#[tokio::test]
async fn debug_output_never_shows_the_secret() {
    let builder = S3ClientBuilder::new()
        .with_endpoint("http://127.0.0.1:1")
        .with_region("us-east-1")
        .with_credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    let client = builder.clone().build().await.expect("client");
    let store = S3ObjectStore::new(client.clone(), "some-bucket").expect("store");
    let p = S3Provisioner::new(client.clone());
    for shown in [
        format!("{builder:?}"),
        format!("{builder:#?}"),
        format!("{client:?}"),
        format!("{store:?}"),
        format!("{p:?}"),
    ] {
        assert!(!shown.contains(SECRET_ACCESS_KEY), "{shown}");
        assert!(!shown.contains(ACCESS_KEY_ID), "{shown}");
    }
    assert!(format!("{builder:?}").contains("127.0.0.1:1"));
}

#[tokio::test]
async fn the_r2_preset_and_config_checks() {
    let r2 = S3ClientBuilder::r2("abc123");
    assert_eq!(
        r2.endpoint(),
        Some("https://abc123.r2.cloudflarestorage.com")
    );
    assert_eq!(r2.region(), Some("auto"));
    let client = r2
        .clone()
        .with_credentials("id", "secret")
        .build()
        .await
        .expect("r2 client");
    assert_eq!(client.region(), "auto");

    let cases = [
        ("credentials", r2.clone()),
        ("region", S3ClientBuilder::new().with_credentials("id", "s")),
        (
            "endpoint",
            r2.clone()
                .with_credentials("id", "s")
                .with_endpoint("ftp://example"),
        ),
        (
            "part_size",
            r2.clone().with_credentials("id", "s").with_part_size(MIB),
        ),
        (
            "max_attempts",
            r2.clone().with_credentials("id", "s").with_max_attempts(0),
        ),
        ("credentials", r2.clone().with_credentials("", "s")),
    ];
    for (key, builder) in cases {
        let e = builder.build().await.unwrap_err();
        assert!(
            matches!(e, Error::Config { key: k, .. } if k == key),
            "{key}: {e:?}"
        );
    }
}

#[cfg(feature = "default-credentials")]
#[tokio::test]
async fn the_default_chain_builds_without_fetching_credentials() {
    let builder = S3ClientBuilder::new()
        .with_region("eu-west-1")
        .with_default_credentials();
    assert!(format!("{builder:?}").contains("default chain"));
    let client = builder.build().await.expect("client");
    assert_eq!(client.region(), "eu-west-1");
}
