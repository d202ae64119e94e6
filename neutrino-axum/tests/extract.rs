//! The extractors behind the gateway, over a real socket: the session, the
//! request's tenant with its membership check, the permission guard, the
//! platform admin guard and API keys.

mod world;
use world as common;

use common::*;
use neutrino_auth::apikey::{ApiKeyRateLimit, NewApiKey};
use neutrino_core::ids::TenantId;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_session_comes_from_the_platforms_cookie_or_is_401() {
    let (w, c) = served_world().await;
    let (s, body) = answer(c.get(&w.a_host, "/session").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"], w.ada.signed.user.id.to_string());
    // No cookie, a tampered one, another platform's (on P's host), one split
    // over two headers with the session in the second.
    let tampered = format!("{}x", w.ada.cookie);
    for cookie in [None, Some(tampered.as_str()), Some(w.quinn.cookie.as_str())] {
        let mut r = c.get(&w.a_host, "/session");
        if let Some(cookie) = cookie {
            r = r.header("cookie", cookie);
        }
        let (s, body) = answer(r).await;
        assert_eq!(s, 401, "{body}");
        assert_eq!(body["code"], "UNAUTHORIZED");
    }
    let (s, _) = answer(
        c.get(&w.a_host, "/session")
            .header("cookie", "theme=dark")
            .header("cookie", &w.ada.cookie),
    )
    .await;
    assert_eq!(s, 200);
    // A signed-out session is gone at once.
    w.p.auth().sign_out(w.ada.token(), &meta()).await.unwrap();
    let (s, _) = answer(c.get(&w.a_host, "/session").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tenant_is_the_requests_own_and_membership_is_checked_every_time() {
    let (w, c) = served_world().await;
    let notes_of = |t: TenantId| json!([format!("note of {t}")]);
    // Each owner on its own host sees its own rows.
    let (s, body) = answer(c.get(&w.a_host, "/notes").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["notes"], notes_of(w.a));
    let (_, body) = answer(c.get(&w.b_host, "/notes").header("cookie", &w.bea.cookie)).await;
    assert_eq!(body["notes"], notes_of(w.b));
    // A's owner on B's host, or naming B by the header on the platform's
    // host, or naming a tenant that does not exist: the same 403, nothing of B.
    let denied = [
        c.get(&w.b_host, "/notes").header("cookie", &w.ada.cookie),
        c.get(&w.auth_host(), "/notes")
            .header("cookie", &w.ada.cookie)
            .header("x-neutrino-tenant", w.b.to_string()),
        c.get(&w.auth_host(), "/notes")
            .header("cookie", &w.ada.cookie)
            .header("x-neutrino-tenant", TenantId::generate().to_string()),
        // Another platform's tenant.
        c.get(&w.auth_host(), "/notes")
            .header("cookie", &w.ada.cookie)
            .header("x-neutrino-tenant", w.qt.to_string()),
    ];
    let mut bodies = Vec::new();
    for r in denied {
        let (s, body) = answer(r).await;
        assert_eq!(s, 403, "{body}");
        bodies.push(body);
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(
        bodies[0]["code"],
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );
    // On A's host a header naming B is a mismatch, even for a member of both.
    for who in [&w.ada, &w.ben] {
        let (s, body) = answer(
            c.get(&w.a_host, "/notes")
                .header("cookie", &who.cookie)
                .header("x-neutrino-tenant", w.b.to_string()),
        )
        .await;
        assert_eq!((s, body["code"].as_str()), (403, Some("TENANT_MISMATCH")));
    }
    // Malformed or repeated tenant headers.
    for values in [vec!["not a tenant id"], vec![w.a.as_str(), w.a.as_str()]] {
        let mut r = c
            .get(&w.auth_host(), "/notes")
            .header("cookie", &w.ada.cookie);
        for v in values {
            r = r.header("x-neutrino-tenant", v);
        }
        let (s, body) = answer(r).await;
        assert_eq!((s, body["code"].as_str()), (400, Some("VALIDATION_ERROR")));
    }
    // Ben's session has B active; every request gets the tenant it names,
    // many at once from "two tabs", never the session row's.
    let reqs = (0..24).map(|i| {
        let c = c.clone();
        let cookie = w.ben.cookie.clone();
        let (host, want) = match i % 3 {
            0 => (w.a_host.clone(), w.a),
            1 => (w.b_host.clone(), w.b),
            _ => (w.auth_host(), w.b),
        };
        let header = (i % 3 == 2).then(|| w.b.to_string());
        async move {
            let mut r = c.get(&host, "/notes").header("cookie", cookie);
            if let Some(h) = header {
                r = r.header("x-neutrino-tenant", h);
            }
            let (s, body) = answer(r).await;
            (s, body, want)
        }
    });
    for (s, body, want) in spawn_all(reqs).await {
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["tenant"], want.to_string());
        assert_eq!(body["notes"], notes_of(want));
    }
    // Without host tenant or header: the session's active organization.
    let (_, body) = answer(
        c.get(&w.auth_host(), "/notes")
            .header("cookie", &w.ben.cookie),
    )
    .await;
    assert_eq!(body["tenant"], w.b.to_string());
    // Ben removed from A: refused on the next request, while B still works.
    let ben_in_a = member_of_a(&w, &w.ben).await;
    w.p.orgs()
        .remove_member(w.ada.token(), &w.a, &ben_in_a.id, &meta())
        .await
        .unwrap();
    let (s, _) = answer(c.get(&w.a_host, "/notes").header("cookie", &w.ben.cookie)).await;
    assert_eq!(s, 403);
    let (s, _) = answer(c.get(&w.b_host, "/notes").header("cookie", &w.ben.cookie)).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permissions_and_platform_admins_are_guarded() {
    let (w, c) = served_world().await;
    // organization:update: A's owner yes, Ben (a plain member of A) no.
    let (s, body) = answer(c.post(&w.a_host, "/org").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant"], w.a.to_string());
    let (s, body) = answer(c.post(&w.a_host, "/org").header("cookie", &w.ben.cookie)).await;
    assert_eq!((s, body["code"].as_str()), (403, Some("FORBIDDEN")));
    // Ada is no member of B.
    let (s, _) = answer(c.post(&w.b_host, "/org").header("cookie", &w.ada.cookie)).await;
    assert_eq!(s, 403);
    // Promoted to admin of A, Ben may.
    let ben_in_a = member_of_a(&w, &w.ben).await;
    w.p.orgs()
        .update_member_role(w.ada.token(), &w.a, &ben_in_a.id, "admin", &meta())
        .await
        .unwrap();
    let (s, _) = answer(c.post(&w.a_host, "/org").header("cookie", &w.ben.cookie)).await;
    assert_eq!(s, 200);
    // The platform admin route: tenant owners are not platform admins.
    for who in [&w.ada, &w.ben] {
        let (s, body) = answer(
            c.get(&w.auth_host(), "/admin")
                .header("cookie", &who.cookie),
        )
        .await;
        assert_eq!((s, body["code"].as_str()), (403, Some("FORBIDDEN")));
    }
    let (s, _) = answer(c.get(&w.auth_host(), "/admin")).await;
    assert_eq!(s, 401);
    w.p.orgs()
        .operator_set_platform_role(
            &w.bea.signed.user.id,
            neutrino_auth::access::PlatformRole::Admin,
            "ops",
            "test",
            &meta(),
        )
        .await
        .unwrap();
    let (s, body) = answer(
        c.get(&w.auth_host(), "/admin")
            .header("cookie", &w.bea.cookie),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // Q's platform admin route is Q's: P's admin cookie is no session there.
    let (s, _) = answer(c.get(&w.q_host, "/admin").header("cookie", &w.bea.cookie)).await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_keys_yield_their_scope_and_answer_as_better_auth() {
    let (w, c) = served_world().await;
    let key_a = tenant_key(&w, &w.ada, w.a, |_| {}).await;
    let (s, body) = c.get_with_key(&w.a_host, "/key", &key_a.key).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant"], w.a.to_string());
    // The key's tenant scope also serves CurrentTenant.
    let (s, body) = c.get_with_key(&w.a_host, "/notes", &key_a.key).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant"], w.a.to_string());
    // On B's host, or naming B by header: a mismatch, for both extractors.
    for r in [
        c.get(&w.b_host, "/key").header("x-api-key", &key_a.key),
        c.get(&w.b_host, "/notes").header("x-api-key", &key_a.key),
        c.get(&w.auth_host(), "/notes")
            .header("x-api-key", &key_a.key)
            .header("x-neutrino-tenant", w.b.to_string()),
    ] {
        let (s, body) = answer(r).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (403, Some("TENANT_MISMATCH")),
            "{body}"
        );
    }
    // A key of P on Q's host, a bad key, no key, a key with a bad byte.
    for key in [Some(key_a.key.as_str()), Some("nope"), None] {
        let mut r = c.get(&w.q_host, "/key");
        if let Some(k) = key {
            r = r.header("x-api-key", k);
        }
        let (s, body) = answer(r).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (401, Some("INVALID_API_KEY")),
            "{body}"
        );
    }
    // A key with two uses, attacked with many requests at once: two pass,
    // the rest are 429 USAGE_EXCEEDED.
    let limited = tenant_key(&w, &w.ada, w.a, |n| n.remaining = Some(2)).await;
    let reqs = (0..10).map(|_| {
        let c = c.clone();
        let host = w.a_host.clone();
        let key = limited.key.clone();
        async move { c.get_with_key(&host, "/key", &key).await }
    });
    let outs = spawn_all(reqs).await;
    let ok = outs.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 2, "{outs:?}");
    for (s, body) in outs.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*s, body["code"].as_str()), (429, Some("USAGE_EXCEEDED")));
    }
    // A rate-limited key.
    let rl = tenant_key(&w, &w.ada, w.a, |n| {
        n.rate_limit = Some(ApiKeyRateLimit {
            window: std::time::Duration::from_secs(3600),
            max: 1,
        })
    })
    .await;
    let (s, _) = c.get_with_key(&w.a_host, "/key", &rl.key).await;
    assert_eq!(s, 200);
    let (s, body) = c.get_with_key(&w.a_host, "/key", &rl.key).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("RATE_LIMITED")));
    let _: Value = body;
}

/// Sends `r`, which must answer 200.
async fn ok(r: reqwest::RequestBuilder) -> reqwest::Response {
    let resp = r.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

/// Every `Set-Cookie` value of `resp`.
fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_extended_session_gets_its_cookie_again_on_the_right_domain() {
    let (w, c, clock) = served_world_on_a_manual_clock().await;
    // Fresh: no cookie sent back.
    let resp = ok(c.get(&w.a_host, "/session").header("cookie", &w.ada.cookie)).await;
    assert!(resp.headers().get("set-cookie").is_none());
    // Two days later (past `updateAge`) the session is extended, once: the
    // cookie comes back, host-only on a tenant's custom domain…
    clock.advance(std::time::Duration::from_secs(2 * 24 * 3600));
    let resp = ok(c.get(&w.a_host, "/notes").header("cookie", &w.ada.cookie)).await;
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with(&w.ada.cookie), "{cookies:?}");
    assert!(
        !cookies[0].to_ascii_lowercase().contains("domain="),
        "{cookies:?}"
    );
    // …and on the platform's domain on its own hosts.
    clock.advance(std::time::Duration::from_secs(2 * 24 * 3600));
    let resp = ok(c
        .get(&w.auth_host(), "/session")
        .header("cookie", &w.ben.cookie))
    .await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&w.ben.cookie), "{cookie}");
    assert!(
        cookie.contains(&format!("Domain={}.nno.app", w.p.id())),
        "{cookie}"
    );
    // A handler that sets the session cookie itself (signing out) has the
    // last word: the extended session's cookie is not sent over it.
    clock.advance(std::time::Duration::from_secs(2 * 24 * 3600));
    let resp = ok(c
        .post(&w.a_host, "/sign-out")
        .header("cookie", &w.bea.cookie))
    .await;
    let name = w.p.auth().cookies().session_cookie_name().to_owned();
    let session_cookies: Vec<String> = set_cookies(&resp)
        .into_iter()
        .filter(|v| v.starts_with(&format!("{name}=")))
        .collect();
    assert_eq!(session_cookies.len(), 1, "{session_cookies:?}");
    assert!(
        session_cookies[0].starts_with(&format!("{name}=;")),
        "{session_cookies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_organizations_key_is_refused_disabled_expired_spent_or_rate_limited() {
    let (w, c, clock) = served_world_on_a_manual_clock().await;
    let make = |f: fn(&mut NewApiKey)| {
        tenant_key(&w, &w.ada, w.a, move |n| {
            n.owned_by_organization = true;
            f(n);
        })
    };
    let disabled = make(|_| {}).await;
    w.p.orgs()
        .update_api_key(
            w.ada.token(),
            &disabled.record.id,
            neutrino_auth::apikey::ApiKeyUpdate {
                enabled: Some(false),
                ..Default::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    let expiring = make(|n| n.expires_in = Some(std::time::Duration::from_secs(86_400))).await;
    let once = make(|n| n.remaining = Some(1)).await;
    let limited = make(|n| {
        n.rate_limit = Some(ApiKeyRateLimit {
            window: std::time::Duration::from_secs(3600),
            max: 1,
        })
    })
    .await;
    for k in [&expiring, &once, &limited] {
        let (s, body) = c.get_with_key(&w.a_host, "/notes", &k.key).await;
        assert_eq!(s, 200, "{body}");
    }
    clock.advance(std::time::Duration::from_secs(86_401));
    for (k, status, code) in [
        (&disabled, 401, "INVALID_API_KEY"),
        (&expiring, 401, "INVALID_API_KEY"),
        (&once, 429, "USAGE_EXCEEDED"),
    ] {
        for path in ["/notes", "/key"] {
            let (s, body) = answer(c.get(&w.a_host, path).header("x-api-key", &k.key)).await;
            assert_eq!((s, body["code"].as_str()), (status, Some(code)), "{body}");
        }
    }
    // A window of an hour from the last request, which the clock left behind:
    // one more passes, then the limit holds with Better Auth's body.
    let (s, _) = c.get_with_key(&w.a_host, "/notes", &limited.key).await;
    assert_eq!(s, 200);
    let (s, body) = c.get_with_key(&w.a_host, "/notes", &limited.key).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{body}"
    );
}
