//! The fake API server (`controller/tests/fake_api`) served over loopback
//! HTTP to a `sluice run --kube`, and the objects the end-to-end tests put in
//! it. A test crate using it declares `fake_api` by path beside it.

use crate::fake_api::FakeApi;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::task::{JoinHandle, JoinSet};

pub const INGRESSES: &str = "/apis/networking.k8s.io/v1/ingresses";

/// An API server that lists and watches every collection Sluice reads,
/// with a Service and its EndpointSlice for each `(name, endpoint)`.
pub fn api_with_services(services: &[(&str, SocketAddr)]) -> FakeApi {
    let api = FakeApi::default();
    for c in [
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/pods",
        "/api/v1/secrets",
        INGRESSES,
        "/apis/networking.k8s.io/v1/ingressclasses",
        "/apis/networkextension.bkbcs.tencent.com/v1/ingresses",
        "/apis/gateway.networking.k8s.io/v1/gatewayclasses",
        "/apis/gateway.networking.k8s.io/v1/gateways",
        "/apis/gateway.networking.k8s.io/v1/httproutes",
        "/apis/gateway.networking.k8s.io/v1/grpcroutes",
        "/apis/gateway.networking.k8s.io/v1/tlsroutes",
        "/apis/gateway.networking.k8s.io/v1alpha2/tcproutes",
        "/apis/gateway.networking.k8s.io/v1alpha2/udproutes",
        "/apis/gateway.networking.k8s.io/v1/referencegrants",
        "/apis/gateway.networking.k8s.io/v1/backendtlspolicies",
        "/apis/gateway.networking.k8s.io/v1/listenersets",
        "/api/v1/configmaps",
        "/api/v1/namespaces",
    ] {
        api.serve(c);
    }
    for (name, at) in services {
        let (svc, slice) = service(name, *at);
        api.apply("/api/v1/services", svc);
        api.apply("/apis/discovery.k8s.io/v1/endpointslices", slice);
    }
    api
}

/// Serves `api` on `at` until the returned task is aborted; aborting it
/// closes the listener and every connection (watch streams included).
pub async fn serve_api(api: FakeApi, at: SocketAddr) -> JoinHandle<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let listener = loop {
        match tokio::net::TcpListener::bind(at).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot listen on {at} again: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let api = api.clone();
            conns.spawn(async move {
                let svc = service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.handle(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
            while conns.try_join_next().is_some() {}
        }
    })
}

/// The kubeconfig text naming the API server on `at`.
pub fn kubeconfig(at: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"http://{at}\"}}}}]\n\
         users: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: fake, user: u, namespace: default}}}}]\n\
         current-context: c\n"
    )
}

/// Service `name` port 80 and its EndpointSlice of the one endpoint `at`.
fn service(name: &str, at: SocketAddr) -> (Value, Value) {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
                     "spec": {"ports": [{"name": "http", "port": 80, "targetPort": at.port()}]}});
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{name}-1"), "namespace": "default", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": at.port()}],
        "endpoints": [{"addresses": [at.ip().to_string()], "conditions": {"ready": true}}]});
    (svc, slice)
}

/// Ingress `name`: `host` `/` to `service` port 80, an ingress-nginx canary
/// of that weight when one is given.
pub fn ingress(name: &str, host: &str, service: &str, canary_weight: Option<u32>) -> Value {
    let annotations = match canary_weight {
        Some(w) => {
            json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": w.to_string()})
        }
        None => json!({}),
    };
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": "default", "annotations": annotations},
           "spec": {"ingressClassName": "sluice", "rules": [{"host": host, "http": {"paths": [
               {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}})
}
