//! The cost oracle: where the exact traffic of a step comes from.
//!
//! [`CostOracle`] is the one question the optimizer and the reports ask:
//! "what does this plan operation cost in this protocol, on these values, for
//! this batch?". [`RuntimeOracle`] answers with the runtime's
//! [`chimera_runtime::cost::step_cost`], the numbers the executor reproduces
//! byte for byte; tests plug in synthetic oracles. [`estimate`] adds the
//! counts of local work that turn into compute time.

use super::{Counts, Estimate};
use chimera_runtime::arith::linear::{Conv2dShape, LinearShape};
use chimera_runtime::circuit::OpCost;
use chimera_runtime::plan::{Op, Party, Protocol, ValueInfo};

/// Exact per-step traffic.
pub trait CostOracle {
    /// The cost of `op` run in `protocol` (for [`Op::Convert`], the target
    /// protocol; the source is the input's), or why it cannot run there.
    fn step(
        &self,
        op: &Op,
        protocol: Protocol,
        inputs: &[&ValueInfo],
        output: &ValueInfo,
        batch: usize,
    ) -> Result<OpCost, String>;

    /// The cost of opening `value` (shared in `value.protocol`) to `to`.
    fn reveal(&self, value: &ValueInfo, to: Party, batch: usize) -> Result<OpCost, String>;

    /// The cost of sharing a client input that lives in `value.protocol`.
    fn input(&self, value: &ValueInfo, batch: usize) -> Result<OpCost, String>;
}

/// The runtime's exact costs ([`chimera_runtime::cost`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct RuntimeOracle;

impl CostOracle for RuntimeOracle {
    fn step(
        &self,
        op: &Op,
        protocol: Protocol,
        inputs: &[&ValueInfo],
        output: &ValueInfo,
        batch: usize,
    ) -> Result<OpCost, String> {
        chimera_runtime::cost::step_cost(op, protocol, inputs, output, batch)
            .map_err(|e| e.to_string())
    }

    fn reveal(&self, value: &ValueInfo, to: Party, batch: usize) -> Result<OpCost, String> {
        Ok(chimera_runtime::cost::reveal_cost(
            value.protocol,
            to,
            value.len() * batch,
        ))
    }

    fn input(&self, value: &ValueInfo, batch: usize) -> Result<OpCost, String> {
        Ok(chimera_runtime::cost::input_cost(
            value.protocol,
            value.len() * batch,
        ))
    }
}

/// Local work of a step whose traffic is `cost`: AND gates by protocol
/// (garbled and evaluated for Y, including Y's side of a conversion),
/// Beaver multiplications, MACs of linear layers, and PRG bytes (each byte
/// of explicit dealer material has a seed-expanded twin of the same size).
pub fn counts(
    op: &Op,
    protocol: Protocol,
    inputs: &[&ValueInfo],
    output: &ValueInfo,
    batch: usize,
    cost: &OpCost,
) -> Counts {
    let b = batch as u64;
    let mut c = Counts {
        prg_bytes: cost.dealer_bytes,
        ..Counts::default()
    };
    let source = inputs.first().map_or(protocol, |v| v.protocol);
    let yao = protocol == Protocol::Yao || (matches!(op, Op::Convert) && source == Protocol::Yao);
    if yao {
        c.yao_garbled_ands = cost.and_gates;
        c.yao_evaluated_ands = cost.and_gates;
    } else {
        c.gmw_ands = cost.and_gates;
    }
    if protocol == Protocol::Arith {
        let in_len = inputs.first().map_or(0, |v| v.len()) as u64;
        match op {
            Op::Dense { out_features, .. } => c.macs = in_len * *out_features as u64 * b,
            Op::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                ..
            } => {
                if let Some(&[ch, h, w]) = inputs.first().map(|v| v.shape.as_slice()) {
                    let shape = LinearShape::Conv2d(Conv2dShape {
                        input: [ch, h, w],
                        out_channels: *out_channels,
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                    });
                    c.macs = shape.macs() as u64 * b;
                }
            }
            Op::Mul | Op::Square => c.beaver_mults = output.len() as u64 * b,
            _ => {}
        }
    }
    c
}

/// Traffic from `oracle` plus local-work [`counts`].
pub fn estimate(
    oracle: &dyn CostOracle,
    op: &Op,
    protocol: Protocol,
    inputs: &[&ValueInfo],
    output: &ValueInfo,
    batch: usize,
) -> Result<Estimate, String> {
    let cost = oracle.step(op, protocol, inputs, output, batch)?;
    Ok(Estimate {
        counts: counts(op, protocol, inputs, output, batch, &cost),
        cost,
    })
}
