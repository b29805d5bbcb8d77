//! An Ingress backend (Service + port) into a cluster and a split.

use super::Translator;
use super::annotations::ClusterPolicy;
use super::bcs_seed::PortRef;
use crate::store::Key;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::networking::v1::IngressBackend;
use sluice_config::{Diagnostic, ObjectRef, Split};

impl<'a> Translator<'a> {
    /// The split for one Ingress backend. On a broken reference the split is
    /// empty (503) and a diagnostic names the field: the route is kept so a
    /// shorter path cannot take its requests by accident.
    pub(super) fn backend_split(
        &mut self,
        ing: &ObjectRef,
        backend: &IngressBackend,
        field: &str,
        policy: &ClusterPolicy,
    ) -> Split {
        let found = self.backend_port(ing, backend, field);
        let (key, svc, index) = match found {
            Ok(found) => found,
            Err((field, message)) => {
                self.diags.push(Diagnostic::error(ing.clone(), field, message));
                return Split::default();
            }
        };
        match self.clusters.service_cluster(&key, svc, index, policy) {
            Some(name) => Split::single(name),
            None => Split::default(),
        }
    }

    /// The Service a backend names and the index of its port, or the field
    /// and message of the diagnostic saying why there is none.
    fn backend_port(
        &mut self,
        ing: &ObjectRef,
        backend: &IngressBackend,
        field: &str,
    ) -> Result<(Key, &'a Service, usize), (String, String)> {
        let ns = ing.namespace.as_str();
        let refuse = |field: String, message: &str| Err((field, message.to_owned()));
        let service = match (&backend.service, &backend.resource) {
            (Some(_), Some(_)) => return refuse(field.to_owned(), "sets both service and resource; set one"),
            (None, Some(_)) => {
                return refuse(format!("{field}.resource"), "resource backends are not supported; requests get 503");
            }
            (None, None) => return refuse(format!("{field}.service"), "required"),
            (Some(s), None) => s,
        };
        let port_field = format!("{field}.service.port");
        let Some(port) = &service.port else { return refuse(port_field, "required (number or name)") };
        let (number, port_name) = (port.number, port.name.as_deref().filter(|n| !n.is_empty()));
        let key = (ns.to_owned(), service.name.clone());
        let Some(svc) = self.service(&key) else {
            let message = format!("Service {ns}/{} not found; requests get 503", service.name);
            return refuse(format!("{field}.service.name"), &message);
        };
        let ports: &[ServicePort] = svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default();
        let found = match (number, port_name) {
            (Some(_), Some(_)) => return refuse(port_field, "sets both number and name; set one"),
            (None, None) => return refuse(port_field, "required (number or name)"),
            (Some(n), None) => ports.iter().position(|p| p.port == n).ok_or(format!("number {n}")),
            (None, Some(name)) => {
                ports.iter().position(|p| p.name.as_deref() == Some(name)).ok_or(format!("name '{name}'"))
            }
        };
        let index = match found {
            Ok(i) => i,
            Err(wanted) => {
                let known: Vec<String> = ports
                    .iter()
                    .map(|p| match &p.name {
                        Some(n) => format!("{} ({n})", p.port),
                        None => p.port.to_string(),
                    })
                    .collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                let field =
                    if number.is_some() { format!("{port_field}.number") } else { format!("{port_field}.name") };
                let message = format!(
                    "Service {ns}/{} has no port with {wanted} (it has: {known}); requests get 503",
                    service.name
                );
                return refuse(field, &message);
            }
        };
        let protocol = ports[index].protocol.as_deref().unwrap_or("TCP");
        if protocol != "TCP" {
            let message =
                format!("Service {ns}/{} port {} is {protocol}; HTTP needs TCP", service.name, ports[index].port);
            return refuse(port_field, &message);
        }
        Ok((key, svc, index))
    }
}

/// The index of the port of `ports` that `port` names (by number or name)
/// and speaks `protocol`: a Service may list one number twice, once for TCP
/// and once for UDP.
pub(super) fn port_index(ports: &[ServicePort], port: &PortRef, protocol: &str) -> Option<usize> {
    let speaks = |p: &ServicePort| p.protocol.as_deref().unwrap_or("TCP") == protocol;
    ports.iter().position(|p| {
        speaks(p)
            && match port {
                PortRef::Number(n) => i64::from(p.port) == *n,
                PortRef::Name(n) => p.name.as_deref() == Some(n.as_str()),
            }
    })
}

impl<'a> Translator<'a> {
    /// Service `namespace/name`, with the index of its `port`, which must
    /// speak `protocol`; a diagnostic on `r`'s `field` when there is none.
    pub(super) fn resolve_service_port(
        &mut self,
        r: &ObjectRef,
        field: &str,
        namespace: &str,
        name: &str,
        port: &PortRef,
        protocol: &str,
    ) -> Option<(Key, &'a Service, usize)> {
        let key = (namespace.to_owned(), name.to_owned());
        let Some(svc) = self.service(&key) else {
            self.diags.push(Diagnostic::error(r.clone(), field, format!("Service {namespace}/{name} not found")));
            return None;
        };
        let ports: &[ServicePort] = svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default();
        let Some(index) = port_index(ports, port, protocol) else {
            let wanted = match port {
                PortRef::Number(n) => n.to_string(),
                PortRef::Name(n) => n.clone(),
            };
            self.diags.push(Diagnostic::error(
                r.clone(),
                field,
                format!("Service {namespace}/{name} has no {protocol} port '{wanted}'"),
            ));
            return None;
        };
        Some((key, svc, index))
    }

    /// The cluster of Service `name` (in `r`'s namespace) at `port`.
    pub(super) fn service_port_cluster(
        &mut self,
        r: &ObjectRef,
        field: &str,
        name: &str,
        port: &PortRef,
        protocol: &str,
        policy: &ClusterPolicy,
    ) -> Option<String> {
        let (key, svc, index) = self.resolve_service_port(r, field, &r.namespace.clone(), name, port, protocol)?;
        self.clusters.service_cluster(&key, svc, index, policy)
    }
}
