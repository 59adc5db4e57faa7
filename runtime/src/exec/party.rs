//! One party's walk through the plan: the ahead-of-query phase (preamble,
//! masked weights, then [`super::ahead`]), input sharing, the steps
//! (dispatched to [`super::steps`]), output reveals.

use super::ahead::Prep;
pub use super::result::{ClientResult, RevealedOutput, RunResult, RunStats};
use super::{hello, ExecError};
use crate::arith::{self, linear::LinearShape, LinearClient, LinearServer};
use crate::convert;
use crate::cost::{linear_shape, plan_ahead_frames, requests, step_cost, Request};
use crate::dealer::{Material, Prefetched};
use crate::plan::{Encoding, Party, Plan, Protocol, ValueInfo};
use crate::prg::Prg;
use crate::tensor_io::Batch;
use crate::transport::{Channel, TransportError};
use crate::weights::BoundWeights;
use crate::yao::{YShare, YaoClient, YaoServer};
use std::collections::BTreeMap;
use std::time::Instant;

/// One party's share of a value.
#[derive(Clone)]
pub(super) enum Share {
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

pub(super) struct ServerLinear {
    pub(super) linear: LinearServer,
    pub(super) bias: Vec<u64>,
}

pub(super) enum Side<'w> {
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

pub(super) struct Runner<'a, 'w> {
    pub(super) plan: &'a Plan,
    pub(super) party: Party,
    pub(super) ch: &'a mut dyn Channel,
    pub(super) mat: Prefetched<'a>,
    pub(super) batch: usize,
    pub(super) side: Side<'w>,
    pub(super) values: Vec<Option<Share>>,
    pub(super) last_use: Vec<usize>,
    /// What the ahead phase prepared for each step (by step index).
    pub(super) prep: Vec<Option<Prep>>,
    /// What the ahead phase prepared for each plan input (Y inputs).
    pub(super) prep_inputs: Vec<Option<Prep>>,
    /// The server's Y shares, garbled ahead (by value index).
    pub(super) ahead_y: Vec<Option<YShare>>,
    /// Ahead-of-query frames after the masked weights (the client reads them).
    pub(super) ahead_frames: usize,
    /// The dealer material the query draws, in order (prefetched ahead).
    pub(super) requests: Vec<Request>,
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
        crate::limits::batch(plan, batch).map_err(crate::cost::CostError::TooLarge)?;
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
        let ahead_frames = usize::try_from(plan_ahead_frames(plan, batch)?.messages)
            .map_err(|_| ExecError::Shape("too many ahead-of-query frames".into()))?;
        let requests = requests(plan, batch)?;
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
            mat: Prefetched::new(mat),
            batch,
            side,
            values: vec![None; plan.values.len()],
            last_use,
            prep: (0..plan.steps.len()).map(|_| None).collect(),
            prep_inputs: (0..plan.inputs.len()).map(|_| None).collect(),
            ahead_y: vec![None; plan.values.len()],
            ahead_frames,
            requests,
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
        if let Side::Server { weights, .. } = &self.side {
            if weights.plan_hash != plan_hash {
                return Err(ExecError::Shape(format!(
                    "the weights were bound to plan {}, this run is plan {}",
                    weights.plan_hash.short(),
                    plan_hash.short()
                )));
            }
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
        self.run_ahead()?;
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
                        &mut self.mat,
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
                Protocol::Yao => {
                    let prep = self.prep_inputs[k].take();
                    Share::Y(self.online_b2y(prep, spec.value.index(), &own)?)
                }
            };
            self.values[spec.value.index()] = Some(share);
        }
        Ok(())
    }

    pub(super) fn input(&self, i: usize, k: usize) -> Result<&Share, ExecError> {
        let id = self.plan.steps[i].inputs[k];
        self.values[id.index()]
            .as_ref()
            .ok_or_else(|| ExecError::Internal(format!("value {id} read after it was freed")))
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
                // The decoding bits went ahead of the query.
                (Share::Y(_), Side::Server { .. }) if spec.to == Party::Client => None,
                (Share::Y(y), Side::Client { yao, .. }) if spec.to == Party::Client => {
                    Some(yao.reveal_prepared(y)?)
                }
                (Share::Y(y), _) => open_xor(ch, me, spec.to, &convert::y2b(y))?,
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
