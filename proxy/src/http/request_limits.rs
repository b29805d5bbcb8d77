//! What a request head may be before it is routed, by nginx's defaults: a
//! request target of at most 8 KiB (414), header lines of at most 32 KiB in
//! all (nginx's 4 × 8k `large_client_header_buffers`; 431), and a Host made
//! of host characters (400), so `Host: a/../b` or `Host: a@b` cannot reach
//! a route or an upstream.

use http::request::Parts;

pub const MAX_TARGET_BYTES: usize = 8 * 1024;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The status to refuse the request with, if any.
pub fn refusal(req: &Parts, host: &str) -> Option<u16> {
    if req.uri.path_and_query().map_or(0, |p| p.as_str().len()) > MAX_TARGET_BYTES {
        return Some(414);
    }
    let header_bytes: usize = req.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADER_BYTES {
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
        let ok = request("/a", &[("host", "h.example".into())]);
        assert_eq!(refusal(&ok, "h.example:8080"), None);
        assert_eq!(refusal(&ok, "[2001:db8::1]:80"), None);
        let long = request(&format!("/{}", "a".repeat(MAX_TARGET_BYTES)), &[]);
        assert_eq!(refusal(&long, "h"), Some(414));
        let big = request("/a", &[("x-big", "a".repeat(MAX_HEADER_BYTES))]);
        assert_eq!(refusal(&big, "h"), Some(431));
        for bad in ["h.example/../x", "user@h.example", "h example", "h\\x"] {
            assert_eq!(refusal(&ok, bad), Some(400), "{bad}");
        }
    }
}
