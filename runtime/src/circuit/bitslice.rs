//! Bit-slicing: converting tensors of 64-bit words (instance-major) to and
//! from one packed bit vector per wire (wire-major), so that one machine
//! word operation evaluates a gate for 64 tensor elements at once.
//!
//! Layout: for `n` instances of `k` words, `to_bitsliced` returns
//! `64 k` wires of `⌈n/64⌉` words each; wire `64 j + i`, word `w`, bit `t`
//! is bit `i` of input word `j` of instance `64 w + t`. Padding instances
//! are zero.

/// Transpose a 64×64 bit matrix in place: afterwards bit `j` of `a[i]` is
/// what bit `i` of `a[j]` was (the recursive block swap of Hacker's Delight
/// §7-3, widened to 64 bits).
pub fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32usize;
    let mut m: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0usize;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Instance-major words (`n × words_per_instance`) to wire-major bit slices
/// (`64 × words_per_instance` wires of `⌈n/64⌉` words).
pub fn to_bitsliced(values: &[u64], words_per_instance: usize) -> Vec<u64> {
    let n = values.len() / words_per_instance.max(1);
    let blocks = n.div_ceil(64);
    let mut out = vec![0u64; words_per_instance * 64 * blocks];
    let mut tile = [0u64; 64];
    for k in 0..words_per_instance {
        for b in 0..blocks {
            let rows = (n - b * 64).min(64);
            for (r, slot) in tile.iter_mut().enumerate() {
                *slot = if r < rows {
                    values[(b * 64 + r) * words_per_instance + k]
                } else {
                    0
                };
            }
            transpose64(&mut tile);
            for (i, &row) in tile.iter().enumerate() {
                out[(k * 64 + i) * blocks + b] = row;
            }
        }
    }
    out
}

/// Wire-major bit slices (`64 × words_per_instance` wires of `⌈n/64⌉`
/// words) back to `n` instances of `words_per_instance` words.
pub fn from_bitsliced(sliced: &[u64], words_per_instance: usize, n: usize) -> Vec<u64> {
    let blocks = n.div_ceil(64);
    let mut out = vec![0u64; n * words_per_instance];
    let mut tile = [0u64; 64];
    for k in 0..words_per_instance {
        for b in 0..blocks {
            for (i, slot) in tile.iter_mut().enumerate() {
                *slot = sliced[(k * 64 + i) * blocks + b];
            }
            transpose64(&mut tile);
            let rows = (n - b * 64).min(64);
            for (r, &row) in tile.iter().enumerate().take(rows) {
                out[(b * 64 + r) * words_per_instance + k] = row;
            }
        }
    }
    out
}
