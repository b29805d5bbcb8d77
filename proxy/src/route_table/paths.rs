//! Path selection within one virtual host, on a `matchit` radix tree.
//!
//! An Exact rule `P` is the static route `P`; a Prefix rule `P` is `P`, `P/`
//! and the catch-all `P/{*rest}` (the element-wise prefix of Kubernetes).
//! Static routes beat catch-alls and deeper catch-alls beat shallower ones,
//! which is "longest match wins"; an Exact and a Prefix rule on one path share
//! the static route and keep their precedence order (Exact first).

use sluice_config::{PathKind, Route};
use std::collections::BTreeMap;

#[derive(Debug)]
pub(super) struct PathRouter {
    router: matchit::Router<Vec<usize>>,
    /// The rule each route index holds, to confirm a match.
    rules: Vec<sluice_config::PathMatch>,
}

/// matchit treats `{` and `}` as parameter syntax; literal ones are doubled.
fn escape(path: &str) -> String {
    path.replace('{', "{{").replace('}', "}}")
}

impl PathRouter {
    /// `routes` are in precedence order, as the Snapshot keeps them.
    pub(super) fn compile(routes: &[Route]) -> Result<Self, String> {
        let mut patterns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in routes.iter().enumerate() {
            let p = escape(&r.path.path);
            match r.path.kind {
                PathKind::Exact => patterns.entry(p).or_default().push(i),
                PathKind::Prefix if r.path.path == "/" => {
                    patterns.entry("/".into()).or_default().push(i);
                    patterns.entry("/{*rest}".into()).or_default().push(i);
                }
                PathKind::Prefix => {
                    patterns.entry(format!("{p}/")).or_default().push(i);
                    patterns.entry(format!("{p}/{{*rest}}")).or_default().push(i);
                    patterns.entry(p).or_default().push(i);
                }
            }
        }
        let mut router = matchit::Router::new();
        for (pattern, mut indices) in patterns {
            indices.sort_unstable();
            router.insert(pattern.clone(), indices).map_err(|e| format!("path pattern {pattern}: {e}"))?;
        }
        Ok(Self { router, rules: routes.iter().map(|r| r.path.clone()).collect() })
    }

    /// The index of the winning route.
    pub(super) fn find(&self, path: &str) -> Option<usize> {
        let m = self.router.at(path).ok()?;
        m.value.iter().copied().find(|i| self.rules[*i].matches(path))
    }
}
