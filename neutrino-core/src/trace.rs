//! The tracing convention of the port boundary.
//!
//! Every port call of every backend runs inside a span named `neutrino.<port>`
//! (`neutrino.sql`, `neutrino.kv`, `neutrino.object`, `neutrino.provision`) at
//! `DEBUG` level, with the fields `backend`, `op` and `resource`. Spans carry no
//! values, keys' contents, tokens or secrets: a host app can export them anywhere.

use tracing::Span;

/// The port a span belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// [`crate::sql::SqlExecutor`]
    Sql,
    /// [`crate::kv::KvStore`]
    Kv,
    /// [`crate::object::ObjectStore`]
    Object,
    /// [`crate::provision::Provisioner`]
    Provision,
}

/// The span of one port call: `backend` (e.g. `"sqlite"`), `op` (e.g. `"query"`)
/// and `resource` (the database, bucket or namespace name; never a key or value).
pub fn port_span(port: Port, backend: &'static str, op: &'static str, resource: &str) -> Span {
    match port {
        Port::Sql => tracing::debug_span!("neutrino.sql", backend, op, resource),
        Port::Kv => tracing::debug_span!("neutrino.kv", backend, op, resource),
        Port::Object => tracing::debug_span!("neutrino.object", backend, op, resource),
        Port::Provision => tracing::debug_span!("neutrino.provision", backend, op, resource),
    }
}
