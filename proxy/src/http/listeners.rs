//! The L7 listeners of the Snapshot (`--http-listen`, `--https-listen`, a
//! BCS Ingress rule's port), opened and closed with it. Each accepted
//! connection (after the TLS handshake, on HTTPS) is handed to the worker's
//! proxy loop (`engine/`) for that listener's route config. A removed listener stops
//! accepting at once; its connections finish the request in flight and close.
//! A listener holding `max_connections` stops accepting until one closes
//! (HAProxy's `maxconn`): the kernel queues the rest, none is refused.

use super::admission::{ListenerRoutes, Scheme};
use super::client_stream::ClientStream;
use super::engine::{Connections, Engine, Observers};
use crate::accept_backoff::AcceptBackoff;
use crate::access_log::AccessLog;
use crate::listen_sockets::ListenSockets;
use crate::metrics::METRICS;
use crate::route_table::{HttpListener, RouteTable};
use crate::spans::Spans;
use crate::tls::{SniResolver, TlsSide, self_signed};
use crate::workers::Workers;
use arc_swap::ArcSwap;
use pingora_core::apps::{HttpServerOptions, ServerApp};
use pingora_core::connectors::ConnectorOptions;
use pingora_core::protocols::Stream;
use pingora_core::protocols::l4::listener::Listener;
use pingora_core::server::configuration::ServerConf;
use rustls::sign::CertifiedKey;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

struct Running {
    address: SocketAddr,
    route_config: String,
    tls: bool,
    stop: watch::Sender<bool>,
}

/// What every L7 listener shares.
#[derive(Clone)]
pub struct ListenerOptions {
    /// Connections a listener serves at once; the next wait in the kernel's queue.
    pub max_connections: usize,
    /// The `--https-listen` port, where `ssl-redirect` sends plain requests.
    pub https_port: u16,
    /// Time a request's head has to arrive in whole, from its first byte.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    pub keepalive_timeout: Duration,
    /// HTTP/1 header names keep the case they arrived in.
    pub preserve_header_case: bool,
    /// Where each request's line goes; `None`: no access log.
    pub access_log: Option<Arc<AccessLog>>,
    /// Where requests' spans go; `None`: none are made.
    pub spans: Option<Arc<Spans>>,
}

pub struct HttpListeners {
    table: Arc<ArcSwap<RouteTable>>,
    workers: Arc<Workers>,
    conf: Arc<ServerConf>,
    sockets: Arc<ListenSockets>,
    options: ListenerOptions,
    running: Mutex<HashMap<String, Running>>,
    /// Set at shutdown: nothing opens again.
    closed: std::sync::atomic::AtomicBool,
    /// Served on HTTPS when no certificate applies.
    fallback: Arc<CertifiedKey>,
}

impl HttpListeners {
    pub fn new(
        table: Arc<ArcSwap<RouteTable>>,
        workers: Arc<Workers>,
        sockets: Arc<ListenSockets>,
        options: ListenerOptions,
    ) -> Result<Self, String> {
        Ok(Self {
            table,
            workers,
            conf: Arc::new(ServerConf::default()),
            sockets,
            options,
            running: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            fallback: Arc::new(self_signed().map_err(|e| format!("cannot make the fallback certificate: {e}"))?),
        })
    }

    /// Makes the running listeners those of the current table. Returns the
    /// listeners that could not bind, with the reason.
    pub fn reconcile(&self) -> Vec<(String, String)> {
        let table = self.table.load_full();
        let wanted = table.http_listeners();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Vec::new();
        }
        let mut dropped = HashSet::new();
        running.retain(|name, r| {
            let keep = wanted.get(name).is_some_and(|l| {
                l.address == r.address && l.route_config == r.route_config && l.tls.is_some() == r.tls
            });
            if !keep {
                let _ = r.stop.send(true);
                dropped.insert(r.address);
                tracing::info!(listener = %name, address = %r.address, "HTTP listener closed");
            }
            keep
        });
        let mut failed = Vec::new();
        for (name, l) in wanted {
            let (address, route_config) = (&l.address, &l.route_config);
            if running.contains_key(name) {
                continue;
            }
            let bound = self.sockets.tcp(*address).and_then(|l| self.workers.listeners(&l));
            let copies = match bound {
                Ok(l) => l,
                Err(e) => {
                    METRICS.l4_bind_errors.with_label_values(&[name.as_str()]).inc();
                    tracing::error!(listener = %name, address = %address, error = %e, "cannot listen");
                    failed.push((name.clone(), format!("cannot listen on {address}: {e}")));
                    continue;
                }
            };
            let tls_side = match &l.tls {
                None => None,
                Some(_) => {
                    let resolver = SniResolver::new(self.table.clone(), name, self.fallback.clone());
                    match TlsSide::new(name, route_config, self.table.clone(), resolver) {
                        Ok(side) => Some(Arc::new(side)),
                        Err(e) => {
                            failed.push((name.clone(), format!("cannot set up TLS: {e}")));
                            continue;
                        }
                    }
                }
            };
            let tls = tls_side.is_some();
            let scheme = if tls { Scheme::Https } else { Scheme::Http };
            let (stop, stopped) = watch::channel(false);
            let accepting = Accepting {
                name: name.clone(),
                tls: tls_side,
                slots: Arc::new(Semaphore::new(self.options.max_connections.clamp(1, Semaphore::MAX_PERMITS))),
                header_timeout: self.options.header_timeout,
                keepalive: self.options.keepalive_timeout,
                table: self.table.clone(),
                stopped,
            };
            for (worker, listener) in copies {
                let accepting = accepting.clone();
                worker.spawn(accept_loop(listener.into(), self.engine(l, scheme), accepting));
            }
            tracing::info!(listener = %name, address = %address, tls, "HTTP listener open");
            let route_config = route_config.clone();
            running.insert(name.clone(), Running { address: *address, route_config, tls, stop });
        }
        // A listener reopened on the same address took over its socket.
        for address in dropped {
            if !running.values().any(|r| r.address == address) {
                self.sockets.release_tcp(address);
            }
        }
        failed
    }

    /// What every worker's server of listener `l` is told: h2c on plain
    /// listeners, the HTTP/2 idle timeout.
    fn server_options(&self, scheme: Scheme) -> HttpServerOptions {
        let mut options = HttpServerOptions::default();
        options.h2c = scheme == Scheme::Http;
        options.h2_idle_timeout = Some(self.options.keepalive_timeout);
        options
    }

    /// Sluice's own proxy loop for one worker of listener `l`: one a worker
    /// (as nginx's workers have), so its upstream keep-alive connections
    /// never move between threads.
    fn engine(&self, l: &HttpListener, scheme: Scheme) -> Arc<Connections> {
        let (port, https_port) = (l.address.port(), self.options.https_port);
        let routes = ListenerRoutes { route_config: l.route_config.clone(), scheme, https_port };
        let connector = ConnectorOptions::from_server_conf(&self.conf);
        let case = self.options.preserve_header_case;
        let observers = Observers { access_log: self.options.access_log.clone(), spans: self.options.spans.clone() };
        let engine =
            Engine::new(self.table.clone(), routes, port, self.server_options(scheme), connector, case, observers);
        Arc::new(Connections(Arc::new(engine)))
    }

    /// Stops every listener for good (shutdown, or the new process took
    /// over): connections finish the request in flight and close.
    pub fn close(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        for (name, r) in running.drain() {
            let _ = r.stop.send(true);
            self.sockets.release_tcp(r.address);
            tracing::info!(listener = %name, address = %r.address, "HTTP listener closed; its connections drain");
        }
    }
}

impl Drop for HttpListeners {
    fn drop(&mut self) {
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).values() {
            let _ = r.stop.send(true);
        }
    }
}

/// What one listener's accept loops hold besides its socket and app.
#[derive(Clone)]
struct Accepting {
    name: String,
    tls: Option<Arc<TlsSide>>,
    /// A permit a connection: the listener's connection cap, over all workers.
    slots: Arc<Semaphore>,
    header_timeout: Duration,
    keepalive: Duration,
    /// The connection settings of the table live when a connection opens.
    table: Arc<ArcSwap<RouteTable>>,
    stopped: watch::Receiver<bool>,
}

/// Counts a listener's open connections while it lives.
struct Open(prometheus::IntGauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn accept_loop<A: ServerApp + Send + Sync + 'static>(listener: Listener, app: Arc<A>, mut a: Accepting) {
    let open = METRICS.http_connections.with_label_values(&[a.name.as_str()]);
    let full = METRICS.http_listener_full.with_label_values(&[a.name.as_str()]);
    let mut backoff = AcceptBackoff::new(&a.name);
    loop {
        let slot = match a.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                full.inc();
                tokio::select! {
                    slot = a.slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                    _ = a.stopped.changed() => return,
                }
            }
        };
        // pingora's listener fills in the client address the proxy reads.
        let mut accepted = tokio::select! {
            accepted = backoff.accept(|| listener.accept()) => accepted,
            _ = a.stopped.changed() => return,
        };
        let _ = accepted.set_nodelay();
        let (app, shutdown, tls) = (app.clone(), a.stopped.clone(), a.tls.clone());
        let settings = a.table.load();
        let settings = settings.connections();
        let header_timeout = settings.header_timeout_ms.map_or(a.header_timeout, Duration::from_millis);
        let keepalive = settings.keepalive_timeout_ms.map_or(a.keepalive, Duration::from_millis);
        let proxy_protocol =
            settings.proxy_protocol.then(|| METRICS.http_proxy_protocol_errors.with_label_values(&[a.name.as_str()]));
        open.inc();
        let open = Open(open.clone());
        tokio::spawn(async move {
            let _held = (slot, open);
            if let Some(errors) = proxy_protocol
                && !proxied_client(&mut accepted, header_timeout).await
            {
                errors.inc();
                return;
            }
            let stream: Stream = match tls {
                None => Box::new(accepted),
                Some(side) => match side.accept(accepted).await {
                    Some(s) => s,
                    None => return,
                },
            };
            let mut stream: Stream = Box::new(ClientStream::new(stream, header_timeout, keepalive));
            // A reusable (keep-alive) connection comes back for its next request.
            while let Some(next) = app.process_new(stream, &shutdown).await {
                stream = next;
            }
        });
    }
}

/// Reads the PROXY protocol header (v1 or v2) that opens `stream` and
/// makes its source the connection's client address; `false` when the
/// header is missing, broken or late, and the connection is to be closed
/// (nginx's `listen ... proxy_protocol`). A `LOCAL` or `UNKNOWN` header
/// (the sending proxy's own health check) keeps the peer's address.
async fn proxied_client(stream: &mut pingora_core::protocols::l4::stream::Stream, timeout: Duration) -> bool {
    use pingora_core::protocols::{GetSocketDigest, SocketDigest};
    use std::os::fd::AsRawFd;
    let (source, rest) = match tokio::time::timeout(timeout, crate::l4::proxy_protocol::decode(stream)).await {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "connection without a usable PROXY header closed");
            return false;
        }
        Err(_) => return false,
    };
    // Bytes read past the header are the client's first.
    stream.rewind(&rest);
    if let Some(source) = source {
        let digest = SocketDigest::from_raw_fd(stream.as_raw_fd());
        let _ = digest.peer_addr.set(Some(source.into()));
        if let Some(local) = stream.get_socket_digest().and_then(|d| d.local_addr().cloned()) {
            let _ = digest.local_addr.set(Some(local));
        }
        stream.set_socket_digest(digest);
    }
    true
}
