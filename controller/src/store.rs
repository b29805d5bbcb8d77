use crate::object::{Kind, Object};
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use sluice_config::ObjectRef;
use std::collections::BTreeMap;

/// `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
pub type Key = (String, String);

/// The current input objects, by kind and key. Both sources fill the same
/// store; translation reads only the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Store {
    pub ingresses: BTreeMap<Key, Ingress>,
    pub ingress_classes: BTreeMap<Key, IngressClass>,
    pub services: BTreeMap<Key, Service>,
    pub endpoint_slices: BTreeMap<Key, EndpointSlice>,
    pub endpoints: BTreeMap<Key, Endpoints>,
    pub pods: BTreeMap<Key, Pod>,
    pub secrets: BTreeMap<Key, Secret>,
    pub config_maps: BTreeMap<Key, ConfigMap>,
    pub seed_ingresses: BTreeMap<Key, crate::bcs::SeedIngress>,
    pub bcs_ingresses: BTreeMap<Key, crate::bcs::BcsIngress>,
}

fn key_of(object: &Object) -> Key {
    let meta = object.meta();
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

impl Store {
    /// Inserts or replaces an object; returns the one it replaced.
    pub fn insert(&mut self, object: Object) -> Option<Object> {
        let key = key_of(&object);
        match object {
            Object::Ingress(o) => self.ingresses.insert(key, o).map(Object::Ingress),
            Object::IngressClass(o) => self.ingress_classes.insert(key, o).map(Object::IngressClass),
            Object::Service(o) => self.services.insert(key, o).map(Object::Service),
            Object::EndpointSlice(o) => self.endpoint_slices.insert(key, o).map(Object::EndpointSlice),
            Object::Endpoints(o) => self.endpoints.insert(key, o).map(Object::Endpoints),
            Object::Pod(o) => self.pods.insert(key, o).map(Object::Pod),
            Object::Secret(o) => self.secrets.insert(key, o).map(Object::Secret),
            Object::ConfigMap(o) => self.config_maps.insert(key, o).map(Object::ConfigMap),
            Object::SeedIngress(o) => self.seed_ingresses.insert(key, o).map(Object::SeedIngress),
            Object::BcsIngress(o) => self.bcs_ingresses.insert(key, o).map(Object::BcsIngress),
        }
    }

    pub fn remove(&mut self, kind: Kind, key: &Key) -> Option<Object> {
        match kind {
            Kind::Ingress => self.ingresses.remove(key).map(Object::Ingress),
            Kind::IngressClass => self.ingress_classes.remove(key).map(Object::IngressClass),
            Kind::Service => self.services.remove(key).map(Object::Service),
            Kind::EndpointSlice => self.endpoint_slices.remove(key).map(Object::EndpointSlice),
            Kind::Endpoints => self.endpoints.remove(key).map(Object::Endpoints),
            Kind::Pod => self.pods.remove(key).map(Object::Pod),
            Kind::Secret => self.secrets.remove(key).map(Object::Secret),
            Kind::ConfigMap => self.config_maps.remove(key).map(Object::ConfigMap),
            Kind::SeedIngress => self.seed_ingresses.remove(key).map(Object::SeedIngress),
            Kind::BcsIngress => self.bcs_ingresses.remove(key).map(Object::BcsIngress),
        }
    }

    /// The keys of every object of `kind`.
    pub fn keys(&self, kind: Kind) -> Vec<Key> {
        fn k<V>(m: &BTreeMap<Key, V>) -> Vec<Key> {
            m.keys().cloned().collect()
        }
        match kind {
            Kind::Ingress => k(&self.ingresses),
            Kind::IngressClass => k(&self.ingress_classes),
            Kind::Service => k(&self.services),
            Kind::EndpointSlice => k(&self.endpoint_slices),
            Kind::Endpoints => k(&self.endpoints),
            Kind::Pod => k(&self.pods),
            Kind::Secret => k(&self.secrets),
            Kind::ConfigMap => k(&self.config_maps),
            Kind::SeedIngress => k(&self.seed_ingresses),
            Kind::BcsIngress => k(&self.bcs_ingresses),
        }
    }

    /// The object an [`ObjectRef`] names, if it is of a stored kind and present.
    pub fn get(&self, r: &ObjectRef) -> Option<Object> {
        let key = (r.namespace.clone(), r.name.clone());
        match Kind::from_name(&r.kind)? {
            Kind::Ingress => self.ingresses.get(&key).cloned().map(Object::Ingress),
            Kind::IngressClass => self.ingress_classes.get(&key).cloned().map(Object::IngressClass),
            Kind::Service => self.services.get(&key).cloned().map(Object::Service),
            Kind::EndpointSlice => self.endpoint_slices.get(&key).cloned().map(Object::EndpointSlice),
            Kind::Endpoints => self.endpoints.get(&key).cloned().map(Object::Endpoints),
            Kind::Pod => self.pods.get(&key).cloned().map(Object::Pod),
            Kind::Secret => self.secrets.get(&key).cloned().map(Object::Secret),
            Kind::ConfigMap => self.config_maps.get(&key).cloned().map(Object::ConfigMap),
            Kind::SeedIngress => self.seed_ingresses.get(&key).cloned().map(Object::SeedIngress),
            Kind::BcsIngress => self.bcs_ingresses.get(&key).cloned().map(Object::BcsIngress),
        }
    }

    /// Every object, in a stable order.
    pub fn objects(&self) -> impl Iterator<Item = Object> + '_ {
        let i = self.ingresses.values().cloned().map(Object::Ingress);
        let c = self.ingress_classes.values().cloned().map(Object::IngressClass);
        let s = self.services.values().cloned().map(Object::Service);
        let es = self.endpoint_slices.values().cloned().map(Object::EndpointSlice);
        let e = self.endpoints.values().cloned().map(Object::Endpoints);
        let p = self.pods.values().cloned().map(Object::Pod);
        let x = self.secrets.values().cloned().map(Object::Secret);
        let m = self.config_maps.values().cloned().map(Object::ConfigMap);
        let b = self.seed_ingresses.values().cloned().map(Object::SeedIngress);
        let n = self.bcs_ingresses.values().cloned().map(Object::BcsIngress);
        i.chain(c).chain(s).chain(es).chain(e).chain(p).chain(x).chain(m).chain(b).chain(n)
    }

    pub fn len(&self) -> usize {
        self.ingresses.len()
            + self.ingress_classes.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.endpoints.len()
            + self.pods.len()
            + self.secrets.len()
            + self.config_maps.len()
            + self.seed_ingresses.len()
            + self.bcs_ingresses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
