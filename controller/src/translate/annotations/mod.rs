//! ingress-nginx annotations: the ones Sluice honours, parsed with a
//! diagnostic per bad value, and an honest warning for every other one.

use super::Translator;
use super::certificates::Referrer;
use super::nginx_values;
use catalogue::Support;
use ipnet::IpNet;
use k8s_openapi::api::networking::v1::Ingress;
use sluice_config::{
    Affinity, AffinityMode, Balance, ClientVerify, Diagnostic, ExternalAuth, HeaderMatch, ObjectRef, RateLimit,
    Redirect, ResponseBuffer, RewriteTarget, RoutePolicy, UpstreamProtocol, parse_hash_key,
};
use std::collections::BTreeMap;

mod basic_auth;
pub mod catalogue;
mod cors;
mod custom_headers;
mod error_backend;
mod external_auth;
mod mirror;
mod snippet;

pub(crate) const NGINX: &str = "nginx.ingress.kubernetes.io/";

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
    /// `server-alias`: more names for the Ingress's hosts.
    pub aliases: Vec<String>,
    /// `from-to-www-redirect`.
    pub www_redirect: bool,
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
    /// ingress-nginx `service-upstream`: the Service's ClusterIP is the one
    /// endpoint (kube-proxy or Sluice's eBPF balances behind it).
    pub service_upstream: bool,
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
        if self.service_upstream {
            tags.push("service-upstream".to_owned());
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
    values: Option<&'s BTreeMap<String, String>>,
    /// Ingress annotations, or the controller ConfigMap's `global-*` keys.
    from: From,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum From {
    Annotations,
    ConfigMapGlobal,
}

impl Reader<'_, '_, '_> {
    /// The field a value is read from.
    fn key(&self, name: &str) -> String {
        match self.from {
            From::Annotations => format!("{NGINX}{name}"),
            From::ConfigMapGlobal => format!("global-{name}"),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(
            self.from != From::Annotations
                || matches!(catalogue::support(name), Some(Support::Full | Support::Partly(_))),
            "{name} is read but the catalogue does not say it is supported"
        );
        self.values?.get(&self.key(name)).map(|s| s.trim())
    }

    pub(super) fn bad(&mut self, name: &str, message: String) {
        let field = match self.from {
            From::Annotations => format!("metadata.annotations[{}]", self.key(name)),
            From::ConfigMapGlobal => format!("data[{}]", self.key(name)),
        };
        self.t.diags.push(Diagnostic::error(self.r.clone(), field, message));
    }

    /// Reads `name` with `parse`; a bad value is named with `fallback`
    /// (what is done instead) and gives `None`.
    pub(super) fn parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
        fallback: &str,
    ) -> Option<T> {
        let v = self.get(name)?.to_owned();
        parse(&v).map_err(|e| self.bad(name, format!("{e}; {fallback}"))).ok()
    }

    /// Seconds, as ingress-nginx writes them ("10"; "10s" is accepted too).
    fn seconds(&mut self, name: &str) -> Option<u64> {
        self.parsed(name, nginx_values::seconds, "the default is used")
    }

    /// `"true"` / `"false"` (ingress-nginx's `on` / `off` too).
    pub(super) fn flag(&mut self, name: &str, default: bool) -> bool {
        self.parsed(name, nginx_values::flag, &format!("{default} is used")).unwrap_or(default)
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

    /// A comma-separated list of networks; `Err` when an entry is not one
    /// (named in a diagnostic).
    fn networks(&mut self, name: &str) -> Option<Result<Vec<IpNet>, ()>> {
        self.networks_or(name, "every client is refused (403)")
    }

    fn networks_or(&mut self, name: &str, fallback: &str) -> Option<Result<Vec<IpNet>, ()>> {
        let v = self.get(name)?.to_owned();
        Some(nginx_values::networks(&v).map_err(|e| self.bad(name, format!("{e}; {fallback}"))))
    }

    fn int(&mut self, name: &str, min: u32, max: u32) -> Option<u32> {
        self.parsed(name, |v| nginx_values::int(v, min, max), "ignored")
    }
}

impl Translator<'_> {
    /// The controller ConfigMap's `global-auth-url` and its companions
    /// (`global-auth-method`, `-signin`, `-response-headers`, ...), read as
    /// the annotations of the same names are.
    pub(super) fn global_auth(&mut self) -> Option<ExternalAuth> {
        let name = self.options.configmap.clone()?;
        let (ns, cm) = name.split_once('/').unwrap_or(("default", name.as_str()));
        let r = ObjectRef::new("ConfigMap", ns, cm);
        let store = self.store;
        let values = store.config_maps.get(&(ns.to_owned(), cm.to_owned()))?.data.as_ref();
        let mut a = Reader { t: self, r: &r, values, from: From::ConfigMapGlobal };
        external_auth::external_auth(&mut a)
    }

    pub(super) fn annotations(&mut self, ing: &Ingress, r: &ObjectRef) -> IngressAnnotations {
        let mut policy = self.config.defaults.clone();
        let (ssl_redirect, force_ssl_redirect) = (self.config.ssl_redirect, self.config.force_ssl_redirect);
        let mut a = Reader { t: self, r, values: ing.metadata.annotations.as_ref(), from: From::Annotations };
        if let Some(ms) = a.seconds("proxy-connect-timeout") {
            policy.connect_timeout_ms = ms;
        }
        if let Some(ms) = a.seconds("proxy-read-timeout") {
            policy.read_timeout_ms = ms;
        }
        if let Some(ms) = a.seconds("proxy-send-timeout") {
            policy.send_timeout_ms = ms;
        }
        if let Some(on) = a.parsed("proxy-next-upstream", nginx_values::retry_on, "the default is used") {
            policy.retry.on = on;
        }
        if let Some(n) = a.int("proxy-next-upstream-tries", 0, 100) {
            policy.retry.tries = n;
        }
        if let Some(limit) = a.parsed("proxy-body-size", nginx_values::size, "the default is used") {
            policy.max_body_bytes = limit;
        }
        if let Some(rps) = a.int("limit-rps", 1, 1_000_000) {
            // ingress-nginx: burst = rps × limit-burst-multiplier (default 5).
            let multiplier = a.int("limit-burst-multiplier", 1, 1000).unwrap_or(5);
            policy.limit_rps = Some(RateLimit { rps, burst: rps.saturating_mul(multiplier) });
        }
        if let Some(rpm) = a.int("limit-rpm", 1, 60_000_000) {
            let multiplier = a.int("limit-burst-multiplier", 1, 1000).unwrap_or(5);
            policy.limit_rpm = Some(RateLimit { rps: rpm, burst: rpm.saturating_mul(multiplier) });
        }
        policy.limit_connections = a.int("limit-connections", 1, 1_000_000);
        // A list that cannot be read exempts nobody: the limits stay.
        if let Some(Ok(exempt)) = a.networks_or("limit-whitelist", "nobody is exempt from the limits") {
            policy.limit_exempt = exempt;
        }
        if let Some(ms) = a.parsed("proxy-next-upstream-timeout", nginx_values::seconds_or_zero, "no limit") {
            policy.next_upstream_timeout_ms = ms;
        }
        match (a.get("proxy-redirect-from").map(str::to_owned), a.get("proxy-redirect-to").map(str::to_owned)) {
            (Some(from), Some(to)) if !from.eq_ignore_ascii_case("off") && !from.eq_ignore_ascii_case("default") => {
                match (sluice_config::HeaderOp::check("Location", &from), sluice_config::HeaderOp::check("Location", &to)) {
                    (Ok(()), Ok(())) if !from.is_empty() => {
                        policy.location_rewrite = Some(sluice_config::LocationRewrite { from, to })
                    }
                    _ => a.bad("proxy-redirect-from", format!("'{from}' to '{to}' cannot be rewritten (empty, or names an nginx variable); Location is left alone")),
                }
            }
            (Some(_), None) => a.bad("proxy-redirect-to", "missing: proxy-redirect-from needs it; Location is left alone".into()),
            _ => {}
        }
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
        if let Some(reference) = a.get("proxy-ssl-secret").map(str::to_owned) {
            let namespace = r.namespace.clone();
            let (ns, name) = reference.split_once('/').unwrap_or((namespace.as_str(), reference.as_str()));
            let field = format!("metadata.annotations[{NGINX}proxy-ssl-secret]");
            let by = Referrer { object: r, field: &field };
            let t = &mut *a.t;
            policy.upstream_certificate = t.certs.certificate(&mut t.diags, ns, name, by);
            let has_ca = t
                .store
                .secrets
                .get(&(ns.to_owned(), name.to_owned()))
                .is_some_and(|s| super::tls_secret::value(s, super::tls_secret::CA_KEY).is_some());
            if has_ca {
                policy.upstream_ca = t.certs.authority(&mut t.diags, ns, name, Referrer { object: r, field: &field });
            }
            if policy.upstream_certificate.is_none() {
                // Without its certificate the upstream would refuse us or,
                // worse, take us as someone else: not served in that form.
                a.bad("proxy-ssl-secret", format!("Secret {ns}/{name} has no usable tls.crt and tls.key"));
            }
        }
        let sni_name = a.get("proxy-ssl-name").filter(|n| !n.is_empty()).map(str::to_owned);
        let sni_name = sni_name.filter(|n| {
            let ok = crate::names::check_host(n).is_ok() && !n.starts_with("*.");
            if !ok {
                a.bad("proxy-ssl-name", format!("'{n}' is not a host name; the request's host is used"));
            }
            ok
        });
        let send_sni = a.get("proxy-ssl-server-name").is_none() || a.flag("proxy-ssl-server-name", true);
        policy.upstream_sni = if send_sni { sni_name } else { Some(String::new()) };
        if let Some(v) = a.get("proxy-http-version").map(str::to_owned) {
            if v != "1.1" && v != "1.0" {
                a.bad("proxy-http-version", format!("'{v}' is not a value ingress-nginx takes; ignored"));
            } else if v == "1.0" {
                a.t.diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("metadata.annotations[{NGINX}proxy-http-version]"),
                    format!("'{v}' is not served: see `sluice annotations`"),
                ));
            }
        }
        response_buffer(&mut a, &mut policy);
        let size =
            a.parsed("client-body-buffer-size", nginx_values::size, "the default is used").map(|s| s.unwrap_or(0));
        let on = a.parsed("proxy-request-buffering", nginx_values::flag, "the default is used");
        let memory = size.or(policy.request_buffer).unwrap_or(sluice_config::REQUEST_BUFFER_DEFAULT);
        policy.request_buffer = on.unwrap_or(policy.request_buffer.is_some()).then_some(memory);
        a.parsed("proxy-busy-buffers-size", nginx_values::size, "ignored");
        // nginx's `limit_rate` and `limit_rate_after`, in kilobytes here.
        let rate = a.parsed("limit-rate", |v| nginx_values::int(v, 0, 4_000_000), "no limit");
        let after = a.parsed("limit-rate-after", |v| nginx_values::int(v, 0, 4_000_000), "0 is used");
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let after_bytes = u64::from(after.unwrap_or(0)) * 1024;
            policy.response_rate =
                Some(sluice_config::ResponseRate { bytes_per_second: u64::from(rate) * 1024, after_bytes });
        }
        match a.get("affinity-canary-behavior") {
            None | Some("sticky") => {}
            Some("legacy") => policy.sticky_canary = false,
            Some(other) => {
                let other = other.to_owned();
                a.bad("affinity-canary-behavior", format!("'{other}' is not sticky or legacy; sticky is used"));
            }
        }
        if let Some(value) = a.get("connection-proxy-header").map(str::to_owned) {
            if http::HeaderValue::from_str(&value).is_ok() && !value.is_empty() {
                policy.upstream_connection = Some(value);
            } else {
                a.bad("connection-proxy-header", format!("'{value}' is not a header value; not set"));
            }
        }
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
        // An annotation replaces the ConfigMap's list of the same kind.
        let allow = a.networks("allowlist-source-range").or_else(|| a.networks("whitelist-source-range"));
        match (allow, a.networks("denylist-source-range")) {
            // A list that cannot be read fails closed, as ingress-nginx
            // denies the location.
            (Some(Err(())), _) | (_, Some(Err(()))) => {
                policy.deny_sources = ["0.0.0.0/0", "::/0"].iter().filter_map(|n| n.parse().ok()).collect();
            }
            (allow, deny) => {
                if let Some(Ok(allow)) = allow {
                    policy.allow_sources = allow;
                }
                if let Some(Ok(deny)) = deny {
                    policy.deny_sources = deny;
                }
            }
        }
        policy.deny_sources.extend(a.t.config.block_cidrs.iter().copied());
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
        // ingress-nginx: an Ingress's own auth-url wins over the global one.
        if policy.external_auth.is_none() && a.flag("enable-global-auth", true) {
            policy.external_auth = a.t.config.global_auth.clone();
        }
        policy.error_backend = error_backend::error_backend(&mut a);
        policy.mirrors = mirror::mirror(&mut a).into_iter().collect();
        if a.get("enable-opentelemetry").is_some() {
            policy.opentelemetry = Some(a.flag("enable-opentelemetry", true));
        }
        let mut tls = TlsAnnotations {
            ssl_redirect: a.flag("ssl-redirect", ssl_redirect),
            force_ssl_redirect: a.flag("force-ssl-redirect", force_ssl_redirect),
            passthrough: a.flag("ssl-passthrough", false),
            ..TlsAnnotations::default()
        };
        client_verify(&mut a, &mut tls);

        let table_size = a.t.options.maglev_table_size;
        let cluster = cluster_policy(&mut a, table_size);
        let canary = if a.get("canary") == Some("true") { Some(canary(&mut a)) } else { None };

        let mut aliases = Vec::new();
        let listed = a.get("server-alias").unwrap_or("").to_owned();
        for alias in listed.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            match crate::names::check_host(alias) {
                Ok(()) => aliases.push(alias.to_ascii_lowercase()),
                Err(e) => a.bad("server-alias", format!("{e}; not an alias")),
            }
        }
        let www_redirect = a.flag("from-to-www-redirect", false);
        let mut refused = !snippet::snippets(&mut a, &mut policy);
        match custom_headers::custom_headers(&mut a) {
            Some(Ok(ops)) => policy.response_headers.extend(ops),
            Some(Err(())) => refused = true,
            None => {}
        }
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
        IngressAnnotations { policy, use_regex, tls, cluster, canary, refused, aliases, www_redirect }
    }
}

/// `proxy-buffering` with `proxy-buffers-number`, `proxy-buffer-size` and
/// `proxy-max-temp-file-size` (ingress-nginx's defaults: off, 4, 4k,
/// 1024m), over what the controller ConfigMap set.
fn response_buffer(a: &mut Reader<'_, '_, '_>, policy: &mut RoutePolicy) {
    let base = policy.response_buffer;
    let on = a.parsed("proxy-buffering", nginx_values::flag, "the default is used").unwrap_or(base.is_some());
    let number = a.parsed("proxy-buffers-number", |v| nginx_values::int(v, 1, 1024), "the default is used");
    let size = a.parsed("proxy-buffer-size", nginx_values::size, "the default is used").map(|s| s.unwrap_or(0));
    let file = a.parsed("proxy-max-temp-file-size", nginx_values::size, "the default is used").map(|s| s.unwrap_or(0));
    let defaults = base.unwrap_or_default();
    let max_file_bytes = file.unwrap_or(defaults.max_file_bytes);
    let buffer = match (number, size) {
        (None, None) => ResponseBuffer { max_file_bytes, ..defaults },
        (n, s) => ResponseBuffer::sized(
            n.unwrap_or(ResponseBuffer::BUFFERS),
            s.unwrap_or(ResponseBuffer::BUFFER_SIZE),
            max_file_bytes,
        ),
    };
    policy.response_buffer = on.then_some(buffer);
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
        Some(ca) => {
            let pass_certificate = a.flag("auth-tls-pass-certificate-to-upstream", false);
            // ingress-nginx's default depth is 1: one intermediate at most.
            let depth = a.parsed("auth-tls-verify-depth", |v| nginx_values::int(v, 0, 100), "1 is used");
            let verify_depth = Some(depth.unwrap_or(1) as u8);
            let error_page = a.get("auth-tls-error-page").map(str::to_owned).filter(|url| {
                let absolute = url.parse::<http::Uri>().is_ok_and(|u| u.scheme().is_some() && u.host().is_some());
                if !absolute {
                    a.bad("auth-tls-error-page", format!("'{url}' is not an absolute URL; failures end the handshake"));
                }
                absolute
            });
            tls.client_verify = Some(ClientVerify {
                ca,
                optional,
                pass_certificate,
                verify_depth,
                error_page,
                insecure_fallback: false,
            })
        }
        None => {
            a.bad("auth-tls-secret", "no usable CA: this Ingress's hosts are not served without the check".into());
            tls.refuse = true;
        }
    }
}

fn cluster_policy(a: &mut Reader<'_, '_, '_>, table_size: u32) -> ClusterPolicy {
    let mut p = ClusterPolicy { service_upstream: a.flag("service-upstream", false), ..ClusterPolicy::default() };
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
            let domain = a.get("session-cookie-domain").filter(|d| !d.is_empty()).map(str::to_owned);
            let domain = domain.filter(|d| {
                let ok = d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
                if !ok {
                    a.bad("session-cookie-domain", format!("'{d}' is not a domain; the cookie has none"));
                }
                ok
            });
            let secure = a.flag("session-cookie-secure", false);
            let change_on_failure = a.flag("session-cookie-change-on-failure", false);
            let max_age_seconds = max_age;
            p.affinity = Some(Affinity::Cookie {
                name,
                max_age_seconds,
                path,
                mode,
                same_site,
                domain,
                secure,
                change_on_failure,
            });
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
