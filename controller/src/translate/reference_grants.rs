//! Gateway API ReferenceGrants: whether an object may name one in another
//! namespace (a route's backend Service, a Gateway's certificate Secret).
//! A reference within its own namespace needs none.

use super::Translator;
use crate::store::in_namespace;

/// The API group of the Gateway API kinds.
pub(super) const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// One side of a cross-namespace reference: a kind in its API group
/// (`""` for the core group).
pub(super) struct Referent<'r> {
    pub group: &'r str,
    pub kind: &'r str,
    pub namespace: &'r str,
}

impl Translator<'_> {
    /// Whether `from` may name `to`'s object `name`: the same namespace, or a
    /// ReferenceGrant in `to`'s namespace lists `from` and `to` (with no
    /// name, or this one).
    pub(super) fn reference_permitted(&self, from: &Referent<'_>, to: &Referent<'_>, name: &str) -> bool {
        if from.namespace == to.namespace {
            return true;
        }
        in_namespace(&self.store.reference_grants, to.namespace).any(|grant| {
            let from_ok = grant
                .spec
                .from
                .iter()
                .any(|f| f.group == from.group && f.kind == from.kind && f.namespace == from.namespace);
            let to_ok = grant
                .spec
                .to
                .iter()
                .any(|t| t.group == to.group && t.kind == to.kind && t.name.as_deref().is_none_or(|n| n == name));
            from_ok && to_ok
        })
    }
}
