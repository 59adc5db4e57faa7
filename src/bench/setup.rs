//! What a benchmark case runs on: the network's plan compiled for the
//! benchmark's network profile and batch, the server's weights (trained
//! ones where the repository ships them, else seeded random weights of the
//! right shapes) and the client's input batch (bundled MNIST images where
//! the network takes MNIST-shaped inputs, else seeded random pixels).
//!
//! Random weights and inputs are deterministic (a fixed seed per network),
//! so two benchmark runs measure the same computation; the output says
//! which cases use them.

use anyhow::{bail, Context};
use chimera_compiler::cost::report::plan_cost;
use chimera_compiler::cost::{Estimate, Network, Objective, Profile, RuntimeOracle, Times};
use chimera_compiler::passes::optimize::{compile_optimized, Optimizer};
use chimera_runtime::plan::{Op, Plan, SavedPlan};
use chimera_runtime::tensor_io::{self, NpyDtype, Tensor};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::{Path, PathBuf};

/// The default networks, by short name and file stem.
pub const DEFAULT_NETWORKS: [&str; 5] = ["netA", "netB", "netC", "netD", "cryptonets"];

/// Every network `bench` knows by a short name: (short name, file stem).
pub const KNOWN: [(&str, &str); 6] = [
    ("netA", "netA_secureml"),
    ("netB", "netB_minionn"),
    ("netC", "netC_lenet"),
    ("netD", "netD_chameleon"),
    ("cryptonets", "cryptonets"),
    ("cifar_minionn", "cifar_minionn"),
];

/// Seed of the random weights and inputs (mixed with the network's name).
const SEED: u64 = 2018;

/// Find a network: a short name (`netD`), a file stem in `examples`
/// (`netD_chameleon`), or a path to a `.nn` file.
pub fn locate(name: &str, examples: &Path) -> anyhow::Result<PathBuf> {
    let path = Path::new(name);
    if path.extension().is_some_and(|e| e == "nn") {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        bail!("no network file {name}");
    }
    let stem = KNOWN
        .iter()
        .find(|(short, stem)| short.eq_ignore_ascii_case(name) || *stem == name)
        .map_or(name, |(_, stem)| stem);
    let file = examples.join(format!("{stem}.nn"));
    if file.is_file() {
        return Ok(file);
    }
    bail!(
        "unknown network `{name}`: use one of {} or a path to a .nn file (looked for {})",
        KNOWN.map(|(s, _)| s).join(", "),
        file.display()
    )
}

/// Compile `file` with the optimizer for `network`, the latency objective
/// and `batch` rows, as `chimera cost --network … --batch …` does.
pub fn compile(file: &Path, network: &Network, batch: usize) -> anyhow::Result<SavedPlan> {
    let source = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let optimizer = Optimizer {
        batch,
        ..Optimizer::runtime(network.clone(), Objective::Latency)
    };
    match compile_optimized(&name, &source, &optimizer) {
        Ok(c) => Ok(c.saved),
        Err(d) => bail!("{}", d.render(&name, &source, false)),
    }
}

/// The cost model's estimate for `plan` on `batch` rows under `network`
/// (the shipped calibration profile): the per-plan totals of
/// `chimera cost`, and the estimated online and offline seconds.
pub fn estimate(plan: &Plan, network: &Network, batch: usize) -> anyhow::Result<(Estimate, Times)> {
    let model = plan_cost(plan, &RuntimeOracle, batch).map_err(|e| anyhow::anyhow!(e))?;
    let times = model.total.times(network, &Profile::default_profile());
    Ok((model.total, times))
}

/// Where the server's weights come from.
#[derive(Clone, Debug)]
pub enum WeightsSource {
    /// Trained weights shipped in the repository.
    Trained(PathBuf),
    /// Seeded random weights written to a scratch file.
    Random {
        /// The file written.
        path: PathBuf,
        /// The seed.
        seed: u64,
    },
}

impl WeightsSource {
    /// The safetensors file.
    pub fn path(&self) -> &Path {
        match self {
            WeightsSource::Trained(p) => p,
            WeightsSource::Random { path, .. } => path,
        }
    }

    /// `trained (examples/…)` or `random (seed …)`.
    pub fn describe(&self) -> String {
        match self {
            WeightsSource::Trained(p) => format!("trained ({})", p.display()),
            WeightsSource::Random { seed, .. } => {
                format!("seeded random (seed {seed}; no trained weights shipped)")
            }
        }
    }
}

/// The trained weights beside `file` (`X.nn` → `X.safetensors`), else
/// seeded random ones written into `scratch`.
pub fn weights(file: &Path, plan: &Plan, scratch: &Path) -> anyhow::Result<WeightsSource> {
    let trained = file.with_extension("safetensors");
    if trained.is_file() {
        return Ok(WeightsSource::Trained(trained));
    }
    let seed = seed_for(&plan.model);
    let path = scratch.join(format!("{}.random.safetensors", plan.model));
    std::fs::write(&path, random_weights(plan, seed)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(WeightsSource::Random { path, seed })
}

/// A 64-bit seed for `name`.
fn seed_for(name: &str) -> u64 {
    name.bytes().fold(SEED, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64: a small deterministic generator (not for secrets; these are
/// stand-in weights and pixels).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Float32 safetensors with every parameter the plan names: weights
/// uniform in ±√(3/fan-in) (unit-variance activations), biases in ±0.1,
/// batchnorm parameters near the identity.
pub fn random_weights(plan: &Plan, seed: u64) -> anyhow::Result<Vec<u8>> {
    let mut rng = SplitMix(seed);
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
            .map_err(|e| anyhow::anyhow!("random weights for `{name}`: {e}"))?;
        views.push((name.clone(), view));
    }
    safetensors::serialize(views, None).map_err(|e| anyhow::anyhow!("random weights: {e}"))
}

/// Where the client's input comes from.
#[derive(Clone, Debug)]
pub struct InputSource {
    /// The `.npy` file of `batch` rows.
    pub path: PathBuf,
    /// What the rows are.
    pub description: String,
}

/// Write a `.npy` of `batch` rows for the plan's (single) input into
/// `scratch`: the bundled MNIST test images (cycled) when the input is
/// `[1, 28, 28]` or `[784]`, seeded random pixels in [0, 1) otherwise.
pub fn inputs(
    plan: &Plan,
    batch: usize,
    examples: &Path,
    scratch: &Path,
) -> anyhow::Result<InputSource> {
    let [spec] = plan.inputs.as_slice() else {
        bail!(
            "`{}` has {} inputs; bench runs networks with one client input",
            plan.model,
            plan.inputs.len()
        );
    };
    let info = plan.value(spec.value);
    let row_len = info.len();
    let mnist = match info.shape.as_slice() {
        [1, 28, 28] => Some("mnist_batch16.npy"),
        [784] => Some("mnist_batch16_flat.npy"),
        _ => None,
    };
    let (rows, description) = match mnist.map(|f| examples.join("inputs").join(f)) {
        Some(file) if file.is_file() => {
            let images = tensor_io::load_npy(&file)?.into_batch(&info.name, &info.shape)?;
            if images.rows == 0 {
                bail!("{} holds no image", file.display());
            }
            let data: Vec<f64> = (0..batch)
                .flat_map(|r| images.row(r % images.rows).to_vec())
                .collect();
            (
                data,
                format!(
                    "MNIST test images ({}, cycled to {batch} rows)",
                    file.display()
                ),
            )
        }
        _ => {
            let seed = seed_for(&plan.model) ^ 0x5eed;
            let mut rng = SplitMix(seed);
            (
                rng.vec(batch * row_len, 0.0, 1.0),
                format!("seeded random pixels in [0, 1) (seed {seed})"),
            )
        }
    };
    let mut shape = vec![batch];
    shape.extend_from_slice(&info.shape);
    let path = scratch.join(format!("{}.b{batch}.npy", plan.model));
    tensor_io::save_npy(&path, &Tensor { shape, data: rows }, NpyDtype::F32)?;
    Ok(InputSource { path, description })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_weights_bind_to_the_plan() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let file = locate("netC", &examples).unwrap();
        let plan = compile(&file, &Network::lan(), 1).unwrap().plan;
        let bytes = random_weights(&plan, 7).unwrap();
        assert_eq!(bytes, random_weights(&plan, 7).unwrap(), "deterministic");
        let bound = chimera_runtime::weights::bind(&plan, &bytes).unwrap();
        assert_eq!(bound.layers.len(), 4);
    }

    #[test]
    fn unknown_networks_are_named() {
        let err = locate("netZ", Path::new("examples"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("unknown network `netZ`: use one of netA, netB"),
            "{err}"
        );
    }
}
