//! The maps userspace fills from the Snapshot's service table, and those
//! the programs keep for themselves.

use aya_ebpf::macros::map;
use aya_ebpf::maps::{HashMap, LruHashMap, PerCpuArray};
use sluice_ebpf_common::{
    AffinityKey, AffinityValue, Backend, COUNTERS as COUNTER_SLOTS, Flow, LiveKey, RevNat, ServiceKey, ServiceValue,
    SlotKey,
};

/// Hash maps allocate entries as they are filled rather than all at load.
const NO_PREALLOC: u32 = 1;

/// Frontend (VIP, port, protocol) -> service.
#[map]
pub static SERVICES: HashMap<ServiceKey, ServiceValue> = HashMap::with_max_entries(65_536, 0);

/// (service, slot) -> backend; a service's slots are 1..=count. Sized for
/// Maglev tables (1 021 slots a NodePort service), filled as used.
#[map]
pub static BACKENDS: HashMap<SlotKey, Backend> = HashMap::with_max_entries(4_194_304, NO_PREALLOC);

/// The backends that exist, per service (affinity keeps only these).
#[map]
pub static LIVE: HashMap<LiveKey, u8> = HashMap::with_max_entries(1_048_576, 0);

/// ClientIP affinity: (client, service) -> backend and last use.
#[map]
pub static AFFINITY: LruHashMap<AffinityKey, AffinityValue> = LruHashMap::with_max_entries(262_144, 0);

/// Socket cookie -> what it was translated from, for replies and getpeername.
#[map]
pub static REVNAT: LruHashMap<u64, RevNat> = LruHashMap::with_max_entries(262_144, 0);

/// NodePort conntrack, the way in: the tuple a client's packet carries ->
/// the tuple it is rewritten to (backend, and the node's address when
/// SNATed).
#[map]
pub static CT_FORWARD: LruHashMap<Flow, Flow> = LruHashMap::with_max_entries(262_144, 0);

/// NodePort conntrack, the way back: the tuple a backend's reply carries ->
/// the tuple the client expects (from the node address and NodePort it dialed).
#[map]
pub static CT_REPLY: LruHashMap<Flow, Flow> = LruHashMap::with_max_entries(262_144, 0);

/// This node's IPv4 addresses: NodePort frontends answer on these only.
#[map]
pub static NODE_ADDRS: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);

#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

pub fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // Per CPU: no other writer.
        unsafe { *c += 1 };
    }
}
