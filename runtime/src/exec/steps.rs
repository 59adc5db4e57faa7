//! The step kernels: one function per protocol, each running a whole
//! layer on the batch in one go (one message per round), and the six
//! conversions.

use super::ahead::Prep;
use super::layout::{gather, interleave, pool_windows, shift_labels, shift_words, window_sums};
use super::party::{Runner, Share, Side};
use super::ExecError;
use crate::arith;
use crate::circuit::Circuit;
use crate::convert::{self, BooleanError, Conversion};
use crate::cost::{boolean_step, CostError};
use crate::plan::{Op, Plan, Protocol, ValueInfo};
use crate::yao::YShare;

impl Runner<'_, '_> {
    pub(super) fn step(&mut self, i: usize) -> Result<Share, ExecError> {
        let step = &self.plan.steps[i];
        if let Op::Convert = step.op {
            let x = self.input(i, 0)?.clone();
            return self.convert(i, x, step.protocol);
        }
        match step.protocol {
            Protocol::Arith => self.arith_step(i).map(Share::A),
            Protocol::Gmw => self.gmw_step(i).map(Share::B),
            Protocol::Yao => self.yao_step(i).map(Share::Y),
        }
    }

    fn a(&self, i: usize, k: usize) -> Result<&[u64], ExecError> {
        match self.input(i, k)? {
            Share::A(v) => Ok(v),
            _ => Err(ExecError::Internal(format!("step {i} reads a non-A value"))),
        }
    }

    fn b(&self, i: usize, k: usize) -> Result<&[u64], ExecError> {
        match self.input(i, k)? {
            Share::B(v) => Ok(v),
            _ => Err(ExecError::Internal(format!("step {i} reads a non-B value"))),
        }
    }

    fn arith_step(&mut self, i: usize) -> Result<Vec<u64>, ExecError> {
        let plan = self.plan;
        let step = &plan.steps[i];
        let party = self.party;
        Ok(match &step.op {
            Op::Dense { .. } | Op::Conv2d { .. } => {
                let x = self.a(i, 0)?.to_vec();
                let missing = || ExecError::Internal(format!("layer {i} was not set up"));
                match (self.prep[i].take(), &self.side) {
                    (Some(Prep::ServerRows(rows)), Side::Server { linear, .. }) => {
                        let l = linear.get(&i).ok_or_else(missing)?;
                        let mut y = l.linear.eval_prepared(&mut *self.ch, rows, &x)?;
                        arith::add_bias(party, &mut y, &l.bias)?;
                        y
                    }
                    (Some(Prep::ClientRows(rows)), Side::Client { linear, .. }) => {
                        let l = linear.get(&i).ok_or_else(missing)?;
                        l.eval_prepared(&mut *self.ch, rows, &x)?
                    }
                    _ => return Err(missing()),
                }
            }
            Op::Mul => {
                let (x, y) = (self.a(i, 0)?.to_vec(), self.a(i, 1)?.to_vec());
                arith::mul_with(&mut *self.ch, &mut self.mat, &x, &y)?
            }
            Op::Square => {
                let x = self.a(i, 0)?.to_vec();
                arith::square_with(&mut *self.ch, &mut self.mat, &x)?
            }
            Op::Truncate { bits } => {
                let x = self.a(i, 0)?.to_vec();
                arith::truncate(&mut *self.ch, &mut self.mat, &x, *bits)?
            }
            Op::Add => arith::add(self.a(i, 0)?, self.a(i, 1)?),
            Op::Sub => arith::sub(self.a(i, 0)?, self.a(i, 1)?),
            Op::AddConst { c } => arith::add_const(party, self.a(i, 0)?, *c as u64),
            Op::MulConst { c } => arith::scale(self.a(i, 0)?, *c as u64),
            Op::SumPool { kernel, stride } => {
                let shape = &plan.value(step.inputs[0]).shape;
                let (idx, _) = pool_windows(shape, *kernel, *stride, self.batch)?;
                window_sums(&gather(self.a(i, 0)?, &idx), kernel[0] * kernel[1])
            }
            Op::Reshape => self.a(i, 0)?.to_vec(),
            op => {
                return Err(ExecError::Plan(CostError::Unsupported {
                    op: op.name(),
                    protocol: Protocol::Arith,
                }))
            }
        })
    }

    fn gmw_step(&mut self, i: usize) -> Result<Vec<u64>, ExecError> {
        let plan = self.plan;
        let step = &plan.steps[i];
        match &step.op {
            Op::Reshape => return Ok(self.b(i, 0)?.to_vec()),
            Op::Truncate { bits } => return Ok(shift_words(self.b(i, 0)?, *bits)),
            _ => {}
        }
        let ins: Vec<&ValueInfo> = step.inputs.iter().map(|v| plan.value(*v)).collect();
        let b = boolean_step(&step.op, Protocol::Gmw, &ins, plan.value(step.output))?
            .ok_or_else(|| ExecError::Internal("a local step reached the circuit path".into()))?;
        let operands = if step.inputs.len() == 2 {
            interleave(self.b(i, 0)?, self.b(i, 1)?)
        } else if let Some(idx) = circuit_layout(plan, self.batch, i)? {
            gather(self.b(i, 0)?, &idx)
        } else {
            self.b(i, 0)?.to_vec()
        };
        Ok(crate::gmw::run(
            &mut *self.ch,
            &mut self.mat,
            &b.circuit,
            &operands,
        )?)
    }

    fn yao_step(&mut self, i: usize) -> Result<YShare, ExecError> {
        let plan = self.plan;
        let batch = self.batch;
        let step = &plan.steps[i];
        match &mut self.side {
            // Garbled ahead of the query.
            Side::Server { .. } => self.take_ahead_y(step.output.index()),
            Side::Client { yao, .. } => {
                let mut operands = Vec::with_capacity(step.inputs.len());
                for v in &step.inputs {
                    match &self.values[v.index()] {
                        Some(Share::Y(y)) => operands.push(y),
                        _ => {
                            return Err(ExecError::Internal(format!(
                                "step {i} reads a non-Y value"
                            )))
                        }
                    }
                }
                yao_apply(plan, batch, i, &operands, |c, x| yao.eval_prepared(c, x))
            }
        }
    }

    fn convert(&mut self, i: usize, x: Share, to: Protocol) -> Result<Share, ExecError> {
        let from = match &x {
            Share::A(_) => Protocol::Arith,
            Share::B(_) => Protocol::Gmw,
            Share::Y(_) => Protocol::Yao,
        };
        let kind =
            Conversion::between(from, to).ok_or(ExecError::Plan(CostError::NoConversion(from)))?;
        let ch = &mut *self.ch;
        let mat = &mut self.mat;
        let out = self.plan.steps[i].output.index();
        Ok(match (kind, x) {
            (Conversion::A2B, Share::A(v)) => Share::B(convert::a2b(ch, mat, &v, 0)?),
            (Conversion::B2A, Share::B(v)) => Share::A(convert::b2a(ch, mat, &v)?),
            (Conversion::A2Y, Share::A(v)) => {
                let prep = self.prep[i].take();
                Share::Y(self.online_a2y(prep, out, &v)?)
            }
            (Conversion::B2Y, Share::B(v)) => {
                let prep = self.prep[i].take();
                Share::Y(self.online_b2y(prep, out, &v)?)
            }
            (Conversion::Y2A, Share::Y(y)) => {
                let prep = self.prep[i].take();
                Share::A(self.online_y2a(prep, &y)?)
            }
            (Conversion::Y2B, Share::Y(y)) => Share::B(convert::y2b(&y)),
            _ => {
                return Err(ExecError::Internal(
                    "conversion of a mislabelled share".into(),
                ))
            }
        })
    }
}

/// The operands of a boolean circuit, instance-major, as word indices (for
/// the windows of a maxpool) — shared by GMW and Yao.
fn circuit_layout(plan: &Plan, batch: usize, i: usize) -> Result<Option<Vec<usize>>, ExecError> {
    let step = &plan.steps[i];
    Ok(match &step.op {
        Op::MaxPool { kernel, stride } => {
            let shape = &plan.value(step.inputs[0]).shape;
            Some(pool_windows(shape, *kernel, *stride, batch)?.0)
        }
        _ => None,
    })
}

/// Step `i` in Y on its operands' shares (this party's labels): a label
/// move for reshape and truncation, else the step's library circuit
/// through `run` (garbling ahead on the server, evaluation on the client).
pub(super) fn yao_apply(
    plan: &Plan,
    batch: usize,
    i: usize,
    inputs: &[&YShare],
    run: impl FnOnce(&Circuit, &YShare) -> Result<YShare, BooleanError>,
) -> Result<YShare, ExecError> {
    let step = &plan.steps[i];
    let first = inputs
        .first()
        .ok_or_else(|| ExecError::Internal(format!("step {i} has no operand")))?;
    match &step.op {
        Op::Reshape => return Ok((*first).clone()),
        Op::Truncate { bits } => {
            return Ok(YShare::from_labels(shift_labels(first.labels(), *bits))?)
        }
        _ => {}
    }
    let ins: Vec<&ValueInfo> = step.inputs.iter().map(|v| plan.value(*v)).collect();
    let b = boolean_step(&step.op, Protocol::Yao, &ins, plan.value(step.output))?
        .ok_or_else(|| ExecError::Internal("a local step reached the circuit path".into()))?;
    let operands = if inputs.len() == 2 {
        YShare::interleave(inputs)?
    } else if let Some(idx) = circuit_layout(plan, batch, i)? {
        first.gather(&idx)?
    } else {
        (*first).clone()
    };
    Ok(run(&b.circuit, &operands)?)
}
