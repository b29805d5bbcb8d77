//! The data plane. It knows the Snapshot model (`sluice-config`) and nothing
//! of where it came from. A Snapshot is compiled once per change into a
//! [`RouteTable`] and swapped in whole; requests only ever read a compiled
//! table, once each.

mod balancer;
mod cluster;
pub mod http;
pub mod metrics;
mod route_table;

pub use balancer::SmoothWrr;
pub use cluster::ClusterState;
pub use route_table::{CompileError, CompiledRoute, RouteTable, RoutesForListener};
