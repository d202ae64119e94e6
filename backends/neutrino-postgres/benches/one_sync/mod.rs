//! The experiment (issue 17 §5) that the executor's own connection grew from,
//! kept as the benches' raw floor (no pool, no rewrite, no `Row`): a minimal
//! PostgreSQL connection
//! over `postgres-protocol` that sends a bound call — the binding's
//! `set_config(…, true)` select and the statement — or a batch as
//! extended-protocol messages ended by ONE `Sync`, so that the server runs
//! them in one implicit transaction and answers in one round trip.
//!
//! tokio-postgres 0.7 ends every request with its own `Sync` and cannot send
//! raw messages, so this is a connection of its own: startup, trust /
//! cleartext / MD5 / SCRAM-SHA-256 authentication (no TLS), named prepared
//! statements, binary parameters through `ToSql`, binary columns decoded to
//! [`Value`]s.
//!
//! What it keeps of the executor's rules:
//! - the binding is set with `set_config(…, true)`: local to the implicit
//!   transaction that the `Sync` ends, committed or rolled back;
//! - an error anywhere aborts the whole implicit transaction (the server
//!   skips every message up to the `Sync`), so a batch stays atomic; a batch
//!   is sent between `BEGIN ISOLATION LEVEL SERIALIZABLE` and `COMMIT`
//!   executed in the same pipeline (its writes keep the executor's
//!   isolation), and a failed one is rolled back before the connection is
//!   used again;
//! - after the `Sync`, a connection whose transaction status is not idle
//!   (a statement that was itself a `BEGIN`) is rolled back, so no binding
//!   outlives its call;
//! - the password never reaches `Debug` or an error.
#![allow(dead_code)] // each bench uses a part

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use neutrino_core::sql::Value;
use postgres_protocol::authentication::sasl::{self, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::types::{FromSql, ToSql, Type};

/// Why a call failed: the server's SQLSTATE and message, or the connection.
#[derive(Debug)]
pub(crate) enum Fail {
    /// An `ErrorResponse`.
    Db {
        /// The SQLSTATE (`23505`: a unique violation).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The socket or a malformed message; the connection is not to be reused.
    Broken(String),
}

impl Fail {
    /// The SQLSTATE, for a server error.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Fail::Db { code, .. } => Some(code),
            Fail::Broken(_) => None,
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Db { code, message } => write!(f, "{message} ({code})"),
            Fail::Broken(why) => write!(f, "connection broken: {why}"),
        }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Broken(e.to_string())
    }
}

type R<T> = std::result::Result<T, Fail>;

/// Where to connect; `Debug` leaves the password out.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) dbname: String,
    pub(crate) password: Option<String>,
    /// `search_path`, if any.
    pub(crate) schema: Option<String>,
    /// Every transaction serializable by default, as the executor's.
    pub(crate) serializable: bool,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// The target of a `postgres://user[:password]@host:port/db` URL, as
    /// `role` if not empty, on `schema` if any.
    pub(crate) fn from_url(url: &str, role: &str, schema: Option<&str>) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (user, rest) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
        let (hostport, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
        let (user, password) = match user.split_once(':') {
            Some((u, p)) => (u, Some(p.to_owned())),
            None => (user, None),
        };
        Self {
            host: host.to_owned(),
            port: port.parse().unwrap_or(5432),
            user: if role.is_empty() { user } else { role }.to_owned(),
            dbname: db.split('?').next().unwrap_or(db).to_owned(),
            password,
            schema: schema.map(str::to_owned),
            serializable: false,
        }
    }
}

/// A statement prepared on one connection.
#[derive(Debug)]
pub(crate) struct Stmt {
    name: String,
    params: Vec<Type>,
    columns: Arc<[(String, Type)]>,
}

/// The binding's settings, as a prepared select of three `set_config`s.
const BIND_SQL: &str = "SELECT set_config('neutrino.platform', $1, true), \
     set_config('neutrino.tenant', $2, true), set_config('neutrino.subtenants', $3, true)";

/// One connection (not shareable: one call at a time, `&mut self`).
pub(crate) struct OneSync {
    stream: TcpStream,
    out: BytesMut,
    inb: BytesMut,
    cache: HashMap<(String, Vec<u32>), Arc<Stmt>>,
    next: u32,
    bind: Option<Arc<Stmt>>,
    begin: Option<Arc<Stmt>>,
    commit: Option<Arc<Stmt>>,
}

impl fmt::Debug for OneSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneSync").finish_non_exhaustive()
    }
}

fn broken(why: &str) -> Fail {
    Fail::Broken(why.to_owned())
}

fn db_error(fields: postgres_protocol::message::backend::ErrorFields<'_>) -> Fail {
    let mut fields = fields;
    let (mut code, mut message) = (String::new(), String::new());
    while let Ok(Some(f)) = fields.next() {
        match f.type_() {
            b'C' => code = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            _ => {}
        }
    }
    Fail::Db { code, message }
}

impl OneSync {
    /// Connects and authenticates.
    pub(crate) async fn connect(t: &Target) -> R<Self> {
        let stream = TcpStream::connect((t.host.as_str(), t.port)).await?;
        stream.set_nodelay(true)?;
        let mut c = Self {
            stream,
            out: BytesMut::with_capacity(4096),
            inb: BytesMut::with_capacity(8192),
            cache: HashMap::new(),
            next: 0,
            bind: None,
            begin: None,
            commit: None,
        };
        let mut options = t.schema.as_ref().map(|s| format!("-c search_path=\"{s}\""));
        if t.serializable {
            let o = options.get_or_insert_with(String::new);
            o.push_str(" -c default_transaction_isolation=serializable");
        }
        let mut params = vec![
            ("user", t.user.as_str()),
            ("database", t.dbname.as_str()),
            ("application_name", "neutrino"),
            ("client_encoding", "UTF8"),
        ];
        if let Some(o) = &options {
            params.push(("options", o.as_str()));
        }
        frontend::startup_message(params, &mut c.out)?;
        c.flush().await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            match c.read().await? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    let pw = t
                        .password
                        .as_deref()
                        .ok_or_else(|| broken("password needed"))?;
                    frontend::password_message(pw.as_bytes(), &mut c.out)?;
                    c.flush().await?;
                }
                Message::AuthenticationMd5Password(b) => {
                    let pw = t
                        .password
                        .as_deref()
                        .ok_or_else(|| broken("password needed"))?;
                    let hash = postgres_protocol::authentication::md5_hash(
                        t.user.as_bytes(),
                        pw.as_bytes(),
                        b.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut c.out)?;
                    c.flush().await?;
                }
                Message::AuthenticationSasl(b) => {
                    let pw = t
                        .password
                        .as_deref()
                        .ok_or_else(|| broken("password needed"))?;
                    let mut mechs = b.mechanisms();
                    let mut found = false;
                    while let Some(m) = mechs.next()? {
                        found |= m == sasl::SCRAM_SHA_256;
                    }
                    if !found {
                        return Err(broken("no supported SASL mechanism"));
                    }
                    let s = ScramSha256::new(pw.as_bytes(), sasl::ChannelBinding::unsupported());
                    frontend::sasl_initial_response(sasl::SCRAM_SHA_256, s.message(), &mut c.out)?;
                    c.flush().await?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(b) => {
                    let s = scram.as_mut().ok_or_else(|| broken("unexpected SASL"))?;
                    s.update(b.data())
                        .map_err(|_| broken("SCRAM exchange failed"))?;
                    frontend::sasl_response(s.message(), &mut c.out)?;
                    c.flush().await?;
                }
                Message::AuthenticationSaslFinal(b) => {
                    let s = scram.as_mut().ok_or_else(|| broken("unexpected SASL"))?;
                    s.finish(b.data())
                        .map_err(|_| broken("SCRAM server signature invalid"))?;
                }
                Message::ErrorResponse(b) => return Err(db_error(b.fields())),
                Message::ReadyForQuery(_) => break,
                Message::BackendKeyData(_)
                | Message::ParameterStatus(_)
                | Message::NoticeResponse(_) => {}
                _ => return Err(broken("unexpected message during startup")),
            }
        }
        c.bind = Some(
            c.prepare(BIND_SQL, &[Type::TEXT, Type::TEXT, Type::TEXT])
                .await?,
        );
        c.begin = Some(c.prepare("BEGIN ISOLATION LEVEL SERIALIZABLE", &[]).await?);
        c.commit = Some(c.prepare("COMMIT", &[]).await?);
        Ok(c)
    }

    async fn flush(&mut self) -> R<()> {
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// The next backend message (notices and parameter changes included).
    async fn read(&mut self) -> R<Message> {
        loop {
            if let Some(m) = Message::parse(&mut self.inb)? {
                return Ok(m);
            }
            if self.stream.read_buf(&mut self.inb).await? == 0 {
                return Err(broken("closed by the server"));
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

    /// Reads up to `ReadyForQuery` after an error; then makes sure nothing
    /// of the failed transaction is left (a statement that was a `BEGIN`).
    async fn drain(&mut self, failure: Fail) -> R<Fail> {
        loop {
            if let Message::ReadyForQuery(b) = self.read_next().await? {
                if b.status() != b'I' {
                    self.rollback().await?;
                }
                return Ok(failure);
            }
        }
    }

    async fn rollback(&mut self) -> R<()> {
        frontend::query("ROLLBACK", &mut self.out)?;
        self.flush().await?;
        loop {
            match self.read_next().await? {
                Message::ReadyForQuery(b) if b.status() == b'I' => return Ok(()),
                Message::ReadyForQuery(_) => return Err(broken("still in a transaction")),
                _ => {}
            }
        }
    }

    /// Prepares `sql` (`$n` parameters) with the parameter types given (OID
    /// 0 lets the server infer), from the connection's cache.
    pub(crate) async fn prepare(&mut self, sql: &str, types: &[Type]) -> R<Arc<Stmt>> {
        let key = (
            sql.to_owned(),
            types.iter().map(Type::oid).collect::<Vec<_>>(),
        );
        if let Some(s) = self.cache.get(&key) {
            return Ok(Arc::clone(s));
        }
        self.next += 1;
        let name = format!("n{}", self.next);
        frontend::parse(&name, sql, types.iter().map(Type::oid), &mut self.out)?;
        frontend::describe(b'S', &name, &mut self.out)?;
        frontend::sync(&mut self.out);
        self.flush().await?;
        let mut params = Vec::new();
        let mut columns = Vec::new();
        loop {
            match self.read_next().await? {
                Message::ParseComplete | Message::NoData => {}
                Message::ParameterDescription(b) => {
                    let mut it = b.parameters();
                    while let Some(oid) = it.next()? {
                        params.push(Type::from_oid(oid).ok_or_else(|| broken("parameter type"))?);
                    }
                }
                Message::RowDescription(b) => {
                    let mut it = b.fields();
                    while let Some(f) = it.next()? {
                        let ty = Type::from_oid(f.type_oid()).unwrap_or(Type::BYTEA);
                        columns.push((f.name().to_owned(), ty));
                    }
                }
                Message::ErrorResponse(b) => {
                    let fail = db_error(b.fields());
                    return Err(self.drain(fail).await?);
                }
                Message::ReadyForQuery(_) => break,
                _ => return Err(broken("unexpected message after Parse")),
            }
        }
        let s = Arc::new(Stmt {
            name,
            params,
            columns: columns.into(),
        });
        self.cache.insert(key, Arc::clone(&s));
        Ok(s)
    }

    fn bind_execute(&mut self, s: &Stmt, values: &[&(dyn ToSql + Sync)]) -> R<()> {
        if values.len() != s.params.len() {
            return Err(broken("wrong number of parameters"));
        }
        let mut i = 0;
        let types = &s.params;
        frontend::bind(
            "",
            &s.name,
            std::iter::once(1),
            values.iter(),
            |v, buf| {
                let ty = &types[i];
                i += 1;
                match v.to_sql_checked(ty, buf)? {
                    tokio_postgres::types::IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
                    tokio_postgres::types::IsNull::No => Ok(postgres_protocol::IsNull::No),
                }
            },
            std::iter::once(1),
            &mut self.out,
        )
        .map_err(|e| match e {
            frontend::BindError::Conversion(e) => broken(&e.to_string()),
            frontend::BindError::Serialization(e) => Fail::from(e),
        })?;
        frontend::execute("", 0, &mut self.out)?;
        Ok(())
    }

    /// Reads what one bound Execute gave: its rows (decoded if `keep`) up to
    /// `CommandComplete`.
    async fn read_result(
        &mut self,
        columns: &[(String, Type)],
        keep: bool,
        rows: &mut Vec<Vec<Value>>,
    ) -> R<u64> {
        loop {
            match self.read_next().await? {
                Message::BindComplete => {}
                Message::DataRow(b) if keep => {
                    let mut values = Vec::with_capacity(columns.len());
                    let mut ranges = b.ranges();
                    let mut i = 0;
                    while let Some(r) = ranges.next()? {
                        let ty = &columns.get(i).ok_or_else(|| broken("extra column"))?.1;
                        values.push(decode(ty, r.map(|r| &b.buffer()[r]))?);
                        i += 1;
                    }
                    rows.push(values);
                }
                Message::DataRow(_) => {}
                Message::CommandComplete(b) => {
                    let tag = b.tag()?;
                    return Ok(tag
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0));
                }
                Message::EmptyQueryResponse => return Ok(0),
                Message::ErrorResponse(b) => return Err(db_error(b.fields())),
                _ => return Err(broken("unexpected message after Execute")),
            }
        }
    }

    /// Reads the `ReadyForQuery` that ends a pipeline; rolls back if the
    /// connection is left in a transaction.
    async fn ready(&mut self) -> R<()> {
        loop {
            if let Message::ReadyForQuery(b) = self.read_next().await? {
                if b.status() != b'I' {
                    self.rollback().await?;
                    return Err(broken("a statement left a transaction open"));
                }
                return Ok(());
            }
        }
    }

    /// `stmt` bound to the binding (`platform`, `tenant`, further readable
    /// tenants comma-separated), in one pipeline ended by one `Sync`: its
    /// rows.
    pub(crate) async fn query_bound(
        &mut self,
        binding: [&str; 3],
        stmt: &Stmt,
        values: &[&(dyn ToSql + Sync)],
    ) -> R<Vec<Vec<Value>>> {
        let bind = Arc::clone(self.bind.as_ref().ok_or_else(|| broken("not started"))?);
        let b: [&(dyn ToSql + Sync); 3] = [&binding[0], &binding[1], &binding[2]];
        self.bind_execute(&bind, &b)?;
        self.bind_execute(stmt, values)?;
        frontend::sync(&mut self.out);
        self.flush().await?;
        let mut rows = Vec::new();
        let columns = Arc::clone(&stmt.columns);
        let ran = async {
            self.read_result(&[], false, &mut rows).await?;
            self.read_result(&columns, true, &mut rows).await
        }
        .await;
        match ran {
            Ok(_) => {
                self.ready().await?;
                Ok(rows)
            }
            Err(f @ Fail::Db { .. }) => Err(self.drain(f).await?),
            Err(f) => Err(f),
        }
    }

    /// `stmt` unbound, alone before its `Sync`: the connection's baseline.
    pub(crate) async fn query(
        &mut self,
        stmt: &Stmt,
        values: &[&(dyn ToSql + Sync)],
    ) -> R<Vec<Vec<Value>>> {
        self.bind_execute(stmt, values)?;
        frontend::sync(&mut self.out);
        self.flush().await?;
        let mut rows = Vec::new();
        let columns = Arc::clone(&stmt.columns);
        match self.read_result(&columns, true, &mut rows).await {
            Ok(_) => {
                self.ready().await?;
                Ok(rows)
            }
            Err(f @ Fail::Db { .. }) => Err(self.drain(f).await?),
            Err(f) => Err(f),
        }
    }

    /// Statements in one serializable transaction, sent as one pipeline
    /// ended by one `Sync`, bound to `binding` if any: their counts, or the
    /// first failure with nothing kept.
    pub(crate) async fn batch(
        &mut self,
        binding: Option<[&str; 3]>,
        stmts: &[(&Stmt, &[&(dyn ToSql + Sync)])],
    ) -> R<Vec<u64>> {
        self.batch_in(true, binding, stmts).await
    }

    /// [`OneSync::batch`] in the implicit transaction of the pipeline (at
    /// the connection's default isolation) if not `explicit`.
    pub(crate) async fn batch_in(
        &mut self,
        explicit: bool,
        binding: Option<[&str; 3]>,
        stmts: &[(&Stmt, &[&(dyn ToSql + Sync)])],
    ) -> R<Vec<u64>> {
        let begin = Arc::clone(self.begin.as_ref().ok_or_else(|| broken("not started"))?);
        let commit = Arc::clone(self.commit.as_ref().ok_or_else(|| broken("not started"))?);
        if explicit {
            self.bind_execute(&begin, &[])?;
        }
        if let Some(binding) = binding {
            let bind = Arc::clone(self.bind.as_ref().ok_or_else(|| broken("not started"))?);
            let b: [&(dyn ToSql + Sync); 3] = [&binding[0], &binding[1], &binding[2]];
            self.bind_execute(&bind, &b)?;
        }
        for (s, v) in stmts {
            self.bind_execute(s, v)?;
        }
        if explicit {
            self.bind_execute(&commit, &[])?;
        }
        frontend::sync(&mut self.out);
        self.flush().await?;
        let mut none = Vec::new();
        let ran = async {
            if explicit {
                self.read_result(&[], false, &mut none).await?;
            }
            if binding.is_some() {
                self.read_result(&[], false, &mut none).await?;
            }
            let mut counts = Vec::with_capacity(stmts.len());
            for _ in stmts {
                counts.push(self.read_result(&[], false, &mut none).await?);
            }
            if explicit {
                self.read_result(&[], false, &mut none).await?;
            }
            Ok(counts)
        }
        .await;
        match ran {
            Ok(counts) => {
                self.ready().await?;
                Ok(counts)
            }
            Err(f @ Fail::Db { .. }) => Err(self.drain(f).await?),
            Err(f) => Err(f),
        }
    }

    /// A setting as the connection sees it now (for the tests: what is left
    /// after a call).
    pub(crate) async fn setting(&mut self, name: &str) -> R<Option<String>> {
        let s = self
            .prepare("SELECT current_setting($1, true)", &[Type::TEXT])
            .await?;
        let rows = self.query(&s, &[&name]).await?;
        Ok(match rows.first().and_then(|r| r.first()) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => None,
        })
    }
}

/// A binary column as a [`Value`], for the types a tenanted table has.
fn decode(ty: &Type, raw: Option<&[u8]>) -> R<Value> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    let bad = |e: Box<dyn std::error::Error + Sync + Send>| Fail::Broken(e.to_string());
    Ok(match *ty {
        Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw).map_err(bad)?)),
        Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw).map_err(bad)?)),
        Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw).map_err(bad)?)),
        Type::INT8 => Value::Integer(i64::from_sql(ty, raw).map_err(bad)?),
        Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw).map_err(bad)?)),
        Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw).map_err(bad)?),
        Type::BYTEA => Value::Blob(<&[u8]>::from_sql(ty, raw).map_err(bad)?.to_vec()),
        _ => Value::Text(String::from_utf8_lossy(raw).into_owned()),
    })
}
