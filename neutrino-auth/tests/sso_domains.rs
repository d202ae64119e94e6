//! Domain verification over the network: a real DNS server (an
//! authoritative responder on loopback, started here) answering the
//! resolver's TXT and address queries, and a real HTTP server for the
//! well-known token, with the fetch's SSRF defences.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{RData, Record, RecordType};
use neutrino_auth::sso::{
    ClientSecret, DnsResolver, DnsTxtCheck, DomainChallenge, DomainCheck, HttpTokenCheck,
    NewSsoProvider, SsoTarget, TxtLookup, VerificationToken, http::WELL_KNOWN_PATH, record_name,
};
use neutrino_auth::testkit::{AuthStores, meta, two_orgs};
use neutrino_core::clock::ManualClock;
use neutrino_core::memory::MemoryKv;
use neutrino_core::testkit::unique;
use neutrino_sqlite::{SqliteExecutor, SqliteKv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Records of the test zone: (lowercase name without dot, type) → values.
type Records = Arc<Mutex<HashMap<(String, RecordType), Vec<String>>>>;

/// An authoritative DNS server on loopback UDP answering from `records`.
async fn dns_server(records: Records) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut answer = Message::new();
            answer
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(query.op_code())
                .set_authoritative(true)
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true);
            answer.add_queries(query.queries().to_vec());
            let mut known = false;
            for q in query.queries() {
                let name = q
                    .name()
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let records = records.lock().expect("records");
                if records.keys().any(|(n, _)| *n == name) {
                    known = true;
                }
                for value in records
                    .get(&(name.clone(), q.query_type()))
                    .into_iter()
                    .flatten()
                {
                    let rdata = match q.query_type() {
                        RecordType::TXT => RData::TXT(TXT::new(vec![value.clone()])),
                        RecordType::A => RData::A(A(value.parse().expect("ipv4"))),
                        _ => continue,
                    };
                    answer.add_answer(Record::from_rdata(q.name().clone(), 5, rdata));
                }
            }
            if !known {
                answer.set_response_code(ResponseCode::NXDomain);
            }
            let bytes = answer.to_vec().expect("encode");
            let _ = socket.send_to(&bytes, peer).await;
        }
    });
    addr
}

/// An HTTP/1.1 server on loopback answering every request with `status`,
/// `headers` and `body`; counts the requests.
async fn http_server(
    status: &'static str,
    headers: String,
    body: Vec<u8>,
) -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            *counter.lock().expect("hits") += 1;
            let headers = headers.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    (port, hits)
}

async fn stores(clock: &ManualClock) -> AuthStores {
    let auth_db = SqliteExecutor::memory().await.expect("auth db");
    let counters =
        SqliteKv::open_with_clock(auth_db.clone(), "auth-rate-limit", Arc::new(clock.clone()))
            .await
            .expect("kv");
    AuthStores {
        auth_db: Arc::new(auth_db),
        second_auth_db: Arc::new(SqliteExecutor::memory().await.expect("second auth db")),
        registry_db: Arc::new(SqliteExecutor::memory().await.expect("registry db")),
        registry_kv: Arc::new(MemoryKv::with_clock(Arc::new(clock.clone()))),
        counters: Arc::new(counters),
        tenant_db: None,
    }
}

fn publish(records: &Records, name: &str, ty: RecordType, value: &str) {
    records
        .lock()
        .expect("records")
        .entry((name.to_ascii_lowercase(), ty))
        .or_default()
        .push(value.to_owned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txt_record_on_a_real_dns_server_verifies_the_domain() {
    let records: Records = Arc::default();
    let server = dns_server(Arc::clone(&records)).await;
    let resolver = DnsResolver::new(&[server], Duration::from_secs(2)).expect("resolver");
    let clock = ManualClock::new();
    let stores = stores(&clock).await;
    let t = two_orgs(&stores, &clock).await;
    let (p, b, ob) = t.on_b();
    let sso = p.orgs.sso();
    let id = unique("dns-");
    let domain = format!("{}.example", unique("dns"));
    let reg = sso
        .register_provider(
            ob,
            NewSsoProvider::new(
                id.as_str(),
                b,
                "https://idp.example.com",
                domain.as_str(),
                "client",
                ClientSecret::new("secret"),
            ),
            &meta(),
        )
        .await
        .expect("register");
    let check = DnsTxtCheck::new(resolver.clone());
    // Nothing published yet: refused, still unverified.
    let e = sso
        .verify_domain(ob, &id, &check, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "DOMAIN_VERIFICATION_FAILED");
    // The record at another name proves nothing.
    publish(
        &records,
        &format!("_other.{domain}"),
        RecordType::TXT,
        &reg.domain_verification_token.txt_value(&id),
    );
    let e = sso
        .verify_domain(ob, &id, &check, &meta())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "DOMAIN_VERIFICATION_FAILED");
    // Better Auth's record name and value: verified.
    let name = record_name(&id, &domain);
    assert_eq!(name, format!("_better-auth-token-{id}.{domain}"));
    publish(
        &records,
        &name,
        RecordType::TXT,
        &reg.domain_verification_token.txt_value(&id),
    );
    assert_eq!(
        resolver.txt(&name).await.expect("lookup"),
        [reg.domain_verification_token.txt_value(&id)]
    );
    sso.verify_domain(ob, &id, &check, &meta())
        .await
        .expect("verified over DNS");
    let cfg = sso
        .provider_for_sign_in(SsoTarget::Email(format!("x@{domain}")))
        .await
        .expect("routes");
    assert_eq!(cfg.provider_id, id);
    assert_eq!(
        sso.verify_domain(ob, &id, &check, &meta())
            .await
            .unwrap_err()
            .code(),
        "DOMAIN_VERIFIED"
    );
}

fn challenge_for<'a>(
    domain: &'a str,
    id: &'a str,
    token: &'a VerificationToken,
) -> DomainChallenge<'a> {
    DomainChallenge {
        domain,
        provider_id: id,
        token,
    }
}

/// The token from a VerificationToken is only made by the crate; get one
/// through a registration.
async fn a_token() -> (VerificationToken, String) {
    let clock = ManualClock::new();
    let stores = stores(&clock).await;
    let t = two_orgs(&stores, &clock).await;
    let (p, b, ob) = t.on_b();
    let id = unique("h-");
    let reg = p
        .orgs
        .sso()
        .register_provider(
            ob,
            NewSsoProvider::new(
                id.as_str(),
                b,
                "https://idp.example.com",
                "token.example",
                "client",
                ClientSecret::new("secret"),
            ),
            &meta(),
        )
        .await
        .expect("register");
    (reg.domain_verification_token, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_token_verifies_and_private_addresses_are_never_fetched() {
    let records: Records = Arc::default();
    let server = dns_server(Arc::clone(&records)).await;
    let resolver = Arc::new(DnsResolver::new(&[server], Duration::from_secs(2)).expect("resolver"));
    let (token, id) = a_token().await;

    // The token served on loopback, fetched with loopback allowed: holds.
    let (port, hits) =
        http_server("200 OK", String::new(), token.expose().as_bytes().to_vec()).await;
    publish(&records, "good.example", RecordType::A, "127.0.0.1");
    let loopback_ok = HttpTokenCheck::new()
        .with_resolver(resolver.clone())
        .allow_loopback(port);
    assert!(
        loopback_ok
            .holds(&challenge_for("good.example", &id, &token))
            .await
            .expect("fetched")
    );
    assert_eq!(*hits.lock().unwrap(), 1);
    // A wrong body does not hold.
    let (wrong_port, _) = http_server("200 OK", String::new(), b"nope".to_vec()).await;
    let wrong = HttpTokenCheck::new()
        .with_resolver(resolver.clone())
        .allow_loopback(wrong_port);
    assert!(
        !wrong
            .holds(&challenge_for("good.example", &id, &token))
            .await
            .expect("fetched")
    );

    // Without the opt-in, loopback is refused before any connection.
    let strict = HttpTokenCheck::new().with_resolver(resolver.clone());
    let before = *hits.lock().unwrap();
    let e = strict
        .holds(&challenge_for("good.example", &id, &token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "DOMAIN_ADDRESS_NOT_ALLOWED");
    assert_eq!(*hits.lock().unwrap(), before, "no request was made");

    // Private, link-local (metadata) and mixed answers: refused, even with
    // loopback allowed.
    publish(
        &records,
        "metadata.example",
        RecordType::A,
        "169.254.169.254",
    );
    publish(&records, "private.example", RecordType::A, "10.0.0.7");
    publish(&records, "mixed.example", RecordType::A, "127.0.0.1");
    publish(&records, "mixed.example", RecordType::A, "192.168.1.10");
    publish(&records, "shared.example", RecordType::A, "100.64.1.1");
    for host in [
        "metadata.example",
        "private.example",
        "mixed.example",
        "shared.example",
    ] {
        let e = loopback_ok
            .holds(&challenge_for(host, &id, &token))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "DOMAIN_ADDRESS_NOT_ALLOWED", "{host}");
    }
    assert_eq!(*hits.lock().unwrap(), before);
    // A name that does not resolve is refused too.
    assert!(
        loopback_ok
            .holds(&challenge_for("nowhere.example", &id, &token))
            .await
            .is_err()
    );

    // A redirect is not followed, even to the same server.
    let (redirect_port, redirect_hits) = http_server(
        "302 Found",
        format!("location: http://good.example:{port}{WELL_KNOWN_PATH}{id}\r\n"),
        Vec::new(),
    )
    .await;
    let redirecting = HttpTokenCheck::new()
        .with_resolver(resolver.clone())
        .allow_loopback(redirect_port);
    let hits_before = *hits.lock().unwrap();
    assert!(
        !redirecting
            .holds(&challenge_for("good.example", &id, &token))
            .await
            .expect("answered")
    );
    assert_eq!(*redirect_hits.lock().unwrap(), 1);
    assert_eq!(
        *hits.lock().unwrap(),
        hits_before,
        "the redirect was not followed"
    );

    // A huge body is cut off: not read past the cap, does not hold.
    let mut huge = token.expose().as_bytes().to_vec();
    huge.extend(std::iter::repeat_n(b' ', 1 << 20));
    let (huge_port, _) = http_server("200 OK", String::new(), huge).await;
    let big = HttpTokenCheck::new()
        .with_resolver(resolver.clone())
        .allow_loopback(huge_port);
    assert!(
        !big.holds(&challenge_for("good.example", &id, &token))
            .await
            .expect("answered")
    );

    // A server that never answers: the timeout ends the check.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let slow = HttpTokenCheck::new()
        .with_resolver(resolver.clone())
        .with_timeout(Duration::from_millis(300))
        .allow_loopback(silent_port);
    let started = std::time::Instant::now();
    assert!(
        slow.holds(&challenge_for("good.example", &id, &token))
            .await
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}
