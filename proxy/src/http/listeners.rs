//! L7 listeners that come and go with the Snapshot (HTTPS, a BCS Ingress
//! rule's port), beside the fixed `--http-listen` one that pingora's server
//! owns. Each accepted connection (after the TLS handshake, on HTTPS) is
//! handed to a pingora `HttpProxy` of that listener's route config, so it is
//! served exactly as the fixed listener serves. A removed listener stops
//! accepting at once; its connections finish the request in flight and close.

use super::service::{HttpService, Scheme};
use crate::metrics::METRICS;
use crate::route_table::RouteTable;
use crate::tls::{SniResolver, TlsSide, self_signed};
use arc_swap::ArcSwap;
use pingora_core::apps::{HttpServerOptions, ServerApp};
use pingora_core::protocols::Stream;
use pingora_core::protocols::l4::listener::Listener;
use pingora_core::server::configuration::ServerConf;
use rustls::sign::CertifiedKey;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

struct Running {
    address: SocketAddr,
    route_config: String,
    tls: bool,
    stop: watch::Sender<bool>,
}

pub struct HttpListeners {
    table: Arc<ArcSwap<RouteTable>>,
    runtime: tokio::runtime::Handle,
    conf: Arc<ServerConf>,
    /// Listeners served elsewhere (by the pingora server), by name.
    fixed: HashSet<String>,
    running: Mutex<HashMap<String, Running>>,
    /// Served on HTTPS when no certificate applies.
    fallback: Arc<CertifiedKey>,
}

impl HttpListeners {
    pub fn new(
        table: Arc<ArcSwap<RouteTable>>,
        runtime: tokio::runtime::Handle,
        fixed: &[&str],
    ) -> Result<Self, String> {
        Ok(Self {
            table,
            runtime,
            conf: Arc::new(ServerConf::default()),
            fixed: fixed.iter().map(|s| (*s).to_owned()).collect(),
            running: Mutex::new(HashMap::new()),
            fallback: Arc::new(self_signed().map_err(|e| format!("cannot make the fallback certificate: {e}"))?),
        })
    }

    /// Makes the running listeners those of the current table. Returns the
    /// listeners that could not bind, with the reason.
    pub fn reconcile(&self) -> Vec<(String, String)> {
        let table = self.table.load_full();
        let wanted = table.http_listeners();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|name, r| {
            let keep = wanted.get(name).is_some_and(|l| {
                l.address == r.address && l.route_config == r.route_config && l.tls.is_some() == r.tls
            });
            if !keep {
                let _ = r.stop.send(true);
                tracing::info!(listener = %name, address = %r.address, "HTTP listener closed");
            }
            keep
        });
        let mut failed = Vec::new();
        for (name, l) in wanted {
            let (address, route_config) = (&l.address, &l.route_config);
            if self.fixed.contains(name) || running.contains_key(name) {
                continue;
            }
            let _guard = self.runtime.enter();
            let bound = std::net::TcpListener::bind(address)
                .and_then(|s| {
                    s.set_nonblocking(true)?;
                    Ok(s)
                })
                .and_then(tokio::net::TcpListener::from_std);
            let listener = match bound {
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
            let service = HttpService::new(self.table.clone(), route_config, address.port(), scheme);
            let mut proxy = pingora_proxy::http_proxy(&self.conf, service);
            let mut options = HttpServerOptions::default();
            options.h2c = !tls;
            proxy.server_options = Some(options);
            let (stop, stopped) = watch::channel(false);
            self.runtime.spawn(accept_loop(listener.into(), tls_side, Arc::new(proxy), stopped));
            tracing::info!(listener = %name, address = %address, tls, "HTTP listener open");
            let route_config = route_config.clone();
            running.insert(name.clone(), Running { address: *address, route_config, tls, stop });
        }
        failed
    }
}

impl Drop for HttpListeners {
    fn drop(&mut self) {
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).values() {
            let _ = r.stop.send(true);
        }
    }
}

async fn accept_loop<A: ServerApp + Send + Sync + 'static>(
    listener: Listener,
    tls: Option<Arc<TlsSide>>,
    app: Arc<A>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        // pingora's listener fills in the client address the proxy reads.
        let Ok(mut accepted) = accepted else { continue };
        let _ = accepted.set_nodelay();
        let (app, shutdown, tls) = (app.clone(), stopped.clone(), tls.clone());
        tokio::spawn(async move {
            let mut stream: Stream = match tls {
                None => Box::new(accepted),
                Some(side) => match side.accept(accepted).await {
                    Some(s) => s,
                    None => return,
                },
            };
            // A reusable (keep-alive) connection comes back for its next request.
            while let Some(next) = app.process_new(stream, &shutdown).await {
                stream = next;
            }
        });
    }
}
