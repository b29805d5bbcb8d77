//! Active probes: a task per cluster state that probes every endpoint each
//! interval (TCP connect, or an HTTP request with expected status codes) and
//! ends when the state is no longer served.

use crate::cluster::ClusterState;
use crate::metrics::METRICS;
use sluice_config::{ActiveCheck, CheckProtocol};
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts the probes of `cluster` on `runtime` once (later calls do nothing).
pub fn ensure_started(cluster: &Arc<ClusterState>, runtime: &tokio::runtime::Handle) {
    let Some(check) = cluster.active_check().cloned() else { return };
    if !cluster.claim_probes() {
        return;
    }
    let weak = Arc::downgrade(cluster);
    runtime.spawn(probe_loop(weak, check));
}

async fn probe_loop(cluster: Weak<ClusterState>, check: ActiveCheck) {
    let check = Arc::new(check);
    let mut tick = tokio::time::interval(Duration::from_millis(check.interval_ms.max(100)));
    loop {
        tick.tick().await;
        let Some(c) = cluster.upgrade() else { return };
        let targets: Vec<(usize, SocketAddr)> = c.probe_targets(check.port);
        drop(c);
        let results = futures_join(targets.into_iter().map(|(i, addr)| {
            let check = check.clone();
            async move { (i, probe(addr, &check).await) }
        }))
        .await;
        let Some(c) = cluster.upgrade() else { return };
        for (i, ok) in results {
            if let Some(healthy) = c.record_probe(i, ok, &check) {
                tracing::info!(cluster = %c.name, endpoint = %c.address(i), healthy, "endpoint health changed");
                METRICS.health_changes.with_label_values(&[c.name.as_str(), if healthy { "up" } else { "down" }]).inc();
            }
        }
    }
}

/// Runs the probes of one round concurrently.
async fn futures_join<F: std::future::Future<Output = (usize, bool)> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<(usize, bool)> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(r) = h.await {
            out.push(r);
        }
    }
    out
}

/// One probe: `true` when healthy.
pub async fn probe(addr: SocketAddr, check: &ActiveCheck) -> bool {
    let timeout = Duration::from_millis(check.timeout_ms.max(1));
    tokio::time::timeout(timeout, probe_inner(addr, &check.protocol)).await.unwrap_or(false)
}

async fn probe_inner(addr: SocketAddr, protocol: &CheckProtocol) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else { return false };
    let CheckProtocol::Http { path, method, host, expected } = protocol else { return true };
    let host = host.clone().unwrap_or_else(|| addr.to_string());
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sluice-health-check\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < 12 {
        match stream.read(&mut head[n..]).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => n += k,
        }
    }
    // "HTTP/1.1 200 "
    let Some(code) = std::str::from_utf8(&head[9..12]).ok().and_then(|c| c.parse::<u16>().ok()) else { return false };
    expected.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code))
}
