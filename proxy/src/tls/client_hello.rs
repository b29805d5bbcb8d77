//! Reading a connection's TLS ClientHello before choosing how to serve it
//! (passthrough by SNI, or which client-certificate check to ask for). The
//! bytes are parsed by rustls's own acceptor and put back on the stream, so
//! the handshake (or the passthrough upstream) sees them unread.

use pingora_core::protocols::l4::stream::Stream;
use rustls::server::Acceptor;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest a client may take to send its ClientHello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest ClientHello read (TLS records are at most 16 KiB each).
const HELLO_MAX: usize = 64 * 1024;

/// The SNI name of the ClientHello (`Ok(None)`: none sent); the stream is
/// left as it was. `Err` when the client sent no ClientHello in time.
pub async fn peek_sni(stream: &mut Stream) -> Result<Option<String>, String> {
    let mut seen = Vec::with_capacity(2048);
    let result = tokio::time::timeout(HELLO_TIMEOUT, read_sni(stream, &mut seen))
        .await
        .unwrap_or_else(|_| Err("no ClientHello in time".to_owned()));
    stream.rewind(&seen);
    result
}

/// Reads from `stream` until a whole ClientHello (or an error) and returns
/// its SNI name; every byte read is appended to `seen`. Public for the fuzz
/// target, which reads through it in arbitrary splits.
#[doc(hidden)]
pub async fn read_sni<S: AsyncRead + Unpin>(stream: &mut S, seen: &mut Vec<u8>) -> Result<Option<String>, String> {
    let mut acceptor = Acceptor::default();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before its ClientHello".to_owned());
        }
        seen.extend_from_slice(&buf[..n]);
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            acceptor.read_tls(&mut chunk).map_err(|e| e.to_string())?;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(accepted.client_hello().server_name().map(str::to_owned)),
            Ok(None) if seen.len() < HELLO_MAX => {}
            Ok(None) => return Err("ClientHello too large".to_owned()),
            Err((e, _)) => return Err(e.to_string()),
        }
    }
}
