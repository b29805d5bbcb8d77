//! What one access-log line says about a request.

use sluice_config::ObjectRef;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A request as its log line describes it; borrowed from the request's
/// state when it ends.
pub struct Entry<'a> {
    pub remote_addr: Option<IpAddr>,
    /// The user name of a Basic `Authorization` header (nginx's `$remote_user`).
    pub remote_user: Option<String>,
    pub request_id: &'a [u8],
    pub method: &'a str,
    pub host: &'a str,
    /// Path and query, as the client sent them.
    pub target: &'a str,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub protocol: &'static str,
    pub status: u16,
    /// Response body bytes sent to the client.
    pub bytes_sent: u64,
    /// Request line, headers and body, as received.
    pub request_length: u64,
    /// From the request's head read to its last byte sent.
    pub request_time: Duration,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub x_forwarded_for: Option<&'a [u8]>,
    /// ingress-nginx's `$proxy_upstream_name` (`namespace-service-port`).
    pub upstream_name: Option<&'a str>,
    /// The canary's upstream when a canary took the request.
    pub alternative_upstream_name: Option<&'a str>,
    /// Every endpoint tried, in order.
    pub upstreams: &'a [UpstreamTry],
    /// The Ingress (or other object) the route came from.
    pub ingress: Option<&'a ObjectRef>,
    /// The cluster that took the request (`namespace/service:port`).
    pub cluster: Option<&'a str>,
    pub scheme: &'a str,
    /// The request's headers, for `$http_*` in a custom line.
    pub headers: &'a http::HeaderMap,
}

/// One attempt on an endpoint.
#[derive(Clone, Debug)]
pub struct UpstreamTry {
    pub address: SocketAddr,
    /// The upstream's status; `None` when it gave none (connect error, timeout).
    pub status: Option<u16>,
    /// From the attempt's start to the upstream's last byte.
    pub response_time: Duration,
    /// Response body bytes the upstream sent.
    pub response_length: u64,
}
