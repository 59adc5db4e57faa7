//! Pseudorandomness: AES-128 counter-mode PRG for bulk expansion, blake3 key derivation for seeds and domain separation.
