//! The seed's Mesos-era BCS ingress into routes and listeners (bcs.md §2):
//! only the instance whose `--lb-group` equals `lbGroup` serves it; an HTTP
//! rule is a host with its first path only (the seed's constraint), split
//! between Services by their weights as shares of traffic; a TCP rule is a
//! listener on `listenPort` split the same way, per connection.

use super::Translator;
use super::annotations::ClusterPolicy;
use crate::bcs::{SeedBackend, SeedIngress, SeedRule};
use serde_json::Value;
use sluice_config::{Balance, Diagnostic, ObjectRef, Split, WeightedCluster};

impl Translator<'_> {
    /// Whether this instance serves the seed ingress (its lbGroup); says why not.
    pub(super) fn seed_is_ours(&mut self, seed: &SeedIngress, r: &ObjectRef) -> bool {
        let group = seed.spec.lb_group.as_deref().unwrap_or("");
        if group == self.options.lb_group {
            return true;
        }
        let ours = self.options.lb_group.clone();
        self.diags.push(Diagnostic::info(
            r.clone(),
            "spec.lbGroup",
            format!("'{group}' is another LB group (this instance serves --lb-group {ours}): not served here"),
        ));
        false
    }

    pub(super) fn seed_balance(&mut self, rule: &SeedRule, r: &ObjectRef, field: &str) -> ClusterPolicy {
        let balance = self.bcs_balance(rule.balance.as_deref(), r, &format!("{field}.balance"));
        ClusterPolicy { balance, affinity: None, tag: None, service_upstream: false }
    }

    /// A BCS balance value (`roundrobin` by default, `source`, `leastconn`),
    /// as rules and the `BCSBALANCE` label write it.
    pub(super) fn bcs_balance(&mut self, value: Option<&str>, r: &ObjectRef, field: &str) -> Balance {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("roundrobin") => Balance::RoundRobin,
            Some("source") => Balance::Hash {
                key: sluice_config::SOURCE_ADDRESS_KEY.into(),
                table_size: self.options.maglev_table_size,
            },
            Some("leastconn") => Balance::LeastConnections,
            Some(other) => {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    field,
                    format!("'{other}' is not roundrobin, source or leastconn; roundrobin is used"),
                ));
                Balance::RoundRobin
            }
        }
    }

    /// The weighted split of a rule's backends: each Service gets its weight
    /// as a share of the traffic whatever its endpoint count.
    pub(super) fn seed_split(
        &mut self,
        r: &ObjectRef,
        backends: &Value,
        field: &str,
        policy: &ClusterPolicy,
        want_protocol: &str,
    ) -> Split {
        let list: Vec<(String, Value)> = match backends {
            Value::Array(items) => {
                items.iter().enumerate().map(|(j, v)| (format!("{field}[{j}]"), v.clone())).collect()
            }
            Value::Object(_) => vec![(field.to_owned(), backends.clone())],
            _ => {
                self.diags.push(Diagnostic::error(r.clone(), field, "required: a backend or a list of backends"));
                return Split::default();
            }
        };
        let mut split = Vec::new();
        for (bf, value) in list {
            let backend: SeedBackend = match serde_path_to_error::deserialize(value) {
                Ok(b) => b,
                Err(e) => {
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("{bf}.{}", e.path()),
                        e.into_inner().to_string(),
                    ));
                    continue;
                }
            };
            let weight = match &backend.weight {
                None => 1,
                Some(Value::Number(n)) => match n.as_u64().and_then(|w| u32::try_from(w).ok()) {
                    Some(w) => w,
                    None => {
                        self.diags.push(Diagnostic::error(
                            r.clone(),
                            format!("{bf}.weight"),
                            format!("{n} is not an integer ≥ 0; this backend is left out"),
                        ));
                        continue;
                    }
                },
                Some(other) => {
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("{bf}.weight"),
                        format!("{other} is not an integer ≥ 0; this backend is left out"),
                    ));
                    continue;
                }
            };
            let port = backend.service_port.as_ref().or(backend.port.as_ref());
            let port = match port {
                Some(Value::Number(n)) => n.as_i64().map(PortRef::Number),
                Some(Value::String(s)) => Some(PortRef::from_text(s)),
                _ => None,
            };
            let Some(port) = port else {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{bf}.servicePort"),
                    "required (a port number or name)",
                ));
                continue;
            };
            if let Some(cluster) = self.service_port_cluster(
                r,
                &format!("{bf}.serviceName"),
                &backend.service_name,
                &port,
                want_protocol,
                policy,
            ) {
                split.push(WeightedCluster { cluster, weight });
            }
        }
        if !split.is_empty() && split.iter().all(|w| w.weight == 0) {
            self.diags.push(Diagnostic::warning(r.clone(), field, "every weight is 0: no backend gets traffic"));
        }
        Split(split)
    }
}

/// A Service port as an input names it.
pub(super) enum PortRef {
    Number(i64),
    Name(String),
}

impl PortRef {
    /// `"8080"` is a number, anything else a port name.
    pub(super) fn from_text(s: &str) -> Self {
        match s.parse::<i64>() {
            Ok(n) => PortRef::Number(n),
            Err(_) => PortRef::Name(s.to_owned()),
        }
    }
}
