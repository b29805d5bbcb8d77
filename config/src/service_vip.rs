use crate::ObjectRef;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// One Service port as the kernel translates it (kube-proxy's job): the
/// addresses clients use and the endpoints they reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceVip {
    /// `namespace/service:port/PROTOCOL`.
    pub name: String,
    pub service: ObjectRef,
    pub protocol: L4Protocol,
    pub frontends: Vec<Frontend>,
    /// Sorted by address.
    pub backends: Vec<VipBackend>,
    /// `sessionAffinity: ClientIP` timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_seconds: Option<u32>,
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_node_port: Option<u16>,
}

impl ServiceVip {
    /// A Service port with one ClusterIP frontend, `Cluster` traffic
    /// policies and no affinity, its endpoints ready at the given weights
    /// (the shape tests and benchmarks build most).
    pub fn cluster_ip(
        name: &str,
        protocol: L4Protocol,
        frontend: SocketAddr,
        backends: impl IntoIterator<Item = (SocketAddr, u32)>,
    ) -> ServiceVip {
        ServiceVip {
            name: name.to_owned(),
            service: ObjectRef::new("Service", "default", name),
            protocol,
            frontends: vec![Frontend { kind: FrontendKind::ClusterIP, address: frontend.ip(), port: frontend.port() }],
            backends: backends
                .into_iter()
                .map(|(address, weight)| VipBackend { address, weight, terminating: false, node: None })
                .collect(),
            session_affinity_seconds: None,
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            health_check_node_port: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum L4Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Frontend {
    pub kind: FrontendKind,
    /// For `NodePort` the unspecified address: every address of the node.
    pub address: IpAddr,
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FrontendKind {
    ClusterIP,
    ExternalIP,
    LoadBalancer,
    NodePort,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VipBackend {
    pub address: SocketAddr,
    pub weight: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminating: bool,
    /// For `externalTrafficPolicy: Local`: only endpoints on this node serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}
