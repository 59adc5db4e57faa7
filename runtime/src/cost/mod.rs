//! The exact cost of a plan: per step, per output reveal, and the traffic
//! each party's channel will count, computed from the circuit library and
//! the protocol cost functions ([`crate::gmw::cost`], [`crate::yao::cost`],
//! [`crate::convert::cost`]), never estimated.
//!
//! The compiler's optimizer calls [`step_cost`] for every (operation,
//! protocol) pair it considers; a pair the executor cannot run is a typed
//! [`CostError::Unsupported`], so the optimizer can enumerate alternatives.
//! [`plan_cost`] adds up a whole plan and predicts, byte for byte and flight
//! for flight, the [`ChannelStats`] of both parties ([`traffic`]); the
//! executor's tests hold the measured counters to it. [`demand`] is the
//! dealer material the executor consumes, exactly.
//!
//! # Which pairs run
//!
//! | op | A | B | Y |
//! |---|---|---|---|
//! | dense, conv2d | private-weight linear layer | — | — |
//! | mul, square | Beaver | — | — |
//! | mul_const, sumpool | local | — | — |
//! | add, sub, add_const | local | adder circuit | adder circuit |
//! | reshape | free | free | free |
//! | truncate | Escudero et al. (1 exchange) | exact shift, local | exact shift, local |
//! | relu, maxpool, clamp, argmax | — | library circuit | library circuit |
//! | convert | to B, to Y | to A, to Y | to A, to B |
//!
//! # Conventions
//!
//! * Bytes are whole frames, header included ([`crate::circuit::FRAME_HEADER`]),
//!   as the channel counts them.
//! * `OpCost::rounds` is the step's critical path in one-way flights (a
//!   simultaneous exchange counts once); the per-party flight counts of a
//!   whole run, where adjacent steps may merge flights, are in
//!   [`PlanCost::query`] and [`PlanCost::session`].
//! * `ahead_of_query_bytes` are server → client bytes that depend on no
//!   input: garbled tables, OT corrections, decoding bits, and for a linear
//!   layer its masked weights `E = W − U`, which are sent **once per
//!   session** (at connection time), not per query.
//! * `dealer_bytes` are the explicit words the client receives from the
//!   dealer (the server's share is all seed), [`crate::circuit::dealer_bytes`].
//! * A `Truncate` in B or Y is an exact local wire shift: it costs nothing,
//!   and folding it into the A→B/Y conversion before it (the compiler's
//!   default emits `Convert` of the 2f value, then `Truncate` in B) would
//!   change neither the cost (the adder's AND count does not depend on the
//!   shift) nor the result (the shift is exact either way). Plans therefore
//!   keep the two steps apart and the conversion is costed with no shift.

mod circuits;
pub mod traffic;

pub use circuits::{add_const, boolean_step, every_circuit, BooleanStep};
pub use traffic::{Pattern, Traffic};

use crate::arith::cost as arith_cost;
use crate::arith::linear::LinearShape;
use crate::circuit::{OpCost, FRAME_HEADER};
use crate::convert::{self, Conversion};
use crate::dealer::{Demand, Pool};
use crate::plan::{Op, Party, Plan, Protocol, ValueInfo};

/// Why a step has no cost (it cannot be executed as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// The operation does not run in this protocol.
    #[error("{op} cannot run in {protocol}")]
    Unsupported {
        /// Operation name.
        op: &'static str,
        /// The protocol asked for.
        protocol: Protocol,
    },
    /// A conversion to the protocol the value already lives in.
    #[error("a conversion from {0} to itself")]
    NoConversion(Protocol),
    /// Wrong number of operands.
    #[error("{op} takes {expected} operands, got {got}")]
    Operands {
        /// Operation name.
        op: &'static str,
        /// Operands expected.
        expected: usize,
        /// Operands given.
        got: usize,
    },
    /// Shapes or parameters that cannot be executed.
    #[error("shape: {0}")]
    Shape(String),
    /// The plan itself is invalid.
    #[error("invalid plan: {0}")]
    Plan(String),
    /// A query's batch beyond the limits of [`crate::limits`].
    #[error(transparent)]
    TooLarge(#[from] crate::limits::LimitError),
}

/// The linear-layer shape of a dense or conv2d step on `input`
/// (`None` for other operations).
pub fn linear_shape(op: &Op, input: &ValueInfo) -> Result<Option<LinearShape>, CostError> {
    if !matches!(op, Op::Dense { .. } | Op::Conv2d { .. }) {
        return Ok(None);
    }
    let shape = crate::limits::linear_of(op, input).ok_or_else(|| {
        CostError::Shape(format!(
            "conv2d on a tensor of shape {:?}, not [c, h, w]",
            input.shape
        ))
    })?;
    shape
        .validate()
        .map_err(|e| CostError::Shape(e.to_string()))?;
    Ok(Some(shape))
}

fn arity(op: &Op) -> usize {
    match op {
        Op::Add | Op::Sub | Op::Mul => 2,
        _ => 1,
    }
}

/// The exact cost of one step on a batch of `batch` rows.
///
/// `protocol` is the step's protocol; for [`Op::Convert`] it is the target
/// and `inputs[0].protocol` the source. Operations that cannot run in the
/// protocol give [`CostError::Unsupported`].
pub fn step_cost(
    op: &Op,
    protocol: Protocol,
    inputs: &[&ValueInfo],
    output: &ValueInfo,
    batch: usize,
) -> Result<OpCost, CostError> {
    if inputs.len() != arity(op) {
        return Err(CostError::Operands {
            op: op.name(),
            expected: arity(op),
            got: inputs.len(),
        });
    }
    let n = inputs[0].len() * batch;
    let unsupported = || CostError::Unsupported {
        op: op.name(),
        protocol,
    };
    if let Op::Convert = op {
        let from = inputs[0].protocol;
        let kind = Conversion::between(from, protocol).ok_or(CostError::NoConversion(from))?;
        return Ok(convert::cost(kind, n, 0));
    }
    match protocol {
        Protocol::Arith => match op {
            Op::Dense { .. } | Op::Conv2d { .. } => {
                let shape = linear_shape(op, inputs[0])?.ok_or_else(unsupported)?;
                Ok(arith_cost::linear_query(&shape, batch) + arith_cost::linear_setup(&shape))
            }
            Op::Mul => Ok(arith_cost::mul(n)),
            Op::Square => Ok(arith_cost::square(n)),
            Op::Truncate { bits } => {
                if !(1..=62).contains(bits) {
                    return Err(CostError::Shape(format!(
                        "truncation by {bits} bits (1 to 62 run in arith)"
                    )));
                }
                Ok(arith_cost::truncate(n, *bits))
            }
            Op::Add
            | Op::Sub
            | Op::AddConst { .. }
            | Op::MulConst { .. }
            | Op::SumPool { .. }
            | Op::Reshape => Ok(OpCost::ZERO),
            _ => Err(unsupported()),
        },
        Protocol::Gmw | Protocol::Yao => {
            match boolean_step(op, protocol, inputs, output)? {
                None => Ok(OpCost::ZERO),
                Some(step) => {
                    let instances = step.instances_per_row * batch;
                    // Every protocol here is B or Y, so circuit_cost is Some.
                    convert::circuit_cost(protocol, &step.circuit, instances)
                        .ok_or_else(unsupported)
                }
            }
        }
    }
}

/// The cost of sharing a client input of `n` words that lives in `protocol`:
/// free in A and B (the owner's value is its own share, the other party's
/// share is zero), a B→Y conversion of those shares in Y.
pub fn input_cost(protocol: Protocol, n: usize) -> OpCost {
    match protocol {
        Protocol::Arith | Protocol::Gmw => OpCost::ZERO,
        Protocol::Yao => convert::cost(Conversion::B2Y, n, 0),
    }
}

/// The cost of revealing `n` words shared in `protocol` to `to` (and to no
/// one else): the other party sends its share (A, B); in Y the server sends
/// decoding bits ahead of the query, or the client its colour bits.
pub fn reveal_cost(protocol: Protocol, to: Party, n: usize) -> OpCost {
    let one_way = |from: Party| {
        let bytes = 8 * n as u64 + FRAME_HEADER;
        match from {
            Party::Server => OpCost {
                rounds: 1,
                bytes_server_to_client: bytes,
                messages_server_to_client: 1,
                server_flights: 1,
                ..OpCost::ZERO
            },
            Party::Client => OpCost {
                rounds: 1,
                bytes_client_to_server: bytes,
                messages_client_to_server: 1,
                client_flights: 1,
                ..OpCost::ZERO
            },
        }
    };
    match (protocol, to) {
        (Protocol::Yao, Party::Client) => crate::yao::reveal_cost(n),
        _ => one_way(to.peer()),
    }
}

/// The cost of one step, with its place in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepCost {
    /// Index in [`Plan::steps`].
    pub step: usize,
    /// Source layer.
    pub layer: String,
    /// Operation name.
    pub op: &'static str,
    /// Protocol (the target for a conversion).
    pub protocol: Protocol,
    /// The cost.
    pub cost: OpCost,
}

/// The whole plan's cost on one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanCost {
    /// Rows per query.
    pub batch: usize,
    /// Sharing each plan input, in the plan's order.
    pub inputs: Vec<OpCost>,
    /// Every step, in order.
    pub steps: Vec<StepCost>,
    /// Revealing each output, in the plan's order.
    pub outputs: Vec<OpCost>,
    /// Sum of inputs, steps and outputs (the masked weights included once,
    /// in `ahead_of_query_bytes`).
    pub total: OpCost,
    /// What each party's channel counts in the **ahead-of-query phase**,
    /// before the client's input is used: the preamble (hello both ways),
    /// the masked weights of every linear layer, and one server flight
    /// with every other input-independent message of the plan (garbled
    /// tables, OT corrections, Y→A masks, decoding bits) — the sum of the
    /// steps' `ahead_of_query_*`.
    pub session: Traffic,
    /// What each party's channel counts for the query's **online phase**
    /// (`ChannelStats::since` the end of the ahead phase, flights merged
    /// exactly as the channel merges them): only input-dependent messages.
    pub query: Traffic,
}

/// The exact cost of running `plan` on one query of `batch` rows (a valid
/// plan, a batch within [`crate::limits::batch`]).
pub fn plan_cost(plan: &Plan, batch: usize) -> Result<PlanCost, CostError> {
    plan.validate()
        .map_err(|e| CostError::Plan(e.to_string()))?;
    crate::limits::batch(plan, batch)?;
    let mut inputs = Vec::new();
    for spec in &plan.inputs {
        let info = plan.value(spec.value);
        if spec.owner != Party::Client {
            return Err(CostError::Plan(format!(
                "input `{}` is supplied by the {}; only client inputs run",
                info.name, spec.owner
            )));
        }
        inputs.push(input_cost(info.protocol, info.len() * batch));
    }
    let mut steps = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let ins: Vec<&ValueInfo> = step.inputs.iter().map(|v| plan.value(*v)).collect();
        let out = plan.value(step.output);
        steps.push(StepCost {
            step: i,
            layer: step.layer.clone(),
            op: step.op.name(),
            protocol: step.protocol,
            cost: step_cost(&step.op, step.protocol, &ins, out, batch)?,
        });
    }
    let mut outputs = Vec::new();
    for spec in &plan.outputs {
        let info = plan.value(spec.value);
        outputs.push(reveal_cost(info.protocol, spec.to, info.len() * batch));
    }
    let total = inputs
        .iter()
        .chain(steps.iter().map(|s| &s.cost))
        .chain(&outputs)
        .fold(OpCost::ZERO, |a, b| a + *b);

    // Ahead of the query: preamble, masked weights, then every other
    // input-independent frame in the same server flight.
    let mut timeline = traffic::Timeline::new();
    timeline.preamble();
    for step in &plan.steps {
        if let Some(shape) = linear_shape(&step.op, plan.value(step.inputs[0]))? {
            timeline.server_sends(8 * shape.weight_len() as u64 + FRAME_HEADER, 1);
        }
    }
    let frames = ahead_frames(plan, &inputs, &steps, &outputs);
    if frames.messages > 0 {
        timeline.server_sends(frames.bytes, frames.messages);
    }
    let session = timeline.mark();

    // The query: only online messages, in the executor's order.
    for (spec, c) in plan.inputs.iter().zip(&inputs) {
        let info = plan.value(spec.value);
        timeline.add(c, Pattern::of_input(info.protocol));
    }
    for (step, c) in plan.steps.iter().zip(&steps) {
        let from = plan.value(step.inputs[0]).protocol;
        timeline.add(&c.cost, Pattern::of_step(&step.op, from, step.protocol));
    }
    for (spec, c) in plan.outputs.iter().zip(&outputs) {
        let info = plan.value(spec.value);
        timeline.add(c, Pattern::of_reveal(info.protocol, spec.to));
    }
    let query = timeline.mark();
    Ok(PlanCost {
        batch,
        inputs,
        steps,
        outputs,
        total,
        session,
        query,
    })
}

/// The frames of the ahead-of-query flight after the masked weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AheadFrames {
    /// Frames.
    pub messages: u64,
    /// Bytes, headers included.
    pub bytes: u64,
}

/// The ahead-of-query frames of a plan's inputs, steps and outputs (not
/// counting the masked weights of linear layers, which precede them):
/// what the server sends and the client receives before the query.
fn ahead_frames(
    plan: &Plan,
    inputs: &[OpCost],
    steps: &[StepCost],
    outputs: &[OpCost],
) -> AheadFrames {
    let mut f = AheadFrames::default();
    let linear = plan.steps.iter().map(|s| s.op.linear_params().is_some());
    let step_costs = steps
        .iter()
        .zip(linear)
        .filter(|(_, l)| !l)
        .map(|(s, _)| &s.cost);
    for c in inputs.iter().chain(step_costs).chain(outputs) {
        f.messages += c.ahead_of_query_messages as u64;
        f.bytes += c.ahead_of_query_bytes;
    }
    f
}

/// The ahead-of-query frames (after the masked weights) of `plan` on a
/// batch of `batch` rows: how many the client must receive before the query.
pub fn plan_ahead_frames(plan: &Plan, batch: usize) -> Result<AheadFrames, CostError> {
    let c = plan_cost(plan, batch)?;
    Ok(ahead_frames(plan, &c.inputs, &c.steps, &c.outputs))
}

/// One draw of dealer material the executor makes, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The step that draws it (`None` for sharing an input).
    pub step: Option<usize>,
    /// The pool.
    pub pool: Pool,
    /// Items (words for AND triples; one weight mask).
    pub n: u64,
}

/// Every draw of dealer material the executor makes for one query of
/// `batch` rows, in the order it makes them (per pool, the order is the
/// plan's). The weight masks are drawn once per session, at set-up. The
/// batch must be within [`crate::limits::batch`].
pub fn requests(plan: &Plan, batch: usize) -> Result<Vec<Request>, CostError> {
    plan.validate()
        .map_err(|e| CostError::Plan(e.to_string()))?;
    crate::limits::batch(plan, batch)?;
    let mut r = Vec::new();
    for spec in &plan.inputs {
        let info = plan.value(spec.value);
        if info.protocol == Protocol::Yao {
            r.push(Request {
                step: None,
                pool: Pool::Ots,
                n: 64 * (info.len() * batch) as u64,
            });
        }
    }
    for (i, step) in plan.steps.iter().enumerate() {
        let ins: Vec<&ValueInfo> = step.inputs.iter().map(|v| plan.value(*v)).collect();
        let out = plan.value(step.output);
        // Checks support and operands, as the executor will.
        step_cost(&step.op, step.protocol, &ins, out, batch)?;
        let n = (ins[0].len() * batch) as u64;
        let mut push = |pool, n| {
            r.push(Request {
                step: Some(i),
                pool,
                n,
            })
        };
        match (&step.op, step.protocol) {
            (Op::Dense { .. } | Op::Conv2d { .. }, _) => {
                if let Some(shape) = linear_shape(&step.op, ins[0])? {
                    let layer = i as u32;
                    push(Pool::WeightMask { layer, shape }, 1);
                    push(Pool::Matrix { layer, shape }, batch as u64);
                }
            }
            (Op::Mul, _) => push(Pool::Beaver, n),
            (Op::Square, _) => push(Pool::Square, n),
            (Op::Truncate { bits }, Protocol::Arith) => push(Pool::Trunc { bits: *bits }, n),
            (Op::Convert, to) => match Conversion::between(ins[0].protocol, to) {
                Some(Conversion::A2B) => {
                    let c = crate::circuit::library::add_shift(crate::circuit::Style::Depth, 0);
                    push(
                        Pool::And,
                        crate::gmw::triple_words(&c.stats(), n as usize) as u64,
                    );
                }
                Some(Conversion::B2A) => push(Pool::SharedBits, 64 * n),
                Some(Conversion::A2Y | Conversion::B2Y) => push(Pool::Ots, 64 * n),
                _ => {}
            },
            (op, Protocol::Gmw) => {
                if let Some(b) = boolean_step(op, Protocol::Gmw, &ins, out)? {
                    let words =
                        crate::gmw::triple_words(&b.circuit.stats(), b.instances_per_row * batch);
                    push(Pool::And, words as u64);
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

/// The dealer material the executor consumes for `queries` queries of
/// `batch` rows in one session, exactly (a weight mask per linear layer
/// once, everything else per query): the sum of [`requests`].
pub fn demand(plan: &Plan, batch: usize, queries: usize) -> Result<Demand, CostError> {
    let q = queries as u64;
    let mut d = Demand::new();
    for r in requests(plan, batch)? {
        let n = r.n.checked_mul(q).ok_or_else(|| {
            CostError::Shape(format!(
                "{queries} queries of {} items of {} overflow a count",
                r.n,
                r.pool.name()
            ))
        })?;
        // `Demand::add` deals a weight mask once whatever the count.
        d.add(r.pool, n);
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
