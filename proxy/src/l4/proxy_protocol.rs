//! The PROXY protocol (HAProxy, v1 text and v2 binary): the header that
//! carries the original client address across an L4 proxy.

use sluice_config::ProxyProtocolVersion;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncRead, AsyncReadExt};

const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The header announcing a connection from `client` to `proxy`.
pub fn encode(version: ProxyProtocolVersion, client: SocketAddr, proxy: SocketAddr) -> Vec<u8> {
    match version {
        ProxyProtocolVersion::V1 => match (client, proxy) {
            (SocketAddr::V4(c), SocketAddr::V4(p)) => {
                format!("PROXY TCP4 {} {} {} {}\r\n", c.ip(), p.ip(), c.port(), p.port()).into_bytes()
            }
            (c, p) => {
                let v6 = |a: SocketAddr| match a.ip() {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                format!("PROXY TCP6 {} {} {} {}\r\n", v6(c), v6(p), c.port(), p.port()).into_bytes()
            }
        },
        ProxyProtocolVersion::V2 => {
            let mut h = V2_SIGNATURE.to_vec();
            h.push(0x21); // version 2, PROXY command
            match (client, proxy) {
                (SocketAddr::V4(c), SocketAddr::V4(p)) => {
                    h.push(0x11); // TCP over IPv4
                    h.extend_from_slice(&12u16.to_be_bytes());
                    h.extend_from_slice(&c.ip().octets());
                    h.extend_from_slice(&p.ip().octets());
                    h.extend_from_slice(&c.port().to_be_bytes());
                    h.extend_from_slice(&p.port().to_be_bytes());
                }
                (c, p) => {
                    let v6 = |a: SocketAddr| match a.ip() {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                        IpAddr::V6(v6) => v6.octets(),
                    };
                    h.push(0x21); // TCP over IPv6
                    h.extend_from_slice(&36u16.to_be_bytes());
                    h.extend_from_slice(&v6(c));
                    h.extend_from_slice(&v6(p));
                    h.extend_from_slice(&c.port().to_be_bytes());
                    h.extend_from_slice(&p.port().to_be_bytes());
                }
            }
            h
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the connection closed before a complete PROXY header")]
    Truncated,
    #[error("no PROXY protocol header")]
    Missing,
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
}

/// Longest v1 line, its `\r\n` included (the specification's bound).
const V1_MAX: usize = 107;

/// Reads a v1 or v2 header from `stream`. Returns the client address it
/// names (`None` for `UNKNOWN`/`LOCAL`) and any bytes read past the header,
/// which belong to the payload. The verdict depends on the bytes alone, not
/// on how the reads split them: while what has arrived may still begin
/// either header, it reads on. What it buffers is bounded by the header:
/// 16 + 65535 bytes for v2 (its length field), 107 for v1.
pub async fn decode<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(Option<SocketAddr>, Vec<u8>), DecodeError> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        if buf.starts_with(&V2_SIGNATURE) {
            if buf.len() >= 16 {
                let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
                if buf.len() >= 16 + len {
                    let addr = v2_address(&buf[..16 + len])?;
                    return Ok((addr, buf[16 + len..].to_vec()));
                }
            }
        } else if buf.starts_with(b"PROXY ") {
            let line = &buf[..buf.len().min(V1_MAX)];
            if let Some(end) = line.windows(2).position(|w| w == b"\r\n") {
                let addr = v1_address(&buf[..end])?;
                return Ok((addr, buf[end + 2..].to_vec()));
            }
            if buf.len() >= V1_MAX {
                return Err(DecodeError::Malformed("v1 line longer than 107 bytes"));
            }
        } else if !V2_SIGNATURE.starts_with(&buf[..buf.len().min(V2_SIGNATURE.len())])
            && !b"PROXY ".starts_with(&buf[..buf.len().min(6)])
        {
            return Err(DecodeError::Missing);
        }
        let n = stream.read(&mut chunk).await.map_err(|_| DecodeError::Truncated)?;
        if n == 0 {
            return Err(DecodeError::Truncated);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn v1_address(line: &[u8]) -> Result<Option<SocketAddr>, DecodeError> {
    let line = std::str::from_utf8(line).map_err(|_| DecodeError::Malformed("v1 is not text"))?;
    let f: Vec<&str> = line.split(' ').collect();
    match f.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", "TCP4" | "TCP6", src, _dst, sport, _dport] => {
            let ip: IpAddr = src.parse().map_err(|_| DecodeError::Malformed("v1 source address"))?;
            let port: u16 = sport.parse().map_err(|_| DecodeError::Malformed("v1 source port"))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        _ => Err(DecodeError::Malformed("v1 fields")),
    }
}

fn v2_address(h: &[u8]) -> Result<Option<SocketAddr>, DecodeError> {
    if h[12] >> 4 != 2 {
        return Err(DecodeError::Malformed("v2 version"));
    }
    if h[12] & 0x0f == 0 {
        return Ok(None); // LOCAL: health checks of the sending proxy
    }
    let body = &h[16..];
    match h[13] >> 4 {
        1 if body.len() >= 12 => {
            let ip = IpAddr::from([body[0], body[1], body[2], body[3]]);
            Ok(Some(SocketAddr::new(ip, u16::from_be_bytes([body[8], body[9]]))))
        }
        2 if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            Ok(Some(SocketAddr::new(IpAddr::from(octets), u16::from_be_bytes([body[32], body[33]]))))
        }
        0 => Ok(None),
        _ => Err(DecodeError::Malformed("v2 address family")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn round_trips_both_versions_and_keeps_the_payload() {
        for v in [ProxyProtocolVersion::V1, ProxyProtocolVersion::V2] {
            for (c, p) in
                [(a("203.0.113.9:51000"), a("192.0.2.1:9000")), (a("[2001:db8::1]:4000"), a("[2001:db8::2]:80"))]
            {
                let mut bytes = encode(v, c, p);
                bytes.extend_from_slice(b"hello");
                let (addr, rest) = decode(&mut bytes.as_slice()).await.unwrap();
                assert_eq!(addr, Some(c), "{v:?}");
                assert_eq!(rest, b"hello");
            }
        }
        let v1 = encode(ProxyProtocolVersion::V1, a("203.0.113.9:51000"), a("192.0.2.1:9000"));
        assert_eq!(v1, b"PROXY TCP4 203.0.113.9 192.0.2.1 51000 9000\r\n");
    }

    /// Yields its chunks one a read, as a socket may deliver a header.
    struct Chunks(std::collections::VecDeque<Vec<u8>>);

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if let Some(mut chunk) = self.0.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.push_front(chunk.split_off(n));
                }
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// The header and payload read in pieces cut at `cuts`; the payload
    /// bytes the decoder returned followed by those still unread.
    async fn decode_split(bytes: &[u8], cuts: &[usize]) -> Result<(Option<SocketAddr>, Vec<u8>), DecodeError> {
        let mut chunks = std::collections::VecDeque::new();
        let mut from = 0;
        for &cut in cuts.iter().chain([&bytes.len()]) {
            chunks.push_back(bytes[from..cut].to_vec());
            from = cut;
        }
        let mut reader = Chunks(chunks);
        let (addr, mut rest) = decode(&mut reader).await?;
        reader.read_to_end(&mut rest).await.map_err(|_| DecodeError::Truncated)?;
        Ok((addr, rest))
    }

    #[tokio::test]
    async fn a_header_split_anywhere_across_reads_is_read_whole() {
        for v in [ProxyProtocolVersion::V1, ProxyProtocolVersion::V2] {
            for (c, p) in
                [(a("203.0.113.9:51000"), a("192.0.2.1:9000")), (a("[2001:db8::1]:4000"), a("[2001:db8::2]:80"))]
            {
                let mut bytes = encode(v, c, p);
                bytes.extend_from_slice(b"hello");
                for first in 1..bytes.len() {
                    for cuts in [vec![first], vec![first, (first + 1).min(bytes.len())], (first..bytes.len()).collect()]
                    {
                        let decoded = decode_split(&bytes, &cuts).await;
                        assert_eq!(decoded, Ok((Some(c), b"hello".to_vec())), "{v:?} {c} cut at {cuts:?}");
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn rejects_what_is_not_a_header() {
        assert_eq!(decode(&mut &b"GET / HTTP/1.1\r\n\r\n"[..]).await, Err(DecodeError::Missing));
        assert_eq!(decode(&mut &b"PROXY TCP4 x"[..]).await, Err(DecodeError::Truncated));
        assert!(matches!(decode(&mut &b"PROXY TCP4 a b c d\r\n"[..]).await, Err(DecodeError::Malformed(_))));
        assert_eq!(decode(&mut &b"PROXY UNKNOWN\r\nrest"[..]).await, Ok((None, b"rest".to_vec())));
        let long = [&b"PROXY UNKNOWN "[..], &[b'x'; 100], b"\r\n"].concat();
        assert!(matches!(decode(&mut &long[..]).await, Err(DecodeError::Malformed(_))), "read at once or not");
        let sig_then_other = [&V2_SIGNATURE[..4], b"GET / HTTP/1.1\r\n\r\n"].concat();
        assert_eq!(decode(&mut &sig_then_other[..]).await, Err(DecodeError::Missing));
    }
}
