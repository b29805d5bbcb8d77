//! Command-line names users and tests rely on (see architecture.md).

use clap::{Args, Parser, Subcommand};
use sluice_config::{NodePortRange, Options};
use sluice_ebpf::LbAlgorithm;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Kubernetes edge data plane: Ingress, Services and BCS weighted rules, served by pingora and eBPF"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Validate a manifest directory and print the Snapshot it yields as JSON
    /// with its diagnostics (like `nginx -t`). Exit 0: no errors; 1: errors;
    /// 2: the directory cannot be read.
    Check(Box<CheckArgs>),
    /// Serve: watch the manifests and proxy traffic by them, swapping in each
    /// change without dropping a request.
    Run(Box<RunArgs>),
    /// The built-in example, live: blue and green echo backends, a canary
    /// Ingress, and the split moved by editing the manifests.
    Demo(DemoArgs),
    /// Convert a seed-format (Mesos-era `kind: ingress`) BCS ingress file into
    /// the equivalent networkextension Ingress YAML, or (`--to gateway`)
    /// Ingresses into Gateway API YAML, with a comment where they differ.
    Convert(ConvertArgs),
    /// Print the CustomResourceDefinitions Sluice reads (deploy/crds is this output).
    Crd,
    /// Print every ingress-nginx annotation with what Sluice does with it, as
    /// a Markdown table (the README's table is this output).
    Annotations,
    /// Print the Gateway API features Sluice supports, one a line, named as
    /// the conformance report names them.
    GatewayFeatures,
    /// An echo upstream for demos and tests: answers with what it received.
    #[command(hide = true)]
    EchoBackend(EchoArgs),
    /// A benchmark client: median and p99 TCP connect time to an address, in µs.
    #[command(hide = true)]
    ConnectLatency(ConnectLatencyArgs),
}

#[derive(Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub https_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:10254")]
    pub admin_listen: SocketAddr,
    /// Pause after each step of the split, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub step_ms: u64,
}

#[derive(Args)]
pub struct ConvertArgs {
    /// A YAML or JSON file holding seed ingresses (`--to bcs`) or Ingresses
    /// (`--to gateway`).
    pub file: PathBuf,
    /// What to convert to: `bcs` (seed ingresses to networkextension
    /// Ingresses) or `gateway` (Ingresses to Gateway API objects).
    #[arg(long, value_enum, default_value = "bcs")]
    pub to: ConvertTarget,
    /// The listener port of the converted HTTP rules (`--to bcs`).
    #[arg(long, default_value_t = 80)]
    pub http_port: u16,
    /// The namespace of the Gateway the routes attach to (`--to gateway`).
    #[arg(long, default_value = "default")]
    pub gateway_namespace: String,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConvertTarget {
    Bcs,
    Gateway,
}

#[derive(Args)]
pub struct ConnectLatencyArgs {
    #[arg(long)]
    pub to: SocketAddr,
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
}

#[derive(Args)]
pub struct EchoArgs {
    #[arg(long, required = true)]
    pub listen: Vec<SocketAddr>,
    #[arg(long, default_value = "echo")]
    pub name: String,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Answer every request with this status (a failing upstream).
    #[arg(long)]
    pub status: Option<u16>,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with a self-signed certificate.
    #[arg(long)]
    pub tls: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["manifests", "kube"])))]
pub struct RunArgs {
    /// Directory (or single file) of YAML/JSON manifests, watched for changes.
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    /// Read the objects from the Kubernetes API (in-cluster, `KUBECONFIG`, or
    /// `--kubeconfig`).
    #[arg(long)]
    pub kube: bool,
    /// Kubeconfig file for `--kube` (default: in-cluster, then `KUBECONFIG`, then ~/.kube/config).
    #[arg(long, value_name = "PATH", requires = "kube")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (repeatable; default: all).
    #[arg(long = "namespace", value_name = "NS", requires = "kube")]
    pub namespaces: Vec<String>,
    /// Watch only Secrets with these labels (`a=b,c`; default: all Secrets).
    #[arg(long, value_name = "SELECTOR", requires = "kube")]
    pub secret_selector: Option<String>,
    /// Address (IP or host name) written into the served Ingresses' status
    /// (repeatable; default: `$SLUICE_NODE_IP`, set from the downward API).
    #[arg(long = "publish-address", value_name = "ADDR", requires = "kube")]
    pub publish_addresses: Vec<String>,
    /// Admin listener: /healthz, /readyz, /metrics, /debug/snapshot.
    #[arg(long, default_value = "127.0.0.1:10254")]
    pub admin_listen: SocketAddr,
    /// Acknowledge an admin listener off loopback (the live configuration,
    /// Secrets' names and metrics are on it); without it Sluice warns.
    #[arg(long)]
    pub admin_allow_remote: bool,
    /// Worker threads of the proxy (default: one a CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// After SIGTERM (listeners closed at once), seconds requests in flight
    /// have to finish before the process exits.
    #[arg(long, default_value_t = 5)]
    pub shutdown_grace_seconds: u64,
    /// Then seconds at most for the shutdown itself.
    #[arg(long, default_value_t = 5)]
    pub shutdown_timeout_seconds: u64,
    /// Translate Service addresses in the kernel (socket-LB, in place of
    /// kube-proxy) for the processes of this cgroup v2 directory.
    #[arg(long, value_name = "PATH")]
    pub ebpf_cgroup: Option<PathBuf>,
    /// Translate NodePorts in the kernel (TC, in place of kube-proxy) for
    /// packets arriving on this device; repeat for several.
    #[arg(long = "nodeport-interface", value_name = "IF")]
    pub nodeport_interfaces: Vec<String>,
    /// How the kernel picks a NodePort's backend: `random` (weighted) or
    /// `maglev` (by flow hash: the same backend from every node).
    #[arg(long, default_value = "random", value_parser = parse_ebpf_lb)]
    pub ebpf_lb: LbAlgorithm,
    /// This node's name, for `externalTrafficPolicy: Local` (default: `$NODE_NAME`, then the host name).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// kube-proxy's `/healthz` (with `--ebpf-cgroup` or `--nodeport-interface`).
    #[arg(long, default_value = "0.0.0.0:10256")]
    pub healthz_listen: SocketAddr,
    /// Take over the listeners of the running Sluice (binary upgrade): start
    /// the new binary with this flag, then send the old one SIGQUIT. The old
    /// one passes every listening socket over `--upgrade-socket` and drains.
    #[arg(long)]
    pub upgrade: bool,
    /// The Unix socket an upgrade's listeners pass over (the same in both processes).
    #[arg(long, value_name = "PATH", default_value = "/tmp/sluice-upgrade.sock")]
    pub upgrade_socket: PathBuf,
    /// Connections each L7 listener serves at once; more wait in the
    /// kernel's queue until one closes (HAProxy's `maxconn`).
    #[arg(long, default_value_t = 16384, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds a request's head has, from its first byte, to arrive in
    /// whole (nginx's `client_header_timeout`); slower clients are closed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub client_header_timeout_seconds: u64,
    /// Seconds an idle keep-alive client connection (HTTP/1 or HTTP/2) stays
    /// open (nginx's `keepalive_timeout`).
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..))]
    pub keepalive_timeout_seconds: u64,
    /// Pass HTTP/1 header names on in the case they arrived in, as nginx
    /// does, for applications that (against RFC 9110) depend on it. Off,
    /// names go out in lowercase but the common ones (Host, Content-Type,
    /// ...) title-cased (HAProxy and Envoy lowercase them all by default),
    /// and each message keeps one header map instead of two.
    #[arg(long)]
    pub preserve_header_case: bool,
    /// Where each request's access-log line goes: a file (appended to;
    /// reopened on SIGUSR1, after logrotate), `-` for stdout, or `off`.
    #[arg(long, value_name = "PATH", default_value = "-")]
    pub access_log: String,
    /// `nginx` (ingress-nginx's default line, field for field) or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "nginx")]
    pub access_log_format: sluice_proxy::access_log::Format,
    /// Export a span a request over OTLP/HTTP (protobuf) to this URL
    /// (`http://collector:4318/v1/traces`); the span's context goes upstream
    /// in `traceparent`.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Share of traces started here that are sampled (ingress-nginx's
    /// `otel-sampler-ratio`); a client's sampled flag is followed.
    #[arg(long, default_value_t = 0.01, requires = "otlp_endpoint")]
    pub trace_sample_ratio: f64,
    /// Seconds the connections of a removed L4 listener may go on.
    #[arg(long, default_value_t = 300)]
    pub drain_seconds: u64,
    /// Flows (client addresses) each L4 UDP listener keeps at once; past
    /// it datagrams from new sources are dropped and counted as refused, so
    /// a flood of spoofed sources cannot take every file descriptor.
    #[arg(long, default_value_t = 16384, value_parser = clap::value_parser!(u32).range(1..))]
    pub udp_max_flows: u32,
    #[command(flatten)]
    pub translate: TranslateArgs,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Directory (or single file) of YAML/JSON manifests.
    pub dir: PathBuf,
    #[command(flatten)]
    pub translate: TranslateArgs,
}

/// The flags that decide what this instance serves.
#[derive(Args, Clone)]
pub struct TranslateArgs {
    /// Serve Ingresses of this class (`spec.ingressClassName` or the
    /// `kubernetes.io/ingress.class` annotation).
    #[arg(long, default_value = "sluice")]
    pub ingress_class: String,
    /// BCS `lbGroup` / `BCSGROUP` this instance serves.
    #[arg(long, default_value = "external")]
    pub lb_group: String,
    /// BCS `lbnames` / `lbids` this instance answers to.
    #[arg(long, default_value = "sluice")]
    pub lb_name: String,
    #[arg(long, default_value = "0.0.0.0:80")]
    pub http_listen: SocketAddr,
    #[arg(long, default_value = "0.0.0.0:443")]
    pub https_listen: SocketAddr,
    /// Secret served when no SNI name matches, as NAMESPACE/NAME.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub default_certificate: Option<String>,
    /// The API server's --service-node-port-range, FIRST-LAST.
    #[arg(long, default_value = "30000-32767", value_parser = parse_range)]
    pub node_port_range: NodePortRange,
    /// Maglev table size for consistent hashing: a prime in 251-5000011; keep
    /// it above 100 × the endpoints of a cluster for an even spread.
    #[arg(long, default_value_t = sluice_config::DEFAULT_MAGLEV_TABLE_SIZE, value_parser = parse_prime)]
    pub maglev_table_size: u32,
    /// ingress-nginx's TCP listeners ConfigMap, NAMESPACE/NAME:
    /// `"<port>": "<namespace>/<service>:<port>[:PROXY][:PROXY]"`.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub tcp_services_configmap: Option<String>,
    /// The same for UDP listeners.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub udp_services_configmap: Option<String>,
    /// Address the L4 (TCP/UDP) listeners bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub l4_bind: std::net::IpAddr,
    /// ingress-nginx's controller ConfigMap, NAMESPACE/NAME (its
    /// `--configmap`): `log-format-upstream`, `log-format-escape-json`,
    /// `log-format-escape-none`; other keys are reported as not supported.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub configmap: Option<String>,
    /// Gateway API: GatewayClasses whose `spec.controllerName` is this are
    /// served by this instance.
    #[arg(long, default_value = sluice_config::DEFAULT_GATEWAY_CONTROLLER)]
    pub gateway_controller_name: String,
    /// Address Gateway listeners bind, each on its own `port`.
    #[arg(long, default_value = "0.0.0.0")]
    pub gateway_bind: std::net::IpAddr,
}

fn parse_prime(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{s}: {e}"))?;
    let prime = n >= 2 && (2..).take_while(|d: &u32| d * d <= n).all(|d| !n.is_multiple_of(d));
    if !(251..=5_000_011).contains(&n) || !prime {
        return Err(format!("{n} is not a prime in 251-5000011"));
    }
    Ok(n)
}

fn parse_range(s: &str) -> Result<NodePortRange, String> {
    let (a, b) = s.split_once('-').ok_or("expected FIRST-LAST, e.g. 30000-32767")?;
    let first: u16 = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
    let last: u16 = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
    if first == 0 || first > last {
        return Err(format!("{s}: need 1 <= FIRST <= LAST"));
    }
    Ok(NodePortRange { first, last })
}

impl TranslateArgs {
    pub fn options(&self) -> Options {
        Options {
            ingress_class: self.ingress_class.clone(),
            lb_group: self.lb_group.clone(),
            lb_name: self.lb_name.clone(),
            http_listen: self.http_listen,
            https_listen: self.https_listen,
            default_certificate: self.default_certificate.clone(),
            node_port_range: self.node_port_range,
            maglev_table_size: self.maglev_table_size,
            tcp_services_configmap: self.tcp_services_configmap.clone(),
            udp_services_configmap: self.udp_services_configmap.clone(),
            l4_bind: self.l4_bind,
            configmap: self.configmap.clone(),
            gateway_controller_name: self.gateway_controller_name.clone(),
            gateway_bind: self.gateway_bind,
        }
    }
}

fn parse_ebpf_lb(s: &str) -> Result<LbAlgorithm, String> {
    match s {
        "random" => Ok(LbAlgorithm::Random),
        "maglev" => Ok(LbAlgorithm::Maglev),
        _ => Err(format!("{s}: expected random or maglev")),
    }
}
