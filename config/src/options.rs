use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Process options that shape translation (the flags of `sluice run` and
/// `sluice check` that decide what this instance serves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    /// Ingresses of this class are served (`spec.ingressClassName` or the
    /// `kubernetes.io/ingress.class` annotation).
    pub ingress_class: String,
    /// BCS seed ingress `lbGroup` / Service `BCSGROUP` this instance serves.
    pub lb_group: String,
    /// BCS CRD `lbnames` / `lbids` this instance answers to.
    pub lb_name: String,
    pub http_listen: SocketAddr,
    pub https_listen: SocketAddr,
    /// `namespace/name` of the Secret served when no SNI name matches.
    pub default_certificate: Option<String>,
    pub node_port_range: NodePortRange,
    /// Maglev table size of hashing clusters (a prime).
    pub maglev_table_size: u32,
    /// ingress-nginx `--tcp-services-configmap` / `--udp-services-configmap`,
    /// as `namespace/name`.
    pub tcp_services_configmap: Option<String>,
    pub udp_services_configmap: Option<String>,
    /// Address L4 listeners bind (`--l4-bind`).
    pub l4_bind: std::net::IpAddr,
    /// ingress-nginx's controller ConfigMap (`--configmap`), as `namespace/name`.
    pub configmap: Option<String>,
    /// GatewayClasses of this `spec.controllerName` are served
    /// (`--gateway-controller-name`).
    pub gateway_controller_name: String,
    /// Address Gateway listeners bind (`--gateway-bind`).
    pub gateway_bind: std::net::IpAddr,
}

/// The default `--gateway-controller-name`.
pub const DEFAULT_GATEWAY_CONTROLLER: &str = "sluice.io/gateway-controller";

impl Default for Options {
    fn default() -> Self {
        Self {
            ingress_class: "sluice".into(),
            lb_group: "external".into(),
            lb_name: "sluice".into(),
            http_listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            https_listen: SocketAddr::from(([0, 0, 0, 0], 443)),
            default_certificate: None,
            node_port_range: NodePortRange::default(),
            maglev_table_size: crate::DEFAULT_MAGLEV_TABLE_SIZE,
            tcp_services_configmap: None,
            udp_services_configmap: None,
            l4_bind: std::net::IpAddr::from([0, 0, 0, 0]),
            configmap: None,
            gateway_controller_name: DEFAULT_GATEWAY_CONTROLLER.into(),
            gateway_bind: std::net::IpAddr::from([0, 0, 0, 0]),
        }
    }
}

/// The API server's `--service-node-port-range` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePortRange {
    pub first: u16,
    pub last: u16,
}

impl Default for NodePortRange {
    fn default() -> Self {
        Self { first: 30000, last: 32767 }
    }
}

impl NodePortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}
