//! Every `nginx.ingress.kubernetes.io/*` annotation ingress-nginx documents
//! (plus `allowlist-source-range`, its newer spelling), with what Sluice
//! does with it. The translator reads the supported ones, warns about the
//! rest, and refuses to serve an Ingress that asks for what could run
//! configuration Sluice does not interpret; `sluice annotations` prints it.

/// What Sluice does with one annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Honoured as ingress-nginx documents it.
    Full,
    /// Honoured, with the difference given.
    Partly(&'static str),
    /// Not implemented: a warning names it and the Ingress is served without it.
    NotYet(&'static str),
    /// Never honoured: an error names it and the Ingress is not served in
    /// that form (its last good form keeps serving).
    Refused(&'static str),
}

use Support::*;

pub const CATALOGUE: &[(&str, Support)] = &[
    ("affinity", Partly("cookie only, as in ingress-nginx")),
    (
        "affinity-canary-behavior",
        Partly(
            "sticky keeps a client's side of the split by its cookie; canary-by-header and -cookie still come first",
        ),
    ),
    ("affinity-mode", Full),
    ("allowlist-source-range", Full),
    ("app-root", Full),
    ("auth-always-set-cookie", Full),
    ("auth-cache-duration", Full),
    ("auth-cache-key", Partly("the variables upstream-hash-by takes, $remote_user among them")),
    ("auth-keepalive", NotYet("checks reuse the worker's upstream connections")),
    ("auth-keepalive-requests", NotYet("checks reuse the worker's upstream connections")),
    ("auth-keepalive-share-vars", NotYet("")),
    ("auth-keepalive-timeout", NotYet("checks reuse the worker's upstream connections")),
    ("auth-method", Full),
    ("auth-proxy-set-headers", NotYet("")),
    ("auth-realm", Full),
    ("auth-request-redirect", Full),
    ("auth-response-headers", Full),
    ("auth-secret", Full),
    ("auth-secret-type", Full),
    (
        "auth-signin",
        Partly("variables $scheme, $pass_access_scheme, $host, $http_host, $request_uri, $escaped_request_uri"),
    ),
    ("auth-signin-redirect-param", Full),
    ("auth-snippet", Refused("nginx configuration is never interpreted")),
    (
        "auth-tls-error-page",
        Partly(
            "its hosts are served over HTTP/1.1 (the certificate is checked per request, where HTTP/2 streams cannot see it)",
        ),
    ),
    ("auth-tls-match-cn", NotYet("")),
    (
        "auth-tls-pass-certificate-to-upstream",
        Partly(
            "over HTTP/2, ssl-client-verify only: pingora hands each stream the handshake's digest, not the certificate",
        ),
    ),
    ("auth-tls-secret", Full),
    ("auth-tls-verify-client", Partly("on, optional and off; optional_no_ca is not served")),
    (
        "auth-tls-verify-depth",
        Partly("counts the intermediates in the order the client sends them (TLS's chain order)"),
    ),
    ("auth-type", Partly("basic; digest refuses every request")),
    (
        "auth-url",
        Partly(
            "a Service by its cluster DNS name (name.namespace.svc) or an address; other host names are not resolved and fail closed",
        ),
    ),
    ("backend-protocol", Partly("HTTP, HTTPS, GRPC, GRPCS (H2C as GRPC); AUTO_HTTP and FCGI are HTTP")),
    ("canary", Full),
    ("canary-by-cookie", Full),
    ("canary-by-header", Full),
    ("canary-by-header-pattern", Full),
    ("canary-by-header-value", Full),
    ("canary-weight", Partly("several canaries of one path share by their weights")),
    ("canary-weight-total", Full),
    ("client-body-buffer-size", Partly("16k by default (8k in ingress-nginx); a larger body goes to a temporary file")),
    (
        "configuration-snippet",
        Partly(
            "parsed, never interpreted: more_set_headers, more_clear_headers, add_header, proxy_set_header, more_set_input_headers, more_clear_input_headers, allow, deny, return; anything else refuses the Ingress; needs allow-snippet-annotations",
        ),
    ),
    ("connection-proxy-header", Partly("not sent with a WebSocket upgrade or to an HTTP/2 upstream")),
    ("cors-allow-credentials", Full),
    ("cors-allow-headers", Full),
    ("cors-allow-methods", Full),
    ("cors-allow-origin", Partly("the whole origin must match (ingress-nginx anchors its regex at the end only)")),
    ("cors-expose-headers", Full),
    ("cors-max-age", Full),
    ("custom-headers", Full),
    (
        "custom-http-errors",
        Partly("answered by the default-backend annotation's Service; without it the upstream's answers pass"),
    ),
    ("default-backend", Full),
    ("denylist-source-range", Full),
    ("enable-access-log", Full),
    ("enable-cors", Full),
    ("enable-global-auth", Full),
    ("enable-modsecurity", NotYet("no web application firewall")),
    ("enable-opentelemetry", Full),
    ("enable-owasp-core-rules", NotYet("no web application firewall")),
    ("enable-rewrite-log", NotYet("")),
    ("force-ssl-redirect", Full),
    ("from-to-www-redirect", Full),
    ("http2-push-preload", NotYet("HTTP/2 server push is gone from browsers")),
    ("limit-burst-multiplier", Full),
    ("limit-connections", Full),
    ("limit-rate", Full),
    ("limit-rate-after", Full),
    ("limit-rpm", Full),
    ("limit-rps", Full),
    ("limit-whitelist", Full),
    ("load-balance", Partly("round_robin and least_conn; ewma is least connections")),
    ("mirror-host", Full),
    (
        "mirror-request-body",
        Partly(
            "buffered bodies up to 1 MiB are copied (64 KiB with proxy-request-buffering off); a larger body's copy is not sent",
        ),
    ),
    (
        "mirror-target",
        Partly(
            "http:// to a Service by its cluster name or an address; $request_uri, $uri, $args, $host, $http_host, $scheme; sent once the request is answered",
        ),
    ),
    ("modsecurity-snippet", Refused("nginx configuration is never interpreted")),
    ("modsecurity-transaction-id", NotYet("no web application firewall")),
    ("opentelemetry-trust-incoming-span", NotYet("an incoming span is always the parent")),
    ("permanent-redirect", Full),
    ("permanent-redirect-code", Full),
    ("preserve-trailing-slash", NotYet("")),
    ("proxy-body-size", Full),
    ("proxy-buffer-size", Full),
    ("proxy-buffering", Full),
    ("proxy-buffers-number", Full),
    ("proxy-busy-buffers-size", Partly("checked; the client is written to from the buffers as it reads")),
    ("proxy-connect-timeout", Full),
    ("proxy-cookie-domain", NotYet("")),
    ("proxy-cookie-path", NotYet("")),
    ("proxy-http-version", Partly("1.1 (what Sluice speaks); 1.0 is a warning")),
    ("proxy-max-temp-file-size", Full),
    ("proxy-next-upstream", Full),
    ("proxy-next-upstream-timeout", Full),
    ("proxy-next-upstream-tries", Full),
    ("proxy-read-timeout", Full),
    ("proxy-redirect-from", Partly("a fixed prefix; `default` and variables are not")),
    ("proxy-redirect-to", Full),
    ("proxy-request-buffering", Partly("on (the default) reads the body whole first; gRPC bodies stream, as there")),
    ("proxy-send-timeout", Full),
    ("proxy-ssl-ciphers", NotYet("")),
    ("proxy-ssl-name", Full),
    ("proxy-ssl-protocols", NotYet("")),
    (
        "proxy-ssl-secret",
        Partly("tls.crt and tls.key as the client certificate; ca.crt checks the upstream with proxy-ssl-verify"),
    ),
    (
        "proxy-ssl-server-name",
        Partly("off sends no SNI; on (the default here, off in ingress-nginx) sends proxy-ssl-name or the host"),
    ),
    ("proxy-ssl-verify", Full),
    ("proxy-ssl-verify-depth", NotYet("")),
    ("rewrite-target", Partly("captures $1..$9; other nginx variables are refused")),
    ("satisfy", NotYet("")),
    ("server-alias", Full),
    ("server-snippet", Partly("as configuration-snippet, for the Ingress's own paths of the host")),
    ("service-upstream", Full),
    ("session-cookie-change-on-failure", Full),
    ("session-cookie-conditional-samesite-none", NotYet("")),
    ("session-cookie-domain", Full),
    ("session-cookie-expires", Full),
    ("session-cookie-max-age", Full),
    ("session-cookie-name", Full),
    ("session-cookie-path", Full),
    ("session-cookie-samesite", Full),
    ("session-cookie-secure", Full),
    ("ssl-ciphers", NotYet("")),
    ("ssl-passthrough", Full),
    ("ssl-prefer-server-ciphers", NotYet("")),
    ("ssl-redirect", Full),
    ("stream-snippet", Refused("nginx configuration is never interpreted")),
    ("temporal-redirect", Full),
    ("temporal-redirect-code", Full),
    ("upstream-hash-by", Partly("$remote_addr, $request_uri, $uri, $host, $http_*, $cookie_*, $arg_*, $remote_user")),
    ("upstream-hash-by-subset", NotYet("")),
    ("upstream-hash-by-subset-size", NotYet("")),
    ("upstream-vhost", Partly("a host name; nginx variables are refused")),
    ("use-regex", Partly("the regex crate's syntax: look-around and back-references are refused")),
    ("whitelist-source-range", Full),
    ("x-forwarded-prefix", Full),
];

/// What Sluice does with `nginx.ingress.kubernetes.io/<name>`; `None` for a
/// name ingress-nginx does not document.
pub fn support(name: &str) -> Option<Support> {
    CATALOGUE.binary_search_by(|(k, _)| k.cmp(&name)).ok().map(|i| CATALOGUE[i].1)
}

/// The catalogue as a Markdown table (`sluice annotations`; the README's).
pub fn table() -> String {
    let mut out = String::from("| Annotation | Sluice | Notes |\n|---|---|---|\n");
    for (key, support) in CATALOGUE {
        let (status, note) = match support {
            Full => ("supported", ""),
            Partly(how) => ("partly", *how),
            NotYet(why) => ("not yet", *why),
            Refused(why) => ("refused", *why),
        };
        out.push_str(&format!("| `{key}` | {status} | {note} |\n"));
    }
    let count = |f: fn(&Support) -> bool| CATALOGUE.iter().filter(|(_, s)| f(s)).count();
    out.push_str(&format!(
        "\n{} annotations: {} supported, {} partly, {} not yet, {} refused.\n",
        CATALOGUE.len(),
        count(|s| matches!(s, Full)),
        count(|s| matches!(s, Partly(_))),
        count(|s| matches!(s, NotYet(_))),
        count(|s| matches!(s, Refused(_))),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_unique() {
        assert!(CATALOGUE.windows(2).all(|w| w[0].0 < w[1].0), "the catalogue must stay sorted");
        assert_eq!(support("rewrite-target"), Some(Partly("captures $1..$9; other nginx variables are refused")));
        assert_eq!(support("no-such-thing"), None);
    }
}
