//! The affinity cookie: its value in a request, and the `Set-Cookie` that
//! starts a session.

use sluice_config::Affinity;
use std::net::SocketAddr;

/// The value of cookie `name` in a `Cookie` header value.
pub fn cookie_value<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The value of cookie `name` in a request (over all its `Cookie` headers).
pub fn request_cookie<'r>(req: &'r http::request::Parts, name: &str) -> Option<&'r str> {
    req.headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| cookie_value(v, name))
}

/// The stable id of an endpoint, as a persistent cookie carries it.
pub fn endpoint_id(addr: &SocketAddr) -> u64 {
    crate::balancer::key_hash(addr.to_string().as_bytes())
}

/// A new balanced session's key: drawn at random until `fits` takes one,
/// `tries` times at most (then one more draw, unchecked).
pub fn session_key(tries: usize, fits: impl Fn(&str) -> bool) -> String {
    let draw = || format!("{:016x}", fastrand::u64(..));
    (0..tries).map(|_| draw()).find(|k| fits(k)).unwrap_or_else(draw)
}

/// The `Set-Cookie` value for `value` under a cookie affinity.
pub fn set_cookie(affinity: &Affinity, value: &str) -> Option<String> {
    let Affinity::Cookie { name, max_age_seconds, path, same_site, domain, secure, .. } = affinity else {
        return None;
    };
    let mut c = format!("{name}={value}; Path={path}; HttpOnly");
    if let Some(age) = max_age_seconds {
        c += &format!("; Max-Age={age}");
    }
    if let Some(s) = same_site {
        c += &format!("; SameSite={s}");
    }
    if let Some(d) = domain {
        c += &format!("; Domain={d}");
    }
    if *secure {
        c += "; Secure";
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::AffinityMode;

    #[test]
    fn values_and_set_cookie() {
        assert_eq!(cookie_value("a=1; INGRESSCOOKIE=abc; b=2", "INGRESSCOOKIE"), Some("abc"));
        assert_eq!(cookie_value("a=1", "INGRESSCOOKIE"), None);
        let a = Affinity::Cookie {
            name: "S".into(),
            max_age_seconds: Some(60),
            path: "/app".into(),
            mode: AffinityMode::Persistent,
            same_site: Some("Lax".into()),
            domain: Some("example.com".into()),
            secure: true,
            change_on_failure: false,
        };
        assert_eq!(
            set_cookie(&a, "x").unwrap(),
            "S=x; Path=/app; HttpOnly; Max-Age=60; SameSite=Lax; Domain=example.com; Secure"
        );
    }
}
