//! A route's whole match compiled once: its path (a whole-path regex
//! compiled here) and its request conditions (Gateway API method, header
//! and query parameter matches). Agrees with `PathMatch::matches` and
//! `RequestConditions::matches`, the reference definitions.

use http::request::Parts;
use sluice_config::{PathKind, RequestConditions, Route, ValueMatch, first_query_value};

#[derive(Debug)]
pub(super) struct RequestMatcher {
    /// `None`: the route's own rule (no regex to compile).
    whole_path: Option<regex::Regex>,
    method: Option<http::Method>,
    headers: Box<[(http::HeaderName, ValueTest)]>,
    query: Box<[(Box<str>, ValueTest)]>,
}

#[derive(Debug)]
enum ValueTest {
    Exact(Box<str>),
    Regex(regex::Regex),
}

impl ValueTest {
    fn compile(v: &ValueMatch) -> Result<Self, String> {
        if v.regex {
            ValueMatch::whole_regex(&v.value).map(ValueTest::Regex).map_err(|e| format!("{}: {e}", v.name))
        } else {
            Ok(ValueTest::Exact(v.value.as_str().into()))
        }
    }

    fn test(&self, value: &str) -> bool {
        match self {
            ValueTest::Exact(want) => value == &**want,
            ValueTest::Regex(r) => r.is_match(value),
        }
    }
}

impl RequestMatcher {
    pub(super) fn compile(route: &Route) -> Result<Self, String> {
        let whole_path = match route.path.kind {
            PathKind::WholeRegex => {
                Some(ValueMatch::whole_regex(&route.path.path).map_err(|e| format!("path {}: {e}", route.path.path))?)
            }
            _ => None,
        };
        let none = RequestConditions::default();
        let c = route.conditions.as_deref().unwrap_or(&none);
        let method = match &c.method {
            Some(m) => Some(http::Method::from_bytes(m.as_bytes()).map_err(|e| format!("method {m}: {e}"))?),
            None => None,
        };
        let headers = c
            .headers
            .iter()
            .map(|h| {
                let name =
                    http::HeaderName::from_bytes(h.name.as_bytes()).map_err(|e| format!("header {}: {e}", h.name))?;
                Ok((name, ValueTest::compile(h)?))
            })
            .collect::<Result<_, String>>()?;
        let query = c
            .query
            .iter()
            .map(|q| Ok((q.name.as_str().into(), ValueTest::compile(q)?)))
            .collect::<Result<_, String>>()?;
        Ok(RequestMatcher { whole_path, method, headers, query })
    }

    /// Whether a request takes `route` (the one this was compiled from).
    /// Without a request (a TLS passthrough choice by SNI) only a route
    /// without conditions can.
    pub(super) fn matches(&self, route: &Route, path: &str, request: Option<&Parts>) -> bool {
        let path_holds = match &self.whole_path {
            Some(r) => r.is_match(path),
            None => route.path.matches(path),
        };
        if !path_holds {
            return false;
        }
        if route.conditions.is_none() {
            return true;
        }
        let Some(req) = request else { return false };
        if self.method.as_ref().is_some_and(|m| *m != req.method) {
            return false;
        }
        let header_holds = |(name, test): &(http::HeaderName, ValueTest)| {
            let mut values = req.headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
            let Some(first) = values.next() else { return false };
            match values.next() {
                None => test.test(first),
                // Repeated fields count as one, joined (RFC 9110 §5.3).
                Some(second) => {
                    let joined = [first, second].into_iter().chain(values).collect::<Vec<_>>().join(",");
                    test.test(&joined)
                }
            }
        };
        if !self.headers.iter().all(header_holds) {
            return false;
        }
        let query = req.uri.query();
        self.query.iter().all(|(name, test)| first_query_value(query, name).is_some_and(|v| test.test(&v)))
    }
}
