//! L4 UDP end to end: a udp-services ConfigMap listener in front of real UDP
//! echo servers.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

fn udp_service(name: &str, endpoints: &[SocketAddr]) -> String {
    let port = endpoints[0].port();
    let eps: String = endpoints.iter().map(|e| format!("- addresses: [\"{}\"]\n", e.ip())).collect();
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: dns, port: 53, targetPort: {port}, protocol: UDP}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: dns, port: {port}, protocol: UDP}}]\nendpoints:\n{eps}"
    )
}

/// One exchange, retried briefly while the listener comes up.
async fn ask(sock: &UdpSocket, to: SocketAddr, msg: &str) -> (String, SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1500];
    loop {
        sock.send_to(msg.as_bytes(), to).await.unwrap();
        if let Ok(Ok((n, from))) = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await {
            return (String::from_utf8_lossy(&buf[..n]).into_owned(), from);
        }
        assert!(Instant::now() < deadline, "no reply to {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flows_stick_to_an_endpoint_and_replies_come_from_the_listener() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (a, b): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    udp_echo(a, "a").await;
    udp_echo(b, "b").await;
    let listen = free_port(&["127.0.0.1"]);
    let listener: SocketAddr = format!("127.0.0.1:{listen}").parse().unwrap();
    let cm = format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: udp-services, namespace: ingress}}\ndata:\n  \"{listen}\": \"default/dns:53\"\n"
    );
    let _s = Sluice::start(
        &[("all.yaml", &(udp_service("dns", &[a, b]) + &cm))],
        &["--udp-services-configmap", "ingress/udp-services", "--l4-bind", "127.0.0.1"],
    );
    let mut homes: HashMap<SocketAddr, String> = HashMap::new();
    for c in 1..=8u8 {
        let sock = UdpSocket::bind(format!("127.0.4.{c}:0")).await.unwrap();
        let me = sock.local_addr().unwrap();
        for i in 0..5 {
            let (reply, from) = ask(&sock, listener, &format!("ping-{i}")).await;
            assert_eq!(from, listener, "the reply comes from the address the client sent to");
            let (backend, echoed) = reply.split_once(':').unwrap();
            assert_eq!(echoed, format!("ping-{i}"));
            assert_eq!(homes.entry(me).or_insert_with(|| backend.to_owned()), backend, "a flow stays on its endpoint");
        }
    }
    let used: HashSet<&String> = homes.values().collect();
    assert_eq!(used.len(), 2, "flows are balanced over the endpoints: {homes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_flow_is_one_access_log_line_when_it_ends() {
    let port = free_port(&["127.0.0.2"]);
    let upstream: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    udp_echo(upstream, "a").await;
    let listen = free_port(&["127.0.0.1"]);
    let listener: SocketAddr = format!("127.0.0.1:{listen}").parse().unwrap();
    let cm = format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: udp-services, namespace: ingress}}\ndata:\n  \"{listen}\": \"default/dns:53\"\n"
    );
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let s = Sluice::start(
        &[("all.yaml", &(udp_service("dns", &[upstream]) + &cm))],
        &[
            "--udp-services-configmap",
            "ingress/udp-services",
            "--l4-bind",
            "127.0.0.1",
            "--drain-seconds",
            "1",
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (reply, _) = ask(&sock, listener, "hello").await;
    assert_eq!(reply, "a:hello");
    // The listener removed: its flow drains for a second, then ends.
    write(&s.path(), "all.yaml", &udp_service("dns", &[upstream]));
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(Instant::now() < deadline, "no line for the flow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((line["protocol"].as_str(), line["termination"].as_str()), (Some("UDP"), Some("drained")));
    assert_eq!(line["upstream_addr"], upstream.to_string());
    assert_eq!(line["remote_port"], sock.local_addr().unwrap().port());
    // Each try of `ask` sent "hello" and got (at most) one "a:hello" back.
    let (received, sent) = (line["bytes_received"].as_u64().unwrap(), line["bytes_sent"].as_u64().unwrap());
    assert!(received >= 5 && received % 5 == 0 && sent >= 7 && sent % 7 == 0, "{line}");
}
