//! The path a request is routed by. nginx normalises a URI before it
//! matches locations (escapes decoded, `//` merged, `.` and `..` resolved),
//! so a path rule cannot be bypassed by spelling the path another way
//! (`/api/public/../internal`, `/api/%69nternal`, `/api//internal`);
//! Sluice matches the same form. The request still goes upstream as it
//! came, as nginx's `proxy_pass` without a URI part sends it.

use std::borrow::Cow;

/// The normalised path, or `None` when it cannot be one (a bad or NUL
/// escape, a non-UTF-8 result, `..` above the root): a 400, as nginx.
pub fn routing_path(raw: &str) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    let plain = !bytes.contains(&b'%') && !raw.contains("//") && !raw.contains("/.");
    if plain {
        return Some(Cow::Borrowed(raw));
    }
    let decoded = String::from_utf8(percent_decode(bytes)?).ok()?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = decoded.ends_with('/');
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." => trailing = true,
            ".." => {
                segments.pop()?;
                trailing = true;
            }
            s => {
                segments.push(s);
                trailing = false;
            }
        }
    }
    trailing |= decoded.ends_with('/');
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    Some(Cow::Owned(out))
}

/// Every `%XX` decoded; `None` for a malformed escape or an encoded NUL.
fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?;
            if byte == 0 {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Every byte but the unreserved ones percent-encoded (nginx's
/// `set_escape_uri`, `$ssl_client_escaped_cert`).
pub fn escape_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_as_nginx_matches_them() {
        let cases = [
            ("/api/internal/x", Some("/api/internal/x")),
            ("/api/public/../internal/x", Some("/api/internal/x")),
            ("/api/%2e%2e/api/internal/x", Some("/api/internal/x")),
            ("/api//internal//x", Some("/api/internal/x")),
            ("/api/./internal/x", Some("/api/internal/x")),
            ("/api/%69nternal/x", Some("/api/internal/x")),
            ("/api/internal/", Some("/api/internal/")),
            ("/api/internal/x/..", Some("/api/internal/")),
            ("/api/internal/.", Some("/api/internal/")),
            ("/", Some("/")),
            ("/%2F", Some("/")),
            ("/..", None),
            ("/a/../../b", None),
            ("/a%zz", None),
            ("/a%4", None),
            ("/a%00b", None),
            ("/a%ff", None),
        ];
        for (raw, want) in cases {
            assert_eq!(routing_path(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn plain_paths_are_not_copied() {
        assert!(matches!(routing_path("/api/v1/items.json"), Some(Cow::Borrowed(_))));
    }
}
