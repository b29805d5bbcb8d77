//! The seed's Mesos-era ingress (`kind: ingress`, seeds-digest §2.1): form B,
//! the weighted form (`spec.lbGroup`, `rules[].kind/balance/httpIngress/
//! tcpIngress`, `backend[]` with `weight`), and form A, the Kubernetes-like
//! form (`rules[].host/http.paths[].backend{serviceName, port}`), read as
//! weight 1. `servicePort` may be a string or an integer.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedIngress {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SeedSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedSpec {
    /// The LB group that serves this ingress (`--lb-group`).
    #[serde(default)]
    pub lb_group: Option<String>,
    #[serde(default)]
    pub clusterid: Option<String>,
    #[serde(default)]
    pub rules: Vec<SeedRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedRule {
    /// `HTTP` or `TCP` (form B); absent in form A.
    #[serde(default)]
    pub kind: Option<String>,
    /// `roundrobin` (default), `source`, `leastconn`.
    #[serde(default)]
    pub balance: Option<String>,
    #[serde(default)]
    pub max_conn: Option<Value>,
    #[serde(default)]
    pub http_ingress: Option<SeedHttp>,
    #[serde(default)]
    pub tcp_ingress: Option<SeedTcp>,
    /// Form A.
    #[serde(default)]
    pub host: Option<String>,
    /// Form A: `{paths: [...]}`.
    #[serde(default)]
    pub http: Option<SeedHttp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedHttp {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub paths: Vec<SeedPath>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedPath {
    #[serde(default)]
    pub path: Option<String>,
    /// A list of weighted backends (form B) or one backend (form A).
    #[serde(default)]
    pub backend: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedTcp {
    #[serde(default)]
    pub listen_port: Option<Value>,
    #[serde(default)]
    pub backend: Value,
}

/// One backend; numbers kept as JSON values so a wrong one can be named.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedBackend {
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_port: Option<Value>,
    /// Form A's name for the port.
    #[serde(default)]
    pub port: Option<Value>,
    #[serde(default)]
    pub weight: Option<Value>,
}

impl SeedRule {
    /// `HTTP` or `TCP`, upper-cased; form A (no `kind`, `http` present) is HTTP.
    pub fn effective_kind(&self) -> Option<String> {
        match &self.kind {
            Some(k) => Some(k.to_ascii_uppercase()),
            None if self.http.is_some() || self.http_ingress.is_some() => Some("HTTP".into()),
            None if self.tcp_ingress.is_some() => Some("TCP".into()),
            None => None,
        }
    }
}
