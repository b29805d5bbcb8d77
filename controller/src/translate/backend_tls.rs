//! Gateway API BackendTLSPolicies: the Service ports a Gateway route speaks
//! TLS to, with the name it asks for (SNI) and the CA and names the
//! backend's certificate is checked against. A policy naming a port
//! (`sectionName`) is taken over one naming the whole Service; of two with
//! the same target, the older is taken and the other is Conflicted.

use super::Translator;
use super::certificates::Referrer;
use super::gateway_status::Problem;
use super::http_routes::ResolvedBackend;
use super::order::age;
use super::reference_grants::{GATEWAY_GROUP, Referent};
use super::tls_secret::{CA_KEY, is_ca_bundle};
use crate::object::{Kind, meta_ref};
use gateway_api::apis::standard::backendtlspolicies::{
    BackendTlsPolicy, BackendTlsPolicyValidation, BackendTlsPolicyValidationSubjectAltNamesType as SanType,
};
use gateway_api::apis::standard::gateways::Gateway;
use sluice_config::{Diagnostic, ObjectRef, RoutePolicy, SubjectName, UpstreamProtocol};
use std::collections::HashMap;
use std::sync::Arc;

/// The port of a Service a policy targets: namespace, Service, port name
/// (`None`: every port).
pub(super) type Target = (String, String, Option<String>);

/// A policy that can be honoured.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BackendTls {
    pub policy: ObjectRef,
    pub hostname: String,
    /// The Snapshot's CA; `None`: the system's roots.
    pub ca: Option<String>,
    pub names: Vec<SubjectName>,
}

/// What a backend's policy says of it: `Err` when it has one that cannot
/// be honoured (its requests then fail rather than go out unchecked).
pub(super) type TlsVerdict = Result<Arc<BackendTls>, ObjectRef>;

#[derive(Default)]
pub(super) struct BackendTlsPolicies {
    by_target: HashMap<Target, TlsVerdict>,
    /// Every policy naming a Service, taken or not: the Gateways of the
    /// routes using the Service are each one's ancestors.
    naming: HashMap<(String, String), Vec<ObjectRef>>,
}

impl BackendTlsPolicies {
    /// The policies naming Service `namespace/service`.
    pub(super) fn naming(&self, namespace: &str, service: &str) -> &[ObjectRef] {
        self.naming.get(&(namespace.to_owned(), service.to_owned())).map_or(&[], Vec::as_slice)
    }

    /// The policy of port `port_name` of Service `namespace/service`.
    pub(super) fn of(&self, namespace: &str, service: &str, port_name: Option<&str>) -> Option<&TlsVerdict> {
        let key = |section: Option<&str>| (namespace.to_owned(), service.to_owned(), section.map(str::to_owned));
        port_name.and_then(|p| self.by_target.get(&key(Some(p)))).or_else(|| self.by_target.get(&key(None)))
    }
}

impl Translator<'_> {
    /// Reads every BackendTLSPolicy, oldest first, into
    /// `self.backend_tls`, recording each one's problems for its status.
    pub(super) fn read_backend_tls_policies(&mut self) {
        let mut policies: Vec<Arc<BackendTlsPolicy>> = self.store.backend_tls_policies.values().cloned().collect();
        policies.sort_by_cached_key(|p| age(&p.metadata));
        let mut out = BackendTlsPolicies::default();
        for p in &policies {
            let r = meta_ref(Kind::BackendTlsPolicy, &p.metadata);
            let facts = self.gateway_facts.policies.entry(r.clone()).or_default();
            facts.generation = p.metadata.generation;
            let verdict = match self.policy_validation(&r, &p.spec.validation) {
                Ok(tls) => Ok(Arc::new(tls)),
                Err(problems) => {
                    self.gateway_facts.policies.entry(r.clone()).or_default().problems.extend(problems);
                    Err(r.clone())
                }
            };
            for (k, target) in p.spec.target_refs.iter().enumerate() {
                let field = format!("spec.targetRefs[{k}]");
                if !target.group.is_empty() || target.kind != "Service" {
                    let message = format!("{}/{} targets are not supported, only Services", target.group, target.kind);
                    self.diags.push(Diagnostic::error(r.clone(), field, format!("{message}; left out")));
                    continue;
                }
                let named = out.naming.entry((r.namespace.clone(), target.name.clone())).or_default();
                if !named.contains(&r) {
                    named.push(r.clone());
                }
                let key = (r.namespace.clone(), target.name.clone(), target.section_name.clone());
                if let Some(winner) = out.by_target.get(&key) {
                    let winner = match winner {
                        Ok(tls) => &tls.policy,
                        Err(policy) => policy,
                    };
                    let message = format!("{winner} is older and targets the same Service port (Conflicted)");
                    let facts = self.gateway_facts.policies.entry(r.clone()).or_default();
                    facts.problems.push(("Accepted", "Conflicted", message.clone()));
                    self.diags.push(Diagnostic::error(r.clone(), field, format!("{message}; not applied")));
                    continue;
                }
                out.by_target.insert(key, verdict.clone());
            }
        }
        self.backend_tls = out;
    }

    /// A policy's `validation`; `Err`: the conditions saying why it cannot
    /// be honoured, each also a diagnostic.
    fn policy_validation(&mut self, r: &ObjectRef, v: &BackendTlsPolicyValidation) -> Result<BackendTls, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut pems = Vec::new();
        for (k, c) in v.ca_certificate_refs.iter().flatten().enumerate() {
            let field = format!("spec.validation.caCertificateRefs[{k}]");
            if !c.group.is_empty() || c.kind != "ConfigMap" {
                let message = format!("{}/{} is not a ConfigMap (InvalidKind)", c.group, c.kind);
                self.diags.push(Diagnostic::error(r.clone(), field, message.clone()));
                problems.push(("ResolvedRefs", "InvalidKind", message));
                continue;
            }
            let map = self.store.config_maps.get(&(r.namespace.clone(), c.name.clone()));
            let pem = map.and_then(|m| m.data.as_ref()).and_then(|d| d.get(CA_KEY));
            match pem {
                Some(pem) if is_ca_bundle(pem.as_bytes()) => pems.push(pem.clone()),
                _ => {
                    let why = if map.is_none() { "not found" } else { "has no PEM certificates in ca.crt" };
                    let message = format!("ConfigMap {}/{} {why} (InvalidCACertificateRef)", r.namespace, c.name);
                    self.diags.push(Diagnostic::error(r.clone(), field, message.clone()));
                    problems.push(("ResolvedRefs", "InvalidCACertificateRef", message));
                }
            }
        }
        let system = match v.well_known_ca_certificates.as_deref() {
            None => false,
            Some("System") => true,
            Some(other) => {
                let message = format!("'{other}' is not a well-known CA set (System is)");
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    "spec.validation.wellKnownCACertificates",
                    message.clone(),
                ));
                problems.push(("Accepted", "Invalid", message));
                false
            }
        };
        let mut names = Vec::new();
        for (k, san) in v.subject_alt_names.iter().flatten().enumerate() {
            let name = match san.r#type {
                SanType::Hostname => san.hostname.clone().map(SubjectName::Dns),
                SanType::Uri => san.uri.clone().map(SubjectName::Uri),
            };
            match name {
                Some(n) => names.push(n),
                None => {
                    let message = "the name of its type is missing".to_owned();
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("spec.validation.subjectAltNames[{k}]"),
                        message.clone(),
                    ));
                    problems.push(("Accepted", "Invalid", message));
                }
            }
        }
        if let Err(message) = crate::names::check_host(&v.hostname)
            .and_then(|()| if v.hostname.starts_with("*.") { Err("must not be a wildcard".to_owned()) } else { Ok(()) })
        {
            self.diags.push(Diagnostic::error(r.clone(), "spec.validation.hostname", message.clone()));
            problems.push(("Accepted", "Invalid", message));
        }
        if pems.is_empty() && !system {
            if !problems.iter().any(|p| p.0 == "Accepted") {
                let message = "no valid CA certificate to check the backend with (NoValidCACertificate)".to_owned();
                problems.push(("Accepted", "NoValidCACertificate", message));
            }
            if !problems.iter().any(|p| p.0 == "ResolvedRefs") {
                let message = "neither caCertificateRefs nor wellKnownCACertificates is given".to_owned();
                self.diags.push(Diagnostic::error(r.clone(), "spec.validation", message.clone()));
                problems.push(("ResolvedRefs", "InvalidCACertificateRef", message));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let ca = (!pems.is_empty()).then(|| {
            let name = format!("BackendTLSPolicy:{}/{}", r.namespace, r.name);
            self.certs.add_authority(&name, r.clone(), pems.join("\n"));
            name
        });
        Ok(BackendTls { policy: r.clone(), hostname: v.hostname.to_ascii_lowercase(), ca, names })
    }

    /// The certificate Gateway `gw` shows TLS backends
    /// (`spec.tls.backend.clientCertificateRef`); `Err`: the Gateway's
    /// ResolvedRefs problem (its routes then show none).
    pub(super) fn backend_client_certificate(
        &mut self,
        gw: &Gateway,
        r: &ObjectRef,
    ) -> Result<Option<String>, Problem> {
        let Some(c) =
            gw.spec.tls.as_ref().and_then(|t| t.backend.as_ref()).and_then(|b| b.client_certificate_ref.as_ref())
        else {
            return Ok(None);
        };
        let field = "spec.tls.backend.clientCertificateRef";
        let (group, kind) = (c.group.as_deref().unwrap_or(""), c.kind.as_deref().unwrap_or("Secret"));
        let target = c.namespace.as_deref().unwrap_or(&r.namespace);
        let problem = if !group.is_empty() || kind != "Secret" {
            ("InvalidClientCertificateRef", format!("{group}/{kind} is not a Secret"))
        } else if !self.reference_permitted(
            &Referent { group: GATEWAY_GROUP, kind: "Gateway", namespace: &r.namespace },
            &Referent { group: "", kind: "Secret", namespace: target },
            &c.name,
        ) {
            ("RefNotPermitted", format!("no ReferenceGrant in {target} lets this Gateway use Secret {}", c.name))
        } else {
            let by = Referrer { object: r, field };
            match self.certs.certificate(&mut self.diags, target, &c.name, by) {
                Some(name) => return Ok(Some(name)),
                None => {
                    ("InvalidClientCertificateRef", format!("Secret {target}/{} has no usable certificate", c.name))
                }
            }
        };
        let message = format!("{} ({}); TLS backends get no client certificate", problem.1, problem.0);
        self.diags.push(Diagnostic::error(r.clone(), field, message.clone()));
        Err(("ResolvedRefs", problem.0, message))
    }

    /// Makes `policy` speak TLS to the rule's `resolved` backends as their
    /// policies say. `false`, with a diagnostic, when they differ: one
    /// upstream setting serves a rule.
    pub(super) fn apply_backend_tls(
        &mut self,
        r: &ObjectRef,
        field: &str,
        resolved: &[ResolvedBackend],
        policy: &mut RoutePolicy,
    ) -> bool {
        let tls: Vec<Option<&Arc<BackendTls>>> =
            resolved.iter().map(|b| b.tls.as_ref().and_then(|v| v.as_ref().ok())).collect();
        let Some(first) = tls.first() else { return true };
        if tls.iter().any(|t| t != first) {
            let message = "its backends differ in BackendTLSPolicy, and a rule speaks to all its backends alike; \
                           this rule is not served";
            self.diags.push(Diagnostic::error(r.clone(), format!("{field}.backendRefs"), message));
            return false;
        }
        let Some(t) = first else { return true };
        policy.upstream_protocol = match policy.upstream_protocol {
            UpstreamProtocol::H2c | UpstreamProtocol::Grpcs => UpstreamProtocol::Grpcs,
            _ => UpstreamProtocol::Https,
        };
        policy.upstream_verify = true;
        policy.upstream_sni = Some(t.hostname.clone());
        policy.upstream_ca = t.ca.clone();
        policy.upstream_names = t.names.clone();
        true
    }
}
