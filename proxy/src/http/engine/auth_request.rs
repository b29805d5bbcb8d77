//! External authentication, as nginx's `auth_request` does it for
//! ingress-nginx's `auth-url`: the request's head (no body) is asked of the
//! auth service first; 2xx lets it through, 401 and 403 go back to the
//! client (401 as a redirect to `auth-signin` when set), anything else is
//! a 500.

use super::Engine;
use crate::cluster::PickInput;
use crate::http::admission::{host_without_port, request_host};
use crate::http::context::RequestCtx;
use crate::http::external_auth::{ExternalAuthState, Verdict};
use crate::http::forwarded::{X_FORWARDED_FOR, X_REAL_IP};
use crate::http::hash_key::key_bytes;
use crate::http::hop_by_hop;
use http::{HeaderName, HeaderValue, header};
use pingora_core::protocols::http::ServerSession;
use pingora_http::RequestHeader;
use sluice_config::{ExternalAuth, expand_variables};
use std::time::Duration;

/// An auth service's body is read away up to this size; past it, its
/// connection is not kept.
const DRAINED: usize = 64 * 1024;

static X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_SENT_FROM: HeaderName = HeaderName::from_static("x-sent-from");
static X_AUTH_REQUEST_REDIRECT: HeaderName = HeaderName::from_static("x-auth-request-redirect");

/// The verdict on the request in `session`: cached under `auth-cache-key`
/// when one is, else asked.
pub(super) async fn check(
    engine: &Engine,
    session: &ServerSession,
    ctx: &RequestCtx,
    auth: &ExternalAuth,
    state: &ExternalAuthState,
) -> Verdict {
    let req = session.req_header();
    let key = state.cache_key().map(|parts| {
        let mut buf = Vec::with_capacity(128);
        key_bytes(parts, req, request_host(req), ctx.client_ip, &mut buf);
        buf
    });
    if let Some(verdict) = key.as_deref().and_then(|k| state.cached(k)) {
        return verdict;
    }
    let (verdict, status) = ask(engine, session, ctx, auth, state).await;
    let keep = status.and_then(|s| auth.cache.as_ref()?.keep_seconds(s));
    if let (Some(key), Some(seconds)) = (key, keep) {
        state.remember(key, verdict.clone(), Duration::from_secs(seconds));
    }
    verdict
}

/// One check on an endpoint of the auth service; the status it answered,
/// when it answered.
async fn ask(
    engine: &Engine,
    session: &ServerSession,
    ctx: &RequestCtx,
    auth: &ExternalAuth,
    state: &ExternalAuthState,
) -> (Verdict, Option<u16>) {
    let failed = (Verdict::Refuse(500, Vec::new()), None);
    let input = PickInput { client_ip: ctx.client_ip, key_hash: None, cookies: None, session_key: None };
    let Some(picked) = state.cluster.as_ref().and_then(|c| c.pick(&input, &[])) else { return failed };
    let Some(request) = auth_request(engine, session, ctx, auth) else { return failed };
    let keepalive = engine.table.load().connections().upstream;
    let host = host_without_port(&auth.host);
    let Ok(mut upstream) = engine.upstreams.connect(picked.address, &state.policy, host, None, keepalive).await else {
        return failed;
    };
    let asked = async {
        upstream.session.write_request_header(Box::new(request)).await?;
        upstream.session.finish_request_body().await?;
        loop {
            upstream.session.read_response_header().await?;
            match upstream.session.response_header().map(|r| r.status.as_u16()) {
                Some(100..=199) => continue,
                _ => return Ok::<_, Box<pingora_error::Error>>(()),
            }
        }
    };
    if asked.await.is_err() {
        return failed;
    }
    let Some(resp) = upstream.session.response_header().cloned() else { return failed };
    let mut drained = 0;
    let reusable = loop {
        match upstream.session.read_response_body().await {
            Ok(Some(data)) => {
                drained += data.len();
                if drained > DRAINED {
                    break false;
                }
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    if reusable {
        engine.upstreams.release(upstream).await;
    }
    let status = resp.status.as_u16();
    let values = |name: &HeaderName| resp.headers.get_all(name).iter().cloned().collect::<Vec<_>>();
    let cookies = values(&header::SET_COOKIE);
    let verdict = match status {
        200..=299 => {
            let headers = auth
                .response_headers
                .iter()
                .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                .filter_map(|n| resp.headers.get(&n).cloned().map(|v| (n, v)))
                .collect();
            Verdict::Allow { headers, cookies }
        }
        401 | 403 => {
            let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
            let signin = auth.signin.as_deref().filter(|_| status == 401);
            match signin.and_then(|s| HeaderValue::from_str(&signin_url(engine, session, s, auth)).ok()) {
                Some(location) => headers.push((header::LOCATION, location)),
                None => {
                    headers.extend(values(&header::WWW_AUTHENTICATE).into_iter().map(|v| (header::WWW_AUTHENTICATE, v)))
                }
            }
            if auth.always_set_cookie {
                headers.extend(cookies.into_iter().map(|c| (header::SET_COOKIE, c)));
            }
            let answered =
                if signin.is_some() && headers.iter().any(|(n, _)| n == header::LOCATION) { 302 } else { status };
            Verdict::Refuse(answered, headers)
        }
        _ => Verdict::Refuse(500, Vec::new()),
    };
    (verdict, Some(status))
}

/// The check's request: the client's head without its body or hop-by-hop
/// fields, to the auth URL, with ingress-nginx's `X-Original-*` headers.
fn auth_request(
    engine: &Engine,
    session: &ServerSession,
    ctx: &RequestCtx,
    auth: &ExternalAuth,
) -> Option<RequestHeader> {
    let downstream = session.req_header();
    let mut req = downstream.clone();
    hop_by_hop::strip(&mut req, false, false).ok()?;
    req.set_method(auth.method.parse().ok()?);
    req.set_uri(auth.target.parse().ok()?);
    req.set_version(http::Version::HTTP_11);
    for name in [header::CONTENT_LENGTH, header::EXPECT, HeaderName::from_static("proxy")] {
        if req.headers.contains_key(&name) {
            req.remove_header(&name);
        }
    }
    let host = request_host(downstream);
    let request_uri = downstream.uri.path_and_query().map_or("/", |p| p.as_str());
    let scheme = engine.routes.scheme.as_str();
    req.insert_header(header::HOST, auth.host.as_str()).ok()?;
    req.insert_header(&X_ORIGINAL_URL, format!("{scheme}://{host}{request_uri}")).ok()?;
    req.insert_header(&X_ORIGINAL_METHOD, downstream.method.as_str()).ok()?;
    req.insert_header(&X_SENT_FROM, "nginx-ingress-controller").ok()?;
    req.insert_header(&X_AUTH_REQUEST_REDIRECT, auth.request_redirect.as_deref().unwrap_or(request_uri)).ok()?;
    if let Some(ip) = ctx.client_ip {
        let forwarded = match downstream.headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(list) => format!("{list}, {ip}"),
            None => ip.to_string(),
        };
        req.insert_header(&X_REAL_IP, ip.to_string()).ok()?;
        req.insert_header(&X_FORWARDED_FOR, forwarded).ok()?;
    }
    if let Some(id) = &ctx.request_id {
        req.insert_header(crate::http::request_id::X_REQUEST_ID.clone(), id.clone()).ok()?;
    }
    Some(req)
}

/// `auth-signin` with its variables expanded and, unless it names it
/// already, the redirect parameter carrying the original URL (ingress-nginx's
/// `buildAuthSignURL`).
fn signin_url(engine: &Engine, session: &ServerSession, template: &str, auth: &ExternalAuth) -> String {
    let req = session.req_header();
    let scheme = engine.routes.scheme.as_str();
    let http_host = request_host(req);
    let request_uri = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let value = |name: &str| match name {
        "scheme" | "pass_access_scheme" => scheme.to_owned(),
        "host" => host_without_port(http_host).to_owned(),
        "http_host" => http_host.to_owned(),
        "request_uri" => request_uri.to_owned(),
        "escaped_request_uri" => crate::http::path::escape_component(request_uri),
        _ => String::new(),
    };
    let mut url = expand_variables(template, value);
    let param = format!("{}=", auth.signin_redirect_param);
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if !query.split('&').any(|kv| kv.starts_with(&param)) {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&param);
        url.push_str(&format!("{scheme}://{http_host}{}", crate::http::path::escape_component(request_uri)));
    }
    url
}
