//! The data plane. It knows the Snapshot model (`sluice-config`) and nothing
//! of where it came from. A Snapshot is compiled once per change into a
//! [`RouteTable`]; requests only ever read a compiled table.

mod route_table;

pub use route_table::{CompileError, Lookup, RouteTable, RoutesForListener};
