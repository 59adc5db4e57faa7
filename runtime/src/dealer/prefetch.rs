//! Drawing a query's dealer material before the query exists.
//!
//! Material is input-independent, but expanding it is real work: the
//! server's shares come out of AES-CTR streams ([`crate::prg`]) and the
//! client's explicit words are copied out of its bundle. Done lazily, that
//! work lands on the online critical path (for netD at batch 64 it was
//! about 40 % of the online CPU time). [`Prefetched`] wraps a party's
//! [`Material`], draws a list of requests ahead of time — exactly the
//! requests the executor will make, in its order
//! ([`crate::cost::requests`]) — and hands each queued item out, without a
//! copy, when the executor asks for it. A request with nothing queued for
//! its pool goes to the wrapped material as before; a request that does not
//! match the next queued item of its pool is refused
//! ([`DealerError::Invalid`]): items are single-use and handed out in
//! order, and prefetching changes neither.

use super::pools::Item;
use super::{
    AndTriples, BeaverTriples, DealerError, EdaBits, Material, MatrixTriples, Pool, RandomOts,
    SessionId, SharedBits, SquarePairs, TruncPairs,
};
use crate::arith::linear::LinearShape;
use crate::plan::{Party, PlanHash};
use std::collections::{BTreeMap, VecDeque};

/// A party's material with some requests drawn ahead (see the module docs).
pub struct Prefetched<'m> {
    inner: &'m mut dyn Material,
    queues: BTreeMap<Pool, VecDeque<Item>>,
}

impl std::fmt::Debug for Prefetched<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queued: Vec<(String, usize)> = self
            .queues
            .iter()
            .map(|(p, q)| (p.name(), q.len()))
            .collect();
        f.debug_struct("Prefetched")
            .field("party", &self.inner.party())
            .field("queued", &queued)
            .finish_non_exhaustive()
    }
}

/// Items in a drawn item (words for AND triples).
fn item_len(item: &Item) -> usize {
    match item {
        Item::Beaver(t) => t.a.len(),
        Item::Square(t) => t.a.len(),
        Item::And(t) => t.a.len(),
        Item::SharedBits(t) => t.arith.len(),
        Item::EdaBits(t) => t.arith.len(),
        Item::Trunc(t) => t.r.len(),
        Item::Ots(RandomOts::Sender { msgs }) => msgs.len(),
        Item::Ots(RandomOts::Receiver { msgs, .. }) => msgs.len(),
        // Never queued: `fetch` refuses these pools.
        Item::Mask(_) | Item::Matrix(_) => 0,
    }
}

impl<'m> Prefetched<'m> {
    /// Wrap `inner`; nothing is drawn yet.
    pub fn new(inner: &'m mut dyn Material) -> Self {
        Prefetched {
            inner,
            queues: BTreeMap::new(),
        }
    }

    /// Draw `n` items of `pool` now and queue them for the next request of
    /// `n` items of that pool. Pools of per-element material only (Beaver
    /// triples, square pairs, AND triples, shared bits, edaBits, truncation
    /// pairs); the others are drawn by their protocol's own preparation.
    pub fn fetch(&mut self, pool: Pool, n: usize) -> Result<(), DealerError> {
        let item = match pool {
            Pool::Beaver => Item::Beaver(self.inner.beaver(n)?),
            Pool::Square => Item::Square(self.inner.square_pairs(n)?),
            Pool::And => Item::And(self.inner.and_triples(n)?),
            Pool::SharedBits => Item::SharedBits(self.inner.shared_bits(n)?),
            Pool::EdaBits => Item::EdaBits(self.inner.edabits(n)?),
            Pool::Trunc { bits } => Item::Trunc(self.inner.trunc_pairs(n, bits)?),
            other => {
                return Err(DealerError::Invalid(format!(
                    "{} is not drawn ahead by the prefetcher",
                    other.name()
                )))
            }
        };
        self.queues.entry(pool).or_default().push_back(item);
        Ok(())
    }

    /// Items drawn ahead and not handed out yet, per pool.
    pub fn queued(&self) -> Vec<(Pool, usize)> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(p, q)| (*p, q.iter().map(item_len).sum()))
            .collect()
    }

    /// The next queued item of `pool` if it has `n` items; `None` if
    /// nothing of `pool` is queued.
    fn pop(&mut self, pool: Pool, n: usize) -> Result<Option<Item>, DealerError> {
        let Some(q) = self.queues.get_mut(&pool) else {
            return Ok(None);
        };
        match q.front().map(item_len) {
            None => Ok(None),
            Some(len) if len == n => Ok(q.pop_front()),
            Some(len) => Err(DealerError::Invalid(format!(
                "{n} {} requested, the next {len} were drawn ahead for another request",
                pool.name()
            ))),
        }
    }
}

fn unexpected(pool: Pool) -> DealerError {
    DealerError::Invalid(format!("internal: wrong item type for {}", pool.name()))
}

impl Material for Prefetched<'_> {
    fn party(&self) -> Party {
        self.inner.party()
    }

    fn plan_hash(&self) -> PlanHash {
        self.inner.plan_hash()
    }

    fn session(&self) -> SessionId {
        self.inner.session()
    }

    fn beaver(&mut self, n: usize) -> Result<BeaverTriples, DealerError> {
        match self.pop(Pool::Beaver, n)? {
            None => self.inner.beaver(n),
            Some(Item::Beaver(t)) => Ok(t),
            Some(_) => Err(unexpected(Pool::Beaver)),
        }
    }

    fn square_pairs(&mut self, n: usize) -> Result<SquarePairs, DealerError> {
        match self.pop(Pool::Square, n)? {
            None => self.inner.square_pairs(n),
            Some(Item::Square(t)) => Ok(t),
            Some(_) => Err(unexpected(Pool::Square)),
        }
    }

    fn and_triples(&mut self, words: usize) -> Result<AndTriples, DealerError> {
        match self.pop(Pool::And, words)? {
            None => self.inner.and_triples(words),
            Some(Item::And(t)) => Ok(t),
            Some(_) => Err(unexpected(Pool::And)),
        }
    }

    fn shared_bits(&mut self, n: usize) -> Result<SharedBits, DealerError> {
        match self.pop(Pool::SharedBits, n)? {
            None => self.inner.shared_bits(n),
            Some(Item::SharedBits(t)) => Ok(t),
            Some(_) => Err(unexpected(Pool::SharedBits)),
        }
    }

    fn edabits(&mut self, n: usize) -> Result<EdaBits, DealerError> {
        match self.pop(Pool::EdaBits, n)? {
            None => self.inner.edabits(n),
            Some(Item::EdaBits(t)) => Ok(t),
            Some(_) => Err(unexpected(Pool::EdaBits)),
        }
    }

    fn random_ots(&mut self, n: usize) -> Result<RandomOts, DealerError> {
        self.inner.random_ots(n)
    }

    fn trunc_pairs(&mut self, n: usize, bits: u32) -> Result<TruncPairs, DealerError> {
        let pool = Pool::Trunc { bits };
        match self.pop(pool, n)? {
            None => self.inner.trunc_pairs(n, bits),
            Some(Item::Trunc(t)) => Ok(t),
            Some(_) => Err(unexpected(pool)),
        }
    }

    fn weight_mask(&mut self, layer: u32, shape: &LinearShape) -> Result<Vec<u64>, DealerError> {
        self.inner.weight_mask(layer, shape)
    }

    fn matrix_triples(
        &mut self,
        layer: u32,
        shape: &LinearShape,
        rows: usize,
    ) -> Result<MatrixTriples, DealerError> {
        self.inner.matrix_triples(layer, shape, rows)
    }

    /// Items neither handed out nor drawn ahead, plus those drawn ahead and
    /// not handed out yet.
    fn remaining(&self) -> Vec<(Pool, u64)> {
        let mut left: BTreeMap<Pool, u64> = self.inner.remaining().into_iter().collect();
        for (pool, n) in self.queued() {
            *left.entry(pool).or_insert(0) += n as u64;
        }
        left.into_iter().collect()
    }
}
