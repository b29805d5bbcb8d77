//! The networkextension Ingress CRD end to end: per-backend weights
//! (share = weight × backends), a pod's clb-weight override, and L7 and L4
//! listeners opened and closed on each rule's port, against real backends.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn pod(name: &str, app: &str, ip: &str, port: u16, clb_weight: Option<u32>) -> String {
    let annotations = clb_weight
        .map(|w| format!("\n  annotations: {{networkextension.bkbcs.tencent.com/clb-weight: \"{w}\"}}"))
        .unwrap_or_default();
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n  labels: {{app: {app}}}{annotations}\n\
         spec:\n  containers: [{{name: app, ports: [{{name: web, containerPort: {port}}}]}}]\n\
         status: {{phase: Running, podIP: {ip}, hostIP: 198.51.100.1, conditions: [{{type: ContainersReady, status: \"True\"}}]}}\n"
    )
}

fn services() -> String {
    ["blue", "green"]
        .map(|app| {
            format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {app}, namespace: default}}\n\
                 spec: {{selector: {{app: {app}}}, ports: [{{port: 80, targetPort: web}}]}}\n"
            )
        })
        .concat()
}

fn crd(http_port: Option<u16>, tcp_port: u16) -> String {
    let svcs = "[{serviceName: blue, servicePort: 80, isDirectConnect: true, weight: {value: 10}}, \
                {serviceName: green, servicePort: 80, isDirectConnect: true, weight: {value: 20}}]";
    let http = http_port
        .map(|p| {
            format!("  - {{port: {p}, protocol: HTTP, layer7Routes: [{{domain: game.example, services: {svcs}}}]}}\n")
        })
        .unwrap_or_default();
    format!(
        "---\napiVersion: networkextension.bkbcs.tencent.com/v1\nkind: Ingress\nmetadata: {{name: game, namespace: default}}\n\
         spec:\n  rules:\n{http}  - {{port: {tcp_port}, protocol: TCP, services: {svcs}}}\n"
    )
}

async fn http_shares(to: SocketAddr, n: u32) -> HashMap<String, u32> {
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = HashMap::<String, u32>::new();
            for _ in 0..n / 8 {
                let r = get(&c, to, "game.example", "/").await;
                assert_eq!(r.status, 200);
                *seen.entry(r.backend).or_default() += 1;
            }
            seen
        }));
    }
    let mut all = HashMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *all.entry(k).or_default() += v;
        }
    }
    all
}

/// One HTTP/1.0 request per TCP connection through the L4 listener.
async fn tcp_backend(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: game\r\n\r\n").await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut text)).await.unwrap().unwrap();
    let line = text.lines().find(|l| l.to_ascii_lowercase().starts_with("x-backend:")).unwrap_or("");
    line.split_once(':').map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
}

fn share(seen: &HashMap<String, u32>, name: &str, total: u32) -> f64 {
    f64::from(seen.get(name).copied().unwrap_or(0)) / f64::from(total)
}

async fn wait_listening(port: u16, open: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_ok() != open {
        assert!(Instant::now() < deadline, "port {port} never became {}", if open { "open" } else { "closed" });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_backend_weights_clb_weight_and_rule_ports() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let at = |ip: &str| -> SocketAddr { format!("{ip}:{port}").parse().unwrap() };
    let _b1 = echo("blue-1", &[at("127.0.0.2")], None);
    let _b2 = echo("blue-2", &[at("127.0.0.3")], None);
    let _g1 = echo("green-1", &[at("127.0.0.4")], None);
    let pods = |b2_weight: Option<u32>| {
        pod("blue-1", "blue", "127.0.0.2", port, None)
            + &pod("blue-2", "blue", "127.0.0.3", port, b2_weight)
            + &pod("green-1", "green", "127.0.0.4", port, None)
    };
    let (l7, l4) = (free_port(&["127.0.0.1"]), free_port(&["127.0.0.1"]));
    let s = Sluice::start(
        &[("pods.yaml", &pods(None)), ("svc.yaml", &services()), ("crd.yaml", &crd(Some(l7), l4))],
        &["--l4-bind", "127.0.0.1"],
    );
    wait_listening(l7, true).await;
    let to: SocketAddr = format!("127.0.0.1:{l7}").parse().unwrap();

    // Weight 10 on each of blue's two pods, 20 on green's one: 25/25/50.
    let seen = http_shares(to, 4000).await;
    eprintln!("HTTP, weights 10,10 / 20: {seen:?}");
    for (name, want) in [("blue-1", 0.25), ("blue-2", 0.25), ("green-1", 0.50)] {
        let got = share(&seen, name, 4000);
        assert!((got - want).abs() <= 0.02, "{name}: {got:.3}, want {want}");
    }
    let mut tcp = HashMap::<String, u32>::new();
    for _ in 0..2000 {
        *tcp.entry(tcp_backend(l4).await).or_default() += 1;
    }
    eprintln!("TCP connections: {tcp:?}");
    for (name, want) in [("blue-1", 0.25), ("blue-2", 0.25), ("green-1", 0.50)] {
        let got = share(&tcp, name, 2000);
        assert!((got - want).abs() <= 0.03, "{name}: {got:.3} of connections, want {want}");
    }

    // clb-weight 0 on blue-2: no new traffic for it; blue-1 10 / green-1 20.
    write(&s.path(), "pods.yaml", &pods(Some(0)));
    let c = client();
    wait_generation(&c, &s, 2).await;
    let seen = http_shares(to, 3000).await;
    eprintln!("HTTP, blue-2 clb-weight 0: {seen:?}");
    assert_eq!(seen.get("blue-2"), None);
    let got = share(&seen, "green-1", 3000);
    assert!((got - 2.0 / 3.0).abs() <= 0.02, "green-1: {got:.3}");

    // The HTTP rule goes: its port closes; the TCP rule's stays.
    write(&s.path(), "crd.yaml", &crd(None, l4));
    wait_listening(l7, false).await;
    assert!(!tcp_backend(l4).await.is_empty());
}
