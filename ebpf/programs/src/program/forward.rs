//! Sending a rewritten packet straight out of the device toward its new
//! destination (FIB lookup, then redirect), as Cilium does for NodePort: a
//! packet that now carries a node address as its source would be dropped
//! by the stack's routing as a martian, and the redirect skips a second
//! trip through it.

use aya_ebpf::bindings::{BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_SUCCESS, TC_ACT_OK, bpf_fib_lookup as FibParams};
use aya_ebpf::helpers::{bpf_fib_lookup, bpf_redirect, bpf_redirect_neigh};
use aya_ebpf::programs::TcContext;
use sluice_ebpf_common::Flow;

const AF_INET: u8 = 2;

/// The TC verdict for a packet now carrying `flow`: redirected out of the
/// device the routing table names, or left to the stack when the lookup
/// says it cannot be forwarded from here.
pub fn forward(ctx: &TcContext, flow: &Flow) -> i32 {
    let mut params: FibParams = unsafe { core::mem::zeroed() };
    params.family = AF_INET;
    params.l4_protocol = flow.protocol;
    params.sport = flow.sport;
    params.dport = flow.dport;
    params.__bindgen_anon_1.tot_len = (ctx.len() as u16).saturating_sub(14);
    params.ifindex = unsafe { (*ctx.skb.skb).ifindex };
    params.__bindgen_anon_3.ipv4_src = flow.saddr;
    params.__bindgen_anon_4.ipv4_dst = flow.daddr;
    let size = core::mem::size_of::<FibParams>() as i32;
    let found = unsafe { bpf_fib_lookup(ctx.skb.skb as *mut _, &mut params, size, 0) };
    if found == i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        if ctx.store(0, &params.dmac, 0).is_err() || ctx.store(6, &params.smac, 0).is_err() {
            return TC_ACT_OK as i32;
        }
        return unsafe { bpf_redirect(params.ifindex, 0) } as i32;
    }
    if found == i64::from(BPF_FIB_LKUP_RET_NO_NEIGH) {
        return unsafe { bpf_redirect_neigh(params.ifindex, core::ptr::null_mut(), 0, 0) } as i32;
    }
    TC_ACT_OK as i32
}
