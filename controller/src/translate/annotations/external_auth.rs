//! `auth-url` and its companions: the auth service becomes a cluster of
//! the Snapshot (its Service's endpoints, or the address the URL names),
//! so checks are balanced and follow endpoint changes like any request.

use super::{ClusterPolicy, Reader};
use sluice_config::{AuthCache, Cluster, Endpoint, ExternalAuth, HealthPolicy, ObjectRef, parse_hash_key};
use std::net::{IpAddr, SocketAddr};

pub(super) fn external_auth(a: &mut Reader<'_, '_, '_>) -> Option<ExternalAuth> {
    let url = a.get("auth-url")?.to_owned();
    let parsed = url.parse::<http::Uri>().ok().filter(|u| matches!(u.scheme_str(), Some("http" | "https")));
    let Some((uri, authority)) = parsed.and_then(|u| u.authority().cloned().map(|au| (u, au))) else {
        a.bad("auth-url", format!("'{url}' is not an http:// or https:// URL; every request is refused (500)"));
        return Some(refused(a, &url));
    };
    let tls = uri.scheme_str() == Some("https");
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let cluster = match url_cluster(a, authority.host(), port) {
        Ok(cluster) => cluster,
        Err(why) => {
            a.bad("auth-url", format!("{why}; every request is refused (500)"));
            return Some(refused(a, &url));
        }
    };
    let method = a.get("auth-method").unwrap_or("GET").to_owned();
    let method = if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) {
        method
    } else {
        a.bad("auth-method", format!("'{method}' is not an HTTP method; GET is used"));
        "GET".into()
    };
    let signin = a.get("auth-signin").map(str::to_owned).filter(|s| {
        let absolute = s.starts_with("http://") || s.starts_with("https://");
        match ExternalAuth::check_signin(s) {
            Ok(()) if absolute => true,
            Ok(()) => {
                a.bad("auth-signin", format!("'{s}' is not an absolute URL; a refusal is a 401"));
                false
            }
            Err(e) => {
                a.bad("auth-signin", format!("{e}; a refusal is a 401"));
                false
            }
        }
    });
    let signin_redirect_param = a.get("auth-signin-redirect-param").unwrap_or("rd").to_owned();
    let mut response_headers = Vec::new();
    let listed = a.get("auth-response-headers").unwrap_or("").to_owned();
    for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => response_headers.push(h.as_str().to_owned()),
            Err(_) => {
                let name = name.to_owned();
                a.bad("auth-response-headers", format!("'{name}' is not a header name; left out"));
            }
        }
    }
    let request_redirect = a.get("auth-request-redirect").map(str::to_owned).filter(|r| {
        let ok = http::HeaderValue::from_str(r).is_ok();
        if !ok {
            a.bad("auth-request-redirect", format!("'{r}' cannot be a header value; not sent"));
        }
        ok
    });
    let cache = cache(a);
    let always_set_cookie = a.flag("auth-always-set-cookie", false);
    Some(ExternalAuth {
        cluster,
        url,
        host: authority.as_str().to_owned(),
        target: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        tls,
        method,
        signin,
        signin_redirect_param,
        response_headers,
        request_redirect,
        cache,
        always_set_cookie,
    })
}

/// `auth-cache-key` with `auth-cache-duration` (ingress-nginx's default
/// `200 202 401 5m`); no key, no cache.
fn cache(a: &mut Reader<'_, '_, '_>) -> Option<AuthCache> {
    let key = a.get("auth-cache-key")?.to_owned();
    if let Err(e) = parse_hash_key(&key) {
        a.bad("auth-cache-key", format!("{e}; checks are not cached"));
        return None;
    }
    let text = a.get("auth-cache-duration").unwrap_or("200 202 401 5m").to_owned();
    match AuthCache::parse_durations(&text) {
        Ok(durations) => Some(AuthCache { key, durations }),
        Err(e) => {
            a.bad("auth-cache-duration", format!("{e}; checks are not cached"));
            None
        }
    }
}

/// The cluster for a service a URL names at `host:port` (the auth
/// service, a mirror): a Service by its cluster DNS name
/// (`name.namespace.svc[.cluster.local]`), or an address.
pub(super) fn url_cluster(a: &mut Reader<'_, '_, '_>, host: &str, port: u16) -> Result<String, String> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        let address = SocketAddr::new(ip, port);
        let name = format!("address/{address}");
        let endpoint = Endpoint { address, weight: 1, terminating: false, node: None, pod: None };
        a.t.clusters.insert(url_only_cluster(&name, a.r, port, vec![endpoint]));
        return Ok(name);
    }
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let (service, namespace) = match labels.as_slice() {
        [svc, ns, "svc"] | [svc, ns, "svc", "cluster", "local"] => (*svc, *ns),
        _ => {
            return Err(format!(
                "'{host}' is neither a Service's cluster name (name.namespace.svc) nor an address; other names are \
                 not resolved"
            ));
        }
    };
    let key = (namespace.to_owned(), service.to_owned());
    let Some(svc) = a.t.service(&key) else { return Err(format!("Service {namespace}/{service} not found")) };
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    let Some(index) = ports.and_then(|p| p.iter().position(|sp| sp.port == i32::from(port))) else {
        return Err(format!("Service {namespace}/{service} has no port {port}"));
    };
    let policy = ClusterPolicy::default();
    a.t.clusters
        .service_cluster(&key, svc, index, &policy)
        .ok_or_else(|| format!("Service {namespace}/{service} port {port} cannot be served"))
}

/// An auth that cannot be set up: a cluster with no endpoint, so every
/// check fails and every request gets 500, as in ingress-nginx.
fn refused(a: &mut Reader<'_, '_, '_>, url: &str) -> ExternalAuth {
    let name = format!("auth/unusable/{}", a.r);
    a.t.clusters.insert(url_only_cluster(&name, a.r, 0, Vec::new()));
    ExternalAuth {
        cluster: name,
        url: url.to_owned(),
        host: String::new(),
        target: "/".into(),
        tls: false,
        method: "GET".into(),
        signin: None,
        signin_redirect_param: "rd".into(),
        response_headers: Vec::new(),
        request_redirect: None,
        cache: None,
        always_set_cookie: false,
    }
}

/// A cluster no Service stands behind: the address a URL names, or none
/// (an auth that cannot be reached). `object` is the annotated Ingress.
fn url_only_cluster(name: &str, object: &ObjectRef, port: u16, endpoints: Vec<Endpoint>) -> Cluster {
    Cluster {
        name: name.to_owned(),
        service: object.clone(),
        port,
        balance: Default::default(),
        affinity: None,
        health: HealthPolicy::default(),
        max_connections: None,
        endpoints,
        dns: None,
        unresolved: false,
    }
}
