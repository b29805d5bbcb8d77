//! How a route meets its TLS upstream: the client certificate it shows
//! (ingress-nginx `proxy-ssl-secret`), the CA the upstream's certificate is
//! checked against (its `ca.crt`, a BackendTLSPolicy's ConfigMap) and the
//! names it must carry (BackendTLSPolicy `subjectAltNames`), parsed once
//! per table from the Snapshot's certificates.

use super::upstream_names::{ChainCheck, SubjectNames, chain_check};
use crate::tls::{authority_digest, certificate_digest};
use pingora_core::protocols::tls::CaType;
use pingora_core::utils::tls::{CertKey, WrappedX509, parse_x509};
use rustls::RootCertStore;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sluice_config::{RoutePolicy, Snapshot};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// A route's identity towards its upstream, and its checks of the
/// upstream's.
#[derive(Debug, Clone)]
pub struct UpstreamIdentity {
    pub certificate: Option<Arc<CertKey>>,
    pub ca: Option<Arc<CaType>>,
    /// The check of the upstream's certificate against names other than
    /// the SNI.
    pub verifier: Option<Arc<dyn ServerCertVerifier>>,
    /// Sets apart the pooled connections of routes that check their
    /// upstream differently (the connector's pool key leaves out the CA
    /// and the verifier).
    pub group: u64,
}

/// A CA as the connector takes it, and as a chain check of its own.
#[derive(Debug)]
struct Authority {
    hash: u64,
    ca: Arc<CaType>,
    chain: Option<ChainCheck>,
}

/// The Snapshot's certificates and CAs as identities towards upstreams, by
/// name; each with the hash of its PEM, so the next table parses only what
/// changed.
#[derive(Debug, Default)]
pub struct UpstreamIdentities {
    certificates: HashMap<String, (u64, Arc<CertKey>)>,
    cas: HashMap<String, Arc<Authority>>,
}

/// The system's roots as a chain check, read once.
fn system_chain() -> Option<ChainCheck> {
    static SYSTEM: OnceLock<Option<ChainCheck>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            chain_check(roots)
        })
        .clone()
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
            let kept = previous.and_then(|p| p.cas.get(&c.name)).filter(|a| a.hash == hash).cloned();
            if let Some(authority) = kept.or_else(|| authority(&c.pem, hash)) {
                out.cas.insert(c.name.clone(), authority);
            }
        }
        out
    }

    /// How `policy`'s requests meet a TLS upstream; `None` when the
    /// defaults do (no client certificate, the system's roots, the SNI).
    pub fn get(&self, policy: &RoutePolicy) -> Option<UpstreamIdentity> {
        if !policy.has_upstream_identity() {
            return None;
        }
        let certificate = match policy.upstream_certificate.as_deref() {
            Some(name) => Some(self.certificates.get(name)?.1.clone()),
            None => None,
        };
        let authority = policy.upstream_ca.as_deref().and_then(|c| self.cas.get(c));
        let verifier = if policy.upstream_verify && !policy.upstream_names.is_empty() {
            let chain = match authority {
                Some(a) => a.chain.clone(),
                None => system_chain(),
            }?;
            let names = SubjectNames { chain, names: policy.upstream_names.clone() };
            Some(Arc::new(names) as Arc<dyn ServerCertVerifier>)
        } else {
            None
        };
        let mut group = std::hash::DefaultHasher::new();
        (authority.map(|a| a.hash), &policy.upstream_names).hash(&mut group);
        Some(UpstreamIdentity { certificate, ca: authority.map(|a| a.ca.clone()), verifier, group: group.finish() })
    }
}

impl UpstreamIdentities {
    /// The TLS client of a stream re-encrypted to its backend under
    /// `policy` (a terminated TLSRoute's BackendTLSPolicy): the backend's
    /// certificate checked against the policy's CA, or the system's roots,
    /// and its names or the SNI; the route's client certificate shown. `None`
    /// when the CA or the certificate cannot be had: the stream is then not
    /// forwarded unchecked, or without the certificate.
    pub fn stream_client(&self, policy: &RoutePolicy) -> Option<Arc<rustls::ClientConfig>> {
        let chain = match policy.upstream_ca.as_deref() {
            Some(name) => self.cas.get(name)?.chain.clone()?,
            None => system_chain()?,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if policy.upstream_names.is_empty() {
            chain
        } else {
            Arc::new(SubjectNames { chain, names: policy.upstream_names.clone() })
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match policy.upstream_certificate.as_deref() {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let key = &self.certificates.get(name)?.1;
                let chain = std::iter::once(key.leaf()).chain(key.intermediates());
                let chain = chain.map(CertificateDer::from).collect();
                let private = PrivateKeyDer::try_from(key.key().clone()).ok()?;
                builder.with_client_auth_cert(chain, private).ok()?
            }
        };
        Some(Arc::new(config))
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

fn authority(pem: &str, hash: u64) -> Option<Arc<Authority>> {
    let ders: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut pem.as_bytes()).filter_map(Result::ok).collect();
    let certs: Vec<WrappedX509> = ders.iter().map(|c| WrappedX509::new(c.to_vec(), parse_x509)).collect();
    if certs.is_empty() {
        return None;
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(ders);
    Some(Arc::new(Authority { hash, ca: Arc::from(certs.into_boxed_slice()), chain: chain_check(roots) }))
}
