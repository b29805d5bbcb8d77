//! The L4 data path from a Snapshot: a listener whose split spans two
//! clusters (Services), as BCS TCP rules make them, on real sockets.

use arc_swap::ArcSwap;
use sluice_config::{
    Balance, Cluster, Endpoint, L4Policy, Listener, ListenerKind, ObjectRef, Snapshot, Split, WeightedCluster,
};
use sluice_proxy::RouteTable;
use sluice_proxy::l4::L4Manager;
use sluice_proxy::workers::Workers;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

async fn greeter(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind(if name == "blue" { "127.0.0.2:0" } else { "127.0.0.3:0" }).await.unwrap();
    let at = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(name.as_bytes()).await;
        }
    });
    at
}

fn cluster(name: &str, at: SocketAddr, balance: Balance) -> Cluster {
    Cluster {
        name: name.into(),
        service: ObjectRef::new("Service", "default", name),
        port: 80,
        balance,
        affinity: None,
        health: Default::default(),
        max_connections: None,
        endpoints: vec![Endpoint { address: at, weight: 1, terminating: false, node: None, pod: None }],
        dns: None,
        unresolved: false,
    }
}

async fn serve(balance: Balance) -> (SocketAddr, L4Manager) {
    let (blue, green) = (greeter("blue").await, greeter("green").await);
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let snapshot = Snapshot {
        generation: 1,
        listeners: vec![Listener {
            name: "tcp".into(),
            address: listen,
            kind: ListenerKind::Tcp {
                split: Split(vec![
                    WeightedCluster { cluster: "blue".into(), weight: 70 },
                    WeightedCluster { cluster: "green".into(), weight: 30 },
                ]),
                policy: L4Policy::default(),
            },
            source: None,
        }],
        clusters: vec![cluster("blue", blue, balance.clone()), cluster("green", green, balance)],
        ..Snapshot::default()
    };
    assert_eq!(snapshot.validate(), vec![]);
    let table = Arc::new(ArcSwap::from_pointee(RouteTable::compile(&snapshot, None)));
    let workers = Arc::new(Workers::new(2, "l4-test").unwrap());
    let manager = L4Manager::new(table, workers, Duration::from_secs(1), Default::default());
    assert!(manager.reconcile().is_empty());
    (listen, manager)
}

async fn side(listen: SocketAddr, source: Option<&str>) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = source {
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    }
    let mut s: TcpStream = socket.connect(listen).await.unwrap();
    let mut name = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut name)).await.unwrap().unwrap();
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_70_30_split_across_two_services_over_2000_connections() {
    let (listen, _manager) = serve(Balance::RoundRobin).await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..2000 {
        *counts.entry(side(listen, None).await).or_default() += 1;
    }
    let blue = f64::from(counts["blue"]) / 2000.0;
    assert!((blue - 0.70).abs() <= 0.03, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_source_hashing_a_client_stays_on_its_side_of_the_split() {
    let (listen, _manager) = serve(Balance::source_hash()).await;
    let mut blue = 0;
    for c in 1..=40u8 {
        let ip = format!("127.0.5.{c}");
        let first = side(listen, Some(&ip)).await;
        for _ in 0..5 {
            assert_eq!(side(listen, Some(&ip)).await, first, "{ip} changed sides");
        }
        blue += usize::from(first == "blue");
    }
    assert!((16..=38).contains(&blue), "clients divide by the weights (70 % blue expected): {blue} of 40");
}
