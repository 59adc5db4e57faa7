//! Driving a [`GmwEval`] over a [`Channel`] with dealer material: one
//! simultaneous exchange per AND level.

use super::{triple_words, GmwEval, TripleShares};
use crate::circuit::Circuit;
use crate::convert::BooleanError;
use crate::dealer::Material;
use crate::plan::Party;
use crate::transport::Channel;

/// Evaluate `circuit` on this party's XOR shares (`n × in_words` words,
/// instance-major); returns its XOR shares of the outputs. Consumes
/// `and_count × ⌈n/64⌉` AND-triple words and costs exactly
/// [`super::cost`].
pub fn run<C: Channel + ?Sized, M: Material + ?Sized>(
    ch: &mut C,
    mat: &mut M,
    circuit: &Circuit,
    shares: &[u64],
) -> Result<Vec<u64>, BooleanError> {
    let iw = circuit.in_words();
    if shares.len() % iw != 0 {
        return Err(BooleanError::Shape(format!(
            "{} takes {iw} words per element, got {} words",
            circuit.name(),
            shares.len()
        )));
    }
    let n = shares.len() / iw;
    let t = mat.and_triples(triple_words(&circuit.stats(), n))?;
    let ts = TripleShares {
        a: &t.a,
        b: &t.b,
        c: &t.c,
    };
    let mut ev = GmwEval::new(circuit, mat.party() == Party::Server, shares, n)?;
    while !ev.is_done() {
        let msg = ev.message(&ts)?;
        let len = msg.len();
        let peer = ch.exchange_u64s(msg, len)?;
        ev.receive(&ts, &peer)?;
    }
    Ok(ev.outputs()?)
}

/// Reveal a B-shared tensor to the client: the server sends its shares
/// (returns `None`), the client XORs them with its own (returns the values).
pub fn reveal<C: Channel + ?Sized>(
    ch: &mut C,
    party: Party,
    shares: &[u64],
) -> Result<Option<Vec<u64>>, BooleanError> {
    match party {
        Party::Server => {
            ch.send_u64s(shares)?;
            ch.flush()?;
            Ok(None)
        }
        Party::Client => {
            let theirs = ch.recv_u64s(shares.len())?;
            Ok(Some(
                theirs.iter().zip(shares).map(|(a, b)| a ^ b).collect(),
            ))
        }
    }
}
