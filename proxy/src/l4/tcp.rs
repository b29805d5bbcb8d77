//! One TCP listener: accept, enforce maxconn, read a PROXY header if asked,
//! pick a cluster and an endpoint (retrying others on connect failure),
//! send a PROXY header if asked, then pump bytes both ways.

use super::proxy_protocol;
use super::pump::{Ended, Moved, pump};
use crate::accept_backoff::AcceptBackoff;
use crate::access_log::{AccessLog, Session, SessionEnd};
use crate::cluster::{ClusterState, PickInput};
use crate::http::ip_hash;
use crate::metrics::METRICS;
use crate::route_table::RouteTable;
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a client has to send its PROXY header.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect attempts on distinct endpoints before giving up.
const CONNECT_TRIES: usize = 3;

pub(super) async fn accept_loop(
    listener: TcpListener,
    name: String,
    table: Arc<ArcSwap<RouteTable>>,
    active: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
    log: Option<Arc<AccessLog>>,
) {
    let mut backoff = AcceptBackoff::new(&name);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            (stream, peer) = backoff.accept(|| listener.accept()) => {
                let current = table.load_full();
                let Some(l) = current.l4(&name) else { continue };
                if let Some(max) = l.policy.max_connections
                    && active.load(Ordering::Relaxed) >= u64::from(max)
                {
                    METRICS.l4_connections.with_label_values(&[name.as_str(), "refused"]).inc();
                    drop(stream);
                    if let Some(log) = &log {
                        log.log_session(&Outcome::new(peer).session(&name, Duration::ZERO, SessionEnd::Refused));
                    }
                    continue;
                }
                METRICS.l4_connections.with_label_values(&[name.as_str(), "accepted"]).inc();
                active.fetch_add(1, Ordering::Relaxed);
                let (name, table, active, stop) = (name.clone(), table.clone(), active.clone(), stop.clone());
                let log = log.clone();
                tokio::spawn(async move {
                    METRICS.l4_active.with_label_values(&[name.as_str()]).inc();
                    let started = Instant::now();
                    let mut outcome = Outcome::new(peer);
                    let end = tokio::select! {
                        end = serve(stream, peer, &name, table, &mut outcome) => end,
                        _ = drained(stop, drain) => SessionEnd::Drained,
                    };
                    outcome.count(&name);
                    if let Some(log) = &log {
                        log.log_session(&outcome.session(&name, started.elapsed(), end));
                    }
                    METRICS.l4_active.with_label_values(&[name.as_str()]).dec();
                    active.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
    }
}

/// Connects to an endpoint of `cluster`, trying others (up to
/// `CONNECT_TRIES`) when one fails; the stream and the endpoint's index.
pub(crate) async fn connect_upstream(
    cluster: &ClusterState,
    input: &PickInput<'_>,
    timeout: Duration,
) -> Option<(TcpStream, usize)> {
    let mut tried = Vec::new();
    loop {
        let picked = cluster.pick(input, &tried)?;
        tried.push(picked.address);
        match tokio::time::timeout(timeout, TcpStream::connect(picked.address)).await {
            Ok(Ok(s)) => {
                cluster.report(picked.index, true);
                let _ = s.set_nodelay(true);
                return Some((s, picked.index));
            }
            _ => {
                cluster.report(picked.index, false);
                if tried.len() >= CONNECT_TRIES || !cluster.has_untried(&tried) {
                    return None;
                }
            }
        }
    }
}

/// Resolves `drain` after the listener is closed.
async fn drained(mut stop: watch::Receiver<bool>, drain: Duration) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    tokio::time::sleep(drain).await;
}

/// What a connection did, kept outside `serve` so a drained connection's
/// counts are not lost with its future.
struct Outcome {
    client: SocketAddr,
    cluster: Option<Arc<ClusterState>>,
    upstream: Option<SocketAddr>,
    moved: Moved,
}

impl Outcome {
    fn new(client: SocketAddr) -> Self {
        Outcome { client, cluster: None, upstream: None, moved: Moved::default() }
    }

    /// Its bytes, into the listener's metrics.
    fn count(&self, listener: &str) {
        let Some(cluster) = &self.cluster else { return };
        let (to_upstream, to_client) =
            (self.moved.to_upstream.load(Ordering::Relaxed), self.moved.to_client.load(Ordering::Relaxed));
        METRICS.l4_bytes.with_label_values(&[listener, cluster.name.as_str(), "in"]).inc_by(to_upstream);
        METRICS.l4_bytes.with_label_values(&[listener, cluster.name.as_str(), "out"]).inc_by(to_client);
    }

    fn session<'a>(&'a self, listener: &'a str, duration: Duration, end: SessionEnd) -> Session<'a> {
        Session {
            protocol: "TCP",
            client: self.client,
            listener,
            upstream_name: self.cluster.as_ref().map(|c| c.log_name.as_str()),
            upstream_addr: self.upstream,
            bytes_received: self.moved.to_upstream.load(Ordering::Relaxed),
            bytes_sent: self.moved.to_client.load(Ordering::Relaxed),
            duration,
            end,
        }
    }
}

/// Serves one connection to its end; says how it ended.
async fn serve(
    mut client: TcpStream,
    peer: SocketAddr,
    name: &str,
    table: Arc<ArcSwap<RouteTable>>,
    outcome: &mut Outcome,
) -> SessionEnd {
    let _ = client.set_nodelay(true);
    // The table as the connection starts; it keeps it to the end.
    let table = table.load_full();
    let Some(l) = table.l4(name).cloned() else { return SessionEnd::NoUpstream };
    let mut client_addr = peer;
    let mut early = Vec::new();
    if l.policy.decode_proxy_protocol {
        match tokio::time::timeout(PROXY_HEADER_TIMEOUT, proxy_protocol::decode(&mut client)).await {
            Ok(Ok((addr, rest))) => {
                client_addr = addr.unwrap_or(peer);
                outcome.client = client_addr;
                early = rest;
            }
            Ok(Err(e)) => {
                tracing::debug!(listener = name, %peer, error = %e, "closing: bad PROXY header");
                METRICS.l4_connections.with_label_values(&[name, "failed"]).inc();
                return SessionEnd::BadProxyHeader;
            }
            Err(_) => return SessionEnd::BadProxyHeader,
        }
    }
    let client_hash = ip_hash(client_addr.ip());
    let split_hash = l.route.split_key().map(|_| client_hash);
    let Some(cluster) = l.route.choose(|_| None, |_| None, split_hash, None).cloned() else {
        METRICS.l4_connections.with_label_values(&[name, "failed"]).inc();
        return SessionEnd::NoUpstream;
    };
    outcome.cluster = Some(cluster.clone());
    // L4 has no request: every hash key is the client address.
    let key_hash = cluster.hash_key().map(|_| client_hash);
    let input = PickInput { client_ip: Some(client_addr.ip()), key_hash, cookies: None, session_key: None };
    let connect_timeout = Duration::from_millis(l.policy.connect_timeout_ms);
    let Some((mut upstream, index)) = connect_upstream(&cluster, &input, connect_timeout).await else {
        METRICS.l4_connections.with_label_values(&[name, "failed"]).inc();
        return SessionEnd::NoUpstream;
    };
    outcome.upstream = upstream.peer_addr().ok();
    let _lease = cluster.begin(index);
    if let Some(version) = l.policy.send_proxy_protocol {
        let local = client.local_addr().unwrap_or(l.address);
        if upstream.write_all(&proxy_protocol::encode(version, client_addr, local)).await.is_err() {
            return SessionEnd::Closed;
        }
    }
    if !early.is_empty() {
        if upstream.write_all(&early).await.is_err() {
            return SessionEnd::Closed;
        }
        outcome.moved.to_upstream.fetch_add(early.len() as u64, Ordering::Relaxed);
    }
    match pump(client, upstream, Duration::from_millis(l.policy.idle_timeout_ms), &outcome.moved).await {
        Ended::Closed => SessionEnd::Closed,
        Ended::Idle => SessionEnd::Idle,
    }
}
