//! The networkextension Ingress CRD's rules on their own ports into
//! listeners: HTTP and HTTPS rules a listener with its own route config,
//! TCP and UDP rules an L4 listener of the rule's target group. Rules on the
//! `--http-listen` / `--https-listen` ports join the shared route config
//! instead (`bcs_ingress`).

use super::Translator;
use super::bcs_validation::Protocol;
use super::claims::Port;
use crate::bcs::{BcsIngress, IngressRule};
use crate::object::{Kind, meta_ref};
use sluice_config::{
    Diagnostic, L4Policy, Listener, ListenerKind, ObjectRef, RouteConfig, RoutePolicy, Split, VirtualHost,
};
use std::net::{IpAddr, SocketAddr};

/// One valid rule of a served Ingress, on its own port.
struct OwnPort<'i> {
    index: usize,
    rule: &'i IngressRule,
    protocol: Protocol,
    address: SocketAddr,
}

impl Translator<'_> {
    /// The listeners of a served Ingress's rules on their own ports; ports
    /// already held by an older object stay with it.
    pub(super) fn bcs_listeners(&mut self, ing: &BcsIngress, bind: IpAddr) -> Vec<Listener> {
        let r = meta_ref(Kind::BcsIngress, &ing.metadata);
        let mut out = Vec::new();
        // Diagnostics given twice (here and with the shared routes) are merged.
        if !self.bcs_ingress_is_ours(ing, &r) {
            return out;
        }
        for (index, rule, protocol, port) in self.bcs_rules(ing, &r) {
            if self.on_shared_listener(protocol, port) {
                continue;
            }
            let field = format!("spec.rules[{index}].port");
            let claim = Port { number: port, udp: protocol == Protocol::Udp, ip: bind };
            if !self.claims.port_free(&mut self.diags, &r, &field, claim, "this rule is left out") {
                continue;
            }
            let own = OwnPort { index, rule, protocol, address: SocketAddr::new(bind, port) };
            let listener = match protocol {
                Protocol::Http | Protocol::Https => self.bcs_l7_listener(ing, &r, &own),
                Protocol::Tcp | Protocol::Udp => Some(self.bcs_l4_listener(&r, &own)),
                Protocol::TcpSsl | Protocol::Quic => {
                    self.diags.push(Diagnostic::warning(
                        r.clone(),
                        format!("spec.rules[{index}].protocol"),
                        format!("{} listeners are not served yet; this rule is left out", rule.protocol),
                    ));
                    None
                }
            };
            let Some(listener) = listener else { continue };
            self.claims.take_port(claim, format!("{r} {field}"));
            out.push(listener);
        }
        out
    }

    /// An HTTP or HTTPS rule: a listener and its own route config `port-<port>`.
    fn bcs_l7_listener(&mut self, ing: &BcsIngress, r: &ObjectRef, own: &OwnPort<'_>) -> Option<Listener> {
        let (i, port) = (own.index, own.address.port());
        let hosts = self.bcs_l7_rule(ing, r, i, own.rule, own.protocol)?;
        let route_config = format!("port-{port}");
        let virtual_hosts = hosts
            .into_iter()
            .map(|(host, (mut routes, tls))| {
                routes.sort_by(|a, b| a.path.precedence(&b.path));
                std::sync::Arc::new(VirtualHost { host, routes, tls })
            })
            .collect();
        self.extra_route_configs.push(RouteConfig {
            wildcard_any_depth: false,
            name: route_config.clone(),
            virtual_hosts,
            default_backend: None,
            default_policy: RoutePolicy::default(),
        });
        let (name, kind) = if own.protocol == Protocol::Http {
            (format!("http-{port}"), ListenerKind::Http { route_config })
        } else {
            let default_certificate = own
                .rule
                .certificate
                .as_ref()
                .and_then(|c| self.bcs_certificate(r, &format!("spec.rules[{i}].certificate"), c, ing));
            (format!("https-{port}"), ListenerKind::Https { route_config, default_certificate, streams_only: false })
        };
        Some(Listener { name, address: own.address, kind, source: Some(r.clone()) })
    }

    /// A TCP or UDP rule: a listener of the rule's target group.
    fn bcs_l4_listener(&mut self, r: &ObjectRef, own: &OwnPort<'_>) -> Listener {
        let (rule, port) = (own.rule, own.address.port());
        let udp = own.protocol == Protocol::Udp;
        let field = format!("spec.rules[{}]", own.index);
        let name = format!("bcsingress/{}/{}:{port}/{}", r.namespace, r.name, if udp { "udp" } else { "tcp" });
        let cluster = self.bcs_cluster(r, name, &field, &rule.services, rule.listener_attribute.as_ref(), false);
        let policy = L4Policy::for_protocol(udp);
        let split = Split::single(cluster);
        let (name, kind) = if udp {
            (format!("udp-{port}"), ListenerKind::Udp { split, policy })
        } else {
            (format!("tcp-{port}"), ListenerKind::Tcp { split, policy })
        };
        Listener { name, address: own.address, kind, source: Some(r.clone()) }
    }
}
