//! The gateway layer over a real socket: host routing, forwarded headers,
//! suspension, CORS, the body limit.

mod world;
use world as common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_route_to_their_platform_and_tenant_and_nothing_else() {
    let w = world().await;
    // A third platform of the same registry, with a tenant host, that this
    // gateway does not serve.
    let r = w
        .folder
        .platform("Rogue", SECRET)
        .tables(vec![notes()])
        .build()
        .await
        .unwrap();
    let rogue = user(&r, "Rex").await;
    let rt = r
        .orgs()
        .create_organization(
            rogue.token(),
            neutrino_auth::org::NewOrganization::new("Rogue Co", "rogue"),
            &meta(),
        )
        .await
        .unwrap()
        .id;
    r.registry()
        .add_custom_domain(rt, "rogue.example.net")
        .await
        .unwrap();
    r.registry()
        .verify_custom_domain("rogue.example.net")
        .await
        .unwrap();
    r.registry()
        .activate_custom_domain("rogue.example.net")
        .await
        .unwrap();

    let c = Client::new(serve(gateway(&w)).await);
    let (s, body) = answer(c.get(&w.a_host, "/whoami")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["platform"], w.p.id().to_string());
    assert_eq!(body["tenant"], w.a.to_string());
    // Case, a trailing dot and a port are the same host.
    let (_, body) = answer(c.get(&format!("{}.:8080", w.b_host.to_uppercase()), "/whoami")).await;
    assert_eq!(body["tenant"], w.b.to_string());
    let (_, body) = answer(c.get(&w.q_host, "/whoami")).await;
    assert_eq!(
        (body["platform"].as_str(), body["tenant"].as_str()),
        (
            Some(w.q.id().to_string().as_str()),
            Some(w.qt.to_string().as_str())
        )
    );
    // The platform's auth API host: the platform, no tenant.
    let (s, body) = answer(c.get(&w.auth_host(), "/whoami")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["platform"], w.p.id().to_string());
    assert_eq!(body["tenant"], Value::Null);
    // Unknown hosts, malformed hosts, IP literals, another platform's host
    // that this gateway does not serve, and a served platform's own host
    // under another base: 404, Better Auth-shaped.
    let r_auth = w
        .folder
        .registry()
        .base_domain()
        .auth_host(r.id(), neutrino_core::ids::StackId::DEFAULT);
    for host in [
        "nobody.example.com",
        "rogue.example.net",
        r_auth.as_str(),
        "127.0.0.1",
        "[::1]:80",
        "bad_host.example.com",
        "a..b",
        "localhost",
    ] {
        let (s, body) = answer(c.get(host, "/whoami")).await;
        assert_eq!(s, 404, "{host}: {body}");
        assert_eq!(body["code"], "NOT_FOUND", "{host}");
        assert!(body["message"].is_string());
    }
    // A removed host stops resolving at once.
    w.p.registry().remove_host(&w.b_host).await.unwrap();
    let (s, _) = answer(c.get(&w.b_host, "/whoami")).await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarded_headers_are_ignored_and_removed_unless_the_peer_is_a_trusted_proxy() {
    let (w, c) = served_world().await;
    // A spoofed X-Forwarded-Host (or Forwarded) naming B, sent on A's host:
    // routed to A, and the inner service sees no forwarded header.
    let spoof = |r: reqwest::RequestBuilder| {
        r.header("x-forwarded-host", &w.b_host)
            .header(
                "forwarded",
                format!("host={};for=9.9.9.9;proto=https", w.b_host),
            )
            .header("x-forwarded-for", "9.9.9.9")
            .header("x-forwarded-proto", "https")
    };
    let (s, body) = answer(spoof(c.get(&w.a_host, "/whoami"))).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant"], w.a.to_string());
    assert_eq!(body["ip"], "127.0.0.1");
    assert_eq!(body["metaIp"], "127.0.0.1");
    assert_eq!(body["forwarded"], serde_json::json!([]));
    // A's owner sees A's notes only, whatever the forwarded host says.
    let (s, body) = answer(spoof(c.get(&w.a_host, "/notes")).header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant"], w.a.to_string());
    // An unknown Host with a forwarded host of A: not routed.
    let (s, _) = answer(
        c.get("nobody.example.com", "/whoami")
            .header("x-forwarded-host", &w.a_host),
    )
    .await;
    assert_eq!(s, 404);

    // Behind a trusted proxy (this test's own address), the forwarded values
    // are used, and then overwritten with the gateway's decision.
    let t = Client::new(
        serve(
            gateway(&w)
                .trust_proxies(["10.0.0.0/8", "127.0.0.1"])
                .unwrap(),
        )
        .await,
    );
    let (s, body) = answer(
        t.get("proxy.internal.example", "/whoami")
            .header(
                "x-forwarded-host",
                format!("evil.example.com, {}", w.b_host),
            )
            .header("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.1.1.1")
            .header("x-forwarded-proto", "https"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant"], w.b.to_string());
    assert_eq!(body["ip"], "1.2.3.4");
    assert_eq!(body["hostHeader"], w.b_host);
    assert_eq!(
        body["forwarded"],
        serde_json::json!([
            format!("x-forwarded-host={}", w.b_host),
            "x-forwarded-for=1.2.3.4",
            "x-forwarded-proto=https"
        ])
    );
    // Bad proxy lists are refused.
    assert!(gateway(&w).trust_proxies(["10.0.0.0/40"]).is_err());
    assert!(gateway(&w).trust_proxies(["not an address"]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spoofed_forwarded_for_does_not_change_the_rate_limit_key() {
    let w = world_with(|a| {
        a.with_rate_limit(
            std::sync::Arc::new(neutrino_core::memory::MemoryKv::new()),
            neutrino_auth::RateLimitConfig::default(),
        )
    })
    .await;
    let c = Client::new(serve(gateway(&w)).await);
    // Three attempts per window: the fourth, whatever X-Forwarded-For each
    // claims, and even all at once, is refused.
    let attempts = (0..6).map(|i| {
        let c = c.clone();
        let host = w.a_host.clone();
        async move {
            let (s, _) = answer(
                c.get(&host, "/limited")
                    .header("x-forwarded-for", format!("203.0.113.{i}")),
            )
            .await;
            s
        }
    });
    let mut statuses = spawn_all(attempts).await;
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 200, 429, 429, 429]);
    // Behind a trusted proxy each forwarded client has its own window.
    let t = Client::new(serve(gateway(&w).trust_proxies(["127.0.0.1"]).unwrap()).await);
    for i in 0..3 {
        let (s, body) = answer(
            t.get(&w.a_host, "/limited")
                .header("x-forwarded-for", format!("198.51.100.{i}")),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_suspended_platform_is_refused_at_once_and_a_deleted_one_is_not_found() {
    let (w, c) = served_world().await;
    let registry = w.folder.registry().clone();
    // Requests racing the suspension: once it has returned, every request of
    // the platform is 403, from the status cache.
    let hammer = {
        let c = c.clone();
        let host = w.a_host.clone();
        let cookie = w.ada.cookie.clone();
        tokio::spawn(async move {
            for _ in 0..30 {
                let _ = answer(c.get(&host, "/notes").header("cookie", &cookie)).await;
            }
        })
    };
    registry.suspend(w.p.id(), "ops", "test").await.unwrap();
    let after = (0..20).map(|i| {
        let c = c.clone();
        let host = if i % 2 == 0 {
            w.a_host.clone()
        } else {
            w.auth_host()
        };
        // Also a route that reads nothing of the platform: the gateway answers.
        let path = if i % 4 < 2 { "/notes" } else { "/whoami" };
        let cookie = w.ada.cookie.clone();
        async move { answer(c.get(&host, path).header("cookie", &cookie)).await }
    });
    for (s, body) in spawn_all(after).await {
        assert_eq!(s, 403, "{body}");
        assert_eq!(body["code"], "PLATFORM_SUSPENDED");
    }
    hammer.await.unwrap();
    // The other platform is served.
    let (s, _) = answer(c.get(&w.q_host, "/notes").header("cookie", &w.quinn.cookie)).await;
    assert_eq!(s, 200);
    registry.reinstate(w.p.id(), "ops", "test").await.unwrap();
    let (s, body) = answer(c.get(&w.a_host, "/notes").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 200, "{body}");
    registry
        .mark_platform_deleted(w.q.id(), "ops", "test")
        .await
        .unwrap();
    let (s, body) = answer(c.get(&w.q_host, "/whoami")).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("NOT_FOUND")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_allows_credentials_for_trusted_origins_only() {
    let (w, c) = served_world().await;
    let trusted = "https://app.pea.example";
    // Preflight from a trusted origin: answered by the gateway.
    let resp = c
        .request(reqwest::Method::OPTIONS, &w.a_host, "/notes")
        .header("origin", trusted)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-neutrino-tenant",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], trusted);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(
        h["access-control-allow-headers"],
        "content-type, x-neutrino-tenant"
    );
    assert!(h.get_all("vary").iter().any(|v| v == "origin"));
    // From an untrusted origin (another platform's, a look-alike, null): no
    // CORS header, and the preflight is refused.
    for origin in [
        "https://app.queue.example",
        "https://app.pea.example.evil.com",
        "https://evil.app.pea.example",
        "http://app.pea.example",
        "null",
        "https://app.pea.example/path",
    ] {
        let resp = c
            .request(reqwest::Method::OPTIONS, &w.a_host, "/notes")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{origin}");
        assert!(resp.headers().get("access-control-allow-origin").is_none());
        assert!(
            resp.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        let resp = c
            .get(&w.a_host, "/notes")
            .header("origin", origin)
            .header("cookie", &w.ada.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{origin}");
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert!(
            resp.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        assert!(resp.headers().get_all("vary").iter().any(|v| v == "origin"));
    }
    // A simple request from the trusted origin, and an error answer to it.
    let resp = c
        .get(&w.a_host, "/notes")
        .header("origin", trusted)
        .header("cookie", &w.ada.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], trusted);
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    let resp = c
        .get(&w.a_host, "/notes")
        .header("origin", trusted)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["access-control-allow-origin"], trusted);
    // Q's trusted origin is not P's.
    let resp = c
        .get(&w.q_host, "/whoami")
        .header("origin", trusted)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

/// Sends raw bytes and reads the answer's status line and body.
fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_over_the_limit_are_413_announced_or_streamed() {
    let w = world().await;
    let addr = serve(gateway(&w).body_limit(1024)).await;
    let c = Client::new(addr);
    let (s, body) = answer(c.post(&w.a_host, "/echo").body(vec![b'x'; 1024])).await;
    assert_eq!((s, body), (200, Value::String("1024 bytes".into())));
    let (s, body) = answer(c.post(&w.a_host, "/echo").body(vec![b'x'; 1025])).await;
    assert_eq!(s, 413, "{body}");
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");
    // Streamed in chunks with no length announced.
    let host = w.a_host.clone();
    let text = tokio::task::spawn_blocking(move || {
        let chunk = format!("{:x}\r\n{}\r\n", 600, "y".repeat(600));
        let req = format!(
            "POST /echo HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{chunk}{chunk}0\r\n\r\n"
        );
        raw(addr, req.as_bytes())
    })
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("PAYLOAD_TOO_LARGE"), "{text}");
    // A malformed length is refused.
    let host = w.a_host.clone();
    let text = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            format!("POST /echo HTTP/1.1\r\nhost: {host}\r\ncontent-length: 10\r\ncontent-length: 99999999\r\nconnection: close\r\n\r\n0123456789").as_bytes(),
        )
    })
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    // Without a Host header (HTTP/1.0), nothing is routed.
    let text = tokio::task::spawn_blocking(move || raw(addr, b"GET /whoami HTTP/1.0\r\n\r\n"))
        .await
        .unwrap();
    assert!(
        text.starts_with("HTTP/1.0 400") || text.starts_with("HTTP/1.1 400"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_also_works_as_a_router_layer() {
    let w = world().await;
    let c = Client::new(serve_app(routes().layer(gateway(&w))).await);
    let (s, body) = answer(
        c.get(&w.a_host, "/notes")
            .header("cookie", &w.ada.cookie)
            .header("x-forwarded-host", &w.b_host),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant"], w.a.to_string());
    let (s, _) = answer(c.get("nobody.example.com", "/notes")).await;
    assert_eq!(s, 404);
    let (s, _) = answer(c.get(&w.b_host, "/notes").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 403);
}
