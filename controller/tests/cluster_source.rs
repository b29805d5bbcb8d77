//! The cluster source against an in-process API server: the real kube-rs
//! watchers list, watch, resume and re-list; each step's Snapshot is what a
//! user would see.

mod fake_api;

use fake_api::FakeApi;
use serde_json::{Value, json};
use sluice_config::{Options, Snapshot};
use sluice_controller::sources::{ClusterOptions, ClusterPipeline, spawn_cluster_pipeline};
use sluice_controller::{INGRESS_ROUTES, Published};
use std::sync::Arc;
use std::time::Duration;

const INGRESSES: &str = "/apis/networking.k8s.io/v1/ingresses";
const SERVICES: &str = "/api/v1/services";
const SLICES: &str = "/apis/discovery.k8s.io/v1/endpointslices";
const BCS: &str = "/apis/networkextension.bkbcs.tencent.com/v1/ingresses";

/// Serves what Sluice watches, the BCS and Gateway API CRDs included.
fn api() -> FakeApi {
    let api = api_without_bcs();
    api.serve(BCS);
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
    for kind in kinds {
        api.serve(&format!("/apis/gateway.networking.k8s.io/v1/{kind}"));
    }
    for kind in ["tcproutes", "udproutes"] {
        api.serve(&format!("/apis/gateway.networking.k8s.io/v1alpha2/{kind}"));
    }
    api
}

/// A cluster where the BCS CRD is not installed.
fn api_without_bcs() -> FakeApi {
    let api = FakeApi::default();
    let core = [
        "/api/v1/pods",
        "/api/v1/secrets",
        "/api/v1/configmaps",
        "/api/v1/namespaces",
        "/apis/networking.k8s.io/v1/ingressclasses",
    ];
    for c in [INGRESSES, SERVICES, SLICES].into_iter().chain(core) {
        api.serve(c);
    }
    api
}

fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
           "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
}

fn slice(service: &str, ips: &[&str]) -> Value {
    let endpoints: Vec<Value> =
        ips.iter().map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}})).collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": format!("{service}-1"), "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}], "endpoints": endpoints})
}

fn ingress(name: &str, host: &str, service: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": "default"},
           "spec": {"ingressClassName": "sluice", "rules": [{"host": host, "http": {"paths": [
               {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}})
}

/// The endpoints a request for `host` reaches, or none.
fn endpoints(s: &Snapshot, host: &str) -> Vec<String> {
    let Some(route) = s.route_config(INGRESS_ROUTES).and_then(|rc| rc.lookup(host, "/")) else { return vec![] };
    route
        .split
        .0
        .iter()
        .filter_map(|w| s.cluster(&w.cluster))
        .flat_map(|c| c.endpoints.iter().map(|e| e.address.ip().to_string()))
        .collect()
}

fn start(api: &FakeApi) -> ClusterPipeline {
    spawn_cluster_pipeline(api.client(), Options::default(), ClusterOptions::default())
}

/// Waits until the published value satisfies `ok`.
async fn until(p: &mut ClusterPipeline, what: &str, ok: impl Fn(&Published) -> bool) -> Arc<Published> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        {
            let current = p.published.borrow_and_update().clone();
            if current.snapshot.generation > 0 && ok(&current) {
                return current;
            }
        }
        if tokio::time::timeout_at(deadline, p.published.changed()).await.is_err() {
            let current = p.published.borrow().clone();
            panic!("never: {what}; last generation {}: {:?}", current.snapshot.generation, current.diagnostics);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_then_added_modified_deleted_bookmark() {
    let api = api();
    api.apply(SERVICES, service("web"));
    api.apply(SLICES, slice("web", &["192.0.2.1"]));
    api.apply(INGRESSES, ingress("web", "web.example", "web"));
    let mut p = start(&api);

    let first =
        until(&mut p, "the listed objects served", |x| endpoints(&x.snapshot, "web.example") == ["192.0.2.1"]).await;
    assert_eq!(first.snapshot.generation, 1, "one Snapshot for the whole initial list");

    api.apply(SERVICES, service("api"));
    api.apply(SLICES, slice("api", &["192.0.2.9"]));
    api.apply(INGRESSES, ingress("api", "api.example", "api"));
    until(&mut p, "ADDED objects served", |x| endpoints(&x.snapshot, "api.example") == ["192.0.2.9"]).await;

    api.apply(SLICES, slice("web", &["192.0.2.1", "192.0.2.2"]));
    until(&mut p, "a MODIFIED slice served", |x| endpoints(&x.snapshot, "web.example").len() == 2).await;

    api.delete(INGRESSES, "default", "api");
    let gone = until(&mut p, "a DELETED Ingress gone", |x| endpoints(&x.snapshot, "api.example").is_empty()).await;

    api.bookmark(INGRESSES, "Ingress", "networking.k8s.io/v1");
    api.apply(INGRESSES, ingress("late", "late.example", "web"));
    let after = until(&mut p, "events after a BOOKMARK", |x| !endpoints(&x.snapshot, "late.example").is_empty()).await;
    assert_eq!(after.snapshot.generation, gone.snapshot.generation + 1, "the bookmark itself changed nothing");
    assert!(after.diagnostics.iter().all(|d| d.object.kind != "Source"), "{:?}", after.diagnostics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_relists_and_a_dropped_connection_resumes() {
    let api = api();
    api.apply(SERVICES, service("web"));
    api.apply(SLICES, slice("web", &["192.0.2.1"]));
    api.apply(INGRESSES, ingress("a", "a.example", "web"));
    api.apply(INGRESSES, ingress("b", "b.example", "web"));
    let mut p = start(&api);
    until(&mut p, "listed", |x| !endpoints(&x.snapshot, "b.example").is_empty()).await;
    let (lists, _) = api.requests(INGRESSES);

    // b is deleted while the watch history is lost: only a re-list can tell.
    api.delete_silently(INGRESSES, "default", "b");
    api.expire(INGRESSES);
    until(&mut p, "410 Gone -> re-list drops b", |x| endpoints(&x.snapshot, "b.example").is_empty()).await;
    assert!(api.requests(INGRESSES).0 > lists, "the watcher listed again after 410");
    assert!(!endpoints(&p.published.borrow().snapshot, "a.example").is_empty(), "a survives the re-list");

    // A dropped connection resumes from the last resourceVersion, without a list.
    let (lists, watches) = api.requests(INGRESSES);
    api.drop_watches(INGRESSES);
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.apply(INGRESSES, ingress("c", "c.example", "web"));
    until(&mut p, "events after a dropped watch", |x| !endpoints(&x.snapshot, "c.example").is_empty()).await;
    let (lists_after, watches_after) = api.requests(INGRESSES);
    assert_eq!(lists_after, lists, "resumed, not re-listed");
    assert!(watches_after > watches, "a new watch was opened");
}

/// A burst of events yields few Snapshots, and events that never pause
/// still get published while they go on (the debounce is bounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_are_debounced_and_the_delay_is_bounded() {
    let api = api();
    api.apply(SERVICES, service("web"));
    api.apply(SLICES, slice("web", &["192.0.2.1"]));
    let mut p = start(&api);
    let before = until(&mut p, "listed", |_| true).await.snapshot.generation;

    for i in 0..100 {
        api.apply(INGRESSES, ingress(&format!("i{i}"), &format!("h{i}.example"), "web"));
    }
    let after = until(&mut p, "all 100 served", |x| !endpoints(&x.snapshot, "h99.example").is_empty()).await;
    let steps = after.snapshot.generation - before;
    assert!(steps <= 3, "100 events in a burst made {steps} Snapshots");

    // One event every 5 ms for 600 ms: quiet never comes, yet Snapshots do.
    let start_generation = after.snapshot.generation;
    let mut published_during = 0;
    for i in 0..120 {
        api.apply(SLICES, slice("web", &["192.0.2.1", &format!("192.0.2.{}", 10 + i % 100)]));
        tokio::time::sleep(Duration::from_millis(5)).await;
        published_during = p.published.borrow().snapshot.generation - start_generation;
    }
    assert!(published_during >= 3, "only {published_during} Snapshots during 600 ms of steady events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_the_cluster_does_not_serve_is_reported_and_the_rest_served() {
    let api = api_without_bcs();
    api.apply(SERVICES, service("web"));
    api.apply(SLICES, slice("web", &["192.0.2.1"]));
    api.apply(INGRESSES, ingress("web", "web.example", "web"));
    let mut p = start(&api);
    let served =
        until(&mut p, "served without the BCS CRD", |x| !endpoints(&x.snapshot, "web.example").is_empty()).await;
    let d = served.diagnostics.iter().find(|d| d.object.kind == "Source").expect("the missing CRD is reported");
    assert!(d.message.contains("404") || d.message.contains("not find"), "{d}");

    // Installed later: its objects are picked up.
    api.serve(BCS);
    api.apply(
        BCS,
        json!({"apiVersion": "networkextension.bkbcs.tencent.com/v1", "kind": "Ingress",
        "metadata": {"name": "game", "namespace": "default"},
        "spec": {"rules": [{"port": 9000, "protocol": "TCP", "services": []}]}}),
    );
    until(&mut p, "the BCS Ingress's listener", |x| x.snapshot.listeners.iter().any(|l| l.name == "tcp-9000")).await;
}

/// While the API server is down the last Snapshot stays; when it is back,
/// the watchers catch up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_snapshot_stays_while_the_api_server_is_down() {
    let api = api();
    api.apply(SERVICES, service("web"));
    api.apply(SLICES, slice("web", &["192.0.2.1"]));
    api.apply(INGRESSES, ingress("web", "web.example", "web"));
    let mut p = start(&api);
    let before = until(&mut p, "listed", |x| !endpoints(&x.snapshot, "web.example").is_empty()).await;

    api.set_down(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = p.published.borrow().clone();
    assert_eq!(during.snapshot, before.snapshot, "nothing is lost while the API server is away");

    api.set_down(false);
    api.apply(INGRESSES, ingress("back", "back.example", "web"));
    until(&mut p, "caught up after the outage", |x| {
        !endpoints(&x.snapshot, "back.example").is_empty() && !endpoints(&x.snapshot, "web.example").is_empty()
    })
    .await;
}

/// The debounce gathers bursts without delaying a lone change: with a quiet
/// spell of two seconds, an event after a pause is published at once. (A
/// watcher's own re-list can fall just before an event and make it part of
/// a burst: of three lone events, one must go at once.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_event_is_not_held_back_by_the_debounce() {
    let api = api();
    api.apply(SERVICES, service("web"));
    api.apply(SLICES, slice("web", &["192.0.2.1"]));
    let slow =
        ClusterOptions { quiet: Duration::from_secs(2), max_delay: Duration::from_secs(4), ..Default::default() };
    let mut p = spawn_cluster_pipeline(api.client(), Options::default(), slow);
    until(&mut p, "listed", |_| true).await;
    let mut waits = Vec::new();
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let sent = tokio::time::Instant::now();
        let host = format!("lone{i}.example");
        api.apply(INGRESSES, ingress(&format!("lone{i}"), &host, "web"));
        until(&mut p, "the lone Ingress", |x| !endpoints(&x.snapshot, &host).is_empty()).await;
        waits.push(sent.elapsed());
        if sent.elapsed() < Duration::from_millis(1500) {
            return;
        }
    }
    panic!("every lone event was held back by the 2 s debounce: {waits:?}");
}
