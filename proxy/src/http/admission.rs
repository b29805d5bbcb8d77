//! What happens to a request before any upstream is contacted: it is routed
//! to a cluster, or answered at the edge (400, 403 outside the source
//! ranges, 404, 413, 421, 431, 414, redirects, CORS preflights, 503 over
//! a limit or without an endpoint). One read of the table
//! decides it; the request keeps that table whatever swaps happen meanwhile.
//! It reads the head as `http`'s request parts (pingora's `RequestHeader`
//! dereferences to them), so it does not depend on which codec parsed it.

use super::client_certificate::Presented;
use super::context::RequestCtx;
use super::hash_key::{ip_hash, key_hash};
use super::path::routing_path;
use super::request_limits;
use crate::affinity::{request_cookie, session_key, set_cookie};
use crate::balancer::key_hash as hash_bytes;
use crate::client_limits::Over;
use crate::cluster::ClusterState;
use crate::route_table::{RouteTable, SplitKey};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use sluice_config::{Affinity, AffinityMode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// What an L7 listener serves: its route config, and where `ssl-redirect`
/// sends plain-HTTP requests.
#[derive(Debug, Clone)]
pub(super) struct ListenerRoutes {
    pub route_config: String,
    pub scheme: Scheme,
    pub https_port: u16,
}

/// The verdict on a request's head.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Proxy it: `ctx` holds its route and cluster.
    Proxy,
    /// Answer it at the edge with this status.
    Local(u16),
    /// Answer it at the edge with this status and these headers, without
    /// a body: a redirect, a CORS preflight.
    Answer(u16, Vec<(HeaderName, HeaderValue)>),
}

/// A redirect's answer; a location that cannot be a header value is a 500
/// (the translator checks the locations it is given).
fn redirect(status: u16, location: &str) -> Admission {
    match HeaderValue::from_str(location) {
        Ok(location) => Admission::Answer(status, vec![(http::header::LOCATION, location)]),
        Err(_) => Admission::Local(500),
    }
}

impl ListenerRoutes {
    /// Routes `req` and applies the edge's checks, filling `ctx` (route,
    /// cluster, client, hash, the client's lease under its limits).
    /// `client_certificate` is asked only when the host checks one, `sni`
    /// (the connection's) only when a host is a Gateway listener's.
    pub(super) fn admit<'s>(
        &self,
        table: &RouteTable,
        req: &Parts,
        client_ip: Option<IpAddr>,
        (client_certificate, sni): (impl FnOnce() -> Presented<'s>, impl FnOnce() -> Option<&'s str>),
        ctx: &mut RequestCtx,
    ) -> Admission {
        let host = request_host(req);
        if let Some(status) = request_limits::refusal(req, host, table.connections()) {
            return Admission::Local(status);
        }
        if table.blocked(|name| req.headers.get(name).and_then(|v| v.to_str().ok())) {
            return Admission::Local(403);
        }
        let Some(path) = routing_path(req.uri.path()) else { return Admission::Local(400) };
        let routes = table.routes(&self.route_config);
        if self.scheme == Scheme::Https
            && let Some(routes) = routes
            && let Some(sni) = sni()
            && routes.misdirected(sni, host)
        {
            return Admission::Local(421);
        }
        let Some(route) = routes.and_then(|r| r.lookup(host, &path, Some(req))).cloned() else {
            return Admission::Local(404);
        };
        ctx.route = Some(route.clone());
        ctx.client_ip = client_ip;
        if route.policy.has_upstream_identity() {
            ctx.extras().upstream_identity = table.upstream_identity(&route.policy);
        }
        if self.scheme == Scheme::Https
            && let Some(routes) = routes.filter(|r| r.checks_client_certificates())
            && let Some(verify) = routes.tls(host_without_port(host)).and_then(|t| t.client_verify.as_ref())
            && !verify.insecure_fallback
        {
            let presented = client_certificate();
            if let Some(page) = &verify.error_page {
                // The handshake took any certificate: checked here, and a
                // failure redirected (nginx's `error_page 495 496`).
                let passes = match presented {
                    Presented::Chain(chain) => table
                        .certificates()
                        .authority(&verify.ca)
                        .is_some_and(|(_, v)| crate::tls::check_client_chain(&*v.required, chain, verify.verify_depth)),
                    Presented::Unseen(shown) => verify.optional && !shown,
                    Presented::None => verify.optional,
                };
                if !passes {
                    return redirect(302, page);
                }
            } else if !verify.optional && !presented.any() {
                // The connection was set up for another host (HTTP/2
                // coalescing, or a Host unlike the SNI) without the
                // certificate this one needs.
                return Admission::Local(421);
            }
            ctx.extras().client_verify = Some(verify.pass_certificate);
        }
        // nginx's rewrite phase: `from-to-www-redirect` and `app-root`
        // (server level), the redirect annotations' `return`, then the
        // HTTPS redirect.
        if let Some(to) = &route.policy.host_redirect {
            let uri = req.uri.path_and_query().map_or("/", |p| p.as_str());
            return redirect(to.status, &format!("{}://{}{uri}", self.scheme.as_str(), to.host));
        }
        if let Some(root) = route.policy.app_root.as_ref().filter(|_| req.uri.path() == "/") {
            return redirect(302, &format!("{}://{host}{root}", self.scheme.as_str()));
        }
        if let Some(to) = &route.policy.redirect {
            return redirect(to.status, &to.location);
        }
        if let Some(to) = &route.policy.url_redirect {
            let root = sluice_config::PathMatch::prefix("/");
            let matched = route.redirect_match.as_deref().unwrap_or(&root);
            let (host, path, query) = (host_without_port(host), req.uri.path(), req.uri.query());
            let location = to.location(self.scheme.as_str(), host, path, query, matched);
            return redirect(to.status, &location);
        }
        if self.scheme == Scheme::Http && route.policy.ssl_redirect {
            return redirect(308, &https_location(req, self.https_port));
        }
        // ingress-nginx's CORS block sits in the same rewrite phase, after them.
        if let Some(cors) = &route.cors {
            let origin = cors.origin_for(&req.headers);
            if let Some(origin) = origin.clone().filter(|_| req.method == http::Method::OPTIONS) {
                return Admission::Answer(204, cors.preflight(origin, &req.headers));
            }
            ctx.extras().cors_origin = origin;
        }
        // A snippet's `return CODE;`.
        if let Some(status) = route.policy.answer_status {
            return Admission::Local(status);
        }
        if let Some(limit) = route.policy.max_body_bytes {
            let length = req.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
            if length.and_then(|l| l.parse::<u64>().ok()).is_some_and(|l| l > limit) {
                return Admission::Local(413);
            }
        }
        let exempt = |ip: &IpAddr| route.policy.limit_exempt.iter().any(|n| n.contains(ip));
        if let (Some(limits), Some(ip)) = (&route.limits, client_ip.filter(|ip| !exempt(ip))) {
            match limits.admit(ip, Instant::now()) {
                Ok(lease) => ctx.client_lease = lease,
                Err(Over::Rate) => return Admission::Local(route.policy.limit_status),
                Err(Over::Connections) => return Admission::Local(route.policy.limit_conn_status),
            }
        }
        // After the limits, as nginx's access phase follows its preaccess one.
        if client_ip.is_some_and(|ip| !route.policy.source_allowed(ip)) {
            return Admission::Local(403);
        }
        if let (Some(auth), Some(check)) = (&route.policy.basic_auth, &route.basic_auth)
            && !check.admits(auth, &req.headers)
        {
            return Admission::Answer(401, vec![(http::header::WWW_AUTHENTICATE, check.challenge())]);
        }
        // `affinity-canary-behavior: sticky`: a persistent cookie keeps the
        // side holding its endpoint; a balanced one's key hashes to its side,
        // and a new balanced session's key is drawn to hash to the side taken.
        let mut kept = None;
        let mut new_session = None;
        let split_hash = match route.split_key() {
            Some(SplitKey::Hash(parts)) => Some(key_hash(parts, req, host, client_ip)),
            Some(SplitKey::ClientIp) => client_ip.map(ip_hash),
            Some(SplitKey::Cookie(affinity @ Affinity::Cookie { name, mode, .. })) => {
                match (request_cookie(req, name), mode) {
                    (Some(v), AffinityMode::Persistent) => {
                        kept = route.cluster_with_endpoint(v);
                        None
                    }
                    (Some(v), AffinityMode::Balanced) => Some(hash_bytes(v.as_bytes())),
                    (None, AffinityMode::Balanced) => {
                        new_session = Some(affinity);
                        None
                    }
                    (None, AffinityMode::Persistent) => None,
                }
            }
            Some(SplitKey::Cookie(_)) | None => None,
        };
        let cluster = route
            .choose(
                |name| req.headers.get(name).and_then(|v| v.to_str().ok()),
                |name| request_cookie(req, name),
                split_hash,
                kept,
            )
            .cloned();
        if let (Some(affinity), Some(chosen)) = (new_session, &cluster) {
            let fits = |k: &str| route.side_for(hash_bytes(k.as_bytes())).is_some_and(|c| Arc::ptr_eq(c, chosen));
            let key = session_key(64, fits);
            ctx.set_cookie = set_cookie(affinity, &key);
            ctx.extras().session_key = Some(key);
        }
        if let Some(parts) = cluster.as_ref().and_then(|c| c.hash_key()) {
            ctx.key_hash = Some(key_hash(parts, req, host, client_ip));
        }
        let ready = |c: &ClusterState| c.has_untried(&[]) && !c.at_capacity();
        // `default-backend` serves while the route's clusters cannot.
        let fallback =
            || route.policy.error_backend.as_ref().filter(|b| b.when_unavailable).and(route.error_backend.clone());
        let (cluster, admitted) = match cluster {
            Some(c) if ready(&c) => (c, true),
            Some(c) => match fallback().filter(|f| ready(f)) {
                Some(f) => (f, true),
                None => (c, false),
            },
            None => match fallback() {
                Some(f) => {
                    let admitted = ready(&f);
                    (f, admitted)
                }
                None => return Admission::Local(503),
            },
        };
        let refused = if cluster.unresolved() { 500 } else { 503 };
        ctx.cluster = Some(cluster);
        if admitted { Admission::Proxy } else { Admission::Local(refused) }
    }
}

/// A Host value without its port (IPv6 literals keep their brackets).
pub(super) fn host_without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')) => h,
        _ => host,
    }
}

/// The `Location` of a redirect to HTTPS: same host (its port replaced),
/// path and query.
fn https_location(req: &Parts, https_port: u16) -> String {
    let host = host_without_port(request_host(req));
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    if https_port == 443 { format!("https://{host}{path}") } else { format!("https://{host}:{https_port}{path}") }
}

/// The request's host: the authority of an absolute URI (HTTP/2, proxies),
/// else the Host header.
pub(super) fn request_host(req: &Parts) -> &str {
    req.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or("")
}

/// Every `Cookie` header of the request as one list (cookie affinity reads
/// its cookie from it), owned: the request's session is borrowed mutably
/// while its attempts pick endpoints.
pub(super) fn request_cookies(req: &Parts) -> Option<String> {
    let all: Vec<&str> = req.headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    (!all.is_empty()).then(|| all.join("; "))
}
