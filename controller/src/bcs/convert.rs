//! The seed's Mesos-era ingress as the networkextension Ingress that serves
//! the same traffic, with a note wherever the two mean different things
//! (`sluice convert`).

use super::{
    BcsIngress, BcsIngressSpec, IngressListenerAttribute, IngressRule, IngressWeight, Layer7Route, SeedBackend,
    SeedIngress, ServiceRoute,
};
use crate::translate::gcd;
use serde_json::Value;

/// The CRD equivalent of a seed ingress, and the notes on what differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub ingress: BcsIngress,
    pub notes: Vec<String>,
}

/// `roundrobin` / `source` / `leastconn` as an `lbPolicy`.
fn lb_policy(balance: Option<&str>, at: &str, notes: &mut Vec<String>) -> Option<IngressListenerAttribute> {
    let policy = match balance.map(|b| b.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("roundrobin") => return None,
        Some("source") => "IP_HASH",
        Some("leastconn") => "LEAST_CONN",
        Some(other) => {
            notes.push(format!("{at}.balance: '{other}' is not roundrobin, source or leastconn; WRR is used"));
            return None;
        }
    };
    Some(IngressListenerAttribute { lb_policy: policy.into(), ..IngressListenerAttribute::default() })
}

/// A seed backend list (or form A's single backend) as service routes.
fn services(backends: &Value, at: &str, notes: &mut Vec<String>) -> Vec<ServiceRoute> {
    let list: Vec<(String, &Value)> = match backends {
        Value::Array(items) => items.iter().enumerate().map(|(j, v)| (format!("{at}[{j}]"), v)).collect(),
        Value::Object(_) => vec![(at.to_owned(), backends)],
        _ => {
            notes.push(format!("{at}: no backend; the route has no services"));
            return Vec::new();
        }
    };
    let mut weights = Vec::new();
    let mut out = Vec::new();
    for (bf, value) in list {
        let backend: SeedBackend = match serde_json::from_value(value.clone()) {
            Ok(b) => b,
            Err(e) => {
                notes.push(format!("{bf}: {e}; left out"));
                continue;
            }
        };
        let weight = match &backend.weight {
            None => 1,
            Some(w) => match w.as_u64() {
                Some(w) => w,
                None => {
                    notes.push(format!("{bf}.weight: {w} is not an integer ≥ 0; left out"));
                    continue;
                }
            },
        };
        let port = backend.service_port.as_ref().or(backend.port.as_ref());
        let service_port = match port {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) => match s.parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    notes.push(format!(
                        "{bf}.servicePort: '{s}' is a port name; the CRD's servicePort is the Service's port number: \
                         fill it in (0 is written)"
                    ));
                    0
                }
            },
            _ => {
                notes.push(format!("{bf}.servicePort: missing; 0 is written, fill it in"));
                0
            }
        };
        weights.push(weight);
        out.push(ServiceRoute {
            service_name: backend.service_name,
            service_port,
            is_direct_connect: true,
            weight: Some(IngressWeight { value: 0 }),
            ..ServiceRoute::default()
        });
    }
    // Weights up to 100 are kept; larger ones keep their ratio within 0-100.
    let g = weights.iter().fold(0, |g, w| gcd(g, *w)).max(1);
    let max = weights.iter().map(|w| w / g).max().unwrap_or(0);
    let scaled: Vec<u64> = if weights.iter().all(|w| *w <= 100) {
        weights.clone()
    } else if max <= 100 {
        weights.iter().map(|w| w / g).collect()
    } else {
        notes.push(format!(
            "{at}: weights {weights:?} exceed the CRD's 0-100; scaled, keeping their ratio approximately"
        ));
        weights.iter().map(|w| if *w == 0 { 0 } else { (w * 100 / (max * g)).max(1) }).collect()
    };
    for (route, w) in out.iter_mut().zip(scaled) {
        route.weight = Some(IngressWeight { value: i64::try_from(w).unwrap_or(100) });
    }
    if out.iter().filter(|s| s.weight.as_ref().is_some_and(|w| w.value > 0)).count() > 1 {
        notes.push(format!(
            "{at}: the seed's weights are shares per Service; the CRD stamps a weight on every backend, so a \
             Service's share is weight × its backend count: the shares match only with equal backend counts \
             (or set weights per pod with the clb-weight annotation)"
        ));
    }
    out
}

/// Converts one seed ingress; HTTP rules become routes of one rule on `http_port`.
pub fn convert_seed(seed: &SeedIngress, http_port: u16) -> Converted {
    let mut notes = Vec::new();
    if let Some(group) = &seed.spec.lb_group {
        notes.push(format!(
            "spec.lbGroup '{group}': the CRD has no LB group; an instance serves it unless the annotation \
             networkextension.bkbcs.tencent.com/lbnames (or lbids) names other instances"
        ));
    }
    let mut http = IngressRule { port: i64::from(http_port), protocol: "HTTP".into(), ..IngressRule::default() };
    let mut tcp = Vec::new();
    for (i, rule) in seed.spec.rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        if rule.max_conn.is_some() {
            notes.push(format!("{at}.maxConn: the CRD has no connection limit; dropped"));
        }
        let attribute = lb_policy(rule.balance.as_deref(), &at, &mut notes);
        match rule.effective_kind().as_deref() {
            Some("HTTP") => {
                let (h, hf) = match (&rule.http_ingress, &rule.http) {
                    (Some(h), _) => (h, format!("{at}.httpIngress")),
                    (None, Some(h)) => (h, format!("{at}.http")),
                    (None, None) => {
                        notes.push(format!("{at}: kind HTTP without httpIngress; left out"));
                        continue;
                    }
                };
                let host = h.host.clone().or_else(|| rule.host.clone()).unwrap_or_default();
                let Some(first) = h.paths.first() else {
                    notes.push(format!("{hf}.paths: empty; left out"));
                    continue;
                };
                if h.paths.len() > 1 {
                    notes.push(format!(
                        "{hf}.paths[1..]: the seed serves only the first path; the others are not converted"
                    ));
                }
                http.layer7_routes.push(Layer7Route {
                    domain: host,
                    path: first.path.clone().unwrap_or_default(),
                    listener_attribute: attribute,
                    services: services(&first.backend, &format!("{hf}.paths[0].backend"), &mut notes),
                    ..Layer7Route::default()
                });
            }
            Some("TCP") => {
                let Some(t) = &rule.tcp_ingress else {
                    notes.push(format!("{at}: kind TCP without tcpIngress; left out"));
                    continue;
                };
                let port = t.listen_port.as_ref().and_then(Value::as_i64).unwrap_or(0);
                tcp.push(IngressRule {
                    port,
                    protocol: "TCP".into(),
                    listener_attribute: attribute,
                    services: services(&t.backend, &format!("{at}.tcpIngress.backend"), &mut notes),
                    ..IngressRule::default()
                });
            }
            other => notes.push(format!("{at}.kind: '{}' is not HTTP or TCP; left out", other.unwrap_or(""))),
        }
    }
    let mut rules = Vec::new();
    if !http.layer7_routes.is_empty() {
        rules.push(http);
    }
    rules.extend(tcp);
    let mut ingress = BcsIngress::new(
        seed.metadata.name.as_deref().unwrap_or_default(),
        BcsIngressSpec { rules, port_mappings: Vec::new() },
    );
    ingress.metadata.namespace = seed.metadata.namespace.clone();
    ingress.metadata.labels = seed.metadata.labels.clone();
    ingress.metadata.annotations = seed.metadata.annotations.clone();
    Converted { ingress, notes }
}
