//! `sluice run`: the wiring. A source (manifests or the API server) feeds
//! Snapshots to the [`Publisher`], which hands each to the consumers: the
//! proxy's [`DataPlane`], the kernel datapath, the admin endpoints and the
//! status writer. A pingora server runs the admin listener and the
//! process's lifecycle (SIGTERM drains, SIGQUIT hands the listeners to a
//! new process started with `--upgrade`).

use crate::admin::{AdminApp, AdminState};
use crate::cli::RunArgs;
use crate::kernel::Kernel;
use crate::publish::Publisher;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{ExecutionPhase, Server, ShutdownWatch};
use pingora_core::services::background::{BackgroundService, background_service};
use pingora_core::services::listening::Service;
use sluice_config::{Consumer, Options, Published};
use sluice_controller::sources::{
    ClusterOptions, ClusterPipeline, ManifestPipeline, spawn_cluster_pipeline, spawn_manifest_pipeline,
};
use sluice_controller::status::{StatusFeed, StatusOptions, StatusWriter, spawn_status_writer};
use sluice_ebpf::{NodeHealth, TableOptions};
use sluice_proxy::access_log::{AccessLog, Destination, Writer};
use sluice_proxy::http::ListenerOptions;
use sluice_proxy::spans::Spans;
use sluice_proxy::{DataPlane, ListenSockets};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// How long either side of an upgrade waits for the other.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(30);

/// A running source of Snapshots; dropping it stops the source.
enum Source {
    Manifests(ManifestPipeline),
    /// The cluster watchers, the status writer and the runtime they run on.
    Cluster {
        pipeline: ClusterPipeline,
        _status: StatusWriter,
        /// Hands the status writer each Snapshot with the data plane's reports.
        feed: Arc<StatusFeed>,
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

    /// The status writer's consumer, in `--kube` mode.
    fn status_feed(&self) -> Option<Arc<StatusFeed>> {
        match self {
            Source::Manifests(_) => None,
            Source::Cluster { feed, .. } => Some(feed.clone()),
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
        gateway_controller_name: options.gateway_controller_name.clone(),
    };
    let (feed, published) = StatusFeed::new();
    let writer = rt.block_on(async { spawn_status_writer(client, published, status) });
    Ok(Source::Cluster { pipeline, _status: writer, feed: Arc::new(feed), _runtime: rt })
}

/// Socket-LB on `--ebpf-cgroup`, NodePort on `--nodeport-interface`, with
/// kube-proxy's health endpoints for this node.
fn attach_kernel(args: &RunArgs, options: &Options, data_plane: &DataPlane) -> Result<Kernel, String> {
    let node = args.node_name.clone().or_else(|| std::env::var("NODE_NAME").ok()).unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
    });
    let health = NodeHealth::new(&node, options.l4_bind, data_plane.background().clone());
    health
        .serve_healthz(args.healthz_listen)
        .map_err(|e| format!("cannot serve /healthz on {}: {e}", args.healthz_listen))?;
    let table = TableOptions { node, lb: args.ebpf_lb };
    Kernel::attach(args.ebpf_cgroup.as_deref(), &args.nodeport_interfaces, table, health)
}

/// The proxy, and the kernel datapath when `--ebpf-cgroup` or
/// `--nodeport-interface` asks for it.
fn start_data_plane(args: &RunArgs, options: &Options) -> Result<(Arc<DataPlane>, Option<Arc<Kernel>>), String> {
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let listeners = ListenerOptions {
        max_connections: args.max_connections as usize,
        https_port: options.https_listen.port(),
        header_timeout: Duration::from_secs(args.client_header_timeout_seconds),
        keepalive_timeout: Duration::from_secs(args.keepalive_timeout_seconds),
        preserve_header_case: args.preserve_header_case,
        access_log: access_log(args)?,
        spans: match &args.otlp_endpoint {
            Some(url) => {
                Some(Arc::new(Spans::start(url, args.trace_sample_ratio).map_err(|e| format!("--otlp-endpoint: {e}"))?))
            }
            None => None,
        },
    };
    let drain = Duration::from_secs(args.drain_seconds);
    let data_plane = DataPlane::new(threads, drain, listeners, args.udp_max_flows as usize)
        .map_err(|e| format!("cannot start the proxy runtimes: {e}"))?;
    if args.ebpf_cgroup.is_none() && args.nodeport_interfaces.is_empty() {
        return Ok((Arc::new(data_plane), None));
    }
    let kernel =
        attach_kernel(args, options, &data_plane).map_err(|e| format!("cannot attach the kernel datapath: {e}"))?;
    kernel.export_counters(data_plane.background(), Duration::from_secs(2));
    Ok((Arc::new(data_plane), Some(Arc::new(kernel))))
}

/// The access log `--access-log` asks for, its file opened (an error names it).
fn access_log(args: &RunArgs) -> Result<Option<Arc<AccessLog>>, String> {
    let destination = match args.access_log.as_str() {
        "off" => return Ok(None),
        "-" => Destination::Stdout,
        path => Destination::File(path.into()),
    };
    let writer = Writer::start(destination).map_err(|e| format!("--access-log: {e}"))?;
    Ok(Some(Arc::new(AccessLog::new(args.access_log_format, writer))))
}

/// Starts pingora's server; with `--upgrade`, first takes the old
/// process's listeners over (it passes pingora's and ours at once, on SIGQUIT).
fn bootstrap(args: &RunArgs, sockets: &Arc<ListenSockets>) -> Result<Server, String> {
    let conf = ServerConf {
        threads: 1,
        grace_period_seconds: Some(args.shutdown_grace_seconds),
        graceful_shutdown_timeout_seconds: Some(args.shutdown_timeout_seconds),
        upgrade_sock: args.upgrade_socket.display().to_string(),
        ..ServerConf::default()
    };
    let opt = Opt { upgrade: args.upgrade, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    if !args.upgrade {
        server.bootstrap();
        return Ok(server);
    }
    let (sockets, path) = (sockets.clone(), listeners_socket(&args.upgrade_socket));
    let receiving = std::thread::spawn(move || sockets.receive(&path, HANDOFF_TIMEOUT));
    server.bootstrap();
    match receiving.join() {
        Ok(Ok(n)) => tracing::info!(sockets = n, "took over the old process's listeners"),
        Ok(Err(e)) => {
            let path = listeners_socket(&args.upgrade_socket);
            return Err(format!("--upgrade: cannot take over the listeners on {}: {e}", path.display()));
        }
        Err(_) => return Err("--upgrade: the hand-off thread failed".into()),
    }
    Ok(server)
}

/// Publishes every Snapshot the source makes, on a thread of its own.
fn follow(source: Source, publisher: Arc<Publisher>) -> std::io::Result<()> {
    let mut changes = source.published().clone();
    std::thread::Builder::new().name("publisher".into()).spawn(move || {
        let _source = source;
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            while changes.changed().await.is_ok() {
                let next = changes.borrow_and_update().clone();
                publisher.publish(&next);
            }
        });
    })?;
    Ok(())
}

pub fn run(args: &RunArgs) -> ExitCode {
    let options = args.translate.options();
    let source = match start_source(args, &options) {
        Ok(p) => p,
        Err((code, e)) => {
            eprintln!("sluice run: {e}");
            return ExitCode::from(code);
        }
    };
    let (data_plane, kernel) = match start_data_plane(args, &options) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sluice run: {e}");
            return ExitCode::from(1);
        }
    };
    let admin = Arc::new(AdminState::default());
    let mut consumers: Vec<Arc<dyn Consumer>> = vec![data_plane.clone()];
    consumers.extend(kernel.map(|k| k as Arc<dyn Consumer>));
    consumers.push(admin.clone());
    consumers.extend(source.status_feed().map(|f| f as Arc<dyn Consumer>));
    let publisher = Arc::new(Publisher::new(consumers));

    let server = match bootstrap(args, data_plane.sockets()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("sluice run: {e}");
            return ExitCode::from(1);
        }
    };
    publisher.publish(&source.published().borrow().clone());
    let unclaimed = data_plane.sockets().close_unclaimed();
    if !unclaimed.is_empty() {
        tracing::info!(?unclaimed, "closed the old process's listeners this configuration has no use for");
    }
    let source_name = match &args.manifests {
        Some(dir) => dir.display().to_string(),
        None => "the Kubernetes API".to_owned(),
    };
    if let Err(e) = follow(source, publisher.clone()) {
        eprintln!("sluice run: cannot start the publisher: {e}");
        return ExitCode::from(1);
    }
    hand_off_on_upgrade(&server, data_plane.sockets().clone(), listeners_socket(&args.upgrade_socket));
    let mut server = server;
    let mut admin = Service::new("sluice admin".to_owned(), AdminApp { state: admin, publisher });
    if let Some(warning) = admin_exposure(args.admin_listen, args.admin_allow_remote) {
        tracing::warn!(admin = %args.admin_listen, "{warning}");
    }
    admin.add_tcp(&args.admin_listen.to_string());
    server.add_service(admin);
    server.add_service(background_service("sluice listeners", Lifecycle(data_plane)));
    tracing::info!(http = %options.http_listen, admin = %args.admin_listen, source = %source_name, "sluice running");
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
struct Lifecycle(Arc<DataPlane>);

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
