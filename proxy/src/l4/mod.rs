//! L4: TCP and UDP listeners that come and go with the Snapshot.
//! pingora binds its listeners once at start, so L4 runs its own accept
//! loops on a tokio runtime, with the same balancing library as L7.

mod manager;
pub mod proxy_protocol;
mod pump;
mod tcp;
mod udp;

pub use manager::{DEFAULT_UDP_MAX_FLOWS, L4Manager};
pub use pump::{Moved, pump};
pub(crate) use tcp::connect_upstream;
