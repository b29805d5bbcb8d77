//! The pingora `ProxyHttp` service: one table read per request, then route,
//! canary or split, endpoint, forwarded headers, retries and metrics.

use super::admission::{Admission, ListenerRoutes, Scheme, host_without_port, request_cookies, request_host};
use super::client_stream::ClientStream;
use super::context::RequestCtx;
use super::forwarded::{self, Downstream};
use super::peer::upstream_peer;
use super::retry::{self, RETRY_STATUS};
use crate::cluster::PickInput;
use crate::metrics::METRICS;
use crate::route_table::RouteTable;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::protocols::Stream;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use sluice_config::RetryOn;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

/// The L7 proxy of one listener.
pub struct HttpService {
    table: Arc<ArcSwap<RouteTable>>,
    routes: ListenerRoutes,
    /// The listener's port as `X-Forwarded-Port` carries it.
    port: http::HeaderValue,
}

impl HttpService {
    pub fn new(table: Arc<ArcSwap<RouteTable>>, route_config: &str, port: u16, scheme: Scheme) -> Self {
        let routes = ListenerRoutes { route_config: route_config.to_owned(), scheme, https_port: 443 };
        Self { table, routes, port: port.into() }
    }

    /// The port of the HTTPS listener redirects point to.
    pub fn with_https_port(mut self, port: u16) -> Self {
        self.routes.https_port = port;
        self
    }
}

async fn respond_locally(session: &mut Session, ctx: &mut RequestCtx, status: u16) -> Result<bool> {
    ctx.local_status = Some(status);
    session.respond_error(status).await?;
    Ok(true)
}

#[async_trait]
impl ProxyHttp for HttpService {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// None: pingora's default adds a disabled compression module that
    /// still runs on every request; Sluice does not compress.
    fn init_downstream_modules(&self, _modules: &mut pingora_core::modules::http::HttpModules) {}

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        METRICS.active_requests.inc();
        ctx.counted = true;
        let table = self.table.load();
        let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        let has_certificate =
            || session.digest().and_then(|d| d.ssl_digest.as_ref()).is_some_and(|ssl| !ssl.cert_digest.is_empty());
        match self.routes.admit(&table, session.req_header(), client_ip, has_certificate, ctx) {
            Admission::Proxy => {
                if ctx.route.as_ref().is_some_and(|r| r.policy.retry.tries != 1 && !r.policy.retry.on.is_empty()) {
                    session.enable_retry_buffering();
                }
                Ok(false)
            }
            Admission::Local(status) => respond_locally(session, ctx, status).await,
            Admission::Redirect(location) => {
                ctx.local_status = Some(308);
                let mut resp = ResponseHeader::build(308, Some(2))?;
                resp.insert_header(http::header::LOCATION, location)?;
                resp.insert_header(http::header::CONTENT_LENGTH, "0")?;
                session.write_response_header(Box::new(resp), true).await?;
                Ok(true)
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let limit = ctx.route.as_ref().and_then(|r| r.policy.max_body_bytes);
        if let (Some(limit), Some(b)) = (limit, body.as_ref()) {
            ctx.body_bytes += b.len() as u64;
            if ctx.body_bytes > limit {
                return Error::e_explain(ErrorType::HTTPStatus(413), "request body over the limit");
            }
        }
        Ok(())
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let (Some(route), Some(cluster)) = (&ctx.route, &ctx.cluster) else {
            return Error::e_explain(ErrorType::HTTPStatus(503), "no route");
        };
        let cookies = request_cookies(session.req_header());
        let input = PickInput { client_ip: ctx.client_ip, key_hash: ctx.key_hash, cookies: cookies.as_deref() };
        let Some(picked) = cluster.pick(&input, &ctx.tried) else {
            return Error::e_explain(ErrorType::HTTPStatus(503), "no ready endpoint");
        };
        let addr = picked.address;
        ctx.tried.push(addr);
        ctx.current = Some(picked.index);
        ctx.lease = Some(cluster.begin(picked.index));
        if picked.set_cookie.is_some() {
            ctx.set_cookie = picked.set_cookie;
        }
        ctx.attempt_started = Some(Instant::now());
        let host = host_without_port(request_host(session.req_header()));
        let peer = upstream_peer(addr, &route.policy, host);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let req = session.req_header();
        let downstream = Downstream {
            client_ip: ctx.client_ip,
            host: request_host(req),
            port: &self.port,
            scheme: self.routes.scheme.as_str(),
            original_uri: req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        };
        forwarded::apply(upstream, &downstream)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let (Some(cluster), Some(started)) = (&ctx.cluster, ctx.attempt_started) {
            METRICS
                .upstream_latency
                .with_label_values(&[cluster.name.as_str()])
                .observe(started.elapsed().as_secs_f64());
        }
        let status = upstream_response.status.as_u16();
        let (Some(route), Some(cluster)) = (&ctx.route, &ctx.cluster) else { return Ok(()) };
        if let Some(i) = ctx.current {
            cluster.report(i, !matches!(status, 502..=504));
        }
        if let Some(on) = RetryOn::for_status(status).filter(|on| route.policy.retry.has(*on))
            && !session.as_ref().retry_buffer_truncated()
            && retry::allowed(&route.policy, on, session.req_header().method.is_idempotent(), cluster, &ctx.tried)
        {
            METRICS.retries.with_label_values(&[cluster.name.as_str(), on.name()]).inc();
            return Err(Error::new_up(RETRY_STATUS));
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(cookie) = ctx.set_cookie.take() {
            response.append_header(http::header::SET_COOKIE, cookie)?;
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let may_resend = !session.as_ref().retry_buffer_truncated();
        let retry = after_failure(ctx, session, &e, may_resend, "connect");
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        _peer: &HttpPeer,
        session: &mut Session,
        mut e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        if *e.etype() == RETRY_STATUS {
            e.set_retry(true);
            return e;
        }
        let nothing_sent = session.response_written().is_none() && !session.as_ref().retry_buffer_truncated();
        // A pooled connection the upstream had closed: the request never reached
        // it, so the same endpoint may be tried again.
        let mut stale = e.retry;
        stale.decide_reuse(client_reused);
        if nothing_sent && stale.retry() && session.req_header().method.is_idempotent() {
            ctx.tried.pop();
            e.set_retry(true);
            return e;
        }
        let retry = after_failure(ctx, session, &e, nothing_sent, "error");
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut RequestCtx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            // nginx answers a timed-out upstream with 504.
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
            _ => match e.esource() {
                pingora_error::ErrorSource::Upstream => 502,
                pingora_error::ErrorSource::Downstream if client_went_away(e) => 0,
                pingora_error::ErrorSource::Downstream => 400,
                _ => 500,
            },
        };
        if code > 0 && session.response_written().is_none() {
            let _ = session.respond_error(code).await;
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    /// A client that goes away is not an error of the proxy (nginx logs 499).
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        client_went_away(error)
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let client =
            session.as_downstream().stream().and_then(|s| s.as_ref().as_any().downcast_ref::<ClientStream<Stream>>());
        if let Some(client) = client {
            client.request_done();
        }
        if ctx.counted {
            METRICS.active_requests.dec();
        }
        let code = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.local_status)
            .or_else(|| e.map(|e| if client_went_away(e) { 499 } else { 502 }))
            .unwrap_or(0);
        let host = ctx.route.as_ref().map(|r| r.host.as_str()).unwrap_or("");
        let route = ctx.route.as_ref().map(|r| r.label.as_str()).unwrap_or("");
        let cluster = ctx.cluster.as_ref().map(|c| c.name.as_str()).unwrap_or("");
        METRICS.requests.with_label_values(&[host, route, cluster, status_label(code)]).inc();
    }
}

/// After a failed attempt: counts it against the endpoint (for passive
/// ejection) when the upstream side failed, and decides whether pingora
/// tries again on another endpoint (counted by `reason`).
fn after_failure(ctx: &mut RequestCtx, session: &Session, e: &Error, may_resend: bool, reason: &str) -> bool {
    let condition = retry::condition(e.etype());
    if *e.esource() == pingora_error::ErrorSource::Upstream
        && condition.is_some()
        && let (Some(cluster), Some(i)) = (&ctx.cluster, ctx.current)
    {
        cluster.report(i, false);
    }
    let retry = match (condition, &ctx.route, &ctx.cluster) {
        (Some(on), Some(route), Some(cluster)) => {
            may_resend
                && retry::allowed(&route.policy, on, session.req_header().method.is_idempotent(), cluster, &ctx.tried)
        }
        _ => false,
    };
    if retry && let Some(cluster) = &ctx.cluster {
        METRICS.retries.with_label_values(&[cluster.name.as_str(), reason]).inc();
    }
    retry
}

/// The client closed its connection or, over HTTP/2, its stream (pingora
/// reports a stream the client reset or dropped as a downstream `H2Error`).
fn client_went_away(e: &Error) -> bool {
    *e.esource() == pingora_error::ErrorSource::Downstream
        && matches!(
            e.etype(),
            ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError | ErrorType::H2Error
        )
}

/// Status codes as label values, made once, so the request path formats nothing.
pub(super) fn status_label(code: u16) -> &'static str {
    static LABELS: LazyLock<Vec<&'static str>> =
        LazyLock::new(|| (0..600u16).map(|c| &*Box::leak(c.to_string().into_boxed_str())).collect());
    LABELS.get(usize::from(code)).copied().unwrap_or("other")
}
