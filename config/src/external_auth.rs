//! ingress-nginx external authentication (`auth-url` and its companions):
//! each request is first asked of an auth service.

use serde::{Deserialize, Serialize};

/// Where and how a route's requests are checked before they are proxied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAuth {
    /// The auth service's cluster: its Service's endpoints, or the address
    /// the URL names.
    pub cluster: String,
    /// `auth-url` as given, for diagnostics and logs.
    pub url: String,
    /// The `Host` the auth service gets: the URL's authority.
    pub host: String,
    /// The URL's path and query, the check's request target.
    pub target: String,
    /// The URL is `https://`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// `auth-method`, `GET` by default.
    pub method: String,
    /// `auth-signin`: a 401 from the auth service becomes a 302 here, with
    /// the original URL in `signin_redirect_param`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signin: Option<String>,
    /// `auth-signin-redirect-param`, `rd` by default.
    pub signin_redirect_param: String,
    /// `auth-response-headers`: copied from the auth service's answer into
    /// the proxied request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<String>,
    /// `auth-request-redirect`: sent as `X-Auth-Request-Redirect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_redirect: Option<String>,
    /// `auth-cache-key` with `auth-cache-duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<AuthCache>,
    /// `auth-always-set-cookie`: the auth service's `Set-Cookie` reaches the
    /// client on every answer, not only on a refusal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always_set_cookie: bool,
}

/// The nginx variables an `auth-signin` URL may name
/// (`https://$host/oauth2/start?rd=$escaped_request_uri`).
pub const SIGNIN_VARIABLES: [&str; 6] =
    ["scheme", "pass_access_scheme", "host", "http_host", "request_uri", "escaped_request_uri"];

impl ExternalAuth {
    /// Whether every `$variable` of a sign-in URL is one Sluice expands.
    pub fn check_signin(url: &str) -> Result<(), String> {
        let mut unknown = None;
        expand_variables(url, |name| {
            if !SIGNIN_VARIABLES.contains(&name) {
                unknown.get_or_insert_with(|| name.to_owned());
            }
            String::new()
        });
        match unknown {
            Some(name) => Err(format!("${name} is not one of ${}", SIGNIN_VARIABLES.join(", $"))),
            None => Ok(()),
        }
    }
}

/// `text` with each `$name` replaced by `value(name)`.
pub fn expand_variables(text: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if end == 0 {
            out.push('$');
        } else {
            out.push_str(&value(&after[..end]));
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Verdicts kept per key (nginx's `proxy_cache` of the auth location).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthCache {
    /// The key as written (`$remote_user$http_authorization`); it parses
    /// as a hash key does (`parse_hash_key`).
    pub key: String,
    /// (status, seconds) a verdict of that status is kept for.
    pub durations: Vec<(u16, u64)>,
}

impl AuthCache {
    /// How long a verdict of `status` is kept; `None`: not kept.
    pub fn keep_seconds(&self, status: u16) -> Option<u64> {
        self.durations.iter().find(|(s, _)| *s == status).map(|(_, secs)| *secs)
    }

    /// `auth-cache-duration`: `"200 202 401 5m"`, several such separated
    /// by commas; a time without statuses is for 200, 301 and 302, as
    /// nginx's `proxy_cache_valid` has it.
    pub fn parse_durations(text: &str) -> Result<Vec<(u16, u64)>, String> {
        let mut out = Vec::new();
        for group in text.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            let words: Vec<&str> = group.split_whitespace().collect();
            let (time, statuses) = words.split_last().ok_or_else(|| format!("'{group}' is empty"))?;
            let secs = nginx_time(time).ok_or_else(|| format!("'{time}' is not a time like 30s, 5m or 1h"))?;
            let statuses: Vec<u16> = if statuses.is_empty() {
                vec![200, 301, 302]
            } else {
                statuses
                    .iter()
                    .map(|s| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c)).ok_or(*s))
                    .collect::<Result<_, _>>()
                    .map_err(|s| format!("'{s}' is not a status code"))?
            };
            out.extend(statuses.into_iter().map(|s| (s, secs)));
        }
        if out.is_empty() {
            return Err(format!("'{text}' names no status and time"));
        }
        Ok(out)
    }
}

/// nginx time: `30` (seconds), `30s`, `5m`, `1h`, `1d`.
fn nginx_time(text: &str) -> Option<u64> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signin_variables() {
        assert!(ExternalAuth::check_signin("https://$host/oauth2/start?rd=$escaped_request_uri").is_ok());
        assert!(ExternalAuth::check_signin("https://$hostname/x").unwrap_err().contains("$hostname"));
        let url = expand_variables("https://$http_host/s?rd=$escaped_request_uri&x=$", |n| format!("<{n}>"));
        assert_eq!(url, "https://<http_host>/s?rd=<escaped_request_uri>&x=$");
    }

    #[test]
    fn cache_durations_as_ingress_nginx_writes_them() {
        assert_eq!(AuthCache::parse_durations("200 202 401 5m").unwrap(), [(200, 300), (202, 300), (401, 300)]);
        assert_eq!(AuthCache::parse_durations("200 1h, 401 30s").unwrap(), [(200, 3600), (401, 30)]);
        assert_eq!(AuthCache::parse_durations("10m").unwrap(), [(200, 600), (301, 600), (302, 600)]);
        assert!(AuthCache::parse_durations("200 5x").is_err());
        assert!(AuthCache::parse_durations("abc 5m").is_err());
        assert!(AuthCache::parse_durations("").is_err());
    }
}
