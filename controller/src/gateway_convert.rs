//! `sluice convert --to gateway`: Ingresses, with the ingress-nginx
//! annotations that have a Gateway API form, into a GatewayClass, one
//! Gateway and HTTPRoutes. Canaries become weighted `backendRefs` (by
//! weight) or a header-matched rule (by header); TLS hosts get an HTTPS
//! listener of their own and an HTTP route redirecting to HTTPS, as
//! ingress-nginx's `ssl-redirect` does. Whatever changes meaning or has no
//! form is said in a `NOTE` on the object it concerns.

use crate::translate::NGINX;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, IngressBackend};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The annotations this conversion carries over (with the canary ones).
const CARRIED: &[&str] = &[
    "canary",
    "canary-weight",
    "canary-weight-total",
    "canary-by-header",
    "canary-by-header-value",
    "ssl-redirect",
    "force-ssl-redirect",
    "rewrite-target",
    "upstream-vhost",
    "permanent-redirect",
    "permanent-redirect-code",
    "temporal-redirect",
];

/// One converted object and what it could not say.
pub struct Document {
    /// The Ingress (or Ingresses) it comes from.
    pub source: String,
    pub notes: Vec<String>,
    pub object: Value,
}

/// The Gateway the routes attach to: `sluice` in `gateway_namespace`.
/// `services` resolve the backends named by port name (HTTPRoute names
/// ports by number).
pub fn ingresses_to_gateway(ingresses: &[&Ingress], services: &[&Service], gateway_namespace: &str) -> Vec<Document> {
    let (canaries, mains): (Vec<&Ingress>, Vec<&Ingress>) =
        ingresses.iter().partition(|i| annotation(i, "canary").as_deref() == Some("true"));
    let mut listeners = vec![json!({"name": "http", "port": 80, "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "All"}}})];
    let mut grants: BTreeSet<String> = BTreeSet::new();
    let mut tls_hosts: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for ing in &mains {
        let ns = namespace(ing);
        for tls in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
            let Some(secret) = &tls.secret_name else { continue };
            for host in tls.hosts.iter().flatten() {
                if tls_hosts.contains_key(host) {
                    continue;
                }
                let name = format!("https-{}", tls_hosts.len());
                listeners.push(json!({"name": name, "port": 443, "protocol": "HTTPS", "hostname": host,
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                    "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret, "namespace": ns}]}}));
                tls_hosts.insert(host.clone(), name);
                if ns != gateway_namespace {
                    grants.insert(ns.clone());
                }
            }
        }
    }
    out.push(Document {
        source: "this conversion".into(),
        notes: Vec::new(),
        object: json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "sluice"}, "spec": {"controllerName": "sluice.io/gateway-controller"}}),
    });
    out.push(Document {
        source: "the Ingresses' hosts and TLS".into(),
        notes: vec![format!(
            "the Gateway lives in namespace {gateway_namespace}; routes of every namespace attach to it (allowedRoutes All)"
        )],
        object: json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "sluice", "namespace": gateway_namespace},
            "spec": {"gatewayClassName": "sluice", "listeners": listeners}}),
    });
    for ns in grants {
        out.push(Document {
            source: format!("the TLS Secrets of namespace {ns}"),
            notes: vec![format!("lets Gateway {gateway_namespace}/sluice read the TLS Secrets of {ns}")],
            object: json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                "metadata": {"name": "sluice-gateway-certificates", "namespace": ns},
                "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": gateway_namespace}],
                         "to": [{"group": "", "kind": "Secret"}]}}),
        });
    }
    for ing in &mains {
        let services: Vec<&Service> = services
            .iter()
            .copied()
            .filter(|s| s.metadata.namespace.as_deref().unwrap_or("default") == namespace(ing))
            .collect();
        out.extend(routes_of(ing, &canaries, &services, &tls_hosts, gateway_namespace));
    }
    for canary in &canaries {
        let shares_a_host = mains
            .iter()
            .any(|m| namespace(m) == namespace(canary) && hosts(m).iter().any(|h| hosts(canary).contains(h)));
        if !shares_a_host {
            out.push(Document {
                source: format!("Ingress {}/{}", namespace(canary), name(canary)),
                notes: vec!["a canary without a main Ingress of its host: not converted".into()],
                object: Value::Null,
            });
        }
    }
    out
}

fn annotation(ing: &Ingress, key: &str) -> Option<String> {
    ing.metadata.annotations.as_ref()?.get(&format!("{NGINX}{key}")).cloned()
}

fn namespace(ing: &Ingress) -> String {
    ing.metadata.namespace.clone().unwrap_or_else(|| "default".into())
}

fn name(ing: &Ingress) -> String {
    ing.metadata.name.clone().unwrap_or_default()
}

fn hosts(ing: &Ingress) -> Vec<String> {
    ing.spec.iter().flat_map(|s| s.rules.iter().flatten()).map(|r| r.host.clone().unwrap_or_default()).collect()
}

/// A backendRef of an Ingress backend (a port name resolved by the
/// Service, when it is in `services`); `None` with a note when it has no form.
fn backend_ref(
    b: &IngressBackend,
    services: &[&Service],
    weight: Option<u32>,
    notes: &mut Vec<String>,
) -> Option<Value> {
    let Some(s) = &b.service else {
        notes.push("a resource backend has no HTTPRoute form: left out".into());
        return None;
    };
    let port = s.port.as_ref();
    let by_name = || {
        let wanted = port?.name.as_deref()?;
        let svc = services.iter().find(|v| v.metadata.name.as_deref() == Some(s.name.as_str()))?;
        svc.spec.as_ref()?.ports.iter().flatten().find(|p| p.name.as_deref() == Some(wanted)).map(|p| p.port)
    };
    let Some(number) = port.and_then(|p| p.number).or_else(by_name) else {
        notes.push(format!(
            "Service {} is named by port name and is not in this file; HTTPRoute needs its number: left out",
            s.name
        ));
        return None;
    };
    let mut r = json!({"name": s.name, "port": number});
    if let Some(w) = weight {
        r["weight"] = w.into();
    }
    Some(r)
}

/// The canary Ingresses of `ing`'s namespace serving `host` and `path`.
fn canaries_of<'c>(
    canaries: &[&'c Ingress],
    ing: &Ingress,
    host: &str,
    path: &HTTPIngressPath,
) -> Vec<(&'c Ingress, &'c HTTPIngressPath)> {
    let mut out = Vec::new();
    for c in canaries.iter().filter(|c| namespace(c) == namespace(ing)) {
        for rule in c.spec.iter().flat_map(|s| s.rules.iter().flatten()) {
            if rule.host.as_deref().unwrap_or_default() != host {
                continue;
            }
            for p in rule.http.iter().flat_map(|h| &h.paths) {
                if p.path == path.path {
                    out.push((*c, p));
                }
            }
        }
    }
    out
}

/// The HTTPRoutes of one main Ingress: one a rule host.
fn routes_of(
    ing: &Ingress,
    canaries: &[&Ingress],
    services: &[&Service],
    tls_hosts: &BTreeMap<String, String>,
    gw_ns: &str,
) -> Vec<Document> {
    let backend_ref =
        |b: &IngressBackend, weight: Option<u32>, notes: &mut Vec<String>| backend_ref(b, services, weight, notes);
    let (ns, ing_name) = (namespace(ing), name(ing));
    let rules: Vec<_> = ing.spec.iter().flat_map(|s| s.rules.iter().flatten()).collect();
    let mut out = Vec::new();
    let mut shared_notes = Vec::new();
    if let Some(annotations) = &ing.metadata.annotations {
        for key in annotations.keys() {
            if let Some(short) = key.strip_prefix(NGINX)
                && !CARRIED.contains(&short)
            {
                shared_notes.push(format!("{key} has no Gateway API standard form: not carried over"));
            }
        }
    }
    if ing.spec.as_ref().and_then(|s| s.default_backend.as_ref()).is_some() {
        shared_notes.push(
            "the defaultBackend has no Gateway API form (a host without a matching rule answers 404): not carried over"
                .into(),
        );
    }
    let rewrite = annotation(ing, "rewrite-target");
    let vhost = annotation(ing, "upstream-vhost");
    let redirect = annotation(ing, "permanent-redirect")
        .map(|to| (to, annotation(ing, "permanent-redirect-code").and_then(|c| c.parse::<u16>().ok()).unwrap_or(301)))
        .or_else(|| annotation(ing, "temporal-redirect").map(|to| (to, 302)));
    for (i, rule) in rules.iter().enumerate() {
        let host = rule.host.clone().unwrap_or_default();
        let route_name = if rules.len() == 1 { ing_name.clone() } else { format!("{ing_name}-{i}") };
        let mut notes = shared_notes.clone();
        let mut filters: Vec<Value> = Vec::new();
        if let Some(target) = &rewrite {
            if target.contains('$') {
                notes
                    .push(format!("rewrite-target {target} uses captures, which URLRewrite has not: not carried over"));
            } else {
                filters.push(json!({"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": target}}}));
            }
        }
        if let Some(h) = &vhost {
            let f = filters.iter_mut().find(|f| f["type"] == "URLRewrite");
            match f {
                Some(f) => f["urlRewrite"]["hostname"] = h.clone().into(),
                None => filters.push(json!({"type": "URLRewrite", "urlRewrite": {"hostname": h}})),
            }
        }
        if let Some((to, status)) = &redirect {
            match redirect_filter(to, *status) {
                Some(f) => filters = vec![f],
                None => notes.push(format!("the redirect to {to} is not a URL: not carried over")),
            }
        }
        let mut out_rules = Vec::new();
        for p in rule.http.iter().flat_map(|h| &h.paths) {
            let value = p.path.clone().unwrap_or_else(|| "/".into());
            let kind = match p.path_type.as_str() {
                "Exact" => "Exact",
                "Prefix" => "PathPrefix",
                other => {
                    notes.push(format!("path {value} is {other}; read as PathPrefix, as ingress-nginx does"));
                    "PathPrefix"
                }
            };
            let matched = json!({"path": {"type": kind, "value": value}});
            let found = canaries_of(canaries, ing, &host, p);
            let total: u32 = found
                .first()
                .and_then(|(c, _)| annotation(c, "canary-weight-total"))
                .and_then(|t| t.parse().ok())
                .unwrap_or(100);
            let canary_weight: u32 = found
                .iter()
                .filter_map(|(c, _)| annotation(c, "canary-weight").and_then(|w| w.parse::<u32>().ok()))
                .sum::<u32>()
                .min(total);
            for (c, cp) in &found {
                let cname = format!("{}/{}", namespace(c), name(c));
                if let Some(header) = annotation(c, "canary-by-header") {
                    let value = annotation(c, "canary-by-header-value").unwrap_or_else(|| "always".into());
                    if let Some(b) = backend_ref(&cp.backend, None, &mut notes) {
                        out_rules.push(json!({"matches": [{"path": matched["path"], "headers": [{"name": header, "value": value}]}],
                            "backendRefs": [b], "filters": filters}));
                        notes.push(format!("canary {cname} by header {header}: {value} is its own rule; `never` has no form and goes to the main backends"));
                    }
                }
                if annotation(c, "canary-by-cookie").is_some() {
                    notes.push(format!("canary {cname} by cookie has no HTTPRoute match: not carried over"));
                }
            }
            let main_weight = (!found.is_empty() && canary_weight > 0).then_some(total - canary_weight);
            let mut backends: Vec<Value> = backend_ref(&p.backend, main_weight, &mut notes).into_iter().collect();
            if canary_weight > 0 {
                for (c, cp) in &found {
                    let weight = annotation(c, "canary-weight").and_then(|w| w.parse::<u32>().ok()).unwrap_or(0);
                    if weight > 0 {
                        backends.extend(backend_ref(&cp.backend, Some(weight), &mut notes));
                    }
                }
            }
            let mut r = json!({"matches": [matched], "backendRefs": backends});
            if !filters.is_empty() {
                r["filters"] = Value::Array(filters.clone());
            }
            out_rules.push(r);
        }
        let parent = |section: &str| json!({"name": "sluice", "namespace": gw_ns, "sectionName": section});
        let hostnames: Vec<Value> = if host.is_empty() { Vec::new() } else { vec![host.clone().into()] };
        let route = |name: String, section: &str, rules: Value| {
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"parentRefs": [parent(section)], "hostnames": hostnames, "rules": rules}})
        };
        let source = format!("Ingress {ns}/{ing_name}");
        let Some(listener) = tls_hosts.get(&host) else {
            if annotation(ing, "force-ssl-redirect").as_deref() == Some("true") {
                notes.push(
                    "force-ssl-redirect on a host without TLS: no HTTPS listener to send it to; not carried over"
                        .into(),
                );
            }
            out.push(Document { source, notes, object: route(route_name, "http", Value::Array(out_rules)) });
            continue;
        };
        let rules = Value::Array(out_rules);
        out.push(Document {
            source: source.clone(),
            notes,
            object: route(route_name.clone(), listener, rules.clone()),
        });
        let (name, note, rules) = if annotation(ing, "ssl-redirect").as_deref() == Some("false") {
            (format!("{route_name}-http"), "ssl-redirect: \"false\": plain HTTP serves the same rules", rules)
        } else {
            let to_https = json!([{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 308}}]}]);
            (
                format!("{route_name}-https-redirect"),
                "plain HTTP is redirected to HTTPS (308), as ingress-nginx's ssl-redirect does",
                to_https,
            )
        };
        out.push(Document { source, notes: vec![note.into()], object: route(name, "http", rules) });
    }
    out
}

/// A RequestRedirect filter to an absolute URL.
fn redirect_filter(to: &str, status: u16) -> Option<Value> {
    let uri: http::Uri = to.parse().ok()?;
    let mut r = json!({"statusCode": status});
    r["scheme"] = uri.scheme_str()?.into();
    r["hostname"] = uri.host()?.into();
    if let Some(port) = uri.port_u16() {
        r["port"] = port.into();
    }
    let path = uri.path();
    if !path.is_empty() {
        r["path"] = json!({"type": "ReplaceFullPath", "replaceFullPath": path});
    }
    Some(json!({"type": "RequestRedirect", "requestRedirect": r}))
}
