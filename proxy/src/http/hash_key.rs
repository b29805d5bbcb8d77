//! Evaluating a hash key (`$remote_addr`, `$host$uri`, ...) for a request.

use http::request::Parts;
use sluice_config::KeyPart;
use std::net::IpAddr;

/// The key's hash for this request. Missing parts count as empty, as nginx's
/// empty variables do.
pub fn key_hash(parts: &[KeyPart], req: &Parts, host: &str, client_ip: Option<IpAddr>) -> u64 {
    if let [KeyPart::RemoteAddr] = parts {
        return client_ip.map(ip_hash).unwrap_or(0);
    }
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    key_bytes(parts, req, host, client_ip, &mut buf);
    crate::balancer::key_hash(&buf)
}

/// The key's text for this request, appended to `buf`.
pub fn key_bytes(parts: &[KeyPart], req: &Parts, host: &str, client_ip: Option<IpAddr>, buf: &mut Vec<u8>) {
    for p in parts {
        match p {
            KeyPart::Literal(s) => buf.extend_from_slice(s.as_bytes()),
            KeyPart::RemoteAddr => {
                if let Some(ip) = client_ip {
                    buf.extend_from_slice(ip.to_string().as_bytes());
                }
            }
            KeyPart::RequestUri => {
                buf.extend_from_slice(req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("").as_bytes())
            }
            KeyPart::Uri => buf.extend_from_slice(req.uri.path().as_bytes()),
            KeyPart::Host => buf.extend_from_slice(host.as_bytes()),
            KeyPart::Header(name) => {
                if let Some(v) = req.headers.get(name.as_str()) {
                    buf.extend_from_slice(v.as_bytes());
                }
            }
            KeyPart::Cookie(name) => {
                if let Some(v) = crate::affinity::request_cookie(req, name) {
                    buf.extend_from_slice(v.as_bytes());
                }
            }
            KeyPart::Arg(name) => {
                let query = req.uri.query().unwrap_or("");
                let found = query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| k == name);
                if let Some((_, v)) = found {
                    buf.extend_from_slice(v.as_bytes());
                }
            }
            KeyPart::RemoteUser => {
                if let Some(user) = super::basic_auth::user(&req.headers) {
                    buf.extend_from_slice(&user);
                }
            }
        }
    }
}

/// The hash of a client address (source hashing, client-IP splits).
pub fn ip_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => crate::balancer::key_hash(&v4.octets()),
        IpAddr::V6(v6) => crate::balancer::key_hash(&v6.octets()),
    }
}
