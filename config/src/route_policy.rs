use crate::htpasswd::Users;
use crate::{Cors, ExternalAuth, HeaderOp, PathModifier, RewriteTarget, UrlRedirect};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, LazyLock};

/// How requests of a route are proxied: timeouts, retries, limits and the
/// protocol spoken to the upstream. Defaults are the BCS nginx baseline
/// (connect 5 s, send and read 60 s, retry the next endpoint on error,
/// timeout, 502, 503 and 504, body up to 500 MiB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoutePolicy {
    pub connect_timeout_ms: u64,
    /// Between two reads from the upstream (the response may stream longer).
    pub read_timeout_ms: u64,
    /// Between two writes to the upstream.
    pub send_timeout_ms: u64,
    pub retry: RetryPolicy,
    /// Largest request body accepted; larger gets 413. `None`: no limit.
    pub max_body_bytes: Option<u64>,
    pub upstream_protocol: UpstreamProtocol,
    /// Check the upstream's certificate (HTTPS and GRPCS upstreams;
    /// ingress-nginx `proxy-ssl-verify`). Off by default, as there.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub upstream_verify: bool,
    /// Plain-HTTP requests get a 308 to HTTPS (ingress-nginx `ssl-redirect`
    /// for TLS hosts, `force-ssl-redirect` for any).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ssl_redirect: bool,
    /// ingress-nginx `limit-rps` (and `limit-burst-multiplier`): requests a
    /// second per client address; beyond the burst they get 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_rps: Option<RateLimit>,
    /// ingress-nginx `limit-connections`: requests in progress per client
    /// address; more get 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_connections: Option<u32>,
    /// The route's requests are written to the access log (ingress-nginx
    /// `enable-access-log`).
    #[serde(skip_serializing_if = "is_true")]
    pub access_log: bool,
    /// ingress-nginx `permanent-redirect` / `temporal-redirect`: every
    /// request is answered with this redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
    /// ingress-nginx `app-root`: a request for `/` is redirected (302) here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_root: Option<String>,
    /// ingress-nginx `whitelist-source-range` (or `allowlist-`): when not
    /// empty, clients outside these networks get 403.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_sources: Vec<IpNet>,
    /// ingress-nginx `denylist-source-range`: clients in these networks get
    /// 403, whatever the allowlist says (nginx's `deny` lines come first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_sources: Vec<IpNet>,
    /// ingress-nginx `enable-opentelemetry`: `Some(false)` keeps the
    /// route's requests out of exported spans; `None` follows the process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opentelemetry: Option<bool>,
    /// ingress-nginx `rewrite-target`: the path the upstream gets, from the
    /// route's regex path (which is then a [`crate::PathKind::Regex`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite_target: Option<RewriteTarget>,
    /// ingress-nginx `x-forwarded-prefix`: sent as `X-Forwarded-Prefix`
    /// with a rewritten request, as ingress-nginx sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_prefix: Option<String>,
    /// ingress-nginx `upstream-vhost`: the `Host` the upstream sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_host: Option<String>,
    /// ingress-nginx `enable-cors` and `cors-*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// ingress-nginx `auth-type: basic`: a request without a listed user's
    /// password gets 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// ingress-nginx `auth-url` and its companions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth: Option<ExternalAuth>,
    /// ingress-nginx `limit-rpm`: requests a minute per client address
    /// (`rps` holds the count a minute); beyond the burst, 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_rpm: Option<RateLimit>,
    /// ingress-nginx `limit-whitelist`: clients in these networks are not
    /// rate or connection limited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limit_exempt: Vec<IpNet>,
    /// ingress-nginx `proxy-next-upstream-timeout`: no further attempt
    /// starts this long after the first. `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_upstream_timeout_ms: Option<u64>,
    /// Changes to the request the upstream gets, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers: Vec<HeaderOp>,
    /// Changes to every answer the client gets, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<HeaderOp>,
    /// ingress-nginx `from-to-www-redirect`: every request is redirected to
    /// the same URI on another host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_redirect: Option<HostRedirect>,
    /// ingress-nginx `proxy-redirect-from` / `-to`: the upstream's
    /// `Location` and `Refresh` rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_rewrite: Option<LocationRewrite>,
    /// A snippet's `allow` and `deny`, in order: the first that matches the
    /// client decides (403 when it denies); none matching lets it in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_rules: Vec<AccessRule>,
    /// A snippet's `return CODE;`: every request is answered so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_status: Option<u16>,
    /// ingress-nginx `default-backend` and `custom-http-errors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_backend: Option<ErrorBackend>,
    /// The name a TLS upstream is asked for (SNI) and checked against
    /// (ingress-nginx `proxy-ssl-name`); `None`: the request's host. Empty:
    /// no SNI (`proxy-ssl-server-name: "off"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_sni: Option<String>,
    /// The status of a request over `limit-rps` / `limit-rpm` (the
    /// controller ConfigMap's `limit-req-status-code`, 503 by default).
    #[serde(default = "limit_default", skip_serializing_if = "is_limit_default")]
    pub limit_status: u16,
    /// The status of a request over `limit-connections`
    /// (`limit-conn-status-code`, 503 by default).
    #[serde(default = "limit_default", skip_serializing_if = "is_limit_default")]
    pub limit_conn_status: u16,
    /// ingress-nginx `proxy-ssl-secret`: the certificate (an entry of the
    /// Snapshot's certificates) a TLS upstream gets as the client's, and
    /// the CA its certificate is checked against with `proxy-ssl-verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_certificate: Option<String>,
    /// The CA (an entry of the Snapshot's certificate authorities) a TLS
    /// upstream's certificate is checked against with `upstream_verify`
    /// (`proxy-ssl-secret`'s `ca.crt`, a BackendTLSPolicy's
    /// `caCertificateRefs`); `None`: the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ca: Option<String>,
    /// Gateway API BackendTLSPolicy `subjectAltNames`: a verified upstream
    /// certificate must carry one of these, and the SNI is then only sent,
    /// not checked. Empty: the certificate must match the SNI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_names: Vec<SubjectName>,
    /// ingress-nginx `mirror-target` and Gateway API RequestMirror filters:
    /// a copy of each request (or of a share of them) goes to each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<Mirror>,
    /// nginx's `proxy_request_buffering on` (its default): the whole body
    /// is read before an upstream is contacted, this many bytes in memory
    /// and the rest in a temporary file (`client-body-buffer-size`), so a
    /// slow client never holds an upstream connection. `None`: bodies
    /// stream to the upstream as they arrive.
    #[serde(default = "request_buffer_default", skip_serializing_if = "is_request_buffer_default")]
    pub request_buffer: Option<u64>,
    /// ingress-nginx `proxy-buffering: on` (off by default there): the
    /// upstream's answer is read as fast as it comes, held for a slower
    /// client in memory and then a temporary file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_buffer: Option<ResponseBuffer>,
    /// ingress-nginx `limit-rate` / `limit-rate-after`: each response is
    /// sent at most this fast to its connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_rate: Option<ResponseRate>,
    /// ingress-nginx `affinity-canary-behavior: sticky` (the default): with
    /// cookie affinity, a client's cookie keeps it on the side of the
    /// split (main or canary) that set it; off (`legacy`), each request's
    /// side is chosen anew.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub sticky_canary: bool,
    /// ingress-nginx `connection-proxy-header`: the `Connection` header the
    /// upstream gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_connection: Option<String>,
    /// Gateway API RequestRedirect: answered with a redirect to the
    /// request's URL with some parts replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_redirect: Option<Box<UrlRedirect>>,
    /// Gateway API URLRewrite's path: the path the upstream gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_rewrite: Option<PathModifier>,
}

/// Where an answer waits for a slow client: `memory_bytes` in memory
/// (`proxy-buffers-number` × `proxy-buffer-size`), then up to
/// `max_file_bytes` in a temporary file (`proxy-max-temp-file-size`; 0:
/// none), past which the upstream is read no faster than the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBuffer {
    pub memory_bytes: u64,
    pub max_file_bytes: u64,
}

impl ResponseBuffer {
    /// ingress-nginx's `proxy-buffers-number` and `proxy-buffer-size`.
    pub const BUFFERS: u32 = 4;
    pub const BUFFER_SIZE: u64 = 4096;

    /// `buffers` of `size` in memory, `max_file_bytes` in a file.
    pub fn sized(buffers: u32, size: u64, max_file_bytes: u64) -> Self {
        ResponseBuffer { memory_bytes: u64::from(buffers) * size, max_file_bytes }
    }
}

impl Default for ResponseBuffer {
    /// ingress-nginx's: 4 × 4k, then up to 1 GiB (`proxy-max-temp-file-size: 1024m`).
    fn default() -> Self {
        Self::sized(Self::BUFFERS, Self::BUFFER_SIZE, 1 << 30)
    }
}

/// A response's pace towards the client: the first `after_bytes` at full
/// speed, then `bytes_per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRate {
    pub bytes_per_second: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after_bytes: u64,
}

/// nginx's `client_body_buffer_size` on 64-bit machines (ingress-nginx's
/// default `client-body-buffer-size` is half of it, 8k, which sends more
/// bodies to a temporary file for no gain here).
pub const REQUEST_BUFFER_DEFAULT: u64 = 16 * 1024;

fn request_buffer_default() -> Option<u64> {
    Some(REQUEST_BUFFER_DEFAULT)
}

fn is_request_buffer_default(b: &Option<u64>) -> bool {
    *b == request_buffer_default()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Fire-and-forget copies of a route's requests; the mirror's answer and
/// failure never touch the client's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirror {
    /// The mirror's cluster (a Service by its cluster name, or an address).
    pub cluster: String,
    /// The copy's path and query, with `$request_uri`, `$uri`, `$args`,
    /// `$host`, `$scheme` expanded.
    pub target: String,
    /// Its `Host`, with the target's variables expanded (`mirror-host`,
    /// else the target's authority; the request's own for Gateway API
    /// mirrors).
    pub host: String,
    /// `mirror-request-body` (on by default).
    pub request_body: bool,
    /// Requests copied per million (Gateway API `percent`, `fraction`);
    /// a million, every one, by default.
    #[serde(default = "Mirror::every", skip_serializing_if = "Mirror::is_every")]
    pub per_million: u32,
}

impl Mirror {
    pub const EVERY: u32 = 1_000_000;

    fn every() -> u32 {
        Self::EVERY
    }

    fn is_every(n: &u32) -> bool {
        *n >= Self::EVERY
    }
}

/// A default backend for a route: it serves the route's requests while the
/// route's own clusters have no endpoint (`when_unavailable`, the
/// `default-backend` annotation), and answers in place of the upstream
/// when the upstream answers one of `codes` (`custom-http-errors`, with
/// ingress-nginx's `X-Code` headers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBackend {
    pub cluster: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<u16>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub when_unavailable: bool,
}

/// nginx's `allow` / `deny`; `net: None` is `all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    pub allow: bool,
    pub net: Option<IpNet>,
}

/// A redirect to the request's own URI on `host`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRedirect {
    pub host: String,
    pub status: u16,
}

/// nginx's `proxy_redirect FROM TO`: a `Location` starting with `from`
/// starts with `to` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationRewrite {
    pub from: String,
    pub to: String,
}

/// HTTP basic authentication against an htpasswd file's users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuth {
    pub realm: String,
    /// Empty when the users cannot be read: then nobody is let in.
    pub users: Users,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn limit_default() -> u16 {
    503
}

fn is_limit_default(status: &u16) -> bool {
    *status == 503
}

impl RoutePolicy {
    /// Whether a client at `ip` may be served under the source ranges.
    pub fn source_allowed(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let ranges = !self.deny_sources.iter().any(|n| n.contains(&ip))
            && (self.allow_sources.is_empty() || self.allow_sources.iter().any(|n| n.contains(&ip)));
        ranges && self.access_rules.iter().find(|r| r.net.is_none_or(|n| n.contains(&ip))).is_none_or(|r| r.allow)
    }
}

/// A redirect answered at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub location: String,
    /// 300-308.
    pub status: u16,
}

/// A token bucket per client address: `rps` a second, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub rps: u32,
    pub burst: u32,
}

impl RoutePolicy {
    /// Whether a TLS upstream is met otherwise than by default: with a
    /// client certificate, a CA of the route's or names to check.
    pub fn has_upstream_identity(&self) -> bool {
        self.upstream_certificate.is_some() || self.upstream_ca.is_some() || !self.upstream_names.is_empty()
    }
}

impl Default for RoutePolicy {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            read_timeout_ms: 60_000,
            send_timeout_ms: 60_000,
            retry: RetryPolicy::default(),
            max_body_bytes: Some(500 * 1024 * 1024),
            upstream_protocol: UpstreamProtocol::Http1,
            upstream_verify: false,
            ssl_redirect: false,
            limit_rps: None,
            limit_connections: None,
            access_log: true,
            opentelemetry: None,
            allow_sources: Vec::new(),
            deny_sources: Vec::new(),
            redirect: None,
            app_root: None,
            rewrite_target: None,
            forwarded_prefix: None,
            upstream_host: None,
            cors: None,
            basic_auth: None,
            external_auth: None,
            limit_rpm: None,
            limit_exempt: Vec::new(),
            next_upstream_timeout_ms: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            host_redirect: None,
            location_rewrite: None,
            access_rules: Vec::new(),
            answer_status: None,
            error_backend: None,
            upstream_sni: None,
            mirrors: Vec::new(),
            upstream_certificate: None,
            upstream_ca: None,
            upstream_names: Vec::new(),
            limit_status: 503,
            limit_conn_status: 503,
            request_buffer: request_buffer_default(),
            response_rate: None,
            response_buffer: None,
            sticky_canary: true,
            upstream_connection: None,
            url_redirect: None,
            path_rewrite: None,
        }
    }
}

impl RoutePolicy {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// `policy`, shared: the routes that ask for nothing hold one default
    /// between them, not over a kilobyte each.
    pub fn shared(policy: RoutePolicy) -> Arc<RoutePolicy> {
        static DEFAULT: LazyLock<Arc<RoutePolicy>> = LazyLock::new(Arc::default);
        if policy.is_default() { DEFAULT.clone() } else { Arc::new(policy) }
    }
}

/// nginx `proxy_next_upstream` and `proxy_next_upstream_tries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetryPolicy {
    /// When to try another endpoint. Empty: never.
    pub on: Vec<RetryOn>,
    /// Attempts in all, the first included.
    pub tries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            on: vec![RetryOn::Error, RetryOn::Timeout, RetryOn::Http502, RetryOn::Http503, RetryOn::Http504],
            tries: 3,
        }
    }
}

impl RetryPolicy {
    pub fn has(&self, on: RetryOn) -> bool {
        self.on.contains(&on)
    }
}

/// The conditions of nginx's `proxy_next_upstream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// The connection to the endpoint failed or broke before a response.
    Error,
    /// Connecting or reading the response header timed out.
    Timeout,
    /// The endpoint answered with something that is not HTTP.
    InvalidHeader,
    Http500,
    Http502,
    Http503,
    Http504,
    Http403,
    Http404,
    Http429,
    /// Also retry non-idempotent requests (POST, PATCH, ...).
    NonIdempotent,
}

impl RetryOn {
    pub fn status(self) -> Option<u16> {
        Some(match self {
            RetryOn::Http500 => 500,
            RetryOn::Http502 => 502,
            RetryOn::Http503 => 503,
            RetryOn::Http504 => 504,
            RetryOn::Http403 => 403,
            RetryOn::Http404 => 404,
            RetryOn::Http429 => 429,
            _ => return None,
        })
    }

    const ALL: [RetryOn; 11] = [
        RetryOn::Error,
        RetryOn::Timeout,
        RetryOn::InvalidHeader,
        RetryOn::Http500,
        RetryOn::Http502,
        RetryOn::Http503,
        RetryOn::Http504,
        RetryOn::Http403,
        RetryOn::Http404,
        RetryOn::Http429,
        RetryOn::NonIdempotent,
    ];

    /// nginx's spelling, as in the `proxy-next-upstream` annotation.
    pub fn name(self) -> &'static str {
        match self {
            RetryOn::Error => "error",
            RetryOn::Timeout => "timeout",
            RetryOn::InvalidHeader => "invalid_header",
            RetryOn::Http500 => "http_500",
            RetryOn::Http502 => "http_502",
            RetryOn::Http503 => "http_503",
            RetryOn::Http504 => "http_504",
            RetryOn::Http403 => "http_403",
            RetryOn::Http404 => "http_404",
            RetryOn::Http429 => "http_429",
            RetryOn::NonIdempotent => "non_idempotent",
        }
    }

    pub fn parse(word: &str) -> Option<RetryOn> {
        Self::ALL.into_iter().find(|r| r.name() == word)
    }

    /// The condition a response status is, if any.
    pub fn for_status(status: u16) -> Option<RetryOn> {
        Self::ALL.into_iter().find(|r| r.status() == Some(status))
    }
}

/// A subject alternative name an upstream's certificate may carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SubjectName {
    /// A DNS name, matched as certificate hostnames are (wildcards in the
    /// certificate included).
    Dns(String),
    /// A URI (a SPIFFE ID, say), compared whole.
    Uri(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    #[default]
    Http1,
    /// HTTP/2 without TLS, prior knowledge (gRPC).
    H2c,
    /// HTTP/1.1 over TLS.
    Https,
    /// HTTP/2 over TLS (gRPC over TLS).
    Grpcs,
}

impl UpstreamProtocol {
    /// Whether it is spoken over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, UpstreamProtocol::Https | UpstreamProtocol::Grpcs)
    }
}
