//! The Snapshot's certificates as rustls signing keys, and its certificate
//! authorities as client-certificate verifiers, by name. An entry whose PEM
//! did not change since the previous table keeps its parsed form.

use rustls::RootCertStore;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use sluice_config::Snapshot;
use std::collections::HashMap;
use std::sync::Arc;
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// What a certificate's PEM (chain and key) hashes to: the tables that keep
/// a parsed form of it across swaps parse it again only when this changes.
pub(crate) fn certificate_digest(c: &sluice_config::Certificate) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(c.chain_pem.as_bytes());
    hasher.update(b"\n");
    hasher.update(c.key_pem.0.as_bytes());
    hasher.digest()
}

/// What a certificate authority's PEM hashes to, as [`certificate_digest`].
pub(crate) fn authority_digest(ca: &sluice_config::CertificateAuthority) -> u64 {
    xxh3_64(ca.pem.as_bytes())
}

#[derive(Debug, Default)]
pub struct CertificateSet {
    /// name -> (hash of its PEM, key).
    by_name: HashMap<String, (u64, Arc<CertifiedKey>)>,
    /// name -> (hash of its PEM, verifier requiring a certificate, verifier
    /// letting clients without one in).
    authorities: HashMap<String, (u64, Verifiers)>,
    /// Certificates and authorities that could not be loaded, with the reason.
    failed: Vec<(String, String)>,
}

/// A CA's two verifiers: certificate required, certificate optional.
#[derive(Debug, Clone)]
pub struct Verifiers {
    pub required: Arc<dyn ClientCertVerifier>,
    pub optional: Arc<dyn ClientCertVerifier>,
}

fn verifiers(pem: &str) -> Result<Verifiers, String> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let roots = Arc::new(roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let required = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let optional = WebPkiClientVerifier::builder_with_provider(roots, provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Verifiers { required, optional })
}

/// A chain and private key in PEM as a rustls key.
pub fn certified_key(chain_pem: &str, key_pem: &str) -> Result<CertifiedKey, String> {
    let chain: Vec<_> = rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the chain".into());
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| format!("private key: {e}"))?
        .ok_or("no private key")?;
    let signing = any_supported_type(&key).map_err(|e| format!("private key: {e}"))?;
    let key = CertifiedKey::new(chain, signing);
    key.keys_match().map_err(|e| format!("the key does not match the certificate: {e}"))?;
    Ok(key)
}

/// A self-signed certificate for when no certificate applies (ingress-nginx
/// serves its "Fake Certificate" the same way).
pub fn self_signed() -> Result<CertifiedKey, String> {
    let cert =
        rcgen::generate_simple_self_signed(vec!["sluice-default.invalid".to_owned()]).map_err(|e| e.to_string())?;
    certified_key(&cert.cert.pem(), &cert.signing_key.serialize_pem())
}

impl CertificateSet {
    pub fn compile(snapshot: &Snapshot, previous: Option<&CertificateSet>) -> Self {
        let mut set = CertificateSet::default();
        for c in &snapshot.certificates {
            let hash = certificate_digest(c);
            if let Some((h, key)) = previous.and_then(|p| p.by_name.get(&c.name))
                && *h == hash
            {
                set.by_name.insert(c.name.clone(), (hash, key.clone()));
                continue;
            }
            match certified_key(&c.chain_pem, &c.key_pem.0) {
                Ok(key) => {
                    set.by_name.insert(c.name.clone(), (hash, Arc::new(key)));
                }
                Err(e) => set.failed.push((c.name.clone(), e)),
            }
        }
        for ca in &snapshot.certificate_authorities {
            let hash = authority_digest(ca);
            if let Some((h, v)) = previous.and_then(|p| p.authorities.get(&ca.name))
                && *h == hash
            {
                set.authorities.insert(ca.name.clone(), (hash, v.clone()));
                continue;
            }
            match verifiers(&ca.pem) {
                Ok(v) => {
                    set.authorities.insert(ca.name.clone(), (hash, v));
                }
                Err(e) => set.failed.push((ca.name.clone(), e)),
            }
        }
        set
    }

    /// The verifiers of a CA, with the hash of its PEM (changes with it).
    pub fn authority(&self, name: &str) -> Option<(u64, &Verifiers)> {
        self.authorities.get(name).map(|(h, v)| (*h, v))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        self.by_name.get(name).map(|(_, k)| k)
    }

    pub fn failed(&self) -> &[(String, String)] {
        &self.failed
    }
}
