//! ingress-nginx's connection handling through the real binary: request
//! buffering, the PROXY protocol, client timeouts, keep-alive limits on
//! both sides and response pacing, as its controller ConfigMap and
//! annotations set them.

mod common;
use common::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the raw upstream saw: connections accepted, request heads read
/// (before their bodies), and each request's bytes as they came.
#[derive(Default)]
struct Upstream {
    connections: AtomicUsize,
    heads: AtomicUsize,
    requests: Mutex<Vec<Vec<u8>>>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The Content-Length of a message head (0 without one).
fn content_length(head: &[u8]) -> usize {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let length = head.lines().find_map(|l| l.strip_prefix("content-length:"));
    length.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// An HTTP/1 upstream that counts connections the moment they open and
/// answers each request (framed by Content-Length) with `200 ok`.
async fn raw_upstream(at: SocketAddr) -> Arc<Upstream> {
    let seen = Arc::new(Upstream::default());
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            record.connections.fetch_add(1, Ordering::SeqCst);
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                loop {
                    let Some(end) = find(&buf, b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let length = content_length(&buf[..end]);
                    record.heads.fetch_add(1, Ordering::SeqCst);
                    while buf.len() < end + 4 + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let rest = buf.split_off(end + 4 + length);
                    record.requests.lock().unwrap().push(std::mem::replace(&mut buf, rest));
                    if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    seen
}

/// Reads one response (head, and a Content-Length body) from `stream`,
/// within 10 s; `None` when the connection closed before one.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let length = content_length(&buf[..end]);
                if buf.len() >= end + 4 + length {
                    return Some(String::from_utf8_lossy(&buf[..end + 4 + length]).into_owned());
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("an answer or a close within 10 s")
}

/// Whether the peer closed `stream` (within 5 s).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
}

/// `proxy-request-buffering` (on by default, as in nginx): the upstream is
/// contacted only once the whole body is in, and gets it with its length;
/// off, the body streams. `client-body-timeout` answers a stalled body 408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_read_whole_before_the_upstream_is_contacted() {
    let port = free_port(&["127.0.0.2", "127.0.0.6"]);
    let seen = raw_upstream(format!("127.0.0.6:{port}").parse().unwrap()).await;
    let manifests = service("raw", &[format!("127.0.0.6:{port}").parse().unwrap()])
        + &ingress("buffered", "b.example.com", "/", "raw", &[])
        + &ingress("streamed", "s.example.com", "/", "raw", &[("proxy-request-buffering", "off")])
        + &ingress("small", "small.example.com", "/", "raw", &[("proxy-body-size", "1k")])
        + &configmap("nginx", &[("client-body-timeout", "1")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--configmap", "default/nginx"]);

    // Chunked from the client, slowly: nothing reaches the upstream until
    // the last chunk, and then the body goes with its length.
    let mut c = TcpStream::connect(s.http).await.unwrap();
    c.write_all(b"POST /orders HTTP/1.1\r\nHost: b.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 0, "the upstream is not contacted while the body arrives");
    assert_eq!(seen.heads.load(Ordering::SeqCst), 0);
    c.write_all(b"6\r\n world\r\n0\r\n\r\n").await.unwrap();
    let answer = read_response(&mut c).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let request = String::from_utf8(seen.requests.lock().unwrap()[0].clone()).unwrap().to_ascii_lowercase();
    assert!(request.contains("content-length: 11\r\n"), "{request}");
    assert!(!request.contains("transfer-encoding"), "{request}");
    assert!(request.ends_with("\r\n\r\nhello world"), "{request}");

    // A body past the memory buffer goes through a temporary file intact.
    let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    let r = send(&client(), s.http, "PUT", "b.example.com", "/big", &[], big.clone()).await.unwrap();
    assert_eq!(r.status, 200);
    let request = seen.requests.lock().unwrap().last().unwrap().clone();
    let at = find(&request, b"\r\n\r\n").unwrap() + 4;
    assert!(request[at..] == big[..], "the upstream got the 300 KiB body byte for byte");

    // Off: the upstream gets the request while its body is on its way.
    let before = seen.heads.load(Ordering::SeqCst);
    let mut c = TcpStream::connect(s.http).await.unwrap();
    c.write_all(b"POST / HTTP/1.1\r\nHost: s.example.com\r\nContent-Length: 11\r\n\r\nhello").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.heads.load(Ordering::SeqCst) == before {
        assert!(Instant::now() < deadline, "with buffering off the upstream is contacted before the body ends");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.write_all(b" world").await.unwrap();
    assert!(read_response(&mut c).await.expect("an answer").starts_with("HTTP/1.1 200"));

    // A declared body over the limit that waits for 100 Continue gets 413
    // instead, and is never sent.
    let mut c = TcpStream::connect(s.http).await.unwrap();
    c.write_all(b"PUT / HTTP/1.1\r\nHost: small.example.com\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut c).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A body that stops coming: 408 after client-body-timeout, and the
    // connection closed; the upstream never hears of it.
    let before = seen.heads.load(Ordering::SeqCst);
    let mut c = TcpStream::connect(s.http).await.unwrap();
    c.write_all(b"POST / HTTP/1.1\r\nHost: b.example.com\r\nContent-Length: 10\r\n\r\nabc").await.unwrap();
    let answer = read_response(&mut c).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed(&mut c).await, "the connection is closed after 408");
    assert_eq!(seen.heads.load(Ordering::SeqCst), before);
}

/// `use-proxy-protocol`: the client is the address the PROXY header names
/// (v1 and v2), for the source ranges and the upstream's X-Real-IP; a
/// connection without the header is closed unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_names_the_client() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &ingress("ranged", "ranged.example.com", "/", "shop", &[("whitelist-source-range", "203.0.113.0/24")])
        + &configmap("nginx", &[("use-proxy-protocol", "true")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--configmap", "default/nginx"]);
    let errors = || async {
        let metrics = metrics(&s).await;
        let line =
            metrics.lines().find(|l| l.starts_with("sluice_http_proxy_protocol_errors_total")).map(str::to_owned);
        line.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).unwrap_or(0)
    };
    let request = b"GET /who HTTP/1.1\r\nHost: ranged.example.com\r\nConnection: close\r\n\r\n";

    let mut c = TcpStream::connect(s.http).await.unwrap();
    let mut v1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 80\r\n".to_vec();
    v1.extend_from_slice(request);
    c.write_all(&v1).await.unwrap();
    let answer = read_response(&mut c).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["headers"]["x-real-ip"][0], "203.0.113.7");
    assert_eq!(body["headers"]["x-forwarded-for"][0], "203.0.113.7");

    let mut c = TcpStream::connect(s.http).await.unwrap();
    let client: SocketAddr = "198.51.100.9:40000".parse().unwrap();
    let mut v2 = sluice_proxy::l4::proxy_protocol::encode(
        sluice_config::ProxyProtocolVersion::V2,
        client,
        "192.0.2.1:80".parse().unwrap(),
    );
    v2.extend_from_slice(request);
    c.write_all(&v2).await.unwrap();
    let answer = read_response(&mut c).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 403"), "198.51.100.9 is outside the allowlist: {answer}");

    let before = errors().await;
    let mut c = TcpStream::connect(s.http).await.unwrap();
    c.write_all(request).await.unwrap();
    assert_eq!(read_response(&mut c).await, None, "no PROXY header: closed without an answer");
    assert_eq!(errors().await, before + 1, "and counted");
}

/// `keep-alive-requests` closes a client connection after that many
/// requests; `upstream-keepalive-requests` an upstream one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_request_limits_on_both_sides() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let cm =
        [("keep-alive-requests", "2"), ("upstream-keepalive-requests", "2"), ("large-client-header-buffers", "2 16k")];
    let manifests = manifests + &configmap("nginx", &cm);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--configmap", "default/nginx", "--threads", "1"]);
    let mut c = TcpStream::connect(s.http).await.unwrap();
    let mut peers = Vec::new();
    for n in 1..=2 {
        c.write_all(b"GET / HTTP/1.1\r\nHost: shop.example.com\r\n\r\n").await.unwrap();
        let answer = read_response(&mut c).await.expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(answer.to_ascii_lowercase().contains("connection: close"), n == 2, "request {n}: {answer}");
        let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        peers.push(body["peer"].as_str().unwrap().to_owned());
    }
    assert!(closed(&mut c).await, "closed after its second request");
    let r = get(&client(), s.http, "shop.example.com", "/").await;
    peers.push(r.json()["peer"].as_str().unwrap().to_owned());
    assert_eq!(peers[0], peers[1], "the upstream connection carries two requests");
    assert_ne!(peers[1], peers[2], "and is then closed: the third request opens another");

    // large-client-header-buffers "2 16k": a 12 KiB target passes (8k by
    // default), 40 KiB of headers do not.
    let long = format!("/{}", "a".repeat(12 * 1024));
    assert_eq!(get(&client(), s.http, "shop.example.com", &long).await.status, 200);
    let big = "b".repeat(40 * 1024);
    let r = send(&client(), s.http, "GET", "shop.example.com", "/", &[("x-big", big.as_str())], vec![]).await;
    assert_eq!(r.unwrap().status, 431);
}

/// `limit-rate` / `limit-rate-after` pace each answer; and
/// `connection-proxy-header` is the upstream's `Connection`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_rate_paces_answers_and_connection_header_reaches_the_upstream() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &ingress("paced", "paced.example.com", "/", "shop", &[("limit-rate", "1"), ("limit-rate-after", "1")])
        + &ingress("kept", "kept.example.com", "/", "shop", &[("connection-proxy-header", "keep-alive")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let started = Instant::now();
    let r = get(&c, s.http, "paced.example.com", "/size/3072").await;
    assert_eq!((r.status, r.body.len()), (200, 3072));
    // 1 KiB free, then 2 KiB at 1 KiB a second.
    assert!(started.elapsed() >= Duration::from_millis(1500), "3 KiB took {:?}", started.elapsed());
    let r = get(&c, s.http, "kept.example.com", "/").await;
    assert_eq!(r.json()["headers"]["connection"][0], "keep-alive");
}

/// An upstream whose every answer is `size` bytes, written at once; it
/// counts the answers it has written out whole.
async fn bulk_upstream(at: SocketAddr, size: usize) -> Arc<AtomicUsize> {
    let written = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let count = written.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut head = Vec::new();
                while find(&head, b"\r\n\r\n").is_none() {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
                answer.resize(answer.len() + size, b'x');
                if stream.write_all(&answer).await.is_ok() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                let _ = stream.read(&mut buf).await;
            });
        }
    });
    written
}

/// `proxy-buffering: on`: a client that does not read holds no upstream:
/// the whole answer is taken in (memory, then a temporary file) and
/// reaches the client intact when it reads. Off, the upstream waits on the
/// client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_buffering_frees_the_upstream_from_a_slow_client() {
    const SIZE: usize = 32 << 20;
    let port = free_port(&["127.0.0.6"]);
    let at: SocketAddr = format!("127.0.0.6:{port}").parse().unwrap();
    let written = bulk_upstream(at, SIZE).await;
    let manifests = service("bulk", &[at])
        + &ingress("buffered", "buffered.example.com", "/", "bulk", &[("proxy-buffering", "on")])
        + &ingress("streamed", "streamed.example.com", "/", "bulk", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);

    let mut slow = TcpStream::connect(s.http).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: streamed.example.com\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(written.load(Ordering::SeqCst), 0, "streamed: the upstream waits on the client");
    drop(slow);

    let mut slow = TcpStream::connect(s.http).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: buffered.example.com\r\n\r\n").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while written.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "buffered: the upstream's answer is taken in whole");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got = Vec::with_capacity(SIZE + 1024);
    let mut chunk = vec![0u8; 1 << 16];
    let read_all = async {
        loop {
            if let Some(end) = find(&got, b"\r\n\r\n")
                && got.len() >= end + 4 + SIZE
            {
                return end + 4;
            }
            let n = slow.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&chunk[..n]);
        }
    };
    let body_at = tokio::time::timeout(Duration::from_secs(30), read_all).await.expect("the answer within 30 s");
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert_eq!(got.len() - body_at, SIZE);
    assert!(got[body_at..].iter().all(|b| *b == b'x'), "the body comes back intact through the temporary file");
}
