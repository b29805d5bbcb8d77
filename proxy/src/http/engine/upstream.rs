//! The upstream connection of one attempt. Plain HTTP/1, the common case,
//! comes from this worker's idle list; TLS and HTTP/2 go through pingora's
//! connector, which negotiates ALPN, checks certificates and multiplexes
//! HTTP/2 streams over its own pool.

use super::pool::IdlePool;
use crate::http::UpstreamIdentity;
use crate::http::peer::upstream_peer;
use crate::metrics::METRICS;
use pingora_core::connectors::ConnectorOptions;
use pingora_core::connectors::http::Connector;
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::client::HttpSession;
use pingora_core::protocols::http::v1::client::HttpSession as Http1Session;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType};
use sluice_config::{RoutePolicy, UpstreamKeepalive, UpstreamProtocol};
use std::net::SocketAddr;
use std::time::Duration;

/// Where a worker's attempts get their upstream connections.
pub(super) struct Upstreams {
    idle: IdlePool,
    connector: Connector,
    /// HTTP/1 response header names keep the case they arrived in.
    preserve_header_case: bool,
}

/// An attempt's session to its upstream.
pub(super) struct Upstream {
    pub session: HttpSession,
    /// It came from a pool: the upstream may have closed it while idle.
    pub reused: bool,
    /// The TLS or HTTP/2 peer the connector pools it under; `None` for the
    /// plain idle list.
    peer: Option<Box<HttpPeer>>,
    address: SocketAddr,
    /// Requests this connection carried before this one (plain HTTP/1).
    served: u32,
    keepalive: UpstreamKeepalive,
}

impl Upstreams {
    pub fn new(connector: ConnectorOptions, preserve_header_case: bool) -> Self {
        Upstreams { idle: IdlePool::default(), connector: Connector::new(Some(connector)), preserve_header_case }
    }

    /// A session to `address` for a request to `host` under `policy`, with
    /// `identity` as the client certificate and checks over TLS.
    pub async fn connect(
        &self,
        address: SocketAddr,
        policy: &RoutePolicy,
        host: &str,
        identity: Option<&UpstreamIdentity>,
        keepalive: UpstreamKeepalive,
    ) -> Result<Upstream, Box<Error>> {
        let mut served = 0;
        let (mut session, reused, peer) = if policy.upstream_protocol == UpstreamProtocol::Http1 {
            let (stream, reused) = match self.idle.take(address, Duration::from_millis(keepalive.timeout_ms)) {
                Some((stream, before)) => {
                    served = before;
                    (stream, true)
                }
                None => (connect(address, Duration::from_millis(policy.connect_timeout_ms)).await?, false),
            };
            (HttpSession::H1(Http1Session::new(stream)), reused, None)
        } else {
            let mut peer = Box::new(upstream_peer(address, policy, host));
            if let Some(identity) = identity {
                peer.client_cert_key = identity.certificate.clone();
                peer.options.ca = identity.ca.clone();
                peer.options.server_cert_verifier = identity.verifier.clone();
                peer.group_key = identity.group;
            }
            let (session, reused) = self.connector.get_http_session(&*peer).await?;
            (session, reused, Some(peer))
        };
        if !reused {
            METRICS.upstream_connections.inc();
        }
        if let HttpSession::H1(h1) = &mut session {
            h1.set_preserve_header_case(self.preserve_header_case);
        }
        session.set_read_timeout(Some(Duration::from_millis(policy.read_timeout_ms)));
        session.set_write_timeout(Some(Duration::from_millis(policy.send_timeout_ms)));
        Ok(Upstream { session, reused, peer, address, served, keepalive })
    }

    /// Keeps a session whose exchange finished cleanly for the next request.
    pub async fn release(&self, upstream: Upstream) {
        match (upstream.session, upstream.peer) {
            (HttpSession::H1(mut h1), None) => {
                let served = upstream.served + 1;
                if served >= upstream.keepalive.requests {
                    return;
                }
                h1.respect_keepalive();
                if let Some(stream) = h1.reuse().await {
                    self.idle.put(upstream.address, stream, served, upstream.keepalive.connections as usize);
                }
            }
            (session, Some(peer)) => {
                let idle = Duration::from_millis(upstream.keepalive.timeout_ms);
                self.connector.release_http_session(session, &*peer, Some(idle)).await
            }
            (HttpSession::H2(_) | HttpSession::Custom(_), None) => {}
        }
    }
}

/// A new plain connection to `address`, within `timeout`.
async fn connect(address: SocketAddr, timeout: Duration) -> Result<Stream, Box<Error>> {
    let connecting = tokio::net::TcpStream::connect(address);
    let tcp = match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            let kind = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ErrorType::ConnectRefused,
                _ => ErrorType::ConnectError,
            };
            return Err(Error::because(kind, format!("connecting to {address}"), e));
        }
        Err(_) => return Err(Error::explain(ErrorType::ConnectTimedout, format!("connecting to {address}"))),
    };
    let _ = tcp.set_nodelay(true);
    Ok(Box::new(pingora_core::protocols::l4::stream::Stream::from(tcp)))
}
