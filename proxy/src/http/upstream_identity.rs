//! ingress-nginx `proxy-ssl-secret`: the client certificate a TLS upstream
//! gets, and the CA its own certificate is checked against, parsed once
//! per table from the Snapshot's certificates.

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

/// The identities the Snapshot's routes name, by certificate and CA name.
#[derive(Debug, Default)]
pub struct UpstreamIdentities {
    certificates: HashMap<String, Arc<CertKey>>,
    cas: HashMap<String, Arc<CaType>>,
}

impl UpstreamIdentities {
    pub fn compile(snapshot: &Snapshot) -> Self {
        let mut out = Self::default();
        let policies = snapshot.route_configs.iter().flat_map(|rc| rc.virtual_hosts.iter()).flat_map(|vh| &vh.routes);
        for policy in policies.map(|r| &r.policy) {
            if let Some(name) = &policy.upstream_certificate
                && !out.certificates.contains_key(name)
                && let Some(key) = snapshot.certificate(name).and_then(|c| cert_key(&c.chain_pem, &c.key_pem.0))
            {
                out.certificates.insert(name.clone(), Arc::new(key));
            }
            if let Some(name) = &policy.upstream_ca
                && !out.cas.contains_key(name)
                && let Some(ca) = snapshot.certificate_authority(name).and_then(|c| ca(&c.pem))
            {
                out.cas.insert(name.clone(), ca);
            }
        }
        out
    }

    pub fn get(&self, certificate: &str, ca: Option<&str>) -> Option<UpstreamIdentity> {
        let certificate = self.certificates.get(certificate)?.clone();
        Some(UpstreamIdentity { certificate, ca: ca.and_then(|c| self.cas.get(c)).cloned() })
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
