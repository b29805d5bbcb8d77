//! One proxied exchange: attempts on the cluster's endpoints until one
//! answers or the retry policy says stop, then the answer streamed back.

use super::upstream::Upstream;
use super::{Engine, error_page, local};
use crate::access_log::UpstreamTry;
use crate::cluster::PickInput;
use crate::http::admission::{host_without_port, request_cookies, request_host};
use crate::http::client_certificate;
use crate::http::context::{ErrorPage, RequestCtx};
use crate::http::forwarded::{self, Downstream};
use crate::http::hop_by_hop;
use crate::http::path::routing_path;
use crate::http::peer::{upstream_h2, upstream_tls};
use crate::http::request_body::{self, BodyError, BufferedBody};
use crate::http::response_spool::Spool;
use crate::http::retry;
use crate::metrics::METRICS;
use crate::spans::{self, TRACEPARENT, TRACESTATE};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::http::client::HttpSession;
use pingora_core::protocols::http::v1::client::HttpSession as Http1Session;
use pingora_error::{Error, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};
use sluice_config::{RetryOn, RoutePolicy, UpstreamKeepalive};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The table's connection settings a request needs, read once with its
/// route.
#[derive(Clone, Copy)]
pub(super) struct ConnectionSettings {
    /// Between two reads of the request body.
    pub body_timeout: Duration,
    pub upstream: UpstreamKeepalive,
}

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
    /// The client sent nothing of its body for the body timeout (408).
    ClientSlow,
    /// The client closed its connection or, over HTTP/2, its stream.
    ClientGone,
    /// The upstream answered a status `custom-http-errors` names: the
    /// route's default backend answers instead.
    Intercepted(u16),
}

/// Proxies the admitted request; `true` when the client connection can be
/// kept.
pub(super) async fn proxy(
    engine: &Engine,
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    settings: ConnectionSettings,
    body: &mut Option<BufferedBody>,
) -> bool {
    let (Some(route), Some(mut cluster)) = (ctx.route.clone(), ctx.cluster.clone()) else {
        return local(session, ctx, 503).await;
    };
    let policy = &route.policy;
    // nginx's request buffering: the body is read whole before any
    // upstream is contacted. gRPC streams, and an upgrade has no body.
    let buffering = policy
        .request_buffer
        .filter(|_| !session.is_body_empty() && !session.is_upgrade_req() && !upstream_h2(policy) && body.is_none());
    if expects_continue(session.req_header()) && session.write_continue_response().await.is_err() {
        return false;
    }
    if let Some(memory) = buffering {
        // Boxed, as the other paths only some routes take: a plain
        // request's future does not carry their state.
        match Box::pin(BufferedBody::read(session, memory, policy.max_body_bytes, settings.body_timeout)).await {
            Ok(read) => {
                ctx.body_bytes = read.len();
                *body = Some(read);
            }
            Err(e) => return body_failed(session, ctx, e).await,
        }
    }
    let body = body.as_ref();
    // The first attempt sends this one; a retry builds its own, so a
    // request costs one copy of its head.
    let Ok(first) = upstream_request(engine, session, ctx, policy, body) else {
        return local(session, ctx, 400).await;
    };
    let mut first = Some(Box::new(first));
    let idempotent = session.req_header().method.is_idempotent();
    // A body not buffered whole is kept (up to pingora's limit) wherever
    // it may have to go again: to another endpoint under the retry policy,
    // or, for an idempotent request, on a fresh connection when a pooled
    // one was stale.
    let retries = policy.retry.tries != 1 && !policy.retry.on.is_empty();
    let mirrored = policy.mirrors.iter().any(|m| m.request_body);
    if body.is_none() && (retries || mirrored || (idempotent && !session.is_body_empty())) {
        session.enable_retry_buffering();
    }
    let cookies = if cluster.reads_cookies() { request_cookies(session.req_header()) } else { None };
    let mut stale_retried = false;
    loop {
        let session_key = ctx.extras.as_ref().and_then(|e| e.session_key.as_deref());
        let input =
            PickInput { client_ip: ctx.client_ip, key_hash: ctx.key_hash, cookies: cookies.as_deref(), session_key };
        let Some(picked) = cluster.pick(&input, &ctx.tried) else { return local(session, ctx, 503).await };
        ctx.tried.push(picked.address);
        ctx.current = Some(picked.index);
        ctx.lease = Some(cluster.begin(picked.index));
        if picked.set_cookie.is_some() {
            ctx.set_cookie = picked.set_cookie;
        }
        let started = Instant::now();
        ctx.attempt_started = Some(started);
        (ctx.attempt_status, ctx.attempt_bytes) = (None, 0);
        let req = match first.take() {
            Some(req) => req,
            None => match upstream_request(engine, session, ctx, policy, body) {
                Ok(req) => Box::new(req),
                Err(_) => return local(session, ctx, 400).await,
            },
        };
        let (outcome, reused) = attempt(engine, session, ctx, req, picked.address, policy, (body, settings)).await;
        let resendable = body.is_some() || !session.retry_buffer_truncated();
        let stale = matches!(&outcome, Attempt::Failed(e) if reused && !stale_retried && resendable && idempotent && is_stale(e));
        if !stale && ctx.observed {
            // nginx's `$upstream_status` for an attempt that got no answer.
            let status = match &outcome {
                Attempt::Failed(e) => Some(gateway_status(e)),
                _ => ctx.attempt_status,
            };
            let (address, response_length) = (picked.address, ctx.attempt_bytes);
            ctx.upstreams.push(UpstreamTry { address, status, response_time: started.elapsed(), response_length });
        }
        let failed = match outcome {
            Attempt::Answered(reusable) => return reusable,
            Attempt::Intercepted(code) => {
                let Some(backend) = route.error_backend.clone() else { return local(session, ctx, code).await };
                let (service, port) = cluster.service();
                ctx.extras().error_page = Some(ErrorPage { code, service: service.name.clone(), port });
                cluster = backend;
                ctx.cluster = Some(cluster.clone());
                ctx.tried.clear();
                continue;
            }
            Attempt::TooLarge => return local(session, ctx, 413).await,
            Attempt::ClientSlow => return body_failed(session, ctx, BodyError::TimedOut).await,
            Attempt::ClientGone => {
                ctx.local_status = Some(499);
                return false;
            }
            Attempt::RetryStatus(on) => {
                if resendable && retry::allowed(policy, on, idempotent, &cluster, &ctx.tried, ctx.started) {
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
        if stale {
            stale_retried = true;
            ctx.tried.pop();
            continue;
        }
        let condition = retry::condition(failed.etype());
        if condition.is_some() {
            cluster.report(picked.index, false);
        }
        let again = condition
            .is_some_and(|on| resendable && retry::allowed(policy, on, idempotent, &cluster, &ctx.tried, ctx.started));
        if again {
            METRICS.retries.with_label_values(&[cluster.name.as_str(), "error"]).inc();
            continue;
        }
        return local(session, ctx, gateway_status(&failed)).await;
    }
}

/// One attempt on `address`; also says whether its connection was pooled.
async fn attempt(
    engine: &Engine,
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    req: Box<RequestHeader>,
    address: SocketAddr,
    policy: &RoutePolicy,
    (body, settings): (Option<&BufferedBody>, ConnectionSettings),
) -> (Attempt, bool) {
    let host = host_without_port(request_host(session.req_header()));
    let mut upstream = match engine.upstreams.connect(address, policy, host, identity(ctx), settings.upstream).await {
        Ok(upstream) => upstream,
        Err(e) => return (Attempt::Failed(e), false),
    };
    let reused = upstream.reused;
    if let Err(e) = upstream.session.write_request_header(req).await {
        return (Attempt::Failed(e), reused);
    }
    // An upgrade's bytes after its head belong to the new protocol: they
    // go through once the upstream has switched (101).
    let upgrade = session.is_upgrade_req() && upstream.session.as_http1().is_some();
    let sent = match body {
        _ if upgrade => Ok(BodySent::Whole),
        Some(body) => Box::pin(send_buffered(body, &mut upstream.session)).await,
        None => send_body(session, ctx, &mut upstream.session, policy, settings.body_timeout).await,
    };
    match sent {
        Ok(BodySent::Whole) => {}
        Ok(BodySent::TooLarge) => return (Attempt::TooLarge, reused),
        Ok(BodySent::ClientSlow) => return (Attempt::ClientSlow, reused),
        Err(e) => return (Attempt::Failed(e), reused),
    }
    // The client may give up while the upstream thinks: that ends the
    // exchange (499) instead of waiting out the upstream.
    let read = tokio::select! {
        read = final_response(&mut upstream.session) => read,
        () = client_gone(session) => return (Attempt::ClientGone, reused),
    };
    if let Err(e) = read {
        return (Attempt::Failed(e), reused);
    }
    (respond(engine, session, ctx, upstream, policy).await, reused)
}

/// Reads the upstream's response head, past any informational (1xx) one
/// but a protocol switch: the client gets the final answer.
async fn final_response(upstream: &mut HttpSession) -> Result<(), Box<Error>> {
    loop {
        upstream.read_response_header().await?;
        match upstream.response_header().map(|r| r.status.as_u16()) {
            Some(100..=100 | 102..=199) => continue,
            _ => return Ok(()),
        }
    }
}

/// How sending the request body ended, short of an upstream error.
enum BodySent {
    Whole,
    /// Over the route's body limit.
    TooLarge,
    /// The client sent nothing for the body timeout.
    ClientSlow,
}

/// The request body to the upstream as it arrives: what a previous attempt
/// read (kept in the retry buffer; nothing on the first attempt), then the
/// rest from the client.
async fn send_body(
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    upstream: &mut HttpSession,
    policy: &RoutePolicy,
    timeout: Duration,
) -> Result<BodySent, Box<Error>> {
    if let Some(buffered) = session.get_retry_buffer() {
        upstream.write_request_body(buffered, false).await?;
    }
    while !session.is_body_done() {
        let chunk = match request_body::next_chunk(session, &mut ctx.body_bytes, policy.max_body_bytes, timeout).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(BodyError::TooLarge) => return Ok(BodySent::TooLarge),
            Err(BodyError::TimedOut) => return Ok(BodySent::ClientSlow),
            Err(BodyError::Client(e)) => return Err(e),
            Err(BodyError::File(e)) => return Err(request_body::file_error(e)),
        };
        // An empty chunk written chunked would end the upstream's body.
        if !chunk.is_empty() {
            upstream.write_request_body(chunk, false).await?;
        }
    }
    upstream.finish_request_body().await?;
    Ok(BodySent::Whole)
}

/// A body read whole to the upstream.
async fn send_buffered(body: &BufferedBody, upstream: &mut HttpSession) -> Result<BodySent, Box<Error>> {
    let mut chunks = body.chunks();
    while let Some(chunk) = chunks.next_chunk() {
        upstream.write_request_body(chunk.map_err(request_body::file_error)?, false).await?;
    }
    upstream.finish_request_body().await?;
    Ok(BodySent::Whole)
}

/// The answer to a body that could not be read: 413 over the limit, 408
/// for a client too slow (its connection closed, as nginx closes it), 500
/// when the temporary file failed; a client that went away gets nothing.
async fn body_failed(session: &mut ServerSession, ctx: &mut RequestCtx, e: BodyError) -> bool {
    let status = match e {
        BodyError::TooLarge => return local(session, ctx, 413).await,
        BodyError::TimedOut => 408,
        BodyError::Client(e) if matches!(e.etype(), ErrorType::InvalidHTTPHeader | ErrorType::ReadError) => 400,
        BodyError::Client(_) => {
            ctx.local_status = Some(499);
            return false;
        }
        BodyError::File(e) => {
            tracing::error!(error = %e, "a request body could not be buffered to a temporary file");
            500
        }
    };
    ctx.local_status = Some(status);
    let _ = session.respond_error(status).await;
    false
}

/// The upstream's answer to the client: held back if the retry policy names
/// its status, else its head, body and (to an HTTP/2 client) trailers
/// streamed through; the upstream connection kept when it may be.
async fn respond(
    engine: &Engine,
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    mut upstream: Upstream,
    policy: &RoutePolicy,
) -> Attempt {
    let Some(mut resp) = upstream.session.response_header().cloned() else {
        return Attempt::Failed(Error::new(ErrorType::InvalidHTTPHeader));
    };
    let status = resp.status.as_u16();
    ctx.attempt_status = Some(status);
    if let (Some(cluster), Some(started)) = (&ctx.cluster, ctx.attempt_started) {
        METRICS.upstream_latency.with_label_values(&[cluster.name.as_str()]).observe(started.elapsed().as_secs_f64());
    }
    if ctx.extras.as_ref().is_none_or(|e| e.error_page.is_none())
        && route_codes(ctx).contains(&status)
        && ctx.route.as_ref().is_some_and(|r| r.error_backend.is_some())
    {
        return Attempt::Intercepted(status);
    }
    if let (Some(cluster), Some(i)) = (&ctx.cluster, ctx.current) {
        cluster.report(i, !matches!(status, 502..=504));
        let idempotent = session.req_header().method.is_idempotent();
        if let Some(on) = RetryOn::for_status(status).filter(|on| policy.retry.has(*on))
            && !session.retry_buffer_truncated()
            && retry::allowed(policy, on, idempotent, cluster, &ctx.tried, ctx.started)
        {
            return Attempt::RetryStatus(on);
        }
    }
    if let Some(cookie) = ctx.set_cookie.take()
        && resp.append_header(http::header::SET_COOKIE, cookie).is_err()
    {
        return Attempt::Answered(false);
    }
    // ingress-nginx's `add_header Set-Cookie $auth_cookie`: on these
    // statuses, or on every one with `auth-always-set-cookie`.
    if let Some(extras) = ctx.extras.as_mut().filter(|e| !e.auth_cookies.is_empty()) {
        let always =
            ctx.route.as_ref().and_then(|r| r.policy.external_auth.as_ref()).is_some_and(|a| a.always_set_cookie);
        if always || matches!(status, 200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308) {
            for cookie in std::mem::take(&mut extras.auth_cookies) {
                if resp.append_header(http::header::SET_COOKIE, cookie).is_err() {
                    return Attempt::Answered(false);
                }
            }
        }
    }
    if let Some(route) = &ctx.route
        && let Some(rewrite) = &route.policy.location_rewrite
    {
        rewrite_locations(&mut resp, rewrite);
    }
    finish_answer(ctx, &mut resp);
    if upstream.session.as_http2().is_some() && !session.is_http2() && as_http1_response(&mut resp, session).is_err() {
        return Attempt::Answered(false);
    }
    if session.write_response_header(Box::new(resp)).await.is_err() {
        return Attempt::Answered(false);
    }
    if status == 101 && session.is_upgrade_req() {
        if let HttpSession::H1(h1) = &mut upstream.session {
            h1.maybe_upgrade_body_writer();
            bridge(session, ctx, h1).await;
        }
        return Attempt::Answered(false);
    }
    // `limit-rate`: past `limit-rate-after`, the body goes no faster than
    // its rate since the answer began (nginx's `limit_rate`).
    let pace = policy.response_rate.map(|rate| (rate, tokio::time::Instant::now()));
    if let (Some(buffer), HttpSession::H1(_)) = (policy.response_buffer, &upstream.session) {
        return Box::pin(relay_buffered(engine, session, ctx, upstream, buffer, pace)).await;
    }
    loop {
        match upstream.session.read_response_body().await {
            Ok(Some(data)) => {
                let (len, before) = (data.len() as u64, ctx.attempt_bytes);
                ctx.attempt_bytes += len;
                ctx.bytes_sent += len;
                let written = match pace {
                    None => session.write_response_body(data, false).await.is_ok(),
                    Some((rate, began)) => Box::pin(write_paced(session, data, before, rate, began)).await,
                };
                if !written {
                    return Attempt::Answered(false);
                }
            }
            Ok(None) => break,
            // The client sees a broken body, never a short complete one.
            Err(_) => return Attempt::Answered(false),
        }
    }
    // Trailers (gRPC's status among them) reach an HTTP/2 client; an
    // HTTP/1 client gets none, as from nginx.
    if let HttpSession::H2(h2) = &mut upstream.session {
        match h2.read_trailers().await {
            Ok(Some(trailers)) if session.is_http2() => {
                if session.write_response_trailers(trailers).await.is_err() {
                    return Attempt::Answered(false);
                }
            }
            Ok(_) => {}
            Err(_) => return Attempt::Answered(false),
        }
    }
    if session.finish_body().await.is_err() {
        return Attempt::Answered(false);
    }
    engine.upstreams.release(upstream).await;
    Attempt::Answered(true)
}

/// `proxy-buffering on`: the answer's body read from the upstream into a
/// [`Spool`] while it is written from there to the client, each side at
/// its own pace; the upstream connection goes back to the pool as soon as
/// the whole body is in.
async fn relay_buffered(
    engine: &Engine,
    session: &mut ServerSession,
    ctx: &mut RequestCtx,
    mut upstream: Upstream,
    buffer: sluice_config::ResponseBuffer,
    pace: Option<(sluice_config::ResponseRate, tokio::time::Instant)>,
) -> Attempt {
    // A lock only to share it between the two halves of one task: never
    // contended, never held across an await.
    let spool = std::sync::Mutex::new(Spool::new(buffer.memory_bytes, buffer.max_file_bytes));
    let held = || spool.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (arrived, room) = (tokio::sync::Notify::new(), tokio::sync::Notify::new());
    let reader = async {
        let mut read = 0u64;
        loop {
            while !held().has_room() {
                room.notified().await;
            }
            let chunk = upstream.session.read_response_body().await;
            let (done, broken) = {
                let mut spool = held();
                match chunk {
                    Ok(Some(data)) => {
                        read += data.len() as u64;
                        if spool.push(data).is_err() {
                            spool.broken = true;
                        }
                    }
                    Ok(None) => spool.done = true,
                    Err(_) => spool.broken = true,
                }
                (spool.done, spool.broken)
            };
            arrived.notify_one();
            if broken {
                return read;
            }
            if done {
                engine.upstreams.release(upstream).await;
                return read;
            }
        }
    };
    let writer = async {
        let mut sent = 0u64;
        loop {
            let next = held().pop();
            let chunk = match next {
                Some(Ok(chunk)) => chunk,
                Some(Err(_)) => return (sent, false),
                None if held().broken => return (sent, false),
                None if held().done => return (sent, true),
                None => {
                    arrived.notified().await;
                    continue;
                }
            };
            room.notify_one();
            let len = chunk.len() as u64;
            let written = match pace {
                None => session.write_response_body(chunk, false).await.is_ok(),
                Some((rate, began)) => write_paced(session, chunk, sent, rate, began).await,
            };
            sent += len;
            if !written {
                // The client is gone: the reader stops at its next wait.
                held().broken = true;
                room.notify_one();
                return (sent, false);
            }
        }
    };
    let (read, (sent, whole)) = tokio::join!(reader, writer);
    ctx.attempt_bytes += read;
    ctx.bytes_sent += sent;
    if !whole || session.finish_body().await.is_err() {
        return Attempt::Answered(false);
    }
    Attempt::Answered(true)
}

/// Writes `data` to the client no faster than `rate` allows, `sent` bytes
/// of the answer having gone before it: in slices of a quarter second's
/// worth, each after the time its last byte is due.
async fn write_paced(
    session: &mut ServerSession,
    mut data: bytes::Bytes,
    mut sent: u64,
    rate: sluice_config::ResponseRate,
    began: tokio::time::Instant,
) -> bool {
    let per_second = rate.bytes_per_second.max(1);
    let slice = (per_second / 4).max(512) as usize;
    while !data.is_empty() {
        let piece = data.split_to(slice.min(data.len()));
        sent += piece.len() as u64;
        if let Some(paced) = sent.checked_sub(rate.after_bytes).filter(|p| *p > 0) {
            tokio::time::sleep_until(began + Duration::from_secs_f64(paced as f64 / per_second as f64)).await;
        }
        if session.write_response_body(piece, false).await.is_err() {
            return false;
        }
    }
    true
}

/// The route's client certificate towards a TLS upstream, if it has one.
fn identity(ctx: &RequestCtx) -> Option<&crate::http::UpstreamIdentity> {
    ctx.extras.as_ref()?.upstream_identity.as_ref()
}

/// The statuses `custom-http-errors` hands to the default backend.
fn route_codes(ctx: &RequestCtx) -> &[u16] {
    ctx.route.as_ref().and_then(|r| r.policy.error_backend.as_ref()).map_or(&[], |b| b.codes.as_slice())
}

/// What every answer of a route gets, from the upstream or from the edge:
/// the CORS headers for a let-in origin, the route's header changes, HSTS
/// over HTTPS.
pub(super) fn finish_answer(ctx: &mut RequestCtx, resp: &mut ResponseHeader) {
    let origin = ctx.extras.as_mut().and_then(|e| e.cors_origin.take());
    let Some(route) = ctx.route.as_deref() else { return };
    if let (Some(cors), Some(origin)) = (route.cors.as_ref(), origin) {
        for (name, value) in cors.headers(origin) {
            let _ = resp.insert_header(name, value);
        }
    }
    route.response_headers.apply(Some(resp.status.as_u16()), resp);
    if let Some(hsts) = ctx.hsts.take() {
        let _ = resp.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts);
    }
}

/// nginx's `proxy_redirect FROM TO` on `Location` and `Refresh`.
fn rewrite_locations(resp: &mut ResponseHeader, rewrite: &sluice_config::LocationRewrite) {
    for name in [http::header::LOCATION, http::header::REFRESH] {
        let Some(value) = resp.headers.get(&name).and_then(|v| v.to_str().ok()) else { continue };
        let at = if name == http::header::LOCATION { Some(0) } else { value.find(&rewrite.from) };
        let Some(at) = at.filter(|at| value[*at..].starts_with(&rewrite.from)) else { continue };
        let changed = format!("{}{}{}", &value[..at], rewrite.to, &value[at + rewrite.from.len()..]);
        if let Ok(v) = http::HeaderValue::from_str(&changed) {
            let _ = resp.insert_header(name, v);
        }
    }
}

/// An HTTP/2 upstream's answer as an HTTP/1 client takes it: chunked when
/// it has a body of no stated length.
fn as_http1_response(resp: &mut ResponseHeader, session: &ServerSession) -> Result<(), Box<Error>> {
    resp.set_version(http::Version::HTTP_11);
    let no_body = session.req_header().method == http::Method::HEAD || matches!(resp.status.as_u16(), 204 | 304);
    if !no_body && !resp.status.is_informational() && resp.headers.get(http::header::CONTENT_LENGTH).is_none() {
        resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    }
    Ok(())
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
async fn bridge(session: &mut ServerSession, ctx: &mut RequestCtx, upstream: &mut Http1Session) {
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
                    ctx.bytes_sent += data.len() as u64;
                    if session.write_response_body(data, false).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
        }
    }
}

/// The request as the upstream gets it: the forwarded headers, no
/// hop-by-hop fields, no `Expect` (answered here); to an HTTP/1 upstream in
/// HTTP/1.1 with an origin-form target and a Host, to an HTTP/2 one with
/// its authority and scheme.
fn upstream_request(
    engine: &Engine,
    session: &mut ServerSession,
    ctx: &RequestCtx,
    policy: &RoutePolicy,
    body: Option<&BufferedBody>,
) -> Result<RequestHeader, Box<Error>> {
    let h2_upstream = upstream_h2(policy);
    let has_body = !session.is_body_empty();
    let upgrade_allowed = !h2_upstream && session.req_header().version == http::Version::HTTP_11;
    let downstream = session.req_header();
    let mut req = downstream.clone();
    if let Some(page) = ctx.extras.as_ref().and_then(|e| e.error_page.as_ref()) {
        return error_page::request(req, page, ctx);
    }
    hop_by_hop::strip(&mut req, upgrade_allowed, has_body && !h2_upstream)?;
    if req.headers.contains_key(http::header::EXPECT) {
        req.remove_header(&http::header::EXPECT);
    }
    // A body read whole goes with its length, as nginx sends it.
    if let Some(body) = body {
        req.remove_header(&http::header::TRANSFER_ENCODING);
        req.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    }
    if let Some(connection) = policy.upstream_connection.as_ref().filter(|_| !h2_upstream && !session.is_upgrade_req())
    {
        req.insert_header(http::header::CONNECTION, connection.as_str())?;
    }
    let rewritten = ctx.route.as_ref().and_then(|r| r.rewrite.as_ref()).and_then(|rewrite| {
        let path = routing_path(downstream.uri.path())?;
        rewrite.apply(&path, downstream.uri.query())
    });
    if h2_upstream {
        let authority = policy.upstream_host.as_deref().unwrap_or_else(|| request_host(downstream));
        let scheme = if upstream_tls(policy) { "https" } else { "http" };
        let target = rewritten.as_deref().or(downstream.uri.path_and_query().map(|p| p.as_str())).unwrap_or("/");
        let uri = http::Uri::builder().scheme(scheme).authority(authority).path_and_query(target).build();
        req.set_uri(uri.map_err(|e| Error::because(ErrorType::InvalidHTTPHeader, "the request's authority", e))?);
        req.set_version(http::Version::HTTP_2);
    } else {
        if session.is_http2() {
            req.set_version(http::Version::HTTP_11);
            if req.headers.get(http::header::HOST).is_none()
                && let Some(authority) = downstream.uri.authority()
            {
                req.insert_header(http::header::HOST, authority.as_str())?;
            }
        }
        if let Some(target) = &rewritten {
            let uri =
                target.parse().map_err(|e| Error::because(ErrorType::InvalidHTTPHeader, "the rewritten path", e))?;
            req.set_uri(uri);
        } else if session.is_http2()
            && let Some(target) = downstream.uri.path_and_query()
            && let Ok(uri) = target.as_str().parse()
        {
            req.set_uri(uri);
        }
    }
    let forwarded = Downstream {
        client_ip: ctx.client_ip,
        host: request_host(downstream),
        port: &engine.port,
        scheme: engine.routes.scheme.as_str(),
        original_uri: downstream.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        request_id: ctx.request_id.as_ref(),
        pass_forwarded: ctx.pass_forwarded,
    };
    forwarded::apply(&mut req, &forwarded)?;
    if !h2_upstream && let Some(host) = &policy.upstream_host {
        req.insert_header(http::header::HOST, host.as_str())?;
    }
    if ctx.extras.as_ref().is_some_and(|e| e.client_verify.is_some()) {
        client_certificate::strip(&mut req);
    }
    for (name, value) in ctx.extras.iter().flat_map(|e| e.auth_headers.iter().chain(&e.client_certificate)) {
        req.insert_header(name.clone(), value.clone())?;
    }
    if let Some(route) = &ctx.route {
        route.request_headers.apply(None, &mut req);
    }
    if let Some(prefix) = policy.forwarded_prefix.as_deref().filter(|_| rewritten.is_some()) {
        req.insert_header(&X_FORWARDED_PREFIX, prefix)?;
    }
    trace_headers(&mut req, ctx);
    Ok(req)
}

static X_FORWARDED_PREFIX: http::HeaderName = http::HeaderName::from_static("x-forwarded-prefix");

/// W3C trace context upstream: the request's span as the parent when spans
/// are made; else the client's headers as they came, unless malformed.
fn trace_headers(req: &mut RequestHeader, ctx: &RequestCtx) {
    use opentelemetry::trace::Span as _;
    let span = ctx.span.as_ref().map(|s| s.span_context());
    if let Some(value) = span.and_then(spans::traceparent) {
        req.insert_static_header(&TRACEPARENT, value);
        match span.and_then(spans::tracestate) {
            Some(state) => req.insert_static_header(&TRACESTATE, state),
            None if req.headers.contains_key(&TRACESTATE) => {
                req.remove_header(&TRACESTATE);
            }
            None => {}
        }
    } else if ctx.drop_trace_headers {
        req.remove_header(&TRACEPARENT);
        req.remove_header(&TRACESTATE);
    }
}

pub(super) fn expects_continue(req: &RequestHeader) -> bool {
    req.headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The status the client gets, and the log shows, for an attempt that
/// failed: 504 for a timeout, 502 for the rest (nginx's).
fn gateway_status(e: &Error) -> u16 {
    match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
        _ => 502,
    }
}

/// Whether an error on a pooled connection means the upstream had closed it
/// before the request: nothing was answered.
fn is_stale(e: &Error) -> bool {
    matches!(e.etype(), ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError)
}
