//! The process's lifecycle as an operator drives it: SIGTERM stops accepting
//! and lets requests in flight finish; a binary upgrade (`--upgrade`, then
//! SIGQUIT to the old process) hands every listener over while clients under
//! load see no failed request.

mod common;
use common::*;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill -{name} {pid}");
}

/// Waits (bounded) for a process to exit; its status.
fn exited(p: &mut Proc, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until `addr` refuses connections.
fn refused(addr: SocketAddr, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tcp_services(port: u16, service: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: tcp-services, namespace: ingress}}\ndata:\n  \"{port}\": \"default/{service}:80\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_accepting_and_lets_requests_in_flight_finish() {
    let e = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let _echo = echo("slow", &[e], None);
    let l4 = free_port(&["127.0.0.1"]);
    let manifests = service("slow", &[e]) + &ingress("slow", "slow.test", "/", "slow", &[]) + &tcp_services(l4, "slow");
    let mut s = Sluice::start(
        &[("all.yaml", &manifests)],
        &["--tcp-services-configmap", "ingress/tcp-services", "--l4-bind", "127.0.0.1"],
    );
    let l4 = SocketAddr::from(([127, 0, 0, 1], l4));
    wait_connectable(l4);
    let c = client();
    assert_eq!(get(&c, s.http, "slow.test", "/").await.status, 200);

    let started = Instant::now();
    let in_flight = {
        let (c, to) = (c.clone(), s.http);
        tokio::spawn(async move { send(&c, to, "GET", "slow.test", "/sleep/2000", &[], vec![]).await })
    };
    wait_in_flight(&s, 1).await;
    signal(s.proc.0.id(), "TERM");
    // Every listener stops accepting at once: HTTP, HTTPS and L4 alike.
    for addr in [s.http, s.https, l4] {
        refused(addr, Duration::from_secs(1));
    }
    let r = in_flight.await.unwrap().expect("the request in flight is answered");
    assert_eq!(r.status, 200, "the request in flight finished");
    assert!(started.elapsed() >= Duration::from_secs(2), "answered after its 2 s upstream, not cut short");
    let status = exited(&mut s.proc, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}; log:\n{}", s.log());
}

/// Requests from 8 clients until `stop`, each on a new connection (so the
/// hand-off of the listening socket is exercised) or, for half the clients
/// when `keep_alive`, on a kept-alive one. Returns (answered 200, failures).
fn load(
    to: SocketAddr,
    host: &'static str,
    keep_alive: bool,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let (ok, failures, stop) = (ok.clone(), failures.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let kept = client();
                while !stop.load(Ordering::Relaxed) {
                    let c = if keep_alive && worker % 2 == 1 { kept.clone() } else { client() };
                    match send(&c, to, "GET", host, "/", &[], vec![]).await {
                        Ok(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.lock().unwrap().push(format!("status {}", r.status)),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let failures = failures.lock().unwrap().clone();
        (ok.load(Ordering::Relaxed), failures)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_binary_upgrade_under_load_fails_no_request() {
    let e = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
    let _echo = echo("web", &[e], None);
    let l4 = free_port(&["127.0.0.1"]);
    let manifests = service("web", &[e]) + &ingress("web", "web.test", "/", "web", &[]) + &tcp_services(l4, "web");
    let upgrade_socket = tempfile::tempdir().unwrap();
    let socket = upgrade_socket.path().join("upgrade.sock").display().to_string();
    let flags = ["--tcp-services-configmap", "ingress/tcp-services", "--l4-bind", "127.0.0.1"];
    let mut old = Sluice::start(&[("all.yaml", &manifests)], &[&flags[..], &["--upgrade-socket", &socket]].concat());
    let l4 = SocketAddr::from(([127, 0, 0, 1], l4));
    wait_connectable(l4);

    let stop = Arc::new(AtomicBool::new(false));
    let through_http = load(old.http, "web.test", true, stop.clone());
    // An L4 connection cannot be closed between requests it does not see: one
    // kept open past the old process's grace period ends with it, as under
    // nginx's worker_shutdown_timeout. New connections are what must not fail.
    let through_l4 = load(l4, "web.test", false, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The new binary, with the same flags and --upgrade, then SIGQUIT to the old.
    let log = std::fs::File::create(old.path().join(".new.log")).unwrap();
    let new = Command::new(BIN)
        .args(["run", "--manifests", &old.path().display().to_string(), "--threads", "2"])
        .args(["--http-listen", &old.http.to_string(), "--https-listen", &old.https.to_string()])
        .args(["--admin-listen", &old.admin.to_string(), "--upgrade", "--upgrade-socket", &socket])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut new = Proc(new);
    // The new process is ready for the hand-off once it has bound both
    // sockets, pingora's and the one for Sluice's own listeners (a probe
    // connection would be taken for the old process: only look at the files).
    let bound = |path: String| std::path::Path::new(&path).exists();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(bound(socket.clone()) && bound(format!("{socket}.listeners"))) {
        assert!(Instant::now() < deadline, "the new process never listened on {socket}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signal(old.proc.0.id(), "QUIT");
    let status = tokio::task::block_in_place(|| exited(&mut old.proc, Duration::from_secs(30)));
    let new_log = || std::fs::read_to_string(old.path().join(".new.log")).unwrap_or_default();
    assert!(status.success(), "old exit status {status}; log:\n{}", old.log());
    assert!(new.0.try_wait().unwrap().is_none(), "the new process runs; log:\n{}", new_log());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);

    for (name, load) in [("HTTP", through_http), ("L4", through_l4)] {
        let (ok, failures) = load.await.unwrap();
        assert!(
            failures.is_empty(),
            "{name}: {} of {} failed: {:?}",
            failures.len(),
            ok + failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert!(ok > 100, "{name}: only {ok} requests");
    }
    // Only the new process is left, and it serves on every listener.
    let c = client();
    assert_eq!(get(&c, old.http, "web.test", "/").await.backend, "web");
    assert_eq!(get(&c, l4, "web.test", "/").await.backend, "web");
    let metrics = get(&c, old.admin, "admin", "/metrics").await;
    assert!(
        String::from_utf8_lossy(&metrics.body).contains("sluice_http_requests_total{"),
        "the new process answers on the admin listener and has served requests"
    );
    assert!(new_log().contains("took over the old process's listeners"), "{}", new_log());
}
