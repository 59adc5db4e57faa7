//! The size limits of an executable plan, in one place.
//!
//! A plan is outside input: a client, a server or a dealer may load a `.ron`
//! file someone else wrote. Every party therefore checks the sizes that make
//! it allocate or compute, and refuses a plan beyond them before building
//! anything ([`Plan::validate`](crate::plan::Plan::validate), which
//! [`SavedPlan::load`](crate::plan::SavedPlan::load) runs). The compiler's
//! front end refuses a program beyond the same limits with a `too-large`
//! diagnostic (it calls the checks below), so every program it accepts gives
//! a plan every party runs, and a plan file it could not have produced is
//! refused by every party.
//!
//! Each limit is far beyond the networks Chimera runs (the largest example,
//! `cifar_minionn`, has 65,536 elements in its largest tensor, 36,864
//! weights and 3.8·10^7 multiply-adds in its largest layer, an argmax over
//! 10 scores) and well below what would exhaust a machine or overflow a
//! byte count. With every limit at its maximum, the cost model's counts stay
//! below 2^60: the largest are a maxpool's garbled tables (2^28 window reads
//! of about 2^7 ANDs each, over 2^16 rows, 32 bytes per AND: 2^56 bytes) and
//! a 2^24-element tensor in Yao over 2^16 rows (2^40 words of 2^10 label
//! bytes).
//!
//! | limit | bounds | because |
//! |---|---|---|
//! | [`MAX_ELEMENTS`] 2^24 | elements of one tensor, per row | every step allocates its operands and result per element |
//! | [`MAX_WEIGHTS`] 2^28 | weights of one dense or conv2d layer | the server holds them, the dealer deals a mask of each, the client receives them masked |
//! | [`MAX_MACS`] 2^32 | multiply-adds of one linear layer on one row | the dealer's matrix triple and both parties compute the layer in full |
//! | [`MAX_CIRCUIT_INPUTS`] 2^14 | scores of an argmax, elements of a maxpool window | each is one boolean circuit, built whole |
//! | [`MAX_POOL_READS`] 2^28 | window elements a pooling step reads, per row | the executor gathers every window element before pooling |
//! | [`MAX_BATCH`] 2^16 | rows of one query | the batch multiplies every per-row count |
//! | [`MAX_QUERY_WORDS`] 2^28 | the largest per-row size times the rows | one step's words over a whole query |

use crate::arith::linear::LinearShape;
use crate::plan::{Op, Plan, ValueId, ValueInfo};
use std::fmt;

/// Elements of one tensor (one value of one inference row): 2^24, 128 MiB of
/// ring elements. Every step allocates its operands and its result element
/// by element (and in Yao 64 wire labels of 16 bytes per element).
pub const MAX_ELEMENTS: usize = 1 << 24;

/// Weights of one dense or conv2d layer: 2^28, 2 GiB of ring elements. The
/// server binds them, the dealer deals a mask of the same size, and the
/// client receives them masked once per session.
pub const MAX_WEIGHTS: usize = 1 << 28;

/// Multiply-adds of one dense or conv2d layer on one row: 2^32, a few
/// seconds of one core. The dealer computes the layer on its masks for
/// every row of a query, and both parties compute it on theirs; a conv2d
/// within the element and weight limits could otherwise take hours (a
/// 1024×1024 kernel over a padded 2048×2048 image is 2^42).
pub const MAX_MACS: usize = 1 << 32;

/// Inputs of one boolean circuit: the scores of an argmax, the elements of
/// one maxpool window. Each is one circuit over all of them, built whole
/// to cost, garble or evaluate it: about 28 kB per input to build, so
/// 2^14 inputs take 1.3 s and 450 MB, and 2^18 took 38 s and 6.8 GB.
pub const MAX_CIRCUIT_INPUTS: usize = 1 << 14;

/// Window elements one maxpool or sumpool step reads on one row (output
/// elements times window size): 2^28. The executor gathers every window
/// element (an index and a word each) before pooling; the bound admits a
/// 4×4 window at stride 1 over the largest tensor.
pub const MAX_POOL_READS: usize = 1 << 28;

/// Rows of one query: 2^16. The batch multiplies every per-row count of the
/// cost model, the dealer's material and the executor's buffers.
pub const MAX_BATCH: usize = 1 << 16;

/// The largest per-row size of a plan ([`row_words`]) times the rows of a
/// query: 2^28, 2 GiB of ring elements for one step's words of one query.
/// A small network runs [`MAX_BATCH`] rows; one at the element limit, 16.
pub const MAX_QUERY_WORDS: usize = 1 << 28;

/// One of the limits above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// [`MAX_ELEMENTS`].
    Elements,
    /// [`MAX_WEIGHTS`].
    Weights,
    /// [`MAX_MACS`].
    Macs,
    /// [`MAX_CIRCUIT_INPUTS`].
    CircuitInputs,
    /// [`MAX_POOL_READS`].
    PoolReads,
    /// [`MAX_BATCH`].
    Batch,
    /// [`MAX_QUERY_WORDS`].
    QueryWords,
}

impl Limit {
    /// The largest size allowed.
    pub const fn max(self) -> usize {
        match self {
            Limit::Elements => MAX_ELEMENTS,
            Limit::Weights => MAX_WEIGHTS,
            Limit::Macs => MAX_MACS,
            Limit::CircuitInputs => MAX_CIRCUIT_INPUTS,
            Limit::PoolReads => MAX_POOL_READS,
            Limit::Batch => MAX_BATCH,
            Limit::QueryWords => MAX_QUERY_WORDS,
        }
    }

    /// What is counted, and per what, for messages.
    fn unit(self) -> (&'static str, &'static str) {
        match self {
            Limit::Elements => ("elements", "per tensor"),
            Limit::Weights => ("weights", "per linear layer"),
            Limit::Macs => ("multiply-adds", "per linear layer and row"),
            Limit::CircuitInputs => ("inputs", "per boolean circuit, which is built whole"),
            Limit::PoolReads => ("window reads", "per pooling step and row"),
            Limit::Batch => ("rows", "per query"),
            Limit::QueryWords => ("words", "per step over a query's rows"),
        }
    }

    /// `Ok(size)` if `size` (`None`: it overflows `usize`) is within this
    /// limit; otherwise what was measured (`what`) and by how much.
    pub fn check(self, what: impl Into<String>, size: Option<usize>) -> Result<usize, Exceeded> {
        match size {
            Some(n) if n <= self.max() => Ok(n),
            _ => Err(Exceeded {
                limit: self,
                what: what.into(),
                size,
            }),
        }
    }
}

/// A size beyond one of the limits: what was measured, its size, the limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Exceeded {
    /// The limit passed.
    pub limit: Limit,
    /// What was measured (`weights [1048576, 512]`, `argmax over the scores`).
    pub what: String,
    /// Its size; `None` if it overflows `usize`.
    pub size: Option<usize>,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, per) = self.limit.unit();
        let max = self.limit.max();
        match self.size {
            Some(n) => write!(f, "{}: {n} {unit}", self.what)?,
            None => write!(f, "{}: more than 2^64 {unit}", self.what)?,
        }
        write!(
            f,
            ", over the limit of {max} (2^{}) {unit} {per}",
            max.trailing_zeros()
        )
    }
}

/// Where a plan passes a limit: a value, a step, or a query's batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A value of the plan is too large.
    #[error("value {id} `{name}`: {exceeded}")]
    Value {
        /// The value.
        id: ValueId,
        /// Its name.
        name: String,
        /// What is too large.
        exceeded: Exceeded,
    },
    /// A step of the plan is too large.
    #[error("step {step} ({op}, layer `{layer}`): {exceeded}")]
    Step {
        /// Index in `Plan::steps`.
        step: usize,
        /// Operation name.
        op: &'static str,
        /// Source layer.
        layer: String,
        /// What is too large.
        exceeded: Exceeded,
    },
    /// A query of no rows.
    #[error("a query of 0 rows: a query needs at least one row")]
    NoRows,
    /// A query's batch is too large for the plan (or for any plan).
    #[error("a query of {rows} rows: {exceeded}")]
    Batch {
        /// The rows asked for.
        rows: usize,
        /// What is too large.
        exceeded: Exceeded,
    },
}

/// Product of `factors`, `None` on overflow.
pub fn product(factors: &[usize]) -> Option<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

fn show(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// A tensor of `shape` ([`MAX_ELEMENTS`]); `what` names it in the error.
/// Returns its element count.
pub fn tensor(what: &str, shape: &[usize]) -> Result<usize, Exceeded> {
    Limit::Elements.check(format!("{what} {}", show(shape)), product(shape))
}

/// A dense or conv2d layer: its result ([`MAX_ELEMENTS`]), its weights
/// ([`MAX_WEIGHTS`]) and its multiply-adds per row ([`MAX_MACS`]), in that
/// order. An impossible convolution geometry is not this check's concern
/// (the layer has no output and does no multiply-adds).
pub fn linear(shape: &LinearShape) -> Result<(), Exceeded> {
    if let Some(out) = shape.output_shape() {
        tensor("the output", &out)?;
    }
    let weights = shape.weight_shape();
    Limit::Weights.check(format!("weights {}", show(&weights)), product(&weights))?;
    Limit::Macs.check("the layer on one row", shape.checked_macs())?;
    Ok(())
}

/// An argmax over `scores` scores ([`MAX_CIRCUIT_INPUTS`]).
pub fn argmax(scores: usize) -> Result<(), Exceeded> {
    Limit::CircuitInputs
        .check(format!("an argmax over {scores} scores"), Some(scores))
        .map(drop)
}

/// A pooling step with a `kernel` window moved by `stride` over a
/// `[c, h, w]` input, no padding: a maxpool's window is one circuit
/// ([`MAX_CIRCUIT_INPUTS`], whatever the input), and the window elements
/// read on one row ([`MAX_POOL_READS`]) when the window fits the input
/// (one that does not reads nothing: it is a shape error).
pub fn pool(
    max: bool,
    input: [usize; 3],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> Result<(), Exceeded> {
    let [kh, kw] = kernel;
    let window = kh.checked_mul(kw);
    if max {
        Limit::CircuitInputs.check(format!("a maxpool window of {kh}×{kw}"), window)?;
    }
    let Some((windows, reads)) = window_reads(input, kernel, stride) else {
        return Ok(());
    };
    Limit::PoolReads
        .check(format!("{kh}×{kw} windows over {}", show(&windows)), reads)
        .map(drop)
}

/// The windows `[c, out_h, out_w]` a pooling step takes on one row of a
/// `[c, h, w]` input, and the elements they read (`None` if that overflows
/// `usize`); `None` when the window does not fit (it reads nothing: a shape
/// error).
fn window_reads(
    input: [usize; 3],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> Option<([usize; 3], Option<usize>)> {
    let [c, h, w] = input;
    let [kh, kw] = kernel;
    let [sy, sx] = stride;
    if kh == 0 || kw == 0 || sy == 0 || sx == 0 || kh > h || kw > w {
        return None;
    }
    let windows = [c, (h - kh) / sy + 1, (w - kw) / sx + 1];
    Some((
        windows,
        product(&windows).and_then(|n| product(&[n, kh, kw])),
    ))
}

/// The linear-layer shape a dense or conv2d step has on `input`, as the
/// executor builds it (`None` for another operation, or a conv2d whose
/// input is not an image, which the cost model refuses).
pub(crate) fn linear_of(op: &Op, input: &ValueInfo) -> Option<LinearShape> {
    match op {
        Op::Dense { out_features, .. } => Some(LinearShape::Dense {
            inputs: input.len(),
            outputs: *out_features,
        }),
        Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            ..
        } => LinearShape::conv2d_on(&input.shape, *out_channels, *kernel, *stride, *padding),
        _ => None,
    }
}

/// The limits of one step `op` reading `inputs` (already within
/// [`MAX_ELEMENTS`]): linear layers, argmax and pooling; every other
/// operation is elementwise, bounded by its values.
pub fn step(op: &Op, inputs: &[&ValueInfo]) -> Result<(), Exceeded> {
    let Some(x) = inputs.first() else {
        return Ok(());
    };
    match op {
        Op::Dense { .. } | Op::Conv2d { .. } => match linear_of(op, x) {
            Some(shape) => linear(&shape),
            None => Ok(()),
        },
        Op::Argmax => argmax(x.len()),
        Op::MaxPool { kernel, stride } | Op::SumPool { kernel, stride } => {
            let max = matches!(op, Op::MaxPool { .. });
            match x.shape[..] {
                [c, h, w] => pool(max, [c, h, w], *kernel, *stride),
                // Not an image: only the window of a maxpool is built.
                _ => pool(max, [0, 0, 0], *kernel, *stride),
            }
        }
        _ => Ok(()),
    }
}

/// Every limit of a plan whose ids are in range and whose steps have their
/// operands (what [`Plan::validate`](crate::plan::Plan::validate) checks
/// first): each value, then each step. Returns every problem found.
pub fn plan(plan: &Plan) -> Vec<LimitError> {
    let mut errors = Vec::new();
    for (i, v) in plan.values.iter().enumerate() {
        if let Err(exceeded) = tensor("shape", &v.shape) {
            errors.push(LimitError::Value {
                id: ValueId(i as u32),
                name: v.name.clone(),
                exceeded,
            });
        }
    }
    if !errors.is_empty() {
        // The steps' sizes are products of these.
        return errors;
    }
    for (i, s) in plan.steps.iter().enumerate() {
        let Some(inputs) = s
            .inputs
            .iter()
            .map(|v| plan.values.get(v.index()))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        if let Err(exceeded) = step(&s.op, &inputs) {
            errors.push(LimitError::Step {
                step: i,
                op: s.op.name(),
                layer: s.layer.clone(),
                exceeded,
            });
        }
    }
    errors
}

/// The largest number of words one step of `plan` holds per row: its
/// largest value, or the window elements its largest pooling step gathers.
pub fn row_words(plan: &Plan) -> usize {
    let values = plan.values.iter().map(ValueInfo::len);
    let pools = plan.steps.iter().filter_map(|s| match &s.op {
        Op::MaxPool { kernel, stride } | Op::SumPool { kernel, stride } => {
            let x = plan.values.get(s.inputs.first()?.index())?;
            let [c, h, w] = x.shape[..] else {
                return Some(0);
            };
            Some(
                window_reads([c, h, w], *kernel, *stride)
                    .map_or(0, |(_, r)| r.unwrap_or(usize::MAX)),
            )
        }
        _ => None,
    });
    values.chain(pools).max().unwrap_or(0)
}

/// A query of `rows` rows of `plan`: at least one row, at most
/// [`MAX_BATCH`], and at most [`MAX_QUERY_WORDS`] words of one step
/// ([`row_words`] times the rows). Run before anything is sized by the batch.
pub fn batch(plan: &Plan, rows: usize) -> Result<(), LimitError> {
    let err = |exceeded| LimitError::Batch { rows, exceeded };
    if rows == 0 {
        return Err(LimitError::NoRows);
    }
    Limit::Batch.check("the batch", Some(rows)).map_err(err)?;
    let words = row_words(plan);
    Limit::QueryWords
        .check(
            format!("{words} words per row (the plan's largest step) times {rows} rows"),
            words.checked_mul(rows),
        )
        .map_err(err)?;
    Ok(())
}
