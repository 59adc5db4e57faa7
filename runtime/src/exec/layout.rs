//! Where the operands of each circuit instance sit in a batch tensor.
//!
//! Tensors are `rows × len` words, row-major. A boolean circuit with `k`
//! input words per instance reads them instance-major, so the executor
//! gathers them once per layer (windows of a pool, pairs of a binary op)
//! with index lists computed here — local copies, never messages.

use super::ExecError;

/// For a `[c, h, w]` image batch of `rows` rows, the input index of every
/// window element, window by window (row, channel, output y, output x; then
/// kernel y, kernel x), and the output length of one row.
pub fn pool_windows(
    shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    rows: usize,
) -> Result<(Vec<usize>, usize), ExecError> {
    let [c, h, w] = shape[..] else {
        return Err(ExecError::Shape(format!(
            "pooling a tensor of shape {shape:?}, not [c, h, w]"
        )));
    };
    let [kh, kw] = kernel;
    let [sy, sx] = stride;
    if kh == 0 || kw == 0 || sy == 0 || sx == 0 || kh > h || kw > w {
        return Err(ExecError::Shape(format!(
            "a {kh}×{kw} window with stride {sy}×{sx} on a {h}×{w} image"
        )));
    }
    let (ho, wo) = ((h - kh) / sy + 1, (w - kw) / sx + 1);
    let mut idx = Vec::with_capacity(rows * c * ho * wo * kh * kw);
    for r in 0..rows {
        for ch in 0..c {
            let base = (r * c + ch) * h * w;
            for oy in 0..ho {
                for ox in 0..wo {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            idx.push(base + (oy * sy + ky) * w + ox * sx + kx);
                        }
                    }
                }
            }
        }
    }
    Ok((idx, c * ho * wo))
}

/// `words[idx[0]], words[idx[1]], …`.
pub fn gather(words: &[u64], idx: &[usize]) -> Vec<u64> {
    idx.iter().map(|&i| words[i]).collect()
}

/// Interleave two equally long tensors element by element: `[a0, b0, a1, b1, …]`.
pub fn interleave(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    for (x, y) in a.iter().zip(b) {
        out.push(*x);
        out.push(*y);
    }
    out
}

/// Sum over windows of `k` consecutive gathered words (local sum pooling in A).
pub fn window_sums(gathered: &[u64], k: usize) -> Vec<u64> {
    gathered
        .chunks_exact(k)
        .map(|w| w.iter().fold(0u64, |a, b| a.wrapping_add(*b)))
        .collect()
}

/// Arithmetic shift right of every word: exact truncation of XOR shares,
/// since `(x0 ⊕ x1) >> m = (x0 >> m) ⊕ (x1 >> m)` bit by bit, the sign bit
/// included.
pub fn shift_words(words: &[u64], bits: u32) -> Vec<u64> {
    let b = bits.min(63);
    words.iter().map(|w| ((*w as i64) >> b) as u64).collect()
}

/// The same shift on wire labels: output bit `i` is input bit
/// `min(i + bits, 63)` (the sign label is repeated), for either party's labels.
pub fn shift_labels(labels: &[u128], bits: u32) -> Vec<u128> {
    let b = bits.min(63) as usize;
    let mut out = Vec::with_capacity(labels.len());
    for word in labels.chunks_exact(64) {
        for i in 0..64 {
            out.push(word[(i + b).min(63)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_image_in_output_order() {
        let (idx, out) = pool_windows(&[1, 4, 4], [2, 2], [2, 2], 1).unwrap();
        assert_eq!(out, 4);
        assert_eq!(&idx[..4], &[0, 1, 4, 5]);
        assert_eq!(&idx[12..], &[10, 11, 14, 15]);
        let (idx2, _) = pool_windows(&[1, 4, 4], [2, 2], [2, 2], 2).unwrap();
        assert_eq!(idx2[16], 16);
        assert!(pool_windows(&[16], [2, 2], [2, 2], 1).is_err());
    }

    #[test]
    fn shifts_are_exact_on_shares() {
        let x: u64 = (-1234567i64) as u64;
        let s0 = 0x5555_aaaa_1234_9876u64;
        let s1 = x ^ s0;
        let t = shift_words(&[s0], 7)[0] ^ shift_words(&[s1], 7)[0];
        assert_eq!(t as i64, -1234567i64 >> 7);
    }
}
