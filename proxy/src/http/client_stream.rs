//! The client connection as pingora reads it, with the deadlines pingora
//! lacks or makes costly.
//!
//! A request's head must be complete within a timeout of its first byte
//! (nginx's `client_header_timeout`, HAProxy's `timeout http-request`):
//! pingora times each read on its own, so a client sending a byte every few
//! seconds (slowloris) would hold a connection for days, and it offers no hook
//! before it reads the head. The head ends at the first blank line
//! (`\r\n\r\n`); a write from the proxy (the response) ends the request, an
//! interim `1xx` does not.
//!
//! A connection idle between requests closes after the keep-alive timeout
//! (nginx's `keepalive_timeout`). pingora would arm a timer for every request
//! read to do this, which cost about a third of the proxy's CPU a request; here
//! one timer a connection is re-armed at most once a timeout, and the service
//! says when a request is over ([`ClientStream::request_done`]).
//!
//! An HTTP/2 connection (its preface) is left alone: its frames have no such
//! end, and pingora's HTTP/2 idle timeout covers it. Knowing a response went
//! out also answers pingora's question before each request on a plain
//! listener, whether the connection opens with the HTTP/2 preface: after an
//! HTTP/1 exchange it cannot, and the answer saves a `recv(MSG_PEEK)` a
//! kept-alive request.
//!
//! Writes go through a [`WriteBuffer`], so a small response leaves in one send.

use super::write_buffer::WriteBuffer;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::tls::SslDigest;
use pingora_core::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType,
};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const HEAD_END: &[u8] = b"\r\n\r\n";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests: waiting for the first byte of the next.
    Idle,
    /// A head is arriving; `tail` holds its last bytes, for an end split across
    /// reads; `preface` how many of its bytes match the HTTP/2 preface so far
    /// (past `H2_PREFACE.len()`: they do not).
    Head { tail: [u8; 3], tail_len: u8, preface: u8 },
    /// The head is complete; the body (if any) follows until the response.
    Body,
    /// HTTP/2: no deadline.
    Off,
}

#[derive(Debug)]
pub struct ClientStream<S> {
    inner: S,
    out: WriteBuffer,
    timeout: Duration,
    state: State,
    /// Armed when a head does not arrive in one read.
    deadline: Option<Pin<Box<Sleep>>>,
    /// A response has been written: this is no longer the connection's start.
    answered: bool,
    keepalive: Duration,
    /// When the last request ended, in milliseconds after `opened` plus 1;
    /// 0 while one is being served.
    idle_since: AtomicU64,
    opened: Instant,
    /// The keep-alive timer, made at the first wait between requests.
    idle_timer: Option<Pin<Box<Sleep>>>,
}

impl<S> ClientStream<S> {
    pub fn new(inner: S, header_timeout: Duration, keepalive: Duration) -> Self {
        Self {
            inner,
            out: WriteBuffer::default(),
            timeout: header_timeout,
            state: State::Idle,
            deadline: None,
            answered: false,
            keepalive,
            idle_since: AtomicU64::new(0),
            opened: Instant::now(),
            idle_timer: None,
        }
    }

    /// The request is over: the keep-alive timeout runs from now until the
    /// next one's first byte.
    pub fn request_done(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.idle_since.store(ms + 1, Ordering::Relaxed);
    }

    /// Whether the connection has idled out between requests; arms the
    /// timer to wake this task when it would.
    fn idled_out(&mut self, cx: &mut Context<'_>) -> bool {
        let since = self.idle_since.load(Ordering::Relaxed);
        if since == 0 {
            return false;
        }
        let due = self.opened + Duration::from_millis(since - 1) + self.keepalive;
        let timer = self.idle_timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            if Instant::now() >= due {
                return true;
            }
            // Armed for an earlier idle spell: once a timeout at most.
            timer.as_mut().reset(due);
        }
    }

    /// Follows the bytes just read through the request's head.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.state == State::Idle {
            self.state = State::Head { tail: [0; 3], tail_len: 0, preface: 0 };
        }
        let State::Head { tail, tail_len, mut preface } = self.state else { return };
        // The HTTP/2 preface, too, may come in more than one read.
        if let Some(rest) = H2_PREFACE.get(usize::from(preface)..) {
            let n = rest.len().min(bytes.len());
            if bytes[..n] != rest[..n] {
                preface = u8::MAX;
            } else if n == rest.len() {
                self.state = State::Off;
                self.deadline = None;
                return;
            } else {
                preface += n as u8;
            }
        }
        // The end may straddle two reads: look at the last bytes of the one
        // before with the first of these.
        let carried = &tail[..tail_len as usize];
        let head = &bytes[..bytes.len().min(HEAD_END.len())];
        let mut seam = [0u8; 3 + HEAD_END.len()];
        seam[..carried.len()].copy_from_slice(carried);
        seam[carried.len()..carried.len() + head.len()].copy_from_slice(head);
        let seam = &seam[..carried.len() + head.len()];
        if memchr::memmem::find(seam, HEAD_END).is_some() || memchr::memmem::find(bytes, HEAD_END).is_some() {
            self.state = State::Body;
            self.deadline = None;
            return;
        }
        let last = if bytes.len() >= 3 { &bytes[bytes.len() - 3..] } else { &seam[seam.len().saturating_sub(3)..] };
        let mut tail = [0u8; 3];
        tail[..last.len()].copy_from_slice(last);
        self.state = State::Head { tail, tail_len: last.len() as u8, preface };
    }

    /// A write from the proxy: the response has begun, unless it is interim.
    fn wrote(&mut self, bytes: &[u8]) {
        let interim = bytes.starts_with(b"HTTP/1.1 1") || bytes.starts_with(b"HTTP/1.0 1");
        if !interim && self.state != State::Off {
            self.state = State::Idle;
            self.deadline = None;
            self.answered = true;
        }
    }
}

/// What the head tracking makes of a connection's first reads, in turn:
/// `idle`, `head` (arriving: its deadline runs), `body` (the head is whole)
/// or `http2` (left alone). Public for the fuzz target, which checks that
/// how the bytes are split across reads does not change it.
#[doc(hidden)]
pub fn head_state_after<'a>(reads: impl IntoIterator<Item = &'a [u8]>) -> &'static str {
    let mut stream = ClientStream::new((), Duration::ZERO, Duration::ZERO);
    for read in reads {
        stream.saw(read);
    }
    match stream.state {
        State::Idle => "idle",
        State::Head { .. } => "head",
        State::Body => "body",
        State::Off => "http2",
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClientStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.idle_since.load(Ordering::Relaxed) != 0 {
                    this.idle_since.store(0, Ordering::Relaxed);
                }
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if !matches!(this.state, State::Head { .. }) {
                    // Idle out as a client closing would: pingora ends the connection quietly.
                    return if this.state == State::Idle && this.idled_out(cx) {
                        Poll::Ready(Ok(()))
                    } else {
                        Poll::Pending
                    };
                }
                let timeout = this.timeout;
                let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(deadline.as_mut().poll(cx));
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("request head not complete within {timeout:?}"),
                )))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClientStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let written = ready!(this.out.poll_write_vectored(&mut this.inner, cx, bufs))?;
        if written > 0 {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            this.wrote(&first[..first.len().min(written)]);
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        this.out.poll_flush(&mut this.inner, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        ready!(this.out.poll_flush(&mut this.inner, cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The rest of pingora's stream interface, passed through.
#[async_trait::async_trait]
impl Shutdown for ClientStream<Stream> {
    async fn shutdown(&mut self) {
        let this = &mut *self;
        let _ = std::future::poll_fn(|cx| this.out.poll_flush(&mut this.inner, cx)).await;
        this.inner.shutdown().await
    }
}

impl UniqueID for ClientStream<Stream> {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for ClientStream<Stream> {
    fn get_ssl(&self) -> Option<&pingora_core::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora_core::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for ClientStream<Stream> {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for ClientStream<Stream> {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for ClientStream<Stream> {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait::async_trait]
impl Peek for ClientStream<Stream> {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        if self.answered {
            // Not the HTTP/2 preface: an HTTP/1 exchange came first.
            buf.fill(0);
            return Ok(true);
        }
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    fn pair() -> (tokio::io::DuplexStream, ClientStream<tokio::io::DuplexStream>) {
        let (client, server) = duplex(1024);
        (client, ClientStream::new(server, Duration::from_millis(300), Duration::from_secs(60)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickled_past_the_deadline_ends_the_read() {
        let (mut client, mut server) = pair();
        let trickle = tokio::spawn(async move {
            for b in b"GET / HTTP/1.1\r\nHost: a\r\n" {
                client.write_all(&[*b]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            client
        });
        let mut buf = [0u8; 64];
        let e = loop {
            match server.read(&mut buf).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_ending_across_reads_then_a_slow_body_is_left_alone() {
        let (mut client, mut server) = pair();
        client.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r").await.unwrap();
        let mut buf = [0u8; 64];
        assert!(server.read(&mut buf).await.unwrap() > 0);
        client.write_all(b"\n").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        for b in b"body" {
            tokio::time::sleep(Duration::from_millis(200)).await;
            client.write_all(&[*b]).await.unwrap();
            assert_eq!(server.read(&mut buf).await.unwrap(), 1, "the body is not held to the head's deadline");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_response_ends_the_request_and_an_interim_one_does_not() {
        let (mut client, mut server) = pair();
        let mut buf = [0u8; 64];
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        // An idle keep-alive connection has no head deadline (keep-alive timeout is pingora's).
        tokio::time::sleep(Duration::from_secs(5)).await;
        client.write_all(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        server.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.write_all(b"x").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 1, "the body after 100 Continue is a body");
    }

    #[tokio::test(start_paused = true)]
    async fn http2_is_left_alone() {
        let (mut client, mut server) = pair();
        let mut buf = [0u8; 64];
        client.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        client.write_all(b"\0\0").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.write_all(b"\0").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn http2_is_left_alone_when_its_preface_comes_in_pieces() {
        let (mut client, mut server) = pair();
        let mut buf = [0u8; 64];
        client.write_all(b"PRI * HT").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        client.write_all(b"TP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        // The server's SETTINGS frame: not an HTTP/1 response ending a request.
        server.write_all(b"\0\0\0\x04\0\0\0\0\0").await.unwrap();
        client.write_all(b"\0\0").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        // Quiet between frames for longer than the head timeout.
        let quiet = tokio::time::timeout(Duration::from_secs(1), server.read(&mut buf)).await;
        assert!(quiet.is_err(), "HTTP/2 frames are not held to a head's deadline: {quiet:?}");
    }

    #[test]
    fn the_head_state_does_not_depend_on_how_reads_split_the_bytes() {
        let cases: [&[u8]; 4] = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"PRI * HTTP/1.1\r\n\r\n",
        ];
        for bytes in cases {
            let whole = head_state_after([bytes]);
            for cut in 1..bytes.len() {
                let (a, b) = bytes.split_at(cut);
                assert_eq!(head_state_after([a, b]), whole, "{:?} cut at {cut}", String::from_utf8_lossy(bytes));
            }
        }
    }

    #[tokio::test]
    async fn after_a_response_the_connection_is_known_not_to_open_with_the_h2_preface() {
        let (_client, server) = duplex(1024);
        let mut stream = ClientStream::new(Box::new(server) as Stream, Duration::from_secs(1), Duration::from_secs(60));
        let mut buf = *b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert!(!stream.try_peek(&mut buf).await.unwrap(), "at the start the stream itself is asked");
        stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert!(stream.try_peek(&mut buf).await.unwrap());
        assert_ne!(&buf[..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_idle_after_a_request_closes_at_the_keepalive_timeout_not_during_one() {
        let (mut client, server) = duplex(1024);
        let mut server = ClientStream::new(server, Duration::from_secs(1), Duration::from_secs(5));
        let mut buf = [0u8; 64];
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        // Served for longer than the keep-alive timeout: the request is not idle.
        let serving = tokio::time::timeout(Duration::from_secs(8), server.read(&mut buf)).await;
        assert!(serving.is_err(), "a connection was closed while its request was served");
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        server.request_done();
        let started = tokio::time::Instant::now();
        assert_eq!(server.read(&mut buf).await.unwrap(), 0, "idled out: read as a clean close");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
