//! The Gateway API status the leader writes, made from what translation
//! found (`Snapshot::gateway_status`): each object's `status` in the API's
//! own shape. A condition keeps the `lastTransitionTime` the object holds
//! while its status and reason are unchanged; a route's parents (a
//! policy's ancestors) written by other controllers are kept as they are.

use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use sluice_config::{Condition, ObjectStatus};

pub const GROUP: &str = "gateway.networking.k8s.io";

/// The API resource of a Gateway API kind Sluice writes the status of.
pub fn resource(kind: &str) -> Option<ApiResource> {
    let (version, plural) = match kind {
        "GatewayClass" => ("v1", "gatewayclasses"),
        "Gateway" => ("v1", "gateways"),
        "HTTPRoute" => ("v1", "httproutes"),
        "GRPCRoute" => ("v1", "grpcroutes"),
        "TLSRoute" => ("v1", "tlsroutes"),
        "TCPRoute" => ("v1alpha2", "tcproutes"),
        "UDPRoute" => ("v1alpha2", "udproutes"),
        "BackendTLSPolicy" => ("v1", "backendtlspolicies"),
        "ListenerSet" => ("v1", "listenersets"),
        _ => return None,
    };
    Some(ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, version, kind), plural))
}

/// The `status` to write for `s` over the object's `current` status, with
/// `now` as the time of conditions that changed.
pub fn status(s: &ObjectStatus, controller: &str, current: &Value, now: &str) -> Value {
    let generation = s.observed_generation;
    let conditions = |list: &[Condition], held: &Value| -> Vec<Value> {
        list.iter().map(|c| condition(c, generation, held, now)).collect()
    };
    match s.object.kind.as_str() {
        "GatewayClass" => json!({
            "conditions": conditions(&s.conditions, &current["conditions"]),
            "supportedFeatures": s.supported_features.iter().map(|f| json!({"name": f})).collect::<Vec<_>>(),
        }),
        "Gateway" | "ListenerSet" => {
            let listeners: Vec<Value> = s
                .listeners
                .iter()
                .map(|l| {
                    let held = current["listeners"]
                        .as_array()
                        .and_then(|all| all.iter().find(|x| x["name"] == l.name.as_str()))
                        .map_or(Value::Null, |x| x["conditions"].clone());
                    json!({
                        "name": l.name,
                        "attachedRoutes": l.attached_routes,
                        "supportedKinds": l.supported_kinds.iter().map(|k| json!({"group": GROUP, "kind": k})).collect::<Vec<_>>(),
                        "conditions": conditions(&l.conditions, &held),
                    })
                })
                .collect();
            let mut status = json!({
                "conditions": conditions(&s.conditions, &current["conditions"]),
                "listeners": listeners,
            });
            if s.object.kind == "Gateway" {
                status["addresses"] = s.addresses.iter().map(|a| json!({"type": "IPAddress", "value": a})).collect();
                status["attachedListenerSets"] = json!(s.attached_listener_sets.unwrap_or(0));
            }
            status
        }
        kind => {
            // A policy's Gateways are its ancestors, a route's its parents.
            let (list, reference) =
                if kind == "BackendTLSPolicy" { ("ancestors", "ancestorRef") } else { ("parents", "parentRef") };
            let others = current[list].as_array().into_iter().flatten().filter(|p| p["controllerName"] != controller);
            let ours = s.parents.iter().map(|p| {
                let mut parent_ref = json!({"group": GROUP, "kind": p.parent.kind, "namespace": p.parent.namespace, "name": p.parent.name});
                if let Some(section) = &p.section_name {
                    parent_ref["sectionName"] = json!(section);
                }
                if let Some(port) = p.port {
                    parent_ref["port"] = json!(port);
                }
                let held = current[list]
                    .as_array()
                    .and_then(|all| {
                        all.iter().find(|x| x["controllerName"] == controller && x[reference] == parent_ref)
                    })
                    .map_or(Value::Null, |x| x["conditions"].clone());
                json!({reference: parent_ref, "controllerName": controller, "conditions": conditions(&p.conditions, &held)})
            });
            json!({list: others.cloned().chain(ours).collect::<Vec<_>>()})
        }
    }
}

/// One condition as the API holds it; its transition time is the one in
/// `held` (the object's conditions of the same place) when nothing but the
/// message changed.
fn condition(c: &Condition, generation: Option<i64>, held: &Value, now: &str) -> Value {
    let status = if c.status { "True" } else { "False" };
    let before = held.as_array().and_then(|all| all.iter().find(|x| x["type"] == c.kind.as_str()));
    let since = before
        .filter(|b| b["status"] == status && b["reason"] == c.reason.as_str())
        .and_then(|b| b["lastTransitionTime"].as_str())
        .unwrap_or(now);
    json!({
        "type": c.kind,
        "status": status,
        "reason": c.reason,
        "message": c.message,
        "observedGeneration": generation.unwrap_or(0),
        "lastTransitionTime": since,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::{ObjectRef, ParentStatus};

    fn route(conditions: Vec<Condition>) -> ObjectStatus {
        ObjectStatus {
            parents: vec![ParentStatus {
                parent: ObjectRef::new("Gateway", "infra", "edge"),
                section_name: Some("http".into()),
                port: None,
                conditions,
            }],
            ..ObjectStatus::of(ObjectRef::new("HTTPRoute", "apps", "web"), Some(4))
        }
    }

    #[test]
    fn other_controllers_parents_stay_and_unchanged_conditions_keep_their_time() {
        let ours = "sluice.io/gateway-controller";
        let accepted = Condition::new("Accepted", true, "Accepted", "");
        let first = status(&route(vec![accepted.clone()]), ours, &json!({}), "2026-12-07T10:00:00Z");
        let mut current = first.clone();
        current["parents"]
            .as_array_mut()
            .unwrap()
            .push(json!({"controllerName": "example.com/other", "parentRef": {"name": "x"}}));
        let again = status(&route(vec![accepted]), ours, &current, "2026-12-07T11:00:00Z");
        let parents = again["parents"].as_array().unwrap();
        assert_eq!(parents.len(), 2, "{again}");
        assert_eq!(parents[0]["controllerName"], "example.com/other");
        let c = &parents[1]["conditions"][0];
        assert_eq!(
            (c["status"].as_str(), c["lastTransitionTime"].as_str()),
            (Some("True"), Some("2026-12-07T10:00:00Z"))
        );
        assert_eq!(c["observedGeneration"], 4);
        assert_eq!(parents[1]["parentRef"]["sectionName"], "http");

        let refused = Condition::new("Accepted", false, "NotAllowedByListeners", "no");
        let changed = status(&route(vec![refused]), ours, &again, "2026-12-07T12:00:00Z");
        let c = &changed["parents"][1]["conditions"][0];
        assert_eq!(
            (c["status"].as_str(), c["lastTransitionTime"].as_str()),
            (Some("False"), Some("2026-12-07T12:00:00Z"))
        );
    }
}
