//! Builds the kernel programs (nightly, `bpfel-unknown-none`) into OUT_DIR,
//! where `include_bytes_aligned!` embeds them; only with the `programs`
//! feature, so the rest of the workspace builds without nightly.

#[cfg(feature = "programs")]
fn main() -> aya_build::Result<()> {
    let programs = concat!(env!("CARGO_MANIFEST_DIR"), "/../programs");
    let package = aya_build::Package { name: "sluice-ebpf-programs", root_dir: programs, ..Default::default() };
    aya_build::build_ebpf([package], aya_build::Toolchain::Nightly)
}

#[cfg(not(feature = "programs"))]
fn main() {}
