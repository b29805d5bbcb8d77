//! Socket-LB in the kernel, as root: the programs attached to a child cgroup
//! this test makes, clients in a network namespace it makes (only `lo`, so
//! nothing can leave it), a documentation-range VIP translated to backends
//! in the same namespace. Everything is removed at the end.

mod common;
use common::*;
use sluice_config::{L4Protocol, ServiceVip};
use sluice_ebpf::Datapath;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const VIP: &str = "203.0.113.10";

/// A namespace and a cgroup of this test's own, removed when dropped.
struct Sandbox {
    netns: String,
    cgroup: PathBuf,
    children: Vec<Child>,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        let netns = format!("sluice-{tag}-{}", std::process::id());
        let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
        ok(Command::new("ip").args(["netns", "add", &netns]));
        ok(Command::new("ip").args(["-n", &netns, "link", "set", "lo", "up"]));
        let cgroup = PathBuf::from(format!("/sys/fs/cgroup/unified/sluice-{tag}-{}", std::process::id()));
        std::fs::create_dir(&cgroup).unwrap();
        Sandbox { netns, cgroup, children: Vec::new() }
    }

    /// `args` run in the namespace (not in the cgroup), in the background.
    fn spawn(&mut self, args: &[&str]) {
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// Echo backends `b1` and `b2` on loopback in the namespace; their ports.
    fn echo_pair(&mut self) -> (u16, u16) {
        let (p1, p2) = (free_port(&["127.0.0.1"]), free_port(&["127.0.0.1"]));
        self.spawn(&[BIN, "echo-backend", "--name", "b1", "--listen", &format!("127.0.0.1:{p1}")]);
        self.spawn(&[BIN, "echo-backend", "--name", "b2", "--listen", &format!("127.0.0.1:{p2}")]);
        (p1, p2)
    }

    /// A shell command run in the namespace and inside the cgroup (so the
    /// attached programs see its sockets); its stdout and exit status.
    fn client(&self, command: &str) -> (String, bool) {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec nsenter --net=/run/netns/{} sh -c '{}'",
            self.cgroup.display(),
            self.netns,
            command.replace('\'', "'\\''")
        );
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.success())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir(&self.cgroup);
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn service(name: &str, protocol: L4Protocol, port: u16, backends: &[(String, u32)]) -> Arc<ServiceVip> {
    let frontend = format!("{VIP}:{port}").parse().unwrap();
    Arc::new(ServiceVip::cluster_ip(name, protocol, frontend, backends.iter().map(|(a, w)| (a.parse().unwrap(), *w))))
}

/// `n` requests to http://VIP/: backends seen, and the peers curl reported.
fn requests(sb: &Sandbox, n: usize) -> (HashMap<String, usize>, Vec<String>) {
    requests_to(sb, VIP, n)
}

fn requests_to(sb: &Sandbox, vip: &str, n: usize) -> (HashMap<String, usize>, Vec<String>) {
    let (out, ok) = sb.client(&format!(
        "for i in $(seq {n}); do curl -s --max-time 3 -o /dev/null -D - -w \"peer=%{{remote_ip}}:%{{remote_port}}\\n\" http://{vip}/; done"
    ));
    assert!(ok, "{out}");
    let mut seen = HashMap::new();
    for l in out.lines().filter_map(|l| l.strip_prefix("x-backend: ")) {
        *seen.entry(l.trim().to_owned()).or_default() += 1;
    }
    let peers = out.lines().filter_map(|l| l.strip_prefix("peer=")).map(str::to_owned).collect();
    (seen, peers)
}

#[test]
#[ignore = "needs root, cgroup v2 and network namespaces: scripts/test runs it"]
fn cluster_ip_tcp_and_udp_through_socket_lb() {
    let mut sb = Sandbox::new("slb");
    let (p1, p2) = sb.echo_pair();
    let pu = free_port(&["127.0.0.1"]);
    let udp_echo = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('127.0.0.1',{pu}))\n\
         while True:\n  d,a=s.recvfrom(2048)\n  s.sendto(b'pong:'+d,a)\n"
    );
    sb.spawn(&["python3", "-c", &udp_echo]);
    std::thread::sleep(std::time::Duration::from_millis(500));

    let mut lb = Datapath::socket_lb(&sb.cgroup).expect("socket-LB attaches to the test's cgroup");
    let b1 = format!("127.0.0.1:{p1}");
    let b2 = format!("127.0.0.1:{p2}");
    let table = vec![
        service("web", L4Protocol::Tcp, 80, &[(b1.clone(), 1), (b2.clone(), 1)]),
        service("dns", L4Protocol::Udp, 53, &[(format!("127.0.0.1:{pu}"), 1)]),
        service("empty", L4Protocol::Tcp, 81, &[]),
    ];
    lb.sync(&table).unwrap();

    // TCP: both backends reached through the VIP, which the client sees as its peer.
    let (seen, peers) = requests(&sb, 40);
    assert_eq!(seen.values().sum::<usize>(), 40, "{seen:?}");
    assert!(seen.get("b1").is_some_and(|n| *n >= 8) && seen.get("b2").is_some_and(|n| *n >= 8), "{seen:?}");
    assert!(peers.iter().all(|p| p == &format!("{VIP}:80")), "getpeername shows the VIP: {peers:?}");

    // UDP: the reply comes from the VIP as the application sees it.
    let udp_client = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\n\
         s.sendto(b'ping',('{VIP}',53))\nd,a=s.recvfrom(2048)\nprint(d.decode(),a[0],a[1])\n"
    );
    let (out, ok) = sb.client(&format!("python3 -c \"{udp_client}\""));
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("pong:ping {VIP} 53"));

    // A frontend without backends refuses the connect.
    let (_, ok) = sb.client(&format!("curl -s --max-time 3 http://{VIP}:81/"));
    assert!(!ok, "no backend: refused");
    let counters = lb.counters().unwrap();
    assert!(counters.translated >= 41 && counters.no_backend >= 1, "{counters:?}");

    // An endpoint removed: no new flows to it.
    let diff = lb.sync(&[service("web", L4Protocol::Tcp, 80, &[(b1.clone(), 1)])]).unwrap();
    assert!(!diff.remove_backends.is_empty() && !diff.remove_services.is_empty());
    let (seen, _) = requests(&sb, 20);
    assert_eq!(seen.get("b1"), Some(&20), "{seen:?}");

    // The kernel's maps after these diffs are what a fresh build gives.
    let (services, backends, live) = lb.kernel_maps().unwrap();
    let (want_s, want_b, want_l) = lb.applied().maps();
    assert_eq!(services.into_iter().collect::<HashMap<_, _>>(), *want_s);
    assert_eq!(backends.into_iter().collect::<HashMap<_, _>>(), *want_b);
    assert_eq!(live.into_iter().collect::<HashMap<_, _>>(), *want_l);

    // Detached on drop: the VIP is no longer translated.
    drop(lb);
    let (_, ok) = sb.client(&format!("curl -s --max-time 2 http://{VIP}/"));
    assert!(!ok, "nothing translates the VIP once Sluice let go");
}

/// ClientIP affinity: a client keeps its backend while it comes back within
/// the timeout, even once that backend takes no new clients (weight 0);
/// after the timeout it is balanced again.
#[test]
#[ignore = "needs root, cgroup v2 and network namespaces: scripts/test runs it"]
fn client_ip_affinity_holds_and_expires() {
    let mut sb = Sandbox::new("aff");
    let (p1, p2) = sb.echo_pair();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut lb = Datapath::socket_lb(&sb.cgroup).unwrap();
    let vip = "203.0.113.11";
    let sticky = |w1: u32, w2: u32| {
        let mut s =
            service("sticky", L4Protocol::Tcp, 80, &[(format!("127.0.0.1:{p1}"), w1), (format!("127.0.0.1:{p2}"), w2)]);
        let s_mut = Arc::make_mut(&mut s);
        s_mut.frontends[0].address = vip.parse().unwrap();
        s_mut.session_affinity_seconds = Some(2);
        s
    };
    lb.sync(&[sticky(1, 1)]).unwrap();
    let (seen, _) = requests_to(&sb, vip, 10);
    assert_eq!(seen.len(), 1, "one client, one backend: {seen:?}");
    let kept = seen.keys().next().unwrap().clone();

    // The kept backend takes no new clients, but this one stays.
    let (w1, w2) = if kept == "b1" { (0, 1) } else { (1, 0) };
    lb.sync(&[sticky(w1, w2)]).unwrap();
    let (seen, _) = requests_to(&sb, vip, 10);
    assert_eq!(seen.get(&kept), Some(&10), "affinity holds within the timeout: {seen:?}");

    // Past the timeout the client is balanced again, onto the other one.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (seen, _) = requests_to(&sb, vip, 5);
    assert_eq!(seen.get(&kept), None, "affinity expired: {seen:?}");
    assert_eq!(seen.values().sum::<usize>(), 5);
}

/// `sluice run --ebpf-cgroup`: a Service's ClusterIP from the manifests is
/// translated for the cgroup's processes, follows an EndpointSlice edit,
/// and stops being translated when Sluice exits.
#[test]
#[ignore = "needs root, cgroup v2 and network namespaces: scripts/test runs it"]
fn sluice_run_translates_cluster_ips_from_its_snapshot() {
    let mut sb = Sandbox::new("run");
    let (p1, p2) = sb.echo_pair();
    let vip = "203.0.113.12";
    let manifest = |port: u16| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n\
             spec: {{clusterIP: {vip}, ports: [{{name: http, port: 80, targetPort: {port}}}]}}\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: web-1, namespace: default, labels: {{kubernetes.io/service-name: web}}}}\n\
             addressType: IPv4\nports: [{{name: http, port: {port}}}]\n\
             endpoints: [{{addresses: [127.0.0.1], conditions: {{ready: true}}}}]\n"
        )
    };
    let cgroup = sb.cgroup.display().to_string();
    let healthz = format!("127.0.0.1:{}", free_port(&["127.0.0.1"]));
    let mut s = Sluice::start(
        &[("web.yaml", &manifest(p1))],
        &["--ebpf-cgroup", &cgroup, "--healthz-listen", &healthz, "--l4-bind", "127.0.0.1"],
    );
    let reached = |sb: &Sandbox| requests_to(sb, vip, 5).0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reached(&sb).get("b1") != Some(&5) {
        assert!(std::time::Instant::now() < deadline, "the ClusterIP never reached b1:\n{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    write(&s.path(), "web.yaml", &manifest(p2));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reached(&sb).get("b2") != Some(&5) {
        assert!(std::time::Instant::now() < deadline, "the endpoint change never took:\n{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = s.proc.0.kill();
    let _ = s.proc.0.wait();
    let (_, ok) = sb.client(&format!("curl -s --max-time 2 http://{vip}/"));
    assert!(!ok, "nothing translates the ClusterIP once Sluice is gone");
}

/// kube-proxy's health endpoints: a `Local` Service's health-check node port
/// answers 200 with this node's ready endpoints, 503 when it has none, and
/// `/healthz` answers once the table is synced.
#[test]
#[ignore = "needs root, cgroup v2 and network namespaces: scripts/test runs it"]
fn health_check_node_ports_follow_local_endpoints() {
    let sb = Sandbox::new("hc");
    let (hc_port, healthz) = (free_port(&["127.0.0.1"]), free_port(&["127.0.0.1"]));
    let manifest = |node: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: shop, namespace: default}}\n\
             spec: {{type: LoadBalancer, clusterIP: 203.0.113.13, externalTrafficPolicy: Local, healthCheckNodePort: {hc_port}, \
             ports: [{{name: http, port: 80, targetPort: 8080, nodePort: 30080}}]}}\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: shop-1, namespace: default, labels: {{kubernetes.io/service-name: shop}}}}\n\
             addressType: IPv4\nports: [{{name: http, port: 8080}}]\n\
             endpoints: [{{addresses: [192.0.2.7], nodeName: {node}, conditions: {{ready: true}}}}]\n"
        )
    };
    let cgroup = sb.cgroup.display().to_string();
    let healthz_at = format!("127.0.0.1:{healthz}");
    let s = Sluice::start(
        &[("shop.yaml", &manifest("node-a"))],
        &["--ebpf-cgroup", &cgroup, "--healthz-listen", &healthz_at, "--l4-bind", "127.0.0.1", "--node-name", "node-a"],
    );
    let curl = |url: String| {
        let out =
            Command::new("curl").args(["-s", "--max-time", "2", "-w", "\n%{http_code}"]).arg(url).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let hc = format!("http://127.0.0.1:{hc_port}/");
    while !curl(hc.clone()).ends_with("200") {
        assert!(std::time::Instant::now() < deadline, "the health-check node port never said 200:\n{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let answer = curl(hc.clone());
    assert!(answer.contains(r#""localEndpoints":1"#) && answer.contains(r#""name":"shop""#), "{answer}");
    assert!(curl(format!("http://{healthz_at}/healthz")).ends_with("200"));

    // The endpoint moves to another node: this node has none, 503.
    write(&s.path(), "shop.yaml", &manifest("node-b"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !curl(hc.clone()).ends_with("503") {
        assert!(std::time::Instant::now() < deadline, "never 503 without local endpoints:\n{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(curl(hc).contains(r#""localEndpoints":0"#));
}
