//! The client's envelope, errors, retries, rate limiter and pagination, and the
//! adapters' Cloudflare-specific behaviour, against the contract-checking fake.

mod fake;

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use fake::{FakeCloudflare, Fault, FaultKind, TOKEN};
use neutrino_cloudflare::{
    CloudflareError, CloudflareProvisionerBuilder, D1Executor, RetryPolicy, WorkersKv,
};
use neutrino_core::Error;
use neutrino_core::clock::ManualClock;
use neutrino_core::kv::{KvStore, KvStoreExt};
use neutrino_core::object::{ObjectStore, PutOptions};
use neutrino_core::provision::{Provisioner, ResourceKind, ResourceSpec};
use neutrino_core::sql::{SqlExecutor, Statement, Value};

fn fault(status: u16, retry_after: Option<&str>) -> Fault {
    Fault {
        status,
        retry_after: retry_after.map(str::to_owned),
        ..Fault::default()
    }
}

fn cloudflare_source(e: &Error) -> &CloudflareError {
    e.source()
        .and_then(|s| s.downcast_ref::<CloudflareError>())
        .unwrap_or_else(|| panic!("no cloudflare source in {e:?}"))
}

async fn kv(fake: &FakeCloudflare, retry: RetryPolicy) -> WorkersKv {
    let ns = fake.create_namespace("retries");
    let client = fake.client_builder().with_retry(retry).build().unwrap();
    WorkersKv::new(client, ns)
}

fn policy(max_attempts: u32, max_delay_ms: u64, max_total_ms: u64) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(max_delay_ms),
        max_total_delay: Duration::from_millis(max_total_ms),
    }
}

#[tokio::test]
async fn rate_limited_calls_wait_for_retry_after_in_seconds() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(3, 2000, 3000)).await;
    fake.inject([fault(429, Some("1"))]);
    let t0 = Instant::now();
    assert_eq!(kv.get("a").await.unwrap(), None);
    assert!(t0.elapsed() >= Duration::from_secs(1), "{:?}", t0.elapsed());
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].0 - reqs[0].0 >= Duration::from_millis(990));
}

#[tokio::test]
async fn rate_limited_calls_wait_for_retry_after_as_an_http_date() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(3, 3000, 3000)).await;
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    fake.inject([fault(429, Some(&date))]);
    let t0 = Instant::now();
    assert_eq!(kv.get("a").await.unwrap(), None);
    // HTTP dates have whole seconds: the wait is between 1 and 2 s.
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(4, 200, 1000)).await;
    fake.inject([fault(503, None), fault(500, None)]);
    kv.put("k", Bytes::from_static(b"v"), None).await.unwrap();
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(4, 200, 1000)).await;
    fake.inject([fault(400, None)]);
    let e = kv.get("k").await.unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    assert_eq!(fake.requests().len(), 1);
    let cf = cloudflare_source(&e);
    assert_eq!(cf.status(), Some(400));
    assert!(cf.has_code(10400));
}

#[tokio::test]
async fn attempts_are_capped() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(4, 200, 5000)).await;
    fake.inject((0..10).map(|_| fault(502, None)));
    let e = kv.get("k").await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(matches!(
        cloudflare_source(&e),
        CloudflareError::GaveUp { attempts: 4, .. }
    ));
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn waits_past_the_cap_give_up_at_once() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(5, 500, 1000)).await;
    // Cloudflare's lockout asks for minutes: the call returns instead of sleeping.
    fake.inject([fault(429, Some("300"))]);
    let t0 = Instant::now();
    let e = kv.get("k").await.unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "did not sleep for minutes"
    );
    assert!(e.is_retryable());
    assert_eq!(fake.requests().len(), 1, "not retried");
    // Immediate retries within the caps succeed.
    fake.inject((0..3).map(|_| fault(429, Some("0"))));
    kv.get("k").await.unwrap();
    let kv2 = {
        let ns = fake.create_namespace("cap");
        let client = fake
            .client_builder()
            .with_retry(policy(10, 1000, 1500))
            .build()
            .unwrap();
        WorkersKv::new(client, ns)
    };
    // Total delay is capped too: with 1.5 s in all, one wait of 1 s fits, two do not.
    let before = fake.requests().len();
    fake.inject((0..5).map(|_| fault(429, Some("1"))));
    let e = kv2.get("k").await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(
        fake.requests().len() - before,
        2,
        "one wait of 1 s fits in 1.5 s, two do not"
    );
    fake.take_violations();
}

#[tokio::test]
async fn d1_queries_are_not_repeated_after_a_server_error() {
    let fake = FakeCloudflare::start().await;
    let id = fake.create_database("retry-db");
    let db = D1Executor::new(fake.client(), id);
    fake.inject([fault(500, None)]);
    let e = db.execute(&Statement::new("SELECT 1")).await.unwrap_err();
    assert!(e.is_retryable(), "the caller may retry: {e:?}");
    assert_eq!(
        fake.requests().len(),
        1,
        "a write may have happened: not resent"
    );
    fake.inject([fault(429, Some("0"))]);
    db.execute(&Statement::new("SELECT 1")).await.unwrap();
    assert_eq!(fake.requests().len(), 3, "a 429 was not run: resent");
}

#[tokio::test]
async fn the_rate_limiter_spaces_requests() {
    let fake = FakeCloudflare::start().await;
    let ns = fake.create_namespace("limited");
    let client = fake
        .client_builder()
        .with_rate_limit(10, Duration::from_secs(1))
        .build()
        .unwrap();
    let kv = Arc::new(WorkersKv::new(client, ns));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..25)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move { kv.get(&format!("k{i}")).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    let times: Vec<Instant> = fake.requests().into_iter().map(|(t, _)| t).collect();
    assert_eq!(times.len(), 25);
    for i in 10..times.len() {
        let gap = times[i] - times[i - 10];
        assert!(
            // The client counts the window from each answer, so the spacing
            // holds at the server however slowly requests travel.
            gap >= Duration::from_secs(1),
            "requests {} and {i} are {gap:?} apart: more than 10 in one second",
            i - 10
        );
    }
}

#[tokio::test]
async fn envelope_errors_carry_code_and_message_and_never_the_token() {
    let fake = FakeCloudflare::start().await;
    let client = fake
        .client_builder()
        .with_api_token("wrong-but-secret-token")
        .build()
        .unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains("wrong-but-secret-token"), "{debug}");
    let kv = WorkersKv::new(client, fake.create_namespace("auth"));
    let e = kv.get("k").await.unwrap_err();
    let cf = cloudflare_source(&e);
    assert!(cf.has_code(10000));
    assert_eq!(cf.messages()[0].message, "Authentication error");
    let mut text = format!("{e} {e:?}");
    let mut src = e.source();
    while let Some(s) = src {
        text.push_str(&format!(" {s} {s:?}"));
        src = s.source();
    }
    assert!(text.contains("10000 Authentication error"), "{text}");
    assert!(!text.contains("wrong-but-secret-token"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .unwrap();
    assert!(!format!("{p:?}").contains(TOKEN));
}

#[tokio::test]
async fn builders_validate_their_settings() {
    let fake = FakeCloudflare::start().await;
    let e = neutrino_cloudflare::CloudflareClientBuilder::new()
        .with_api_token("t")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Config {
                key: "account_id",
                ..
            }
        ),
        "{e:?}"
    );
    for bad in [
        fake.client_builder().with_base_url("not a url"),
        fake.client_builder().with_api_token(""),
        fake.client_builder()
            .with_rate_limit(0, Duration::from_secs(1)),
        fake.client_builder().with_account_id("../x"),
    ] {
        assert!(matches!(bad.build(), Err(Error::Config { .. })));
    }
    assert!(
        CloudflareProvisionerBuilder::new(fake.client())
            .with_zone_id("a/b")
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn d1_refuses_what_it_cannot_carry_and_round_trips_the_rest() {
    let fake = FakeCloudflare::start().await;
    let db = D1Executor::new(fake.client(), fake.create_database("values"));
    db.execute(&Statement::new(
        r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "v")"#,
    ))
    .await
    .unwrap();
    let insert = |i: i64, v: Value| {
        Statement::new(r#"INSERT INTO "t" ("id", "v") VALUES (?1, ?2)"#)
            .bind(i)
            .bind(v)
    };
    let sent = fake.requests().len();
    for v in [
        Value::Integer(i64::MAX),
        Value::Integer(i64::MIN),
        Value::Integer((1 << 53) + 1),
        Value::Blob(vec![0, 1]),
        Value::Real(f64::INFINITY),
    ] {
        let e = db.execute(&insert(0, v.clone())).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{v:?}: {e:?}");
    }
    assert_eq!(fake.requests().len(), sent, "refused before sending");
    let carried = vec![
        Value::Null,
        Value::Integer(0),
        Value::Integer(-1),
        Value::Integer((1 << 53) - 1),
        Value::Integer(-(1 << 53) + 1),
        Value::Real(1.5),
        Value::Real(-2.25e-300),
        Value::Real(f64::MAX),
        Value::Text(String::new()),
        Value::Text("héllo, 世界 \u{1F600} 'quoted' \"double\"".into()),
    ];
    for (i, v) in carried.iter().enumerate() {
        db.execute(&insert(i as i64, v.clone())).await.unwrap();
    }
    let rows = db
        .query(&Statement::new(r#"SELECT "v" FROM "t" ORDER BY "id""#))
        .await
        .unwrap();
    let got: Vec<Value> = rows.iter().map(|r| r.value(0).unwrap().clone()).collect();
    assert_eq!(got, carried);
    // An integral REAL reads as an integer; a blob cell cannot be read.
    let row = &db
        .query(&Statement::new(r#"SELECT 2.0 AS "r""#))
        .await
        .unwrap()[0];
    assert_eq!(row.value("r").unwrap(), &Value::Integer(2));
    assert_eq!(row.get::<f64>("r").unwrap(), 2.0);
    let e = db
        .query(&Statement::new(r#"SELECT X'00ff' AS "b""#))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    // Limits are checked before sending.
    let many = Statement::with_params("SELECT 1", vec![Value::Null; 101]);
    assert!(matches!(
        db.query(&many).await,
        Err(Error::InvalidInput { .. })
    ));
    // A missing database is NotFound.
    let gone = D1Executor::new(fake.client(), "00000000-0000-0000-0000-000000000000");
    assert!(
        gone.query(&Statement::new("SELECT 1"))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn kv_ttls_under_a_minute_are_rounded_up_to_60_s() {
    let clock = ManualClock::new();
    let fake = FakeCloudflare::start_with_clock(Arc::new(clock.clone())).await;
    let kv = WorkersKv::new(fake.client(), fake.create_namespace("ttl"));
    kv.put(
        "short",
        Bytes::from_static(b"x"),
        Some(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    clock.advance(Duration::from_secs(30));
    assert!(
        kv.get("short").await.unwrap().is_some(),
        "lives 60 s, not 5 s"
    );
    let listed = kv.list_all("").await.unwrap();
    assert!(listed[0].expires_at.is_some());
    clock.advance(Duration::from_secs(31));
    assert_eq!(kv.get("short").await.unwrap(), None);
}

#[tokio::test]
async fn kv_pages_smaller_than_kvs_minimum_visit_every_key_once() {
    let fake = FakeCloudflare::start().await;
    let kv = WorkersKv::new(fake.client(), fake.create_namespace("pages"));
    let want: Vec<String> = (0..23).map(|i| format!("p/{i:02}")).collect();
    for k in &want {
        kv.put(k, Bytes::from_static(b"v"), None).await.unwrap();
    }
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page = kv.list("p/", cursor.as_deref(), 3).await.unwrap();
        assert!(page.keys.len() <= 3);
        got.extend(page.keys.into_iter().map(|k| k.name));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(got, want);
    let e = kv.list("p/", Some("garbage"), 3).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }));
}

#[tokio::test]
async fn page_style_listings_follow_every_page() {
    let fake = FakeCloudflare::start().await;
    for i in 0..150 {
        fake.create_database(&format!("many-{i:03}"));
    }
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .unwrap();
    let before = fake.requests().len();
    let all = p.list(ResourceKind::Database, "many-").await.unwrap();
    assert_eq!(all.len(), 150);
    assert_eq!(all[0].name, "many-000");
    assert_eq!(fake.requests().len() - before, 2, "two pages of 100");
}

#[tokio::test]
async fn buckets_are_emptied_through_the_opener_before_deletion() {
    let fake = Arc::new(FakeCloudflare::start().await);
    let bare = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .unwrap();
    let bucket = bare
        .create(&ResourceSpec::new(ResourceKind::Bucket, "full-bucket"))
        .await
        .unwrap();
    assert_eq!(bucket.provider_id, "full-bucket");
    let objects = fake.bucket_objects("full-bucket").unwrap();
    for i in 0..1500 {
        objects
            .put(
                &format!("o/{i}"),
                Bytes::from_static(b"data"),
                &PutOptions::default(),
            )
            .await
            .unwrap();
    }
    let e = bare
        .delete(ResourceKind::Bucket, "full-bucket")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Config {
                key: "bucket_opener",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        bare.get(ResourceKind::Bucket, "full-bucket").await.is_ok(),
        "left intact"
    );

    let f = fake.clone();
    let with_opener = CloudflareProvisionerBuilder::new(fake.client())
        .with_bucket_opener(move |name: &str| {
            f.bucket_objects(name)
                .map(|s| s as Arc<dyn ObjectStore>)
                .ok_or_else(|| Error::not_found("bucket", name))
        })
        .build()
        .unwrap();
    with_opener
        .delete(ResourceKind::Bucket, "full-bucket")
        .await
        .unwrap();
    assert!(
        with_opener
            .get(ResourceKind::Bucket, "full-bucket")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(objects.list("", None, 10).await.unwrap().objects.is_empty());
}

#[tokio::test]
async fn workers_are_uploaded_as_es_modules_with_bindings() {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .unwrap();
    let spec = ResourceSpec::new(ResourceKind::Worker, "k3m9p2xw7q-default-auth")
        .param(
            "script",
            "export default { fetch() { return new Response('ok') } }",
        )
        .param("compatibility_date", "2025-01-15")
        .param("d1:DB", "0d89c70d-ad9f-4843-b99f-6cc0252067e9")
        .param("kv:KV", "0123456789abcdef0123456789abcdef")
        .param("r2:BUCKET", "k3m9p2xw7q-default-storage")
        .param("var:PLATFORM", "k3m9p2xw7q");
    let w = p.create(&spec).await.unwrap();
    assert_eq!(w.provider_id, "k3m9p2xw7q-default-auth");
    let (script, meta) = fake.worker("k3m9p2xw7q-default-auth").unwrap();
    assert!(script.starts_with("export default"));
    assert_eq!(meta["main_module"], "worker.js");
    assert_eq!(meta["compatibility_date"], "2025-01-15");
    let types: Vec<&str> = meta["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["d1", "kv_namespace", "r2_bucket", "plain_text"]);
    assert_eq!(p.create(&spec).await.unwrap(), w, "idempotent");
    assert_eq!(p.get(ResourceKind::Worker, &w.name).await.unwrap(), w);
    let e = p
        .create(&ResourceSpec::new(ResourceKind::Worker, "no-script"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }));
    assert!(matches!(
        p.list(ResourceKind::Worker, "").await.unwrap_err(),
        Error::Unsupported { .. }
    ));
    p.delete(ResourceKind::Worker, &w.name).await.unwrap();
    assert!(
        p.get(ResourceKind::Worker, &w.name)
            .await
            .unwrap_err()
            .is_not_found()
    );
    p.delete(ResourceKind::Worker, &w.name).await.unwrap();
}

#[tokio::test]
async fn dns_records_and_custom_hostnames_follow_their_lifecycle() {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .with_zone_id(fake.zone_id())
        .build()
        .unwrap();
    let host = "auth.svc.default.k3m9p2xw7q.nno.app";
    let spec = ResourceSpec::new(ResourceKind::DnsRecord, host)
        .param("content", "k3m9p2xw7q-default-auth.workers.dev");
    let rec = p.create(&spec).await.unwrap();
    assert_eq!(p.create(&spec).await.unwrap(), rec);
    assert_eq!(
        fake.dns_record(host).unwrap()["id"],
        rec.provider_id.as_str()
    );
    assert_eq!(fake.dns_record(host).unwrap()["type"], "CNAME");
    assert!(matches!(
        p.create(&ResourceSpec::new(ResourceKind::DnsRecord, "x.nno.app"))
            .await
            .unwrap_err(),
        Error::InvalidInput { .. }
    ));

    let custom = "app.acme.com";
    let h = p
        .create(&ResourceSpec::new(ResourceKind::CustomHostname, custom))
        .await
        .unwrap();
    assert_eq!(h.provider_id.len(), 36);
    let st = p.custom_hostname_status(custom).await.unwrap();
    assert_eq!(st.id, h.provider_id);
    assert!(!st.is_active());
    assert_eq!(st.ssl_status.as_deref(), Some("pending_validation"));
    assert!(!st.verification_errors.is_empty());
    let (txt_name, _) = st.ownership_txt.clone().unwrap();
    assert_eq!(txt_name, format!("_cf-custom-hostname.{custom}"));
    fake.set_hostname_status(custom, "active", "active");
    assert!(p.custom_hostname_status(custom).await.unwrap().is_active());

    assert_eq!(
        p.list(ResourceKind::CustomHostname, "app.").await.unwrap(),
        std::slice::from_ref(&h)
    );
    p.delete(ResourceKind::CustomHostname, custom)
        .await
        .unwrap();
    p.delete(ResourceKind::DnsRecord, host).await.unwrap();
    assert!(
        p.get(ResourceKind::DnsRecord, host)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        p.custom_hostname_status(custom)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn the_fake_rejects_requests_outside_the_contract() {
    let fake = FakeCloudflare::start().await;
    let http = reqwest::Client::new();
    let base = &fake.base_url;
    let acct = fake.account_id();
    // Unknown path.
    let r = http
        .get(format!("{base}/accounts/{acct}/d1/nothing-here"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("contract violation"));
    // Known path, undeclared method.
    let r = http
        .patch(format!("{base}/accounts/{acct}/d1/database"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Out-of-range query parameter (KV keys: limit 10-1000).
    let ns = fake.create_namespace("q");
    let r = http
        .get(format!(
            "{base}/accounts/{acct}/storage/kv/namespaces/{ns}/keys?limit=5"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A body that does not match the schema.
    let r = http
        .post(format!("{base}/accounts/{acct}/d1/database"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"nam": "typo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // No token.
    let r = http
        .get(format!("{base}/accounts/{acct}/r2/buckets"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v = fake.take_violations();
    assert_eq!(v.len(), 5, "{v:#?}");
    assert!(v.iter().any(|m| m.contains("limit")), "{v:#?}");
    assert!(v.iter().any(|m| m.contains("no bearer token")), "{v:#?}");
}

#[tokio::test]
async fn an_already_exists_answer_resolves_to_the_existing_resource() {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .unwrap();
    let spec = ResourceSpec::new(ResourceKind::Bucket, "raced-bucket");
    let first = p.create(&spec).await.unwrap();
    // Another creator won the race: the lookup does not see the bucket yet, the
    // create answers "already exists" (10073), and the second lookup finds it.
    fake.inject([Fault {
        status: 404,
        code: Some(10006),
        op: Some("r2-get-bucket".into()),
        ..Fault::default()
    }]);
    let before = fake.requests().len();
    assert_eq!(p.create(&spec).await.unwrap(), first);
    let ops: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|(_, op)| op.clone())
        .collect();
    assert_eq!(ops, ["r2-get-bucket", "r2-create-bucket", "r2-get-bucket"]);
    assert_eq!(
        p.list(ResourceKind::Bucket, "raced-").await.unwrap(),
        [first]
    );
}

// ---- Faults: each one is retried or gives a typed error, never a panic ----

fn envelope_fault(status: u16, code: u32, message: &str) -> Fault {
    Fault {
        status,
        code: Some(code),
        message: Some(message.into()),
        ..Fault::default()
    }
}

#[tokio::test]
async fn internal_errors_in_failed_envelopes_are_retried_then_typed() {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .unwrap();
    fake.create_database("flaky-db");
    // One 500 with D1's internal error code: retried, and the call succeeds.
    fake.inject([envelope_fault(500, 7500, "Internal error")]);
    p.get(ResourceKind::Database, "flaky-db").await.unwrap();
    assert_eq!(fake.requests().len(), 2);
    // Failing every attempt: a retryable error that keeps code and message.
    fake.inject((0..4).map(|_| envelope_fault(500, 7500, "Internal error")));
    let e = p.get(ResourceKind::Database, "flaky-db").await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    let cf = cloudflare_source(&e);
    assert!(
        matches!(cf, CloudflareError::GaveUp { attempts: 4, .. }),
        "{cf:?}"
    );
    assert_eq!(cf.status(), Some(500));
    assert!(cf.has_code(7500));
    assert_eq!(cf.messages()[0].message, "Internal error");
    assert_eq!(fake.requests().len(), 6);
}

#[tokio::test]
async fn failed_envelopes_with_any_status_are_typed_errors() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(4, 200, 1000)).await;
    let mut sent = 0;
    for status in [200, 202, 400, 403, 409] {
        fake.inject([envelope_fault(status, 10_042, "refused on purpose")]);
        let e = kv.list_all("").await.unwrap_err();
        sent += 1;
        assert!(!e.is_retryable(), "{status}: {e:?}");
        let cf = cloudflare_source(&e);
        assert!(matches!(cf, CloudflareError::Api { .. }), "{cf:?}");
        assert_eq!(cf.status(), Some(status), "{cf:?}");
        assert!(cf.has_code(10_042), "{status}: {cf:?}");
        assert_eq!(cf.messages()[0].message, "refused on purpose");
        assert!(cf.to_string().contains("10042 refused on purpose"), "{cf}");
        assert_eq!(fake.requests().len(), sent, "{status}: not retried");
    }
    // D1 reports a `success: false` with HTTP 200 the same way.
    let db = D1Executor::new(fake.client(), fake.create_database("envelope"));
    fake.inject([envelope_fault(200, 7500, "Internal error")]);
    let e = db.query(&Statement::new("SELECT 1")).await.unwrap_err();
    assert!(cloudflare_source(&e).has_code(7500), "{e:?}");
}

#[tokio::test]
async fn truncated_answers_are_retried_when_idempotent_and_typed_otherwise() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(4, 200, 1000)).await;
    kv.put("k", Bytes::from_static(b"v"), None).await.unwrap();
    fake.inject([Fault::of(FaultKind::Truncated)]);
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(fake.requests().len(), 3, "put, truncated get, get");
    // A D1 query may have written: its truncated answer is an error, not resent.
    let db = D1Executor::new(fake.client(), fake.create_database("truncated"));
    fake.inject([Fault::of(FaultKind::Truncated)]);
    let before = fake.requests().len();
    let e = db.query(&Statement::new("SELECT 1")).await.unwrap_err();
    assert!(e.is_retryable(), "the caller may retry: {e:?}");
    assert!(matches!(
        cloudflare_source(&e),
        CloudflareError::Transport(_)
    ));
    assert_eq!(fake.requests().len() - before, 1);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(4, 200, 1000)).await;
    fake.inject([Fault::of(FaultKind::Malformed)]);
    let e = kv.list_all("").await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert!(!e.is_retryable());
    let db = D1Executor::new(fake.client(), fake.create_database("malformed"));
    fake.inject([Fault::of(FaultKind::Malformed)]);
    let e = db.query(&Statement::new("SELECT 1")).await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert_eq!(fake.requests().len(), 2, "neither was resent");
}

#[tokio::test]
async fn connections_reset_mid_answer_are_retried_when_idempotent() {
    let fake = FakeCloudflare::start().await;
    let kv = kv(&fake, policy(4, 200, 1000)).await;
    kv.put("k", Bytes::from_static(b"v"), None).await.unwrap();
    fake.inject([Fault::of(FaultKind::Reset), Fault::of(FaultKind::Reset)]);
    let keys = kv.list_all("").await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(fake.requests().len(), 4, "put, two resets, list");
    let db = D1Executor::new(fake.client(), fake.create_database("reset"));
    fake.inject([Fault::of(FaultKind::Reset)]);
    let before = fake.requests().len();
    let e = db.query(&Statement::new("SELECT 1")).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(matches!(
        cloudflare_source(&e),
        CloudflareError::Transport(_)
    ));
    assert_eq!(fake.requests().len() - before, 1, "a query is not resent");
    // Every attempt reset: a retryable error after the capped attempts.
    fake.inject((0..4).map(|_| Fault::of(FaultKind::Reset)));
    let e = kv.get("k").await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(matches!(
        cloudflare_source(&e),
        CloudflareError::GaveUp { attempts: 4, .. }
    ));
}

#[tokio::test]
async fn an_interrupted_create_then_a_retry_leaves_one_resource() {
    let fake = FakeCloudflare::start().await;
    let p = CloudflareProvisionerBuilder::new(fake.client())
        .build()
        .unwrap();
    let spec = ResourceSpec::new(ResourceKind::Database, "interrupted-db");
    // The fake creates the database, then the connection drops unanswered.
    fake.inject([Fault {
        kind: FaultKind::DropAfterHandling,
        op: Some("cloudflare-d1-create-database".into()),
        ..Fault::default()
    }]);
    let created = p.create(&spec).await.unwrap();
    let ops: Vec<String> = fake.requests().into_iter().map(|(_, op)| op).collect();
    assert_eq!(
        ops.iter()
            .filter(|o| *o == "cloudflare-d1-create-database")
            .count(),
        2,
        "the create was resent: {ops:?}"
    );
    let ids = fake.databases_named("interrupted-db");
    assert_eq!(
        ids,
        std::slice::from_ref(&created.provider_id),
        "exactly one database"
    );
    // A caller's retry of the whole create finds it too.
    assert_eq!(p.create(&spec).await.unwrap(), created);
    assert_eq!(fake.databases_named("interrupted-db").len(), 1);

    // Without retries in the client, the caller sees a retryable error and its
    // own retry resolves to the database the interrupted create made.
    let once = CloudflareProvisionerBuilder::new(
        fake.client_builder()
            .with_retry(RetryPolicy::none())
            .build()
            .unwrap(),
    )
    .build()
    .unwrap();
    let spec = ResourceSpec::new(ResourceKind::Database, "interrupted-once");
    fake.inject([Fault {
        kind: FaultKind::DropAfterHandling,
        op: Some("cloudflare-d1-create-database".into()),
        ..Fault::default()
    }]);
    let e = once.create(&spec).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    let created = once.create(&spec).await.unwrap();
    assert_eq!(
        fake.databases_named("interrupted-once"),
        [created.provider_id]
    );
}

#[tokio::test]
async fn sequential_queries_reuse_one_connection() {
    let fake = FakeCloudflare::start().await;
    let db = D1Executor::new(fake.client(), fake.create_database("pooled"));
    let stmt = Statement::new(r#"SELECT ?1 AS "n""#).bind(7_i64);
    for _ in 0..1000 {
        assert_eq!(db.query(&stmt).await.unwrap().len(), 1);
    }
    assert_eq!(fake.requests().len(), 1000);
    assert_eq!(fake.connections(), 1, "one kept-alive connection");
}
