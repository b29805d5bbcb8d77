//! Builds the kernel programs (nightly, `bpfel-unknown-none`) into OUT_DIR,
//! where `include_bytes_aligned!` embeds them.

fn main() -> aya_build::Result<()> {
    let programs = concat!(env!("CARGO_MANIFEST_DIR"), "/../programs");
    let package = aya_build::Package { name: "sluice-ebpf-programs", root_dir: programs, ..Default::default() };
    aya_build::build_ebpf([package], aya_build::Toolchain::Nightly)
}
