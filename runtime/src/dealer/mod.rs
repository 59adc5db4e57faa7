//! The dealer: input-independent correlated randomness for the two parties,
//! bound to one (plan hash, session id) and usable exactly once.
//!
//! # Kinds of material
//!
//! | pool | one item | party 0 (server) | party 1 (client) |
//! |---|---|---|---|
//! | [`Pool::Beaver`] | `c = a·b` in Z_2^64 | `a0, b0, c0` | `a1, b1, c1` |
//! | [`Pool::Square`] | `c = a²` in Z_2^64 | `a0, c0` | `a1, c1` |
//! | [`Pool::And`] | 64 AND triples `c = a & b` | XOR shares | XOR shares |
//! | [`Pool::SharedBits`] | random bit `r` | additive and XOR share | additive and XOR share |
//! | [`Pool::EdaBits`] | random `r` in Z_2^64 | additive share, XOR share of its bits | the same |
//! | [`Pool::Ots`] | random OT | both messages (sender) | choice bit and chosen message |
//! | [`Pool::Trunc`] | `r`, `r_63`, `(r mod 2^63) >> m` | additive shares | additive shares |
//! | [`Pool::WeightMask`] | a weight-shaped mask `U` (once per layer per session) | `U` | — |
//! | [`Pool::Matrix`] | `v`, `z = L(U, v)` for one activation row | `z0` | `v, z1` |
//!
//! # Seed compression
//!
//! Every share that may be random is expanded by its owner from a 32-byte
//! seed the dealer gives it (AES-CTR, [`crate::prg`]), one independent stream
//! per pool and component derived with blake3. Only the client (party 1)
//! receives explicit words, and only for components fixed by the others
//! (`c1 = (a0+a1)(b0+b1) − c0`, the chosen OT message, …). The server's whole
//! material is its seed and the inventory; dealer traffic grows with one
//! party's share, not two. Streams do not depend on how requests are
//! chunked, so a party may draw its items in any sizes.
//! [`material_file_len`] is the exact size of each party's material file
//! for a [`Demand`] (the server's: a few hundred bytes of binding, seed and
//! inventory), the figure the cost report prints.
//!
//! # Single use
//!
//! A [`PartyMaterial`] is opened for one (plan hash, session id) and refuses
//! material dealt for another ([`DealerError::Foreign`]). Each pool has a
//! cursor: items are handed out once, in order, and a request beyond what was
//! dealt is [`DealerError::Exhausted`]. Handing out an item advances the
//! cursor before anything else can use it, so no item is ever given twice.

mod bundle;
mod party;
mod pools;
mod prefetch;

pub use bundle::{material_file_len, MATERIAL_FORMAT_VERSION};
pub use party::{MaterialBundle, PartyMaterial, TrustedDealer};
pub use pools::Pool;
pub use prefetch::Prefetched;

use crate::arith::linear::LinearShape;
use crate::plan::{Party, PlanHash};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A fresh identifier of one dealing (one session of queries).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    /// A random session id from the operating system.
    pub fn random() -> Result<SessionId, DealerError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| DealerError::Rng(e.to_string()))?;
        Ok(SessionId(b))
    }

    /// Lowercase hex, 32 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.to_hex())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Errors of dealing and consuming material.
#[derive(Debug, thiserror::Error)]
pub enum DealerError {
    /// More items were requested than were dealt (or the pool was never dealt).
    #[error("dealer material exhausted: requested {requested} {pool}, {remaining} left of {dealt} dealt")]
    Exhausted {
        /// Pool name.
        pool: String,
        /// Items requested.
        requested: u64,
        /// Items still unused.
        remaining: u64,
        /// Items dealt in total.
        dealt: u64,
    },
    /// The material belongs to another plan or session.
    #[error("foreign dealer material: it was dealt for plan {found_plan} session {found_session}, this run is plan {expected_plan} session {expected_session}")]
    Foreign {
        /// Plan hash of the run (short hex).
        expected_plan: String,
        /// Session of the run.
        expected_session: String,
        /// Plan hash the material was dealt for.
        found_plan: String,
        /// Session the material was dealt for.
        found_session: String,
    },
    /// This party has no such material (e.g. the client asking for a weight mask).
    #[error("the {party} has no {what} material")]
    WrongParty {
        /// Which party asked.
        party: Party,
        /// What it asked for.
        what: String,
    },
    /// A material file or bundle is damaged or not a material file.
    #[error("corrupt dealer material: {0}")]
    Corrupt(String),
    /// A demand that cannot be dealt.
    #[error("invalid dealer demand: {0}")]
    Invalid(String),
    /// The operating system's random generator failed.
    #[error("cannot get randomness from the operating system: {0}")]
    Rng(String),
    /// Reading or writing a material file failed.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One party's additive shares of Beaver triples: `c = a·b` in Z_2^64
/// elementwise (Beaver, CRYPTO 1991).
#[derive(Clone, PartialEq, Eq)]
pub struct BeaverTriples {
    /// Shares of `a`.
    pub a: Vec<u64>,
    /// Shares of `b`.
    pub b: Vec<u64>,
    /// Shares of `c = a·b`.
    pub c: Vec<u64>,
}

/// One party's additive shares of square pairs `c = a²` (a Beaver triple
/// with `b = a`): squaring then opens one value per element instead of two.
#[derive(Clone, PartialEq, Eq)]
pub struct SquarePairs {
    /// Shares of `a`.
    pub a: Vec<u64>,
    /// Shares of `c = a²`.
    pub c: Vec<u64>,
}

/// One party's XOR shares of bit-sliced AND triples: 64 AND gates per word,
/// `c = a & b` bitwise.
#[derive(Clone, PartialEq, Eq)]
pub struct AndTriples {
    /// Shares of `a`.
    pub a: Vec<u64>,
    /// Shares of `b`.
    pub b: Vec<u64>,
    /// Shares of `c = a & b`.
    pub c: Vec<u64>,
}

/// One party's shares of random bits `r_i`: additive shares of `r_i ∈ {0,1}`
/// in `arith` (one word per bit), XOR shares packed 64 per word in `bool`
/// (bit `i % 64` of word `i / 64`; unused high bits zero).
#[derive(Clone, PartialEq, Eq)]
pub struct SharedBits {
    /// Additive shares, one per bit.
    pub arith: Vec<u64>,
    /// XOR shares, packed.
    pub bool: Vec<u64>,
}

/// One party's shares of edaBits (Escudero et al., CRYPTO 2020): random
/// `r ∈ Z_2^64` as an additive share in `arith` and an XOR share of its 64
/// bits in `bits` (one word per element).
#[derive(Clone, PartialEq, Eq)]
pub struct EdaBits {
    /// Additive shares of `r`.
    pub arith: Vec<u64>,
    /// XOR shares of `r`'s bits.
    pub bits: Vec<u64>,
}

/// Random oblivious transfers (Beaver's OT precomputation, CRYPTO 1995):
/// `Receiver.msgs[i] = Sender.msgs[i][choice_i]`. The server is the sender
/// (Yao garbler), the client the receiver.
#[derive(Clone, PartialEq, Eq)]
pub enum RandomOts {
    /// The sender's two messages per OT.
    Sender {
        /// `[m0, m1]` per OT.
        msgs: Vec<[u128; 2]>,
    },
    /// The receiver's choices (packed bits) and chosen messages.
    Receiver {
        /// Choice bits packed 64 per word.
        choices: Vec<u64>,
        /// `m_{choice}` per OT.
        msgs: Vec<u128>,
    },
}

/// One party's shares of truncation pairs for shifting by `bits`
/// (Escudero, Ghosh, Keller, Rachuri, Scholl, CRYPTO 2020, §5): random `r`,
/// its top bit `r_63`, and `(r mod 2^63) >> bits`, all additively shared.
#[derive(Clone, PartialEq, Eq)]
pub struct TruncPairs {
    /// The shift these pairs were dealt for.
    pub bits: u32,
    /// Shares of `r`.
    pub r: Vec<u64>,
    /// Shares of `r_63 ∈ {0, 1}`.
    pub r_msb: Vec<u64>,
    /// Shares of `(r mod 2^63) >> bits`.
    pub r_low_shifted: Vec<u64>,
}

/// One party's material for `rows` activation rows of a private-weight
/// linear layer: the client gets fresh masks `v` and its share `z1`, the
/// server its share `z0`, with `z0 + z1 = L(U, v)` for the layer's
/// session mask `U` (see `docs/protocols.md`).
#[derive(Clone, PartialEq, Eq)]
pub struct MatrixTriples {
    /// The client's masks (`rows × input_len`); empty for the server.
    pub v: Vec<u64>,
    /// Shares of `L(U, v)` (`rows × output_len`).
    pub z: Vec<u64>,
}

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "(<secret shares>)"))
            }
        }
    )*};
}
redacted_debug!(
    BeaverTriples,
    AndTriples,
    SharedBits,
    EdaBits,
    RandomOts,
    TruncPairs,
    MatrixTriples
);

/// A party's source of dealer material. Every method hands items out once;
/// see the module documentation.
pub trait Material: Send {
    /// Which party this material belongs to.
    fn party(&self) -> Party;
    /// The plan the material was dealt for.
    fn plan_hash(&self) -> PlanHash;
    /// The session the material was dealt for.
    fn session(&self) -> SessionId;
    /// `n` Beaver triples.
    fn beaver(&mut self, n: usize) -> Result<BeaverTriples, DealerError>;
    /// `n` square pairs.
    fn square_pairs(&mut self, n: usize) -> Result<SquarePairs, DealerError>;
    /// `words` words of AND triples (64 per word).
    fn and_triples(&mut self, words: usize) -> Result<AndTriples, DealerError>;
    /// `n` shared random bits.
    fn shared_bits(&mut self, n: usize) -> Result<SharedBits, DealerError>;
    /// `n` edaBits.
    fn edabits(&mut self, n: usize) -> Result<EdaBits, DealerError>;
    /// `n` random OTs.
    fn random_ots(&mut self, n: usize) -> Result<RandomOts, DealerError>;
    /// `n` truncation pairs for a shift by `bits`.
    fn trunc_pairs(&mut self, n: usize, bits: u32) -> Result<TruncPairs, DealerError>;
    /// The server's session mask `U` of linear layer `layer` (once).
    fn weight_mask(&mut self, layer: u32, shape: &LinearShape) -> Result<Vec<u64>, DealerError>;
    /// Matrix-triple material for `rows` activation rows of linear layer `layer`.
    fn matrix_triples(
        &mut self,
        layer: u32,
        shape: &LinearShape,
        rows: usize,
    ) -> Result<MatrixTriples, DealerError>;
    /// Items left in each pool.
    fn remaining(&self) -> Vec<(Pool, u64)>;
}

/// What to deal: how many items of each pool. Requests add up; the order in
/// which a party later consumes them is free.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    totals: std::collections::BTreeMap<Pool, u64>,
}

impl Demand {
    /// Nothing.
    pub fn new() -> Demand {
        Demand::default()
    }

    /// Add `n` items of `pool` (a weight mask is dealt once whatever `n`).
    pub fn add(&mut self, pool: Pool, n: u64) -> &mut Demand {
        let slot = self.totals.entry(pool).or_insert(0);
        if matches!(pool, Pool::WeightMask { .. }) {
            *slot = 1;
        } else {
            *slot += n;
        }
        self
    }

    /// `n` Beaver triples.
    pub fn beaver(&mut self, n: u64) -> &mut Demand {
        self.add(Pool::Beaver, n)
    }
    /// `n` square pairs.
    pub fn square_pairs(&mut self, n: u64) -> &mut Demand {
        self.add(Pool::Square, n)
    }
    /// `words` words of AND triples.
    pub fn and_triples(&mut self, words: u64) -> &mut Demand {
        self.add(Pool::And, words)
    }
    /// `n` shared bits.
    pub fn shared_bits(&mut self, n: u64) -> &mut Demand {
        self.add(Pool::SharedBits, n)
    }
    /// `n` edaBits.
    pub fn edabits(&mut self, n: u64) -> &mut Demand {
        self.add(Pool::EdaBits, n)
    }
    /// `n` random OTs.
    pub fn random_ots(&mut self, n: u64) -> &mut Demand {
        self.add(Pool::Ots, n)
    }
    /// `n` truncation pairs for a shift by `bits`.
    pub fn trunc_pairs(&mut self, n: u64, bits: u32) -> &mut Demand {
        self.add(Pool::Trunc { bits }, n)
    }
    /// A private-weight linear layer evaluated on `rows` activation rows in
    /// total: its weight mask (once) and `rows` matrix triples.
    pub fn linear(&mut self, layer: u32, shape: LinearShape, rows: u64) -> &mut Demand {
        self.add(Pool::WeightMask { layer, shape }, 1);
        self.add(Pool::Matrix { layer, shape }, rows)
    }

    /// The totals, in pool order.
    pub fn totals(&self) -> impl Iterator<Item = (Pool, u64)> + '_ {
        self.totals.iter().map(|(p, n)| (*p, *n))
    }

    /// Words the client must receive explicitly (the dealer's traffic beyond
    /// two seeds and the inventory).
    pub fn explicit_words(&self) -> u64 {
        self.totals()
            .map(|(p, n)| p.explicit_words_per_item() as u64 * n)
            .sum()
    }
}

#[cfg(test)]
mod tests;
