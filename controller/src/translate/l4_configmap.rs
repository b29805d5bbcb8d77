//! The ingress-nginx `tcp-services` and `udp-services` ConfigMaps' entries
//! into L4 listeners: `"<port>": "<namespace>/<service>:<port>[:PROXY[:PROXY|PROXYV2]]"`.
//! The first `PROXY` decodes a PROXY header from clients, the second sends
//! one (v1, as nginx; `PROXYV2` for version 2) to the upstream.

use super::Translator;
use super::annotations::ClusterPolicy;
use super::bcs_seed::PortRef;
use super::claims::Port;
use crate::object::{Kind, meta_ref};
use sluice_config::{Diagnostic, L4Policy, Listener, ListenerKind, ObjectRef, ProxyProtocolVersion, Split};
use std::net::{IpAddr, SocketAddr};

impl Translator<'_> {
    /// One `"<port>": "<namespace>/<service>:<port>[:PROXY[:PROXY|PROXYV2]]"` entry.
    pub(super) fn l4_entry(
        &mut self,
        r: &ObjectRef,
        key: &str,
        value: &str,
        udp: bool,
        bind: IpAddr,
    ) -> Option<Listener> {
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
        let mut policy = L4Policy::for_protocol(udp);
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
        let claim = Port { number: port, udp, ip: self.options.l4_bind };
        if !self.claims.port_free(&mut self.diags, r, &field, claim, "this entry is left out") {
            return None;
        }
        self.claims.take_port(claim, format!("{r} {field}"));
        let cluster = self.clusters.service_cluster(&skey, service, index, &ClusterPolicy::default())?;
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
