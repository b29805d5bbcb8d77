//! Gateway API TLS, TCP and UDP listeners and their routes, reproduced from
//! upstream's conformance cases (TLSRoute*, TCPRoute*, UDPRoute*) against
//! the real binary in manifest mode: TCP backends that greet with their
//! name, UDP backends that answer with it, the HTTPS echo backend behind a
//! passed-through TLS listener, `curl` and `openssl s_client` as clients.
//! Each Gateway gets a loopback address of its own and free ports, as in
//! `gateway_api.rs`; status is read from the Snapshot Sluice serves.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

const NS: &str = "gateway-conformance-infra";

const CLASS: &str = "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: sluice}\nspec: {controllerName: sluice.io/gateway-controller}\n";

/// Service `name` (port `port`, `protocol`) whose one endpoint is `at`.
fn backend(name: &str, port: u16, protocol: &str, at: SocketAddr) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  ports: [{{name: p, protocol: {protocol}, port: {port}, targetPort: {target}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: {NS}, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: p, protocol: {protocol}, port: {target}}}]\nendpoints:\n- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n",
        target = at.port(),
        ip = at.ip()
    )
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])))
}

/// Reads the backend's greeting on a new connection to `at`: `None` when
/// the connection is refused or closed without one.
async fn greeting(at: SocketAddr) -> Option<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(at)).await.ok()?.ok()?;
    let mut name = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Ok(Ok(1)) if b[0] == b'\n' => return String::from_utf8(name).ok(),
            Ok(Ok(1)) => name.push(b[0]),
            _ => return None,
        }
    }
}

/// Greetings until `at` greets at all (the Snapshot may be on its way).
async fn first_greeting(at: SocketAddr, s: &Sluice) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(name) = greeting(at).await {
            return name;
        }
        assert!(Instant::now() < deadline, "{at} never greeted\nlog:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts which backend greets `n` connections.
async fn greetings(at: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let name = greeting(at).await.unwrap_or_else(|| "(none)".into());
        *seen.entry(name).or_default() += 1;
    }
    seen
}

/// The served Snapshot's status of `kind/namespace/name`.
async fn status(s: &Sluice, key: &str) -> Value {
    let snapshot = get(&client(), s.admin, "admin", "/debug/snapshot").await.json();
    let found = snapshot["snapshot"]["gatewayStatus"].as_array().into_iter().flatten().find(|e| {
        let o = &e["object"];
        format!(
            "{}/{}/{}",
            o["kind"].as_str().unwrap_or(""),
            o["namespace"].as_str().unwrap_or(""),
            o["name"].as_str().unwrap_or("")
        ) == key
    });
    found.cloned().unwrap_or_else(|| panic!("no status for {key}: {}", snapshot["snapshot"]["gatewayStatus"]))
}

/// `(status, reason)` of condition `kind`.
fn condition(conditions: &Value, kind: &str) -> (bool, String) {
    let c = conditions.as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap();
    (c["status"].as_bool().unwrap(), c["reason"].as_str().unwrap().to_owned())
}

fn listener(gateway: &Value, name: &str) -> Value {
    gateway["listeners"].as_array().unwrap().iter().find(|l| l["name"] == name).cloned().unwrap()
}

/// A Gateway `name` on `ip` with `listeners` (YAML list items).
fn gateway(name: &str, ip: IpAddr, listeners: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{ip}\"}}]\n  listeners:\n{listeners}"
    )
}

/// TCPRouteWeightedRouting and TCPRouteMultipleRoutesAttachment: weights
/// 70/30/0 split connections; of two routes on one listener only the
/// older gets traffic, while both are Accepted and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_weights_and_the_oldest_route() {
    let names = ["tcp-backend-v1", "tcp-backend-v2", "tcp-backend-v3", "tcp-attach-backend-1", "tcp-attach-backend-2"];
    let mut manifests = CLASS.to_owned();
    for name in names {
        let at = loopback();
        echo_server(at, name).await;
        manifests += &backend(name, 3000, "TCP", at);
    }
    let ip: IpAddr = "127.0.2.1".parse().unwrap();
    let (weighted, attach) = (free_port(&["127.0.2.1"]), free_port(&["127.0.2.1"]));
    manifests += &gateway(
        "tcp-gateway",
        ip,
        &format!(
            "  - {{name: tcp, protocol: TCP, port: {weighted}, allowedRoutes: {{kinds: [{{kind: TCPRoute}}]}}}}\n  - {{name: attach, protocol: TCP, port: {attach}, allowedRoutes: {{namespaces: {{from: Same}}}}}}\n"
        ),
    );
    manifests += &format!(
        r#"---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {{name: tcp-weighted-route, namespace: {NS}}}
spec:
  parentRefs: [{{name: tcp-gateway, sectionName: tcp}}]
  rules:
  - backendRefs:
    - {{name: tcp-backend-v1, port: 3000, weight: 70}}
    - {{name: tcp-backend-v2, port: 3000, weight: 30}}
    - {{name: tcp-backend-v3, port: 3000, weight: 0}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {{name: tcproute-attach-newer, namespace: {NS}, creationTimestamp: "2026-01-01T00:00:01Z"}}
spec:
  parentRefs: [{{name: tcp-gateway, sectionName: attach}}]
  rules: [{{backendRefs: [{{name: tcp-attach-backend-2, port: 3000}}]}}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {{name: tcproute-attach-older, namespace: {NS}, creationTimestamp: "2026-01-01T00:00:00Z"}}
spec:
  parentRefs: [{{name: tcp-gateway, sectionName: attach}}]
  rules: [{{backendRefs: [{{name: tcp-attach-backend-1, port: 3000}}]}}]
"#
    );
    let s = Sluice::start(&[("gateway.yaml", &manifests)], &[]);
    let weighted = SocketAddr::new(ip, weighted);
    first_greeting(weighted, &s).await;
    let seen = greetings(weighted, 400).await;
    let v1 = seen.get("tcp-backend-v1").copied().unwrap_or(0);
    let v2 = seen.get("tcp-backend-v2").copied().unwrap_or(0);
    assert_eq!(v1 + v2, 400, "every connection to v1 or v2 (v3 has weight 0): {seen:?}");
    assert!((240..=320).contains(&v1), "about 70% to v1: {seen:?}");

    let attach = SocketAddr::new(ip, attach);
    first_greeting(attach, &s).await;
    let seen = greetings(attach, 100).await;
    assert_eq!(seen.get("tcp-attach-backend-1"), Some(&100), "only the older route: {seen:?}");

    let gw = status(&s, &format!("Gateway/{NS}/tcp-gateway")).await;
    let l = listener(&gw, "attach");
    assert_eq!(l["attachedRoutes"], 2, "{l}");
    assert_eq!(l["supportedKinds"], serde_json::json!(["TCPRoute"]));
    assert_eq!(condition(&l["conditions"], "Accepted"), (true, "Accepted".into()));
    for route in ["tcproute-attach-older", "tcproute-attach-newer"] {
        let st = status(&s, &format!("TCPRoute/{NS}/{route}")).await;
        assert_eq!(condition(&st["parents"][0]["conditions"], "Accepted"), (true, "Accepted".into()), "{st}");
    }
}

/// TCPRouteInvalidBackendRefNonexistent, TCPRouteInvalidCrossNamespaceBackendRef
/// and TCPRouteReferenceGrant: a connection to a missing or unpermitted
/// backend is closed, the route's ResolvedRefs says why; a ReferenceGrant
/// added later lets the other namespace's Service serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_invalid_references_and_grants() {
    let at = loopback();
    echo_server(at, "tcp-backend-other").await;
    let other = backend("tcp-backend-other", 3000, "TCP", at).replace(NS, "gateway-conformance-app-backend");
    let ip: IpAddr = "127.0.2.2".parse().unwrap();
    let ports = [free_port(&["127.0.2.2"]), free_port(&["127.0.2.2"])];
    let listeners: String =
        ports.iter().enumerate().map(|(k, p)| format!("  - {{name: tcp-{k}, protocol: TCP, port: {p}}}\n")).collect();
    let route = |name: &str, k: usize, backend: &str, ns: &str| {
        format!(
            "---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: tcp-refs, sectionName: tcp-{k}}}]\n  rules: [{{backendRefs: [{{name: {backend}, namespace: {ns}, port: 3000}}]}}]\n"
        )
    };
    let manifests = format!(
        "{CLASS}{other}{}{}{}",
        gateway("tcp-refs", ip, &listeners),
        route("nonexistent", 0, "tcp-backend-nonexistent", NS),
        route("cross-namespace", 1, "tcp-backend-other", "gateway-conformance-app-backend"),
    );
    let s = Sluice::start(&[("gateway.yaml", &manifests)], &[]);
    let parent = |st: &Value| st["parents"][0]["conditions"].clone();
    let cross = status(&s, &format!("TCPRoute/{NS}/cross-namespace")).await;
    assert_eq!(condition(&parent(&cross), "ResolvedRefs"), (false, "RefNotPermitted".into()), "{cross}");
    assert_eq!(condition(&parent(&cross), "Accepted"), (true, "Accepted".into()));
    let nonexistent = status(&s, &format!("TCPRoute/{NS}/nonexistent")).await;
    assert_eq!(condition(&parent(&nonexistent), "ResolvedRefs"), (false, "BackendNotFound".into()));
    // The listeners are up and close what they accept.
    for port in ports {
        let at = SocketAddr::new(ip, port);
        wait_connectable(at);
        assert_eq!(greeting(at).await, None, "{at}");
    }

    let grant = "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: tcp-grant, namespace: gateway-conformance-app-backend}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: TCPRoute, namespace: gateway-conformance-infra}]\n  to: [{group: \"\", kind: Service, name: tcp-backend-other}]\n";
    write(&s.path(), "gateway.yaml", &format!("{manifests}{grant}"));
    assert_eq!(first_greeting(SocketAddr::new(ip, ports[1]), &s).await, "tcp-backend-other");
    let cross = status(&s, &format!("TCPRoute/{NS}/cross-namespace")).await;
    assert_eq!(condition(&parent(&cross), "ResolvedRefs"), (true, "ResolvedRefs".into()));
}

/// One datagram exchange from `sock`, retried while the listener comes up.
async fn ask(sock: &tokio::net::UdpSocket, to: SocketAddr, msg: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1500];
    loop {
        sock.send_to(msg.as_bytes(), to).await.unwrap();
        if let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await {
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        assert!(Instant::now() < deadline, "no reply to {msg} from {to}");
    }
}

/// UDPRouteSimple and UDPRouteWeightedRouting (UDP and TCP on one port
/// number too): each client flow goes to one backend, the flows split by
/// weight; the UDP listener's route kind is UDPRoute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_routes() {
    let mut manifests = CLASS.to_owned();
    for name in ["udp-backend-v1", "udp-backend-v2"] {
        let at = loopback();
        udp_echo(at, name).await;
        manifests += &backend(name, 53, "UDP", at);
    }
    let tcp_at = loopback();
    echo_server(tcp_at, "tcp-backend").await;
    manifests += &backend("tcp-backend", 53, "TCP", tcp_at);
    let ip: IpAddr = "127.0.2.3".parse().unwrap();
    let port = free_port(&["127.0.2.3"]);
    manifests += &gateway(
        "udp-gateway",
        ip,
        &format!("  - {{name: udp, protocol: UDP, port: {port}}}\n  - {{name: tcp, protocol: TCP, port: {port}}}\n"),
    );
    manifests += &format!(
        r#"---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: UDPRoute
metadata: {{name: udp-weighted, namespace: {NS}}}
spec:
  parentRefs: [{{name: udp-gateway, sectionName: udp}}]
  rules:
  - backendRefs:
    - {{name: udp-backend-v1, port: 53, weight: 70}}
    - {{name: udp-backend-v2, port: 53, weight: 30}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {{name: tcp-same-port, namespace: {NS}}}
spec:
  parentRefs: [{{name: udp-gateway, sectionName: tcp}}]
  rules: [{{backendRefs: [{{name: tcp-backend, port: 53}}]}}]
"#
    );
    let s = Sluice::start(&[("gateway.yaml", &manifests)], &[]);
    let to = SocketAddr::new(ip, port);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in 0..200 {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let reply = ask(&sock, to, &format!("ping-{i}")).await;
        let (backend, echoed) = reply.split_once(':').unwrap();
        assert_eq!(echoed, format!("ping-{i}"));
        // The flow stays with its backend.
        assert_eq!(ask(&sock, to, "again").await, format!("{backend}:again"));
        *counts.entry(backend.to_owned()).or_default() += 1;
    }
    let v1 = counts.get("udp-backend-v1").copied().unwrap_or(0);
    assert!((112..=168).contains(&v1), "about 70% of flows to v1: {counts:?}");
    assert_eq!(first_greeting(to, &s).await, "tcp-backend", "TCP on the same port number");
    let gw = status(&s, &format!("Gateway/{NS}/udp-gateway")).await;
    let l = listener(&gw, "udp");
    assert_eq!(l["supportedKinds"], serde_json::json!(["UDPRoute"]));
    assert_eq!(l["attachedRoutes"], 1);
    assert_eq!(condition(&l["conditions"], "Programmed"), (true, "Programmed".into()));
}

/// `openssl s_client` to `at` with SNI `sni`, checking the certificate
/// against `ca`; sends `line` and returns what came back.
fn openssl_exchange(at: SocketAddr, sni: &str, ca: &std::path::Path, line: &str) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-verify_return_error",
            "-connect",
            &at.to_string(),
            "-servername",
            sni,
        ])
        .arg("-CAfile")
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// TLSRouteSimpleSameNamespace, TLSRouteTerminateSimpleSameNamespace and
/// TLSRouteMixedTerminationSameNamespace on one port: `abc.example.com`
/// passes through to a TLS backend (it terminates TLS: curl gets its HTTP
/// answer), `tls.example.com` is terminated by Sluice with the listener's
/// certificate and its plain stream reaches a TCP backend; a name no
/// TLSRoute serves is closed, not answered in HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_passthrough_and_terminate_on_one_port() {
    let tls_at = loopback();
    let _tls_backend = echo_tls("tls-backend", &[tls_at]);
    let tcp_at = loopback();
    echo_server(tcp_at, "tcp-backend").await;
    let secret = tls_secret("tls-terminate-checks-certificate", "tls.example.com", &["tls.example.com"]);
    let ca = tempfile::NamedTempFile::new().unwrap();
    let parsed: Value = serde_json::from_str(secret.trim_start_matches("---\n")).unwrap();
    std::fs::write(ca.path(), parsed["stringData"]["tls.crt"].as_str().unwrap()).unwrap();
    let ip: IpAddr = "127.0.2.4".parse().unwrap();
    let port = free_port(&["127.0.2.4"]);
    let listeners = format!(
        "  - name: tls-terminate\n    port: {port}\n    protocol: TLS\n    hostname: tls.example.com\n    allowedRoutes: {{kinds: [{{kind: TLSRoute}}]}}\n    tls: {{mode: Terminate, certificateRefs: [{{name: tls-terminate-checks-certificate}}]}}\n  - name: tls-passthrough\n    port: {port}\n    protocol: TLS\n    hostname: \"*.example.com\"\n    tls: {{mode: Passthrough}}\n"
    );
    let manifests = format!(
        r#"{CLASS}{secret}{}{}{}---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {{name: passthrough-route, namespace: {NS}}}
spec:
  parentRefs: [{{name: tls-gateway}}]
  hostnames: [abc.example.com]
  rules: [{{backendRefs: [{{name: tls-backend, port: 443}}]}}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {{name: terminate-route, namespace: {NS}}}
spec:
  parentRefs: [{{name: tls-gateway, sectionName: tls-terminate}}]
  hostnames: [tls.example.com]
  rules: [{{backendRefs: [{{name: tcp-backend, port: 3000}}]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {{name: elsewhere, namespace: {NS}}}
spec:
  parentRefs: [{{name: tls-gateway, sectionName: tls-passthrough}}]
  hostnames: [abc.example.org]
  rules: [{{backendRefs: [{{name: tls-backend, port: 443}}]}}]
"#,
        backend("tls-backend", 443, "TCP", tls_at),
        backend("tcp-backend", 3000, "TCP", tcp_at),
        gateway("tls-gateway", ip, &listeners),
    );
    let s = Sluice::start(&[("gateway.yaml", &manifests)], &[]);
    let at = SocketAddr::new(ip, port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl_https(at, "abc.example.com").1 != "tls-backend" {
        assert!(Instant::now() < deadline, "abc.example.com never reached tls-backend\nlog:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Sluice's certificate checks out, and the backend gets the plain stream.
    assert_eq!(openssl_exchange(at, "tls.example.com", ca.path(), "hello"), "tcp-backend\nhello\n");
    // No route for this name: closed without an HTTP answer.
    assert_eq!(curl_https(at, "other.example.com").0, "000");

    let gw = status(&s, &format!("Gateway/{NS}/tls-gateway")).await;
    for name in ["tls-terminate", "tls-passthrough"] {
        let l = listener(&gw, name);
        assert_eq!(l["supportedKinds"], serde_json::json!(["TLSRoute"]), "{l}");
        assert_eq!(l["attachedRoutes"], 1, "{l}");
        assert_eq!(condition(&l["conditions"], "Accepted"), (true, "Accepted".into()));
    }
    let st = status(&s, &format!("TLSRoute/{NS}/elsewhere")).await;
    assert_eq!(
        condition(&st["parents"][0]["conditions"], "Accepted"),
        (false, "NoMatchingListenerHostname".into()),
        "{st}"
    );
}
