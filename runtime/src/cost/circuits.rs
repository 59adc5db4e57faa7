//! Which library circuit a boolean step runs, and on how many instances.
//!
//! One function, [`boolean_step`], decides it for the cost model and for the
//! executor alike, so the AND counts the compiler sees are those of the very
//! circuit the executor garbles or evaluates in GMW.

use super::CostError;
use crate::circuit::{library, Builder, Circuit, Style};
use crate::plan::{Op, Protocol, ValueInfo};

/// A boolean step: the circuit and its instance count per inference row.
#[derive(Clone, Debug)]
pub struct BooleanStep {
    /// The circuit run once per instance.
    pub circuit: Circuit,
    /// Instances per row (multiply by the batch).
    pub instances_per_row: usize,
}

/// `[x] → [x + c]` for a public constant `c` (constant folding keeps only
/// the ANDs the carry chain really needs).
pub fn add_const(style: Style, c: u64) -> Circuit {
    let mut b = Builder::new(1);
    let x = b.input(0);
    let s = b.add(&x, &Builder::constant(c), style);
    b.finish("add_const", &[s])
}

fn window(op_name: &'static str, kernel: [usize; 2]) -> Result<usize, CostError> {
    match kernel[0].checked_mul(kernel[1]) {
        Some(0) => Err(CostError::Shape(format!("{op_name} with an empty window"))),
        Some(k) => Ok(k),
        None => Err(CostError::Shape(format!(
            "{op_name} with a {}×{} window (too large)",
            kernel[0], kernel[1]
        ))),
    }
}

/// The circuit of `op` run in `protocol` (GMW or Yao) and its instances per
/// row; `Ok(None)` for an op that is local in boolean sharing (reshape,
/// truncation), [`CostError::Unsupported`] for one that has no circuit.
pub fn boolean_step(
    op: &Op,
    protocol: Protocol,
    inputs: &[&ValueInfo],
    output: &ValueInfo,
) -> Result<Option<BooleanStep>, CostError> {
    let style = Style::for_protocol(protocol);
    let first_len = inputs.first().map_or(0, |v| v.len());
    let (circuit, instances_per_row) = match op {
        Op::Relu => (library::relu(), first_len),
        Op::MaxPool { kernel, .. } => (
            library::maxpool(style, window("maxpool", *kernel)?),
            output.len(),
        ),
        Op::Argmax => {
            if first_len == 0 {
                return Err(CostError::Shape("argmax of an empty tensor".into()));
            }
            (library::argmax(style, first_len), 1)
        }
        Op::Clamp { lo, hi } => (library::clamp(style, *lo, *hi), first_len),
        Op::Add => (library::add(style), first_len),
        Op::Sub => (library::sub(style), first_len),
        Op::AddConst { c } => (add_const(style, *c as u64), first_len),
        Op::Reshape | Op::Truncate { .. } => return Ok(None),
        _ => {
            return Err(CostError::Unsupported {
                op: op.name(),
                protocol,
            })
        }
    };
    Ok(Some(BooleanStep {
        circuit,
        instances_per_row,
    }))
}
