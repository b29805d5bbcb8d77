//! The seed BCS ingress's HTTP rules into routes of the shared route
//! config: a host with its first path only (the seed's constraint), split
//! between Services by their weights as shares of traffic (bcs.md §2).

use super::Translator;
use super::route_config::Builder;
use crate::bcs::SeedIngress;
use crate::names::check_host;
use sluice_config::{Diagnostic, ObjectRef, PathMatch, Route};

impl Translator<'_> {
    /// The routes of the seed's HTTP rules, each claimed in the shared route config.
    pub(super) fn seed_http_rules(&mut self, seed: &SeedIngress, r: &ObjectRef, b: &mut Builder) {
        for (i, rule) in seed.spec.rules.iter().enumerate() {
            if rule.effective_kind().as_deref() != Some("HTTP") {
                continue;
            }
            let (http, hf) = match (&rule.http_ingress, &rule.http) {
                (Some(h), _) => (h, format!("spec.rules[{i}].httpIngress")),
                (None, Some(h)) => (h, format!("spec.rules[{i}].http")),
                (None, None) => {
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("spec.rules[{i}].httpIngress"),
                        "required for kind HTTP",
                    ));
                    continue;
                }
            };
            let Some(host) = http.host.clone().or_else(|| rule.host.clone()).filter(|h| !h.is_empty()) else {
                self.diags.push(Diagnostic::error(r.clone(), format!("{hf}.host"), "required: the domain to balance"));
                continue;
            };
            if let Err(e) = check_host(&host) {
                self.diags.push(Diagnostic::error(r.clone(), format!("{hf}.host"), format!("{e}; rule left out")));
                continue;
            }
            let Some(first) = http.paths.first() else {
                self.diags.push(Diagnostic::error(r.clone(), format!("{hf}.paths"), "needs one path"));
                continue;
            };
            if http.paths.len() > 1 {
                let ignored: Vec<String> = http.paths[1..].iter().map(|p| p.path.clone().unwrap_or_default()).collect();
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("{hf}.paths[1]"),
                    format!("only the first path is served, as BCS does; ignored: {}", ignored.join(", ")),
                ));
            }
            let raw = first.path.clone().unwrap_or_else(|| "/".into());
            if !raw.starts_with('/') {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{hf}.paths[0].path"),
                    format!("'{raw}' must start with '/'"),
                ));
                continue;
            }
            let policy = self.seed_balance(rule, r, &format!("spec.rules[{i}]"));
            let split = self.seed_split(r, &first.backend, &format!("{hf}.paths[0].backend"), &policy, "TCP");
            let path = PathMatch::prefix(&raw);
            if self.claims.route(&mut self.diags, r, &format!("{hf}.paths[0].path"), &host, &path) {
                let source = r.clone();
                let route =
                    Route { conditions: None, path, split, canaries: vec![], policy: Default::default(), source };
                b.hosts.entry(host).or_default().routes.push(route);
            }
        }
    }
}
