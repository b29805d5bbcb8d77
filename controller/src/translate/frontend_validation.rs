//! Gateway API frontend client-certificate validation (`spec.tls.frontend`):
//! the CA an HTTPS listener checks its clients' certificates against, from
//! the `perPort` entry of its port or else the `default`. A listener whose
//! every CA reference is unusable is not served, rather than served
//! without the check.

use super::Translator;
use super::reference_grants::{GATEWAY_GROUP, Referent};
use super::tls_secret::{CA_KEY, is_ca_bundle};
use gateway_api::apis::standard::gateways::{
    Gateway, GatewayTlsFrontendDefaultValidationMode as DefaultMode,
    GatewayTlsFrontendPerPortTlsValidationMode as PortMode,
};
use sluice_config::{ClientVerify, Diagnostic, ObjectRef};

/// A CA reference, from either of the API's two generated shapes.
struct CaRef<'a> {
    group: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
}

/// The validation asked of a port: its CA references, whether a client
/// may connect without a certificate, and the field it was read from.
struct Asked<'a> {
    refs: Vec<CaRef<'a>>,
    insecure_fallback: bool,
    field: String,
}

/// The validation `gw` asks of its listeners on `port`, if any.
fn asked(gw: &Gateway, port: i32) -> Option<Asked<'_>> {
    let frontend = gw.spec.tls.as_ref()?.frontend.as_ref()?;
    let per_port = frontend.per_port.iter().flatten().enumerate().find(|(_, p)| p.port == port);
    if let Some((k, p)) = per_port {
        let v = p.tls.validation.as_ref()?;
        let refs = v.ca_certificate_refs.iter();
        return Some(Asked {
            refs: refs
                .map(|c| CaRef { group: &c.group, kind: &c.kind, name: &c.name, namespace: c.namespace.as_deref() })
                .collect(),
            insecure_fallback: v.mode == Some(PortMode::AllowInsecureFallback),
            field: format!("spec.tls.frontend.perPort[{k}].tls.validation"),
        });
    }
    let v = frontend.default.validation.as_ref()?;
    let refs = v.ca_certificate_refs.iter();
    Some(Asked {
        refs: refs
            .map(|c| CaRef { group: &c.group, kind: &c.kind, name: &c.name, namespace: c.namespace.as_deref() })
            .collect(),
        insecure_fallback: v.mode == Some(DefaultMode::AllowInsecureFallback),
        field: "spec.tls.frontend.default.validation".into(),
    })
}

impl Translator<'_> {
    /// The client-certificate check of HTTPS listener `index` of `gw` on
    /// `port`: `Ok(None)` when none is asked, `Err(())` (the listener's
    /// conditions and a diagnostic saying why) when no CA is usable.
    /// `AllowInsecureFallback` lets every client in, certificate or not.
    pub(super) fn frontend_validation(
        &mut self,
        gw: &Gateway,
        r: &ObjectRef,
        index: usize,
        port: i32,
    ) -> Result<Option<ClientVerify>, ()> {
        let Some(asked) = asked(gw, port) else { return Ok(None) };
        let namespace = r.namespace.as_str();
        let mut pems = Vec::new();
        for (k, c) in asked.refs.iter().enumerate() {
            let field = format!("{}.caCertificateRefs[{k}]", asked.field);
            let problem = if !c.group.is_empty() || c.kind != "ConfigMap" {
                Some(("InvalidCACertificateKind", format!("{}/{} is not a ConfigMap", c.group, c.kind)))
            } else {
                let target = c.namespace.unwrap_or(namespace);
                let from = Referent { group: GATEWAY_GROUP, kind: "Gateway", namespace };
                let to = Referent { group: "", kind: "ConfigMap", namespace: target };
                let map = self.store.config_maps.get(&(target.to_owned(), c.name.to_owned()));
                let pem = map.and_then(|m| m.data.as_ref()).and_then(|d| d.get(CA_KEY));
                if !self.reference_permitted(&from, &to, c.name) {
                    let message = format!("no ReferenceGrant in {target} lets this Gateway use ConfigMap {}", c.name);
                    Some(("RefNotPermitted", message))
                } else {
                    match pem {
                        Some(pem) if is_ca_bundle(pem.as_bytes()) => {
                            pems.push(pem.clone());
                            None
                        }
                        _ => {
                            let why = if map.is_none() { "not found" } else { "has no PEM certificates in ca.crt" };
                            Some(("InvalidCACertificateRef", format!("ConfigMap {target}/{} {why}", c.name)))
                        }
                    }
                }
            };
            if let Some((reason, message)) = problem {
                let message = format!("{message} ({reason})");
                self.gateway_facts.refuse(r, index, ("ResolvedRefs", reason, message.clone()));
                self.diags.push(Diagnostic::error(r.clone(), field, message));
            }
        }
        if pems.is_empty() {
            let message = "no valid CA certificate to check clients with (NoValidCACertificate)".to_owned();
            self.gateway_facts.refuse(r, index, ("Accepted", "NoValidCACertificate", message.clone()));
            let message = format!("{message}; listener {index} is not served");
            self.diags.push(Diagnostic::error(r.clone(), asked.field, message));
            return Err(());
        }
        let name = format!("Gateway:{namespace}/{}:{port}", r.name);
        self.certs.add_authority(&name, r.clone(), pems.join("\n"));
        if asked.insecure_fallback {
            let message = "clients are let in without a valid certificate (AllowInsecureFallback)".to_owned();
            self.gateway_facts.gateways.entry(r.clone()).or_default().insecure_frontend = true;
            self.diags.push(Diagnostic::warning(r.clone(), format!("{}.mode", asked.field), message));
        }
        let insecure_fallback = asked.insecure_fallback;
        Ok(Some(ClientVerify { ca: name, optional: insecure_fallback, insecure_fallback, ..ClientVerify::default() }))
    }
}
