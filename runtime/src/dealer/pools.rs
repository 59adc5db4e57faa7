//! The pools of material and, for each, the one definition of how a party
//! expands its seeded shares and how the dealer computes the client's
//! explicit correction. The party side ([`take`]) and the dealer side
//! ([`corrections`]) call the same expansion code, so they cannot disagree.
//!
//! Party 0 (server) expands every component from its seed. Party 1 (client)
//! expands the components that may be uniform and reads the rest, one fixed
//! number of words per item ([`Pool::explicit_words_per_item`]), from the
//! dealer's explicit stream.

use super::{
    AndTriples, BeaverTriples, DealerError, EdaBits, MatrixTriples, RandomOts, SharedBits,
    SquarePairs, TruncPairs,
};
use crate::arith::linear::LinearShape;
use crate::plan::Party;
use crate::prg::{BitStream, Prg, Seed};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Domain separation of every dealer stream.
const STREAM_CONTEXT: &str = "chimera 2026 dealer stream v1";

/// A kind of material, with the parameters that make items of it distinct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Pool {
    /// Beaver triples (items: triples).
    Beaver,
    /// Bit-sliced AND triples (items: 64-bit words).
    And,
    /// Shared random bits (items: bits).
    SharedBits,
    /// edaBits (items: ring elements).
    EdaBits,
    /// Random OTs (items: OTs).
    Ots,
    /// Truncation pairs for one shift (items: elements).
    Trunc {
        /// Bits shifted out.
        bits: u32,
    },
    /// The session weight mask of one linear layer (one item).
    WeightMask {
        /// Layer number (unique per linear layer of the plan, e.g. its step index).
        layer: u32,
        /// The layer's shape.
        shape: LinearShape,
    },
    /// Matrix triples of one linear layer (items: activation rows).
    Matrix {
        /// Layer number, as for [`Pool::WeightMask`].
        layer: u32,
        /// The layer's shape.
        shape: LinearShape,
    },
    /// Square pairs `(a, a²)` (items: elements).
    Square,
}

impl Pool {
    /// Human-readable name for messages.
    pub fn name(&self) -> String {
        match self {
            Pool::Beaver => "Beaver triples".into(),
            Pool::And => "AND-triple words".into(),
            Pool::SharedBits => "shared bits".into(),
            Pool::EdaBits => "edaBits".into(),
            Pool::Ots => "random OTs".into(),
            Pool::Trunc { bits } => format!("truncation pairs (shift {bits})"),
            Pool::WeightMask { layer, .. } => format!("weight masks of layer {layer}"),
            Pool::Matrix { layer, .. } => format!("matrix-triple rows of layer {layer}"),
            Pool::Square => "square pairs".into(),
        }
    }

    /// Words the client receives explicitly per item.
    pub fn explicit_words_per_item(&self) -> usize {
        match self {
            Pool::Beaver | Pool::And | Pool::SharedBits | Pool::EdaBits | Pool::Square => 1,
            Pool::Ots | Pool::Trunc { .. } => 2,
            Pool::WeightMask { .. } => 0,
            Pool::Matrix { shape, .. } => shape.output_len(),
        }
    }

    /// Bytes of expanded material one item gives both parties together
    /// (the dealer's output, for throughput figures).
    pub fn material_bytes_per_item(&self) -> usize {
        8 * match self {
            Pool::Beaver | Pool::And => 6,
            Pool::SharedBits => 2,
            Pool::EdaBits | Pool::Square => 4,
            Pool::Ots => 6,
            Pool::Trunc { .. } => 6,
            Pool::WeightMask { shape, .. } => shape.weight_len(),
            Pool::Matrix { shape, .. } => shape.input_len() + 2 * shape.output_len(),
        }
    }

    fn tags(&self, component: u8) -> Vec<u64> {
        let shape_tags = |s: &LinearShape| -> Vec<u64> {
            match s {
                LinearShape::Dense { inputs, outputs } => vec![0, *inputs as u64, *outputs as u64],
                LinearShape::Conv2d(c) => {
                    let mut v = vec![1];
                    v.extend(c.input.iter().map(|&x| x as u64));
                    v.push(c.out_channels as u64);
                    v.extend(
                        c.kernel
                            .iter()
                            .chain(&c.stride)
                            .chain(&c.padding)
                            .map(|&x| x as u64),
                    );
                    v
                }
            }
        };
        let mut t = match self {
            Pool::Beaver => vec![1],
            Pool::And => vec![2],
            Pool::SharedBits => vec![3],
            Pool::EdaBits => vec![4],
            Pool::Ots => vec![5],
            Pool::Trunc { bits } => vec![6, *bits as u64],
            Pool::WeightMask { layer, shape } => {
                [vec![7, *layer as u64], shape_tags(shape)].concat()
            }
            Pool::Matrix { layer, shape } => [vec![8, *layer as u64], shape_tags(shape)].concat(),
            Pool::Square => vec![9],
        };
        t.push(component as u64);
        t
    }

    /// The seed of one component's stream under a party's seed.
    fn stream_seed(&self, party_seed: &Seed, component: u8) -> Seed {
        party_seed.derive(STREAM_CONTEXT, &self.tags(component))
    }
}

/// A party's seeded streams, created on first use and kept (so consecutive
/// requests continue where the previous stopped).
pub(crate) struct Streams {
    seed: Seed,
    words: HashMap<(Pool, u8), Prg>,
    bits: HashMap<(Pool, u8), BitStream>,
}

impl Streams {
    pub(crate) fn new(seed: Seed) -> Streams {
        Streams {
            seed,
            words: HashMap::new(),
            bits: HashMap::new(),
        }
    }

    fn prg(&mut self, pool: Pool, c: u8) -> &mut Prg {
        let seed = &self.seed;
        self.words
            .entry((pool, c))
            .or_insert_with(|| Prg::new(&pool.stream_seed(seed, c)))
    }

    fn u64s(&mut self, pool: Pool, c: u8, n: usize) -> Vec<u64> {
        self.prg(pool, c).u64s(n)
    }

    fn u128s(&mut self, pool: Pool, c: u8, n: usize) -> Vec<u128> {
        self.prg(pool, c).u128s(n)
    }

    fn take_bits(&mut self, pool: Pool, c: u8, n: usize) -> Vec<u64> {
        let seed = &self.seed;
        self.bits
            .entry((pool, c))
            .or_insert_with(|| BitStream::new(&pool.stream_seed(seed, c)))
            .take(n)
    }

    /// The server's weight mask of a layer (a fresh stream each time; the
    /// party's cursor makes sure it is handed out once).
    pub(crate) fn weight_mask(&self, layer: u32, shape: LinearShape) -> Vec<u64> {
        let pool = Pool::WeightMask { layer, shape };
        Prg::new(&pool.stream_seed(&self.seed, 0)).u64s(shape.weight_len())
    }
}

/// One handed-out item batch.
pub(crate) enum Item {
    Beaver(BeaverTriples),
    Square(SquarePairs),
    And(AndTriples),
    SharedBits(SharedBits),
    EdaBits(EdaBits),
    Ots(RandomOts),
    Trunc(TruncPairs),
    Mask(Vec<u64>),
    Matrix(MatrixTriples),
}

// Component numbers.
const A: u8 = 0;
const B: u8 = 1;
const C: u8 = 2;

/// Expand `n` items of `pool` for `party`; `explicit` holds exactly
/// `n * pool.explicit_words_per_item()` words for the client (empty for the
/// server).
pub(crate) fn take(
    pool: Pool,
    party: Party,
    s: &mut Streams,
    n: usize,
    explicit: &[u64],
) -> Result<Item, DealerError> {
    let server = party == Party::Server;
    Ok(match pool {
        Pool::Beaver => {
            let a = s.u64s(pool, A, n);
            let b = s.u64s(pool, B, n);
            let c = if server {
                s.u64s(pool, C, n)
            } else {
                explicit.to_vec()
            };
            Item::Beaver(BeaverTriples { a, b, c })
        }
        Pool::Square => {
            let a = s.u64s(pool, A, n);
            let c = if server {
                s.u64s(pool, C, n)
            } else {
                explicit.to_vec()
            };
            Item::Square(SquarePairs { a, c })
        }
        Pool::And => {
            let a = s.u64s(pool, A, n);
            let b = s.u64s(pool, B, n);
            let c = if server {
                s.u64s(pool, C, n)
            } else {
                explicit.to_vec()
            };
            Item::And(AndTriples { a, b, c })
        }
        Pool::SharedBits => {
            let bool = s.take_bits(pool, A, n);
            let arith = if server {
                s.u64s(pool, B, n)
            } else {
                explicit.to_vec()
            };
            Item::SharedBits(SharedBits { arith, bool })
        }
        Pool::EdaBits => {
            let bits = s.u64s(pool, A, n);
            let arith = if server {
                s.u64s(pool, B, n)
            } else {
                explicit.to_vec()
            };
            Item::EdaBits(EdaBits { arith, bits })
        }
        Pool::Ots => {
            if server {
                let raw = s.u128s(pool, A, 2 * n);
                let msgs = raw.chunks_exact(2).map(|m| [m[0], m[1]]).collect();
                Item::Ots(RandomOts::Sender { msgs })
            } else {
                let choices = s.take_bits(pool, B, n);
                let msgs = explicit
                    .chunks_exact(2)
                    .map(|w| (w[0] as u128) | ((w[1] as u128) << 64))
                    .collect();
                Item::Ots(RandomOts::Receiver { choices, msgs })
            }
        }
        Pool::Trunc { bits } => {
            let r = s.u64s(pool, A, n);
            let (r_msb, r_low_shifted) = if server {
                (s.u64s(pool, B, n), s.u64s(pool, C, n))
            } else {
                (
                    explicit.iter().step_by(2).copied().collect(),
                    explicit.iter().skip(1).step_by(2).copied().collect(),
                )
            };
            Item::Trunc(TruncPairs {
                bits,
                r,
                r_msb,
                r_low_shifted,
            })
        }
        Pool::WeightMask { layer, shape } => {
            if !server {
                return Err(DealerError::WrongParty {
                    party,
                    what: pool.name(),
                });
            }
            Item::Mask(s.weight_mask(layer, shape))
        }
        Pool::Matrix { shape, .. } => {
            if server {
                let z = s.u64s(pool, B, n * shape.output_len());
                Item::Matrix(MatrixTriples { v: Vec::new(), z })
            } else {
                let v = s.u64s(pool, A, n * shape.input_len());
                Item::Matrix(MatrixTriples {
                    v,
                    z: explicit.to_vec(),
                })
            }
        }
    })
}

/// The dealer's side: expand `n` items of `pool` for both parties (through
/// [`take`], exactly as they will) and return the client's explicit words.
pub(crate) fn corrections(
    pool: Pool,
    s0: &mut Streams,
    s1: &mut Streams,
    n: usize,
    masks: &mut HashMap<(u32, LinearShape), Vec<u64>>,
) -> Result<Vec<u64>, DealerError> {
    let wrong =
        || DealerError::Invalid(format!("internal: mismatched expansion of {}", pool.name()));
    if let Pool::WeightMask { .. } = pool {
        return Ok(Vec::new());
    }
    let zeros = vec![0u64; n * pool.explicit_words_per_item()];
    let item0 = take(pool, Party::Server, s0, n, &[])?;
    let item1 = take(pool, Party::Client, s1, n, &zeros)?;
    Ok(match (item0, item1) {
        (Item::Beaver(t0), Item::Beaver(t1)) => (0..n)
            .map(|i| {
                let a = t0.a[i].wrapping_add(t1.a[i]);
                let b = t0.b[i].wrapping_add(t1.b[i]);
                a.wrapping_mul(b).wrapping_sub(t0.c[i])
            })
            .collect(),
        (Item::Square(p0), Item::Square(p1)) => (0..n)
            .map(|i| {
                let a = p0.a[i].wrapping_add(p1.a[i]);
                a.wrapping_mul(a).wrapping_sub(p0.c[i])
            })
            .collect(),
        (Item::And(t0), Item::And(t1)) => (0..n)
            .map(|i| ((t0.a[i] ^ t1.a[i]) & (t0.b[i] ^ t1.b[i])) ^ t0.c[i])
            .collect(),
        (Item::SharedBits(b0), Item::SharedBits(b1)) => (0..n)
            .map(|i| {
                let r = ((b0.bool[i / 64] ^ b1.bool[i / 64]) >> (i % 64)) & 1;
                r.wrapping_sub(b0.arith[i])
            })
            .collect(),
        (Item::EdaBits(e0), Item::EdaBits(e1)) => (0..n)
            .map(|i| (e0.bits[i] ^ e1.bits[i]).wrapping_sub(e0.arith[i]))
            .collect(),
        (Item::Ots(RandomOts::Sender { msgs }), Item::Ots(RandomOts::Receiver { choices, .. })) => {
            let mut out = Vec::with_capacity(2 * n);
            for (i, m) in msgs.iter().enumerate() {
                let c = (choices[i / 64] >> (i % 64)) & 1;
                let chosen = m[c as usize];
                out.push(chosen as u64);
                out.push((chosen >> 64) as u64);
            }
            out
        }
        (Item::Trunc(p0), Item::Trunc(p1)) => {
            let mut out = Vec::with_capacity(2 * n);
            for i in 0..n {
                let r = p0.r[i].wrapping_add(p1.r[i]);
                out.push((r >> 63).wrapping_sub(p0.r_msb[i]));
                let low = (r & (u64::MAX >> 1)) >> p0.bits;
                out.push(low.wrapping_sub(p0.r_low_shifted[i]));
            }
            out
        }
        (Item::Matrix(m0), Item::Matrix(m1)) => {
            let Pool::Matrix { layer, shape } = pool else {
                return Err(wrong());
            };
            let u = masks
                .entry((layer, shape))
                .or_insert_with(|| s0.weight_mask(layer, shape));
            let uv = shape
                .apply(u, &m1.v)
                .map_err(|e| DealerError::Invalid(format!("{}: {e}", pool.name())))?;
            uv.iter()
                .zip(&m0.z)
                .map(|(p, z0)| p.wrapping_sub(*z0))
                .collect()
        }
        _ => return Err(wrong()),
    })
}
