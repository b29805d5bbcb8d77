//! Services into the kernel's service-VIP table (kube-proxy's view).

use super::Translator;
use super::diagnostics::Diagnostics;
use crate::object::{Kind, meta_ref};
use crate::store::Key;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use sluice_config::{Diagnostic, Frontend, FrontendKind, L4Protocol, ObjectRef, ServiceVip, TrafficPolicy, VipBackend};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// kube-proxy's `sessionAffinityConfig.clientIP.timeoutSeconds` default and maximum.
const AFFINITY_DEFAULT_SECONDS: u32 = 10800;
const AFFINITY_MAX_SECONDS: u32 = 86400;

impl Translator<'_> {
    pub(super) fn service_vips(&mut self) -> Vec<Arc<ServiceVip>> {
        let mut out = Vec::new();
        for (key, svc) in &self.store.services {
            out.extend(self.service_vips_of(key, svc));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// One Service's entries, a port and protocol each; none for a Service
    /// with no virtual IP (ExternalName, headless) or a type it cannot be.
    pub(super) fn service_vips_of(&mut self, key: &Key, svc: &Service) -> Vec<Arc<ServiceVip>> {
        let r = meta_ref(Kind::Service, &svc.metadata);
        let Some(spec) = &svc.spec else { return Vec::new() };
        let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
        if !matches!(ty, "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName") {
            self.diags.push(Diagnostic::error(
                r.clone(),
                "spec.type",
                format!("'{ty}' is not ClusterIP, NodePort, LoadBalancer or ExternalName; not translated"),
            ));
            return Vec::new();
        }
        // ExternalName is a DNS alias and headless Services have no VIP: nothing for the kernel.
        if ty == "ExternalName" || spec.cluster_ip.as_deref() == Some("None") {
            return Vec::new();
        }
        let affinity = client_ip_affinity(&mut self.diags, svc, &r);
        let etp = self.policy(spec.external_traffic_policy.as_deref(), &r, "spec.externalTrafficPolicy");
        let itp = self.policy(spec.internal_traffic_policy.as_deref(), &r, "spec.internalTrafficPolicy");
        let vips = self.virtual_ips(svc, &r);
        let mut out = Vec::new();
        let mut seen: Vec<(u16, L4Protocol, usize)> = Vec::new();
        for (index, port) in spec.ports.iter().flatten().enumerate() {
            let Some((number, protocol)) = self.vip_port(port, index, &r, &mut seen) else { continue };
            let mut frontends: Vec<Frontend> =
                vips.iter().map(|(address, kind)| Frontend { kind: *kind, address: *address, port: number }).collect();
            if matches!(ty, "NodePort" | "LoadBalancer") && spec.allocate_load_balancer_node_ports != Some(false) {
                frontends.extend(self.node_port(port.node_port, index, &r));
            }
            if frontends.is_empty() {
                continue;
            }
            frontends.sort();
            let backends = self
                .clusters
                .endpoints(&mut self.diags, key, svc, index)
                .into_iter()
                .map(|e| VipBackend { address: e.address, weight: e.weight, terminating: e.terminating, node: e.node })
                .collect();
            let health_check_node_port = spec
                .health_check_node_port
                .filter(|_| ty == "LoadBalancer" && etp == TrafficPolicy::Local)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0);
            let proto_name = match protocol {
                L4Protocol::Tcp => "TCP",
                L4Protocol::Udp => "UDP",
                L4Protocol::Sctp => "SCTP",
            };
            out.push(Arc::new(ServiceVip {
                name: format!("{}/{}:{number}/{proto_name}", key.0, key.1),
                service: ObjectRef::new("Service", &key.0, &key.1),
                protocol,
                frontends,
                backends,
                session_affinity_seconds: affinity,
                external_traffic_policy: etp,
                internal_traffic_policy: itp,
                health_check_node_port,
            }));
        }
        out
    }

    /// The Service's addresses: cluster IPs, external IPs and, for a
    /// LoadBalancer, the addresses its status gives.
    fn virtual_ips(&mut self, svc: &Service, r: &ObjectRef) -> Vec<(IpAddr, FrontendKind)> {
        let Some(spec) = &svc.spec else { return Vec::new() };
        let mut vips = Vec::new();
        let cluster_ips = spec.cluster_ips.clone().filter(|v| !v.is_empty());
        let cluster_ips = cluster_ips.or_else(|| spec.cluster_ip.clone().map(|ip| vec![ip])).unwrap_or_default();
        for (i, ip) in cluster_ips.iter().enumerate() {
            vips.extend(self.ip(ip, r, &format!("spec.clusterIPs[{i}]")).map(|a| (a, FrontendKind::ClusterIP)));
        }
        for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
            vips.extend(self.ip(ip, r, &format!("spec.externalIPs[{i}]")).map(|a| (a, FrontendKind::ExternalIP)));
        }
        if spec.type_.as_deref() == Some("LoadBalancer") {
            let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_ref());
            for (i, lb) in ingress.into_iter().flatten().enumerate() {
                if let Some(ip) = &lb.ip {
                    let field = format!("status.loadBalancer.ingress[{i}].ip");
                    vips.extend(self.ip(ip, r, &field).map(|a| (a, FrontendKind::LoadBalancer)));
                }
            }
        }
        vips
    }

    /// A Service port's number and protocol; `None` (with an error) when
    /// either is unusable or the pair repeats an earlier port (`seen`).
    fn vip_port(
        &mut self,
        port: &ServicePort,
        index: usize,
        r: &ObjectRef,
        seen: &mut Vec<(u16, L4Protocol, usize)>,
    ) -> Option<(u16, L4Protocol)> {
        let pf = format!("spec.ports[{index}]");
        let Some(number) = u16::try_from(port.port).ok().filter(|p| *p != 0) else {
            self.diags.push(Diagnostic::error(
                r.clone(),
                format!("{pf}.port"),
                format!("{} is out of range 1-65535", port.port),
            ));
            return None;
        };
        let protocol = match port.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => L4Protocol::Tcp,
            "UDP" => L4Protocol::Udp,
            "SCTP" => L4Protocol::Sctp,
            other => {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{pf}.protocol"),
                    format!("'{other}' is not TCP, UDP or SCTP"),
                ));
                return None;
            }
        };
        if let Some((_, _, first)) = seen.iter().find(|(n, p, _)| *n == number && *p == protocol) {
            self.diags.push(Diagnostic::error(
                r.clone(),
                format!("{pf}.port"),
                format!("{number}/{protocol:?} duplicates spec.ports[{first}]; left out"),
            ));
            return None;
        }
        seen.push((number, protocol, index));
        Some((number, protocol))
    }

    /// The NodePort frontend of a port that has one (a warning when it is
    /// outside the node port range: served anyway).
    fn node_port(&mut self, node_port: Option<i32>, index: usize, r: &ObjectRef) -> Option<Frontend> {
        let np = node_port.filter(|p| *p != 0)?;
        let field = format!("spec.ports[{index}].nodePort");
        let Some(np) = u16::try_from(np).ok() else {
            self.diags.push(Diagnostic::error(r.clone(), field, format!("{np} is out of range")));
            return None;
        };
        if !self.options.node_port_range.contains(np) {
            let range = self.options.node_port_range;
            self.diags.push(Diagnostic::warning(
                r.clone(),
                field,
                format!("{np} is outside the node port range {}-{}; served anyway", range.first, range.last),
            ));
        }
        Some(Frontend { kind: FrontendKind::NodePort, address: IpAddr::V4(Ipv4Addr::UNSPECIFIED), port: np })
    }

    fn ip(&mut self, text: &str, r: &ObjectRef, field: &str) -> Option<IpAddr> {
        match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.diags.push(Diagnostic::error(r.clone(), field, format!("'{text}' is not an IP address")));
                None
            }
        }
    }

    fn policy(&mut self, value: Option<&str>, r: &ObjectRef, field: &str) -> TrafficPolicy {
        match value {
            None | Some("Cluster") => TrafficPolicy::Cluster,
            Some("Local") => TrafficPolicy::Local,
            Some(other) => {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    field,
                    format!("'{other}' is not Cluster or Local; Cluster is used"),
                ));
                TrafficPolicy::Cluster
            }
        }
    }
}

/// `sessionAffinity: ClientIP` and its timeout in seconds.
pub(super) fn client_ip_affinity(diags: &mut Diagnostics, svc: &Service, r: &ObjectRef) -> Option<u32> {
    let spec = svc.spec.as_ref()?;
    match spec.session_affinity.as_deref() {
        None | Some("None") => None,
        Some("ClientIP") => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            match timeout {
                None => Some(AFFINITY_DEFAULT_SECONDS),
                Some(t) if t > 0 && t as u32 <= AFFINITY_MAX_SECONDS => Some(t as u32),
                Some(t) => {
                    diags.push(Diagnostic::error(
                        r.clone(),
                        "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                        format!("{t} is outside 1-{AFFINITY_MAX_SECONDS}; {AFFINITY_DEFAULT_SECONDS} is used"),
                    ));
                    Some(AFFINITY_DEFAULT_SECONDS)
                }
            }
        }
        Some(other) => {
            diags.push(Diagnostic::error(
                r.clone(),
                "spec.sessionAffinity",
                format!("'{other}' is not None or ClientIP"),
            ));
            None
        }
    }
}
