//! TLS Secrets (`kubernetes.io/tls`, or `Opaque` with `tls.crt`/`tls.key`)
//! into Snapshot certificates; `ca.crt` into certificate authorities.

use super::Translator;
use k8s_openapi::api::core::v1::Secret;
use sluice_config::{Certificate, CertificateAuthority, Diagnostic, ObjectRef, Sensitive};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

const CERT_KEY: &str = "tls.crt";
const KEY_KEY: &str = "tls.key";
const CA_KEY: &str = "ca.crt";

impl Translator<'_> {
    /// The certificate name of Secret `namespace/name`, loading it once.
    /// `None` (with a diagnostic) when it is missing or unusable; `user` and
    /// `field` name the reference for the "not found" case.
    pub(super) fn certificate_for(
        &mut self,
        namespace: &str,
        name: &str,
        user: &ObjectRef,
        field: &str,
    ) -> Option<String> {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(done) = self.secret_results.get(&key) {
            return done.clone();
        }
        let result = match self.store.secrets.get(&key) {
            None => {
                self.push(Diagnostic::error(
                    user.clone(),
                    field,
                    format!("Secret {namespace}/{name} not found; its hosts are served with the default certificate"),
                ));
                None
            }
            Some(secret) => {
                let secret_ref = ObjectRef::new("Secret", namespace, name);
                match load(secret, &secret_ref) {
                    Ok(cert) => {
                        let cert_name = cert.name.clone();
                        self.certificates.insert(cert_name.clone(), cert);
                        Some(cert_name)
                    }
                    Err((field, message)) => {
                        self.push(Diagnostic::error(
                            secret_ref,
                            field,
                            format!("{message}; hosts using this Secret are served with the default certificate"),
                        ));
                        None
                    }
                }
            }
        };
        self.secret_results.insert(key, result.clone());
        result
    }
}

impl Translator<'_> {
    /// The CA of Secret `namespace/name` (its `ca.crt`), for checking client
    /// certificates. `None` with a diagnostic when it is missing or unusable:
    /// then the host must not be served without the check.
    pub(super) fn authority_for(
        &mut self,
        namespace: &str,
        name: &str,
        user: &ObjectRef,
        field: &str,
    ) -> Option<String> {
        let Some(secret) = self.store.secrets.get(&(namespace.to_owned(), name.to_owned())) else {
            self.push(Diagnostic::error(user.clone(), field, format!("Secret {namespace}/{name} not found")));
            return None;
        };
        let secret_ref = ObjectRef::new("Secret", namespace, name);
        let field_ca = format!("data[{CA_KEY}]");
        let Some(pem) = value(secret, CA_KEY) else {
            self.push(Diagnostic::error(secret_ref, field_ca, "missing: no CA to check client certificates with"));
            return None;
        };
        let parsed: Result<Vec<Pem>, _> = Pem::iter_from_buffer(pem).collect();
        let usable = parsed.as_ref().is_ok_and(|blocks| {
            let certs: Vec<&Pem> = blocks.iter().filter(|p| p.label == "CERTIFICATE").collect();
            !certs.is_empty() && certs.iter().all(|c| c.parse_x509().is_ok())
        });
        let text = std::str::from_utf8(pem).ok().filter(|_| usable);
        let Some(text) = text else {
            self.push(Diagnostic::error(secret_ref, field_ca, "is not PEM X.509 certificates"));
            return None;
        };
        let name = format!("{namespace}/{name}");
        self.authorities.insert(
            name.clone(),
            CertificateAuthority { name: name.clone(), secret: secret_ref, pem: text.to_owned() },
        );
        Some(name)
    }
}

/// Reads one value of `data` (or `stringData`, as `kubectl apply` would merge it).
fn value<'s>(secret: &'s Secret, key: &str) -> Option<&'s [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice())
        .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.as_bytes()))
}

fn load(secret: &Secret, r: &ObjectRef) -> Result<Certificate, (String, String)> {
    let ty = secret.type_.as_deref().unwrap_or("Opaque");
    if ty != "kubernetes.io/tls" && ty != "Opaque" {
        return Err(("type".into(), format!("'{ty}' is not a TLS Secret (kubernetes.io/tls or Opaque)")));
    }
    let missing = |k: &str| (format!("data[{k}]"), "missing".to_owned());
    let chain = value(secret, CERT_KEY).ok_or_else(|| missing(CERT_KEY))?;
    let key = value(secret, KEY_KEY).ok_or_else(|| missing(KEY_KEY))?;
    let cert_field = format!("data[{CERT_KEY}]");
    let key_field = format!("data[{KEY_KEY}]");

    let blocks: Vec<Pem> = Pem::iter_from_buffer(chain)
        .collect::<Result<_, _>>()
        .map_err(|e| (cert_field.clone(), format!("not PEM: {e}")))?;
    let certs: Vec<&Pem> = blocks.iter().filter(|p| p.label == "CERTIFICATE").collect();
    let leaf = certs.first().ok_or_else(|| (cert_field.clone(), "holds no PEM CERTIFICATE block".to_owned()))?;
    let x509 =
        leaf.parse_x509().map_err(|e| (cert_field.clone(), format!("the leaf certificate is not valid X.509: {e}")))?;
    for (i, extra) in certs.iter().enumerate().skip(1) {
        extra
            .parse_x509()
            .map_err(|e| (cert_field.clone(), format!("certificate {} of the chain is not valid X.509: {e}", i + 1)))?;
    }

    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(n) = name {
                dns_names.push(n.to_ascii_lowercase());
            }
        }
    }
    if dns_names.is_empty()
        && let Some(cn) = x509.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok())
    {
        dns_names.push(cn.to_ascii_lowercase());
    }

    let keys: Vec<Pem> = Pem::iter_from_buffer(key)
        .collect::<Result<_, _>>()
        .map_err(|e| (key_field.clone(), format!("not PEM: {e}")))?;
    if keys.iter().any(|p| p.label == "ENCRYPTED PRIVATE KEY") {
        return Err((key_field, "encrypted private keys are not supported".into()));
    }
    let private = keys
        .iter()
        .find(|p| matches!(p.label.as_str(), "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"))
        .ok_or_else(|| (key_field.clone(), "holds no PEM private key block".to_owned()))?;
    if private.contents.is_empty() {
        return Err((key_field, "the private key block is empty".into()));
    }

    let chain_pem = std::str::from_utf8(chain).map_err(|_| (cert_field, "is not UTF-8 text".to_owned()))?;
    let key_pem = std::str::from_utf8(key).map_err(|_| (key_field, "is not UTF-8 text".to_owned()))?;
    Ok(Certificate {
        name: format!("{}/{}", r.namespace, r.name),
        secret: r.clone(),
        dns_names,
        not_after: x509.validity().not_after.timestamp(),
        chain_pem: chain_pem.to_owned(),
        key_pem: Sensitive(key_pem.to_owned()),
    })
}
