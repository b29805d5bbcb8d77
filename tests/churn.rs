//! Churn under keep-alive load, the design's central promise: changes to
//! the configuration never fail a request, and every change is served.
//! - A rolling update, as a Deployment rollout makes it: each new endpoint
//!   comes ready, then an old one turns terminating, leaves the
//!   EndpointSlice, and its process stops.
//! - A minute of a hundred changes a second: canary weights, endpoints,
//!   new Ingresses and removed ones, checked second by second.

mod common;
use common::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Keep-alive connections sending requests without pause to `hosts` (in
/// turn), counting answers and failures (anything but 200 or a transport
/// error), and keeping the backend of each host's last answer.
struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    last: Arc<Mutex<Vec<(String, String)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(to: SocketAddr, hosts: &[&str], connections: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let last = Arc::new(Mutex::new(Vec::new()));
        let c = client();
        let tasks = (0..connections)
            .map(|i| {
                let (c, stop, served, failed, last) =
                    (c.clone(), stop.clone(), served.clone(), failed.clone(), last.clone());
                let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
                tokio::spawn(async move {
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        let host = &hosts[n % hosts.len()];
                        n += 1;
                        match send(&c, to, "GET", host, "/", &[], vec![]).await {
                            Ok(r) if r.status == 200 => {
                                served.fetch_add(1, Ordering::Relaxed);
                                let mut last = last.lock().unwrap();
                                last.retain(|(h, _)| h != host);
                                last.push((host.clone(), r.backend));
                            }
                            Ok(r) => {
                                eprintln!("failed request to {host}: status {} from {:?}", r.status, r.backend);
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                eprintln!("failed request to {host}: {e}");
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        Load { stop, served, failed, last, tasks }
    }

    /// Waits until a request to `host` answered after this call comes from `backend`.
    async fn until_served_by(&self, host: &str, backend: &str, what: &str, s: &Sluice) {
        let deadline = Instant::now() + Duration::from_secs(5);
        self.last.lock().unwrap().retain(|(h, _)| h != host);
        loop {
            if self.last.lock().unwrap().iter().any(|(h, b)| h == host && b == backend) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {host} never answered from {backend}; log:\n{}", s.log());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops the load; returns (served, failed).
    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (self.served.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_under_load_loses_nothing() {
    const REPLICAS: usize = 3;
    let ips: Vec<String> = (0..REPLICAS * 2).map(|i| format!("127.0.0.{}", 20 + i)).collect();
    let port = free_port(&ips.iter().map(String::as_str).collect::<Vec<_>>());
    let addr = |i: usize| -> SocketAddr { format!("{}:{port}", ips[i]).parse().unwrap() };
    let mut old: Vec<Option<Proc>> = (0..REPLICAS).map(|i| Some(echo(&format!("v1-{i}"), &[addr(i)], None))).collect();
    let mut new = Vec::new();
    let s = Sluice::start(
        &[
            ("service.yaml", &service_only("web", port)),
            ("slice.yaml", &endpoint_slice("web", port, &(0..REPLICAS).map(|i| (addr(i), false)).collect::<Vec<_>>())),
            ("ingress.yaml", &ingress("web", "web.example.com", "/", "web", &[])),
        ],
        &[],
    );
    let load = Load::start(s.http, &["web.example.com"], 16);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // maxSurge 1, maxUnavailable 0: a new pod ready, then an old one terminating, then gone.
    let mut endpoints: Vec<(SocketAddr, bool)> = (0..REPLICAS).map(|i| (addr(i), false)).collect();
    for step in 0..REPLICAS {
        let name = format!("v2-{step}");
        new.push(echo(&name, &[addr(REPLICAS + step)], None));
        endpoints.push((addr(REPLICAS + step), false));
        write(&s.path(), "slice.yaml", &endpoint_slice("web", port, &endpoints));
        load.until_served_by("web.example.com", &name, &format!("step {step}: new endpoint"), &s).await;

        endpoints[0].1 = true;
        write(&s.path(), "slice.yaml", &endpoint_slice("web", port, &endpoints));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (gone, _) = endpoints.remove(0);
        write(&s.path(), "slice.yaml", &endpoint_slice("web", port, &endpoints));
        // The pod's grace period: what it was sent before leaving the slice finishes, then it stops.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let i = (0..REPLICAS).find(|i| addr(*i) == gone).unwrap();
        old[i].take();
    }
    // Only the new version answers now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = client();
    for _ in 0..30 {
        let r = get(&c, s.http, "web.example.com", "/").await;
        assert_eq!(r.status, 200);
        assert!(r.backend.starts_with("v2-"), "an old endpoint still answers: {}", r.backend);
    }
    let (served, failed) = load.finish().await;
    eprintln!("rolling update: {served} requests served, {failed} failed");
    assert_eq!(failed, 0, "no request may fail during a rollout; log:\n{}", s.log());
    assert!(served > 1000, "the load kept requests flowing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_a_hundred_changes_a_second_loses_nothing() {
    const SECONDS: usize = 60;
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let blue: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let green: SocketAddr = format!("127.0.0.3:{port}").parse().unwrap();
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);
    let canary = |weight: u32| {
        ingress(
            "canary",
            "shop.example.com",
            "/",
            "green",
            &[("canary", "true"), ("canary-weight", &weight.to_string())],
        )
    };
    let base = service("blue", &[blue])
        + &service("green", &[green])
        + &service_only("pool", port)
        + &ingress("main", "shop.example.com", "/", "blue", &[])
        + &ingress("pool", "pool.example.com", "/", "pool", &[]);
    let s = Sluice::start(
        &[
            ("base.yaml", &base),
            ("canary.yaml", &canary(0)),
            ("pool-slice.yaml", &endpoint_slice("pool", port, &[(blue, false)])),
        ],
        &[],
    );
    let load = Load::start(s.http, &["shop.example.com", "pool.example.com"], 16);
    let c = client();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let mut changes = 0;
    let mut created = 0;
    for second in 0..SECONDS {
        // A hundred changes, 10 ms apart, in turn: a canary weight, the
        // pool's endpoints, a new Ingress, the removal of an older one.
        let (mut weight, mut pool, mut newest, mut removed) = (0, blue, None, None);
        let begun = Instant::now();
        for i in 0..100 {
            let tick = begun + Duration::from_millis(10 * i as u64);
            tokio::time::sleep_until(tick.into()).await;
            match i % 4 {
                0 => {
                    weight = if (second * 25 + i / 4) % 2 == 0 { 100 } else { 0 };
                    write(&s.path(), "canary.yaml", &canary(weight));
                }
                1 => {
                    pool = if (second * 25 + i / 4) % 2 == 0 { green } else { blue };
                    write(&s.path(), "pool-slice.yaml", &endpoint_slice("pool", port, &[(pool, false)]));
                }
                2 => {
                    let host = format!("new{created}.example.com");
                    write(
                        &s.path(),
                        &format!("new{created}.yaml"),
                        &ingress(&format!("new{created}"), &host, "/", "blue", &[]),
                    );
                    newest = Some(host);
                    created += 1;
                }
                _ => {
                    if created >= 5 {
                        let k = created - 5;
                        std::fs::remove_file(s.path().join(format!("new{k}.yaml"))).unwrap();
                        removed = Some(format!("new{k}.example.com"));
                    }
                }
            }
            changes += 1;
        }
        // Every change of the second is served: the last weight, the last
        // endpoints, the newest Ingress, and not the one last removed.
        let side = if weight == 100 { "green" } else { "blue" };
        let what = format!("second {second}");
        load.until_served_by("shop.example.com", side, &format!("{what}: canary weight {weight}"), &s).await;
        let pool_side = if pool == green { "green" } else { "blue" };
        load.until_served_by("pool.example.com", pool_side, &format!("{what}: pool endpoints"), &s).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let newest = newest.unwrap();
        while get(&c, s.http, &newest, "/").await.status != 200 {
            assert!(Instant::now() < deadline, "{what}: {newest} never served; log:\n{}", s.log());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if let Some(removed) = removed {
            while get(&c, s.http, &removed, "/").await.status != 404 {
                assert!(Instant::now() < deadline, "{what}: {removed} still served; log:\n{}", s.log());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    let (served, failed) = load.finish().await;
    eprintln!("churn: {changes} changes in {:?}, {served} requests served, {failed} failed", started.elapsed());
    assert_eq!(changes, SECONDS * 100);
    assert_eq!(failed, 0, "no request may fail while the configuration changes; log:\n{}", s.log());
    assert!(served > 10_000, "the load kept requests flowing");
}
