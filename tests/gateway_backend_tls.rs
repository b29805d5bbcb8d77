//! Gateway API BackendTLSPolicy as upstream's conformance cases check it
//! (BackendTLSPolicy, BackendTLSPolicySANValidation,
//! BackendTLSPolicyConflictResolution, BackendTLSPolicyInvalidCACertificateRef,
//! BackendTLSPolicyInvalidKind), against the real binary in manifest mode:
//! a TLS backend served here with a certificate for `abc.example.com` (and
//! the URI `spiffe://abc.example.com/test-identity`) signed by a CA made at
//! test time, which tells in its answer the SNI it was asked for. The
//! requests go over plain HTTP and, re-encrypted, over an HTTPS listener
//! (curl); the policies' status is what `sluice check` prints.

mod common;
use common::*;
use http_body_util::Full;
use hyper::body::Bytes;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NS: &str = "gateway-conformance-infra";

/// A CA: its certificate in PEM, and what signs with it.
fn authority() -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "conformance CA");
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

/// The backends' certificate: for `abc.example.com` and the URI
/// `spiffe://abc.example.com/test-identity`, signed by `issuer`; with its key.
fn backend_certificate(issuer: &Issuer<'static, KeyPair>) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["abc.example.com".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::URI("spiffe://abc.example.com/test-identity".try_into().unwrap()));
    (params.signed_by(&key, issuer).unwrap(), key)
}

/// A client certificate a backend requires: the CA it must chain to, and
/// the certificate expected (DER).
type ClientCheck = (String, Vec<u8>);

/// The tls-backend: HTTP/1.1 over TLS on `at`, its certificate signed by
/// `issuer`, answering every request 200 with the SNI it was asked for in
/// `x-sni`. With `client`, it requires a client certificate of that CA and
/// says in `x-client` whether it was the one expected.
async fn tls_backend(at: SocketAddr, issuer: &Issuer<'static, KeyPair>, client: Option<ClientCheck>) {
    let (cert, key) = backend_certificate(issuer);
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let (builder, expected) = match client {
        None => (builder.with_no_client_auth(), None),
        Some((ca, expected)) => {
            let mut roots = rustls::RootCertStore::empty();
            use rustls::pki_types::pem::PemObject;
            roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca.as_bytes()).unwrap()).unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            (builder.with_client_cert_verifier(verifier), Some(expected))
        }
    };
    let config = builder.with_single_cert(vec![cert.der().clone()], key).unwrap();
    let expected = Arc::new(expected);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, expected) = (acceptor.clone(), expected.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let sni = tls.get_ref().1.server_name().unwrap_or("").to_owned();
                let presented = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
                let client = match (&*expected, presented) {
                    (_, None) => "none",
                    (Some(want), Some(got)) if *want == got => "expected",
                    _ => "other",
                };
                let serve = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let reply = hyper::Response::builder()
                        .header("x-sni", sni.as_str())
                        .header("x-client", client)
                        .header("x-path", req.uri().path())
                        .body(Full::new(Bytes::from_static(b"tls-backend")))
                        .unwrap();
                    async move { Ok::<_, hyper::Error>(reply) }
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, serve).await;
            });
        }
    });
}

/// A Service of port 443 named `btls`, its endpoint the tls-backend.
fn tls_service(name: &str, backend: SocketAddr) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  ports: [{{name: btls, protocol: TCP, port: 443, targetPort: {port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: {NS}, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: btls, port: {port}}}]\nendpoints:\n- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n",
        port = backend.port(),
        ip = backend.ip()
    )
}

/// A policy as upstream's cases write them: one Service, its `btls` port
/// when `section`, the CA of ConfigMap `ca` (of kind `ca_kind`).
fn policy(name: &str, service: &str, section: bool, (ca_kind, ca): (&str, &str), hostname: &str, sans: &str) -> String {
    let section = if section { ", sectionName: btls" } else { "" };
    let group = if ca_kind == "ConfigMap" { "\"\"" } else { "invalid.io" };
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  targetRefs: [{{group: \"\", kind: Service, name: {service}{section}}}]\n  validation:\n    caCertificateRefs: [{{group: {group}, kind: {ca_kind}, name: {ca}}}]\n    hostname: {hostname}\n{sans}"
    )
}

fn configmap_ca(name: &str, pem: &str) -> String {
    let v = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": {"ca.crt": pem}});
    format!("---\n{v}\n")
}

/// A rule sending Exact `path` to Service `service` port 443.
fn rule(path: &str, service: &str) -> String {
    format!(
        "  - matches: [{{path: {{type: Exact, value: {path}}}}}]\n    backendRefs: [{{group: \"\", kind: Service, name: {service}, port: 443}}]\n"
    )
}

/// Gateways `same-namespace` (HTTP on `http`) and
/// `same-namespace-with-https-listener` (HTTPS on `https`, the certificate
/// for `https-listener.org`), and the routes of upstream's cases.
fn gateways(http: SocketAddr, https: SocketAddr) -> String {
    let gateway = |name: &str, at: SocketAddr, protocol: &str, tls: &str| {
        format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{}\"}}]\n  listeners:\n  - name: l\n    port: {}\n    protocol: {protocol}\n    allowedRoutes: {{namespaces: {{from: Same}}}}\n{tls}",
            at.ip(),
            at.port()
        )
    };
    let tls = "    tls:\n      certificateRefs: [{group: \"\", kind: Secret, name: tls-validity-checks-certificate}]\n";
    let mut rules = String::new();
    for (path, service) in [
        ("/backendtlspolicy", "backendtlspolicy-test"),
        ("/backendtlspolicy-host-mismatch", "backendtlspolicy-host-mismatch-test"),
        ("/backendtlspolicy-cert-mismatch", "backendtlspolicy-cert-mismatch-test"),
        ("/backendtlspolicy-reconcile-test", "backendtlspolicy-reconcile-test"),
        ("/backendtlspolicy-san-dns", "backendtlspolicy-san-dns-test"),
        ("/backendtlspolicy-san-dns-mismatch", "backendtlspolicy-san-dns-mismatch-test"),
        ("/backendtlspolicy-san-uri", "backendtlspolicy-san-uri-test"),
        ("/backendtlspolicy-san-uri-mismatch", "backendtlspolicy-san-uri-mismatch-test"),
        ("/backendtlspolicy-multiple-sans", "backendtlspolicy-multiple-sans-test"),
        ("/backendtlspolicy-multiple-mismatch-sans", "backendtlspolicy-multiple-mismatch-sans-test"),
        ("/backendtlspolicy-conflicted-without-section-name", "backendtlspolicy-conflict-without-section-name"),
        ("/backendtlspolicy-conflicted-with-section-name", "backendtlspolicy-conflict-with-section-name"),
        ("/backendtlspolicy-nonexistent-ca-certificate-ref", "backendtlspolicy-nonexistent-ca-certificate-ref-test"),
        ("/backendtlspolicy-malformed-ca-certificate-ref", "backendtlspolicy-malformed-ca-certificate-ref-test"),
        ("/backendtlspolicy-invalid-kind", "backendtlspolicy-invalid-kind-test"),
    ] {
        rules.push_str(&rule(path, service));
    }
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\nspec: {{controllerName: sluice.io/gateway-controller}}\n{}{}---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: backendtlspolicy, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: same-namespace, namespace: {NS}}}]\n  hostnames: [abc.example.com]\n  rules:\n{rules}---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: backendtlspolicy-reencrypt, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: same-namespace-with-https-listener, namespace: {NS}}}]\n  hostnames: [https-listener.org]\n  rules:\n{}",
        gateway("same-namespace", http, "HTTP", ""),
        gateway("same-namespace-with-https-listener", https, "HTTPS", tls),
        rule("/backendtlspolicy", "backendtlspolicy-test"),
    )
}

/// Every object of upstream's cases, the CA ConfigMap `tls-checks-ca-certificate`
/// holding `ca`.
fn manifests(http: SocketAddr, https: SocketAddr, backend: SocketAddr, ca: &str, other_ca: &str) -> String {
    let san = |entries: &[(&str, &str)]| {
        let list: Vec<String> = entries
            .iter()
            .map(|(kind, value)| {
                let field = if *kind == "URI" { "uri" } else { "hostname" };
                format!("{{type: {kind}, {field}: \"{value}\"}}")
            })
            .collect();
        format!("    subjectAltNames: [{}]\n", list.join(", "))
    };
    let ours = ("ConfigMap", "tls-checks-ca-certificate");
    let (spiffe_abc, spiffe_def) = ("spiffe://abc.example.com/test-identity", "spiffe://def.example.com/test-identity");
    let mut m = tls_secret("tls-validity-checks-certificate", "https-listener", &["https-listener.org"]);
    m += &configmap_ca("tls-checks-ca-certificate", ca);
    m += &configmap_ca("tls-checks-ca-certificate-reconcile-test", ca);
    m += &configmap_ca("mismatch-ca-certificate", other_ca);
    m += &format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: malformed-ca-certificate, namespace: {NS}}}\ndata: {{}}\n"
    );
    m += &gateways(http, https);
    for service in [
        "backendtlspolicy-test",
        "backendtlspolicy-host-mismatch-test",
        "backendtlspolicy-cert-mismatch-test",
        "backendtlspolicy-reconcile-test",
        "backendtlspolicy-san-dns-test",
        "backendtlspolicy-san-dns-mismatch-test",
        "backendtlspolicy-san-uri-test",
        "backendtlspolicy-san-uri-mismatch-test",
        "backendtlspolicy-multiple-sans-test",
        "backendtlspolicy-multiple-mismatch-sans-test",
        "backendtlspolicy-conflict-without-section-name",
        "backendtlspolicy-conflict-with-section-name",
        "backendtlspolicy-nonexistent-ca-certificate-ref-test",
        "backendtlspolicy-malformed-ca-certificate-ref-test",
        "backendtlspolicy-invalid-kind-test",
    ] {
        m += &tls_service(service, backend);
    }
    m += &policy("normative-test", "backendtlspolicy-test", true, ours, "abc.example.com", "");
    m += &policy("host-mismatch", "backendtlspolicy-host-mismatch-test", true, ours, "mismatch.example.com", "");
    m += &policy(
        "cert-mismatch",
        "backendtlspolicy-cert-mismatch-test",
        true,
        ("ConfigMap", "mismatch-ca-certificate"),
        "abc.example.com",
        "",
    );
    let reconcile = ("ConfigMap", "tls-checks-ca-certificate-reconcile-test");
    m += &policy("reconcile-test", "backendtlspolicy-reconcile-test", true, reconcile, "abc.example.com", "");
    for (name, sans) in [
        ("san-dns", san(&[("Hostname", "abc.example.com")])),
        ("san-dns-mismatch", san(&[("Hostname", "dce.example.com")])),
        ("san-uri", san(&[("URI", spiffe_abc)])),
        ("san-uri-mismatch", san(&[("URI", spiffe_def)])),
        ("multiple-sans", san(&[("URI", spiffe_abc), ("Hostname", "abc.example.com")])),
        ("multiple-mismatch-sans", san(&[("URI", spiffe_def), ("Hostname", "def.example.com")])),
    ] {
        m += &policy(name, &format!("backendtlspolicy-{name}-test"), true, ours, "abc.example.com", &sans);
    }
    // Conflicts: of policies made at the same time, the first by name wins.
    let (without, with) =
        ("backendtlspolicy-conflict-without-section-name", "backendtlspolicy-conflict-with-section-name");
    m += &policy("conflicted-without-section-name-1", without, false, ours, "abc.example.com", "");
    m += &policy("conflicted-without-section-name-2", without, false, ours, "x.example.com", "");
    m += &policy("conflicted-with-section-name-1", with, true, ours, "abc.example.com", "");
    m += &policy("conflicted-with-section-name-2", with, true, ours, "x.example.com", "");
    // The whole Service, under the sectioned ones: the port's policy is taken.
    m += &policy("not-conflicted-without-section-name", with, false, ours, "y.example.com", "");
    let nonexistent = ("ConfigMap", "nonexistent-ca-certificate");
    let malformed = ("ConfigMap", "malformed-ca-certificate");
    let test = |n: &str| format!("backendtlspolicy-{n}-test");
    m += &policy(
        "nonexistent-ca-certificate-ref",
        &test("nonexistent-ca-certificate-ref"),
        false,
        nonexistent,
        "abc.example.com",
        "",
    );
    m += &policy(
        "malformed-ca-certificate-ref",
        &test("malformed-ca-certificate-ref"),
        false,
        malformed,
        "abc.example.com",
        "",
    );
    m += &policy("invalid-kind", &test("invalid-kind"), false, ("InvalidKind", "invalid-kind"), "abc.example.com", "");
    m
}

/// The answer to GET `path` (Host `abc.example.com`) at `at`: its status
/// and the SNI the backend was asked for.
async fn request(at: SocketAddr, path: &str) -> (u16, String) {
    match send(&client(), at, "GET", "abc.example.com", path, &[], vec![]).await {
        Ok(reply) => (reply.status, reply.header("x-sni").to_owned()),
        Err(e) => (0, e),
    }
}

/// Asks until the answer is `want`, for at most 10 s.
async fn expect(at: SocketAddr, path: &str, want: (u16, &str)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = request(at, path).await;
        if (got.0, got.1.as_str()) == want {
            return;
        }
        assert!(Instant::now() < deadline, "{path}: got {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `(status, reason)` of each condition of policy `name`'s status
/// under Gateway `gateway`, as `sluice check` prints it.
fn policy_conditions(dir: &std::path::Path, name: &str, gateway: &str) -> Vec<(String, bool, String)> {
    let out = Command::new(BIN).arg("check").arg(dir).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    let entries = report["snapshot"]["gatewayStatus"].as_array().cloned().unwrap_or_default();
    let Some(entry) = entries.iter().find(|e| e["object"]["kind"] == "BackendTLSPolicy" && e["object"]["name"] == name)
    else {
        return Vec::new();
    };
    let ancestor = entry["parents"].as_array().unwrap().iter().find(|p| p["parent"]["name"] == gateway).cloned();
    let conditions = ancestor.map(|a| a["conditions"].as_array().unwrap().clone()).unwrap_or_default();
    conditions
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_owned(),
                c["status"].as_bool().unwrap(),
                c["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn conditions(accepted: (bool, &str), resolved: (bool, &str)) -> Vec<(String, bool, String)> {
    vec![
        ("Accepted".to_owned(), accepted.0, accepted.1.to_owned()),
        ("ResolvedRefs".to_owned(), resolved.0, resolved.1.to_owned()),
    ]
}

/// HTTPS to `host` at `at` (curl): the status and the SNI the backend was
/// asked for.
fn curl_reencrypt(at: SocketAddr, host: &str) -> (String, String) {
    curl_tls(at, host, "/backendtlspolicy", &[], "x-sni")
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_tls_policies() {
    let (ca, issuer) = authority();
    let (other_ca, _) = authority();
    let backend = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    tls_backend(backend, &issuer, None).await;
    let http = SocketAddr::from(([127, 0, 0, 40], free_port(&["127.0.0.40"])));
    let https = SocketAddr::from(([127, 0, 0, 41], free_port(&["127.0.0.41"])));
    let text = manifests(http, https, backend, &ca, &other_ca);
    let s = Sluice::start(&[("conformance.yaml", &text)], &[]);
    wait_connectable(http);
    let dir = s.path();
    let accepted = conditions((true, "Accepted"), (true, "ResolvedRefs"));

    // BackendTLSPolicy: the backend is asked for the policy's hostname and
    // its certificate checked against the ConfigMap's CA.
    assert_eq!(policy_conditions(&dir, "normative-test", "same-namespace"), accepted);
    expect(http, "/backendtlspolicy", (200, "abc.example.com")).await;
    // Re-encrypted from the HTTPS listener, the policy's SNI, not the client's.
    assert_eq!(
        curl_reencrypt(https, "https-listener.org"),
        ("200".into(), "abc.example.com".into()),
        "log:\n{}",
        s.log()
    );
    assert_eq!(policy_conditions(&dir, "normative-test", "same-namespace-with-https-listener"), accepted);
    // A certificate not for the policy's hostname, or not signed by its CA:
    // the handshake fails and the request gets 502.
    assert_eq!(policy_conditions(&dir, "host-mismatch", "same-namespace"), accepted);
    assert_eq!(request(http, "/backendtlspolicy-host-mismatch").await.0, 502);
    assert_eq!(request(http, "/backendtlspolicy-cert-mismatch").await.0, 502);

    // BackendTLSPolicySANValidation: with subjectAltNames the hostname is
    // only the SNI; the certificate must carry one of the names.
    for name in ["san-dns", "san-uri", "multiple-sans"] {
        expect(http, &format!("/backendtlspolicy-{name}"), (200, "abc.example.com")).await;
    }
    for name in ["san-dns-mismatch", "san-uri-mismatch", "multiple-mismatch-sans"] {
        assert_eq!(request(http, &format!("/backendtlspolicy-{name}")).await.0, 502, "{name}");
        assert_eq!(policy_conditions(&dir, name, "same-namespace"), accepted);
    }

    // BackendTLSPolicyConflictResolution: of two policies of one target the
    // older is Accepted and serves; a port's policy is taken over the
    // Service's, and both are Accepted.
    let conflicted = conditions((false, "Conflicted"), (true, "ResolvedRefs"));
    for case in ["without-section-name", "with-section-name"] {
        let (first, second) = (format!("conflicted-{case}-1"), format!("conflicted-{case}-2"));
        assert_eq!(policy_conditions(&dir, &first, "same-namespace"), accepted, "{first}");
        assert_eq!(policy_conditions(&dir, &second, "same-namespace"), conflicted, "{second}");
        expect(http, &format!("/backendtlspolicy-conflicted-{case}"), (200, "abc.example.com")).await;
    }
    assert_eq!(policy_conditions(&dir, "not-conflicted-without-section-name", "same-namespace"), accepted);

    // BackendTLSPolicyInvalidCACertificateRef and InvalidKind: not
    // Accepted, and the backend's requests fail rather than go unchecked.
    let no_ca = |reason| conditions((false, "NoValidCACertificate"), (false, reason));
    for (name, reason) in [
        ("nonexistent-ca-certificate-ref", "InvalidCACertificateRef"),
        ("malformed-ca-certificate-ref", "InvalidCACertificateRef"),
        ("invalid-kind", "InvalidKind"),
    ] {
        assert_eq!(request(http, &format!("/backendtlspolicy-{name}")).await.0, 500, "{name}");
        assert_eq!(policy_conditions(&dir, name, "same-namespace"), no_ca(reason), "{name}");
    }

    // A change to the CA ConfigMap is taken: emptied, the policy is no
    // longer Accepted and its backend's requests fail; restored, it serves.
    let path = dir.join("conformance.yaml");
    let emptied = text.replacen(
        &configmap_ca("tls-checks-ca-certificate-reconcile-test", &ca),
        &configmap_ca("tls-checks-ca-certificate-reconcile-test", ""),
        1,
    );
    assert_ne!(emptied, text);
    expect(http, "/backendtlspolicy-reconcile-test", (200, "abc.example.com")).await;
    write(&dir, "conformance.yaml", &emptied);
    expect(http, "/backendtlspolicy-reconcile-test", (500, "")).await;
    assert_eq!(policy_conditions(&dir, "reconcile-test", "same-namespace"), no_ca("InvalidCACertificateRef"));
    std::fs::write(&path, &text).unwrap();
    expect(http, "/backendtlspolicy-reconcile-test", (200, "abc.example.com")).await;
    assert_eq!(policy_conditions(&dir, "reconcile-test", "same-namespace"), accepted);
}

/// BackendTLSPolicyTLSRouteTerminate: a TLS listener terminates the
/// client's TLS and the stream goes on in TLS to the backend, which is
/// asked for the policy's hostname and checked against its CA; with the
/// policy's CA ConfigMap gone, the stream is closed, not sent unchecked.
#[tokio::test(flavor = "multi_thread")]
async fn tls_route_terminate_reencrypts() {
    let (ca, issuer) = authority();
    let backend = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    tls_backend(backend, &issuer, None).await;
    let at = SocketAddr::from(([127, 0, 0, 42], free_port(&["127.0.0.42"])));
    let gateway = format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\nspec: {{controllerName: sluice.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gateway-btls-tlsroute-terminate, namespace: {NS}}}\nspec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{ip}\"}}]\n  listeners:\n  - name: tls-terminate\n    port: {port}\n    protocol: TLS\n    hostname: tls.example.com\n    allowedRoutes: {{namespaces: {{from: Same}}, kinds: [{{kind: TLSRoute}}]}}\n    tls:\n      mode: Terminate\n      certificateRefs: [{{name: tls-terminate-checks-certificate}}]\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata: {{name: backendtlspolicy-tlsroute-terminate, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: gateway-btls-tlsroute-terminate, namespace: {NS}}}]\n  hostnames: [tls.example.com]\n  rules:\n  - backendRefs: [{{name: btls-terminate-tls-backend, port: 443}}]\n",
        ip = at.ip(),
        port = at.port()
    );
    let ours = ("ConfigMap", "tls-checks-ca-certificate");
    let text = tls_secret("tls-terminate-checks-certificate", "terminate", &["tls.example.com"])
        + &configmap_ca("tls-checks-ca-certificate", &ca)
        + &gateway
        + &tls_service("btls-terminate-tls-backend", backend)
        + &policy("btls-tlsroute-terminate-test", "btls-terminate-tls-backend", true, ours, "abc.example.com", "");
    let s = Sluice::start(&[("conformance.yaml", &text)], &[]);
    wait_connectable(at);
    let dir = s.path();
    let accepted = conditions((true, "Accepted"), (true, "ResolvedRefs"));
    assert_eq!(policy_conditions(&dir, "btls-tlsroute-terminate-test", "gateway-btls-tlsroute-terminate"), accepted);
    assert_eq!(curl_reencrypt(at, "tls.example.com"), ("200".into(), "abc.example.com".into()), "log:\n{}", s.log());
    assert_eq!(served_cn(at, "tls.example.com"), "terminate");

    write(&dir, "conformance.yaml", &text.replacen(&configmap_ca("tls-checks-ca-certificate", &ca), "", 1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl_reencrypt(at, "tls.example.com").0 != "000" {
        assert!(Instant::now() < deadline, "still served without its CA");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// BackendTLSPolicyGRPCRoute: a GRPCRoute's backend behind a policy is
/// spoken to in HTTP/2 over TLS, its certificate checked; one signed by
/// another CA fails the call.
#[tokio::test(flavor = "multi_thread")]
async fn grpc_route_backend_tls() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let (ca, issuer) = authority();
    let (other_ca, _) = authority();
    let (cert, key) = backend_certificate(&issuer);
    let backend = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let identity = tonic::transport::Identity::from_pem(cert.pem(), key.serialize_pem());
    let server = tonic::transport::Server::builder()
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
        .unwrap()
        .add_service(health);
    tokio::spawn(server.serve(backend));
    wait_connectable(backend);
    let at = SocketAddr::from(([127, 0, 0, 43], free_port(&["127.0.0.43"])));
    let route = |name: &str, method: &str, service: &str| {
        format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: same-namespace}}]\n  rules:\n  - matches: [{{method: {{service: grpc.health.v1.Health, method: {method}}}}}]\n    backendRefs: [{{name: {service}, port: 443}}]\n"
        )
    };
    let ours = ("ConfigMap", "tls-checks-ca-certificate");
    let theirs = ("ConfigMap", "mismatch-ca-certificate");
    let text = format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\nspec: {{controllerName: sluice.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: same-namespace, namespace: {NS}}}\nspec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{}\"}}]\n  listeners: [{{name: http, port: {}, protocol: HTTP}}]\n",
        at.ip(),
        at.port()
    ) + &configmap_ca("tls-checks-ca-certificate", &ca)
        + &configmap_ca("mismatch-ca-certificate", &other_ca)
        + &tls_service("grpc-tls-backend", backend)
        + &tls_service("grpc-tls-mismatch", backend)
        + &policy("grpc-tls", "grpc-tls-backend", true, ours, "abc.example.com", "")
        + &policy("grpc-tls-mismatch", "grpc-tls-mismatch", true, theirs, "abc.example.com", "")
        + &route("checks", "Check", "grpc-tls-backend")
        + &route("watches", "Watch", "grpc-tls-mismatch");
    let s = Sluice::start(&[("conformance.yaml", &text)], &[]);
    wait_connectable(at);
    let accepted = conditions((true, "Accepted"), (true, "ResolvedRefs"));
    assert_eq!(policy_conditions(&s.path(), "grpc-tls", "same-namespace"), accepted);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{at}")).unwrap().connect_lazy();
    let mut c = HealthClient::new(channel);
    let request = || tonic::Request::new(HealthCheckRequest { service: String::new() });
    let checked = c.check(request()).await.map(|r| r.into_inner().status).map_err(|e| e.to_string());
    assert_eq!(checked, Ok(1), "SERVING, through TLS to the backend; log:\n{}", s.log());
    let watched = match c.watch(request()).await {
        Ok(stream) => stream.into_inner().message().await.map(|m| m.map(|m| m.status)).map_err(|e| e.code()),
        Err(e) => Err(e.code()),
    };
    assert_eq!(watched, Err(tonic::Code::Unavailable), "another CA's certificate: no call");
}

/// GatewayBackendClientCertificate: a Gateway's `spec.tls.backend`
/// certificate is shown to the TLS backends of its routes (here one that
/// requires it), over HTTP and through a terminated TLSRoute; the Gateway's
/// ResolvedRefs says it was found.
#[tokio::test(flavor = "multi_thread")]
async fn gateway_backend_client_certificate() {
    let (ca, issuer) = authority();
    let (client_ca, client_issuer) = authority();
    let client_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "gateway client");
    let client_cert = params.signed_by(&client_key, &client_issuer).unwrap();
    let backend = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    tls_backend(backend, &issuer, Some((client_ca, client_cert.der().to_vec()))).await;
    let at = SocketAddr::from(([127, 0, 0, 44], free_port(&["127.0.0.44"])));
    let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "tls-checks-client-certificate", "namespace": NS},
        "stringData": {"tls.crt": client_cert.pem(), "tls.key": client_key.serialize_pem()}});
    let ours = ("ConfigMap", "tls-checks-ca-certificate");
    let text = format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\nspec: {{controllerName: sluice.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gateway-tls-backend-client-certificate, namespace: {NS}}}\nspec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{}\"}}]\n  listeners: [{{name: http, port: {}, protocol: HTTP}}]\n  tls:\n    backend:\n      clientCertificateRef: {{group: \"\", kind: Secret, name: tls-checks-client-certificate}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: gateway-tls-backend-client-certificate, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: gateway-tls-backend-client-certificate}}]\n  hostnames: [abc.example.com]\n  rules: [{{matches: [{{path: {{type: Exact, value: /}}}}], backendRefs: [{{name: tls-backend-with-client-cert-validation, port: 443}}]}}]\n---\n{secret}\n",
        at.ip(),
        at.port()
    ) + &configmap_ca("tls-checks-ca-certificate", &ca)
        + &tls_service("tls-backend-with-client-cert-validation", backend)
        + &policy(
            "gateway-tls-backend-client-certificate-test",
            "tls-backend-with-client-cert-validation",
            false,
            ours,
            "abc.example.com",
            "",
        );
    let s = Sluice::start(&[("conformance.yaml", &text)], &[]);
    wait_connectable(at);
    let reply = send(&client(), at, "GET", "abc.example.com", "/", &[], vec![]).await.unwrap();
    assert_eq!((reply.status, reply.header("x-client")), (200, "expected"), "log:\n{}", s.log());
    let out = Command::new(BIN).arg("check").arg(s.path()).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses = report["snapshot"]["gatewayStatus"].as_array().cloned().unwrap_or_default();
    let gw = statuses.iter().find(|e| e["object"]["kind"] == "Gateway").unwrap();
    let resolved = gw["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "ResolvedRefs").unwrap();
    assert_eq!((resolved["status"].as_bool(), resolved["reason"].as_str()), (Some(true), Some("ResolvedRefs")));

    // Naming a Secret that does not exist is an error in the Gateway: its
    // ResolvedRefs says why, and the running instance keeps the Gateway's
    // last good version, certificate and all.
    write(&s.path(), "conformance.yaml", &text.replace("name: tls-checks-client-certificate}", "name: absent}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log().contains("spec.tls.backend.clientCertificateRef") {
        assert!(Instant::now() < deadline, "the change was not read; log:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = send(&client(), at, "GET", "abc.example.com", "/", &[], vec![]).await.unwrap();
    assert_eq!((reply.status, reply.header("x-client")), (200, "expected"));
    let out = Command::new(BIN).arg("check").arg(s.path()).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses = report["snapshot"]["gatewayStatus"].as_array().cloned().unwrap_or_default();
    let gw = statuses.iter().find(|e| e["object"]["kind"] == "Gateway").unwrap();
    let resolved = gw["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "ResolvedRefs").unwrap();
    assert_eq!(
        (resolved["status"].as_bool(), resolved["reason"].as_str()),
        (Some(false), Some("InvalidClientCertificateRef"))
    );
}
