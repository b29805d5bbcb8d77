//! Cross-origin answers: ingress-nginx `enable-cors` and its `cors-*`
//! annotations, and the Gateway API's CORS filter.

use serde::{Deserialize, Serialize};

/// What a route answers cross-origin requests with. Defaults are
/// ingress-nginx's; `spec` says whose rules the rest follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cors {
    /// Origins let in (`https://a.example.com`, `https://*.example.com`,
    /// `null`); `None`: any (`*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    pub allow_methods: String,
    pub allow_headers: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expose_headers: String,
    pub allow_credentials: bool,
    pub max_age_seconds: u64,
    #[serde(skip_serializing_if = "CorsSpec::is_ingress_nginx")]
    pub spec: CorsSpec,
}

/// Whose CORS rules a route follows where ingress-nginx and the Gateway API
/// differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CorsSpec {
    /// `*` in an origin stands for one label; every request gets the
    /// headers (`*` as the origin when any is let in).
    #[default]
    IngressNginx,
    /// `*` in an origin stands for any number of labels; only requests
    /// with an `Origin` get the headers; with credentials allowed, `*`
    /// (origins, methods, headers) answers with what the request sent, as
    /// browsers refuse a credentialed `*`.
    GatewayApi,
}

impl CorsSpec {
    fn is_ingress_nginx(&self) -> bool {
        *self == CorsSpec::IngressNginx
    }
}

impl Default for Cors {
    fn default() -> Self {
        Self {
            allow_origins: None,
            allow_methods: "GET, PUT, POST, DELETE, PATCH, OPTIONS".into(),
            allow_headers:
                "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization"
                    .into(),
            expose_headers: String::new(),
            allow_credentials: true,
            max_age_seconds: 1_728_000,
            spec: CorsSpec::IngressNginx,
        }
    }
}

impl Cors {
    /// The `Access-Control-Allow-Origin` a request with this `Origin` gets;
    /// `None`: no CORS headers. ingress-nginx compares origins ignoring case
    /// and lets `*` stand for one label; unlike its regex (anchored only at
    /// the end), the whole origin must match, so `https://evil-example.com`
    /// does not pass for `https://example.com`.
    pub fn allowed_origin<'o>(&self, origin: Option<&'o str>) -> Option<&'o str> {
        let gateway = self.spec == CorsSpec::GatewayApi;
        let Some(list) = &self.allow_origins else {
            return match origin {
                Some(o) if gateway && self.allow_credentials => Some(o),
                None if gateway => None,
                _ => Some("*"),
            };
        };
        let origin = origin?;
        list.iter().any(|allowed| origin_matches(allowed, origin, gateway)).then_some(origin)
    }

    /// Whether an entry of `cors-allow-origin` is one ingress-nginx takes:
    /// `scheme://host[:port]` (the host may start with `*.`), or `null`.
    pub fn valid_origin(entry: &str) -> bool {
        if entry == "null" {
            return true;
        }
        let Some((scheme, rest)) = entry.split_once("://") else { return false };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let host = host.strip_prefix("*.").unwrap_or(host);
        !scheme.is_empty()
            && scheme.bytes().all(|b| b.is_ascii_lowercase())
            && !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Whether `origin` is `allowed`, whose `*` stands for one label, or for
/// any number of them when `any_depth`.
fn origin_matches(allowed: &str, origin: &str, any_depth: bool) -> bool {
    match allowed.split_once('*') {
        None => allowed.eq_ignore_ascii_case(origin),
        Some((before, after)) => {
            let (Some(head), Some(tail)) =
                (origin.get(..before.len()), origin.get(origin.len().saturating_sub(after.len())..))
            else {
                return false;
            };
            let label = origin.get(before.len()..origin.len() - after.len()).unwrap_or("");
            origin.len() > before.len() + after.len()
                && head.eq_ignore_ascii_case(before)
                && tail.eq_ignore_ascii_case(after)
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || (any_depth && b == b'.'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(origins: &[&str]) -> Cors {
        Cors { allow_origins: Some(origins.iter().map(|o| o.to_string()).collect()), ..Cors::default() }
    }

    #[test]
    fn any_origin_is_a_star() {
        assert_eq!(Cors::default().allowed_origin(Some("https://x.test")), Some("*"));
        assert_eq!(Cors::default().allowed_origin(None), Some("*"));
    }

    #[test]
    fn listed_origins_echo_and_wildcards_take_one_label() {
        let cors = only(&["https://app.example.com", "https://*.example.org:8443"]);
        assert_eq!(cors.allowed_origin(Some("https://APP.example.com")), Some("https://APP.example.com"));
        assert_eq!(cors.allowed_origin(Some("https://a.example.org:8443")), Some("https://a.example.org:8443"));
        assert_eq!(cors.allowed_origin(Some("https://a.b.example.org:8443")), None);
        assert_eq!(cors.allowed_origin(Some("https://example.org:8443")), None);
        assert_eq!(cors.allowed_origin(Some("http://app.example.com")), None);
        assert_eq!(cors.allowed_origin(Some("https://evil-app.example.com")), None);
        assert_eq!(cors.allowed_origin(Some("xhttps://app.example.com")), None);
        assert_eq!(cors.allowed_origin(None), None);
    }

    #[test]
    fn gateway_wildcards_take_any_depth_and_credentials_echo_the_origin() {
        let listed = Cors { spec: CorsSpec::GatewayApi, ..only(&["https://*.bar.com"]) };
        assert_eq!(listed.allowed_origin(Some("https://www.bar.com")), Some("https://www.bar.com"));
        assert_eq!(listed.allowed_origin(Some("https://xpto.www.bar.com")), Some("https://xpto.www.bar.com"));
        assert_eq!(listed.allowed_origin(Some("https://foobar.com")), None);
        let any = Cors { spec: CorsSpec::GatewayApi, ..Cors::default() };
        assert_eq!(any.allowed_origin(Some("https://x.test")), Some("https://x.test"));
        assert_eq!(any.allowed_origin(None), None);
        let uncredentialed = Cors { allow_credentials: false, ..any };
        assert_eq!(uncredentialed.allowed_origin(Some("https://x.test")), Some("*"));
    }

    #[test]
    fn origin_entries_are_checked() {
        assert!(Cors::valid_origin("https://a.example.com:443"));
        assert!(Cors::valid_origin("http://*.example.com"));
        assert!(Cors::valid_origin("null"));
        assert!(!Cors::valid_origin("example.com"));
        assert!(!Cors::valid_origin("https://exa mple.com"));
        assert!(!Cors::valid_origin("https://a.com/path"));
    }
}
