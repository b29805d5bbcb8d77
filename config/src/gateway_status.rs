use crate::ObjectRef;
use serde::{Deserialize, Serialize};

/// The status Sluice reports of a Gateway API object it serves, as its
/// translation found it: what `sluice check` prints and a status writer
/// writes (the object's `status`, in the Gateway API's conditions and
/// reasons).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    pub object: ObjectRef,
    /// The `metadata.generation` the conditions were made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// A GatewayClass's `supportedFeatures`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_features: Vec<String>,
    /// A Gateway's addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// A Gateway's (or ListenerSet's) listeners, in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerStatus>,
    /// A Gateway's ListenerSets taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_listener_sets: Option<u32>,
    /// A route's parents this instance serves, in its `parentRefs` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<ParentStatus>,
}

impl ObjectStatus {
    /// The status of `object` as of `observed_generation`, with nothing in
    /// it yet.
    pub fn of(object: ObjectRef, observed_generation: Option<i64>) -> Self {
        ObjectStatus {
            object,
            observed_generation,
            conditions: Vec::new(),
            supported_features: Vec::new(),
            addresses: Vec::new(),
            listeners: Vec::new(),
            attached_listener_sets: None,
            parents: Vec::new(),
        }
    }
}

/// A Kubernetes condition without its times (the writer stamps them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: bool,
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Condition {
    pub fn new(kind: &str, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Condition { kind: kind.into(), status, reason: reason.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    pub attached_routes: u32,
    pub supported_kinds: Vec<String>,
    pub conditions: Vec<Condition>,
}

/// A route's status under one parent reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentStatus {
    /// The Gateway, or ListenerSet.
    pub parent: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    pub conditions: Vec<Condition>,
}
