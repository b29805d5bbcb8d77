//! Map keys and values shared by the kernel programs and the userspace
//! loader. Layouts are fixed (`#[repr(C)]`, explicit padding) because both
//! sides read the same bytes; addresses and ports are in network byte order,
//! as the kernel hands them to the programs.
#![no_std]

/// Protocol numbers as in the IP header.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_SCTP: u8 = 132;

/// Service map key: one frontend of a Service port.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    /// IPv4 address, network byte order; 0 for a NodePort (any node address).
    pub address: u32,
    /// Network byte order.
    pub port: u16,
    pub protocol: u8,
    pub _pad: u8,
}

/// Service map value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceValue {
    /// Identifies the Service port; the backend slots are `(id, 1..=count)`.
    pub id: u32,
    /// Backends that take new flows (weight > 0, not terminating).
    pub count: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// `sessionAffinity: ClientIP` timeout in seconds; 0 = none.
    pub affinity_seconds: u32,
}

/// `externalTrafficPolicy: Local`: only node-local backends, client address kept.
pub const FLAG_EXTERNAL_LOCAL: u16 = 1 << 0;
/// `internalTrafficPolicy: Local`.
pub const FLAG_INTERNAL_LOCAL: u16 = 1 << 1;
/// The slots are a Maglev table: the backend is chosen by a hash of the
/// flow rather than at random (NodePort, `--ebpf-lb maglev`).
pub const FLAG_MAGLEV: u16 = 1 << 2;

/// Backend slot key: the `slot`-th backend of service `id` (1-based).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotKey {
    pub id: u32,
    pub slot: u16,
    pub _pad: u16,
}

/// One backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    /// IPv4 address, network byte order.
    pub address: u32,
    /// Network byte order.
    pub port: u16,
    /// `BACKEND_*` bits.
    pub flags: u16,
}

/// The backend runs on this node: NodePort traffic to it keeps the client's
/// address (no SNAT needed for the reply to come back through this node).
pub const BACKEND_LOCAL: u16 = 1 << 0;

/// A flow's addresses as they appear in a packet (NodePort conntrack). The
/// NAT maps take the tuple a packet carries to the tuple it is rewritten
/// to, one entry per direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Network byte order.
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    pub protocol: u8,
    pub _pad: [u8; 3],
}

impl Flow {
    /// The same flow seen from the other end.
    pub fn reply(&self) -> Flow {
        Flow {
            saddr: self.daddr,
            daddr: self.saddr,
            sport: self.dport,
            dport: self.sport,
            protocol: self.protocol,
            _pad: [0; 3],
        }
    }
}

/// What a socket was translated from and to (socket-LB reverse
/// translation, keyed by socket cookie): replies from `backend` are shown as
/// coming from the `vip` the application asked for.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevNat {
    /// Network byte order, as the application wrote them.
    pub vip: u32,
    pub vip_port: u16,
    pub _pad0: u16,
    /// Network byte order, as translated.
    pub backend: u32,
    pub backend_port: u16,
    pub _pad1: u16,
}

/// ClientIP affinity key: the client (for socket-LB, its network namespace
/// cookie; the host's own sockets share one) and the service.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AffinityKey {
    pub client: u64,
    pub id: u32,
    pub _pad: u32,
}

/// The backend a client keeps, and when it last used it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffinityValue {
    /// `bpf_ktime_get_ns` of the last use.
    pub last_ns: u64,
    /// Network byte order.
    pub address: u32,
    pub port: u16,
    /// The backend's `BACKEND_*` bits.
    pub flags: u16,
}

/// A backend that still exists for a service (weight 0 included, not
/// terminating): an affinity entry is kept only while its backend is live.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LiveKey {
    pub id: u32,
    /// Network byte order.
    pub address: u32,
    pub port: u16,
    pub _pad: u16,
}

/// Indexes of the counter array (per CPU; userspace sums them).
pub const COUNTER_TRANSLATED: u32 = 0;
/// A Service frontend was addressed but had no backend taking new flows:
/// the connect or send is refused, as kube-proxy rejects it.
pub const COUNTER_NO_BACKEND: u32 = 1;
/// New NodePort flows translated by the TC program.
pub const COUNTER_NODEPORT_FLOWS: u32 = 2;
/// NodePort packets of a new flow dropped: no backend takes new flows (for
/// `externalTrafficPolicy: Local`, none on this node).
pub const COUNTER_NODEPORT_NO_BACKEND: u32 = 3;
/// NodePort packets of a new flow dropped: no free SNAT port was found.
pub const COUNTER_NODEPORT_NO_PORT: u32 = 4;
pub const COUNTERS: u32 = 5;

// Plain data with explicit padding: any bit pattern is a valid value.
#[cfg(feature = "user")]
mod user {
    unsafe impl aya::Pod for super::ServiceKey {}
    unsafe impl aya::Pod for super::ServiceValue {}
    unsafe impl aya::Pod for super::SlotKey {}
    unsafe impl aya::Pod for super::Backend {}
    unsafe impl aya::Pod for super::RevNat {}
    unsafe impl aya::Pod for super::AffinityKey {}
    unsafe impl aya::Pod for super::AffinityValue {}
    unsafe impl aya::Pod for super::LiveKey {}
    unsafe impl aya::Pod for super::Flow {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, size_of};

    /// The kernel side reads these sizes; a change must be deliberate.
    #[test]
    fn layouts_are_fixed() {
        assert_eq!((size_of::<ServiceKey>(), align_of::<ServiceKey>()), (8, 4));
        assert_eq!((size_of::<ServiceValue>(), align_of::<ServiceValue>()), (12, 4));
        assert_eq!((size_of::<SlotKey>(), align_of::<SlotKey>()), (8, 4));
        assert_eq!((size_of::<Backend>(), align_of::<Backend>()), (8, 4));
        assert_eq!((size_of::<RevNat>(), align_of::<RevNat>()), (16, 4));
        assert_eq!((size_of::<AffinityKey>(), align_of::<AffinityKey>()), (16, 8));
        assert_eq!((size_of::<AffinityValue>(), align_of::<AffinityValue>()), (16, 8));
        assert_eq!((size_of::<LiveKey>(), align_of::<LiveKey>()), (12, 4));
        assert_eq!((size_of::<Flow>(), align_of::<Flow>()), (16, 4));
    }
}
