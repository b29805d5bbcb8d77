//! Headers an upstream sees, as BCS's nginx configuration sets them.

use http::HeaderValue;
use pingora_error::{ErrorType::InvalidHTTPHeader, OrErr, Result};
use pingora_http::RequestHeader;
use std::io::Write as _;
use std::net::IpAddr;

/// Headers `apply` may add.
const ADDED: usize = 8;

pub struct Downstream<'a> {
    pub client_ip: Option<IpAddr>,
    pub host: &'a str,
    /// The listener's port, as a header value made once per listener.
    pub port: &'a HeaderValue,
    pub scheme: &'static str,
    pub original_uri: &'a str,
}

/// `X-Real-IP`, `X-Forwarded-For` (the client appended to any incoming
/// list, which is also kept in `X-Original-Forwarded-For`),
/// `X-Forwarded-Host`, `-Port`, `-Proto`, `X-Scheme`, `X-Original-URI`; the
/// `Proxy` header removed (httpoxy). Host is passed through unchanged.
/// Values are built without a heap allocation where they can be (this runs
/// on every request): the client address on the stack, static and
/// per-listener values shared.
pub fn apply(req: &mut RequestHeader, d: &Downstream<'_>) -> Result<()> {
    // The request pingora cloned has room for its own headers only.
    req.reserve(ADDED);
    let mut values = req.headers.get_all("x-forwarded-for").iter();
    let incoming: Option<HeaderValue> = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(one), None) => Some(one.clone()),
        _ => {
            let all: Vec<&[u8]> = req.headers.get_all("x-forwarded-for").iter().map(HeaderValue::as_bytes).collect();
            HeaderValue::from_bytes(&all.join(&b", "[..])).ok()
        }
    };
    if let Some(ip) = d.client_ip {
        let mut buf = [0u8; 48];
        let len = {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(cursor, "{ip}");
            cursor.position() as usize
        };
        let ip = &buf[..len];
        let ip_value = HeaderValue::from_bytes(ip).or_err(InvalidHTTPHeader, "client address")?;
        let xff = match &incoming {
            Some(list) => HeaderValue::from_bytes(&[list.as_bytes(), b", ", ip].concat())
                .or_err(InvalidHTTPHeader, "x-forwarded-for")?,
            None => ip_value.clone(),
        };
        req.insert_static_header("x-real-ip", ip_value);
        req.insert_static_header("x-forwarded-for", xff);
    }
    if let Some(list) = incoming {
        req.insert_static_header("x-original-forwarded-for", list);
    }
    req.insert_static_header("x-forwarded-host", HeaderValue::from_str(d.host).or_err(InvalidHTTPHeader, "host")?);
    req.insert_static_header("x-forwarded-port", d.port.clone());
    let scheme = HeaderValue::from_static(d.scheme);
    req.insert_static_header("x-forwarded-proto", scheme.clone());
    req.insert_static_header("x-scheme", scheme);
    req.insert_static_header("x-original-uri", HeaderValue::from_str(d.original_uri).or_err(InvalidHTTPHeader, "uri")?);
    req.remove_header("proxy");
    Ok(())
}
