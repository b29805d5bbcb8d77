//! The upstream peer of one attempt as pingora's connectors take it: TLS
//! and its SNI, certificate checks, HTTP version (ALPN), timeouts.

use pingora_core::upstreams::peer::HttpPeer;
use sluice_config::{RoutePolicy, UpstreamProtocol};
use std::net::SocketAddr;
use std::time::Duration;

/// How long an idle upstream connection is kept for the next request.
pub(super) const UPSTREAM_IDLE: Duration = Duration::from_secs(60);

/// Whether the route talks TLS to its upstream.
pub(super) fn upstream_tls(policy: &RoutePolicy) -> bool {
    policy.upstream_protocol.is_tls()
}

/// Whether the route speaks HTTP/2 to its upstream (gRPC, over h2c or TLS).
pub(super) fn upstream_h2(policy: &RoutePolicy) -> bool {
    matches!(policy.upstream_protocol, UpstreamProtocol::H2c | UpstreamProtocol::Grpcs)
}

/// The peer for `address` under the route's policy; `host` (the request's,
/// without its port) is the SNI when the upstream is TLS.
pub(super) fn upstream_peer(address: SocketAddr, policy: &RoutePolicy, host: &str) -> HttpPeer {
    let tls = upstream_tls(policy);
    let sni = if tls { policy.upstream_sni.as_deref().unwrap_or(host).to_owned() } else { String::new() };
    let mut peer = HttpPeer::new(address, tls, sni);
    peer.options.verify_cert = policy.upstream_verify;
    peer.options.verify_hostname = policy.upstream_verify;
    peer.options.connection_timeout = Some(Duration::from_millis(policy.connect_timeout_ms));
    peer.options.read_timeout = Some(Duration::from_millis(policy.read_timeout_ms));
    peer.options.write_timeout = Some(Duration::from_millis(policy.send_timeout_ms));
    peer.options.idle_timeout = Some(UPSTREAM_IDLE);
    if upstream_h2(policy) {
        peer.options.set_http_version(2, 2);
    } else if tls {
        peer.options.set_http_version(1, 1);
    }
    peer
}
