//! The garbling hash: fixed-key AES-128 as a random permutation π, in the
//! tweakable circular correlation-robust form of Guo, Katz, Wang and Yu,
//! "Efficient and Secure Multiparty Computation from Fixed-Key Block
//! Ciphers" (IEEE S&P 2020, §7.3):
//!
//! `H(x, i) = π(π(x) ⊕ i) ⊕ π(x)`
//!
//! The untweaked `π(x) ⊕ x` (JustGarble) is *not* used: it is not
//! correlation robust for free-XOR's `x ⊕ Δ` inputs under tweaks. Blocks
//! are processed in batches so the AES-NI pipeline (8 blocks in flight in
//! the `aes` crate's backend) stays full.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Block};

/// The public fixed key (any fixed value works; this one spells a name).
pub const FIXED_KEY: [u8; 16] = *b"chimera-yao-pi-0";

/// Whether this CPU has the AES instructions the `aes` crate uses (AES-NI
/// on x86-64, the crypto extension on aarch64). Without them the crate
/// falls back to a constant-time software AES, several times slower;
/// benchmarks and reports print this.
pub fn hardware_aes() -> bool {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("sse2")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
    {
        false
    }
}

/// Fixed-key AES-128: the permutation π and the hash `H` built on it.
#[derive(Clone)]
pub struct FixedKeyAes {
    cipher: Aes128,
}

impl Default for FixedKeyAes {
    fn default() -> Self {
        Self::with_key(FIXED_KEY)
    }
}

impl FixedKeyAes {
    /// π with the given (public) key.
    pub fn with_key(key: [u8; 16]) -> Self {
        FixedKeyAes {
            cipher: Aes128::new(&key.into()),
        }
    }

    /// Encrypt 16-byte blocks in place (FIPS-197 byte order).
    pub fn permute_bytes(&self, blocks: &mut [[u8; 16]]) {
        self.cipher
            .encrypt_blocks(Block::cast_slice_from_core_mut(blocks));
    }

    /// π on labels in place (a label's bytes are its little-endian encoding).
    pub fn permute(&self, blocks: &mut [u128]) {
        let bytes: &mut [[u8; 16]] = bytemuck::cast_slice_mut(blocks);
        self.permute_bytes(bytes);
    }

    /// `xs[k] ← H(xs[k], tweaks[k]) = π(π(x) ⊕ i) ⊕ π(x)` for every `k`;
    /// `scratch` is reused between calls to avoid allocation.
    pub fn tccr(&self, xs: &mut [u128], tweaks: &[u128], scratch: &mut Vec<u128>) {
        scratch.clear();
        scratch.extend_from_slice(xs);
        self.permute(scratch);
        for ((x, &p), &t) in xs.iter_mut().zip(scratch.iter()).zip(tweaks) {
            *x = p ^ t;
        }
        self.permute(xs);
        for (x, &p) in xs.iter_mut().zip(scratch.iter()) {
            *x ^= p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS-197 Appendix C.1 (AES-128).
    #[test]
    fn aes_matches_fips_197() {
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let mut block: [[u8; 16]; 1] = [std::array::from_fn(|i| (i as u8) * 0x11)];
        FixedKeyAes::with_key(key).permute_bytes(&mut block);
        let expected = [
            0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
            0xc5, 0x5a,
        ];
        assert_eq!(block[0], expected);
        // The same through the u128 interface.
        let mut lab = [u128::from_le_bytes(std::array::from_fn(|i| {
            (i as u8) * 0x11
        }))];
        FixedKeyAes::with_key(key).permute(&mut lab);
        assert_eq!(lab[0].to_le_bytes(), expected);
    }

    #[test]
    fn tccr_is_the_gkwy_formula_and_depends_on_the_tweak() {
        let h = FixedKeyAes::default();
        let x = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
        let mut pi = [x];
        h.permute(&mut pi);
        let mut inner = [pi[0] ^ 5];
        h.permute(&mut inner);
        let mut xs = [x, x];
        let mut scratch = Vec::new();
        h.tccr(&mut xs, &[5, 6], &mut scratch);
        assert_eq!(xs[0], inner[0] ^ pi[0]);
        assert_ne!(xs[0], xs[1]);
        assert_ne!(xs[0], pi[0] ^ x, "must not be the untweaked π(x) ⊕ x");
    }
}
