//! What an access-log line says about an L4 session: a TCP connection or a
//! UDP flow, written when it ends (HAProxy's tcplog, ingress-nginx's stream
//! log).

use std::net::SocketAddr;
use std::time::Duration;

pub struct Session<'a> {
    /// `TCP` or `UDP`.
    pub protocol: &'static str,
    /// The client (from its PROXY header when the listener reads one).
    pub client: SocketAddr,
    pub listener: &'a str,
    /// The cluster, as ingress-nginx names upstreams.
    pub upstream_name: Option<&'a str>,
    pub upstream_addr: Option<SocketAddr>,
    /// Bytes from the client.
    pub bytes_received: u64,
    /// Bytes to the client.
    pub bytes_sent: u64,
    pub duration: Duration,
    pub end: SessionEnd,
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// Both sides closed.
    Closed,
    /// Nothing moved for the idle timeout.
    Idle,
    /// Its listener was removed and the drain time passed.
    Drained,
    /// The listener was at its connection cap.
    Refused,
    /// No endpoint took the connection.
    NoUpstream,
    /// The client's PROXY header was bad or late.
    BadProxyHeader,
}

impl SessionEnd {
    /// nginx's stream `$status`.
    pub fn status(self) -> u16 {
        match self {
            SessionEnd::Closed | SessionEnd::Idle | SessionEnd::Drained => 200,
            SessionEnd::BadProxyHeader => 400,
            SessionEnd::NoUpstream => 502,
            SessionEnd::Refused => 503,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SessionEnd::Closed => "closed",
            SessionEnd::Idle => "idle-timeout",
            SessionEnd::Drained => "drained",
            SessionEnd::Refused => "refused",
            SessionEnd::NoUpstream => "no-upstream",
            SessionEnd::BadProxyHeader => "bad-proxy-header",
        }
    }
}
