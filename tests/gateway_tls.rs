//! Gateway API HTTPS listeners as users check them: upstream's
//! HTTPRouteHTTPSListener case (the base `same-namespace-with-https-listener`
//! Gateway, four listeners on one port), with certificates made by rcgen at
//! test time, `openssl s_client` for the certificate served by SNI and
//! `curl` for requests.

mod common;
use common::*;
use std::net::SocketAddr;

fn backend(name: &str, at: SocketAddr) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: gateway-conformance-infra}}\nspec:\n  ports: [{{name: first-port, port: 8080, targetPort: {port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: gateway-conformance-infra, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: first-port, port: {port}}}]\nendpoints:\n- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n",
        port = at.port(),
        ip = at.ip()
    )
}

/// Upstream's base HTTPS Gateway on `at`, its listeners' certificate the
/// Secret `tls-validity-checks-certificate`, the one for
/// `second-example.org` changed to `second` (to see SNI pick it).
fn gateway(at: SocketAddr) -> String {
    let listener = |name: &str, hostname: Option<&str>, secret: &str| {
        let hostname = hostname.map(|h| format!("\n    hostname: \"{h}\"")).unwrap_or_default();
        format!(
            "  - name: {name}\n    port: {port}\n    protocol: HTTPS{hostname}\n    allowedRoutes: {{namespaces: {{from: Same}}}}\n    tls:\n      certificateRefs:\n      - {{group: \"\", kind: Secret, name: {secret}, namespace: gateway-conformance-infra}}\n",
            port = at.port()
        )
    };
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\nspec: {{controllerName: sluice.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: same-namespace-with-https-listener, namespace: gateway-conformance-infra}}\nspec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{}\"}}]\n  listeners:\n{}{}{}{}",
        at.ip(),
        listener("https", None, "tls-validity-checks-certificate"),
        listener("https-with-hostname", Some("second-example.org"), "second"),
        listener("https-with-wildcard-hostname", Some("*.wildcard.org"), "tls-validity-checks-certificate"),
        listener(
            "https-with-hostname-matching-wildcard",
            Some("fourth-example.wildcard.org"),
            "tls-validity-checks-certificate"
        ),
    )
}

/// Upstream's two routes of the case.
const ROUTES: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httproute-https-test
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace-with-https-listener
  hostnames:
  - example.org
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httproute-https-test-no-hostname
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace-with-https-listener
    sectionName: https-with-hostname
  rules:
  - backendRefs:
    - name: infra-backend-v2
      port: 8080
"#;

/// HTTPRouteHTTPSListener: a route without sectionName attaches to every
/// listener its hostname meets; one naming a listener serves that
/// listener's hostname; each listener's certificate is served by SNI.
#[test]
fn https_listener() {
    let (v1, v2) = (free_port(&["127.0.0.1"]), free_port(&["127.0.0.1"]));
    let (v1, v2) = (SocketAddr::from(([127, 0, 0, 1], v1)), SocketAddr::from(([127, 0, 0, 1], v2)));
    let _v1 = echo("infra-backend-v1", &[v1], None);
    let _v2 = echo("infra-backend-v2", &[v2], None);
    let at = SocketAddr::from(([127, 0, 0, 20], free_port(&["127.0.0.20"])));
    let manifests = tls_secret("tls-validity-checks-certificate", "conformance", &["*.wildcard.org", "example.org"])
        + &tls_secret("second", "second", &["second-example.org"])
        + &backend("infra-backend-v1", v1)
        + &backend("infra-backend-v2", v2)
        + &gateway(at)
        + ROUTES;
    let s = Sluice::start(&[("conformance.yaml", &manifests)], &[]);
    wait_connectable(at);
    assert_eq!(curl_https(at, "example.org"), ("200".into(), "infra-backend-v1".into()), "log:\n{}", s.log());
    assert_eq!(curl_https(at, "second-example.org"), ("200".into(), "infra-backend-v2".into()));
    // No route serves these names on this Gateway.
    assert_eq!(curl_https(at, "third.wildcard.org").0, "404");
    assert_eq!(served_cn(at, "second-example.org"), "second");
    assert_eq!(served_cn(at, "example.org"), "conformance");
    assert_eq!(served_cn(at, "other.wildcard.org"), "conformance");
}

/// Upstream's four routes of HTTPRouteHTTPSListenerDetectMisdirectedRequests,
/// one for each listener of the base HTTPS Gateway.
const MISDIRECTED_ROUTES: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: https-listener-detect-misdirected-requests-test-1, namespace: gateway-conformance-infra}
spec:
  parentRefs: [{name: same-namespace-with-https-listener, sectionName: https}]
  hostnames: [example.org]
  rules: [{matches: [{path: {type: PathPrefix, value: /detect-misdirected-requests}}], backendRefs: [{name: infra-backend-v1, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: https-listener-detect-misdirected-requests-test-2, namespace: gateway-conformance-infra}
spec:
  parentRefs: [{name: same-namespace-with-https-listener, sectionName: https-with-hostname}]
  rules: [{matches: [{path: {type: PathPrefix, value: /detect-misdirected-requests}}], backendRefs: [{name: infra-backend-v2, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: https-listener-detect-misdirected-requests-test-3, namespace: gateway-conformance-infra}
spec:
  parentRefs: [{name: same-namespace-with-https-listener, sectionName: https-with-wildcard-hostname}]
  rules: [{matches: [{path: {type: PathPrefix, value: /detect-misdirected-requests}}], backendRefs: [{name: infra-backend-v3, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: https-listener-detect-misdirected-requests-test-4, namespace: gateway-conformance-infra}
spec:
  parentRefs: [{name: same-namespace-with-https-listener, sectionName: https-with-hostname-matching-wildcard}]
  rules: [{matches: [{path: {type: PathPrefix, value: /detect-misdirected-requests}}], backendRefs: [{name: infra-backend-v1, port: 8080}]}]
"#;

/// An HTTP/2 request over TLS (curl) to `at`, the connection made for `sni`
/// and the request for `host`: (status, the backend that answered).
fn curl_h2(at: SocketAddr, sni: &str, host: &str) -> (String, String) {
    let host = format!("Host: {host}");
    curl_tls(at, sni, "/detect-misdirected-requests", &["--http2", "-H", &host], "x-backend")
}

/// HTTPRouteHTTPSListenerDetectMisdirectedRequests: a request whose Host
/// another listener of the port takes than the connection's SNI gets 421;
/// upstream's fifteen (SNI, Host) pairs over HTTP/2.
#[test]
fn https_listener_detect_misdirected_requests() {
    let ports: Vec<u16> = (0..3).map(|_| free_port(&["127.0.0.1"])).collect();
    let at_of = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let _backends: Vec<Proc> = ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"]
        .iter()
        .zip(&ports)
        .map(|(name, p)| echo(name, &[at_of(*p)], None))
        .collect();
    let at = SocketAddr::from(([127, 0, 0, 21], free_port(&["127.0.0.21"])));
    let mut manifests = tls_secret("tls-validity-checks-certificate", "conformance", &["*.wildcard.org", "*.org"])
        + &tls_secret("second", "second", &["second-example.org"])
        + &gateway(at)
        + MISDIRECTED_ROUTES;
    for (name, p) in ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"].iter().zip(&ports) {
        manifests += &backend(name, at_of(*p));
    }
    let s = Sluice::start(&[("conformance.yaml", &manifests)], &[]);
    wait_connectable(at);
    let cases = [
        ("example.org", "example.org", "200", "infra-backend-v1"),
        ("example.org", "second-example.org", "421", ""),
        ("example.org", "unknown-example.org", "404", ""),
        ("second-example.org", "second-example.org", "200", "infra-backend-v2"),
        ("second-example.org", "example.org", "421", ""),
        ("second-example.org", "unknown-example.org", "421", ""),
        ("third-example.wildcard.org", "third-example.wildcard.org", "200", "infra-backend-v3"),
        ("third-example.wildcard.org", "fith-example.wildcard.org", "200", "infra-backend-v3"),
        ("third-example.wildcard.org", "fourth-example.wildcard.org", "421", ""),
        ("third-example.wildcard.org", "second-example.org", "421", ""),
        ("third-example.wildcard.org", "unknown-example.org", "421", ""),
        ("fourth-example.wildcard.org", "fourth-example.wildcard.org", "200", "infra-backend-v1"),
        ("fourth-example.wildcard.org", "fith-example.wildcard.org", "421", ""),
        ("unknown-example.org", "example.org", "200", "infra-backend-v1"),
        ("unknown-example.org", "unknown-example.org", "404", ""),
    ];
    for (sni, host, status, backend) in cases {
        let got = curl_h2(at, sni, host);
        assert_eq!(got, (status.to_owned(), backend.to_owned()), "SNI {sni}, Host {host}; log:\n{}", s.log());
    }
}

/// A CA in PEM and a client certificate it signed, with its key, written
/// to `dir` as `<name>.crt` / `<name>.key` for curl.
fn client_ca(dir: &std::path::Path, name: &str) -> String {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} client"));
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    ca_cert.pem()
}

/// `curl` over HTTPS to `example.org` at `at`, showing client certificate
/// `client` of `dir` if given: the status (`000`: no connection).
fn curl_with_certificate(at: SocketAddr, dir: &std::path::Path, client: Option<&str>) -> String {
    let files = client.map(|c| [dir.join(format!("{c}.crt")), dir.join(format!("{c}.key"))]);
    let files: Vec<String> = files.iter().flatten().map(|p| p.display().to_string()).collect();
    let extra: Vec<&str> = match &files[..] {
        [cert, key] => vec!["--cert", cert, "--key", key],
        _ => Vec::new(),
    };
    curl_tls(at, "example.org", "/", &extra, "x-backend").0
}

/// The `(status, reason)` of condition `kind` of listener `listener` of
/// Gateway `gateway`, as `sluice check` prints it.
fn listener_condition(dir: &std::path::Path, gateway: &str, listener: &str, kind: &str) -> (bool, String) {
    let out = std::process::Command::new(BIN).arg("check").arg(dir).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    let statuses = report["snapshot"]["gatewayStatus"].as_array().cloned().unwrap_or_default();
    let gw = statuses.iter().find(|s| s["object"]["kind"] == "Gateway" && s["object"]["name"] == gateway).unwrap();
    let l = gw["listeners"].as_array().unwrap().iter().find(|l| l["name"] == listener).unwrap();
    let c = l["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap();
    (c["status"].as_bool().unwrap(), c["reason"].as_str().unwrap().to_owned())
}

/// GatewayFrontendClientCertificateValidation: an HTTPS listener checks
/// its clients' certificates against the CA of `spec.tls.frontend` (the
/// `perPort` entry of its port over the `default`): with `AllowValidOnly` a
/// client without a certificate, or with one another CA signed, is refused
/// in the handshake; with `AllowInsecureFallback` one without is let in.
/// GatewayFrontendInvalidDefaultClientCertificateValidation: a default
/// whose only CA does not exist leaves the HTTPS listener unserved (not
/// Accepted: NoValidCACertificate; ResolvedRefs: InvalidCACertificateRef)
/// and the HTTP listener as it was.
#[test]
fn frontend_client_certificate_validation() {
    let certs = tempfile::tempdir().unwrap();
    let ca = client_ca(certs.path(), "trusted");
    let _other = client_ca(certs.path(), "stranger");
    let v1 = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let _v1 = echo("infra-backend-v1", &[v1], None);
    let ip = "127.0.0.22";
    let (strict, fallback, http, invalid) =
        (free_port(&[ip]), free_port(&[ip]), free_port(&["127.0.0.23"]), free_port(&["127.0.0.23"]));
    let ca_map = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "client-ca", "namespace": "gateway-conformance-infra"}, "data": {"ca.crt": ca}});
    let manifests = tls_secret("tls-validity-checks-certificate", "conformance", &["example.org"])
        + &backend("infra-backend-v1", v1)
        + &format!("---\n{ca_map}\n")
        + &format!(
            r#"---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: sluice}}
spec: {{controllerName: sluice.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: client-validation, namespace: gateway-conformance-infra}}
spec:
  gatewayClassName: sluice
  addresses: [{{type: IPAddress, value: "{ip}"}}]
  tls:
    frontend:
      default:
        validation:
          caCertificateRefs: [{{group: "", kind: ConfigMap, name: client-ca}}]
      perPort:
      - port: {fallback}
        tls:
          validation:
            caCertificateRefs: [{{group: "", kind: ConfigMap, name: client-ca}}]
            mode: AllowInsecureFallback
  listeners:
  - {{name: strict, port: {strict}, protocol: HTTPS, tls: {{certificateRefs: [{{name: tls-validity-checks-certificate}}]}}}}
  - {{name: fallback, port: {fallback}, protocol: HTTPS, tls: {{certificateRefs: [{{name: tls-validity-checks-certificate}}]}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: invalid-default-client-validation-config, namespace: gateway-conformance-infra}}
spec:
  gatewayClassName: sluice
  addresses: [{{type: IPAddress, value: "127.0.0.23"}}]
  tls:
    frontend:
      default:
        validation:
          caCertificateRefs: [{{kind: ConfigMap, group: "", name: does-not-exist}}]
  listeners:
  - {{name: https, port: {invalid}, protocol: HTTPS, tls: {{certificateRefs: [{{name: tls-validity-checks-certificate}}]}}}}
  - {{name: http, port: {http}, protocol: HTTP}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: both, namespace: gateway-conformance-infra}}
spec:
  parentRefs: [{{name: client-validation}}, {{name: invalid-default-client-validation-config}}]
  hostnames: [example.org]
  rules: [{{backendRefs: [{{name: infra-backend-v1, port: 8080}}]}}]
"#
        );
    let s = Sluice::start(&[("conformance.yaml", &manifests)], &[]);
    let (strict, fallback) =
        (SocketAddr::new(ip.parse().unwrap(), strict), SocketAddr::new(ip.parse().unwrap(), fallback));
    wait_connectable(strict);
    let dir = certs.path();
    assert_eq!(curl_with_certificate(strict, dir, Some("trusted")), "200", "log:\n{}", s.log());
    assert_eq!(curl_with_certificate(strict, dir, None), "000", "no certificate");
    assert_eq!(curl_with_certificate(strict, dir, Some("stranger")), "000", "another CA's certificate");
    // GatewayFrontendClientCertificateValidationInsecureFallback: every
    // client is let in, and the Gateway says so.
    assert_eq!(curl_with_certificate(fallback, dir, None), "200", "AllowInsecureFallback");
    assert_eq!(curl_with_certificate(fallback, dir, Some("trusted")), "200");
    assert_eq!(curl_with_certificate(fallback, dir, Some("stranger")), "200");
    let out = std::process::Command::new(BIN).arg("check").arg(s.path()).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses = report["snapshot"]["gatewayStatus"].as_array().cloned().unwrap_or_default();
    let gw = statuses.iter().find(|e| e["object"]["name"] == "client-validation").unwrap();
    let insecure = gw["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "InsecureFrontendValidationMode");
    assert_eq!(
        insecure.map(|c| (c["status"].as_bool(), c["reason"].as_str())),
        Some((Some(true), Some("ConfigurationChanged")))
    );
    // No SNI: the listener's check all the same.
    let bare = format!("https://{strict}/");
    let out = std::process::Command::new("curl")
        .args(["-sk", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", &bare])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000", "a client without SNI or certificate");

    let http = SocketAddr::from(([127, 0, 0, 23], http));
    let c = |l: &str, kind: &str| listener_condition(&s.path(), "invalid-default-client-validation-config", l, kind);
    assert_eq!(c("https", "Accepted"), (false, "NoValidCACertificate".into()));
    assert_eq!(c("https", "ResolvedRefs"), (false, "InvalidCACertificateRef".into()));
    assert!(!c("https", "Programmed").0);
    assert_eq!(c("http", "Accepted"), (true, "Accepted".into()));
    assert_eq!(c("http", "Programmed"), (true, "Programmed".into()));
    wait_connectable(http);
    let status = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: example.org", &format!("http://{http}/")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "200");
    let refused = std::net::TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 23], invalid)),
        std::time::Duration::from_secs(1),
    );
    assert!(refused.is_err(), "the HTTPS listener without a usable CA is not served");
}
