//! The step interpreter, generic over the two number domains.
//!
//! [`Domain`] says how the plan's constants, weights and truncations read in
//! each mode: in [`Fixed`] everything is a wrapping ring element and
//! `Truncate` is an arithmetic shift; in [`Float`] constants are decoded to
//! reals with their fraction bits and `Truncate` and `Convert` are the
//! identity. [`Executor`] runs one plan step by step on a batch of rows,
//! freeing every value after its last use so that large batches stay small
//! in memory.

use super::kernels::{self, Geometry, Num};
use super::OracleError;
use crate::fixed::shift_right;
use crate::plan::{Encoding, Op, Plan, Step, ValueId};
use crate::weights::{BoundWeights, LayerWeights};

/// How one number domain reads the plan.
pub(crate) trait Domain {
    /// The element type.
    type T: Num;
    /// The layer's weights and bias in this domain.
    fn params(lw: &LayerWeights) -> (&[Self::T], &[Self::T]);
    /// A ring constant `c` of a value with `frac_bits` fraction bits
    /// (`None` for an integer).
    fn constant(c: i64, frac_bits: Option<u32>) -> Self::T;
    /// Apply `Truncate { bits }` in place.
    fn truncate(x: &mut [Self::T], bits: u32);
    /// An integer (argmax index).
    fn index(i: usize) -> Self::T;
}

/// Wrapping `u64` arithmetic: exactly the secure runtime's semantics.
pub(crate) struct Fixed;

/// `f64` arithmetic on decoded values.
pub(crate) struct Float;

impl Domain for Fixed {
    type T = u64;
    fn params(lw: &LayerWeights) -> (&[u64], &[u64]) {
        (&lw.weight, &lw.bias)
    }
    fn constant(c: i64, _frac_bits: Option<u32>) -> u64 {
        c as u64
    }
    fn truncate(x: &mut [u64], bits: u32) {
        for v in x {
            *v = shift_right(*v, bits);
        }
    }
    fn index(i: usize) -> u64 {
        i as u64
    }
}

impl Domain for Float {
    type T = f64;
    fn params(lw: &LayerWeights) -> (&[f64], &[f64]) {
        (&lw.weight_float, &lw.bias_float)
    }
    fn constant(c: i64, frac_bits: Option<u32>) -> f64 {
        c as f64 / (frac_bits.unwrap_or(0) as f64).exp2()
    }
    fn truncate(_x: &mut [f64], _bits: u32) {}
    fn index(i: usize) -> f64 {
        i as f64
    }
}

/// Fraction bits of an encoding (`None` for integers).
pub(crate) fn frac_bits_of(encoding: Encoding) -> Option<u32> {
    match encoding {
        Encoding::Fixed { frac_bits } => Some(frac_bits),
        Encoding::Integer => None,
    }
}

/// Check that every step's shapes agree with its operation and the bound
/// weights, so the kernels can index without further checks. A plan loaded
/// from disk passed [`Plan::validate`] (ids, order, arity), but its shapes
/// are only checked here.
pub(crate) fn check_shapes(plan: &Plan, weights: &BoundWeights) -> Result<(), OracleError> {
    for (i, step) in plan.steps.iter().enumerate() {
        let bad = |reason: String| OracleError::Step {
            step: i,
            layer: step.layer.clone(),
            op: step.op.name(),
            reason,
        };
        let shape = |v: ValueId| &plan.value(v).shape;
        let len = |v: ValueId| plan.value(v).len();
        let x = step.inputs[0];
        let out = step.output;
        match &step.op {
            Op::Dense {
                out_features,
                params,
            } => {
                let lw = weights
                    .layer(&params.layer)
                    .ok_or_else(|| bad(format!("no weights bound for layer `{}`", params.layer)))?;
                if lw.weight_shape != [*out_features, len(x)] || shape(out) != &[*out_features] {
                    return Err(bad(format!(
                        "input {:?}, output {:?} and weights {:?} disagree",
                        shape(x),
                        shape(out),
                        lw.weight_shape
                    )));
                }
            }
            Op::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                params,
            } => {
                let lw = weights
                    .layer(&params.layer)
                    .ok_or_else(|| bad(format!("no weights bound for layer `{}`", params.layer)))?;
                let g = conv_geometry(plan, step, *kernel, *stride, *padding).map_err(&bad)?;
                let want_w = [*out_channels, g.input[0], kernel[0], kernel[1]];
                let want_out = [*out_channels, g.output[0], g.output[1]];
                if lw.weight_shape != want_w || shape(out) != &want_out {
                    return Err(bad(format!(
                        "input {:?} gives output {want_out:?} and weights {want_w:?}, the plan has {:?} and the weights {:?}",
                        shape(x),
                        shape(out),
                        lw.weight_shape
                    )));
                }
            }
            Op::MaxPool { kernel, stride } | Op::SumPool { kernel, stride } => {
                let g = conv_geometry(plan, step, *kernel, *stride, [0, 0]).map_err(&bad)?;
                let want = [g.input[0], g.output[0], g.output[1]];
                if shape(out) != &want {
                    return Err(bad(format!(
                        "input {:?} gives {want:?}, the plan says {:?}",
                        shape(x),
                        shape(out)
                    )));
                }
            }
            Op::Add | Op::Sub | Op::Mul => {
                let y = step.inputs[1];
                if len(x) != len(out) || len(y) != len(out) {
                    return Err(bad(format!(
                        "operands {:?} and {:?} and result {:?} differ in size",
                        shape(x),
                        shape(y),
                        shape(out)
                    )));
                }
            }
            Op::Argmax => {
                if len(x) == 0 || len(out) != 1 {
                    return Err(bad(format!(
                        "argmax of {:?} into {:?}",
                        shape(x),
                        shape(out)
                    )));
                }
            }
            Op::Truncate { bits } if *bits >= 64 => {
                return Err(bad(format!(
                    "a shift by {bits} bits leaves nothing of a 64-bit ring element"
                )));
            }
            Op::Relu
            | Op::Reshape
            | Op::AddConst { .. }
            | Op::MulConst { .. }
            | Op::Square
            | Op::Truncate { .. }
            | Op::Clamp { .. }
            | Op::Convert => {
                if len(x) != len(out) {
                    return Err(bad(format!(
                        "input {:?} and output {:?} differ in size",
                        shape(x),
                        shape(out)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The geometry of a window operation, checked against the input shape.
fn conv_geometry(
    plan: &Plan,
    step: &Step,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<Geometry, String> {
    let input = &plan.value(step.inputs[0]).shape;
    let [c, h, w] = input.as_slice() else {
        return Err(format!("needs a [c, h, w] input, got {input:?}"));
    };
    if kernel.contains(&0) || stride.contains(&0) {
        return Err(format!(
            "kernel {kernel:?} and stride {stride:?} must be positive"
        ));
    }
    let out_dim = |n: usize, axis: usize| {
        (n + 2 * padding[axis])
            .checked_sub(kernel[axis])
            .map(|d| d / stride[axis] + 1)
            .ok_or_else(|| format!("kernel {kernel:?} is larger than the padded input {input:?}"))
    };
    let output = [out_dim(*h, 0)?, out_dim(*w, 1)?];
    Ok(Geometry {
        input: [*c, *h, *w],
        output,
        kernel,
        stride,
        padding,
    })
}

/// Runs a plan on a batch in one domain.
pub(crate) struct Executor<'a, D: Domain> {
    plan: &'a Plan,
    weights: &'a BoundWeights,
    rows: usize,
    values: Vec<Option<Vec<D::T>>>,
    last_use: Vec<usize>,
}

impl<'a, D: Domain> Executor<'a, D> {
    /// A new executor with the plan's inputs set (already in the domain).
    pub(crate) fn new(
        plan: &'a Plan,
        weights: &'a BoundWeights,
        rows: usize,
        inputs: Vec<Vec<D::T>>,
    ) -> Self {
        let mut values: Vec<Option<Vec<D::T>>> = vec![None; plan.values.len()];
        for (spec, data) in plan.inputs.iter().zip(inputs) {
            values[spec.value.index()] = Some(data);
        }
        let mut last_use = vec![0usize; plan.values.len()];
        for (i, step) in plan.steps.iter().enumerate() {
            for v in &step.inputs {
                last_use[v.index()] = i;
            }
        }
        for out in &plan.outputs {
            last_use[out.value.index()] = usize::MAX;
        }
        Executor {
            plan,
            weights,
            rows,
            values,
            last_use,
        }
    }

    /// The current content of a value (`None` once freed or before it is defined).
    pub(crate) fn value(&self, id: ValueId) -> Option<&[D::T]> {
        self.values[id.index()].as_deref()
    }

    /// Drop the values whose last reader is step `i`.
    pub(crate) fn free_after(&mut self, i: usize) {
        for v in &self.plan.steps[i].inputs {
            if self.last_use[v.index()] == i {
                self.values[v.index()] = None;
            }
        }
    }

    fn operand(&self, id: ValueId) -> &[D::T] {
        // check_shapes and Plan::validate guarantee that operands are defined.
        self.values[id.index()].as_deref().unwrap_or(&[])
    }

    /// Execute step `i`.
    pub(crate) fn run_step(&mut self, i: usize) {
        let plan = self.plan;
        let step = &plan.steps[i];
        let rows = self.rows;
        let x_info = plan.value(step.inputs[0]);
        let out_info = plan.value(step.output);
        let x = self.operand(step.inputs[0]);
        let elementwise = |f: &dyn Fn(D::T) -> D::T| x.iter().map(|&v| f(v)).collect::<Vec<_>>();
        let result: Vec<D::T> = match &step.op {
            Op::Dense {
                out_features,
                params,
            } => {
                let (w, b) = self.layer(&params.layer);
                kernels::dense(x, w, b, rows, x_info.len(), *out_features)
            }
            Op::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                params,
            } => {
                let (w, b) = self.layer(&params.layer);
                let g = geometry(
                    x_info.shape.as_slice(),
                    &out_info.shape,
                    *kernel,
                    *stride,
                    *padding,
                );
                kernels::conv2d(x, w, b, rows, &g, *out_channels)
            }
            Op::MaxPool { kernel, stride } | Op::SumPool { kernel, stride } => {
                let g = geometry(
                    x_info.shape.as_slice(),
                    &out_info.shape,
                    *kernel,
                    *stride,
                    [0, 0],
                );
                kernels::pool(x, rows, &g, matches!(step.op, Op::MaxPool { .. }))
            }
            Op::Relu => elementwise(&|v| {
                if v.gt(D::T::default()) {
                    v
                } else {
                    D::T::default()
                }
            }),
            Op::Reshape | Op::Convert => x.to_vec(),
            Op::Add | Op::Sub | Op::Mul => {
                let y = self.operand(step.inputs[1]);
                let f: fn(D::T, D::T) -> D::T = match step.op {
                    Op::Add => D::T::add,
                    Op::Sub => D::T::sub,
                    _ => D::T::mul,
                };
                x.iter().zip(y).map(|(&a, &b)| f(a, b)).collect()
            }
            Op::AddConst { c } => {
                let c = D::constant(*c, frac_bits_of(x_info.encoding));
                elementwise(&|v| v.add(c))
            }
            Op::MulConst { c } => {
                let c = D::constant(*c, Some(plan.fixed.frac_bits));
                elementwise(&|v| v.mul(c))
            }
            Op::Square => elementwise(&|v| v.mul(v)),
            Op::Truncate { bits } => {
                let mut y = x.to_vec();
                D::truncate(&mut y, *bits);
                y
            }
            Op::Clamp { lo, hi } => {
                let frac = frac_bits_of(x_info.encoding);
                let (lo, hi) = (D::constant(*lo, frac), D::constant(*hi, frac));
                elementwise(&|v| {
                    if lo.gt(v) {
                        lo
                    } else if v.gt(hi) {
                        hi
                    } else {
                        v
                    }
                })
            }
            Op::Argmax => kernels::argmax(x, x_info.len())
                .into_iter()
                .map(D::index)
                .collect(),
        };
        self.values[step.output.index()] = Some(result);
    }

    fn layer(&self, name: &str) -> (&'a [D::T], &'a [D::T]) {
        // check_shapes guarantees the layer is bound.
        match self.weights.layer(name) {
            Some(lw) => D::params(lw),
            None => (&[], &[]),
        }
    }
}

/// The geometry of a checked step (see [`check_shapes`]).
fn geometry(
    input: &[usize],
    output: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Geometry {
    Geometry {
        input: [input[0], input[1], input[2]],
        output: [output[1], output[2]],
        kernel,
        stride,
        padding,
    }
}
