//! The maps userspace fills from the Snapshot's service table, and those
//! the programs keep for themselves.

use aya_ebpf::macros::map;
use aya_ebpf::maps::{HashMap, LruHashMap, PerCpuArray};
use sluice_ebpf_common::{
    AffinityKey, AffinityValue, Backend, COUNTERS as COUNTER_SLOTS, LiveKey, RevNat, ServiceKey, ServiceValue, SlotKey,
};

/// Frontend (VIP, port, protocol) -> service.
#[map]
pub static SERVICES: HashMap<ServiceKey, ServiceValue> = HashMap::with_max_entries(65_536, 0);

/// (service, slot) -> backend; a service's slots are 1..=count.
#[map]
pub static BACKENDS: HashMap<SlotKey, Backend> = HashMap::with_max_entries(1_048_576, 0);

/// The backends that exist, per service (affinity keeps only these).
#[map]
pub static LIVE: HashMap<LiveKey, u8> = HashMap::with_max_entries(1_048_576, 0);

/// ClientIP affinity: (client, service) -> backend and last use.
#[map]
pub static AFFINITY: LruHashMap<AffinityKey, AffinityValue> = LruHashMap::with_max_entries(262_144, 0);

/// Socket cookie -> what it was translated from, for replies and getpeername.
#[map]
pub static REVNAT: LruHashMap<u64, RevNat> = LruHashMap::with_max_entries(262_144, 0);

#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

pub fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // Per CPU: no other writer.
        unsafe { *c += 1 };
    }
}
