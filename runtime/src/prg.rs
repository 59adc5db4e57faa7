//! Seeds and the pseudorandom generator every party and the dealer expand
//! their randomness from.
//!
//! The generator is AES-128 in counter mode (NIST SP 800-38A §6.5): block `i`
//! of the stream is `AES_k(n + i mod 2^128)`, where the 32-byte [`Seed`]
//! supplies the key `k` (bytes 0..16) and the starting counter `n` (bytes
//! 16..32, little-endian). AES-CTR is a PRG as long as AES is a PRP and fewer
//! than 2^64 blocks are drawn from one seed, far beyond any use here. Counter
//! blocks are encrypted in batches with `encrypt_blocks`, which the `aes`
//! crate runs with AES-NI/VAES (x86) or the ARMv8 crypto extensions when the
//! CPU has them ([`aes_hardware`] says which), at several GB/s per core.
//!
//! A [`Prg`] is a *byte stream*: drawing 10 bytes then 6 yields the same bytes
//! as drawing 16 at once. The dealer relies on this — a party may consume its
//! material in chunks of any size and still expand exactly what the dealer
//! computed with.
//!
//! Seeds for different purposes are derived with blake3 in key-derivation
//! mode ([`Seed::derive`]), whose context string separates the domains.

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use std::fmt;

#[cfg(target_endian = "big")]
compile_error!("chimera-runtime reinterprets little-endian bytes as words; big-endian targets are not supported");

/// Size of the working buffer, in AES blocks, used when a request is not a
/// whole number of blocks or not aligned.
const BATCH_BLOCKS: usize = 64;

/// A 256-bit secret seed. Its `Debug` form never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed([u8; 32]);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<secret>)")
    }
}

impl Seed {
    /// A fresh seed from the operating system's CSPRNG.
    ///
    /// Fails only if the operating system cannot supply randomness, which is
    /// reported rather than papered over.
    pub fn random() -> Result<Seed, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Seed(bytes))
    }

    /// A seed with these bytes (for tests and deterministic runs, and to
    /// restore a seed read from a material file).
    pub fn from_bytes(bytes: [u8; 32]) -> Seed {
        Seed(bytes)
    }

    /// A seed from a small integer, for seeded tests only: `derive` of a fixed
    /// all-zero seed, so two tests with different numbers get unrelated seeds.
    pub fn from_u64(n: u64) -> Seed {
        Seed([0u8; 32]).derive("chimera 2026 test seed v1", &[n])
    }

    /// The secret bytes (to write a material file; never print them).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A child seed for one purpose: blake3 in `derive_key` mode with
    /// `context` (a hard-coded, globally unique string) over this seed
    /// followed by `tags` (little-endian). Different contexts or tags give
    /// independent seeds; the parent cannot be recovered from a child.
    pub fn derive(&self, context: &str, tags: &[u64]) -> Seed {
        let mut hasher = blake3::Hasher::new_derive_key(context);
        hasher.update(&self.0);
        for t in tags {
            hasher.update(&t.to_le_bytes());
        }
        Seed(*hasher.finalize().as_bytes())
    }

    /// Like [`derive`](Self::derive) with arbitrary bytes as the tag.
    pub fn derive_bytes(&self, context: &str, tag: &[u8]) -> Seed {
        let mut hasher = blake3::Hasher::new_derive_key(context);
        hasher.update(&self.0);
        hasher.update(&(tag.len() as u64).to_le_bytes());
        hasher.update(tag);
        Seed(*hasher.finalize().as_bytes())
    }
}

/// True when AES runs on hardware instructions (AES-NI on x86, the ARMv8
/// crypto extensions on aarch64); otherwise the `aes` crate falls back to its
/// constant-time bitsliced software implementation, about 10× slower.
pub fn aes_hardware() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("sse2")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// AES-128 counter-mode generator (see the module documentation).
#[derive(Clone)]
pub struct Prg {
    cipher: Aes128,
    counter: u128,
    /// Keystream bytes produced but not yet handed out.
    spare: [u8; 16],
    /// Number of valid bytes at the end of `spare`.
    spare_len: usize,
}

impl fmt::Debug for Prg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Prg(<secret>)")
    }
}

impl Prg {
    /// The generator of a seed: key = bytes 0..16, first counter = bytes 16..32.
    pub fn new(seed: &Seed) -> Prg {
        let mut key = [0u8; 16];
        key.copy_from_slice(&seed.0[..16]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&seed.0[16..]);
        Prg {
            cipher: Aes128::new(&Array::from(key)),
            counter: u128::from_le_bytes(nonce),
            spare: [0u8; 16],
            spare_len: 0,
        }
    }

    /// A generator on a fresh OS seed.
    pub fn from_os() -> Result<Prg, getrandom::Error> {
        Ok(Prg::new(&Seed::random()?))
    }

    /// Encrypt consecutive counters into `blocks` (whole blocks of keystream).
    #[inline]
    fn keystream_blocks(&mut self, blocks: &mut [Array<u8, aes::cipher::consts::U16>]) {
        for chunk in blocks.chunks_mut(BATCH_BLOCKS) {
            for b in chunk.iter_mut() {
                *b = Array::from(self.counter.to_le_bytes());
                self.counter = self.counter.wrapping_add(1);
            }
            self.cipher.encrypt_blocks(chunk);
        }
    }

    /// Fill `out` with the next `out.len()` bytes of the stream.
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        let mut out = out;
        // Hand out leftover keystream first.
        if self.spare_len > 0 {
            let take = self.spare_len.min(out.len());
            let start = 16 - self.spare_len;
            out[..take].copy_from_slice(&self.spare[start..start + take]);
            self.spare_len -= take;
            out = &mut out[take..];
        }
        if out.is_empty() {
            return;
        }
        let (whole, tail) = Array::<u8, aes::cipher::consts::U16>::slice_as_chunks_mut(out);
        self.keystream_blocks(whole);
        if !tail.is_empty() {
            let mut block = [Array::from(self.counter.to_le_bytes())];
            self.counter = self.counter.wrapping_add(1);
            self.cipher.encrypt_blocks(&mut block);
            let bytes: [u8; 16] = block[0].into();
            let n = tail.len();
            tail.copy_from_slice(&bytes[..n]);
            self.spare = bytes;
            self.spare_len = 16 - n;
        }
    }

    /// Fill `out` with uniform 64-bit words (the next `8 * out.len()` bytes,
    /// read little-endian).
    pub fn fill_u64(&mut self, out: &mut [u64]) {
        self.fill_bytes(bytemuck::cast_slice_mut(out));
    }

    /// Fill `out` with uniform 128-bit words.
    pub fn fill_u128(&mut self, out: &mut [u128]) {
        self.fill_bytes(bytemuck::cast_slice_mut(out));
    }

    /// `n` uniform words.
    pub fn u64s(&mut self, n: usize) -> Vec<u64> {
        let mut v = vec![0u64; n];
        self.fill_u64(&mut v);
        v
    }

    /// `n` uniform 128-bit words.
    pub fn u128s(&mut self, n: usize) -> Vec<u128> {
        let mut v = vec![0u128; n];
        self.fill_u128(&mut v);
        v
    }

    /// One uniform word.
    pub fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    /// One uniform 128-bit word.
    pub fn next_u128(&mut self) -> u128 {
        let mut b = [0u8; 16];
        self.fill_bytes(&mut b);
        u128::from_le_bytes(b)
    }
}

impl rand_core::RngCore for Prg {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        Prg::fill_bytes(self, &mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        Prg::next_u64(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        Prg::fill_bytes(self, dest)
    }
}

impl rand_core::CryptoRng for Prg {}

/// A stream of bits cut from a [`Prg`]: bit `i` of the stream is bit
/// `i mod 64` of word `i / 64` of the generator's word stream. Like the byte
/// stream it does not depend on how requests are chunked; each request is
/// returned packed from bit 0 of its first word, with unused high bits of the
/// last word zero.
#[derive(Clone, Debug)]
pub struct BitStream {
    prg: Prg,
    /// Bits of the current source word not yet handed out (low bits first).
    rest: u64,
    /// How many bits of `rest` are valid.
    rest_len: u32,
}

impl BitStream {
    /// The bit stream of a seed.
    pub fn new(seed: &Seed) -> BitStream {
        BitStream {
            prg: Prg::new(seed),
            rest: 0,
            rest_len: 0,
        }
    }

    /// The next `n` bits, packed 64 per word.
    pub fn take(&mut self, n: usize) -> Vec<u64> {
        if self.rest_len == 0 {
            // Aligned: the request is the generator's words themselves.
            let mut out = self.prg.u64s(n.div_ceil(64));
            let used = (n % 64) as u32;
            if let (Some(last), true) = (out.last_mut(), used != 0) {
                self.rest = *last >> used;
                self.rest_len = 64 - used;
                *last &= (1u64 << used) - 1;
            }
            return out;
        }
        let need = n.saturating_sub(self.rest_len as usize);
        let fresh = self.prg.u64s(need.div_ceil(64));
        let mut src = fresh.into_iter();
        let mut out = Vec::with_capacity(n.div_ceil(64));
        let mut remaining = n;
        while remaining > 0 {
            let k = remaining.min(64) as u32;
            out.push(self.pull(k, &mut src));
            remaining -= k as usize;
        }
        out
    }

    /// The next `k <= 64` bits of the stream, low bits first; `src` holds the
    /// generator words drawn for this request (one is used whenever `rest`
    /// runs short, which `take` sized exactly).
    #[inline]
    fn pull(&mut self, k: u32, src: &mut impl Iterator<Item = u64>) -> u64 {
        let mask = |v: u64, k: u32| if k == 64 { v } else { v & ((1u64 << k) - 1) };
        if self.rest_len >= k {
            let v = mask(self.rest, k);
            self.rest = if k == 64 { 0 } else { self.rest >> k };
            self.rest_len -= k;
            return v;
        }
        let fresh = src.next().unwrap_or_default();
        let r = self.rest_len;
        let v = mask(self.rest | (fresh << r), k);
        let consumed = k - r;
        self.rest = if consumed == 64 { 0 } else { fresh >> consumed };
        self.rest_len = 64 - consumed;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS-197 Appendix C.1 known-answer test for AES-128, run through the
    /// generator: with key 000102..0f and counter 00112233..ff the first
    /// block is the FIPS ciphertext.
    #[test]
    fn aes_known_answer() {
        let mut seed = [0u8; 32];
        for (i, b) in seed[..16].iter_mut().enumerate() {
            *b = i as u8;
        }
        let pt: [u8; 16] = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        seed[16..].copy_from_slice(&pt);
        let mut prg = Prg::new(&Seed::from_bytes(seed));
        let mut out = [0u8; 16];
        prg.fill_bytes(&mut out);
        let expected: [u8; 16] = [
            0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
            0xc5, 0x5a,
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn stream_is_independent_of_chunking() {
        let seed = Seed::from_u64(7);
        let mut whole = vec![0u8; 1000];
        Prg::new(&seed).fill_bytes(&mut whole);
        let mut prg = Prg::new(&seed);
        let mut pieces = Vec::new();
        for len in [1usize, 15, 16, 17, 3, 200, 0, 64, 5, 679] {
            let mut buf = vec![0u8; len];
            prg.fill_bytes(&mut buf);
            pieces.extend_from_slice(&buf);
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn words_are_little_endian_bytes_of_the_stream() {
        let seed = Seed::from_u64(8);
        let mut bytes = [0u8; 24];
        Prg::new(&seed).fill_bytes(&mut bytes);
        let mut prg = Prg::new(&seed);
        let a = prg.next_u64();
        let b = prg.next_u128();
        assert_eq!(a.to_le_bytes(), bytes[..8]);
        assert_eq!(b.to_le_bytes(), bytes[8..]);
    }

    #[test]
    fn bit_stream_is_independent_of_chunking() {
        let seed = Seed::from_u64(9);
        let total = 1000;
        let whole = BitStream::new(&seed).take(total);
        let bit = |v: &[u64], i: usize| (v[i / 64] >> (i % 64)) & 1;
        let mut stream = BitStream::new(&seed);
        let mut pos = 0;
        for len in [1usize, 63, 64, 65, 7, 128, 0, 200, 472] {
            let part = stream.take(len);
            assert_eq!(part.len(), len.div_ceil(64));
            if len % 64 != 0 {
                assert_eq!(
                    part[part.len() - 1] >> (len % 64),
                    0,
                    "padding bits must be zero"
                );
            }
            for i in 0..len {
                assert_eq!(
                    bit(&part, i),
                    bit(&whole, pos + i),
                    "bit {} of chunk {len}",
                    i
                );
            }
            pos += len;
        }
        assert_eq!(pos, total);
    }

    #[test]
    fn derived_seeds_differ_by_context_and_tag() {
        let s = Seed::from_u64(1);
        let a = s.derive("ctx a", &[1]);
        assert_ne!(a, s.derive("ctx b", &[1]));
        assert_ne!(a, s.derive("ctx a", &[2]));
        assert_eq!(a, s.derive("ctx a", &[1]));
        assert_eq!(format!("{a:?}"), "Seed(<secret>)");
    }

    #[test]
    fn os_seeds_are_fresh() {
        assert_ne!(Seed::random().unwrap(), Seed::random().unwrap());
    }
}
