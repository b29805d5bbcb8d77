//! L4 TCP end to end: listeners from the ingress-nginx tcp-services
//! ConfigMap, real TCP echo servers behind them.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A server that reports the first bytes it receives (to see a PROXY header).
async fn recording_server(addr: SocketAddr) -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let l = TcpListener::bind(addr).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 512];
                let mut got = Vec::new();
                while !got.ends_with(b"hello") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(got).await;
                let _ = s.write_all(b"ok").await;
            });
        }
    });
    rx
}

fn tcp_services(entries: &[(u16, &str)]) -> String {
    let mut data = String::new();
    for (port, v) in entries {
        data += &format!("  \"{port}\": \"{v}\"\n");
    }
    format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: tcp-services, namespace: ingress}}\ndata:\n{data}")
}

fn l4_flags() -> Vec<&'static str> {
    vec!["--tcp-services-configmap", "ingress/tcp-services", "--l4-bind", "127.0.0.1"]
}

/// Connects (optionally from `source`) and reads the backend's greeting.
async fn greet(port: u16, source: Option<IpAddr>) -> (TcpStream, String) {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    let mut s =
        tokio::time::timeout(Duration::from_secs(5), socket.connect(format!("127.0.0.1:{port}").parse().unwrap()))
            .await
            .expect("connect in time")
            .expect("connect");
    let mut name = Vec::new();
    let mut b = [0u8; 1];
    while tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await.expect("greeting in time").expect("read")
        == 1
        && b[0] != b'\n'
    {
        name.push(b[0]);
    }
    (s, String::from_utf8(name).unwrap())
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "port {port} never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_split_70_30_over_2000() {
    let port = free_port(&["127.0.0.10"]);
    let mut endpoints = Vec::new();
    for i in 0..10u8 {
        let a: SocketAddr = format!("127.0.0.{}:{port}", 10 + i).parse().unwrap();
        echo_server(a, if i < 7 { "blue" } else { "green" }).await;
        endpoints.push(a);
    }
    let listen = free_port(&["127.0.0.1"]);
    let manifests = service("game", &endpoints) + &tcp_services(&[(listen, "default/game:80")]);
    let _s = Sluice::start(&[("all.yaml", &manifests)], &l4_flags());
    wait_listening(listen).await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..2000 {
        let (_, name) = greet(listen, None).await;
        *counts.entry(name).or_default() += 1;
    }
    let blue = f64::from(counts["blue"]) / 2000.0;
    eprintln!("connections: {counts:?}");
    assert!((blue - 0.70).abs() <= 0.03, "blue got {:.1} %", blue * 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_stickiness_with_client_ip_affinity() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let names = ["a", "b", "c"];
    let mut endpoints = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let a: SocketAddr = format!("127.0.0.{}:{port}", i + 2).parse().unwrap();
        echo_server(a, name).await;
        endpoints.push(a);
    }
    let svc = service("sticky", &endpoints).replace("spec:\n  ports:", "spec:\n  sessionAffinity: ClientIP\n  ports:");
    let listen = free_port(&["127.0.0.1"]);
    let _s = Sluice::start(&[("all.yaml", &(svc + &tcp_services(&[(listen, "default/sticky:80")])))], &l4_flags());
    wait_listening(listen).await;
    let mut homes = HashMap::new();
    for c in 1..=12u8 {
        let ip: IpAddr = format!("127.0.2.{c}").parse().unwrap();
        for _ in 0..10 {
            let (_, name) = greet(listen, Some(ip)).await;
            assert_eq!(homes.entry(ip).or_insert_with(|| name.clone()), &name, "{ip} moved");
        }
    }
    assert!(homes.values().collect::<std::collections::HashSet<_>>().len() > 1, "clients spread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_come_and_go_without_disturbing_others() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (a, b): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    echo_server(a, "first").await;
    echo_server(b, "second").await;
    let (p1, p2) = (free_port(&["127.0.0.1"]), free_port(&["127.0.0.1"]));
    let services = service("first", &[a]) + &service("second", &[b]);
    let s = Sluice::start(
        &[("svc.yaml", &services), ("tcp.yaml", &tcp_services(&[(p1, "default/first:80")]))],
        &l4_flags(),
    );
    wait_listening(p1).await;
    let (long, name) = greet(p1, None).await;
    assert_eq!(name, "first");
    let (r, mut w) = long.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut say = async |w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        w.write_all(format!("{text}\n").as_bytes()).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await.unwrap().unwrap();
        assert_eq!(back.as_deref(), Some(text));
    };
    say(&mut w, "before").await;

    // Add a port: it serves within moments of the edit.
    let written = Instant::now();
    write(&s.path(), "tcp.yaml", &tcp_services(&[(p1, "default/first:80"), (p2, "default/second:80")]));
    wait_listening(p2).await;
    eprintln!("added port serving {:?} after the edit", written.elapsed());
    let (on_second, name) = greet(p2, None).await;
    assert_eq!(name, "second");
    say(&mut w, "after add").await;

    // Remove it: no new connections, the established one goes on, and so does the first port's.
    write(&s.path(), "tcp.yaml", &tcp_services(&[(p1, "default/first:80")]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", p2)).await.is_ok() {
        assert!(Instant::now() < deadline, "port {p2} still accepts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (r2, mut w2) = on_second.into_split();
    let mut lines2 = BufReader::new(r2).lines();
    w2.write_all(b"still here\n").await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), lines2.next_line()).await.unwrap().unwrap().as_deref(),
        Some("still here")
    );
    say(&mut w, "after remove").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxconn_closes_connections_past_the_limit() {
    let port = free_port(&["127.0.0.2"]);
    let a: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    echo_server(a, "only").await;
    let svc = service("limited", &[a]).replace(
        "metadata: {name: limited, namespace: default}",
        "metadata: {name: limited, namespace: default, annotations: {bcs.tencent.com/maxconn: \"2\"}}",
    );
    let listen = free_port(&["127.0.0.1"]);
    let s = Sluice::start(&[("all.yaml", &(svc + &tcp_services(&[(listen, "default/limited:80")])))], &l4_flags());
    wait_listening(listen).await;
    // The readiness probe's connection counts until it has wound down.
    let c = client();
    let idle = format!("sluice_l4_active_connections{{listener=\"tcp-{listen}\"}} 0");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&get(&c, s.admin, "admin", "/metrics").await.body).contains(&idle) {
        assert!(Instant::now() < deadline, "the probe connection never wound down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = [greet(listen, None).await, greet(listen, None).await];
    assert!(held.iter().all(|(_, n)| n == "only"));
    // The third is closed at once, without a greeting.
    let mut third = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
    let mut b = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut b)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "closed without data");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&get(&c, s.admin, "admin", "/metrics").await.body).contains(&idle) {
        assert!(Instant::now() < deadline, "the held connections never wound down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(greet(listen, None).await.1, "only", "room again once they close");
    let metrics = String::from_utf8_lossy(&get(&c, s.admin, "admin", "/metrics").await.body).into_owned();
    assert!(
        metrics.contains(&format!("sluice_l4_connections_total{{listener=\"tcp-{listen}\",result=\"refused\"}} 1")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_v2_reaches_the_upstream() {
    let port = free_port(&["127.0.0.2"]);
    let a: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let mut seen = recording_server(a).await;
    let listen = free_port(&["127.0.0.1"]);
    let manifests = service("pp", &[a]) + &tcp_services(&[(listen, "default/pp:80::PROXYV2")]);
    let _s = Sluice::start(&[("all.yaml", &manifests)], &l4_flags());
    wait_listening(listen).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.3.7:0".parse().unwrap()).unwrap();
    let mut c = socket.connect(format!("127.0.0.1:{listen}").parse().unwrap()).await.unwrap();
    let client_port = c.local_addr().unwrap().port();
    c.write_all(b"hello").await.unwrap();
    // The readiness probe's connection was proxied too: take the one carrying the payload.
    let got = loop {
        let got = tokio::time::timeout(Duration::from_secs(5), seen.recv()).await.unwrap().unwrap();
        if got.ends_with(b"hello") {
            break got;
        }
    };
    assert!(got.starts_with(b"\r\n\r\n\0\r\nQUIT\n\x21\x11"), "a v2 PROXY header for TCP over IPv4: {got:?}");
    let (addr, rest) = sluice_proxy::l4::proxy_protocol::decode(&mut got.as_slice()).await.unwrap();
    assert_eq!(addr, Some(format!("127.0.3.7:{client_port}").parse().unwrap()));
    assert_eq!(rest, b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_is_carried_through() {
    // An upstream that reads to EOF, then answers with what it counted.
    let port = free_port(&["127.0.0.2"]);
    let a: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let l = TcpListener::bind(a).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                if s.read_to_end(&mut all).await.is_ok() {
                    let _ = s.write_all(format!("got {} bytes", all.len()).as_bytes()).await;
                }
            });
        }
    });
    let listen = free_port(&["127.0.0.1"]);
    let _s = Sluice::start(
        &[("all.yaml", &(service("counter", &[a]) + &tcp_services(&[(listen, "default/counter:80")])))],
        &l4_flags(),
    );
    wait_listening(listen).await;
    let mut c = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
    c.write_all(&vec![7u8; 100_000]).await.unwrap();
    c.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert_eq!(answer, "got 100000 bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_cannot_be_bound_is_reported_on_its_configmap() {
    let port = free_port(&["127.0.0.2"]);
    let a: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    echo_server(a, "x").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let s =
        Sluice::start(&[("all.yaml", &(service("x", &[a]) + &tcp_services(&[(busy, "default/x:80")])))], &l4_flags());
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snap = get(&c, s.admin, "admin", "/debug/snapshot").await.json();
        let found =
            snap["diagnostics"].as_array().unwrap().iter().find(|d| d["field"] == format!("data[{busy}]")).cloned();
        if let Some(d) = found {
            assert_eq!(d["severity"], "error");
            assert_eq!(d["object"]["kind"], "ConfigMap");
            assert!(d["message"].as_str().unwrap().contains("cannot listen"), "{d}");
            break;
        }
        assert!(Instant::now() < deadline, "the bind failure was never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_address_from_proxy_v1_is_passed_on_in_v2() {
    let port = free_port(&["127.0.0.2"]);
    let a: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let mut seen = recording_server(a).await;
    let listen = free_port(&["127.0.0.1"]);
    let manifests = service("pp", &[a]) + &tcp_services(&[(listen, "default/pp:80:PROXY:PROXYV2")]);
    let _s = Sluice::start(&[("all.yaml", &manifests)], &l4_flags());
    wait_listening(listen).await;
    let mut c = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
    c.write_all(b"PROXY TCP4 203.0.113.50 192.0.2.9 40000 443\r\nhello").await.unwrap();
    let got = loop {
        let got = tokio::time::timeout(Duration::from_secs(5), seen.recv()).await.unwrap().unwrap();
        if got.ends_with(b"hello") {
            break got;
        }
    };
    let (addr, rest) = sluice_proxy::l4::proxy_protocol::decode(&mut got.as_slice()).await.unwrap();
    assert_eq!(addr, Some("203.0.113.50:40000".parse().unwrap()), "the client the first proxy saw");
    assert_eq!(rest, b"hello");
}
