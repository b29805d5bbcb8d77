//! Socket-LB: a connect (TCP, connected UDP) or a sendmsg (unconnected
//! UDP) to a Service frontend is rewritten to a backend before any packet
//! exists, and a recvmsg or getpeername shows the frontend again, so the
//! application sees the address it asked for.

use super::lb::{Choice, choose};
use super::maps::{REVNAT, count};
use aya_ebpf::helpers::{bpf_get_netns_cookie, bpf_get_socket_cookie};
use aya_ebpf::macros::cgroup_sock_addr;
use aya_ebpf::programs::SockAddrContext;
use sluice_ebpf_common::{COUNTER_NO_BACKEND, COUNTER_TRANSLATED, RevNat};

const ALLOW: i32 = 1;
const REFUSE: i32 = 0;

fn translate(ctx: &SockAddrContext) -> i32 {
    let sa = unsafe { &mut *ctx.sock_addr };
    let (vip, vip_port) = (sa.user_ip4, sa.user_port as u16);
    // Socket-LB's client is the network namespace (a pod) the socket lives in.
    let client = unsafe { bpf_get_netns_cookie(ctx.sock_addr as *mut _) };
    match choose(vip, vip_port, sa.protocol as u8, client, 0) {
        Choice::NotService => ALLOW,
        Choice::NoBackend => {
            count(COUNTER_NO_BACKEND);
            REFUSE
        }
        Choice::Backend(b) => {
            sa.user_ip4 = b.address;
            sa.user_port = u32::from(b.port);
            let cookie = unsafe { bpf_get_socket_cookie(ctx.sock_addr as *mut _) };
            let rev = RevNat { vip, vip_port, _pad0: 0, backend: b.address, backend_port: b.port, _pad1: 0 };
            let _ = REVNAT.insert(&cookie, &rev, 0);
            count(COUNTER_TRANSLATED);
            ALLOW
        }
    }
}

/// Shows the frontend in place of the backend a socket was sent to.
fn reverse(ctx: &SockAddrContext) -> i32 {
    let sa = unsafe { &mut *ctx.sock_addr };
    let cookie = unsafe { bpf_get_socket_cookie(ctx.sock_addr as *mut _) };
    if let Some(rev) = unsafe { REVNAT.get(&cookie) }
        && rev.backend == sa.user_ip4
        && rev.backend_port == sa.user_port as u16
    {
        sa.user_ip4 = rev.vip;
        sa.user_port = u32::from(rev.vip_port);
    }
    ALLOW
}

#[cgroup_sock_addr(connect4)]
pub fn sluice_connect4(ctx: SockAddrContext) -> i32 {
    translate(&ctx)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn sluice_sendmsg4(ctx: SockAddrContext) -> i32 {
    translate(&ctx)
}

#[cgroup_sock_addr(recvmsg4)]
pub fn sluice_recvmsg4(ctx: SockAddrContext) -> i32 {
    reverse(&ctx)
}

#[cgroup_sock_addr(getpeername4)]
pub fn sluice_getpeername4(ctx: SockAddrContext) -> i32 {
    reverse(&ctx)
}
