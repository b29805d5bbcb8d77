//! What a finished request leaves behind: its metrics, its access-log
//! line and its span.

use crate::access_log::{AccessLog, Entry};
use crate::http::admission::request_host;
use crate::http::context::RequestCtx;
use crate::http::forwarded::X_FORWARDED_FOR;
use crate::metrics::METRICS;
use crate::spans;
use base64::Engine as _;
use http::request::Parts;
use pingora_core::protocols::http::ServerSession;
use std::sync::LazyLock;
use std::time::Duration;

/// Counts the request and, when an access log is on, writes its line; ends
/// its span.
pub(super) fn finish(session: &ServerSession, ctx: &mut RequestCtx, access_log: Option<&AccessLog>, scheme: &str) {
    METRICS.active_requests.dec();
    let status = session.response_written().map(|r| r.status.as_u16()).or(ctx.local_status).unwrap_or(499);
    let host = ctx.route.as_ref().map(|r| &*r.host).unwrap_or("");
    let route = ctx.route.as_ref().map(|r| &*r.label).unwrap_or("");
    let cluster = ctx.cluster.as_ref().map(|c| c.name.as_str()).unwrap_or("");
    METRICS.requests.with_label_values(&[host, route, cluster, status_label(status)]).inc();
    let wanted = ctx.route.as_ref().is_none_or(|r| r.policy.access_log);
    let log = access_log.filter(|_| wanted);
    let span = ctx.span.take();
    if log.is_none() && span.is_none() {
        return;
    }
    // One description of the request serves the line and the span.
    let e = entry(session, ctx, status, scheme);
    if let Some(log) = log {
        log.log(&e);
    }
    if let Some(span) = span {
        let outcome = spans::Outcome {
            host: e.host,
            target: e.target,
            status,
            route: ctx.route.as_ref().map(|r| &*r.label),
            upstream_name: e.upstream_name,
            upstream_addr: ctx.upstreams.last().map(|u| u.address.to_string()),
            attempts: ctx.upstreams.len(),
            request_id: std::str::from_utf8(e.request_id).unwrap_or(""),
        };
        spans::end(*span, &outcome);
    }
}

fn entry<'a>(session: &'a ServerSession, ctx: &'a RequestCtx, status: u16, scheme: &'a str) -> Entry<'a> {
    let req: &Parts = session.req_header();
    let header = |name: http::header::HeaderName| req.headers.get(name).map(http::HeaderValue::as_bytes);
    let (upstream_name, alternative_upstream_name) = match (&ctx.route, &ctx.cluster) {
        (Some(route), Some(cluster)) => {
            let (name, alternative) = route.upstream_names(cluster);
            (Some(name), alternative)
        }
        _ => (None, None),
    };
    Entry {
        remote_addr: ctx.client_ip,
        remote_user: basic_auth_user(req),
        request_id: ctx.request_id.as_ref().map_or(&b""[..], http::HeaderValue::as_bytes),
        method: req.method.as_str(),
        host: request_host(req),
        target: req.uri.path_and_query().map_or("/", |p| p.as_str()),
        protocol: protocol(req.version),
        status,
        bytes_sent: ctx.bytes_sent,
        request_length: head_length(req) + ctx.body_bytes,
        request_time: ctx.started.map_or(Duration::ZERO, |s| s.elapsed()),
        referer: header(http::header::REFERER),
        user_agent: header(http::header::USER_AGENT),
        x_forwarded_for: req.headers.get(&X_FORWARDED_FOR).map(http::HeaderValue::as_bytes),
        upstream_name,
        alternative_upstream_name,
        upstreams: &ctx.upstreams,
        ingress: ctx.route.as_ref().and_then(|r| r.source.as_deref()),
        cluster: ctx.cluster.as_ref().map(|c| c.name.as_str()),
        scheme,
        headers: &req.headers,
    }
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The request line and header block as HTTP/1 writes them (nginx's
/// `$request_length` without the body).
fn head_length(req: &Parts) -> u64 {
    let target = req.uri.path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method.as_str().len() + 1 + target + 1 + "HTTP/1.1\r\n".len();
    let fields: usize = req.headers.iter().map(|(name, value)| name.as_str().len() + 2 + value.len() + 2).sum();
    (line + fields + 2) as u64
}

/// The user name of a Basic `Authorization` header (nginx's `$remote_user`),
/// whether or not the route checks it.
fn basic_auth_user(req: &Parts) -> Option<String> {
    let value = req.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials.trim()).ok()?;
    let user = decoded.split(|b| *b == b':').next()?;
    Some(String::from_utf8_lossy(user).into_owned())
}

/// Status codes as label values, made once, so the request path formats nothing.
fn status_label(code: u16) -> &'static str {
    static LABELS: LazyLock<Vec<&'static str>> =
        LazyLock::new(|| (0..600u16).map(|c| &*Box::leak(c.to_string().into_boxed_str())).collect());
    LABELS.get(usize::from(code)).copied().unwrap_or("other")
}
