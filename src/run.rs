//! `sluice run`: the manifest source, the publisher that compiles each new
//! Snapshot and swaps it in with its listeners, and the pingora server that
//! runs the admin listener and the process's lifecycle (SIGTERM drains,
//! SIGQUIT hands the listeners to a new process started with `--upgrade`).

use crate::admin::{AdminApp, AdminState};
use crate::cli::RunArgs;
use crate::control_metrics::{CONTROL, record_diagnostics};
use crate::kernel::Kernel;
use arc_swap::ArcSwap;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{ExecutionPhase, Server, ShutdownWatch};
use pingora_core::services::background::{BackgroundService, background_service};
use pingora_core::services::listening::Service;
use sluice_config::Options;
use sluice_config::{Diagnostic, ObjectRef, Severity};
use sluice_controller::Published;
use sluice_controller::sources::{
    ClusterOptions, ClusterPipeline, ManifestPipeline, spawn_cluster_pipeline, spawn_manifest_pipeline,
};
use sluice_controller::status::{StatusOptions, StatusWriter, spawn_status_writer};
use sluice_ebpf::{NodeHealth, TableOptions};
use sluice_proxy::http::{HttpListeners, ListenerOptions};
use sluice_proxy::l4::L4Manager;
use sluice_proxy::metrics::METRICS;
use sluice_proxy::workers::Workers;
use sluice_proxy::{ListenSockets, RouteTable};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// How long either side of an upgrade waits for the other.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(30);

/// Where new Snapshots go: compiled, swapped in, shown on the admin listener.
pub struct Publisher {
    pub table: Arc<ArcSwap<RouteTable>>,
    pub admin: Arc<AdminState>,
    /// Runs the active health probes, off the proxy's threads.
    probes: tokio::runtime::Runtime,
    /// Opens and closes the TCP/UDP listeners, on every proxy worker.
    l4: L4Manager,
    /// Opens and closes the HTTP listeners, on the same workers.
    http: HttpListeners,
    /// Both kinds' sockets, passed on at an upgrade.
    sockets: Arc<ListenSockets>,
    /// The kernel datapath, when `--ebpf-cgroup` or `--nodeport-interface` asks for it.
    kernel: Option<Kernel>,
}

impl Publisher {
    pub fn new(
        threads: usize,
        drain: Duration,
        listeners: ListenerOptions,
        udp_max_flows: usize,
    ) -> std::io::Result<Self> {
        let probes = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("health-probes")
            .enable_all()
            .build()?;
        let workers = Arc::new(Workers::new(threads, "proxy")?);
        let table = Arc::new(ArcSwap::from_pointee(RouteTable::default()));
        let sockets = Arc::new(ListenSockets::default());
        Ok(Self {
            l4: L4Manager::new(table.clone(), workers.clone(), drain, sockets.clone())
                .with_udp_max_flows(udp_max_flows),
            http: HttpListeners::new(table.clone(), workers, sockets.clone(), listeners)
                .map_err(std::io::Error::other)?,
            sockets,
            table,
            admin: Arc::new(AdminState::default()),
            probes,
            kernel: None,
        })
    }

    /// The runtime background work (probes, health servers) runs on.
    pub fn background(&self) -> &tokio::runtime::Handle {
        self.probes.handle()
    }

    /// Syncs the kernel datapath with each new Snapshot.
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        kernel.export_counters(self.probes.handle(), Duration::from_secs(2));
        self.kernel = Some(kernel);
        self
    }

    /// Stops every listener for good: at shutdown, or once a new process
    /// took their sockets over. Requests in flight finish.
    pub fn close_listeners(&self) {
        self.http.close();
        self.l4.close();
    }

    pub fn publish(&self, p: &Arc<Published>) {
        let started = Instant::now();
        let current = self.table.load_full();
        let previous = self.admin.live.load_full();
        if previous.is_none() || current.generation() != p.snapshot.generation {
            match RouteTable::compile(&p.snapshot, Some(&current)) {
                Ok(table) => {
                    for c in table.clusters() {
                        METRICS.endpoints.with_label_values(&[c.name.as_str()]).set(c.ready_endpoints() as i64);
                    }
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    for c in &p.snapshot.certificates {
                        METRICS.certificate_expiry.with_label_values(&[c.name.as_str()]).set(c.not_after - now);
                    }
                    table.start_probes(self.probes.handle());
                    self.table.store(Arc::new(table));
                    CONTROL.swap_seconds.observe(started.elapsed().as_secs_f64());
                    CONTROL.generation.set(p.snapshot.generation as i64);
                    tracing::info!(
                        generation = p.snapshot.generation,
                        swap_us = started.elapsed().as_micros() as u64,
                        "serving new Snapshot"
                    );
                }
                Err(e) => {
                    tracing::error!(generation = p.snapshot.generation, error = %e, "Snapshot not served; the last one stays");
                    return;
                }
            }
        }
        // Listeners that cannot bind are a fact of this machine, not of the
        // inputs: reported on the object that asked for the port.
        let mut p = p.clone();
        let kernel = self.kernel.as_ref().map(|k| k.sync(&p.snapshot)).unwrap_or_default();
        if !kernel.is_empty() {
            let mut with = (*p).clone();
            with.diagnostics.extend(kernel);
            p = Arc::new(with);
        }
        let unusable = self.table.load().certificates().failed().to_vec();
        if !unusable.is_empty() {
            let mut with = (*p).clone();
            for (name, why) in unusable {
                let secret = p.snapshot.certificates.iter().find(|c| c.name == name).map(|c| c.secret.clone());
                with.diagnostics.push(Diagnostic::error(
                    secret.unwrap_or_else(|| ObjectRef::new("Certificate", "", name.as_str())),
                    "data",
                    format!("cannot be served: {why}; the default certificate is served in its place"),
                ));
            }
            p = Arc::new(with);
        }
        let failed_l4 = self.l4.reconcile();
        let failed_http = self.http.reconcile();
        if !failed_l4.is_empty() || !failed_http.is_empty() {
            let table = self.table.load();
            let mut with = (*p).clone();
            for (name, why) in failed_l4.into_iter().chain(failed_http) {
                let (source, port) = match (table.l4(&name), table.http_listeners().get(&name)) {
                    (Some(l), _) => (l.policy.source.clone(), l.address.port()),
                    (None, Some(l)) => (l.source.clone(), l.address.port()),
                    (None, None) => (None, 0),
                };
                let source = source.unwrap_or_else(|| ObjectRef::new("Listener", "", name.as_str()));
                // A ConfigMap names the port by its data key; other objects hold it in a port field.
                let field = if source.kind == "ConfigMap" { format!("data[{port}]") } else { format!("port {port}") };
                with.diagnostics.push(Diagnostic::error(source, field, why));
            }
            p = Arc::new(with);
        }
        let p = &p;
        let seen: HashSet<_> = previous.iter().flat_map(|p| p.diagnostics.iter()).collect();
        for d in p.diagnostics.iter().filter(|d| !seen.contains(d)) {
            match d.severity {
                Severity::Error => tracing::error!("{d}"),
                Severity::Warning => tracing::warn!("{d}"),
                Severity::Info => tracing::info!("{d}"),
            }
        }
        record_diagnostics(&p.diagnostics);
        self.admin.live.store(Some(p.clone()));
    }
}

/// A running source of Snapshots; dropping it stops the source.
enum Source {
    Manifests(ManifestPipeline),
    /// The cluster watchers, the status writer and the runtime they run on.
    Cluster {
        pipeline: ClusterPipeline,
        _status: StatusWriter,
        _runtime: tokio::runtime::Runtime,
    },
}

impl Source {
    fn published(&self) -> &watch::Receiver<Arc<Published>> {
        match self {
            Source::Manifests(p) => &p.published,
            Source::Cluster { pipeline, .. } => &pipeline.published,
        }
    }
}

fn start_source(args: &RunArgs, options: &Options) -> Result<Source, (u8, String)> {
    if let Some(dir) = &args.manifests {
        return spawn_manifest_pipeline(dir.clone(), options.clone(), Duration::from_millis(20))
            .map(Source::Manifests)
            .map_err(|e| (2, format!("cannot read {}: {e}", dir.display())));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kube")
        .enable_all()
        .build()
        .map_err(|e| (1, e.to_string()))?;
    let client = rt.block_on(async {
        let config = match &args.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| e.to_string())?
            }
            None => kube::Config::infer().await.map_err(|e| e.to_string())?,
        };
        kube::Client::try_from(config).map_err(|e| e.to_string())
    });
    let client = client.map_err(|e| (2, format!("cannot set up the Kubernetes client: {e}")))?;
    let cluster = ClusterOptions {
        namespaces: args.namespaces.clone(),
        secret_selector: args.secret_selector.clone(),
        ..ClusterOptions::default()
    };
    let pipeline = rt.block_on(async { spawn_cluster_pipeline(client.clone(), options.clone(), cluster) });
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let addresses = if args.publish_addresses.is_empty() {
        env("SLUICE_NODE_IP").into_iter().collect()
    } else {
        args.publish_addresses.clone()
    };
    let status = StatusOptions {
        addresses,
        lb_name: options.lb_name.clone(),
        lease_namespace: env("POD_NAMESPACE").unwrap_or_else(|| "default".into()),
        lease_name: format!("sluice-{}", options.lb_name),
        identity: env("POD_NAME")
            .or_else(|| env("HOSTNAME"))
            .unwrap_or_else(|| format!("sluice-{}", std::process::id())),
        lease_seconds: 15,
    };
    let writer = rt.block_on(async { spawn_status_writer(client, pipeline.published.clone(), status) });
    Ok(Source::Cluster { pipeline, _status: writer, _runtime: rt })
}

/// Socket-LB on `--ebpf-cgroup`, NodePort on `--nodeport-interface`, with
/// kube-proxy's health endpoints for this node.
fn attach_kernel(args: &RunArgs, options: &Options, publisher: &Publisher) -> Result<Kernel, String> {
    let node = args.node_name.clone().or_else(|| std::env::var("NODE_NAME").ok()).unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
    });
    let health = NodeHealth::new(&node, options.l4_bind, publisher.background().clone());
    health
        .serve_healthz(args.healthz_listen)
        .map_err(|e| format!("cannot serve /healthz on {}: {e}", args.healthz_listen))?;
    let table = TableOptions { node, lb: args.ebpf_lb };
    Kernel::attach(args.ebpf_cgroup.as_deref(), &args.nodeport_interfaces, table, health)
}

pub fn run(args: &RunArgs) -> ExitCode {
    let options = args.translate.options();
    let pipeline = match start_source(args, &options) {
        Ok(p) => p,
        Err((code, e)) => {
            eprintln!("sluice run: {e}");
            return ExitCode::from(code);
        }
    };
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let listeners = ListenerOptions {
        max_connections: args.max_connections as usize,
        https_port: options.https_listen.port(),
        header_timeout: Duration::from_secs(args.client_header_timeout_seconds),
        keepalive_timeout: Duration::from_secs(args.keepalive_timeout_seconds),
    };
    let drain = Duration::from_secs(args.drain_seconds);
    let publisher = match Publisher::new(threads, drain, listeners, args.udp_max_flows as usize) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sluice run: cannot start the proxy runtimes: {e}");
            return ExitCode::from(1);
        }
    };
    let publisher = if args.ebpf_cgroup.is_none() && args.nodeport_interfaces.is_empty() {
        Arc::new(publisher)
    } else {
        match attach_kernel(args, &options, &publisher) {
            Ok(kernel) => Arc::new(publisher.with_kernel(kernel)),
            Err(e) => {
                eprintln!("sluice run: cannot attach the kernel datapath: {e}");
                return ExitCode::from(1);
            }
        }
    };

    let conf = ServerConf {
        threads: 1,
        grace_period_seconds: Some(args.shutdown_grace_seconds),
        graceful_shutdown_timeout_seconds: Some(args.shutdown_timeout_seconds),
        upgrade_sock: args.upgrade_socket.display().to_string(),
        ..ServerConf::default()
    };
    let opt = Opt { upgrade: args.upgrade, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    let ours = listeners_socket(&args.upgrade_socket);
    if args.upgrade {
        // The old process passes pingora's listener and ours at once, on SIGQUIT.
        let (sockets, path) = (publisher.sockets.clone(), ours.clone());
        let receiving = std::thread::spawn(move || sockets.receive(&path, HANDOFF_TIMEOUT));
        server.bootstrap();
        match receiving.join() {
            Ok(Ok(n)) => tracing::info!(sockets = n, "took over the old process's listeners"),
            Ok(Err(e)) => {
                eprintln!("sluice run: --upgrade: cannot take over the listeners on {}: {e}", ours.display());
                return ExitCode::from(1);
            }
            Err(_) => return ExitCode::from(1),
        }
    } else {
        server.bootstrap();
    }
    publisher.publish(&pipeline.published().borrow().clone());
    let unclaimed = publisher.sockets.close_unclaimed();
    if !unclaimed.is_empty() {
        tracing::info!(?unclaimed, "closed the old process's listeners this configuration has no use for");
    }

    let mut changes = pipeline.published().clone();
    let feed = publisher.clone();
    let spawned = std::thread::Builder::new().name("publisher".into()).spawn(move || {
        let _source = pipeline;
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            while changes.changed().await.is_ok() {
                let next = changes.borrow_and_update().clone();
                feed.publish(&next);
            }
        });
    });
    if let Err(e) = spawned {
        eprintln!("sluice run: cannot start the publisher: {e}");
        return ExitCode::from(1);
    }
    hand_off_on_upgrade(&server, publisher.sockets.clone(), ours);

    let mut admin = Service::new("sluice admin".to_owned(), AdminApp { state: publisher.admin.clone() });
    if let Some(warning) = admin_exposure(args.admin_listen, args.admin_allow_remote) {
        tracing::warn!(admin = %args.admin_listen, "{warning}");
    }
    admin.add_tcp(&args.admin_listen.to_string());
    server.add_service(admin);
    server.add_service(background_service("sluice listeners", Lifecycle(publisher.clone())));
    let source = match &args.manifests {
        Some(dir) => dir.display().to_string(),
        None => "the Kubernetes API".to_owned(),
    };
    tracing::info!(http = %options.http_listen, admin = %args.admin_listen, %source, "sluice running");
    server.run_forever()
}

/// Where the Snapshot's listeners are handed over, beside pingora's socket.
fn listeners_socket(upgrade_socket: &Path) -> PathBuf {
    let mut path = upgrade_socket.as_os_str().to_owned();
    path.push(".listeners");
    PathBuf::from(path)
}

/// On SIGQUIT pingora passes its admin listener to the new process; this
/// passes the Snapshot's listeners alongside.
fn hand_off_on_upgrade(server: &Server, sockets: Arc<ListenSockets>, path: PathBuf) {
    let mut phases = server.watch_execution_phase();
    std::thread::spawn(move || {
        loop {
            match phases.blocking_recv() {
                Ok(ExecutionPhase::GracefulUpgradeTransferringFds) => match sockets.send(&path, HANDOFF_TIMEOUT) {
                    Ok(n) => tracing::info!(sockets = n, "listeners handed to the new process"),
                    Err(e) => tracing::error!(error = %e, "cannot hand the listeners to the new process"),
                },
                // A handful of phases go into a buffer of 100: a lag is not
                // expected, and must not end the watch for the hand-off.
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Closes the Snapshot's listeners when pingora's shutdown starts (SIGTERM,
/// or after an upgrade's hand-off), so in-flight requests drain while
/// nothing new is accepted.
struct Lifecycle(Arc<Publisher>);

#[async_trait::async_trait]
impl BackgroundService for Lifecycle {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let _ = shutdown.changed().await;
        tracing::info!("shutting down: listeners closed, requests in flight drain");
        self.0.close_listeners();
    }
}

/// The warning for an admin listener reachable off this host, unless the
/// operator acknowledged it.
fn admin_exposure(admin: std::net::SocketAddr, allowed: bool) -> Option<&'static str> {
    (!admin.ip().is_loopback() && !allowed).then_some(
        "the admin listener (live configuration, metrics) is reachable off this host; \
         bind it to loopback or pass --admin-allow-remote",
    )
}

#[cfg(test)]
mod tests {
    use super::admin_exposure;

    #[test]
    fn an_admin_listener_off_loopback_is_warned_about_unless_allowed() {
        assert!(admin_exposure("127.0.0.1:10254".parse().unwrap(), false).is_none());
        assert!(admin_exposure("[::1]:10254".parse().unwrap(), false).is_none());
        assert!(admin_exposure("0.0.0.0:10254".parse().unwrap(), false).is_some());
        assert!(admin_exposure("0.0.0.0:10254".parse().unwrap(), true).is_none());
    }
}
