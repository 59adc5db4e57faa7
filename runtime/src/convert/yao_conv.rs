//! A2Y, Y2A, B2Y and Y2B between the server (garbler) and the client
//! (evaluator), in two phases — `prepare_*` (input-independent: garbling,
//! OT corrections, masks; queued for the ahead-of-query flight) and
//! `online_*` (the input-dependent messages) — plus one-shot functions that
//! run both at once.

use super::BooleanError;
use crate::circuit::{library, Style};
use crate::dealer::{Material, RandomOts};
use crate::transport::Channel;
use crate::yao::party::Ahead;
use crate::yao::{colour_bits, OtKeys, YShare, YaoClient, YaoServer};

fn sender_ots<M: Material + ?Sized>(mat: &mut M, n: usize) -> Result<Vec<[u128; 2]>, BooleanError> {
    match mat.random_ots(n)? {
        RandomOts::Sender { msgs } => Ok(msgs),
        RandomOts::Receiver { .. } => Err(BooleanError::Material("the server got receiver OTs")),
    }
}

fn receiver_ots<M: Material + ?Sized>(
    mat: &mut M,
    n: usize,
) -> Result<(Vec<u64>, Vec<u128>), BooleanError> {
    match mat.random_ots(n)? {
        RandomOts::Receiver { choices, msgs } => Ok((choices, msgs)),
        RandomOts::Sender { .. } => Err(BooleanError::Material("the client got sender OTs")),
    }
}

/// Word-wise `values ⊕ choices`: the flips `e = b ⊕ c` of 64 input bits per word.
fn flips(values: &[u64], choices: &[u64]) -> Result<Vec<u64>, BooleanError> {
    if choices.len() != values.len() {
        return Err(BooleanError::Shape(format!(
            "random OTs cover {} words, the input has {}",
            choices.len(),
            values.len()
        )));
    }
    Ok(values.iter().zip(choices).map(|(v, c)| v ^ c).collect())
}

/// The server's state of a prepared A2Y.
pub struct A2yServerPrep {
    ots: Vec<[u128; 2]>,
    own_zero: Vec<u128>,
    their_zero: Vec<u128>,
    output: YShare,
}

impl A2yServerPrep {
    /// The server's share of the result (available before the query).
    pub fn output(&self) -> &YShare {
        &self.output
    }
}

/// The server's state of a prepared B2Y.
pub struct B2yServerPrep {
    ots: Vec<[u128; 2]>,
    output: YShare,
}

impl B2yServerPrep {
    /// The server's share of the result (available before the query).
    pub fn output(&self) -> &YShare {
        &self.output
    }
}

/// The client's state of a prepared A2Y or B2Y: its random OTs.
pub struct ClientOtPrep {
    choices: Vec<u64>,
    msgs: Vec<u128>,
    trunc: u32,
}

impl YaoServer {
    /// A2Y, ahead of the query, for `n` words: garble the ripple adder with
    /// truncation by `trunc` folded in, and queue its tables and the OT
    /// corrections (2 frames). Consumes `64 n` random OTs.
    pub fn prepare_a2y<M: Material + ?Sized>(
        &mut self,
        mat: &mut M,
        n: usize,
        trunc: u32,
    ) -> Result<A2yServerPrep, BooleanError> {
        let circuit = library::add_shift(Style::Size, trunc);
        let zero = self.garbler.fresh_labels(&mut self.rng, 128 * n);
        let garbled = self.garbler.garble(&circuit, &zero, n)?;
        let ots = sender_ots(mat, 64 * n)?;
        self.ahead.push(Ahead::Labels(garbled.tables));
        self.ahead
            .push(Ahead::Labels(self.garbler.ot_corrections(&ots)));
        let mut own_zero = Vec::with_capacity(64 * n);
        let mut their_zero = Vec::with_capacity(64 * n);
        for e in 0..n {
            own_zero.extend_from_slice(&zero[128 * e..128 * e + 64]);
            their_zero.extend_from_slice(&zero[128 * e + 64..128 * e + 128]);
        }
        Ok(A2yServerPrep {
            ots,
            own_zero,
            their_zero,
            output: YShare::from_labels(garbled.outputs)?,
        })
    }

    /// A2Y online: receive the client's flips, answer with the labels of
    /// this party's additive share and the OT answers, in one frame.
    pub fn online_a2y<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        prep: &A2yServerPrep,
        shares: &[u64],
    ) -> Result<(), BooleanError> {
        let e_bits = ch.recv_u64s(shares.len())?;
        let mut reply = self.garbler.encode(&prep.own_zero, shares)?;
        reply.extend(
            self.garbler
                .ot_respond(&prep.their_zero, &prep.ots, &e_bits, None)?,
        );
        ch.send_u128s(&reply)?;
        ch.flush()?;
        Ok(())
    }

    /// B2Y, ahead of the query, for `n` words: fresh zero-labels and the OT
    /// corrections (1 frame). Consumes `64 n` random OTs.
    pub fn prepare_b2y<M: Material + ?Sized>(
        &mut self,
        mat: &mut M,
        n: usize,
    ) -> Result<B2yServerPrep, BooleanError> {
        let zero = self.garbler.fresh_labels(&mut self.rng, 64 * n);
        let ots = sender_ots(mat, 64 * n)?;
        self.ahead
            .push(Ahead::Labels(self.garbler.ot_corrections(&ots)));
        Ok(B2yServerPrep {
            ots,
            output: YShare::from_labels(zero)?,
        })
    }

    /// B2Y online: receive the client's flips and answer with labels whose
    /// meaning this party's XOR share flips (no garbled gate at all).
    pub fn online_b2y<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        prep: &B2yServerPrep,
        shares: &[u64],
    ) -> Result<(), BooleanError> {
        let e_bits = ch.recv_u64s(shares.len())?;
        let answer =
            self.garbler
                .ot_respond(prep.output.labels(), &prep.ots, &e_bits, Some(shares))?;
        ch.send_u128s(&answer)?;
        ch.flush()?;
        Ok(())
    }

    /// Y2A, entirely ahead of the query: pick a random mask `r`, garble
    /// `x − r`, queue the tables, the labels of `r` and the decoding bits (3
    /// frames). Returns this party's additive share, `r`.
    pub fn prepare_y2a(&mut self, x: &YShare) -> Result<Vec<u64>, BooleanError> {
        let n = x.words();
        let circuit = library::sub_mask(Style::Size);
        let r = self.rng.u64s(n);
        let r_zero = YShare::from_labels(self.garbler.fresh_labels(&mut self.rng, 64 * n))?;
        let inputs = YShare::interleave(&[x, &r_zero])?;
        let garbled = self.garbler.garble(&circuit, inputs.labels(), n)?;
        self.ahead.push(Ahead::Labels(garbled.tables));
        self.ahead
            .push(Ahead::Labels(self.garbler.encode(r_zero.labels(), &r)?));
        self.ahead.push(Ahead::Words(colour_bits(&garbled.outputs)));
        Ok(r)
    }
}

impl YaoClient {
    /// A2Y, before the query: draw the `64 n` random OTs.
    pub fn prepare_a2y<M: Material + ?Sized>(
        &mut self,
        mat: &mut M,
        n: usize,
        trunc: u32,
    ) -> Result<ClientOtPrep, BooleanError> {
        let (choices, msgs) = receiver_ots(mat, 64 * n)?;
        Ok(ClientOtPrep {
            choices,
            msgs,
            trunc,
        })
    }

    /// A2Y online: send the flips, take the tables and corrections from the
    /// ahead frames, receive the labels, evaluate the adder.
    pub fn online_a2y<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        prep: &ClientOtPrep,
        shares: &[u64],
    ) -> Result<YShare, BooleanError> {
        let n = shares.len();
        let circuit = library::add_shift(Style::Size, prep.trunc);
        ch.send_u64s(&flips(shares, &prep.choices)?)?;
        ch.flush()?;
        let tables = self.pop_labels(2 * circuit.and_count() as usize * n, "A2Y tables")?;
        let corrections = self.pop_labels(64 * n, "A2Y OT corrections")?;
        let keys = OtKeys::new(&prep.choices, &prep.msgs, &corrections)?;
        let reply = ch.recv_u128s(128 * n)?;
        let (own, answer) = reply.split_at(64 * n);
        let theirs = keys.finish(answer)?;
        let mut active = Vec::with_capacity(128 * n);
        for e in 0..n {
            active.extend_from_slice(&own[64 * e..64 * e + 64]);
            active.extend_from_slice(&theirs[64 * e..64 * e + 64]);
        }
        let out = self.evaluator.evaluate(&circuit, &tables, &active, n)?;
        YShare::from_labels(out)
    }

    /// B2Y, before the query: draw the `64 n` random OTs.
    pub fn prepare_b2y<M: Material + ?Sized>(
        &mut self,
        mat: &mut M,
        n: usize,
    ) -> Result<ClientOtPrep, BooleanError> {
        let (choices, msgs) = receiver_ots(mat, 64 * n)?;
        Ok(ClientOtPrep {
            choices,
            msgs,
            trunc: 0,
        })
    }

    /// B2Y online: send the flips, receive the answer, unmask the labels.
    pub fn online_b2y<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        prep: &ClientOtPrep,
        shares: &[u64],
    ) -> Result<YShare, BooleanError> {
        ch.send_u64s(&flips(shares, &prep.choices)?)?;
        ch.flush()?;
        let corrections = self.pop_labels(64 * shares.len(), "B2Y OT corrections")?;
        let keys = OtKeys::new(&prep.choices, &prep.msgs, &corrections)?;
        let answer = ch.recv_u128s(64 * shares.len())?;
        YShare::from_labels(keys.finish(&answer)?)
    }

    /// Y2A (local, from the ahead frames): evaluate `x − r` and decode it;
    /// the result is this party's additive share.
    pub fn y2a_prepared(&mut self, x: &YShare) -> Result<Vec<u64>, BooleanError> {
        let n = x.words();
        let circuit = library::sub_mask(Style::Size);
        let tables = self.pop_labels(2 * circuit.and_count() as usize * n, "Y2A tables")?;
        let r_labels = YShare::from_labels(self.pop_labels(64 * n, "Y2A mask labels")?)?;
        let decoding = self.pop_words(n, "Y2A decoding bits")?;
        let inputs = YShare::interleave(&[x, &r_labels])?;
        let out = self
            .evaluator
            .evaluate(&circuit, &tables, inputs.labels(), n)?;
        Ok(crate::yao::decode(&out, &decoding)?)
    }
}

/// One-shot A2Y, server side: additive share in, Y share of
/// `(x0 + x1) >> trunc` out ([`YaoServer::prepare_a2y`], send, online).
pub fn a2y_server<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    ys: &mut YaoServer,
    shares: &[u64],
    trunc: u32,
) -> Result<YShare, BooleanError> {
    let prep = ys.prepare_a2y(mat, shares.len(), trunc)?;
    ys.send_ahead(ch)?;
    ys.online_a2y(ch, &prep, shares)?;
    Ok(prep.output)
}

/// One-shot A2Y, client side.
pub fn a2y_client<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    yc: &mut YaoClient,
    shares: &[u64],
    trunc: u32,
) -> Result<YShare, BooleanError> {
    let prep = yc.prepare_a2y(mat, shares.len(), trunc)?;
    yc.receive_ahead(ch, 2)?;
    yc.online_a2y(ch, &prep, shares)
}

/// One-shot Y2A, server side: returns its additive share `r`.
pub fn y2a_server<C: Channel + ?Sized>(
    ch: &mut C,
    ys: &mut YaoServer,
    x: &YShare,
) -> Result<Vec<u64>, BooleanError> {
    let r = ys.prepare_y2a(x)?;
    ys.send_ahead(ch)?;
    Ok(r)
}

/// One-shot Y2A, client side: returns its additive share `x − r`.
pub fn y2a_client<C: Channel + ?Sized>(
    ch: &mut C,
    yc: &mut YaoClient,
    x: &YShare,
) -> Result<Vec<u64>, BooleanError> {
    yc.receive_ahead(ch, 3)?;
    yc.y2a_prepared(x)
}

/// One-shot B2Y, server side: XOR share in, Y share out.
pub fn b2y_server<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    ys: &mut YaoServer,
    shares: &[u64],
) -> Result<YShare, BooleanError> {
    let prep = ys.prepare_b2y(mat, shares.len())?;
    ys.send_ahead(ch)?;
    ys.online_b2y(ch, &prep, shares)?;
    Ok(prep.output)
}

/// One-shot B2Y, client side.
pub fn b2y_client<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    yc: &mut YaoClient,
    shares: &[u64],
) -> Result<YShare, BooleanError> {
    let prep = yc.prepare_b2y(mat, shares.len())?;
    yc.receive_ahead(ch, 1)?;
    yc.online_b2y(ch, &prep, shares)
}

/// Y2B, either party: the colour bits of its labels are its XOR share
/// (`lsb(Z) ⊕ lsb(Z ⊕ xΔ) = x` because `lsb(Δ) = 1`). No communication.
pub fn y2b(y: &YShare) -> Vec<u64> {
    colour_bits(y.labels())
}
