//! HTTP basic authentication (ingress-nginx `auth-type: basic`): the
//! `Authorization` header's user and password against the route's
//! htpasswd users.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header};
use sluice_config::{BasicAuth, htpasswd};
use std::collections::HashSet;
use std::sync::Mutex;

/// Credentials remembered as checked, per route: a slow hash (bcrypt at
/// cost 10 takes tens of milliseconds) is paid once per credential, not
/// once per request. Held as SHA-256 digests, never as passwords.
const REMEMBERED: usize = 4096;

#[derive(Debug)]
pub struct BasicAuthCheck {
    /// `Basic realm="..."`, sent with every 401.
    challenge: HeaderValue,
    passed: Mutex<HashSet<[u8; 32]>>,
}

impl BasicAuthCheck {
    pub fn compile(auth: &BasicAuth) -> Self {
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\"", auth.realm))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"\""));
        Self { challenge, passed: Mutex::new(HashSet::new()) }
    }

    pub fn challenge(&self) -> HeaderValue {
        self.challenge.clone()
    }

    /// Whether the request carries the password of one of `auth`'s users.
    pub fn admits(&self, auth: &BasicAuth, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return false };
        let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
        let Ok(key) = <[u8; 32]>::try_from(digest.as_ref()) else { return false };
        let remembered = |passed: &HashSet<[u8; 32]>| passed.contains(&key);
        if self.passed.lock().is_ok_and(|p| remembered(&p)) {
            return true;
        }
        let Some(credentials) = basic_credentials(value) else { return false };
        let Some(colon) = credentials.iter().position(|b| *b == b':') else { return false };
        let (user, password) = (&credentials[..colon], &credentials[colon + 1..]);
        let user = std::str::from_utf8(user).unwrap_or("");
        let ok = auth.users.get(user).is_some_and(|hash| htpasswd::verify(&hash.0, password));
        if ok && let Ok(mut passed) = self.passed.lock() {
            if passed.len() >= REMEMBERED {
                passed.clear();
            }
            passed.insert(key);
        }
        ok
    }
}

/// The user of the request's basic credentials (nginx's `$remote_user`).
pub fn user(headers: &HeaderMap) -> Option<Vec<u8>> {
    let mut credentials = basic_credentials(headers.get(header::AUTHORIZATION)?)?;
    let colon = credentials.iter().position(|b| *b == b':')?;
    credentials.truncate(colon);
    Some(credentials)
}

/// The decoded `user:password` of `Basic <base64>` (the scheme in any case).
fn basic_credentials(value: &HeaderValue) -> Option<Vec<u8>> {
    let text = value.to_str().ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    STANDARD.decode(token.trim()).ok()
}
