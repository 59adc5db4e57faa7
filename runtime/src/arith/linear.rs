//! Linear layers as bilinear maps `L(W, x)` over Z_2^64, in plaintext.
//!
//! Dense and conv2d are both bilinear in the weights `W` and the input `x`:
//! `L(W + W', x) = L(W, x) + L(W', x)` and likewise in `x`. The secure
//! private-weight protocol ([`super::private_linear`]) and the dealer's matrix
//! triples rely only on that, so one [`LinearShape`] describes both layer
//! kinds and [`LinearShape::apply`] evaluates either. The same loops are the
//! plaintext oracle's reference (`dense_plain`, `conv2d_plain`): wrapping
//! arithmetic, row-major tensors, images `[c, h, w]`, conv weights
//! `[out_c, in_c, kh, kw]`, dense weights `[out, in]`, zero padding. Bias is
//! not part of `L`; callers add it.

use crate::limits::product;
use serde::{Deserialize, Serialize};

/// The geometry of a 2-d convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Conv2dShape {
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Zero padding on each side along height and width.
    pub padding: [usize; 2],
}

impl Conv2dShape {
    /// Output `[out_channels, out_h, out_w]`, or `None` if the geometry is
    /// impossible (zero stride or kernel, kernel larger than the padded input,
    /// a padded size that overflows `usize`). Never panics, whatever the
    /// numbers: shapes also arrive from files.
    pub fn output(&self) -> Option<[usize; 3]> {
        let [_, h, w] = self.input;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [ph, pw] = self.padding;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return None;
        }
        let padded_h = h.checked_add(ph.checked_mul(2)?)?;
        let padded_w = w.checked_add(pw.checked_mul(2)?)?;
        if padded_h < kh || padded_w < kw {
            return None;
        }
        Some([
            self.out_channels,
            (padded_h - kh) / sh + 1,
            (padded_w - kw) / sw + 1,
        ])
    }
}

/// A linear layer's shape: what `L(W, x)` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LinearShape {
    /// `y = W x`, `W: [outputs, inputs]`.
    Dense {
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
    },
    /// `y = conv2d(x, W)`.
    Conv2d(Conv2dShape),
}

/// A tensor of the wrong size was given to a linear layer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The geometry itself is impossible.
    #[error("impossible convolution geometry {0:?}")]
    Geometry(Conv2dShape),
    /// A size of the layer (weights, input, output or multiply-adds)
    /// overflows `usize`.
    #[error("layer {0:?} is too large: its sizes overflow")]
    TooLarge(LinearShape),
    /// An operand has the wrong number of elements.
    #[error("{what} has {got} elements, the layer needs {expected}")]
    Length {
        /// Which operand.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length required.
        expected: usize,
    },
}

fn check(what: &'static str, got: usize, expected: usize) -> Result<(), ShapeError> {
    if got == expected {
        Ok(())
    } else {
        Err(ShapeError::Length {
            what,
            got,
            expected,
        })
    }
}

impl LinearShape {
    /// The layer a conv2d of this geometry makes on an input of `shape`, or
    /// `None` when the input is not an image `[c, h, w]`. The one place an
    /// operation's arguments become a layer shape (runtime and compiler).
    pub fn conv2d_on(
        shape: &[usize],
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Option<LinearShape> {
        let [c, h, w] = *shape else { return None };
        Some(LinearShape::Conv2d(Conv2dShape {
            input: [c, h, w],
            out_channels,
            kernel,
            stride,
            padding,
        }))
    }

    /// The shape of `W`: `[outputs, inputs]`, or `[out_channels,
    /// in_channels, kh, kw]` (PyTorch's layouts).
    pub fn weight_shape(&self) -> Vec<usize> {
        match self {
            LinearShape::Dense { inputs, outputs } => vec![*outputs, *inputs],
            LinearShape::Conv2d(c) => vec![c.out_channels, c.input[0], c.kernel[0], c.kernel[1]],
        }
    }

    /// The shape of one output `y`, or `None` for an impossible geometry.
    pub fn output_shape(&self) -> Option<Vec<usize>> {
        match self {
            LinearShape::Dense { outputs, .. } => Some(vec![*outputs]),
            LinearShape::Conv2d(c) => c.output().map(Vec::from),
        }
    }

    fn checked_weight_len(&self) -> Option<usize> {
        product(&self.weight_shape())
    }

    fn checked_input_len(&self) -> Option<usize> {
        match self {
            LinearShape::Dense { inputs, .. } => Some(*inputs),
            LinearShape::Conv2d(c) => product(&c.input),
        }
    }

    fn checked_output_len(&self) -> Option<usize> {
        self.output_shape().map_or(Some(0), |o| product(&o))
    }

    /// Multiply-adds of one evaluation, `None` if that overflows `usize`.
    pub fn checked_macs(&self) -> Option<usize> {
        match self {
            LinearShape::Dense { inputs, outputs } => inputs.checked_mul(*outputs),
            LinearShape::Conv2d(c) => product(&[
                self.checked_output_len()?,
                c.input[0],
                c.kernel[0],
                c.kernel[1],
            ]),
        }
    }

    /// Elements of `W` (`usize::MAX` if that overflows, which
    /// [`validate`](Self::validate) refuses).
    pub fn weight_len(&self) -> usize {
        self.checked_weight_len().unwrap_or(usize::MAX)
    }

    /// Elements of one input `x` (`usize::MAX` on overflow, refused by
    /// [`validate`](Self::validate)).
    pub fn input_len(&self) -> usize {
        self.checked_input_len().unwrap_or(usize::MAX)
    }

    /// Elements of one output `y` (0 for an impossible geometry, `usize::MAX`
    /// on overflow; [`validate`](Self::validate) refuses both).
    pub fn output_len(&self) -> usize {
        self.checked_output_len().unwrap_or(usize::MAX)
    }

    /// Number of multiply-adds of one evaluation (`usize::MAX` on overflow,
    /// refused by [`validate`](Self::validate)).
    pub fn macs(&self) -> usize {
        self.checked_macs().unwrap_or(usize::MAX)
    }

    /// Check the geometry, and that every size of the layer fits `usize`
    /// (so the length functions above return exact counts).
    pub fn validate(&self) -> Result<(), ShapeError> {
        if let LinearShape::Conv2d(c) = self {
            c.output().ok_or(ShapeError::Geometry(*c))?;
        }
        let sizes = [
            self.checked_weight_len(),
            self.checked_input_len(),
            self.checked_output_len(),
            self.checked_macs(),
        ];
        if sizes.iter().any(Option::is_none) {
            return Err(ShapeError::TooLarge(*self));
        }
        Ok(())
    }

    /// `L(W, x)` for a batch: `xs` holds `rows` inputs back to back; returns
    /// `rows` outputs back to back (wrapping arithmetic).
    pub fn apply(&self, w: &[u64], xs: &[u64]) -> Result<Vec<u64>, ShapeError> {
        self.validate()?;
        check("the weight", w.len(), self.weight_len())?;
        let (n_in, n_out) = (self.input_len(), self.output_len());
        if n_in == 0 {
            return Ok(Vec::new());
        }
        if xs.len() % n_in != 0 {
            return Err(ShapeError::Length {
                what: "the input batch",
                got: xs.len(),
                expected: n_in * xs.len().div_ceil(n_in),
            });
        }
        let rows = xs.len() / n_in;
        let mut out = vec![0u64; rows * n_out];
        for (x, y) in xs.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
            match self {
                LinearShape::Dense { inputs, .. } => dense_into(w, x, *inputs, y),
                LinearShape::Conv2d(c) => conv2d_into(w, x, c, y),
            }
        }
        Ok(out)
    }
}

/// Wrapping dot product with four accumulators (lets the compiler pipeline
/// the 64-bit multiplies).
#[inline]
fn dot(a: &[u64], b: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let (a4, a_rest) = a.split_at(a.len() - a.len() % 4);
    let (b4, b_rest) = b.split_at(a4.len());
    for (x, y) in a4.chunks_exact(4).zip(b4.chunks_exact(4)) {
        for k in 0..4 {
            acc[k] = acc[k].wrapping_add(x[k].wrapping_mul(y[k]));
        }
    }
    let mut s = acc[0]
        .wrapping_add(acc[1])
        .wrapping_add(acc[2])
        .wrapping_add(acc[3]);
    for (x, y) in a_rest.iter().zip(b_rest) {
        s = s.wrapping_add(x.wrapping_mul(*y));
    }
    s
}

fn dense_into(w: &[u64], x: &[u64], inputs: usize, y: &mut [u64]) {
    for (row, out) in w.chunks_exact(inputs).zip(y.iter_mut()) {
        *out = dot(row, x);
    }
}

fn conv2d_into(w: &[u64], x: &[u64], c: &Conv2dShape, y: &mut [u64]) {
    let [in_c, h, wd] = c.input;
    let [kh, kw] = c.kernel;
    let [sh, sw] = c.stride;
    let [ph, pw] = c.padding;
    let Some([out_c, oh, ow]) = c.output() else {
        return;
    };
    y.fill(0);
    for oc in 0..out_c {
        let y_c = &mut y[oc * oh * ow..(oc + 1) * oh * ow];
        for ic in 0..in_c {
            let x_c = &x[ic * h * wd..(ic + 1) * h * wd];
            for ky in 0..kh {
                for kx in 0..kw {
                    let wv = w[((oc * in_c + ic) * kh + ky) * kw + kx];
                    // Output columns whose input column ox*sw + kx - pw is in [0, wd).
                    let ox_lo = pw.saturating_sub(kx).div_ceil(sw);
                    let ox_hi = if wd + pw > kx {
                        ((wd + pw - kx - 1) / sw + 1).min(ow)
                    } else {
                        0
                    };
                    if ox_lo >= ox_hi {
                        continue;
                    }
                    for oy in 0..oh {
                        let iy = oy * sh + ky;
                        if iy < ph || iy - ph >= h {
                            continue;
                        }
                        let x_row = &x_c[(iy - ph) * wd..(iy - ph + 1) * wd];
                        let y_row = &mut y_c[oy * ow..(oy + 1) * ow];
                        if sw == 1 {
                            let ix0 = ox_lo + kx - pw;
                            let n = ox_hi - ox_lo;
                            for (o, &xv) in y_row[ox_lo..ox_hi].iter_mut().zip(&x_row[ix0..ix0 + n])
                            {
                                *o = o.wrapping_add(wv.wrapping_mul(xv));
                            }
                        } else {
                            for (ox, o) in y_row.iter_mut().enumerate().take(ox_hi).skip(ox_lo) {
                                let ix = ox * sw + kx - pw;
                                *o = o.wrapping_add(wv.wrapping_mul(x_row[ix]));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Plaintext dense layer `y = W x` (no bias), `W: [out_features, x.len()]`,
/// wrapping arithmetic. The oracle's reference.
pub fn dense_plain(w: &[u64], x: &[u64], out_features: usize) -> Result<Vec<u64>, ShapeError> {
    LinearShape::Dense {
        inputs: x.len(),
        outputs: out_features,
    }
    .apply(w, x)
}

/// Plaintext conv2d (no bias) of one image `x: [c, h, w]`, wrapping
/// arithmetic, zero padding. The oracle's reference.
pub fn conv2d_plain(w: &[u64], x: &[u64], shape: &Conv2dShape) -> Result<Vec<u64>, ShapeError> {
    check("the input", x.len(), shape.input.iter().product())?;
    LinearShape::Conv2d(*shape).apply(w, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prg::{Prg, Seed};

    /// Textbook convolution, one output element at a time.
    fn conv_naive(w: &[u64], x: &[u64], c: &Conv2dShape) -> Vec<u64> {
        let [in_c, h, wd] = c.input;
        let [out_c, oh, ow] = c.output().unwrap();
        let mut y = vec![0u64; out_c * oh * ow];
        for oc in 0..out_c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = 0u64;
                    for ic in 0..in_c {
                        for ky in 0..c.kernel[0] {
                            for kx in 0..c.kernel[1] {
                                let iy = (oy * c.stride[0] + ky) as isize - c.padding[0] as isize;
                                let ix = (ox * c.stride[1] + kx) as isize - c.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let wv =
                                    w[((oc * in_c + ic) * c.kernel[0] + ky) * c.kernel[1] + kx];
                                let xv = x[(ic * h + iy as usize) * wd + ix as usize];
                                s = s.wrapping_add(wv.wrapping_mul(xv));
                            }
                        }
                    }
                    y[(oc * oh + oy) * ow + ox] = s;
                }
            }
        }
        y
    }

    #[test]
    fn conv_matches_naive_on_many_geometries() {
        let mut prg = Prg::new(&Seed::from_u64(3));
        for (input, out_c, kernel, stride, padding) in [
            ([1, 28, 28], 5, [5, 5], [2, 2], [2, 2]),
            ([2, 7, 9], 3, [3, 3], [1, 1], [1, 1]),
            ([3, 8, 8], 4, [1, 1], [1, 1], [0, 0]),
            ([1, 5, 6], 2, [3, 2], [2, 3], [0, 1]),
            ([2, 4, 4], 2, [4, 4], [1, 1], [3, 3]),
            ([1, 3, 3], 1, [5, 5], [1, 1], [1, 1]),
        ] {
            let shape = Conv2dShape {
                input,
                out_channels: out_c,
                kernel,
                stride,
                padding,
            };
            let ls = LinearShape::Conv2d(shape);
            let w = prg.u64s(ls.weight_len());
            let x = prg.u64s(ls.input_len());
            assert_eq!(
                conv2d_plain(&w, &x, &shape).unwrap(),
                conv_naive(&w, &x, &shape),
                "{shape:?}"
            );
        }
    }

    #[test]
    fn dense_is_matrix_vector_product() {
        let w = [1u64, 2, 3, 4, 5, 6];
        let x = [1u64, u64::MAX, 2];
        // rows: 1 - 2 + 6 = 5; 4 - 5 + 12 = 11
        assert_eq!(dense_plain(&w, &x, 2).unwrap(), vec![5, 11]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert_eq!(
            dense_plain(&[1, 2, 3], &[1, 2], 2),
            Err(ShapeError::Length {
                what: "the weight",
                got: 3,
                expected: 4
            })
        );
        let bad = Conv2dShape {
            input: [1, 2, 2],
            out_channels: 1,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [0, 0],
        };
        assert_eq!(
            conv2d_plain(&[0; 9], &[0; 4], &bad),
            Err(ShapeError::Geometry(bad))
        );
    }

    /// Shapes also come from files (plans, material headers): sizes that
    /// overflow `usize` are an error from `validate`, never an arithmetic
    /// panic in the length functions.
    #[test]
    fn overflowing_sizes_are_refused_without_panicking() {
        let padded_overflow = Conv2dShape {
            input: [1, usize::MAX, 1],
            out_channels: 1,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [usize::MAX / 2 + 1, 0],
        };
        assert_eq!(padded_overflow.output(), None);
        let ls = LinearShape::Conv2d(padded_overflow);
        assert_eq!(ls.output_len(), 0);
        assert_eq!(ls.validate(), Err(ShapeError::Geometry(padded_overflow)));

        let huge_output = LinearShape::Conv2d(Conv2dShape {
            input: [1 << 20, 1 << 22, 1 << 22],
            out_channels: 1 << 30,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
        });
        assert_eq!(huge_output.input_len(), usize::MAX);
        assert_eq!(huge_output.output_len(), usize::MAX);
        assert_eq!(huge_output.weight_len(), 1 << 50);
        assert_eq!(huge_output.macs(), usize::MAX);
        assert_eq!(
            huge_output.validate(),
            Err(ShapeError::TooLarge(huge_output))
        );

        let dense = LinearShape::Dense {
            inputs: usize::MAX,
            outputs: 2,
        };
        assert_eq!(dense.weight_len(), usize::MAX);
        assert_eq!(dense.validate(), Err(ShapeError::TooLarge(dense)));
        assert_eq!(
            dense.validate().unwrap_err().to_string(),
            format!("layer {dense:?} is too large: its sizes overflow")
        );
        assert!(LinearShape::Dense {
            inputs: 980,
            outputs: 100
        }
        .validate()
        .is_ok());
    }
}
