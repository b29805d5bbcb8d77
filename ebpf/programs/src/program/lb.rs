//! Service lookup and backend choice. Userspace lays each service's
//! backends over its slots: in proportion to their weights for a random
//! choice, or as a Maglev table for a choice by flow hash (`FLAG_MAGLEV`);
//! a backend with weight 0 (maintenance, terminating) has no slot. With
//! ClientIP affinity a client keeps its backend while it uses it within the
//! timeout and the backend exists (weight 0 included: no new clients, but
//! the ones it has stay, as kube-proxy's `recent` match does).

use super::maps::{AFFINITY, BACKENDS, LIVE, SERVICES};
use aya_ebpf::helpers::{bpf_get_prandom_u32, bpf_ktime_get_ns};
use sluice_ebpf_common::{AffinityKey, AffinityValue, Backend, FLAG_MAGLEV, LiveKey, ServiceKey, SlotKey};

pub enum Choice {
    /// Not a service frontend: leave the address alone.
    NotService,
    /// A frontend with no backend taking new flows.
    NoBackend,
    Backend(Backend),
}

/// `client` identifies the client for affinity; `hash` is the flow's hash,
/// used when the service's slots are a Maglev table. Inlined: a BPF call
/// takes at most five arguments.
#[inline(always)]
pub fn choose(address: u32, port: u16, protocol: u8, client: u64, hash: u32) -> Choice {
    let key = ServiceKey { address, port, protocol, _pad: 0 };
    let Some(service) = (unsafe { SERVICES.get(&key) }) else { return Choice::NotService };
    let now = unsafe { bpf_ktime_get_ns() };
    let affinity = AffinityKey { client, id: service.id, _pad: 0 };
    if service.affinity_seconds > 0
        && let Some(kept) = unsafe { AFFINITY.get(&affinity) }
        && now.wrapping_sub(kept.last_ns) < u64::from(service.affinity_seconds) * 1_000_000_000
        && unsafe { LIVE.get(&LiveKey { id: service.id, address: kept.address, port: kept.port, _pad: 0 }) }.is_some()
    {
        let b = Backend { address: kept.address, port: kept.port, flags: kept.flags };
        let _ = AFFINITY.insert(
            &affinity,
            &AffinityValue { last_ns: now, address: b.address, port: b.port, flags: b.flags },
            0,
        );
        return Choice::Backend(b);
    }
    if service.count == 0 {
        return Choice::NoBackend;
    }
    let pick = if service.flags & FLAG_MAGLEV != 0 { hash } else { unsafe { bpf_get_prandom_u32() } };
    let slot = (pick % u32::from(service.count)) as u16 + 1;
    let Some(b) = (unsafe { BACKENDS.get(&SlotKey { id: service.id, slot, _pad: 0 }) }) else {
        return Choice::NoBackend;
    };
    if service.affinity_seconds > 0 {
        let kept = AffinityValue { last_ns: now, address: b.address, port: b.port, flags: b.flags };
        let _ = AFFINITY.insert(&affinity, &kept, 0);
    }
    Choice::Backend(*b)
}
