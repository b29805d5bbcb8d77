//! htpasswd files as nginx's `auth_basic_user_file` reads them, for
//! ingress-nginx `auth-type: basic`: `user:hash` lines, the hash one of
//! `$apr1$` (Apache MD5), `$1$`, `$2a$`/`$2b$`/`$2y$` (bcrypt), `$5$`/`$6$`
//! (SHA-crypt), `{SHA}`, `{SSHA}` or `{PLAIN}`. DES crypt is refused: its
//! 8-character limit makes a password check that is not one.

use crate::Sensitive;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// Users and their password hashes, checked when read.
pub type Users = BTreeMap<String, Sensitive>;

/// Reads an htpasswd file (`auth-secret-type: auth-file`). Blank lines and
/// `#` comments are skipped; `Err` names the first bad line.
pub fn parse_file(text: &str) -> Result<Users, String> {
    let mut users = Users::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!("line {} is not user:hash", n + 1));
        };
        check(user, hash).map_err(|e| format!("line {}: {e}", n + 1))?;
        users.entry(user.to_owned()).or_insert_with(|| Sensitive(hash.to_owned()));
    }
    Ok(users)
}

/// Whether `hash` is one Sluice verifies, for `user`.
pub fn check(user: &str, hash: &str) -> Result<(), String> {
    if user.is_empty() || user.contains(|c: char| c.is_control() || c == ':') {
        return Err(format!("user '{user}' is empty or has a ':' or a control character"));
    }
    let kind = kind(hash).ok_or_else(|| format!("user '{user}': the hash is not one of {KINDS}"))?;
    // A hash verifies nothing unless it is well formed: try it once.
    if !matches!(kind, Kind::Plain | Kind::Sha | Kind::Ssha) && crypt(kind, b"", hash).is_none() {
        return Err(format!("user '{user}': the {} hash is malformed", kind.name()));
    }
    Ok(())
}

const KINDS: &str = "$apr1$, $1$, $2a$/$2b$/$2y$ (bcrypt), $5$, $6$, {SHA}, {SSHA}, {PLAIN}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Apr1,
    Crypt,
    Sha,
    Ssha,
    Plain,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Apr1 => "$apr1$",
            Kind::Crypt => "crypt",
            Kind::Sha => "{SHA}",
            Kind::Ssha => "{SSHA}",
            Kind::Plain => "{PLAIN}",
        }
    }
}

fn kind(hash: &str) -> Option<Kind> {
    const CRYPT: [&str; 6] = ["$1$", "$2a$", "$2b$", "$2y$", "$5$", "$6$"];
    if hash.starts_with("$apr1$") {
        Some(Kind::Apr1)
    } else if CRYPT.iter().any(|p| hash.starts_with(p)) {
        Some(Kind::Crypt)
    } else if hash.starts_with("{SHA}") {
        Some(Kind::Sha)
    } else if hash.starts_with("{SSHA}") {
        Some(Kind::Ssha)
    } else if hash.starts_with("{PLAIN}") {
        Some(Kind::Plain)
    } else {
        None
    }
}

/// The hash `password` makes with `hash`'s salt and parameters; `None`
/// when `hash` is malformed. pwhash is kept from panicking the proxy on a
/// hash it parses badly.
fn crypt(kind: Kind, password: &[u8], hash: &str) -> Option<String> {
    std::panic::catch_unwind(|| match kind {
        Kind::Apr1 => apr1(password, hash),
        _ => pwhash::unix::crypt(password, hash).ok(),
    })
    .ok()
    .flatten()
}

/// Whether `password` matches `hash` (checked by [`check`]), in time that
/// does not depend on where they differ.
pub fn verify(hash: &str, password: &[u8]) -> bool {
    let same = |a: &[u8], b: &[u8]| bool::from(a.ct_eq(b));
    match kind(hash) {
        None => false,
        Some(Kind::Plain) => same(&hash.as_bytes()["{PLAIN}".len()..], password),
        Some(Kind::Sha) => same(STANDARD.encode(Sha1::digest(password)).as_bytes(), &hash.as_bytes()["{SHA}".len()..]),
        Some(Kind::Ssha) => {
            let Ok(raw) = STANDARD.decode(&hash["{SSHA}".len()..]) else { return false };
            if raw.len() <= 20 {
                return false;
            }
            let (digest, salt) = raw.split_at(20);
            let mut h = Sha1::new();
            h.update(password);
            h.update(salt);
            same(&h.finalize(), digest)
        }
        Some(k) => crypt(k, password, hash).is_some_and(|made| same(made.as_bytes(), hash.as_bytes())),
    }
}

/// Apache's MD5 (`$apr1$salt$hash`): FreeBSD's MD5-crypt with its own
/// magic. pwhash has only the `$1$` form, and the magic is hashed in.
fn apr1(password: &[u8], hash: &str) -> Option<String> {
    const MAGIC: &[u8] = b"$apr1$";
    let rest = hash.strip_prefix("$apr1$")?;
    let salt = rest.split('$').next()?;
    let salt = salt.get(..salt.len().min(8))?.as_bytes();
    if salt.is_empty() || !salt.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'/') {
        return None;
    }
    let alternate = Md5::new().chain(password).chain(salt).chain(password).finalize();
    let mut ctx = Md5::new().chain(password).chain(MAGIC).chain(salt);
    let mut left = password.len();
    while left > 0 {
        ctx.update(&alternate[..left.min(16)]);
        left = left.saturating_sub(16);
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut digest = ctx.finalize();
    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(password);
        } else {
            ctx.update(digest);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 1 {
            ctx.update(digest);
        } else {
            ctx.update(password);
        }
        digest = ctx.finalize();
    }
    let d = digest;
    let mut out = format!("$apr1${}$", std::str::from_utf8(salt).ok()?);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push_hash64(&mut out, (u32::from(d[a]) << 16) | (u32::from(d[b]) << 8) | u32::from(d[c]), 4);
    }
    push_hash64(&mut out, u32::from(d[11]), 2);
    Some(out)
}

/// crypt's base-64: `./0-9A-Za-z`, least significant six bits first.
fn push_hash64(out: &mut String, mut v: u32, n: usize) {
    const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for _ in 0..n {
        out.push(ALPHABET[(v & 0x3f) as usize] as char);
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes of "password" from `htpasswd` and `openssl passwd`.
    #[test]
    fn known_hashes() {
        for hash in [
            "$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00",
            "$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0",
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "{PLAIN}password",
        ] {
            assert!(check("u", hash).is_ok(), "{hash}");
            assert!(verify(hash, b"password"), "{hash}");
            assert!(!verify(hash, b"passwore"), "{hash}");
        }
    }

    #[test]
    fn files_and_bad_lines() {
        let users = parse_file("# team\nalice:{PLAIN}a\n\nbob:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00\n").unwrap();
        assert_eq!(users.keys().collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(parse_file("alice").unwrap_err().contains("line 1"));
        assert!(parse_file("ok:{PLAIN}x\nbad:abcdefghijklm").unwrap_err().contains("line 2"), "DES crypt is refused");
        assert!(parse_file("bad:$2y$10$short").unwrap_err().contains("malformed"));
        assert!(parse_file("bad:$6$rounds=5000").is_err());
    }
}
