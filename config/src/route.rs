use crate::{Canary, HostPattern, ObjectRef, PathMatch, RequestConditions, RoutePolicy, VirtualHosts};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A named set of virtual hosts that one or more L7 listeners serve (the
/// Kubernetes Ingress set is served on both the HTTP and the HTTPS listener).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteConfig {
    pub name: String,
    /// By host. Shared, so a Snapshot that differs from the last in a few
    /// hosts shares the rest, and a consumer sees an unchanged host as the
    /// same allocation.
    pub virtual_hosts: VirtualHosts,
    /// Where a request goes that matches no virtual host or no route of its
    /// host (an Ingress `defaultBackend`). `None`: 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<Split>,
    /// Policy of requests sent to the default backend.
    #[serde(default, skip_serializing_if = "RoutePolicy::is_default")]
    pub default_policy: RoutePolicy,
    /// A `*.suffix` host covers names of any depth before the suffix, the
    /// longest suffix first (Gateway API hostnames), not exactly one label
    /// (Ingress hosts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wildcard_any_depth: bool,
}

impl RouteConfig {
    /// Reference lookup: the virtual host for a request host (exact, then the
    /// wildcard, then the host-less one), then its first matching route.
    pub fn lookup(&self, host: &str, path: &str) -> Option<&Route> {
        self.virtual_host_for(host)?.routes.iter().find(|r| r.path.matches(path))
    }

    pub fn virtual_host_for(&self, host: &str) -> Option<&VirtualHost> {
        // Exact first, then the longest wildcard suffix, then any host.
        let rank = |vh: &VirtualHost| match HostPattern::parse(&vh.host) {
            HostPattern::Exact(_) => (0, 0),
            HostPattern::Wildcard(suffix) => (1, usize::MAX - suffix.len()),
            HostPattern::Any => (2, 0),
        };
        self.virtual_hosts
            .iter()
            .filter(|vh| HostPattern::parse(&vh.host).matches_at_depth(host, self.wildcard_any_depth))
            .min_by_key(|vh| rank(vh))
            .map(|v| &**v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHost {
    /// `example.com`, `*.example.com`, or `*` for rules without a host.
    pub host: String,
    /// In precedence order (see [`PathMatch::precedence`]).
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<VirtualHostTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHostTls {
    /// Name of an entry of [`crate::Snapshot::certificates`]; `None` means the
    /// host is a TLS host whose own certificate is unusable, so it is served
    /// with the default certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Hand the TLS stream to the backend of `/` by SNI, undecrypted
    /// (ingress-nginx `ssl-passthrough`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passthrough: bool,
    /// Terminate TLS with `certificate` and hand the decrypted stream to
    /// the backend of `/` (Gateway API TLSRoute on a Terminate listener).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminate_stream: bool,
    /// Ask clients of this host for a certificate signed by a CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_verify: Option<ClientVerify>,
    /// The Gateway listener whose name this is. A request whose Host is
    /// another listener's than the connection's SNI gets 421 (the
    /// connection was made, and its certificate chosen, for the other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
}

/// Client-certificate checking (ingress-nginx `auth-tls-*`, BCS `MUTUAL`,
/// Gateway API frontend validation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVerify {
    /// Name of an entry of [`crate::Snapshot::certificate_authorities`].
    pub ca: String,
    /// A client without a certificate is let in (`optional`); one with a bad
    /// certificate never is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The client's certificate goes to the upstream, URL-escaped PEM in
    /// `ssl-client-cert` (ingress-nginx `auth-tls-pass-certificate-to-upstream`),
    /// besides the `ssl-client-verify`, `-subject-dn` and `-issuer-dn`
    /// every checked host's requests carry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_certificate: bool,
    /// Intermediate certificates a client's chain may use at most to reach
    /// the CA (nginx's `ssl_verify_depth`, ingress-nginx
    /// `auth-tls-verify-depth`); `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_depth: Option<u8>,
    /// A client whose certificate is missing (when required) or fails the
    /// check is redirected here (302) instead of refused in the handshake
    /// (ingress-nginx `auth-tls-error-page`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_page: Option<String>,
    /// Every client is let in, its certificate presented or not, checked
    /// or not (Gateway API `AllowInsecureFallback`: the backend decides);
    /// the `ssl-client-*` headers are then not sent, as nothing was
    /// verified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_fallback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    #[serde(rename = "match")]
    pub path: PathMatch,
    /// What else a request must carry to take this route (Gateway API
    /// matches); `None`: its path is enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Box<RequestConditions>>,
    /// Where matching requests go, canaries' weights included. Empty (or
    /// all weights 0): 503.
    pub split: Split,
    /// Header and cookie rules that pick a canary before the split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<Canary>,
    /// Shared: the routes of one Ingress hold one policy, and the compiled
    /// table holds the Snapshot's.
    #[serde(default, skip_serializing_if = "is_default_policy")]
    pub policy: Arc<RoutePolicy>,
    /// The object this route came from.
    pub source: ObjectRef,
}

fn is_default_policy(policy: &Arc<RoutePolicy>) -> bool {
    policy.is_default()
}

/// A weighted choice between clusters: each cluster gets `weight / Σ weight`
/// of the requests (L7) or connections (L4), whatever its endpoint count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Split(pub Vec<WeightedCluster>);

impl Split {
    pub fn single(cluster: impl Into<String>) -> Self {
        Split(vec![WeightedCluster { cluster: cluster.into(), weight: 1 }])
    }

    /// True when no cluster can receive new traffic.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|c| c.weight == 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedCluster {
    /// Name of an entry of [`crate::Snapshot::clusters`].
    pub cluster: String,
    /// 0 = no new traffic.
    pub weight: u32,
}
