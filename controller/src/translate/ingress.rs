//! `networking.k8s.io/v1` Ingress into the `ingress` route config.

use super::annotations::{CanarySpec, ClusterPolicy, TlsAnnotations};
use super::certificates::Referrer;
use super::order::age;
use super::{INGRESS_ROUTES, Translator, gcd, lcm};
use crate::bcs::SeedIngress;
use crate::names::{check_host, check_path};
use crate::object::{Kind, meta_ref};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use sluice_config::{
    Canary, Diagnostic, HostPattern, ObjectRef, PathMatch, Route, RouteConfig, RoutePolicy, Split, VirtualHost,
    VirtualHostTls, WeightedCluster,
};
use std::collections::{BTreeMap, HashMap};

/// Host used for rules without `host`.
const ANY_HOST: &str = "*";

#[derive(Default)]
struct HostEntry {
    routes: Vec<Route>,
    tls: Option<(VirtualHostTls, ObjectRef)>,
    /// From the `defaultBackend` of the oldest Ingress naming this host:
    /// serves the paths no rule of the host matches (ingress-nginx behaviour).
    fallback: Option<(Split, RoutePolicy, ObjectRef)>,
    /// Canary weights per route path: (weight, total, canary Ingress).
    canary_weights: HashMap<PathMatch, Vec<(u32, u32, ObjectRef)>>,
}

/// What one Ingress's `tls[]` says: host (or `*`) -> certificate.
struct TlsEntry {
    host: String,
    certificate: Option<String>,
}

#[derive(Default)]
struct Builder {
    hosts: BTreeMap<String, HostEntry>,
    default_backend: Option<(Split, RoutePolicy, ObjectRef)>,
}

impl Translator<'_> {
    pub(super) fn ingresses(&mut self) -> RouteConfig {
        // Kubernetes Ingresses and BCS seed ingresses in one age order: where
        // both claim a host and path, the older object keeps it (bcs.md §5).
        enum Source<'s> {
            Ingress(&'s Ingress),
            Seed(&'s SeedIngress),
            Export(&'s crate::store::Key, &'s Service),
            Bcs(&'s crate::bcs::BcsIngress),
        }
        let exported = self.store.services.iter().filter(|(_, s)| {
            s.metadata.labels.as_ref().is_some_and(|l| l.contains_key(super::bcs_export::GROUP_LABEL))
        });
        let mut ordered: Vec<(super::order::AgeKey, Source<'_>)> = self
            .store
            .ingresses
            .values()
            .map(|i| (age(&i.metadata), Source::Ingress(i)))
            .chain(self.store.seed_ingresses.values().map(|s| (age(&s.metadata), Source::Seed(s))))
            .chain(exported.map(|(k, s)| (age(&s.metadata), Source::Export(k, s))))
            .chain(self.store.bcs_ingresses.values().map(|i| (age(&i.metadata), Source::Bcs(i))))
            .collect();
        ordered.sort_by(|a, b| a.0.cmp(&b.0));
        let mut b = Builder::default();
        // Main Ingresses first: a canary attaches to the route a main one made.
        let mut canaries = Vec::new();
        for (_, source) in ordered {
            let ing = match source {
                Source::Ingress(ing) => ing,
                Source::Export(key, svc) => {
                    self.exported_http(key, svc, &mut b);
                    continue;
                }
                Source::Bcs(ing) => {
                    let r = meta_ref(Kind::BcsIngress, &ing.metadata);
                    for route in self.bcs_shared_routes(ing, &r) {
                        if self.claims.route(&mut self.diags, &r, &route.field, &route.host, &route.path) {
                            let entry = b.hosts.entry(route.host).or_default();
                            if entry.tls.is_none() {
                                entry.tls = route.tls.map(|t| (t, r.clone()));
                            }
                            entry.routes.push(Route {
                                path: route.path,
                                split: route.split,
                                canaries: vec![],
                                policy: route.policy,
                                source: r.clone(),
                            });
                        }
                    }
                    continue;
                }
                Source::Seed(seed) => {
                    let r = meta_ref(Kind::SeedIngress, &seed.metadata);
                    if self.seed_is_ours(seed, &r) {
                        self.seed_http_rules(seed, &r, &mut |t, host, path, split, field| {
                            if t.claims.route(&mut t.diags, &r, &field, &host, &path) {
                                b.hosts.entry(host).or_default().routes.push(Route {
                                    path,
                                    split,
                                    canaries: vec![],
                                    policy: RoutePolicy::default(),
                                    source: r.clone(),
                                });
                            }
                        });
                    }
                    continue;
                }
            };
            let r = meta_ref(Kind::Ingress, &ing.metadata);
            if !self.is_ours(ing, &r) {
                continue;
            }
            let annotations = self.annotations(ing, &r);
            match annotations.canary {
                Some(spec) => canaries.push((ing, r, spec, annotations.cluster)),
                None => self.ingress(ing, &r, annotations.policy, &annotations.tls, &annotations.cluster, &mut b),
            }
        }
        for (ing, r, spec, cluster) in canaries {
            self.canary_ingress(ing, &r, &spec, &cluster, &mut b);
        }
        let mut virtual_hosts = Vec::new();
        for (host, mut e) in b.hosts {
            if e.routes.is_empty() && e.fallback.is_none() {
                continue;
            }
            if let Some((split, policy, source)) = e.fallback
                && !e.routes.iter().any(|r| r.path == PathMatch::prefix("/"))
            {
                e.routes.push(Route { path: PathMatch::prefix("/"), split, canaries: vec![], policy, source });
            }
            for route in &mut e.routes {
                if let Some(weights) = e.canary_weights.get(&route.path) {
                    self.fold_canary_weights(route, weights);
                }
            }
            e.routes.sort_by(|a, b| a.path.precedence(&b.path));
            virtual_hosts.push(VirtualHost { host, routes: e.routes, tls: e.tls.map(|(t, _)| t) });
        }
        let (default_backend, default_policy) = match b.default_backend {
            Some((split, policy, _)) => (Some(split), policy),
            None => (None, RoutePolicy::default()),
        };
        RouteConfig { name: INGRESS_ROUTES.into(), virtual_hosts, default_backend, default_policy }
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

    /// A canary Ingress: each of its paths joins the route a main Ingress
    /// made for the same host and path.
    fn canary_ingress(
        &mut self,
        ing: &Ingress,
        r: &ObjectRef,
        spec: &CanarySpec,
        cluster: &ClusterPolicy,
        b: &mut Builder,
    ) {
        let Some(ing_spec) = &ing.spec else { return };
        for (i, rule) in ing_spec.rules.iter().flatten().enumerate() {
            let host = rule.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| ANY_HOST.into());
            for (j, p) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
                let pf = format!("spec.rules[{i}].http.paths[{j}]");
                let raw = p.path.as_deref().unwrap_or("");
                let path = if p.path_type == "Exact" { PathMatch::exact(raw) } else { PathMatch::prefix(raw) };
                let Some(entry) = b.hosts.get_mut(&host) else {
                    self.diags.push(no_main(r, &pf, &host, &path));
                    continue;
                };
                let Some(route) = entry.routes.iter_mut().find(|x| x.path == path) else {
                    self.diags.push(no_main(r, &pf, &host, &path));
                    continue;
                };
                let split = self.backend_split(r, &p.backend, &format!("{pf}.backend"), cluster);
                if split.0.is_empty() {
                    continue;
                }
                route.canaries.push(Canary {
                    split,
                    header: spec.header.clone(),
                    cookie: spec.cookie.clone(),
                    source: r.clone(),
                });
                entry.canary_weights.entry(path).or_default().push((spec.weight, spec.total, r.clone()));
            }
        }
    }

    fn ingress(
        &mut self,
        ing: &Ingress,
        r: &ObjectRef,
        policy: RoutePolicy,
        tls_asked: &TlsAnnotations,
        cluster: &ClusterPolicy,
        b: &mut Builder,
    ) {
        let Some(spec) = &ing.spec else {
            self.diags.push(Diagnostic::error(r.clone(), "spec", "required; the Ingress is left out"));
            return;
        };
        let rules = spec.rules.as_deref().unwrap_or_default();
        if rules.is_empty() && spec.default_backend.is_none() {
            self.diags.push(Diagnostic::error(
                r.clone(),
                "spec",
                "needs rules or a defaultBackend; the Ingress serves nothing",
            ));
            return;
        }

        let tls = self.tls_entries(ing, r);

        let fallback =
            spec.default_backend.as_ref().map(|db| self.backend_split(r, db, "spec.defaultBackend", cluster));
        if let Some(split) = &fallback
            && rules.is_empty()
        {
            match &b.default_backend {
                None => b.default_backend = Some((split.clone(), policy.clone(), r.clone())),
                Some((_, _, owner)) => self.diags.push(Diagnostic::warning(
                    r.clone(),
                    "spec.defaultBackend",
                    format!("the default backend is already set by {owner} (older); this one is not used"),
                )),
            }
        }

        for (i, rule) in rules.iter().enumerate() {
            let field = format!("spec.rules[{i}]");
            let host = match rule.host.as_deref().filter(|h| !h.is_empty()) {
                None => ANY_HOST.to_owned(),
                Some(h) => match check_host(h) {
                    Ok(()) => h.to_owned(),
                    Err(e) => {
                        self.diags.push(Diagnostic::error(
                            r.clone(),
                            format!("{field}.host"),
                            format!("{e}; rule left out"),
                        ));
                        continue;
                    }
                },
            };
            let entry = b.hosts.entry(host.clone()).or_default();
            if let Some(split) = &fallback
                && entry.fallback.is_none()
            {
                entry.fallback = Some((split.clone(), policy.clone(), r.clone()));
            }
            if tls_asked.refuse {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{field}.host"),
                    format!("'{host}' is not served: its client-certificate check cannot be set up"),
                ));
                continue;
            }
            let has_tls = self.attach_tls(&host, &tls, r, entry);
            let mut policy = policy.clone();
            policy.ssl_redirect = tls_asked.force_ssl_redirect || (tls_asked.ssl_redirect && has_tls);
            if let Some((t, owner)) = &mut entry.tls
                && owner == r
                && tls_asked.client_verify.is_some()
            {
                t.client_verify = tls_asked.client_verify.clone();
            }
            if tls_asked.passthrough {
                match &mut entry.tls {
                    Some((t, owner)) if owner == r => t.passthrough = true,
                    Some(_) => {}
                    None => {
                        let t = VirtualHostTls { certificate: None, passthrough: true, client_verify: None };
                        entry.tls = Some((t, r.clone()));
                    }
                }
                policy.ssl_redirect = tls_asked.force_ssl_redirect;
            }

            let Some(http) = &rule.http else { continue };
            for (j, p) in http.paths.iter().enumerate() {
                let pf = format!("{field}.http.paths[{j}]");
                let raw = p.path.as_deref().unwrap_or("");
                let path = match p.path_type.as_str() {
                    "Exact" | "Prefix" => {
                        if let Err(e) = check_path(raw) {
                            self.diags.push(Diagnostic::error(
                                r.clone(),
                                format!("{pf}.path"),
                                format!("{e}; path left out"),
                            ));
                            continue;
                        }
                        if p.path_type == "Exact" { PathMatch::exact(raw) } else { PathMatch::prefix(raw) }
                    }
                    "ImplementationSpecific" => {
                        if !raw.is_empty() && !raw.starts_with('/') {
                            self.diags.push(Diagnostic::error(
                                r.clone(),
                                format!("{pf}.path"),
                                format!("'{raw}' must be an absolute path (start with '/'); path left out"),
                            ));
                            continue;
                        }
                        PathMatch::prefix(raw)
                    }
                    "" => {
                        self.diags.push(Diagnostic::error(
                            r.clone(),
                            format!("{pf}.pathType"),
                            "required (Exact, Prefix or ImplementationSpecific); path left out",
                        ));
                        continue;
                    }
                    other => {
                        self.diags.push(Diagnostic::error(
                            r.clone(),
                            format!("{pf}.pathType"),
                            format!("'{other}' is not Exact, Prefix or ImplementationSpecific; path left out"),
                        ));
                        continue;
                    }
                };
                if !self.claims.route(&mut self.diags, r, &format!("{pf}.path"), &host, &path) {
                    continue;
                }
                let split = self.backend_split(r, &p.backend, &format!("{pf}.backend"), cluster);
                if let Some(entry) = b.hosts.get_mut(&host) {
                    entry.routes.push(Route {
                        path,
                        split,
                        canaries: vec![],
                        policy: policy.clone(),
                        source: r.clone(),
                    });
                }
            }
        }
    }

    /// The HTTP ports of a BCS-exported Service: its domain, path `/`.
    fn exported_http(&mut self, key: &crate::store::Key, svc: &Service, b: &mut Builder) {
        let r = meta_ref(Kind::Service, &svc.metadata);
        let Some(export) = self.export_of(key, svc, &r) else { return };
        let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
        for (i, port) in ports.iter().enumerate() {
            if !super::bcs_export::is_http_port(port) {
                continue;
            }
            let domain = svc.metadata.annotations.as_ref().and_then(|a| a.get(super::bcs_export::DOMAIN_ANNOTATION));
            let Some(domain) = domain.filter(|d| !d.is_empty()).cloned() else {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("metadata.annotations[{}]", super::bcs_export::DOMAIN_ANNOTATION),
                    format!("required: the host exported HTTP port {} is served on", port.port),
                ));
                continue;
            };
            if let Err(e) = check_host(&domain) {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("metadata.annotations[{}]", super::bcs_export::DOMAIN_ANNOTATION),
                    e,
                ));
                continue;
            }
            let path = PathMatch::prefix("/");
            if !self.claims.route(&mut self.diags, &r, &format!("spec.ports[{i}]"), &domain, &path) {
                continue;
            }
            let split = match self.clusters.export_cluster(&mut self.diags, key, svc, i, &export) {
                Some(c) => Split::single(c),
                None => Split::default(),
            };
            b.hosts.entry(domain).or_default().routes.push(Route {
                path,
                split,
                canaries: vec![],
                policy: RoutePolicy::default(),
                source: r.clone(),
            });
        }
    }

    fn tls_entries(&mut self, ing: &Ingress, r: &ObjectRef) -> Vec<TlsEntry> {
        let mut out = Vec::new();
        let Some(spec) = &ing.spec else { return out };
        for (i, tls) in spec.tls.iter().flatten().enumerate() {
            let field = format!("spec.tls[{i}]");
            let certificate = tls.secret_name.as_deref().filter(|s| !s.is_empty()).and_then(|s| {
                let field = format!("{field}.secretName");
                self.certs.certificate(&mut self.diags, &r.namespace, s, Referrer { object: r, field: &field })
            });
            let hosts = tls.hosts.as_deref().unwrap_or_default();
            if hosts.is_empty() {
                out.push(TlsEntry { host: ANY_HOST.into(), certificate: certificate.clone() });
            }
            for (j, h) in hosts.iter().enumerate() {
                match check_host(h) {
                    Ok(()) => out.push(TlsEntry { host: h.clone(), certificate: certificate.clone() }),
                    Err(e) => self.diags.push(Diagnostic::error(r.clone(), format!("{field}.hosts[{j}]"), e)),
                }
            }
        }
        out
    }

    /// Marks a rule host as a TLS host when this Ingress's `tls[]` covers it
    /// (same host, a wildcard over it, or a host-less entry for host-less rules).
    /// Gives the host its certificate from `tls`; whether `tls` covers it.
    fn attach_tls(&mut self, host: &str, tls: &[TlsEntry], r: &ObjectRef, entry: &mut HostEntry) -> bool {
        let covering = tls.iter().find(|t| t.host == host).or_else(|| {
            if host == ANY_HOST {
                return None;
            }
            tls.iter().find(|t| t.host.starts_with("*.") && HostPattern::parse(&t.host).matches(host))
        });
        let Some(t) = covering else { return false };
        let wanted = VirtualHostTls { certificate: t.certificate.clone(), passthrough: false, client_verify: None };
        match &entry.tls {
            None => entry.tls = Some((wanted, r.clone())),
            Some((have, owner)) if *have != wanted && owner != r => self.diags.push(Diagnostic::warning(
                r.clone(),
                "spec.tls",
                format!("host '{host}' already takes its certificate from {owner} (older); this one is not used"),
            )),
            Some(_) => {}
        }
        true
    }
}

fn no_main(r: &ObjectRef, field: &str, host: &str, path: &PathMatch) -> Diagnostic {
    Diagnostic::warning(
        r.clone(),
        format!("{field}.path"),
        format!(
            "canary for host '{host}' {:?} path '{}', which no main Ingress serves; a canary needs a main Ingress \
             with the same host and path, so this one is not used",
            path.kind, path.path
        ),
    )
}
