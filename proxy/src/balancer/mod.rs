//! Balancing algorithms, one file each; used by L7 and (later) L4.

mod smooth_wrr;

pub use smooth_wrr::SmoothWrr;
