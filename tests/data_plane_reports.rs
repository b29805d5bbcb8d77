//! What the data plane cannot apply on this machine is reported like an
//! input error: a port that will not bind and a certificate rustls refuses
//! become Events on the objects that asked (through the in-process API
//! server), and `/healthz` says 503 while the process cannot serve: before
//! its first Snapshot, and while a listener of its own flags cannot bind.

mod common;
#[path = "../controller/tests/fake_api/mod.rs"]
mod fake_api;
#[path = "common/kube_api.rs"]
mod kube_api;

use common::*;
use fake_api::FakeApi;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::{INGRESSES, api_with_services, kubeconfig, serve_api};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

const CONFIGMAPS: &str = "/api/v1/configmaps";
const SECRETS: &str = "/api/v1/secrets";

/// A TLS Secret whose key is not the certificate's: well-formed PEM that
/// translation takes and rustls refuses.
fn mismatched_tls_secret(name: &str, host: &str) -> Value {
    let cert = rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
    let secret = Secret {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..ObjectMeta::default() },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            ("tls.crt".to_owned(), ByteString(cert.cert.pem().into_bytes())),
            ("tls.key".to_owned(), ByteString(other.signing_key.serialize_pem().into_bytes())),
        ])),
        ..Secret::default()
    };
    let mut value = serde_json::to_value(secret).unwrap();
    value["apiVersion"] = json!("v1");
    value["kind"] = json!("Secret");
    value
}

fn events(api: &FakeApi) -> Vec<Value> {
    api.writes().into_iter().filter(|(m, path, _)| m == "POST" && path.ends_with("/events")).map(|w| w.2).collect()
}

async fn eventually(what: &str, s: &Sluice, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok().await {
        assert!(Instant::now() < deadline, "never: {what}\nlog:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn healthz(s: &Sluice) -> (u16, String) {
    let r = get(&client(), s.admin, "admin", "/healthz").await;
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_cannot_bind_and_a_refused_certificate_are_events_on_their_objects() {
    let port = free_port(&["127.0.0.1"]);
    let web: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _web = echo("web", &[web], None);
    // A port some other process holds, asked for by the tcp-services ConfigMap.
    let busy = TcpListener::bind(("127.0.0.1", free_port(&["127.0.0.1"]))).unwrap();
    let busy_port = busy.local_addr().unwrap().port();

    let api = api_with_services(&[("web", web)]);
    for c in [CONFIGMAPS, "/apis/coordination.k8s.io/v1/leases", "/apis/events.k8s.io/v1/events"] {
        api.serve(c);
    }
    api.apply(
        CONFIGMAPS,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tcp-services", "namespace": "default"},
               "data": {busy_port.to_string(): "default/web:80"}}),
    );
    api.apply(SECRETS, mismatched_tls_secret("secure-tls", "secure.example"));
    api.apply(
        INGRESSES,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "secure", "namespace": "default"},
               "spec": {"ingressClassName": "sluice",
                        "tls": [{"hosts": ["secure.example"], "secretName": "secure-tls"}],
                        "rules": [{"host": "secure.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
    );
    let at = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let _server = serve_api(api.clone(), at).await;
    let s = Sluice::start_kube_at(
        &kubeconfig(at),
        None,
        &["--tcp-services-configmap", "default/tcp-services", "--l4-bind", "127.0.0.1"],
    );

    eventually("an Event on the ConfigMap whose port cannot bind", &s, async || {
        events(&api).iter().any(|e| {
            e["regarding"]["kind"] == "ConfigMap"
                && e["regarding"]["name"] == "tcp-services"
                && e["type"] == "Warning"
                && e["note"]
                    .as_str()
                    .is_some_and(|n| n.contains(&format!("data[{busy_port}]")) && n.contains("cannot listen"))
        })
    })
    .await;
    eventually("an Event on the Secret rustls refuses", &s, async || {
        events(&api).iter().any(|e| {
            e["regarding"]["kind"] == "Secret"
                && e["regarding"]["name"] == "secure-tls"
                && e["type"] == "Warning"
                && e["note"].as_str().is_some_and(|n| n.contains("does not match"))
        })
    })
    .await;
    // Both are the objects' problems, not the process's: it stays healthy
    // and goes on serving the rest.
    assert_eq!(healthz(&s).await.0, 200);
    // The TLS host is served (plain HTTP is redirected to HTTPS, as a TLS host's is by default).
    assert_eq!(get(&client(), s.http, "secure.example", "/").await.status, 308);
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_before_the_first_snapshot_and_while_an_own_listener_cannot_bind() {
    let port = free_port(&["127.0.0.1"]);
    let web: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _web = echo("web", &[web], None);
    let api = api_with_services(&[("web", web)]);
    api.serve("/apis/coordination.k8s.io/v1/leases");
    api.serve("/apis/events.k8s.io/v1/events");
    api.set_down(true);
    let at = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let _server = serve_api(api.clone(), at).await;
    // --https-listen on a port another process holds.
    let busy = TcpListener::bind(("127.0.0.1", free_port(&["127.0.0.1"]))).unwrap();
    let s = Sluice::start_kube_at(&kubeconfig(at), Some(busy.local_addr().unwrap()), &[]);

    let (code, body) = healthz(&s).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("no Snapshot served yet"), "{body}");
    assert_eq!(get(&client(), s.admin, "admin", "/readyz").await.status, 503);

    // The API server answers: a Snapshot is served, but HTTPS cannot bind.
    api.set_down(false);
    eventually("the first Snapshot", &s, async || get(&client(), s.admin, "admin", "/readyz").await.status == 200)
        .await;
    eventually("healthz naming the HTTPS listener", &s, async || {
        let (code, body) = healthz(&s).await;
        code == 503 && body.contains("listener https") && !body.contains("no Snapshot")
    })
    .await;

    // The port comes free and the next change binds it: healthy again.
    drop(busy);
    api.apply(INGRESSES, kube_api::ingress("late", "late.example", "web", None));
    eventually("healthz 200 once HTTPS is bound", &s, async || healthz(&s).await.0 == 200).await;
    wait_connectable(s.https);
}
