//! The kernel programs are this crate's binary; the loader builds them.
#![no_std]
