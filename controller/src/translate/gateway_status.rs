//! What translation found of the Gateway API objects it serves, kept as it
//! goes (a listener refused and why, a route attached or not and why, a
//! backend unresolved and why), then given to the Snapshot as each
//! object's status in the Gateway API's conditions and reasons.

use super::Translator;
use crate::gateway_features::GATEWAY_FEATURES;
use sluice_config::{Condition, ListenerStatus, ObjectRef, ObjectStatus, ParentStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A condition that is not as it should be: its type, reason and message.
pub(super) type Problem = (&'static str, &'static str, String);

#[derive(Default)]
pub(super) struct GatewayFacts {
    pub generation: Option<i64>,
    pub address: Option<IpAddr>,
    pub listeners: Vec<ListenerFacts>,
    /// A reference of the Gateway's own that could not be resolved (its
    /// backend client certificate).
    pub unresolved: Option<Problem>,
    /// The certificate it shows TLS backends (`spec.tls.backend`).
    pub backend_certificate: Option<String>,
    /// A listener lets clients in without a valid certificate.
    pub insecure_frontend: bool,
    /// Why the object is not Accepted as a whole (a ListenerSet its
    /// Gateway does not let in).
    pub refused: Option<Problem>,
    /// A Gateway's ListenerSets taken.
    pub attached_listener_sets: Option<u32>,
}

#[derive(Default)]
pub(super) struct ListenerFacts {
    pub name: String,
    /// The route kinds it takes (`supportedKinds`).
    pub kinds: Vec<&'static str>,
    pub problems: Vec<Problem>,
    pub programmed: bool,
    /// The routes attached to it.
    pub attached: BTreeSet<ObjectRef>,
}

#[derive(Default)]
pub(super) struct RouteFacts {
    pub generation: Option<i64>,
    pub parents: Vec<ParentFacts>,
    /// The first backend reference that could not be resolved.
    pub unresolved: Option<Problem>,
}

pub(super) struct ParentFacts {
    pub gateway: ObjectRef,
    pub section_name: Option<String>,
    pub port: Option<i32>,
    /// Why it did not attach; `None`: attached.
    pub refused: Option<Problem>,
}

/// A BackendTLSPolicy: why it cannot be honoured, and the routes that
/// use it (their Gateways are its ancestors).
#[derive(Default)]
pub(super) struct PolicyFacts {
    pub generation: Option<i64>,
    pub problems: Vec<Problem>,
    pub routes: BTreeSet<ObjectRef>,
}

#[derive(Default)]
pub(super) struct GatewayApiFacts {
    pub gateways: BTreeMap<ObjectRef, GatewayFacts>,
    pub routes: BTreeMap<ObjectRef, RouteFacts>,
    pub policies: BTreeMap<ObjectRef, PolicyFacts>,
}

fn condition(kind: &'static str, problem: Option<&Problem>, good: (bool, &str)) -> Condition {
    match problem {
        Some((_, reason, message)) => Condition::new(kind, !good.0, reason, message.clone()),
        None => Condition::new(kind, good.0, good.1, ""),
    }
}

impl GatewayApiFacts {
    pub(super) fn listener(&mut self, gateway: &ObjectRef, index: usize) -> Option<&mut ListenerFacts> {
        self.gateways.get_mut(gateway)?.listeners.get_mut(index)
    }

    /// Records a listener's problem.
    pub(super) fn refuse(&mut self, gateway: &ObjectRef, index: usize, problem: Problem) {
        if let Some(l) = self.listener(gateway, index) {
            l.problems.push(problem);
        }
    }

    fn gateway_status(gateway: &ObjectRef, facts: &GatewayFacts) -> ObjectStatus {
        let listeners: Vec<ListenerStatus> = facts
            .listeners
            .iter()
            .map(|l| {
                let find = |kind: &str| l.problems.iter().find(|p| p.0 == kind);
                let accepted = find("Accepted").or(find("Conflicted"));
                ListenerStatus {
                    name: l.name.clone(),
                    attached_routes: u32::try_from(l.attached.len()).unwrap_or(u32::MAX),
                    supported_kinds: l.kinds.iter().map(|k| (*k).to_owned()).collect(),
                    conditions: vec![
                        condition("Accepted", accepted, (true, "Accepted")),
                        condition("Conflicted", find("Conflicted"), (false, "NoConflicts")),
                        condition("ResolvedRefs", find("ResolvedRefs"), (true, "ResolvedRefs")),
                        if l.programmed {
                            Condition::new("Programmed", true, "Programmed", "")
                        } else {
                            Condition::new("Programmed", false, "Invalid", "not served")
                        },
                    ],
                }
            })
            .collect();
        let any_accepted = listeners.iter().any(|l| l.conditions[0].status);
        let any_programmed = facts.listeners.iter().any(|l| l.programmed);
        let listeners_unresolved = facts.listeners.iter().any(|l| l.problems.iter().any(|p| p.0 == "ResolvedRefs"));
        let resolved = match &facts.unresolved {
            Some(p) => condition("ResolvedRefs", Some(p), (true, "ResolvedRefs")),
            None if listeners_unresolved => {
                Condition::new("ResolvedRefs", false, "ListenersNotResolved", "a listener has unresolved references")
            }
            None => Condition::new("ResolvedRefs", true, "ResolvedRefs", ""),
        };
        ObjectStatus {
            conditions: vec![
                if let Some((_, reason, message)) = &facts.refused {
                    Condition::new("Accepted", false, reason, message.clone())
                } else if any_accepted || listeners.is_empty() {
                    Condition::new("Accepted", true, "Accepted", "")
                } else {
                    Condition::new("Accepted", false, "ListenersNotValid", "no listener is valid")
                },
                if any_programmed {
                    Condition::new("Programmed", true, "Programmed", "")
                } else {
                    Condition::new("Programmed", false, "Invalid", "no listener is served")
                },
                resolved,
            ]
            .into_iter()
            .chain(facts.insecure_frontend.then(|| {
                let message = "a listener lets clients in without a valid certificate (AllowInsecureFallback)";
                Condition::new("InsecureFrontendValidationMode", true, "ConfigurationChanged", message)
            }))
            .collect(),
            addresses: facts.address.filter(|a| !a.is_unspecified()).map(|a| a.to_string()).into_iter().collect(),
            attached_listener_sets: facts.attached_listener_sets,
            listeners,
            ..ObjectStatus::of(gateway.clone(), facts.generation)
        }
    }

    fn route_status(route: &ObjectRef, facts: &RouteFacts) -> ObjectStatus {
        let parents = facts
            .parents
            .iter()
            .map(|p| ParentStatus {
                parent: p.gateway.clone(),
                section_name: p.section_name.clone(),
                port: p.port,
                conditions: vec![
                    condition("Accepted", p.refused.as_ref(), (true, "Accepted")),
                    condition("ResolvedRefs", facts.unresolved.as_ref(), (true, "ResolvedRefs")),
                ],
            })
            .collect();
        ObjectStatus { parents, ..ObjectStatus::of(route.clone(), facts.generation) }
    }
}

impl GatewayApiFacts {
    /// A policy's status under each Gateway its routes attached to; `None`
    /// when no route attached anywhere uses it (it has no ancestor).
    fn policy_status(&self, policy: &ObjectRef, facts: &PolicyFacts) -> Option<ObjectStatus> {
        let gateways: BTreeSet<&ObjectRef> = facts
            .routes
            .iter()
            .filter_map(|r| self.routes.get(r))
            .flat_map(|r| r.parents.iter().filter(|p| p.refused.is_none()).map(|p| &p.gateway))
            .collect();
        if gateways.is_empty() {
            return None;
        }
        let find = |kind: &str| facts.problems.iter().find(|p| p.0 == kind);
        let conditions = vec![
            condition("Accepted", find("Accepted"), (true, "Accepted")),
            condition("ResolvedRefs", find("ResolvedRefs"), (true, "ResolvedRefs")),
        ];
        let parents = gateways
            .into_iter()
            .map(|g| ParentStatus { parent: g.clone(), section_name: None, port: None, conditions: conditions.clone() })
            .collect();
        Some(ObjectStatus { parents, ..ObjectStatus::of(policy.clone(), facts.generation) })
    }
}

impl Translator<'_> {
    /// The status of every GatewayClass of this controller and of every
    /// Gateway and route it serves, in kind and name order.
    pub(super) fn gateway_statuses(&mut self) -> Vec<ObjectStatus> {
        let facts = std::mem::take(&mut self.gateway_facts);
        let mut out: Vec<ObjectStatus> = self
            .store
            .gateway_classes
            .values()
            .filter(|c| c.spec.controller_name == self.options.gateway_controller_name)
            .map(|c| ObjectStatus {
                conditions: vec![Condition::new("Accepted", true, "Accepted", "")],
                supported_features: GATEWAY_FEATURES.iter().map(|f| (*f).to_owned()).collect(),
                ..ObjectStatus::of(
                    crate::object::meta_ref(crate::object::Kind::GatewayClass, &c.metadata),
                    c.metadata.generation,
                )
            })
            .collect();
        out.extend(facts.gateways.iter().map(|(r, g)| GatewayApiFacts::gateway_status(r, g)));
        out.extend(
            facts
                .routes
                .iter()
                .filter(|(_, f)| !f.parents.is_empty())
                .map(|(r, f)| GatewayApiFacts::route_status(r, f)),
        );
        out.extend(facts.policies.iter().filter_map(|(p, f)| facts.policy_status(p, f)));
        out
    }
}
