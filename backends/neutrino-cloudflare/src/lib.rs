//! # neutrino-cloudflare
//!
//! Neutrino on Cloudflare, over the v4 REST API: the same domain code that runs
//! on SQLite runs here unchanged.
//!
//! * [`CloudflareClient`]: one pooled HTTP client (rustls) per account, bearer
//!   token (never shown by `Debug` or in errors), the response envelope decoded
//!   once (`success: false` is a [`CloudflareError::Api`] with Cloudflare's codes
//!   and messages), retries of 429 and 5xx with exponential backoff, jitter and
//!   `Retry-After` (seconds or HTTP date) under a cap, a client-side rate limiter
//!   (1,200 requests per 5 minutes by default, Cloudflare's account limit) and
//!   page- and cursor-style pagination in one place;
//! * [`D1Executor`]: the SQL port on a D1 database (`…/raw`, and its batch form
//!   for atomic batches); see its docs for how values travel and what D1's JSON
//!   API cannot carry;
//! * [`WorkersKv`]: the KV port on a Workers KV namespace (TTLs under KV's 60 s
//!   minimum are rounded up);
//! * [`CloudflareProvisioner`]: D1 databases, R2 buckets, KV namespaces, Worker
//!   scripts with bindings, DNS records and custom hostnames, idempotent by name.
//!
//! The crate's tests run the shared conformance suites (SQL, KV, provisioner,
//! and the tenancy suite on D1 + Workers KV) against a fake of the v4 API that
//! checks every request and answer against the published OpenAPI contract, with
//! its documented known deviations. One SQL case cannot hold on D1's HTTP API
//! and is not run: see [`D1Executor`] on the values D1 cannot carry. The same
//! fake injects faults (failed envelopes, 5xx, truncated, malformed and reset
//! answers, a create whose answer is lost): each is retried or returned as a
//! typed error. The KV suite also runs against Miniflare's local explorer API
//! (workerd's own KV), with real D1 checks there; its `tests/miniflare.rs`
//! says what keeps the SQL suite off it.
//!
//! Every error reaches callers as a [`neutrino_core::Error`]; the
//! [`CloudflareError`] behind it is kept as its source. Every port call runs in
//! a `neutrino.<port>` span with `backend = "d1"` or `"cloudflare"`.
//!
//! ```no_run
//! use neutrino::cloudflare::{CloudflareClientBuilder, CloudflareProvisionerBuilder, D1Executor};
//! use neutrino::provision::{Provisioner, ResourceKind, ResourceSpec};
//! use neutrino::sql::{SqlExecutor, Statement};
//!
//! # async fn run() -> neutrino::Result<()> {
//! let client = CloudflareClientBuilder::from_env().build()?;
//! let provisioner = CloudflareProvisionerBuilder::new(client.clone()).build()?;
//! let db = provisioner
//!     .create(&ResourceSpec::new(ResourceKind::Database, "k3m9p2xw7q-default-db"))
//!     .await?;
//! let d1 = D1Executor::new(client, db.provider_id);
//! d1.execute(&Statement::new("SELECT 1")).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod d1;
mod error;
mod kv;
mod provision;

pub use client::{
    CloudflareClient, CloudflareClientBuilder, DEFAULT_BASE_URL, DEFAULT_RATE_LIMIT, RetryPolicy,
    parse_retry_after,
};
pub use d1::{D1Executor, MAX_BOUND_PARAMS, MAX_EXACT_INTEGER, MAX_ROW_BYTES, MAX_SQL_BYTES};
pub use error::{ApiMessage, CloudflareError};
pub use kv::{MIN_TTL_SECS, WorkersKv, effective_ttl_secs};
pub use provision::{
    BucketOpener, CloudflareProvisioner, CloudflareProvisionerBuilder, CustomHostnameStatus,
    DEFAULT_COMPATIBILITY_DATE,
};
