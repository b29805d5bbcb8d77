//! The current input objects: one typed map a kind (as kube-rs reflector
//! stores are), each object behind an `Arc`. Both sources fill the same
//! store; translation reads only the store. The maps are persistent
//! (`imbl`): a copy of the store (what a burst of events hands to
//! translation, what translation keeps to find the next change) shares
//! everything with the original and costs nothing however large it is.

use crate::kinds::for_each_kind;
use crate::object::{Kind, Object};
use sluice_config::ObjectRef;
use std::sync::Arc;

/// `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
pub type Key = (String, String);

/// One kind's objects by key.
pub type Objects<K> = imbl::OrdMap<Key, Arc<K>>;

/// The objects of one namespace, by name.
pub fn in_namespace<'s, K>(objects: &'s Objects<K>, namespace: &str) -> impl Iterator<Item = &'s Arc<K>> + 's {
    let namespace = namespace.to_owned();
    objects.range((namespace.clone(), String::new())..).take_while(move |((ns, _), _)| *ns == namespace).map(|(_, o)| o)
}

fn key_of(object: &Object) -> Key {
    let meta = object.meta();
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

macro_rules! define_store {
    ($($kind:ident($ty:ty) $field:ident $name:expr, $namespaced:expr;)*) => {
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Store {
            $(pub $field: Objects<$ty>,)*
        }

        impl Store {
            /// Inserts or replaces an object; returns the one it replaced.
            pub fn insert(&mut self, object: Object) -> Option<Object> {
                let key = key_of(&object);
                match object {
                    $(Object::$kind(o) => self.$field.insert(key, o).map(Object::$kind),)*
                }
            }

            pub fn remove(&mut self, kind: Kind, key: &Key) -> Option<Object> {
                match kind {
                    $(Kind::$kind => self.$field.remove(key).map(Object::$kind),)*
                }
            }

            /// Removes the object an [`ObjectRef`] names.
            pub fn remove_ref(&mut self, r: &ObjectRef) -> Option<Object> {
                let key = (r.namespace.clone(), r.name.clone());
                self.remove(Kind::from_name(&r.kind)?, &key)
            }

            /// The keys of every object of `kind`.
            pub fn keys(&self, kind: Kind) -> Vec<Key> {
                match kind {
                    $(Kind::$kind => self.$field.keys().cloned().collect(),)*
                }
            }

            /// The object an [`ObjectRef`] names, if it is of a stored kind and present.
            pub fn get(&self, r: &ObjectRef) -> Option<Object> {
                let key = (r.namespace.clone(), r.name.clone());
                match Kind::from_name(&r.kind)? {
                    $(Kind::$kind => self.$field.get(&key).cloned().map(Object::$kind),)*
                }
            }

            /// Every object, kind by kind in the list's order, then by key.
            pub fn objects(&self) -> impl Iterator<Item = Object> + '_ {
                std::iter::empty()$(.chain(self.$field.values().cloned().map(Object::$kind)))*
            }

            pub fn len(&self) -> usize {
                0 $(+ self.$field.len())*
            }
        }
    };
}

for_each_kind!(define_store);

impl Store {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
