use serde::{Deserialize, Serialize};

/// How a cluster picks an endpoint for a new request (L7) or connection (L4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", rename_all_fields = "camelCase")]
pub enum Balance {
    /// Smooth weighted round robin (nginx).
    #[default]
    RoundRobin,
    /// The endpoint with the fewest requests (L7) or connections (L4) in
    /// flight relative to its weight.
    LeastConnections,
    /// Consistent hashing (Maglev, weighted) of a request key: the same key
    /// reaches the same endpoint while the endpoints stay; when one goes, only
    /// its keys move.
    Hash {
        /// nginx-style template: `$remote_addr` (source hashing), `$request_uri`,
        /// `$host$uri`, `$http_x_user`, `$cookie_session`, `$arg_id`, ...
        key: String,
        /// Maglev table size, a prime; more entries spread keys more evenly.
        table_size: u32,
    },
}

/// The Maglev table size Envoy uses by default: good spread up to ~650 endpoints.
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65537;

/// The key of source hashing.
pub const SOURCE_ADDRESS_KEY: &str = "$remote_addr";

impl Balance {
    pub fn source_hash() -> Self {
        Balance::Hash { key: SOURCE_ADDRESS_KEY.into(), table_size: DEFAULT_MAGLEV_TABLE_SIZE }
    }

    pub fn is_default(&self) -> bool {
        *self == Balance::RoundRobin
    }
}

/// Keeping a client on one endpoint across requests or connections.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", rename_all_fields = "camelCase")]
pub enum Affinity {
    /// A cookie names the endpoint (ingress-nginx `affinity: cookie`, CLB L7
    /// `sessionTime`).
    Cookie {
        name: String,
        /// `Max-Age` of the cookie; `None`: a session cookie.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age_seconds: Option<u64>,
        path: String,
        mode: AffinityMode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        same_site: Option<String>,
        /// `Domain` of the cookie (ingress-nginx `session-cookie-domain`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        /// The cookie is `Secure` (ingress-nginx `session-cookie-secure`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        secure: bool,
        /// When the cookie's endpoint fails a request, the cookie is
        /// changed to the endpoint that served it (ingress-nginx
        /// `session-cookie-change-on-failure`); off, the next request goes
        /// back to the cookie's endpoint.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        change_on_failure: bool,
    },
    /// The client address sticks to an endpoint until it has been idle for
    /// `timeout_seconds` (Service `sessionAffinity: ClientIP`, CLB L4 `sessionTime`).
    ClientIp { timeout_seconds: u32 },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AffinityMode {
    /// The cookie holds a session key hashed onto the endpoints: when
    /// endpoints are added, a share of sessions rebalances onto them.
    #[default]
    Balanced,
    /// The cookie names the endpoint: the session stays while it exists.
    Persistent,
}

/// Health of a cluster's endpoints beyond Kubernetes readiness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveCheck>,
    pub passive: PassiveCheck,
}

impl HealthPolicy {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Probing each endpoint on a timer (the BCS `healthCheck` fields).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCheck {
    pub protocol: CheckProtocol,
    /// Probe this port instead of the endpoint's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Consecutive successes that make an unhealthy endpoint healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy endpoint unhealthy.
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", rename_all_fields = "camelCase")]
pub enum CheckProtocol {
    /// A completed TCP handshake is healthy.
    Tcp,
    Http {
        path: String,
        /// `HEAD` (the CLB default) or `GET`.
        method: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// Healthy status codes, as inclusive ranges.
        expected: Vec<(u16, u16)>,
    },
}

/// Ejecting an endpoint after consecutive gateway failures (connect error or
/// timeout, 502, 503, 504), for `base_ejection_ms` doubled at each repeated
/// ejection up to `max_ejection_ms`. When every endpoint is out, all are used
/// (panic mode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PassiveCheck {
    /// 0 turns passive ejection off.
    pub consecutive_failures: u32,
    pub base_ejection_ms: u64,
    pub max_ejection_ms: u64,
}

impl Default for PassiveCheck {
    fn default() -> Self {
        Self { consecutive_failures: 5, base_ejection_ms: 10_000, max_ejection_ms: 300_000 }
    }
}
