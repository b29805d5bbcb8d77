//! Client-certificate checks beyond rustls's own. nginx's
//! `ssl_verify_depth` (ingress-nginx `auth-tls-verify-depth`, default 1):
//! a client's chain may reach the CA through at most `depth` intermediate
//! certificates. webpki builds the path from the intermediates it is
//! given, so it is given only the first `depth` the client sent (TLS sends
//! them in chain order): a path that needs more is not found. And
//! `auth-tls-error-page`: the handshake takes any certificate (its key
//! still proven), and each request checks it, so a failure can be
//! answered with a redirect.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::CertificateDer as Der;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::sync::Arc;

#[derive(Debug)]
pub struct DepthLimited {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub depth: usize,
}

/// Whether `chain` (the client's, leaf first) passes `verifier` within
/// `depth` intermediates.
pub fn check(verifier: &dyn ClientCertVerifier, chain: &[Der<'static>], depth: Option<u8>) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else { return false };
    let allowed = depth.map_or(intermediates.len(), |d| intermediates.len().min(usize::from(d)));
    verifier.verify_client_cert(leaf, &intermediates[..allowed], UnixTime::now()).is_ok()
}

/// Takes whatever certificate the client offers, for the request to check.
#[derive(Debug)]
pub struct Deferred(pub Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for Deferred {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(&self, _: &Der<'_>, _: &[Der<'_>], _: UnixTime) -> Result<ClientCertVerified, Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &Der<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &Der<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl ClientCertVerifier for DepthLimited {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let allowed = &intermediates[..intermediates.len().min(self.depth)];
        self.inner.verify_client_cert(end_entity, allowed, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
