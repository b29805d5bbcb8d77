//! The networkextension Ingress CRD into listeners (bcs.md §4): each rule's
//! `port` is a listener of this instance. HTTP and HTTPS rules are virtual
//! hosts of their `layer7Routes` (joining the shared route config when the
//! port is the `--http-listen` / `--https-listen` port); TCP and UDP rules
//! are L4 listeners. Every rule is one target group of per-backend weights
//! (see `bcs_backends`). Rules are validated first (`bcs_validation`).

use super::Translator;
use super::bcs_validation::{Protocol, check_rule, parse_code_values};
use super::certificates::Referrer;
use crate::bcs::{
    BcsIngress, IngressListenerAttribute, IngressListenerCertificate, IngressRule, LB_IDS_ANNOTATION,
    LB_NAMES_ANNOTATION, ListenerHealthCheck, ServiceRoute,
};
use crate::names::check_host;
use sluice_config::{
    ActiveCheck, Affinity, AffinityMode, Balance, CheckProtocol, ClientVerify, Cluster, Diagnostic, HealthPolicy,
    ObjectRef, PathMatch, Route, RoutePolicy, Split, UpstreamProtocol, VirtualHostTls,
};
use std::collections::{BTreeMap, HashSet};

/// Cookie CLB-style L7 session persistence inserts (`sessionTime` with WRR).
pub const SESSION_COOKIE: &str = "SLUICE_BCS_SESSION";

/// A route of a CRD rule on a shared L7 listener.
pub(super) struct SharedRoute {
    pub host: String,
    pub path: PathMatch,
    pub split: Split,
    pub policy: std::sync::Arc<RoutePolicy>,
    pub field: String,
    pub tls: Option<VirtualHostTls>,
}

/// The L7 pieces of one rule: routes by host, with TLS per host.
type HostRoutes = BTreeMap<String, (Vec<Route>, Option<VirtualHostTls>)>;

/// The active check a `healthCheck` asks for.
fn active_check(h: &ListenerHealthCheck, l7: bool) -> Option<ActiveCheck> {
    if !h.enabled {
        return None;
    }
    let http = match h.health_check_protocol.to_ascii_uppercase().as_str() {
        "" => l7,
        p => p == "HTTP" || p == "HTTPS",
    };
    let protocol = if http {
        let expected = if h.http_code_values.is_empty() {
            // The bit mask: 1 = 1xx, 2 = 2xx, 4 = 3xx, 8 = 4xx, 16 = 5xx; 0: 2xx and 3xx.
            let mask = if h.http_code == 0 { 0b110 } else { h.http_code };
            (0..5u16).filter(|b| mask & (1 << b) != 0).map(|b| (100 * (b + 1), 100 * (b + 1) + 99)).collect()
        } else {
            parse_code_values(&h.http_code_values).unwrap_or_default()
        };
        CheckProtocol::Http {
            path: if h.http_check_path.is_empty() { "/".into() } else { h.http_check_path.clone() },
            method: if h.http_check_method.is_empty() { "HEAD".into() } else { h.http_check_method.to_uppercase() },
            host: None,
            expected,
        }
    } else {
        CheckProtocol::Tcp
    };
    let or = |v: i64, d: i64| u64::try_from(if v == 0 { d } else { v }).unwrap_or(1);
    Some(ActiveCheck {
        protocol,
        port: u16::try_from(h.health_check_port).ok().filter(|p| *p != 0),
        interval_ms: or(h.interval_time, 5) * 1000,
        timeout_ms: or(h.timeout, 2) * 1000,
        healthy_threshold: u32::try_from(or(h.health_num, 3)).unwrap_or(3),
        unhealthy_threshold: u32::try_from(or(h.un_health_num, 3)).unwrap_or(3),
    })
}

impl Translator<'_> {
    /// Whether this instance serves a BCS Ingress: its `lbids` (or, without
    /// them, `lbnames`) annotation names `--lb-name`; with neither it is served.
    pub(super) fn bcs_ingress_is_ours(&mut self, ing: &BcsIngress, r: &ObjectRef) -> bool {
        let annotations = ing.metadata.annotations.as_ref();
        let named = [LB_IDS_ANNOTATION, LB_NAMES_ANNOTATION]
            .into_iter()
            .find_map(|key| annotations.and_then(|a| a.get(key)).map(|v| (key, v)));
        let Some((key, value)) = named else { return true };
        // An entry may carry its region: "ap-guangzhou:lb-a".
        let ours = value
            .split(',')
            .map(|e| e.trim())
            .any(|e| e.rsplit_once(':').map_or(e, |(_, id)| id) == self.options.lb_name);
        if !ours {
            let name = self.options.lb_name.clone();
            self.diags.push(Diagnostic::info(
                r.clone(),
                format!("metadata.annotations[{key}]"),
                format!("'{value}' does not name this instance (--lb-name {name}): not served here"),
            ));
        }
        ours
    }

    /// The valid rules of a served Ingress, with their protocol and port.
    pub(super) fn bcs_rules<'i>(
        &mut self,
        ing: &'i BcsIngress,
        r: &ObjectRef,
    ) -> Vec<(usize, &'i IngressRule, Protocol, u16)> {
        let mut out = Vec::new();
        for (i, rule) in ing.spec.rules.iter().enumerate() {
            match check_rule(&format!("spec.rules[{i}]"), rule) {
                Ok((protocol, port)) => out.push((i, rule, protocol, port)),
                Err((field, message)) => {
                    self.diags.push(Diagnostic::error(r.clone(), field, format!("{message}; this rule is left out")))
                }
            }
        }
        out
    }

    /// Whether a valid L7 rule lives on the shared HTTP or HTTPS listener.
    pub(super) fn on_shared_listener(&self, protocol: Protocol, port: u16) -> bool {
        (protocol == Protocol::Http && port == self.options.http_listen.port())
            || (protocol == Protocol::Https && port == self.options.https_listen.port())
    }

    /// The routes of CRD rules on the shared listeners, for the `ingress`
    /// route config (where the older object keeps a claimed host and path).
    pub(super) fn bcs_shared_routes(&mut self, ing: &BcsIngress, r: &ObjectRef) -> Vec<SharedRoute> {
        let mut out = Vec::new();
        if !self.bcs_ingress_is_ours(ing, r) {
            return out;
        }
        self.bcs_port_mappings(ing, r);
        for (i, rule, protocol, port) in self.bcs_rules(ing, r) {
            if !self.on_shared_listener(protocol, port) {
                continue;
            }
            let Some(hosts) = self.bcs_l7_rule(ing, r, i, rule, protocol) else { continue };
            for (host, (routes, tls)) in hosts {
                for route in routes {
                    let field = format!("spec.rules[{i}].layer7Routes");
                    out.push(SharedRoute {
                        host: host.clone(),
                        path: route.path,
                        split: route.split,
                        policy: route.policy,
                        field,
                        tls: tls.clone(),
                    });
                }
            }
        }
        out
    }

    /// `portMappings` are parsed and named, not served.
    fn bcs_port_mappings(&mut self, ing: &BcsIngress, r: &ObjectRef) {
        for (i, m) in ing.spec.port_mappings.iter().enumerate() {
            self.diags.push(Diagnostic::warning(
                r.clone(),
                format!("spec.portMappings[{i}]"),
                format!(
                    "port segments ({} {}/{}, ports from {}) are not served yet: port-range listeners are later work",
                    m.workload_kind, m.workload_namespace, m.workload_name, m.start_port
                ),
            ));
        }
    }

    /// A rule's `layer7Routes` by host; `None` when the rule cannot be served.
    pub(super) fn bcs_l7_rule(
        &mut self,
        ing: &BcsIngress,
        r: &ObjectRef,
        i: usize,
        rule: &IngressRule,
        protocol: Protocol,
    ) -> Option<HostRoutes> {
        let sni = rule.listener_attribute.as_ref().is_some_and(|a| a.sni_switch != 0);
        let mut hosts = HostRoutes::new();
        let mut claimed = HashSet::new();
        for (j, l7) in rule.layer7_routes.iter().enumerate() {
            let rf = format!("spec.rules[{i}].layer7Routes[{j}]");
            if let Err(e) = check_host(&l7.domain) {
                self.diags.push(Diagnostic::error(r.clone(), format!("{rf}.domain"), format!("{e}; route left out")));
                continue;
            }
            let raw = if l7.path.is_empty() { "/" } else { l7.path.as_str() };
            if !raw.starts_with('/') {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{rf}.path"),
                    format!("'{raw}' must start with '/'; route left out"),
                ));
                continue;
            }
            let path = PathMatch::prefix(raw);
            if !claimed.insert((l7.domain.clone(), path.clone())) {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{rf}.path"),
                    format!("{} {raw} is already routed by an earlier route of this rule; route left out", l7.domain),
                ));
                continue;
            }
            let attribute = l7.listener_attribute.as_ref().or(rule.listener_attribute.as_ref());
            let name = format!("bcsingress/{}/{}:{}/{}{raw}", r.namespace, r.name, rule.port, l7.domain);
            let cluster = self.bcs_cluster(r, name, &rf, &l7.services, attribute, true);
            let mut policy = RoutePolicy::default();
            match l7.forward_type.as_str() {
                "GRPC" => policy.upstream_protocol = UpstreamProtocol::H2c,
                "QUIC" => self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("{rf}.forwardType"),
                    "QUIC to backends is not supported; HTTP/1.1 is used",
                )),
                _ => {}
            }
            let certificate = match (protocol, sni, &l7.certificate) {
                (Protocol::Https, true, Some(c)) => Some((c, format!("{rf}.certificate"))),
                (Protocol::Https, _, _) => {
                    rule.certificate.as_ref().map(|c| (c, format!("spec.rules[{i}].certificate")))
                }
                _ => None,
            };
            let tls = match certificate {
                None => None,
                Some((c, cf)) => {
                    let client_verify = if c.mode == "MUTUAL" {
                        // Rather than serve without the check, the rule is left out.
                        let ns = ing.metadata.namespace.clone().unwrap_or_default();
                        let field = format!("{cf}.certCaID");
                        let by = Referrer { object: r, field: &field };
                        let ca = self.certs.authority(&mut self.diags, &ns, &c.cert_ca_id, by)?;
                        Some(ClientVerify { ca, ..ClientVerify::default() })
                    } else {
                        None
                    };
                    let certificate = self.bcs_certificate(r, &cf, c, ing);
                    Some(VirtualHostTls { certificate, client_verify, ..VirtualHostTls::default() })
                }
            };
            let entry = hosts.entry(l7.domain.clone()).or_default();
            entry.0.push(Route {
                conditions: None,
                path,
                split: Split::single(cluster),
                canaries: vec![],
                policy: RoutePolicy::shared(policy),
                source: r.clone(),
            });
            if entry.1.is_none() {
                entry.1 = tls;
            }
        }
        Some(hosts)
    }

    /// `certID`: a `kubernetes.io/tls` Secret in the Ingress's namespace.
    pub(super) fn bcs_certificate(
        &mut self,
        r: &ObjectRef,
        field: &str,
        c: &IngressListenerCertificate,
        ing: &BcsIngress,
    ) -> Option<String> {
        let ns = ing.metadata.namespace.clone().unwrap_or_default();
        let field = format!("{field}.certID");
        self.certs.certificate(&mut self.diags, &ns, &c.cert_id, Referrer { object: r, field: &field })
    }

    /// The target group of a rule (or L7 route) as a cluster of per-backend
    /// weights, balanced by `lbPolicy`, with `sessionTime` persistence and
    /// the `healthCheck` probes.
    pub(super) fn bcs_cluster(
        &mut self,
        r: &ObjectRef,
        name: String,
        field: &str,
        services: &[ServiceRoute],
        attribute: Option<&IngressListenerAttribute>,
        l7: bool,
    ) -> String {
        let endpoints = self.bcs_target_group(r, &format!("{field}.services"), services);
        if endpoints.iter().all(|e| e.weight == 0) {
            self.diags.push(Diagnostic::warning(
                r.clone(),
                format!("{field}.services"),
                if endpoints.is_empty() {
                    "no backends: connections and requests here fail until one exists"
                } else {
                    "every backend has weight 0: no new traffic is sent"
                },
            ));
        }
        let default = IngressListenerAttribute::default();
        let a = attribute.unwrap_or(&default);
        let balance = match a.lb_policy.as_str() {
            "LEAST_CONN" => Balance::LeastConnections,
            "IP_HASH" => Balance::Hash {
                key: sluice_config::SOURCE_ADDRESS_KEY.into(),
                table_size: self.options.maglev_table_size,
            },
            _ => Balance::RoundRobin,
        };
        let affinity = match (a.session_time, &balance) {
            (0, _) => None,
            (seconds, Balance::RoundRobin) if l7 => Some(Affinity::Cookie {
                name: SESSION_COOKIE.into(),
                max_age_seconds: u64::try_from(seconds).ok(),
                path: "/".into(),
                mode: AffinityMode::Persistent,
                same_site: None,
                domain: None,
                secure: false,
                change_on_failure: false,
            }),
            (seconds, Balance::RoundRobin) => {
                Some(Affinity::ClientIp { timeout_seconds: u32::try_from(seconds).unwrap_or(u32::MAX) })
            }
            _ => {
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("{field}.listenerAttribute.sessionTime"),
                    format!("applies with lbPolicy WRR only (as on CLB), not {}; ignored", a.lb_policy),
                ));
                None
            }
        };
        let active = a.health_check.as_ref().and_then(|h| active_check(h, l7));
        let port = services.first().and_then(|s| u16::try_from(s.service_port).ok()).unwrap_or(0);
        self.clusters.insert(Cluster {
            name: name.clone(),
            service: r.clone(),
            port,
            balance,
            affinity,
            health: HealthPolicy { active, ..HealthPolicy::default() },
            max_connections: None,
            endpoints,
            dns: None,
            unresolved: false,
        });
        name
    }
}
