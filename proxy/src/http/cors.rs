//! CORS as ingress-nginx answers it: a preflight (any `OPTIONS` from a
//! let-in origin) gets 204 at the edge; every other answer to such an
//! origin gets the `Access-Control-*` headers, replacing the upstream's.
//! Gateway API routes answer so too, with that spec's wildcards.

use http::{HeaderMap, HeaderName, HeaderValue, header};
use sluice_config::{Cors, CorsSpec};

/// A route's CORS headers, made once per route.
#[derive(Debug)]
pub struct CorsHeaders {
    policy: Cors,
    /// Every header but the origin, in ingress-nginx's order.
    fixed: Vec<(HeaderName, HeaderValue)>,
}

impl CorsHeaders {
    pub fn compile(policy: &Cors) -> Self {
        let mut fixed = Vec::with_capacity(5);
        let mut add = |name: HeaderName, value: &str| {
            // An empty list (a Gateway API filter without it) sends none.
            if value.is_empty() {
                return;
            }
            if let Ok(v) = HeaderValue::from_str(value) {
                fixed.push((name, v));
            }
        };
        if policy.allow_credentials {
            add(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        add(header::ACCESS_CONTROL_ALLOW_METHODS, &policy.allow_methods);
        add(header::ACCESS_CONTROL_ALLOW_HEADERS, &policy.allow_headers);
        if !policy.expose_headers.is_empty() {
            add(header::ACCESS_CONTROL_EXPOSE_HEADERS, &policy.expose_headers);
        }
        add(header::ACCESS_CONTROL_MAX_AGE, &policy.max_age_seconds.to_string());
        Self { policy: policy.clone(), fixed }
    }

    /// The `Access-Control-Allow-Origin` for a request's headers; `None`
    /// when its origin is not let in.
    pub fn origin_for(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let origin = request.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let allowed = self.policy.allowed_origin(origin)?;
        HeaderValue::from_str(allowed).ok()
    }

    /// The headers an answer carries for a let-in `origin`.
    pub fn headers(&self, origin: HeaderValue) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        std::iter::once((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)).chain(self.fixed.iter().cloned())
    }

    /// A preflight's answer headers (204, empty) to `request`.
    pub fn preflight(&self, origin: HeaderValue, request: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
        let mut out: Vec<_> = self.headers(origin).collect();
        if self.policy.spec == CorsSpec::GatewayApi {
            // `*` answered with what the preflight asks for: right with
            // credentials (where browsers take `*` literally) and without.
            let asked = [
                (header::ACCESS_CONTROL_ALLOW_METHODS, header::ACCESS_CONTROL_REQUEST_METHOD),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, header::ACCESS_CONTROL_REQUEST_HEADERS),
            ];
            for (answer, question) in asked {
                let Some(wanted) = request.get(&question) else { continue };
                for (_, value) in out.iter_mut().filter(|(n, v)| *n == answer && v == "*") {
                    *value = wanted.clone();
                }
            }
        }
        out.push((header::CONTENT_TYPE, HeaderValue::from_static("text/plain charset=UTF-8")));
        out
    }
}
