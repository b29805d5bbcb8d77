//! The data plane. It knows the Snapshot model (`sluice-config`) and nothing
//! of where it came from. A Snapshot is compiled once per change into a
//! [`RouteTable`] and swapped in whole; requests only ever read a compiled
//! table, once each.

mod accept_backoff;
pub mod access_log;
mod affinity;
pub mod balancer;
mod client_limits;
mod clock;
mod cluster;
mod data_plane;
pub mod health;
pub mod http;
pub mod l4;
mod listen_sockets;
pub mod metrics;
mod route_table;
pub mod spans;
pub mod tls;
pub mod workers;

pub use client_limits::{ClientLease, ClientLimits};
pub use cluster::{ClusterState, InFlight, PickInput, Picked};
pub use data_plane::DataPlane;
pub use listen_sockets::ListenSockets;
pub use route_table::{
    CompileError, CompiledRoute, HttpListener, L4Listener, ListenerTls, RouteTable, RoutesForListener, SplitKey,
};
