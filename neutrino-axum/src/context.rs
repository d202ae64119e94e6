//! What every handler and extractor of this crate reads from a request's
//! extensions: the platform it is for and who sent it.
//!
//! The [`api`](crate::api) router (one platform) or the
//! [`gateway`](crate::gateway) layer (many) inserts a
//! [`Platform`](neutrino_platform::Platform); the gateway, which knows which
//! proxies to trust, also inserts a [`ClientIp`]. Nothing here reads a
//! forwarded header: that is the gateway's decision alone.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use neutrino_auth::RequestMeta;
use neutrino_platform::Platform;

use crate::ApiError;

/// The client's address as the gateway established it (the connection's
/// peer, or the address a trusted proxy reported). Handlers prefer it to the
/// connection's own peer address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The platform the request is for, as inserted by the router or the gateway.
///
/// Its absence is a mounting mistake of the host app (a handler outside both),
/// answered as a 500 that says so, never a panic.
pub(crate) fn platform_of(extensions: &Extensions) -> Result<&Platform, ApiError> {
    extensions.get::<Platform>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "no platform for this request: serve it through the auth router or the gateway layer",
        )
    })
}

/// Who sent the request, for sessions, the audit log and the rate limiter: the
/// gateway's [`ClientIp`], else the connection's peer address, else none; and
/// the `user-agent` header.
pub(crate) fn request_meta(extensions: &Extensions, headers: &HeaderMap) -> RequestMeta {
    let ip = extensions.get::<ClientIp>().map(|ip| ip.0).or_else(|| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
    });
    RequestMeta {
        ip_address: ip.map(|ip| ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}
