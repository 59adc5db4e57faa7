//! A — additive sharing over Z_2^64: share, reconstruct, local linear operations, Beaver multiplication, private-weight linear layers, probabilistic truncation.
