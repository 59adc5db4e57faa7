//! A2Y, Y2A, B2Y and Y2B between the server (garbler) and the client
//! (evaluator). Each server function sends its input-independent messages
//! first (ahead-of-query traffic in [`super::cost`]), then the online ones.

use super::BooleanError;
use crate::circuit::{library, Style};
use crate::dealer::{Material, RandomOts};
use crate::transport::Channel;
use crate::yao::{colour_bits, decode, OtKeys, YShare, YaoClient, YaoServer};

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
        return Err(BooleanError::Shape(
            "OT choices do not cover the input".into(),
        ));
    }
    Ok(values.iter().zip(choices).map(|(v, c)| v ^ c).collect())
}

/// A2Y, server side: additive share in, Y share of `(x0 + x1) >> trunc` out.
/// Ahead: the ripple adder's tables and the OT corrections; online: receives
/// the client's flips, answers with its own share's labels and the OT answers
/// in one frame. Consumes `64 n` random OTs.
pub fn a2y_server<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    ys: &mut YaoServer,
    shares: &[u64],
    trunc: u32,
) -> Result<YShare, BooleanError> {
    let n = shares.len();
    let circuit = library::add_shift(Style::Size, trunc);
    let zero = ys.garbler.fresh_labels(&mut ys.rng, 128 * n);
    let garbled = ys.garbler.garble(&circuit, &zero, n)?;
    let ots = sender_ots(mat, 64 * n)?;
    ch.send_u128s(&garbled.tables)?;
    ch.send_u128s(&ys.garbler.ot_corrections(&ots))?;
    ch.flush()?;
    let mut own_zero = Vec::with_capacity(64 * n);
    let mut their_zero = Vec::with_capacity(64 * n);
    for e in 0..n {
        own_zero.extend_from_slice(&zero[128 * e..128 * e + 64]);
        their_zero.extend_from_slice(&zero[128 * e + 64..128 * e + 128]);
    }
    let e_bits = ch.recv_u64s(n)?;
    let mut reply = ys.garbler.encode(&own_zero, shares)?;
    reply.extend(ys.garbler.ot_respond(&their_zero, &ots, &e_bits, None)?);
    ch.send_u128s(&reply)?;
    ch.flush()?;
    YShare::from_labels(garbled.outputs)
}

/// A2Y, client side (see [`a2y_server`]).
pub fn a2y_client<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    yc: &mut YaoClient,
    shares: &[u64],
    trunc: u32,
) -> Result<YShare, BooleanError> {
    let n = shares.len();
    let circuit = library::add_shift(Style::Size, trunc);
    let (choices, msgs) = receiver_ots(mat, 64 * n)?;
    ch.send_u64s(&flips(shares, &choices)?)?;
    ch.flush()?;
    let tables = ch.recv_u128s(2 * circuit.and_count() as usize * n)?;
    let corrections = ch.recv_u128s(64 * n)?;
    let keys = OtKeys::new(&choices, &msgs, &corrections)?;
    let reply = ch.recv_u128s(128 * n)?;
    let (own, answer) = reply.split_at(64 * n);
    let theirs = keys.finish(answer)?;
    let mut active = Vec::with_capacity(128 * n);
    for e in 0..n {
        active.extend_from_slice(&own[64 * e..64 * e + 64]);
        active.extend_from_slice(&theirs[64 * e..64 * e + 64]);
    }
    let out = yc.evaluator.evaluate(&circuit, &tables, &active, n)?;
    YShare::from_labels(out)
}

/// Y2A, server side: picks a random mask `r`, garbles `x − r`, and sends the
/// tables, the labels of `r` and the decoding bits — all before the query,
/// nothing online. Returns its additive share `r`.
pub fn y2a_server<C: Channel + ?Sized>(
    ch: &mut C,
    ys: &mut YaoServer,
    x: &YShare,
) -> Result<Vec<u64>, BooleanError> {
    let n = x.words();
    let circuit = library::sub_mask(Style::Size);
    let r = ys.rng.u64s(n);
    let r_zero = YShare::from_labels(ys.garbler.fresh_labels(&mut ys.rng, 64 * n))?;
    let inputs = YShare::interleave(&[x, &r_zero])?;
    let garbled = ys.garbler.garble(&circuit, inputs.labels(), n)?;
    ch.send_u128s(&garbled.tables)?;
    ch.send_u128s(&ys.garbler.encode(r_zero.labels(), &r)?)?;
    ch.send_u64s(&colour_bits(&garbled.outputs))?;
    ch.flush()?;
    Ok(r)
}

/// Y2A, client side: evaluates `x − r` and decodes it as its additive share.
pub fn y2a_client<C: Channel + ?Sized>(
    ch: &mut C,
    yc: &mut YaoClient,
    x: &YShare,
) -> Result<Vec<u64>, BooleanError> {
    let n = x.words();
    let circuit = library::sub_mask(Style::Size);
    let tables = ch.recv_u128s(2 * circuit.and_count() as usize * n)?;
    let r_labels = YShare::from_labels(ch.recv_u128s(64 * n)?)?;
    let decoding = ch.recv_u64s(n)?;
    let inputs = YShare::interleave(&[x, &r_labels])?;
    let out = yc
        .evaluator
        .evaluate(&circuit, &tables, inputs.labels(), n)?;
    Ok(decode(&out, &decoding)?)
}

/// B2Y, server side: XOR share in, Y share out. Ahead: OT corrections;
/// online: receives the client's flips and answers with labels whose
/// meaning its own share flips (no garbled gate at all).
pub fn b2y_server<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    ys: &mut YaoServer,
    shares: &[u64],
) -> Result<YShare, BooleanError> {
    let n = shares.len();
    let zero = ys.garbler.fresh_labels(&mut ys.rng, 64 * n);
    let ots = sender_ots(mat, 64 * n)?;
    ch.send_u128s(&ys.garbler.ot_corrections(&ots))?;
    ch.flush()?;
    let e_bits = ch.recv_u64s(n)?;
    ch.send_u128s(&ys.garbler.ot_respond(&zero, &ots, &e_bits, Some(shares))?)?;
    ch.flush()?;
    YShare::from_labels(zero)
}

/// B2Y, client side (see [`b2y_server`]).
pub fn b2y_client<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    shares: &[u64],
) -> Result<YShare, BooleanError> {
    let n = shares.len();
    let (choices, msgs) = receiver_ots(mat, 64 * n)?;
    ch.send_u64s(&flips(shares, &choices)?)?;
    ch.flush()?;
    let corrections = ch.recv_u128s(64 * n)?;
    let keys = OtKeys::new(&choices, &msgs, &corrections)?;
    let answer = ch.recv_u128s(64 * n)?;
    YShare::from_labels(keys.finish(&answer)?)
}

/// Y2B, either party: the colour bits of its labels are its XOR share
/// (`lsb(Z) ⊕ lsb(Z ⊕ xΔ) = x` because `lsb(Δ) = 1`). No communication.
pub fn y2b(y: &YShare) -> Vec<u64> {
    colour_bits(y.labels())
}
