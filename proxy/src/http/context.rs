use crate::cluster::ClusterState;
use crate::route_table::CompiledRoute;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What one request carries from filter to filter.
#[derive(Default)]
pub struct RequestCtx {
    pub route: Option<Arc<CompiledRoute>>,
    pub cluster: Option<Arc<ClusterState>>,
    /// Endpoints tried, in order; the last one is the current attempt.
    pub tried: Vec<SocketAddr>,
    /// When the current attempt started.
    pub attempt_started: Option<Instant>,
    /// Set when the request was answered without an upstream (404, 413, 503).
    pub local_status: Option<u16>,
    /// The request was counted in the active-requests gauge.
    pub counted: bool,
    /// Request body bytes seen, for the body size limit.
    pub body_bytes: u64,
}
