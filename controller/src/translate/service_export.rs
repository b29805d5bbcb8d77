//! BCS-exported Services (labelled `BCSGROUP` with this instance's
//! `--lb-group`, bcs.md §3) into routes and listeners: each HTTP port a
//! route `/` of its `bcs.tencent.com/domain` host, each TCP port a listener.
//! What the labels ask for is read in `bcs_export`.

use super::Translator;
use super::claims::Port;
use super::route_config::Builder;
use crate::names::check_host;
use crate::object::{Kind, meta_ref};
use k8s_openapi::api::core::v1::Service;
use sluice_config::{Diagnostic, L4Policy, Listener, ListenerKind, PathMatch, Route, Split};
use std::net::{IpAddr, SocketAddr};

impl Translator<'_> {
    /// The HTTP ports of a BCS-exported Service: its domain, path `/`.
    pub(super) fn exported_http(&mut self, key: &crate::store::Key, svc: &Service, b: &mut Builder) {
        let r = meta_ref(Kind::Service, &svc.metadata);
        let Some(export) = self.export_of(key, svc, &r) else { return };
        let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
        for (i, port) in ports.iter().enumerate() {
            if !super::bcs_export::is_http_port(port) {
                continue;
            }
            let domain = svc.metadata.annotations.as_ref().and_then(|a| a.get(super::bcs_export::DOMAIN_ANNOTATION));
            let Some(domain) = domain.filter(|d| !d.is_empty()).cloned() else {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("metadata.annotations[{}]", super::bcs_export::DOMAIN_ANNOTATION),
                    format!("required: the host exported HTTP port {} is served on", port.port),
                ));
                continue;
            };
            if let Err(e) = check_host(&domain) {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("metadata.annotations[{}]", super::bcs_export::DOMAIN_ANNOTATION),
                    e,
                ));
                continue;
            }
            let path = PathMatch::prefix("/");
            if !self.claims.route(&mut self.diags, &r, &format!("spec.ports[{i}]"), &domain, &path) {
                continue;
            }
            let split = match self.clusters.export_cluster(&mut self.diags, key, svc, i, &export) {
                Some(c) => Split::single(c),
                None => Split::default(),
            };
            b.hosts.entry(domain).or_default().routes.push(Route {
                conditions: None,
                path,
                split,
                canaries: vec![],
                policy: Default::default(),
                source: r.clone(),
            });
        }
    }

    /// The TCP ports of a BCS-exported Service: a listener on each port.
    pub(super) fn exported_tcp(
        &mut self,
        key: &crate::store::Key,
        svc: &k8s_openapi::api::core::v1::Service,
        bind: IpAddr,
    ) -> Vec<Listener> {
        let r = meta_ref(Kind::Service, &svc.metadata);
        let mut out = Vec::new();
        let Some(export) = self.export_of(key, svc, &r) else { return out };
        let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
        for (i, p) in ports.iter().enumerate() {
            if super::bcs_export::is_http_port(p) {
                continue;
            }
            let field = format!("spec.ports[{i}]");
            if p.protocol.as_deref().unwrap_or("TCP") != "TCP" {
                self.diags.push(Diagnostic::warning(
                    r.clone(),
                    field,
                    "only HTTP and TCP ports are exported (as bcs-loadbalance); this port is not",
                ));
                continue;
            }
            let Some(port) = u16::try_from(p.port).ok().filter(|p| *p != 0) else { continue };
            if !self.claims.port_free(
                &mut self.diags,
                &r,
                &field,
                Port::tcp(self.options.l4_bind, port),
                "this port is not exported",
            ) {
                continue;
            }
            let Some(cluster) = self.clusters.export_cluster(&mut self.diags, key, svc, i, &export) else { continue };
            self.claims.take_port(Port::tcp(self.options.l4_bind, port), format!("{r} {field}"));
            let policy = L4Policy { max_connections: Some(export.max_connections), ..L4Policy::default() };
            out.push(Listener {
                name: format!("tcp-{port}"),
                address: SocketAddr::new(bind, port),
                kind: ListenerKind::Tcp { split: Split::single(cluster), policy },
                source: Some(r.clone()),
            });
        }
        out
    }
}
