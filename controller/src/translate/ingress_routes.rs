//! `networking.k8s.io/v1` Ingress into the `ingress` route config.

use super::Translator;
use super::annotations::{CanarySpec, ClusterPolicy, IngressAnnotations};
use super::certificates::Referrer;
use super::route_config::{Builder, HostEntry};
use crate::names::{check_host, check_path};
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress};
use sluice_config::{
    Canary, Diagnostic, HostPattern, ObjectRef, PathKind, PathMatch, Route, RoutePolicy, VirtualHostTls,
};

/// Host used for rules without `host`.
const ANY_HOST: &str = "*";

/// What one Ingress's `tls[]` says: host (or `*`) -> certificate.
struct TlsEntry {
    host: String,
    certificate: Option<String>,
}

impl Translator<'_> {
    /// A canary Ingress: each of its paths joins the route a main Ingress
    /// made for the same host and path.
    pub(super) fn canary_ingress(
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
                // A main regex route is found by its text, as ingress-nginx
                // merges a canary into the location of the same path.
                let same = |x: &PathMatch| *x == path || (x.kind == PathKind::Regex && x.path == raw);
                let Some(route) = entry.routes.iter_mut().find(|x| same(&x.path)) else {
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
                entry.canary_weights.entry(route.path.clone()).or_default().push((spec.weight, spec.total, r.clone()));
            }
        }
    }

    /// A main Ingress: its rules' hosts and paths become routes (what
    /// another object holds already is a diagnostic), its defaultBackend the
    /// hosts' fallback or the route config's default backend.
    pub(super) fn ingress(&mut self, ing: &Ingress, r: &ObjectRef, asked: &IngressAnnotations, b: &mut Builder) {
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
            spec.default_backend.as_ref().map(|db| self.backend_split(r, db, "spec.defaultBackend", &asked.cluster));
        if let Some(split) = &fallback
            && rules.is_empty()
        {
            match &b.default_backend {
                None => b.default_backend = Some((split.clone(), asked.policy.clone(), r.clone())),
                Some((_, _, owner)) => self.diags.push(Diagnostic::warning(
                    r.clone(),
                    "spec.defaultBackend",
                    format!("the default backend is already set by {owner} (older); this one is not used"),
                )),
            }
        }
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("spec.rules[{i}]");
            let Some(host) = self.rule_host(rule.host.as_deref(), r, &field) else { continue };
            let entry = b.hosts.entry(host.clone()).or_default();
            if let Some(split) = &fallback
                && entry.fallback.is_none()
            {
                entry.fallback = Some((split.clone(), asked.policy.clone(), r.clone()));
            }
            let Some(policy) = self.host_policy(&host, &tls, r, asked, entry, &field) else { continue };
            let policy = RoutePolicy::shared(policy);
            if host != ANY_HOST && !host.starts_with("*.") {
                b.aliases.extend(asked.aliases.iter().map(|alias| (alias.clone(), host.clone(), r.clone())));
                if asked.www_redirect {
                    let from = match host.strip_prefix("www.") {
                        Some(bare) => bare.to_owned(),
                        None => format!("www.{host}"),
                    };
                    b.www_redirects.push((from, host.clone(), r.clone()));
                }
            }
            for (j, p) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
                let pf = format!("{field}.http.paths[{j}]");
                let raw = p.path.as_deref().unwrap_or("");
                // ingress-nginx rewrites only when the target differs from the path.
                let policy = if policy.rewrite_target.as_ref().is_some_and(|t| t.as_str() == raw) {
                    RoutePolicy::shared(RoutePolicy { rewrite_target: None, ..(*policy).clone() })
                } else {
                    policy.clone()
                };
                let regex = asked.use_regex || policy.rewrite_target.is_some();
                let Some(path) = self.path_match(p, regex, r, &pf) else { continue };
                if !self.claims.route(&mut self.diags, r, &format!("{pf}.path"), &host, &path) {
                    continue;
                }
                let split = self.backend_split(r, &p.backend, &format!("{pf}.backend"), &asked.cluster);
                if let Some(entry) = b.hosts.get_mut(&host) {
                    entry.routes.push(Route {
                        conditions: None,
                        path,
                        split,
                        canaries: vec![],
                        policy,
                        source: r.clone(),
                    });
                }
            }
        }
    }

    /// A rule's host (`*` when it has none); `None` with an error when it is
    /// not a valid host.
    fn rule_host(&mut self, host: Option<&str>, r: &ObjectRef, field: &str) -> Option<String> {
        let Some(h) = host.filter(|h| !h.is_empty()) else { return Some(ANY_HOST.to_owned()) };
        match check_host(h) {
            Ok(()) => Some(h.to_owned()),
            Err(e) => {
                self.diags.push(Diagnostic::error(r.clone(), format!("{field}.host"), format!("{e}; rule left out")));
                None
            }
        }
    }

    /// The host's TLS settings (certificate, client check, passthrough) and
    /// the policy its routes get; `None` when the host must not be served
    /// (its client-certificate check cannot be set up).
    fn host_policy(
        &mut self,
        host: &str,
        tls: &[TlsEntry],
        r: &ObjectRef,
        asked: &IngressAnnotations,
        entry: &mut HostEntry,
        field: &str,
    ) -> Option<RoutePolicy> {
        let tls_asked = &asked.tls;
        if tls_asked.refuse {
            self.diags.push(Diagnostic::error(
                r.clone(),
                format!("{field}.host"),
                format!("'{host}' is not served: its client-certificate check cannot be set up"),
            ));
            return None;
        }
        let has_tls = self.attach_tls(host, tls, r, entry);
        let mut policy = asked.policy.clone();
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
                    let t = VirtualHostTls { passthrough: true, ..VirtualHostTls::default() };
                    entry.tls = Some((t, r.clone()));
                }
            }
            policy.ssl_redirect = tls_asked.force_ssl_redirect;
        }
        Some(policy)
    }

    /// A path rule's match by its pathType, or as an nginx regex location
    /// (`regex`); `None` with an error when the path or its type is unusable.
    fn path_match(&mut self, p: &HTTPIngressPath, regex: bool, r: &ObjectRef, pf: &str) -> Option<PathMatch> {
        let raw = p.path.as_deref().unwrap_or("");
        let refuse = |field: &str, message: String| Diagnostic::error(r.clone(), format!("{pf}.{field}"), message);
        match p.path_type.as_str() {
            "Exact" | "Prefix" | "ImplementationSpecific" if regex => {
                if !raw.starts_with('/') {
                    self.diags.push(refuse("path", format!("'{raw}' must start with '/'; path left out")));
                    return None;
                }
                if let Err(e) = PathMatch::location_regex(raw) {
                    let message = format!("'{raw}' is not a regular expression Sluice can match ({e}); path left out");
                    self.diags.push(refuse("path", message));
                    return None;
                }
                Some(PathMatch::regex(raw))
            }
            "Exact" | "Prefix" => {
                if let Err(e) = check_path(raw) {
                    self.diags.push(refuse("path", format!("{e}; path left out")));
                    return None;
                }
                Some(if p.path_type == "Exact" { PathMatch::exact(raw) } else { PathMatch::prefix(raw) })
            }
            "ImplementationSpecific" => {
                if !raw.is_empty() && !raw.starts_with('/') {
                    self.diags.push(refuse(
                        "path",
                        format!("'{raw}' must be an absolute path (start with '/'); path left out"),
                    ));
                    return None;
                }
                Some(PathMatch::prefix(raw))
            }
            "" => {
                self.diags.push(refuse(
                    "pathType",
                    "required (Exact, Prefix or ImplementationSpecific); path left out".into(),
                ));
                None
            }
            other => {
                self.diags.push(refuse(
                    "pathType",
                    format!("'{other}' is not Exact, Prefix or ImplementationSpecific; path left out"),
                ));
                None
            }
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
        let wanted = VirtualHostTls { certificate: t.certificate.clone(), ..VirtualHostTls::default() };
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
