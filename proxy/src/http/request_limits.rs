//! What a request head may be before it is routed, by nginx's
//! `large_client_header_buffers` (4 × 8k by default, the controller
//! ConfigMap's key of the same name): a request target of at most one
//! buffer (414), header lines of at most all of them (431); and a Host made
//! of host characters (400), so `Host: a/../b` or `Host: a@b` cannot reach
//! a route or an upstream.

use http::request::Parts;
use sluice_config::Connections;

/// The status to refuse the request with, if any.
pub fn refusal(req: &Parts, host: &str, limits: &Connections) -> Option<u16> {
    if req.uri.path_and_query().map_or(0, |p| p.as_str().len()) as u64 > limits.max_target_bytes() {
        return Some(414);
    }
    let header_bytes: usize = req.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if header_bytes as u64 > limits.max_header_bytes() {
        return Some(431);
    }
    let host_char = |c: u8| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&c);
    if !host.bytes().all(host_char) {
        return Some(400);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora_http::RequestHeader;

    fn request(target: &str, headers: &[(&str, String)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        for (n, v) in headers {
            req.append_header(n.to_string(), v.as_str()).unwrap();
        }
        req
    }

    #[test]
    fn heads_past_the_limits_are_refused() {
        let limits = Connections::default();
        let ok = request("/a", &[("host", "h.example".into())]);
        assert_eq!(refusal(&ok, "h.example:8080", &limits), None);
        assert_eq!(refusal(&ok, "[2001:db8::1]:80", &limits), None);
        let long = request(&format!("/{}", "a".repeat(8 * 1024)), &[]);
        assert_eq!(refusal(&long, "h", &limits), Some(414));
        let big = request("/a", &[("x-big", "a".repeat(32 * 1024))]);
        assert_eq!(refusal(&big, "h", &limits), Some(431));
        for bad in ["h.example/../x", "user@h.example", "h example", "h\\x"] {
            assert_eq!(refusal(&ok, bad, &limits), Some(400), "{bad}");
        }
        let larger = Connections { header_buffers: (8, 16 * 1024), ..Connections::default() };
        assert_eq!(refusal(&long, "h", &larger), None);
        assert_eq!(refusal(&big, "h", &larger), None);
    }
}
