//! `default-backend` and `custom-http-errors`: a Service of the Ingress's
//! namespace (its first port) serves the route while the route's own
//! Services have no endpoint, and answers the listed upstream statuses.

use super::{ClusterPolicy, Reader};
use sluice_config::{Diagnostic, ErrorBackend};

pub(super) fn error_backend(a: &mut Reader<'_, '_, '_>) -> Option<ErrorBackend> {
    let mut codes = Vec::new();
    let listed = a.get("custom-http-errors").unwrap_or("").to_owned();
    for code in listed.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        match code.parse::<u16>() {
            Ok(c) if (400..=599).contains(&c) => codes.push(c),
            _ => a.bad("custom-http-errors", format!("'{code}' is not a status in 400-599; left out")),
        }
    }
    let Some(service) = a.get("default-backend").map(str::to_owned) else {
        if !codes.is_empty() {
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
    let store = a.t.store;
    let Some(svc) = store.services.get(&key) else {
        a.bad("default-backend", format!("Service {}/{service} not found; no default backend", key.0));
        return None;
    };
    let policy = ClusterPolicy::default();
    let Some(cluster) = a.t.clusters.service_cluster(&mut a.t.diags, &key, svc, 0, &policy) else {
        a.bad("default-backend", format!("Service {}/{service} has no port to serve; no default backend", key.0));
        return None;
    };
    Some(ErrorBackend { cluster, codes, when_unavailable: true })
}
