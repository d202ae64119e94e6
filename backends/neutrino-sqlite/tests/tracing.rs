//! Port calls are traced without values.
//!
//! Alone in its test binary: tracing caches each callsite's interest
//! process-wide, so a test in the same process that hits a callsite first, with
//! no subscriber, can hide its spans from the subscriber set here.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use neutrino_core::kv::KvStore;
use neutrino_core::sql::{SqlExecutor, Statement};
use neutrino_sqlite::{SqliteExecutor, SqliteKv};

/// Records every span's name and fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct V(String);
        impl tracing::field::Visit for V {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={:?}", f.name(), v));
            }
        }
        let mut v = V(attrs.metadata().name().to_owned());
        attrs.record(&mut v);
        self.0.lock().unwrap().push(v.0);
    }
}

#[test]
fn port_calls_are_traced_without_values() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let db = SqliteExecutor::open(dir.path().join("traced.sqlite"))
                .await
                .unwrap();
            db.execute(&Statement::new(r#"CREATE TABLE "s" ("v" TEXT)"#))
                .await
                .unwrap();
            db.execute(&Statement::new(r#"INSERT INTO "s" VALUES (?1)"#).bind("hunter2-secret"))
                .await
                .unwrap();
            db.query(&Statement::new(r#"SELECT * FROM "s" WHERE "v" = ?1"#).bind("hunter2-secret"))
                .await
                .unwrap();
            let kv = SqliteKv::open(db.clone(), "ns").await.unwrap();
            kv.put(
                "session:token-abc",
                Bytes::from_static(b"hunter2-secret"),
                None,
            )
            .await
            .unwrap();
        })
    });
    let spans = spans.0.lock().unwrap().clone();
    assert!(
        spans
            .iter()
            .any(|s| s == r#"neutrino.sql backend="sqlite" op="query" resource="traced.sqlite""#),
        "{spans:#?}"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.starts_with("neutrino.sql") && s.contains(r#"op="execute""#))
    );
    assert!(
        spans
            .iter()
            .any(|s| s == r#"neutrino.kv backend="sqlite" op="put" resource="ns""#),
        "{spans:#?}"
    );
    for s in &spans {
        assert!(
            !s.contains("hunter2") && !s.contains("token-abc"),
            "a span leaks a value: {s}"
        );
    }
}
