//! Sluice's kernel programs, built for `bpfel-unknown-none` by the loader's
//! build script. On the host this is an empty binary, so the workspace's
//! `cargo test` and `clippy` build it like any other crate.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod program;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
