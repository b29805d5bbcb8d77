//! The proxy as a Snapshot consumer: each Snapshot is compiled into a
//! [`RouteTable`] off the request path and swapped in, and the HTTP, HTTPS
//! and L4 listeners are opened and closed to match it. What this machine
//! cannot do (a port that will not bind, a certificate rustls refuses) is
//! reported as a diagnostic on the object that asked for it.

use crate::access_log::AccessLog;
use crate::http::{HttpListeners, ListenerOptions};
use crate::l4::L4Manager;
use crate::metrics::{METRICS, register};
use crate::workers::Workers;
use crate::{CompileError, ListenSockets, RouteTable};
use arc_swap::ArcSwap;
use prometheus::{Histogram, HistogramOpts};
use sluice_config::{Consumer, Diagnostic, ObjectRef, Published};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

static SWAP_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new("sluice_config_swap_seconds", "Time to compile and swap in a new Snapshot")
                .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )
        .expect("valid metric"),
    )
});

pub struct DataPlane {
    table: Arc<ArcSwap<RouteTable>>,
    /// Runs the active health probes, off the proxy's threads.
    probes: tokio::runtime::Runtime,
    /// Opens and closes the TCP/UDP listeners, on every proxy worker.
    l4: L4Manager,
    /// Opens and closes the HTTP listeners, on the same workers.
    http: HttpListeners,
    /// Both kinds' sockets, passed on at an upgrade.
    sockets: Arc<ListenSockets>,
    /// The listeners of the process's own flags (`--http-listen`,
    /// `--https-listen`) that could not bind at the last apply, with why.
    unbound: Mutex<Vec<String>>,
    /// Its line follows the Snapshot's `log-format-upstream`.
    access_log: Option<Arc<AccessLog>>,
}

impl DataPlane {
    /// `threads` proxy workers; removed L4 listeners' connections drain for
    /// at most `drain`; each UDP listener keeps at most `udp_max_flows` flows.
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
            access_log: listeners.access_log.clone(),
            l4: L4Manager::new(table.clone(), workers.clone(), drain, sockets.clone())
                .with_udp_max_flows(udp_max_flows)
                .with_access_log(listeners.access_log.clone()),
            http: HttpListeners::new(table.clone(), workers, sockets.clone(), listeners)
                .map_err(std::io::Error::other)?,
            sockets,
            table,
            probes,
            unbound: Mutex::new(Vec::new()),
        })
    }

    /// The table requests are served from.
    pub fn table(&self) -> &Arc<ArcSwap<RouteTable>> {
        &self.table
    }

    /// The listening sockets, handed over at an upgrade.
    pub fn sockets(&self) -> &Arc<ListenSockets> {
        &self.sockets
    }

    /// The runtime background work (probes, health servers) runs on.
    pub fn background(&self) -> &tokio::runtime::Handle {
        self.probes.handle()
    }

    /// Stops every listener for good: at shutdown, or once a new process
    /// took their sockets over. Requests in flight finish.
    pub fn close_listeners(&self) {
        self.http.close();
        self.l4.close();
    }

    /// Compiles and swaps in `published`'s Snapshot unless it is the one
    /// served. A host that cannot be compiled keeps its last good form; each
    /// such host is a diagnostic on the object of its first route.
    fn swap(&self, published: &Published) -> Vec<Diagnostic> {
        let started = Instant::now();
        let current = self.table.load_full();
        let generation = published.snapshot.generation;
        if current.generation() == generation && generation != 0 {
            return Vec::new();
        }
        let table = RouteTable::compile(&published.snapshot, Some(&current));
        let problems = table.problems().iter().map(compile_diagnostic).collect();
        for c in table.clusters().filter(|c| !current.cluster(&c.name).is_some_and(|old| Arc::ptr_eq(old, c))) {
            METRICS.endpoints.with_label_values(&[c.name.as_str()]).set(c.ready_endpoints() as i64);
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        for c in &published.snapshot.certificates {
            METRICS.certificate_expiry.with_label_values(&[c.name.as_str()]).set(c.not_after - now);
        }
        table.start_probes(self.probes.handle());
        self.table.store(Arc::new(table));
        SWAP_SECONDS.observe(started.elapsed().as_secs_f64());
        tracing::info!(generation, swap_us = started.elapsed().as_micros() as u64, "serving new Snapshot");
        problems
    }

    /// The certificates and authorities rustls refused, on their Secrets.
    fn refused_certificates(&self, published: &Published) -> Vec<Diagnostic> {
        let table = self.table.load();
        let snapshot = &published.snapshot;
        table
            .certificates()
            .failed()
            .iter()
            .map(|(name, why)| {
                let secret =
                    snapshot.certificates.iter().find(|c| &c.name == name).map(|c| c.secret.clone()).or_else(|| {
                        snapshot.certificate_authorities.iter().find(|c| &c.name == name).map(|c| c.secret.clone())
                    });
                Diagnostic::error(
                    secret.unwrap_or_else(|| ObjectRef::new("Certificate", "", name.as_str())),
                    "data",
                    format!("cannot be served: {why}; the default certificate is served in its place"),
                )
            })
            .collect()
    }

    /// Opens and closes listeners to match the table; each one that cannot
    /// bind is a diagnostic on the object that asked for its port.
    fn reconcile_listeners(&self) -> Vec<Diagnostic> {
        let failed_l4 = self.l4.reconcile();
        let failed_http = self.http.reconcile();
        let table = self.table.load();
        let mut unbound = Vec::new();
        let mut out = Vec::new();
        for (name, why) in failed_l4.into_iter().chain(failed_http) {
            let (source, port) = match (table.l4(&name), table.http_listeners().get(&name)) {
                (Some(l), _) => (l.source.clone(), l.address.port()),
                (None, Some(l)) => (l.source.clone(), l.address.port()),
                (None, None) => (None, 0),
            };
            let Some(source) = source else {
                // No object asked for it: the process's own listener.
                unbound.push(format!("listener {name}: {why}"));
                out.push(Diagnostic::error(ObjectRef::new("Listener", "", name.as_str()), format!("port {port}"), why));
                continue;
            };
            // A ConfigMap names the port by its data key; other objects hold it in a port field.
            let field = if source.kind == "ConfigMap" { format!("data[{port}]") } else { format!("port {port}") };
            out.push(Diagnostic::error(source, field, why));
        }
        *self.unbound.lock().unwrap_or_else(|e| e.into_inner()) = unbound;
        out
    }
}

impl Consumer for DataPlane {
    fn name(&self) -> &'static str {
        "proxy"
    }

    fn apply(&self, published: &Arc<Published>) -> Vec<Diagnostic> {
        if let Some(log) = &self.access_log {
            log.set_custom(published.snapshot.access_log_format.as_ref());
        }
        let mut out = self.swap(published);
        out.extend(self.refused_certificates(published));
        out.extend(self.reconcile_listeners());
        out
    }

    fn unhealthy(&self) -> Option<String> {
        let unbound = self.unbound.lock().unwrap_or_else(|e| e.into_inner());
        (!unbound.is_empty()).then(|| unbound.join("; "))
    }
}

/// A host the proxy could not compile, on the object that asked for it.
fn compile_diagnostic(problem: &CompileError) -> Diagnostic {
    match problem {
        CompileError::Path { route_config, host, message, object, kept } => {
            let then = if *kept { "its last good form keeps serving" } else { "it is not served" };
            Diagnostic::error(
                object.clone().unwrap_or_else(|| ObjectRef::new("RouteConfig", "", route_config.as_str())),
                format!("host {host}"),
                format!("its paths cannot be compiled ({message}); {then}"),
            )
        }
    }
}
