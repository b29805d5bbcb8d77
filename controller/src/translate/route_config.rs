//! The `ingress` route config, served on the shared HTTP and HTTPS
//! listeners, from every source of routes in one age order: Kubernetes
//! Ingresses, seed ingresses, BCS-exported Services and BCS CRD rules on the
//! shared ports. Where two claim a host and path the older object keeps it
//! (bcs.md §5, `claims`).

use super::annotations::{CanarySpec, ClusterPolicy};
use super::bcs_export::GROUP_LABEL;
use super::order::{AgeKey, age};
use super::{INGRESS_ROUTES, Translator, gcd, lcm};
use crate::bcs::{BcsIngress, SeedIngress};
use crate::object::{Kind, meta_ref};
use crate::store::Key;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use sluice_config::{
    Diagnostic, HostRedirect, ObjectRef, PathKind, PathMatch, Route, RouteConfig, RoutePolicy, Split, VirtualHost,
    VirtualHostTls, WeightedCluster,
};
use std::collections::{BTreeMap, HashMap};

/// The hosts of the route config as the sources fill them.
#[derive(Default, Clone)]
pub(super) struct HostEntry {
    pub routes: Vec<Route>,
    pub tls: Option<(VirtualHostTls, ObjectRef)>,
    /// From the `defaultBackend` of the oldest Ingress naming this host:
    /// serves the paths no rule of the host matches (ingress-nginx behaviour).
    pub fallback: Option<(Split, RoutePolicy, ObjectRef)>,
    /// Canary weights per route path: (weight, total, canary Ingress).
    pub canary_weights: HashMap<PathMatch, Vec<(u32, u32, ObjectRef)>>,
}

#[derive(Default)]
pub(super) struct Builder {
    pub hosts: BTreeMap<String, HostEntry>,
    pub default_backend: Option<(Split, RoutePolicy, ObjectRef)>,
    /// `server-alias` names and `from-to-www-redirect` hosts, made once
    /// every rule has its routes: (alias or redirecting host, host, Ingress).
    pub aliases: Vec<(String, String, ObjectRef)>,
    pub www_redirects: Vec<(String, String, ObjectRef)>,
}

/// A source of routes on the shared listeners.
pub(super) enum Source<'s> {
    Ingress(&'s Ingress),
    Seed(&'s SeedIngress),
    Export(&'s Key, &'s Service),
    Bcs(&'s BcsIngress),
}

/// A canary Ingress, kept until every main Ingress has made its routes.
type PendingCanary<'s> = (&'s Ingress, ObjectRef, CanarySpec, ClusterPolicy);

impl<'a> Translator<'a> {
    pub(super) fn ingresses(&mut self) -> RouteConfig {
        let sources = self.route_sources();
        self.routes_of(sources.into_iter().map(|(_, s)| s))
    }

    /// The route config `sources` (oldest first) make.
    pub(super) fn routes_of(&mut self, sources: impl Iterator<Item = Source<'a>>) -> RouteConfig {
        let mut b = Builder::default();
        // Main Ingresses first: a canary attaches to the route a main one made.
        let mut canaries: Vec<PendingCanary<'a>> = Vec::new();
        for source in sources {
            match source {
                Source::Ingress(ing) => {
                    let r = meta_ref(Kind::Ingress, &ing.metadata);
                    if !self.is_ours(ing, &r) {
                        continue;
                    }
                    let annotations = self.annotations(ing, &r);
                    if annotations.refused {
                        continue;
                    }
                    match annotations.canary {
                        Some(spec) => canaries.push((ing, r, spec, annotations.cluster)),
                        None => self.ingress(ing, &r, &annotations, &mut b),
                    }
                }
                Source::Export(key, svc) => self.exported_http(key, svc, &mut b),
                Source::Bcs(ing) => self.add_bcs_shared_routes(ing, &mut b),
                Source::Seed(seed) => {
                    let r = meta_ref(Kind::SeedIngress, &seed.metadata);
                    if self.seed_is_ours(seed, &r) {
                        self.seed_http_rules(seed, &r, &mut b);
                    }
                }
            }
        }
        for (ing, r, spec, cluster) in canaries {
            self.canary_ingress(ing, &r, &spec, &cluster, &mut b);
        }
        self.route_config(b)
    }

    /// Every source of shared routes, oldest first.
    fn route_sources(&self) -> Vec<(AgeKey, Source<'a>)> {
        let store = self.store;
        let exported = store
            .services
            .iter()
            .filter(|(_, s)| s.metadata.labels.as_ref().is_some_and(|l| l.contains_key(GROUP_LABEL)));
        let mut ordered: Vec<(AgeKey, Source<'a>)> = store
            .ingresses
            .values()
            .map(|i| (age(&i.metadata), Source::Ingress(i)))
            .chain(store.seed_ingresses.values().map(|s| (age(&s.metadata), Source::Seed(s))))
            .chain(exported.map(|(k, s)| (age(&s.metadata), Source::Export(k, s))))
            .chain(store.bcs_ingresses.values().map(|i| (age(&i.metadata), Source::Bcs(i))))
            .collect();
        ordered.sort_by(|a, b| a.0.cmp(&b.0));
        ordered
    }

    /// The routes of a BCS CRD's rules on the shared listeners.
    fn add_bcs_shared_routes(&mut self, ing: &BcsIngress, b: &mut Builder) {
        let r = meta_ref(Kind::BcsIngress, &ing.metadata);
        for route in self.bcs_shared_routes(ing, &r) {
            if self.claims.route(&mut self.diags, &r, &route.field, &route.host, &route.path) {
                let entry = b.hosts.entry(route.host).or_default();
                if entry.tls.is_none() {
                    entry.tls = route.tls.map(|t| (t, r.clone()));
                }
                entry.routes.push(Route {
                    conditions: None,
                    path: route.path,
                    split: route.split,
                    canaries: vec![],
                    policy: route.policy,
                    source: r.clone(),
                });
            }
        }
    }

    /// The filled hosts as the route config: each host's fallback as its `/`
    /// route, canary weights folded in, routes in match precedence.
    fn route_config(&mut self, mut b: Builder) -> RouteConfig {
        self.add_aliases(&mut b);
        let mut virtual_hosts = Vec::new();
        for (host, mut e) in b.hosts {
            if e.routes.is_empty() && e.fallback.is_none() {
                continue;
            }
            if let Some((split, policy, source)) = e.fallback
                && !e.routes.iter().any(|r| r.path == PathMatch::prefix("/"))
            {
                e.routes.push(Route {
                    conditions: None,
                    path: PathMatch::prefix("/"),
                    split,
                    canaries: vec![],
                    policy: RoutePolicy::shared(policy),
                    source,
                });
            }
            for route in &mut e.routes {
                if let Some(weights) = e.canary_weights.get(&route.path) {
                    self.fold_canary_weights(route, weights);
                }
            }
            if e.routes.iter().any(|r| r.path.kind == PathKind::Regex) {
                e.routes = self.regex_locations(&host, e.routes);
            }
            e.routes.sort_by(|a, b| a.path.precedence(&b.path));
            self.drop_shadowed(&host, &mut e.routes);
            // Kept until the host changes: without the room pushes left.
            e.routes.shrink_to_fit();
            virtual_hosts.push(std::sync::Arc::new(VirtualHost { host, routes: e.routes, tls: e.tls.map(|(t, _)| t) }));
        }
        let (default_backend, default_policy) = match b.default_backend {
            Some((split, policy, _)) => (Some(split), policy),
            None => (None, RoutePolicy::default()),
        };
        RouteConfig {
            wildcard_any_depth: false,
            name: INGRESS_ROUTES.into(),
            virtual_hosts: virtual_hosts.into(),
            default_backend,
            default_policy,
        }
    }

    /// `server-alias` names serve what their host serves, and
    /// `from-to-www-redirect` hosts redirect (308) to theirs, unless a rule
    /// names them itself (then, as in ingress-nginx, the rule wins and the
    /// alias is named in a warning).
    fn add_aliases(&mut self, b: &mut Builder) {
        for (alias, host, r) in std::mem::take(&mut b.aliases) {
            if b.hosts.contains_key(&alias) {
                self.diags.push(Diagnostic::warning(
                    r,
                    format!("metadata.annotations[{}server-alias]", super::annotations::NGINX),
                    format!("'{alias}' is a host of its own rules; it is not an alias of '{host}'"),
                ));
                continue;
            }
            if let Some(entry) = b.hosts.get(&host).cloned() {
                b.hosts.insert(alias, entry);
            }
        }
        for (from, to, r) in std::mem::take(&mut b.www_redirects) {
            if b.hosts.contains_key(&from) {
                continue;
            }
            let tls = b.hosts.get(&to).and_then(|e| e.tls.clone());
            let policy =
                RoutePolicy { host_redirect: Some(HostRedirect { host: to, status: 308 }), ..RoutePolicy::default() };
            let route = Route {
                conditions: None,
                path: PathMatch::prefix("/"),
                split: Split::default(),
                canaries: vec![],
                policy: policy.into(),
                source: r,
            };
            b.hosts.insert(from, HostEntry { routes: vec![route], tls, ..HostEntry::default() });
        }
    }

    /// Every route of a host that has a regex path, as ingress-nginx writes
    /// such a server: each path a `~* "^path"` location, a Prefix path `P`
    /// as `P/` and, unless an Exact `P` exists, `P` again.
    fn regex_locations(&mut self, host: &str, routes: Vec<Route>) -> Vec<Route> {
        let exact: Vec<String> =
            routes.iter().filter(|r| r.path.kind == PathKind::Exact).map(|r| r.path.path.clone()).collect();
        let mut out = Vec::with_capacity(routes.len() * 2);
        for route in routes {
            let paths = match route.path.kind {
                PathKind::Prefix if route.path.path != "/" => {
                    let slash = format!("{}/", route.path.path);
                    if exact.contains(&route.path.path) { vec![slash] } else { vec![slash, route.path.path.clone()] }
                }
                _ => vec![route.path.path.clone()],
            };
            if let Err(e) = PathMatch::location_regex(&route.path.path) {
                self.diags.push(Diagnostic::error(
                    route.source.clone(),
                    "spec.rules",
                    format!(
                        "host '{host}' matches its paths as regular expressions (an Ingress of it uses regex), and                          path '{}' is not one ({e}); path left out",
                        route.path.path
                    ),
                ));
                continue;
            }
            for path in paths {
                out.push(Route { path: PathMatch::regex(path), ..route.clone() });
            }
        }
        out
    }

    /// Of two regex routes with one path, nginx serves the first; the
    /// other (the newer object's) is named in a warning.
    fn drop_shadowed(&mut self, host: &str, routes: &mut Vec<Route>) {
        let mut kept: Vec<Route> = Vec::with_capacity(routes.len());
        for route in routes.drain(..) {
            match kept.last() {
                Some(last) if last.path == route.path => {
                    if last.source != route.source {
                        self.diags.push(Diagnostic::warning(
                            route.source.clone(),
                            "spec.rules",
                            format!(
                                "host '{host}' path '{}' is served by {} (older) as a regex location; this one is \
                                 not used",
                                route.path.path, last.source
                            ),
                        ));
                    }
                }
                _ => kept.push(route),
            }
        }
        *routes = kept;
    }

    /// Puts the canaries' weights into the route's split: canary `i` gets
    /// `weight_i / total_i` of the requests, the main backend the rest.
    fn fold_canary_weights(&mut self, route: &mut Route, weights: &[(u32, u32, ObjectRef)]) {
        if route.split.0.is_empty() {
            return;
        }
        let lcm = weights.iter().fold(1u64, |acc, (_, total, _)| lcm(acc, u64::from(*total)).min(1_000_000));
        let scaled: Vec<u64> =
            weights.iter().map(|(w, total, _)| u64::from(*w) * lcm / u64::from(*total).max(1)).collect();
        let canary_sum: u64 = scaled.iter().sum();
        if canary_sum > lcm
            && let Some((_, _, newest)) = weights.last()
        {
            self.diags.push(Diagnostic::warning(
                newest.clone(),
                format!("metadata.annotations[{}canary-weight]", super::annotations::NGINX),
                format!(
                    "the canaries of path '{}' ask for more than 100% together; the main backend gets no \
                     weighted share",
                    route.path.path
                ),
            ));
        }
        let main_share = lcm.saturating_sub(canary_sum);
        let main_weight: u64 = route.split.0.iter().map(|w| u64::from(w.weight)).sum::<u64>().max(1);
        let mut split: Vec<(String, u64)> =
            route.split.0.iter().map(|w| (w.cluster.clone(), u64::from(w.weight) * main_share)).collect();
        for (canary, share) in route.canaries.iter().zip(&scaled) {
            for w in &canary.split.0 {
                split.push((w.cluster.clone(), share * main_weight * u64::from(w.weight)));
            }
        }
        let g = split.iter().fold(0u64, |g, (_, w)| gcd(g, *w)).max(1);
        route.split = Split(
            split
                .into_iter()
                .map(|(cluster, w)| WeightedCluster { cluster, weight: u32::try_from(w / g).unwrap_or(u32::MAX) })
                .collect(),
        );
    }
}
