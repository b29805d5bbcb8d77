//! Gateway API GRPCRoutes: a gRPC call is the HTTP/2 request it travels
//! as, so its routes are HTTP routes of the hosts they attach to, beside
//! the HTTPRoutes' (`http_routes`): a method match is a match of the path
//! `/service/method`, header matches are header conditions, and the
//! backends are spoken to in HTTP/2 without TLS, as gRPC needs.

use super::Translator;
use super::http_routes::{RuleRoute, add_value_match, modifier_ops};
use super::order::age;
use super::route_refs::{BackendRef, ParentRef, RouteKind};
use crate::object::{Kind, meta_ref};
use gateway_api::apis::standard::grpcroutes::{
    GrpcRoute, GrpcRouteRulesFilters, GrpcRouteRulesFiltersType, GrpcRouteRulesMatches,
    GrpcRouteRulesMatchesHeadersType as HeaderType, GrpcRouteRulesMatchesMethodType as MethodType,
};
use sluice_config::{Diagnostic, ObjectRef, PathMatch, RequestConditions, RoutePolicy, UpstreamProtocol, ValueMatch};
use std::sync::Arc;

/// A service or method name: what the gRPC path's segments can be.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b));
    if ok { Ok(()) } else { Err(format!("{what} '{name}' is not a gRPC name")) }
}

/// The path a method match selects: `/service/method`, either part any
/// when not given.
fn method_path(m: &gateway_api::apis::standard::grpcroutes::GrpcRouteRulesMatchesMethod) -> Result<PathMatch, String> {
    let (service, method) = (m.service.as_deref(), m.method.as_deref());
    if m.r#type.as_ref().is_some_and(|t| *t == MethodType::RegularExpression) {
        let part = |re: Option<&str>| re.map_or("[^/]+".to_owned(), |re| format!("(?:{re})"));
        let path = format!("/{}/{}", part(service), part(method));
        ValueMatch::whole_regex(&path).map_err(|e| format!("'{path}' is not a regular expression: {e}"))?;
        return Ok(PathMatch::whole_regex(path));
    }
    if let Some(s) = service {
        check_name("service", s)?;
    }
    if let Some(m) = method {
        check_name("method", m)?;
    }
    Ok(match (service, method) {
        (Some(s), Some(m)) => PathMatch::exact(format!("/{s}/{m}")),
        (Some(s), None) => PathMatch::prefix(&format!("/{s}")),
        (None, Some(m)) => PathMatch::whole_regex(format!("/[^/]+/{}", regex_syntax_escape(m))),
        (None, None) => return Err("a method match needs a service or a method".into()),
    })
}

/// `name` as a regular expression matching only itself (gRPC names hold
/// letters, digits, `_` and `.`).
fn regex_syntax_escape(name: &str) -> String {
    name.replace('.', "\\.")
}

impl Translator<'_> {
    /// Attaches every GRPCRoute, oldest first.
    pub(super) fn grpc_routes(&mut self) {
        let mut routes: Vec<Arc<GrpcRoute>> = self.store.grpc_routes.values().cloned().collect();
        routes.sort_by_cached_key(|r| age(&r.metadata));
        for route in &routes {
            self.grpc_route(route);
        }
    }

    fn grpc_route(&mut self, route: &GrpcRoute) {
        let r = meta_ref(Kind::GrpcRoute, &route.metadata);
        let parents: Vec<ParentRef> = route.spec.parent_refs.iter().flatten().map(ParentRef::from).collect();
        let attached = self.attach_route(&r, &parents, RouteKind::Grpc, route.metadata.generation);
        if attached.is_empty() {
            return;
        }
        let route_hosts = self.route_hostnames(&r, route.spec.hostnames.as_deref().unwrap_or_default());
        let rules = self.grpc_rule_routes(route, &r);
        self.serve_rules(&r, attached, &route_hosts, &rules);
    }

    /// Every match of every rule, with its split and policy.
    fn grpc_rule_routes(&mut self, route: &GrpcRoute, r: &ObjectRef) -> Vec<RuleRoute> {
        let mut out = Vec::new();
        let route_age = age(&route.metadata);
        for (i, rule) in route.spec.rules.iter().flatten().enumerate() {
            let field = format!("spec.rules[{i}]");
            let backends: Vec<BackendRef> = rule.backend_refs.iter().flatten().map(BackendRef::from).collect();
            let (split, resolved) = self.rule_split(r, &field, &backends, RouteKind::Grpc);
            let mut policy = RoutePolicy { upstream_protocol: UpstreamProtocol::H2c, ..RoutePolicy::default() };
            if !self.apply_backend_tls(r, &field, &resolved, &mut policy) {
                continue;
            }
            let mut refused = false;
            for (k, f) in rule.filters.iter().flatten().enumerate() {
                let at = format!("{field}.filters[{k}]");
                if let Err(message) = self.grpc_filter(r, &at, f, &mut policy) {
                    self.diags.push(Diagnostic::error(r.clone(), at, format!("{message}; this rule is not served")));
                    refused = true;
                    break;
                }
            }
            if refused {
                continue;
            }
            let policy = RoutePolicy::shared(policy);
            let default_match = [GrpcRouteRulesMatches::default()];
            let matches = match rule.matches.as_deref() {
                Some(m) if !m.is_empty() => m,
                _ => &default_match,
            };
            for (k, m) in matches.iter().enumerate() {
                let at = format!("{field}.matches[{k}]");
                match grpc_match(m) {
                    Ok((path, conditions)) => out.push(RuleRoute {
                        order: (route_age.clone(), i, k),
                        path,
                        conditions,
                        split: split.clone(),
                        policy: policy.clone(),
                    }),
                    Err(message) => {
                        self.diags.push(Diagnostic::error(r.clone(), at, format!("{message}; this match is left out")))
                    }
                }
            }
        }
        out
    }

    fn grpc_filter(
        &mut self,
        r: &ObjectRef,
        field: &str,
        f: &GrpcRouteRulesFilters,
        policy: &mut RoutePolicy,
    ) -> Result<(), String> {
        match f.r#type {
            GrpcRouteRulesFiltersType::RequestHeaderModifier => {
                let m = f.request_header_modifier.as_ref().ok_or("requestHeaderModifier is required")?;
                policy.request_headers.extend(modifier_ops!(m)?);
            }
            GrpcRouteRulesFiltersType::ResponseHeaderModifier => {
                let m = f.response_header_modifier.as_ref().ok_or("responseHeaderModifier is required")?;
                policy.response_headers.extend(modifier_ops!(m)?);
            }
            GrpcRouteRulesFiltersType::RequestMirror => {
                let m = f.request_mirror.as_ref().ok_or("requestMirror is required")?;
                let fraction = m.fraction.as_ref().map(|f| (f.numerator, f.denominator));
                let backend = BackendRef::from(&m.backend_ref);
                policy.mirrors.extend(self.request_mirror(
                    r,
                    field,
                    (RouteKind::Grpc, &backend),
                    (m.percent, fraction),
                )?);
            }
            GrpcRouteRulesFiltersType::ExtensionRef => return Err("ExtensionRef filters are not supported".into()),
        }
        Ok(())
    }
}

/// A match's path and header conditions.
fn grpc_match(m: &GrpcRouteRulesMatches) -> Result<(PathMatch, Option<Box<RequestConditions>>), String> {
    let path = match &m.method {
        Some(method) => method_path(method)?,
        None => PathMatch::prefix("/"),
    };
    let mut conditions = RequestConditions::default();
    for h in m.headers.iter().flatten() {
        let regex = h.r#type.as_ref().is_some_and(|t| *t == HeaderType::RegularExpression);
        add_value_match(&mut conditions.headers, h.name.to_ascii_lowercase(), &h.value, regex)?;
    }
    let conditions = (conditions != RequestConditions::default()).then(|| Box::new(conditions));
    Ok((path, conditions))
}
