//! One UDP listener: each client address is a flow with its own connected
//! socket to the endpoint picked for it; replies are sent from the
//! listener's own socket, so the client sees the address it sent to. A flow
//! ends after the idle timeout without a datagram either way. A listener keeps
//! at most `max_flows` (and its `max_connections`) at once; past them
//! datagrams from new sources are dropped and counted as refused (not
//! logged: a flood of spoofed sources would be a flood of lines). A flow's
//! access-log line is written when it ends.

use crate::access_log::{AccessLog, Session, SessionEnd};
use crate::clock::now_ms;
use crate::cluster::{ClusterState, InFlight, PickInput};
use crate::http::ip_hash;
use crate::metrics::METRICS;
use crate::route_table::RouteTable;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::watch;

struct Flow {
    upstream: Arc<UdpSocket>,
    last: Arc<AtomicU64>,
    cluster: Arc<ClusterState>,
    endpoint: SocketAddr,
    started: Instant,
    /// Bytes from the client.
    received: AtomicU64,
}

/// What every flow of one listener shares.
struct Listener {
    socket: Arc<UdpSocket>,
    name: String,
    table: Arc<ArcSwap<RouteTable>>,
    flows: Mutex<HashMap<SocketAddr, Arc<Flow>>>,
    max_flows: usize,
    stop: watch::Receiver<bool>,
    drain: Duration,
    log: Option<Arc<AccessLog>>,
}

pub(super) async fn serve_loop(
    socket: UdpSocket,
    name: String,
    table: Arc<ArcSwap<RouteTable>>,
    max_flows: usize,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
    log: Option<Arc<AccessLog>>,
) {
    let socket = Arc::new(socket);
    let listener = Arc::new(Listener {
        socket: socket.clone(),
        name,
        table,
        flows: Mutex::new(HashMap::new()),
        max_flows,
        stop: stop.clone(),
        drain,
        log,
    });
    let name = listener.name.as_str();
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, client) = tokio::select! {
            _ = stop.changed() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue,
            },
        };
        let existing = listener.flows.lock().unwrap_or_else(|e| e.into_inner()).get(&client).cloned();
        let flow = match existing {
            Some(f) => f,
            None => match listener.open_flow(client).await {
                Some(f) => f,
                None => continue,
            },
        };
        flow.last.store(now_ms(), Ordering::Relaxed);
        if flow.upstream.send(&buf[..n]).await.is_ok() {
            flow.received.fetch_add(n as u64, Ordering::Relaxed);
            METRICS.l4_bytes.with_label_values(&[name, flow.cluster.name.as_str(), "in"]).inc_by(n as u64);
        }
    }
}

impl Listener {
    /// A flow for a new client, on the endpoint picked for it; `None` past
    /// the listener's cap or without an endpoint.
    async fn open_flow(self: &Arc<Self>, client: SocketAddr) -> Option<Arc<Flow>> {
        let name = self.name.as_str();
        let table = self.table.load_full();
        let l = table.l4(name)?.clone();
        let open = self.flows.lock().unwrap_or_else(|e| e.into_inner()).len();
        let cap = l.policy.max_connections.map_or(self.max_flows, |max| (max as usize).min(self.max_flows));
        if open >= cap {
            METRICS.l4_connections.with_label_values(&[name, "refused"]).inc();
            return None;
        }
        let client_hash = ip_hash(client.ip());
        let cluster = l.route.choose(|_| None, |_| None, l.route.split_key().map(|_| client_hash), None)?.clone();
        let input = PickInput {
            client_ip: Some(client.ip()),
            key_hash: cluster.hash_key().map(|_| client_hash),
            cookies: None,
            session_key: None,
        };
        let picked = cluster.pick(&input, &[])?;
        let bind: SocketAddr = if picked.address.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let upstream = UdpSocket::bind(bind).await.ok()?;
        if upstream.connect(picked.address).await.is_err() {
            cluster.report(picked.index, false);
            return None;
        }
        METRICS.l4_connections.with_label_values(&[name, "accepted"]).inc();
        METRICS.l4_active.with_label_values(&[name]).inc();
        let flow = Arc::new(Flow {
            upstream: Arc::new(upstream),
            last: Arc::new(AtomicU64::new(now_ms())),
            cluster: cluster.clone(),
            endpoint: picked.address,
            started: Instant::now(),
            received: AtomicU64::new(0),
        });
        self.flows.lock().unwrap_or_else(|e| e.into_inner()).insert(client, flow.clone());
        let lease = cluster.begin(picked.index);
        tokio::spawn(self.clone().replies(client, flow.clone(), l.policy.idle_timeout_ms, lease));
        Some(flow)
    }

    /// Sends the endpoint's datagrams back to the client until the flow
    /// idles out (or the listener's drain ends after it closed).
    async fn replies(self: Arc<Self>, client: SocketAddr, flow: Arc<Flow>, idle_ms: u64, _lease: InFlight) {
        let mut buf = vec![0u8; 65_535];
        let drained = async {
            let mut stop = self.stop.clone();
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
            tokio::time::sleep(self.drain).await;
        };
        tokio::pin!(drained);
        let mut sent = 0u64;
        let end = loop {
            let since = now_ms().saturating_sub(flow.last.load(Ordering::Relaxed));
            if since >= idle_ms {
                break SessionEnd::Idle;
            }
            tokio::select! {
                _ = &mut drained => break SessionEnd::Drained,
                _ = tokio::time::sleep(Duration::from_millis(idle_ms - since)) => {}
                r = flow.upstream.recv(&mut buf) => {
                    // The endpoint refused (ICMP unreachable): the flow ends.
                    let Ok(n) = r else { break SessionEnd::Closed };
                    flow.last.store(now_ms(), Ordering::Relaxed);
                    if self.socket.send_to(&buf[..n], client).await.is_ok() {
                        sent += n as u64;
                        METRICS.l4_bytes.with_label_values(&[self.name.as_str(), flow.cluster.name.as_str(), "out"]).inc_by(n as u64);
                    }
                }
            }
        };
        self.flows.lock().unwrap_or_else(|e| e.into_inner()).remove(&client);
        METRICS.l4_active.with_label_values(&[self.name.as_str()]).dec();
        if let Some(log) = &self.log {
            log.log_session(&Session {
                protocol: "UDP",
                client,
                listener: &self.name,
                upstream_name: Some(&flow.cluster.log_name),
                upstream_addr: Some(flow.endpoint),
                bytes_received: flow.received.load(Ordering::Relaxed),
                bytes_sent: sent,
                duration: flow.started.elapsed(),
                end,
            });
        }
    }
}
