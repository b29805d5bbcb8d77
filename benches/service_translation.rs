//! Service translation in the kernel: Sluice's socket-LB against
//! kube-proxy-style iptables DNAT rules (KUBE-SERVICES -> KUBE-SVC ->
//! KUBE-SEP chains with `statistic random` rules), at 100, 1 000 and 10 000
//! services of two endpoints each, in a network namespace of its own:
//! - sync: iptables-restore of the whole rule set (what kube-proxy's
//!   iptables mode writes) against socket-LB's map sync from empty and the
//!   sync of one changed service;
//! - new-connection latency to the last service (the end of KUBE-SERVICES):
//!   median and p99 of `connect()` over 2 000 connections;
//! - one change end to end: an EndpointSlice or a Service edited in a store
//!   of `n` Services, reconciled to a Snapshot (translation by difference)
//!   and synced to the kernel consumer (maps, then health-check node ports), as
//!   the controller does on a watch event.
//!
//! Needs root (namespaces, cgroups, BPF); uses documentation addresses only
//! and removes what it made. `cargo bench --bench service_translation`
//! writes `benches/results/services.md` (and `.tsv`); `SCALES=100,1000` narrows it.

use sluice_config::{L4Protocol, Options, ServiceVip};
use sluice_controller::sources::parse_manifest;
use sluice_controller::{Reconciler, Store};
use sluice_ebpf::{Datapath, NodeHealth};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");
const BACKEND_PORT: u16 = 18080;
const CONNECTS: usize = 2000;
/// Changes timed for a median: each made and undone this many times.
const ROUNDS: usize = 15;

/// Service `i`'s frontend: 203.0.113.1-250, a port a block of 250.
fn vip(i: usize) -> (String, u16) {
    (format!("203.0.113.{}", i % 250 + 1), 10_000 + (i / 250) as u16)
}

/// The table as a Snapshot holds it: sorted by name.
fn services(n: usize) -> Vec<Arc<ServiceVip>> {
    let mut table: Vec<Arc<ServiceVip>> = (0..n)
        .map(|i| {
            let (address, port) = vip(i);
            let backends = ["192.0.2.1", "192.0.2.2"].map(|ip| (format!("{ip}:{BACKEND_PORT}").parse().unwrap(), 1));
            let frontend = format!("{address}:{port}").parse().unwrap();
            let name = format!("default/svc-{i}:{port}/TCP");
            Arc::new(ServiceVip::cluster_ip(&name, L4Protocol::Tcp, frontend, backends))
        })
        .collect();
    table.sort_by(|a, b| a.name.cmp(&b.name));
    table
}

/// The same services as Kubernetes objects: a ClusterIP Service and an
/// EndpointSlice each.
fn store(n: usize) -> Store {
    let mut store = Store::default();
    for i in 0..n {
        for o in parse_manifest(&service_yaml(i, 2, ""), "bench.yaml").expect("bench manifests parse").objects {
            store.insert(o);
        }
    }
    store
}

/// Service `i` with `endpoints` of its two, and `spec_extra` in its spec.
fn service_yaml(i: usize, endpoints: usize, spec_extra: &str) -> String {
    let (address, port) = vip(i);
    let addresses: Vec<String> =
        ["192.0.2.1", "192.0.2.2"][..endpoints].iter().map(|a| format!("{{addresses: [{a}]}}")).collect();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: default}}\n\
         spec: {{clusterIP: {address}, ports: [{{port: {port}, targetPort: {BACKEND_PORT}}}]{spec_extra}}}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: svc-{i}-x, namespace: default, labels: {{kubernetes.io/service-name: svc-{i}}}}}\n\
         addressType: IPv4\nports: [{{port: {BACKEND_PORT}}}]\nendpoints: [{}]\n",
        addresses.join(", ")
    )
}

/// `store` with the objects of `yaml` put in.
fn edited(store: &Store, yaml: &str) -> Store {
    let mut out = store.clone();
    for o in parse_manifest(yaml, "edit.yaml").expect("edit parses").objects {
        out.insert(o);
    }
    out
}

/// The kernel consumer: the maps and the health-check node ports.
struct Kernel {
    lb: Datapath,
    health: NodeHealth,
}

/// Median milliseconds of one change end to end: a store with it and one
/// without, alternately reconciled and synced, [`ROUNDS`] times each.
fn end_to_end(kernel: &mut Kernel, reconciler: &mut Reconciler, base: &Store, changed: &Store) -> f64 {
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        for store in [changed, base] {
            let started = Instant::now();
            let published = reconciler.reconcile(store.clone(), vec![]);
            let diff = kernel.lb.sync(&published.snapshot.services).unwrap();
            assert!(kernel.health.reconcile(&published.snapshot.services).is_empty());
            times.push(started.elapsed().as_secs_f64() * 1e3);
            assert!(!diff.is_empty(), "each round changes the maps");
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The rules kube-proxy's iptables mode writes for `n` services.
fn kube_proxy_rules(n: usize) -> String {
    let mut chains = String::from("*nat\n:KUBE-SERVICES - [0:0]\n");
    let mut rules = String::from("-A OUTPUT -j KUBE-SERVICES\n");
    for i in 0..n {
        let (address, port) = vip(i);
        let _ = writeln!(chains, ":KUBE-SVC-{i} - [0:0]\n:KUBE-SEP-{i}A - [0:0]\n:KUBE-SEP-{i}B - [0:0]");
        let _ = writeln!(rules, "-A KUBE-SERVICES -d {address}/32 -p tcp -m tcp --dport {port} -j KUBE-SVC-{i}");
        let _ = writeln!(rules, "-A KUBE-SVC-{i} -m statistic --mode random --probability 0.5 -j KUBE-SEP-{i}A");
        let _ = writeln!(rules, "-A KUBE-SVC-{i} -j KUBE-SEP-{i}B");
        let _ = writeln!(rules, "-A KUBE-SEP-{i}A -p tcp -m tcp -j DNAT --to-destination 192.0.2.1:{BACKEND_PORT}");
        let _ = writeln!(rules, "-A KUBE-SEP-{i}B -p tcp -m tcp -j DNAT --to-destination 192.0.2.2:{BACKEND_PORT}");
    }
    chains + &rules + "COMMIT\n"
}

struct Sandbox {
    netns: String,
    cgroup: PathBuf,
    backend: Option<Child>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut b) = self.backend.take() {
            let _ = b.kill();
            let _ = b.wait();
        }
        let _ = std::fs::remove_dir(&self.cgroup);
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}

impl Sandbox {
    fn new() -> Sandbox {
        let netns = format!("sluice-bench-{}", std::process::id());
        let cgroup = PathBuf::from(format!("/sys/fs/cgroup/unified/sluice-bench-{}", std::process::id()));
        run(Command::new("ip").args(["netns", "add", &netns]));
        let mut sb = Sandbox { netns, cgroup, backend: None };
        let ip = |args: &[&str]| run(Command::new("ip").args(["-n", &sb.netns]).args(args));
        ip(&["link", "set", "lo", "up"]);
        // The backends' addresses on a veth pair inside the namespace (no dummy module here).
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        ip(&["addr", "add", "192.0.2.1/24", "dev", "v0"]);
        ip(&["addr", "add", "192.0.2.2/24", "dev", "v0"]);
        ip(&["link", "set", "v0", "up"]);
        ip(&["link", "set", "v1", "up"]);
        // kube-proxy's DNAT happens after routing: the VIPs need a route (to
        // the veth, inside the namespace; nothing leaves it).
        ip(&["route", "add", "203.0.113.0/24", "dev", "v0"]);
        std::fs::create_dir(&sb.cgroup).unwrap();
        let listen: Vec<String> = ["192.0.2.1", "192.0.2.2"].iter().map(|a| format!("{a}:{BACKEND_PORT}")).collect();
        let backend = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", sb.netns))
            .args([BIN, "echo-backend", "--threads", "1", "--listen", &listen[0], "--listen", &listen[1]])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        sb.backend = Some(backend);
        std::thread::sleep(Duration::from_millis(500));
        sb
    }

    /// `iptables-restore` of `rules` in the namespace, with `tool`; seconds taken.
    fn restore(&self, tool: &str, rules: &str) -> f64 {
        let started = Instant::now();
        let mut child =
            Command::new("ip").args(["netns", "exec", &self.netns, tool]).stdin(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "{tool} failed");
        started.elapsed().as_secs_f64()
    }

    fn flush(&self, tool: &str) {
        self.restore(tool, "*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
    }

    /// Median and p99 connect time (µs) to `to`, from the namespace, in the
    /// cgroup when `in_cgroup`.
    fn latency(&self, to: (String, u16), in_cgroup: bool) -> (f64, f64) {
        let client = format!(
            "nsenter --net=/run/netns/{} {BIN} connect-latency --to {}:{} --count {CONNECTS}",
            self.netns, to.0, to.1
        );
        let script = if in_cgroup {
            format!("echo $$ > {}/cgroup.procs && exec {client}", self.cgroup.display())
        } else {
            format!("exec {client}")
        };
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "client: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut v = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
        (v.next().unwrap(), v.next().unwrap())
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("service_translation: needs root (namespaces, cgroups, BPF); skipped");
        return;
    }
    let scales: Vec<usize> = std::env::var("SCALES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000, 10_000]);
    let tools: Vec<&str> = ["iptables-nft-restore", "iptables-legacy-restore"]
        .into_iter()
        .filter(|t| {
            Command::new("sh").arg("-c").arg(format!("command -v {t}")).output().is_ok_and(|o| o.status.success())
        })
        .collect();
    assert!(!tools.is_empty(), "install the iptables package (iptables-nft-restore, iptables-legacy-restore)");
    let sb = Sandbox::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let health = NodeHealth::new("bench", "127.0.0.1".parse().unwrap(), runtime.handle().clone());
    let mut kernel = Kernel { lb: Datapath::socket_lb(&sb.cgroup).expect("socket-LB attaches"), health };
    let mut rows = Vec::new();
    // tool, services, sync ms, connect p50 µs, p99 µs: for the report's plots.
    let mut tsv = String::new();
    for &n in &scales {
        let table = services(n);
        let last = vip(n - 1);
        let mut row = format!("| {n} |");
        let mut nft_latency = None;
        for tool in &tools {
            let rules = kube_proxy_rules(n);
            let sync = sb.restore(tool, &rules);
            let (p50, p99) = sb.latency(last.clone(), false);
            sb.flush(tool);
            eprintln!("{n} services, {tool}: sync {:.1} ms, connect p50 {p50:.1} us p99 {p99:.1} us", sync * 1e3);
            let _ = write!(row, " {:.1} ms / {p50:.1} / {p99:.1} µs |", sync * 1e3);
            let _ = writeln!(tsv, "{tool}\t{n}\t{:.3}\t{p50:.1}\t{p99:.1}", sync * 1e3);
            nft_latency.get_or_insert((sync, p50));
        }
        let started = Instant::now();
        kernel.lb.sync(&table).unwrap();
        let full = started.elapsed().as_secs_f64();
        let mut changed = table.clone();
        Arc::make_mut(&mut changed[n / 2]).backends.pop();
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            for t in [&changed, &table] {
                let started = Instant::now();
                kernel.lb.sync(t).unwrap();
                times.push(started.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        let one = times[times.len() / 2];
        let (p50, p99) = sb.latency(last, true);
        kernel.lb.sync(&[]).unwrap();
        let base = store(n);
        let mut reconciler = Reconciler::new(Options::default());
        kernel.lb.sync(&reconciler.reconcile(base.clone(), vec![]).snapshot.services).unwrap();
        let slice = end_to_end(&mut kernel, &mut reconciler, &base, &edited(&base, &service_yaml(n / 2, 1, "")));
        let service_edit = service_yaml(n / 2, 2, ", sessionAffinity: ClientIP");
        let service = end_to_end(&mut kernel, &mut reconciler, &base, &edited(&base, &service_edit));
        kernel.lb.sync(&[]).unwrap();
        eprintln!(
            "{n} services, socket-LB: sync {:.1} ms, one change {:.3} ms, connect p50 {p50:.1} us p99 {p99:.1} us; \
             end to end: EndpointSlice {slice:.3} ms, Service {service:.3} ms",
            full * 1e3,
            one * 1e3
        );
        let _ = writeln!(tsv, "socket-LB\t{n}\t{:.3}\t{p50:.1}\t{p99:.1}", full * 1e3);
        let (ipt_sync, ipt_p50) = nft_latency.unwrap();
        let _ = write!(
            row,
            " {:.1} ms / {:.3} ms / {p50:.1} / {p99:.1} µs | {slice:.3} ms / {service:.3} ms | {:.2}× | {:.2}× |",
            full * 1e3,
            one * 1e3,
            ipt_sync / full,
            ipt_p50 / p50
        );
        rows.push(row);
    }
    drop(kernel);
    let mut md = String::from("# Service translation: socket-LB vs kube-proxy-style iptables\n\n");
    let _ = writeln!(
        md,
        "Each service: a ClusterIP-style frontend in 203.0.113.0/24 and two endpoints; iptables as kube-proxy writes it \
         (KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP, `statistic random`, DNAT). Connect latency: {CONNECTS} sequential \
         `connect()`s to the last service, from a network namespace (in the socket-LB cgroup for socket-LB). \
         One change: the table with one service's endpoint gone, synced to the maps. One change end to end: one \
         EndpointSlice (an endpoint gone) or one Service (`sessionAffinity` set) edited in a store of the same \
         Services, reconciled (translation by difference) and synced as the kernel consumer does (the maps, then \
         health-check node ports). Each the median of 30 changes \
         (made and undone). Command: `cargo bench --bench service_translation`.\n"
    );
    let header: Vec<String> = tools.iter().map(|t| format!("{t}: sync / connect p50 / p99")).collect();
    let _ = writeln!(
        md,
        "| services | {} | socket-LB: sync from empty / one change / connect p50 / p99 | one change end to end: EndpointSlice / Service | sync: {} ÷ socket-LB | connect p50: {} ÷ socket-LB |",
        header.join(" | "),
        tools[0],
        tools[0]
    );
    let _ = writeln!(md, "|{}", "---|".repeat(5 + tools.len()));
    for r in rows {
        let _ = writeln!(md, "{r}");
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results/services.md");
    std::fs::write(&out, &md).unwrap();
    std::fs::write(out.with_extension("tsv"), &tsv).unwrap();
    print!("{md}");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
