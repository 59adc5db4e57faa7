//! The step kernels: one function per protocol, each running a whole
//! layer on the batch in one go (one message per round), and the six
//! conversions.

use super::layout::{gather, interleave, pool_windows, shift_labels, shift_words, window_sums};
use super::party::{Runner, Share, Side};
use super::ExecError;
use crate::arith;
use crate::convert::{self, Conversion};
use crate::cost::{boolean_step, CostError};
use crate::plan::{Op, Protocol, ValueInfo};
use crate::yao::YShare;

impl Runner<'_, '_> {
    pub(super) fn step(&mut self, i: usize) -> Result<Share, ExecError> {
        let step = &self.plan.steps[i];
        if let Op::Convert = step.op {
            let x = self.input(i, 0)?.clone();
            return self.convert(x, step.protocol);
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

    fn y(&self, i: usize, k: usize) -> Result<&YShare, ExecError> {
        match self.input(i, k)? {
            Share::Y(v) => Ok(v),
            _ => Err(ExecError::Internal(format!("step {i} reads a non-Y value"))),
        }
    }

    fn arith_step(&mut self, i: usize) -> Result<Vec<u64>, ExecError> {
        let plan = self.plan;
        let step = &plan.steps[i];
        let party = self.party;
        Ok(match &step.op {
            Op::Dense { .. } | Op::Conv2d { .. } => {
                let x = self.a(i, 0)?.to_vec();
                match &self.side {
                    Side::Server { linear, .. } => {
                        let l = linear.get(&i).ok_or_else(|| {
                            ExecError::Internal(format!("layer {i} was not set up"))
                        })?;
                        let mut y = l.linear.eval(&mut *self.ch, &mut *self.mat, &x)?;
                        arith::add_bias(party, &mut y, &l.bias)?;
                        y
                    }
                    Side::Client { linear, .. } => {
                        let l = linear.get(&i).ok_or_else(|| {
                            ExecError::Internal(format!("layer {i} was not set up"))
                        })?;
                        l.eval(&mut *self.ch, &mut *self.mat, &x)?
                    }
                }
            }
            Op::Mul => {
                let (x, y) = (self.a(i, 0)?.to_vec(), self.a(i, 1)?.to_vec());
                arith::mul_with(&mut *self.ch, &mut *self.mat, &x, &y)?
            }
            Op::Square => {
                let x = self.a(i, 0)?.to_vec();
                arith::square_with(&mut *self.ch, &mut *self.mat, &x)?
            }
            Op::Truncate { bits } => {
                let x = self.a(i, 0)?.to_vec();
                arith::truncate(&mut *self.ch, &mut *self.mat, &x, *bits)?
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

    /// The operands of a boolean circuit, instance-major, as word indices
    /// or pairs (for B) — shared by GMW and Yao through `arrange`.
    fn circuit_layout(&self, i: usize) -> Result<Option<Vec<usize>>, ExecError> {
        let step = &self.plan.steps[i];
        Ok(match &step.op {
            Op::MaxPool { kernel, stride } => {
                let shape = &self.plan.value(step.inputs[0]).shape;
                Some(pool_windows(shape, *kernel, *stride, self.batch)?.0)
            }
            _ => None,
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
        } else if let Some(idx) = self.circuit_layout(i)? {
            gather(self.b(i, 0)?, &idx)
        } else {
            self.b(i, 0)?.to_vec()
        };
        Ok(crate::gmw::run(
            &mut *self.ch,
            &mut *self.mat,
            &b.circuit,
            &operands,
        )?)
    }

    fn yao_step(&mut self, i: usize) -> Result<YShare, ExecError> {
        let plan = self.plan;
        let step = &plan.steps[i];
        match &step.op {
            Op::Reshape => return Ok(self.y(i, 0)?.clone()),
            Op::Truncate { bits } => {
                return Ok(YShare::from_labels(shift_labels(
                    self.y(i, 0)?.labels(),
                    *bits,
                ))?)
            }
            _ => {}
        }
        let ins: Vec<&ValueInfo> = step.inputs.iter().map(|v| plan.value(*v)).collect();
        let b = boolean_step(&step.op, Protocol::Yao, &ins, plan.value(step.output))?
            .ok_or_else(|| ExecError::Internal("a local step reached the circuit path".into()))?;
        let operands = if step.inputs.len() == 2 {
            YShare::interleave(&[self.y(i, 0)?, self.y(i, 1)?])?
        } else if let Some(idx) = self.circuit_layout(i)? {
            self.y(i, 0)?.gather(&idx)?
        } else {
            self.y(i, 0)?.clone()
        };
        Ok(match &mut self.side {
            Side::Server { yao, .. } => yao.eval(&mut *self.ch, &b.circuit, &operands)?,
            Side::Client { yao, .. } => yao.eval(&mut *self.ch, &b.circuit, &operands)?,
        })
    }

    fn convert(&mut self, x: Share, to: Protocol) -> Result<Share, ExecError> {
        let from = match &x {
            Share::A(_) => Protocol::Arith,
            Share::B(_) => Protocol::Gmw,
            Share::Y(_) => Protocol::Yao,
        };
        let kind =
            Conversion::between(from, to).ok_or(ExecError::Plan(CostError::NoConversion(from)))?;
        let ch = &mut *self.ch;
        let mat = &mut *self.mat;
        Ok(match (kind, x, &mut self.side) {
            (Conversion::A2B, Share::A(v), _) => Share::B(convert::a2b(ch, mat, &v, 0)?),
            (Conversion::B2A, Share::B(v), _) => Share::A(convert::b2a(ch, mat, &v)?),
            (Conversion::A2Y, Share::A(v), Side::Server { yao, .. }) => {
                Share::Y(convert::a2y_server(ch, mat, yao, &v, 0)?)
            }
            (Conversion::A2Y, Share::A(v), Side::Client { yao, .. }) => {
                Share::Y(convert::a2y_client(ch, mat, yao, &v, 0)?)
            }
            (Conversion::Y2A, Share::Y(y), Side::Server { yao, .. }) => {
                Share::A(convert::y2a_server(ch, yao, &y)?)
            }
            (Conversion::Y2A, Share::Y(y), Side::Client { yao, .. }) => {
                Share::A(convert::y2a_client(ch, yao, &y)?)
            }
            (Conversion::B2Y, Share::B(v), Side::Server { yao, .. }) => {
                Share::Y(convert::b2y_server(ch, mat, yao, &v)?)
            }
            (Conversion::B2Y, Share::B(v), Side::Client { yao, .. }) => {
                Share::Y(convert::b2y_client(ch, mat, yao, &v)?)
            }
            (Conversion::Y2B, Share::Y(y), _) => Share::B(convert::y2b(&y)),
            _ => {
                return Err(ExecError::Internal(
                    "conversion of a mislabelled share".into(),
                ))
            }
        })
    }
}
