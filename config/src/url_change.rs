//! Gateway API URL changes: a redirect built from the request's own URL
//! (RequestRedirect) and a path replaced before the request goes upstream
//! (URLRewrite). These are the reference definitions; the proxy calls them.

use crate::{PathKind, PathMatch};
use serde::{Deserialize, Serialize};

/// How a filter replaces a request's path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PathModifier {
    /// The whole path (`ReplaceFullPath`).
    Full(String),
    /// The part the route's prefix matched, whole path elements
    /// (`ReplacePrefixMatch`).
    Prefix(String),
}

impl PathModifier {
    /// The new path of `path` (without query), which the route's `matched`
    /// rule took.
    pub fn apply(&self, matched: &PathMatch, path: &str) -> String {
        let new = match self {
            PathModifier::Full(full) => full.clone(),
            PathModifier::Prefix(replacement) => {
                let prefix = match matched.kind {
                    PathKind::Prefix if matched.path == "/" => "",
                    PathKind::Prefix => matched.path.as_str(),
                    _ => path,
                };
                let rest = path.get(prefix.len()..).unwrap_or("");
                format!("{}{rest}", replacement.trim_end_matches('/'))
            }
        };
        if new.starts_with('/') { new } else { format!("/{new}") }
    }

    /// `apply`, with the request's query kept.
    pub fn apply_with_query(&self, matched: &PathMatch, path: &str, query: Option<&str>) -> String {
        with_query(self.apply(matched, path), query)
    }
}

/// A redirect to the request's own URL with some parts replaced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlRedirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathModifier>,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
    /// The port of the listener the route is served on: the redirect's
    /// port when neither `port` nor `scheme` is given.
    pub listener_port: u16,
}

impl UrlRedirect {
    /// The `Location` for a request of `scheme` to `host` (without its
    /// port) at `path` and `query`, which the route's `matched` rule took.
    /// The port is left out where it is the scheme's own.
    pub fn location(&self, scheme: &str, host: &str, path: &str, query: Option<&str>, matched: &PathMatch) -> String {
        let scheme = self.scheme.as_deref().unwrap_or(scheme);
        let host = self.hostname.as_deref().unwrap_or(host);
        let port = match (self.port, &self.scheme) {
            (Some(p), _) => p,
            (None, Some(s)) if s == "https" => 443,
            (None, Some(s)) if s == "http" => 80,
            _ => self.listener_port,
        };
        let well_known = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
        let path = match &self.path {
            Some(m) => m.apply_with_query(matched, path, query),
            None => with_query(path.to_owned(), query),
        };
        if well_known { format!("{scheme}://{host}{path}") } else { format!("{scheme}://{host}:{port}{path}") }
    }
}

fn with_query(path: String, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of the Gateway API's `HTTPPathModifier` documentation.
    #[test]
    fn replace_prefix_match_table() {
        let cases = [
            ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
            ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
            ("/foo/bar", "/foo/", "/xyz", "/xyz/bar"),
            ("/foo/bar", "/foo/", "/xyz/", "/xyz/bar"),
            ("/foo", "/foo", "/xyz", "/xyz"),
            ("/foo/", "/foo", "/xyz", "/xyz/"),
            ("/foo/bar", "/foo", "", "/bar"),
            ("/foo/", "/foo", "", "/"),
            ("/foo", "/foo", "", "/"),
            ("/foo/", "/foo", "/", "/"),
            ("/foo", "/foo", "/", "/"),
        ];
        for (path, prefix, replacement, want) in cases {
            let m = PathModifier::Prefix(replacement.into());
            assert_eq!(m.apply(&PathMatch::prefix(prefix), path), want, "{path} {prefix} {replacement}");
        }
        assert_eq!(PathModifier::Full("/one".into()).apply(&PathMatch::prefix("/full"), "/full/x"), "/one");
    }

    #[test]
    fn redirect_ports_follow_the_scheme_or_the_listener() {
        let r = |scheme: Option<&str>, port: Option<u16>| UrlRedirect {
            scheme: scheme.map(Into::into),
            hostname: Some("example.org".into()),
            port,
            path: None,
            status: 302,
            listener_port: 8080,
        };
        let m = PathMatch::prefix("/");
        assert_eq!(r(None, None).location("http", "a", "/x", Some("q=1"), &m), "http://example.org:8080/x?q=1");
        assert_eq!(r(Some("https"), None).location("http", "a", "/", None, &m), "https://example.org/");
        assert_eq!(r(Some("http"), Some(8443)).location("http", "a", "/", None, &m), "http://example.org:8443/");
        assert_eq!(r(None, Some(80)).location("http", "a", "/", None, &m), "http://example.org/");
        let keep_host = UrlRedirect { hostname: None, ..r(None, None) };
        assert_eq!(keep_host.location("http", "b.com", "/", None, &m), "http://b.com:8080/");
    }
}
