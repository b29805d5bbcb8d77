//! The L7 proxy: Sluice's own loop on pingora-core's HTTP sessions, over
//! the swapped RouteTable.

mod admission;
mod basic_auth;
pub(crate) mod client_certificate;
mod client_stream;
mod context;
mod cors;
mod engine;
mod external_auth;
mod forwarded;
mod hash_key;
mod header_ops;
mod hop_by_hop;
mod listeners;
mod mirror;
mod path;
mod peer;
mod request_body;
mod request_id;
mod request_limits;
mod response_spool;
mod retry;
mod upstream_identity;
mod upstream_names;
mod write_buffer;

pub use admission::Scheme;
pub(crate) use basic_auth::BasicAuthCheck;
#[doc(hidden)]
pub use client_stream::head_state_after;
pub(crate) use cors::CorsHeaders;
pub(crate) use external_auth::ExternalAuthState;
pub use hash_key::ip_hash;
pub(crate) use header_ops::HeaderOps;
pub use listeners::{HttpListeners, ListenerOptions};
pub use path::routing_path;
pub(crate) use upstream_identity::{UpstreamIdentities, UpstreamIdentity};
