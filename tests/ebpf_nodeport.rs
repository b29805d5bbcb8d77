//! NodePort in the kernel, as root: a client namespace, a node namespace
//! running `sluice run --nodeport-interface`, and a backend namespace whose
//! two addresses stand for a pod on this node and a pod on another node,
//! joined by veth pairs, documentation addresses only. What a user checks:
//! the NodePort answers from the client, the backend sees the client's
//! address when it is local and the node's when it is remote (Cluster
//! policy), only local backends serve `Local`, the health-check NodePort
//! says which, and a removed endpoint gets no new flows.

mod common;
use common::*;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT: &str = "198.51.100.2";
const NODE: &str = "198.51.100.1";
const NODE_BACKSIDE: &str = "192.0.2.1";
const LOCAL_POD: &str = "192.0.2.2";
const REMOTE_POD: &str = "192.0.2.3";

/// Three namespaces of this test's own, removed (with their devices and
/// processes) when dropped.
struct Topology {
    client: String,
    node: String,
    backend: String,
    children: Vec<Child>,
}

fn ok(args: &[&str]) {
    let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(status.success(), "{args:?}");
}

impl Topology {
    fn new(tag: &str) -> Topology {
        let name = |role: &str| format!("sluice-{tag}-{role}-{}", std::process::id());
        let t = Topology { client: name("c"), node: name("n"), backend: name("b"), children: Vec::new() };
        for ns in [&t.client, &t.node, &t.backend] {
            ok(&["ip", "netns", "add", ns]);
            ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        ok(&["ip", "-n", &t.node, "link", "add", "n0", "type", "veth", "peer", "name", "c0", "netns", &t.client]);
        ok(&["ip", "-n", &t.node, "link", "add", "n1", "type", "veth", "peer", "name", "b0", "netns", &t.backend]);
        ok(&["ip", "-n", &t.client, "addr", "add", &format!("{CLIENT}/24"), "dev", "c0"]);
        ok(&["ip", "-n", &t.node, "addr", "add", &format!("{NODE}/24"), "dev", "n0"]);
        ok(&["ip", "-n", &t.node, "addr", "add", &format!("{NODE_BACKSIDE}/24"), "dev", "n1"]);
        ok(&["ip", "-n", &t.backend, "addr", "add", &format!("{LOCAL_POD}/24"), "dev", "b0"]);
        ok(&["ip", "-n", &t.backend, "addr", "add", &format!("{REMOTE_POD}/24"), "dev", "b0"]);
        for (ns, dev) in [(&t.client, "c0"), (&t.node, "n0"), (&t.node, "n1"), (&t.backend, "b0")] {
            ok(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        ok(&["ip", "-n", &t.client, "route", "add", "default", "via", NODE]);
        ok(&["ip", "-n", &t.backend, "route", "add", "default", "via", NODE_BACKSIDE]);
        ok(&["nsenter", &format!("--net=/run/netns/{}", t.node), "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        t
    }

    fn spawn(&mut self, ns: &str, args: &[&str], log: Stdio) {
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// A shell command in namespace `ns`: its stdout and exit status.
    fn run(&self, ns: &str, command: &str) -> (String, bool) {
        let out =
            Command::new("nsenter").arg(format!("--net=/run/netns/{ns}")).args(["sh", "-c", command]).output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.success())
    }

    /// `n` requests from the client to `NODE:port`: count per backend name
    /// and per client address the backend saw.
    fn requests(&self, port: u16, n: usize) -> (HashMap<String, usize>, HashMap<String, usize>) {
        let (out, _) = self.run(
            &self.client,
            &format!("for i in $(seq {n}); do curl -s --max-time 2 -D - http://{NODE}:{port}/; echo; done"),
        );
        let mut backends = HashMap::new();
        let mut peers = HashMap::new();
        for l in out.lines() {
            if let Some(b) = l.strip_prefix("x-backend: ") {
                *backends.entry(b.trim().to_owned()).or_default() += 1;
            }
            if let Some(body) = l.strip_prefix('{')
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&format!("{{{body}"))
                && let Some(peer) = v["peer"].as_str()
            {
                let ip = peer.rsplit_once(':').map_or(peer, |(ip, _)| ip);
                *peers.entry(ip.to_owned()).or_default() += 1;
            }
        }
        (backends, peers)
    }

    /// HTTP status and body of `url` fetched from the client namespace.
    fn get(&self, url: &str) -> (String, String) {
        let (out, _) = self.run(&self.client, &format!("curl -s --max-time 2 -w '\\n%{{http_code}}' {url}"));
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
        (code.trim().to_owned(), body.to_owned())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.client, &self.node, &self.backend] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The Services: `web` (Cluster, TCP 30080), `shop` (Local, TCP 30081,
/// health check 30090), `dns` (Cluster, UDP 30053 to the remote pod only),
/// `sticky` (ClientIP affinity, 30082). `endpoints` are (address, node).
fn manifests(endpoints: &[(&str, &str)]) -> String {
    let slice = |svc: &str, port: u16, protocol: &str, eps: &[(&str, &str)]| {
        let eps: Vec<String> = eps
            .iter()
            .map(|(a, n)| format!("{{addresses: [{a}], nodeName: {n}, conditions: {{ready: true}}}}"))
            .collect();
        format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: {svc}-1, namespace: default, labels: {{kubernetes.io/service-name: {svc}}}}}\n\
             addressType: IPv4\nports: [{{name: p, port: {port}, protocol: {protocol}}}]\nendpoints: [{}]\n",
            eps.join(", ")
        )
    };
    let service = |name: &str, ip: &str, extra: &str, port: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
             spec: {{clusterIP: {ip}, {extra}ports: [{port}]}}\n"
        )
    };
    [
        service("web", "203.0.113.20", "type: NodePort, ", "{name: p, port: 80, targetPort: 8080, nodePort: 30080}"),
        slice("web", 8080, "TCP", endpoints),
        service(
            "shop",
            "203.0.113.21",
            "type: LoadBalancer, externalTrafficPolicy: Local, healthCheckNodePort: 30090, ",
            "{name: p, port: 80, targetPort: 8080, nodePort: 30081}",
        ),
        slice("shop", 8080, "TCP", endpoints),
        service(
            "dns",
            "203.0.113.22",
            "type: NodePort, ",
            "{name: p, port: 53, targetPort: 5353, nodePort: 30053, protocol: UDP}",
        ),
        slice("dns", 5353, "UDP", &[(REMOTE_POD, "node-b")]),
        service(
            "sticky",
            "203.0.113.23",
            "type: NodePort, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}, ",
            "{name: p, port: 80, targetPort: 8080, nodePort: 30082}",
        ),
        slice("sticky", 8080, "TCP", endpoints),
    ]
    .join("---\n")
}

fn wait_until(what: &str, log: &std::path::Path, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "{what}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The whole NodePort story with one backend-choice algorithm.
fn node_ports_through_the_kernel(tag: &str, lb: &str) {
    let mut t = Topology::new(tag);
    let backend = t.backend.clone();
    for (name, ip) in [("local", LOCAL_POD), ("remote", REMOTE_POD)] {
        t.spawn(&backend, &[BIN, "echo-backend", "--name", name, "--listen", &format!("{ip}:8080")], Stdio::null());
    }
    let udp_echo = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('{REMOTE_POD}',5353))\n\
         while True:\n  d,a=s.recvfrom(2048)\n  s.sendto(b'pong:'+d+b' '+a[0].encode(),a)\n"
    );
    t.spawn(&backend, &["python3", "-c", &udp_echo], Stdio::null());

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "services.yaml", &manifests(&[(LOCAL_POD, "node-a"), (REMOTE_POD, "node-b")]));
    let log_path = dir.path().join(".sluice.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let node = t.node.clone();
    let manifests_dir = dir.path().display().to_string();
    t.spawn(
        &node,
        &[
            BIN,
            "run",
            "--manifests",
            &manifests_dir,
            "--nodeport-interface",
            "n0",
            "--nodeport-interface",
            "n1",
            "--ebpf-lb",
            lb,
            "--node-name",
            "node-a",
            "--http-listen",
            "127.0.0.1:8080",
            "--https-listen",
            "127.0.0.1:8443",
            "--admin-listen",
            "127.0.0.1:10254",
            "--healthz-listen",
            &format!("{NODE}:10256"),
            "--threads",
            "1",
        ],
        Stdio::from(log),
    );
    let hc = format!("http://{NODE}:30090/");
    wait_until("the health-check NodePort never said 200", &log_path, || t.get(&hc).0 == "200");
    assert!(t.get(&hc).1.contains(r#""localEndpoints":1"#), "{:?}", t.get(&hc));
    assert_eq!(t.get(&format!("http://{NODE}:10256/healthz")).0, "200");

    // Cluster: both pods serve; the local one sees the client, the remote one
    // the node address (SNAT), and the client sees only the NodePort.
    let (backends, peers) = t.requests(30080, 40);
    assert_eq!(backends.values().sum::<usize>(), 40, "{backends:?}");
    assert!(backends.get("local").is_some_and(|n| *n >= 5), "{backends:?}");
    assert!(backends.get("remote").is_some_and(|n| *n >= 5), "{backends:?}");
    assert_eq!(peers.get(CLIENT), backends.get("local"), "the local pod sees the client: {peers:?}");
    assert_eq!(peers.get(NODE), backends.get("remote"), "the remote pod sees the node: {peers:?}");

    // Local: only this node's pod, which sees the client's own address.
    let (backends, peers) = t.requests(30081, 20);
    assert_eq!(backends.get("local"), Some(&20), "{backends:?}");
    assert_eq!(peers.get(CLIENT), Some(&20), "{peers:?}");

    // UDP to a remote pod: SNATed there, the reply comes from the NodePort.
    let udp = format!(
        "python3 -c \"import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\n\
         s.sendto(b'ping',('{NODE}',30053))\nd,a=s.recvfrom(2048)\nprint(d.decode(),a[0],a[1])\""
    );
    let (out, _) = t.run(&t.client, &udp);
    assert_eq!(out.trim(), format!("pong:ping {NODE} {NODE} 30053"));

    // ClientIP affinity: one client keeps one pod.
    let (backends, _) = t.requests(30082, 10);
    assert_eq!(backends.len(), 1, "{backends:?}");
    assert_eq!(backends.values().sum::<usize>(), 10);

    // The local pod goes away: Local has nothing on this node (dropped, the
    // health check says 503), Cluster sends every new flow to the remote pod.
    write(dir.path(), "services.yaml", &manifests(&[(REMOTE_POD, "node-b")]));
    wait_until("the health-check NodePort never said 503", &log_path, || t.get(&hc).0 == "503");
    let (backends, _) = t.requests(30080, 20);
    assert_eq!(backends.get("remote"), Some(&20), "{backends:?}");
    let (backends, _) = t.requests(30081, 2);
    assert!(backends.is_empty(), "no local pod: no answer {backends:?}");

    // The kernel's counters, as metrics.
    let metrics = || t.run(&node, "curl -s http://127.0.0.1:10254/metrics").0;
    let value = |m: &str, name: &str| {
        m.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    wait_until("the NodePort drop counter never moved", &log_path, || {
        value(&metrics(), r#"sluice_ebpf_nodeport_drops{reason="no_backend"}"#).is_some_and(|v| v >= 2.0)
    });
    assert!(value(&metrics(), "sluice_ebpf_nodeport_flows").is_some_and(|v| v >= 91.0), "{}", metrics());
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test runs it"]
fn node_ports_with_random_choice() {
    node_ports_through_the_kernel("npr", "random");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test runs it"]
fn node_ports_with_maglev_choice() {
    node_ports_through_the_kernel("npm", "maglev");
}
