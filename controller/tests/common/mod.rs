//! Helpers for translation tests: manifests in, Snapshot and diagnostics out.
#![allow(dead_code)]

use sluice_config::{Diagnostic, Options, Route, Severity, Snapshot};
use sluice_controller::sources::parse_manifest;
use sluice_controller::{INGRESS_ROUTES, Store, translate};

/// Parses YAML manifests into a store, keeping the parse diagnostics.
pub fn load(yaml: &str) -> (Store, Vec<Diagnostic>) {
    let parsed = parse_manifest(yaml, "test.yaml").expect("test YAML parses");
    let mut store = Store::default();
    for o in parsed.objects {
        store.insert(o);
    }
    (store, parsed.diagnostics)
}

/// Parse + translate with default options; diagnostics of both steps.
pub fn run(yaml: &str) -> (Snapshot, Vec<Diagnostic>) {
    run_with(yaml, &Options::default())
}

pub fn run_with(yaml: &str, options: &Options) -> (Snapshot, Vec<Diagnostic>) {
    let (store, mut diags) = load(yaml);
    let (snapshot, more) = translate(&store, options);
    diags.extend(more);
    assert_eq!(snapshot.validate(), vec![], "translation output must be consistent");
    (snapshot, diags)
}

pub fn route<'s>(s: &'s Snapshot, host: &str, path: &str) -> Option<&'s Route> {
    s.route_config(INGRESS_ROUTES).and_then(|rc| rc.lookup(host, path))
}

/// The cluster names a request goes to, or `["404"]` when nothing matches
/// (the route config's default backend counts as a match).
pub fn target(s: &Snapshot, host: &str, path: &str) -> Vec<String> {
    let split = match route(s, host, path) {
        Some(r) => &r.split,
        None => match s.route_config(INGRESS_ROUTES).and_then(|rc| rc.default_backend.as_ref()) {
            Some(d) => d,
            None => return vec!["404".into()],
        },
    };
    split.0.iter().map(|w| w.cluster.clone()).collect()
}

pub fn endpoints(s: &Snapshot, cluster: &str) -> Vec<String> {
    s.cluster(cluster).map(|c| c.endpoints.iter().map(|e| e.address.to_string()).collect()).unwrap_or_default()
}

/// The one diagnostic on `object` (`Kind/ns/name`) whose field contains `field`.
pub fn find<'d>(diags: &'d [Diagnostic], severity: Severity, object: &str, field: &str) -> &'d Diagnostic {
    diags
        .iter()
        .find(|d| d.severity == severity && d.object.to_string() == object && d.field.contains(field))
        .unwrap_or_else(|| panic!("no {severity} on {object} field {field:?} in:\n{}", list(diags)))
}

pub fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    diags.iter().filter(|d| d.severity == Severity::Error).collect()
}

pub fn list(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("  {d}\n")).collect()
}

/// A Service `name` (port 80 named http, target 8080) with one ready endpoint.
pub fn service(name: &str, ip: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-abc
  namespace: default
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports: [{{name: http, port: 8080, protocol: TCP}}]
endpoints:
- addresses: [{ip}]
  conditions: {{ready: true}}
"#
    )
}

/// An Ingress of class sluice with one rule: host, and (pathType, path, service) paths.
pub fn ingress(name: &str, host: Option<&str>, paths: &[(&str, &str, &str)]) -> String {
    let host = host.map(|h| format!("host: {h}\n    ")).unwrap_or_default();
    let mut p = String::new();
    for (ty, path, svc) in paths {
        p += &format!(
            "      - path: {path}\n        pathType: {ty}\n        backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}\n"
        );
    }
    format!(
        "\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ingressClassName: sluice\n  rules:\n  - {host}http:\n      paths:\n{p}"
    )
}
