//! `X-Request-ID`: the client's when it sent a usable one, else 32 random hex
//! digits (ingress-nginx's `$req_id`). It goes upstream and into the log.

use http::{HeaderMap, HeaderValue};

pub static X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Longest client-sent id passed on; a longer one is replaced.
const MAX_LEN: usize = 256;

/// The request's id: the client's `X-Request-ID` if it is one visible-ASCII
/// token of at most 256 bytes, else a new one.
pub fn of(headers: &HeaderMap) -> HeaderValue {
    match headers.get(&X_REQUEST_ID) {
        Some(id) if usable(id.as_bytes()) => id.clone(),
        _ => generate(),
    }
}

fn usable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// 128 random bits as 32 lowercase hex digits.
fn generate() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = fastrand::u128(..);
    let mut text = [0u8; 32];
    for (i, digit) in text.iter_mut().enumerate() {
        *digit = HEX[((bits >> (124 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_client_id_is_kept_and_others_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(of(&headers), "abc-123");
        for bad in ["", "two words", &"x".repeat(257)] {
            headers.insert(&X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let id = of(&headers);
            assert_eq!(id.len(), 32, "{bad:?} was not replaced");
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        }
        assert_ne!(of(&HeaderMap::new()), of(&HeaderMap::new()));
    }
}
