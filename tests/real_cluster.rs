//! Against a real cluster: ignored unless asked for, and then it needs
//! `SLUICE_E2E_KUBECONFIG` naming a kubeconfig (scripts/test runs it when
//! that is set, and says it did not otherwise; these build machines have no
//! cluster). It creates a namespace of its own,
//! runs `sluice run --kube` on it, checks the Snapshot built from the real
//! API server and the status written back, and deletes the namespace.
//!
//! The Gateway API's own conformance suite runs here too, given a cluster
//! where Sluice is deployed (`deploy/`) and `SLUICE_GATEWAY_API_DIR` naming a
//! checkout of kubernetes-sigs/gateway-api at the release whose CRDs the
//! cluster has: the suite's command, with the GatewayClass `sluice` and the
//! features `sluice gateway-features` prints.

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

/// The conformance profiles Sluice's listeners and routes cover.
const PROFILES: &str = "GATEWAY-HTTP,GATEWAY-GRPC,GATEWAY-TLS,GATEWAY-TCP,GATEWAY-UDP";

#[test]
#[ignore = "needs a real cluster with Sluice deployed and a gateway-api checkout: SLUICE_E2E_KUBECONFIG=PATH SLUICE_GATEWAY_API_DIR=DIR scripts/test"]
fn gateway_api_conformance_suite() {
    let kubeconfig =
        std::env::var("SLUICE_E2E_KUBECONFIG").expect("SLUICE_E2E_KUBECONFIG names the cluster's kubeconfig");
    let Ok(suite) = std::env::var("SLUICE_GATEWAY_API_DIR") else {
        panic!("SLUICE_GATEWAY_API_DIR must name a kubernetes-sigs/gateway-api checkout to run its conformance suite");
    };
    let features = std::process::Command::new(BIN).arg("gateway-features").output().unwrap();
    let features: Vec<String> = String::from_utf8_lossy(&features.stdout).lines().map(str::to_owned).collect();
    let class = serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "sluice"}, "spec": {"controllerName": "sluice.io/gateway-controller"}});
    let mut apply = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig, "apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    use std::io::Write;
    apply.stdin.take().unwrap().write_all(class.to_string().as_bytes()).unwrap();
    assert!(apply.wait().unwrap().success(), "the GatewayClass could not be applied");
    let report = std::env::temp_dir().join(format!("sluice-conformance-{}.yaml", std::process::id()));
    let status = std::process::Command::new("go")
        .current_dir(&suite)
        .env("KUBECONFIG", &kubeconfig)
        .args(["test", "./conformance", "-run", "TestConformance", "-timeout", "60m", "-args"])
        .args(["--gateway-class", "sluice", "--conformance-profiles", PROFILES])
        .args(["--supported-features", &features.join(",")])
        .args(["--organization", "sluice", "--project", "sluice", "--url", env!("CARGO_PKG_REPOSITORY")])
        .args(["--version", env!("CARGO_PKG_VERSION"), "--contact", "sluice maintainers"])
        .arg("--report-output")
        .arg(&report)
        .status()
        .expect("go (the conformance suite is Go)");
    let written = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(status.success(), "the conformance suite failed; its report:\n{written}");
}
