use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PathKind {
    Exact,
    /// Kubernetes element-wise prefix: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    Prefix,
    /// An nginx regex location as ingress-nginx writes it (`location ~*
    /// "^path"`): case-insensitive, anchored at the start only. Every path
    /// of a host is one once any Ingress of the host asks for `use-regex` or
    /// `rewrite-target`; the first match in precedence order wins.
    Regex,
    /// A Gateway API `RegularExpression` path: the whole path must match,
    /// case-sensitively (as Envoy and the other Gateway implementations
    /// built on RE2 do).
    WholeRegex,
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

    /// A whole-path regular expression; see [`PathKind::WholeRegex`].
    pub fn whole_regex(path: impl Into<String>) -> Self {
        Self { kind: PathKind::WholeRegex, path: path.into() }
    }

    /// A regex location; see [`PathKind::Regex`].
    pub fn regex(path: impl Into<String>) -> Self {
        Self { kind: PathKind::Regex, path: path.into() }
    }

    /// The regular expression a [`PathKind::Regex`] rule matches with: its
    /// path anchored at the start, case-insensitive. `Err` when the path is
    /// not a regular expression this engine takes (nginx's PCRE also has
    /// look-around and back-references; they are refused, not approximated).
    pub fn location_regex(path: &str) -> Result<regex::Regex, regex::Error> {
        regex::RegexBuilder::new(&format!("^{path}")).case_insensitive(true).build()
    }

    /// Whether a request path (without query string) matches this rule.
    pub fn matches(&self, request_path: &str) -> bool {
        match self.kind {
            PathKind::Regex => Self::location_regex(&self.path).is_ok_and(|r| r.is_match(request_path)),
            PathKind::WholeRegex => crate::ValueMatch::whole_regex(&self.path).is_ok_and(|r| r.is_match(request_path)),
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
    /// the longest match. Regex rules of equal length go in reverse text
    /// order, as ingress-nginx writes its locations.
    pub fn precedence(&self, other: &Self) -> Ordering {
        let by_text = if self.kind == PathKind::Regex && other.kind == PathKind::Regex {
            other.path.cmp(&self.path)
        } else {
            self.path.cmp(&other.path)
        };
        other.path.len().cmp(&self.path.len()).then(self.kind.cmp(&other.kind)).then(by_text)
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

    /// ingress-nginx's regex locations: `~* "^path"`.
    #[test]
    fn regex_locations_are_anchored_at_the_start_and_ignore_case() {
        let rule = PathMatch::regex("/api/v[0-9]+");
        assert!(rule.matches("/api/v2/users"));
        assert!(rule.matches("/API/V2"));
        assert!(!rule.matches("/x/api/v2"));
        // An Exact or Prefix path of a regex host is a prefix regex too.
        assert!(PathMatch::regex("/foo").matches("/foobar"));
        assert!(!PathMatch::regex("/foo(").matches("/foo("));
        assert!(PathMatch::location_regex("/(?=x)").is_err());
    }

    #[test]
    fn regex_precedence_is_longest_then_reverse_text() {
        let mut rules = [PathMatch::regex("/foo"), PathMatch::regex("/foo."), PathMatch::regex("/foo/")];
        rules.sort_by(PathMatch::precedence);
        assert_eq!(rules, [PathMatch::regex("/foo/"), PathMatch::regex("/foo."), PathMatch::regex("/foo")]);
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
