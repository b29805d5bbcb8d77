//! Headers an upstream sees, as BCS's nginx configuration sets them.

use super::request_id::X_REQUEST_ID;
use http::{HeaderName, HeaderValue};
use pingora_error::{ErrorType::InvalidHTTPHeader, OrErr, Result};
use pingora_http::RequestHeader;
use std::io::Write as _;
use std::net::IpAddr;

/// The added headers' names, parsed once (a `static`, so each insert
/// neither parses nor allocates its name).
pub(super) static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub(super) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_ORIGINAL_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-original-forwarded-for");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_SCHEME: HeaderName = HeaderName::from_static("x-scheme");
static X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");

/// Headers `apply` may add.
const ADDED: usize = 9;

pub struct Downstream<'a> {
    pub client_ip: Option<IpAddr>,
    pub host: &'a str,
    /// The listener's port, as a header value made once per listener.
    pub port: &'a HeaderValue,
    pub scheme: &'static str,
    pub original_uri: &'a str,
    pub request_id: Option<&'a HeaderValue>,
    /// The peer's own `X-Forwarded-Host`, `-Port` and `-Proto` are kept
    /// (ingress-nginx `use-forwarded-headers` behind a trusted proxy).
    pub pass_forwarded: bool,
}

/// `X-Real-IP`, `X-Forwarded-For` (the client appended to any incoming
/// list, which is also kept in `X-Original-Forwarded-For`),
/// `X-Forwarded-Host`, `-Port`, `-Proto`, `X-Scheme`, `X-Original-URI`,
/// `X-Request-ID` (the client's or a new one); the
/// `Proxy` header removed (httpoxy). Host is passed through unchanged.
/// Values are built without a heap allocation where they can be (this runs
/// on every request): the client address on the stack, static and
/// per-listener values shared.
pub fn apply(req: &mut RequestHeader, d: &Downstream<'_>) -> Result<()> {
    // The request pingora cloned has room for its own headers only.
    req.reserve(ADDED);
    let mut values = req.headers.get_all(&X_FORWARDED_FOR).iter();
    let incoming: Option<HeaderValue> = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(one), None) => Some(one.clone()),
        _ => {
            let all: Vec<&[u8]> = req.headers.get_all(&X_FORWARDED_FOR).iter().map(HeaderValue::as_bytes).collect();
            HeaderValue::from_bytes(&all.join(&b", "[..])).ok()
        }
    };
    if let Some(ip) = d.client_ip {
        let mut buf = [0u8; 48];
        let ip = address_text(ip, &mut buf);
        let ip_value = HeaderValue::from_bytes(ip).or_err(InvalidHTTPHeader, "client address")?;
        let xff = match &incoming {
            Some(list) => HeaderValue::from_bytes(&[list.as_bytes(), b", ", ip].concat())
                .or_err(InvalidHTTPHeader, "x-forwarded-for")?,
            None => ip_value.clone(),
        };
        req.insert_static_header(&X_REAL_IP, ip_value);
        req.insert_static_header(&X_FORWARDED_FOR, xff);
    }
    if let Some(list) = incoming {
        req.insert_static_header(&X_ORIGINAL_FORWARDED_FOR, list);
    }
    let keep = |req: &RequestHeader, name: &HeaderName| d.pass_forwarded && req.headers.contains_key(name);
    if !keep(req, &X_FORWARDED_HOST) {
        req.insert_static_header(&X_FORWARDED_HOST, HeaderValue::from_str(d.host).or_err(InvalidHTTPHeader, "host")?);
    }
    if !keep(req, &X_FORWARDED_PORT) {
        req.insert_static_header(&X_FORWARDED_PORT, d.port.clone());
    }
    let scheme = HeaderValue::from_static(d.scheme);
    if !keep(req, &X_FORWARDED_PROTO) {
        req.insert_static_header(&X_FORWARDED_PROTO, scheme.clone());
    }
    req.insert_static_header(&X_SCHEME, scheme);
    req.insert_static_header(&X_ORIGINAL_URI, HeaderValue::from_str(d.original_uri).or_err(InvalidHTTPHeader, "uri")?);
    if let Some(id) = d.request_id {
        req.insert_static_header(&X_REQUEST_ID, id.clone());
    }
    // Looked up first: removing looks in both of pingora's maps.
    if req.headers.contains_key("proxy") {
        req.remove_header("proxy");
    }
    Ok(())
}

/// `ip` as text in `buf`; an IPv4 address without the formatting machinery
/// (a request's worth of instructions on the hot path).
fn address_text(ip: IpAddr, buf: &mut [u8; 48]) -> &[u8] {
    let len = match ip {
        IpAddr::V4(v4) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                let digits = [octet / 100, octet / 10 % 10, octet % 10];
                let skip = if octet >= 100 {
                    0
                } else if octet >= 10 {
                    1
                } else {
                    2
                };
                for d in &digits[skip..] {
                    buf[len] = b'0' + d;
                    len += 1;
                }
            }
            len
        }
        IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(cursor, "{ip}");
            cursor.position() as usize
        }
    };
    &buf[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_their_display_does() {
        for ip in ["0.0.0.0", "1.2.3.4", "10.0.99.100", "192.168.1.255", "255.255.255.255", "::1", "2001:db8::7"] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut buf = [0u8; 48];
            assert_eq!(address_text(ip, &mut buf), ip.to_string().as_bytes());
        }
    }
}
