//! One party's walk through the plan: session set-up, input sharing, every
//! step in its protocol, output reveals.

use super::layout::{gather, interleave, pool_windows, shift_labels, shift_words, window_sums};
use super::{hello, ExecError};
use crate::arith::{self, linear::LinearShape, LinearClient, LinearServer};
use crate::convert::{self, Conversion};
use crate::cost::{boolean_step, linear_shape, step_cost};
use crate::dealer::Material;
use crate::plan::{Encoding, Op, Party, Plan, Protocol, Reveal, ValueInfo};
use crate::prg::Prg;
use crate::tensor_io::Batch;
use crate::transport::{Channel, ChannelStats, TransportError};
use crate::weights::BoundWeights;
use crate::yao::{YShare, YaoClient, YaoServer};
use std::collections::BTreeMap;
use std::time::Instant;

/// What a party's channel counted, by part of the run, and how long each took.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunStats {
    /// Preamble and masked weights (once per session).
    pub session: ChannelStats,
    /// The query: inputs, steps, reveals.
    pub query: ChannelStats,
    /// Wall time of the session set-up, seconds.
    pub setup_seconds: f64,
    /// Wall time of the query, seconds.
    pub online_seconds: f64,
}

/// One output statement as revealed to this party.
#[derive(Clone, Debug, PartialEq)]
pub struct RevealedOutput {
    /// Name in the program.
    pub name: String,
    /// Label or scores.
    pub reveal: Reveal,
    /// Shape of one row's value.
    pub shape: Vec<usize>,
    /// How the ring elements encode numbers.
    pub encoding: Encoding,
    /// Rows.
    pub rows: usize,
    /// Ring elements, row-major.
    pub ring: Vec<u64>,
    /// Decoded numbers, row-major.
    pub values: Vec<f64>,
}

impl RevealedOutput {
    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values of row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        let n = self.row_len();
        &self.values[r * n..(r + 1) * n]
    }

    /// Row `r`'s label, for an integer (argmax) output.
    pub fn label(&self, r: usize) -> Option<usize> {
        match self.encoding {
            Encoding::Integer => self.ring.get(r * self.row_len()).map(|&v| v as usize),
            Encoding::Fixed { .. } => None,
        }
    }
}

/// What a run gives one party: the outputs revealed to it (none for the
/// server of a usual plan) and its traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Outputs opened to this party, in the plan's order.
    pub outputs: Vec<RevealedOutput>,
    /// Channel counters and times.
    pub stats: RunStats,
}

/// Alias for the client's result.
pub type ClientResult = RunResult;

/// One party's share of a value.
#[derive(Clone)]
enum Share {
    A(Vec<u64>),
    B(Vec<u64>),
    Y(YShare),
}

impl Share {
    fn words(&self) -> usize {
        match self {
            Share::A(v) | Share::B(v) => v.len(),
            Share::Y(y) => y.words(),
        }
    }
}

struct ServerLinear {
    linear: LinearServer,
    bias: Vec<u64>,
}

enum Side<'w> {
    Server {
        weights: &'w BoundWeights,
        yao: Box<YaoServer>,
        linear: BTreeMap<usize, ServerLinear>,
    },
    Client {
        yao: Box<YaoClient>,
        linear: BTreeMap<usize, LinearClient>,
    },
}

struct Runner<'a, 'w> {
    plan: &'a Plan,
    party: Party,
    ch: &'a mut dyn Channel,
    mat: &'a mut dyn Material,
    batch: usize,
    side: Side<'w>,
    values: Vec<Option<Share>>,
    last_use: Vec<usize>,
}

/// Run the server's side of one query of `batch` rows: its weights stay
/// private, it learns only the outputs the plan opens to the server (usually
/// none).
pub fn run_server<C: Channel, M: Material>(
    plan: &Plan,
    weights: &BoundWeights,
    material: &mut M,
    channel: &mut C,
    batch: usize,
) -> Result<RunResult, ExecError> {
    let yao =
        Box::new(YaoServer::new(Prg::from_os().map_err(|e| {
            ExecError::Internal(format!("no OS randomness: {e}"))
        })?));
    let side = Side::Server {
        weights,
        yao,
        linear: BTreeMap::new(),
    };
    run(plan, Party::Server, side, material, channel, batch, &[])
}

/// Run the client's side of one query: `inputs` holds one batch per plan
/// input (in the plan's order, all with the same rows). Returns the outputs
/// the plan opens to the client.
pub fn run_client<C: Channel, M: Material>(
    plan: &Plan,
    inputs: &[Batch],
    material: &mut M,
    channel: &mut C,
) -> Result<ClientResult, ExecError> {
    let batch = inputs.first().map_or(0, |b| b.rows);
    let side = Side::Client {
        yao: Box::default(),
        linear: BTreeMap::new(),
    };
    run(plan, Party::Client, side, material, channel, batch, inputs)
}

fn run(
    plan: &Plan,
    party: Party,
    side: Side<'_>,
    mat: &mut dyn Material,
    ch: &mut dyn Channel,
    batch: usize,
    inputs: &[Batch],
) -> Result<RunResult, ExecError> {
    let result =
        Runner::new(plan, party, side, mat, &mut *ch, batch).and_then(|mut r| r.run_all(inputs));
    if let Err(e) = &result {
        let peer_ended = matches!(
            e,
            ExecError::Transport(TransportError::PeerAborted(_) | TransportError::PeerClosed)
        );
        if !peer_ended {
            ch.abort(&format!("the {party} failed: {e}"));
        }
    }
    result
}

fn encode_input(plan: &Plan, info: &ValueInfo, batch: &Batch) -> Result<Vec<u64>, ExecError> {
    if batch.row_len() != info.len() || batch.data.len() != batch.rows * info.len() {
        return Err(ExecError::Shape(format!(
            "input `{}` has rows of shape {:?}, the plan needs {:?}",
            info.name, batch.row_shape, info.shape
        )));
    }
    let frac = match info.encoding {
        Encoding::Fixed { frac_bits } => frac_bits,
        Encoding::Integer => 0,
    };
    batch
        .data
        .iter()
        .map(|&v| {
            plan.fixed
                .encode_with(v, frac)
                .map_err(|e| ExecError::Encode {
                    input: info.name.clone(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

fn decode(plan: &Plan, encoding: Encoding, ring: &[u64]) -> Vec<f64> {
    match encoding {
        Encoding::Integer => ring.iter().map(|&v| v as i64 as f64).collect(),
        Encoding::Fixed { frac_bits } => ring
            .iter()
            .map(|&v| plan.fixed.decode_with(v, frac_bits))
            .collect(),
    }
}

impl<'a, 'w> Runner<'a, 'w> {
    fn new(
        plan: &'a Plan,
        party: Party,
        side: Side<'w>,
        mat: &'a mut dyn Material,
        ch: &'a mut dyn Channel,
        batch: usize,
    ) -> Result<Self, ExecError> {
        plan.validate()
            .map_err(|e| ExecError::Plan(crate::cost::CostError::Plan(e.to_string())))?;
        if batch == 0 || batch > u32::MAX as usize {
            return Err(ExecError::Shape(format!(
                "a batch of {batch} rows (at least one is needed)"
            )));
        }
        for step in &plan.steps {
            let ins: Vec<&ValueInfo> = step.inputs.iter().map(|v| plan.value(*v)).collect();
            step_cost(
                &step.op,
                step.protocol,
                &ins,
                plan.value(step.output),
                batch,
            )?;
        }
        if mat.party() != party {
            return Err(ExecError::Dealer(crate::dealer::DealerError::WrongParty {
                party,
                what: format!("{}'s", mat.party()),
            }));
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
        Ok(Runner {
            plan,
            party,
            ch,
            mat,
            batch,
            side,
            values: vec![None; plan.values.len()],
            last_use,
        })
    }

    fn run_all(&mut self, inputs: &[Batch]) -> Result<RunResult, ExecError> {
        let start = Instant::now();
        let plan_hash = self
            .plan
            .hash()
            .map_err(|e| ExecError::Internal(e.to_string()))?;
        if self.mat.plan_hash() != plan_hash {
            return Err(ExecError::Dealer(crate::dealer::DealerError::Foreign {
                expected_plan: plan_hash.short(),
                expected_session: self.mat.session().to_hex(),
                found_plan: self.mat.plan_hash().short(),
                found_session: self.mat.session().to_hex(),
            }));
        }
        let mine = hello::Hello {
            plan: plan_hash,
            session: self.mat.session(),
            party: self.party,
            batch: self.batch as u32,
        };
        let before = self.ch.stats();
        hello::exchange(&mut *self.ch, &mine)?;
        self.setup_linear()?;
        let session = self.ch.stats().since(&before);
        let setup_seconds = start.elapsed().as_secs_f64();
        let online = Instant::now();
        let after_setup = self.ch.stats();
        self.share_inputs(inputs)?;
        for i in 0..self.plan.steps.len() {
            let out = self.step(i)?;
            let step = &self.plan.steps[i];
            let expected = self.plan.value(step.output).len() * self.batch;
            if out.words() != expected {
                return Err(ExecError::Internal(format!(
                    "step {i} ({}) produced {} words, {expected} expected",
                    step.op.name(),
                    out.words()
                )));
            }
            self.values[step.output.index()] = Some(out);
            for v in &step.inputs {
                if self.last_use[v.index()] == i {
                    self.values[v.index()] = None;
                }
            }
        }
        let outputs = self.reveal_outputs()?;
        self.ch.flush()?;
        Ok(RunResult {
            outputs,
            stats: RunStats {
                session,
                query: self.ch.stats().since(&after_setup),
                setup_seconds,
                online_seconds: online.elapsed().as_secs_f64(),
            },
        })
    }

    /// Send (server) or receive (client) the masked weights of every linear layer.
    fn setup_linear(&mut self) -> Result<(), ExecError> {
        for (i, step) in self.plan.steps.iter().enumerate() {
            let input = self.plan.value(step.inputs[0]);
            let Some(shape) = linear_shape(&step.op, input)? else {
                continue;
            };
            match &mut self.side {
                Side::Server {
                    weights, linear, ..
                } => {
                    let params = step.op.linear_params().ok_or_else(|| {
                        ExecError::Internal("linear step without parameters".into())
                    })?;
                    let lw = weights.layer(&params.layer).ok_or_else(|| {
                        ExecError::Shape(format!("no weights bound for layer `{}`", params.layer))
                    })?;
                    let bias = expand_bias(&shape, &lw.bias, &params.layer)?;
                    let l = LinearServer::setup(
                        &mut *self.ch,
                        &mut *self.mat,
                        i as u32,
                        shape,
                        lw.weight.clone(),
                    )?;
                    linear.insert(i, ServerLinear { linear: l, bias });
                }
                Side::Client { linear, .. } => {
                    let l = LinearClient::setup(&mut *self.ch, i as u32, shape)?;
                    linear.insert(i, l);
                }
            }
        }
        Ok(())
    }

    fn share_inputs(&mut self, inputs: &[Batch]) -> Result<(), ExecError> {
        if self.party == Party::Client && inputs.len() != self.plan.inputs.len() {
            return Err(ExecError::Shape(format!(
                "{} input batches for a plan with {} inputs",
                inputs.len(),
                self.plan.inputs.len()
            )));
        }
        for (k, spec) in self.plan.inputs.iter().enumerate() {
            let info = self.plan.value(spec.value);
            let n = info.len() * self.batch;
            let own: Vec<u64> = match self.party {
                Party::Client => {
                    if inputs[k].rows != self.batch {
                        return Err(ExecError::Shape(format!(
                            "input `{}` has {} rows, the others {}",
                            info.name, inputs[k].rows, self.batch
                        )));
                    }
                    encode_input(self.plan, info, &inputs[k])?
                }
                Party::Server => vec![0; n],
            };
            let share = match info.protocol {
                Protocol::Arith => Share::A(own),
                Protocol::Gmw => Share::B(own),
                Protocol::Yao => Share::Y(match &mut self.side {
                    Side::Server { yao, .. } => {
                        convert::b2y_server(&mut *self.ch, &mut *self.mat, yao, &own)?
                    }
                    Side::Client { yao, .. } => {
                        convert::b2y_client(&mut *self.ch, &mut *self.mat, yao, &own)?
                    }
                }),
            };
            self.values[spec.value.index()] = Some(share);
        }
        Ok(())
    }

    fn input(&self, i: usize, k: usize) -> Result<&Share, ExecError> {
        let id = self.plan.steps[i].inputs[k];
        self.values[id.index()]
            .as_ref()
            .ok_or_else(|| ExecError::Internal(format!("value {id} read after it was freed")))
    }

    fn step(&mut self, i: usize) -> Result<Share, ExecError> {
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
                arith::mul_with(&mut *self.ch, &mut *self.mat, &x, &x)?
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
                return Err(ExecError::Plan(crate::cost::CostError::Unsupported {
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
        let kind = Conversion::between(from, to)
            .ok_or(ExecError::Plan(crate::cost::CostError::NoConversion(from)))?;
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

    fn reveal_outputs(&mut self) -> Result<Vec<RevealedOutput>, ExecError> {
        let mut outputs = Vec::new();
        for spec in &self.plan.outputs {
            let info = self.plan.value(spec.value);
            let share = self.values[spec.value.index()]
                .as_ref()
                .ok_or_else(|| ExecError::Internal(format!("output `{}` missing", spec.name)))?;
            let me = self.party;
            let ch = &mut *self.ch;
            let opened: Option<Vec<u64>> = match (share, &mut self.side) {
                (Share::A(v), _) => arith::reveal_to(ch, me, spec.to, v)?,
                (Share::B(v), _) => open_xor(ch, me, spec.to, v)?,
                (Share::Y(y), Side::Server { yao, .. }) => {
                    if spec.to == Party::Client {
                        yao.reveal(ch, y)?;
                        None
                    } else {
                        open_xor(ch, me, spec.to, &convert::y2b(y))?
                    }
                }
                (Share::Y(y), Side::Client { yao, .. }) => {
                    if spec.to == Party::Client {
                        Some(yao.reveal(ch, y)?)
                    } else {
                        open_xor(ch, me, spec.to, &convert::y2b(y))?
                    }
                }
            };
            if let Some(ring) = opened {
                outputs.push(RevealedOutput {
                    name: spec.name.clone(),
                    reveal: spec.reveal,
                    shape: info.shape.clone(),
                    encoding: info.encoding,
                    rows: self.batch,
                    values: decode(self.plan, info.encoding, &ring),
                    ring,
                });
            }
        }
        Ok(outputs)
    }
}

/// Open XOR shares to `to` only: the other party sends its share.
fn open_xor(
    ch: &mut dyn Channel,
    me: Party,
    to: Party,
    shares: &[u64],
) -> Result<Option<Vec<u64>>, ExecError> {
    if me == to {
        let theirs = ch.recv_u64s(shares.len())?;
        Ok(Some(
            theirs.iter().zip(shares).map(|(a, b)| a ^ b).collect(),
        ))
    } else {
        ch.send_u64s(shares)?;
        ch.flush()?;
        Ok(None)
    }
}

/// A bias per output (dense) or per output channel (conv2d), laid out per
/// output element so it can be added to each row.
fn expand_bias(shape: &LinearShape, bias: &[u64], layer: &str) -> Result<Vec<u64>, ExecError> {
    let out = shape.output_len();
    match shape {
        LinearShape::Dense { outputs, .. } if bias.len() == *outputs => Ok(bias.to_vec()),
        LinearShape::Conv2d(c) if bias.len() == c.out_channels && c.out_channels > 0 => {
            let per = out / c.out_channels;
            Ok(bias
                .iter()
                .flat_map(|b| std::iter::repeat_n(*b, per))
                .collect())
        }
        _ => Err(ExecError::Shape(format!(
            "layer `{layer}`: a bias of {} elements does not fit {} outputs",
            bias.len(),
            out
        ))),
    }
}
