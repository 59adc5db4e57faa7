//! Stand-in weights: seeded, deterministic parameters of the right shapes for
//! a network that has no trained weights, so that it can be benchmarked and
//! tested (the cost of a plan does not depend on the weights' values).
//!
//! The generator is SplitMix64 (Steele, Lea, Flood 2014): small, fast and
//! reproducible. It is not a CSPRNG and must never produce a secret.

use super::WeightsError;
use crate::plan::{Op, Plan};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// SplitMix64, for stand-in weights and pixels (never for secrets).
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` values uniform in `[lo, hi)`.
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| lo + (hi - lo) * self.unit()).collect()
    }
}

/// Float32 safetensors holding every parameter the plan names: weights
/// uniform in ±√(3/fan-in) (activations of about unit variance), biases in
/// ±0.1, batchnorm parameters near the identity. Names and layouts are those
/// [`super::bind`] expects, so the result always binds to `plan`.
pub fn stand_in_weights(plan: &Plan, rng: &mut SplitMix64) -> Result<Vec<u8>, WeightsError> {
    plan.validate()?;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f64>)> = Vec::new();
    for step in &plan.steps {
        let Some(p) = step.op.linear_params() else {
            continue;
        };
        if tensors.iter().any(|(n, _, _)| *n == p.weight) {
            continue;
        }
        let x = &plan.value(step.inputs[0]).shape;
        let shape = match &step.op {
            Op::Dense { out_features, .. } => vec![*out_features, x.iter().product()],
            Op::Conv2d {
                out_channels,
                kernel,
                ..
            } => vec![*out_channels, x[0], kernel[0], kernel[1]],
            _ => continue,
        };
        let out = shape[0];
        let fan_in: usize = shape[1..].iter().product();
        let limit = (3.0 / fan_in.max(1) as f64).sqrt();
        let n = shape.iter().product();
        tensors.push((p.weight.clone(), shape, rng.vec(n, -limit, limit)));
        if let Some(b) = &p.bias {
            tensors.push((b.clone(), vec![out], rng.vec(out, -0.1, 0.1)));
        }
        if let Some(bn) = &p.batchnorm {
            tensors.push((bn.gamma.clone(), vec![out], rng.vec(out, 0.8, 1.2)));
            tensors.push((bn.beta.clone(), vec![out], rng.vec(out, -0.1, 0.1)));
            tensors.push((bn.mean.clone(), vec![out], rng.vec(out, -0.1, 0.1)));
            tensors.push((bn.var.clone(), vec![out], rng.vec(out, 0.5, 1.5)));
        }
    }
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, d)| d.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), b)
            .map_err(|e| WeightsError::Format(format!("stand-in `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::serialize(views, None).map_err(|e| WeightsError::Format(e.to_string()))
}
