//! Sluice's own proxy loop (`--l7-engine owned`, issue 21, in progress) at
//! the edges that are new with it, with curl as the client: a request body
//! sent chunked behind `Expect: 100-continue`, a response larger than any
//! buffer, and a pooled upstream connection the upstream closed while it
//! was idle, which must be retried on a fresh connection, not failed; a
//! WebSocket upgraded and bridged both ways.

mod common;
use common::*;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OWNED: &[&str] = &["--l7-engine", "owned"];

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-sS", "--max-time", "10"]).args(args).output().expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_both_ways_and_the_forwarded_headers() {
    let port = free_port(&["127.0.0.2"]);
    let up: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let _b = echo("blue", &[up], None);
    let manifests = service("blue", &[up]) + &ingress("web", "web.test", "/", "blue", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], OWNED);
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

/// An upstream that answers one request a connection and then closes it,
/// as an upstream whose keep-alive timeout ran out would: the proxy has
/// pooled it by then, and finds it stale when it next uses it. Each close is
/// sent on `closed`.
async fn closing_upstream(connections: Arc<AtomicUsize>, closed: tokio::sync::mpsc::UnboundedSender<()>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            connections.fetch_add(1, Ordering::SeqCst);
            let closed = closed.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-backend: closing\r\n\r\nok";
                let _ = stream.write_all(answer).await;
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
    let s = Sluice::start(&[("all.yaml", &manifests)], &[OWNED, &["--threads", "1"]].concat());
    for i in 0..5 {
        let r = get(&client(), s.http, "web.test", "/").await;
        assert_eq!((r.status, r.backend.as_str()), (200, "closing"), "request {i}; log:\n{}", s.log());
        // The upstream has closed the connection the proxy pooled.
        closed.recv().await.expect("the upstream closes each connection");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 5, "each request on a connection of its own in the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_upgraded_and_bridged() {
    let port = free_port(&["127.0.0.2"]);
    let up: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let _b = echo("blue", &[up], None);
    let manifests = service("blue", &[up]) + &ingress("ws", "ws.test", "/", "blue", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], OWNED);
    websocket_round_trips(&s, "ws.test").await;
}
