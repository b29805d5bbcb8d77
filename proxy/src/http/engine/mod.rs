//! Sluice's own proxy loop on pingora-core: pingora's HTTP sessions (its
//! codec and request-smuggling checks) on both sides, and nothing of
//! pingora-proxy's generic pipeline. Per request: the shared admission
//! (route, edge checks, split, cluster), then attempts on endpoints over
//! this worker's upstream connections, the response streamed back, both
//! connections kept alive when they can be.

mod auth_request;
mod connection;
mod error_page;
mod exchange;
mod pool;
mod request_log;
mod upstream;

use super::admission::{Admission, ListenerRoutes, Scheme};
use super::client_certificate;
use super::client_stream::ClientStream;
use super::context::RequestCtx;
use super::external_auth::Verdict;
use super::mirror;
use crate::access_log::AccessLog;
use crate::http::request_id;
use crate::metrics::METRICS;
use crate::route_table::RouteTable;
use crate::spans::{self, Spans};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use exchange::ConnectionSettings;
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora_core::connectors::ConnectorOptions;
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_http::ResponseHeader;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use connection::Connections;
use upstream::Upstreams;

/// What watches each request: its access-log line and its span.
pub struct Observers {
    pub access_log: Option<Arc<AccessLog>>,
    pub spans: Option<Arc<Spans>>,
}

/// One listener's proxy loop on one worker.
pub struct Engine {
    table: Arc<ArcSwap<RouteTable>>,
    routes: ListenerRoutes,
    /// The listener's port as `X-Forwarded-Port` carries it.
    port: http::HeaderValue,
    upstreams: Upstreams,
    /// h2c, the HTTP/2 idle timeout.
    options: HttpServerOptions,
    /// HTTP/1 header names keep the case they arrived in (a second header
    /// map a message when on).
    preserve_header_case: bool,
    access_log: Option<Arc<AccessLog>>,
    spans: Option<Arc<Spans>>,
}

impl Engine {
    pub(super) fn new(
        table: Arc<ArcSwap<RouteTable>>,
        routes: ListenerRoutes,
        port: u16,
        options: HttpServerOptions,
        connector: ConnectorOptions,
        preserve_header_case: bool,
        observers: Observers,
    ) -> Self {
        let upstreams = Upstreams::new(connector, preserve_header_case);
        let Observers { access_log, spans } = observers;
        Engine { table, routes, port: port.into(), upstreams, options, preserve_header_case, access_log, spans }
    }

    /// Reads one request from `session` and serves it; the connection back
    /// when it can carry the next one.
    pub(super) async fn handle(
        &self,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match session.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            // A head that cannot be parsed (smuggling attempts among them)
            // is answered 400 and the connection closed.
            Err(e) => {
                if matches!(e.etype(), pingora_error::ErrorType::InvalidHTTPHeader) {
                    let _ = session.respond_error(400).await;
                }
                session.shutdown().await;
                return None;
            }
        }
        // A request the client sent before this one's answer (pipelining)
        // is served next, in order, as nginx does.
        session.set_pipelining_enabled(true);
        if *shutdown.borrow() {
            session.set_keepalive(None);
        }
        METRICS.active_requests.inc();
        let mut ctx = RequestCtx { started: Some(Instant::now()), ..RequestCtx::default() };
        let reusable = self.serve(&mut session, &mut ctx).await;
        request_log::finish(&session, &mut ctx, self.access_log.as_deref(), self.routes.scheme.as_str());
        if let Some(client) = client_stream(&session) {
            client.request_done();
        }
        if !reusable {
            // What was written reaches the client before the close (a
            // broken answer shows as broken, not empty).
            session.shutdown().await;
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        let stream = session.finish().await.ok().flatten()?;
        Some(ReusedHttpStream::from_reusable_stream(stream, settings))
    }

    /// Serves the request read into `session`; `true` when the client
    /// connection may be kept for the next one.
    async fn serve(&self, session: &mut ServerSession, ctx: &mut RequestCtx) -> bool {
        let table = self.table.load();
        let head = session.req_header();
        ctx.request_id = Some(request_id::of(&head.headers));
        let trace = spans::incoming(&head.headers);
        ctx.drop_trace_headers = trace.drop_headers;
        let peer_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        // Behind a trusted proxy the client is who its header names
        // (nginx's realip module: the access log, limits and lists see it).
        let client_ip = match (table.real_ip(), peer_ip) {
            (Some(real), Some(peer)) => {
                let values = head.headers.get_all(real.header.as_str()).iter().filter_map(|v| v.to_str().ok());
                Some(real.client(peer, values))
            }
            _ => peer_ip,
        };
        ctx.pass_forwarded = table.real_ip().is_some_and(|r| r.pass_forwarded && peer_ip.is_some_and(|p| r.trusts(p)));
        let presented = || client_certificate::presented(session);
        let sni = || crate::tls::server_name::of(session.digest());
        let admission = self.routes.admit(&table, session.req_header(), client_ip, (presented, sni), ctx);
        if self.routes.scheme == Scheme::Https {
            ctx.hsts = table.hsts().cloned();
        }
        let traced = ctx.route.as_ref().is_none_or(|r| r.policy.opentelemetry != Some(false));
        if let Some(spans) = self.spans.as_ref().filter(|_| traced) {
            ctx.span = Some(Box::new(spans.begin(session.req_header().method.as_str(), &trace.parent)));
        }
        ctx.observed = self.access_log.is_some() || ctx.span.is_some();
        match admission {
            Admission::Proxy => {
                if let Some(extras) = ctx.extras.as_mut()
                    && let Some(pass) = extras.client_verify
                {
                    extras.client_certificate = client_certificate::headers(presented(), pass);
                }
                // Held past the exchange (which takes the context) only by
                // routes that need it after: a plain request clones nothing.
                let needs_route =
                    ctx.route.as_ref().is_some_and(|r| r.external_auth.is_some() || !r.mirrors.is_empty());
                let route = if needs_route { ctx.route.clone() } else { None };
                if let Some(route) = &route
                    && let (Some(auth), Some(state)) = (&route.policy.external_auth, &route.external_auth)
                {
                    // Boxed: the check's future is large, and a request
                    // without auth should not carry its size.
                    match Box::pin(auth_request::check(self, session, ctx, auth, state)).await {
                        Verdict::Allow { headers, cookies } => {
                            let extras = ctx.extras();
                            (extras.auth_headers, extras.auth_cookies) = (headers, cookies);
                        }
                        Verdict::Refuse(status, headers) => return answer(session, ctx, status, headers).await,
                    }
                }
                let connections = table.connections();
                let settings = ConnectionSettings {
                    body_timeout: Duration::from_millis(connections.body_timeout_ms),
                    upstream: connections.upstream,
                };
                let mut body = None;
                let kept = exchange::proxy(self, session, ctx, settings, &mut body).await;
                if let Some(route) = &route
                    && !route.mirrors.is_empty()
                {
                    let body = match &body {
                        Some(read) => match read.copy_up_to(mirror::BODY_LIMIT) {
                            Some(copy) => Some(copy),
                            None => return kept,
                        },
                        None if session.retry_buffer_truncated() => return kept,
                        None => session.get_retry_buffer(),
                    };
                    let scheme = self.routes.scheme.as_str();
                    for (mirror, cluster) in route.policy.mirrors.iter().zip(&route.mirrors) {
                        if let Some(cluster) = cluster.as_ref().filter(|_| mirror::sampled(mirror)) {
                            mirror::send(mirror, cluster, session.req_header(), body.clone(), scheme, ctx.client_ip);
                        }
                    }
                }
                kept
            }
            Admission::Local(status) => local(session, ctx, status).await,
            Admission::Answer(status, headers) => answer(session, ctx, status, headers).await,
        }
    }
}

/// Answers at the edge with `status` and `headers`, without a body (a
/// redirect, a preflight, a refusal).
async fn answer(
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    status: u16,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
) -> bool {
    ctx.local_status = Some(status);
    let Ok(mut resp) = ResponseHeader::build(status, Some(headers.len() + 1)) else { return false };
    let written = headers.into_iter().all(|(name, value)| resp.append_header(name, value).is_ok())
        && resp.insert_header(http::header::CONTENT_LENGTH, "0").is_ok();
    exchange::finish_answer(ctx, &mut resp);
    let drained = discard_body(session).await;
    written && session.write_response_header(Box::new(resp)).await.is_ok() && drained
}

/// Answers at the edge with `status` (an empty body, nginx's status line).
async fn local(session: &mut ServerSession, ctx: &mut RequestCtx, status: u16) -> bool {
    ctx.local_status = Some(status);
    let drained = discard_body(session).await;
    session.respond_error(status).await.is_ok() && drained
}

/// Reads away the body the client may still be sending, so the connection
/// can carry its next request: for at most nginx's `lingering_time`. A
/// client waiting for `100 Continue` sends none. `false`: the connection
/// is to close after the answer.
async fn discard_body(session: &mut ServerSession) -> bool {
    if exchange::expects_continue(session.req_header()) && session.body_bytes_read() == 0 {
        session.set_keepalive(None);
        return false;
    }
    matches!(tokio::time::timeout(LINGERING_TIME, session.drain_request_body()).await, Ok(Ok(())))
}

/// How long an answered request's unread body is read away at most.
const LINGERING_TIME: Duration = Duration::from_secs(30);

/// pingora's HTTP/2 connections hand each stream here.
#[async_trait]
impl HttpServerApp for Engine {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        self.handle(session, shutdown).await
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.options)
    }
}

/// Sluice's client stream under the session, which keeps the keep-alive
/// and header deadlines.
fn client_stream(session: &ServerSession) -> Option<&ClientStream<Stream>> {
    session.stream().and_then(|s| s.as_ref().as_any().downcast_ref::<ClientStream<Stream>>())
}
