//! gRPC over TLS end to end: a tonic client speaks TLS (HTTP/2 by ALPN) to
//! Sluice, which re-encrypts to a tonic gRPC server (`backend-protocol:
//! GRPCS`); the standard health service answers through it.

mod common;
use common::*;
use std::net::SocketAddr;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_server::HealthServer};

fn self_signed(name: &str) -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_to_a_grpc_upstream() {
    let port = free_port(&["127.0.0.4"]);
    let upstream: SocketAddr = format!("127.0.0.4:{port}").parse().unwrap();
    let (up_cert, up_key) = self_signed("upstream.invalid");
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<HealthServer<tonic_health::server::HealthService>>().await;
    let server = Server::builder()
        .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(&up_cert, &up_key)))
        .unwrap()
        .add_service(health)
        .serve(upstream);
    let server = tokio::spawn(server);
    wait_connectable(upstream);

    let (cert, key) = self_signed("grpc.example");
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "grpc", "namespace": "default"},
        "stringData": {"tls.crt": cert, "tls.key": key},
    });
    let ingress = "---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: grpc
  namespace: default
  annotations: {nginx.ingress.kubernetes.io/backend-protocol: GRPCS}
spec:
  ingressClassName: sluice
  tls: [{hosts: [grpc.example], secretName: grpc}]
  rules:
  - host: grpc.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: health, port: {number: 80}}}}]}
";
    let files = service("health", &[upstream]) + &format!("---\n{secret}\n") + ingress;
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    wait_connectable(s.https);

    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&cert)).domain_name("grpc.example");
    let channel = Endpoint::from_shared(format!("https://{}", s.https))
        .unwrap()
        .origin(format!("https://grpc.example:{}", s.https.port()).parse().unwrap())
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS to Sluice, h2 by ALPN");
    let mut client = HealthClient::new(channel);
    for _ in 0..20 {
        let reply = client.check(HealthCheckRequest { service: String::new() }).await.expect("a gRPC answer");
        assert_eq!(reply.into_inner().status, ServingStatus::Serving as i32);
    }
    // A gRPC error status (trailers only) comes back as sent.
    let unknown = client.check(HealthCheckRequest { service: "nope".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    server.abort();
}
