//! The exact protocol-assignment solver, on an abstract [`Problem`] so that
//! it can be tested against brute force on random graphs.
//!
//! A problem is a DAG in topological order. Each node has a cost per
//! protocol it may run in (`None`: it cannot), and each node's value has a
//! cost per conversion `from → to`. An assignment costs the sum of its
//! nodes' costs plus, for every value, one conversion per *distinct*
//! protocol its consumers run in other than its own (a value consumed in two
//! protocols is converted once per target protocol, and the conversion is
//! shared by every consumer in that protocol — what
//! [`crate::passes::protocol::apply`] inserts).
//!
//! [`solve`] is a dynamic program over the nodes in topological order whose
//! state is the *live frontier*: for every value already produced and still
//! to be consumed, its protocol and the set of protocols it has already been
//! converted to. The cost of everything after node `i` depends on the past
//! only through that state, so keeping the cheapest path to each state is
//! exact on any DAG; it costs `O(n · 12^w · 3)` for a frontier of width `w`
//! (1 on a chain, 2 across a residual block), so it is linear in the size of
//! a neural network. Ties are broken deterministically: states are visited
//! in creation order, protocols in the order A, B, Y, and a path replaces
//! another only if strictly cheaper.

use chimera_runtime::plan::Protocol;
use std::collections::BTreeMap;

/// Index of a protocol in per-protocol arrays (A = 0, B = 1, Y = 2).
pub fn index(p: Protocol) -> usize {
    match p {
        Protocol::Arith => 0,
        Protocol::Gmw => 1,
        Protocol::Yao => 2,
    }
}

/// One node of a [`Problem`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Choice {
    /// Operands: indices of earlier nodes (a repeated operand counts once).
    pub operands: Vec<usize>,
    /// Cost of running the node in A, B, Y (`None`: not allowed).
    pub run: [Option<f64>; 3],
    /// Cost of converting this node's value `[from][to]` (`None`: impossible).
    pub convert: [[Option<f64>; 3]; 3],
}

/// A protocol-assignment problem: nodes in topological order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Problem {
    /// The nodes; every operand index is smaller than its consumer's.
    pub nodes: Vec<Choice>,
}

/// An optimal assignment.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// The protocol of every node.
    pub protocols: Vec<Protocol>,
    /// Its cost.
    pub cost: f64,
}

/// Why no assignment was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolveError {
    /// An operand is not an earlier node.
    #[error("node {node} reads node {operand}, which does not come before it")]
    NotTopological {
        /// The consumer.
        node: usize,
        /// The bad operand.
        operand: usize,
    },
    /// No allowed protocol and conversions make the node runnable.
    #[error("node {node} cannot run in any allowed protocol with the conversions available")]
    Infeasible {
        /// The first node with no feasible choice.
        node: usize,
    },
    /// The live frontier grew too wide for the exact search.
    #[error("the exact search needs more than {limit} states at node {node}")]
    TooWide {
        /// Where the limit was hit.
        node: usize,
        /// The limit.
        limit: usize,
    },
}

/// Upper bound on DP states per step (a frontier of 5 values is 12^5 < 2^18).
pub const STATE_LIMIT: usize = 1 << 20;

fn distinct(ops: &[usize]) -> Vec<usize> {
    let mut seen = Vec::with_capacity(ops.len());
    for &o in ops {
        if !seen.contains(&o) {
            seen.push(o);
        }
    }
    seen
}

/// Add node `i` run in `q` to a state: the run cost and the first-time
/// conversions of its operands. `code(v)` reads and `set(v, code)` writes a
/// live value's `protocol * 8 + converted-mask`.
fn step_cost(p: &Problem, i: usize, q: usize, codes: &mut [(usize, u8)]) -> Option<f64> {
    let node = &p.nodes[i];
    let mut cost = node.run[q]?;
    for v in distinct(&node.operands) {
        let slot = codes.iter_mut().find(|(w, _)| *w == v)?;
        let (from, mask) = ((slot.1 >> 3) as usize, slot.1 & 7);
        if from != q && mask & (1 << q) == 0 {
            cost += p.nodes[v].convert[from][q]?;
            slot.1 |= 1 << q;
        }
    }
    Some(cost)
}

/// The cost of a complete assignment, summed in the order [`solve`] sums it
/// (so equal assignments give bit-identical costs). `None` if a node runs in
/// a protocol it may not or needs an impossible conversion.
pub fn evaluate(p: &Problem, protocols: &[Protocol]) -> Option<f64> {
    if protocols.len() != p.nodes.len() {
        return None;
    }
    let mut codes: Vec<(usize, u8)> = Vec::new();
    let mut total = 0.0;
    for (i, &q) in protocols.iter().enumerate() {
        let q = index(q);
        total += step_cost(p, i, q, &mut codes)?;
        codes.push((i, (q as u8) << 3));
    }
    Some(total)
}

/// Enumerate all `3^n` assignments (for tests on small problems): the
/// cheapest, first in lexicographic order A < B < Y on ties.
pub fn brute_force(p: &Problem) -> Option<Solution> {
    let n = p.nodes.len();
    let mut best: Option<Solution> = None;
    let mut digits = vec![0usize; n];
    loop {
        let protocols: Vec<Protocol> = digits.iter().map(|&d| Protocol::ALL[d]).collect();
        if let Some(cost) = evaluate(p, &protocols) {
            if best.as_ref().is_none_or(|b| cost < b.cost) {
                best = Some(Solution { protocols, cost });
            }
        }
        let mut k = n;
        loop {
            if k == 0 {
                return best;
            }
            k -= 1;
            digits[k] += 1;
            if digits[k] < 3 {
                break;
            }
            digits[k] = 0;
        }
    }
}

/// The exact dynamic program of the module documentation.
pub fn solve(p: &Problem) -> Result<Solution, SolveError> {
    let n = p.nodes.len();
    let mut last_use: Vec<Option<usize>> = vec![None; n];
    for (i, node) in p.nodes.iter().enumerate() {
        for &o in &node.operands {
            if o >= i {
                return Err(SolveError::NotTopological {
                    node: i,
                    operand: o,
                });
            }
            last_use[o] = Some(i);
        }
    }
    // The live frontier before node i (same for every state), and the states:
    // codes aligned with `live`, cost, and a back pointer per state per step.
    let mut live: Vec<usize> = Vec::new();
    let mut states: Vec<(Vec<u8>, f64)> = vec![(Vec::new(), 0.0)];
    let mut back: Vec<Vec<(u32, u8)>> = Vec::with_capacity(n);
    for i in 0..n {
        let next_live: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&v| last_use[v] > Some(i))
            .chain(last_use[i].map(|_| i))
            .collect();
        let mut index_of: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        let mut next: Vec<(Vec<u8>, f64)> = Vec::new();
        let mut ptr: Vec<(u32, u8)> = Vec::new();
        for (s, (key, base)) in states.iter().enumerate() {
            for q in 0..3 {
                let mut codes: Vec<(usize, u8)> =
                    live.iter().copied().zip(key.iter().copied()).collect();
                let Some(c) = step_cost(p, i, q, &mut codes) else {
                    continue;
                };
                codes.push((i, (q as u8) << 3));
                let new_key: Vec<u8> = next_live
                    .iter()
                    .map(|v| codes.iter().find(|(w, _)| w == v).map_or(0, |x| x.1))
                    .collect();
                let cost = base + c;
                match index_of.get(&new_key) {
                    Some(&j) => {
                        if cost < next[j].1 {
                            next[j].1 = cost;
                            ptr[j] = (s as u32, q as u8);
                        }
                    }
                    None => {
                        if next.len() >= STATE_LIMIT {
                            return Err(SolveError::TooWide {
                                node: i,
                                limit: STATE_LIMIT,
                            });
                        }
                        index_of.insert(new_key.clone(), next.len());
                        next.push((new_key, cost));
                        ptr.push((s as u32, q as u8));
                    }
                }
            }
        }
        if next.is_empty() {
            return Err(SolveError::Infeasible { node: i });
        }
        states = next;
        back.push(ptr);
        live = next_live;
    }
    let (mut s, cost) = states
        .iter()
        .enumerate()
        .fold((0, f64::INFINITY), |best, (j, st)| {
            if st.1 < best.1 {
                (j, st.1)
            } else {
                best
            }
        });
    let mut protocols = vec![Protocol::Arith; n];
    for i in (0..n).rev() {
        let (prev, q) = back[i][s];
        protocols[i] = Protocol::ALL[q as usize];
        s = prev as usize;
    }
    Ok(Solution {
        protocols,
        cost: if n == 0 { 0.0 } else { cost },
    })
}

#[cfg(test)]
mod tests;
