//! How the L7 listeners hold client connections and the proxy holds
//! upstream ones (the controller ConfigMap's `use-proxy-protocol`,
//! `client-header-timeout`, `client-body-timeout`, `keep-alive`,
//! `keep-alive-requests` and `upstream-keepalive-*`). Read when a
//! connection opens, so a change applies to the next one and never cuts
//! one open.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connections {
    /// Every connection to the HTTP and HTTPS listeners opens with a PROXY
    /// protocol header (v1 or v2), whose source is the client; a
    /// connection without one is closed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proxy_protocol: bool,
    /// A request's head must be complete this long after its first byte;
    /// `None`: the process's `--client-header-timeout-seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_timeout_ms: Option<u64>,
    /// Between two reads of a request body (nginx's
    /// `client_body_timeout`); a client slower than that gets 408.
    pub body_timeout_ms: u64,
    /// How long a client connection may idle between requests; `None`:
    /// the process's `--keepalive-timeout-seconds`; 0: one request a
    /// connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_timeout_ms: Option<u64>,
    /// Requests one client connection carries before it is closed.
    pub keepalive_requests: u32,
    /// nginx's `large_client_header_buffers NUMBER SIZE` (4 8k): a request
    /// target longer than one buffer gets 414, header lines past all of
    /// them 431.
    pub header_buffers: (u32, u64),
    pub upstream: UpstreamKeepalive,
}

/// Idle upstream connections kept for the next request (nginx's
/// `keepalive`, `keepalive_timeout` and `keepalive_requests` of an
/// upstream block; per worker, as there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpstreamKeepalive {
    /// Idle connections kept per endpoint; 0: none, each request opens
    /// its own.
    pub connections: u32,
    pub timeout_ms: u64,
    /// Requests one upstream connection carries before it is closed.
    pub requests: u32,
}

impl Default for Connections {
    /// ingress-nginx's defaults.
    fn default() -> Self {
        Connections {
            proxy_protocol: false,
            header_timeout_ms: None,
            body_timeout_ms: 60_000,
            keepalive_timeout_ms: None,
            keepalive_requests: 1000,
            header_buffers: (4, 8 * 1024),
            upstream: UpstreamKeepalive::default(),
        }
    }
}

impl Default for UpstreamKeepalive {
    /// ingress-nginx's `upstream-keepalive-*` defaults.
    fn default() -> Self {
        UpstreamKeepalive { connections: 320, timeout_ms: 60_000, requests: 10_000 }
    }
}

impl Connections {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The longest request target taken.
    pub fn max_target_bytes(&self) -> u64 {
        self.header_buffers.1
    }

    /// The most header bytes a request's lines may hold in all.
    pub fn max_header_bytes(&self) -> u64 {
        u64::from(self.header_buffers.0).saturating_mul(self.header_buffers.1)
    }
}
