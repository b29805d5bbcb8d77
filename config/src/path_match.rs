use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PathKind {
    Exact,
    /// Kubernetes element-wise prefix: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    Prefix,
}

/// A path rule with the Kubernetes Ingress semantics. This is the reference
/// definition: compiled forms in consumers must agree with [`PathMatch::matches`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PathMatch {
    pub kind: PathKind,
    /// Absolute path; for `Prefix` stored without a trailing `/` (except the root).
    pub path: String,
}

impl PathMatch {
    pub fn exact(path: impl Into<String>) -> Self {
        Self { kind: PathKind::Exact, path: path.into() }
    }

    /// A prefix rule; a trailing `/` is ignored, as Kubernetes specifies.
    pub fn prefix(path: &str) -> Self {
        let trimmed = path.trim_end_matches('/');
        let path = if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() };
        Self { kind: PathKind::Prefix, path }
    }

    /// Whether a request path (without query string) matches this rule.
    pub fn matches(&self, request_path: &str) -> bool {
        match self.kind {
            PathKind::Exact => request_path == self.path,
            PathKind::Prefix => {
                if self.path == "/" {
                    return request_path.starts_with('/');
                }
                match request_path.strip_prefix(self.path.as_str()) {
                    Some(rest) => rest.is_empty() || rest.starts_with('/'),
                    None => false,
                }
            }
        }
    }

    /// Precedence among rules of one host: the longest path first; at equal
    /// length `Exact` before `Prefix`. The first matching rule in this order is
    /// the longest match.
    pub fn precedence(&self, other: &Self) -> Ordering {
        other.path.len().cmp(&self.path.len()).then(self.kind.cmp(&other.kind)).then_with(|| self.path.cmp(&other.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples table of the Kubernetes Ingress documentation.
    #[test]
    fn kubernetes_examples_table() {
        let cases: &[(PathMatch, &str, bool)] = &[
            (PathMatch::prefix("/"), "/anything/at/all", true),
            (PathMatch::exact("/foo"), "/foo", true),
            (PathMatch::exact("/foo"), "/bar", false),
            (PathMatch::exact("/foo"), "/foo/", false),
            (PathMatch::exact("/foo/"), "/foo", false),
            (PathMatch::prefix("/foo"), "/foo", true),
            (PathMatch::prefix("/foo"), "/foo/", true),
            (PathMatch::prefix("/foo/"), "/foo", true),
            (PathMatch::prefix("/foo/"), "/foo/", true),
            (PathMatch::prefix("/aaa/bb"), "/aaa/bbb", false),
            (PathMatch::prefix("/aaa/bbb"), "/aaa/bbb", true),
            (PathMatch::prefix("/aaa/bbb/"), "/aaa/bbb", true),
            (PathMatch::prefix("/aaa/bbb"), "/aaa/bbb/", true),
            (PathMatch::prefix("/aaa/bbb"), "/aaa/bbb/ccc", true),
            (PathMatch::prefix("/aaa/bbb"), "/aaa/bbbxyz", false),
            (PathMatch::prefix("/aaa"), "/ccc", false),
            (PathMatch::prefix("/foo"), "/foobar", false),
        ];
        for (rule, request, expected) in cases {
            assert_eq!(rule.matches(request), *expected, "{rule:?} vs {request}");
        }
    }

    #[test]
    fn precedence_orders_longest_first_then_exact() {
        let mut rules = [
            PathMatch::prefix("/"),
            PathMatch::prefix("/foo"),
            PathMatch::exact("/foo"),
            PathMatch::prefix("/foo/bar"),
        ];
        rules.sort_by(PathMatch::precedence);
        assert_eq!(
            rules,
            [
                PathMatch::prefix("/foo/bar"),
                PathMatch::exact("/foo"),
                PathMatch::prefix("/foo"),
                PathMatch::prefix("/"),
            ]
        );
    }
}
