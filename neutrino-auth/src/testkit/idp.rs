//! [`TestIdp`]: a real OpenID Connect provider on loopback, for tests.
//!
//! It serves discovery, a JWKS, `authorize` (approves the configured user at
//! once and redirects with `code` and `state`), `token` (checks the client
//! ID and secret, the code — once —, the `redirect_uri` and the PKCE
//! verifier; and refresh tokens, rotated, which can be revoked) and `userinfo`, plus GitHub's `user` and `user/emails` shapes.
//! ID tokens are signed for real with RS256 or ES256 (fixed test keys); the
//! RSA key can be rotated, and the provider can misbehave on demand
//! ([`Misbehavior`]).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::oauth::{CallbackParams, Endpoints, ProviderConfig};

const RSA1: &str = include_str!("keys/rsa1.pem");
const RSA1_PUBLIC: &str = include_str!("keys/rsa1.pub.pem");
const RSA2: &str = include_str!("keys/rsa2.pem");
const EC1: &str = include_str!("keys/ec1.pem");

/// The client ID the provider knows.
pub const CLIENT_ID: &str = "neutrino-test-client";
/// The client secret the provider knows.
pub const CLIENT_SECRET: &str = "neutrino-test-client-secret";

/// How the provider misbehaves in the ID tokens (and documents) it issues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehavior {
    /// Behaves.
    #[default]
    None,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `aud` is another client.
    WrongAudience,
    /// Several audiences and no `azp`.
    ManyAudiencesNoAzp,
    /// `exp` is an hour ago.
    Expired,
    /// `nbf` is an hour ahead.
    NotYetValid,
    /// `iat` is a day ahead.
    IssuedInTheFuture,
    /// `nonce` is a made-up one.
    OtherNonce,
    /// `nonce` is the one of the previous authorization (a replayed token).
    ReplayedNonce,
    /// No `nonce`.
    NoNonce,
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256, with the RSA public key (PEM) as the HMAC key: alg confusion.
    Hs256WithPublicKey,
    /// Signed with a key that is not in the JWKS (`kid` unknown).
    UnknownKid,
    /// Signed with the RSA key but labelled with the EC key's `kid`.
    WrongKeyForKid,
    /// A signature of another token.
    BadSignature,
    /// `at_hash` of another access token.
    WrongAtHash,
    /// `email_verified: false`.
    UnverifiedEmail,
    /// Signed with the first RSA key (`rsa-1`) even after a rotation.
    OldKey,
    /// The discovery document names another issuer.
    DiscoveryWrongIssuer,
    /// The JWKS answers a redirect to another host (where the keys are).
    JwksRedirect,
    /// The token endpoint refuses every code.
    RefuseCode,
    /// The token endpoint answers `200` with a body that is not a token
    /// answer.
    GarbageTokens,
}

/// The user the provider approves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpUser {
    /// The subject (`sub`; GitHub's numeric ID when it is digits).
    pub sub: String,
    /// The email address.
    pub email: Option<String>,
    /// Whether the provider says it is verified.
    pub email_verified: bool,
    /// The name.
    pub name: String,
}

impl IdpUser {
    /// A user with a verified address.
    pub fn verified(sub: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            sub: sub.into(),
            email: Some(email.into()),
            email_verified: true,
            name: "Test User".into(),
        }
    }
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    nonce: Option<String>,
    user: IdpUser,
}

struct Inner {
    issuer: String,
    user: IdpUser,
    misbehavior: Misbehavior,
    algorithm: Algorithm,
    rotated: bool,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, IdpUser>,
    refresh_tokens: HashMap<String, IdpUser>,
    expires_in: u64,
    last_nonce: Option<String>,
    previous_nonce: Option<String>,
    claimed_issuer: Option<String>,
    /// The query of the last `authorize` request.
    last_authorize: Option<HashMap<String, String>>,
}

struct Shared {
    inner: Mutex<Inner>,
    jwks_fetches: AtomicUsize,
    token_calls: AtomicUsize,
}

/// A running test identity provider; it stops when dropped.
pub struct TestIdp {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for TestIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIdp").field("addr", &self.addr).finish()
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn kid_of(key: &str) -> &'static str {
    match key {
        k if k == RSA1 => "rsa-1",
        k if k == RSA2 => "rsa-2",
        _ => "ec-1",
    }
}

fn jwk(pem: &str, alg: Algorithm) -> Jwk {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("test key");
    let mut jwk = Jwk::from_encoding_key(&key, alg).expect("test jwk");
    jwk.common.key_id = Some(kid_of(pem).to_owned());
    jwk
}

fn random(n: usize) -> String {
    crate::random::random_string(n).expect("random")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl TestIdp {
    /// Starts a provider on `127.0.0.1` approving `user`.
    pub async fn start(user: IdpUser) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                issuer: format!("http://{addr}"),
                user,
                misbehavior: Misbehavior::None,
                algorithm: Algorithm::RS256,
                rotated: false,
                codes: HashMap::new(),
                tokens: HashMap::new(),
                refresh_tokens: HashMap::new(),
                expires_in: 3600,
                last_nonce: None,
                previous_nonce: None,
                claimed_issuer: None,
                last_authorize: None,
            }),
            jwks_fetches: AtomicUsize::new(0),
            token_calls: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/jwks/moved", get(jwks_moved))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/github/user", get(github_user))
            .route("/github/user/emails", get(github_emails))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The issuer: `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The user approved from now on.
    pub fn set_user(&self, user: IdpUser) {
        self.lock().user = user;
    }

    /// How the provider misbehaves from now on.
    pub fn misbehave(&self, m: Misbehavior) {
        self.lock().misbehavior = m;
    }

    /// ID tokens name `issuer` as their `iss` from now on (`None`: this
    /// provider's own): the tokens another provider with the same keys
    /// issues, e.g. another tenant's.
    pub fn claim_issuer(&self, issuer: Option<String>) {
        self.lock().claimed_issuer = issuer;
    }

    /// The query parameters of the last authorization request the
    /// provider received (`login_hint`, `scope`, …), if any.
    pub fn last_authorize_params(&self) -> Option<HashMap<String, String>> {
        self.lock().last_authorize.clone()
    }

    /// Signs ID tokens with `alg` (RS256 or ES256) from now on.
    pub fn sign_with(&self, alg: Algorithm) {
        self.lock().algorithm = alg;
    }

    /// The `expires_in` of the access tokens issued from now on (default
    /// 3600 s; 0: already expired).
    pub fn set_expires_in(&self, seconds: u64) {
        self.lock().expires_in = seconds;
    }

    /// Revokes every refresh token issued so far: refreshing with one is
    /// refused (`invalid_grant`).
    pub fn revoke_refresh_tokens(&self) {
        self.lock().refresh_tokens.clear();
    }

    /// Whether `access_token` is one this provider issued.
    pub fn issued_access_token(&self, access_token: &str) -> bool {
        self.lock().tokens.contains_key(access_token)
    }

    /// Replaces the RSA key: tokens are signed with the new one and the
    /// JWKS no longer has the old one.
    pub fn rotate_keys(&self) {
        self.lock().rotated = true;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many times the token endpoint was called.
    pub fn token_calls(&self) -> usize {
        self.shared.token_calls.load(Ordering::SeqCst)
    }

    /// An OIDC provider `id` on this issuer (RS256 and ES256, loopback
    /// `http` allowed).
    pub fn oidc_provider(&self, id: &str) -> ProviderConfig {
        ProviderConfig::oidc(id, self.issuer(), CLIENT_ID, CLIENT_SECRET)
            .with_algorithms(vec![Algorithm::RS256, Algorithm::ES256])
            .with_insecure_loopback(true)
    }

    /// Google pointed at this provider.
    pub fn google(&self) -> ProviderConfig {
        ProviderConfig::google(CLIENT_ID, CLIENT_SECRET)
            .with_issuer(self.issuer())
            .with_algorithms(vec![Algorithm::RS256, Algorithm::ES256])
            .with_insecure_loopback(true)
    }

    /// GitHub pointed at this provider's GitHub-shaped endpoints.
    pub fn github(&self) -> ProviderConfig {
        let base = self.issuer();
        ProviderConfig::github(CLIENT_ID, CLIENT_SECRET)
            .with_endpoints(Endpoints {
                authorization: Some(format!("{base}/authorize")),
                token: Some(format!("{base}/token")),
                userinfo: Some(format!("{base}/github/user")),
                emails: Some(format!("{base}/github/user/emails")),
                jwks: None,
            })
            .with_insecure_loopback(true)
    }

    /// A generic OAuth 2.0 provider `id` on this provider's endpoints.
    pub fn oauth2_provider(&self, id: &str) -> ProviderConfig {
        let base = self.issuer();
        ProviderConfig::oauth2(
            id,
            format!("{base}/authorize"),
            format!("{base}/token"),
            format!("{base}/userinfo"),
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .with_insecure_loopback(true)
    }

    /// An ID token and access token issued to a client of its own (Better
    /// Auth's `idToken` sign-in): the provider's `authorize` with `nonce`,
    /// then its token endpoint, as a native or one-tap client does. `None`
    /// when the provider issued no ID token (no nonce and behaving).
    pub async fn client_tokens(&self, nonce: Option<&str>) -> Option<(String, String)> {
        let mut url = Url::parse(&format!("{}/authorize", self.issuer())).expect("url");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", CLIENT_ID)
                .append_pair("redirect_uri", "http://client.invalid/cb")
                .append_pair("response_type", "code")
                .append_pair("state", "client");
            if let Some(n) = nonce {
                q.append_pair("nonce", n);
            }
        }
        let location = self.authorize_location(url.as_str()).await;
        let code = Url::parse(&location)
            .expect("redirect")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code");
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://client.invalid/cb"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        Some((
            answer["id_token"].as_str()?.to_owned(),
            answer["access_token"].as_str()?.to_owned(),
        ))
    }

    /// What a browser does with an authorization URL: asks it, and answers
    /// the callback's parameters from the redirect.
    pub async fn authorize(&self, authorization_url: &str) -> CallbackParams {
        let location = self.authorize_location(authorization_url).await;
        let url = Url::parse(&location).expect("callback url");
        let mut params = CallbackParams::default();
        for (k, v) in url.query_pairs() {
            match &*k {
                "code" => params.code = Some(v.into_owned()),
                "state" => params.state = Some(v.into_owned()),
                "error" => params.error = Some(v.into_owned()),
                "iss" => params.iss = Some(v.into_owned()),
                _ => {}
            }
        }
        params
    }

    /// The callback URL (`redirect_uri?code&state…`) the provider redirects
    /// the browser to for `authorization_url`.
    pub async fn authorize_location(&self, authorization_url: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let resp = client
            .get(authorization_url)
            .send()
            .await
            .expect("authorize");
        assert_eq!(resp.status(), 302, "the provider redirects back");
        resp.headers()[reqwest::header::LOCATION]
            .to_str()
            .expect("location")
            .to_owned()
    }
}

type S = State<Arc<Shared>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    s.inner.lock().unwrap_or_else(|p| p.into_inner())
}

async fn discovery(State(s): S) -> Response {
    let i = lock(&s);
    let base = i.issuer.clone();
    let issuer = if i.misbehavior == Misbehavior::DiscoveryWrongIssuer {
        "https://evil.example".to_owned()
    } else {
        base.clone()
    };
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
    .into_response()
}

async fn jwks(State(s): S) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let i = lock(&s);
    if i.misbehavior == Misbehavior::JwksRedirect {
        // Elsewhere on this host, where the keys are: only a client that
        // follows redirects finds them.
        let to = format!("{}/jwks/moved", i.issuer.replace("127.0.0.1", "localhost"));
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    key_set(&i)
}

async fn jwks_moved(State(s): S) -> Response {
    key_set(&lock(&s))
}

fn key_set(i: &Inner) -> Response {
    let rsa = if i.rotated { RSA2 } else { RSA1 };
    let set = JwkSet {
        keys: vec![jwk(rsa, Algorithm::RS256), jwk(EC1, Algorithm::ES256)],
    };
    axum::Json(set).into_response()
}

async fn authorize(State(s): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut i = lock(&s);
    let (Some(client_id), Some(redirect_uri)) = (q.get("client_id"), q.get("redirect_uri")) else {
        return (
            StatusCode::BAD_REQUEST,
            "client_id and redirect_uri required",
        )
            .into_response();
    };
    i.last_authorize = Some(q.clone());
    let code = random(32);
    let nonce = q.get("nonce").cloned();
    i.previous_nonce = i.last_nonce.take();
    i.last_nonce = nonce.clone();
    let user = i.user.clone();
    i.codes.insert(
        code.clone(),
        Grant {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: q.get("code_challenge").cloned(),
            nonce,
            user,
        },
    );
    let mut url = match Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
    };
    {
        let mut qp = url.query_pairs_mut();
        qp.append_pair("code", &code);
        if let Some(state) = q.get("state") {
            qp.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    Url::parse(&format!("http://x/?{text}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.strip_prefix("Basic ")?)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn oauth_error(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": error })),
    )
        .into_response()
}

async fn token(State(s): S, headers: HeaderMap, body: Bytes) -> Response {
    s.token_calls.fetch_add(1, Ordering::SeqCst);
    let f = form(&body);
    let (client_id, secret) = basic_client(&headers).unwrap_or_else(|| {
        (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        )
    });
    if client_id != CLIENT_ID || secret != CLIENT_SECRET {
        return oauth_error("invalid_client");
    }
    let mut i = lock(&s);
    if i.misbehavior == Misbehavior::GarbageTokens {
        return (StatusCode::OK, "<html>not a token answer").into_response();
    }
    if f.get("grant_type").map(String::as_str) == Some("refresh_token") {
        // A refresh token works once: it is rotated.
        let Some(user) = f
            .get("refresh_token")
            .and_then(|r| i.refresh_tokens.remove(r))
        else {
            return oauth_error("invalid_grant");
        };
        let (access_token, refresh_token) = (random(40), random(40));
        i.tokens.insert(access_token.clone(), user.clone());
        i.refresh_tokens.insert(refresh_token.clone(), user);
        return axum::Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": i.expires_in,
            "refresh_token": refresh_token,
        }))
        .into_response();
    }
    if i.misbehavior == Misbehavior::RefuseCode
        || f.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return oauth_error("invalid_grant");
    }
    // A code works once.
    let Some(grant) = f.get("code").and_then(|c| i.codes.remove(c)) else {
        return oauth_error("invalid_grant");
    };
    if grant.client_id != client_id || f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error("invalid_grant");
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = f.get("code_verifier").cloned().unwrap_or_default();
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return oauth_error("invalid_grant");
        }
    }
    let (access_token, refresh_token) = (random(40), random(40));
    i.tokens.insert(access_token.clone(), grant.user.clone());
    i.refresh_tokens
        .insert(refresh_token.clone(), grant.user.clone());
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": i.expires_in,
        "refresh_token": refresh_token,
        "scope": "openid email profile",
    });
    if grant.nonce.is_some() || i.misbehavior != Misbehavior::None {
        answer["id_token"] = Value::String(id_token(&i, &grant, &access_token));
    }
    axum::Json(answer).into_response()
}

fn id_token(i: &Inner, grant: &Grant, access_token: &str) -> String {
    let now = unix_now();
    let m = i.misbehavior;
    let user = &grant.user;
    let mut claims = json!({
        "iss": if m == Misbehavior::WrongIssuer { "https://other-issuer.example".to_owned() } else { i.claimed_issuer.clone().unwrap_or_else(|| i.issuer.clone()) },
        "sub": user.sub,
        "aud": if m == Misbehavior::WrongAudience { json!("another-client") } else if m == Misbehavior::ManyAudiencesNoAzp { json!([CLIENT_ID, "another-client"]) } else { json!(CLIENT_ID) },
        "exp": if m == Misbehavior::Expired { now - 3600 } else { now + 3600 },
        "iat": if m == Misbehavior::IssuedInTheFuture { now + 86_400 } else if m == Misbehavior::Expired { now - 7200 } else { now },
        "name": user.name,
        "email_verified": user.email_verified && m != Misbehavior::UnverifiedEmail,
        "at_hash": crate::oauth::at_hash_for_tests(i.algorithm, if m == Misbehavior::WrongAtHash { "another-token" } else { access_token }),
    });
    if let Some(e) = &user.email {
        claims["email"] = json!(e);
    }
    if m == Misbehavior::NotYetValid {
        claims["nbf"] = json!(now + 3600);
    }
    let nonce = match m {
        Misbehavior::OtherNonce => Some("a-made-up-nonce".to_owned()),
        Misbehavior::ReplayedNonce => i.previous_nonce.clone(),
        Misbehavior::NoNonce => None,
        _ => grant.nonce.clone(),
    };
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    let rsa = if i.rotated && m != Misbehavior::OldKey {
        RSA2
    } else {
        RSA1
    };
    match m {
        Misbehavior::AlgNone => {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("{h}.{p}.")
        }
        Misbehavior::Hs256WithPublicKey => {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid_of(rsa).to_owned());
            let key = EncodingKey::from_secret(RSA1_PUBLIC.as_bytes()).expect("hmac key");
            jsonwebtoken::encode(&h, &claims, &key).expect("sign")
        }
        _ => {
            let (pem, alg) = if i.algorithm == Algorithm::ES256 && m != Misbehavior::WrongKeyForKid
            {
                (EC1, Algorithm::ES256)
            } else {
                (rsa, Algorithm::RS256)
            };
            let mut h = Header::new(alg);
            h.kid = Some(match m {
                Misbehavior::UnknownKid => format!("unknown-{}", random(8)),
                Misbehavior::WrongKeyForKid => "ec-1".to_owned(),
                _ => kid_of(pem).to_owned(),
            });
            let key = match alg {
                Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
                _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
            }
            .expect("test key");
            // An unknown kid: signed with a key that is not published.
            let key = if m == Misbehavior::UnknownKid {
                EncodingKey::from_rsa_pem(if i.rotated { RSA1 } else { RSA2 }.as_bytes())
                    .expect("test key")
            } else {
                key
            };
            let token = jsonwebtoken::encode(&h, &claims, &key).expect("sign");
            if m == Misbehavior::BadSignature {
                let (head, _) = token.rsplit_once('.').expect("jws");
                let other = jsonwebtoken::encode(&h, &json!({"sub": "x"}), &key).expect("sign");
                let (_, sig) = other.rsplit_once('.').expect("jws");
                format!("{head}.{sig}")
            } else {
                token
            }
        }
    }
}

fn bearer_user(s: &Shared, headers: &HeaderMap) -> Option<IdpUser> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    lock(s).tokens.get(token).cloned()
}

async fn userinfo(State(s): S, headers: HeaderMap) -> Response {
    let Some(user) = bearer_user(&s, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let unverified = lock(&s).misbehavior == Misbehavior::UnverifiedEmail;
    axum::Json(json!({
        "sub": user.sub,
        "email": user.email,
        "email_verified": user.email_verified && !unverified,
        "name": user.name,
    }))
    .into_response()
}

async fn github_user(State(s): S, headers: HeaderMap) -> Response {
    let Some(user) = bearer_user(&s, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let id: u64 = user.sub.parse().unwrap_or(4242);
    axum::Json(json!({
        "id": id,
        "login": "octo",
        "name": user.name,
        "email": null,
        "avatar_url": "https://avatars.example/u/1",
    }))
    .into_response()
}

async fn github_emails(State(s): S, headers: HeaderMap) -> Response {
    let Some(user) = bearer_user(&s, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let unverified = lock(&s).misbehavior == Misbehavior::UnverifiedEmail;
    axum::Json(json!([
        {"email": "secondary@example.com", "primary": false, "verified": true},
        {"email": user.email, "primary": true, "verified": user.email_verified && !unverified},
    ]))
    .into_response()
}
