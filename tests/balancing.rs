//! Balancing end to end: source hashing from 50 client addresses, a backend
//! killed under load, a swap that leaves a cluster alone, cookie affinity.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

fn clients(n: u8) -> Vec<(IpAddr, HttpClient)> {
    (1..=n)
        .map(|i| {
            let ip: IpAddr = format!("127.0.1.{i}").parse().unwrap();
            (ip, client_from(Some(ip)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_hashing_keeps_each_client_on_one_backend_and_spreads_clients() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let _a = echo("a", &[addr("127.0.0.2", port)], None);
    let _b = echo("b", &[addr("127.0.0.3", port)], None);
    let manifests = service("web", &[addr("127.0.0.2", port), addr("127.0.0.3", port)])
        + &ingress("web", "hash.example.com", "/", "web", &[("upstream-hash-by", "$remote_addr")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let mut tasks = Vec::new();
    for (ip, c) in clients(50) {
        let to = s.http;
        tasks.push(tokio::spawn(async move {
            let mut seen = HashSet::new();
            for _ in 0..1000 {
                let r = get(&c, to, "hash.example.com", "/").await;
                assert_eq!(r.status, 200);
                assert_eq!(r.json()["headers"]["x-real-ip"][0], ip.to_string());
                seen.insert(r.backend);
            }
            (ip, seen)
        }));
    }
    let mut per_backend: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        let (ip, seen) = t.await.unwrap();
        assert_eq!(seen.len(), 1, "client {ip} reached {seen:?}");
        *per_backend.entry(seen.into_iter().next().unwrap()).or_default() += 1;
    }
    // Which clients share a backend is a fair draw (the endpoints' ports are
    // random in this test): ±20 % of even holds for about 88 % of draws of 50
    // clients, so the test asserts a 4σ bound and reports the split; the
    // fairness itself is checked over 200 client sets in the proxy's tests.
    eprintln!("clients per backend: {per_backend:?}");
    assert_eq!(per_backend.len(), 2, "both backends get clients");
    for (backend, n) in &per_backend {
        assert!((11..=39).contains(n), "{backend} has {n} of 50 clients (even is 25)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_backend_moves_only_its_clients_and_fails_nothing() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let _a = echo("a", &[addr("127.0.0.2", port)], None);
    let mut doomed = Some(echo("b", &[addr("127.0.0.3", port)], None));
    let _c = echo("c", &[addr("127.0.0.4", port)], None);
    let manifests = service("web", &[addr("127.0.0.2", port), addr("127.0.0.3", port), addr("127.0.0.4", port)])
        + &ingress("web", "hash.example.com", "/", "web", &[("upstream-hash-by", "$remote_addr")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let killed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (ip, c) in clients(30) {
        let (to, killed, stop, failures) = (s.http, killed.clone(), stop.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let (mut before, mut after) = (HashSet::new(), HashSet::new());
            while !stop.load(Ordering::Relaxed) {
                let killed_at_start = killed.load(Ordering::Relaxed);
                match send(&c, to, "GET", "hash.example.com", "/", &[], vec![]).await {
                    Ok(r) if r.status == 200 => {
                        // A request that spans the kill may have been retried elsewhere: it counts for neither side.
                        let killed_at_end = killed.load(Ordering::Relaxed);
                        if killed_at_start {
                            after.insert(r.backend);
                        } else if !killed_at_end {
                            before.insert(r.backend);
                        }
                    }
                    Ok(r) => {
                        eprintln!("{ip}: status {}", r.status);
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("{ip}: {e}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (ip, before, after)
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    killed.store(true, Ordering::Relaxed);
    drop(doomed.take()); // SIGKILL backend b
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut moved = 0;
    for t in tasks {
        let (ip, before, after) = t.await.unwrap();
        assert_eq!(before.len(), 1, "{ip} before: {before:?}");
        let home = before.iter().next().unwrap().clone();
        if home == "b" {
            assert!(!after.contains("b") || after.len() > 1, "{ip} kept only the dead backend");
            let settled: HashSet<_> = after.iter().filter(|b| *b != "b").collect();
            assert_eq!(settled.len(), 1, "{ip} moved to one backend: {after:?}");
            moved += 1;
        } else {
            assert_eq!(after, HashSet::from([home.clone()]), "{ip} was on {home} and must stay");
        }
    }
    assert!(moved > 0, "some clients were on the killed backend");
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no idempotent request may fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_that_does_not_touch_a_cluster_moves_none_of_its_clients() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let _a = echo("a", &[addr("127.0.0.2", port)], None);
    let _b = echo("b", &[addr("127.0.0.3", port)], None);
    let _c = echo("c", &[addr("127.0.0.4", port)], None);
    // ClientIP affinity over round robin: where a client lands first depends
    // on the rotation, so only kept state keeps it there.
    let sticky = service("sticky", &[addr("127.0.0.2", port), addr("127.0.0.3", port), addr("127.0.0.4", port)])
        .replace("spec:\n  ports:", "spec:\n  sessionAffinity: ClientIP\n  ports:");
    let base = sticky + &ingress("sticky", "sticky.example.com", "/", "sticky", &[]);
    let other = |n: u32| {
        service("other", &[addr("127.0.0.2", port)])
            + &ingress("other", &format!("other{n}.example.com"), "/", "other", &[])
    };
    let s = Sluice::start(&[("base.yaml", &base), ("other.yaml", &other(0))], &[]);
    let cs = clients(20);
    let mut home = HashMap::new();
    for (ip, c) in &cs {
        let first = get(c, s.http, "sticky.example.com", "/").await.backend;
        home.insert(*ip, first);
    }
    let distinct: HashSet<_> = home.values().collect();
    assert!(distinct.len() > 1, "clients spread over the endpoints");
    let admin = client();
    for n in 1..=5u32 {
        write(&s.path(), "other.yaml", &other(n));
        wait_generation(&admin, &s, u64::from(n) + 1).await;
        for (ip, c) in &cs {
            for _ in 0..3 {
                assert_eq!(
                    get(c, s.http, "sticky.example.com", "/").await.backend,
                    home[ip],
                    "{ip} moved after swap {n}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_affinity_keeps_a_session_on_one_backend() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let _a = echo("a", &[addr("127.0.0.2", port)], None);
    let _b = echo("b", &[addr("127.0.0.3", port)], None);
    let manifests = service("web", &[addr("127.0.0.2", port), addr("127.0.0.3", port)])
        + &ingress(
            "web",
            "shop.example.com",
            "/",
            "web",
            &[
                ("affinity", "cookie"),
                ("affinity-mode", "persistent"),
                ("session-cookie-name", "route"),
                ("session-cookie-max-age", "600"),
            ],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    // curl with a cookie jar, as a user would check it.
    let jar = s.path().join(".jar");
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-D", "-", "-o", "/dev/null", "-H", "Host: shop.example.com"])
            .args(args)
            .arg(format!("http://{}/", s.http))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    let first = curl(&["-c", jar.to_str().unwrap()]);
    assert!(first.contains("set-cookie: route="), "{first}");
    assert!(first.contains("max-age=600"), "{first}");
    let backend = |head: &str| head.lines().find_map(|l| l.strip_prefix("x-backend: ")).map(|b| b.trim().to_owned());
    let home = backend(&first).unwrap();
    for _ in 0..20 {
        let again = curl(&["-b", jar.to_str().unwrap()]);
        assert_eq!(backend(&again).as_deref(), Some(home.as_str()));
        assert!(!again.contains("set-cookie"), "an existing session is not re-issued");
    }
}
