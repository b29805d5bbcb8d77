//! Faults under load: while concurrent clients keep GETs flowing, an
//! upstream is killed, one hangs, one resets mid-response, the API server
//! goes away for a minute, and a manifest file is caught half-written. No
//! idempotent request that a retry can save may fail; what cannot be saved
//! fails visibly (502, 504, a truncated body), bounded in time, and
//! Sluice keeps serving.

mod common;
#[path = "../controller/tests/fake_api/mod.rs"]
mod fake_api;
#[path = "common/kube_api.rs"]
mod kube_api;

use common::*;
use kube_api::{INGRESSES, api_with_services, ingress as kube_ingress, kubeconfig, serve_api};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::{JoinHandle, JoinSet};

fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

// ---------------------------------------------------------------------------
// Steady load: `tasks` clients looping GETs (a short pause between two) until
// stopped, each request bounded by a 10 s deadline so a hang is a failure.

#[derive(Default)]
struct Tally {
    served: u64,
    failures: Vec<String>,
    /// (phase, x-backend) -> answers.
    backends: BTreeMap<(u32, String), u64>,
    slowest: Duration,
}

struct Load {
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicU32>,
    tasks: Vec<JoinHandle<Tally>>,
}

fn load(to: SocketAddr, host: &'static str, tasks: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicU32::new(0));
    let c = client();
    let tasks = (0..tasks)
        .map(|_| {
            let (c, stop, phase) = (c.clone(), stop.clone(), phase.clone());
            tokio::spawn(async move {
                let mut t = Tally::default();
                while !stop.load(Ordering::Relaxed) {
                    let p = phase.load(Ordering::Relaxed);
                    let started = Instant::now();
                    let r = tokio::time::timeout(Duration::from_secs(10), send(&c, to, "GET", host, "/", &[], vec![]))
                        .await;
                    let took = started.elapsed();
                    t.slowest = t.slowest.max(took);
                    match r {
                        Ok(Ok(r)) if r.status == 200 => {
                            t.served += 1;
                            *t.backends.entry((p, r.backend)).or_default() += 1;
                        }
                        Ok(Ok(r)) => t.failures.push(format!("GET {host}: status {} after {took:?}", r.status)),
                        Ok(Err(e)) => t.failures.push(format!("GET {host}: {e} after {took:?}")),
                        Err(_) => t.failures.push(format!("GET {host}: no answer in 10 s")),
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                t
            })
        })
        .collect();
    Load { stop, phase, tasks }
}

impl Load {
    fn next_phase(&self) {
        self.phase.fetch_add(1, Ordering::Relaxed);
    }

    async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for t in self.tasks {
            let t = t.await.unwrap();
            all.served += t.served;
            all.failures.extend(t.failures);
            for (k, v) in t.backends {
                *all.backends.entry(k).or_default() += v;
            }
            all.slowest = all.slowest.max(t.slowest);
        }
        all
    }
}

/// Asserts that the load lost nothing and kept flowing.
fn assert_no_failures(what: &str, t: &Tally, s: &Sluice, min_served: u64) {
    eprintln!(
        "{what}: {} served, {} failed, slowest {:?}, backends by phase {:?}",
        t.served,
        t.failures.len(),
        t.slowest,
        t.backends
    );
    assert!(
        t.failures.is_empty(),
        "{what}: {} of {} requests failed; first ones: {:#?}\nsluice log:\n{}",
        t.failures.len(),
        t.served + t.failures.len() as u64,
        &t.failures[..t.failures.len().min(20)],
        s.log()
    );
    assert!(t.served >= min_served, "{what}: the load kept requests flowing ({} served)", t.served);
}

/// The metric lines that mention `cluster`, for the report.
fn metric_lines(text: &str, cluster: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(cluster) && (l.contains("retries") || l.contains("ejections")))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 upstream on loopback, to misbehave in ways a real server
// does: it records every request head it reads (method and x-request-id).

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// 200 with `x-backend: NAME` and body `ok`, keep-alive.
    Answer,
    /// Reads the request (and whatever follows) and never answers.
    Hang,
    /// Reads the request head, then resets the connection (SO_LINGER 0, close).
    ResetBeforeAnswer,
    /// Sends the status line, headers (Content-Length 1000) and 100 bytes of
    /// body, then resets the connection.
    ResetMidBody,
}

struct RawUpstream {
    seen: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawUpstream {
    async fn start(at: SocketAddr, name: &'static str, mode: Mode) -> RawUpstream {
        let listener = tokio::net::TcpListener::bind(at).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let task = tokio::spawn(async move {
            // Dropped (the accept task aborted): every connection ends with it.
            let mut conns = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                conns.spawn(serve_raw(stream, name, mode, recorded.clone()));
                while conns.try_join_next().is_some() {}
            }
        });
        RawUpstream { seen, task }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// Closes with a TCP RST instead of a FIN.
fn reset(stream: tokio::net::TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn read_more(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

async fn serve_raw(mut stream: tokio::net::TcpStream, name: &str, mode: Mode, seen: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !read_more(&mut stream, &mut buf).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let method = head.split(' ').next().unwrap_or("").to_owned();
        seen.lock().unwrap().push(format!("{method} {}", header(&head, "x-request-id").unwrap_or_default()));
        match mode {
            Mode::Hang => {
                while read_more(&mut stream, &mut buf).await {
                    buf.clear();
                }
                return;
            }
            Mode::ResetBeforeAnswer => return reset(stream),
            Mode::Answer | Mode::ResetMidBody => {}
        }
        // The request body: Content-Length, or chunked up to its last chunk.
        if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let end = loop {
                if let Some(i) = find(&buf, b"0\r\n\r\n") {
                    break i + 5;
                }
                if !read_more(&mut stream, &mut buf).await {
                    return;
                }
            };
            buf.drain(..end);
        } else {
            let len: usize = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            while buf.len() < len {
                if !read_more(&mut stream, &mut buf).await {
                    return;
                }
            }
            buf.drain(..len);
        }
        if mode == Mode::ResetMidBody {
            let part =
                format!("HTTP/1.1 200 OK\r\nx-backend: {name}\r\ncontent-length: 1000\r\n\r\n{}", "x".repeat(100));
            let _ = stream.write_all(part.as_bytes()).await;
            let _ = stream.flush().await;
            // Long enough for the proxy to have read (and forwarded) the part.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return reset(stream);
        }
        let answer = format!("HTTP/1.1 200 OK\r\nx-backend: {name}\r\ncontent-length: 2\r\n\r\nok");
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// 1. An upstream killed under load.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_killed_under_load_fails_no_get() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green) = (addr("127.0.0.2", port), addr("127.0.0.3", port));
    let _blue = echo("blue", &[blue], None);
    let mut green_proc = echo("green", &[green], None);
    let manifests = service("web", &[blue, green]) + &ingress("web", "web.example.com", "/", "web", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);

    let l = load(s.http, "web.example.com", 16);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // SIGKILL by PID: the process dies with requests in flight on its connections.
    let pid = green_proc.0.id();
    green_proc.0.kill().unwrap();
    green_proc.0.wait().unwrap();
    let killed = Instant::now();
    eprintln!("killed green (pid {pid}) under load");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // From here on only blue can answer; the run spans the 10 s ejection, so
    // the dead endpoint is tried again (and refused) under load.
    l.next_phase();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let t = l.finish().await;
    eprintln!("load ran {:?} after the kill", killed.elapsed());
    assert_no_failures("upstream killed", &t, &s, 2000);
    assert!(
        t.backends.get(&(0, "green".into())).is_some_and(|n| *n > 0),
        "both served before the kill: {:?}",
        t.backends
    );
    let after: Vec<_> = t.backends.iter().filter(|((p, _), _)| *p == 1).collect();
    assert!(
        !after.is_empty() && after.iter().all(|((_, b), _)| b == "blue"),
        "after the kill every answer comes from the survivor: {after:?}"
    );
    let c = client();
    for i in 0..50 {
        let r = get(&c, s.http, "web.example.com", "/").await;
        assert_eq!((r.status, r.backend.as_str()), (200, "blue"), "request {i} after the load");
    }
    eprintln!("{}", metric_lines(&metrics(&s).await, "default/web:80"));
}

// ---------------------------------------------------------------------------
// 2. An upstream that hangs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_is_retried_on_timeout_and_alone_gives_a_bounded_504() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (ok, stuck) = (addr("127.0.0.2", port), addr("127.0.0.3", port));
    let _ok = echo("ok", &[ok], None);
    let hang = RawUpstream::start(stuck, "hang", Mode::Hang).await;
    let timeout = [("proxy-read-timeout", "1")];
    let manifests = service("web", &[ok, stuck])
        + &service("stuck", &[stuck])
        + &ingress("web", "web.example.com", "/", "web", &timeout)
        + &ingress("stuck", "stuck.example.com", "/", "stuck", &timeout);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);

    let l = load(s.http, "web.example.com", 16);
    // Long enough to see the hanging endpoint ejected and, 10 s later, tried again.
    tokio::time::sleep(Duration::from_secs(13)).await;
    let t = l.finish().await;
    assert_no_failures("upstream hangs", &t, &s, 2000);
    let hung = hang.seen().len();
    assert!(hung >= 2, "the hanging upstream was tried under load ({hung} requests)");
    assert!(t.slowest < Duration::from_secs(3), "a retried GET waits one 1 s read timeout, not more: {:?}", t.slowest);

    // Alone, the hanging endpoint gives 504 once the read timeout passes.
    let c = client();
    let mut alone = Vec::new();
    for _ in 0..4 {
        let c = c.clone();
        let to = s.http;
        alone.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = tokio::time::timeout(
                Duration::from_secs(10),
                send(&c, to, "GET", "stuck.example.com", "/", &[], vec![]),
            )
            .await;
            (r.map(|r| r.map(|r| r.status)), started.elapsed())
        }));
    }
    for a in alone {
        let (r, took) = a.await.unwrap();
        assert_eq!(r, Ok(Ok(504)), "the hanging endpoint alone: 504 (after {took:?})");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
            "504 after the 1 s read timeout, not a hang: {took:?}"
        );
    }
    eprintln!("{}", metric_lines(&metrics(&s).await, ":80"));
}

// ---------------------------------------------------------------------------
// 3. An upstream that resets, before answering or in the middle of the body.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_reset_is_retried_for_get_and_not_for_post_and_a_torn_body_is_not_a_200() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]);
    let ok = addr("127.0.0.2", port);
    let _ok = echo("ok", &[ok], None);
    let reset_get = RawUpstream::start(addr("127.0.0.3", port), "reset", Mode::ResetBeforeAnswer).await;
    let torn = RawUpstream::start(addr("127.0.0.4", port), "torn", Mode::ResetMidBody).await;
    let reset_post = RawUpstream::start(addr("127.0.0.5", port), "reset-post", Mode::ResetBeforeAnswer).await;
    let counting = RawUpstream::start(addr("127.0.0.6", port), "counting", Mode::Answer).await;
    let manifests = service("web", &[ok, addr("127.0.0.3", port)])
        + &service("torn", &[addr("127.0.0.4", port)])
        + &service("orders", &[addr("127.0.0.5", port), addr("127.0.0.6", port)])
        + &ingress("web", "web.example.com", "/", "web", &[])
        + &ingress("torn", "torn.example.com", "/", "torn", &[])
        + &ingress("orders", "orders.example.com", "/", "orders", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);

    let l = load(s.http, "web.example.com", 12);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A response torn after its head: the client sees a failed body, never a
    // 200 whose short body passes for complete, and never a hang.
    let c = client();
    for i in 0..10 {
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            send(&c, s.http, "GET", "torn.example.com", "/", &[], vec![]),
        )
        .await;
        let took = started.elapsed();
        match r {
            Err(_) => panic!("torn request {i}: no end in 10 s (a hang)"),
            Ok(Ok(r)) if r.status == 200 => panic!(
                "torn request {i}: a 200 with a {}-byte body taken as complete (the upstream promised 1000 and reset after 100)\n{}",
                r.body.len(),
                s.log()
            ),
            Ok(Ok(r)) => assert_eq!(r.status, 502, "torn request {i}: a failure status is a 502"),
            Ok(Err(e)) => eprintln!("torn request {i}: failed as it should after {took:?}: {e}"),
        }
        assert!(took < Duration::from_secs(3), "torn request {i}: bounded: {took:?}");
    }
    assert!(!torn.seen().is_empty(), "the torn upstream was reached");
    // ...and the next requests are served.
    for i in 0..20 {
        let r = get(&client(), s.http, "web.example.com", "/").await;
        assert_eq!(r.status, 200, "request {i} after the torn responses");
    }

    // A POST is not idempotent: one that reaches an endpoint resetting before
    // it answers is not sent again, to that endpoint or another: 502.
    let mut refused = Vec::new();
    for i in 0..12 {
        let id = format!("order-{i}");
        let r = send(&c, s.http, "POST", "orders.example.com", "/", &[("x-request-id", &id)], b"order".to_vec())
            .await
            .unwrap();
        match r.status {
            200 => assert_eq!(r.backend, "counting", "{id}"),
            502 => refused.push(id),
            other => panic!("{id}: status {other}"),
        }
    }
    let (to_reset, to_counting) = (reset_post.seen(), counting.seen());
    eprintln!("POSTs: 502 for {refused:?}; the resetting endpoint saw {to_reset:?}; the other {to_counting:?}");
    assert!(!refused.is_empty(), "some POSTs reached the resetting endpoint and got 502");
    for id in &refused {
        let line = format!("POST {id}");
        assert_eq!(to_reset.iter().filter(|l| **l == line).count(), 1, "{id} reached the resetting endpoint once");
        assert!(!to_counting.contains(&line), "{id} was not retried on the other endpoint: {to_counting:?}");
    }
    for (i, line) in to_counting.iter().enumerate() {
        assert!(!to_counting[..i].contains(line), "no POST was sent twice: {to_counting:?}");
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = l.finish().await;
    assert_no_failures("upstream resets", &t, &s, 500);
    assert!(!reset_get.seen().is_empty(), "the resetting endpoint was tried under load");
    eprintln!("{}", metric_lines(&metrics(&s).await, ":80"));
}

// ---------------------------------------------------------------------------
// 4. The API server gone for a minute.

/// Polls until `host` is answered 200 by `backend`; the time it took.
async fn served_by(s: &Sluice, host: &str, backend: &str, within: Duration) -> Duration {
    let c = client();
    let started = Instant::now();
    loop {
        if let Ok(r) = send(&c, s.http, "GET", host, "/", &[], vec![]).await
            && r.status == 200
            && r.backend == backend
        {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{host} never served by {backend} within {within:?}; log:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_gone_for_a_minute_fails_nothing_and_changes_follow_its_return() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green) = (addr("127.0.0.2", port), addr("127.0.0.3", port));
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);
    let api = api_with_services(&[("blue", blue), ("green", green)]);
    api.apply(INGRESSES, kube_ingress("shop", "shop.example", "blue", None));
    let at = addr("127.0.0.1", free_port(&["127.0.0.1"]));
    let server = serve_api(api.clone(), at).await;
    let kubeconfig = kubeconfig(at);
    let s = Sluice::start_kube(&kubeconfig, &[]);
    let c = client();
    wait_generation(&c, &s, 1).await;
    assert_eq!(get(&c, s.http, "shop.example", "/").await.backend, "blue");

    let l = load(s.http, "shop.example", 8);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Gone: the listener closed, every watch stream cut, connections refused.
    server.abort();
    let _ = server.await;
    let gone = Instant::now();
    assert!(std::net::TcpStream::connect_timeout(&at, Duration::from_millis(500)).is_err(), "the API server is gone");
    l.next_phase();
    // A change made while it is away, seen only once it is back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    api.apply(INGRESSES, kube_ingress("extra", "extra.example", "green", None));
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(gone.elapsed())).await;
    let ready_during = get(&c, s.admin, "admin", "/readyz").await.status;
    let server = serve_api(api.clone(), at).await;
    eprintln!("API server back after {:?} (readyz during the outage: {ready_during})", gone.elapsed());
    l.next_phase();

    // kube-runtime's watcher (client-go's policy) backs off exponentially up
    // to 30 s plus up to 100 % jitter: after a minute away, the next attempt
    // may be up to 60 s off.
    let took = served_by(&s, "extra.example", "green", Duration::from_secs(65)).await;
    eprintln!("the change made during the outage served {took:?} after the API server came back");
    let changed = Instant::now();
    api.apply(INGRESSES, kube_ingress("late", "late.example", "green", None));
    let took = served_by(&s, "late.example", "green", Duration::from_secs(10)).await;
    eprintln!("a change made after the return served {took:?} after it was made");
    assert!(changed.elapsed() < Duration::from_secs(10));

    let t = l.finish().await;
    server.abort();
    assert_no_failures("API server gone for a minute", &t, &s, 5000);
    assert!(
        t.backends.get(&(1, "blue".into())).is_some_and(|n| *n > 1000),
        "served throughout the outage: {:?}",
        t.backends
    );
}

// ---------------------------------------------------------------------------
// 5. A manifest directory with a half-written file.

/// Writes `text` to `dir/name` as a careless writer does: open (truncating),
/// the first part, a pause, then the rest. The cut falls inside a flow
/// mapping, so the first part alone is not valid YAML.
async fn write_slowly(dir: &std::path::Path, name: &str, text: &str, pause: Duration, during: impl AsyncFnOnce()) {
    let cut = text.find("backend: {service:").expect("a backend to cut in") + "backend: {serv".len();
    let mut f = std::fs::File::create(dir.join(name)).unwrap();
    f.write_all(&text.as_bytes()[..cut]).unwrap();
    f.flush().unwrap();
    f.sync_data().unwrap();
    let started = Instant::now();
    during().await;
    tokio::time::sleep(pause.saturating_sub(started.elapsed())).await;
    f.write_all(&text.as_bytes()[cut..]).unwrap();
    f.flush().unwrap();
}

/// The error diagnostics on /debug/snapshot that name `object_name`.
async fn errors_naming(s: &Sluice, object_name: &str) -> Vec<Value> {
    let snap = get(&client(), s.admin, "admin", "/debug/snapshot").await.json();
    snap["diagnostics"]
        .as_array()
        .map(|d| d.iter().filter(|d| d["severity"] == "error" && d["object"]["name"] == object_name).cloned().collect())
        .unwrap_or_default()
}

async fn wait_errors_naming(s: &Sluice, object_name: &str, present: bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = errors_naming(s, object_name).await;
        if found.is_empty() != present {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "the diagnostic naming {object_name} never {}; log:\n{}",
            if present { "appeared" } else { "went away" },
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_manifest_fails_nothing_and_serves_once_complete() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (blue, green) = (addr("127.0.0.2", port), addr("127.0.0.3", port));
    let _b = echo("blue", &[blue], None);
    let _g = echo("green", &[green], None);
    let services = service("blue", &[blue]) + &service("green", &[green]);
    let s = Sluice::start(
        &[("svc.yaml", &services), ("ing.yaml", &ingress("web", "a.example.com", "/", "blue", &[]))],
        &[],
    );
    let dir = s.path();
    let l = load(s.http, "a.example.com", 12);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A new file, caught half-written for a second: its diagnostic names it,
    // the rest serves; complete, its route serves.
    let late = ingress("late", "late.example.com", "/", "green", &[]);
    write_slowly(&dir, "late.yaml", &late, Duration::from_secs(1), async || {
        let found = wait_errors_naming(&s, "late.yaml", true).await;
        eprintln!("half-written late.yaml: {found:?}");
        assert_eq!(found[0]["object"]["kind"], "File", "{found:?}");
        assert_eq!(get(&client(), s.http, "late.example.com", "/").await.status, 404, "no route from half a file");
    })
    .await;
    let took = served_by(&s, "late.example.com", "green", Duration::from_secs(5)).await;
    eprintln!("late.yaml complete: served after {took:?}");
    wait_errors_naming(&s, "late.yaml", false).await;

    // The file the load is routed by, rewritten in place (blue -> green) and
    // caught half-written: the last good form serves until it is complete.
    let moved = ingress("web", "a.example.com", "/", "green", &[]);
    write_slowly(&dir, "ing.yaml", &moved, Duration::from_secs(1), async || {
        let found = wait_errors_naming(&s, "ing.yaml", true).await;
        eprintln!("half-written ing.yaml: {found:?}");
        let r = get(&client(), s.http, "a.example.com", "/").await;
        assert_eq!((r.status, r.backend.as_str()), (200, "blue"), "the last good form serves");
    })
    .await;
    let took = served_by(&s, "a.example.com", "green", Duration::from_secs(5)).await;
    eprintln!("ing.yaml complete: served by green after {took:?}");
    l.next_phase();
    wait_errors_naming(&s, "ing.yaml", false).await;

    // A file that stays broken: named, and nothing else is disturbed.
    let broken = ingress("broken", "broken.example.com", "/", "green", &[]);
    let cut = broken.find("backend: {service:").unwrap() + "backend: {serv".len();
    write(&dir, "broken.yaml", &broken[..cut]);
    let found = wait_errors_naming(&s, "broken.yaml", true).await;
    eprintln!("broken.yaml: {found:?}");
    assert_eq!(found[0]["object"]["kind"], "File");
    assert!(found[0]["message"].as_str().unwrap_or("").contains("not valid YAML"), "{found:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!errors_naming(&s, "broken.yaml").await.is_empty(), "the diagnostic stays while the file is broken");
    assert_eq!(get(&client(), s.http, "broken.example.com", "/").await.status, 404);
    assert_eq!(get(&client(), s.http, "late.example.com", "/").await.backend, "green");

    let t = l.finish().await;
    assert_no_failures("half-written manifests", &t, &s, 1000);
    let log = s.log();
    assert!(log.contains("broken.yaml"), "the log names the broken file:\n{log}");
    assert!(
        t.backends.keys().filter(|(p, _)| *p == 1).all(|(_, b)| b == "green"),
        "once ing.yaml is complete its new backend serves: {:?}",
        t.backends
    );
}
