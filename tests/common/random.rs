//! Seeded random weights for example networks that ship without trained ones.

use chimera_runtime::plan::{Op, Plan};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// A small deterministic generator, uniform in [0, 1).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| lo + (hi - lo) * self.unit()).collect()
    }
}

/// Random float32 tensors (scaled by 1/√fan-in, batchnorm near identity)
/// for every parameter the plan names.
pub fn random_weights(plan: &Plan, rng: &mut Lcg) -> Vec<u8> {
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
        let limit = (3.0 / fan_in as f64).sqrt();
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
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}
