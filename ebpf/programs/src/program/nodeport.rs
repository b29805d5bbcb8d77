//! NodePort at the node's devices (TC): a new flow to `<node address>:
//! nodePort` is given a backend and both directions are recorded in the
//! conntrack maps; every later packet of the flow is rewritten from them.
//! A remote backend gets the flow from the node address it was sent to
//! (SNAT), so its replies come back through this node; a node-local one
//! sees the client's own address (`externalTrafficPolicy: Local` has only
//! node-local backends in its slots). Packets rewritten on the way in are
//! sent out of the device toward their new destination; replies leaving
//! through a device with the program attached are rewritten there.

use super::forward::forward;
use super::lb::{Choice, choose};
use super::maps::{CT_FORWARD, CT_REPLY, NODE_ADDRS, count};
use super::packet::Packet;
use aya_ebpf::bindings::{TC_ACT_OK, TC_ACT_SHOT};
use aya_ebpf::helpers::bpf_get_prandom_u32;
use aya_ebpf::macros::classifier;
use aya_ebpf::programs::TcContext;
use sluice_ebpf_common::{
    BACKEND_LOCAL, COUNTER_NODEPORT_FLOWS, COUNTER_NODEPORT_NO_BACKEND, COUNTER_NODEPORT_NO_PORT, Flow,
};

const PASS: i32 = TC_ACT_OK as i32;
const DROP: i32 = TC_ACT_SHOT as i32;
/// SNAT ports come from here when the client's own port is taken.
const SNAT_PORTS: (u32, u32) = (32768, 60999);
const SNAT_TRIES: u32 = 8;

/// Packets arriving: replies to SNATed flows, packets of known flows, and
/// new flows to a NodePort.
#[classifier]
pub fn sluice_nodeport_ingress(ctx: TcContext) -> i32 {
    let Some(packet) = Packet::parse(&ctx) else { return PASS };
    if let Some(to) = unsafe { CT_REPLY.get(&packet.flow) } {
        return rewrite_and_forward(&ctx, &packet, to);
    }
    if !packet.opens_connection(&ctx)
        && let Some(to) = unsafe { CT_FORWARD.get(&packet.flow) }
    {
        return rewrite_and_forward(&ctx, &packet, to);
    }
    if unsafe { NODE_ADDRS.get(&packet.flow.daddr) }.is_none() {
        return PASS;
    }
    new_flow(&ctx, &packet)
}

/// Packets leaving: replies of flows whose backend keeps the client address.
#[classifier]
pub fn sluice_nodeport_egress(ctx: TcContext) -> i32 {
    if let Some(packet) = Packet::parse(&ctx)
        && let Some(to) = unsafe { CT_REPLY.get(&packet.flow) }
    {
        let _ = packet.rewrite(&ctx, to);
    }
    PASS
}

fn new_flow(ctx: &TcContext, packet: &Packet) -> i32 {
    let flow = packet.flow;
    let backend = match choose(0, flow.dport, flow.protocol, u64::from(flow.saddr), hash(&flow)) {
        Choice::NotService => return PASS,
        Choice::NoBackend => {
            count(COUNTER_NODEPORT_NO_BACKEND);
            return DROP;
        }
        Choice::Backend(b) => b,
    };
    let mut to = Flow { daddr: backend.address, dport: backend.port, ..flow };
    if backend.flags & BACKEND_LOCAL == 0 {
        to.saddr = flow.daddr;
        match snat_port(&to) {
            Some(port) => to.sport = port,
            None => {
                count(COUNTER_NODEPORT_NO_PORT);
                return DROP;
            }
        }
    }
    if CT_REPLY.insert(&to.reply(), &flow.reply(), 0).is_err() || CT_FORWARD.insert(&flow, &to, 0).is_err() {
        return DROP;
    }
    count(COUNTER_NODEPORT_FLOWS);
    rewrite_and_forward(ctx, packet, &to)
}

fn rewrite_and_forward(ctx: &TcContext, packet: &Packet, to: &Flow) -> i32 {
    match packet.rewrite(ctx, to) {
        Ok(()) => forward(ctx, to),
        Err(_) => DROP,
    }
}

/// A source port on the node address that no other flow to this backend
/// uses: the client's own port when free (the common case), else random.
fn snat_port(to: &Flow) -> Option<u16> {
    let mut candidate = to.sport;
    for _ in 0..SNAT_TRIES {
        let reply = Flow { sport: to.dport, dport: candidate, saddr: to.daddr, daddr: to.saddr, ..*to };
        if unsafe { CT_REPLY.get(&reply) }.is_none() {
            return Some(candidate);
        }
        let r = unsafe { bpf_get_prandom_u32() } % (SNAT_PORTS.1 - SNAT_PORTS.0 + 1);
        candidate = ((SNAT_PORTS.0 + r) as u16).to_be();
    }
    None
}

/// The flow's hash for a Maglev choice: the same flow picks the same
/// backend on every node (murmur3's finalizer over the client tuple).
fn hash(flow: &Flow) -> u32 {
    let mix = |mut h: u32| {
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    };
    mix(mix(flow.saddr) ^ (u32::from(flow.sport) << 8 | u32::from(flow.protocol)))
}
