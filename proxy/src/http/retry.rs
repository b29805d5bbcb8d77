//! Whether a failed attempt is tried again on another endpoint
//! (nginx `proxy_next_upstream`).

use crate::cluster::ClusterState;
use pingora_error::ErrorType;
use sluice_config::{RetryOn, RoutePolicy};
use std::net::SocketAddr;

/// The `proxy_next_upstream` condition an error is.
pub fn condition(etype: &ErrorType) -> Option<RetryOn> {
    match etype {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => Some(RetryOn::Timeout),
        ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::ConnectionClosed
        | ErrorType::ReadError
        | ErrorType::WriteError
        | ErrorType::SocketError => Some(RetryOn::Error),
        ErrorType::InvalidHTTPHeader | ErrorType::H1Error | ErrorType::H2Error => Some(RetryOn::InvalidHeader),
        _ => None,
    }
}

/// Whether another attempt is allowed: the policy names the condition, the
/// method may be repeated, attempts are left and so is an untried endpoint.
pub fn allowed(
    policy: &RoutePolicy,
    on: RetryOn,
    idempotent: bool,
    cluster: &ClusterState,
    tried: &[SocketAddr],
    started: Option<std::time::Instant>,
) -> bool {
    // `proxy-next-upstream-timeout`: no attempt starts past it.
    let in_time = |limit: u64| started.is_none_or(|s| s.elapsed() < std::time::Duration::from_millis(limit));
    policy.next_upstream_timeout_ms.is_none_or(in_time)
        && policy.retry.has(on)
        && (idempotent || policy.retry.has(RetryOn::NonIdempotent))
        && (policy.retry.tries == 0 || (tried.len() as u32) < policy.retry.tries)
        && cluster.has_untried(tried)
}
