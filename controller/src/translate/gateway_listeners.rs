//! Gateway API Gateways of this instance's GatewayClasses (those whose
//! `controllerName` is `--gateway-controller-name`) into listeners: the
//! listeners of one Gateway on one port are one listener of the data plane
//! on `--gateway-bind`, with a route config of its own that the routes
//! attached to them fill (`http_routes`). Ports are claimed in age order
//! with every other source of listeners (`listeners`), so a port another
//! listener holds makes the Gateway's listeners on it Conflicted.

use super::Translator;
use super::certificates::Referrer;
use super::claims::Port;
use super::gateway_status::{GatewayFacts, ListenerFacts};
use super::reference_grants::{GATEWAY_GROUP, Referent};
use crate::names::check_host;
use crate::object::{Kind, meta_ref};
use gateway_api::apis::standard::gateways::{
    Gateway, GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom as From, GatewayListenersTlsMode,
};
use sluice_config::{Diagnostic, Listener, ListenerKind, ObjectRef, Route, VirtualHostTls};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Which namespaces' routes a listener takes (`allowedRoutes.namespaces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AllowedFrom {
    Same,
    All,
    /// A label selector: namespaces' labels are not read, so none match.
    Selector,
}

/// A listener of a served Gateway that routes may attach to.
pub(super) struct GatewayListener {
    /// Its place in the Gateway's `spec.listeners`.
    pub index: usize,
    pub name: String,
    pub hostname: Option<String>,
    pub from: AllowedFrom,
    /// `allowedRoutes.kinds` lets HTTPRoutes attach.
    pub http_routes: bool,
    /// Its certificate (an HTTPS listener).
    pub certificate: Option<String>,
}

/// The routes of one host on a Gateway port, each with its order key.
#[derive(Default)]
pub(super) struct HostRoutes {
    pub routes: Vec<(RouteOrder, Route)>,
    pub tls: Option<VirtualHostTls>,
}

/// The Gateway API's precedence between routes of equal paths, after the
/// match's own conditions: the older route, then its namespace and name,
/// then the rule's and the match's place in it.
pub(super) type RouteOrder = (super::order::AgeKey, usize, usize);

/// One port of a served Gateway: a listener of the data plane and the route
/// config its listeners' routes fill.
pub(super) struct GatewayPort {
    pub gateway: ObjectRef,
    pub port: u16,
    pub route_config: String,
    pub listeners: Vec<GatewayListener>,
    pub hosts: BTreeMap<String, HostRoutes>,
}

/// A listener as read, before the checks across its port.
struct Read {
    index: usize,
    https: bool,
    listener: GatewayListener,
}

impl Translator<'_> {
    /// Whether this instance serves Gateway `gw`: its GatewayClass names
    /// `--gateway-controller-name`. Gateways of other classes belong to
    /// other controllers and are passed over with a note.
    pub(super) fn gateway_is_ours(&mut self, gw: &Gateway, r: &ObjectRef) -> bool {
        let class = &gw.spec.gateway_class_name;
        let ours = &self.options.gateway_controller_name;
        let message = match self.store.gateway_classes.get(&(String::new(), class.clone())) {
            Some(c) if c.spec.controller_name == *ours => return true,
            Some(c) => format!(
                "GatewayClass {class} belongs to controller {}, not {ours} (--gateway-controller-name): not served here",
                c.spec.controller_name
            ),
            None => format!("GatewayClass {class} not found: not served until it exists"),
        };
        self.diags.push(Diagnostic::info(r.clone(), "spec.gatewayClassName", message));
        false
    }

    /// The listeners of a served Gateway, one a port; ports already held by
    /// an older object stay with it.
    pub(super) fn gateway_listeners(&mut self, gw: &Gateway) -> Vec<Listener> {
        let r = meta_ref(Kind::Gateway, &gw.metadata);
        if !self.gateway_is_ours(gw, &r) {
            return Vec::new();
        }
        let bind = self.gateway_address(gw, &r);
        let listeners = gw.spec.listeners.iter().map(|l| ListenerFacts { name: l.name.clone(), ..Default::default() });
        let facts =
            GatewayFacts { generation: gw.metadata.generation, address: Some(bind), listeners: listeners.collect() };
        self.gateway_facts.gateways.insert(r.clone(), facts);
        let mut by_port: BTreeMap<u16, Vec<Read>> = BTreeMap::new();
        for (index, l) in gw.spec.listeners.iter().enumerate() {
            let port = u16::try_from(l.port).ok().filter(|p| *p != 0);
            let Some(port) = port else {
                let message = format!("{} is not a port (1-65535)", l.port);
                self.listener_problem(&r, index, "port", ("Accepted", "UnsupportedValue"), message);
                continue;
            };
            if let Some(read) = self.read_listener(gw, &r, index, l) {
                by_port.entry(port).or_default().push(read);
            }
        }
        let mut out = Vec::new();
        for (port, reads) in by_port {
            if let Some(listener) = self.gateway_port(&r, bind, port, reads) {
                out.push(listener);
            }
        }
        out
    }

    /// The address a Gateway's listeners bind: the first IPAddress of its
    /// `spec.addresses` (so Gateways can share a port, each on its own
    /// address), else `--gateway-bind`.
    fn gateway_address(&mut self, gw: &Gateway, r: &ObjectRef) -> IpAddr {
        for (k, a) in gw.spec.addresses.iter().flatten().enumerate() {
            let field = format!("spec.addresses[{k}]");
            match a.r#type.as_deref().unwrap_or("IPAddress") {
                "IPAddress" => match a.value.as_deref().unwrap_or_default().parse::<IpAddr>() {
                    Ok(ip) => return ip,
                    Err(_) => self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("{field}.value"),
                        format!("'{}' is not an IP address (UnusableAddress)", a.value.as_deref().unwrap_or_default()),
                    )),
                },
                other => self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("{field}.type"),
                    format!("{other} addresses are not supported; only IPAddress"),
                )),
            }
        }
        self.options.gateway_bind
    }

    /// A listener not served: its diagnostic, and the condition its status
    /// gets, `(type, reason)`.
    fn listener_problem(
        &mut self,
        r: &ObjectRef,
        index: usize,
        field: &str,
        (kind, reason): (&'static str, &'static str),
        message: String,
    ) {
        let field = format!("spec.listeners[{index}].{field}");
        self.gateway_facts.refuse(r, index, (kind, reason, message.clone()));
        self.diags.push(Diagnostic::error(r.clone(), field, format!("{message}; this listener is not served")));
    }

    /// One listener's own checks: protocol, hostname, TLS, allowed routes.
    fn read_listener(&mut self, gw: &Gateway, r: &ObjectRef, index: usize, l: &GatewayListeners) -> Option<Read> {
        let https = match l.protocol.as_str() {
            "HTTP" => false,
            "HTTPS" => true,
            p @ ("TLS" | "TCP" | "UDP") => {
                let message = format!("{p} listeners are not served yet");
                self.gateway_facts.refuse(r, index, ("Accepted", "UnsupportedProtocol", message.clone()));
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("spec.listeners[{index}].protocol"),
                    format!("{message}; this listener is not served"),
                ));
                return None;
            }
            p => {
                let message = format!("'{p}' is not a protocol of the Gateway API");
                self.listener_problem(r, index, "protocol", ("Accepted", "UnsupportedProtocol"), message);
                return None;
            }
        };
        let hostname = l.hostname.clone().filter(|h| !h.is_empty());
        if let Some(h) = &hostname
            && let Err(message) = check_host(h)
        {
            self.listener_problem(r, index, "hostname", ("Accepted", "UnsupportedValue"), message);
            return None;
        }
        let certificate = if https { Some(self.listener_certificate(gw, r, index, l)?) } else { None };
        let allowed = l.allowed_routes.as_ref();
        let from = match allowed.and_then(|a| a.namespaces.as_ref()).and_then(|n| n.from.clone()) {
            None | Some(From::Same) => AllowedFrom::Same,
            Some(From::All) => AllowedFrom::All,
            Some(From::Selector) => {
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("spec.listeners[{index}].allowedRoutes.namespaces.selector"),
                    "namespace selectors are not supported yet (Sluice does not read Namespaces): no route attaches \
                     to this listener",
                ));
                AllowedFrom::Selector
            }
        };
        let mut http_routes = true;
        if let Some(kinds) = allowed.and_then(|a| a.kinds.as_ref()) {
            http_routes = false;
            for (k, kind) in kinds.iter().enumerate() {
                let group = kind.group.as_deref().unwrap_or(GATEWAY_GROUP);
                if group == GATEWAY_GROUP && kind.kind == "HTTPRoute" {
                    http_routes = true;
                } else {
                    let message = format!("{group}/{} routes are not supported", kind.kind);
                    self.gateway_facts.refuse(r, index, ("ResolvedRefs", "InvalidRouteKinds", message));
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("spec.listeners[{index}].allowedRoutes.kinds[{k}]"),
                        format!(
                            "{group}/{} routes are not supported on {} listeners (InvalidRouteKinds)",
                            kind.kind, l.protocol
                        ),
                    ));
                }
            }
        }
        let listener = GatewayListener { index, name: l.name.clone(), hostname, from, http_routes, certificate };
        Some(Read { index, https, listener })
    }

    /// An HTTPS listener's certificate: its first `certificateRefs` entry
    /// that names a usable TLS Secret it may read.
    fn listener_certificate(
        &mut self,
        gw: &Gateway,
        r: &ObjectRef,
        index: usize,
        l: &GatewayListeners,
    ) -> Option<String> {
        let tls = l.tls.as_ref();
        if tls.and_then(|t| t.mode.as_ref()).is_some_and(|m| *m == GatewayListenersTlsMode::Passthrough) {
            let message = "Passthrough needs protocol TLS, not HTTPS".to_owned();
            self.listener_problem(r, index, "tls.mode", ("Accepted", "UnsupportedValue"), message);
            return None;
        }
        let refs = tls.and_then(|t| t.certificate_refs.as_deref()).unwrap_or_default();
        if refs.is_empty() {
            let message = "required for HTTPS".to_owned();
            self.listener_problem(r, index, "tls.certificateRefs", ("ResolvedRefs", "InvalidCertificateRef"), message);
            return None;
        }
        let namespace = gw.metadata.namespace.as_deref().unwrap_or_default();
        let mut found = None;
        for (k, c) in refs.iter().enumerate() {
            let field = format!("spec.listeners[{index}].tls.certificateRefs[{k}]");
            let (group, kind) = (c.group.as_deref().unwrap_or(""), c.kind.as_deref().unwrap_or("Secret"));
            if !group.is_empty() || kind != "Secret" {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    field,
                    format!("{group}/{kind} is not a certificate kind; name a Secret (InvalidCertificateRef)"),
                ));
                continue;
            }
            let target = c.namespace.as_deref().unwrap_or(namespace);
            let from = Referent { group: GATEWAY_GROUP, kind: "Gateway", namespace };
            let to = Referent { group: "", kind: "Secret", namespace: target };
            if !self.reference_permitted(&from, &to, &c.name) {
                let message = format!("Secret {target}/{} is not permitted by a ReferenceGrant", c.name);
                self.gateway_facts.refuse(r, index, ("ResolvedRefs", "RefNotPermitted", message));
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    field,
                    format!(
                        "no ReferenceGrant in {target} lets this Gateway use Secret {target}/{} (RefNotPermitted)",
                        c.name
                    ),
                ));
                continue;
            }
            let by = Referrer { object: r, field: &field };
            if let Some(name) = self.certs.certificate(&mut self.diags, target, &c.name, by)
                && found.is_none()
            {
                found = Some(name);
            }
        }
        if found.is_none() {
            let message = "no usable certificate (InvalidCertificateRef)".to_owned();
            self.listener_problem(r, index, "tls.certificateRefs", ("ResolvedRefs", "InvalidCertificateRef"), message);
        }
        found
    }

    /// The listeners of one port: one protocol, distinct hostnames, and the
    /// port free; then a data-plane listener and its route config.
    fn gateway_port(&mut self, r: &ObjectRef, bind: IpAddr, port: u16, mut reads: Vec<Read>) -> Option<Listener> {
        if reads.iter().any(|x| x.https != reads[0].https) {
            for x in &reads {
                let message = format!("port {port} has both HTTP and HTTPS listeners (ProtocolConflict)");
                self.listener_problem(r, x.index, "protocol", ("Conflicted", "ProtocolConflict"), message);
            }
            return None;
        }
        let mut seen: Vec<(Option<String>, String)> = Vec::new();
        reads.retain(|x| {
            let host = &x.listener.hostname;
            if let Some((_, first)) = seen.iter().find(|(h, _)| h == host) {
                let shown = host.as_deref().unwrap_or("(none)");
                let message = format!("hostname {shown} on port {port} is also listener {first}'s (HostnameConflict)");
                self.gateway_facts.refuse(r, x.index, ("Conflicted", "HostnameConflict", message.clone()));
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("spec.listeners[{}].hostname", x.index),
                    format!("{message}; this listener is not served"),
                ));
                return false;
            }
            seen.push((host.clone(), x.listener.name.clone()));
            true
        });
        let field = format!("spec.listeners[{}].port", reads[0].index);
        let claim = Port::tcp(bind, port);
        if !self.claims.port_free(
            &mut self.diags,
            r,
            &field,
            claim,
            "the Gateway's listeners on it are not served (Conflicted)",
        ) {
            for x in &reads {
                let message = format!("port {port} is taken by another listener");
                self.gateway_facts.refuse(r, x.index, ("Accepted", "PortUnavailable", message));
            }
            return None;
        }
        for x in &reads {
            if let Some(l) = self.gateway_facts.listener(r, x.index) {
                l.programmed = true;
            }
        }
        self.claims.take_port(claim, format!("{r} {field}"));
        let https = reads[0].https;
        let route_config = format!("gateway/{}/{}:{port}", r.namespace, r.name);
        // The certificate for names no listener hostname covers: the
        // listener without one, else the first.
        let default_certificate = reads
            .iter()
            .find(|x| x.listener.hostname.is_none())
            .or(reads.first())
            .and_then(|x| x.listener.certificate.clone());
        let kind = if https {
            ListenerKind::Https { route_config: route_config.clone(), default_certificate }
        } else {
            ListenerKind::Http { route_config: route_config.clone() }
        };
        let address = SocketAddr::new(bind, port);
        self.gateway_ports.push(GatewayPort {
            gateway: r.clone(),
            port,
            route_config: route_config.clone(),
            listeners: reads.into_iter().map(|x| x.listener).collect(),
            hosts: BTreeMap::new(),
        });
        Some(Listener { name: route_config, address, kind, source: Some(r.clone()) })
    }
}
