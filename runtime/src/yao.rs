//! Y — Yao garbled circuits: free-XOR, half-gates, point-and-permute, fixed-key-AES tweakable hash.
