//! The cost-based protocol optimizer: the [`ProtocolAssigner`] that replaces
//! the fixed default rule.
//!
//! It turns the graph into an abstract [`Problem`] — for every node, its
//! cost in each protocol it may run in (the runtime's exact traffic for that
//! operation on those shapes, plus compute time from the calibration
//! profile, scored by the [`Objective`] under the [`Network`]), and for every
//! value the cost of each conversion — and hands it to the exact solver
//! ([`crate::cost::solve`]). The assignment it returns is optimal for the
//! objective over every assignment that honours the pins and runs each
//! operation only where it can run, including the conversions
//! [`super::protocol::apply`] will insert (one per value and target
//! protocol). An output's reveal is part of its producer's cost, since
//! opening a value costs differently in A, B and Y.
//!
//! `only: Some(B)` restricts the boolean protocol to B (all-GMW: every
//! comparison in GMW, linear algebra in A, the rest wherever cheaper among A
//! and B); `Some(Y)` likewise for Yao. These are the report's alternatives.

use super::protocol::{pinned, Assignment, ProtocolAssigner};
use crate::cost::solve::{self, index, Choice, Problem, SolveError};
use crate::cost::{estimate, CostOracle, Network, Objective, Profile};
use crate::emit::plan_op;
use crate::ir::{Graph, NodeId, NodeOp};
use chimera_runtime::plan::{Encoding, Op, OptimizedFor, Protocol, ValueInfo};

/// The optimizer's settings.
pub struct Optimizer<'o> {
    /// Where exact traffic comes from.
    pub oracle: &'o dyn CostOracle,
    /// The network the estimate is for.
    pub network: Network,
    /// Per-unit compute times.
    pub profile: Profile,
    /// What is minimized.
    pub objective: Objective,
    /// Inferences per query (costs are for the whole batch).
    pub batch: usize,
    /// Restrict the boolean protocol (all-GMW or all-Yao alternatives).
    pub only: Option<Protocol>,
}

/// Why the optimizer found no assignment (a compiler bug: every operation
/// runs somewhere and every conversion exists).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptimizeError {
    /// The graph has a cycle.
    #[error("the graph has a cycle")]
    Cyclic,
    /// A node could not be turned into a plan operation.
    #[error("{0}")]
    Op(String),
    /// No feasible assignment.
    #[error("no protocol assignment for `{name}`: {source}")]
    Solve {
        /// The node's name.
        name: String,
        /// The solver's reason.
        source: SolveError,
    },
}

/// The value a node defines, as the plan will describe it in protocol `p`.
pub fn value_info(g: &Graph, id: NodeId, p: Protocol) -> ValueInfo {
    ValueInfo {
        name: g.name(id).to_string(),
        shape: g.shape(id).to_vec(),
        protocol: p,
        encoding: g.encodings.get(&id).copied().unwrap_or(Encoding::Fixed {
            frac_bits: g.fixed.frac_bits,
        }),
    }
}

impl Optimizer<'static> {
    /// The optimizer `chimera compile` uses by default: the runtime's exact
    /// costs, the shipped calibration profile, batch 1, and the given
    /// network and objective.
    pub fn runtime(network: Network, objective: Objective) -> Optimizer<'static> {
        Optimizer {
            oracle: &crate::cost::RuntimeOracle,
            network,
            profile: Profile::default_profile(),
            objective,
            batch: 1,
            only: None,
        }
    }
}

impl Optimizer<'_> {
    /// The protocols node `id` may run in: its pin, or the protocols its
    /// operation supports (within `only`).
    pub fn allowed(&self, g: &Graph, id: NodeId) -> Vec<Protocol> {
        if let Some(p) = pinned(g, id) {
            return vec![p];
        }
        g.op(id)
            .supported_protocols()
            .iter()
            .copied()
            .filter(|&p| match self.only {
                Some(b) => p == Protocol::Arith || p == b,
                None => true,
            })
            .collect()
    }

    fn score(&self, op: &Op, p: Protocol, inputs: &[&ValueInfo], out: &ValueInfo) -> Option<f64> {
        estimate(self.oracle, op, p, inputs, out, self.batch)
            .ok()
            .map(|e| e.score(self.objective, &self.network, &self.profile))
    }

    /// The node's cost in `p` (its step and the reveals of its outputs).
    fn run_cost(&self, g: &Graph, id: NodeId, p: Protocol) -> Result<Option<f64>, OptimizeError> {
        let out = value_info(g, id, p);
        let mut cost = if matches!(g.op(id), NodeOp::Input { .. }) {
            match self.oracle.input(&out, self.batch) {
                Ok(c) => crate::cost::Estimate {
                    counts: Default::default(),
                    cost: c,
                }
                .score(self.objective, &self.network, &self.profile),
                Err(_) => return Ok(None),
            }
        } else {
            let op = plan_op(g, id).map_err(OptimizeError::Op)?;
            let ins: Vec<ValueInfo> = g
                .operands(id)
                .iter()
                .map(|&o| value_info(g, o, p))
                .collect();
            let refs: Vec<&ValueInfo> = ins.iter().collect();
            match self.score(&op, p, &refs, &out) {
                Some(c) => c,
                None => return Ok(None),
            }
        };
        for o in g.outputs.iter().filter(|o| o.node == id) {
            match self.oracle.reveal(&out, o.to, self.batch) {
                Ok(c) => {
                    cost += crate::cost::Estimate {
                        counts: Default::default(),
                        cost: c,
                    }
                    .score(self.objective, &self.network, &self.profile)
                }
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(cost))
    }

    /// The graph as a solver problem, with the node of each problem index.
    pub fn problem(&self, g: &Graph) -> Result<(Vec<NodeId>, Problem), OptimizeError> {
        let order = g.topo_order().ok_or(OptimizeError::Cyclic)?;
        let position: std::collections::BTreeMap<NodeId, usize> =
            order.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut nodes = Vec::with_capacity(order.len());
        for &id in &order {
            let mut run = [None; 3];
            for p in self.allowed(g, id) {
                run[index(p)] = self.run_cost(g, id, p)?;
            }
            let mut convert = [[None; 3]; 3];
            for from in Protocol::ALL {
                let src = value_info(g, id, from);
                for to in Protocol::ALL {
                    convert[index(from)][index(to)] = if from == to {
                        Some(0.0)
                    } else {
                        self.score(&Op::Convert, to, &[&src], &value_info(g, id, to))
                    };
                }
            }
            nodes.push(Choice {
                operands: g.operands(id).iter().map(|o| position[o]).collect(),
                run,
                convert,
            });
        }
        Ok((order, Problem { nodes }))
    }

    /// The optimal assignment and its score.
    pub fn optimize(&self, g: &Graph) -> Result<(Assignment, f64), OptimizeError> {
        let (order, problem) = self.problem(g)?;
        let solution = solve::solve(&problem).map_err(|source| {
            let node = match source {
                SolveError::NotTopological { node, .. }
                | SolveError::Infeasible { node }
                | SolveError::TooWide { node, .. } => node,
            };
            OptimizeError::Solve {
                name: order.get(node).map_or("?", |&id| g.name(id)).to_string(),
                source,
            }
        })?;
        let assignment = order
            .iter()
            .copied()
            .zip(solution.protocols.iter().copied())
            .collect();
        Ok((assignment, solution.cost))
    }
}

impl ProtocolAssigner for Optimizer<'_> {
    /// The optimal assignment; on a solver failure (a compiler bug, see
    /// [`OptimizeError`]) the default rule's, so compilation still yields a
    /// valid plan — [`compile_optimized`] reports the error instead.
    fn assign(&self, g: &Graph) -> Assignment {
        self.optimize(g)
            .map(|(a, _)| a)
            .unwrap_or_else(|_| super::protocol::DefaultAssigner.assign(g))
    }

    fn optimized_for(&self) -> OptimizedFor {
        let objective = match self.only {
            None => self.objective.name().to_string(),
            Some(b) => format!("{} (A+{} only)", self.objective.name(), b.letter()),
        };
        OptimizedFor {
            network: self.network.name.clone(),
            rtt_us: self.network.rtt_us,
            bandwidth_bps: self.network.bandwidth_bps,
            objective,
        }
    }
}

/// An assignment computed beforehand, replayed.
pub struct Fixed {
    /// The assignment.
    pub assignment: Assignment,
    /// What it was optimized for.
    pub optimized_for: OptimizedFor,
}

impl ProtocolAssigner for Fixed {
    fn assign(&self, _g: &Graph) -> Assignment {
        self.assignment.clone()
    }

    fn optimized_for(&self) -> OptimizedFor {
        self.optimized_for.clone()
    }
}

#[cfg(test)]
mod tests;

/// Compile `source` with the optimizer, reporting a solver failure as an
/// internal-error diagnostic instead of falling back to the default rule.
pub fn compile_optimized(
    file_name: &str,
    source: &[u8],
    optimizer: &Optimizer<'_>,
) -> Result<crate::Compiled, crate::Diagnostics> {
    use crate::diagnostics::{Diagnostic, Diagnostics, Span};
    let front = crate::front_end(source)?;
    let (assignment, _) = optimizer.optimize(&front.graph).map_err(|e| {
        let mut ds = Diagnostics::new();
        ds.push(
            Diagnostic::error("internal", "internal compiler error", Span::new(0, 0))
                .with_label(format!("protocol optimizer: {e}"))
                .with_help("this is a bug in chimera, not in your program; please report it with this file"),
        );
        ds
    })?;
    crate::compile_with(
        file_name,
        source,
        &Fixed {
            assignment,
            optimized_for: optimizer.optimized_for(),
        },
    )
}
