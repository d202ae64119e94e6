//! Request bodies and queries as better-call reads them, Better Auth's
//! validation messages, and replies with their `Set-Cookie` headers.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use neutrino_auth::{Session, User};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ApiError;

/// The JSON view of a user, as Better Auth returns it.
pub(crate) fn user_json(user: &User) -> Value {
    serde_json::to_value(user).unwrap_or(Value::Null)
}

/// A session as its own owner sees it in Better Auth's `get-session` and
/// `list-sessions`: the session's fields with its `token`, and
/// `impersonatedBy` always present (`null` when not impersonated).
#[derive(Serialize)]
pub(crate) struct OwnSession<'a> {
    #[serde(flatten)]
    session: &'a Session,
    token: &'a str,
    /// `null` when the session has no impersonator; when it has one the
    /// session's own field carries it, so this one is left out.
    #[serde(rename = "impersonatedBy", skip_serializing_if = "Option::is_some")]
    no_impersonator: Option<()>,
}

impl<'a> OwnSession<'a> {
    pub(crate) fn of(session: &'a Session) -> Self {
        Self {
            session,
            token: &session.token,
            no_impersonator: session.impersonated_by.as_ref().map(|_| ()),
        }
    }
}

/// The JSON view of a session for its own owner ([`OwnSession`]).
pub(crate) fn session_json(session: &Session) -> Value {
    serde_json::to_value(OwnSession::of(session)).unwrap_or(Value::Null)
}

/// `get-session`'s answer for a session read from the database, written
/// straight to text (the endpoint every page load calls).
#[derive(Serialize)]
pub(crate) struct SessionAndUser<'a> {
    pub(crate) session: OwnSession<'a>,
    pub(crate) user: &'a User,
}

/// What a request's body was.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// No body (or an empty one).
    None,
    /// A JSON value (or a form, as an object of strings).
    Json(Value),
}

/// Better Auth's 415 for a body of another type than JSON (or a form where
/// it is accepted).
fn unsupported(content_type: Option<&str>, form: bool) -> ApiError {
    let allowed = if form {
        "application/json, application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let message = match content_type {
        Some(t) => format!("Content-Type \"{t}\" is not allowed. Allowed types: {allowed}"),
        None => format!("Content-Type is required. Allowed types: {allowed}"),
    };
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        message,
    )
}

/// Parses a request body: only `application/json` (media type compared
/// without its parameters), and `application/x-www-form-urlencoded` where
/// `form` allows it; 415 for any other type or a body without one, 400
/// `BAD_REQUEST` "Invalid JSON in request body" for malformed JSON.
pub(crate) fn parse_body(headers: &HeaderMap, bytes: &[u8], form: bool) -> Result<Body, ApiError> {
    if bytes.is_empty() {
        return Ok(Body::None);
    }
    let raw_type = match headers.get(header::CONTENT_TYPE) {
        None => return Err(unsupported(None, form)),
        Some(v) => match v.to_str() {
            Ok(t) => t,
            Err(_) => return Err(unsupported(Some("(not text)"), form)),
        },
    };
    let media = raw_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    // The type is echoed in the message: only a printable, bounded copy.
    let shown: String = raw_type
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(100)
        .collect();
    match media.as_str() {
        "application/json" => serde_json::from_slice::<Value>(bytes)
            .map(Body::Json)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "Invalid JSON in request body",
                )
            }),
        "application/x-www-form-urlencoded" if form => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(bytes).map_err(|_| {
                    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", "Invalid form body")
                })?;
            let mut map = Map::new();
            for (k, v) in pairs {
                let value = match v.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::String(v),
                };
                map.entry(k).or_insert(value);
            }
            Ok(Body::Json(Value::Object(map)))
        }
        _ => Err(unsupported(Some(&shown), form)),
    }
}

/// The query string's pairs (the first of a repeated name wins); a query
/// that does not decode is empty.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default() {
        if !out.iter().any(|(n, _)| *n == k) {
            out.push((k, v));
        }
    }
    out
}

/// The value of `name` in a parsed query.
pub(crate) fn query_get<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// zod's name for the type of a JSON value.
fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// Validates a body the way Better Auth's zod schemas do, collecting every
/// issue into one `VALIDATION_ERROR` (`[body.<field>] <message>`, joined by
/// `"; "`).
pub(crate) struct Fields<'a> {
    object: Option<&'a Map<String, Value>>,
    issues: Vec<String>,
}

impl<'a> Fields<'a> {
    /// A body whose schema is an object: a missing body or another JSON type
    /// is an issue when `required`, and an empty object otherwise.
    pub(crate) fn new(body: &'a Body, required: bool) -> Self {
        let mut issues = Vec::new();
        let object = match body {
            Body::Json(Value::Object(m)) => Some(m),
            Body::None if !required => None,
            Body::None => {
                issues.push("[body] Invalid input: expected object, received undefined".to_owned());
                None
            }
            Body::Json(other) => {
                issues.push(format!(
                    "[body] Invalid input: expected object, received {}",
                    type_name(Some(other))
                ));
                None
            }
        };
        Self { object, issues }
    }

    /// The required string `name` of a body whose schema has no other
    /// field, validated.
    pub(crate) fn only_string(body: &Body, name: &str) -> Result<String, ApiError> {
        let mut f = Fields::new(body, true);
        let value = f.string(name);
        f.finish()?;
        Ok(value)
    }

    /// The raw value of a field.
    pub(crate) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.object.and_then(|m| m.get(name))
    }

    fn expected(&mut self, name: &str, want: &str) {
        let got = type_name(self.raw(name));
        self.issues.push(format!(
            "[body.{name}] Invalid input: expected {want}, received {got}"
        ));
    }

    /// A required string.
    pub(crate) fn string(&mut self, name: &str) -> String {
        match self.raw(name) {
            Some(Value::String(s)) => s.clone(),
            _ => {
                if self.object.is_some() || self.issues.is_empty() {
                    self.expected(name, "string");
                }
                String::new()
            }
        }
    }

    /// A required string that zod checks as an email address.
    pub(crate) fn email(&mut self, name: &str) -> String {
        let s = self.string(name);
        if self.raw(name).is_some_and(Value::is_string) && !looks_like_email(&s) {
            self.issues
                .push(format!("[body.{name}] Invalid email address"));
        }
        s
    }

    /// An optional string (absent or `undefined`; `null` is an issue).
    pub(crate) fn opt_string(&mut self, name: &str) -> Option<String> {
        match self.raw(name) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.expected(name, "string");
                None
            }
        }
    }

    /// An optional string that may also be `null`: `Some(None)` for `null`.
    pub(crate) fn nullable_string(&mut self, name: &str) -> Option<Option<String>> {
        match self.raw(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => {
                self.expected(name, "string");
                None
            }
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&mut self, name: &str) -> Option<bool> {
        match self.raw(name) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.expected(name, "boolean");
                None
            }
        }
    }

    /// `Err(VALIDATION_ERROR)` with every issue found, or `Ok`.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.issues.join("; ")))
        }
    }
}

/// zod's email check, in substance: one `@`, a non-empty local part of
/// printable characters, a dotted domain.
pub(crate) fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"')
}

/// A successful answer: a status, a JSON body (or another body), and the
/// headers to send with it (`Set-Cookie` first of all).
pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Value>,
    text: Option<(&'static str, String)>,
    headers: HeaderMap,
}

impl Reply {
    /// `200` with this JSON body.
    pub(crate) fn json(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            text: None,
            headers: HeaderMap::new(),
        }
    }

    /// `200` with `body` as JSON, serialized straight to text; an error
    /// of serialization (none of the answers here can fail) is a 500.
    pub(crate) fn json_of(body: &impl Serialize) -> Result<Self, ApiError> {
        let text = serde_json::to_string(body).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "The answer could not be written",
            )
        })?;
        Ok(Self::text("application/json", text))
    }

    /// `302` to `location`, with an empty body.
    pub(crate) fn redirect(location: &str) -> Self {
        let mut r = Self {
            status: StatusCode::FOUND,
            body: None,
            text: None,
            headers: HeaderMap::new(),
        };
        if let Ok(v) = HeaderValue::from_str(location) {
            r.headers.insert(header::LOCATION, v);
        }
        r
    }

    /// `200` with a body of this content type.
    pub(crate) fn text(content_type: &'static str, body: String) -> Self {
        Self {
            status: StatusCode::OK,
            body: None,
            text: Some((content_type, body)),
            headers: HeaderMap::new(),
        }
    }

    /// `status` with no body.
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            text: None,
            headers: HeaderMap::new(),
        }
    }

    /// The same answer with another status.
    pub(crate) fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds `Set-Cookie` values.
    pub(crate) fn cookies(mut self, cookies: impl IntoIterator<Item = String>) -> Self {
        add_cookies(&mut self.headers, cookies);
        self
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// Appends `Set-Cookie` values to `headers` (a value that is not a valid
/// header is dropped: cookie values here are always ASCII).
pub(crate) fn add_cookies(headers: &mut HeaderMap, cookies: impl IntoIterator<Item = String>) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut res = match (self.body, self.text) {
            (Some(v), _) => (
                self.status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                v.to_string(),
            )
                .into_response(),
            (None, Some((ct, body))) => (
                self.status,
                [(header::CONTENT_TYPE, HeaderValue::from_static(ct))],
                body,
            )
                .into_response(),
            (None, None) => self.status.into_response(),
        };
        for (name, value) in &self.headers {
            res.headers_mut().append(name.clone(), value.clone());
        }
        res
    }
}
