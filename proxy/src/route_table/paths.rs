//! Path selection within one virtual host.
//!
//! A host of a few rules is matched by trying them in precedence order, the
//! first match winning: that is [`PathMatch::matches`]'s own definition of
//! the longest match, and it keeps nothing but the host's routes. A radix
//! tree for each of 10 000 five-path hosts held about 8 kB a host (heaptrack
//! over `benches/memory_stages`).
//!
//! A host of more rules gets a `matchit` radix tree: an Exact rule `P` is
//! the static route `P`; a Prefix rule `P` is `P`, `P/` and the catch-all
//! `P/{*rest}` (the element-wise prefix of Kubernetes). Static routes beat
//! catch-alls and deeper catch-alls beat shallower ones, which is "longest
//! match wins"; an Exact and a Prefix rule on one path share the static
//! route and keep their precedence order (Exact first).
//!
//! A host whose paths are nginx regex locations is matched as nginx matches
//! them instead: one `RegexSet` over the paths in precedence order, the
//! first match winning.
//!
//! A host with Gateway API matches (method, headers, query parameters, a
//! whole-path regex) tries each route's compiled match in precedence
//! order, whatever their number: a failed condition falls through to the
//! next route, which a tree of paths alone cannot do.
//!
//! [`PathMatch::matches`]: sluice_config::PathMatch::matches

use super::request_matcher::RequestMatcher;
use http::request::Parts;
use sluice_config::{PathKind, Route};
use std::collections::BTreeMap;

/// The most rules a host is matched by trying each in turn.
const SCAN_MAX: usize = 8;

#[derive(Debug)]
pub(super) enum PathRouter {
    /// Each rule in precedence order.
    Scan,
    /// The candidate routes (indices, in precedence order) of each pattern;
    /// a candidate's own rule confirms the match.
    Tree(matchit::Router<Box<[u32]>>),
    Regex(regex::RegexSet),
    /// Each route's compiled match, in precedence order.
    Requests(Box<[RequestMatcher]>),
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
        if routes.iter().any(|r| r.conditions.is_some() || r.path.kind == PathKind::WholeRegex) {
            return routes.iter().map(RequestMatcher::compile).collect::<Result<_, _>>().map(PathRouter::Requests);
        }
        if routes.len() <= SCAN_MAX {
            return Ok(PathRouter::Scan);
        }
        Self::tree(routes)
    }

    /// The radix tree over `routes`, whatever their number.
    pub(super) fn tree(routes: &[Route]) -> Result<Self, String> {
        let mut patterns: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (i, r) in (0u32..).zip(routes) {
            let p = escape(&r.path.path);
            match r.path.kind {
                PathKind::Exact | PathKind::Regex | PathKind::WholeRegex => patterns.entry(p).or_default().push(i),
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
            router.insert(pattern.clone(), indices.into()).map_err(|e| format!("path pattern {pattern}: {e}"))?;
        }
        Ok(PathRouter::Tree(router))
    }

    /// The index of the winning route among `routes`, the ones this was
    /// compiled from. `request` is asked only by routes with conditions.
    pub(super) fn find(&self, routes: &[Route], path: &str, request: Option<&Parts>) -> Option<usize> {
        match self {
            PathRouter::Scan => routes.iter().position(|r| r.path.matches(path)),
            PathRouter::Tree(router) => {
                let m = router.at(path).ok()?;
                m.value.iter().map(|i| *i as usize).find(|i| routes[*i].path.matches(path))
            }
            PathRouter::Regex(set) => set.matches(path).iter().next(),
            PathRouter::Requests(matchers) => {
                matchers.iter().zip(routes).position(|(m, r)| m.matches(r, path, request))
            }
        }
    }
}
