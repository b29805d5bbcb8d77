//! The L7 proxy loop at the edges of an exchange, with curl or
//! raw sockets as the client: a request body sent chunked behind `Expect:
//! 100-continue`, a response larger than any buffer, a pooled upstream
//! connection the upstream closed while it was idle (retried on a fresh
//! connection, not failed), a WebSocket bridged both ways, a chunked answer
//! with trailers, an upstream closing mid-body, pipelined requests, the
//! client's hop-by-hop fields, and header names' case both ways.

mod common;
use common::*;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-sS", "--max-time", "10"]).args(args).output().expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An echo upstream and Sluice (with `extra` flags) routing `web.test` to it.
fn through_sluice_to_echo(extra: &[&str]) -> (Proc, Sluice) {
    let port = free_port(&["127.0.0.2"]);
    let up: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let upstream = echo("blue", &[up], None);
    let manifests = service("blue", &[up]) + &ingress("web", "web.test", "/", "blue", &[]);
    (upstream, Sluice::start(&[("all.yaml", &manifests)], extra))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_both_ways_and_the_forwarded_headers() {
    let (_b, s) = through_sluice_to_echo(&[]);
    let url = format!("http://{}/upload?x=1", s.http);

    // 3 MB sent chunked, behind Expect: 100-continue: answered here, the body reaches the upstream whole.
    let mut body = tempfile::NamedTempFile::new().unwrap();
    body.write_all(&vec![b'a'; 3_000_000]).unwrap();
    let data = format!("@{}", body.path().display());
    let answer = curl(&[
        "-H",
        "Host: web.test",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &data,
        &url,
    ]);
    let echoed: serde_json::Value = serde_json::from_str(&answer).expect("the upstream's JSON");
    assert_eq!(echoed["bodyBytes"], 3_000_000);
    assert_eq!(echoed["uri"], "/upload?x=1");
    assert_eq!(echoed["headers"]["x-real-ip"][0], "127.0.0.1");
    assert_eq!(echoed["headers"]["x-original-uri"][0], "/upload?x=1");
    assert!(echoed["headers"]["expect"].is_null(), "Expect is answered by the proxy, not passed on");

    // A response far larger than any buffer arrives whole.
    let size = curl(&[
        "-H",
        "Host: web.test",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download} %{http_code}",
        &format!("http://{}/size/5000000", s.http),
    ]);
    assert_eq!(size, "5000000 200");
    // And what matches no route is 404, from the proxy.
    let missing = curl(&["-H", "Host: nowhere.test", "-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!(missing, "404");
}

/// Reads from `stream` into `read` until it holds a whole request head: the
/// head's length, `None` when the stream ends first.
async fn read_head(stream: &mut tokio::net::TcpStream, read: &mut Vec<u8>) -> Option<usize> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end + 4);
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
    }
}

/// An upstream that answers one request a connection and then closes it,
/// as an upstream whose keep-alive timeout ran out would: the proxy has
/// pooled it by then, and finds it stale when it next uses it. The answer
/// is `ok:` and the request body it read (by its Content-Length). Each
/// close is sent on `closed`.
async fn closing_upstream(connections: Arc<AtomicUsize>, closed: tokio::sync::mpsc::UnboundedSender<()>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            connections.fetch_add(1, Ordering::SeqCst);
            let closed = closed.clone();
            tokio::spawn(async move {
                let mut read = Vec::new();
                let Some(head_end) = read_head(&mut stream, &mut read).await else { return };
                let mut buf = [0u8; 4096];
                let head = String::from_utf8_lossy(&read[..head_end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                while read.len() < head_end + length {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read.extend_from_slice(&buf[..n]),
                    }
                }
                let body = [&b"ok:"[..], &read[head_end..head_end + length]].concat();
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nx-backend: closing\r\n\r\n", body.len());
                let _ = stream.write_all(&[head.as_bytes(), &body].concat()).await;
                drop(stream);
                let _ = closed.send(());
            });
        }
    });
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_retried_on_a_fresh_one() {
    let connections = Arc::new(AtomicUsize::new(0));
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let up = closing_upstream(connections.clone(), closed_tx).await;
    // No retries to other endpoints: only the stale-connection retry can save the request.
    let manifests =
        service("closing", &[up]) + &ingress("web", "web.test", "/", "closing", &[("proxy-next-upstream", "off")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--threads", "1"]);
    for i in 0..5 {
        let r = get(&client(), s.http, "web.test", "/").await;
        assert_eq!((r.status, r.backend.as_str()), (200, "closing"), "request {i}; log:\n{}", s.log());
        // The upstream has closed the connection the proxy pooled.
        closed.recv().await.expect("the upstream closes each connection");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 5, "each request on a connection of its own in the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_goes_again_with_the_retry_of_a_stale_pooled_connection() {
    let connections = Arc::new(AtomicUsize::new(0));
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let up = closing_upstream(connections.clone(), closed_tx).await;
    let annotations = [("proxy-next-upstream", "off"), ("proxy-read-timeout", "3")];
    let manifests = service("closing", &[up]) + &ingress("web", "web.test", "/", "closing", &annotations);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--threads", "1"]);
    for i in 0..3 {
        // PUT is idempotent: its retry on a fresh connection must carry the body again.
        let body = format!("body of request {i}");
        let r = send(&client(), s.http, "PUT", "web.test", "/", &[], body.clone().into_bytes()).await.unwrap();
        assert_eq!(r.status, 200, "request {i}; log:\n{}", s.log());
        assert_eq!(String::from_utf8_lossy(&r.body), format!("ok:{body}"), "request {i}");
        closed.recv().await.expect("the upstream closes each connection");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_upgraded_and_bridged() {
    let (_b, s) = through_sluice_to_echo(&[]);
    websocket_round_trips(&s, "web.test").await;
}

/// An upstream that answers every request on a connection with `answer`
/// (after reading the request head), then closes the connection if
/// `close_after`.
async fn scripted_upstream(answer: &'static [u8], close_after: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if stream.write_all(answer).await.is_err() || close_after {
                            return;
                        }
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_answer_with_trailers_reaches_an_http1_client_whole_and_without_them() {
    let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n\
        5\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nx-checksum: 1234\r\n\r\n";
    let up = scripted_upstream(answer, false).await;
    let manifests = service("chunky", &[up]) + &ingress("web", "web.test", "/", "chunky", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let url = format!("http://{}/", s.http);
    // Two requests on one client connection: the first answer ended cleanly.
    let out = curl(&["-i", "-H", "Host: web.test", &url, &url, "-w", "[%{num_connects}]"]);
    assert_eq!(out.matches("hello world!").count(), 2, "{out}");
    assert!(
        !out.to_ascii_lowercase().contains("x-checksum: 1234"),
        "an HTTP/1 client gets no trailers, as from nginx: {out}"
    );
    assert!(out.ends_with("[0]"), "the second request reused the client connection: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_mid_body_gives_the_client_a_broken_answer_not_a_short_one() {
    let up = scripted_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nonly this", true).await;
    let manifests = service("short", &[up]) + &ingress("web", "web.test", "/", "short", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o", "/dev/null", "-H", "Host: web.test", &format!("http://{}/", s.http)])
        .output()
        .unwrap();
    // curl's 18: the transfer closed with bytes remaining.
    assert_eq!(out.status.code(), Some(18), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let (_b, s) = through_sluice_to_echo(&[]);
    let mut conn = tokio::net::TcpStream::connect(s.http).await.unwrap();
    let requests = "GET /first HTTP/1.1\r\nHost: web.test\r\n\r\n\
        POST /second HTTP/1.1\r\nHost: web.test\r\nContent-Length: 4\r\n\r\nbody\
        GET /third HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n";
    conn.write_all(requests.as_bytes()).await.unwrap();
    let mut answers = String::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_to_string(&mut answers));
    read.await.expect("the proxy closes after the third answer").unwrap();
    assert_eq!(answers.matches("HTTP/1.1 200").count(), 3, "{answers}");
    let at = |uri: &str| answers.find(&format!("\"uri\":\"{uri}\"")).unwrap_or_else(|| panic!("{uri} in {answers}"));
    assert!(at("/first") < at("/second") && at("/second") < at("/third"), "{answers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_fields_stay_with_the_client() {
    let (_b, s) = through_sluice_to_echo(&[]);
    let url = format!("http://{}/", s.http);
    let headers = ["Connection: keep-alive, X-Session", "X-Session: secret", "Keep-Alive: timeout=5", "X-Kept: 1"];
    let args: Vec<&str> = headers.iter().flat_map(|h| ["-H", h]).chain(["-H", "Host: web.test", &url]).collect();
    let echoed: serde_json::Value = serde_json::from_str(&curl(&args)).unwrap();
    let seen = &echoed["headers"];
    assert!(seen["x-session"].is_null() && seen["keep-alive"].is_null(), "{seen}");
    assert_eq!(seen["x-kept"][0], "1");
    // A field the proxy sets cannot be nominated away.
    let refused = curl(&[
        "-H",
        "Connection: X-Forwarded-For",
        "-H",
        "Host: web.test",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url,
    ]);
    assert_eq!(refused, "400");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_share_one_upstream_connection_and_it_is_counted() {
    let (_b, s) = through_sluice_to_echo(&["--threads", "1"]);
    let c = client();
    for _ in 0..20 {
        assert_eq!(get(&c, s.http, "web.test", "/").await.status, 200);
    }
    let text = metrics(&s).await;
    assert!(text.contains("sluice_upstream_connections_opened_total 1\n"), "{text}");
}

/// An upstream that sends each request head it reads to the channel, then
/// answers with a header named in mixed case and closes.
async fn head_keeping_upstream() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let (heads, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let _ = read_head(&mut stream, &mut head).await;
            let _ = heads.send(String::from_utf8_lossy(&head).into_owned());
            let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Upstream-Case: v\r\nConnection: close\r\n\r\nok";
            let _ = stream.write_all(answer).await;
        }
    });
    (at, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_names_keep_their_case_when_asked_and_are_lowercase_otherwise() {
    for preserve in [false, true] {
        let (up, mut heads) = head_keeping_upstream().await;
        let manifests = service("cased", &[up]) + &ingress("web", "web.test", "/", "cased", &[]);
        let flags: &[&str] = if preserve { &["--preserve-header-case"] } else { &[] };
        let s = Sluice::start(&[("all.yaml", &manifests)], flags);
        let url = format!("http://{}/", s.http);
        let answer = curl(&["-i", "-H", "Host: web.test", "-H", "X-MiXed-Case: 1", &url]);
        let head = tokio::time::timeout(std::time::Duration::from_secs(10), heads.recv()).await.unwrap().unwrap();
        let (to_upstream, to_client) = if preserve {
            ("X-MiXed-Case: 1", "X-Upstream-Case: v")
        } else {
            ("x-mixed-case: 1", "x-upstream-case: v")
        };
        assert!(head.contains(&format!("\r\n{to_upstream}\r\n")), "preserve {preserve}: {head}");
        assert!(answer.contains(&format!("\r\n{to_client}\r\n")), "preserve {preserve}: {answer}");
        // The common names are title-cased either way, as most servers write them.
        assert!(head.contains("\r\nHost: web.test\r\n"), "{head}");
        assert!(answer.contains("\r\nContent-Length: 2\r\n"), "{answer}");
    }
}
