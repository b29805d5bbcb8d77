//! Gateway API HTTPRoutes into the route configs of the Gateway ports they
//! attach to (`gateway_listeners`): each parent reference picks listeners
//! (by `sectionName` and `port`, where the listener's `allowedRoutes` let
//! the route in), the route's hostnames meet each listener's, and every
//! rule's matches become routes of those hosts, ordered by the spec's
//! precedence. A backend that cannot be resolved keeps its share of the
//! requests and answers it with 500.

use super::Translator;
use super::annotations::ClusterPolicy;
use super::backend::port_index;
use super::backend_tls::TlsVerdict;
use super::bcs_seed::PortRef;
use super::gateway_listeners::{AllowedFrom, GatewayPort, HostRoutes, RouteOrder};
use super::gateway_status::{ParentFacts, Problem};
use super::order::age;
use super::reference_grants::{GATEWAY_GROUP, Referent};
use super::route_refs::{BackendRef, ParentRef, RouteKind};
use crate::names::check_host;
use crate::object::{Kind, meta_ref};
use gateway_api::apis::standard::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesFilters, HttpRouteRulesFiltersRequestRedirectPathType as RedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme as RedirectScheme, HttpRouteRulesFiltersType,
    HttpRouteRulesFiltersUrlRewritePathType as RewritePathType, HttpRouteRulesMatches,
    HttpRouteRulesMatchesHeadersType as HeaderType, HttpRouteRulesMatchesPathType as PathType,
    HttpRouteRulesMatchesQueryParamsType as QueryType,
};
use sluice_config::{
    Cluster, Cors, CorsSpec, Diagnostic, HeaderOp, HostPattern, Listener, Mirror, ObjectRef, PathMatch, PathModifier,
    RequestConditions, Route, RouteConfig, RoutePolicy, Split, UpstreamProtocol, UrlRedirect, ValueMatch, VirtualHost,
    WeightedCluster,
};
use std::sync::Arc;

/// What a zero duration (a timeout turned off) stands for: a day.
const NO_TIMEOUT_MS: u64 = 86_400_000;

/// The cluster standing for every backend reference that cannot be
/// resolved: requests given to it get 500.
pub(super) const UNRESOLVED_BACKEND: &str = "gateway/unresolved-backend";

/// A header modifier as header operations: the request and response
/// modifiers are distinct generated types of one shape.
macro_rules! modifier_ops {
    ($m:expr) => {{
        let m = $m;
        let set = m.set.iter().flatten().map(|h| (h.name.as_str(), h.value.as_str()));
        let add = m.add.iter().flatten().map(|h| (h.name.as_str(), h.value.as_str()));
        super::http_routes::header_ops(set, add, m.remove.iter().flatten())
    }};
}
pub(super) use modifier_ops;

/// A backend reference resolved to a Service port.
pub(super) struct ResolvedBackend {
    pub cluster: String,
    /// The port's `appProtocol`.
    pub protocol: Option<String>,
    /// Its BackendTLSPolicy, if one targets it.
    pub tls: Option<TlsVerdict>,
}

/// One match of a rule, ready to be a route of each host it serves.
pub(super) struct RuleRoute {
    pub order: RouteOrder,
    pub path: PathMatch,
    pub conditions: Option<Box<RequestConditions>>,
    pub split: Split,
    pub policy: Arc<RoutePolicy>,
}

/// The hostnames a route serves on a listener: the listener's and the
/// route's, where they meet. `*` stands for any host.
pub(super) fn hostnames(listener: Option<&str>, route: &[String]) -> Vec<String> {
    let Some(l) = listener else {
        return if route.is_empty() { vec!["*".into()] } else { route.to_vec() };
    };
    if route.is_empty() {
        return vec![l.to_owned()];
    }
    route.iter().filter_map(|h| meet(l, h)).collect()
}

/// Where two hostnames meet: the more specific one when one covers the
/// other (a wildcard covering names of any depth, as Gateway route configs
/// match them).
fn meet(a: &str, b: &str) -> Option<String> {
    let covers = |wild: &str, name: &str| HostPattern::parse(wild).matches_at_depth(name, true);
    if a == b || covers(b, a) {
        Some(a.to_owned())
    } else if covers(a, b) {
        Some(b.to_owned())
    } else {
        None
    }
}

impl Translator<'_> {
    /// Attaches every route of each kind, oldest first, then gives each
    /// Gateway port its route config, or, a TCP or UDP port, its listener
    /// (among `listeners`) its split.
    pub(super) fn gateway_route_configs(&mut self, listeners: &mut [Listener]) {
        self.read_backend_tls_policies();
        let mut routes: Vec<Arc<HttpRoute>> = self.store.http_routes.values().cloned().collect();
        routes.sort_by_cached_key(|r| age(&r.metadata));
        for route in &routes {
            self.http_route(route);
        }
        self.grpc_routes();
        self.stream_routes();
        for mut port in std::mem::take(&mut self.gateway_ports) {
            port.listener_hosts();
            if port.is_stream() {
                let listener = listeners.iter_mut().find(|l| l.name == port.route_config);
                if let (Some(listener), Some(split)) = (listener, port.stream) {
                    listener.kind.set_split(split);
                }
                continue;
            }
            let config = self.port_route_config(port);
            self.extra_route_configs.push(config);
        }
    }

    fn http_route(&mut self, route: &HttpRoute) {
        let r = meta_ref(Kind::HttpRoute, &route.metadata);
        let parents: Vec<ParentRef> = route.spec.parent_refs.iter().flatten().map(ParentRef::from).collect();
        let attached = self.attach_route(&r, &parents, RouteKind::Http, route.metadata.generation);
        if attached.is_empty() {
            return;
        }
        let route_hosts = self.route_hostnames(&r, route.spec.hostnames.as_deref().unwrap_or_default());
        let rules = self.rule_routes(route, &r);
        self.serve_rules(&r, attached, &route_hosts, &rules);
    }

    /// Adds `rules` of route `r` to the hosts where `route_hosts` meet the
    /// hostname of each listener it `attached` to.
    pub(super) fn serve_rules(
        &mut self,
        r: &ObjectRef,
        attached: Vec<(usize, usize)>,
        route_hosts: &[String],
        rules: &[RuleRoute],
    ) {
        let mut any_host = false;
        for (p, l) in attached {
            let port = &self.gateway_ports[p];
            let listener = &port.listeners[l];
            let hosts: Vec<String> = hostnames(listener.hostname.as_deref(), route_hosts)
                .into_iter()
                .filter(|h| !port.isolated(l, h))
                .collect();
            if !hosts.is_empty() {
                let (gateway, index) = (listener.owner.clone(), listener.index);
                if let Some(facts) = self.gateway_facts.listener(&gateway, index) {
                    facts.attached.insert(r.clone());
                }
            }
            let tls = self.gateway_ports[p].listeners[l].tls();
            let gateway = &self.gateway_ports[p].gateway;
            let client_certificate =
                self.gateway_facts.gateways.get(gateway).and_then(|g| g.backend_certificate.clone());
            let port = &mut self.gateway_ports[p];
            for host in hosts {
                any_host = true;
                let entry =
                    port.hosts.entry(host).or_insert_with(|| HostRoutes { routes: Vec::new(), tls: tls.clone() });
                for rr in rules {
                    let mut policy = match &rr.policy.url_redirect {
                        Some(to) if to.listener_port != port.port => {
                            let mut p = (*rr.policy).clone();
                            p.url_redirect = Some(Box::new(UrlRedirect { listener_port: port.port, ..(**to).clone() }));
                            Arc::new(p)
                        }
                        _ => rr.policy.clone(),
                    };
                    // A BackendTLSPolicy's backend is shown the Gateway's
                    // client certificate, if it has one.
                    if client_certificate.is_some() && policy.upstream_verify && policy.upstream_certificate.is_none() {
                        Arc::make_mut(&mut policy).upstream_certificate = client_certificate.clone();
                    }
                    let route = Route {
                        path: rr.path.clone(),
                        conditions: rr.conditions.clone(),
                        split: rr.split.clone(),
                        canaries: Vec::new(),
                        policy,
                        source: r.clone(),
                    };
                    entry.routes.push((rr.order.clone(), route));
                }
            }
        }
        if !any_host {
            self.no_matching_hostname(r);
        }
    }

    /// A route's valid `hostnames`, lower-cased; the others left out with a
    /// diagnostic.
    pub(super) fn route_hostnames(&mut self, r: &ObjectRef, hostnames: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (k, h) in hostnames.iter().enumerate() {
            match check_host(h) {
                Ok(()) => out.push(h.to_ascii_lowercase()),
                Err(message) => self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("spec.hostnames[{k}]"),
                    format!("{message}; left out"),
                )),
            }
        }
        out
    }

    /// A route none of whose hostnames meets a hostname of the listeners it
    /// attached to: not Accepted by them.
    pub(super) fn no_matching_hostname(&mut self, r: &ObjectRef) {
        let message = "no hostname meets a hostname of the listeners it attaches to (NoMatchingListenerHostname)";
        for parent in &mut self.gateway_facts.routes.entry(r.clone()).or_default().parents {
            if parent.refused.is_none() {
                parent.refused = Some(("Accepted", "NoMatchingListenerHostname", message.into()));
            }
        }
        self.diags.push(Diagnostic::error(r.clone(), "spec.hostnames", format!("{message}; not served")));
    }

    /// The listeners (port index, listener index) route `r` of `kind`
    /// attaches to by its `parents`; when any, its status observes
    /// `generation`.
    pub(super) fn attach_route(
        &mut self,
        r: &ObjectRef,
        parents: &[ParentRef],
        kind: RouteKind,
        generation: Option<i64>,
    ) -> Vec<(usize, usize)> {
        let mut attached = Vec::new();
        for (j, parent) in parents.iter().enumerate() {
            attached.extend(self.attach(r, j, parent, kind));
        }
        if !attached.is_empty() {
            self.gateway_facts.routes.entry(r.clone()).or_default().generation = generation;
        }
        attached
    }

    /// The listeners (port index, listener index) parent reference `j` of a
    /// route of `kind` attaches it to; a diagnostic when it names a served
    /// Gateway that takes it nowhere.
    fn attach(&mut self, r: &ObjectRef, j: usize, parent: &ParentRef, kind: RouteKind) -> Vec<(usize, usize)> {
        let field = format!("spec.parentRefs[{j}]");
        let group = parent.group.as_deref().unwrap_or(GATEWAY_GROUP);
        let parent_kind = parent.kind.as_deref().unwrap_or("Gateway");
        if group != GATEWAY_GROUP || !matches!(parent_kind, "Gateway" | "ListenerSet") {
            self.diags.push(Diagnostic::warning(
                r.clone(),
                field,
                format!("{group}/{parent_kind} parents are not supported; only Gateways and ListenerSets"),
            ));
            return Vec::new();
        }
        let namespace = parent.namespace.clone().unwrap_or_else(|| r.namespace.clone());
        // A Gateway parent is its own listeners; a ListenerSet's are only
        // the ListenerSet's routes'.
        let gateway = ObjectRef::new(parent_kind, namespace.as_str(), parent.name.as_str());
        let ports: Vec<usize> = (0..self.gateway_ports.len())
            .filter(|p| self.gateway_ports[*p].listeners.iter().any(|l| l.owner == gateway))
            .collect();
        let ours = self.gateway_facts.gateways.contains_key(&gateway);
        let record = |this: &mut Self, refused: Option<Problem>| {
            let facts = this.gateway_facts.routes.entry(r.clone()).or_default();
            let (section_name, port) = (parent.section_name.clone(), parent.port);
            facts.parents.push(ParentFacts { gateway: gateway.clone(), section_name, port, refused });
        };
        if ports.is_empty() {
            let key = (namespace.clone(), parent.name.clone());
            let found = match parent_kind {
                "Gateway" => self.store.gateways.contains_key(&key),
                _ => self.store.listener_sets.contains_key(&key),
            };
            let message = match found {
                false => format!("{parent_kind} {namespace}/{} not found (NoMatchingParent)", parent.name),
                true => format!("{parent_kind} {namespace}/{} has no listener served by this instance", parent.name),
            };
            if ours {
                record(self, Some(("Accepted", "NoMatchingParent", message.clone())));
            }
            self.diags.push(Diagnostic::info(r.clone(), field, message));
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut named = false;
        let mut refused = None;
        for p in ports {
            let port = &self.gateway_ports[p];
            if parent.port.is_some_and(|n| i32::from(port.port) != n) {
                continue;
            }
            for (l, listener) in port.listeners.iter().enumerate() {
                if listener.owner != gateway || parent.section_name.as_deref().is_some_and(|s| s != listener.name) {
                    continue;
                }
                named = true;
                let allowed = match &listener.from {
                    AllowedFrom::All => true,
                    AllowedFrom::Same => namespace == r.namespace,
                    AllowedFrom::Selector(s) => s.as_ref().is_some_and(|s| self.namespace_selected(s, &r.namespace)),
                };
                if allowed && listener.kinds.contains(&kind) {
                    out.push((p, l));
                } else {
                    refused = Some(listener.name.clone());
                }
            }
        }
        if out.is_empty() {
            let (reason, message) = match (named, refused) {
                (true, Some(l)) => (
                    "NotAllowedByListeners",
                    format!(
                        "listener {l} of {parent_kind} {namespace}/{} does not allow this route (NotAllowedByListeners)",
                        parent.name
                    ),
                ),
                _ => (
                    "NoMatchingParent",
                    format!(
                        "{parent_kind} {namespace}/{} has no served listener of this sectionName and port (NoMatchingParent)",
                        parent.name
                    ),
                ),
            };
            record(self, Some(("Accepted", reason, message.clone())));
            self.diags.push(Diagnostic::error(r.clone(), field, message));
        } else {
            record(self, None);
        }
        out
    }

    /// Every match of every rule, with its split and policy.
    fn rule_routes(&mut self, route: &HttpRoute, r: &ObjectRef) -> Vec<RuleRoute> {
        let mut out = Vec::new();
        let route_age = age(&route.metadata);
        for (i, rule) in route.spec.rules.iter().flatten().enumerate() {
            let field = format!("spec.rules[{i}]");
            let backends: Vec<BackendRef> = rule.backend_refs.iter().flatten().map(BackendRef::from).collect();
            let (split, resolved) = self.rule_split(r, &field, &backends, RouteKind::Http);
            let Some(policy) = self.rule_policy(r, &field, rule, &resolved) else { continue };
            let default_match = [HttpRouteRulesMatches::default()];
            let matches = match rule.matches.as_deref() {
                Some(m) if !m.is_empty() => m,
                _ => &default_match,
            };
            for (k, m) in matches.iter().enumerate() {
                let Some((path, conditions)) = self.rule_match(r, &format!("{field}.matches[{k}]"), m) else {
                    continue;
                };
                out.push(RuleRoute {
                    order: (route_age.clone(), i, k),
                    path,
                    conditions,
                    split: split.clone(),
                    policy: policy.clone(),
                });
            }
        }
        out
    }

    /// A match's path and conditions; `None` (with a diagnostic) when one of
    /// them cannot be served.
    fn rule_match(
        &mut self,
        r: &ObjectRef,
        field: &str,
        m: &HttpRouteRulesMatches,
    ) -> Option<(PathMatch, Option<Box<RequestConditions>>)> {
        let path = m.path.as_ref();
        let value = path.and_then(|p| p.value.clone()).unwrap_or_else(|| "/".into());
        let bad = |this: &mut Self, at: &str, message: String| {
            this.diags.push(Diagnostic::error(
                r.clone(),
                format!("{field}.{at}"),
                format!("{message}; this match is left out"),
            ));
        };
        let path = match path.and_then(|p| p.r#type.clone()).unwrap_or(PathType::PathPrefix) {
            PathType::Exact | PathType::PathPrefix if !value.starts_with('/') => {
                bad(self, "path.value", format!("'{value}' is not an absolute path"));
                return None;
            }
            PathType::Exact => PathMatch::exact(value),
            PathType::PathPrefix => PathMatch::prefix(&value),
            PathType::RegularExpression => {
                if let Err(e) = ValueMatch::whole_regex(&value) {
                    bad(self, "path.value", format!("'{value}' is not a regular expression: {e}"));
                    return None;
                }
                PathMatch::whole_regex(value)
            }
        };
        let mut conditions =
            RequestConditions { method: m.method.as_ref().map(|m| method_name(m).to_owned()), ..Default::default() };
        for (k, h) in m.headers.iter().flatten().enumerate() {
            let regex = h.r#type.as_ref().is_some_and(|t| *t == HeaderType::RegularExpression);
            if let Err(message) = add_value_match(&mut conditions.headers, h.name.to_ascii_lowercase(), &h.value, regex)
            {
                bad(self, &format!("headers[{k}]"), message);
                return None;
            }
        }
        for (k, q) in m.query_params.iter().flatten().enumerate() {
            let regex = q.r#type.as_ref().is_some_and(|t| *t == QueryType::RegularExpression);
            if let Err(message) = add_value_match(&mut conditions.query, q.name.clone(), &q.value, regex) {
                bad(self, &format!("queryParams[{k}]"), message);
                return None;
            }
        }
        let conditions = (conditions != RequestConditions::default()).then(|| Box::new(conditions));
        Some((path, conditions))
    }

    /// A rule's filters as a route policy; `None` (with a diagnostic) when
    /// a filter cannot be honoured, so the rule is not served half-done.
    /// `resolved` are the rule's resolved backends.
    fn rule_policy(
        &mut self,
        r: &ObjectRef,
        field: &str,
        rule: &HttpRouteRules,
        resolved: &[ResolvedBackend],
    ) -> Option<Arc<RoutePolicy>> {
        let mut policy = RoutePolicy::default();
        let h2c = |b: &ResolvedBackend| b.protocol.as_deref() == Some("kubernetes.io/h2c");
        if !resolved.is_empty() && resolved.iter().all(h2c) {
            policy.upstream_protocol = UpstreamProtocol::H2c;
        } else if resolved.iter().any(h2c) {
            self.diags.push(Diagnostic::warning(
                r.clone(),
                format!("{field}.backendRefs"),
                "some backends' ports are appProtocol kubernetes.io/h2c and some are not; all are spoken to in HTTP/1.1",
            ));
        }
        if !self.apply_backend_tls(r, field, resolved, &mut policy) {
            return None;
        }
        if let Some(t) = &rule.timeouts {
            let parse = |this: &mut Self, at: &str, value: &Option<String>| -> Option<Option<u64>> {
                let Some(v) = value else { return Some(None) };
                match v.parse::<gateway_api::Duration>() {
                    // Zero turns the timeout off: a day stands for none.
                    Ok(d) if d.as_millis() == 0 => Some(Some(NO_TIMEOUT_MS)),
                    Ok(d) => Some(Some(u64::try_from(d.as_millis()).unwrap_or(NO_TIMEOUT_MS))),
                    Err(e) => {
                        let message = format!("'{v}' is not a duration ({e}); this rule is not served");
                        this.diags.push(Diagnostic::error(r.clone(), format!("{field}.timeouts.{at}"), message));
                        None
                    }
                }
            };
            let request = parse(self, "request", &t.request)?;
            let backend = parse(self, "backendRequest", &t.backend_request)?;
            // `request` bounds the whole request, retries included;
            // `backendRequest` each attempt.
            if let Some(ms) = backend.or(request) {
                policy.read_timeout_ms = ms;
                policy.send_timeout_ms = ms;
            }
            if let Some(ms) = request {
                policy.next_upstream_timeout_ms = Some(ms);
            }
        }
        for (k, f) in rule.filters.iter().flatten().enumerate() {
            let at = format!("{field}.filters[{k}]");
            if let Err(message) = self.apply_filter(r, &at, f, &mut policy) {
                self.diags.push(Diagnostic::error(r.clone(), at, format!("{message}; this rule is not served")));
                return None;
            }
        }
        Some(RoutePolicy::shared(policy))
    }

    /// Filter `f` (at `field`) of a rule of route `r` into `policy`; `Err`:
    /// why it cannot be honoured.
    fn apply_filter(
        &mut self,
        r: &ObjectRef,
        field: &str,
        f: &HttpRouteRulesFilters,
        policy: &mut RoutePolicy,
    ) -> Result<(), String> {
        match f.r#type {
            HttpRouteRulesFiltersType::RequestHeaderModifier => {
                let m = f.request_header_modifier.as_ref().ok_or("requestHeaderModifier is required")?;
                policy.request_headers.extend(modifier_ops!(m)?);
                Ok(())
            }
            HttpRouteRulesFiltersType::ResponseHeaderModifier => {
                let m = f.response_header_modifier.as_ref().ok_or("responseHeaderModifier is required")?;
                policy.response_headers.extend(modifier_ops!(m)?);
                Ok(())
            }
            HttpRouteRulesFiltersType::RequestRedirect => {
                let r = f.request_redirect.as_ref().ok_or("requestRedirect is required")?;
                let status = u16::try_from(r.status_code.unwrap_or(302)).unwrap_or(0);
                if ![301, 302, 303, 307, 308].contains(&status) {
                    return Err(format!("statusCode {status} is not a redirect status (301, 302, 303, 307, 308)"));
                }
                let port = match r.port {
                    Some(p) => {
                        Some(u16::try_from(p).ok().filter(|p| *p != 0).ok_or(format!("port {p} is not a port"))?)
                    }
                    None => None,
                };
                if let Some(h) = &r.hostname {
                    check_host(h)?;
                }
                let path = match &r.path {
                    Some(p) => {
                        let (kind, full, prefix) = (&p.r#type, &p.replace_full_path, &p.replace_prefix_match);
                        Some(path_modifier(matches!(kind, RedirectPathType::ReplaceFullPath), full, prefix)?)
                    }
                    None => None,
                };
                let scheme = r.scheme.as_ref().map(|s| match s {
                    RedirectScheme::Http => "http".to_owned(),
                    RedirectScheme::Https => "https".to_owned(),
                });
                let hostname = r.hostname.clone();
                policy.url_redirect =
                    Some(Box::new(UrlRedirect { scheme, hostname, port, path, status, listener_port: 0 }));
                Ok(())
            }
            HttpRouteRulesFiltersType::UrlRewrite => {
                let w = f.url_rewrite.as_ref().ok_or("urlRewrite is required")?;
                if let Some(h) = &w.hostname {
                    check_host(h)?;
                    policy.upstream_host = Some(h.clone());
                }
                if let Some(p) = &w.path {
                    let full = matches!(p.r#type, RewritePathType::ReplaceFullPath);
                    policy.path_rewrite = Some(path_modifier(full, &p.replace_full_path, &p.replace_prefix_match)?);
                }
                Ok(())
            }
            HttpRouteRulesFiltersType::RequestMirror => {
                let m = f.request_mirror.as_ref().ok_or("requestMirror is required")?;
                let fraction = m.fraction.as_ref().map(|f| (f.numerator, f.denominator));
                let backend = BackendRef::from(&m.backend_ref);
                let share = (m.percent, fraction);
                policy.mirrors.extend(self.request_mirror(r, field, (RouteKind::Http, &backend), share)?);
                Ok(())
            }
            HttpRouteRulesFiltersType::Cors => {
                let c = f.cors.as_ref().ok_or("cors is required")?;
                policy.cors = Some(gateway_cors(c)?);
                Ok(())
            }
            ref other => Err(format!("filter {other:?} is not supported yet")),
        }
    }

    /// A RequestMirror filter (at `field`) of a route of `kind` as a mirror:
    /// copies of the `percent` or `(numerator, denominator)` share of the
    /// requests. `None` when its backend cannot be resolved (the route's
    /// ResolvedRefs says why): the rule serves without it.
    pub(super) fn request_mirror(
        &mut self,
        r: &ObjectRef,
        field: &str,
        (kind, backend): (RouteKind, &BackendRef),
        share: (Option<i32>, Option<(i32, Option<i32>)>),
    ) -> Result<Option<Mirror>, String> {
        let per_million = match share {
            (Some(_), Some(_)) => return Err("percent and fraction are exclusive".into()),
            (Some(p), None) if (0..=100).contains(&p) => p.unsigned_abs() * (Mirror::EVERY / 100),
            (Some(p), None) => return Err(format!("percent {p} is not 0-100")),
            (None, Some((numerator, denominator))) => {
                let denominator = denominator.unwrap_or(100);
                if denominator <= 0 || !(0..=denominator).contains(&numerator) {
                    return Err(format!("fraction {numerator}/{denominator} is not a fraction of 0 to 1"));
                }
                let share = u64::from(numerator.unsigned_abs()) * u64::from(Mirror::EVERY);
                u32::try_from(share / u64::from(denominator.unsigned_abs())).unwrap_or(Mirror::EVERY)
            }
            (None, None) => Mirror::EVERY,
        };
        let at = format!("{field}.requestMirror.backendRef");
        let Some(ResolvedBackend { cluster, .. }) =
            self.backend_cluster(r, &at, backend, (kind, "this mirror is left out"))
        else {
            return Ok(None);
        };
        // The copy keeps the request's target and Host.
        let (target, host) = ("$request_uri".into(), "$http_host".into());
        Ok(Some(Mirror { cluster, target, host, request_body: true, per_million }))
    }

    /// A rule's backends as a split: each resolved Service port its weight,
    /// the unresolved ones their weights together on [`UNRESOLVED_BACKEND`].
    /// No backend, or every weight 0: all requests get 500 (streams are
    /// closed). A backend whose BackendTLSPolicy cannot be honoured gets
    /// 500 too, not an unchecked connection. With the split, the backends
    /// resolved.
    pub(super) fn rule_split(
        &mut self,
        r: &ObjectRef,
        field: &str,
        backends: &[BackendRef],
        kind: RouteKind,
    ) -> (Split, Vec<ResolvedBackend>) {
        let mut resolved = Vec::new();
        let mut split: Vec<WeightedCluster> = Vec::new();
        let mut add = |cluster: String, weight: u32| match split.iter_mut().find(|w| w.cluster == cluster) {
            Some(w) => w.weight += weight,
            None => split.push(WeightedCluster { cluster, weight }),
        };
        for (k, b) in backends.iter().enumerate() {
            let at = format!("{field}.backendRefs[{k}]");
            let weight = u32::try_from(b.weight.unwrap_or(1)).unwrap_or(0);
            match self.backend_cluster(r, &at, b, (kind, kind.unresolved_share())) {
                Some(ResolvedBackend { tls: Some(Err(policy)), .. }) => {
                    let message = format!("{policy} cannot be honoured; {}", kind.unresolved_share());
                    self.diags.push(Diagnostic::error(r.clone(), at, message));
                    add(self.unresolved_backend(), weight);
                }
                Some(backend) => {
                    add(backend.cluster.clone(), weight);
                    resolved.push(backend);
                }
                None => add(self.unresolved_backend(), weight),
            }
        }
        if split.iter().all(|w| w.weight == 0) {
            return (self.unresolved_split(), resolved);
        }
        (Split(split), resolved)
    }

    /// Everything to [`UNRESOLVED_BACKEND`].
    pub(super) fn unresolved_split(&mut self) -> Split {
        Split::single(self.unresolved_backend())
    }

    fn unresolved_backend(&mut self) -> String {
        self.clusters.insert(Cluster {
            name: UNRESOLVED_BACKEND.into(),
            service: ObjectRef::new("Service", "", "unresolved"),
            port: 0,
            balance: Default::default(),
            affinity: None,
            health: Default::default(),
            max_connections: None,
            endpoints: Vec::new(),
            dns: None,
            unresolved: true,
        });
        UNRESOLVED_BACKEND.into()
    }

    /// The cluster of one backend reference; `None`, with a diagnostic
    /// ending in `consequence` and the route's status giving the spec's
    /// reason, when it cannot be resolved.
    fn backend_cluster(
        &mut self,
        r: &ObjectRef,
        field: &str,
        b: &BackendRef,
        (kind, consequence): (RouteKind, &str),
    ) -> Option<ResolvedBackend> {
        match self.resolve_backend(r, field, b, kind) {
            Ok(found) => Some(found),
            Err((at, reason, message)) => {
                let facts = self.gateway_facts.routes.entry(r.clone()).or_default();
                facts.unresolved.get_or_insert(("ResolvedRefs", reason, message.clone()));
                self.diags.push(Diagnostic::error(r.clone(), at, format!("{message}; {consequence}")));
                None
            }
        }
    }

    /// `Err`: the field, the spec's reason and why.
    fn resolve_backend(
        &mut self,
        r: &ObjectRef,
        field: &str,
        b: &BackendRef,
        route_kind: RouteKind,
    ) -> Result<ResolvedBackend, (String, &'static str, String)> {
        let (group, kind) = (b.group.as_deref().unwrap_or(""), b.kind.as_deref().unwrap_or("Service"));
        if !group.is_empty() || kind != "Service" {
            let message = format!("{group}/{kind} backends are not supported, only Services (InvalidKind)");
            return Err((field.to_owned(), "InvalidKind", message));
        }
        let namespace = b.namespace.clone().unwrap_or_else(|| r.namespace.clone());
        let from = Referent { group: GATEWAY_GROUP, kind: route_kind.name(), namespace: &r.namespace };
        let to = Referent { group: "", kind: "Service", namespace: &namespace };
        if !self.reference_permitted(&from, &to, &b.name) {
            let message = format!(
                "no ReferenceGrant in {namespace} lets this route use Service {namespace}/{} (RefNotPermitted)",
                b.name
            );
            return Err((format!("{field}.namespace"), "RefNotPermitted", message));
        }
        let Some(port) = b.port else {
            return Err((format!("{field}.port"), "UnsupportedValue", "required for a Service".into()));
        };
        let key = (namespace.clone(), b.name.clone());
        let not_found = |what: String| Err((format!("{field}.name"), "BackendNotFound", what));
        let Some(svc) = self.service(&key) else {
            return not_found(format!("Service {namespace}/{} not found (BackendNotFound)", b.name));
        };
        let ports = svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default();
        let protocol = route_kind.service_protocol();
        let Some(index) = port_index(ports, &PortRef::Number(i64::from(port)), protocol) else {
            return not_found(format!(
                "Service {namespace}/{} has no {protocol} port {port} (BackendNotFound)",
                b.name
            ));
        };
        let protocol = ports[index].app_protocol.clone();
        let tls = self.backend_tls.of(&namespace, &b.name, ports[index].name.as_deref()).cloned();
        for policy in self.backend_tls.naming(&namespace, &b.name) {
            self.gateway_facts.policies.entry(policy.clone()).or_default().routes.insert(r.clone());
        }
        match self.clusters.service_cluster(&key, svc, index, &ClusterPolicy::default()) {
            Some(cluster) => Ok(ResolvedBackend { cluster, protocol, tls }),
            None => not_found(format!("Service {namespace}/{} port {port} has no cluster (BackendNotFound)", b.name)),
        }
    }

    /// The route config of a Gateway port: its hosts' routes in the spec's
    /// precedence, identical matches left to the first.
    fn port_route_config(&mut self, port: GatewayPort) -> RouteConfig {
        let mut virtual_hosts = Vec::new();
        for (host, mut h) in port.hosts {
            h.routes.sort_by(|(oa, a), (ob, b)| {
                let rank = |r: &Route| r.conditions.as_deref().map(RequestConditions::rank).unwrap_or_default();
                a.path.precedence(&b.path).then_with(|| rank(b).cmp(&rank(a))).then_with(|| oa.cmp(ob))
            });
            let mut routes: Vec<Route> = Vec::with_capacity(h.routes.len());
            for (_, route) in h.routes {
                let same = routes.iter().find(|x| x.path == route.path && x.conditions == route.conditions);
                match same {
                    None => routes.push(route),
                    Some(first) if first.source == route.source => {}
                    Some(first) => {
                        let message = format!(
                            "host {host} path {} with the same conditions is also {}'s, which is older and keeps it",
                            route.path.path, first.source
                        );
                        self.diags.push(Diagnostic::warning(route.source.clone(), "spec.rules", message));
                    }
                }
            }
            virtual_hosts.push(Arc::new(VirtualHost { host, routes, tls: h.tls }));
        }
        RouteConfig {
            name: port.route_config,
            virtual_hosts: virtual_hosts.into_iter().collect(),
            default_backend: None,
            default_policy: RoutePolicy::default(),
            wildcard_any_depth: true,
        }
    }
}

fn method_name(m: &gateway_api::apis::standard::httproutes::HttpRouteRulesMatchesMethod) -> &'static str {
    use gateway_api::apis::standard::httproutes::HttpRouteRulesMatchesMethod as M;
    match m {
        M::Get => "GET",
        M::Head => "HEAD",
        M::Post => "POST",
        M::Put => "PUT",
        M::Delete => "DELETE",
        M::Connect => "CONNECT",
        M::Options => "OPTIONS",
        M::Trace => "TRACE",
        M::Patch => "PATCH",
    }
}

/// Adds a match of `name` (lower-cased already where case does not
/// count) to `list`, unless it has one: only the first of equal names
/// counts. `Err`: why it cannot be served.
pub(super) fn add_value_match(
    list: &mut Vec<ValueMatch>,
    name: String,
    value: &str,
    regex: bool,
) -> Result<(), String> {
    if list.iter().any(|x| x.name == name) {
        return Ok(());
    }
    if name.is_empty() {
        return Err("a name is required".into());
    }
    if regex && let Err(e) = ValueMatch::whole_regex(value) {
        return Err(format!("'{value}' is not a regular expression: {e}"));
    }
    list.push(ValueMatch { name, value: value.to_owned(), regex });
    Ok(())
}

/// A CORS filter as the route's CORS answers, by the Gateway API's rules:
/// no credentials and a 5 s `maxAge` unless it says otherwise.
fn gateway_cors(c: &gateway_api::apis::standard::httproutes::HttpRouteRulesFiltersCors) -> Result<Cors, String> {
    let origins = c.allow_origins.clone().unwrap_or_default();
    let allow_origins = if origins.iter().any(|o| o == "*") {
        None
    } else {
        if let Some(bad) = origins.iter().find(|o| *o == "null" || !Cors::valid_origin(o)) {
            return Err(format!("allowOrigins '{bad}' is not an origin (scheme://host[:port], or *)"));
        }
        Some(origins)
    };
    let list = |field: &str, values: &Option<Vec<String>>| -> Result<String, String> {
        let values = values.as_deref().unwrap_or_default();
        if let Some(bad) = values.iter().find(|v| *v != "*" && HeaderOp::check_field(v, "").is_err()) {
            return Err(format!("{field} '{bad}' is not a token"));
        }
        Ok(values.join(", "))
    };
    Ok(Cors {
        allow_origins,
        allow_methods: list("allowMethods", &c.allow_methods)?,
        allow_headers: list("allowHeaders", &c.allow_headers)?,
        expose_headers: list("exposeHeaders", &c.expose_headers)?,
        allow_credentials: c.allow_credentials.unwrap_or(false),
        max_age_seconds: c.max_age.map_or(5, |s| u64::try_from(s).unwrap_or(0)),
        spec: CorsSpec::GatewayApi,
    })
}

/// A filter's path change: its `type` names which of the two values counts.
fn path_modifier(full: bool, full_path: &Option<String>, prefix: &Option<String>) -> Result<PathModifier, String> {
    let (value, field) = if full { (full_path, "replaceFullPath") } else { (prefix, "replacePrefixMatch") };
    let value = value.clone().ok_or(format!("path.{field} is required by its type"))?;
    if !value.is_empty() && !value.starts_with('/') {
        return Err(format!("path.{field} '{value}' is not an absolute path"));
    }
    if value.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#') {
        return Err(format!("path.{field} '{value}' has a character a path cannot"));
    }
    Ok(if full { PathModifier::Full(value) } else { PathModifier::Prefix(value) })
}

/// A header modifier's set, add and remove lists as header operations.
pub(super) fn header_ops<'v>(
    set: impl Iterator<Item = (&'v str, &'v str)>,
    add: impl Iterator<Item = (&'v str, &'v str)>,
    remove: impl Iterator<Item = &'v String>,
) -> Result<Vec<HeaderOp>, String> {
    let mut ops = Vec::new();
    for (name, value) in set {
        HeaderOp::check_field(name, value)?;
        ops.push(HeaderOp::Set { name: name.to_ascii_lowercase(), value: value.to_owned() });
    }
    for (name, value) in add {
        HeaderOp::check_field(name, value)?;
        ops.push(HeaderOp::Add { name: name.to_ascii_lowercase(), value: value.to_owned(), always: true });
    }
    for name in remove {
        HeaderOp::check_field(name, "")?;
        ops.push(HeaderOp::Remove { name: name.to_ascii_lowercase() });
    }
    Ok(ops)
}
