//! Checks of names and paths, as the Kubernetes API server applies them.
//! Object names and namespaces, Ingress hosts and Ingress paths.

use std::net::IpAddr;

/// RFC 1123 subdomain (lower case), as Kubernetes validates host names.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// An Ingress rule or TLS host: a lower-case DNS name or `*.` + one; never an IP.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    if host.parse::<IpAddr>().is_ok() {
        return Err(format!("'{host}' is an IP address; Ingress hosts must be DNS names"));
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.contains('*') {
        return Err(format!("'{host}': a wildcard must be the whole first label, as in '*.example.com'"));
    }
    if !is_dns1123_subdomain(name) {
        return Err(format!("'{host}' is not a valid lower-case DNS name (RFC 1123: letters, digits, '-' and '.')"));
    }
    Ok(())
}

/// Paths of `Exact` and `Prefix` rules.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' must be an absolute path (start with '/')"));
    }
    for bad in ["//", "/./", "/../", "%2f", "%2F"] {
        if path.contains(bad) {
            return Err(format!("'{path}' must not contain '{bad}'"));
        }
    }
    for bad in ["/..", "/."] {
        if path.ends_with(bad) {
            return Err(format!("'{path}' must not end with '{bad}'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(check_host("foo.bar.com").is_ok());
        assert!(check_host("*.bar.com").is_ok());
        assert!(check_host("10.0.0.1").is_err());
        assert!(check_host("Foo.com").is_err());
        assert!(check_host("foo.*.com").is_err());
        assert!(check_host("*foo.com").is_err());
        assert!(check_host("-foo.com").is_err());
    }

    #[test]
    fn paths() {
        assert!(check_path("/foo/bar").is_ok());
        assert!(check_path("foo").is_err());
        assert!(check_path("/a//b").is_err());
        assert!(check_path("/a/../b").is_err());
        assert!(check_path("/a/..").is_err());
        assert!(check_path("/a%2Fb").is_err());
    }
}
