//! Hostile HTTP against `sluice run`, as raw bytes on a socket: a path rule
//! cannot be bypassed by spelling the path another way, a smuggled request
//! never reaches an upstream, oversized or malformed heads are refused
//! before routing with the status nginx users expect.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// An upstream that answers nothing and counts the connections that sent
/// it any byte: what must never be reached.
fn tripwire() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut byte = [0u8; 1];
            if conn.read(&mut byte).is_ok_and(|n| n > 0) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (addr, hits)
}

/// Sends `bytes` on a new connection; everything the proxy answers until it
/// closes or goes quiet for two seconds.
fn exchange(proxy: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(proxy).unwrap();
    let _ = s.write_all(bytes);
    read_until_closed(&mut s, Duration::from_secs(2))
}

/// Everything the proxy sends until it closes or goes quiet for `quiet`.
fn read_until_closed(s: &mut TcpStream, quiet: Duration) -> String {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn statuses(answer: &str) -> Vec<&str> {
    answer.lines().filter_map(|l| l.strip_prefix("HTTP/1.1 ")).map(|l| &l[..3]).collect()
}

fn backend(answer: &str) -> Option<&str> {
    answer.lines().find_map(|l| l.strip_prefix("x-backend: ")).map(str::trim)
}

#[test]
fn hostile_requests_are_refused_or_routed_as_nginx_would() {
    let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
    let (pub_port, internal_port) = (free_port(&["127.0.0.1"]), free_port(&["127.0.0.1"]));
    let _pub = echo("pub", &[addr(pub_port)], None);
    let _internal = echo("internal", &[addr(internal_port)], None);
    let (secret, secret_hits) = tripwire();
    let manifests = [
        service("pub", &[addr(pub_port)]),
        service("internal", &[addr(internal_port)]),
        service("secret", &[secret]),
        ingress("pub", "h.test", "/api", "pub", &[]),
        ingress("internal", "h.test", "/api/internal", "internal", &[]),
        ingress("secret", "h.test", "/secret", "secret", &[]),
    ]
    .concat();
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let get = |target: &str| {
        exchange(s.http, format!("GET {target} HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n").as_bytes())
    };
    wait_until_routed(&get);

    // Every spelling of /api/internal is routed by the /api/internal rule.
    for target in [
        "/api/internal/x",
        "/api/public/../internal/x",
        "/api/%2e%2e/api/internal/x",
        "/api//internal/x",
        "/api/./internal/x",
        "/api/%69nternal/x",
    ] {
        let answer = get(target);
        assert_eq!((statuses(&answer), backend(&answer)), (vec!["200"], Some("internal")), "{target}:\n{answer}");
    }
    // Paths that cannot be normalised are refused, as nginx does.
    for target in ["/..", "/api/../../secret", "/api/%zz", "/api/%00"] {
        assert_eq!(statuses(&get(target)), ["400"], "{target}");
    }

    // Request smuggling: Content-Length with Transfer-Encoding (either
    // order), duplicate or obfuscated framing. The hidden request to /secret
    // is never forwarded.
    let hidden = "GET /secret/x HTTP/1.1\r\nHost: h.test\r\n\r\n";
    let smuggling = [
        format!(
            "POST /api/x HTTP/1.1\r\nHost: h.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"
        ),
        format!(
            "POST /api/x HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\n{hidden}"
        ),
        format!("POST /api/x HTTP/1.1\r\nHost: h.test\r\nContent-Length: 0\r\nContent-Length: 39\r\n\r\n{hidden}"),
        format!(
            "POST /api/x HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: xchunked\r\nContent-Length: 39\r\n\r\n{hidden}"
        ),
        format!("POST /api/x HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{hidden}"),
    ];
    for (i, request) in smuggling.iter().enumerate() {
        let answer = exchange(s.http, request.as_bytes());
        let st = statuses(&answer);
        assert!(st == ["200"] || st == ["400"], "case {i}: {answer}");
    }
    assert_eq!(secret_hits.load(Ordering::SeqCst), 0, "a smuggled request reached the upstream");

    // Oversized and malformed heads: refused before any upstream sees them.
    let long_target = format!("/api/{}", "a".repeat(9000));
    let answer = get(&long_target);
    assert_eq!(statuses(&answer), ["414"], "{answer}");
    let big = format!("GET /api/x HTTP/1.1\r\nHost: h.test\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000));
    let answer = exchange(s.http, big.as_bytes());
    assert_eq!((statuses(&answer), backend(&answer)), (vec!["431"], None), "{answer}");
    for host in ["h.test/../secret", "user@h.test", "h.test\\secret"] {
        let answer = exchange(s.http, format!("GET /secret/x HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(statuses(&answer), ["400"], "{host}: {answer}");
    }
    let answer = exchange(s.http, b"GET /secret/x HTTP/1.1\r\nHost: h.test\r\nHost: other\r\n\r\n");
    assert_eq!(statuses(&answer), ["400"], "two Host headers: {answer}");
    assert_eq!(secret_hits.load(Ordering::SeqCst), 0);
}

fn wait_until_routed(get: &impl Fn(&str) -> String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while backend(&get("/api/x")) != Some("pub") {
        assert!(std::time::Instant::now() < deadline, "routes never served");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes `bytes` one at a time, `gap` apart; how long the proxy let it go on
/// (it stops at the first write that fails or when all are written).
fn trickle(s: &mut TcpStream, bytes: &[u8], gap: Duration) -> Duration {
    let started = std::time::Instant::now();
    for b in bytes {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(gap);
    }
    started.elapsed()
}

#[test]
fn slow_heads_and_idle_connections_are_closed_slow_bodies_are_not() {
    let port = free_port(&["127.0.0.1"]);
    let e: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _echo = echo("web", &[e], None);
    let manifests = service("web", &[e]) + &ingress("web", "web.test", "/", "web", &[]);
    let s = Sluice::start(
        &[("all.yaml", &manifests)],
        &["--client-header-timeout-seconds", "1", "--keepalive-timeout-seconds", "1"],
    );

    // Slowloris: a head trickled a byte every 100 ms never completes; the
    // connection is closed about a second after its first byte.
    let mut slow = TcpStream::connect(s.http).unwrap();
    let head = b"GET / HTTP/1.1\r\nHost: web.test\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let lasted = trickle(&mut slow, head, Duration::from_millis(100));
    assert!(lasted < Duration::from_secs(5), "a slow head was let go on for {lasted:?}");
    assert!(
        !statuses(&read_until_closed(&mut slow, Duration::from_secs(10))).contains(&"200"),
        "a slow head was served"
    );

    // A head on time with a slow body (a byte every 300 ms, 2.4 s in all):
    // the body is not held to the head's deadline.
    let mut upload = TcpStream::connect(s.http).unwrap();
    upload.write_all(b"POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 8\r\nConnection: close\r\n\r\n").unwrap();
    trickle(&mut upload, b"12345678", Duration::from_millis(300));
    let answer = read_until_closed(&mut upload, Duration::from_secs(10));
    assert_eq!(statuses(&answer), ["200"], "{answer}");

    // An idle keep-alive connection is closed after the keep-alive timeout.
    let mut idle = TcpStream::connect(s.http).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n").unwrap();
    let started = std::time::Instant::now();
    let answer = read_until_closed(&mut idle, Duration::from_secs(10));
    assert_eq!(statuses(&answer), ["200"], "{answer}");
    let idled = started.elapsed();
    assert!(idled >= Duration::from_millis(900) && idled < Duration::from_secs(5), "closed after {idled:?}");
}
