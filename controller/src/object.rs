//! One input object of any kind, as sources hand them to the store: each
//! behind an `Arc`, so the store, a source's cache and the last good forms
//! share one copy.

use crate::kinds::for_each_kind;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sluice_config::ObjectRef;
use std::fmt;
use std::sync::Arc;

/// How diagnostics name the BCS Ingress kind: `kubectl`'s resource.group
/// form, distinct from the Kubernetes Ingress.
pub const BCS_INGRESS_KIND: &str = "Ingress.networkextension.bkbcs.tencent.com";

/// A Rust type of an input kind: what the store and sources need of it.
pub trait Stored: Sized + Send + Sync + 'static {
    const KIND: Kind;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    fn into_object(self: Arc<Self>) -> Object;
}

macro_rules! define_objects {
    ($($kind:ident($ty:ty) $field:ident $name:expr, $namespaced:expr;)*) => {
        /// The kinds of input object translation reads.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $($kind,)*
        }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$kind,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$kind => $name,)*
                }
            }

            pub fn namespaced(self) -> bool {
                match self {
                    $(Kind::$kind => $namespaced,)*
                }
            }
        }

        /// One typed input object, whichever source it came from.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Object {
            $($kind(Arc<$ty>),)*
        }

        impl Object {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Object::$kind(_) => Kind::$kind,)*
                }
            }

            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(o) => &o.metadata,)*
                }
            }
        }

        $(
            impl Stored for $ty {
                const KIND: Kind = Kind::$kind;
                fn meta(&self) -> &ObjectMeta {
                    &self.metadata
                }
                fn meta_mut(&mut self) -> &mut ObjectMeta {
                    &mut self.metadata
                }
                fn into_object(self: Arc<Self>) -> Object {
                    Object::$kind(self)
                }
            }
        )*
    };
}

for_each_kind!(define_objects);

impl Kind {
    pub fn from_name(kind: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Object {
    /// Wraps a typed object.
    pub fn new<K: Stored>(object: K) -> Object {
        Arc::new(object).into_object()
    }

    pub fn object_ref(&self) -> ObjectRef {
        meta_ref(self.kind(), self.meta())
    }
}

/// The [`ObjectRef`] of an object's metadata.
pub(crate) fn meta_ref(kind: Kind, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(kind.as_str(), meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}
