//! `sluice run --kube` end to end: the binary reads an API server (the
//! in-process fake, over loopback HTTP, named by a kubeconfig) and serves
//! the blue-green canary scenario through the real proxy, following each
//! change made through the API.

mod common;
#[path = "../controller/tests/fake_api/mod.rs"]
mod fake_api;
#[path = "common/kube_api.rs"]
mod kube_api;

use common::*;
use kube_api::{INGRESSES, api_with_services, ingress, kubeconfig, serve_api};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn shares(to: SocketAddr, n: u32) -> HashMap<String, u32> {
    let c = client();
    let mut seen = HashMap::new();
    for _ in 0..n {
        let r = get(&c, to, "shop.example", "/").await;
        assert_eq!(r.status, 200);
        *seen.entry(r.backend).or_default() += 1;
    }
    seen
}

/// The blue and green echo backends, on 127.0.0.2 and .3.
fn blue_and_green() -> (SocketAddr, SocketAddr, [Proc; 2]) {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    (blue, green, [echo("blue", &[blue], None), echo("green", &[green], None)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_through_the_api_server() {
    let (blue, green, _backends) = blue_and_green();

    let api = api_with_services(&[("blue", blue), ("green", green)]);
    api.apply(INGRESSES, ingress("shop", "shop.example", "blue", None));
    api.apply(INGRESSES, ingress("shop-canary", "shop.example", "green", Some(30)));
    let at = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let _server = serve_api(api.clone(), at).await;
    let kubeconfig = kubeconfig(at);
    let s = Sluice::start_kube(&kubeconfig, &[]);
    let c = client();
    wait_generation(&c, &s, 1).await;
    assert_eq!(get(&c, s.admin, "admin", "/readyz").await.status, 200);

    let seen = shares(s.http, 1000).await;
    let green_share = f64::from(seen.get("green").copied().unwrap_or(0)) / 1000.0;
    assert!((green_share - 0.30).abs() <= 0.03, "canary 30: {seen:?}");

    // The canary weight moved to 100 through the API: all new requests go green.
    let changed = Instant::now();
    api.apply(INGRESSES, ingress("shop-canary", "shop.example", "green", Some(100)));
    loop {
        if get(&c, s.http, "shop.example", "/").await.backend == "green"
            && shares(s.http, 50).await.get("green") == Some(&50)
        {
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(10), "the change never took effect:\n{}", s.log());
    }
    eprintln!("canary 30 -> 100 served {:?} after the API change", changed.elapsed());
    let seen = shares(s.http, 200).await;
    assert_eq!(seen.get("green"), Some(&200), "{seen:?}");
}

const GATEWAY_CLASSES: &str = "/apis/gateway.networking.k8s.io/v1/gatewayclasses";
const GATEWAYS: &str = "/apis/gateway.networking.k8s.io/v1/gateways";
const HTTP_ROUTES: &str = "/apis/gateway.networking.k8s.io/v1/httproutes";

/// An HTTPRoute of Gateway `edge` sending `shop.example` to blue and green
/// by these weights.
fn weighted_route(blue: u32, green: u32) -> serde_json::Value {
    serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "edge"}], "hostnames": ["shop.example"], "rules": [{"backendRefs": [
            {"name": "blue", "port": 80, "weight": blue}, {"name": "green", "port": 80, "weight": green}]}]}})
}

/// The Gateway API kinds through the API server: a GatewayClass of this
/// controller, its Gateway and a weighted HTTPRoute made after the first
/// Snapshot are picked up, and followed as the route's weights move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_through_the_api_server() {
    let (blue, green, _backends) = blue_and_green();
    let api = api_with_services(&[("blue", blue), ("green", green)]);
    api.apply(INGRESSES, ingress("shop", "shop.example", "blue", None));
    let at = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let _server = serve_api(api.clone(), at).await;
    let s = Sluice::start_kube(&kubeconfig(at), &[]);
    let c = client();
    wait_generation(&c, &s, 1).await;
    assert_eq!(get(&c, s.http, "shop.example", "/").await.backend, "blue");
    let gateway_port = free_port(&["127.0.0.1"]);
    api.apply(
        GATEWAY_CLASSES,
        serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "sluice"}, "spec": {"controllerName": "sluice.io/gateway-controller"}}),
    );
    api.apply(
        GATEWAYS,
        serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "default"},
            "spec": {"gatewayClassName": "sluice", "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                     "listeners": [{"name": "http", "port": gateway_port, "protocol": "HTTP"}]}}),
    );
    api.apply(HTTP_ROUTES, weighted_route(0, 1));
    let to = SocketAddr::from(([127, 0, 0, 1], gateway_port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = send(&c, to, "GET", "shop.example", "/", &[], vec![]).await
            && r.backend == "green"
        {
            break;
        }
        assert!(Instant::now() < deadline, "the Gateway API objects were never served:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The weights moved through the API: all new requests go blue.
    api.apply(HTTP_ROUTES, weighted_route(1, 0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&c, to, "shop.example", "/").await.backend != "blue" {
        assert!(Instant::now() < deadline, "the new weights were never served:\n{}", s.log());
    }
    for _ in 0..50 {
        assert_eq!(get(&c, to, "shop.example", "/").await.backend, "blue");
    }
}
