//! Better Auth's HTTP API served from Rust, a gateway layer that routes every
//! request to its platform and tenant, and axum extractors for host handlers.
//!
//! Host apps use it through the `neutrino` facade (feature `axum`):
//! `neutrino::axum::…`.
//!
//! # How the pieces meet
//! Every handler and extractor of this crate finds the platform a request is
//! for in the request's extensions, as a [`neutrino_platform::Platform`]:
//! - one platform per process: [`api`]'s router inserts it itself;
//! - many platforms behind one listener: the [`gateway`] layer resolves the
//!   request's host to its platform (and, for a tenant's host, its tenant)
//!   through the registry and inserts them before the inner service runs.
//!
//! Errors are answered the way Better Auth answers them, a JSON body
//! `{"message": …, "code": …}` with Better Auth's status ([`ApiError`]).
//!
//! | module | what it holds |
//! |---|---|
//! | [`api`] | Better Auth 1.7.25's endpoints under a base path (default `/api/auth`) |
//! | [`gateway`] | the tower layer: host → platform → tenant, suspension, forwarded headers, CORS, tracing, body limit |
//! | [`extract`] | extractors for host handlers: the current session, the tenant scope, permission guards, API keys |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
mod context;
mod error;
pub mod extract;
pub mod gateway;

pub use context::ClientIp;
pub use error::ApiError;
