//! The seed's weighted BCS ingress end to end (seeds-digest T-01, T-02):
//! the seed's hosts, paths and weights, real backends.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

async fn greeter(addr: SocketAddr, name: &'static str) {
    let l = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(name.as_bytes()).await;
        }
    });
}

fn seed_ingress(tcp_port: u16) -> String {
    format!(
        r#"
---
{{"apiVersion": "v1", "kind": "ingress", "metadata": {{"name": "ingress-demo", "namespace": "default"}},
 "spec": {{"lbGroup": "external", "clusterid": "sz-loldemo-0000123", "rules": [
   {{"kind": "HTTP", "balance": "roundrobin", "httpIngress": {{"host": "demo.bcs.com", "paths": [
      {{"path": "/read/demo", "backend": [
        {{"serviceName": "service-1", "servicePort": "8801", "weight": 70}},
        {{"serviceName": "service-2", "servicePort": "8802", "weight": 30}}]}}]}}}},
   {{"kind": "TCP", "balance": "roundrobin", "tcpIngress": {{"listenPort": {tcp_port}, "backend": [
      {{"serviceName": "service-3", "servicePort": "8803", "weight": 70}},
      {{"serviceName": "service-4", "servicePort": "8804", "weight": 30}}]}}}}]}}}}
"#
    )
}

/// Service `name` on `service_port`, whose endpoints are `addrs`.
fn svc(name: &str, service_port: u16, addrs: &[SocketAddr]) -> String {
    service(name, addrs).replace("port: 80,", &format!("port: {service_port},"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t01_http_70_30_and_t02_tcp_70_30() {
    // service-1 has three endpoints and service-2 one: the split is between
    // Services, whatever their endpoint counts.
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]);
    let at = |ip: &str| -> SocketAddr { format!("{ip}:{port}").parse().unwrap() };
    let _s1 = echo("service-1", &[at("127.0.0.2"), at("127.0.0.3"), at("127.0.0.4")], None);
    let _s2 = echo("service-2", &[at("127.0.0.5")], None);
    let tport = free_port(&["127.0.0.6", "127.0.0.7"]);
    let (t3, t4): (SocketAddr, SocketAddr) =
        (format!("127.0.0.6:{tport}").parse().unwrap(), format!("127.0.0.7:{tport}").parse().unwrap());
    greeter(t3, "service-3").await;
    greeter(t4, "service-4").await;
    let listen = free_port(&["127.0.0.1"]);
    let manifests = svc("service-1", 8801, &[at("127.0.0.2"), at("127.0.0.3"), at("127.0.0.4")])
        + &svc("service-2", 8802, &[at("127.0.0.5")])
        + &svc("service-3", 8803, &[t3])
        + &svc("service-4", 8804, &[t4])
        + &seed_ingress(listen);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--l4-bind", "127.0.0.1"]);

    // T-01: 10 000 requests to demo.bcs.com/read/demo.
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (c, to) = (c.clone(), s.http);
        tasks.push(tokio::spawn(async move {
            let mut n = HashMap::<String, u32>::new();
            for _ in 0..625 {
                let r = get(&c, to, "demo.bcs.com", "/read/demo").await;
                assert_eq!(r.status, 200);
                *n.entry(r.backend).or_default() += 1;
            }
            n
        }));
    }
    let mut http = HashMap::<String, u32>::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *http.entry(k).or_default() += v;
        }
    }
    let share = f64::from(http["service-1"]) / 10_000.0;
    eprintln!("T-01 requests: {http:?}");
    assert!((share - 0.70).abs() <= 0.02, "service-1 got {:.2} %", share * 100.0);

    // T-02: 2 000 connections to the listenPort.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", listen)).await.is_err() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut tcp = HashMap::<String, u32>::new();
    for _ in 0..2000 {
        let mut s = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
        let mut name = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut name)).await.unwrap().unwrap();
        *tcp.entry(name).or_default() += 1;
    }
    let share = f64::from(tcp["service-3"]) / 2000.0;
    eprintln!("T-02 connections: {tcp:?}");
    assert!((share - 0.70).abs() <= 0.03, "service-3 got {:.2} %", share * 100.0);
}

fn cutover_ingress(blue: u32, green: u32, tcp_port: u16) -> String {
    format!(
        r#"
---
{{"apiVersion": "v1", "kind": "ingress", "metadata": {{"name": "shop", "namespace": "default"}},
 "spec": {{"lbGroup": "external", "rules": [
   {{"kind": "HTTP", "httpIngress": {{"host": "shop.bcs.com", "paths": [{{"path": "/", "backend": [
      {{"serviceName": "blue", "servicePort": 80, "weight": {blue}}}, {{"serviceName": "green", "servicePort": 80, "weight": {green}}}]}}]}}}},
   {{"kind": "TCP", "tcpIngress": {{"listenPort": {tcp_port}, "backend": [
      {{"serviceName": "blue-tcp", "servicePort": 80, "weight": {blue}}}, {{"serviceName": "green-tcp", "servicePort": 80, "weight": {green}}}]}}}}]}}}}
"#
    )
}

/// Blue-green cut-over under load: the weights flip from 100/0 to 0/100 by
/// a manifest edit while 64 connections send requests. Nothing fails,
/// established TCP connections on the old side go on, new traffic moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_cutover_under_load() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);
    // TCP sides that greet, then echo lines.
    let tport = free_port(&["127.0.0.4", "127.0.0.5"]);
    let mut tcp_sides = Vec::new();
    for (ip, name) in [("127.0.0.4", "blue"), ("127.0.0.5", "green")] {
        let addr: SocketAddr = format!("{ip}:{tport}").parse().unwrap();
        let l = TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let _ = w.write_all(format!("{name}\n").as_bytes()).await;
                    let mut lines = BufReader::new(r).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let _ = w.write_all(format!("{name}:{line}\n").as_bytes()).await;
                    }
                });
            }
        });
        tcp_sides.push(addr);
    }
    let listen = free_port(&["127.0.0.1"]);
    let services = service("blue", &[blue])
        + &service("green", &[green])
        + &service("blue-tcp", &[tcp_sides[0]])
        + &service("green-tcp", &[tcp_sides[1]]);
    let s = Sluice::start(
        &[("svc.yaml", &services), ("shop.yaml", &cutover_ingress(100, 0, listen))],
        &["--l4-bind", "127.0.0.1"],
    );

    // An established TCP session on blue.
    let deadline = Instant::now() + Duration::from_secs(10);
    let tcp = loop {
        if let Ok(t) = TcpStream::connect(("127.0.0.1", listen)).await {
            break t;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (r, mut w) = tcp.into_split();
    let mut lines = BufReader::new(r).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("blue"));

    let stop = Arc::new(AtomicBool::new(false));
    let (failed, green_after) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flipped_at = Arc::new(AtomicU64::new(u64::MAX));
    let origin = Instant::now();
    let first_green = Arc::new(AtomicU64::new(u64::MAX));
    let c = client();
    let mut load = Vec::new();
    for _ in 0..64 {
        let (c, stop, failed, first_green, to) = (c.clone(), stop.clone(), failed.clone(), first_green.clone(), s.http);
        let green_after = green_after.clone();
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match send(&c, to, "GET", "shop.bcs.com", "/", &[], vec![]).await {
                    Ok(r) if r.status == 200 => {
                        if r.backend == "green" {
                            first_green.fetch_min(origin.elapsed().as_micros() as u64, Ordering::Relaxed);
                            green_after.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(green_after.load(Ordering::Relaxed), 0, "all traffic on blue before the flip");
    flipped_at.store(origin.elapsed().as_micros() as u64, Ordering::Relaxed);
    write(&s.path(), "shop.yaml", &cutover_ingress(0, 100, listen));
    let deadline = Instant::now() + Duration::from_secs(5);
    while first_green.load(Ordering::Relaxed) == u64::MAX {
        assert!(Instant::now() < deadline, "the flip never went live");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let live_after = Duration::from_micros(first_green.load(Ordering::Relaxed) - flipped_at.load(Ordering::Relaxed));
    eprintln!("cut-over live {live_after:?} after the edit; {} requests on green", green_after.load(Ordering::Relaxed));
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request fails during the cut-over");

    // The established blue session goes on; a new connection lands on green.
    w.write_all(b"still there\n").await.unwrap();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("blue:still there"));
    let mut fresh = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
    let mut greeting = [0u8; 6];
    fresh.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"green\n");
}

/// T-06: BCS-WEIGHT-lol-summoner 3, BCS-WEIGHT-new-lol-summoner 7, with one
/// pod of the first and three of the second: 30/70 of the requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t06_bcs_weight_3_7_across_unequal_pod_counts() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]);
    let _old = echo("lol-summoner", &[format!("127.0.0.2:{port}").parse().unwrap()], None);
    let _new = echo(
        "new-lol-summoner",
        &["127.0.0.3", "127.0.0.4", "127.0.0.5"].map(|ip| format!("{ip}:{port}").parse().unwrap()),
        None,
    );
    let mut pods = String::new();
    for (i, (app, ip)) in [
        ("lol-summoner", "127.0.0.2"),
        ("new-lol-summoner", "127.0.0.3"),
        ("new-lol-summoner", "127.0.0.4"),
        ("new-lol-summoner", "127.0.0.5"),
    ]
    .iter()
    .enumerate()
    {
        pods += &format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: default, labels: {{app: {app}, tier: game}}}}\nspec: {{containers: [{{name: c, image: x, ports: [{{name: http, containerPort: {port}}}]}}]}}\nstatus: {{podIP: \"{ip}\", conditions: [{{type: Ready, status: \"True\"}}]}}\n"
        );
    }
    let svc = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: template-service\n  namespace: default\n  labels: {BCSGROUP: external, BCS-WEIGHT-lol-summoner: \"3\", BCS-WEIGHT-new-lol-summoner: \"7\"}\n  annotations: {bcs.tencent.com/domain: demo.bcs.com}\nspec:\n  selector: {tier: game}\n  ports: [{name: http-8080, port: 80, targetPort: http}]\n";
    let s = Sluice::start(&[("all.yaml", &(pods + svc))], &[]);
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (c, to) = (c.clone(), s.http);
        tasks.push(tokio::spawn(async move {
            let mut old = 0u32;
            for _ in 0..625 {
                let r = get(&c, to, "demo.bcs.com", "/").await;
                assert_eq!(r.status, 200);
                old += u32::from(r.backend == "lol-summoner");
            }
            old
        }));
    }
    let mut old = 0;
    for t in tasks {
        old += t.await.unwrap();
    }
    let share = f64::from(old) / 10_000.0;
    eprintln!("T-06: lol-summoner {:.2} %", share * 100.0);
    assert!((share - 0.30).abs() <= 0.02, "lol-summoner got {:.2} %", share * 100.0);
}

/// T-05: `balance: source`: one client keeps one endpoint; clients spread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t05_source_balance_keeps_a_client_on_one_endpoint() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let addrs: Vec<SocketAddr> =
        ["127.0.0.2", "127.0.0.3", "127.0.0.4"].iter().map(|ip| format!("{ip}:{port}").parse().unwrap()).collect();
    let _a = echo("a", &addrs[..1], None);
    let _b = echo("b", &addrs[1..2], None);
    let _c = echo("c", &addrs[2..], None);
    let ingress = r#"
---
{"kind": "ingress", "metadata": {"name": "src"}, "spec": {"lbGroup": "external", "rules": [
  {"kind": "HTTP", "balance": "source", "httpIngress": {"host": "demo.bcs.com", "paths": [{"path": "/", "backend": [{"serviceName": "game", "servicePort": 80, "weight": 1}]}]}}]}}
"#;
    let s = Sluice::start(&[("all.yaml", &(service("game", &addrs) + ingress))], &[]);
    let mut homes = std::collections::HashSet::new();
    for c in 1..=20u8 {
        let client = client_from(Some(format!("127.0.6.{c}").parse().unwrap()));
        let first = get(&client, s.http, "demo.bcs.com", "/").await;
        assert_eq!(first.status, 200);
        let first = first.backend;
        for _ in 0..100 {
            assert_eq!(get(&client, s.http, "demo.bcs.com", "/").await.backend, first);
        }
        homes.insert(first);
    }
    assert!(homes.len() > 1, "different clients reach different endpoints");
}

/// bcs.md §3: past an exported Service's maxconn, L7 answers 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l7_maxconn_of_an_exported_service_answers_503() {
    let port = free_port(&["127.0.0.2"]);
    let at: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let _e = echo("slow", &[at], None);
    let svc = service("limited", &[at]).replace(
        "metadata: {name: limited, namespace: default}",
        "metadata: {name: limited, namespace: default, labels: {BCSGROUP: external}, annotations: {bcs.tencent.com/domain: limited.bcs.com, bcs.tencent.com/maxconn: \"1\"}}",
    );
    let s = Sluice::start(&[("all.yaml", &svc)], &[]);
    let c = client();
    let (c2, to) = (c.clone(), s.http);
    let slow = tokio::spawn(async move { get(&c2, to, "limited.bcs.com", "/sleep/5000").await.status });
    // Once the slow request holds the one slot, the next is refused. The
    // slow one lasts long enough that a busy machine's pauses cannot free
    // the slot before the check.
    wait_in_flight(&s, 1).await;
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let status = get(&c, s.http, "limited.bcs.com", "/").await.status;
        if status == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the one slot is taken: a second request must get 503, got {status} (the slow one done: {}); log:\n{}",
            slow.is_finished(),
            s.log()
        );
    }
    assert!(!slow.is_finished(), "the slow request still holds its slot");
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(get(&c, s.http, "limited.bcs.com", "/").await.status, 200, "free again");
}

fn two_path_rule(name: &str, group: &str, tcp_port: u16, tcp_service: &str) -> String {
    format!(
        r#"
---
{{"apiVersion": "v1", "kind": "ingress", "metadata": {{"name": "{name}", "namespace": "default"}},
 "spec": {{"lbGroup": "{group}", "rules": [
   {{"kind": "HTTP", "httpIngress": {{"host": "{name}.bcs.com", "paths": [
      {{"path": "/a", "backend": [{{"serviceName": "one", "servicePort": 80, "weight": 1}}]}},
      {{"path": "/b", "backend": [{{"serviceName": "one", "servicePort": 80, "weight": 1}}]}}]}}}},
   {{"kind": "TCP", "tcpIngress": {{"listenPort": {tcp_port}, "backend": [{{"serviceName": "{tcp_service}", "servicePort": 80, "weight": 1}}]}}}}]}}}}
"#
    )
}

/// T-03 only the first path, T-04 lbGroup, T-12 a TCP port conflict (the
/// older keeps it and keeps working), T-07 a weight flipped to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t03_t04_t07_t12_paths_groups_conflicts_and_zero_weight() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (one, two): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    let _one = echo("one", &[one], None);
    greeter(two, "first-owner").await;
    let other = free_port(&["127.0.0.4"]);
    let other_at: SocketAddr = format!("127.0.0.4:{other}").parse().unwrap();
    greeter(other_at, "second-owner").await;
    let listen = free_port(&["127.0.0.1"]);
    let internal = free_port(&["127.0.0.1"]);
    let manifests = service("one", &[one])
        + &service("tcp-one", &[two])
        + &service("tcp-two", &[other_at])
        + &two_path_rule("aaa", "external", listen, "tcp-one")
        + &two_path_rule("bbb", "external", listen, "tcp-two")
        + &two_path_rule("ccc", "internal", internal, "tcp-two");
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--l4-bind", "127.0.0.1"]);
    let c = client();
    // T-03: /a is served, /b is not (404: no default backend).
    assert_eq!(get(&c, s.http, "aaa.bcs.com", "/a").await.backend, "one");
    assert_eq!(get(&c, s.http, "aaa.bcs.com", "/b").await.status, 404);
    // T-04: lbGroup internal is not served by this (external) instance.
    assert_eq!(get(&c, s.http, "ccc.bcs.com", "/a").await.status, 404);
    assert!(TcpStream::connect(("127.0.0.1", internal)).await.is_err());
    // T-12: both ask for the same listenPort; aaa (older by name) keeps it.
    let mut conn = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
    let mut greeting = String::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_string(&mut greeting)).await.unwrap().unwrap();
    assert_eq!(greeting, "first-owner");
    let snap = get(&c, s.admin, "admin", "/debug/snapshot").await.json();
    let conflict = snap["diagnostics"].as_array().unwrap().iter().any(|d| {
        d["object"]["name"] == "bbb" && d["field"] == "spec.rules[1].tcpIngress.listenPort" && d["severity"] == "error"
    });
    assert!(conflict, "the conflict is reported on the newer object");
    assert_eq!(get(&c, s.http, "bbb.bcs.com", "/a").await.backend, "one", "its HTTP rule still serves");

    // T-07: a weight set to 0 gets no traffic.
    let zero = r#"
---
{"kind": "ingress", "metadata": {"name": "zero"}, "spec": {"lbGroup": "external", "rules": [
  {"kind": "HTTP", "httpIngress": {"host": "zero.bcs.com", "paths": [{"path": "/", "backend": [
    {"serviceName": "one", "servicePort": 80, "weight": 0}, {"serviceName": "tcp-one", "servicePort": 80, "weight": 5}]}]}}]}}
"#;
    write(&s.path(), "zero.yaml", zero);
    wait_generation(&c, &s, 2).await;
    for _ in 0..20 {
        let r = get(&c, s.http, "zero.bcs.com", "/").await;
        assert_ne!(r.backend, "one", "weight 0: no requests");
    }
}

/// T-11: an exported Service's HTTP port is served by its domain on the HTTP
/// listener, its TCP port on the Service's own port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_http_port_by_domain_tcp_port_on_its_port() {
    let port = free_port(&["127.0.0.2"]);
    let at: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let _web = echo("game", &[at], None);
    let tcp_port = free_port(&["127.0.0.1"]);
    let svc = format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: game, namespace: default, labels: {{BCSGROUP: external}}, annotations: {{bcs.tencent.com/domain: demo.bcs.com}}}}\nspec:\n  ports: [{{name: http-8080, port: 80, targetPort: {port}}}, {{name: tcp-game, port: {tcp_port}, targetPort: {port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: game-1, namespace: default, labels: {{kubernetes.io/service-name: game}}}}\naddressType: IPv4\nports: [{{name: http-8080, port: {port}}}, {{name: tcp-game, port: {port}}}]\nendpoints: [{{addresses: [\"127.0.0.2\"]}}]\n"
    );
    let s = Sluice::start(&[("all.yaml", &svc)], &["--l4-bind", "127.0.0.1"]);
    let c = client();
    assert_eq!(get(&c, s.http, "demo.bcs.com", "/").await.backend, "game", "HTTP port by domain");
    // The TCP port tunnels to the same endpoint: an HTTP request through it reaches the echo.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", tcp_port)).await.is_err() {
        assert!(Instant::now() < deadline, "the TCP port never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let through: SocketAddr = format!("127.0.0.1:{tcp_port}").parse().unwrap();
    assert_eq!(get(&c, through, "anything", "/").await.backend, "game", "TCP port on its own port");
}
