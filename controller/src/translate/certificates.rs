//! The certificates and CAs of one translation, each Secret loaded once
//! however many hosts and listeners name it.

use super::diagnostics::Diagnostics;
use super::tls_secret::{self, CA_KEY};
use crate::store::{Key, Objects};
use k8s_openapi::api::core::v1::Secret;
use sluice_config::{Certificate, CertificateAuthority, Diagnostic, ObjectRef};
use std::collections::{BTreeMap, HashMap};

pub(super) struct CertificateRegistry<'a> {
    secrets: &'a Objects<Secret>,
    certificates: BTreeMap<String, Certificate>,
    authorities: BTreeMap<String, CertificateAuthority>,
    /// Secret key -> the certificate name, or `None` when the Secret is unusable.
    loaded: HashMap<Key, Option<String>>,
}

/// Who names a Secret, for the "not found" diagnostic.
pub(super) struct Referrer<'r> {
    pub object: &'r ObjectRef,
    pub field: &'r str,
}

impl<'a> CertificateRegistry<'a> {
    pub(super) fn new(secrets: &'a Objects<Secret>) -> Self {
        CertificateRegistry {
            secrets,
            certificates: BTreeMap::new(),
            authorities: BTreeMap::new(),
            loaded: HashMap::new(),
        }
    }

    /// The certificate name of Secret `namespace/name`, loading it once.
    /// `None` (with a diagnostic) when it is missing or unusable.
    pub(super) fn certificate(
        &mut self,
        diags: &mut Diagnostics,
        namespace: &str,
        name: &str,
        by: Referrer<'_>,
    ) -> Option<String> {
        let key = (namespace.to_owned(), name.to_owned());
        // Every object naming a missing Secret is told, not only the first.
        let Some(secret) = self.secrets.get(&key) else {
            diags.push(Diagnostic::error(
                by.object.clone(),
                by.field,
                format!("Secret {namespace}/{name} not found; its hosts are served with the default certificate"),
            ));
            return None;
        };
        if let Some(done) = self.loaded.get(&key) {
            return done.clone();
        }
        let secret_ref = ObjectRef::new("Secret", namespace, name);
        let result = match tls_secret::load(secret, &secret_ref) {
            Ok(cert) => {
                let cert_name = cert.name.clone();
                self.certificates.insert(cert_name.clone(), cert);
                Some(cert_name)
            }
            Err((field, message)) => {
                diags.push(Diagnostic::error(
                    secret_ref,
                    field,
                    format!("{message}; hosts using this Secret are served with the default certificate"),
                ));
                None
            }
        };
        self.loaded.insert(key, result.clone());
        result
    }

    /// The CA of Secret `namespace/name` (its `ca.crt`), for checking client
    /// certificates. `None` with a diagnostic when it is missing or unusable:
    /// then the host must not be served without the check.
    pub(super) fn authority(
        &mut self,
        diags: &mut Diagnostics,
        namespace: &str,
        name: &str,
        by: Referrer<'_>,
    ) -> Option<String> {
        let Some(secret) = self.secrets.get(&(namespace.to_owned(), name.to_owned())) else {
            diags.push(Diagnostic::error(by.object.clone(), by.field, format!("Secret {namespace}/{name} not found")));
            return None;
        };
        let secret_ref = ObjectRef::new("Secret", namespace, name);
        let field_ca = format!("data[{CA_KEY}]");
        let Some(pem) = tls_secret::value(secret, CA_KEY) else {
            diags.push(Diagnostic::error(secret_ref, field_ca, "missing: no CA to check client certificates with"));
            return None;
        };
        let text = std::str::from_utf8(pem).ok().filter(|_| tls_secret::is_ca_bundle(pem));
        let Some(text) = text else {
            diags.push(Diagnostic::error(secret_ref, field_ca, "is not PEM X.509 certificates"));
            return None;
        };
        let name = format!("{namespace}/{name}");
        self.authorities.insert(
            name.clone(),
            CertificateAuthority { name: name.clone(), secret: secret_ref, pem: text.to_owned() },
        );
        Some(name)
    }

    /// A CA that is not in a Secret (a ConfigMap's `ca.crt`), under `name`.
    pub(super) fn add_authority(&mut self, name: &str, source: ObjectRef, pem: String) {
        self.authorities.insert(name.to_owned(), CertificateAuthority { name: name.to_owned(), secret: source, pem });
    }

    /// Everything loaded, in name order.
    pub(super) fn into_parts(self) -> (Vec<Certificate>, Vec<CertificateAuthority>) {
        (self.certificates.into_values().collect(), self.authorities.into_values().collect())
    }
}
