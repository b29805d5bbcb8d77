//! The health endpoints kube-proxy serves, for load balancers in front of
//! the nodes: each Service with `externalTrafficPolicy: Local` answers on
//! its `healthCheckNodePort` with this node's count of ready endpoints (200
//! when there is one, 503 when there is none, so the load balancer skips
//! the node), and `/healthz` (kube-proxy's `:10256`) says the service table
//! is being kept in sync.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sluice_config::{ServiceVip, TrafficPolicy};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What one health-check node port answers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    namespace: String,
    name: String,
    local_endpoints: usize,
}

struct Running {
    answer: watch::Sender<Answer>,
    stop: watch::Sender<bool>,
}

pub struct NodeHealth {
    node: String,
    bind: IpAddr,
    runtime: tokio::runtime::Handle,
    running: Mutex<HashMap<u16, Running>>,
    /// Seconds since the epoch of the last service-table sync; 0 = none yet.
    last_sync: Arc<std::sync::atomic::AtomicU64>,
    /// Stops `/healthz`.
    healthz: Mutex<Option<watch::Sender<bool>>>,
}

fn json(status: StatusCode, body: serde_json::Value, extra: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    h.insert("x-content-type-options", http::HeaderValue::from_static("nosniff"));
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (http::HeaderName::try_from(*k), http::HeaderValue::try_from(v.as_str())) {
            h.insert(k, v);
        }
    }
    r
}

async fn serve<F>(listener: TcpListener, mut stop: watch::Receiver<bool>, answer: F)
where
    F: Fn() -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
{
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let answer = answer.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |_req| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(answer()) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl NodeHealth {
    /// Health servers for node `node`, listening on `bind`, run on `runtime`.
    pub fn new(node: &str, bind: IpAddr, runtime: tokio::runtime::Handle) -> NodeHealth {
        NodeHealth {
            node: node.to_owned(),
            bind,
            runtime,
            running: Mutex::new(HashMap::new()),
            last_sync: Arc::default(),
            healthz: Mutex::new(None),
        }
    }

    /// kube-proxy's `/healthz` on `address`: 200 once the table has been synced.
    pub fn serve_healthz(&self, address: SocketAddr) -> std::io::Result<()> {
        let _guard = self.runtime.enter();
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let last_sync = self.last_sync.clone();
        let (stop, stopped) = watch::channel(false);
        *self.healthz.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop);
        self.runtime.spawn(serve(listener, stopped, move || {
            let last = last_sync.load(std::sync::atomic::Ordering::Relaxed);
            let status = if last > 0 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            json(status, serde_json::json!({"lastUpdated": last, "currentTime": now()}), &[])
        }));
        Ok(())
    }

    /// Makes the health-check node ports those of `services` with
    /// `externalTrafficPolicy: Local`, each answering this node's count of
    /// ready endpoints. Returns the ports that could not be opened.
    pub fn reconcile(&self, services: &[Arc<ServiceVip>]) -> Vec<(u16, String)> {
        let mut wanted: HashMap<u16, Answer> = HashMap::new();
        for s in services {
            let Some(port) = s.health_check_node_port.filter(|_| s.external_traffic_policy == TrafficPolicy::Local)
            else {
                continue;
            };
            let local =
                s.backends.iter().filter(|b| !b.terminating && b.node.as_deref() == Some(self.node.as_str())).count();
            // A Service's ports share its node port; any port's count is the Service's.
            let entry = wanted.entry(port).or_insert_with(|| Answer {
                namespace: s.service.namespace.clone(),
                name: s.service.name.clone(),
                local_endpoints: 0,
            });
            entry.local_endpoints = entry.local_endpoints.max(local);
        }
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|port, r| {
            let keep = wanted.contains_key(port);
            if !keep {
                let _ = r.stop.send(true);
            }
            keep
        });
        let mut failed = Vec::new();
        for (port, answer) in wanted {
            if let Some(r) = running.get(&port) {
                r.answer.send_if_modified(|a| {
                    let changed = *a != answer;
                    *a = answer.clone();
                    changed
                });
                continue;
            }
            let _guard = self.runtime.enter();
            let bound = std::net::TcpListener::bind(SocketAddr::new(self.bind, port))
                .and_then(|l| l.set_nonblocking(true).map(|_| l))
                .and_then(TcpListener::from_std);
            let listener = match bound {
                Ok(l) => l,
                Err(e) => {
                    failed.push((port, e.to_string()));
                    continue;
                }
            };
            let (answer_tx, answer_rx) = watch::channel(answer);
            let (stop, stopped) = watch::channel(false);
            self.runtime.spawn(serve(listener, stopped, move || {
                let a = answer_rx.borrow().clone();
                let status = if a.local_endpoints > 0 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                let body = serde_json::json!({
                    "service": {"namespace": a.namespace, "name": a.name},
                    "localEndpoints": a.local_endpoints,
                    "serviceProxyHealthy": true,
                });
                json(status, body, &[("x-load-balancing-endpoint-weight", a.local_endpoints.to_string())])
            }));
            running.insert(port, Running { answer: answer_tx, stop });
        }
        self.last_sync.store(now(), std::sync::atomic::Ordering::Relaxed);
        failed
    }
}

impl Drop for NodeHealth {
    fn drop(&mut self) {
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).values() {
            let _ = r.stop.send(true);
        }
        if let Some(stop) = self.healthz.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(true);
        }
    }
}
