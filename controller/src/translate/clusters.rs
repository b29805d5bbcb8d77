//! The clusters of one translation, each built once however many routes
//! and listeners name it, with what they are built from: the EndpointSlices
//! by Service, the endpoints resolved per Service port, the BCS exports.

use super::annotations::ClusterPolicy;
use super::bcs_export::Export;
use super::diagnostics::Diagnostics;
use super::service_vip::client_ip_affinity;
use crate::store::{Key, Store};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_config::{Affinity, Cluster, Diagnostic, DnsTarget, Endpoint, HealthPolicy, ObjectRef};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The EndpointSlices by Service, each Service's in key order, and those
/// that name no Service. A translation by difference keeps it from one
/// store to the next and edits in the slices that changed.
#[derive(Clone, Default)]
pub(super) struct SliceIndex {
    by_service: HashMap<Key, Vec<(Key, Arc<EndpointSlice>)>>,
    unowned: BTreeSet<Key>,
}

impl SliceIndex {
    /// The index of every slice in `store`.
    pub(super) fn of(store: &Store) -> SliceIndex {
        let mut index = SliceIndex::default();
        for (key, slice) in &store.endpoint_slices {
            index.put(key, slice);
        }
        index
    }

    /// Adds slice `key`, replacing its last version (which `remove` took out
    /// when it belonged to another Service).
    pub(super) fn put(&mut self, key: &Key, slice: &Arc<EndpointSlice>) {
        let Some(service) = slice_service(slice) else {
            self.unowned.insert(key.clone());
            return;
        };
        let slices = self.by_service.entry((key.0.clone(), service.to_owned())).or_default();
        match slices.binary_search_by(|(k, _)| k.cmp(key)) {
            Ok(at) => slices[at].1 = slice.clone(),
            Err(at) => slices.insert(at, (key.clone(), slice.clone())),
        }
    }

    /// Takes out slice `key`, as `slice` (its version in the index) has it.
    pub(super) fn remove(&mut self, key: &Key, slice: &EndpointSlice) {
        let Some(service) = slice_service(slice) else {
            self.unowned.remove(key);
            return;
        };
        let service = (key.0.clone(), service.to_owned());
        if let Some(slices) = self.by_service.get_mut(&service) {
            slices.retain(|(k, _)| k != key);
            if slices.is_empty() {
                self.by_service.remove(&service);
            }
        }
    }

    /// The slices of Service `key`.
    pub(super) fn get(&self, key: &Key) -> Option<&[(Key, Arc<EndpointSlice>)]> {
        self.by_service.get(key).map(Vec::as_slice)
    }

    /// A warning for each slice that names no Service.
    pub(super) fn report(&self, diags: &mut Diagnostics) {
        for key in &self.unowned {
            diags.push(Diagnostic::warning(
                ObjectRef::new("EndpointSlice", &key.0, &key.1),
                format!("metadata.labels[{SERVICE_NAME_LABEL}]"),
                "missing: this EndpointSlice belongs to no Service and is ignored",
            ));
        }
    }
}

/// What a Service cluster is built from: the same request builds the same
/// cluster while the Service and its endpoints stay.
#[derive(Clone)]
pub(super) struct ClusterRequest {
    pub service: Key,
    pub port_index: usize,
    pub policy: ClusterPolicy,
}

pub(super) struct ClusterRegistry<'a> {
    pub(super) store: &'a Store,
    clusters: BTreeMap<String, Cluster>,
    /// Each Service cluster built: what it was built from, and what
    /// building it found wrong (on its Service and its endpoints' objects).
    built: BTreeMap<String, (ClusterRequest, Vec<Diagnostic>)>,
    pub(super) slices_by_service: Arc<SliceIndex>,
    /// `(namespace, service, port index)` -> resolved endpoints.
    pub(super) endpoint_cache: HashMap<(Key, usize), Vec<Endpoint>>,
    /// Service -> its BCS export on this LB group, if any.
    exports: HashMap<Key, Option<Export>>,
}

impl<'a> ClusterRegistry<'a> {
    /// A registry over `store`, whose slices `slices_by_service` indexes.
    pub(super) fn new(store: &'a Store, slices_by_service: Arc<SliceIndex>) -> Self {
        ClusterRegistry {
            store,
            clusters: BTreeMap::new(),
            built: BTreeMap::new(),
            slices_by_service,
            endpoint_cache: HashMap::new(),
            exports: HashMap::new(),
        }
    }

    /// Adds a cluster built elsewhere (a BCS target group), replacing one of the same name.
    pub(super) fn insert(&mut self, cluster: Cluster) {
        self.clusters.insert(cluster.name.clone(), cluster);
    }

    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut Cluster> {
        self.clusters.get_mut(name)
    }

    /// The export read for a Service earlier in this translation, if it was.
    pub(super) fn export(&self, key: &Key) -> Option<&Option<Export>> {
        self.exports.get(key)
    }

    pub(super) fn remember_export(&mut self, key: Key, export: Option<Export>) {
        self.exports.insert(key, export);
    }

    /// Every cluster in name order, and what building them found wrong.
    pub(super) fn into_clusters(self) -> (Vec<Cluster>, Vec<Diagnostic>) {
        (self.clusters.into_values().collect(), self.built.into_values().flat_map(|(_, diags)| diags).collect())
    }

    /// Every cluster with, for a Service cluster, what it was built from
    /// and what building it found wrong.
    pub(super) fn into_built(self) -> impl Iterator<Item = (Cluster, Option<(ClusterRequest, Vec<Diagnostic>)>)> {
        let mut built = self.built;
        self.clusters.into_values().map(move |c| {
            let how = built.remove(&c.name);
            (c, how)
        })
    }

    /// Builds the cluster `request` asks for again (its Service's endpoints
    /// changed); `None` when its Service or port is gone.
    pub(super) fn rebuild(&mut self, request: &ClusterRequest) -> Option<String> {
        let store = self.store;
        let svc = store.services.get(&request.service)?;
        self.service_cluster(&request.service, svc, request.port_index, &request.policy)
    }

    /// The cluster of a Service port with a balancing policy, built once per
    /// translation. A Service's `sessionAffinity: ClientIP` applies when the
    /// Ingress asks for no affinity of its own.
    pub(super) fn service_cluster(
        &mut self,
        key: &(String, String),
        svc: &Service,
        index: usize,
        policy: &ClusterPolicy,
    ) -> Option<String> {
        let spec = svc.spec.as_ref()?;
        let port = spec.ports.as_ref()?.get(index)?;
        let service_port = u16::try_from(port.port).ok().filter(|p| *p != 0)?;
        // A UDP (or SCTP) port of a number TCP also has is another cluster.
        let protocol = match port.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => String::new(),
            other => format!("/{}", other.to_ascii_lowercase()),
        };
        let name = format!("{}/{}:{}{protocol}{}", key.0, key.1, service_port, policy.name_suffix());
        if self.clusters.contains_key(&name) {
            return Some(name);
        }
        let mut diags = Diagnostics::default();
        let diags = &mut diags;
        let service = ObjectRef::new("Service", &key.0, &key.1);
        let affinity = policy.affinity.clone().or_else(|| {
            client_ip_affinity(diags, svc, &service).map(|timeout_seconds| Affinity::ClientIp { timeout_seconds })
        });
        let (endpoints, dns) = if spec.type_.as_deref() == Some("ExternalName") {
            let hostname = spec.external_name.clone().unwrap_or_default();
            if hostname.is_empty() {
                diags.push(Diagnostic::error(service.clone(), "spec.externalName", "required for type ExternalName"));
                (Vec::new(), None)
            } else {
                let target = match &port.target_port {
                    Some(IntOrString::Int(n)) => u16::try_from(*n).ok().filter(|p| *p != 0),
                    _ => None,
                };
                diags.push(Diagnostic::warning(
                    service.clone(),
                    "spec.type",
                    format!("ExternalName backends ({hostname}) are not proxied yet; requests routed here get 503"),
                ));
                (Vec::new(), Some(DnsTarget { hostname, port: target.unwrap_or(service_port) }))
            }
        } else if policy.service_upstream {
            match spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) {
                Some(ip) => {
                    let address = std::net::SocketAddr::new(ip, service_port);
                    (vec![Endpoint { address, weight: 1, terminating: false, node: None, pod: None }], None)
                }
                None => {
                    diags.push(Diagnostic::error(
                        service.clone(),
                        "spec.clusterIP",
                        "service-upstream needs a ClusterIP (this Service is headless or has none yet); requests \
                         routed here get 503",
                    ));
                    (Vec::new(), None)
                }
            }
        } else {
            let endpoints = self.endpoints(diags, key, svc, index);
            if endpoints.is_empty() {
                diags.push(Diagnostic::warning(
                    service.clone(),
                    format!("spec.ports[{index}]"),
                    "no ready endpoints: requests routed here get 503 until one is ready",
                ));
            }
            (endpoints, None)
        };
        self.clusters.insert(
            name.clone(),
            Cluster {
                name: name.clone(),
                service,
                port: service_port,
                balance: policy.balance.clone(),
                affinity,
                health: HealthPolicy::default(),
                max_connections: None,
                endpoints,
                dns,
                unresolved: false,
            },
        );
        let request = ClusterRequest { service: key.clone(), port_index: index, policy: policy.clone() };
        self.built.insert(name.clone(), (request, diags.take()));
        Some(name)
    }
}

/// The Service an EndpointSlice belongs to, by its label.
pub(super) fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)).map(String::as_str).filter(|s| !s.is_empty())
}
