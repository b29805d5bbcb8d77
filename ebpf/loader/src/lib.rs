//! The userspace side of Sluice's kernel datapath: loads the programs,
//! attaches them where asked (a cgroup for socket-LB), and keeps their maps
//! equal to the Snapshot's service table by applying differences only.

mod node_health;
mod service_table;
mod socket_lb;

pub use node_health::NodeHealth;
pub use service_table::{Diff, ServiceTable};
pub use socket_lb::{Counters, Error, KernelMaps, SocketLb};
