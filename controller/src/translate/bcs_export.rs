//! Service export labels of BCS (bcs.md §3): `BCSGROUP` lists the LB groups
//! that export the Service; `BCSBALANCE` picks the algorithm;
//! `BCS-WEIGHT-<v>` gives the group of endpoints whose Pod carries a label
//! value `<v>` that weight as a share of the traffic, whatever its size.

use super::Translator;
use super::annotations::ClusterPolicy;
use super::clusters::ClusterRegistry;
use super::diagnostics::Diagnostics;
use crate::store::{Key, in_namespace};
use k8s_openapi::api::core::v1::{Pod, Service};
use sluice_config::{Diagnostic, ObjectRef};
use std::collections::BTreeMap;

pub(super) const GROUP_LABEL: &str = "BCSGROUP";
const BALANCE_LABEL: &str = "BCSBALANCE";
const WEIGHT_PREFIX: &str = "BCS-WEIGHT-";
pub(super) const DOMAIN_ANNOTATION: &str = "bcs.tencent.com/domain";
const MAXCONN_ANNOTATION: &str = "bcs.tencent.com/maxconn";
/// bcs-loadbalance's `MaxConn` default.
const DEFAULT_MAXCONN: u32 = 20_000;

/// What the labels of an exported Service ask for.
#[derive(Clone)]
pub(super) struct Export {
    pub policy: ClusterPolicy,
    /// `<v>` -> weight.
    pub weights: Vec<(String, u32)>,
    pub max_connections: u32,
}

/// Whether a Service port is HTTP (by name or `appProtocol`).
pub(super) fn is_http_port(p: &k8s_openapi::api::core::v1::ServicePort) -> bool {
    p.name.as_deref().is_some_and(|n| n.to_ascii_lowercase().starts_with("http"))
        || p.app_protocol.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("http"))
}

impl Translator<'_> {
    /// The export of `svc` on this LB group, `None` when it is not exported
    /// here or its labels are unusable (then with a diagnostic). Read once
    /// per translation: its HTTP ports and its TCP ports both ask.
    pub(super) fn export_of(&mut self, key: &Key, svc: &Service, r: &ObjectRef) -> Option<Export> {
        if let Some(done) = self.clusters.export(key) {
            return done.clone();
        }
        let export = self.read_export(svc, r);
        self.clusters.remember_export(key.clone(), export.clone());
        export
    }

    fn read_export(&mut self, svc: &Service, r: &ObjectRef) -> Option<Export> {
        let labels = svc.metadata.labels.as_ref()?;
        let groups = labels.get(GROUP_LABEL)?;
        if !groups.split(',').any(|g| g.trim() == self.options.lb_group) {
            return None;
        }
        let balance = self.bcs_balance(
            labels.get(BALANCE_LABEL).map(String::as_str),
            r,
            &format!("metadata.labels[{BALANCE_LABEL}]"),
        );
        let mut weights = Vec::new();
        for (k, v) in labels {
            let Some(group) = k.strip_prefix(WEIGHT_PREFIX) else { continue };
            match v.trim().parse::<u32>() {
                Ok(w) if !group.is_empty() => weights.push((group.to_owned(), w)),
                _ => {
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("metadata.labels[{k}]"),
                        format!("'{v}' is not an integer ≥ 0; the Service is not exported until it is"),
                    ));
                    return None;
                }
            }
        }
        let max_connections =
            self.service_maxconn(svc, r, &format!("{DEFAULT_MAXCONN} is used")).unwrap_or(DEFAULT_MAXCONN);
        Some(Export {
            policy: ClusterPolicy { balance, affinity: None, tag: Some("bcs-export"), service_upstream: false },
            weights,
            max_connections,
        })
    }

    /// A Service's `bcs.tencent.com/maxconn`; `None` when absent or not a
    /// positive integer (then an error ending in `otherwise`).
    pub(super) fn service_maxconn(&mut self, svc: &Service, r: &ObjectRef, otherwise: &str) -> Option<u32> {
        let v = svc.metadata.annotations.as_ref().and_then(|a| a.get(MAXCONN_ANNOTATION))?;
        match v.trim().parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("metadata.annotations[{MAXCONN_ANNOTATION}]"),
                    format!("'{v}' is not a positive integer; {otherwise}"),
                ));
                None
            }
        }
    }
}

impl ClusterRegistry<'_> {
    /// The cluster of an exported Service port, its endpoints weighted by
    /// the `BCS-WEIGHT-<v>` groups: each group's weight shared exactly over
    /// its endpoints; endpoints in no group form one group of weight 1.
    pub(super) fn export_cluster(
        &mut self,
        diags: &mut Diagnostics,
        key: &Key,
        svc: &Service,
        index: usize,
        export: &Export,
    ) -> Option<String> {
        let name = self.service_cluster(key, svc, index, &export.policy)?;
        let store = self.store;
        let cluster = self.get_mut(&name)?;
        cluster.max_connections = Some(export.max_connections);
        if export.weights.is_empty() {
            return Some(name);
        }
        // A hand-written EndpointSlice names no Pod: the Pod holding the
        // endpoint's address stands in for it.
        let pod_of = |e: &sluice_config::Endpoint| -> Option<&Pod> {
            match &e.pod {
                Some(p) => store.pods.get(&(key.0.clone(), p.clone())).map(|p| &**p),
                None => in_namespace(&store.pods, &key.0).map(|p| &**p).find(|p| pod_holds(p, e.address.ip())),
            }
        };
        let mut unmatched = Vec::new();
        let groups: Vec<(String, u32)> = cluster
            .endpoints
            .iter()
            .map(|e| {
                let pod = pod_of(e);
                if pod.is_none() {
                    unmatched.push(e.address.ip().to_string());
                }
                let labels = pod.and_then(|p| p.metadata.labels.as_ref());
                export
                    .weights
                    .iter()
                    .find(|(v, _)| labels.is_some_and(|l| l.values().any(|lv| lv == v)))
                    .map(|(v, w)| (v.clone(), *w))
                    .unwrap_or_else(|| (String::new(), 1))
            })
            .collect();
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for (g, _) in &groups {
            *counts.entry(g.as_str()).or_default() += 1;
        }
        let lcm = counts.values().fold(1u64, |acc, n| super::lcm(acc, *n).min(1_000_000));
        for (e, (g, w)) in cluster.endpoints.iter_mut().zip(&groups) {
            let n = counts.get(g.as_str()).copied().unwrap_or(1);
            e.weight = u32::try_from(u64::from(*w) * lcm / n).unwrap_or(u32::MAX);
        }
        if !unmatched.is_empty() {
            diags.push(Diagnostic::warning(
                ObjectRef::new("Service", &key.0, &key.1),
                format!("metadata.labels[{WEIGHT_PREFIX}*]"),
                format!(
                    "endpoint {} belongs to no Pod (no targetRef, and no Pod has the address): it is in no BCS-WEIGHT group and gets the ungrouped weight 1",
                    unmatched.join(", ")
                ),
            ));
        }
        Some(name)
    }
}

/// Whether `ip` is one of the Pod's addresses.
fn pod_holds(pod: &Pod, ip: std::net::IpAddr) -> bool {
    let Some(status) = &pod.status else { return false };
    let ip = ip.to_string();
    status.pod_ip.as_deref() == Some(ip.as_str()) || status.pod_ips.iter().flatten().any(|p| p.ip == ip)
}
