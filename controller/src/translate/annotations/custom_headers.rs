//! `custom-headers: NAMESPACE/CONFIGMAP`: the ConfigMap's entries set on
//! every answer, each one allowed by the controller ConfigMap's
//! `global-allowed-response-headers` (ingress-nginx denies the location
//! otherwise; Sluice does not serve the Ingress in that form).

use super::Reader;
use sluice_config::HeaderOp;

/// The headers to set; `Err` (named in a diagnostic) when the Ingress must
/// not be served with them.
pub(super) fn custom_headers(a: &mut Reader<'_, '_, '_>) -> Option<Result<Vec<HeaderOp>, ()>> {
    let reference = a.get("custom-headers")?.to_owned();
    let namespace = a.r.namespace.clone();
    let (ns, name) = reference.split_once('/').unwrap_or((namespace.as_str(), reference.as_str()));
    let refuse = |a: &mut Reader<'_, '_, '_>, why: String| {
        a.bad("custom-headers", format!("{why}; the Ingress is not served in this form"));
        Some(Err(()))
    };
    if ns != namespace {
        return refuse(a, format!("ConfigMap {ns}/{name} is in another namespace (only the Ingress's own is allowed)"));
    }
    let Some(map) = a.t.store.config_maps.get(&(ns.to_owned(), name.to_owned())) else {
        return refuse(a, format!("ConfigMap {ns}/{name} not found"));
    };
    let mut ops = Vec::new();
    for (header, value) in map.data.iter().flatten() {
        if let Err(e) = HeaderOp::check(header, value) {
            return refuse(a, format!("ConfigMap {ns}/{name}: {e}"));
        }
        if !a.t.config.allowed_response_headers.contains(&header.to_ascii_lowercase()) {
            return refuse(a, format!("{header} is not in the controller ConfigMap's global-allowed-response-headers"));
        }
        ops.push(HeaderOp::Set { name: header.clone(), value: value.clone() });
    }
    Some(Ok(ops))
}
