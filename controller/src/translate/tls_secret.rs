//! What a Secret's PEM holds: a serving certificate (`kubernetes.io/tls`, or
//! `Opaque` with `tls.crt`/`tls.key`) or a CA bundle (`ca.crt`).
//!
//! The blocks are split and the private key found by `rustls-pemfile`, the
//! reader the proxy loads the same PEM with, so a Secret the translator
//! accepts is one the proxy can load and one it refuses is refused here, with
//! the field named. x509-parser reads only the DER of each certificate, for
//! its names and expiry.

use k8s_openapi::api::core::v1::Secret;
use sluice_config::{Certificate, ObjectRef, Sensitive};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

const CERT_KEY: &str = "tls.crt";
const KEY_KEY: &str = "tls.key";
pub(super) const CA_KEY: &str = "ca.crt";

/// A problem with a Secret: the field and what is wrong with it.
pub(super) type Problem = (String, String);

/// Reads one value of `data` (or `stringData`, as `kubectl apply` would merge it).
pub(super) fn value<'s>(secret: &'s Secret, key: &str) -> Option<&'s [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice())
        .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.as_bytes()))
}

/// The DER of every CERTIFICATE block, as the proxy reads a chain or a CA.
fn certificate_blocks(pem: &[u8]) -> Result<Vec<Vec<u8>>, std::io::Error> {
    rustls_pemfile::certs(&mut &pem[..]).map(|c| c.map(|der| der.as_ref().to_vec())).collect()
}

/// Whether `pem` is a CA bundle the proxy can check client certificates with.
pub(super) fn is_ca_bundle(pem: &[u8]) -> bool {
    certificate_blocks(pem)
        .is_ok_and(|blocks| !blocks.is_empty() && blocks.iter().all(|der| X509Certificate::from_der(der).is_ok()))
}

/// The serving certificate of a TLS Secret, named `namespace/name`.
pub(super) fn load(secret: &Secret, r: &ObjectRef) -> Result<Certificate, Problem> {
    let ty = secret.type_.as_deref().unwrap_or("Opaque");
    if ty != "kubernetes.io/tls" && ty != "Opaque" {
        return Err(("type".into(), format!("'{ty}' is not a TLS Secret (kubernetes.io/tls or Opaque)")));
    }
    let missing = |k: &str| (format!("data[{k}]"), "missing".to_owned());
    let chain = value(secret, CERT_KEY).ok_or_else(|| missing(CERT_KEY))?;
    let key = value(secret, KEY_KEY).ok_or_else(|| missing(KEY_KEY))?;
    let cert_field = format!("data[{CERT_KEY}]");
    let key_field = format!("data[{KEY_KEY}]");

    let blocks = certificate_blocks(chain).map_err(|e| (cert_field.clone(), format!("not PEM: {e}")))?;
    let leaf = blocks.first().ok_or_else(|| (cert_field.clone(), "holds no PEM CERTIFICATE block".to_owned()))?;
    let (_, x509) = X509Certificate::from_der(leaf)
        .map_err(|e| (cert_field.clone(), format!("the leaf certificate is not valid X.509: {e}")))?;
    for (i, extra) in blocks.iter().enumerate().skip(1) {
        X509Certificate::from_der(extra)
            .map_err(|e| (cert_field.clone(), format!("certificate {} of the chain is not valid X.509: {e}", i + 1)))?;
    }
    check_private_key(key).map_err(|message| (key_field.clone(), message))?;

    let chain_pem = std::str::from_utf8(chain).map_err(|_| (cert_field, "is not UTF-8 text".to_owned()))?;
    let key_pem = std::str::from_utf8(key).map_err(|_| (key_field, "is not UTF-8 text".to_owned()))?;
    Ok(Certificate {
        name: format!("{}/{}", r.namespace, r.name),
        secret: r.clone(),
        dns_names: dns_names(&x509),
        not_after: x509.validity().not_after.timestamp(),
        chain_pem: chain_pem.to_owned(),
        key_pem: Sensitive(key_pem.to_owned()),
    })
}

/// The names a certificate serves: its SAN DNS names, else its CN.
fn dns_names(x509: &X509Certificate<'_>) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(n) = name {
                names.push(n.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty()
        && let Some(cn) = x509.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok())
    {
        names.push(cn.to_ascii_lowercase());
    }
    names
}

/// The first private key block, found as the proxy finds it (PKCS#1, PKCS#8
/// or SEC1; other blocks skipped). An encrypted PKCS#8 block is skipped by
/// that reader too: when it is all there is, the message says why.
fn check_private_key(pem: &[u8]) -> Result<(), String> {
    match rustls_pemfile::private_key(&mut &pem[..]) {
        Err(e) => Err(format!("not PEM: {e}")),
        Ok(Some(key)) if key.secret_der().is_empty() => Err("the private key block is empty".into()),
        Ok(Some(_)) => Ok(()),
        Ok(None) if pem.windows(ENCRYPTED.len()).any(|w| w == ENCRYPTED) => {
            Err("encrypted private keys are not supported".into())
        }
        Ok(None) => Err("holds no PEM private key block".into()),
    }
}

/// The start of a PKCS#8 encrypted key block.
const ENCRYPTED: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";

#[cfg(test)]
mod tests {
    //! Inputs the old x509-parser PEM reading judged otherwise than the
    //! proxy's `rustls-pemfile`: the verdict now is the proxy's.
    use super::*;
    use std::collections::BTreeMap;

    fn secret(chain: &str, key: &str) -> Secret {
        let data = BTreeMap::from([(CERT_KEY.to_owned(), chain.to_owned()), (KEY_KEY.to_owned(), key.to_owned())]);
        Secret { type_: Some("kubernetes.io/tls".into()), string_data: Some(data), ..Secret::default() }
    }

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["a.example".into()]).expect("rcgen");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn r() -> ObjectRef {
        ObjectRef::new("Secret", "default", "s")
    }

    #[test]
    fn key_block_with_another_end_label_is_refused_as_the_proxy_refuses_it() {
        let (chain, key) = pair();
        // x509-parser ended the block at any END line; rustls wants the BEGIN label.
        let key = key.replace("-----END PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----");
        assert!(rustls_pemfile::private_key(&mut key.as_bytes()).is_err());
        let (field, message) = load(&secret(&chain, &key), &r()).expect_err("refused");
        assert_eq!(field, "data[tls.key]");
        assert!(message.starts_with("not PEM: "), "{message}");
    }

    #[test]
    fn unknown_block_that_is_not_base64_is_skipped_as_the_proxy_skips_it() {
        let (chain, key) = pair();
        // x509-parser decoded every block and refused the chain; rustls skips unknown labels.
        let chain = format!("{chain}-----BEGIN NOTE-----\nnot base64: renewed by hand\n-----END NOTE-----\n");
        assert_eq!(rustls_pemfile::certs(&mut chain.as_bytes()).count(), 1);
        let cert = load(&secret(&chain, &key), &r()).expect("accepted");
        assert_eq!(cert.dns_names, ["a.example"]);
    }

    #[test]
    fn only_an_encrypted_key_is_named_as_such() {
        let (chain, _) = pair();
        let key = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let (field, message) = load(&secret(&chain, key), &r()).expect_err("refused");
        assert_eq!((field.as_str(), message.as_str()), ("data[tls.key]", "encrypted private keys are not supported"));
    }
}
