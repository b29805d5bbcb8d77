use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sluice_config::ObjectRef;
use std::fmt;

/// How diagnostics name the BCS Ingress kind: `kubectl`'s resource.group
/// form, distinct from the Kubernetes Ingress.
pub const BCS_INGRESS_KIND: &str = "Ingress.networkextension.bkbcs.tencent.com";

/// The kinds of input object translation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Ingress,
    IngressClass,
    Service,
    EndpointSlice,
    Endpoints,
    Pod,
    Secret,
    ConfigMap,
    /// The seed's Mesos-era BCS ingress (`kind: ingress`).
    SeedIngress,
    /// `networkextension.bkbcs.tencent.com/v1` Ingress.
    BcsIngress,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ingress => "Ingress",
            Kind::IngressClass => "IngressClass",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Endpoints => "Endpoints",
            Kind::Pod => "Pod",
            Kind::Secret => "Secret",
            Kind::ConfigMap => "ConfigMap",
            Kind::SeedIngress => "ingress",
            Kind::BcsIngress => BCS_INGRESS_KIND,
        }
    }

    pub fn from_name(kind: &str) -> Option<Kind> {
        [
            Kind::Ingress,
            Kind::IngressClass,
            Kind::Service,
            Kind::EndpointSlice,
            Kind::Endpoints,
            Kind::Pod,
            Kind::Secret,
            Kind::ConfigMap,
            Kind::SeedIngress,
            Kind::BcsIngress,
        ]
        .into_iter()
        .find(|k| k.as_str() == kind)
    }

    pub fn namespaced(self) -> bool {
        self != Kind::IngressClass
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One typed input object, whichever source it came from.
// Objects move once, from a source into the store; boxing every variant would
// cost an allocation each for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Ingress(Ingress),
    IngressClass(IngressClass),
    Service(Service),
    EndpointSlice(EndpointSlice),
    Endpoints(Endpoints),
    Pod(Pod),
    Secret(Secret),
    ConfigMap(ConfigMap),
    SeedIngress(crate::bcs::SeedIngress),
    BcsIngress(crate::bcs::BcsIngress),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Ingress(_) => Kind::Ingress,
            Object::IngressClass(_) => Kind::IngressClass,
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Endpoints(_) => Kind::Endpoints,
            Object::Pod(_) => Kind::Pod,
            Object::Secret(_) => Kind::Secret,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::SeedIngress(_) => Kind::SeedIngress,
            Object::BcsIngress(_) => Kind::BcsIngress,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Ingress(o) => &o.metadata,
            Object::IngressClass(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::SeedIngress(o) => &o.metadata,
            Object::BcsIngress(o) => &o.metadata,
        }
    }

    pub fn object_ref(&self) -> ObjectRef {
        meta_ref(self.kind(), self.meta())
    }
}

/// The [`ObjectRef`] of an object's metadata.
pub(crate) fn meta_ref(kind: Kind, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(kind.as_str(), meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}
