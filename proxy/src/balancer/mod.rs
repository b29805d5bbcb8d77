//! Balancing algorithms, one file each; used by L7 and (later) L4.

mod least_conn;
mod rendezvous;
mod smooth_wrr;

pub use least_conn::least_loaded;
pub use rendezvous::rendezvous;
pub use sluice_maglev::Maglev;
pub use smooth_wrr::SmoothWrr;

/// The hash of a key, stable across processes and versions, so every
/// replica of Sluice sends a key to the same endpoint.
pub fn key_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The same with a seed, for rendezvous hashing's per-item hashes.
pub fn key_hash_seeded(bytes: &[u8], seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed)
}
