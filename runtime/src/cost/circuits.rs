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

/// Every circuit a boolean step can run, in both adder styles where the
/// library has them, with representative parameters (windows of 1, 4 and 9,
/// an argmax over 10, shifts of 0, 16 and 63) and [`add_const`]: the set
/// the protocol tests sweep, so a circuit added to the library is added here.
pub fn every_circuit() -> Vec<Circuit> {
    let mut cs = vec![
        library::relu(),
        library::mux(),
        library::shift(16),
        library::shift(63),
    ];
    for s in [Style::Size, Style::Depth] {
        cs.extend([
            library::add(s),
            library::sub(s),
            library::sub_mask(s),
            library::add_shift(s, 0),
            library::add_shift(s, 16),
            library::less_than(s),
            library::max(s),
            library::maxpool(s, 1),
            library::maxpool(s, 4),
            library::maxpool(s, 9),
            library::argmax(s, 10),
            library::clamp(s, -(1 << 16), 1 << 16),
            add_const(s, (-(3i64 << 16)) as u64),
        ]);
    }
    cs
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
