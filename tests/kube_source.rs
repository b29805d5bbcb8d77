//! `sluice run --kube` end to end: the binary reads an API server (the
//! in-process fake, over loopback HTTP, named by a kubeconfig) and serves
//! the blue-green canary scenario through the real proxy, following each
//! change made through the API.

mod common;
#[path = "../controller/tests/fake_api/mod.rs"]
mod fake_api;

use common::*;
use fake_api::FakeApi;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const INGRESSES: &str = "/apis/networking.k8s.io/v1/ingresses";

/// Serves `api` on a loopback port; the kubeconfig text that names it.
async fn serve(api: FakeApi) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let api = api.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.handle(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"http://{addr}\"}}}}]\n\
         users: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: fake, user: u, namespace: default}}}}]\n\
         current-context: c\n"
    )
}

fn service(name: &str, at: SocketAddr) -> (Value, Value) {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
                     "spec": {"ports": [{"name": "http", "port": 80, "targetPort": at.port()}]}});
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{name}-1"), "namespace": "default", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": at.port()}],
        "endpoints": [{"addresses": [at.ip().to_string()], "conditions": {"ready": true}}]});
    (svc, slice)
}

fn ingress(name: &str, service: &str, canary_weight: Option<u32>) -> Value {
    let annotations = match canary_weight {
        Some(w) => {
            json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": w.to_string()})
        }
        None => json!({}),
    };
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": "default", "annotations": annotations},
           "spec": {"ingressClassName": "sluice", "rules": [{"host": "shop.example", "http": {"paths": [
               {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}})
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_through_the_api_server() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);

    let api = FakeApi::default();
    for c in [
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/pods",
        "/api/v1/secrets",
        INGRESSES,
        "/apis/networking.k8s.io/v1/ingressclasses",
        "/apis/networkextension.bkbcs.tencent.com/v1/ingresses",
    ] {
        api.serve(c);
    }
    for (name, at) in [("blue", blue), ("green", green)] {
        let (svc, slice) = service(name, at);
        api.apply("/api/v1/services", svc);
        api.apply("/apis/discovery.k8s.io/v1/endpointslices", slice);
    }
    api.apply(INGRESSES, ingress("shop", "blue", None));
    api.apply(INGRESSES, ingress("shop-canary", "green", Some(30)));
    let kubeconfig = serve(api.clone()).await;
    let s = Sluice::start_kube(&kubeconfig, &[]);
    let c = client();
    wait_generation(&c, &s, 1).await;
    assert_eq!(get(&c, s.admin, "admin", "/readyz").await.status, 200);

    let seen = shares(s.http, 1000).await;
    let green_share = f64::from(seen.get("green").copied().unwrap_or(0)) / 1000.0;
    assert!((green_share - 0.30).abs() <= 0.03, "canary 30: {seen:?}");

    // The canary weight moved to 100 through the API: all new requests go green.
    let changed = Instant::now();
    api.apply(INGRESSES, ingress("shop-canary", "green", Some(100)));
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
