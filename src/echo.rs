//! A small echo upstream: the blue and green backends of `sluice demo`, and
//! the upstream of the end-to-end tests. It answers every request with what
//! it received, as JSON, and names itself in `x-backend`. Paths:
//! `/status/CODE` answers CODE, `/sleep/MS` answers after MS milliseconds
//! (as does any path with `?delay=500ms` or `?delay=1s`, the Gateway API
//! conformance echo's form),
//! `/size/N` answers N bytes, `/ws` echoes WebSocket messages; `--status`
//! makes every answer that status (a failing upstream).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Serves `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, name: Arc<str>, status: Option<u16>) {
    serve_with(listener, name, status, None).await
}

/// Serves `listener`, over TLS (ALPN h2, http/1.1) when given an acceptor.
pub async fn serve_with(listener: TcpListener, name: Arc<str>, status: Option<u16>, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let (name, tls) = (name.clone(), tls.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, peer, name.clone(), status));
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match tls {
                None => {
                    let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).await;
                }
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).await;
                }
            }
        });
    }
}

/// A TLS acceptor with a self-signed certificate made now.
fn self_signed_acceptor() -> Result<TlsAcceptor, String> {
    let cert = rcgen::generate_simple_self_signed(vec!["echo.invalid".to_owned()]).map_err(|e| e.to_string())?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn respond(name: &str, status: StatusCode, body: impl Into<Bytes>, content_type: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = name.parse() {
        r.headers_mut().insert("x-backend", v);
    }
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    name: Arc<str>,
    forced: Option<u16>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/ws" {
        return Ok(websocket(&mut req, &name));
    }
    let delay = req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("delay="))).and_then(|d| {
        let (n, unit) = d.find(|c: char| !c.is_ascii_digit()).map_or((d, "ms"), |i| d.split_at(i));
        let n: u64 = n.parse().ok()?;
        match unit {
            "ms" => Some(n),
            "s" => Some(n * 1000),
            _ => None,
        }
    });
    if let Some(ms) = path.strip_prefix("/sleep/").and_then(|m| m.parse::<u64>().ok()).or(delay) {
        tokio::time::sleep(Duration::from_millis(ms.min(120_000))).await;
    }
    if let Some(n) = path.strip_prefix("/size/").and_then(|n| n.parse::<usize>().ok()) {
        return Ok(respond(&name, StatusCode::OK, vec![b'x'; n.min(64 << 20)], "application/octet-stream"));
    }
    let status = forced
        .or_else(|| path.strip_prefix("/status/").and_then(|c| c.parse::<u16>().ok()))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = serde_json::Map::new();
    for (k, v) in req.headers() {
        let entry = headers.entry(k.as_str()).or_insert_with(|| serde_json::Value::Array(vec![]));
        if let serde_json::Value::Array(a) = entry {
            a.push(String::from_utf8_lossy(v.as_bytes()).into());
        }
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let version = format!("{:?}", req.version());
    let body = req.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
    let echo = serde_json::json!({
        "backend": &*name, "method": method, "uri": uri, "version": version,
        "peer": peer.to_string(), "headers": headers, "bodyBytes": body,
    });
    Ok(respond(&name, status, serde_json::to_vec(&echo).unwrap_or_default(), "application/json"))
}

/// Accepts a WebSocket upgrade and echoes every message back.
fn websocket(req: &mut Request<Incoming>, name: &str) -> Response<Full<Bytes>> {
    let key = req.headers().get("sec-websocket-key").and_then(|k| k.to_str().ok()).map(str::to_owned);
    let upgrade =
        req.headers().get(http::header::UPGRADE).is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let Some(key) = key.filter(|_| upgrade) else {
        return respond(name, StatusCode::BAD_REQUEST, "expected a WebSocket upgrade\n", "text/plain");
    };
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut r = respond(name, StatusCode::SWITCHING_PROTOCOLS, Bytes::new(), "text/plain");
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let h = r.headers_mut();
    h.insert(http::header::UPGRADE, http::HeaderValue::from_static("websocket"));
    h.insert(http::header::CONNECTION, http::HeaderValue::from_static("Upgrade"));
    if let Ok(v) = accept.parse() {
        h.insert("sec-websocket-accept", v);
    }
    r
}

/// `sluice echo-backend`: serve on every address until killed.
pub fn run(
    listen: &[SocketAddr],
    name: &str,
    threads: usize,
    status: Option<u16>,
    tls: bool,
) -> std::process::ExitCode {
    let acceptor = match tls.then(self_signed_acceptor).transpose() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sluice echo-backend: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice echo-backend: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    rt.block_on(async {
        let mut tasks = Vec::new();
        for addr in listen {
            match TcpListener::bind(addr).await {
                Ok(l) => tasks.push(tokio::spawn(serve_with(l, Arc::from(name), status, acceptor.clone()))),
                Err(e) => {
                    eprintln!("sluice echo-backend: cannot listen on {addr}: {e}");
                    return std::process::ExitCode::from(2);
                }
            }
        }
        eprintln!("echo backend {name} listening on {listen:?}");
        for t in tasks {
            let _ = t.await;
        }
        std::process::ExitCode::SUCCESS
    })
}
