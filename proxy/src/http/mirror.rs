//! Fire-and-forget copies of a route's requests (ingress-nginx
//! `mirror-target`): sent once the request is answered, on a connection of
//! their own, their answer read and thrown away; nothing of it reaches the
//! client or delays it.

use crate::cluster::{ClusterState, PickInput};
use bytes::Bytes;
use pingora_http::RequestHeader;
use sluice_config::{Mirror, expand_variables};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A copy gets this long to connect, be written and be answered.
const MIRROR_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest buffered request body a copy carries; a request with a
/// larger one is not copied (a streamed body: what the retry buffer kept,
/// 64 KiB).
pub const BODY_LIMIT: u64 = 1024 * 1024;

/// Fields of the client's request the copy does not carry: the copy frames
/// its own body and closes its connection.
const NOT_COPIED: [&str; 9] =
    ["host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect"];

/// Whether this request is among the share `mirror` copies.
pub fn sampled(mirror: &Mirror) -> bool {
    mirror.per_million >= Mirror::EVERY || fastrand::u32(..Mirror::EVERY) < mirror.per_million
}

/// Sends the copy of `head` (with `body`, when the mirror takes bodies).
pub fn send(
    mirror: &Mirror,
    cluster: &Arc<ClusterState>,
    head: &RequestHeader,
    body: Option<Bytes>,
    scheme: &str,
    client_ip: Option<IpAddr>,
) {
    let input = PickInput { client_ip, key_hash: None, cookies: None, session_key: None };
    let Some(picked) = cluster.pick(&input, &[]) else { return };
    let request_uri = head.uri.path_and_query().map_or("/", |p| p.as_str());
    let host =
        head.uri.authority().map(|a| a.as_str()).or_else(|| head.headers.get("host").and_then(|h| h.to_str().ok()));
    let variable = |name: &str| match name {
        "request_uri" => request_uri.to_owned(),
        "uri" => head.uri.path().to_owned(),
        "args" => head.uri.query().unwrap_or("").to_owned(),
        "host" | "http_host" => host.unwrap_or("").to_owned(),
        "scheme" => scheme.to_owned(),
        _ => String::new(),
    };
    let target = expand_variables(&mirror.target, variable);
    let mirror_host = expand_variables(&mirror.host, variable);
    let body = if mirror.request_body { body.unwrap_or_default() } else { Bytes::new() };
    let mut out = format!("{} {target} HTTP/1.1\r\nHost: {mirror_host}\r\n", head.method).into_bytes();
    for (name, value) in &head.headers {
        if !NOT_COPIED.contains(&name.as_str()) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    let address = picked.address;
    tokio::spawn(async move {
        let copy = async {
            let mut conn = tokio::net::TcpStream::connect(address).await?;
            conn.write_all(&out).await?;
            let mut sink = [0u8; 4096];
            while conn.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        };
        match tokio::time::timeout(MIRROR_TIMEOUT, copy).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(%address, error = %e, "mirror copy failed"),
            Err(_) => tracing::debug!(%address, "mirror copy timed out"),
        }
    });
}
