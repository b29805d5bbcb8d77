//! The ingress-nginx `tcp-services` and `udp-services` ConfigMaps into L4
//! listeners: `"<port>": "<namespace>/<service>:<port>[:PROXY[:PROXY|PROXYV2]]"`.
//! The first `PROXY` decodes a PROXY header from clients, the second sends
//! one (v1, as nginx; `PROXYV2` for version 2) to the upstream.

use super::Translator;
use super::annotations::ClusterPolicy;
use sluice_config::{Diagnostic, L4Policy, Listener, ListenerKind, ObjectRef, ProxyProtocolVersion, Split};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

const MAXCONN_ANNOTATION: &str = "bcs.tencent.com/maxconn";

/// Which object holds each (port, UDP?) so far, for conflict diagnostics.
pub(super) type PortOwners = BTreeMap<(u16, bool), String>;

fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

impl Translator<'_> {
    pub(super) fn l4_services(&mut self) -> Vec<Listener> {
        let mut owners = PortOwners::new();
        let bind = self.options.l4_bind;
        for (flag, addr) in [("--http-listen", self.options.http_listen), ("--https-listen", self.options.https_listen)]
        {
            if overlaps(addr.ip(), bind) {
                owners.insert((addr.port(), false), flag.to_owned());
            }
        }
        let mut out = Vec::new();
        let maps =
            [(self.options.tcp_services_configmap.clone(), false), (self.options.udp_services_configmap.clone(), true)];
        for (name, udp) in maps {
            let Some(name) = name else { continue };
            let (ns, cm) = name.split_once('/').unwrap_or(("default", name.as_str()));
            let r = ObjectRef::new("ConfigMap", ns, cm);
            let Some(map) = self.store.config_maps.get(&(ns.to_owned(), cm.to_owned())) else {
                let flag = if udp { "--udp-services-configmap" } else { "--tcp-services-configmap" };
                self.push(Diagnostic::warning(r, "", format!("named by {flag} but not found; no listeners from it")));
                continue;
            };
            let mut entries: Vec<(String, String)> =
                map.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
            entries.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
            for (key, value) in entries {
                if let Some(l) = self.l4_entry(&r, &key, &value, udp, bind, &mut owners) {
                    out.push(l);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn l4_entry(
        &mut self,
        r: &ObjectRef,
        key: &str,
        value: &str,
        udp: bool,
        bind: IpAddr,
        owners: &mut PortOwners,
    ) -> Option<Listener> {
        let field = format!("data[{key}]");
        let Some(port) = key.parse::<u16>().ok().filter(|p| *p != 0) else {
            self.push(Diagnostic::error(r.clone(), field, format!("'{key}' is not a port in 1-65535")));
            return None;
        };
        let mut parts = value.trim().split(':');
        let target = parts.next().unwrap_or("");
        let Some(service_port) = parts.next().filter(|p| !p.is_empty()) else {
            self.push(Diagnostic::error(r.clone(), field, format!("'{value}' is not namespace/service:port")));
            return None;
        };
        let mut policy = L4Policy { source: Some(r.clone()), ..L4Policy::default() };
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
                        self.push(Diagnostic::error(r.clone(), field, format!("'{other}' is not PROXY or PROXYV2")));
                        return None;
                    }
                }
            }
            (Some(""), Some("PROXY"), None) => policy.send_proxy_protocol = Some(ProxyProtocolVersion::V1),
            (Some(""), Some("PROXYV2"), None) => policy.send_proxy_protocol = Some(ProxyProtocolVersion::V2),
            _ => {
                self.push(Diagnostic::error(
                    r.clone(),
                    field,
                    format!("'{value}': expected at most :PROXY:PROXY after the port"),
                ));
                return None;
            }
        }
        if udp && (policy.decode_proxy_protocol || policy.send_proxy_protocol.is_some()) {
            self.push(Diagnostic::warning(
                r.clone(),
                field.clone(),
                "PROXY protocol over UDP is not supported; ignored",
            ));
            policy.decode_proxy_protocol = false;
            policy.send_proxy_protocol = None;
        }
        let (ns, svc) = target.split_once('/').unwrap_or((r.namespace.as_str(), target));
        let skey = (ns.to_owned(), svc.to_owned());
        let Some(service) = self.store.services.get(&skey) else {
            self.push(Diagnostic::error(r.clone(), field, format!("Service {ns}/{svc} not found")));
            return None;
        };
        let ports = service.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default();
        let index = match service_port.parse::<i32>() {
            Ok(n) => ports.iter().position(|p| p.port == n),
            Err(_) => ports.iter().position(|p| p.name.as_deref() == Some(service_port)),
        };
        let want = if udp { "UDP" } else { "TCP" };
        let Some(index) = index.filter(|i| ports[*i].protocol.as_deref().unwrap_or("TCP") == want) else {
            self.push(Diagnostic::error(
                r.clone(),
                field,
                format!("Service {ns}/{svc} has no {want} port '{service_port}'"),
            ));
            return None;
        };
        // bcs.md §3: a Service's maxconn annotation limits its connections on one instance.
        if let Some(v) = service.metadata.annotations.as_ref().and_then(|a| a.get(MAXCONN_ANNOTATION)) {
            match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => policy.max_connections = Some(n),
                _ => self.push(Diagnostic::error(
                    ObjectRef::new("Service", ns, svc),
                    format!("metadata.annotations[{MAXCONN_ANNOTATION}]"),
                    format!("'{v}' is not a positive integer; no limit"),
                )),
            }
        }
        if let Some(owner) = owners.get(&(port, udp)) {
            self.push(Diagnostic::error(
                r.clone(),
                field,
                format!("port {port}/{want} is already taken by {owner}, which keeps it; this entry is left out"),
            ));
            return None;
        }
        owners.insert((port, udp), format!("{r} {field}"));
        let cluster = self.cluster_for(&skey, service, index, &ClusterPolicy::default())?;
        let split = Split::single(cluster);
        let kind = if udp { ListenerKind::Udp { split, policy } } else { ListenerKind::Tcp { split, policy } };
        Some(Listener {
            name: format!("{}-{port}", if udp { "udp" } else { "tcp" }),
            address: SocketAddr::new(bind, port),
            kind,
        })
    }
}
