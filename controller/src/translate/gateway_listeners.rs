//! Gateway API Gateways of this instance's GatewayClasses (those whose
//! `controllerName` is `--gateway-controller-name`) into listeners: the
//! listeners of one Gateway on one port are one listener of the data plane
//! on `--gateway-bind`. HTTP, HTTPS and TLS ports get a route config of
//! their own that the routes attached to them fill (`http_routes`,
//! `stream_routes`); a TCP or UDP port forwards to its oldest route's
//! backends. Ports are claimed in age order with every other source of
//! listeners (`listeners`), so a port another listener holds makes the
//! Gateway's listeners on it Conflicted.

use super::Translator;
use super::certificates::Referrer;
use super::claims::Port;
use super::gateway_status::{GatewayFacts, ListenerFacts};
use super::reference_grants::{GATEWAY_GROUP, Referent};
use super::route_refs::RouteKind;
use crate::names::check_host;
use crate::object::{Kind, meta_ref};
use gateway_api::apis::standard::gateways::{
    Gateway, GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom as From,
    GatewayListenersAllowedRoutesNamespacesSelector, GatewayListenersTlsMode,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use sluice_config::{
    ClientVerify, Diagnostic, HostPattern, L4Policy, Listener, ListenerKind, ObjectRef, Route, Split, VirtualHostTls,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Which namespaces' routes a listener takes (`allowedRoutes.namespaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AllowedFrom {
    Same,
    All,
    /// Those whose labels the selector matches; `None`: an invalid
    /// selector, which matches none.
    Selector(Option<Arc<kube::core::Selector>>),
}

/// A listener's protocol, with its TLS mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListenerProtocol {
    Http,
    Https,
    TlsPassthrough,
    TlsTerminate,
    Tcp,
    Udp,
}

impl ListenerProtocol {
    /// Listeners of one family can share a port (by hostname); two families
    /// on one port conflict, but for TCP and UDP, which are different
    /// sockets.
    fn family(self) -> &'static str {
        match self {
            ListenerProtocol::Http => "HTTP",
            ListenerProtocol::Https | ListenerProtocol::TlsPassthrough | ListenerProtocol::TlsTerminate => "TLS",
            ListenerProtocol::Tcp => "TCP",
            ListenerProtocol::Udp => "UDP",
        }
    }

    /// The route kinds it serves.
    fn route_kinds(self) -> &'static [RouteKind] {
        match self {
            ListenerProtocol::Http | ListenerProtocol::Https => &[RouteKind::Http, RouteKind::Grpc],
            ListenerProtocol::TlsPassthrough | ListenerProtocol::TlsTerminate => &[RouteKind::Tls],
            ListenerProtocol::Tcp => &[RouteKind::Tcp],
            ListenerProtocol::Udp => &[RouteKind::Udp],
        }
    }
}

/// A listener of a served Gateway that routes may attach to.
pub(super) struct GatewayListener {
    /// The Gateway, or the ListenerSet of the Gateway, it is a listener of.
    pub owner: ObjectRef,
    /// Its place in its owner's `spec.listeners`.
    pub index: usize,
    pub name: String,
    pub protocol: ListenerProtocol,
    pub hostname: Option<String>,
    pub from: AllowedFrom,
    /// The route kinds `allowedRoutes.kinds` lets attach.
    pub kinds: Vec<RouteKind>,
    /// Its certificate (HTTPS and TLS Terminate listeners).
    pub certificate: Option<String>,
    /// The check of its clients' certificates (HTTPS listeners).
    pub client_verify: Option<ClientVerify>,
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
    /// The route config's name, and the data-plane listener's.
    pub route_config: String,
    pub listeners: Vec<GatewayListener>,
    pub hosts: BTreeMap<String, HostRoutes>,
    /// A TCP or UDP port: where its oldest route sends its streams.
    pub stream: Option<Split>,
}

impl GatewayPort {
    /// A TCP or UDP port, which has no route config.
    pub fn is_stream(&self) -> bool {
        matches!(self.listeners[0].protocol, ListenerProtocol::Tcp | ListenerProtocol::Udp)
    }

    /// Whether names of `host` belong to a listener of this port more
    /// specific than listener `l`: then `l`'s routes do not serve them
    /// (listener isolation).
    pub fn isolated(&self, l: usize, host: &str) -> bool {
        let within = |wide: &str, narrow: &str| {
            wide == narrow || HostPattern::parse(wide).matches_at_depth(narrow.trim_start_matches("*."), true)
        };
        let own = self.listeners[l].hostname.as_deref();
        self.listeners
            .iter()
            .filter_map(|x| x.hostname.as_deref())
            .any(|other| Some(other) != own && own.is_none_or(|own| within(own, other)) && within(other, host))
    }

    /// The hosts of this port's listeners, each with no route yet: a name
    /// a listener takes is that listener's, 404 without a route of its own,
    /// never a less specific listener's.
    pub fn listener_hosts(&mut self) {
        for l in &self.listeners {
            // A TLS listener without a hostname takes every other name: `*`,
            // so a request's Host and SNI are told to be its.
            let host = match &l.hostname {
                Some(h) => h.clone(),
                None if l.certificate.is_some() => "*".to_owned(),
                None => continue,
            };
            self.hosts.entry(host).or_insert_with(|| HostRoutes { routes: Vec::new(), tls: l.tls() });
        }
    }
}

impl GatewayListener {
    /// What its hosts do with TLS: terminate it for HTTP with its
    /// certificate (HTTPS), pass it through or terminate it to a stream
    /// (TLS); nothing for plain listeners.
    pub fn tls(&self) -> Option<VirtualHostTls> {
        let stream = matches!(self.protocol, ListenerProtocol::TlsPassthrough | ListenerProtocol::TlsTerminate);
        (self.certificate.is_some() || stream).then(|| VirtualHostTls {
            certificate: self.certificate.clone(),
            passthrough: self.protocol == ListenerProtocol::TlsPassthrough,
            terminate_stream: self.protocol == ListenerProtocol::TlsTerminate,
            client_verify: self.client_verify.clone(),
            listener: Some(self.name.clone()),
        })
    }
}

/// A listener as read, before the checks across its port.
struct Read {
    index: usize,
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
        let backend_certificate = self.backend_client_certificate(gw, &r);
        let facts = GatewayFacts {
            generation: gw.metadata.generation,
            address: Some(bind),
            listeners: listeners.collect(),
            unresolved: backend_certificate.as_ref().err().cloned(),
            backend_certificate: backend_certificate.ok().flatten(),
            ..GatewayFacts::default()
        };
        self.gateway_facts.gateways.insert(r.clone(), facts);
        let mut by_port: BTreeMap<(u16, bool), Vec<Read>> = BTreeMap::new();
        for (index, l) in gw.spec.listeners.iter().enumerate() {
            self.read_into(&mut by_port, gw, &r, index, l);
        }
        // Then its ListenerSets' listeners, oldest set first: on a port or
        // hostname both want, the Gateway's own (or the older set's) wins.
        for (set, listeners) in self.listener_sets_of(gw, &r) {
            for (index, l) in &listeners {
                self.read_into(&mut by_port, gw, &set, *index, l);
            }
        }
        let mut out = Vec::new();
        for ((port, _), reads) in by_port {
            if let Some(listener) = self.gateway_port(&r, bind, port, reads) {
                out.push(listener);
            }
        }
        out
    }

    /// Reads listener `index` of `owner` (Gateway `gw` or one of its
    /// ListenerSets) into the listeners of its port.
    fn read_into(
        &mut self,
        by_port: &mut BTreeMap<(u16, bool), Vec<Read>>,
        gw: &Gateway,
        owner: &ObjectRef,
        index: usize,
        l: &GatewayListeners,
    ) {
        let Some(port) = u16::try_from(l.port).ok().filter(|p| *p != 0) else {
            let message = format!("{} is not a port (1-65535)", l.port);
            self.listener_problem(owner, index, "port", ("Accepted", "UnsupportedValue"), message);
            return;
        };
        if let Some(read) = self.read_listener(gw, owner, index, l) {
            let udp = read.listener.protocol == ListenerProtocol::Udp;
            by_port.entry((port, udp)).or_default().push(read);
        }
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
        let passthrough =
            l.tls.as_ref().and_then(|t| t.mode.as_ref()).is_some_and(|m| *m == GatewayListenersTlsMode::Passthrough);
        let protocol = match l.protocol.as_str() {
            "HTTP" => ListenerProtocol::Http,
            "HTTPS" => ListenerProtocol::Https,
            "TLS" if passthrough => ListenerProtocol::TlsPassthrough,
            "TLS" => ListenerProtocol::TlsTerminate,
            "TCP" => ListenerProtocol::Tcp,
            "UDP" => ListenerProtocol::Udp,
            p => {
                let message = format!("'{p}' is not a protocol of the Gateway API");
                self.listener_problem(r, index, "protocol", ("Accepted", "UnsupportedProtocol"), message);
                return None;
            }
        };
        // TCP and UDP have no names to tell streams apart: a hostname is
        // ignored, as the spec says.
        let named = !matches!(protocol, ListenerProtocol::Tcp | ListenerProtocol::Udp);
        let hostname = l.hostname.clone().filter(|h| named && !h.is_empty());
        if let Some(h) = &hostname
            && let Err(message) = check_host(h)
        {
            self.listener_problem(r, index, "hostname", ("Accepted", "UnsupportedValue"), message);
            return None;
        }
        let allowed = l.allowed_routes.as_ref();
        let from = match allowed.and_then(|a| a.namespaces.as_ref()).and_then(|n| n.from.clone()) {
            None | Some(From::Same) => AllowedFrom::Same,
            Some(From::All) => AllowedFrom::All,
            Some(From::Selector) => {
                let selector = allowed.and_then(|a| a.namespaces.as_ref()).and_then(|n| n.selector.as_ref());
                match namespace_selector(selector) {
                    Ok(s) => AllowedFrom::Selector(Some(Arc::new(s))),
                    Err(message) => {
                        let field = format!("spec.listeners[{index}].allowedRoutes.namespaces.selector");
                        let message = format!("{message}; no route attaches to this listener");
                        self.diags.push(Diagnostic::error(r.clone(), field, message));
                        AllowedFrom::Selector(None)
                    }
                }
            }
        };
        let served = protocol.route_kinds();
        let mut route_kinds = served.to_vec();
        if let Some(kinds) = allowed.and_then(|a| a.kinds.as_ref()) {
            route_kinds.clear();
            for (k, kind) in kinds.iter().enumerate() {
                let group = kind.group.as_deref().unwrap_or(GATEWAY_GROUP);
                let known = RouteKind::from_name(&kind.kind).filter(|k| group == GATEWAY_GROUP && served.contains(k));
                if let Some(known) = known {
                    if !route_kinds.contains(&known) {
                        route_kinds.push(known);
                    }
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
        if let Some(facts) = self.gateway_facts.listener(r, index) {
            facts.kinds = route_kinds.iter().map(|k| k.name()).collect();
        }
        // After the kinds: a listener without its certificate still lists them.
        let certificate = match protocol {
            ListenerProtocol::Https | ListenerProtocol::TlsTerminate => Some(self.listener_certificate(r, index, l)?),
            ListenerProtocol::TlsPassthrough if l.tls.as_ref().is_some_and(|t| t.certificate_refs.is_some()) => {
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("spec.listeners[{index}].tls.certificateRefs"),
                    "a Passthrough listener does not terminate TLS: its certificates are not used",
                ));
                None
            }
            _ => None,
        };
        let client_verify = match protocol {
            ListenerProtocol::Https => self.frontend_validation(gw, r, index, l.port).ok()?,
            _ => None,
        };
        let name = l.name.clone();
        let owner = r.clone();
        let kinds = route_kinds;
        let listener =
            GatewayListener { owner, index, name, protocol, hostname, from, kinds, certificate, client_verify };
        Some(Read { index, listener })
    }

    /// An HTTPS listener's certificate: its first `certificateRefs` entry
    /// that names a usable TLS Secret it may read.
    fn listener_certificate(&mut self, r: &ObjectRef, index: usize, l: &GatewayListeners) -> Option<String> {
        let tls = l.tls.as_ref();
        if l.protocol == "HTTPS"
            && tls.and_then(|t| t.mode.as_ref()).is_some_and(|m| *m == GatewayListenersTlsMode::Passthrough)
        {
            let message = "Passthrough needs protocol TLS, not HTTPS".to_owned();
            self.listener_problem(r, index, "tls.mode", ("Accepted", "UnsupportedValue"), message);
            return None;
        }
        let refs = tls.and_then(|t| t.certificate_refs.as_deref()).unwrap_or_default();
        if refs.is_empty() {
            let message = format!("required for {} (TLS mode Terminate)", l.protocol);
            self.listener_problem(r, index, "tls.certificateRefs", ("ResolvedRefs", "InvalidCertificateRef"), message);
            return None;
        }
        // A ListenerSet's certificates are its own namespace's.
        let namespace = r.namespace.as_str();
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
            let from = Referent { group: GATEWAY_GROUP, kind: &r.kind, namespace };
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
        let family = reads[0].listener.protocol.family();
        if reads.iter().any(|x| x.listener.protocol.family() != family) {
            let mut families: Vec<&str> = reads.iter().map(|x| x.listener.protocol.family()).collect();
            families.dedup();
            for x in &reads {
                let message = format!("port {port} has {} listeners (ProtocolConflict)", families.join(" and "));
                let owner = x.listener.owner.clone();
                self.listener_problem(&owner, x.index, "protocol", ("Conflicted", "ProtocolConflict"), message);
            }
            return None;
        }
        let mut seen: Vec<(Option<String>, String)> = Vec::new();
        reads.retain(|x| {
            let host = &x.listener.hostname;
            if let Some((_, first)) = seen.iter().find(|(h, _)| h == host) {
                let shown = host.as_deref().unwrap_or("(none)");
                let message = format!("hostname {shown} on port {port} is also listener {first}'s (HostnameConflict)");
                let owner = &x.listener.owner;
                self.gateway_facts.refuse(owner, x.index, ("Conflicted", "HostnameConflict", message.clone()));
                self.diags.push(Diagnostic::error(
                    owner.clone(),
                    format!("spec.listeners[{}].hostname", x.index),
                    format!("{message}; this listener is not served"),
                ));
                return false;
            }
            seen.push((host.clone(), x.listener.name.clone()));
            true
        });
        let field = format!("spec.listeners[{}].port", reads[0].index);
        let protocol = reads[0].listener.protocol;
        let claim = Port { number: port, udp: protocol == ListenerProtocol::Udp, ip: bind };
        if !self.claims.port_free(
            &mut self.diags,
            r,
            &field,
            claim,
            "the Gateway's listeners on it are not served (Conflicted)",
        ) {
            for x in &reads {
                let message = format!("port {port} is taken by another listener");
                self.gateway_facts.refuse(&x.listener.owner, x.index, ("Accepted", "PortUnavailable", message));
            }
            return None;
        }
        for x in &reads {
            if let Some(l) = self.gateway_facts.listener(&x.listener.owner, x.index) {
                l.programmed = true;
            }
        }
        self.claims.take_port(claim, format!("{r} {field}"));
        let route_config = match protocol {
            ListenerProtocol::Udp => format!("gateway/{}/{}:{port}/udp", r.namespace, r.name),
            _ => format!("gateway/{}/{}:{port}", r.namespace, r.name),
        };
        // The certificate for names no listener hostname covers: the
        // listener without one, else the first.
        let default_certificate = reads
            .iter()
            .find(|x| x.listener.hostname.is_none())
            .or(reads.first())
            .and_then(|x| x.listener.certificate.clone());
        // A stream port's split is its oldest route's, once routes attach
        // (`stream_routes`); until then, and with none, nothing serves it.
        let kind = match family {
            "HTTP" => ListenerKind::Http { route_config: route_config.clone() },
            "TLS" => ListenerKind::Https {
                route_config: route_config.clone(),
                default_certificate,
                streams_only: reads.iter().all(|x| x.listener.protocol.route_kinds() == [RouteKind::Tls]),
            },
            "TCP" => ListenerKind::Tcp { split: self.unresolved_split(), policy: L4Policy::for_protocol(false) },
            _ => ListenerKind::Udp { split: self.unresolved_split(), policy: L4Policy::for_protocol(true) },
        };
        let address = SocketAddr::new(bind, port);
        self.gateway_ports.push(GatewayPort {
            gateway: r.clone(),
            port,
            route_config: route_config.clone(),
            listeners: reads.into_iter().map(|x| x.listener).collect(),
            hosts: BTreeMap::new(),
            stream: None,
        });
        Some(Listener { name: route_config, address, kind, source: Some(r.clone()) })
    }
}

/// A listener's namespace selector as kube-rs evaluates label selectors;
/// `Err`: why it cannot be read (an unknown operator, values where none
/// belong). Given no selector, the spec's default: every namespace.
pub(super) fn namespace_selector(
    s: Option<&GatewayListenersAllowedRoutesNamespacesSelector>,
) -> Result<kube::core::Selector, String> {
    let Some(s) = s else { return Ok(kube::core::Selector::default()) };
    let expressions = s.match_expressions.as_ref().map(|all| {
        all.iter()
            .map(|e| LabelSelectorRequirement {
                key: e.key.clone(),
                operator: e.operator.clone(),
                values: e.values.clone(),
            })
            .collect()
    });
    let selector = LabelSelector { match_labels: s.match_labels.clone(), match_expressions: expressions };
    kube::core::Selector::try_from(selector).map_err(|e| e.to_string())
}

impl Translator<'_> {
    /// Whether namespace `name`'s labels match `selector`. A namespace not
    /// in the store has the one label Kubernetes gives every namespace,
    /// `kubernetes.io/metadata.name`.
    pub(super) fn namespace_selected(&self, selector: &kube::core::Selector, name: &str) -> bool {
        use kube::core::SelectorExt;
        let stored = self.store.namespaces.get(&(String::new(), name.to_owned()));
        let mut labels = stored.and_then(|n| n.metadata.labels.clone()).unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".to_owned(), name.to_owned());
        selector.matches(&labels)
    }
}
