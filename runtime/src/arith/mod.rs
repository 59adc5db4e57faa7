//! A — additive secret sharing over Z_2^64.
//!
//! A value `x` is held as `x = x0 + x1 mod 2^64`, `x0` by the server (party
//! 0) and `x1` by the client (party 1). Tensors are flat `Vec<u64>` and every
//! operation works on a whole tensor: additions and multiplications by public
//! constants are local; a product of two shared tensors costs one exchange
//! (Beaver triples, [`mul`]); a truncation costs one exchange
//! ([`trunc::truncate`]); a linear layer with the server's private weights
//! costs one message from the client per query and nothing that grows with
//! the weights ([`private_linear`]).
//!
//! The functions here are the protocol logic; they move bytes only through a
//! [`Channel`] and take their correlated randomness from a [`Material`].
//!
//! # Example
//!
//! Two parties multiply shared tensors over an in-memory channel with
//! material from a seeded in-process dealer:
//!
//! ```
//! use chimera_runtime::arith;
//! use chimera_runtime::dealer::{Demand, SessionId, TrustedDealer};
//! use chimera_runtime::plan::PlanHash;
//! use chimera_runtime::prg::{Prg, Seed};
//! use chimera_runtime::transport::memory_pair;
//!
//! let mut demand = Demand::new();
//! demand.beaver(3);
//! let (mut server, mut client) =
//!     TrustedDealer::pair(PlanHash([0; 32]), SessionId([0; 16]), Some(Seed::from_u64(1)), &demand)?;
//! let mut prg = Prg::new(&Seed::from_u64(2));
//! let (x0, x1) = arith::share(&mut prg, &[2, 3, u64::MAX]);
//! let (y0, y1) = arith::share(&mut prg, &[5, 7, 2]);
//! let (mut c0, mut c1) = memory_pair();
//! let peer = std::thread::spawn(move || arith::mul_with(&mut c1, &mut client, &x1, &y1));
//! let z0 = arith::mul_with(&mut c0, &mut server, &x0, &y0)?;
//! let z1 = peer.join().unwrap()?;
//! assert_eq!(arith::reconstruct(&z0, &z1), vec![10, 21, (-2i64) as u64]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cost;
pub mod linear;
pub mod private_linear;
pub mod trunc;

pub use private_linear::{LinearClient, LinearServer, PreparedRows, ServerRows};
pub use trunc::truncate;

use crate::dealer::{BeaverTriples, DealerError, Material, SquarePairs};
use crate::plan::Party;
use crate::prg::Prg;
use crate::transport::{Channel, TransportError};
use linear::ShapeError;

/// Errors of the arithmetic protocols, by cause.
#[derive(Debug, thiserror::Error)]
pub enum ArithError {
    /// The channel failed or the peer misbehaved.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Dealer material missing, used up or foreign.
    #[error(transparent)]
    Dealer(#[from] DealerError),
    /// A tensor does not fit its layer.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// Operands of different lengths, or parameters out of range (a bug of
    /// the caller, reported instead of panicking).
    #[error("invalid operands: {0}")]
    Invalid(String),
}

fn same_len(what: &str, a: usize, b: usize) -> Result<(), ArithError> {
    if a == b {
        Ok(())
    } else {
        Err(ArithError::Invalid(format!(
            "{what}: lengths {a} and {b} differ"
        )))
    }
}

/// The owner's share of its own private input: the value itself. The other
/// party's share is [`peer_input`] (zeros). No message is needed: every
/// later opening adds a fresh uniform mask (Beaver's `x − a`, truncation's
/// `x + r`, the linear layer's `x1 − v`), so the zero share reveals nothing
/// the protocol would not reveal anyway.
pub fn own_input(value: &[u64]) -> Vec<u64> {
    value.to_vec()
}

/// The non-owner's share of the other party's input of `len` elements.
pub fn peer_input(len: usize) -> Vec<u64> {
    vec![0; len]
}

/// Split a plaintext tensor into two uniformly random shares (for tests and
/// for a party that wants to hand out a fresh sharing).
pub fn share(prg: &mut Prg, value: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let s1 = prg.u64s(value.len());
    let s0 = value
        .iter()
        .zip(&s1)
        .map(|(v, r)| v.wrapping_sub(*r))
        .collect();
    (s0, s1)
}

/// `x0 + x1`.
pub fn reconstruct(x0: &[u64], x1: &[u64]) -> Vec<u64> {
    add(x0, x1)
}

/// Open a shared tensor to both parties: one exchange (one round each,
/// `x.len()` words each way).
pub fn open(ch: &mut dyn Channel, x: &[u64]) -> Result<Vec<u64>, ArithError> {
    let theirs = ch.exchange_u64s(x, x.len())?;
    Ok(add(x, &theirs))
}

/// Open a shared tensor to `to` only: the other party sends its share (one
/// message). Returns the value for `to`, `None` for the sender.
pub fn reveal_to(
    ch: &mut dyn Channel,
    party: Party,
    to: Party,
    x: &[u64],
) -> Result<Option<Vec<u64>>, ArithError> {
    if party == to {
        let theirs = ch.recv_u64s(x.len())?;
        Ok(Some(add(x, &theirs)))
    } else {
        ch.send_u64s(x)?;
        ch.flush()?;
        Ok(None)
    }
}

/// Elementwise `a + b` (local).
pub fn add(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x.wrapping_add(*y)).collect()
}

/// Elementwise `a − b` (local).
pub fn sub(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x.wrapping_sub(*y)).collect()
}

/// `−a` (local).
pub fn neg(a: &[u64]) -> Vec<u64> {
    a.iter().map(|x| x.wrapping_neg()).collect()
}

/// `c · a` for a public ring constant `c` (local; fraction bits add, so a
/// truncation usually follows).
pub fn scale(a: &[u64], c: u64) -> Vec<u64> {
    a.iter().map(|x| x.wrapping_mul(c)).collect()
}

/// `a + c` for a public constant: only the server adds it.
pub fn add_const(party: Party, a: &[u64], c: u64) -> Vec<u64> {
    match party {
        Party::Server => a.iter().map(|x| x.wrapping_add(c)).collect(),
        Party::Client => a.to_vec(),
    }
}

/// Add a public (server-held) per-output bias to `rows` outputs laid back to
/// back; only the server adds it. For a bias private to the server this is
/// its local contribution to the sum.
pub fn add_bias(party: Party, y: &mut [u64], bias: &[u64]) -> Result<(), ArithError> {
    if party == Party::Client || bias.is_empty() {
        return Ok(());
    }
    if y.len() % bias.len() != 0 {
        return Err(ArithError::Invalid(format!(
            "bias of {} elements does not divide an output of {}",
            bias.len(),
            y.len()
        )));
    }
    for row in y.chunks_exact_mut(bias.len()) {
        for (o, b) in row.iter_mut().zip(bias) {
            *o = o.wrapping_add(*b);
        }
    }
    Ok(())
}

/// Elementwise product of two shared tensors with Beaver triples (Beaver,
/// CRYPTO 1991): open `d = x − a` and `e = y − b` in one exchange
/// (`2n` words each way, one round), then
/// `z_p = c_p + d·b_p + e·a_p (+ d·e for party 0)`, so that
/// `z0 + z1 = c + d·b + e·a + d·e = (d + a)(e + b) = x·y`.
pub fn mul(
    ch: &mut dyn Channel,
    party: Party,
    x: &[u64],
    y: &[u64],
    triples: &BeaverTriples,
) -> Result<Vec<u64>, ArithError> {
    let n = x.len();
    same_len("mul operands", n, y.len())?;
    same_len("Beaver triples", n, triples.a.len())?;
    same_len("Beaver triples", n, triples.b.len())?;
    same_len("Beaver triples", n, triples.c.len())?;
    let mut de = Vec::with_capacity(2 * n);
    de.extend(x.iter().zip(&triples.a).map(|(x, a)| x.wrapping_sub(*a)));
    de.extend(y.iter().zip(&triples.b).map(|(y, b)| y.wrapping_sub(*b)));
    let theirs = ch.exchange_u64s(&de, 2 * n)?;
    let first = party == Party::Server;
    let mut z = Vec::with_capacity(n);
    for i in 0..n {
        let d = de[i].wrapping_add(theirs[i]);
        let e = de[n + i].wrapping_add(theirs[n + i]);
        let mut v = triples.c[i]
            .wrapping_add(d.wrapping_mul(triples.b[i]))
            .wrapping_add(e.wrapping_mul(triples.a[i]));
        if first {
            v = v.wrapping_add(d.wrapping_mul(e));
        }
        z.push(v);
    }
    Ok(z)
}

/// [`mul`] drawing its triples from `material`.
pub fn mul_with(
    ch: &mut dyn Channel,
    material: &mut dyn Material,
    x: &[u64],
    y: &[u64],
) -> Result<Vec<u64>, ArithError> {
    let triples = material.beaver(x.len())?;
    mul(ch, material.party(), x, y, &triples)
}

/// Elementwise square of a shared tensor with square pairs `(a, c = a²)`:
/// open `d = x − a` (one exchange, `n` words each way), then
/// `z_p = c_p + 2·d·a_p (+ d² for party 0)`, since
/// `(d + a)² = d² + 2·d·a + a²`. Half the traffic of [`mul`]`(x, x)`.
pub fn square(
    ch: &mut dyn Channel,
    party: Party,
    x: &[u64],
    pairs: &SquarePairs,
) -> Result<Vec<u64>, ArithError> {
    let n = x.len();
    same_len("square pairs", n, pairs.a.len())?;
    same_len("square pairs", n, pairs.c.len())?;
    let d: Vec<u64> = x
        .iter()
        .zip(&pairs.a)
        .map(|(x, a)| x.wrapping_sub(*a))
        .collect();
    let theirs = ch.exchange_u64s(&d, n)?;
    let first = party == Party::Server;
    Ok((0..n)
        .map(|i| {
            let d = d[i].wrapping_add(theirs[i]);
            let v = pairs.c[i].wrapping_add(d.wrapping_mul(pairs.a[i]).wrapping_mul(2));
            if first {
                v.wrapping_add(d.wrapping_mul(d))
            } else {
                v
            }
        })
        .collect())
}

/// [`square`] drawing its pairs from `material`.
pub fn square_with(
    ch: &mut dyn Channel,
    material: &mut dyn Material,
    x: &[u64],
) -> Result<Vec<u64>, ArithError> {
    let pairs = material.square_pairs(x.len())?;
    square(ch, material.party(), x, &pairs)
}

#[cfg(test)]
mod tests;
