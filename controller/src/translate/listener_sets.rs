//! Gateway API ListenerSets: listeners a Gateway takes from other objects
//! (another team's, in another namespace, as the Gateway's
//! `allowedListeners` lets), served on the Gateway's address beside its own
//! listeners. Routes attach to a ListenerSet's listeners by naming the
//! ListenerSet; a route naming the Gateway gets only the Gateway's own.

use super::Translator;
use super::gateway_listeners::namespace_selector;
use super::gateway_status::GatewayFacts;
use super::gateway_status::ListenerFacts;
use super::order::age;
use super::reference_grants::GATEWAY_GROUP;
use crate::object::{Kind, meta_ref};
use gateway_api::apis::standard::gateways::{Gateway, GatewayAllowedListenersNamespacesFrom as From, GatewayListeners};
use gateway_api::apis::standard::listenersets::ListenerSet;
use sluice_config::{Diagnostic, ObjectRef};
use std::sync::Arc;

impl Translator<'_> {
    /// The ListenerSets whose parent is Gateway `gw` (`r`) and which its
    /// `allowedListeners` lets in, oldest first, each with its listeners in
    /// the Gateway's own listener shape with its place in the set. Every
    /// one gets its facts for its status; the Gateway counts those it took.
    pub(super) fn listener_sets_of(
        &mut self,
        gw: &Gateway,
        r: &ObjectRef,
    ) -> Vec<(ObjectRef, Vec<(usize, GatewayListeners)>)> {
        let mut sets: Vec<Arc<ListenerSet>> =
            self.store.listener_sets.values().filter(|s| names(s, r)).cloned().collect();
        sets.sort_by_cached_key(|s| age(&s.metadata));
        let allowed = gw.spec.allowed_listeners.as_ref().and_then(|a| a.namespaces.as_ref());
        let mut out = Vec::new();
        for s in &sets {
            let set = meta_ref(Kind::ListenerSet, &s.metadata);
            let listeners =
                s.spec.listeners.iter().map(|l| ListenerFacts { name: l.name.clone(), ..Default::default() });
            let mut facts = GatewayFacts {
                generation: s.metadata.generation,
                listeners: listeners.collect(),
                ..Default::default()
            };
            let permitted = match allowed.and_then(|a| a.from.as_ref()) {
                None | Some(From::None) => false,
                Some(From::Same) => set.namespace == r.namespace,
                Some(From::All) => true,
                Some(From::Selector) => {
                    // The same shape as a listener's route selector.
                    let selector = allowed
                        .and_then(|a| a.selector.as_ref())
                        .and_then(|s| serde_json::to_value(s).ok())
                        .and_then(|v| serde_json::from_value(v).ok());
                    namespace_selector(selector.as_ref()).is_ok_and(|s| self.namespace_selected(&s, &set.namespace))
                }
            };
            if !permitted {
                let message =
                    format!("{r}'s allowedListeners does not let ListenerSets of {} in (NotAllowed)", set.namespace);
                self.diags.push(Diagnostic::error(set.clone(), "spec.parentRef", format!("{message}; not served")));
                facts.refused = Some(("Accepted", "NotAllowed", message));
                self.gateway_facts.gateways.insert(set, facts);
                continue;
            }
            self.gateway_facts.gateways.insert(set.clone(), facts);
            let mut listeners = Vec::new();
            for (k, l) in s.spec.listeners.iter().enumerate() {
                // The two generated listener types have one schema.
                match serde_json::to_value(l).and_then(serde_json::from_value::<GatewayListeners>) {
                    Ok(l) => listeners.push((k, l)),
                    Err(e) => {
                        let message = format!("cannot be read as a listener ({e}); this listener is not served");
                        self.diags.push(Diagnostic::error(set.clone(), format!("spec.listeners[{k}]"), message));
                    }
                }
            }
            out.push((set, listeners));
        }
        if let Some(facts) = self.gateway_facts.gateways.get_mut(r) {
            facts.attached_listener_sets = Some(u32::try_from(out.len()).unwrap_or(u32::MAX));
        }
        out
    }
}

/// Whether ListenerSet `s` names Gateway `r` as its parent.
fn names(s: &ListenerSet, r: &ObjectRef) -> bool {
    let p = &s.spec.parent_ref;
    let namespace = p.namespace.as_deref().or(s.metadata.namespace.as_deref()).unwrap_or_default();
    p.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
        && p.kind.as_deref().unwrap_or("Gateway") == "Gateway"
        && p.name == r.name
        && namespace == r.namespace
}
