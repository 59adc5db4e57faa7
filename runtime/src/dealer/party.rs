//! A party's material ([`PartyMaterial`]: bundle + cursors) and the
//! in-process dealer ([`TrustedDealer`]) that produces bundles.

use super::pools::{corrections, take, Item, Streams};
use super::{
    AndTriples, BeaverTriples, DealerError, Demand, EdaBits, Material, MatrixTriples, Pool,
    RandomOts, SessionId, SharedBits, SquarePairs, TruncPairs,
};
use crate::arith::linear::LinearShape;
use crate::plan::{Party, PlanHash};
use crate::prg::Seed;
use std::collections::{BTreeMap, HashMap};

/// Domain separation of the two parties' seeds under the dealer's master seed.
const PARTY_SEED_CONTEXT: &str = "chimera 2026 dealer party seed v1";

/// Items expanded per step when dealing (keeps the working set in cache).
const DEAL_CHUNK: u64 = 1 << 13;

/// Everything one party receives from the dealer: its binding, its seed, the
/// inventory (how many items of each pool) and, for the client, the explicit
/// words of each pool. This is what is written to a material file.
pub struct MaterialBundle {
    /// The party it is for.
    pub party: Party,
    /// The plan it was dealt for.
    pub plan: PlanHash,
    /// The session it was dealt for.
    pub session: SessionId,
    pub(crate) seed: Seed,
    /// Items dealt per pool.
    pub inventory: Vec<(Pool, u64)>,
    /// Explicit words per pool, parallel to `inventory` (all empty for the server).
    pub(crate) explicit: Vec<Vec<u64>>,
}

impl std::fmt::Debug for MaterialBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterialBundle")
            .field("party", &self.party)
            .field("plan", &self.plan)
            .field("session", &self.session)
            .field("inventory", &self.inventory)
            .field("explicit_words", &self.explicit_words())
            .finish_non_exhaustive()
    }
}

impl MaterialBundle {
    /// Explicit words carried (0 for the server).
    pub fn explicit_words(&self) -> usize {
        self.explicit.iter().map(Vec::len).sum()
    }
}

/// The client's explicit words for `n` items of `pool`, once the pool is
/// checked dealable: a layer shape that exists, at most 2^40 words.
/// The reason is worded for the caller's error (an invalid demand to deal,
/// a corrupt file to read).
pub(super) fn dealt_words(pool: Pool, n: u64) -> Result<u64, String> {
    if let Pool::WeightMask { shape, .. } | Pool::Matrix { shape, .. } = pool {
        shape
            .validate()
            .map_err(|e| format!("{}: {e}", pool.name()))?;
    }
    n.checked_mul(pool.explicit_words_per_item() as u64)
        .filter(|w| *w <= (1 << 40))
        .ok_or_else(|| format!("{n} {} is too much material", pool.name()))
}

/// The in-process dealer. Deterministic when given a seed (tests), seeded
/// from the operating system otherwise.
pub struct TrustedDealer {
    plan: PlanHash,
    session: SessionId,
    master: Seed,
}

impl TrustedDealer {
    /// A dealer for one plan and session.
    pub fn new(
        plan: PlanHash,
        session: SessionId,
        seed: Option<Seed>,
    ) -> Result<TrustedDealer, DealerError> {
        let master = match seed {
            Some(s) => s,
            None => Seed::random().map_err(|e| DealerError::Rng(e.to_string()))?,
        };
        Ok(TrustedDealer {
            plan,
            session,
            master,
        })
    }

    fn party_seed(&self, party: Party) -> Seed {
        let mut tag = Vec::with_capacity(49);
        tag.extend_from_slice(&self.plan.0);
        tag.extend_from_slice(&self.session.0);
        tag.push(party.index() as u8);
        self.master.derive_bytes(PARTY_SEED_CONTEXT, &tag)
    }

    /// Deal `demand`: the server's and the client's bundles.
    pub fn deal(&self, demand: &Demand) -> Result<(MaterialBundle, MaterialBundle), DealerError> {
        let (seed0, seed1) = (
            self.party_seed(Party::Server),
            self.party_seed(Party::Client),
        );
        let mut s0 = Streams::new(seed0.clone());
        let mut s1 = Streams::new(seed1.clone());
        let mut masks = HashMap::new();
        let mut inventory = Vec::new();
        let mut explicit = Vec::new();
        for (pool, n) in demand.totals() {
            let words = dealt_words(pool, n).map_err(DealerError::Invalid)?;
            let mut words_out = Vec::with_capacity(words as usize);
            let chunk = match pool {
                Pool::Matrix { .. } => 64,
                _ => DEAL_CHUNK,
            };
            let mut done = 0;
            while done < n {
                let k = chunk.min(n - done);
                words_out.extend(corrections(pool, &mut s0, &mut s1, k as usize, &mut masks)?);
                done += k;
            }
            inventory.push((pool, n));
            explicit.push(words_out);
        }
        let server = MaterialBundle {
            party: Party::Server,
            plan: self.plan,
            session: self.session,
            seed: seed0,
            inventory: inventory.clone(),
            explicit: vec![Vec::new(); inventory.len()],
        };
        let client = MaterialBundle {
            party: Party::Client,
            plan: self.plan,
            session: self.session,
            seed: seed1,
            inventory,
            explicit,
        };
        Ok((server, client))
    }

    /// Deal `demand` and open both bundles: the sources of a test or of the
    /// one-process simulation.
    pub fn pair(
        plan: PlanHash,
        session: SessionId,
        seed: Option<Seed>,
        demand: &Demand,
    ) -> Result<(PartyMaterial, PartyMaterial), DealerError> {
        let (b0, b1) = TrustedDealer::new(plan, session, seed)?.deal(demand)?;
        Ok((
            PartyMaterial::open(b0, plan, session)?,
            PartyMaterial::open(b1, plan, session)?,
        ))
    }
}

struct PoolState {
    dealt: u64,
    used: u64,
    explicit: Vec<u64>,
}

/// A party's material, opened for one plan and session, with a cursor per
/// pool. Implements [`Material`].
pub struct PartyMaterial {
    party: Party,
    plan: PlanHash,
    session: SessionId,
    streams: Streams,
    pools: BTreeMap<Pool, PoolState>,
}

impl std::fmt::Debug for PartyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartyMaterial")
            .field("party", &self.party)
            .field("plan", &self.plan)
            .field("session", &self.session)
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}

fn foreign(
    plan: PlanHash,
    session: SessionId,
    b_plan: PlanHash,
    b_session: SessionId,
) -> DealerError {
    DealerError::Foreign {
        expected_plan: plan.short(),
        expected_session: session.to_hex(),
        found_plan: b_plan.short(),
        found_session: b_session.to_hex(),
    }
}

impl PartyMaterial {
    /// Open a bundle for a run of `plan` in `session`; material dealt for
    /// another plan or session is refused.
    pub fn open(
        bundle: MaterialBundle,
        plan: PlanHash,
        session: SessionId,
    ) -> Result<PartyMaterial, DealerError> {
        if bundle.plan != plan || bundle.session != session {
            return Err(foreign(plan, session, bundle.plan, bundle.session));
        }
        let mut pools = BTreeMap::new();
        for ((pool, dealt), explicit) in bundle.inventory.into_iter().zip(bundle.explicit) {
            let expected = if bundle.party == Party::Client {
                dealt as usize * pool.explicit_words_per_item()
            } else {
                0
            };
            if explicit.len() != expected {
                return Err(DealerError::Corrupt(format!(
                    "{} carries {} explicit words, {expected} expected",
                    pool.name(),
                    explicit.len()
                )));
            }
            if pools
                .insert(
                    pool,
                    PoolState {
                        dealt,
                        used: 0,
                        explicit,
                    },
                )
                .is_some()
            {
                return Err(DealerError::Corrupt(format!(
                    "{} listed twice",
                    pool.name()
                )));
            }
        }
        Ok(PartyMaterial {
            party: bundle.party,
            plan,
            session,
            streams: Streams::new(bundle.seed),
            pools,
        })
    }

    /// Refuse to run `plan`/`session` with this material unless it was dealt for them.
    pub fn check_binding(&self, plan: PlanHash, session: SessionId) -> Result<(), DealerError> {
        if self.plan == plan && self.session == session {
            Ok(())
        } else {
            Err(foreign(plan, session, self.plan, self.session))
        }
    }

    /// Hand out the next `n` items of `pool`, advancing its cursor first.
    fn draw(&mut self, pool: Pool, n: usize) -> Result<Item, DealerError> {
        let requested = n as u64;
        let Some(state) = self.pools.get_mut(&pool) else {
            return Err(DealerError::Exhausted {
                pool: pool.name(),
                requested,
                remaining: 0,
                dealt: 0,
            });
        };
        let remaining = state.dealt - state.used;
        if requested > remaining {
            return Err(DealerError::Exhausted {
                pool: pool.name(),
                requested,
                remaining,
                dealt: state.dealt,
            });
        }
        let start = state.used as usize;
        state.used += requested;
        let per = if self.party == Party::Client {
            pool.explicit_words_per_item()
        } else {
            0
        };
        let explicit = &state.explicit[start * per..(start + n) * per];
        take(pool, self.party, &mut self.streams, n, explicit)
    }
}

fn unexpected(pool: Pool) -> DealerError {
    DealerError::Invalid(format!("internal: wrong item type for {}", pool.name()))
}

impl Material for PartyMaterial {
    fn party(&self) -> Party {
        self.party
    }

    fn plan_hash(&self) -> PlanHash {
        self.plan
    }

    fn session(&self) -> SessionId {
        self.session
    }

    fn beaver(&mut self, n: usize) -> Result<BeaverTriples, DealerError> {
        match self.draw(Pool::Beaver, n)? {
            Item::Beaver(t) => Ok(t),
            _ => Err(unexpected(Pool::Beaver)),
        }
    }

    fn square_pairs(&mut self, n: usize) -> Result<SquarePairs, DealerError> {
        match self.draw(Pool::Square, n)? {
            Item::Square(t) => Ok(t),
            _ => Err(unexpected(Pool::Square)),
        }
    }

    fn and_triples(&mut self, words: usize) -> Result<AndTriples, DealerError> {
        match self.draw(Pool::And, words)? {
            Item::And(t) => Ok(t),
            _ => Err(unexpected(Pool::And)),
        }
    }

    fn shared_bits(&mut self, n: usize) -> Result<SharedBits, DealerError> {
        match self.draw(Pool::SharedBits, n)? {
            Item::SharedBits(t) => Ok(t),
            _ => Err(unexpected(Pool::SharedBits)),
        }
    }

    fn edabits(&mut self, n: usize) -> Result<EdaBits, DealerError> {
        match self.draw(Pool::EdaBits, n)? {
            Item::EdaBits(t) => Ok(t),
            _ => Err(unexpected(Pool::EdaBits)),
        }
    }

    fn random_ots(&mut self, n: usize) -> Result<RandomOts, DealerError> {
        match self.draw(Pool::Ots, n)? {
            Item::Ots(t) => Ok(t),
            _ => Err(unexpected(Pool::Ots)),
        }
    }

    fn trunc_pairs(&mut self, n: usize, bits: u32) -> Result<TruncPairs, DealerError> {
        let pool = Pool::Trunc { bits };
        match self.draw(pool, n)? {
            Item::Trunc(t) => Ok(t),
            _ => Err(unexpected(pool)),
        }
    }

    fn weight_mask(&mut self, layer: u32, shape: &LinearShape) -> Result<Vec<u64>, DealerError> {
        let pool = Pool::WeightMask {
            layer,
            shape: *shape,
        };
        if self.party != Party::Server {
            return Err(DealerError::WrongParty {
                party: self.party,
                what: pool.name(),
            });
        }
        match self.draw(pool, 1)? {
            Item::Mask(u) => Ok(u),
            _ => Err(unexpected(pool)),
        }
    }

    fn matrix_triples(
        &mut self,
        layer: u32,
        shape: &LinearShape,
        rows: usize,
    ) -> Result<MatrixTriples, DealerError> {
        let pool = Pool::Matrix {
            layer,
            shape: *shape,
        };
        match self.draw(pool, rows)? {
            Item::Matrix(t) => Ok(t),
            _ => Err(unexpected(pool)),
        }
    }

    fn remaining(&self) -> Vec<(Pool, u64)> {
        self.pools
            .iter()
            .map(|(p, s)| (*p, s.dealt - s.used))
            .collect()
    }
}
