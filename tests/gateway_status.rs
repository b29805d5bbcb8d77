//! The status Sluice gives Gateway API objects, as `sluice check` prints it
//! (`gatewayStatus` of the Snapshot): the conditions and reasons of the
//! spec, checked the way upstream's conformance suite checks them.

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

const MANIFESTS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: sluice, generation: 2}
spec: {controllerName: sluice.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: someone-else}
spec: {controllerName: example.com/other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra, generation: 3}
spec:
  gatewayClassName: sluice
  addresses: [{type: IPAddress, value: 127.0.0.5}]
  listeners:
  - {name: http, port: 8080, protocol: HTTP, hostname: "*.example.com"}
  - {name: same-host, port: 8080, protocol: HTTP, hostname: "*.example.com"}
  - {name: tls, port: 8443, protocol: TLS}
  - {name: sctp, port: 8444, protocol: SCTP}
  - {name: kinds, port: 8081, protocol: HTTP, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: infra}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: good, namespace: infra, generation: 7}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing-backend, namespace: infra}
spec:
  parentRefs: [{name: edge}]
  rules: [{backendRefs: [{name: nowhere, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: no-grant, namespace: infra}
spec:
  parentRefs: [{name: edge}]
  rules: [{backendRefs: [{name: web, namespace: elsewhere, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: no-section, namespace: infra}
spec:
  parentRefs: [{name: edge, sectionName: nonexistent}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other-host, namespace: infra}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [a.example.org]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other-namespace, namespace: apps}
spec:
  parentRefs: [{name: edge, namespace: infra}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
"#;

/// `sluice check` on the manifests: the `gatewayStatus` entries by
/// `Kind/namespace/name`.
fn statuses() -> Vec<(String, Value)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gateway.yaml"), MANIFESTS).unwrap();
    let out = Command::new(BIN).arg("check").arg(dir.path()).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    let entries = report["snapshot"]["gatewayStatus"].as_array().cloned().unwrap_or_default();
    entries
        .into_iter()
        .map(|e| {
            let o = &e["object"];
            let ns = o["namespace"].as_str().unwrap_or("");
            let name =
                if ns.is_empty() { o["name"].to_string() } else { format!("{ns}/{}", o["name"].as_str().unwrap()) };
            (format!("{}/{}", o["kind"].as_str().unwrap(), name.trim_matches('"')), e)
        })
        .collect()
}

/// The `(status, reason)` of condition `kind` among `conditions`.
fn condition(conditions: &Value, kind: &str) -> (bool, String) {
    let c = conditions
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {conditions}"));
    (c["status"].as_bool().unwrap(), c["reason"].as_str().unwrap().to_owned())
}

fn find<'s>(all: &'s [(String, Value)], key: &str) -> &'s Value {
    &all.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no status for {key}: {all:?}")).1
}

#[test]
fn classes_gateways_and_routes_get_the_specs_conditions() {
    let all = statuses();
    // Only this controller's class has a status from Sluice.
    assert!(all.iter().all(|(k, _)| k != "GatewayClass/someone-else"), "{all:?}");
    let class = find(&all, "GatewayClass/sluice");
    assert_eq!(condition(&class["conditions"], "Accepted"), (true, "Accepted".into()));
    assert_eq!(class["observedGeneration"], 2);
    let features: Vec<&str> = class["supportedFeatures"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let printed = Command::new(BIN).arg("gateway-features").output().unwrap();
    assert_eq!(features, String::from_utf8_lossy(&printed.stdout).lines().collect::<Vec<_>>());

    let gw = find(&all, "Gateway/infra/edge");
    assert_eq!(gw["observedGeneration"], 3);
    assert_eq!(gw["addresses"], serde_json::json!(["127.0.0.5"]));
    assert_eq!(condition(&gw["conditions"], "Accepted"), (true, "Accepted".into()));
    assert_eq!(condition(&gw["conditions"], "Programmed"), (true, "Programmed".into()));
    let listener = |name: &str| gw["listeners"].as_array().unwrap().iter().find(|l| l["name"] == name).unwrap().clone();
    let http = listener("http");
    assert_eq!(condition(&http["conditions"], "Accepted"), (true, "Accepted".into()));
    assert_eq!(condition(&http["conditions"], "Programmed"), (true, "Programmed".into()));
    assert_eq!(condition(&http["conditions"], "Conflicted"), (false, "NoConflicts".into()));
    // good, missing-backend and no-grant attach to it (a route whose
    // backends are unresolved still attaches); other-host's hostname does
    // not meet the listener's, and other-namespace is not allowed.
    assert_eq!(http["attachedRoutes"], 3, "{http}");
    assert_eq!(condition(&listener("same-host")["conditions"], "Conflicted"), (true, "HostnameConflict".into()));
    // A TLS listener terminates by default, and has no certificate to.
    let tls = listener("tls");
    assert_eq!(condition(&tls["conditions"], "ResolvedRefs"), (false, "InvalidCertificateRef".into()));
    assert_eq!(condition(&tls["conditions"], "Programmed"), (false, "Invalid".into()));
    assert_eq!(tls["supportedKinds"], serde_json::json!(["TLSRoute"]));
    assert_eq!(condition(&listener("sctp")["conditions"], "Accepted"), (false, "UnsupportedProtocol".into()));
    let kinds = listener("kinds");
    assert_eq!(condition(&kinds["conditions"], "ResolvedRefs"), (false, "InvalidRouteKinds".into()));
    assert_eq!(kinds["attachedRoutes"], 0);
    assert_eq!(kinds["supportedKinds"], serde_json::json!([]));

    let parent = |route: &str| find(&all, route)["parents"][0]["conditions"].clone();
    let good = find(&all, "HTTPRoute/infra/good");
    assert_eq!(good["observedGeneration"], 7);
    assert_eq!(good["parents"][0]["parent"]["name"], "edge");
    assert_eq!(good["parents"][0]["sectionName"], "http");
    assert_eq!(condition(&parent("HTTPRoute/infra/good"), "Accepted"), (true, "Accepted".into()));
    assert_eq!(condition(&parent("HTTPRoute/infra/good"), "ResolvedRefs"), (true, "ResolvedRefs".into()));
    assert_eq!(condition(&parent("HTTPRoute/infra/missing-backend"), "Accepted"), (true, "Accepted".into()));
    assert_eq!(
        condition(&parent("HTTPRoute/infra/missing-backend"), "ResolvedRefs"),
        (false, "BackendNotFound".into())
    );
    assert_eq!(condition(&parent("HTTPRoute/infra/no-grant"), "ResolvedRefs"), (false, "RefNotPermitted".into()));
    assert_eq!(condition(&parent("HTTPRoute/infra/no-section"), "Accepted"), (false, "NoMatchingParent".into()));
    assert_eq!(
        condition(&parent("HTTPRoute/infra/other-host"), "Accepted"),
        (false, "NoMatchingListenerHostname".into())
    );
    assert_eq!(
        condition(&parent("HTTPRoute/apps/other-namespace"), "Accepted"),
        (false, "NotAllowedByListeners".into())
    );
}
