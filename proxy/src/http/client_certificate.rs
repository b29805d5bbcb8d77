//! What the upstream is told of a checked client certificate, as
//! ingress-nginx tells it on a host with `auth-tls-secret`:
//! `ssl-client-verify` (`SUCCESS`, or `NONE` without a certificate),
//! `ssl-client-subject-dn` and `ssl-client-issuer-dn` (RFC 2253, as nginx's
//! `$ssl_client_s_dn`), and with `auth-tls-pass-certificate-to-upstream`
//! the certificate itself, URL-escaped PEM (`$ssl_client_escaped_cert`).
//! These replace whatever the client sent under the same names.

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// What a request's connection shows of its client's certificate.
#[derive(Clone, Copy)]
pub enum Presented<'s> {
    None,
    /// The chain, leaf first (HTTP/1).
    Chain(&'s [rustls::pki_types::CertificateDer<'static>]),
    /// Only whether one was presented (pingora's HTTP/2 streams carry the
    /// handshake's digest, not the certificate).
    Unseen(bool),
}

impl Presented<'_> {
    pub fn any(self) -> bool {
        matches!(self, Presented::Chain(_) | Presented::Unseen(true))
    }
}

/// What `session`'s connection shows of its client's certificate.
pub fn presented(session: &pingora_core::protocols::http::ServerSession) -> Presented<'_> {
    match session.stream() {
        Some(stream) => match stream.get_ssl().and_then(|t| t.peer_cert_chain_der()) {
            Some(chain) if !chain.is_empty() => Presented::Chain(chain),
            _ => Presented::None,
        },
        None => {
            let digest = session.digest().and_then(|d| d.ssl_digest.as_ref());
            Presented::Unseen(digest.is_some_and(|ssl| !ssl.cert_digest.is_empty()))
        }
    }
}

static VERIFY: HeaderName = HeaderName::from_static("ssl-client-verify");
static SUBJECT: HeaderName = HeaderName::from_static("ssl-client-subject-dn");
static ISSUER: HeaderName = HeaderName::from_static("ssl-client-issuer-dn");
static CERT: HeaderName = HeaderName::from_static("ssl-client-cert");

/// The headers for a request over a connection whose client `presented`
/// a certificate (verified) or none.
pub fn headers(presented: Presented<'_>, pass_certificate: bool) -> Vec<(HeaderName, HeaderValue)> {
    match presented {
        Presented::Chain(chain) => of_leaf(chain.first().map(|c| c.as_ref()), pass_certificate),
        Presented::None => of_leaf(None, pass_certificate),
        Presented::Unseen(shown) => verdict(shown),
    }
}

fn of_leaf(leaf: Option<&[u8]>, pass_certificate: bool) -> Vec<(HeaderName, HeaderValue)> {
    let parsed = leaf.and_then(|der| X509Certificate::from_der(der).ok().map(|(_, cert)| (der, cert)));
    let Some((der, cert)) = parsed else {
        let empty = HeaderValue::from_static("");
        let mut out = vec![(VERIFY.clone(), HeaderValue::from_static("NONE"))];
        out.extend([(SUBJECT.clone(), empty.clone()), (ISSUER.clone(), empty.clone())]);
        if pass_certificate {
            out.push((CERT.clone(), empty));
        }
        return out;
    };
    let mut out = vec![(VERIFY.clone(), HeaderValue::from_static("SUCCESS"))];
    for (name, dn) in [(&SUBJECT, cert.subject()), (&ISSUER, cert.issuer())] {
        if let Ok(v) = HeaderValue::from_str(&rfc2253(dn)) {
            out.push((name.clone(), v));
        }
    }
    if pass_certificate && let Ok(v) = HeaderValue::from_str(&escaped_pem(der)) {
        out.push((CERT.clone(), v));
    }
    out
}

/// `ssl-client-verify` alone, where the certificate cannot be read (the
/// other names are dropped from the client's request all the same).
fn verdict(presented: bool) -> Vec<(HeaderName, HeaderValue)> {
    vec![(VERIFY.clone(), HeaderValue::from_static(if presented { "SUCCESS" } else { "NONE" }))]
}

/// Removes the names these headers use from a request the client sent.
pub fn strip(req: &mut pingora_http::RequestHeader) {
    for name in [&VERIFY, &SUBJECT, &ISSUER, &CERT] {
        req.remove_header(name);
    }
}

/// A name as OpenSSL's `XN_FLAG_RFC2253` prints it: the last RDN first,
/// `,` between them, `+` within one, special characters escaped.
fn rfc2253(name: &X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            let parts: Vec<String> = rdn
                .iter()
                .map(|attr| {
                    let oid = attr.attr_type();
                    let key = x509_parser::objects::oid2abbrev(oid, registry)
                        .map(str::to_owned)
                        .unwrap_or_else(|_| oid.to_id_string());
                    let value = attr.as_str().map(escape_dn_value).unwrap_or_default();
                    format!("{key}={value}")
                })
                .collect();
            parts.join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape_dn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The certificate as PEM, every byte but `A-Z a-z 0-9 - . _ ~`
/// percent-escaped.
fn escaped_pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or(""));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    super::path::escape_component(&pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_escapes() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "Example, Inc");
        params.distinguished_name.push(rcgen::DnType::CommonName, "alice");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let sent = of_leaf(Some(cert.der()), true);
        let get = |n: &str| sent.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_str().unwrap().to_owned());
        assert_eq!(get("ssl-client-verify").as_deref(), Some("SUCCESS"));
        // As openssl prints it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
            .arg(dir.path().join("c.pem"))
            .output()
            .unwrap();
        let openssl = String::from_utf8(out.stdout).unwrap();
        let subject = get("ssl-client-subject-dn").unwrap();
        assert_eq!(openssl.trim().strip_prefix("subject=").unwrap(), subject);
        assert!(subject.contains("O=Example\\, Inc") && subject.contains("CN=alice"), "{subject}");
        let escaped = get("ssl-client-cert").unwrap();
        assert!(escaped.starts_with("-----BEGIN%20CERTIFICATE-----%0A"), "{escaped}");
        assert!(!escaped.contains(['+', '/', '=', '\n']));
        assert_eq!(headers(Presented::None, false)[0].1, "NONE");
    }
}
