//! ingress-nginx `proxy-ssl-secret`: the client certificate a TLS upstream
//! gets, and the CA its own certificate is checked against, parsed once
//! per table from the Snapshot's certificates.

use crate::tls::{authority_digest, certificate_digest};
use pingora_core::protocols::tls::CaType;
use pingora_core::utils::tls::{CertKey, WrappedX509, parse_x509};
use rustls::pki_types::PrivateKeyDer;
use sluice_config::Snapshot;
use std::collections::HashMap;
use std::sync::Arc;

/// A route's identity towards its upstream.
#[derive(Debug, Clone)]
pub struct UpstreamIdentity {
    pub certificate: Arc<CertKey>,
    pub ca: Option<Arc<CaType>>,
}

/// The Snapshot's certificates and CAs as identities towards upstreams, by
/// name; each with the hash of its PEM, so the next table parses only what
/// changed.
#[derive(Debug, Default)]
pub struct UpstreamIdentities {
    certificates: HashMap<String, (u64, Arc<CertKey>)>,
    cas: HashMap<String, (u64, Arc<CaType>)>,
}

impl UpstreamIdentities {
    /// Every certificate and CA of `snapshot` (a route names one by its
    /// name; reading which ones would mean reading every route), those of
    /// `previous` kept where their PEM is unchanged.
    pub fn compile(snapshot: &Snapshot, previous: Option<&UpstreamIdentities>) -> Self {
        let mut out = Self::default();
        for c in &snapshot.certificates {
            let hash = certificate_digest(c);
            let kept = previous.and_then(|p| p.certificates.get(&c.name)).filter(|(h, _)| *h == hash);
            let key = kept.map(|(_, k)| k.clone()).or_else(|| cert_key(&c.chain_pem, &c.key_pem.0).map(Arc::new));
            if let Some(key) = key {
                out.certificates.insert(c.name.clone(), (hash, key));
            }
        }
        for c in &snapshot.certificate_authorities {
            let hash = authority_digest(c);
            let kept = previous.and_then(|p| p.cas.get(&c.name)).filter(|(h, _)| *h == hash);
            if let Some(ca) = kept.map(|(_, ca)| ca.clone()).or_else(|| ca(&c.pem)) {
                out.cas.insert(c.name.clone(), (hash, ca));
            }
        }
        out
    }

    pub fn get(&self, certificate: &str, ca: Option<&str>) -> Option<UpstreamIdentity> {
        let certificate = self.certificates.get(certificate)?.1.clone();
        Some(UpstreamIdentity { certificate, ca: ca.and_then(|c| self.cas.get(c)).map(|(_, ca)| ca.clone()) })
    }
}

/// The chain and key as pingora's connector takes them; `None` when either
/// does not parse (pingora would panic on a key it cannot read).
fn cert_key(chain_pem: &str, key_pem: &str) -> Option<CertKey> {
    let chain: Vec<Vec<u8>> =
        rustls_pemfile::certs(&mut chain_pem.as_bytes()).filter_map(Result::ok).map(|c| c.to_vec()).collect();
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes()).ok()??;
    let der = key.secret_der().to_vec();
    PrivateKeyDer::try_from(der.clone()).ok()?;
    (!chain.is_empty()).then(|| CertKey::new(chain, der))
}

fn ca(pem: &str) -> Option<Arc<CaType>> {
    let certs: Vec<WrappedX509> = rustls_pemfile::certs(&mut pem.as_bytes())
        .filter_map(Result::ok)
        .map(|c| WrappedX509::new(c.to_vec(), parse_x509))
        .collect();
    (!certs.is_empty()).then(|| Arc::from(certs.into_boxed_slice()))
}
