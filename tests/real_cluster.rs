//! Against a real cluster: ignored unless asked for, and then it needs
//! `SLUICE_E2E_KUBECONFIG` naming a kubeconfig (scripts/test runs it when
//! that is set, and says it did not otherwise; these build machines have no
//! cluster). It creates a namespace of its own,
//! runs `sluice run --kube` on it, checks the Snapshot built from the real
//! API server and the status written back, and deletes the namespace.

mod common;
use common::*;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real cluster: SLUICE_E2E_KUBECONFIG=PATH scripts/test"]
async fn sluice_reads_a_real_cluster_and_writes_status() {
    let path = std::env::var("SLUICE_E2E_KUBECONFIG").expect("SLUICE_E2E_KUBECONFIG names the cluster's kubeconfig");
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("a readable kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    let kube_client = kube::Client::try_from(config).unwrap();
    let ns = format!("sluice-e2e-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(kube_client.clone());
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap())
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(kube_client.clone(), &ns);
    let service =
        serde_json::json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}});
    services.create(&PostParams::default(), &serde_json::from_value(service).unwrap()).await.unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(kube_client.clone(), &ns);
    let ingress = serde_json::json!({"metadata": {"name": "web"}, "spec": {"ingressClassName": "sluice", "rules": [
        {"host": "web.e2e.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
          "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
    ingresses.create(&PostParams::default(), &serde_json::from_value(ingress).unwrap()).await.unwrap();

    let kubeconfig_text = std::fs::read_to_string(&path).unwrap();
    let s = Sluice::start_kube(&kubeconfig_text, &["--namespace", &ns, "--publish-address", "203.0.113.77"]);
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut routed = false;
    let mut status = false;
    while Instant::now() < deadline && !(routed && status) {
        let snap = get(&c, s.admin, "admin", "/debug/snapshot").await.json();
        routed = snap["snapshot"]["routeConfigs"][0]["virtualHosts"]
            .as_array()
            .is_some_and(|v| v.iter().any(|h| h["host"] == "web.e2e.example"));
        let live = ingresses.get("web").await.unwrap();
        status = live
            .status
            .and_then(|st| st.load_balancer)
            .and_then(|lb| lb.ingress)
            .is_some_and(|i| i.iter().any(|e| e.ip.as_deref() == Some("203.0.113.77")));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    assert!(routed, "the Ingress never reached the Snapshot:\n{}", s.log());
    assert!(status, "the Ingress status never got the publish address:\n{}", s.log());
}
