//! One client connection. HTTP/2 (by ALPN or the h2c preface) goes to
//! pingora's HTTP/2 server, which hands each stream to the engine. HTTP/1
//! requests are served here one after another within the connection's
//! own task: pingora's `HttpServerApp` path would box a new future a request
//! and copy the whole request state into it (about 6 KB, 15 % of a
//! request's instructions in callgrind).

use super::Engine;
use async_trait::async_trait;
use pingora_core::apps::{HttpServerApp, ServerApp};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::{ALPN, Stream};
use pingora_core::server::ShutdownWatch;
use std::sync::Arc;

/// The HTTP/2 connection preface (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a kept-alive HTTP/1 connection may idle, as pingora's server
/// sets it (Sluice's client stream holds its own, shorter, deadlines).
const KEEPALIVE_SECONDS: u64 = 60;

/// The client connections of one listener on one worker.
pub struct Connections(pub(in crate::http) Arc<Engine>);

impl Connections {
    /// Whether the connection speaks HTTP/2: ALPN on TLS, else the h2c
    /// preface when the listener takes h2c.
    async fn is_http2(&self, stream: &mut Stream) -> Option<bool> {
        if stream.get_ssl_digest().is_some() {
            return Some(matches!(stream.selected_alpn_proto(), Some(ALPN::H2)));
        }
        if !self.0.server_options().is_some_and(|o| o.h2c) {
            return Some(false);
        }
        let mut buf = [0u8; H2_PREFACE.len()];
        // A connection closed before its first byte: nothing to serve.
        let peeked = stream.try_peek(&mut buf).await.ok()?;
        Some(peeked && buf == H2_PREFACE)
    }

    /// The session for one HTTP/1 request on `stream`.
    fn http1_session(&self, stream: Stream) -> ServerSession {
        let mut session = ServerSession::new_http1(stream);
        session.set_preserve_header_case(self.0.preserve_header_case);
        session
    }
}

#[async_trait]
impl ServerApp for Connections {
    async fn process_new(self: &Arc<Self>, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        if self.is_http2(&mut stream).await? {
            return ServerApp::process_new(&self.0, stream, shutdown).await;
        }
        // `keep-alive-requests` and `keep-alive: 0` as the connection
        // opened: the last request's answer says `Connection: close`.
        let (requests, keepalive) = {
            let table = self.0.table.load();
            let c = table.connections();
            (c.keepalive_requests.max(1), c.keepalive_timeout_ms != Some(0))
        };
        let mut session = self.http1_session(stream);
        session.set_keepalive((keepalive && !*shutdown.borrow()).then_some(KEEPALIVE_SECONDS));
        session.set_keepalive_reuses_remaining(Some(requests - 1));
        loop {
            let (stream, settings) = self.0.handle(session, shutdown).await?.consume();
            session = self.http1_session(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
        }
    }
}
