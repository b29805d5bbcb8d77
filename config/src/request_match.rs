use serde::{Deserialize, Serialize};

/// What a request must carry besides its path to take a route (a Gateway
/// API HTTPRoute match's method, headers and query parameters); every
/// condition must hold. This is the reference definition: compiled forms
/// in consumers must agree with [`RequestConditions::matches`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestConditions {
    /// Upper case, as on the request line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Header names lower case (they match whatever their case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ValueMatch>,
    /// Query parameter names as written (they match case-sensitively).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<ValueMatch>,
}

/// A named value: equal to `value`, or, with `regex`, wholly matched by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueMatch {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regex: bool,
}

impl ValueMatch {
    /// The regular expression of a `regex` match: the whole value, anchored.
    pub fn whole_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
    }

    pub fn matches(&self, value: &str) -> bool {
        if self.regex { Self::whole_regex(&self.value).is_ok_and(|r| r.is_match(value)) } else { value == self.value }
    }
}

impl RequestConditions {
    /// Whether a request holds every condition. `header` gives a header's
    /// value by lower-case name (repeated fields joined with `,`); `query` is
    /// the raw query string, whose parameters are percent-decoded, the first
    /// of a repeated name counting.
    pub fn matches<'h>(&self, method: &str, header: impl Fn(&str) -> Option<&'h str>, query: Option<&str>) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        if !self.headers.iter().all(|h| header(&h.name).is_some_and(|v| h.matches(v))) {
            return false;
        }
        self.query.iter().all(|q| first_query_value(query, &q.name).is_some_and(|v| q.matches(&v)))
    }

    /// How many conditions it sets, for the Gateway API's precedence between
    /// matches of equal paths: a method first, then more headers, then more
    /// query parameters.
    pub fn rank(&self) -> (bool, usize, usize) {
        (self.method.is_some(), self.headers.len(), self.query.len())
    }
}

/// The first value of query parameter `name`, percent-decoded.
pub fn first_query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn every_condition_must_hold() {
        let c = RequestConditions {
            method: Some("POST".into()),
            headers: vec![ValueMatch { name: "version".into(), value: "two".into(), regex: false }],
            query: vec![ValueMatch { name: "animal".into(), value: "wha+le".into(), regex: true }],
        };
        let h = [("version", "two")];
        assert!(c.matches("POST", header(&h), Some("animal=whaaale&x=1")));
        assert!(!c.matches("GET", header(&h), Some("animal=whale")));
        assert!(!c.matches("POST", header(&[("version", "one")]), Some("animal=whale")));
        assert!(!c.matches("POST", header(&h), Some("animal=dolphin")));
        // The regex matches the whole value, not a part of it.
        assert!(!c.matches("POST", header(&h), Some("animal=a-whale")));
        assert!(!c.matches("POST", header(&h), None));
        // Names of query parameters are case-sensitive; values are decoded.
        assert!(!c.matches("POST", header(&h), Some("Animal=whale")));
        let decoded = ValueMatch { name: "q".into(), value: "a b".into(), regex: false };
        assert!(RequestConditions { query: vec![decoded], ..Default::default() }.matches(
            "GET",
            header(&[]),
            Some("q=a%20b")
        ));
    }

    #[test]
    fn rank_orders_method_then_headers_then_query() {
        let m = RequestConditions { method: Some("GET".into()), ..Default::default() };
        let h = RequestConditions {
            headers: vec![ValueMatch { name: "a".into(), value: "1".into(), regex: false }; 2],
            ..Default::default()
        };
        assert!(m.rank() > h.rank());
        assert!(h.rank() > RequestConditions::default().rank());
    }
}
