use crate::{Affinity, Balance, HealthPolicy, ObjectRef};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A set of endpoints the proxy balances over: one Service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// `namespace/service:port`, then `/udp` (or `/sctp`) for a port of
    /// that protocol, then the balancing that set it apart, if any.
    pub name: String,
    pub service: ObjectRef,
    /// The Service port (not the target port).
    pub port: u16,
    #[serde(default, skip_serializing_if = "Balance::is_default")]
    pub balance: Balance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "HealthPolicy::is_default")]
    pub health: HealthPolicy,
    /// Requests (L7) in flight at once on this instance; past it, 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Sorted by address.
    pub endpoints: Vec<Endpoint>,
    /// For `ExternalName` Services: a DNS name resolved by the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsTarget>,
    /// A backend reference that could not be resolved (Gateway API: a
    /// missing Service, a reference no ReferenceGrant permits): it has no
    /// endpoints, and the requests sent to it get 500, not 503.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unresolved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub address: SocketAddr,
    /// Relative share of this cluster's traffic; 0 = no new traffic.
    pub weight: u32,
    /// Being removed but still serving: no new traffic unless the cluster
    /// has no other endpoint (as kube-proxy does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminating: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The Pod behind the address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsTarget {
    pub hostname: String,
    pub port: u16,
}
