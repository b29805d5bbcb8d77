//! `default-backend` and `custom-http-errors`: a Service of the Ingress's
//! namespace (its first port) serves the route while the route's own
//! Services have no endpoint, and answers the listed upstream statuses.

use super::{ClusterPolicy, Reader};
use crate::translate::nginx_values;
use sluice_config::{Diagnostic, ErrorBackend};

pub(super) fn error_backend(a: &mut Reader<'_, '_, '_>) -> Option<ErrorBackend> {
    // The controller ConfigMap's list is the default, as in ingress-nginx.
    let own = a.get("custom-http-errors").is_some();
    let codes = match a.parsed("custom-http-errors", nginx_values::statuses, "none are handed over") {
        Some(codes) => codes,
        None if own => Vec::new(),
        None => a.t.config.custom_http_errors.clone(),
    };
    let Some(service) = a.get("default-backend").map(str::to_owned) else {
        if own && !codes.is_empty() {
            a.t.diags.push(Diagnostic::warning(
                a.r.clone(),
                format!("metadata.annotations[{}custom-http-errors]", super::NGINX),
                "needs the default-backend annotation (Sluice has no global default backend Service); the \
                 upstream's answers are passed through",
            ));
        }
        return None;
    };
    let key = (a.r.namespace.clone(), service.clone());
    let Some(svc) = a.t.service(&key) else {
        a.bad("default-backend", format!("Service {}/{service} not found; no default backend", key.0));
        return None;
    };
    let policy = ClusterPolicy::default();
    let Some(cluster) = a.t.clusters.service_cluster(&key, svc, 0, &policy) else {
        a.bad("default-backend", format!("Service {}/{service} has no port to serve; no default backend", key.0));
        return None;
    };
    Some(ErrorBackend { cluster, codes, when_unavailable: true })
}
