//! The gateway's spans, caught by a capturing subscriber: one per request
//! with its platform, tenant, method, path and status, and no cookie, token
//! or API key value anywhere in any span or event.

mod world;
use world as common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Everything recorded, as text: span names with their fields, events with
/// theirs.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(out, "\nspan {}:", attrs.metadata().name());
        attrs.record(&mut Fields(&mut out));
    }
    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nrecord:");
        values.record(&mut Fields(&mut out));
    }
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nevent:");
        event.record(&mut Fields(&mut out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_span_per_request_with_platform_and_tenant_and_no_secrets() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture.clone()))
        .unwrap();
    let w = world().await;
    let key = tenant_key(&w, &w.ada, w.a, |_| {}).await;
    let c = Client::new(serve(gateway(&w)).await);
    capture.0.lock().unwrap().clear();
    let token = w.ada.token().to_owned();
    let path_secret = "resettoken0123456789abcdefXYZ";
    let (s, _) = answer(
        c.get(&w.a_host, &format!("/notes?token={token}&code=querysecret"))
            .header("cookie", &w.ada.cookie)
            .header("authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = c.get_with_key(&w.a_host, "/key", &key.key).await;
    assert_eq!(s, 200);
    let (s, _) = answer(c.get(&w.b_host, "/notes").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 403);
    let (s, _) = answer(c.get(&w.a_host, &format!("/p/reset-password/{path_secret}"))).await;
    assert_eq!(s, 200);
    let (s, _) = answer(
        c.get("nobody.example.com", "/whoami")
            .header("cookie", &w.ada.cookie),
    )
    .await;
    assert_eq!(s, 404);
    let text = capture.0.lock().unwrap().clone();
    for secret in [
        token.as_str(),
        w.ada.cookie.as_str(),
        w.ada.cookie.split_once('=').unwrap().1,
        key.key.as_str(),
        "querysecret",
        path_secret,
    ] {
        assert!(!text.contains(secret), "a secret was traced:\n{text}");
    }
    assert_eq!(text.matches("span request:").count(), 5, "{text}");
    let p = w.p.id().to_string();
    assert!(text.contains(&format!("platform={p}")), "{text}");
    assert!(text.contains(&format!("tenant={}", w.a)), "{text}");
    assert!(text.contains(&format!("tenant={}", w.b)), "{text}");
    assert!(text.contains("path=/notes\n"), "{text}");
    assert!(text.contains("method=GET"), "{text}");
    for status in ["status=200", "status=403", "status=404"] {
        assert!(text.contains(status), "{status}:\n{text}");
    }
}
