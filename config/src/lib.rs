//! The Snapshot: the neutral model of what the data plane must do.
//!
//! Sources and translation (in `sluice-controller`) produce a [`Snapshot`];
//! the proxy, the eBPF loader, the admin endpoints and the status writer
//! consume it through [`Consumer`]. Nothing here
//! does I/O or knows Kubernetes: this crate is the seam between producers and
//! consumers, so both sides can change without knowing each other.

mod balance;
pub mod blocklist;
mod canary;
mod certificate;
mod cluster;
mod connections;
mod consumer;
mod cors;
mod diagnostic;
mod external_auth;
mod gateway_status;
mod hash_key;
mod header_op;
mod host_match;
pub mod htpasswd;
mod l4_policy;
mod listener;
mod log_format;
mod object_ref;
mod options;
mod path_match;
mod published;
mod real_ip;
mod request_match;
mod rewrite;
mod route;
mod route_policy;
mod service_vip;
mod snapshot;
mod url_change;
mod validate;
mod virtual_hosts;

pub use balance::{
    ActiveCheck, Affinity, AffinityMode, Balance, CheckProtocol, DEFAULT_MAGLEV_TABLE_SIZE, HealthPolicy, PassiveCheck,
    SOURCE_ADDRESS_KEY,
};
pub use blocklist::Blocklist;
pub use canary::{Canary, CanaryVerdict, HeaderMatch, always_never};
pub use certificate::{Certificate, CertificateAuthority, Sensitive};
pub use cluster::{Cluster, DnsTarget, Endpoint};
pub use connections::{Connections, UpstreamKeepalive};
pub use consumer::Consumer;
pub use cors::{Cors, CorsSpec};
pub use diagnostic::{Diagnostic, Severity};
pub use external_auth::{AuthCache, ExternalAuth, expand_variables};
pub use gateway_status::{Condition, ListenerStatus, ObjectStatus, ParentStatus};
pub use hash_key::{KeyPart, parse_hash_key};
pub use header_op::HeaderOp;
pub use host_match::HostPattern;
pub use l4_policy::{L4Policy, ProxyProtocolVersion};
pub use listener::{Listener, ListenerKind};
pub use log_format::{LogEscape, LogFormat, LogPart, LogVar};
pub use object_ref::ObjectRef;
pub use options::{DEFAULT_GATEWAY_CONTROLLER, NodePortRange, Options};
pub use path_match::{PathKind, PathMatch};
pub use published::Published;
pub use real_ip::RealIp;
pub use request_match::{RequestConditions, ValueMatch, first_query_value};
pub use rewrite::{RewriteTarget, TargetPiece};
pub use route::{ClientVerify, Route, RouteConfig, Split, VirtualHost, VirtualHostTls, WeightedCluster};
pub use route_policy::{
    AccessRule, BasicAuth, ErrorBackend, HostRedirect, LocationRewrite, Mirror, REQUEST_BUFFER_DEFAULT, RateLimit,
    Redirect, ResponseBuffer, ResponseRate, RetryOn, RetryPolicy, RoutePolicy, SubjectName, UpstreamProtocol,
};
pub use service_vip::{Frontend, FrontendKind, L4Protocol, ServiceVip, TrafficPolicy, VipBackend};
pub use snapshot::Snapshot;
pub use url_change::{PathModifier, UrlRedirect};
pub use validate::Invalid;
pub use virtual_hosts::{HostChange, VirtualHosts};
