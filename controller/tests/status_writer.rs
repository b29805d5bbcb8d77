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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_writes_status_and_events_and_a_lost_leader_stops() {
    let api = FakeApi::default();
    for c in [
        INGRESSES,
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/pods",
        "/api/v1/secrets",
        "/apis/networking.k8s.io/v1/ingressclasses",
        "/apis/networkextension.bkbcs.tencent.com/v1/ingresses",
        LEASES,
        EVENTS,
    ] {
        api.serve(c);
    }
    api.apply(
        "/api/v1/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"ports": [{"port": 80}]}}),
    );
    api.apply(INGRESSES, ingress("web", "sluice", "web"));
    api.apply(INGRESSES, ingress("bad", "sluice", "missing"));
    let pipeline = spawn_cluster_pipeline(api.client(), Options::default(), ClusterOptions::default());
    let options = StatusOptions {
        addresses: vec!["203.0.113.10".into()],
        lb_name: "sluice".into(),
        lease_namespace: "default".into(),
        lease_name: "sluice-status".into(),
        identity: "sluice-0".into(),
        lease_seconds: 3,
    };
    let mut writer = spawn_status_writer(api.client(), pipeline.published.clone(), options);

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
