//! ingress-nginx annotations: the ones Sluice honours, parsed with a
//! diagnostic per bad value, and an honest warning for every other one.

use super::Translator;
use super::certificates::Referrer;
use catalogue::Support;
use ipnet::IpNet;
use k8s_openapi::api::networking::v1::Ingress;
use sluice_config::{
    Affinity, AffinityMode, Balance, ClientVerify, Diagnostic, HeaderMatch, ObjectRef, RateLimit, Redirect, RetryOn,
    RewriteTarget, RoutePolicy, UpstreamProtocol, parse_hash_key,
};

use std::net::IpAddr;

mod basic_auth;
pub mod catalogue;
mod cors;
mod external_auth;

pub(super) const NGINX: &str = "nginx.ingress.kubernetes.io/";

/// What an Ingress's annotations ask of its hosts' TLS side.
#[derive(Debug, Clone, Default)]
pub(super) struct TlsAnnotations {
    /// Redirect plain HTTP to HTTPS on the hosts this Ingress gives TLS.
    pub ssl_redirect: bool,
    /// Redirect plain HTTP to HTTPS on every host of this Ingress.
    pub force_ssl_redirect: bool,
    /// Pass the TLS stream through to the backend, by SNI.
    pub passthrough: bool,
    /// Check client certificates on this Ingress's TLS hosts.
    pub client_verify: Option<ClientVerify>,
    /// A client-certificate check was asked for but cannot be set up: the
    /// hosts are not served rather than served without it.
    pub refuse: bool,
}

/// What an Ingress's annotations ask for.
pub(super) struct IngressAnnotations {
    pub policy: RoutePolicy,
    /// `use-regex` (or a `rewrite-target`): the paths are nginx regex
    /// locations, and so is every path of their hosts.
    pub use_regex: bool,
    pub tls: TlsAnnotations,
    pub cluster: ClusterPolicy,
    pub canary: Option<CanarySpec>,
    /// An annotation Sluice refuses is set: the Ingress is not served.
    pub refused: bool,
}

/// How the clusters an Ingress names balance and keep affinity. A cluster
/// is a Service port with one such policy.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct ClusterPolicy {
    pub balance: Balance,
    pub affinity: Option<Affinity>,
    /// Sets the cluster apart when its endpoints are weighted by another rule
    /// (BCS export groups).
    pub tag: Option<&'static str>,
}

impl ClusterPolicy {
    /// A suffix that keeps clusters of one Service port with different
    /// policies apart: `~leastconn`, `~hash:$remote_addr`, `~cookie:INGRESSCOOKIE`.
    pub fn name_suffix(&self) -> String {
        let mut tags = Vec::new();
        match &self.balance {
            Balance::RoundRobin => {}
            Balance::LeastConnections => tags.push("leastconn".to_owned()),
            Balance::Hash { key, .. } => tags.push(format!("hash:{key}")),
        }
        match &self.affinity {
            None => {}
            Some(Affinity::Cookie { name, mode, .. }) => tags.push(format!("cookie:{name}:{mode:?}").to_lowercase()),
            Some(Affinity::ClientIp { timeout_seconds }) => tags.push(format!("clientip:{timeout_seconds}")),
        }
        if let Some(t) = self.tag {
            tags.push(t.to_owned());
        }
        if tags.is_empty() { String::new() } else { format!("~{}", tags.join(",")) }
    }
}

/// `canary: "true"` and its rules.
#[derive(Clone)]
pub(super) struct CanarySpec {
    pub weight: u32,
    pub total: u32,
    pub header: Option<HeaderMatch>,
    pub cookie: Option<String>,
}

pub(super) struct Reader<'t, 'a, 's> {
    t: &'t mut Translator<'a>,
    r: &'s ObjectRef,
    ing: &'s Ingress,
}

impl Reader<'_, '_, '_> {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(
            matches!(catalogue::support(name), Some(Support::Full | Support::Partly(_))),
            "{name} is read but the catalogue does not say it is supported"
        );
        self.ing.metadata.annotations.as_ref()?.get(&format!("{NGINX}{name}")).map(|s| s.trim())
    }

    pub(super) fn bad(&mut self, name: &str, message: String) {
        self.t.diags.push(Diagnostic::error(self.r.clone(), format!("metadata.annotations[{NGINX}{name}]"), message));
    }

    /// Seconds, as ingress-nginx writes them ("10"; "10s" is accepted too).
    fn seconds(&mut self, name: &str) -> Option<u64> {
        let v = self.get(name)?.to_owned();
        match v.strip_suffix('s').unwrap_or(&v).parse::<u64>() {
            Ok(n) if n > 0 && n <= 86_400 => Some(n * 1000),
            _ => {
                self.bad(name, format!("'{v}' is not a number of seconds in 1-86400; the default is used"));
                None
            }
        }
    }

    /// `"true"` / `"false"` (ingress-nginx's `on` / `off` too).
    pub(super) fn flag(&mut self, name: &str, default: bool) -> bool {
        let Some(v) = self.get(name).map(str::to_ascii_lowercase) else { return default };
        match v.as_str() {
            "true" | "on" => true,
            "false" | "off" => false,
            _ => {
                self.bad(name, format!("'{v}' is not true or false; {default} is used"));
                default
            }
        }
    }

    /// A redirect to an absolute URL, with its code (300-308) from
    /// `code_name` or `default`.
    fn redirect(&mut self, name: &str, code_name: &str, default: u16) -> Option<Redirect> {
        let location = self.get(name)?.to_owned();
        let absolute = location.parse::<http::Uri>().is_ok_and(|u| u.scheme().is_some() && u.host().is_some());
        if !absolute {
            self.bad(name, format!("'{location}' is not an absolute URL; no redirect"));
            return None;
        }
        let status = match self.get(code_name).map(str::to_owned) {
            None => default,
            Some(code) => match code.parse::<u16>() {
                Ok(c) if (300..=308).contains(&c) => c,
                _ => {
                    self.bad(code_name, format!("'{code}' is not a redirect code in 300-308; {default} is used"));
                    default
                }
            },
        };
        Some(Redirect { location, status })
    }

    /// A comma-separated list of networks (`10.0.0.0/8, 192.0.2.7`);
    /// `Err` when an entry is not one (named in a diagnostic).
    fn networks(&mut self, name: &str) -> Option<Result<Vec<IpNet>, ()>> {
        let v = self.get(name)?.to_owned();
        let mut nets = Vec::new();
        for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)) {
                Ok(net) => nets.push(net.trunc()),
                Err(_) => {
                    let message = format!("'{entry}' is not an address or CIDR network; every client is refused (403)");
                    self.bad(name, message);
                    return Some(Err(()));
                }
            }
        }
        Some(Ok(nets))
    }

    fn int(&mut self, name: &str, min: u32, max: u32) -> Option<u32> {
        let v = self.get(name)?.to_owned();
        match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.bad(name, format!("'{v}' is not an integer in {min}-{max}; ignored"));
                None
            }
        }
    }
}

/// nginx size syntax: `0` (no limit), `1024`, `512k`, `8m`, `1g`.
fn parse_size(v: &str) -> Option<Option<u64>> {
    let v = v.to_ascii_lowercase();
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&v[..i], &v[i..]),
        None => (v.as_str(), ""),
    };
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    Some(if n == 0 { None } else { Some(n.checked_mul(factor)?) })
}

impl Translator<'_> {
    pub(super) fn annotations(&mut self, ing: &Ingress, r: &ObjectRef) -> IngressAnnotations {
        let mut a = Reader { t: self, r, ing };
        let mut policy = RoutePolicy::default();
        if let Some(ms) = a.seconds("proxy-connect-timeout") {
            policy.connect_timeout_ms = ms;
        }
        if let Some(ms) = a.seconds("proxy-read-timeout") {
            policy.read_timeout_ms = ms;
        }
        if let Some(ms) = a.seconds("proxy-send-timeout") {
            policy.send_timeout_ms = ms;
        }
        if let Some(v) = a.get("proxy-next-upstream").map(str::to_owned) {
            let words: Vec<&str> = v.split_whitespace().collect();
            if words == ["off"] {
                policy.retry.on.clear();
            } else {
                match words.iter().map(|w| RetryOn::parse(w).ok_or(*w)).collect::<Result<Vec<_>, _>>() {
                    Ok(on) if !on.is_empty() => policy.retry.on = on,
                    Ok(_) => a.bad("proxy-next-upstream", "empty; the default is used".into()),
                    Err(w) => a.bad(
                        "proxy-next-upstream",
                        format!("'{w}' is not one of error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off; the default is used"),
                    ),
                }
            }
        }
        if let Some(n) = a.int("proxy-next-upstream-tries", 0, 100) {
            policy.retry.tries = n;
        }
        if let Some(v) = a.get("proxy-body-size").map(str::to_owned) {
            match parse_size(&v) {
                Some(limit) => policy.max_body_bytes = limit,
                None => {
                    a.bad("proxy-body-size", format!("'{v}' is not a size like 8m, 512k or 0; the default is used"))
                }
            }
        }
        if let Some(rps) = a.int("limit-rps", 1, 1_000_000) {
            // ingress-nginx: burst = rps × limit-burst-multiplier (default 5).
            let multiplier = a.int("limit-burst-multiplier", 1, 1000).unwrap_or(5);
            policy.limit_rps = Some(RateLimit { rps, burst: rps.saturating_mul(multiplier) });
        }
        policy.limit_connections = a.int("limit-connections", 1, 1_000_000);
        if let Some(v) = a.get("backend-protocol").map(str::to_ascii_uppercase) {
            match v.as_str() {
                "HTTP" => {}
                "GRPC" | "H2C" => policy.upstream_protocol = UpstreamProtocol::H2c,
                "HTTPS" => policy.upstream_protocol = UpstreamProtocol::Https,
                "GRPCS" => policy.upstream_protocol = UpstreamProtocol::Grpcs,
                other => a.t.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("metadata.annotations[{NGINX}backend-protocol]"),
                    format!("'{other}' is not served (HTTP, HTTPS, GRPC, GRPCS are); HTTP/1.1 is used"),
                )),
            }
        }
        policy.upstream_verify = a.flag("proxy-ssl-verify", false);
        policy.access_log = a.flag("enable-access-log", true);
        // ingress-nginx reads temporal-redirect first: it wins over permanent.
        policy.redirect = a
            .redirect("temporal-redirect", "temporal-redirect-code", 302)
            .or_else(|| a.redirect("permanent-redirect", "permanent-redirect-code", 301));
        if let Some(root) = a.get("app-root").map(str::to_owned) {
            if root.starts_with('/') && root.parse::<http::uri::PathAndQuery>().is_ok() {
                policy.app_root = Some(root);
            } else {
                a.bad("app-root", format!("'{root}' is not a path starting with /; ignored"));
            }
        }
        let allow = a.networks("allowlist-source-range").or_else(|| a.networks("whitelist-source-range"));
        match (allow, a.networks("denylist-source-range")) {
            // A list that cannot be read fails closed, as ingress-nginx
            // denies the location.
            (Some(Err(())), _) | (_, Some(Err(()))) => {
                policy.deny_sources = ["0.0.0.0/0", "::/0"].iter().filter_map(|n| n.parse().ok()).collect();
            }
            (allow, deny) => {
                policy.allow_sources = allow.and_then(Result::ok).unwrap_or_default();
                policy.deny_sources = deny.and_then(Result::ok).unwrap_or_default();
            }
        }
        let use_regex = a.flag("use-regex", false);
        if let Some(target) = a.get("rewrite-target").map(str::to_owned) {
            match RewriteTarget::parse(&target) {
                Ok(t) => policy.rewrite_target = Some(t),
                Err(e) => a.bad("rewrite-target", format!("{e}; the path is not rewritten")),
            }
        }
        if let Some(prefix) = a.get("x-forwarded-prefix").map(str::to_owned) {
            match http::HeaderValue::from_str(&prefix) {
                Ok(_) if prefix.starts_with('/') && !prefix.contains('$') => policy.forwarded_prefix = Some(prefix),
                _ => a.bad("x-forwarded-prefix", format!("'{prefix}' is not a path starting with /; not sent")),
            }
        }
        if let Some(host) = a.get("upstream-vhost").map(str::to_owned) {
            match host.parse::<http::uri::Authority>() {
                Ok(_) if !host.contains('@') => policy.upstream_host = Some(host),
                _ => a.bad(
                    "upstream-vhost",
                    format!("'{host}' is not a host name (with an optional port); the request's Host is sent"),
                ),
            }
        }
        if a.flag("enable-cors", false) {
            policy.cors = Some(cors::cors(&mut a));
        }
        policy.basic_auth = basic_auth::basic_auth(&mut a);
        policy.external_auth = external_auth::external_auth(&mut a);
        if a.get("enable-opentelemetry").is_some() {
            policy.opentelemetry = Some(a.flag("enable-opentelemetry", true));
        }
        let mut tls = TlsAnnotations {
            ssl_redirect: a.flag("ssl-redirect", true),
            force_ssl_redirect: a.flag("force-ssl-redirect", false),
            passthrough: a.flag("ssl-passthrough", false),
            ..TlsAnnotations::default()
        };
        client_verify(&mut a, &mut tls);

        let table_size = a.t.options.maglev_table_size;
        let cluster = cluster_policy(&mut a, table_size);
        let canary = if a.get("canary") == Some("true") { Some(canary(&mut a)) } else { None };

        let mut refused = false;
        for key in ing.metadata.annotations.iter().flat_map(|m| m.keys()) {
            let Some(name) = key.strip_prefix(NGINX) else { continue };
            let field = format!("metadata.annotations[{key}]");
            let diagnostic = match catalogue::support(name) {
                Some(Support::Full | Support::Partly(_)) => continue,
                Some(Support::NotYet(why)) => {
                    let why = if why.is_empty() { String::new() } else { format!(" ({why})") };
                    Diagnostic::warning(r.clone(), field, format!("not supported by Sluice{why}; ignored"))
                }
                Some(Support::Refused(why)) => {
                    refused = true;
                    let message = format!("refused: {why}; the Ingress is not served in this form");
                    Diagnostic::error(r.clone(), field, message)
                }
                None => Diagnostic::warning(r.clone(), field, "not an annotation ingress-nginx documents; ignored"),
            };
            self.diags.push(diagnostic);
        }
        IngressAnnotations { policy, use_regex, tls, cluster, canary, refused }
    }
}

/// `auth-tls-secret: NAMESPACE/NAME` (its `ca.crt`) and
/// `auth-tls-verify-client: on | optional | off`.
fn client_verify(a: &mut Reader<'_, '_, '_>, tls: &mut TlsAnnotations) {
    let mode = a.get("auth-tls-verify-client").map(str::to_ascii_lowercase).unwrap_or_else(|| "on".into());
    let Some(secret) = a.get("auth-tls-secret").map(str::to_owned) else { return };
    let optional = match mode.as_str() {
        "on" => false,
        "optional" => true,
        "off" => return,
        other => {
            a.bad("auth-tls-verify-client", format!("'{other}' is not on, optional or off; its hosts are not served"));
            tls.refuse = true;
            return;
        }
    };
    let namespace = a.r.namespace.clone();
    let (ns, name) = secret.split_once('/').unwrap_or((namespace.as_str(), secret.as_str()));
    let (ns, name, r) = (ns.to_owned(), name.to_owned(), a.r.clone());
    let field = format!("metadata.annotations[{NGINX}auth-tls-secret]");
    let by = Referrer { object: &r, field: &field };
    match a.t.certs.authority(&mut a.t.diags, &ns, &name, by) {
        Some(ca) => tls.client_verify = Some(ClientVerify { ca, optional }),
        None => {
            a.bad("auth-tls-secret", "no usable CA: this Ingress's hosts are not served without the check".into());
            tls.refuse = true;
        }
    }
}

fn cluster_policy(a: &mut Reader<'_, '_, '_>, table_size: u32) -> ClusterPolicy {
    let mut p = ClusterPolicy::default();
    if let Some(v) = a.get("load-balance").map(str::to_owned) {
        match v.as_str() {
            "round_robin" => {}
            "least_conn" | "leastconn" | "least_connections" => p.balance = Balance::LeastConnections,
            "ewma" => {
                p.balance = Balance::LeastConnections;
                a.t.diags.push(Diagnostic::warning(
                    a.r.clone(),
                    format!("metadata.annotations[{NGINX}load-balance]"),
                    "ewma is served as least connections",
                ));
            }
            other => {
                a.bad("load-balance", format!("'{other}' is not round_robin, least_conn or ewma; round robin is used"))
            }
        }
    }
    // As in ingress-nginx, a hash key takes precedence over load-balance.
    if let Some(v) = a.get("upstream-hash-by").map(str::to_owned) {
        match parse_hash_key(&v) {
            Ok(_) => p.balance = Balance::Hash { key: v, table_size },
            Err(e) => a.bad("upstream-hash-by", format!("{e}; ignored")),
        }
    }
    match a.get("affinity").map(str::to_owned) {
        None => {}
        Some(v) if v == "cookie" => {
            let name = a.get("session-cookie-name").filter(|n| !n.is_empty()).unwrap_or("INGRESSCOOKIE").to_owned();
            let max_age = match a.get("session-cookie-max-age").or_else(|| a.get("session-cookie-expires")) {
                None => None,
                Some(m) => match m.parse::<u64>() {
                    Ok(s) => Some(s),
                    Err(_) => {
                        let m = m.to_owned();
                        a.bad(
                            "session-cookie-max-age",
                            format!("'{m}' is not a number of seconds; a session cookie is used"),
                        );
                        None
                    }
                },
            };
            let mode = match a.get("affinity-mode") {
                None | Some("balanced") => AffinityMode::Balanced,
                Some("persistent") => AffinityMode::Persistent,
                Some(other) => {
                    let other = other.to_owned();
                    a.bad("affinity-mode", format!("'{other}' is not balanced or persistent; balanced is used"));
                    AffinityMode::Balanced
                }
            };
            let path = a.get("session-cookie-path").filter(|p| p.starts_with('/')).unwrap_or("/").to_owned();
            let same_site = a.get("session-cookie-samesite").map(str::to_owned);
            p.affinity = Some(Affinity::Cookie { name, max_age_seconds: max_age, path, mode, same_site });
        }
        Some(other) => a.bad("affinity", format!("'{other}' is not supported (cookie is); no affinity")),
    }
    p
}

fn canary(a: &mut Reader<'_, '_, '_>) -> CanarySpec {
    let total = a.int("canary-weight-total", 1, 1_000_000).unwrap_or(100);
    let weight = a.int("canary-weight", 0, total).unwrap_or(0);
    let header = a.get("canary-by-header").filter(|h| !h.is_empty()).map(str::to_ascii_lowercase);
    let header = match header {
        Some(name) if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b)) => {
            a.bad("canary-by-header", format!("'{name}' is not a valid header name; ignored"));
            None
        }
        Some(name) => {
            let value = a.get("canary-by-header-value").filter(|v| !v.is_empty()).map(str::to_owned);
            let mut pattern = a.get("canary-by-header-pattern").filter(|v| !v.is_empty()).map(str::to_owned);
            if value.is_some() {
                pattern = None;
            }
            if let Some(p) = &pattern
                && let Err(e) = regex::Regex::new(&format!("^(?:{p})$"))
            {
                a.bad("canary-by-header-pattern", format!("not a valid regular expression ({e}); ignored"));
                pattern = None;
            }
            Some(HeaderMatch { name, value, pattern })
        }
        None => None,
    };
    let cookie = a.get("canary-by-cookie").filter(|c| !c.is_empty()).map(str::to_owned);
    CanarySpec { weight, total, header, cookie }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8m"), Some(Some(8 << 20)));
        assert_eq!(parse_size("512K"), Some(Some(512 << 10)));
        assert_eq!(parse_size("100"), Some(Some(100)));
        assert_eq!(parse_size("0"), Some(None));
        assert_eq!(parse_size("1g"), Some(Some(1 << 30)));
        assert_eq!(parse_size("8mb"), None);
        assert_eq!(parse_size("m"), None);
    }
}
