//! Plan emission: the assigned IR graph to a [`Plan`].
//!
//! Values are numbered in a deterministic topological order (inputs first),
//! one per node; each non-input node becomes one step. Real constants are
//! encoded here, now that every value's encoding is known: a `MulConst`
//! factor with `f` fraction bits, an `AddConst` term and `Clamp` bounds in
//! their operand's encoding. Spans go to the (unhashed) [`DebugInfo`].

use crate::ir::{Graph, NodeId, NodeOp};
use chimera_runtime::plan::{
    DebugInfo, Encoding, InputSpec, Op, OutputSpec, Plan, Protocol, Step, ValueId, ValueInfo,
};
use std::collections::BTreeMap;

/// Encode a real constant with `frac_bits` fraction bits (round to nearest).
pub fn encode_const(v: f64, frac_bits: u32) -> i64 {
    (v * (frac_bits as f64).exp2()).round() as i64
}

/// The plan operation of a node, with its constants encoded in the ring
/// (`AddConst` and `Clamp` in their operand's encoding, `MulConst` with `f`
/// fraction bits). The cost model uses it to ask the runtime what a node
/// would cost in each protocol before the plan exists.
pub fn plan_op(g: &Graph, id: NodeId) -> Result<Op, String> {
    let node = g.node(id).ok_or_else(|| format!("{id} is missing"))?;
    let f = g.fixed.frac_bits;
    let operands = g.operands(id);
    let in_frac = match operands.first().and_then(|o| g.encodings.get(o)) {
        Some(Encoding::Fixed { frac_bits }) => *frac_bits,
        _ => f,
    };
    Ok(match &node.op {
        NodeOp::Dense {
            out_features,
            params,
        } => Op::Dense {
            out_features: *out_features,
            params: params.clone(),
        },
        NodeOp::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            params,
        } => Op::Conv2d {
            out_channels: *out_channels,
            kernel: *kernel,
            stride: *stride,
            padding: *padding,
            params: params.clone(),
        },
        NodeOp::Relu => Op::Relu,
        NodeOp::MaxPool { kernel, stride } => Op::MaxPool {
            kernel: *kernel,
            stride: *stride,
        },
        NodeOp::SumPool { kernel, stride } => Op::SumPool {
            kernel: *kernel,
            stride: *stride,
        },
        NodeOp::Reshape { .. } => Op::Reshape,
        NodeOp::Add => Op::Add,
        NodeOp::Sub => Op::Sub,
        NodeOp::AddConst { value } => Op::AddConst {
            c: encode_const(*value, in_frac),
        },
        NodeOp::MulConst { value } => Op::MulConst {
            c: encode_const(*value, f),
        },
        NodeOp::Mul => Op::Mul,
        NodeOp::Square => Op::Square,
        NodeOp::Truncate { bits } => Op::Truncate { bits: *bits },
        NodeOp::Clamp { lo, hi } => Op::Clamp {
            lo: encode_const(*lo, in_frac),
            hi: encode_const(*hi, in_frac),
        },
        NodeOp::Argmax => Op::Argmax,
        NodeOp::Convert => Op::Convert,
        other => return Err(format!("{id}: {} was not lowered", other.name())),
    })
}

/// Build the plan. Fails (with a description) only on a graph the verifier
/// should have rejected.
pub fn emit(g: &Graph, source_file: &str) -> Result<(Plan, DebugInfo), String> {
    let order = g.topo_order().ok_or("the graph has a cycle")?;
    let (inputs, rest): (Vec<NodeId>, Vec<NodeId>) = order
        .into_iter()
        .partition(|&id| matches!(g.op(id), NodeOp::Input { .. }));
    let mut ids: BTreeMap<NodeId, ValueId> = BTreeMap::new();
    let mut values = Vec::new();
    for &id in inputs.iter().chain(&rest) {
        let node = g.node(id).ok_or_else(|| format!("{id} is missing"))?;
        ids.insert(id, ValueId(values.len() as u32));
        values.push(ValueInfo {
            name: node.name.clone(),
            shape: g.shape(id).to_vec(),
            protocol: g
                .protocols
                .get(&id)
                .copied()
                .ok_or_else(|| format!("{id} has no protocol"))?,
            encoding: g
                .encodings
                .get(&id)
                .copied()
                .ok_or_else(|| format!("{id} has no encoding"))?,
        });
    }
    let plan_inputs = inputs
        .iter()
        .map(|id| match g.op(*id) {
            NodeOp::Input { owner } => Ok(InputSpec {
                value: ids[id],
                owner: *owner,
            }),
            _ => Err(format!("{id} is not an input")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut steps = Vec::new();
    let mut spans = Vec::new();
    for &id in &rest {
        let node = g.node(id).ok_or_else(|| format!("{id} is missing"))?;
        let operands = g.operands(id);
        let op = plan_op(g, id)?;
        steps.push(Step {
            op,
            inputs: operands.iter().map(|o| ids[o]).collect(),
            output: ids[&id],
            protocol: g.protocols.get(&id).copied().unwrap_or(Protocol::Arith),
            layer: node.layer.clone(),
        });
        spans.push(g.spans.get(&id).map(|s| s.pair()));
    }
    let outputs = g
        .outputs
        .iter()
        .map(|o| OutputSpec {
            name: o.name.clone(),
            value: ids[&o.node],
            reveal: o.reveal,
            to: o.to,
        })
        .collect();
    let plan = Plan {
        model: g.model.clone(),
        fixed: g.fixed,
        values,
        inputs: plan_inputs,
        steps,
        outputs,
        optimized_for: g
            .optimized_for
            .clone()
            .ok_or("protocols were not assigned")?,
    };
    plan.validate().map_err(|e| e.to_string())?;
    let debug = DebugInfo {
        source_file: Some(source_file.to_string()),
        step_spans: spans,
    };
    Ok((plan, debug))
}
