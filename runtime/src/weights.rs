//! The server's weights: a safetensors file bound to a plan.
//!
//! A plan names, for every dense and conv2d step, the tensors it needs
//! ([`LinearParams`]): `<layer>.weight`, optionally `<layer>.bias`, and the
//! four tensors of a batchnorm folded into the layer. [`bind`] looks each one
//! up, checks its dtype (float32 or float64) and its shape against the
//! shape the plan implies, refuses NaN and infinities, folds batchnorm in
//! `f64`, and encodes the result in the plan's fixed-point format: weights
//! with `f` fraction bits, biases with the fraction bits of the layer's output
//! (`2f`, since the product of an `f`-bit input and an `f`-bit weight has
//! `2f`). Float copies of the folded parameters are kept for the oracle's
//! float mode.
//!
//! The weights are the server's secret. Nothing here prints or formats a
//! value: errors name the layer, the tensor and the element's index, never
//! its value, and [`LayerWeights`]'s `Debug` shows only shapes.

use crate::fixed::EncodeError;
use crate::plan::{BatchNormRef, Encoding, FixedFormat, LinearParams, Op, Plan, PlanHash};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

mod fold;
mod names;
pub mod stand_in;

/// The bound parameters of one dense or conv2d layer.
#[derive(Clone)]
pub struct LayerWeights {
    /// Layer name in the source.
    pub layer: String,
    /// `[out, in]` for dense, `[out_c, in_c, kh, kw]` for conv2d.
    pub weight_shape: Vec<usize>,
    /// Weights with batchnorm folded in, encoded with `f` fraction bits, row-major.
    pub weight: Vec<u64>,
    /// Bias (zero if absent) with batchnorm folded in, encoded with [`Self::bias_frac_bits`].
    pub bias: Vec<u64>,
    /// Fraction bits of [`Self::bias`]: those of the layer's output value (normally `2f`).
    pub bias_frac_bits: u32,
    /// The same weights as real numbers (after folding), for the float mode.
    pub weight_float: Vec<f64>,
    /// The same bias as real numbers (after folding).
    pub bias_float: Vec<f64>,
    /// The batchnorm folded into this layer, if any.
    pub folded_batchnorm: Option<String>,
}

impl LayerWeights {
    /// Number of outputs (rows of the weight matrix, or output channels).
    pub fn out_features(&self) -> usize {
        self.weight_shape.first().copied().unwrap_or(0)
    }
}

impl fmt::Debug for LayerWeights {
    /// Shapes only: weight values are secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerWeights")
            .field("layer", &self.layer)
            .field("weight_shape", &self.weight_shape)
            .field("bias_len", &self.bias.len())
            .field("bias_frac_bits", &self.bias_frac_bits)
            .field("folded_batchnorm", &self.folded_batchnorm)
            .finish_non_exhaustive()
    }
}

/// Every linear layer of one plan, bound to the server's tensors.
#[derive(Clone, Debug)]
pub struct BoundWeights {
    /// Hash of the plan these weights were checked against.
    pub plan_hash: PlanHash,
    /// By layer name.
    pub layers: BTreeMap<String, LayerWeights>,
    /// Tensors of the file that no layer of the plan uses (worth a warning:
    /// often a misspelt layer name).
    pub unused: Vec<String>,
}

impl BoundWeights {
    /// The bound parameters of a layer.
    pub fn layer(&self, name: &str) -> Option<&LayerWeights> {
        self.layers.get(name)
    }
}

/// Why the weights do not fit the plan. Every variant names the layer.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Wrapped with the file it came from.
    #[error("{path}: {source}")]
    InFile {
        /// File path.
        path: String,
        /// What is wrong.
        #[source]
        source: Box<WeightsError>,
    },
    /// The plan fails [`Plan::validate`] (malformed, or beyond the size
    /// limits): no weights are read for it.
    #[error(transparent)]
    InvalidPlan(#[from] crate::plan::PlanError),
    /// Not a safetensors file.
    #[error("not a readable safetensors file: {0}")]
    Format(String),
    /// A tensor the plan needs is absent.
    #[error("layer `{layer}`: the weights file has no tensor `{tensor}`{}", missing_hint(.close, *.available))]
    Missing {
        /// Layer name.
        layer: String,
        /// The tensor looked for.
        tensor: String,
        /// Tensors of the file whose names look close.
        close: Vec<String>,
        /// How many tensors the file has.
        available: usize,
    },
    /// A tensor of the wrong shape.
    #[error(
        "layer `{layer}`: tensor `{tensor}` has shape {found:?}, but the plan needs {expected:?}"
    )]
    Shape {
        /// Layer name.
        layer: String,
        /// Tensor name.
        tensor: String,
        /// Shape the plan implies.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor of an element type other than float32/float64.
    #[error("layer `{layer}`: tensor `{tensor}` has dtype {found}; weights must be F32 or F64")]
    Dtype {
        /// Layer name.
        layer: String,
        /// Tensor name.
        tensor: String,
        /// The dtype found.
        found: String,
    },
    /// A NaN or infinite element.
    #[error("layer `{layer}`: tensor `{tensor}` holds a NaN or infinite value at index {index:?}")]
    NotFinite {
        /// Layer name.
        layer: String,
        /// Tensor name.
        tensor: String,
        /// Index of the first offending element.
        index: Vec<usize>,
    },
    /// An element (after batchnorm folding) beyond the format's range.
    #[error("layer `{layer}`: tensor `{tensor}`{} at index {index:?} is too large for the fixed-point format: magnitudes must stay below {limit} with {frac_bits} fraction bits; use fewer fraction bits or rescale the layer", folded_note(.folded))]
    TooLarge {
        /// Layer name.
        layer: String,
        /// Tensor name.
        tensor: String,
        /// Index of the first offending element.
        index: Vec<usize>,
        /// The largest magnitude accepted.
        limit: f64,
        /// Fraction bits of the format.
        frac_bits: u32,
        /// The batchnorm folded in, if the folding made it too large.
        folded: Option<String>,
    },
    /// A batchnorm whose variance plus epsilon is not positive.
    #[error("layer `{layer}`: batchnorm `{batchnorm}` has var + eps <= 0 at channel {channel}")]
    BadVariance {
        /// Layer name.
        layer: String,
        /// Batchnorm layer name.
        batchnorm: String,
        /// The channel.
        channel: usize,
    },
    /// The plan itself gives the layer an impossible input (a malformed plan).
    #[error("layer `{layer}`: {reason}")]
    Plan {
        /// Layer name.
        layer: String,
        /// What is inconsistent.
        reason: String,
    },
}

fn missing_hint(close: &[String], available: usize) -> String {
    if available == 0 {
        "; the file holds no tensor at all".to_string()
    } else if close.is_empty() {
        format!("; none of its {available} tensors looks close")
    } else {
        format!(
            "; tensors that look close: {}",
            close
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn folded_note(folded: &Option<String>) -> String {
    match folded {
        Some(bn) => format!(" (after folding batchnorm `{bn}`)"),
        None => String::new(),
    }
}

/// What a plan needs of one linear layer.
struct Need<'p> {
    params: &'p LinearParams,
    weight_shape: Vec<usize>,
    bias_frac_bits: u32,
}

/// The needs of every linear layer of `plan`, checked for consistency.
fn needs(plan: &Plan) -> Result<Vec<Need<'_>>, WeightsError> {
    let mut out: Vec<Need<'_>> = Vec::new();
    for step in &plan.steps {
        let Some(params) = step.op.linear_params() else {
            continue;
        };
        let plan_err = |reason: String| WeightsError::Plan {
            layer: params.layer.clone(),
            reason,
        };
        let input = step
            .inputs
            .first()
            .and_then(|v| plan.values.get(v.index()))
            .ok_or_else(|| plan_err("the step has no input value".into()))?;
        let weight_shape = match &step.op {
            Op::Dense { out_features, .. } => vec![*out_features, input.len()],
            Op::Conv2d {
                out_channels,
                kernel,
                ..
            } => match input.shape.as_slice() {
                [c, _, _] => vec![*out_channels, *c, kernel[0], kernel[1]],
                other => {
                    return Err(plan_err(format!(
                        "conv2d needs a [c, h, w] input, the plan gives {other:?}"
                    )))
                }
            },
            _ => continue,
        };
        let output = plan
            .values
            .get(step.output.index())
            .ok_or_else(|| plan_err("the step's output value is out of range".into()))?;
        let bias_frac_bits = match output.encoding {
            Encoding::Fixed { frac_bits } => frac_bits,
            Encoding::Integer => {
                return Err(plan_err("a linear layer cannot output an integer".into()))
            }
        };
        if let Some(prev) = out.iter().find(|n| n.params.layer == params.layer) {
            if prev.params != params
                || prev.weight_shape != weight_shape
                || prev.bias_frac_bits != bias_frac_bits
            {
                return Err(plan_err(
                    "two steps of the plan use this layer name with different parameters".into(),
                ));
            }
            continue;
        }
        out.push(Need {
            params,
            weight_shape,
            bias_frac_bits,
        });
    }
    Ok(out)
}

/// A tensor read from the file, widened to `f64` and checked finite.
struct Loaded {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// Look up, type-check, shape-check and finiteness-check one tensor.
fn load_tensor(
    file: &SafeTensors<'_>,
    layer: &str,
    name: &str,
    expected: &[usize],
) -> Result<Loaded, WeightsError> {
    let view = file.tensor(name).map_err(|_| {
        let all = file.names();
        WeightsError::Missing {
            layer: layer.to_string(),
            tensor: name.to_string(),
            close: names::close_names(name, layer, &all),
            available: all.len(),
        }
    })?;
    if view.shape() != expected {
        return Err(WeightsError::Shape {
            layer: layer.to_string(),
            tensor: name.to_string(),
            expected: expected.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let data: Vec<f64> = match view.dtype() {
        Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Dtype::F64 => view
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        other => {
            return Err(WeightsError::Dtype {
                layer: layer.to_string(),
                tensor: name.to_string(),
                found: format!("{other:?}"),
            })
        }
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(WeightsError::NotFinite {
            layer: layer.to_string(),
            tensor: name.to_string(),
            index: unravel(i, expected),
        });
    }
    Ok(Loaded {
        shape: expected.to_vec(),
        data,
    })
}

/// The multi-index of flat position `i` in a row-major tensor of `shape`.
pub(crate) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    index
}

/// Encode real values with `frac_bits` fraction bits, naming the first one out of range.
fn encode_all(
    format: &FixedFormat,
    values: &[f64],
    frac_bits: u32,
    shape: &[usize],
    layer: &str,
    tensor: &str,
    folded: &Option<String>,
) -> Result<Vec<u64>, WeightsError> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            format.encode_with(v, frac_bits).map_err(|e| match e {
                EncodeError::NotFinite(_) => WeightsError::NotFinite {
                    layer: layer.to_string(),
                    tensor: tensor.to_string(),
                    index: unravel(i, shape),
                },
                EncodeError::TooLarge { limit, .. } => WeightsError::TooLarge {
                    layer: layer.to_string(),
                    tensor: tensor.to_string(),
                    index: unravel(i, shape),
                    limit,
                    frac_bits: format.frac_bits,
                    folded: folded.clone(),
                },
            })
        })
        .collect()
}

/// Bind the bytes of a safetensors file to `plan`: every linear layer's
/// tensors are found, checked, folded and encoded (see the module doc).
pub fn bind(plan: &Plan, safetensors_bytes: &[u8]) -> Result<BoundWeights, WeightsError> {
    // A plan is sized here (biases, masks) only once it is valid.
    plan.validate()?;
    let file = SafeTensors::deserialize(safetensors_bytes)
        .map_err(|e| WeightsError::Format(e.to_string()))?;
    let plan_hash = plan.hash().map_err(|e| WeightsError::Plan {
        layer: plan.model.clone(),
        reason: e.to_string(),
    })?;
    let mut used: Vec<&str> = Vec::new();
    let mut layers = BTreeMap::new();
    for need in needs(plan)? {
        let p = need.params;
        let out = need.weight_shape[0];
        let weight = load_tensor(&file, &p.layer, &p.weight, &need.weight_shape)?;
        used.push(&p.weight);
        let bias = match &p.bias {
            Some(name) => {
                used.push(name);
                load_tensor(&file, &p.layer, name, &[out])?.data
            }
            None => vec![0.0; out],
        };
        let (weight_float, bias_float, weight_tensor, bias_tensor) = match &p.batchnorm {
            Some(bn) => {
                let bn_tensors = load_batchnorm(&file, &p.layer, bn, out)?;
                used.extend([&bn.gamma, &bn.beta, &bn.mean, &bn.var].map(String::as_str));
                let (w, b) = fold::fold_batchnorm(&p.layer, bn, &weight.data, &bias, &bn_tensors)?;
                (
                    w,
                    b,
                    p.weight.clone(),
                    p.bias.clone().unwrap_or_else(|| bn.beta.clone()),
                )
            }
            None => (
                weight.data,
                bias,
                p.weight.clone(),
                p.bias.clone().unwrap_or_default(),
            ),
        };
        let folded = p.batchnorm.as_ref().map(|bn| bn.layer.clone());
        let f = plan.fixed.frac_bits;
        let weight_fixed = encode_all(
            &plan.fixed,
            &weight_float,
            f,
            &weight.shape,
            &p.layer,
            &weight_tensor,
            &folded,
        )?;
        let bias_fixed = encode_all(
            &plan.fixed,
            &bias_float,
            need.bias_frac_bits,
            &[out],
            &p.layer,
            &bias_tensor,
            &folded,
        )?;
        layers.insert(
            p.layer.clone(),
            LayerWeights {
                layer: p.layer.clone(),
                weight_shape: need.weight_shape.clone(),
                weight: weight_fixed,
                bias: bias_fixed,
                bias_frac_bits: need.bias_frac_bits,
                weight_float,
                bias_float,
                folded_batchnorm: folded,
            },
        );
    }
    let mut unused: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !used.contains(n))
        .map(str::to_string)
        .collect();
    unused.sort();
    Ok(BoundWeights {
        plan_hash,
        layers,
        unused,
    })
}

/// The four per-channel tensors of a batchnorm, in the order gamma, beta, mean, var.
fn load_batchnorm(
    file: &SafeTensors<'_>,
    layer: &str,
    bn: &BatchNormRef,
    channels: usize,
) -> Result<[Vec<f64>; 4], WeightsError> {
    let get = |name: &str| load_tensor(file, layer, name, &[channels]).map(|t| t.data);
    Ok([
        get(&bn.gamma)?,
        get(&bn.beta)?,
        get(&bn.mean)?,
        get(&bn.var)?,
    ])
}

/// Read a safetensors file and [`bind`] it; errors name the file.
pub fn load(plan: &Plan, path: &Path) -> Result<BoundWeights, WeightsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: shown.clone(),
        source,
    })?;
    bind(plan, &bytes).map_err(|e| WeightsError::InFile {
        path: shown,
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests;
