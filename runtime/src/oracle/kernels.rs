//! The bulk kernels of the oracle, written once for both number domains:
//! wrapping `u64` ring elements (fixed mode) and `f64` reals (float mode).
//!
//! Every kernel works on a whole batch (`rows` inputs laid out one after
//! another) and allocates its output once. Dense and conv2d dominate the
//! running time; conv2d loops over (output channel, input channel, kernel
//! offset) outside and over a contiguous output row inside, with the padding
//! handled by clipping the loop ranges instead of testing every element.

/// A number domain the oracle computes in.
pub(crate) trait Num: Copy + Default + PartialEq + Send + Sync + 'static {
    /// `a + b` (wrapping in the ring).
    fn add(self, b: Self) -> Self;
    /// `a - b` (wrapping in the ring).
    fn sub(self, b: Self) -> Self;
    /// `a * b` (wrapping in the ring).
    fn mul(self, b: Self) -> Self;
    /// `a > b`, signed (two's complement in the ring).
    fn gt(self, b: Self) -> bool;
}

impl Num for u64 {
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self.wrapping_add(b)
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        self.wrapping_sub(b)
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self.wrapping_mul(b)
    }
    #[inline(always)]
    fn gt(self, b: Self) -> bool {
        (self as i64) > (b as i64)
    }
}

impl Num for f64 {
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self + b
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        self - b
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self * b
    }
    #[inline(always)]
    fn gt(self, b: Self) -> bool {
        self > b
    }
}

/// `y[r] = W x[r] + b` for `W: [out, inp]`, every row `r`.
pub(crate) fn dense<T: Num>(
    x: &[T],
    w: &[T],
    b: &[T],
    rows: usize,
    inp: usize,
    out: usize,
) -> Vec<T> {
    let mut y = Vec::with_capacity(rows * out);
    for r in 0..rows {
        let xr = &x[r * inp..(r + 1) * inp];
        for o in 0..out {
            let wr = &w[o * inp..(o + 1) * inp];
            // Four independent accumulators let the loop pipeline.
            let mut acc = [T::default(); 4];
            let mut chunks_w = wr.chunks_exact(4);
            let mut chunks_x = xr.chunks_exact(4);
            for (cw, cx) in (&mut chunks_w).zip(&mut chunks_x) {
                for k in 0..4 {
                    acc[k] = acc[k].add(cw[k].mul(cx[k]));
                }
            }
            let mut s = b[o];
            for (wv, xv) in chunks_w.remainder().iter().zip(chunks_x.remainder()) {
                s = s.add(wv.mul(*xv));
            }
            y.push(s.add(acc[0].add(acc[1])).add(acc[2].add(acc[3])));
        }
    }
    y
}

/// Geometry of a 2-d window operation on `[c, h, w]` images.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    /// Input channels, height, width.
    pub input: [usize; 3],
    /// Output height and width.
    pub output: [usize; 2],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides.
    pub stride: [usize; 2],
    /// Zero padding on each side.
    pub padding: [usize; 2],
}

impl Geometry {
    /// The output positions `o` (along one axis) whose input coordinate
    /// `o * stride + k - pad` falls inside `0..size`.
    fn valid(&self, axis: usize, k: usize) -> std::ops::Range<usize> {
        let (s, p, n, size) = (
            self.stride[axis],
            self.padding[axis],
            self.output[axis],
            self.input[axis + 1],
        );
        // first o with o*s + k >= p
        let lo = if k >= p { 0 } else { (p - k).div_ceil(s) };
        // last o with o*s + k - p < size  <=>  o*s < size + p - k
        let hi = if size + p > k {
            ((size + p - k - 1) / s + 1).min(n)
        } else {
            0
        };
        lo..hi.max(lo)
    }
}

/// Zero-padded convolution of every row with `W: [out_c, c, kh, kw]`, plus a bias per output channel.
pub(crate) fn conv2d<T: Num>(
    x: &[T],
    w: &[T],
    b: &[T],
    rows: usize,
    g: &Geometry,
    out_c: usize,
) -> Vec<T> {
    let [c, h, wd] = g.input;
    let [ho, wo] = g.output;
    let [kh, kw] = g.kernel;
    let in_len = c * h * wd;
    let plane = ho * wo;
    let mut y = vec![T::default(); rows * out_c * plane];
    let ranges_y: Vec<_> = (0..kh).map(|ki| g.valid(0, ki)).collect();
    let ranges_x: Vec<_> = (0..kw).map(|kj| g.valid(1, kj)).collect();
    let (sy, sx) = (g.stride[0], g.stride[1]);
    let (py, px) = (g.padding[0], g.padding[1]);
    for r in 0..rows {
        let xr = &x[r * in_len..(r + 1) * in_len];
        let yr = &mut y[r * out_c * plane..(r + 1) * out_c * plane];
        for oc in 0..out_c {
            let out = &mut yr[oc * plane..(oc + 1) * plane];
            out.fill(b[oc]);
            for ic in 0..c {
                let img = &xr[ic * h * wd..(ic + 1) * h * wd];
                for ki in 0..kh {
                    for kj in 0..kw {
                        let wv = w[((oc * c + ic) * kh + ki) * kw + kj];
                        let rx = ranges_x[kj].clone();
                        for oy in ranges_y[ki].clone() {
                            let iy = oy * sy + ki - py;
                            let src = &img[iy * wd..(iy + 1) * wd];
                            let dst = &mut out[oy * wo..(oy + 1) * wo];
                            if sx == 1 {
                                let off = rx.start + kj - px;
                                let n = rx.len();
                                for (d, s) in dst[rx.clone()].iter_mut().zip(&src[off..off + n]) {
                                    *d = d.add(wv.mul(*s));
                                }
                            } else {
                                for ox in rx.clone() {
                                    let ix = ox * sx + kj - px;
                                    dst[ox] = dst[ox].add(wv.mul(src[ix]));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

/// Max (`max = true`) or sum over unpadded windows of every `[c, h, w]` row.
pub(crate) fn pool<T: Num>(x: &[T], rows: usize, g: &Geometry, max: bool) -> Vec<T> {
    let [c, h, wd] = g.input;
    let [ho, wo] = g.output;
    let [kh, kw] = g.kernel;
    let [sy, sx] = g.stride;
    let mut y = Vec::with_capacity(rows * c * ho * wo);
    for img in x.chunks_exact(h * wd).take(rows * c) {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut acc = img[oy * sy * wd + ox * sx];
                for ki in 0..kh {
                    for kj in 0..kw {
                        if ki == 0 && kj == 0 {
                            continue;
                        }
                        let v = img[(oy * sy + ki) * wd + ox * sx + kj];
                        acc = if max {
                            if v.gt(acc) {
                                v
                            } else {
                                acc
                            }
                        } else {
                            acc.add(v)
                        };
                    }
                }
                y.push(acc);
            }
        }
    }
    y
}

/// Index of the first largest element of each row of length `n`.
pub(crate) fn argmax<T: Num>(x: &[T], n: usize) -> Vec<usize> {
    x.chunks_exact(n)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate().skip(1) {
                if v.gt(row[best]) {
                    best = i;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct definition of a padded strided convolution, for comparison.
    fn conv_reference(x: &[f64], w: &[f64], b: &[f64], g: &Geometry, out_c: usize) -> Vec<f64> {
        let [c, h, wd] = g.input;
        let [ho, wo] = g.output;
        let [kh, kw] = g.kernel;
        let mut y = Vec::new();
        for oc in 0..out_c {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut s = b[oc];
                    for ic in 0..c {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = (oy * g.stride[0] + ki) as isize - g.padding[0] as isize;
                                let ix = (ox * g.stride[1] + kj) as isize - g.padding[1] as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                    s += w[((oc * c + ic) * kh + ki) * kw + kj]
                                        * x[(ic * h + iy as usize) * wd + ix as usize];
                                }
                            }
                        }
                    }
                    y.push(s);
                }
            }
        }
        y
    }

    #[test]
    fn conv_matches_the_definition_for_strides_and_paddings() {
        let mut seed = 1u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        for (h, k, s, p) in [
            (7, 3, 1, 0),
            (7, 3, 1, 1),
            (8, 5, 2, 2),
            (6, 2, 3, 1),
            (5, 5, 1, 4),
            (4, 3, 2, 0),
        ] {
            let c = 2;
            let out_c = 3;
            let ho = (h + 2 * p - k) / s + 1;
            let g = Geometry {
                input: [c, h, h + 1],
                output: [ho, (h + 1 + 2 * p - k) / s + 1],
                kernel: [k, k],
                stride: [s, s],
                padding: [p, p],
            };
            let x: Vec<f64> = (0..2 * c * h * (h + 1)).map(|_| next()).collect();
            let w: Vec<f64> = (0..out_c * c * k * k).map(|_| next()).collect();
            let b: Vec<f64> = (0..out_c).map(|_| next()).collect();
            let got = conv2d(&x, &w, &b, 2, &g, out_c);
            let per_row = got.len() / 2;
            for r in 0..2 {
                let want = conv_reference(
                    &x[r * c * h * (h + 1)..(r + 1) * c * h * (h + 1)],
                    &w,
                    &b,
                    &g,
                    out_c,
                );
                for (a, b) in got[r * per_row..(r + 1) * per_row].iter().zip(&want) {
                    assert!((a - b).abs() < 1e-12, "h={h} k={k} s={s} p={p}");
                }
            }
        }
    }

    #[test]
    fn ring_kernels_wrap_and_compare_signed() {
        let minus_one = u64::MAX;
        assert_eq!(
            dense(&[minus_one, 2], &[3, minus_one], &[0], 1, 2, 1),
            vec![(-5i64) as u64]
        );
        assert_eq!(argmax(&[minus_one, 0, 5, 5], 4), vec![2]);
        let g = Geometry {
            input: [1, 2, 2],
            output: [1, 1],
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        assert_eq!(
            pool(
                &[minus_one, (-7i64) as u64, minus_one, (-2i64) as u64],
                1,
                &g,
                true
            ),
            vec![minus_one]
        );
        assert_eq!(pool(&[minus_one, 3, 1, 1], 1, &g, false), vec![4]);
    }

    /// The oracle's ring kernels and the secure runtime's plaintext layer
    /// evaluation (`arith::linear`, used by the server for `L(W, x0 + f)`,
    /// by the client for `L(E, v)` and by the dealer for `L(U, v)`) are two
    /// implementations of the same maps: they must agree bit for bit on
    /// arbitrary ring elements (full 64-bit words, so every product wraps).
    #[test]
    fn ring_kernels_agree_with_the_runtime_linear_layers() {
        use crate::arith::linear::{Conv2dShape, LinearShape};
        use crate::prg::{Prg, Seed};
        let mut prg = Prg::new(&Seed::from_u64(0x11ea_2026));
        for (rows, inp, out) in [(1, 1, 1), (1, 7, 3), (3, 16, 5), (2, 33, 10), (5, 4, 9)] {
            let x = prg.u64s(rows * inp);
            let w = prg.u64s(inp * out);
            let want = LinearShape::Dense {
                inputs: inp,
                outputs: out,
            }
            .apply(&w, &x)
            .unwrap();
            assert_eq!(dense(&x, &w, &vec![0; out], rows, inp, out), want);
        }
        for (c, h, wd, out_c, k, s, p) in [
            (1, 28, 28, 5, [5, 5], [2, 2], [2, 2]),
            (2, 7, 9, 3, [3, 2], [1, 2], [1, 0]),
            (3, 6, 6, 2, [1, 1], [1, 1], [0, 0]),
            (1, 5, 5, 4, [5, 5], [1, 1], [4, 4]),
            (2, 8, 5, 1, [3, 3], [3, 2], [2, 1]),
        ] {
            let shape = Conv2dShape {
                input: [c, h, wd],
                out_channels: out_c,
                kernel: k,
                stride: s,
                padding: p,
            };
            let [_, oh, ow] = shape.output().unwrap();
            let g = Geometry {
                input: [c, h, wd],
                output: [oh, ow],
                kernel: k,
                stride: s,
                padding: p,
            };
            for rows in [1, 3] {
                let x = prg.u64s(rows * c * h * wd);
                let w = prg.u64s(out_c * c * k[0] * k[1]);
                let want = LinearShape::Conv2d(shape).apply(&w, &x).unwrap();
                let got = conv2d(&x, &w, &vec![0; out_c], rows, &g, out_c);
                assert_eq!(got, want, "{shape:?} rows {rows}");
            }
        }
    }
}
