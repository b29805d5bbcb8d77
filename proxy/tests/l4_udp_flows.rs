//! A UDP listener's flow cap: each client address costs a socket, a task
//! and a buffer, so past the cap datagrams from new sources are dropped and
//! counted, flows already open go on, and a flow that idles out frees its slot.

use arc_swap::ArcSwap;
use sluice_config::{Balance, Cluster, Endpoint, L4Policy, Listener, ListenerKind, ObjectRef, Snapshot, Split};
use sluice_proxy::RouteTable;
use sluice_proxy::l4::L4Manager;
use sluice_proxy::metrics::METRICS;
use sluice_proxy::workers::Workers;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

async fn echo() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let at = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
    at
}

async fn serve(max_flows: usize, idle_timeout_ms: u64) -> (SocketAddr, L4Manager) {
    let upstream = echo().await;
    let listen = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let snapshot = Snapshot {
        generation: 1,
        listeners: vec![Listener {
            name: "udp-capped".into(),
            address: listen,
            kind: ListenerKind::Udp {
                split: Split::single("echo"),
                policy: L4Policy { idle_timeout_ms, ..L4Policy::default() },
            },
            source: None,
        }],
        clusters: vec![Cluster {
            name: "echo".into(),
            service: ObjectRef::new("Service", "default", "echo"),
            port: 53,
            balance: Balance::RoundRobin,
            affinity: None,
            health: Default::default(),
            max_connections: None,
            endpoints: vec![Endpoint { address: upstream, weight: 1, terminating: false, node: None, pod: None }],
            dns: None,
            unresolved: false,
        }],
        ..Snapshot::default()
    };
    assert_eq!(snapshot.validate(), vec![]);
    let table = Arc::new(ArcSwap::from_pointee(RouteTable::compile(&snapshot, None)));
    let workers = Arc::new(Workers::new(1, "udp-test").unwrap());
    let manager =
        L4Manager::new(table, workers, Duration::from_secs(1), Default::default()).with_udp_max_flows(max_flows);
    assert!(manager.reconcile().is_empty());
    (listen, manager)
}

/// Whether `sock` gets its datagram echoed within `wait`.
async fn answered(sock: &UdpSocket, to: SocketAddr, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    sock.send_to(b"ping", to).await.unwrap();
    matches!(tokio::time::timeout(wait, sock.recv_from(&mut buf)).await, Ok(Ok((4, _))))
}

fn refused() -> u64 {
    METRICS.l4_connections.with_label_values(&["udp-capped", "refused"]).get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_flow_cap_new_sources_are_dropped_until_a_flow_ends() {
    let (listen, _manager) = serve(4, 1_500).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(answered(&sock, listen, Duration::from_secs(5)).await, "a flow under the cap is served");
        clients.push(sock);
    }
    let extra = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let before = refused();
    extra.send_to(b"ping", listen).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while refused() == before {
        assert!(Instant::now() < deadline, "a fifth source past the cap of 4 is not counted as refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Dropped, not forwarded: the echo never saw it, so no reply is on its way.
    let mut buf = [0u8; 64];
    assert!(extra.try_recv(&mut buf).is_err(), "a source past the cap was answered");
    assert!(answered(&clients[0], listen, Duration::from_secs(5)).await, "open flows go on past the cap");

    // Once the flows idle out their slots are free: wait for the gauge, not a clock.
    let deadline = Instant::now() + Duration::from_secs(10);
    while METRICS.l4_active.with_label_values(&["udp-capped"]).get() >= 4 {
        assert!(Instant::now() < deadline, "idle flows never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered(&extra, listen, Duration::from_secs(5)).await, "a new source gets a freed slot");
}
