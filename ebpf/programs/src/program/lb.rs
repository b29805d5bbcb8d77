//! Service lookup and backend choice: a uniformly random slot. Userspace
//! lays each service's backends over its slots in proportion to their
//! weights, so a random slot is a weighted random backend, and a backend
//! with weight 0 (maintenance, terminating) has no slot.

use super::maps::{BACKENDS, SERVICES};
use aya_ebpf::helpers::bpf_get_prandom_u32;
use sluice_ebpf_common::{Backend, ServiceKey, SlotKey};

pub enum Choice {
    /// Not a service frontend: leave the address alone.
    NotService,
    /// A frontend with no backend taking new flows.
    NoBackend,
    Backend(Backend),
}

pub fn choose(address: u32, port: u16, protocol: u8) -> Choice {
    let key = ServiceKey { address, port, protocol, _pad: 0 };
    let Some(service) = (unsafe { SERVICES.get(&key) }) else { return Choice::NotService };
    if service.count == 0 {
        return Choice::NoBackend;
    }
    let slot = (unsafe { bpf_get_prandom_u32() } % u32::from(service.count)) as u16 + 1;
    match unsafe { BACKENDS.get(&SlotKey { id: service.id, slot, _pad: 0 }) } {
        Some(b) => Choice::Backend(*b),
        None => Choice::NoBackend,
    }
}
