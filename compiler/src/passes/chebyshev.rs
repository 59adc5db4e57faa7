//! Polynomial fitting for smooth activations, as in CryptoDL (Hesamifard et
//! al., 2017): interpolate `f` at the `n = d + 1` Chebyshev nodes of `[a, b]`,
//!
//! `t_k = cos(π (k + ½) / n)`, `x_k = (a + b)/2 + (b − a)/2 · t_k`,
//! `c_j = (2/n) Σ_k f(x_k) T_j(t_k)` (halved for `j = 0`),
//! `p(x) = Σ_j c_j T_j((2x − a − b)/(b − a))`,
//!
//! then expand `p` into monomial coefficients in `x` (for Horner evaluation
//! with fixed-point steps), round them to the fixed-point format, and
//! measure the maximum absolute error of the rounded polynomial on a dense
//! grid of the interval. Chebyshev interpolation is within a small factor of
//! the best uniform approximation of its degree.

/// Points of the error grid.
pub const GRID_POINTS: usize = 10_001;

/// The affine map `t = αx + β` that takes `[lo, hi]` onto `[-1, 1]`.
pub fn to_unit(lo: f64, hi: f64) -> (f64, f64) {
    (2.0 / (hi - lo), -(hi + lo) / (hi - lo))
}

/// Monomial coefficients (constant first) of the degree-`degree` Chebyshev
/// interpolant of `f` on `[lo, hi]`, in `x`.
pub fn fit(f: impl Fn(f64) -> f64, degree: usize, lo: f64, hi: f64) -> Vec<f64> {
    in_x(&fit_unit(f, degree, lo, hi), lo, hi)
}

/// The same interpolant as monomial coefficients in `t = αx + β ∈ [-1, 1]`
/// ([`to_unit`]). These stay of order one whatever the interval, so they
/// survive rounding to a fixed-point format; the plan evaluates in `t`.
pub fn fit_unit(f: impl Fn(f64) -> f64, degree: usize, lo: f64, hi: f64) -> Vec<f64> {
    let n = degree + 1;
    let nodes: Vec<f64> = (0..n)
        .map(|k| (std::f64::consts::PI * (k as f64 + 0.5) / n as f64).cos())
        .collect();
    let values: Vec<f64> = nodes
        .iter()
        .map(|t| f((lo + hi) / 2.0 + (hi - lo) / 2.0 * t))
        .collect();
    // Chebyshev coefficients c_j.
    let cheb: Vec<f64> = (0..n)
        .map(|j| {
            let s: f64 = nodes
                .iter()
                .zip(&values)
                .map(|(&t, &v)| v * (j as f64 * t.acos()).cos())
                .sum();
            let c = 2.0 / n as f64 * s;
            if j == 0 {
                c / 2.0
            } else {
                c
            }
        })
        .collect();
    // Σ c_j T_j(t) as monomials in t, with T_{j+1} = 2t T_j − T_{j−1}.
    let mut in_t = vec![0.0; n];
    let (mut prev, mut cur) = (vec![1.0], vec![0.0, 1.0]);
    for (j, &c) in cheb.iter().enumerate() {
        let tj: &[f64] = if j == 0 { &prev } else { &cur };
        for (i, &a) in tj.iter().enumerate() {
            in_t[i] += c * a;
        }
        if j >= 1 {
            let mut next = vec![0.0; cur.len() + 1];
            for (i, &a) in cur.iter().enumerate() {
                next[i + 1] += 2.0 * a;
            }
            for (i, &a) in prev.iter().enumerate() {
                next[i] -= a;
            }
            prev = std::mem::replace(&mut cur, next);
        }
    }
    in_t
}

/// Coefficients in `x` of `Σ q_i t^i` with `t = αx + β` ([`to_unit`]).
pub fn in_x(in_t: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let n = in_t.len();
    let (alpha, beta) = to_unit(lo, hi);
    let mut out = vec![0.0; n];
    for &q in in_t.iter().rev() {
        // out = out · (αx + β) + q
        let mut next = vec![0.0; n];
        for (i, &a) in out.iter().enumerate() {
            next[i] += a * beta;
            if i + 1 < n {
                next[i + 1] += a * alpha;
            }
        }
        next[0] += q;
        out = next;
    }
    out
}

/// `Σ c_i x^i` by Horner.
pub fn eval(coeffs: &[f64], x: f64) -> f64 {
    coeffs.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// Round each coefficient to `frac_bits` fraction bits (what the plan computes with).
pub fn round_to(coeffs: &[f64], frac_bits: u32) -> Vec<f64> {
    let s = (frac_bits as f64).exp2();
    coeffs.iter().map(|c| (c * s).round() / s).collect()
}

/// Maximum of `|f(x) − g(x)|` over [`GRID_POINTS`] evenly spaced points of `[lo, hi]`.
pub fn max_error(f: impl Fn(f64) -> f64, g: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    (0..GRID_POINTS)
        .map(|i| {
            let x = lo + (hi - lo) * i as f64 / (GRID_POINTS - 1) as f64;
            (f(x) - g(x)).abs()
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn reproduces_a_polynomial_of_its_degree_exactly() {
        let p = |x: f64| 1.0 - 2.0 * x + 0.5 * x * x * x;
        let c = fit(p, 3, -2.0, 3.0);
        let want = [1.0, -2.0, 0.0, 0.5];
        for (a, b) in c.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{c:?}");
        }
    }

    #[test]
    fn sigmoid_degree_3_on_minus_4_4() {
        let c = fit(sigmoid, 3, -4.0, 4.0);
        // Odd part only, besides the constant 1/2.
        assert!((c[0] - 0.5).abs() < 1e-12, "{c:?}");
        assert!(c[2].abs() < 1e-12, "{c:?}");
        assert!(c[1] > 0.15 && c[1] < 0.25, "{c:?}");
        assert!(c[3] < 0.0, "{c:?}");
        let err = max_error(sigmoid, |x| eval(&c, x), -4.0, 4.0);
        assert!(err < 0.04, "error {err}");
        // Interpolation: exact at the nodes.
        let t: f64 = (std::f64::consts::PI * 0.5 / 4.0).cos();
        assert!((eval(&c, 4.0 * t) - sigmoid(4.0 * t)).abs() < 1e-12);
        // Higher degree is better.
        let c7 = fit(sigmoid, 7, -4.0, 4.0);
        assert!(max_error(sigmoid, |x| eval(&c7, x), -4.0, 4.0) < err / 4.0);
    }
}
