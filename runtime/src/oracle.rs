//! The plaintext oracle: executes a plan in the clear, on bound weights and a
//! batch of inputs.
//!
//! In [`Mode::Fixed`] it has exactly the fixed-point semantics of the secure
//! runtime: every value is a wrapping `u64` ring element, inputs are encoded
//! with their value's fraction bits (round to nearest), weights and biases
//! as [`crate::weights`] encoded them, and `Truncate` is an arithmetic shift
//! right (rounding toward minus infinity). The secure A-protocol truncation
//! is probabilistic and may give one unit less than this shift; B and Y
//! shift exactly (see `docs/fixed-point.md`). Protocol annotations and
//! `Convert` steps do not change a value.
//!
//! In [`Mode::Float`] the same network runs in `f64` on the unencoded
//! weights: `Truncate` and `Convert` are the identity and the constants of
//! `MulConst`, `AddConst` and `Clamp` are read as real numbers. [`compare`]
//! runs both modes side by side and reports, per step, the error of the
//! fixed result against the float one and how close the ring values came to
//! overflowing ([`report`]).
//!
//! Batches are processed in chunks of [`CHUNK_ROWS`] rows, each chunk with
//! every layer's kernel applied to all its rows at once.
//!
//! ```no_run
//! use chimera_runtime::{oracle, plan::SavedPlan, tensor_io, weights};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let saved = SavedPlan::load("netD.ron".as_ref())?;
//! let plan = &saved.plan;
//! let bound = weights::load(plan, "examples/netD_chameleon.safetensors".as_ref())?;
//! let x = plan.value(plan.inputs[0].value);
//! let batch = tensor_io::load_npy("examples/inputs/mnist_batch16.npy".as_ref())?
//!     .into_batch(&x.name, &x.shape)?;
//! let result = oracle::evaluate(plan, &bound, &[batch], oracle::Mode::Fixed)?;
//! for r in 0..result.rows {
//!     println!("row {r}: label {:?}", result.outputs[0].label(r));
//! }
//! # Ok(())
//! # }
//! ```

use crate::fixed::EncodeError;
use crate::plan::{Encoding, Party, Plan, PlanError, Reveal};
use crate::tensor_io::Batch;
use crate::weights::BoundWeights;

mod bound;
mod exec;
mod kernels;
pub mod report;

pub use bound::deviation_bounds;
use exec::{frac_bits_of, Domain, Executor, Fixed, Float};
pub use report::{Comparison, LayerReport, StepStats, Tolerance};

/// Rows evaluated together; bounds the memory of large batches.
pub const CHUNK_ROWS: usize = 64;

/// Which arithmetic the oracle uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Wrapping 64-bit ring arithmetic, bit-exact with the secure runtime
    /// (up to the ±1 ulp of A truncations).
    Fixed,
    /// `f64` arithmetic on real numbers.
    Float,
}

impl Mode {
    /// `fixed` or `float`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Fixed => "fixed",
            Mode::Float => "float",
        }
    }
}

/// One output statement's values for every row.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// Name of the output in the program.
    pub name: String,
    /// What is revealed.
    pub reveal: Reveal,
    /// Who learns it.
    pub to: Party,
    /// Shape of one row's value.
    pub shape: Vec<usize>,
    /// Encoding of the value in the ring.
    pub encoding: Encoding,
    /// Number of rows.
    pub rows: usize,
    /// The raw ring elements (fixed mode only), row-major.
    pub ring: Option<Vec<u64>>,
    /// The values as numbers (decoded in fixed mode), row-major.
    pub values: Vec<f64>,
}

impl Output {
    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values of row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        let n = self.row_len();
        &self.values[r * n..(r + 1) * n]
    }

    /// The label of row `r`, for an integer-encoded output (argmax).
    pub fn label(&self, r: usize) -> Option<usize> {
        match self.encoding {
            Encoding::Integer => self.row(r).first().map(|&v| v as usize),
            Encoding::Fixed { .. } => None,
        }
    }
}

/// Everything a run reveals, for every row.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The mode used.
    pub mode: Mode,
    /// Number of rows.
    pub rows: usize,
    /// One entry per output statement of the plan, in order.
    pub outputs: Vec<Output>,
}

/// Why the oracle cannot run.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The plan breaks a structural invariant.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The weights were bound to another plan.
    #[error("the weights were bound to plan {bound}, not to this plan {plan}; bind them again")]
    WrongPlan {
        /// Hash the weights were bound to.
        bound: String,
        /// Hash of the plan given.
        plan: String,
    },
    /// A step whose shapes do not agree (a malformed plan).
    #[error("step {step} ({op} of layer `{layer}`): {reason}")]
    Step {
        /// Step index.
        step: usize,
        /// Layer name.
        layer: String,
        /// Operation name.
        op: &'static str,
        /// What is inconsistent.
        reason: String,
    },
    /// Not one batch per plan input, or batches of different sizes.
    #[error("{0}")]
    Inputs(String),
    /// An input element that cannot be encoded.
    #[error("input `{input}`, row {row}, element {index:?}: {source}")]
    Encode {
        /// Input name.
        input: String,
        /// Row of the batch.
        row: usize,
        /// Index within the row.
        index: Vec<usize>,
        /// Why.
        source: EncodeError,
    },
    /// A fractional element for an integer-encoded input.
    #[error("input `{input}`, row {row}, element {index:?}: the input is an integer, this element has a fraction")]
    NotInteger {
        /// Input name.
        input: String,
        /// Row of the batch.
        row: usize,
        /// Index within the row.
        index: Vec<usize>,
    },
}

/// Check that the plan, its weights and the inputs belong together.
fn prepare(plan: &Plan, weights: &BoundWeights, inputs: &[Batch]) -> Result<usize, OracleError> {
    plan.validate()?;
    let hash = plan.hash()?;
    if hash != weights.plan_hash {
        return Err(OracleError::WrongPlan {
            bound: weights.plan_hash.short(),
            plan: hash.short(),
        });
    }
    exec::check_shapes(plan, weights)?;
    if inputs.len() != plan.inputs.len() {
        return Err(OracleError::Inputs(format!(
            "the plan has {} input(s), {} batch(es) were given",
            plan.inputs.len(),
            inputs.len()
        )));
    }
    let rows = inputs.first().map_or(1, |b| b.rows);
    for (spec, batch) in plan.inputs.iter().zip(inputs) {
        let info = plan.value(spec.value);
        if batch.row_shape != info.shape {
            return Err(OracleError::Inputs(format!(
                "input `{}` has shape {:?}, the batch gives rows of {:?}",
                info.name, info.shape, batch.row_shape
            )));
        }
        if batch.rows != rows {
            return Err(OracleError::Inputs(format!(
                "input `{}` has {} rows, the first input {rows}",
                info.name, batch.rows
            )));
        }
        if batch.data.len() != batch.rows * batch.row_len() {
            return Err(OracleError::Inputs(format!(
                "input `{}`: {} elements do not make {} rows of {:?}",
                info.name,
                batch.data.len(),
                batch.rows,
                batch.row_shape
            )));
        }
    }
    Ok(rows)
}

/// Encode rows `start..end` of every input in the fixed-point format.
fn encode_inputs(
    plan: &Plan,
    inputs: &[Batch],
    start: usize,
    end: usize,
) -> Result<Vec<Vec<u64>>, OracleError> {
    (0..plan.inputs.len())
        .zip(inputs)
        .map(|(i, batch)| encode_rows(plan, i, batch, start, end))
        .collect()
}

/// Encode rows `start..end` of `batch` for plan input number `input`.
fn encode_rows(
    plan: &Plan,
    input: usize,
    batch: &Batch,
    start: usize,
    end: usize,
) -> Result<Vec<u64>, OracleError> {
    let info = plan.value(plan.inputs[input].value);
    let n = batch.row_len();
    let frac = frac_bits_of(info.encoding).unwrap_or(0);
    batch.data[start * n..end * n]
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (row, index) = (
                start + i / n.max(1),
                crate::weights::unravel(i % n.max(1), &info.shape),
            );
            match info.encoding {
                Encoding::Integer if v.is_finite() && v.fract() != 0.0 => {
                    Err(OracleError::NotInteger {
                        input: info.name.clone(),
                        row,
                        index,
                    })
                }
                _ => plan
                    .fixed
                    .encode_with(v, frac)
                    .map_err(|source| OracleError::Encode {
                        input: info.name.clone(),
                        row,
                        index,
                        source,
                    }),
            }
        })
        .collect()
}

/// Encode a batch for plan input number `input` (an index into
/// [`Plan::inputs`]) exactly as the oracle does: the ring elements the client
/// secret-shares. Errors name the input, the row and the element.
pub fn encode_batch(plan: &Plan, input: usize, batch: &Batch) -> Result<Vec<u64>, OracleError> {
    let spec = plan
        .inputs
        .get(input)
        .ok_or_else(|| OracleError::Inputs(format!("the plan has no input number {input}")))?;
    let info = plan.value(spec.value);
    if batch.row_shape != info.shape || batch.data.len() != batch.rows * batch.row_len() {
        return Err(OracleError::Inputs(format!(
            "input `{}` has shape {:?}, the batch gives {} rows of {:?}",
            info.name, info.shape, batch.rows, batch.row_shape
        )));
    }
    encode_rows(plan, input, batch, 0, batch.rows)
}

/// The [`Output`] of plan output number `index` from its raw ring elements
/// for `rows` rows (what the client reconstructs after a secure run),
/// decoded exactly as the oracle decodes its own.
pub fn decode_output(plan: &Plan, index: usize, rows: usize, ring: &[u64]) -> Option<Output> {
    let spec = plan.outputs.get(index)?;
    let info = plan.value(spec.value);
    if ring.len() != rows * info.len() {
        return None;
    }
    let mut out = Output {
        name: spec.name.clone(),
        reveal: spec.reveal,
        to: spec.to,
        shape: info.shape.clone(),
        encoding: info.encoding,
        rows,
        ring: Some(Vec::with_capacity(ring.len())),
        values: Vec::with_capacity(ring.len()),
    };
    out.push_ring(&plan.fixed, ring);
    Some(out)
}

impl Output {
    /// Append ring elements, decoding them with this output's encoding.
    fn push_ring(&mut self, format: &crate::plan::FixedFormat, ring: &[u64]) {
        let encoding = self.encoding;
        self.values.extend(ring.iter().map(|&x| match encoding {
            Encoding::Fixed { frac_bits } => format.decode_with(x, frac_bits),
            Encoding::Integer => x as i64 as f64,
        }));
        if let Some(r) = self.ring.as_mut() {
            r.extend_from_slice(ring);
        }
    }
}

/// Rows `start..end` of every input as reals.
fn float_inputs(inputs: &[Batch], start: usize, end: usize) -> Vec<Vec<f64>> {
    inputs
        .iter()
        .map(|b| b.data[start * b.row_len()..end * b.row_len()].to_vec())
        .collect()
}

/// Empty outputs of the plan, to be filled chunk by chunk.
fn empty_outputs(plan: &Plan, mode: Mode, rows: usize) -> Vec<Output> {
    plan.outputs
        .iter()
        .map(|o| {
            let info = plan.value(o.value);
            Output {
                name: o.name.clone(),
                reveal: o.reveal,
                to: o.to,
                shape: info.shape.clone(),
                encoding: info.encoding,
                rows,
                ring: (mode == Mode::Fixed).then(Vec::new),
                values: Vec::with_capacity(rows * info.len()),
            }
        })
        .collect()
}

/// Append the outputs of a finished fixed-mode chunk.
fn collect_fixed(plan: &Plan, exec: &Executor<'_, Fixed>, outputs: &mut [Output]) {
    for (spec, out) in plan.outputs.iter().zip(outputs) {
        out.push_ring(&plan.fixed, exec.value(spec.value).unwrap_or(&[]));
    }
}

/// Append the outputs of a finished float-mode chunk.
fn collect_float(plan: &Plan, exec: &Executor<'_, Float>, outputs: &mut [Output]) {
    for (spec, out) in plan.outputs.iter().zip(outputs) {
        out.values
            .extend_from_slice(exec.value(spec.value).unwrap_or(&[]));
    }
}

/// Run every step of one chunk.
fn run_all<D: Domain>(exec: &mut Executor<'_, D>, steps: usize) {
    for i in 0..steps {
        exec.run_step(i);
        exec.free_after(i);
    }
}

/// Execute `plan` on `inputs` (one batch per plan input, in the plan's
/// order, all with the same number of rows) in the given mode.
pub fn evaluate(
    plan: &Plan,
    weights: &BoundWeights,
    inputs: &[Batch],
    mode: Mode,
) -> Result<Evaluation, OracleError> {
    let rows = prepare(plan, weights, inputs)?;
    let mut outputs = empty_outputs(plan, mode, rows);
    for start in (0..rows).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(rows);
        match mode {
            Mode::Fixed => {
                let encoded = encode_inputs(plan, inputs, start, end)?;
                let mut exec = Executor::<Fixed>::new(plan, weights, end - start, encoded);
                run_all(&mut exec, plan.steps.len());
                collect_fixed(plan, &exec, &mut outputs);
            }
            Mode::Float => {
                let mut exec = Executor::<Float>::new(
                    plan,
                    weights,
                    end - start,
                    float_inputs(inputs, start, end),
                );
                run_all(&mut exec, plan.steps.len());
                collect_float(plan, &exec, &mut outputs);
            }
        }
    }
    Ok(Evaluation {
        mode,
        rows,
        outputs,
    })
}

/// Run both modes side by side and measure, for every step, the fixed
/// result's error against the float one and its distance to overflow.
pub fn compare(
    plan: &Plan,
    weights: &BoundWeights,
    inputs: &[Batch],
    tolerance: Tolerance,
) -> Result<Comparison, OracleError> {
    let rows = prepare(plan, weights, inputs)?;
    let mut fixed_out = empty_outputs(plan, Mode::Fixed, rows);
    let mut float_out = empty_outputs(plan, Mode::Float, rows);
    let mut stats = report::Accumulator::new(plan);
    for start in (0..rows).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(rows);
        let encoded = encode_inputs(plan, inputs, start, end)?;
        let mut fx = Executor::<Fixed>::new(plan, weights, end - start, encoded);
        let mut fl =
            Executor::<Float>::new(plan, weights, end - start, float_inputs(inputs, start, end));
        for i in 0..plan.steps.len() {
            fx.run_step(i);
            fl.run_step(i);
            let out = plan.steps[i].output;
            stats.add(
                i,
                fx.value(out).unwrap_or(&[]),
                fl.value(out).unwrap_or(&[]),
            );
            fx.free_after(i);
            fl.free_after(i);
        }
        collect_fixed(plan, &fx, &mut fixed_out);
        collect_float(plan, &fl, &mut float_out);
    }
    Ok(Comparison {
        fixed: Evaluation {
            mode: Mode::Fixed,
            rows,
            outputs: fixed_out,
        },
        float: Evaluation {
            mode: Mode::Float,
            rows,
            outputs: float_out,
        },
        report: stats.finish(tolerance),
    })
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
