use crate::access_log::UpstreamTry;
use crate::client_limits::ClientLease;
use crate::cluster::{ClusterState, InFlight};
use crate::route_table::CompiledRoute;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// What one request carries from its admission through its attempts.
#[derive(Default)]
pub struct RequestCtx {
    pub route: Option<Arc<CompiledRoute>>,
    pub cluster: Option<Arc<ClusterState>>,
    /// Endpoints tried, in order; the last one is the current attempt.
    pub tried: Vec<SocketAddr>,
    /// When the current attempt started.
    pub attempt_started: Option<Instant>,
    /// Set when the request was answered without an upstream (404, 413, 503).
    pub local_status: Option<u16>,
    /// Request body bytes seen, for the body size limit.
    pub body_bytes: u64,
    pub client_ip: Option<IpAddr>,
    /// The hash of the cluster's key (source hashing and the like).
    pub key_hash: Option<u64>,
    /// The endpoint (member index) of the current attempt.
    pub current: Option<usize>,
    /// Counts the current attempt in flight (least connections).
    pub lease: Option<InFlight>,
    /// Starts a cookie-affinity session.
    pub set_cookie: Option<String>,
    /// Holds the client's place under `limit-connections` until the request ends.
    pub client_lease: Option<ClientLease>,
    /// When the request's head had been read.
    pub started: Option<Instant>,
    /// `X-Request-ID`, the client's or made here.
    pub request_id: Option<http::HeaderValue>,
    /// Each attempt's endpoint, status, time and length, for the access log
    /// and the span; kept only when one of them is on (`observed`).
    pub upstreams: Vec<UpstreamTry>,
    pub observed: bool,
    /// The current attempt's status and response body bytes.
    pub attempt_status: Option<u16>,
    pub attempt_bytes: u64,
    /// Response body bytes sent to the client.
    pub bytes_sent: u64,
    /// The request's span, when spans are exported (boxed: the context
    /// stays small when they are not).
    pub span: Option<Box<opentelemetry_sdk::trace::Span>>,
    /// The client's trace headers were malformed: none go upstream.
    pub drop_trace_headers: bool,
    /// `Strict-Transport-Security` for the answer (HTTPS only).
    pub hsts: Option<http::HeaderValue>,
    /// `use-forwarded-headers` from a trusted peer: its `X-Forwarded-Proto`,
    /// `-Host` and `-Port` go upstream as they came.
    pub pass_forwarded: bool,
    /// What only some routes' requests carry, boxed so that a plain
    /// request's context stays small (it is built and moved per request).
    pub extras: Option<Box<Extras>>,
}

/// A request's state for the annotations that need it.
#[derive(Default)]
pub struct Extras {
    /// The let-in origin of a CORS route's request: its answer gets the
    /// `Access-Control-*` headers.
    pub cors_origin: Option<http::HeaderValue>,
    /// `auth-response-headers` of the auth service's answer, for the
    /// upstream request.
    pub auth_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The auth service's `Set-Cookie` values, for the client.
    pub auth_cookies: Vec<http::HeaderValue>,
    /// The upstream answered a `custom-http-errors` status: the default
    /// backend is asked for the page.
    pub error_page: Option<ErrorPage>,
    /// `proxy-ssl-secret`: the client certificate for the TLS upstream.
    pub upstream_identity: Option<super::UpstreamIdentity>,
    /// The host checks client certificates (`auth-tls-secret`); `true`:
    /// the certificate itself goes upstream too.
    pub client_verify: Option<bool>,
    /// A balanced cookie session's key, drawn at admission so that it keeps
    /// the side of the split the request took (`affinity-canary-behavior`).
    pub session_key: Option<String>,
    /// `ssl-client-*` for the upstream request.
    pub client_certificate: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl RequestCtx {
    /// The request's extras, made on first use.
    pub fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }
}

/// What the default backend is told of an intercepted answer.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub code: u16,
    /// The Service and port that answered it.
    pub service: String,
    pub port: u16,
}
