//! The executor's connection: PostgreSQL's frontend/backend protocol over
//! `postgres-protocol`, sending a whole call — `BEGIN`, the binding's
//! `set_config(…, true)`, the statements, `COMMIT` — as extended-protocol
//! messages ended by ONE `Sync`, so that the server answers it in one round
//! trip (tokio-postgres ends every request with a `Sync` of its own).
//!
//! What a connection keeps to:
//! - one call at a time (`&mut self`); a call marks the connection busy
//!   while any of its messages is unanswered, and a busy or broken
//!   connection is never reused (the pool discards it, see
//!   [`Wire::reusable`]): a call dropped mid-way leaves it so;
//! - after every call the connection is idle outside any transaction: a
//!   failed call (the server skips everything up to the `Sync`) or a
//!   statement that left a transaction open is rolled back before the call
//!   returns, or the connection is broken;
//! - statements are prepared on first use within the same round trip
//!   (`Parse` and `Describe` ahead of their `Bind`) and kept by name, at
//!   most [`STATEMENT_CACHE`]; beyond, they are all closed, in the next
//!   call's round trip;
//! - no password in `Debug` output or an error.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use neutrino_core::sql::{Columns, Row, Value};
use postgres_protocol::authentication::sasl::{self, ScramSha256};
use postgres_protocol::message::backend::{ErrorFields, Message};
use postgres_protocol::message::frontend;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};

use crate::tls::Tls;
use crate::value::{Cell, Param};

/// Most prepared statements a connection keeps; beyond, all are closed.
pub(crate) const STATEMENT_CACHE: usize = 512;

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The server's `ErrorResponse`: the call was rolled back.
    Db {
        /// The SQLSTATE.
        code: String,
        /// The server's primary message (never its detail).
        message: String,
        /// The constraint, for a constraint violation.
        constraint: Option<String>,
    },
    /// A value that cannot be bound (the caller's input); nothing ran.
    Param(String),
    /// A column that has no [`Value`].
    Decode {
        /// The column.
        column: String,
        /// Why.
        reason: String,
    },
    /// A statement that left a transaction open (it was rolled back).
    OpenTransaction,
    /// The socket failed or the server said something unexpected: the
    /// connection is not reused. Fixed words and an I/O kind only.
    Broken(String),
    /// No connection could be made: fixed words only.
    Connect(String),
    /// The client could not authenticate as the server asked (no password
    /// given, no mechanism in common, a server signature that does not
    /// verify): fixed words only.
    Auth(String),
    /// TLS was required and could not be had (the server refused it, its
    /// certificate did not verify): fixed words and rustls' reason only.
    Tls(String),
}

impl Fail {
    /// The SQLSTATE of a server error.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Fail::Db { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The server's message of a server error.
    pub(crate) fn message(&self) -> Option<&str> {
        match self {
            Fail::Db { message, .. } => Some(message),
            _ => None,
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Db { code, message, .. } => write!(f, "{message} (SQLSTATE {code})"),
            Fail::Param(why) => write!(f, "a parameter cannot be bound: {why}"),
            Fail::Decode { column, reason } => write!(f, "column {column}: {reason}"),
            Fail::OpenTransaction => f.write_str("a statement left a transaction open"),
            Fail::Broken(why) => write!(f, "connection broken: {why}"),
            Fail::Connect(why) => write!(f, "cannot connect: {why}"),
            Fail::Auth(why) => write!(f, "authentication failed: {why}"),
            Fail::Tls(why) => write!(f, "TLS failed: {why}"),
        }
    }
}

fn io_fail(e: &io::Error) -> Fail {
    Fail::Broken(format!("I/O error ({})", e.kind()))
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        io_fail(&e)
    }
}

type R<T> = std::result::Result<T, Fail>;

fn broken(why: &str) -> Fail {
    Fail::Broken(why.to_owned())
}

/// Where and how to connect; `Debug` leaves the password out.
#[derive(Clone)]
pub(crate) struct Dial {
    /// TCP hosts and Unix-socket directories, each with its port, tried in
    /// order.
    pub(crate) hosts: Vec<(Host, u16)>,
    pub(crate) user: String,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) dbname: Option<String>,
    pub(crate) options: Option<String>,
    pub(crate) application_name: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) tls: Tls,
}

/// A host to connect to.
#[derive(Clone, Debug)]
pub(crate) enum Host {
    Tcp(String),
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

impl fmt::Debug for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dial")
            .field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    async fn open(host: &Host, port: u16) -> io::Result<Self> {
        Ok(match host {
            Host::Tcp(h) => {
                let s = TcpStream::connect((h.as_str(), port)).await?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            #[cfg(unix)]
            Host::Unix(dir) => Stream::Unix(
                tokio::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{port}"))).await?,
            ),
        })
    }

    /// The connection encrypted as `tls` says, after the server agreed to
    /// TLS (`SSLRequest`); as it is when TLS is off.
    async fn start_tls(self, host: &Host, tls: &Tls) -> R<Self> {
        let Tls::On { config, .. } = tls else {
            return Ok(self);
        };
        let (Stream::Tcp(mut tcp), Host::Tcp(name)) = (self, host) else {
            return Err(Fail::Tls(
                "TLS is for TCP hosts, not a Unix socket: use sslmode=disable there".into(),
            ));
        };
        let mut request = BytesMut::with_capacity(8);
        frontend::ssl_request(&mut request);
        tcp.write_all(&request).await?;
        // One byte, read alone: nothing the server (or anyone on the way)
        // sent after it may be taken as part of the encrypted session.
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await?;
        match answer[0] {
            b'S' => {}
            b'N' => return Err(Fail::Tls("the server does not accept TLS".into())),
            _ => return Err(broken("unexpected answer to the TLS request")),
        }
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| Fail::Tls("the host is not a name or address TLS can verify".into()))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| Fail::Tls(format!("handshake failed: {e}")))?;
        Ok(Stream::Tls(Box::new(stream)))
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            #[cfg(unix)]
            Stream::Unix(s) => s.write_all(buf).await,
            Stream::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await,
            #[cfg(unix)]
            Stream::Unix(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

/// A statement prepared on one connection.
pub(crate) struct Stmt {
    /// Its name (empty: the unnamed statement, kept for one use only).
    name: String,
    /// The parameter types the server settled on.
    params: Vec<Type>,
    /// Its columns' names and types.
    columns: Columns,
    types: Arc<[Type]>,
}

/// One statement of a call.
pub(crate) struct Item<'a> {
    /// The statement, with `$N` parameters.
    pub(crate) sql: &'a str,
    /// Its values.
    pub(crate) values: &'a [Value],
    /// Kept prepared on the connection (DML), else prepared for this use.
    pub(crate) cache: bool,
    /// Its rows are wanted, else only its count.
    pub(crate) rows: bool,
}

/// What one statement of a call gave back.
pub(crate) enum Out {
    Count(u64),
    Rows(Vec<Row>),
}

/// The statements prepared for one text, by their declared parameter
/// types' OIDs.
type ByTypes = Vec<(Vec<u32>, Arc<Stmt>)>;

/// How one item of a call runs.
struct Planned {
    /// A statement already prepared on the connection.
    found: Option<Arc<Stmt>>,
    /// Else its name (parsed in this pipeline, by this item if `parse`).
    name: String,
    /// The types it was declared with, if parsed by this item.
    types: Vec<Type>,
    parse: bool,
}

/// One connection of the executor's pool.
pub(crate) struct Wire {
    stream: Stream,
    out: BytesMut,
    inb: BytesMut,
    /// Prepared statements by text, then by declared parameter types.
    cache: HashMap<String, ByTypes>,
    cached: usize,
    next: u64,
    /// A call's messages are unanswered (or the connection was left
    /// mid-protocol): never to be reused.
    busy: bool,
    broken: bool,
    /// Close every prepared statement in the next call.
    evict: bool,
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wire")
            .field("busy", &self.busy)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

fn db_error(mut fields: ErrorFields<'_>) -> Fail {
    let (mut code, mut message, mut constraint) = (String::new(), String::new(), None);
    while let Ok(Some(f)) = fields.next() {
        let v = || String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'C' => code = v(),
            b'M' => message = v(),
            b'n' => constraint = Some(v()),
            _ => {}
        }
    }
    Fail::Db {
        code,
        message,
        constraint,
    }
}

/// The type of a column or parameter OID: a type the server settled on
/// that has no [`Value`] is refused by name when decoded.
fn type_of(oid: u32) -> Type {
    Type::from_oid(oid)
        .unwrap_or_else(|| Type::new(format!("oid {oid}"), oid, Kind::Simple, "pg_catalog".into()))
}

/// The type a value is declared with (OID 0 for `NULL`: the server infers
/// it), or `TEXT` for a `NULL` whose type the statement does not fix.
fn declared(v: &Value, text_nulls: bool) -> Type {
    match (crate::value::param_type(v), text_nulls) {
        (t, true) if t.oid() == 0 => Type::TEXT,
        (t, _) => t,
    }
}

/// The OID of [`declared`]'s type, without building the type.
fn declared_oid(v: &Value, text_nulls: bool) -> u32 {
    match v {
        Value::Null if text_nulls => Type::TEXT.oid(),
        Value::Null => 0,
        v => crate::value::param_type(v).oid(),
    }
}

impl Wire {
    /// Connects to the first host that answers and authenticates (trust,
    /// cleartext, MD5 or SCRAM-SHA-256).
    pub(crate) async fn connect(dial: &Dial) -> R<Self> {
        let mut last = Fail::Connect("no host to connect to".into());
        for (host, port) in &dial.hosts {
            match tokio::time::timeout(dial.connect_timeout, Self::connect_to(dial, host, *port))
                .await
            {
                Ok(Ok(w)) => return Ok(w),
                // A server that refused (a bad password, no such database),
                // or credentials that cannot answer what it asks: the other
                // hosts would say the same.
                Ok(Err(f @ (Fail::Db { .. } | Fail::Auth(_)))) => return Err(f),
                Ok(Err(Fail::Broken(why))) => last = Fail::Connect(why),
                Ok(Err(f)) => last = f,
                Err(_) => last = Fail::Connect("timed out".into()),
            }
        }
        Err(last)
    }

    async fn connect_to(dial: &Dial, host: &Host, port: u16) -> R<Self> {
        let stream = Stream::open(host, port)
            .await?
            .start_tls(host, &dial.tls)
            .await?;
        let mut w = Self {
            stream,
            out: BytesMut::with_capacity(4096),
            inb: BytesMut::with_capacity(8192),
            cache: HashMap::new(),
            cached: 0,
            next: 0,
            busy: true,
            broken: false,
            evict: false,
        };
        let mut params = vec![
            ("user", dial.user.as_str()),
            ("application_name", dial.application_name.as_str()),
            ("client_encoding", "UTF8"),
        ];
        if let Some(db) = &dial.dbname {
            params.push(("database", db.as_str()));
        }
        if let Some(o) = &dial.options {
            params.push(("options", o.as_str()));
        }
        frontend::startup_message(params, &mut w.out)?;
        w.flush().await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            match w.read().await? {
                Message::ErrorResponse(b) => return Err(db_error(b.fields())),
                Message::ReadyForQuery(_) => break,
                m => {
                    if answer_startup(m, dial, &mut scram, &mut w.out)? {
                        w.flush().await?;
                    }
                }
            }
        }
        w.busy = false;
        Ok(w)
    }

    /// Whether the connection may serve another call: idle, not broken.
    pub(crate) fn reusable(&self) -> bool {
        !self.busy && !self.broken
    }

    async fn flush(&mut self) -> R<()> {
        let r = self.stream.write_all(&self.out).await;
        self.out.clear();
        r.map_err(|e| {
            self.broken = true;
            io_fail(&e)
        })
    }

    /// The next backend message.
    async fn read(&mut self) -> R<Message> {
        loop {
            match Message::parse(&mut self.inb) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(io_fail(&e));
                }
            }
            // Room for a whole answer in one read, not 64 bytes at a time.
            self.inb.reserve(8192);
            match self.stream.read_buf(&mut self.inb).await {
                Ok(0) => {
                    self.broken = true;
                    return Err(broken("closed by the server"));
                }
                Ok(_) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(io_fail(&e));
                }
            }
        }
    }

    /// The next message that is not a notice or a parameter change.
    async fn read_next(&mut self) -> R<Message> {
        loop {
            match self.read().await? {
                Message::NoticeResponse(_)
                | Message::ParameterStatus(_)
                | Message::NotificationResponse(_) => {}
                m => return Ok(m),
            }
        }
    }

    /// A message that the protocol does not allow here: the connection is
    /// not to be trusted any more.
    fn confused(&mut self) -> Fail {
        self.broken = true;
        broken("unexpected message from the server")
    }

    /// The cached statement for `sql` with these declared types.
    fn cached(&self, sql: &str, oids: &[u32]) -> Option<Arc<Stmt>> {
        self.cache
            .get(sql)?
            .iter()
            .find(|(o, _)| o == oids)
            .map(|(_, s)| Arc::clone(s))
    }

    /// Runs `items` as one pipeline ended by one `Sync`: their outcomes, or
    /// the first failure (with the call's transaction rolled back and the
    /// connection idle, or broken). `text_nulls[i]` declares item `i`'s
    /// `NULL`s as `TEXT`.
    pub(crate) async fn run(
        &mut self,
        items: &[Item<'_>],
        text_nulls: &[bool],
    ) -> std::result::Result<Vec<Out>, (Fail, Option<usize>)> {
        if !self.reusable() {
            return Err((broken("the connection is not idle"), None));
        }
        self.busy = true;
        // What each item runs: a cached statement, or one parsed in this
        // pipeline (then `Some(declared types)`).
        let mut plan: Vec<Planned> = Vec::with_capacity(items.len());
        let mut closing = 0usize;
        if self.evict || self.cached >= STATEMENT_CACHE {
            for (_, stmts) in self.cache.drain() {
                for (_, s) in stmts {
                    // Writing to a buffer cannot fail for a name of ours.
                    frontend::close(b'S', &s.name, &mut self.out)
                        .map_err(|e| (io_fail(&e), None))?;
                    closing += 1;
                }
            }
            self.cached = 0;
            self.evict = false;
        }
        let mark = self.out.len();
        if let Err(f) = self.encode(items, text_nulls, &mut plan) {
            // Nothing of the call is sent; statements closed above still are
            // (they have left the cache), in a round trip of their own.
            self.out.truncate(mark);
            if closing > 0 {
                self.finish_closing(closing).await.map_err(|f| (f, None))?;
            }
            self.busy = false;
            return Err(f);
        }
        frontend::sync(&mut self.out);
        self.flush().await.map_err(|f| (f, None))?;
        self.read_answers(items, &plan, closing).await
    }

    /// Sends the `Close`s written, with a `Sync`, and reads their answers.
    async fn finish_closing(&mut self, closing: usize) -> R<()> {
        frontend::sync(&mut self.out);
        self.flush().await?;
        for _ in 0..closing {
            match self.read_next().await? {
                Message::CloseComplete => {}
                _ => return Err(self.confused()),
            }
        }
        match self.read_next().await? {
            Message::ReadyForQuery(b) if b.status() == b'I' => Ok(()),
            _ => Err(self.confused()),
        }
    }

    /// Writes the messages of `items` (without the `Sync`) and how each runs.
    fn encode<'i>(
        &mut self,
        items: &'i [Item<'i>],
        text_nulls: &[bool],
        plan: &mut Vec<Planned>,
    ) -> std::result::Result<(), (Fail, Option<usize>)> {
        // Statements parsed earlier in this pipeline, for a repeated one.
        let mut fresh: HashMap<(&str, Vec<u32>), String> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let tn = text_nulls.get(i).copied().unwrap_or(false);
            let oids: Vec<u32> = item.values.iter().map(|v| declared_oid(v, tn)).collect();
            if let Some(s) = self.cached(item.sql, &oids) {
                if s.params.len() != item.values.len() {
                    return Err((
                        Fail::Param(format!(
                            "the statement has {} parameters but {} values were given",
                            s.params.len(),
                            item.values.len()
                        )),
                        Some(i),
                    ));
                }
                self.encode_bind(&s.name, &s.params, item.values)
                    .map_err(|f| (f, Some(i)))?;
                plan.push(Planned {
                    found: Some(s),
                    name: String::new(),
                    types: Vec::new(),
                    parse: false,
                });
                continue;
            }
            let types: Vec<Type> = item.values.iter().map(|v| declared(v, tn)).collect();
            // A statement parsed earlier in this pipeline is bound by its
            // name; any other is parsed (and described) first.
            let known = item
                .cache
                .then(|| fresh.get(&(item.sql, oids.clone())).cloned())
                .flatten();
            let parse = known.is_none();
            let name = match known {
                Some(name) => name,
                None => {
                    let name = if item.cache {
                        self.next += 1;
                        let n = format!("s{}", self.next);
                        fresh.insert((item.sql, oids.clone()), n.clone());
                        n
                    } else {
                        String::new()
                    };
                    frontend::parse(&name, item.sql, oids.iter().copied(), &mut self.out)
                        .map_err(|e| (io_fail(&e), None))?;
                    frontend::describe(b'S', &name, &mut self.out)
                        .map_err(|e| (io_fail(&e), None))?;
                    name
                }
            };
            self.encode_bind(&name, &types, item.values)
                .map_err(|f| (f, Some(i)))?;
            plan.push(Planned {
                found: None,
                name,
                types,
                parse,
            });
        }
        Ok(())
    }

    /// Reads the answers to a call's messages up to `ReadyForQuery`, and
    /// leaves the connection idle outside any transaction (or broken).
    async fn read_answers(
        &mut self,
        items: &[Item<'_>],
        plan: &[Planned],
        closing: usize,
    ) -> std::result::Result<Vec<Out>, (Fail, Option<usize>)> {
        // The answers, in order; after a failure the server skips to the
        // `Sync`, so everything up to `ReadyForQuery` is read and dropped.
        let mut failure: Option<(Fail, Option<usize>)> = None;
        let mut outs = Vec::with_capacity(items.len());
        let read = async {
            for _ in 0..closing {
                match self.read_next().await? {
                    Message::CloseComplete => {}
                    Message::ErrorResponse(b) => return Ok(Some((db_error(b.fields()), None))),
                    _ => return Err(self.confused()),
                }
            }
            // Statements parsed in this pipeline, by name, for a repeat.
            let mut parsed: HashMap<String, Arc<Stmt>> = HashMap::new();
            for (i, (item, p)) in items.iter().zip(plan).enumerate() {
                let stmt = match &p.found {
                    Some(s) => Arc::clone(s),
                    None if !p.parse => match parsed.get(&p.name) {
                        Some(s) => Arc::clone(s),
                        None => return Err(self.confused()),
                    },
                    None => {
                        let s = match self.read_parsed(&p.name).await? {
                            Ok(s) => s,
                            Err(f) => return Ok(Some((f, Some(i)))),
                        };
                        if item.cache {
                            let oids = p.types.iter().map(Type::oid).collect();
                            self.cache
                                .entry(item.sql.to_owned())
                                .or_default()
                                .push((oids, Arc::clone(&s)));
                            self.cached += 1;
                            parsed.insert(p.name.clone(), Arc::clone(&s));
                        }
                        s
                    }
                };
                match self.read_result(&stmt, item.rows).await? {
                    Ok(out) => outs.push(out),
                    Err(f) => return Ok(Some((f, Some(i)))),
                }
            }
            Ok(None)
        }
        .await;
        match read {
            Ok(None) => {}
            Ok(Some(f)) => failure = Some(f),
            Err(f) => return Err((f, None)),
        }
        // Up to `ReadyForQuery`: the call is over; no transaction may
        // outlive it.
        let status = loop {
            match self.read_next().await {
                Ok(Message::ReadyForQuery(b)) => break b.status(),
                Ok(_) if failure.is_some() => {}
                Ok(_) => return Err((self.confused(), None)),
                Err(f) => return Err((f, None)),
            }
        };
        if status != b'I' {
            self.rollback().await.map_err(|f| (f, None))?;
            failure.get_or_insert((Fail::OpenTransaction, None));
        }
        self.busy = false;
        match failure {
            None => Ok(outs),
            Some(f) => Err(f),
        }
    }

    /// Encodes `Bind` (binary values and columns) and `Execute` of `name`.
    fn encode_bind(&mut self, name: &str, types: &[Type], values: &[Value]) -> R<()> {
        let mut i = 0;
        let result = frontend::bind(
            "",
            name,
            std::iter::once(1),
            values.iter(),
            |v, buf| {
                let ty = types.get(i).cloned().unwrap_or(Type::TEXT);
                i += 1;
                match Param(v).to_sql_checked(&ty, buf)? {
                    IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
                    IsNull::No => Ok(postgres_protocol::IsNull::No),
                }
            },
            std::iter::once(1),
            &mut self.out,
        );
        match result {
            Ok(()) => {}
            Err(e) => {
                return Err(match e {
                    frontend::BindError::Conversion(e) => Fail::Param(e.to_string()),
                    frontend::BindError::Serialization(e) => io_fail(&e),
                });
            }
        }
        frontend::execute("", 0, &mut self.out)?;
        Ok(())
    }

    /// Reads the answer to `Parse` and `Describe`: the statement, or the
    /// server's refusal.
    async fn read_parsed(&mut self, name: &str) -> R<std::result::Result<Arc<Stmt>, Fail>> {
        let mut params = Vec::new();
        match self.read_next().await? {
            Message::ParseComplete => {}
            Message::ErrorResponse(b) => return Ok(Err(db_error(b.fields()))),
            _ => return Err(self.confused()),
        }
        match self.read_next().await? {
            Message::ParameterDescription(b) => {
                let mut it = b.parameters();
                while let Some(oid) = it.next()? {
                    params.push(type_of(oid));
                }
            }
            Message::ErrorResponse(b) => return Ok(Err(db_error(b.fields()))),
            _ => return Err(self.confused()),
        }
        let (names, types) = match self.read_next().await? {
            Message::NoData => (Vec::new(), Vec::new()),
            Message::RowDescription(b) => {
                let mut it = b.fields();
                let (mut names, mut types) = (Vec::new(), Vec::new());
                while let Some(f) = it.next()? {
                    names.push(f.name().to_owned());
                    types.push(type_of(f.type_oid()));
                }
                (names, types)
            }
            Message::ErrorResponse(b) => return Ok(Err(db_error(b.fields()))),
            _ => return Err(self.confused()),
        };
        Ok(Ok(Arc::new(Stmt {
            name: name.to_owned(),
            params,
            columns: names.into(),
            types: types.into(),
        })))
    }

    /// Reads what one `Bind` and `Execute` gave: its rows (decoded if
    /// `keep`) up to `CommandComplete`, or the server's refusal.
    async fn read_result(&mut self, stmt: &Stmt, keep: bool) -> R<std::result::Result<Out, Fail>> {
        match self.read_next().await? {
            Message::BindComplete => {}
            Message::ErrorResponse(b) => return Ok(Err(db_error(b.fields()))),
            _ => return Err(self.confused()),
        }
        let mut rows = Vec::new();
        let mut failure = None;
        loop {
            match self.read_next().await? {
                Message::DataRow(b) if keep && failure.is_none() => {
                    let mut values = Vec::with_capacity(stmt.types.len());
                    let mut ranges = b.ranges();
                    let mut i = 0;
                    while let Some(r) = ranges.next()? {
                        let Some(ty) = stmt.types.get(i) else {
                            return Err(self.confused());
                        };
                        let raw = r.map(|r| &b.buffer()[r]);
                        let cell = match raw {
                            None => Ok(Cell(Value::Null)),
                            Some(raw) => Cell::from_sql(ty, raw),
                        };
                        match cell {
                            Ok(c) => values.push(c.0),
                            Err(e) => {
                                failure = Some(Fail::Decode {
                                    column: stmt.columns[i].clone(),
                                    reason: e.to_string(),
                                });
                                break;
                            }
                        }
                        i += 1;
                    }
                    if failure.is_none() {
                        match Row::new(stmt.columns.clone(), values) {
                            Ok(row) => rows.push(row),
                            Err(_) => return Err(self.confused()),
                        }
                    }
                }
                Message::DataRow(_) => {}
                Message::CommandComplete(b) => {
                    if let Some(f) = failure {
                        return Ok(Err(f));
                    }
                    if keep {
                        return Ok(Ok(Out::Rows(rows)));
                    }
                    let tag = b.tag()?;
                    let n = tag
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    return Ok(Ok(Out::Count(n)));
                }
                Message::EmptyQueryResponse => {
                    return Ok(Ok(if keep { Out::Rows(rows) } else { Out::Count(0) }));
                }
                Message::ErrorResponse(b) => return Ok(Err(db_error(b.fields()))),
                _ => return Err(self.confused()),
            }
        }
    }

    /// Ends whatever transaction a call left, with a simple `ROLLBACK`.
    async fn rollback(&mut self) -> R<()> {
        frontend::query("ROLLBACK", &mut self.out)?;
        self.flush().await?;
        loop {
            match self.read_next().await? {
                Message::ReadyForQuery(b) if b.status() == b'I' => return Ok(()),
                Message::ReadyForQuery(_) => {
                    self.broken = true;
                    return Err(broken("still in a transaction after ROLLBACK"));
                }
                _ => {}
            }
        }
    }

    /// Closes every prepared statement in the next call (after a schema
    /// change made a cached plan stale).
    pub(crate) fn evict(&mut self) {
        self.evict = true;
    }
}

/// Answers one message of the start-up exchange (the authentication the
/// server asks for) into `out`: whether an answer was written and must be
/// sent.
fn answer_startup(
    message: Message,
    dial: &Dial,
    scram: &mut Option<ScramSha256>,
    out: &mut BytesMut,
) -> R<bool> {
    let password = || {
        dial.password
            .as_deref()
            .ok_or_else(|| Fail::Auth("the server asks for a password and none was given".into()))
    };
    match message {
        Message::AuthenticationOk
        | Message::BackendKeyData(_)
        | Message::ParameterStatus(_)
        | Message::NoticeResponse(_) => Ok(false),
        Message::AuthenticationCleartextPassword => {
            frontend::password_message(password()?, out)?;
            Ok(true)
        }
        Message::AuthenticationMd5Password(b) => {
            let user = dial.user.as_bytes();
            let hash = postgres_protocol::authentication::md5_hash(user, password()?, b.salt());
            frontend::password_message(hash.as_bytes(), out)?;
            Ok(true)
        }
        Message::AuthenticationSasl(b) => {
            let mut offered = b.mechanisms();
            let mut scram_offered = false;
            while let Some(m) = offered.next()? {
                scram_offered |= m == sasl::SCRAM_SHA_256;
            }
            if !scram_offered {
                return Err(Fail::Auth(
                    "the server offers no supported SASL mechanism".into(),
                ));
            }
            let started = ScramSha256::new(password()?, sasl::ChannelBinding::unsupported());
            frontend::sasl_initial_response(sasl::SCRAM_SHA_256, started.message(), out)?;
            *scram = Some(started);
            Ok(true)
        }
        Message::AuthenticationSaslContinue(b) => {
            let exchange = scram.as_mut().ok_or_else(|| broken("unexpected SASL"))?;
            exchange
                .update(b.data())
                .map_err(|_| Fail::Auth("SCRAM exchange failed".into()))?;
            frontend::sasl_response(exchange.message(), out)?;
            Ok(true)
        }
        Message::AuthenticationSaslFinal(b) => {
            let exchange = scram.as_mut().ok_or_else(|| broken("unexpected SASL"))?;
            exchange
                .finish(b.data())
                .map_err(|_| Fail::Auth("SCRAM server signature invalid".into()))?;
            Ok(false)
        }
        _ => Err(broken("unexpected message during startup")),
    }
}
