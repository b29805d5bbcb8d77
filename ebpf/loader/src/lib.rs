//! The userspace side of Sluice's kernel datapath: loads the programs,
//! attaches them where asked (a cgroup for socket-LB, devices for
//! NodePort), and keeps their maps equal to the Snapshot's service table
//! by applying differences only.

mod datapath;
mod node_addresses;
mod node_health;
mod service_table;

pub use datapath::{Counters, Datapath, Error, KernelMaps};
pub use node_health::NodeHealth;
pub use service_table::{Diff, LbAlgorithm, MAGLEV_SLOTS, ServiceTable, TableOptions};
