use crate::{
    Blocklist, Certificate, CertificateAuthority, Cluster, Connections, Listener, LogFormat, ObjectStatus, RealIp,
    RouteConfig, ServiceVip,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything the data plane must do, at one moment. Immutable once built;
/// consumers compile it into their own fast forms and swap them in whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Increases by one each time a changed Snapshot is published; 0 = never published.
    pub generation: u64,
    pub listeners: Vec<Listener>,
    pub route_configs: Vec<RouteConfig>,
    /// Sorted by name.
    pub clusters: Vec<Cluster>,
    /// Sorted by name.
    pub certificates: Vec<Certificate>,
    /// The service-VIP table for the kernel, sorted by name.
    pub services: Vec<Arc<ServiceVip>>,
    /// CA bundles that check client certificates, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// The controller ConfigMap's `log-format-upstream`, checked; `None`:
    /// ingress-nginx's default line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_format: Option<LogFormat>,
    /// `Strict-Transport-Security` for answers over HTTPS to the Ingress
    /// routes (the controller ConfigMap's `hsts*`); `None`: not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<String>,
    /// Where client addresses come from behind another proxy; `None`: the
    /// connection's peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_ip: Option<RealIp>,
    /// User agents and referers refused (403) on the L7 listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocklist: Option<Blocklist>,
    /// Client and upstream connection settings of the L7 listeners.
    #[serde(default, skip_serializing_if = "Connections::is_default")]
    pub connections: Connections,
    /// The status of the Gateway API objects served, for `sluice check`
    /// and a status writer; by kind and name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_status: Vec<ObjectStatus>,
}

impl Snapshot {
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.binary_search_by(|c| c.name.as_str().cmp(name)).ok().map(|i| &self.clusters[i])
    }

    pub fn route_config(&self, name: &str) -> Option<&RouteConfig> {
        self.route_configs.iter().find(|r| r.name == name)
    }

    pub fn certificate_authority(&self, name: &str) -> Option<&CertificateAuthority> {
        self.certificate_authorities.iter().find(|c| c.name == name)
    }

    pub fn certificate(&self, name: &str) -> Option<&Certificate> {
        self.certificates.binary_search_by(|c| c.name.as_str().cmp(name)).ok().map(|i| &self.certificates[i])
    }

    /// Equal in everything but the generation: a re-publish is not needed.
    pub fn same_content(&self, other: &Snapshot) -> bool {
        self.listeners == other.listeners
            && self.route_configs == other.route_configs
            && self.clusters == other.clusters
            && self.certificates == other.certificates
            && self.services == other.services
            && self.certificate_authorities == other.certificate_authorities
            && self.access_log_format == other.access_log_format
            && self.hsts == other.hsts
            && self.real_ip == other.real_ip
            && self.blocklist == other.blocklist
            && self.connections == other.connections
            && self.gateway_status == other.gateway_status
    }
}
