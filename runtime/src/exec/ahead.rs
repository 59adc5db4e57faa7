//! The ahead-of-query phase: everything that does not depend on the
//! client's input, done before the input is used.
//!
//! After the preamble and the masked weights (`E = W − U` per linear
//! layer), the **server** walks the whole plan once and garbles every Y
//! part of it: the input labels' OT corrections (B→Y of Y inputs, A→Y,
//! B→Y), the tables of every Y circuit, the Y→A masks with their labels
//! and decoding bits, and the decoding bits of every Y output revealed to
//! the client. Garbling needs only the zero-labels, which the server picks
//! itself, so all of it is known before the query; it goes to the client
//! in **one flight** ([`crate::yao::YaoServer::send_ahead`]), which the
//! client receives whole. Both parties then draw their dealer material for
//! the query: the client's random OTs and its linear layers'
//! `L(E, v) + z1`, the server's `z0`, and every per-element pool (AND
//! triples, shared bits, Beaver triples, truncation pairs) in the order the
//! query will use them ([`crate::dealer::Prefetched`]).
//!
//! What is left for the query is only input-dependent: masked
//! activations, Beaver and truncation openings, GMW levels, B→A openings,
//! the client's OT flips and the server's label answers, output shares —
//! and local work (Yao evaluation, plaintext layers).
//!
//! Security: the ahead messages are exactly the messages the one-shot
//! protocols send, only earlier; none depends on an input, so sending
//! them first reveals nothing more (the garbled tables and decoding
//! information of Yao's protocol are input-independent by construction,
//! and `E` is one-time padded by `U`).

use super::party::{Runner, Side};
use super::steps::yao_apply;
use super::ExecError;
use crate::arith::{PreparedRows, ServerRows};
use crate::convert::{A2yServerPrep, B2yServerPrep, ClientOtPrep, Conversion};
use crate::cost::linear_shape;
use crate::dealer::Pool;
use crate::plan::{Op, Party, Protocol};
use crate::yao::YShare;

/// What the ahead phase prepared for one step or input.
pub(super) enum Prep {
    /// Server, A→Y: OTs and the zero-labels of its own share.
    A2yServer(A2yServerPrep),
    /// Server, B→Y (or a Y input): OTs and zero-labels.
    B2yServer(B2yServerPrep),
    /// Client, A→Y or B→Y (or a Y input): its random OTs.
    OtClient(ClientOtPrep),
    /// Server, Y→A: its additive share, the mask `r`.
    Y2aServer(Vec<u64>),
    /// Server, linear layer: its share `z0` of the matrix triples.
    ServerRows(ServerRows),
    /// Client, linear layer: `v` and `L(E, v) + z1`.
    ClientRows(PreparedRows),
}

/// Pools the prefetcher draws for the query; the others (random OTs,
/// matrix triples, weight masks) are drawn by their protocol's own
/// preparation above.
fn prefetched(pool: Pool) -> bool {
    matches!(
        pool,
        Pool::Beaver
            | Pool::Square
            | Pool::And
            | Pool::SharedBits
            | Pool::EdaBits
            | Pool::Trunc { .. }
    )
}

impl Runner<'_, '_> {
    /// The ahead-of-query phase after the masked weights (see the module docs).
    pub(super) fn run_ahead(&mut self) -> Result<(), ExecError> {
        match self.party {
            Party::Server => self.server_ahead()?,
            Party::Client => self.client_ahead()?,
        }
        self.prepare_linear()?;
        for r in &self.requests {
            if prefetched(r.pool) {
                let n = usize::try_from(r.n)
                    .map_err(|_| ExecError::Shape(format!("{} items of {}", r.n, r.pool.name())))?;
                self.mat.fetch(r.pool, n)?;
            }
        }
        Ok(())
    }

    fn server_ahead(&mut self) -> Result<(), ExecError> {
        let plan = self.plan;
        let batch = self.batch;
        let Side::Server { yao, .. } = &mut self.side else {
            return Err(ExecError::Internal("server_ahead on the client".into()));
        };
        let ys = &mut self.ahead_y;
        let get = |ys: &[Option<YShare>], v: usize| -> Result<YShare, ExecError> {
            ys[v]
                .clone()
                .ok_or_else(|| ExecError::Internal(format!("Y value {v} garbled before its input")))
        };
        for (k, spec) in plan.inputs.iter().enumerate() {
            let info = plan.value(spec.value);
            if info.protocol == Protocol::Yao {
                let prep = yao.prepare_b2y(&mut self.mat, info.len() * batch)?;
                ys[spec.value.index()] = Some(prep.output().clone());
                self.prep_inputs[k] = Some(Prep::B2yServer(prep));
            }
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let input = plan.value(step.inputs[0]);
            let n = input.len() * batch;
            let out = step.output.index();
            if let Op::Convert = step.op {
                match Conversion::between(input.protocol, step.protocol) {
                    Some(Conversion::A2Y) => {
                        let prep = yao.prepare_a2y(&mut self.mat, n, 0)?;
                        ys[out] = Some(prep.output().clone());
                        self.prep[i] = Some(Prep::A2yServer(prep));
                    }
                    Some(Conversion::B2Y) => {
                        let prep = yao.prepare_b2y(&mut self.mat, n)?;
                        ys[out] = Some(prep.output().clone());
                        self.prep[i] = Some(Prep::B2yServer(prep));
                    }
                    Some(Conversion::Y2A) => {
                        let x = get(ys, step.inputs[0].index())?;
                        self.prep[i] = Some(Prep::Y2aServer(yao.prepare_y2a(&x)?));
                    }
                    _ => {}
                }
            } else if step.protocol == Protocol::Yao {
                let operands = step
                    .inputs
                    .iter()
                    .map(|v| get(ys, v.index()))
                    .collect::<Result<Vec<_>, _>>()?;
                let refs: Vec<&YShare> = operands.iter().collect();
                ys[out] = Some(yao_apply(plan, batch, i, &refs, |c, x| {
                    yao.prepare_eval(c, x)
                })?);
            }
        }
        for spec in &plan.outputs {
            let info = plan.value(spec.value);
            if info.protocol == Protocol::Yao && spec.to == Party::Client {
                yao.prepare_reveal(&get(ys, spec.value.index())?);
            }
        }
        if yao.pending_ahead_frames() != self.ahead_frames {
            return Err(ExecError::Internal(format!(
                "{} ahead-of-query frames prepared, the cost model counts {}",
                yao.pending_ahead_frames(),
                self.ahead_frames
            )));
        }
        yao.send_ahead(&mut *self.ch)?;
        Ok(())
    }

    fn client_ahead(&mut self) -> Result<(), ExecError> {
        let plan = self.plan;
        let batch = self.batch;
        let Side::Client { yao, .. } = &mut self.side else {
            return Err(ExecError::Internal("client_ahead on the server".into()));
        };
        yao.receive_ahead(&mut *self.ch, self.ahead_frames)?;
        for (k, spec) in plan.inputs.iter().enumerate() {
            let info = plan.value(spec.value);
            if info.protocol == Protocol::Yao {
                let prep = yao.prepare_b2y(&mut self.mat, info.len() * batch)?;
                self.prep_inputs[k] = Some(Prep::OtClient(prep));
            }
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let input = plan.value(step.inputs[0]);
            let n = input.len() * batch;
            if let Op::Convert = step.op {
                match Conversion::between(input.protocol, step.protocol) {
                    Some(Conversion::A2Y) => {
                        self.prep[i] =
                            Some(Prep::OtClient(yao.prepare_a2y(&mut self.mat, n, 0)?));
                    }
                    Some(Conversion::B2Y) => {
                        self.prep[i] = Some(Prep::OtClient(yao.prepare_b2y(&mut self.mat, n)?));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Draw each linear layer's matrix-triple rows for the query (the
    /// client also computes `L(E, v) + z1`).
    fn prepare_linear(&mut self) -> Result<(), ExecError> {
        for (i, step) in self.plan.steps.iter().enumerate() {
            if linear_shape(&step.op, self.plan.value(step.inputs[0]))?.is_none() {
                continue;
            }
            let missing = || ExecError::Internal(format!("layer {i} was not set up"));
            self.prep[i] = Some(match &self.side {
                Side::Server { linear, .. } => {
                    let l = linear.get(&i).ok_or_else(missing)?;
                    Prep::ServerRows(l.linear.prepare(&mut self.mat, self.batch)?)
                }
                Side::Client { linear, .. } => {
                    let l = linear.get(&i).ok_or_else(missing)?;
                    Prep::ClientRows(l.prepare(&mut self.mat, self.batch)?)
                }
            });
        }
        Ok(())
    }

    /// The server's Y share of value `v`, garbled ahead (moved out: the
    /// query uses it once).
    pub(super) fn take_ahead_y(&mut self, v: usize) -> Result<YShare, ExecError> {
        self.ahead_y[v]
            .take()
            .ok_or_else(|| ExecError::Internal(format!("Y value {v} was not garbled ahead")))
    }

    /// The online part of B→Y (or of sharing a Y input) for value `v`:
    /// the client sends its flips, the server answers with labels.
    pub(super) fn online_b2y(
        &mut self,
        prep: Option<Prep>,
        v: usize,
        shares: &[u64],
    ) -> Result<YShare, ExecError> {
        match (prep, &mut self.side) {
            (Some(Prep::B2yServer(p)), Side::Server { yao, .. }) => {
                yao.online_b2y(&mut *self.ch, &p, shares)?;
                self.take_ahead_y(v)
            }
            (Some(Prep::OtClient(p)), Side::Client { yao, .. }) => {
                Ok(yao.online_b2y(&mut *self.ch, &p, shares)?)
            }
            _ => Err(ExecError::Internal(format!(
                "B→Y of value {v} was not prepared"
            ))),
        }
    }

    /// The online part of A→Y for value `v`.
    pub(super) fn online_a2y(
        &mut self,
        prep: Option<Prep>,
        v: usize,
        shares: &[u64],
    ) -> Result<YShare, ExecError> {
        match (prep, &mut self.side) {
            (Some(Prep::A2yServer(p)), Side::Server { yao, .. }) => {
                yao.online_a2y(&mut *self.ch, &p, shares)?;
                self.take_ahead_y(v)
            }
            (Some(Prep::OtClient(p)), Side::Client { yao, .. }) => {
                Ok(yao.online_a2y(&mut *self.ch, &p, shares)?)
            }
            _ => Err(ExecError::Internal(format!(
                "A→Y of value {v} was not prepared"
            ))),
        }
    }

    /// Y→A in the query: the server's share was fixed ahead (its mask); the
    /// client evaluates `x − r` with the ahead frames (local).
    pub(super) fn online_y2a(
        &mut self,
        prep: Option<Prep>,
        x: &YShare,
    ) -> Result<Vec<u64>, ExecError> {
        match (prep, &mut self.side) {
            (Some(Prep::Y2aServer(r)), Side::Server { .. }) => Ok(r),
            (None, Side::Client { yao, .. }) => Ok(yao.y2a_prepared(x)?),
            _ => Err(ExecError::Internal("Y→A was not prepared".into())),
        }
    }
}
