//! `networkextension.bkbcs.tencent.com/v1` Ingress (`bcsingress`), the
//! current BCS weighted-backend rule, with the fields of the CRD's structural
//! schema (bk-bcs `apis/networkextension/v1/ingress_types.go`, peers.md §6.2).
//! Unknown fields are dropped, as the API server prunes them. Integers stay
//! wide so an out-of-range value is a diagnostic on its rule, not a parse
//! error that loses the whole object.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Pod annotation that replaces the weight of that pod's backend.
pub const CLB_WEIGHT_ANNOTATION: &str = "networkextension.bkbcs.tencent.com/clb-weight";
/// Ingress annotation naming the load balancers (ids) that serve it.
pub const LB_IDS_ANNOTATION: &str = "networkextension.bkbcs.tencent.com/lbids";
/// Ingress annotation naming the load balancers (names) that serve it.
pub const LB_NAMES_ANNOTATION: &str = "networkextension.bkbcs.tencent.com/lbnames";
/// Weight of a backend whose route or subset gives none.
pub const DEFAULT_WEIGHT: i64 = 10;

#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "networkextension.bkbcs.tencent.com",
    version = "v1",
    kind = "Ingress",
    root = "BcsIngress",
    plural = "ingresses",
    shortname = "bcsingress",
    namespaced,
    status = "BcsIngressStatus",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct BcsIngressSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<IngressRule>,
    /// StatefulSet port segments; parsed, reported as not served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<IngressPortMapping>,
}

/// One listener: `port` with `protocol`, L4 `services` or L7 `layer7Routes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    pub port: i64,
    /// HTTP, HTTPS (L7); TCP, UDP, TCP_SSL, QUIC (L4); any case.
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_attribute: Option<IngressListenerAttribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<IngressListenerCertificate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceRoute>,
    #[serde(default, rename = "layer7Routes", skip_serializing_if = "Vec::is_empty")]
    pub layer7_routes: Vec<Layer7Route>,
}

/// An L7 rule's domain and path with its backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Layer7Route {
    pub domain: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_attribute: Option<IngressListenerAttribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<IngressListenerCertificate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceRoute>,
    /// Backend protocol: GRPC or QUIC.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub forward_type: String,
}

/// A Service whose pods (or nodes) become weighted backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRoute {
    /// `service` (default) or `multiclusterservice`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_kind: String,
    pub service_name: String,
    /// Default: the Ingress's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_namespace: String,
    /// Matched against the Service's `spec.ports[].port`.
    pub service_port: i64,
    /// Backends are `hostIP:hostPort` of the pods.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_port: bool,
    /// `true`: pod IPs; `false`: every node running a pod, at the NodePort.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_direct_connect: bool,
    /// 0-100, default 10, stamped on every backend of this Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<IngressWeight>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<IngressSubset>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngressWeight {
    pub value: i64,
}

/// Pods of the Service selector that also carry `labelSelector`, at `weight`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSubset {
    pub label_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<IngressWeight>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressListenerAttribute {
    /// Session persistence in seconds; 0 = off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub session_time: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("enum" = ["NORMAL", "QUIC_CID"]))]
    pub session_type: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sni_switch: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_alive_enable: i64,
    /// WRR (default), LEAST_CONN, IP_HASH.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lb_policy: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backend_insecure: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_rate: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_attributes: Vec<AwsAttribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ListenerHealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_check: Option<UptimeCheckConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AwsAttribute {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// Ranges (validate.go): timeout 2-60, intervalTime 5-300, healthNum and
/// unHealthNum 2-10, httpCode 1-31; 0 means the default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerHealthCheck {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval_time: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub health_num: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub un_health_num: i64,
    /// Bit mask of healthy status classes: 1 = 1xx, 2 = 2xx, 4 = 3xx, 8 = 4xx, 16 = 5xx.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub http_code: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub health_check_port: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health_check_protocol: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub http_code_values: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub http_check_path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub http_check_method: String,
}

/// The BlueKing monitoring probe of a listener; not acted on here, so its
/// other fields are kept by the API server and ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct UptimeCheckConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_define: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressListenerCertificate {
    /// UNIDIRECTIONAL or MUTUAL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// Here: a `kubernetes.io/tls` Secret in the Ingress's namespace.
    #[serde(rename = "certID", default, skip_serializing_if = "String::is_empty")]
    pub cert_id: String,
    /// Here: a Secret whose `ca.crt` checks client certificates (MUTUAL).
    #[serde(rename = "certCaID", default, skip_serializing_if = "String::is_empty")]
    pub cert_ca_id: String,
}

/// A StatefulSet's port segments (mappingconverter.go): parsed so they can be
/// named in a diagnostic; port-range listeners are later work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressPortMapping {
    pub workload_kind: String,
    pub workload_name: String,
    pub workload_namespace: String,
    pub start_port: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rs_start_port: i64,
    pub start_index: i64,
    pub end_index: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub segment_length: i64,
    pub protocol: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_rs_port_fixed: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_segment: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_port: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_attribute: Option<IngressListenerAttribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<IngressListenerCertificate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<IngressPortMappingLayer7Route>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressPortMappingLayer7Route {
    pub domain: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_attribute: Option<IngressListenerAttribute>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BcsIngressStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loadbalancers: Vec<IngressLoadBalancer>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressLoadBalancer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub loadbalancer_name: String,
    #[serde(rename = "loadbalancerID", default, skip_serializing_if = "String::is_empty")]
    pub loadbalancer_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scheme: String,
    #[serde(rename = "awsLBType", default, skip_serializing_if = "String::is_empty")]
    pub aws_lb_type: String,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl ServiceRoute {
    pub fn weight(&self) -> i64 {
        self.weight.as_ref().map_or(DEFAULT_WEIGHT, |w| w.value)
    }
}

impl IngressSubset {
    pub fn weight(&self) -> i64 {
        self.weight.as_ref().map_or(DEFAULT_WEIGHT, |w| w.value)
    }
}
