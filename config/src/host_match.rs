/// The host part of a virtual host, with the Kubernetes Ingress semantics.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// A full host name, lower case.
    Exact(String),
    /// `*.example.com`: exactly one extra DNS label (`a.example.com`, not
    /// `a.b.example.com`, not `example.com`). Holds the suffix `.example.com`.
    Wildcard(String),
    /// A rule without host: any Host.
    Any,
}

impl HostPattern {
    /// Reads the `host` of a virtual host as stored in the Snapshot (`*` = any).
    pub fn parse(host: &str) -> Self {
        if host.is_empty() || host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix('*') {
            HostPattern::Wildcard(suffix.to_ascii_lowercase())
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        }
    }

    /// Whether a request's host (already without port, any case) matches.
    pub fn matches(&self, host: &str) -> bool {
        self.matches_at_depth(host, false)
    }

    /// [`HostPattern::matches`], where with `any_depth` a wildcard covers
    /// any number of labels before its suffix (Gateway API hostnames:
    /// `*.example.com` covers `a.b.example.com`).
    pub fn matches_at_depth(&self, host: &str, any_depth: bool) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
            HostPattern::Wildcard(suffix) => {
                host.len() > suffix.len()
                    && host.is_char_boundary(host.len() - suffix.len())
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                    && !host[..host.len() - suffix.len()].starts_with('.')
                    && (any_depth || !host[..host.len() - suffix.len()].contains('.'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let w = HostPattern::parse("*.foo.com");
        assert!(w.matches("bar.foo.com"));
        assert!(w.matches("BAR.Foo.com"));
        assert!(!w.matches("baz.bar.foo.com"));
        assert!(!w.matches("foo.com"));
        assert!(!w.matches(".foo.com"));
    }

    #[test]
    fn gateway_wildcards_cover_any_depth() {
        let w = HostPattern::parse("*.foo.com");
        assert!(w.matches_at_depth("baz.bar.foo.com", true));
        assert!(w.matches_at_depth("bar.foo.com", true));
        assert!(!w.matches_at_depth("foo.com", true));
        assert!(!w.matches_at_depth(".foo.com", true));
    }

    #[test]
    fn exact_and_any() {
        assert!(HostPattern::parse("Foo.com").matches("foo.COM"));
        assert!(!HostPattern::parse("foo.com").matches("www.foo.com"));
        assert!(HostPattern::parse("*").matches("whatever"));
    }
}
