//! Path selection within one virtual host, on a `matchit` radix tree.
//!
//! An Exact rule `P` is the static route `P`; a Prefix rule `P` is `P`, `P/`
//! and the catch-all `P/{*rest}` (the element-wise prefix of Kubernetes).
//! Static routes beat catch-alls and deeper catch-alls beat shallower ones,
//! which is "longest match wins"; an Exact and a Prefix rule on one path share
//! the static route and keep their precedence order (Exact first).
//!
//! A host whose paths are nginx regex locations is matched as nginx matches
//! them instead: one `RegexSet` over the paths in precedence order, the
//! first match winning.

use sluice_config::{PathKind, Route};
use std::collections::BTreeMap;

#[derive(Debug)]
pub(super) enum PathRouter {
    Tree {
        router: matchit::Router<Vec<usize>>,
        /// The rule each route index holds, to confirm a match.
        rules: Vec<sluice_config::PathMatch>,
    },
    Regex(regex::RegexSet),
}

/// matchit treats `{` and `}` as parameter syntax; literal ones are doubled.
fn escape(path: &str) -> String {
    path.replace('{', "{{").replace('}', "}}")
}

impl PathRouter {
    /// `routes` are in precedence order, as the Snapshot keeps them.
    pub(super) fn compile(routes: &[Route]) -> Result<Self, String> {
        if routes.iter().any(|r| r.path.kind == PathKind::Regex) {
            let patterns = routes.iter().map(|r| format!("^{}", r.path.path));
            let set = regex::RegexSetBuilder::new(patterns).case_insensitive(true).build();
            return set.map(PathRouter::Regex).map_err(|e| format!("regex paths: {e}"));
        }
        let mut patterns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in routes.iter().enumerate() {
            let p = escape(&r.path.path);
            match r.path.kind {
                PathKind::Exact | PathKind::Regex => patterns.entry(p).or_default().push(i),
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
        Ok(PathRouter::Tree { router, rules: routes.iter().map(|r| r.path.clone()).collect() })
    }

    /// The index of the winning route.
    pub(super) fn find(&self, path: &str) -> Option<usize> {
        match self {
            PathRouter::Tree { router, rules } => {
                let m = router.at(path).ok()?;
                m.value.iter().copied().find(|i| rules[*i].matches(path))
            }
            PathRouter::Regex(set) => set.matches(path).iter().next(),
        }
    }
}
