//! The endpoints of one Service port: from its EndpointSlices, else its v1
//! Endpoints, else (manifest directories without an endpoint controller) the
//! Pods its selector matches.

use super::clusters::ClusterRegistry;
use super::diagnostics::Diagnostics;
use crate::store::{Key, in_namespace};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_config::{Diagnostic, Endpoint, ObjectRef};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

fn protocol(p: Option<&str>) -> &str {
    p.unwrap_or("TCP")
}

fn valid_port(p: i32) -> Option<u16> {
    u16::try_from(p).ok().filter(|p| *p != 0)
}

impl ClusterRegistry<'_> {
    /// The endpoints of port `index` of Service `key`, resolved once.
    pub(super) fn endpoints(
        &mut self,
        diags: &mut Diagnostics,
        key: &Key,
        svc: &Service,
        index: usize,
    ) -> Vec<Endpoint> {
        let cache_key = (key.clone(), index);
        if let Some(hit) = self.endpoint_cache.get(&cache_key) {
            return hit.clone();
        }
        let Some(port) = svc.spec.as_ref().and_then(|s| s.ports.as_ref()).and_then(|p| p.get(index)) else {
            return Vec::new();
        };
        let by_service = self.slices_by_service.clone();
        let mut found = if let Some(slices) = by_service.get(key) {
            let mut all = Vec::new();
            for (slice_key, slice) in slices {
                all.extend(Self::slice_endpoints(diags, slice_key, slice, port));
            }
            all
        } else if let Some(eps) = self.store.endpoints.get(key) {
            Self::v1_endpoints(diags, key, eps, port)
        } else {
            self.pod_endpoints(diags, key, svc, index, port)
        };
        // One entry per address; a ready entry beats a terminating one.
        found.sort_by(|a, b| a.address.cmp(&b.address).then(a.terminating.cmp(&b.terminating)));
        found.dedup_by(|later, first| later.address == first.address);
        self.endpoint_cache.insert(cache_key, found.clone());
        found
    }

    fn slice_endpoints(diags: &mut Diagnostics, key: &Key, slice: &EndpointSlice, port: &ServicePort) -> Vec<Endpoint> {
        let r = ObjectRef::new("EndpointSlice", &key.0, &key.1);
        match slice.address_type.as_str() {
            "IPv4" | "IPv6" => {}
            other => {
                diags.push(Diagnostic::warning(
                    r,
                    "addressType",
                    format!("'{other}' endpoints are not supported (IPv4 and IPv6 are); slice ignored"),
                ));
                return Vec::new();
            }
        }
        let wanted_name = port.name.as_deref().unwrap_or("");
        let slice_port = slice.ports.iter().flatten().enumerate().find(|(_, p)| {
            p.name.as_deref().unwrap_or("") == wanted_name
                && protocol(p.protocol.as_deref()) == protocol(port.protocol.as_deref())
        });
        let Some((pi, slice_port)) = slice_port else { return Vec::new() };
        let Some(number) = slice_port.port.and_then(valid_port) else {
            diags.push(Diagnostic::warning(r, format!("ports[{pi}].port"), "missing or out of range; slice ignored"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, ep) in slice.endpoints.iter().flatten().enumerate() {
            let c = ep.conditions.as_ref();
            let ready = c.and_then(|c| c.ready).unwrap_or(true);
            let serving = c.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
            if !(ready && !terminating || serving && terminating) {
                continue;
            }
            let Some(first) = ep.addresses.first() else {
                diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("endpoints[{i}].addresses"),
                    "empty; endpoint ignored",
                ));
                continue;
            };
            let Ok(ip) = first.parse::<IpAddr>() else {
                diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("endpoints[{i}].addresses[0]"),
                    format!("'{first}' is not an IP address; endpoint ignored"),
                ));
                continue;
            };
            out.push(Endpoint {
                address: SocketAddr::new(ip, number),
                weight: 1,
                terminating: !ready || terminating,
                node: ep.node_name.clone(),
                pod: ep.target_ref.as_ref().filter(|t| t.kind.as_deref() == Some("Pod")).and_then(|t| t.name.clone()),
            });
        }
        out
    }

    fn v1_endpoints(diags: &mut Diagnostics, key: &Key, eps: &Endpoints, port: &ServicePort) -> Vec<Endpoint> {
        let r = ObjectRef::new("Endpoints", &key.0, &key.1);
        let wanted_name = port.name.as_deref().unwrap_or("");
        let mut out = Vec::new();
        for (si, subset) in eps.subsets.iter().flatten().enumerate() {
            let Some(number) = subset
                .ports
                .iter()
                .flatten()
                .find(|p| {
                    p.name.as_deref().unwrap_or("") == wanted_name
                        && protocol(p.protocol.as_deref()) == protocol(port.protocol.as_deref())
                })
                .and_then(|p| valid_port(p.port))
            else {
                continue;
            };
            // Only `addresses` are ready; `notReadyAddresses` get no traffic.
            for (ai, a) in subset.addresses.iter().flatten().enumerate() {
                match a.ip.parse::<IpAddr>() {
                    Ok(ip) => out.push(Endpoint {
                        address: SocketAddr::new(ip, number),
                        weight: 1,
                        terminating: false,
                        node: a.node_name.clone(),
                        pod: a
                            .target_ref
                            .as_ref()
                            .filter(|t| t.kind.as_deref() == Some("Pod"))
                            .and_then(|t| t.name.clone()),
                    }),
                    Err(_) => diags.push(Diagnostic::warning(
                        r.clone(),
                        format!("subsets[{si}].addresses[{ai}].ip"),
                        format!("'{}' is not an IP address; endpoint ignored", a.ip),
                    )),
                }
            }
        }
        out
    }

    fn pod_endpoints(
        &self,
        diags: &mut Diagnostics,
        key: &Key,
        svc: &Service,
        index: usize,
        port: &ServicePort,
    ) -> Vec<Endpoint> {
        let spec = svc.spec.as_ref();
        let selector: BTreeMap<String, String> = spec.and_then(|s| s.selector.clone()).unwrap_or_default();
        if selector.is_empty() {
            return Vec::new();
        }
        let publish_not_ready = spec.and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
        let svc_ref = ObjectRef::new("Service", &key.0, &key.1);
        let mut out = Vec::new();
        for pod in in_namespace(&self.store.pods, &key.0) {
            let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
            let labels = pod.metadata.labels.as_ref();
            if !selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
                continue;
            }
            let status = pod.status.as_ref();
            if matches!(status.and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed")) {
                continue;
            }
            let Some(ip) = status.and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse::<IpAddr>().ok()) else {
                continue;
            };
            let ready = publish_not_ready || pod_ready(pod);
            let terminating = pod.metadata.deletion_timestamp.is_some();
            if !ready {
                continue;
            }
            let number = match &port.target_port {
                None => valid_port(port.port),
                Some(IntOrString::Int(n)) => valid_port(*n),
                Some(IntOrString::String(name)) => {
                    let found = container_port(pod, name, protocol(port.protocol.as_deref()));
                    if found.is_none() {
                        diags.push(Diagnostic::warning(
                            svc_ref.clone(),
                            format!("spec.ports[{index}].targetPort"),
                            format!(
                                "'{name}' names no container port of Pod {}/{pod_name}; that Pod is skipped",
                                key.0
                            ),
                        ));
                    }
                    found
                }
            };
            let Some(number) = number else { continue };
            out.push(Endpoint {
                address: SocketAddr::new(ip, number),
                weight: 1,
                terminating,
                node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                pod: Some(pod_name.to_owned()),
            });
        }
        out
    }
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn container_port(pod: &Pod, name: &str, proto: &str) -> Option<u16> {
    pod.spec.as_ref()?.containers.iter().flat_map(|c| c.ports.iter().flatten()).find_map(|p| {
        (p.name.as_deref() == Some(name) && protocol(p.protocol.as_deref()) == proto)
            .then_some(p.container_port)
            .and_then(valid_port)
    })
}
