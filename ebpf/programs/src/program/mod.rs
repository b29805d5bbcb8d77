//! One module a datapath concern, as Cilium's `bpf/lib`: the maps, the
//! service lookup and backend choice, the socket hooks, packet rewriting,
//! forwarding a rewritten packet, the NodePort hooks.

mod forward;
mod lb;
mod maps;
mod nodeport;
mod packet;
mod sock;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
