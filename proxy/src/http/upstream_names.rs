//! Gateway API BackendTLSPolicy `subjectAltNames`: an upstream's chain is
//! checked against the route's CA as usual, and its certificate against a
//! list of names instead of the SNI: a DNS name as webpki matches hostnames,
//! a URI (a SPIFFE ID) against the certificate's URI names, whole.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use sluice_config::SubjectName;
use std::sync::Arc;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The chain check of one set of roots, shared by every route naming them.
pub type ChainCheck = Arc<WebPkiServerVerifier>;

/// A chain check over `roots`; `None` when webpki refuses them (no root).
pub fn chain_check(roots: RootCertStore) -> Option<ChainCheck> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().ok()
}

/// Checks an upstream's certificate against `names`, any one of which will
/// do.
#[derive(Debug)]
pub struct SubjectNames {
    pub chain: ChainCheck,
    pub names: Vec<SubjectName>,
}

impl ServerCertVerifier for SubjectNames {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // webpki checks the chain before the name, so a name error means
        // the chain is good.
        let chain_only =
            |name: &ServerName<'_>| match self.chain.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
                Ok(_) => Ok(true),
                Err(Error::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                )) => Ok(false),
                Err(e) => Err(e),
            };
        for name in &self.names {
            let SubjectName::Dns(dns) = name else { continue };
            if let Ok(dns) = ServerName::try_from(dns.as_str())
                && chain_only(&dns)?
            {
                return Ok(ServerCertVerified::assertion());
            }
        }
        if self.names.iter().any(|n| matches!(n, SubjectName::Uri(_))) {
            chain_only(server_name)?;
            let uris = uri_names(end_entity);
            if self.names.iter().any(|n| matches!(n, SubjectName::Uri(u) if uris.iter().any(|x| x == u))) {
                return Ok(ServerCertVerified::assertion());
            }
        }
        Err(Error::InvalidCertificate(CertificateError::NotValidForName))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// The URI subject alternative names of a certificate.
fn uri_names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return Vec::new() };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return Vec::new() };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some((*u).to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, Issuer, KeyPair, SanType};

    /// A CA, and a leaf it signed for `sans`.
    fn signed(sans: Vec<SanType>) -> (RootCertStore, CertificateDer<'static>) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.subject_alt_names = sans;
        let issuer = Issuer::new(ca, ca_key);
        let leaf = leaf.signed_by(&KeyPair::generate().unwrap(), &issuer).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        (roots, leaf.der().clone())
    }

    fn verdict(roots: RootCertStore, leaf: &CertificateDer<'_>, names: Vec<SubjectName>) -> bool {
        let check = SubjectNames { chain: chain_check(roots).unwrap(), names };
        let sni = ServerName::try_from("abc.example.com").unwrap();
        check.verify_server_cert(leaf, &[], &sni, &[], UnixTime::now()).is_ok()
    }

    #[test]
    fn a_listed_name_passes_and_the_sni_alone_does_not() {
        let spiffe = "spiffe://abc.example.com/test-identity";
        let sans =
            vec![SanType::DnsName("abc.example.com".try_into().unwrap()), SanType::URI(spiffe.try_into().unwrap())];
        let dns = |n: &str| SubjectName::Dns(n.into());
        let uri = |n: &str| SubjectName::Uri(n.into());
        let (roots, leaf) = signed(sans.clone());
        assert!(verdict(roots.clone(), &leaf, vec![dns("abc.example.com")]));
        assert!(!verdict(roots.clone(), &leaf, vec![dns("dce.example.com")]), "the SNI matches, the list does not");
        assert!(verdict(roots.clone(), &leaf, vec![uri(spiffe)]));
        assert!(!verdict(roots.clone(), &leaf, vec![uri("spiffe://def.example.com/test-identity")]));
        assert!(verdict(roots.clone(), &leaf, vec![uri("spiffe://x/y"), dns("abc.example.com")]));
        let (other_roots, _) = signed(sans);
        assert!(!verdict(other_roots, &leaf, vec![dns("abc.example.com")]), "another CA's chain");
    }
}
