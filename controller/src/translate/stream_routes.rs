//! Gateway API routes of streams: TLSRoutes, chosen by SNI on TLS
//! listeners (passed through, or terminated here and forwarded as TCP), and
//! TCPRoutes and UDPRoutes, which take a whole port each. They attach as
//! HTTPRoutes do (`http_routes`). On one TCP or UDP listener only the
//! oldest route is served; the others are attached and counted, as the
//! spec's conflict rule has it, and get no traffic.

use super::Translator;
use super::http_routes::RuleRoute;
use super::order::{AgeKey, age};
use super::route_refs::{BackendRef, ParentRef, RouteKind};
use crate::object::{Kind, meta_ref};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sluice_config::{Diagnostic, ObjectRef, PathMatch, RoutePolicy};

/// A stream route as read: what every stream route kind has.
struct StreamRoute {
    r: ObjectRef,
    kind: RouteKind,
    generation: Option<i64>,
    age: AgeKey,
    parents: Vec<ParentRef>,
    /// TLSRoute's; the others have none.
    hostnames: Vec<String>,
    /// Each rule's backends.
    rules: Vec<Vec<BackendRef>>,
}

impl StreamRoute {
    fn read(
        kind: (Kind, RouteKind),
        meta: &ObjectMeta,
        parents: Vec<ParentRef>,
        hostnames: Vec<String>,
        rules: Vec<Vec<BackendRef>>,
    ) -> Self {
        StreamRoute {
            r: meta_ref(kind.0, meta),
            kind: kind.1,
            generation: meta.generation,
            age: age(meta),
            parents,
            hostnames,
            rules,
        }
    }
}

/// The `(parents, rules)` of a stream route's spec; the generated types
/// differ by kind but have one shape.
macro_rules! refs {
    ($spec:expr) => {{
        let spec = $spec;
        let parents = spec.parent_refs.iter().flatten().map(ParentRef::from).collect();
        let rules = spec.rules.iter().map(|r| r.backend_refs.iter().map(BackendRef::from).collect()).collect();
        (parents, rules)
    }};
}

impl Translator<'_> {
    /// Attaches every TLSRoute, TCPRoute and UDPRoute, oldest first.
    pub(super) fn stream_routes(&mut self) {
        let store = self.store;
        let mut routes = Vec::new();
        for t in store.tls_routes.values() {
            let (parents, rules) = refs!(&t.spec);
            let kind = (Kind::TlsRoute, RouteKind::Tls);
            routes.push(StreamRoute::read(kind, &t.metadata, parents, t.spec.hostnames.clone(), rules));
        }
        for t in store.tcp_routes.values() {
            let (parents, rules) = refs!(&t.spec);
            routes.push(StreamRoute::read((Kind::TcpRoute, RouteKind::Tcp), &t.metadata, parents, Vec::new(), rules));
        }
        for u in store.udp_routes.values() {
            let (parents, rules) = refs!(&u.spec);
            routes.push(StreamRoute::read((Kind::UdpRoute, RouteKind::Udp), &u.metadata, parents, Vec::new(), rules));
        }
        routes.sort_by(|a, b| a.age.cmp(&b.age));
        for route in &routes {
            self.stream_route(route);
        }
    }

    fn stream_route(&mut self, route: &StreamRoute) {
        let r = &route.r;
        let attached = self.attach_route(r, &route.parents, route.kind, route.generation);
        if attached.is_empty() {
            return;
        }
        if route.rules.len() > 1 {
            self.diags.push(Diagnostic::warning(
                r.clone(),
                "spec.rules",
                format!("a {} is served by its first rule; the other rules are left out", route.kind.name()),
            ));
        }
        let backends = route.rules.first().map(Vec::as_slice).unwrap_or_default();
        let (split, resolved) = self.rule_split(r, "spec.rules[0]", backends, route.kind);
        if route.kind == RouteKind::Tls {
            // A TLSRoute is one route of its hosts: `/`, which the stream's
            // SNI finds. Terminated, it goes on in TLS to a backend with a
            // BackendTLSPolicy (passed through, it is TLS already).
            let mut policy = RoutePolicy::default();
            if !self.apply_backend_tls(r, "spec.rules[0]", &resolved, &mut policy) {
                return;
            }
            let route_hosts = self.route_hostnames(r, &route.hostnames);
            let rule = RuleRoute {
                order: (route.age.clone(), 0, 0),
                path: PathMatch::prefix("/"),
                conditions: None,
                split,
                policy: RoutePolicy::shared(policy),
            };
            self.serve_rules(r, attached, &route_hosts, &[rule]);
            return;
        }
        for (p, l) in attached {
            let port = &mut self.gateway_ports[p];
            let (gateway, index) = (port.listeners[l].owner.clone(), port.listeners[l].index);
            match &port.stream {
                None => port.stream = Some(split.clone()),
                Some(_) => self.diags.push(Diagnostic::warning(
                    r.clone(),
                    "spec.parentRefs",
                    format!(
                        "listener {} of {gateway} already forwards to an older {}: this one gets no traffic",
                        port.listeners[l].name,
                        route.kind.name()
                    ),
                )),
            }
            if let Some(facts) = self.gateway_facts.listener(&gateway, index) {
                facts.attached.insert(r.clone());
            }
        }
    }
}
