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
    let url = format!("https://{sni}:{}/detect-misdirected-requests", at.port());
    let resolve = format!("{sni}:{}:{}", at.port(), at.ip());
    let out = std::process::Command::new("curl")
        .args(["-sk", "--http2", "--max-time", "5", "--resolve", &resolve, "-o", "/dev/null"])
        .args(["-H", &format!("Host: {host}"), "-w", "%{http_code} %header{x-backend}"])
        .arg(&url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, backend) = text.split_once(' ').unwrap_or((&text, ""));
    (code.to_owned(), backend.to_owned())
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
