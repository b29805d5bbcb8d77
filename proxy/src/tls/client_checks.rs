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
use rustls::pki_types::{CertificateDer as Der, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::sync::Arc;

/// A CA's verifier as a host asks for it: within `depth` intermediates,
/// and `deferred` to each request when the host has an error page.
#[derive(Debug)]
pub struct ClientCheck {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub depth: Option<u8>,
    pub deferred: bool,
}

/// The intermediates a path may use: the first `depth` the client sent.
fn within_depth<'c, 'd>(intermediates: &'c [Der<'d>], depth: Option<u8>) -> &'c [Der<'d>] {
    &intermediates[..depth.map_or(intermediates.len(), |d| intermediates.len().min(usize::from(d)))]
}

/// Whether `chain` (the client's, leaf first) passes `verifier` within
/// `depth` intermediates.
pub fn check(verifier: &dyn ClientCertVerifier, chain: &[Der<'static>], depth: Option<u8>) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else { return false };
    verifier.verify_client_cert(leaf, within_depth(intermediates, depth), UnixTime::now()).is_ok()
}

impl ClientCertVerifier for ClientCheck {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.deferred && self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &Der<'_>,
        intermediates: &[Der<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if self.deferred {
            return Ok(ClientCertVerified::assertion());
        }
        self.inner.verify_client_cert(end_entity, within_depth(intermediates, self.depth), now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &Der<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &Der<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
