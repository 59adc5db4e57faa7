//! A2B and B2A: between additive and XOR sharing, in GMW.

use super::BooleanError;
use crate::circuit::{library, Style};
use crate::dealer::Material;
use crate::plan::Party;
use crate::transport::Channel;

/// A2B inputs for the adder circuit: the server's share becomes the
/// XOR-shared word pair `[x0, 0]`, the client's `[0, x1]` (a value known to
/// one party is its own XOR sharing with a zero share), element by element.
pub fn a2b_inputs(party: Party, shares: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(2 * shares.len());
    for &s in shares {
        match party {
            Party::Server => out.extend_from_slice(&[s, 0]),
            Party::Client => out.extend_from_slice(&[0, s]),
        }
    }
    out
}

/// A2B: additive shares of `x` in, XOR shares of `x >> trunc` (arithmetic,
/// exact) out, by [`library::add_shift`] with the log-depth adder in GMW.
/// `trunc = 0` converts without truncation.
pub fn a2b<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    shares: &[u64],
    trunc: u32,
) -> Result<Vec<u64>, BooleanError> {
    let circuit = library::add_shift(Style::Depth, trunc);
    let inputs = a2b_inputs(mat.party(), shares);
    crate::gmw::run(ch, mat, &circuit, &inputs)
}

/// B2A, first half: the word to open, `x ⊕ r` (this party's shares), where
/// `r_bits[e]` packs this party's XOR shares of the 64 random bits of
/// element `e`.
pub fn b2a_mask(shares: &[u64], r_bits: &[u64]) -> Result<Vec<u64>, BooleanError> {
    if r_bits.len() < shares.len() {
        return Err(BooleanError::Shape(format!(
            "B2A needs {} words of shared bits, got {}",
            shares.len(),
            r_bits.len()
        )));
    }
    Ok(shares.iter().zip(r_bits).map(|(x, r)| x ^ r).collect())
}

/// B2A, second half: with `c = x ⊕ r` opened and additive shares `[r_i]` of
/// each random bit (`r_arith[64 e + i]`), `x_i = c_i + r_i − 2 c_i r_i`, so
/// this party's additive share of `x` is
/// `Σ_i 2^i ([party 0]·c_i + (c_i ? −[r_i] : [r_i]))`.
pub fn b2a_finish(
    party: Party,
    mine: &[u64],
    peer: &[u64],
    r_arith: &[u64],
) -> Result<Vec<u64>, BooleanError> {
    if peer.len() != mine.len() || r_arith.len() < 64 * mine.len() {
        return Err(BooleanError::Shape(
            "B2A opening or shared bits of the wrong length".into(),
        ));
    }
    let own = if party == Party::Server { u64::MAX } else { 0 };
    Ok(mine
        .iter()
        .zip(peer)
        .zip(r_arith.chunks_exact(64))
        .map(|((m, p), r)| {
            let c = m ^ p;
            let mut acc = c & own;
            for (i, &ri) in r.iter().enumerate() {
                // `neg` is all ones when c_i = 1, and (r ⊕ neg) − neg is then
                // −r: the sign flip without a branch, so the loop vectorizes.
                let neg = ((c >> i) & 1).wrapping_neg();
                acc = acc.wrapping_add(((ri ^ neg).wrapping_sub(neg)) << i);
            }
            acc
        })
        .collect())
}

/// B2A: XOR shares in, additive shares out, in one simultaneous exchange of
/// one word per element, consuming 64 shared random bits per element.
pub fn b2a<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    shares: &[u64],
) -> Result<Vec<u64>, BooleanError> {
    let bits = mat.shared_bits(64 * shares.len())?;
    let mine = b2a_mask(shares, &bits.bool)?;
    let peer = ch.exchange_u64s(&mine, mine.len())?;
    b2a_finish(mat.party(), &mine, &peer, &bits.arith)
}
