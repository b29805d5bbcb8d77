//! Blue-green through a Gateway API HTTPRoute under keep-alive load: the
//! route's weights moved 100/0 → 0/100 in steps by editing the route's
//! file, no request failing, each step's shares served.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn gateway(at: SocketAddr) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: sluice}}
spec: {{controllerName: sluice.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge, namespace: default}}
spec:
  gatewayClassName: sluice
  addresses: [{{type: IPAddress, value: "{}"}}]
  listeners:
  - {{name: http, port: {}, protocol: HTTP}}
"#,
        at.ip(),
        at.port()
    )
}

fn route(blue: u32, green: u32) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: shop, namespace: default}}
spec:
  parentRefs: [{{name: edge}}]
  hostnames: [shop.example]
  rules:
  - backendRefs:
    - {{name: blue, port: 80, weight: {blue}}}
    - {{name: green, port: 80, weight: {green}}}
"#
    )
}

/// Keep-alive connections sending requests without pause, counting the
/// answers by backend and the failures (anything but a 200).
struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicU64>,
    by_backend: Arc<Mutex<HashMap<String, u64>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(to: SocketAddr, connections: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicU64::new(0));
        let by_backend = Arc::new(Mutex::new(HashMap::new()));
        let c = client();
        let tasks = (0..connections)
            .map(|_| {
                let (c, stop, failed, by_backend) = (c.clone(), stop.clone(), failed.clone(), by_backend.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match send(&c, to, "GET", "shop.example", "/", &[], vec![]).await {
                            Ok(r) if r.status == 200 => *by_backend.lock().unwrap().entry(r.backend).or_insert(0) += 1,
                            other => {
                                eprintln!("failed request: {:?}", other.map(|r| r.status));
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        Load { stop, failed, by_backend, tasks }
    }

    /// The answers by backend since the last call.
    fn take(&self) -> HashMap<String, u64> {
        std::mem::take(&mut *self.by_backend.lock().unwrap())
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        self.failed.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weights_moved_step_by_step_under_load_fail_nothing() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green): (SocketAddr, SocketAddr) =
        (format!("127.0.0.2:{port}").parse().unwrap(), format!("127.0.0.3:{port}").parse().unwrap());
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);
    let at = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let s = Sluice::start(
        &[
            ("services.yaml", &(service("blue", &[blue]) + &service("green", &[green]))),
            ("gateway.yaml", &gateway(at)),
            ("route.yaml", &route(100, 0)),
        ],
        &[],
    );
    let c = client();
    wait_generation(&c, &s, 1).await;
    wait_connectable(at);
    let load = Load::start(at, 8);
    let mut generation = 1;
    for (blue_weight, green_weight) in [(100, 0), (75, 25), (50, 50), (25, 75), (0, 100)] {
        let changed = Instant::now();
        if (blue_weight, green_weight) != (100, 0) {
            write(&s.path(), "route.yaml", &route(blue_weight, green_weight));
            generation += 1;
            wait_generation(&c, &s, generation).await;
        }
        let served_after = changed.elapsed();
        load.take();
        // At least 400 answers under the new weights.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen: HashMap<String, u64> = HashMap::new();
        while seen.values().sum::<u64>() < 400 {
            assert!(Instant::now() < deadline, "too few answers under load: {seen:?}\n{}", s.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
            for (b, n) in load.take() {
                *seen.entry(b).or_insert(0) += n;
            }
        }
        let total = seen.values().sum::<u64>() as f64;
        let green_share = seen.get("green").copied().unwrap_or(0) as f64 / total;
        let want = f64::from(green_weight) / 100.0;
        assert!((green_share - want).abs() <= 0.05, "weights {blue_weight}/{green_weight}: {seen:?}");
        if green_weight == 0 || blue_weight == 0 {
            assert_eq!(seen.len(), 1, "weight 0 gets nothing: {seen:?}");
        }
        eprintln!("{blue_weight}/{green_weight}: in the Snapshot {served_after:?} after the edit; shares {seen:?}");
    }
    assert_eq!(load.stop().await, 0, "requests failed while the weights moved; log:\n{}", s.log());
}
