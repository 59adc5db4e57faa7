//! How far a secure run may be from the oracle: a worst-case bound,
//! computed from the plan and the bound weights, on the difference between
//! the secure runtime's decoded outputs and the fixed-point oracle's.
//!
//! The only place the two may differ is a `Truncate` step run in A: the
//! secure result is `⌊x / 2^m⌋` or one unit less (Escudero et al., CRYPTO
//! 2020), where the oracle (and B and Y) give exactly `⌊x / 2^m⌋`. A
//! difference then travels through the later steps; with `d(v)` the largest
//! difference of value `v` in real units:
//!
//! - `Truncate` to `f'` fraction bits: `d' = d + 2^-f'` if it runs in A or
//!   its input already differs (flooring a perturbed value may move by one
//!   more unit), else `d' = d`;
//! - dense / conv2d: `d' = max_o Σ_i |W_oi| · d` (the largest absolute row
//!   sum of the weights as encoded; the bias adds nothing);
//! - sum pooling: `d' = kh·kw·d`; `MulConst c`: `d' = |c| · d`;
//!   add / sub: `d' = d_a + d_b`;
//! - relu, max pooling, clamp, reshape, convert, add-const: `d' = d`
//!   (they are 1-Lipschitz).
//!
//! A product of two secret values (`Mul`, `Square`) has no bound without the
//! values' magnitudes, so [`deviation_bounds`] gives `None` for outputs that
//! depend on one after a difference has appeared.

use super::exec::frac_bits_of;
use crate::plan::{Op, Plan, Protocol};
use crate::weights::BoundWeights;

/// For every output of the plan, in order: the largest possible difference
/// (in decoded units) between a secure run's value and the fixed-point
/// oracle's, or `None` when no static bound exists (see the module doc).
/// Integer outputs (labels) get the bound of their argmax's input: the
/// labels agree whenever the oracle's top two scores are further apart than
/// twice that bound.
pub fn deviation_bounds(plan: &Plan, weights: &BoundWeights) -> Vec<Option<f64>> {
    let f = plan.fixed.frac_bits;
    let mut d: Vec<Option<f64>> = vec![Some(0.0); plan.values.len()];
    let scale = (f as f64).exp2();
    for step in &plan.steps {
        let x = d[step.inputs[0].index()];
        let out = match &step.op {
            Op::Truncate { .. } => {
                let ulp = frac_bits_of(plan.value(step.output).encoding)
                    .map_or(1.0, |fb| (-(fb as f64)).exp2());
                x.map(|d| {
                    if step.protocol == Protocol::Arith || d > 0.0 {
                        d + ulp
                    } else {
                        d
                    }
                })
            }
            Op::Dense { params, .. } | Op::Conv2d { params, .. } => {
                let norm = weights.layer(&params.layer).map(|lw| {
                    let per_row = lw.weight.len() / lw.out_features().max(1);
                    lw.weight
                        .chunks(per_row.max(1))
                        .map(|row| {
                            row.iter()
                                .map(|&w| (w as i64).unsigned_abs() as f64)
                                .sum::<f64>()
                        })
                        .fold(0.0, f64::max)
                        / scale
                });
                x.zip(norm).map(|(d, n)| d * n)
            }
            Op::SumPool { kernel, .. } => x.map(|d| d * (kernel[0] * kernel[1]) as f64),
            Op::MulConst { c } => x.map(|d| d * (*c as f64).abs() / scale),
            Op::Add | Op::Sub => x.zip(d[step.inputs[1].index()]).map(|(a, b)| a + b),
            Op::Mul => {
                let y = d[step.inputs[1].index()];
                match (x, y) {
                    (Some(a), Some(b)) if a == 0.0 && b == 0.0 => Some(0.0),
                    _ => None,
                }
            }
            Op::Square => x.filter(|d| *d == 0.0),
            Op::Relu
            | Op::MaxPool { .. }
            | Op::Clamp { .. }
            | Op::Reshape
            | Op::Convert
            | Op::AddConst { .. }
            | Op::Argmax => x,
        };
        d[step.output.index()] = out;
    }
    plan.outputs.iter().map(|o| d[o.value.index()]).collect()
}
