//! One proxied exchange: attempts on the cluster's endpoints until one
//! answers or the retry policy says stop, then the answer streamed back.

use super::{Engine, local};
use crate::cluster::PickInput;
use crate::http::admission::request_host;
use crate::http::context::RequestCtx;
use crate::http::forwarded::{self, Downstream};
use crate::http::retry;
use crate::metrics::METRICS;
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::http::v1::client::HttpSession;
use pingora_error::{Error, ErrorType};
use pingora_http::RequestHeader;
use sluice_config::{RetryOn, RoutePolicy, UpstreamProtocol};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long an idle upstream connection is kept.
const UPSTREAM_IDLE: Duration = Duration::from_secs(60);

/// How an attempt ended.
enum Attempt {
    /// The answer (or part of it) reached the client; `true`: the client
    /// connection can carry its next request.
    Answered(bool),
    /// Nothing reached the client: another attempt may be made.
    Failed(Box<Error>),
    /// The upstream answered a status the retry policy names; nothing
    /// reached the client.
    RetryStatus(RetryOn),
    /// The request body is over the route's limit (413).
    TooLarge,
    /// The client closed its connection or, over HTTP/2, its stream.
    ClientGone,
}

/// Proxies the admitted request; `true` when the client connection can be
/// kept.
pub(super) async fn proxy(engine: &Engine, session: &mut ServerSession, ctx: &mut RequestCtx) -> bool {
    let (Some(route), Some(cluster)) = (ctx.route.clone(), ctx.cluster.clone()) else {
        return local(session, ctx, 503).await;
    };
    let policy = &route.policy;
    if policy.upstream_protocol != UpstreamProtocol::Http1 {
        // Not carried by this engine yet.
        return local(session, ctx, 502).await;
    }
    let Ok(upstream_req) = upstream_request(engine, session, ctx) else { return local(session, ctx, 400).await };
    if expects_continue(session.req_header()) && session.write_continue_response().await.is_err() {
        return false;
    }
    if policy.retry.tries != 1 && !policy.retry.on.is_empty() {
        session.enable_retry_buffering();
    }
    let idempotent = session.req_header().method.is_idempotent();
    let cookies = joined_cookies(session.req_header());
    let mut stale_retried = false;
    loop {
        let input = PickInput { client_ip: ctx.client_ip, key_hash: ctx.key_hash, cookies: cookies.as_deref() };
        let Some(picked) = cluster.pick(&input, &ctx.tried) else { return local(session, ctx, 503).await };
        ctx.tried.push(picked.address);
        ctx.current = Some(picked.index);
        ctx.lease = Some(cluster.begin(picked.index));
        if picked.set_cookie.is_some() {
            ctx.set_cookie = picked.set_cookie;
        }
        ctx.attempt_started = Some(Instant::now());
        let (outcome, reused) = attempt(engine, session, ctx, &upstream_req, picked.address, policy).await;
        let resendable = !session.retry_buffer_truncated();
        let failed = match outcome {
            Attempt::Answered(reusable) => return reusable,
            Attempt::TooLarge => return local(session, ctx, 413).await,
            Attempt::ClientGone => {
                ctx.local_status = Some(499);
                return false;
            }
            Attempt::RetryStatus(on) => {
                if resendable && retry::allowed(policy, on, idempotent, &cluster, &ctx.tried) {
                    METRICS.retries.with_label_values(&[cluster.name.as_str(), on.name()]).inc();
                    continue;
                }
                // Unreachable in practice: a status is only held back when a retry is allowed.
                return local(session, ctx, 502).await;
            }
            Attempt::Failed(e) => e,
        };
        // A pooled connection the upstream had closed: the request never
        // reached it, so it goes again on a fresh connection, once.
        if reused && !stale_retried && resendable && idempotent && is_stale(&failed) {
            stale_retried = true;
            ctx.tried.pop();
            continue;
        }
        let condition = retry::condition(failed.etype());
        if condition.is_some() {
            cluster.report(picked.index, false);
        }
        let again =
            condition.is_some_and(|on| resendable && retry::allowed(policy, on, idempotent, &cluster, &ctx.tried));
        if again {
            METRICS.retries.with_label_values(&[cluster.name.as_str(), "error"]).inc();
            continue;
        }
        let status = match failed.etype() {
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
            _ => 502,
        };
        return local(session, ctx, status).await;
    }
}

/// One attempt on `address`; also says whether its connection was pooled.
async fn attempt(
    engine: &Engine,
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    req: &RequestHeader,
    address: SocketAddr,
    policy: &RoutePolicy,
) -> (Attempt, bool) {
    let pooled = engine.pool.take(address, UPSTREAM_IDLE);
    let reused = pooled.is_some();
    let stream = match pooled {
        Some(s) => s,
        None => match connect(address, Duration::from_millis(policy.connect_timeout_ms)).await {
            Ok(s) => s,
            Err(e) => return (Attempt::Failed(e), false),
        },
    };
    let mut upstream = HttpSession::new(stream);
    upstream.read_timeout = Some(Duration::from_millis(policy.read_timeout_ms));
    upstream.write_timeout = Some(Duration::from_millis(policy.send_timeout_ms));
    if let Err(e) = upstream.write_request_header(Box::new(req.clone())).await {
        return (Attempt::Failed(e), reused);
    }
    // An upgrade's bytes after its head belong to the new protocol: they
    // go through once the upstream has switched (101).
    let upgrade = session.is_upgrade_req();
    let sent = if upgrade { Ok(true) } else { send_body(session, ctx, &mut upstream, policy).await };
    match sent {
        Ok(true) => {}
        Ok(false) => return (Attempt::TooLarge, reused),
        Err(e) => return (Attempt::Failed(e), reused),
    }
    // The client may give up while the upstream thinks: that ends the
    // exchange (499) instead of waiting out the upstream.
    let read = tokio::select! {
        read = upstream.read_response() => read,
        () = client_gone(session) => return (Attempt::ClientGone, reused),
    };
    if let Err(e) = read {
        return (Attempt::Failed(e), reused);
    }
    (respond(engine, session, ctx, upstream, address, policy).await, reused)
}

/// The request body to the upstream: what a previous attempt buffered, then
/// the rest from the client. `Ok(false)`: over the route's body limit.
async fn send_body(
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    upstream: &mut HttpSession,
    policy: &RoutePolicy,
) -> Result<bool, Box<Error>> {
    if ctx.tried.len() > 1
        && let Some(buffered) = session.get_retry_buffer()
    {
        upstream.write_body(&buffered).await?;
    }
    while let Some(chunk) = session.read_request_body().await? {
        ctx.body_bytes += chunk.len() as u64;
        if policy.max_body_bytes.is_some_and(|limit| ctx.body_bytes > limit) {
            return Ok(false);
        }
        // An empty chunk written chunked would end the upstream's body.
        if !chunk.is_empty() {
            upstream.write_body(&chunk).await?;
        }
    }
    upstream.finish_body().await?;
    Ok(true)
}

/// The upstream's answer to the client: held back if the retry policy names
/// its status, else its head and body streamed through; the upstream
/// connection pooled when it may be.
async fn respond(
    engine: &Engine,
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    mut upstream: HttpSession,
    address: SocketAddr,
    policy: &RoutePolicy,
) -> Attempt {
    let Some(mut resp) = upstream.resp_header().cloned() else {
        return Attempt::Failed(Error::new(ErrorType::InvalidHTTPHeader));
    };
    let status = resp.status.as_u16();
    if let (Some(cluster), Some(started)) = (&ctx.cluster, ctx.attempt_started) {
        METRICS.upstream_latency.with_label_values(&[cluster.name.as_str()]).observe(started.elapsed().as_secs_f64());
    }
    if let (Some(cluster), Some(i)) = (&ctx.cluster, ctx.current) {
        cluster.report(i, !matches!(status, 502..=504));
        let idempotent = session.req_header().method.is_idempotent();
        if let Some(on) = RetryOn::for_status(status).filter(|on| policy.retry.has(*on))
            && !session.retry_buffer_truncated()
            && retry::allowed(policy, on, idempotent, cluster, &ctx.tried)
        {
            return Attempt::RetryStatus(on);
        }
    }
    if let Some(cookie) = ctx.set_cookie.take()
        && resp.append_header(http::header::SET_COOKIE, cookie).is_err()
    {
        return Attempt::Answered(false);
    }
    if session.write_response_header(Box::new(resp)).await.is_err() {
        return Attempt::Answered(false);
    }
    if status == 101 && session.is_upgrade_req() {
        upstream.maybe_upgrade_body_writer();
        bridge(session, &mut upstream).await;
        return Attempt::Answered(false);
    }
    loop {
        match upstream.read_body_bytes().await {
            Ok(Some(data)) => {
                if session.write_response_body(data, false).await.is_err() {
                    return Attempt::Answered(false);
                }
            }
            Ok(None) => break,
            // The client sees a broken body, never a short complete one.
            Err(_) => return Attempt::Answered(false),
        }
    }
    if session.finish_body().await.is_err() {
        return Attempt::Answered(false);
    }
    upstream.respect_keepalive();
    if let Some(stream) = upstream.reuse().await {
        engine.pool.put(address, stream);
    }
    Attempt::Answered(true)
}

/// Resolves once the client has gone away: its HTTP/2 stream reset or
/// closed, or its HTTP/1 connection closed (with the request body read, any
/// further byte is the next request's and is left alone).
async fn client_gone(session: &mut ServerSession) {
    if session.is_http2() {
        match session.watch_h2_stream_close() {
            Some(closed) => {
                let _ = closed.await;
            }
            None => std::future::pending().await,
        }
        return;
    }
    match session.read_body_or_idle(true).await {
        Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// An upgraded connection (WebSocket): bytes both ways until either side
/// closes; the connections are not reused after.
async fn bridge(session: &mut ServerSession, upstream: &mut HttpSession) {
    loop {
        tokio::select! {
            from_client = session.read_request_body() => match from_client {
                Ok(Some(data)) => {
                    if !data.is_empty() && upstream.write_body(&data).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
            from_upstream = upstream.read_body_bytes() => match from_upstream {
                Ok(Some(data)) => {
                    if session.write_response_body(data, false).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
        }
    }
}

/// A new connection to `address`, within `timeout`.
async fn connect(address: SocketAddr, timeout: Duration) -> Result<Stream, Box<Error>> {
    let connecting = tokio::net::TcpStream::connect(address);
    let tcp = match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            let kind = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ErrorType::ConnectRefused,
                _ => ErrorType::ConnectError,
            };
            return Err(Error::because(kind, format!("connecting to {address}"), e));
        }
        Err(_) => return Err(Error::explain(ErrorType::ConnectTimedout, format!("connecting to {address}"))),
    };
    let _ = tcp.set_nodelay(true);
    Ok(Box::new(pingora_core::protocols::l4::stream::Stream::from(tcp)))
}

/// The request as the upstream gets it: HTTP/1.1, origin-form target, a
/// Host, the forwarded headers, no `Expect` (answered here).
fn upstream_request(engine: &Engine, session: &ServerSession, ctx: &RequestCtx) -> Result<RequestHeader, Box<Error>> {
    let downstream = session.req_header();
    let mut req = downstream.clone();
    if session.is_http2() {
        req.set_version(http::Version::HTTP_11);
        if req.headers.get(http::header::HOST).is_none()
            && let Some(authority) = downstream.uri.authority()
        {
            req.insert_header(http::header::HOST, authority.as_str())?;
        }
        if let Some(target) = downstream.uri.path_and_query()
            && let Ok(uri) = target.as_str().parse()
        {
            req.set_uri(uri);
        }
    }
    req.remove_header(&http::header::EXPECT);
    let forwarded = Downstream {
        client_ip: ctx.client_ip,
        host: request_host(downstream),
        port: &engine.port,
        scheme: engine.routes.scheme.as_str(),
        original_uri: downstream.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
    };
    forwarded::apply(&mut req, &forwarded)?;
    Ok(req)
}

fn expects_continue(req: &RequestHeader) -> bool {
    req.headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Every `Cookie` header of the request, as one list.
fn joined_cookies(req: &RequestHeader) -> Option<String> {
    let all: Vec<&str> = req.headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// Whether an error on a pooled connection means the upstream had closed it
/// before the request: nothing was answered.
fn is_stale(e: &Error) -> bool {
    matches!(e.etype(), ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError)
}
