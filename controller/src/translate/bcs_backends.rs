//! The backends of a networkextension Ingress rule, by bcs-ingress-controller's
//! own rules (ruleconverter.go, peers.md §6.3), because BCS users rely on
//! them: the route's weight is stamped on **every** backend; a pod's
//! `clb-weight` annotation replaces it; a terminating pod, or a running one
//! whose containers are not ready, stays a backend at weight 0; with
//! `isDirectConnect: false` the backends are the distinct `hostIP:nodePort`
//! of the nodes running the Service's pods; subsets select pods by the
//! Service selector plus their labels, at their own weight; several Services
//! of a rule merge, the first backend of an address wins; the list is sorted
//! by address.

use super::Translator;
use crate::bcs::{CLB_WEIGHT_ANNOTATION, ServiceRoute};
use crate::object::{Kind, meta_ref};
use crate::store::{Objects, in_namespace};
use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_config::{Diagnostic, Endpoint, ObjectRef};
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};

/// The pods of `namespace` carrying every label of `selector` (none for an
/// empty selector, as a Service without selector has no pods).
fn pods_matching<'s>(pods: &'s Objects<Pod>, namespace: &str, selector: &BTreeMap<String, String>) -> Vec<&'s Pod> {
    if selector.is_empty() {
        return Vec::new();
    }
    in_namespace(pods, namespace)
        .map(|p| &**p)
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .collect()
}

/// Whether the controller considers a pod at all: it has an IP, is Running
/// and not every container has terminated. A pod listing no container
/// statuses is considered (hand-written manifests leave them out; the API
/// server always fills them for a running pod).
fn pod_considered(pod: &Pod) -> bool {
    let Some(status) = &pod.status else { return false };
    if status.pod_ip.as_deref().unwrap_or("").is_empty() || status.phase.as_deref() != Some("Running") {
        return false;
    }
    let statuses = status.container_statuses.as_deref().unwrap_or_default();
    statuses.is_empty() || statuses.iter().any(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()).is_none())
}

/// The pods a Service route selects, and the weight they get unless their
/// `clb-weight` says otherwise.
#[derive(Clone, Copy)]
struct Selection<'s> {
    svc: &'s Service,
    port: &'s ServicePort,
    selector: &'s BTreeMap<String, String>,
    weight: i64,
}

fn containers_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    conditions.iter().all(|c| c.type_ != "ContainersReady" || c.status == "True")
}

impl Translator<'_> {
    /// The merged, sorted backends of a rule's Services.
    pub(super) fn bcs_target_group(&mut self, r: &ObjectRef, field: &str, routes: &[ServiceRoute]) -> Vec<Endpoint> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            for e in self.bcs_service_backends(r, &format!("{field}[{i}]"), route) {
                if seen.insert(e.address) {
                    out.push(e);
                }
            }
        }
        out.sort_by_key(|e| (e.address.ip(), e.address.port()));
        out
    }

    /// One `ServiceRoute`'s backends.
    fn bcs_service_backends(&mut self, r: &ObjectRef, field: &str, route: &ServiceRoute) -> Vec<Endpoint> {
        match route.service_kind.to_ascii_lowercase().as_str() {
            "" | "service" => {}
            "multiclusterservice" => {
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("{field}.serviceKind"),
                    "multiclusterservice (federation) backends are not supported; this service adds no backends",
                ));
                return Vec::new();
            }
            other => {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{field}.serviceKind"),
                    format!("'{other}' is not service or multiclusterservice; this service adds no backends"),
                ));
                return Vec::new();
            }
        }
        let namespace =
            if route.service_namespace.is_empty() { r.namespace.as_str() } else { &route.service_namespace };
        let Some(svc) = self.service(&(namespace.to_owned(), route.service_name.clone())) else {
            self.diags.push(Diagnostic::error(
                r.clone(),
                format!("{field}.serviceName"),
                format!("Service {namespace}/{} not found; it adds no backends", route.service_name),
            ));
            return Vec::new();
        };
        let spec = svc.spec.as_ref();
        let ports: &[ServicePort] = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
        let Some(port) = ports.iter().find(|p| i64::from(p.port) == route.service_port) else {
            self.diags.push(Diagnostic::error(
                r.clone(),
                format!("{field}.servicePort"),
                format!(
                    "Service {namespace}/{} has no port {}; it adds no backends",
                    route.service_name, route.service_port
                ),
            ));
            return Vec::new();
        };
        let selector = spec.and_then(|s| s.selector.clone()).unwrap_or_default();
        if !route.is_direct_connect {
            if !route.subsets.is_empty() {
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("{field}.subsets"),
                    "subsets apply only with isDirectConnect: true (as in BCS); ignored",
                ));
            }
            let pods = Selection { svc, port, selector: &selector, weight: route.weight() };
            return self.node_port_backends(r, field, &pods);
        }
        if route.subsets.is_empty() {
            let pods = Selection { svc, port, selector: &selector, weight: route.weight() };
            return self.pod_backends(r, field, &pods, route.host_port);
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for subset in &route.subsets {
            let mut labels = selector.clone();
            labels.extend(subset.label_selector.clone());
            let pods = Selection { svc, port, selector: &labels, weight: subset.weight() };
            for e in self.pod_backends(r, field, &pods, route.host_port) {
                if seen.insert(e.address) {
                    out.push(e);
                }
            }
        }
        out
    }

    /// `weight`, or the pod's `clb-weight` annotation when it is an integer 0-100.
    fn pod_weight(&mut self, pod: &Pod, weight: i64) -> i64 {
        let Some(value) = pod.metadata.annotations.as_ref().and_then(|a| a.get(CLB_WEIGHT_ANNOTATION)) else {
            return weight;
        };
        match value.trim().parse::<i64>() {
            Ok(w) if (0..=100).contains(&w) => w,
            _ => {
                self.diags.push(Diagnostic::warning(
                    meta_ref(Kind::Pod, &pod.metadata),
                    format!("metadata.annotations[{CLB_WEIGHT_ANNOTATION}]"),
                    format!("'{value}' is not an integer 0-100; the route's weight {weight} is used"),
                ));
                weight
            }
        }
    }

    /// Pod IP : target port (or host IP : host port) of each considered pod.
    fn pod_backends(&mut self, r: &ObjectRef, field: &str, pods: &Selection<'_>, host_port: bool) -> Vec<Endpoint> {
        let Selection { svc, port, selector, weight } = *pods;
        let namespace = svc.metadata.namespace.clone().unwrap_or_default();
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        let target = port.target_port.clone().unwrap_or(IntOrString::Int(port.port));
        let (target_number, target_text) = match &target {
            IntOrString::Int(n) => (*n, n.to_string()),
            IntOrString::String(s) => (s.parse().unwrap_or(0), s.clone()),
        };
        let mut out = Vec::new();
        for pod in pods_matching(&self.store.pods, &namespace, selector) {
            if !pod_considered(pod) {
                continue;
            }
            let mut w = self.pod_weight(pod, weight);
            if pod.metadata.deletion_timestamp.is_some() || !containers_ready(pod) {
                w = 0;
            }
            let pr = meta_ref(Kind::Pod, &pod.metadata);
            let container_port =
                pod.spec.iter().flat_map(|s| &s.containers).flat_map(|c| c.ports.iter().flatten()).find(|p| {
                    p.protocol.as_deref().unwrap_or("TCP") == protocol
                        && (p.container_port == target_number || p.name.as_deref() == Some(target_text.as_str()))
                });
            let Some(cp) = container_port else {
                self.diags.push(Diagnostic::warning(
                    pr,
                    "spec.containers[].ports",
                    format!("no container port {target_text}/{protocol} (needed by {r} {field}); not a backend"),
                ));
                continue;
            };
            let status = pod.status.as_ref();
            let (ip, number) = if host_port {
                (status.and_then(|s| s.host_ip.clone()), cp.host_port.unwrap_or(0))
            } else {
                (status.and_then(|s| s.pod_ip.clone()), cp.container_port)
            };
            let ip = ip.as_deref().and_then(|i| i.parse::<IpAddr>().ok());
            let number = u16::try_from(number).ok().filter(|n| *n != 0);
            let (Some(ip), Some(number)) = (ip, number) else {
                let what = if host_port { "a host IP and hostPort (hostPort: true)" } else { "a pod IP and port" };
                self.diags.push(Diagnostic::warning(pr, "status", format!("has no {what}; not a backend of {r}")));
                continue;
            };
            out.push(Endpoint {
                address: SocketAddr::new(ip, number),
                weight: u32::try_from(w.clamp(0, 100)).unwrap_or(0),
                terminating: false,
                node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                pod: pod.metadata.name.clone(),
            });
        }
        out
    }

    /// The distinct `hostIP:nodePort` of the nodes running the Service's pods,
    /// at the first such pod's weight.
    fn node_port_backends(&mut self, r: &ObjectRef, field: &str, pods: &Selection<'_>) -> Vec<Endpoint> {
        let Selection { svc, port, selector, weight } = *pods;
        let Some(node_port) = port.node_port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0) else {
            self.diags.push(Diagnostic::error(
                r.clone(),
                format!("{field}.isDirectConnect"),
                format!(
                    "false (NodePort backends), but port {} of Service {} has no nodePort: make the Service \
                     type NodePort or LoadBalancer, or set isDirectConnect: true",
                    port.port,
                    meta_ref(Kind::Service, &svc.metadata)
                ),
            ));
            return Vec::new();
        };
        let namespace = svc.metadata.namespace.clone().unwrap_or_default();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for pod in pods_matching(&self.store.pods, &namespace, selector) {
            let host = pod.status.as_ref().and_then(|s| s.host_ip.as_deref()).and_then(|h| h.parse::<IpAddr>().ok());
            let Some(host) = host else { continue };
            let address = SocketAddr::new(host, node_port);
            if !seen.insert(address) {
                continue;
            }
            let w = self.pod_weight(pod, weight);
            out.push(Endpoint {
                address,
                weight: u32::try_from(w.clamp(0, 100)).unwrap_or(0),
                terminating: false,
                node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                pod: None,
            });
        }
        out
    }
}
