//! One module a datapath concern, as Cilium's `bpf/lib`: the maps, the
//! service lookup and backend choice, the socket hooks, packet rewriting,
//! the NodePort hooks.

mod lb;
mod maps;
mod nodeport;
mod packet;
mod sock;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
