//! Opening and closing L4 listeners as the table changes: an added port
//! serves as soon as the new table is swapped in; a removed port stops
//! accepting at once while its connections go on until they end or the
//! drain timeout passes.

use super::{tcp, udp};
use crate::access_log::AccessLog;
use crate::listen_sockets::ListenSockets;
use crate::metrics::METRICS;
use crate::route_table::RouteTable;
use crate::workers::Workers;
use arc_swap::ArcSwap;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Flows a UDP listener keeps at once when not told otherwise. Each costs a
/// socket, a task and a 64 KiB buffer, and a source address is easily
/// spoofed: without a cap a flood of sources would take every descriptor.
pub const DEFAULT_UDP_MAX_FLOWS: usize = 16_384;

struct Running {
    address: SocketAddr,
    udp: bool,
    stop: watch::Sender<bool>,
}

pub struct L4Manager {
    table: Arc<ArcSwap<RouteTable>>,
    workers: Arc<Workers>,
    drain: Duration,
    sockets: Arc<ListenSockets>,
    running: Mutex<HashMap<String, Running>>,
    /// Set at shutdown: nothing opens again.
    closed: std::sync::atomic::AtomicBool,
    /// Flows each UDP listener keeps at once (below a lower `max_connections`).
    udp_max_flows: usize,
    /// Where a line goes when a session ends.
    access_log: Option<Arc<AccessLog>>,
}

impl L4Manager {
    pub fn new(
        table: Arc<ArcSwap<RouteTable>>,
        workers: Arc<Workers>,
        drain: Duration,
        sockets: Arc<ListenSockets>,
    ) -> Self {
        Self {
            table,
            workers,
            drain,
            sockets,
            running: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            udp_max_flows: DEFAULT_UDP_MAX_FLOWS,
            access_log: None,
        }
    }

    /// Writes a line to `log` as each connection or flow ends.
    pub fn with_access_log(mut self, log: Option<Arc<AccessLog>>) -> Self {
        self.access_log = log;
        self
    }

    /// Caps the flows of each UDP listener: past it, datagrams from new
    /// sources are dropped and counted as refused.
    pub fn with_udp_max_flows(mut self, max: usize) -> Self {
        self.udp_max_flows = max;
        self
    }

    /// Stops accepting on every listener for good (shutdown, or the new
    /// process took over); open connections go on until they end or the
    /// drain timeout passes.
    pub fn close(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        for (name, r) in running.drain() {
            let _ = r.stop.send(true);
            self.release(r.address, r.udp);
            tracing::info!(listener = %name, address = %r.address, "L4 listener closed; its connections drain");
        }
    }

    fn release(&self, address: SocketAddr, udp: bool) {
        if udp { self.sockets.release_udp(address) } else { self.sockets.release_tcp(address) }
    }

    /// Makes the running listeners those of the current table. Returns the
    /// listeners that could not bind, with the reason.
    pub fn reconcile(&self) -> Vec<(String, String)> {
        let table = self.table.load_full();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Vec::new();
        }
        let mut dropped = Vec::new();
        running.retain(|name, r| {
            let keep = table.l4(name).is_some_and(|l| l.address == r.address && l.udp == r.udp);
            if !keep {
                let _ = r.stop.send(true);
                dropped.push((r.address, r.udp));
                tracing::info!(listener = %name, address = %r.address, "L4 listener closed; its connections drain");
            }
            keep
        });
        let mut failed = Vec::new();
        for l in table.l4_listeners() {
            if running.contains_key(&l.name) {
                continue;
            }
            if l.udp {
                let bound = self.sockets.udp(l.address);
                let (stop, stopped) = watch::channel(false);
                // One receive loop a socket: its flows are kept by the loop.
                let worker = self.workers.first();
                let _guard = worker.enter();
                match bound.and_then(tokio::net::UdpSocket::from_std) {
                    Ok(socket) => {
                        let (name, table, log) = (l.name.clone(), self.table.clone(), self.access_log.clone());
                        let flows = self.udp_max_flows;
                        worker.spawn(udp::serve_loop(socket, name, table, flows, stopped, self.drain, log));
                        tracing::info!(listener = %l.name, address = %l.address, "L4 UDP listener open");
                        running.insert(l.name.clone(), Running { address: l.address, udp: true, stop });
                    }
                    Err(e) => {
                        METRICS.l4_bind_errors.with_label_values(&[l.name.as_str()]).inc();
                        tracing::error!(listener = %l.name, address = %l.address, error = %e, "cannot listen");
                        failed.push((l.name.clone(), format!("cannot listen on {}/udp: {e}", l.address)));
                    }
                }
                continue;
            }
            let bound = self.sockets.tcp(l.address);
            let std_listener = match bound {
                Ok(s) => s,
                Err(e) => {
                    METRICS.l4_bind_errors.with_label_values(&[l.name.as_str()]).inc();
                    tracing::error!(listener = %l.name, address = %l.address, error = %e, "cannot listen");
                    failed.push((l.name.clone(), format!("cannot listen on {}: {e}", l.address)));
                    continue;
                }
            };
            let (stop, stopped) = watch::channel(false);
            let name = l.name.clone();
            match self.workers.listeners(&std_listener) {
                Ok(copies) => {
                    let active = Arc::new(AtomicU64::new(0));
                    for (worker, listener) in copies {
                        let (name, table, active) = (name.clone(), self.table.clone(), active.clone());
                        let (stopped, log) = (stopped.clone(), self.access_log.clone());
                        worker.spawn(tcp::accept_loop(listener, name, table, active, stopped, self.drain, log));
                    }
                    tracing::info!(listener = %name, address = %l.address, "L4 listener open");
                    running.insert(name, Running { address: l.address, udp: false, stop });
                }
                Err(e) => failed.push((name, e.to_string())),
            }
        }
        // A listener reopened on the same address took over its socket.
        let open: HashSet<(SocketAddr, bool)> = running.values().map(|r| (r.address, r.udp)).collect();
        for (address, udp) in dropped.into_iter().filter(|d| !open.contains(d)) {
            self.release(address, udp);
        }
        failed
    }
}

impl Drop for L4Manager {
    fn drop(&mut self) {
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).values() {
            let _ = r.stop.send(true);
        }
    }
}
