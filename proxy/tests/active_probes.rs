//! Active health probes against real sockets: an endpoint that stops
//! answering is taken out after the unhealthy threshold and comes back after
//! the healthy threshold.

use sluice_config::{ActiveCheck, Balance, CheckProtocol, Cluster, Endpoint, HealthPolicy, ObjectRef};
use sluice_proxy::{ClusterState, PickInput};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny HTTP server answering `status` to everything, until aborted.
async fn server(listener: TcpListener, status: u16) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else { return };
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
        });
    }
}

fn cluster(addrs: &[SocketAddr], protocol: CheckProtocol) -> Arc<ClusterState> {
    let c = Cluster {
        name: "probe/web:80".into(),
        service: ObjectRef::new("Service", "probe", "web"),
        port: 80,
        balance: Balance::RoundRobin,
        affinity: None,
        health: HealthPolicy {
            active: Some(ActiveCheck {
                protocol,
                port: None,
                interval_ms: 100,
                timeout_ms: 200,
                healthy_threshold: 2,
                unhealthy_threshold: 2,
            }),
            passive: Default::default(),
        },
        max_connections: None,
        endpoints: addrs
            .iter()
            .map(|a| Endpoint { address: *a, weight: 1, terminating: false, node: None, pod: None })
            .collect(),
        dns: None,
        unresolved: false,
    };
    Arc::new(ClusterState::new(&c, None))
}

fn picked(c: &ClusterState) -> HashSet<SocketAddr> {
    (0..20).map(|_| c.pick(&PickInput::default(), &[]).unwrap().address).collect()
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_take_out_and_bring_back_an_endpoint() {
    let good = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let flaky = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let (good_at, flaky_at) = (good.local_addr().unwrap(), flaky.local_addr().unwrap());
    tokio::spawn(server(good, 200));
    let failing = tokio::spawn(server(flaky, 500));
    let c = cluster(
        &[good_at, flaky_at],
        CheckProtocol::Http { path: "/healthz".into(), method: "GET".into(), host: None, expected: vec![(200, 399)] },
    );
    sluice_proxy::health::active::ensure_started(&c, &tokio::runtime::Handle::current());
    // Answering 500: unhealthy after two probes.
    until("the failing endpoint to be taken out", || picked(&c) == HashSet::from([good_at])).await;
    // Answering 200 again: healthy after two probes.
    failing.abort();
    // The aborted task drops its listener when it ends: wait for that before binding again.
    let _ = failing.await;
    let back = TcpListener::bind(flaky_at).await.unwrap();
    tokio::spawn(server(back, 200));
    until("the endpoint to come back", || picked(&c) == HashSet::from([good_at, flaky_at])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_probes_see_a_closed_port_and_probes_stop_with_their_cluster() {
    let up = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let up_at = up.local_addr().unwrap();
    tokio::spawn(server(up, 200));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.3:0").unwrap();
        l.local_addr().unwrap()
    };
    let c = cluster(&[up_at, closed], CheckProtocol::Tcp);
    sluice_proxy::health::active::ensure_started(&c, &tokio::runtime::Handle::current());
    until("the closed port to be taken out", || picked(&c) == HashSet::from([up_at])).await;
    let weak = Arc::downgrade(&c);
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(weak.upgrade().is_none(), "the probe task holds no reference to a dropped cluster");
}
