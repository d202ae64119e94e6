//! A fake of the Cloudflare v4 API, shared by every test of this crate: a real
//! HTTP server on 127.0.0.1 (port 0) in the test process that
//!
//! * routes by the contract's paths and methods and records anything outside it
//!   (unknown path or method, undeclared or out-of-range query parameters, a
//!   body that does not match the operation's schema, a missing bearer token)
//!   as a violation: the fake's guard fails the test with the list when dropped,
//!   and the answer itself names the violation;
//! * checks its own answers against the contract the same way;
//! * keeps state (D1 databases on real in-memory SQLite, KV namespaces and
//!   values, R2 buckets with their objects, Worker scripts, DNS records, custom
//!   hostnames) and fails where Cloudflare fails, with its codes;
//! * injects faults (429 with `Retry-After`, 5xx and other error envelopes,
//!   `success: false` with any status, a truncated or malformed body, a
//!   connection reset mid-answer, a connection dropped after the request was
//!   handled) and latency, records when each request arrived and counts the TCP
//!   connections it accepted.
#![allow(dead_code, unreachable_pub)]

pub mod contract;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use neutrino_cloudflare::{CloudflareClient, CloudflareClientBuilder, RetryPolicy};
use neutrino_core::clock::{ManualClock, SharedClock};
use neutrino_core::ids::IdFormat;
use neutrino_core::memory::MemoryObjectStore;
use neutrino_core::object::ObjectStore;
use percent_encoding::percent_decode_str;
use rand::Rng;
use serde_json::{Value as Json, json};

use contract::{Contract, Operation, contract};

pub const TOKEN: &str = "test-token-5ecret";

/// What an injected fault does to the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FaultKind {
    /// A `success: false` envelope with the fault's status (any status, 2xx
    /// included), code and message, instead of handling the request.
    #[default]
    Envelope,
    /// Status 200 and a `Content-Length` of a whole envelope, but only half of
    /// its bytes before the connection closes.
    Truncated,
    /// Status 200 with a complete body that is not JSON.
    Malformed,
    /// Status 200, then part of a chunked body, then the connection is aborted.
    Reset,
    /// The request is handled (state changes), then the connection closes
    /// before any answer is sent.
    DropAfterHandling,
}

/// An injected failure for the next request (of operation `op`, if given).
#[derive(Clone, Debug, Default)]
pub struct Fault {
    pub kind: FaultKind,
    pub status: u16,
    pub retry_after: Option<String>,
    /// The error code; `10000 + status` if not given.
    pub code: Option<u32>,
    /// The error message; "injected failure" if not given.
    pub message: Option<String>,
    /// Only a request of this operation ID takes the fault.
    pub op: Option<String>,
}

impl Fault {
    /// A fault of `kind` for the next request.
    pub fn of(kind: FaultKind) -> Self {
        Self {
            kind,
            status: 200,
            ..Self::default()
        }
    }
}

struct Db {
    name: String,
    created_at: String,
    conn: Arc<Mutex<rusqlite::Connection>>,
}

struct Namespace {
    title: String,
    values: BTreeMap<String, (Bytes, Option<u64>)>,
}

struct Bucket {
    created: String,
    objects: Arc<MemoryObjectStore>,
}

#[derive(Default)]
struct Data {
    d1: BTreeMap<String, Db>,
    kv: BTreeMap<String, Namespace>,
    r2: BTreeMap<String, Bucket>,
    workers: BTreeMap<String, (String, Json)>,
    dns: BTreeMap<String, Json>,
    hostnames: BTreeMap<String, Json>,
}

struct Shared {
    account_id: String,
    zone_id: String,
    clock: SharedClock,
    data: Mutex<Data>,
    faults: Mutex<VecDeque<Fault>>,
    times: Mutex<Vec<(Instant, String)>>,
    violations: Mutex<Vec<String>>,
    /// Added before every answer.
    latency: Mutex<Duration>,
    /// TCP connections accepted.
    connections: AtomicUsize,
}

/// The running fake; dropping it stops the server and fails the test if any
/// request or answer broke the contract.
pub struct FakeCloudflare {
    pub base_url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

fn hex_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn uuid() -> String {
    IdFormat::Uuid.generate()
}

impl FakeCloudflare {
    pub async fn start() -> Self {
        Self::start_with_clock(Arc::new(ManualClock::new())).await
    }

    /// A fake whose KV expirations follow `clock`.
    pub async fn start_with_clock(clock: SharedClock) -> Self {
        // Fail early and clearly if the contract is missing.
        let _: &Contract = contract();
        let shared = Arc::new(Shared {
            account_id: hex_id(),
            zone_id: hex_id(),
            clock,
            data: Mutex::new(Data::default()),
            faults: Mutex::new(VecDeque::new()),
            times: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            connections: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counted = shared.clone();
        let listener = listener.tap_io(move |_| {
            counted.connections.fetch_add(1, Ordering::SeqCst);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}/client/v4"),
            shared,
            server,
        }
    }

    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    pub fn zone_id(&self) -> &str {
        &self.shared.zone_id
    }

    /// A client builder pointed at the fake, with fast retries.
    pub fn client_builder(&self) -> CloudflareClientBuilder {
        CloudflareClientBuilder::new()
            .with_base_url(&self.base_url)
            .with_account_id(self.account_id())
            .with_api_token(TOKEN)
            .with_retry(RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(200),
                max_total_delay: Duration::from_secs(1),
            })
    }

    pub fn client(&self) -> CloudflareClient {
        self.client_builder().build().expect("client")
    }

    /// Queues faults answered, in order, to the next requests.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.faults.lock().unwrap().extend(faults);
    }

    /// Delays every answer by `latency` (as a distant API would).
    pub fn set_latency(&self, latency: Duration) {
        *self.shared.latency.lock().unwrap() = latency;
    }

    /// How many TCP connections the fake has accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// When each request arrived, with its operation.
    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.shared.times.lock().unwrap().clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// Forgets violations a test provoked on purpose.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.violations.lock().unwrap())
    }

    /// Creates a D1 database directly, returning its UUID.
    pub fn create_database(&self, name: &str) -> String {
        let id = uuid();
        let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        self.shared.data.lock().unwrap().d1.insert(
            id.clone(),
            Db {
                name: name.into(),
                created_at: now_rfc3339(),
                conn: Arc::new(Mutex::new(conn)),
            },
        );
        id
    }

    /// The IDs of the D1 databases named `name`.
    pub fn databases_named(&self, name: &str) -> Vec<String> {
        let d = self.shared.data.lock().unwrap();
        d.d1.iter()
            .filter(|(_, db)| db.name == name)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Creates a KV namespace directly, returning its ID.
    pub fn create_namespace(&self, title: &str) -> String {
        let id = hex_id();
        self.shared.data.lock().unwrap().kv.insert(
            id.clone(),
            Namespace {
                title: title.into(),
                values: BTreeMap::new(),
            },
        );
        id
    }

    /// The objects of an R2 bucket (what the S3 API would reach).
    pub fn bucket_objects(&self, name: &str) -> Option<Arc<MemoryObjectStore>> {
        self.shared
            .data
            .lock()
            .unwrap()
            .r2
            .get(name)
            .map(|b| b.objects.clone())
    }

    pub fn worker(&self, name: &str) -> Option<(String, Json)> {
        self.shared.data.lock().unwrap().workers.get(name).cloned()
    }

    pub fn dns_record(&self, name: &str) -> Option<Json> {
        let d = self.shared.data.lock().unwrap();
        d.dns.values().find(|r| r["name"] == name).cloned()
    }

    /// Sets a custom hostname's status, as Cloudflare does once it is verified.
    pub fn set_hostname_status(&self, hostname: &str, status: &str, ssl_status: &str) {
        let mut d = self.shared.data.lock().unwrap();
        for h in d.hostnames.values_mut() {
            if h["hostname"] == hostname {
                h["status"] = json!(status);
                h["ssl"]["status"] = json!(ssl_status);
                h["verification_errors"] = json!([]);
            }
        }
    }
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        self.server.abort();
        let v = self.violations();
        if !v.is_empty() && !std::thread::panicking() {
            panic!(
                "the fake cloudflare api saw contract violations:\n{}",
                v.join("\n")
            );
        }
    }
}

fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn envelope(result: Json) -> Json {
    json!({"success": true, "errors": [], "messages": [], "result": result})
}

fn paged(result: Vec<Json>, info: Json) -> Json {
    json!({"success": true, "errors": [], "messages": [], "result": result, "result_info": info})
}

/// An answer of an operation handler.
enum Answer {
    Json(u16, Json),
    Raw(u16, &'static str, Bytes),
}

fn fail(status: u16, code: u32, message: &str) -> Answer {
    Answer::Json(
        status,
        json!({"success": false, "errors": [{"code": code, "message": message}],
               "messages": [], "result": null}),
    )
}

fn ok(result: Json) -> Answer {
    Answer::Json(200, envelope(result))
}

struct Req<'a> {
    op: &'a Operation,
    path: HashMap<String, String>,
    query: HashMap<String, String>,
    json: Json,
    body: Bytes,
    content_type: String,
    parts: Vec<MultiPart>,
}

#[derive(Debug)]
struct MultiPart {
    name: String,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<MultiPart>, String> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .ok_or("multipart body without a boundary")?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut pos = find(text, delim.as_bytes(), 0).ok_or("no first boundary")? + delim.len();
    loop {
        if text[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        pos += 2; // CRLF
        let head_end = find(text, b"\r\n\r\n", pos).ok_or("part without headers")?;
        let head = String::from_utf8_lossy(&text[pos..head_end]).to_string();
        let next = find(text, format!("\r\n{delim}").as_bytes(), head_end + 4)
            .ok_or("part without an end")?;
        let data = text[head_end + 4..next].to_vec();
        let mut name = None;
        let mut ct = None;
        for line in head.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                name = line
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("name="))
                    .map(|n| n.trim_matches('"').to_owned());
            } else if let Some(v) = lower.strip_prefix("content-type:") {
                ct = Some(v.trim().to_owned());
            }
        }
        parts.push(MultiPart {
            name: name.ok_or("part without a name")?,
            content_type: ct,
            data,
        });
        pos = next + 2 + delim.len();
    }
}

/// Coerces a query or path value to the type its schema declares.
fn coerce(schema: &Json, raw: &str) -> Json {
    let ty = schema["type"].as_str().or_else(|| {
        schema["$ref"].as_str().and_then(|r| {
            let name = r.rsplit('/').next()?;
            SCHEMA_TYPES.with(|m| m.get(name).copied())
        })
    });
    match ty {
        Some("integer") | Some("number") => raw
            .parse::<i64>()
            .map(Json::from)
            .or_else(|_| raw.parse::<f64>().map(Json::from))
            .unwrap_or_else(|_| json!(raw)),
        Some("boolean") => match raw {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(raw),
        },
        _ => json!(raw),
    }
}

thread_local! {
    static SCHEMA_TYPES: HashMap<String, &'static str> = schema_types();
}

fn schema_types() -> HashMap<String, &'static str> {
    let text = std::fs::read_to_string(contract::contract_path()).expect("contract");
    let doc: Json = serde_json::from_str(&text).expect("json");
    let mut out = HashMap::new();
    for (name, s) in doc["components"]["schemas"].as_object().expect("schemas") {
        let ty: &'static str = match s["type"].as_str() {
            Some("integer") => "integer",
            Some("number") => "number",
            Some("boolean") => "boolean",
            _ => "string",
        };
        out.insert(name.clone(), ty);
    }
    out
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = contract();
    let raw_path = uri.path().strip_prefix("/client/v4/").unwrap_or("");
    let segments: Vec<String> = raw_path
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let mut violations = Vec::new();
    let route = c.route(method.as_str(), &segments);
    let op_name = route
        .as_ref()
        .map(|(op, _)| op.id.clone())
        .unwrap_or_else(|| format!("{method} {}", uri.path()));
    shared
        .times
        .lock()
        .unwrap()
        .push((Instant::now(), op_name.clone()));

    let Some((op, path)) = route else {
        let msg = format!("contract violation: no operation {method} /{raw_path} in the contract");
        shared.violations.lock().unwrap().push(msg.clone());
        return respond(fail(404, 7003, &msg));
    };

    // Faults come after routing, so injected failures only hit real operations.
    let latency = *shared.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let mut faults = shared.faults.lock().unwrap();
        let at = faults
            .iter()
            .position(|f| f.op.as_ref().is_none_or(|o| *o == op.id));
        at.and_then(|i| faults.remove(i))
    };
    let mut drop_after = false;
    if let Some(f) = fault {
        if f.kind == FaultKind::DropAfterHandling {
            drop_after = true;
        } else {
            return faulty(f);
        }
    }

    // Auth: a bearer token is part of the contract; a wrong one is an answer.
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v == format!("Bearer {TOKEN}") => {}
        Some(v) if v.starts_with("Bearer ") => {
            return respond(fail(403, 10000, "Authentication error"));
        }
        _ => violations.push(format!("{}: no bearer token", op.id)),
    }

    // Parameters.
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let d = |s: &str| {
                        percent_decode_str(&s.replace('+', " "))
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    (d(k), d(v))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
    {
        if query.insert(k.clone(), v).is_some() {
            violations.push(format!("{}: query parameter {k} given twice", op.id));
        }
    }
    let mut declared = op.params();
    if op.id == "workers-kv-namespace-write-key-value-pair-with-metadata" {
        // 10. expiration and expiration_ttl.
        for name in ["expiration", "expiration_ttl"] {
            declared.push((
                "query".into(),
                name.into(),
                json!({"$ref": format!("#/components/schemas/workers-kv_{name}")}),
                false,
            ));
        }
    }
    for (loc, name, schema, required) in &declared {
        let value = match loc.as_str() {
            "path" => path.get(name),
            "query" => query.get(name),
            _ => continue,
        };
        match value {
            Some(v) => {
                let mut schema = schema.clone();
                if name == "custom_hostname_id" {
                    // 4. UUIDs.
                    schema = json!({"type": "string", "maxLength": 36});
                }
                violations.extend(c.check(
                    &format!("{}:{loc}:{name}", op.id),
                    &schema,
                    true,
                    &coerce(&schema, v),
                ));
            }
            None if *required => violations.push(format!(
                "{}: required {loc} parameter {name} missing",
                op.id
            )),
            None => {}
        }
    }
    for k in query.keys() {
        if !declared.iter().any(|(l, n, _, _)| l == "query" && n == k) {
            violations.push(format!(
                "{}: query parameter {k} is not in the contract",
                op.id
            ));
        }
    }

    // Body.
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let mut json_body = Json::Null;
    let mut parts = Vec::new();
    if !op.has_body() || method == Method::DELETE {
        // 12. DELETE needs no body; others without a declared body take none.
        if !body.is_empty() {
            violations.push(format!("{}: unexpected request body", op.id));
        }
    } else if op.id == "workers-kv-namespace-write-key-value-pair-with-metadata"
        && media == "application/octet-stream"
    {
        // 10. raw value.
    } else if !op.media_types().contains(&media) {
        violations.push(format!(
            "{}: content type {media:?} is not one of {:?}",
            op.id,
            op.media_types()
        ));
    } else if media == "application/json" {
        match serde_json::from_slice::<Json>(&body) {
            Ok(v) => {
                let schema = op.body_schema(&media).unwrap_or(Json::Null);
                let is_d1_query = op.id.starts_with("cloudflare-d1-") && op.id.contains("query");
                if is_d1_query && v.get("batch").is_some() {
                    // The batch form: each item is a single query.
                    match v["batch"].as_array() {
                        Some(items) if !items.is_empty() => {
                            for it in items {
                                violations.extend(c.check(
                                    &format!("{}:body", op.id),
                                    &schema,
                                    true,
                                    it,
                                ));
                            }
                        }
                        _ => violations.push(format!("{}: batch must be a non-empty array", op.id)),
                    }
                } else {
                    violations.extend(c.check(&format!("{}:body", op.id), &schema, true, &v));
                }
                json_body = v;
            }
            Err(e) => violations.push(format!("{}: body is not json: {e}", op.id)),
        }
    } else if media == "multipart/form-data" {
        match parse_multipart(&content_type, &body) {
            Ok(p) => parts = p,
            Err(e) => violations.push(format!("{}: {e}", op.id)),
        }
        if op.id == "worker-script-upload-worker-module" {
            // 8. the metadata part against the first branch's metadata schema.
            let schema = op
                .body_schema("multipart/form-data")
                .map(|s| s["oneOf"][0]["properties"]["metadata"].clone())
                .unwrap_or(Json::Null);
            match parts.iter().find(|p| p.name == "metadata") {
                Some(m) => match serde_json::from_slice::<Json>(&m.data) {
                    Ok(v) => {
                        violations.extend(c.check(
                            &format!("{}:metadata", op.id),
                            &schema,
                            true,
                            &v,
                        ));
                        json_body = v;
                    }
                    Err(e) => violations.push(format!("{}: metadata is not json: {e}", op.id)),
                },
                None => violations.push(format!("{}: no metadata part", op.id)),
            }
        }
    }

    if !violations.is_empty() {
        let msg = format!("contract violation: {}", violations.join("; "));
        shared.violations.lock().unwrap().extend(violations);
        return respond(fail(400, 9999, &msg));
    }

    let req = Req {
        op,
        path,
        query,
        json: json_body,
        body,
        content_type: media,
        parts,
    };
    let answer = dispatch(&shared, &req).await;

    // Check the answer against the contract too (13: a script download's
    // media type is the literal `undefined`, so it is not checked).
    let unchecked = op.id == "worker-script-download-worker";
    if let (Answer::Json(status, body), false) = (&answer, unchecked) {
        let schema = if op.id
            == "custom-hostname-for-a-zone-delete-custom-hostname-(-and-any-issued-ssl-certificates)"
            && *status == 200
        {
            Some(
                json!({"properties": {"id": {"type": "string", "maxLength": 36}}, "type": "object", "required": ["id"]}),
            )
        } else {
            op.response_schema(*status)
        };
        match schema {
            Some(s) => {
                let v = c.check(&format!("{}:answer:{status}", op.id), &s, false, body);
                shared.violations.lock().unwrap().extend(v);
            }
            None => shared.violations.lock().unwrap().push(format!(
                "{}: the fake answered {status}, which the contract does not declare",
                op.id
            )),
        }
    }
    if drop_after {
        return broken(Vec::new(), None);
    }
    respond(answer)
}

/// The answer of an injected fault (other than dropping after handling).
fn faulty(f: Fault) -> Response {
    let whole = || {
        envelope(json!({"results": [], "padding": "x".repeat(256)}))
            .to_string()
            .into_bytes()
    };
    match f.kind {
        FaultKind::Envelope | FaultKind::DropAfterHandling => {
            let mut r = respond(fail(
                f.status,
                f.code.unwrap_or(10000 + u32::from(f.status)),
                f.message.as_deref().unwrap_or("injected failure"),
            ));
            if let Some(ra) = f.retry_after {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_str(&ra).expect("header"));
            }
            r
        }
        FaultKind::Truncated => {
            let body = whole();
            let len = body.len();
            broken(body[..len / 2].to_vec(), Some(len))
        }
        FaultKind::Malformed => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response(),
        FaultKind::Reset => {
            let body = whole();
            broken(body[..body.len() / 2].to_vec(), None)
        }
    }
}

/// A 200 answer whose body is `sent` and then fails, so the connection is
/// closed mid-answer; `declared` is the `Content-Length` it claims. With nothing
/// sent, the connection closes before the answer's head goes out.
fn broken(sent: Vec<u8>, declared: Option<usize>) -> Response {
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    if !sent.is_empty() {
        chunks.push(Ok(Bytes::from(sent)));
    }
    if declared.is_none() {
        chunks.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        )));
    }
    let mut r = Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
        chunks,
    )));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(n) = declared {
        r.headers_mut()
            .insert("content-length", HeaderValue::from(n));
    }
    r
}

fn respond(a: Answer) -> Response {
    match a {
        Answer::Json(status, body) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response(),
        Answer::Raw(status, ct, data) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", ct)],
            data,
        )
            .into_response(),
    }
}

fn page_of(items: Vec<Json>, query: &HashMap<String, String>, default_per_page: usize) -> Json {
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(default_per_page);
    let total = items.len();
    let slice: Vec<Json> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let count = slice.len();
    paged(
        slice,
        json!({"page": page, "per_page": per_page, "count": count, "total_count": total}),
    )
}

async fn dispatch(shared: &Shared, r: &Req<'_>) -> Answer {
    let p = |k: &str| r.path.get(k).cloned().unwrap_or_default();
    let q = |k: &str| r.query.get(k).cloned();
    if let Some(acct) = r.path.get("account_id")
        && *acct != shared.account_id
    {
        return fail(403, 10000, "Authentication error");
    }
    if let Some(zone) = r.path.get("zone_id")
        && *zone != shared.zone_id
    {
        return fail(
            404,
            7003,
            "Could not route to /zones, perhaps your object identifier is invalid?",
        );
    }
    let now_secs = shared
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match r.op.id.as_str() {
        // ---- D1 ----
        "cloudflare-d1-list-databases" => {
            let d = shared.data.lock().unwrap();
            let name = q("name");
            let items = d
                .d1
                .iter()
                .filter(|(_, db)| name.as_ref().is_none_or(|n| db.name.contains(n.as_str())))
                .map(|(id, db)| json!({"uuid": id, "name": db.name, "version": "production", "created_at": db.created_at}))
                .collect();
            Answer::Json(200, page_of(items, &r.query, 1000))
        }
        "cloudflare-d1-create-database" => {
            let name = r.json["name"].as_str().unwrap_or_default().to_owned();
            let mut d = shared.data.lock().unwrap();
            if d.d1.values().any(|db| db.name == name) {
                return fail(400, 7502, "A database with that name already exists");
            }
            let id = uuid();
            let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
            let created = now_rfc3339();
            d.d1.insert(
                id.clone(),
                Db {
                    name: name.clone(),
                    created_at: created.clone(),
                    conn: Arc::new(Mutex::new(conn)),
                },
            );
            ok(json!({"uuid": id, "name": name, "version": "production", "created_at": created}))
        }
        "cloudflare-d1-get-database" => {
            let d = shared.data.lock().unwrap();
            match d.d1.get(&p("database_id")) {
                Some(db) => ok(
                    json!({"uuid": p("database_id"), "name": db.name, "version": "production",
                    "created_at": db.created_at, "file_size": 0, "num_tables": 0}),
                ),
                None => fail(404, 7404, "Not Found"),
            }
        }
        "cloudflare-d1-delete-database" => {
            let mut d = shared.data.lock().unwrap();
            match d.d1.remove(&p("database_id")) {
                Some(_) => ok(Json::Null),
                None => fail(404, 7404, "Not Found"),
            }
        }
        "cloudflare-d1-raw-database-query" | "cloudflare-d1-query-database" => {
            let conn = {
                let d = shared.data.lock().unwrap();
                match d.d1.get(&p("database_id")) {
                    Some(db) => db.conn.clone(),
                    None => return fail(404, 7404, "Not Found"),
                }
            };
            let raw = r.op.id.contains("raw");
            let conn = conn.lock().unwrap();
            let stmts: Vec<Json> = match r.json.get("batch") {
                Some(Json::Array(b)) => b.clone(),
                _ => vec![r.json.clone()],
            };
            let batch = stmts.len() > 1 || r.json.get("batch").is_some();
            if batch {
                conn.execute_batch("BEGIN").expect("begin");
            }
            let mut results = Vec::new();
            for st in &stmts {
                match d1::run(&conn, st, raw) {
                    Ok(res) => results.push(res),
                    Err(msg) => {
                        if batch {
                            conn.execute_batch("ROLLBACK").expect("rollback");
                        }
                        return fail(400, 7500, &msg);
                    }
                }
            }
            if batch {
                conn.execute_batch("COMMIT").expect("commit");
            }
            ok(Json::Array(results))
        }
        // ---- R2 ----
        "r2-list-buckets" => {
            let d = shared.data.lock().unwrap();
            let contains = q("name_contains").unwrap_or_default();
            let per_page: usize = q("per_page").and_then(|v| v.parse().ok()).unwrap_or(20);
            let after = q("cursor").or(q("start_after")).unwrap_or_default();
            let names: Vec<(&String, &Bucket)> =
                d.r2.iter()
                    .filter(|(n, _)| n.contains(&contains) && n.as_str() > after.as_str())
                    .collect();
            let page: Vec<Json> = names
                .iter()
                .take(per_page)
                .map(|(n, b)| json!({"name": n, "creation_date": b.created}))
                .collect();
            let cursor = if names.len() > per_page {
                page.last()
                    .and_then(|b| b["name"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            } else {
                String::new()
            };
            Answer::Json(
                200,
                json!({"success": true, "errors": [], "messages": [],
                       "result": {"buckets": page},
                       "result_info": {"cursor": cursor, "per_page": per_page}}),
            )
        }
        "r2-create-bucket" => {
            let name = r.json["name"].as_str().unwrap_or_default().to_owned();
            let mut d = shared.data.lock().unwrap();
            if d.r2.contains_key(&name) {
                return fail(409, 10073, "Bucket name already exists");
            }
            let created = now_rfc3339();
            d.r2.insert(
                name.clone(),
                Bucket {
                    created: created.clone(),
                    objects: Arc::new(MemoryObjectStore::new()),
                },
            );
            ok(
                json!({"name": name, "creation_date": created, "location": "enam", "storage_class": "Standard"}),
            )
        }
        "r2-get-bucket" => {
            let d = shared.data.lock().unwrap();
            match d.r2.get(&p("bucket_name")) {
                Some(b) => ok(json!({"name": p("bucket_name"), "creation_date": b.created})),
                None => fail(404, 10006, "The specified bucket does not exist."),
            }
        }
        "r2-delete-bucket" => {
            let objects = {
                let d = shared.data.lock().unwrap();
                match d.r2.get(&p("bucket_name")) {
                    Some(b) => b.objects.clone(),
                    None => return fail(404, 10006, "The specified bucket does not exist."),
                }
            };
            let empty = objects
                .list("", None, 1)
                .await
                .map(|p| p.objects.is_empty())
                .unwrap_or(false);
            if !empty {
                return fail(409, 10008, "The bucket you tried to delete is not empty.");
            }
            shared.data.lock().unwrap().r2.remove(&p("bucket_name"));
            ok(json!({}))
        }
        // ---- KV ----
        "workers-kv-namespace-list-namespaces" => {
            let d = shared.data.lock().unwrap();
            let items = d
                .kv
                .iter()
                .map(|(id, ns)| json!({"id": id, "title": ns.title, "supports_url_encoding": true}))
                .collect();
            Answer::Json(200, page_of(items, &r.query, 20))
        }
        "workers-kv-namespace-create-a-namespace" => {
            let title = r.json["title"].as_str().unwrap_or_default().to_owned();
            let mut d = shared.data.lock().unwrap();
            if d.kv.values().any(|ns| ns.title == title) {
                return fail(
                    400,
                    10014,
                    "create namespace: 'A namespace with this account ID and title already exists'",
                );
            }
            let id = hex_id();
            d.kv.insert(
                id.clone(),
                Namespace {
                    title: title.clone(),
                    values: BTreeMap::new(),
                },
            );
            ok(json!({"id": id, "title": title, "supports_url_encoding": true}))
        }
        "workers-kv-namespace-get-a-namespace" => {
            let d = shared.data.lock().unwrap();
            match d.kv.get(&p("namespace_id")) {
                Some(ns) => ok(
                    json!({"id": p("namespace_id"), "title": ns.title, "supports_url_encoding": true}),
                ),
                None => fail(404, 10009, "Unknown namespace."),
            }
        }
        "workers-kv-namespace-remove-a-namespace" => {
            let mut d = shared.data.lock().unwrap();
            match d.kv.remove(&p("namespace_id")) {
                Some(_) => ok(Json::Null),
                None => fail(404, 10009, "Unknown namespace."),
            }
        }
        "workers-kv-namespace-read-key-value-pair" => {
            let d = shared.data.lock().unwrap();
            let Some(ns) = d.kv.get(&p("namespace_id")) else {
                return fail(404, 10009, "Unknown namespace.");
            };
            match ns.values.get(&p("key_name")) {
                Some((v, exp)) if exp.is_none_or(|e| e > now_secs) => {
                    Answer::Raw(200, "application/octet-stream", v.clone())
                }
                _ => fail(404, 10009, "get: 'key not found'"),
            }
        }
        "workers-kv-namespace-write-key-value-pair-with-metadata" => {
            let value = if r.content_type == "application/octet-stream" {
                r.body.clone()
            } else {
                match r.parts.iter().find(|p| p.name == "value") {
                    Some(p) => Bytes::from(p.data.clone()),
                    None => return fail(400, 10001, "missing value"),
                }
            };
            let exp = match (q("expiration_ttl"), q("expiration")) {
                (Some(ttl), _) => match ttl.parse::<u64>() {
                    Ok(t) if t >= 60 => Some(now_secs + t),
                    _ => {
                        return fail(
                            400,
                            10016,
                            "Invalid expiration_ttl: expiration_ttl must be at least 60",
                        );
                    }
                },
                (None, Some(e)) => match e.parse::<u64>() {
                    Ok(e) if e >= now_secs + 60 => Some(e),
                    _ => {
                        return fail(
                            400,
                            10017,
                            "Invalid expiration: must be at least 60 seconds in the future",
                        );
                    }
                },
                _ => None,
            };
            let mut d = shared.data.lock().unwrap();
            let Some(ns) = d.kv.get_mut(&p("namespace_id")) else {
                return fail(404, 10009, "Unknown namespace.");
            };
            ns.values.insert(p("key_name"), (value, exp));
            ok(Json::Null)
        }
        "workers-kv-namespace-delete-key-value-pair" => {
            let mut d = shared.data.lock().unwrap();
            let Some(ns) = d.kv.get_mut(&p("namespace_id")) else {
                return fail(404, 10009, "Unknown namespace.");
            };
            ns.values.remove(&p("key_name"));
            ok(Json::Null)
        }
        "workers-kv-namespace-list-a-namespace'-s-keys" => {
            let d = shared.data.lock().unwrap();
            let Some(ns) = d.kv.get(&p("namespace_id")) else {
                return fail(404, 10009, "Unknown namespace.");
            };
            let limit: usize = q("limit").and_then(|v| v.parse().ok()).unwrap_or(1000);
            let prefix = q("prefix").unwrap_or_default();
            let after = match q("cursor") {
                Some(c) => match hex::decode(&c).ok().and_then(|b| String::from_utf8(b).ok()) {
                    Some(k) => Some(k),
                    None => return fail(400, 10021, "invalid cursor"),
                },
                None => None,
            };
            let live: Vec<(&String, Option<u64>)> = ns
                .values
                .iter()
                .filter(|(k, (_, exp))| {
                    k.starts_with(&prefix)
                        && after.as_ref().is_none_or(|a| *k > a)
                        && exp.is_none_or(|e| e > now_secs)
                })
                .map(|(k, (_, e))| (k, *e))
                .collect();
            let page: Vec<Json> = live
                .iter()
                .take(limit)
                .map(|(k, e)| match e {
                    Some(e) => json!({"name": k, "expiration": e}),
                    None => json!({"name": k}),
                })
                .collect();
            let cursor = if live.len() > limit {
                hex::encode(live[limit - 1].0)
            } else {
                String::new()
            };
            let count = page.len();
            Answer::Json(200, paged(page, json!({"count": count, "cursor": cursor})))
        }
        // ---- Workers ----
        "worker-script-upload-worker-module" => {
            let main = r.json["main_module"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let Some(module) = r.parts.iter().find(|p| p.name == main) else {
                return fail(400, 10021, "main_module must name an uploaded module part");
            };
            if module.content_type.as_deref() != Some("application/javascript+module") {
                return fail(400, 10001, "main module must be an ES module");
            }
            for b in r.json["bindings"].as_array().into_iter().flatten() {
                let ok = match b["type"].as_str() {
                    Some("d1") => b["id"].as_str().is_some(),
                    Some("kv_namespace") => b["namespace_id"].as_str().is_some(),
                    Some("r2_bucket") => b["bucket_name"].as_str().is_some(),
                    Some("plain_text") => b["text"].as_str().is_some(),
                    _ => false,
                };
                if !ok || b["name"].as_str().is_none() {
                    return fail(400, 10021, "invalid binding");
                }
            }
            let script = String::from_utf8_lossy(&module.data).into_owned();
            let name = p("script_name");
            shared
                .data
                .lock()
                .unwrap()
                .workers
                .insert(name.clone(), (script, r.json.clone()));
            let now = now_rfc3339();
            ok(
                json!({"id": name, "etag": hex_id(), "created_on": now, "modified_on": now,
                      "usage_model": "standard"}),
            )
        }
        "worker-script-download-worker" => {
            let d = shared.data.lock().unwrap();
            match d.workers.get(&p("script_name")) {
                Some((script, _)) => {
                    Answer::Raw(200, "application/javascript", Bytes::from(script.clone()))
                }
                None => fail(404, 10007, "This Worker does not exist on your account."),
            }
        }
        "worker-script-delete-worker" => {
            let mut d = shared.data.lock().unwrap();
            match d.workers.remove(&p("script_name")) {
                Some(_) => ok(Json::Null),
                None => fail(404, 10007, "This Worker does not exist on your account."),
            }
        }
        // ---- DNS ----
        "dns-records-for-a-zone-list-dns-records" => {
            let d = shared.data.lock().unwrap();
            let items = d
                .dns
                .values()
                .filter(|rec| q("name").is_none_or(|n| rec["name"] == n.as_str()))
                .filter(|rec| q("type").is_none_or(|t| rec["type"] == t.as_str()))
                .cloned()
                .collect();
            Answer::Json(200, page_of(items, &r.query, 100))
        }
        "dns-records-for-a-zone-create-dns-record" => {
            let mut d = shared.data.lock().unwrap();
            let (name, ty) = (r.json["name"].clone(), r.json["type"].clone());
            if d.dns
                .values()
                .any(|rec| rec["name"] == name && rec["type"] == ty)
            {
                return fail(400, 81057, "Record already exists.");
            }
            let id = hex_id();
            let now = now_rfc3339();
            let rec = json!({"id": id, "type": ty, "name": name, "content": r.json["content"],
                "proxiable": true, "proxied": r.json["proxied"].as_bool().unwrap_or(false),
                "ttl": r.json["ttl"].as_u64().unwrap_or(1), "tags": [],
                "created_on": now, "modified_on": now, "meta": {"auto_added": false}});
            d.dns.insert(id, rec.clone());
            ok(rec)
        }
        "dns-records-for-a-zone-dns-record-details" => {
            let d = shared.data.lock().unwrap();
            match d.dns.get(&p("dns_record_id")) {
                Some(rec) => ok(rec.clone()),
                None => fail(404, 81044, "Record does not exist."),
            }
        }
        "dns-records-for-a-zone-delete-dns-record" => {
            let mut d = shared.data.lock().unwrap();
            match d.dns.remove(&p("dns_record_id")) {
                Some(_) => ok(json!({"id": p("dns_record_id")})),
                None => fail(404, 81044, "Record does not exist."),
            }
        }
        // ---- Custom hostnames ----
        "custom-hostname-for-a-zone-list-custom-hostnames" => {
            let d = shared.data.lock().unwrap();
            let items = d
                .hostnames
                .values()
                .filter(|h| q("hostname").is_none_or(|n| h["hostname"] == n.as_str()))
                .cloned()
                .collect();
            Answer::Json(200, page_of(items, &r.query, 20))
        }
        "custom-hostname-for-a-zone-create-custom-hostname" => {
            let mut d = shared.data.lock().unwrap();
            let hostname = r.json["hostname"].as_str().unwrap_or_default().to_owned();
            if d.hostnames
                .values()
                .any(|h| h["hostname"] == hostname.as_str())
            {
                return fail(409, 1406, "Duplicate custom hostname found.");
            }
            let id = uuid();
            let h = json!({
                "id": id, "hostname": hostname, "status": "pending",
                "ssl": {"id": uuid(), "type": "dv", "method": r.json["ssl"]["method"],
                        "status": "pending_validation"},
                "verification_errors": ["custom hostname does not CNAME to this zone."],
                "ownership_verification": {"type": "txt",
                    "name": format!("_cf-custom-hostname.{hostname}"), "value": uuid()},
                "created_at": now_rfc3339(),
            });
            d.hostnames.insert(id, h.clone());
            ok(h)
        }
        "custom-hostname-for-a-zone-custom-hostname-details" => {
            let d = shared.data.lock().unwrap();
            match d.hostnames.get(&p("custom_hostname_id")) {
                Some(h) => ok(h.clone()),
                None => fail(404, 1436, "Custom hostname not found."),
            }
        }
        "custom-hostname-for-a-zone-delete-custom-hostname-(-and-any-issued-ssl-certificates)" => {
            let mut d = shared.data.lock().unwrap();
            match d.hostnames.remove(&p("custom_hostname_id")) {
                Some(_) => Answer::Json(200, json!({"id": p("custom_hostname_id")})),
                None => fail(404, 1436, "Custom hostname not found."),
            }
        }
        other => {
            let msg = format!("contract violation: the fake does not implement {other}");
            shared.violations.lock().unwrap().push(msg.clone());
            fail(400, 9999, &msg)
        }
    }
}

/// D1 on real SQLite, answering in D1's shapes.
mod d1 {
    use rusqlite::types::{Value as Sql, ValueRef};
    use serde_json::{Value as Json, json};

    /// How D1 binds a JSON parameter: JavaScript semantics, so numbers are
    /// doubles; an integral one is bound as INTEGER, others as REAL.
    fn bind(p: &Json) -> Result<Sql, String> {
        Ok(match p {
            Json::Null => Sql::Null,
            Json::Bool(b) => Sql::Integer(i64::from(*b)),
            Json::Number(n) => {
                let x = n.as_f64().ok_or("bad number")?;
                if x.fract() == 0.0 && x.abs() < 9.2e18 {
                    Sql::Integer(x as i64)
                } else {
                    Sql::Real(x)
                }
            }
            Json::String(s) => Sql::Text(s.clone()),
            _ => return Err("D1_TYPE_ERROR: Type 'object' not supported for value".into()),
        })
    }

    /// A cell as D1 (JavaScript) prints it.
    fn cell(v: ValueRef<'_>) -> Json {
        match v {
            ValueRef::Null => Json::Null,
            ValueRef::Integer(i) if i.unsigned_abs() <= 1 << 53 => json!(i),
            ValueRef::Integer(i) => json!(i as f64),
            ValueRef::Real(x) if x.fract() == 0.0 && x.abs() <= (1u64 << 53) as f64 => {
                json!(x as i64)
            }
            ValueRef::Real(x) => json!(x),
            ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
            // JSON.stringify of an ArrayBuffer: the contract's "object" cell.
            ValueRef::Blob(_) => json!({}),
        }
    }

    pub(super) fn run(conn: &rusqlite::Connection, st: &Json, raw: bool) -> Result<Json, String> {
        let sql = st["sql"].as_str().unwrap_or_default();
        let params = st["params"].as_array().cloned().unwrap_or_default();
        let mut stmt = conn
            .prepare(sql)
            .map_err(|e| format!("{e}: SQLITE_ERROR"))?;
        if stmt.parameter_count() != params.len() {
            return Err("Wrong number of parameter bindings for SQL query.".into());
        }
        for (i, p) in params.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, bind(p)?)
                .map_err(|e| e.to_string())?;
        }
        let columns: Vec<String> = stmt
            .column_names()
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let readonly = stmt.readonly();
        let mut rows = Vec::new();
        {
            let mut q = stmt.raw_query();
            loop {
                match q.next() {
                    Ok(Some(row)) => {
                        let cells: Vec<Json> = (0..columns.len())
                            .map(|i| row.get_ref(i).map(cell).unwrap_or(Json::Null))
                            .collect();
                        rows.push(cells);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let code = match &e {
                            rusqlite::Error::SqliteFailure(f, _)
                                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                            {
                                "SQLITE_CONSTRAINT"
                            }
                            _ => "SQLITE_ERROR",
                        };
                        return Err(format!("{e}: {code}"));
                    }
                }
            }
        }
        let changes = if readonly { 0 } else { conn.changes() };
        let meta = json!({"changed_db": !readonly, "changes": changes, "duration": 0.1,
            "last_row_id": conn.last_insert_rowid(), "rows_read": rows.len(),
            "rows_written": changes, "size_after": 8192});
        let results = if raw {
            json!({"columns": columns, "rows": rows})
        } else {
            Json::Array(
                rows.iter()
                    .map(|r| Json::Object(columns.iter().cloned().zip(r.iter().cloned()).collect()))
                    .collect(),
            )
        };
        Ok(json!({"results": results, "success": true, "meta": meta}))
    }
}
