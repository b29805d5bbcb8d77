//! Headers an upstream sees, as BCS's nginx configuration sets them.

use pingora_error::Result;
use pingora_http::RequestHeader;
use std::net::IpAddr;

pub struct Downstream<'a> {
    pub client_ip: Option<IpAddr>,
    pub host: &'a str,
    pub port: u16,
    pub scheme: &'static str,
    pub original_uri: &'a str,
}

/// `X-Real-IP`, `X-Forwarded-For` (the client appended to any incoming
/// list, which is also kept in `X-Original-Forwarded-For`),
/// `X-Forwarded-Host`, `-Port`, `-Proto`, `X-Scheme`, `X-Original-URI`; the
/// `Proxy` header removed (httpoxy). Host is passed through unchanged.
pub fn apply(req: &mut RequestHeader, d: &Downstream<'_>) -> Result<()> {
    let incoming: Option<String> = {
        let all: Vec<&str> = req.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        if all.is_empty() { None } else { Some(all.join(", ")) }
    };
    if let Some(ip) = d.client_ip {
        let ip = ip.to_string();
        req.insert_header("x-real-ip", ip.as_str())?;
        let xff = match &incoming {
            Some(list) => format!("{list}, {ip}"),
            None => ip,
        };
        req.insert_header("x-forwarded-for", xff)?;
    }
    if let Some(list) = incoming {
        req.insert_header("x-original-forwarded-for", list)?;
    }
    req.insert_header("x-forwarded-host", d.host)?;
    req.insert_header("x-forwarded-port", d.port.to_string())?;
    req.insert_header("x-forwarded-proto", d.scheme)?;
    req.insert_header("x-scheme", d.scheme)?;
    req.insert_header("x-original-uri", d.original_uri)?;
    req.remove_header("proxy");
    Ok(())
}
