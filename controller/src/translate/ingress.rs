//! `networking.k8s.io/v1` Ingress into the `ingress` route config.

use super::order::age;
use super::{INGRESS_ROUTES, Translator};
use crate::names::{check_host, check_path};
use crate::object::{Kind, meta_ref};
use k8s_openapi::api::networking::v1::Ingress;
use sluice_config::{
    Diagnostic, HostPattern, ObjectRef, PathMatch, Route, RouteConfig, Split, VirtualHost, VirtualHostTls,
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
    fallback: Option<(Split, ObjectRef)>,
}

/// What one Ingress's `tls[]` says: host (or `*`) -> certificate.
struct TlsEntry {
    host: String,
    certificate: Option<String>,
}

#[derive(Default)]
struct Builder {
    hosts: BTreeMap<String, HostEntry>,
    /// `(host, path)` -> the Ingress that holds it.
    claims: HashMap<(String, PathMatch), ObjectRef>,
    default_backend: Option<(Split, ObjectRef)>,
}

impl Translator<'_> {
    pub(super) fn ingresses(&mut self) -> RouteConfig {
        let mut ordered: Vec<&Ingress> = self.store.ingresses.values().collect();
        ordered.sort_by_cached_key(|i| age(&i.metadata));
        let mut b = Builder::default();
        for ing in ordered {
            let r = meta_ref(Kind::Ingress, &ing.metadata);
            if self.is_ours(ing, &r) {
                self.ingress(ing, &r, &mut b);
            }
        }
        let virtual_hosts = b
            .hosts
            .into_iter()
            .filter(|(_, e)| !e.routes.is_empty() || e.fallback.is_some())
            .map(|(host, mut e)| {
                if let Some((split, source)) = e.fallback
                    && !e.routes.iter().any(|r| r.path == PathMatch::prefix("/"))
                {
                    e.routes.push(Route { path: PathMatch::prefix("/"), split, source });
                }
                e.routes.sort_by(|a, b| a.path.precedence(&b.path));
                VirtualHost { host, routes: e.routes, tls: e.tls.map(|(t, _)| t) }
            })
            .collect();
        RouteConfig { name: INGRESS_ROUTES.into(), virtual_hosts, default_backend: b.default_backend.map(|(s, _)| s) }
    }

    fn ingress(&mut self, ing: &Ingress, r: &ObjectRef, b: &mut Builder) {
        let Some(spec) = &ing.spec else {
            self.push(Diagnostic::error(r.clone(), "spec", "required; the Ingress is left out"));
            return;
        };
        let rules = spec.rules.as_deref().unwrap_or_default();
        if rules.is_empty() && spec.default_backend.is_none() {
            self.push(Diagnostic::error(
                r.clone(),
                "spec",
                "needs rules or a defaultBackend; the Ingress serves nothing",
            ));
            return;
        }

        let tls = self.tls_entries(ing, r);

        let fallback = spec.default_backend.as_ref().map(|db| self.backend_split(r, db, "spec.defaultBackend"));
        if let Some(split) = &fallback
            && rules.is_empty()
        {
            match &b.default_backend {
                None => b.default_backend = Some((split.clone(), r.clone())),
                Some((_, owner)) => self.push(Diagnostic::warning(
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
                        self.push(Diagnostic::error(r.clone(), format!("{field}.host"), format!("{e}; rule left out")));
                        continue;
                    }
                },
            };
            let entry = b.hosts.entry(host.clone()).or_default();
            if let Some(split) = &fallback
                && entry.fallback.is_none()
            {
                entry.fallback = Some((split.clone(), r.clone()));
            }
            self.attach_tls(&host, &tls, r, entry);

            let Some(http) = &rule.http else { continue };
            for (j, p) in http.paths.iter().enumerate() {
                let pf = format!("{field}.http.paths[{j}]");
                let raw = p.path.as_deref().unwrap_or("");
                let path = match p.path_type.as_str() {
                    "Exact" | "Prefix" => {
                        if let Err(e) = check_path(raw) {
                            self.push(Diagnostic::error(
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
                            self.push(Diagnostic::error(
                                r.clone(),
                                format!("{pf}.path"),
                                format!("'{raw}' must be an absolute path (start with '/'); path left out"),
                            ));
                            continue;
                        }
                        PathMatch::prefix(raw)
                    }
                    "" => {
                        self.push(Diagnostic::error(
                            r.clone(),
                            format!("{pf}.pathType"),
                            "required (Exact, Prefix or ImplementationSpecific); path left out",
                        ));
                        continue;
                    }
                    other => {
                        self.push(Diagnostic::error(
                            r.clone(),
                            format!("{pf}.pathType"),
                            format!("'{other}' is not Exact, Prefix or ImplementationSpecific; path left out"),
                        ));
                        continue;
                    }
                };
                let claim = (host.clone(), path.clone());
                if let Some(owner) = b.claims.get(&claim) {
                    let message = if owner == r {
                        format!("duplicate of an earlier path of this Ingress for host '{host}'; left out")
                    } else {
                        format!(
                            "host '{host}' {:?} path '{}' is already served by {owner}, which is older and keeps it; \
                             left out",
                            path.kind, path.path
                        )
                    };
                    self.push(Diagnostic::error(r.clone(), format!("{pf}.path"), message));
                    continue;
                }
                let split = self.backend_split(r, &p.backend, &format!("{pf}.backend"));
                b.claims.insert(claim, r.clone());
                if let Some(entry) = b.hosts.get_mut(&host) {
                    entry.routes.push(Route { path, split, source: r.clone() });
                }
            }
        }
    }

    fn tls_entries(&mut self, ing: &Ingress, r: &ObjectRef) -> Vec<TlsEntry> {
        let mut out = Vec::new();
        let Some(spec) = &ing.spec else { return out };
        for (i, tls) in spec.tls.iter().flatten().enumerate() {
            let field = format!("spec.tls[{i}]");
            let certificate = tls
                .secret_name
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|s| self.certificate_for(&r.namespace, s, r, &format!("{field}.secretName")));
            let hosts = tls.hosts.as_deref().unwrap_or_default();
            if hosts.is_empty() {
                out.push(TlsEntry { host: ANY_HOST.into(), certificate: certificate.clone() });
            }
            for (j, h) in hosts.iter().enumerate() {
                match check_host(h) {
                    Ok(()) => out.push(TlsEntry { host: h.clone(), certificate: certificate.clone() }),
                    Err(e) => self.push(Diagnostic::error(r.clone(), format!("{field}.hosts[{j}]"), e)),
                }
            }
        }
        out
    }

    /// Marks a rule host as a TLS host when this Ingress's `tls[]` covers it
    /// (same host, a wildcard over it, or a host-less entry for host-less rules).
    fn attach_tls(&mut self, host: &str, tls: &[TlsEntry], r: &ObjectRef, entry: &mut HostEntry) {
        let covering = tls.iter().find(|t| t.host == host).or_else(|| {
            if host == ANY_HOST {
                return None;
            }
            tls.iter().find(|t| t.host.starts_with("*.") && HostPattern::parse(&t.host).matches(host))
        });
        let Some(t) = covering else { return };
        let wanted = VirtualHostTls { certificate: t.certificate.clone() };
        match &entry.tls {
            None => entry.tls = Some((wanted, r.clone())),
            Some((have, owner)) if *have != wanted && owner != r => self.push(Diagnostic::warning(
                r.clone(),
                "spec.tls",
                format!("host '{host}' already takes its certificate from {owner} (older); this one is not used"),
            )),
            Some(_) => {}
        }
    }
}
