//! A — additive secret sharing over Z_2^64.

pub mod linear;
