//! `sluice convert --to gateway` as a user moving to the Gateway API runs
//! it: Ingresses with an ingress-nginx canary converted, the output served
//! by Sluice in place of the Ingresses, and the traffic split the same.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;

const INGRESSES: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: default
  annotations:
    nginx.ingress.kubernetes.io/limit-rps: "100"
spec:
  ingressClassName: sluice
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: blue, port: {name: http}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-canary
  namespace: default
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "30"
    nginx.ingress.kubernetes.io/canary-by-header: x-canary
spec:
  ingressClassName: sluice
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: green, port: {number: 80}}}}
"#;

async fn shares(c: &HttpClient, to: SocketAddr, headers: &[(&str, &str)], n: u32) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let r = send(c, to, "GET", "shop.example", "/", headers, vec![]).await.expect("request");
        assert_eq!(r.status, 200);
        *seen.entry(r.backend).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn converted_canaries_split_as_the_ingresses_did() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);
    let services = service("blue", &[blue]) + &service("green", &[green]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ingresses.yaml");
    std::fs::write(&input, format!("{services}\n---\n{INGRESSES}")).unwrap();
    let out = Command::new(BIN).args(["convert", "--to", "gateway"]).arg(&input).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let converted = String::from_utf8(out.stdout).unwrap();
    // What has no Gateway API form is said, on the route it concerns.
    assert!(
        converted.contains("# NOTE nginx.ingress.kubernetes.io/limit-rps has no Gateway API standard form"),
        "{converted}"
    );
    // The named port was resolved by the Service in the file.
    assert!(!converted.contains("named by port name"), "{converted}");

    // Served in place of the Ingresses, the Gateway's port 80 moved to a free one.
    let at = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let served = converted.replacen("port: 80\n", &format!("port: {}\n", at.port()), 1);
    let s = Sluice::start(&[("services.yaml", &services), ("gateway.yaml", &served)], &["--gateway-bind", "127.0.0.1"]);
    let c = client();
    wait_generation(&c, &s, 1).await;
    wait_connectable(at);
    let by_weight = shares(&c, at, &[], 1000).await;
    let green_share = f64::from(by_weight.get("green").copied().unwrap_or(0)) / 1000.0;
    assert!((green_share - 0.30).abs() <= 0.03, "canary-weight 30: {by_weight:?}\n{served}");
    let by_header = shares(&c, at, &[("x-canary", "always")], 50).await;
    assert_eq!(by_header.get("green"), Some(&50), "canary-by-header: {by_header:?}");
}
