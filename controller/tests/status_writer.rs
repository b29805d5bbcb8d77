//! Status and Events against the in-process API server: the leader writes
//! the served Ingresses' load-balancer addresses, clears them when an
//! Ingress stops being served, sends Events for diagnostics, and stops
//! writing once another replica holds the Lease.

mod fake_api;

use fake_api::FakeApi;
use serde_json::{Value, json};
use sluice_config::Options;
use sluice_controller::sources::{ClusterOptions, spawn_cluster_pipeline};
use sluice_controller::status::{StatusOptions, spawn_status_writer};
use std::time::Duration;

const INGRESSES: &str = "/apis/networking.k8s.io/v1/ingresses";
const LEASES: &str = "/apis/coordination.k8s.io/v1/leases";
const EVENTS: &str = "/apis/events.k8s.io/v1/events";

fn ingress(name: &str, class: &str, service: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": "default"},
           "spec": {"ingressClassName": class, "rules": [{"host": format!("{name}.example"), "http": {"paths": [
               {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}})
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_ips(api: &FakeApi, name: &str) -> Option<Vec<String>> {
    let o = api.get(INGRESSES, "default", name)?;
    let list = o["status"]["loadBalancer"]["ingress"].as_array()?.clone();
    Some(list.iter().filter_map(|e| e["ip"].as_str().map(str::to_owned)).collect())
}

/// An API server with what Sluice watches and writes, `extra` too, and
/// Service `web`.
fn cluster_api(extra: &[&str]) -> FakeApi {
    let api = FakeApi::default();
    for c in [
        INGRESSES,
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/pods",
        "/api/v1/secrets",
        "/api/v1/configmaps",
        "/api/v1/namespaces",
        "/apis/networking.k8s.io/v1/ingressclasses",
        LEASES,
        EVENTS,
    ] {
        api.serve(c);
    }
    for c in extra {
        api.serve(c);
    }
    api.apply(
        "/api/v1/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"ports": [{"port": 80}]}}),
    );
    api
}

fn status_options() -> StatusOptions {
    StatusOptions {
        addresses: vec!["203.0.113.10".into()],
        lb_name: "sluice".into(),
        lease_namespace: "default".into(),
        lease_name: "sluice-status".into(),
        identity: "sluice-0".into(),
        lease_seconds: 3,
        gateway_controller_name: "sluice.io/gateway-controller".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_writes_status_and_events_and_a_lost_leader_stops() {
    let api = cluster_api(&["/apis/networkextension.bkbcs.tencent.com/v1/ingresses"]);
    api.apply(INGRESSES, ingress("web", "sluice", "web"));
    api.apply(INGRESSES, ingress("bad", "sluice", "missing"));
    let pipeline = spawn_cluster_pipeline(api.client(), Options::default(), ClusterOptions::default());
    let mut writer = spawn_status_writer(api.client(), pipeline.published.clone(), status_options());

    eventually("leadership", || *writer.leader.borrow()).await;
    eventually("web's status", || status_ips(&api, "web") == Some(vec!["203.0.113.10".into()])).await;
    eventually("an Event naming bad's missing Service", || {
        api.writes().iter().any(|(m, path, body)| {
            m == "POST"
                && path.ends_with("/events")
                && body["regarding"]["name"] == "bad"
                && body["type"] == "Warning"
                && body["note"].as_str().is_some_and(|n| n.contains("not found"))
        })
    })
    .await;

    // web moves to another class: no longer served, its status is cleared.
    api.apply(INGRESSES, ingress("web", "other", "web"));
    eventually("web's status cleared", || status_ips(&api, "web") == Some(vec![])).await;

    // Another replica takes the Lease: this one stops writing.
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let lease = api.get(LEASES, "default", "sluice-status").expect("the Lease exists");
    let mut taken = lease.clone();
    taken["spec"] = json!({"holderIdentity": "sluice-1", "acquireTime": now, "renewTime": now,
                            "leaseDurationSeconds": 3600, "leaseTransitions": 2});
    api.apply(LEASES, taken);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while *writer.leader.borrow_and_update() {
        assert!(tokio::time::Instant::now() < deadline, "leadership never lost");
        let _ = tokio::time::timeout(Duration::from_millis(100), writer.leader.changed()).await;
    }
    let before = api.writes().len();
    api.apply(INGRESSES, ingress("late", "sluice", "web"));
    let mut published = pipeline.published.clone();
    eventually("late served", || {
        let p = published.borrow_and_update().clone();
        p.snapshot.route_configs.iter().flat_map(|rc| &rc.virtual_hosts).any(|vh| vh.host == "late.example")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status_writes: Vec<_> =
        api.writes()[before..].iter().filter(|(_, path, _)| path.contains("/ingresses/")).cloned().collect();
    assert!(status_writes.is_empty(), "a replica without the Lease wrote status: {status_writes:?}");
    assert_eq!(status_ips(&api, "late"), None);
}

const GATEWAY_API: &str = "/apis/gateway.networking.k8s.io";

/// The route's parent entries, by controller.
fn parents(api: &FakeApi, name: &str) -> Vec<Value> {
    let route = api.get(&format!("{GATEWAY_API}/v1/httproutes"), "default", name);
    route.and_then(|r| r["status"]["parents"].as_array().cloned()).unwrap_or_default()
}

fn condition<'v>(conditions: &'v Value, kind: &str) -> Option<&'v Value> {
    conditions.as_array()?.iter().find(|c| c["type"] == kind)
}

/// The leader writes the Gateway API status translation found: the class
/// Accepted with its features, the Gateway's listeners and attached routes,
/// the route's parent under Sluice's controller name, beside another
/// controller's entry, which it keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_writes_gateway_api_status() {
    let kinds = [
        "gatewayclasses",
        "gateways",
        "httproutes",
        "grpcroutes",
        "tlsroutes",
        "referencegrants",
        "backendtlspolicies",
        "listenersets",
    ];
    let kinds: Vec<String> = kinds.iter().map(|k| format!("{GATEWAY_API}/v1/{k}")).collect();
    let api = cluster_api(&kinds.iter().map(String::as_str).collect::<Vec<_>>());
    let (classes, gateways, routes) = (
        format!("{GATEWAY_API}/v1/gatewayclasses"),
        format!("{GATEWAY_API}/v1/gateways"),
        format!("{GATEWAY_API}/v1/httproutes"),
    );
    api.apply(
        &classes,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "sluice", "generation": 1}, "spec": {"controllerName": "sluice.io/gateway-controller"}}),
    );
    api.apply(
        &gateways,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "default", "generation": 2},
        "spec": {"gatewayClassName": "sluice", "listeners": [{"name": "http", "port": 8080, "protocol": "HTTP"}]}}),
    );
    let route = |section: &str| {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default", "generation": 3},
        "spec": {"parentRefs": [{"name": "edge", "sectionName": section}], "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}})
    };
    api.apply(&routes, route("http"));
    let pipeline = spawn_cluster_pipeline(api.client(), Options::default(), ClusterOptions::default());
    let _writer = spawn_status_writer(api.client(), pipeline.published.clone(), status_options());

    eventually("the class Accepted with its features", || {
        let class = api.get(&classes, "", "sluice").unwrap_or_default();
        let accepted = condition(&class["status"]["conditions"], "Accepted");
        accepted.is_some_and(|c| c["status"] == "True" && c["observedGeneration"] == 1)
            && class["status"]["supportedFeatures"]
                .as_array()
                .is_some_and(|f| f.contains(&json!({"name": "HTTPRoute"})))
    })
    .await;
    eventually("the listener with one route", || {
        let gw = api.get(&gateways, "default", "edge").unwrap_or_default();
        let l = &gw["status"]["listeners"][0];
        l["name"] == "http"
            && l["attachedRoutes"] == 1
            && l["supportedKinds"]
                .as_array()
                .is_some_and(|k| k.contains(&json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"})))
            && condition(&gw["status"]["conditions"], "Programmed").is_some_and(|c| c["status"] == "True")
    })
    .await;
    eventually("the route's parent Accepted", || {
        parents(&api, "web").iter().any(|p| {
            p["controllerName"] == "sluice.io/gateway-controller"
                && p["parentRef"]["name"] == "edge"
                && condition(&p["conditions"], "Accepted").is_some_and(|c| c["status"] == "True")
                && condition(&p["conditions"], "ResolvedRefs").is_some_and(|c| c["status"] == "True")
        })
    })
    .await;

    // Another controller's entry, then a new generation of the route: its
    // status is written again, the other entry kept.
    let mut shared = api.get(&routes, "default", "web").unwrap();
    shared["status"]["parents"].as_array_mut().unwrap().push(json!({"controllerName": "example.com/other",
        "parentRef": {"name": "elsewhere"}, "conditions": []}));
    api.apply(&routes, shared.clone());
    let mut next = route("http");
    next["metadata"]["generation"] = json!(4);
    next["status"] = shared["status"].clone();
    api.apply(&routes, next);
    eventually("generation 4 observed, the other controller's entry kept", || {
        let all = parents(&api, "web");
        all.iter().any(|p| p["controllerName"] == "example.com/other")
            && all.iter().any(|p| {
                p["controllerName"] == "sluice.io/gateway-controller"
                    && condition(&p["conditions"], "Accepted").is_some_and(|c| c["observedGeneration"] == 4)
            })
    })
    .await;

    // A BackendTLSPolicy of the route's backend: its Gateway is its
    // ancestor; its CA ConfigMap does not exist.
    let policies = format!("{GATEWAY_API}/v1/backendtlspolicies");
    api.apply(
        &policies,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "web-tls", "namespace": "default", "generation": 5},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "web"}],
                 "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "absent"}], "hostname": "web.example"}}}),
    );
    eventually("the policy's ancestor written, NoValidCACertificate", || {
        let policy = api.get(&policies, "default", "web-tls").unwrap_or_default();
        policy["status"]["ancestors"].as_array().into_iter().flatten().any(|a| {
            a["controllerName"] == "sluice.io/gateway-controller"
                && a["ancestorRef"]["name"] == "edge"
                && condition(&a["conditions"], "Accepted").is_some_and(|c| {
                    c["status"] == "False" && c["reason"] == "NoValidCACertificate" && c["observedGeneration"] == 5
                })
                && condition(&a["conditions"], "ResolvedRefs")
                    .is_some_and(|c| c["status"] == "False" && c["reason"] == "InvalidCACertificateRef")
        })
    })
    .await;

    // A route naming a listener the Gateway does not have.
    let mut stray = route("nonexistent");
    stray["metadata"]["name"] = json!("stray");
    api.apply(&routes, stray);
    eventually("stray's parent NoMatchingParent", || {
        parents(&api, "stray").iter().any(|p| {
            p["controllerName"] == "sluice.io/gateway-controller"
                && condition(&p["conditions"], "Accepted")
                    .is_some_and(|c| c["status"] == "False" && c["reason"] == "NoMatchingParent")
        })
    })
    .await;
}
