//! The client's hop-by-hop fields kept off the upstream request (RFC 9110
//! 7.6.1), as pingora-proxy's default upstream request policy does: the
//! standard ones, those the `Connection` header nominates (bounded, and
//! refused when they name a field the proxy sets), and any upgrade but
//! WebSocket's. The body's framing to the upstream is then the proxy's own.

use http::header::{self, HeaderName};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::RequestHeader;

/// More `Connection` tokens than this and the request is refused: parsing
/// them must not become a cost a client can raise at will.
const MAX_NOMINATIONS: usize = 10;

const STANDARD: [&str; 10] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "connection",
    "upgrade",
    "http2-settings",
];

/// Strips the hop-by-hop fields of `req`, keeps a WebSocket upgrade when
/// `upgrade_allowed` (an HTTP/1.1 client to an HTTP/1 upstream), and frames
/// a body without a length as chunked when `h1_body` (HTTP/1 upstream, the
/// client sends a body). `InvalidHTTPHeader` when `Connection` is malformed
/// or nominates a field that must reach the upstream.
pub(super) fn strip(req: &mut RequestHeader, upgrade_allowed: bool, h1_body: bool) -> Result<()> {
    // Most requests carry none: one pass over the names finds out, where
    // removing each would look every one up in both of pingora's maps.
    if req.headers.keys().any(|name| STANDARD.contains(&name.as_str())) {
        let nominated = nominations(req)?;
        let websocket = upgrade_allowed
            && req.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        for name in nominated {
            req.remove_header(&name);
        }
        for name in STANDARD {
            req.remove_header(name);
        }
        if websocket {
            req.insert_header(header::CONNECTION, "Upgrade")?;
            req.insert_header(header::UPGRADE, "websocket")?;
        }
    }
    if h1_body && req.headers.get(header::CONTENT_LENGTH).is_none() {
        req.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    Ok(())
}

/// The fields `Connection` names.
fn nominations(req: &RequestHeader) -> Result<Vec<HeaderName>> {
    let tokens = req
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty());
    let mut names = Vec::new();
    for token in tokens {
        if names.len() == MAX_NOMINATIONS {
            return Error::e_explain(ErrorType::InvalidHTTPHeader, "too many Connection header nominations");
        }
        if !token.iter().all(|b| is_tchar(*b)) {
            return Error::e_explain(ErrorType::InvalidHTTPHeader, "invalid token in the Connection header");
        }
        let name = HeaderName::from_bytes(token)
            .map_err(|_| Error::explain(ErrorType::InvalidHTTPHeader, "invalid token in the Connection header"))?;
        if matches!(name.as_str(), "host" | "x-forwarded-for" | "x-forwarded-host" | "x-forwarded-proto") {
            return Error::e_explain(ErrorType::InvalidHTTPHeader, "the Connection header nominates a protected field");
        }
        names.push(name);
    }
    Ok(names)
}

/// RFC 9110 5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    #[test]
    fn standard_and_nominated_fields_stay_with_the_client() {
        let mut req = request(&[
            ("Connection", "keep-alive, X-Session"),
            ("Keep-Alive", "timeout=5"),
            ("X-Session", "abc"),
            ("TE", "trailers"),
            ("Proxy-Authorization", "Basic eA=="),
            ("Content-Length", "3"),
            ("X-Kept", "1"),
        ]);
        strip(&mut req, true, true).unwrap();
        let left: Vec<_> = req.headers.keys().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(left, ["content-length", "x-kept"]);
    }

    #[test]
    fn a_websocket_upgrade_goes_through_normalised_and_others_do_not() {
        let mut ws = request(&[("Connection", "keep-alive, Upgrade"), ("Upgrade", "WebSocket")]);
        strip(&mut ws, true, false).unwrap();
        assert_eq!(ws.headers["connection"], "Upgrade");
        assert_eq!(ws.headers["upgrade"], "websocket");

        let mut h2c =
            request(&[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "x")]);
        strip(&mut h2c, true, false).unwrap();
        assert!(h2c.headers.is_empty());

        let mut over_h2 = request(&[("Upgrade", "websocket")]);
        strip(&mut over_h2, false, false).unwrap();
        assert!(over_h2.headers.is_empty());
    }

    #[test]
    fn a_body_without_length_is_chunked_to_an_http1_upstream() {
        let mut req = request(&[("Transfer-Encoding", "gzip, chunked")]);
        strip(&mut req, true, true).unwrap();
        assert_eq!(req.headers["transfer-encoding"], "chunked");

        let mut sized = request(&[("Content-Length", "10")]);
        strip(&mut sized, true, true).unwrap();
        assert!(sized.headers.get("transfer-encoding").is_none());
    }

    #[test]
    fn protected_malformed_or_too_many_nominations_are_refused() {
        for connection in ["close, Host", "X-Forwarded-For", "\"X-A\"", "a,b,c,d,e,f,g,h,i,j,k"] {
            let mut req = request(&[("Connection", connection)]);
            let e = strip(&mut req, true, false).unwrap_err();
            assert_eq!(*e.etype(), ErrorType::InvalidHTTPHeader, "{connection}");
        }
    }
}
