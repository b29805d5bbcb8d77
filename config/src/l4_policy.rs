use serde::{Deserialize, Serialize};

/// How an L4 listener proxies connections (TCP) or flows (UDP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct L4Policy {
    pub connect_timeout_ms: u64,
    /// A connection (or UDP flow) with no bytes either way this long is closed.
    /// 900 s for TCP, as Tencent CLB; 30 s for UDP flows.
    pub idle_timeout_ms: u64,
    /// Connections at once; past it new ones are closed at once and counted.
    /// `None`: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Clients send a PROXY protocol header (v1 or v2) first; the client
    /// address it carries is the one balancing and the upstream see.
    pub decode_proxy_protocol: bool,
    /// Send a PROXY protocol header of this version to the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_proxy_protocol: Option<ProxyProtocolVersion>,
}

impl L4Policy {
    /// The defaults for TCP connections (`udp` false) or UDP flows.
    pub fn for_protocol(udp: bool) -> Self {
        Self { idle_timeout_ms: if udp { 30_000 } else { 900_000 }, ..Self::default() }
    }
}

impl Default for L4Policy {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            idle_timeout_ms: 900_000,
            max_connections: None,
            decode_proxy_protocol: false,
            send_proxy_protocol: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocolVersion {
    V1,
    V2,
}
