//! The ingress-nginx `tcp-services` and `udp-services` ConfigMaps into L4
//! listeners: `"<port>": "<namespace>/<service>:<port>[:PROXY[:PROXY|PROXYV2]]"`.
//! The first `PROXY` decodes a PROXY header from clients, the second sends
//! one (v1, as nginx; `PROXYV2` for version 2) to the upstream.

use super::Translator;
use super::annotations::ClusterPolicy;
use super::bcs_seed::PortRef;
use super::claims::Port;
use super::order::{AgeKey, age};
use crate::bcs::SeedIngress;
use crate::object::{Kind, meta_ref};
use sluice_config::{Diagnostic, L4Policy, Listener, ListenerKind, ObjectRef, ProxyProtocolVersion, Split};
use std::net::{IpAddr, SocketAddr};

fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

impl Translator<'_> {
    pub(super) fn l4_services(&mut self) -> Vec<Listener> {
        let bind = self.options.l4_bind;
        for (flag, addr) in [("--http-listen", self.options.http_listen), ("--https-listen", self.options.https_listen)]
        {
            if overlaps(addr.ip(), bind) {
                self.claims.take_port(Port::tcp(addr.port()), flag.to_owned());
            }
        }
        let mut out = Vec::new();
        // Every source of ports, oldest first: the first owner keeps a port.
        enum Source<'s> {
            ConfigMap(ObjectRef, bool),
            Seed(&'s SeedIngress),
            Export(&'s crate::store::Key, &'s k8s_openapi::api::core::v1::Service),
            Bcs(&'s crate::bcs::BcsIngress),
        }
        let mut sources: Vec<(AgeKey, Source<'_>)> = Vec::new();
        let maps =
            [(self.options.tcp_services_configmap.clone(), false), (self.options.udp_services_configmap.clone(), true)];
        for (name, udp) in maps {
            let Some(name) = name else { continue };
            let (ns, cm) = name.split_once('/').unwrap_or(("default", name.as_str()));
            let r = ObjectRef::new("ConfigMap", ns, cm);
            match self.store.config_maps.get(&(ns.to_owned(), cm.to_owned())) {
                Some(map) => sources.push((age(&map.metadata), Source::ConfigMap(r, udp))),
                None => {
                    let flag = if udp { "--udp-services-configmap" } else { "--tcp-services-configmap" };
                    self.diags.push(Diagnostic::warning(
                        r,
                        "",
                        format!("named by {flag} but not found; no listeners from it"),
                    ));
                }
            }
        }
        for seed in self.store.seed_ingresses.values() {
            sources.push((age(&seed.metadata), Source::Seed(seed)));
        }
        for (key, svc) in &self.store.services {
            if svc.metadata.labels.as_ref().is_some_and(|l| l.contains_key(super::bcs_export::GROUP_LABEL)) {
                sources.push((age(&svc.metadata), Source::Export(key, svc)));
            }
        }
        for ing in self.store.bcs_ingresses.values() {
            sources.push((age(&ing.metadata), Source::Bcs(ing)));
        }
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, source) in sources {
            match source {
                Source::ConfigMap(r, udp) => {
                    let Some(map) = self.store.config_maps.get(&(r.namespace.clone(), r.name.clone())) else {
                        continue;
                    };
                    let mut entries: Vec<(String, String)> =
                        map.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
                    entries.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
                    for (key, value) in entries {
                        if let Some(l) = self.l4_entry(&r, &key, &value, udp, bind) {
                            out.push(l);
                        }
                    }
                }
                Source::Seed(seed) => {
                    let listeners = self.seed_tcp_rules(seed, bind);
                    out.extend(listeners);
                }
                Source::Export(key, svc) => {
                    let listeners = self.exported_tcp(key, svc, bind);
                    out.extend(listeners);
                }
                Source::Bcs(ing) => {
                    let listeners = self.bcs_listeners(ing, bind);
                    out.extend(listeners);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The TCP ports of a BCS-exported Service: a listener on each port.
    fn exported_tcp(
        &mut self,
        key: &crate::store::Key,
        svc: &k8s_openapi::api::core::v1::Service,
        bind: IpAddr,
    ) -> Vec<Listener> {
        let r = meta_ref(Kind::Service, &svc.metadata);
        let mut out = Vec::new();
        let Some(export) = self.export_of(key, svc, &r) else { return out };
        let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
        for (i, p) in ports.iter().enumerate() {
            if super::bcs_export::is_http_port(p) {
                continue;
            }
            let field = format!("spec.ports[{i}]");
            if p.protocol.as_deref().unwrap_or("TCP") != "TCP" {
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    field,
                    "only HTTP and TCP ports are exported (as bcs-loadbalance); this port is not",
                ));
                continue;
            }
            let Some(port) = u16::try_from(p.port).ok().filter(|p| *p != 0) else { continue };
            if !self.claims.port_free(&mut self.diags, &r, &field, Port::tcp(port), "this port is not exported") {
                continue;
            }
            let Some(cluster) = self.clusters.export_cluster(&mut self.diags, key, svc, i, &export) else { continue };
            self.claims.take_port(Port::tcp(port), format!("{r} {field}"));
            let policy = L4Policy { max_connections: Some(export.max_connections), ..L4Policy::default() };
            out.push(Listener {
                name: format!("tcp-{port}"),
                address: SocketAddr::new(bind, port),
                kind: ListenerKind::Tcp { split: Split::single(cluster), policy },
                source: Some(r.clone()),
            });
        }
        out
    }

    /// The seed's TCP rules: a listener on each `listenPort`.
    fn seed_tcp_rules(&mut self, seed: &SeedIngress, bind: IpAddr) -> Vec<Listener> {
        let r = meta_ref(Kind::SeedIngress, &seed.metadata);
        let mut out = Vec::new();
        // The lbGroup verdict was given with the HTTP rules; here it is only applied.
        if seed.spec.lb_group.as_deref().unwrap_or("") != self.options.lb_group {
            return out;
        }
        for (i, rule) in seed.spec.rules.iter().enumerate() {
            match rule.effective_kind().as_deref() {
                Some("TCP") => {}
                Some("HTTP") => continue,
                other => {
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("spec.rules[{i}].kind"),
                        format!("'{}' is not HTTP or TCP; rule left out", other.unwrap_or("")),
                    ));
                    continue;
                }
            }
            let tf = format!("spec.rules[{i}].tcpIngress");
            let Some(tcp) = &rule.tcp_ingress else {
                self.diags.push(Diagnostic::error(r.clone(), tf, "required for kind TCP"));
                continue;
            };
            let port = tcp
                .listen_port
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0);
            let Some(port) = port else {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{tf}.listenPort"),
                    "required: a port in 1-65535",
                ));
                continue;
            };
            let policy = self.seed_balance(rule, &r, &format!("spec.rules[{i}]"));
            let split = self.seed_split(&r, &tcp.backend, &format!("{tf}.backend"), &policy, "TCP");
            let field = format!("{tf}.listenPort");
            if !self.claims.port_free(&mut self.diags, &r, &field, Port::tcp(port), "this rule is left out") {
                continue;
            }
            self.claims.take_port(Port::tcp(port), format!("{r} {field}"));
            let mut l4 = L4Policy::default();
            if let Some(max) =
                rule.max_conn.as_ref().and_then(serde_json::Value::as_u64).and_then(|m| u32::try_from(m).ok())
            {
                l4.max_connections = Some(max).filter(|m| *m > 0);
            }
            out.push(Listener {
                name: format!("tcp-{port}"),
                address: SocketAddr::new(bind, port),
                kind: ListenerKind::Tcp { split, policy: l4 },
                source: Some(r.clone()),
            });
        }
        out
    }

    fn l4_entry(&mut self, r: &ObjectRef, key: &str, value: &str, udp: bool, bind: IpAddr) -> Option<Listener> {
        let field = format!("data[{key}]");
        let Some(port) = key.parse::<u16>().ok().filter(|p| *p != 0) else {
            self.diags.push(Diagnostic::error(r.clone(), field, format!("'{key}' is not a port in 1-65535")));
            return None;
        };
        let mut parts = value.trim().split(':');
        let target = parts.next().unwrap_or("");
        let Some(service_port) = parts.next().filter(|p| !p.is_empty()) else {
            self.diags.push(Diagnostic::error(r.clone(), field, format!("'{value}' is not namespace/service:port")));
            return None;
        };
        let mut policy = L4Policy::default();
        if udp {
            policy.idle_timeout_ms = 30_000;
        }
        match (parts.next(), parts.next(), parts.next()) {
            (None, None, None) => {}
            (Some("PROXY"), second, None) => {
                policy.decode_proxy_protocol = true;
                match second {
                    None | Some("") => {}
                    Some("PROXY") => policy.send_proxy_protocol = Some(ProxyProtocolVersion::V1),
                    Some("PROXYV2") => policy.send_proxy_protocol = Some(ProxyProtocolVersion::V2),
                    Some(other) => {
                        self.diags.push(Diagnostic::error(
                            r.clone(),
                            field,
                            format!("'{other}' is not PROXY or PROXYV2"),
                        ));
                        return None;
                    }
                }
            }
            (Some(""), Some("PROXY"), None) => policy.send_proxy_protocol = Some(ProxyProtocolVersion::V1),
            (Some(""), Some("PROXYV2"), None) => policy.send_proxy_protocol = Some(ProxyProtocolVersion::V2),
            _ => {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    field,
                    format!("'{value}': expected at most :PROXY:PROXY after the port"),
                ));
                return None;
            }
        }
        if udp && (policy.decode_proxy_protocol || policy.send_proxy_protocol.is_some()) {
            self.diags.push(Diagnostic::warning(
                r.clone(),
                field.clone(),
                "PROXY protocol over UDP is not supported; ignored",
            ));
            policy.decode_proxy_protocol = false;
            policy.send_proxy_protocol = None;
        }
        let (ns, svc) = target.split_once('/').unwrap_or((r.namespace.as_str(), target));
        let want = if udp { "UDP" } else { "TCP" };
        let (skey, service, index) =
            self.resolve_service_port(r, &field, ns, svc, &PortRef::from_text(service_port), want)?;
        // bcs.md §3: a Service's maxconn annotation limits its connections on one instance.
        policy.max_connections = self.service_maxconn(service, &meta_ref(Kind::Service, &service.metadata), "no limit");
        let claim = Port { number: port, udp };
        if !self.claims.port_free(&mut self.diags, r, &field, claim, "this entry is left out") {
            return None;
        }
        self.claims.take_port(claim, format!("{r} {field}"));
        let cluster =
            self.clusters.service_cluster(&mut self.diags, &skey, service, index, &ClusterPolicy::default())?;
        let split = Split::single(cluster);
        let kind = if udp { ListenerKind::Udp { split, policy } } else { ListenerKind::Tcp { split, policy } };
        Some(Listener {
            name: format!("{}-{port}", if udp { "udp" } else { "tcp" }),
            address: SocketAddr::new(bind, port),
            kind,
            source: Some(r.clone()),
        })
    }
}
