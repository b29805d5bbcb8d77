//! What every Gateway API route kind shares: its kind, its parent
//! references and its backend references. The generated types give each
//! route kind types of its own of one shape; they are read into these so
//! attaching and resolving are written once.

use gateway_api::apis::experimental::{tcproutes, udproutes};
use gateway_api::apis::standard::{grpcroutes, httproutes, tlsroutes};

/// A route kind, and what its listeners and backends are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RouteKind {
    Http,
    Grpc,
    Tls,
    Tcp,
    Udp,
}

impl RouteKind {
    /// Its `kind`, as `allowedRoutes.kinds` and `supportedKinds` name it.
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
            RouteKind::Tls => "TLSRoute",
            RouteKind::Tcp => "TCPRoute",
            RouteKind::Udp => "UDPRoute",
        }
    }

    pub fn from_name(kind: &str) -> Option<Self> {
        [RouteKind::Http, RouteKind::Grpc, RouteKind::Tls, RouteKind::Tcp, RouteKind::Udp]
            .into_iter()
            .find(|k| k.name() == kind)
    }

    /// What becomes of the share of a backend that cannot be resolved.
    pub fn unresolved_share(self) -> &'static str {
        match self {
            RouteKind::Http | RouteKind::Grpc => "its share gets 500",
            RouteKind::Tls | RouteKind::Tcp | RouteKind::Udp => "its share of connections is closed",
        }
    }

    /// The protocol of the Service ports its backends name.
    pub fn service_protocol(self) -> &'static str {
        if self == RouteKind::Udp { "UDP" } else { "TCP" }
    }
}

/// A route's `parentRefs` entry.
pub(super) struct ParentRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub section_name: Option<String>,
    pub port: Option<i32>,
}

/// A rule's `backendRefs` entry.
pub(super) struct BackendRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub port: Option<i32>,
    pub weight: Option<i32>,
}

macro_rules! read_refs {
    ($($parent:ty, $backend:ty;)*) => {$(
        impl From<&$parent> for ParentRef {
            fn from(p: &$parent) -> Self {
                ParentRef {
                    group: p.group.clone(),
                    kind: p.kind.clone(),
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    section_name: p.section_name.clone(),
                    port: p.port,
                }
            }
        }

        impl From<&$backend> for BackendRef {
            fn from(b: &$backend) -> Self {
                BackendRef { weight: b.weight, ..read_backend!(b) }
            }
        }
    )*};
}

/// A backend reference's fields but its weight.
macro_rules! read_backend {
    ($b:expr) => {
        BackendRef {
            group: $b.group.clone(),
            kind: $b.kind.clone(),
            namespace: $b.namespace.clone(),
            name: $b.name.clone(),
            port: $b.port,
            weight: None,
        }
    };
}

read_refs! {
    httproutes::HttpRouteParentRefs, httproutes::HttpRouteRulesBackendRefs;
    grpcroutes::GrpcRouteParentRefs, grpcroutes::GrpcRouteRulesBackendRefs;
    tlsroutes::TlsRouteParentRefs, tlsroutes::TlsRouteRulesBackendRefs;
    tcproutes::TcpRouteParentRefs, tcproutes::TcpRouteRulesBackendRefs;
    udproutes::UdpRouteParentRefs, udproutes::UdpRouteRulesBackendRefs;
}

/// A RequestMirror filter's backend: a backend reference without a weight.
macro_rules! read_mirror_refs {
    ($($backend:ty;)*) => {$(
        impl From<&$backend> for BackendRef {
            fn from(b: &$backend) -> Self {
                read_backend!(b)
            }
        }
    )*};
}

read_mirror_refs! {
    httproutes::HttpRouteRulesFiltersRequestMirrorBackendRef;
    grpcroutes::GrpcRouteRulesFiltersRequestMirrorBackendRef;
}
