//! Protocol assignment: which sharing runs each node, and the conversions at
//! the boundaries.
//!
//! The interface is split in two so that the cost-based optimizer can replace
//! the rule without touching the mechanics: a [`ProtocolAssigner`] chooses a
//! protocol per node ([`Assignment`]), honouring the source pins, and
//! [`apply`] records it and inserts a `Convert` node on every edge that
//! crosses protocols (one per producer and target protocol, shared by all
//! consumers in that protocol).
//!
//! [`DefaultAssigner`] is a fixed rule: linear layers, additions, constants
//! and products in A; relu, maxpool, clamp and argmax in B (GMW); a reshape
//! where its operand is. A truncation whose consumers all run in one boolean
//! protocol runs there too: its product is converted with `2f` fraction bits
//! and truncated in B or Y, where truncation is an exact, free wire shift.

use crate::ir::{Graph, Node, NodeId, NodeOp};
use chimera_runtime::plan::{OptimizedFor, Protocol};
use std::collections::BTreeMap;

/// A protocol for every node.
pub type Assignment = BTreeMap<NodeId, Protocol>;

/// Something that chooses protocols: the default rule, or a cost-based optimizer.
///
/// ```
/// use chimera_compiler::{compile_with, Assignment, DefaultAssigner, ProtocolAssigner};
/// use chimera_compiler::ir::Graph;
/// use chimera_runtime::plan::{OptimizedFor, Protocol};
///
/// /// The default rule, but comparisons in Yao instead of GMW.
/// struct YaoComparisons;
///
/// impl ProtocolAssigner for YaoComparisons {
///     fn assign(&self, g: &Graph) -> Assignment {
///         let mut a = DefaultAssigner.assign(g);
///         for p in a.values_mut() {
///             if *p == Protocol::Gmw {
///                 *p = Protocol::Yao;
///             }
///         }
///         a
///     }
///     fn optimized_for(&self) -> OptimizedFor {
///         OptimizedFor { network: "none".into(), objective: "all-yao".into(), rtt_us: 0, bandwidth_bps: 0 }
///     }
/// }
///
/// let src = b"model m\ninput x: [4] from client\nr = relu(x)\noutput o = r to client\n";
/// let plan = compile_with("m.nn", src, &YaoComparisons).expect("valid").saved.plan;
/// assert!(plan.steps.iter().any(|s| s.op.name() == "relu" && s.protocol == Protocol::Yao));
/// ```
pub trait ProtocolAssigner {
    /// Choose a protocol for every node of `g`. Must honour pins
    /// ([`pinned`]) and choose only protocols the node's operation supports.
    fn assign(&self, g: &Graph) -> Assignment;
    /// What the choice optimizes, recorded in the plan.
    fn optimized_for(&self) -> OptimizedFor;
}

/// The protocol a source pin imposes on `id`, if its layer is pinned and its
/// operation can run there.
pub fn pinned(g: &Graph, id: NodeId) -> Option<Protocol> {
    let node = g.node(id)?;
    let pin = g.pins.get(&node.layer)?;
    node.op
        .supported_protocols()
        .contains(&pin.protocol)
        .then_some(pin.protocol)
}

/// The fixed default rule (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultAssigner;

impl ProtocolAssigner for DefaultAssigner {
    fn assign(&self, g: &Graph) -> Assignment {
        let order = g.topo_order().unwrap_or_else(|| g.node_ids());
        let mut a = Assignment::new();
        for &id in &order {
            let p = pinned(g, id).or(match g.op(id) {
                NodeOp::Relu | NodeOp::MaxPool { .. } | NodeOp::Clamp { .. } | NodeOp::Argmax => {
                    Some(Protocol::Gmw)
                }
                NodeOp::Truncate { .. } | NodeOp::Reshape { .. } => None,
                _ => Some(Protocol::Arith),
            });
            if let Some(p) = p {
                a.insert(id, p);
            }
        }
        for &id in order.iter().rev() {
            if !matches!(g.op(id), NodeOp::Truncate { .. }) || a.contains_key(&id) {
                continue;
            }
            let consumers: Vec<Option<Protocol>> =
                g.uses(id).iter().map(|(c, _)| a.get(c).copied()).collect();
            let p = match consumers.first() {
                Some(&Some(p))
                    if p != Protocol::Arith && consumers.iter().all(|c| *c == Some(p)) =>
                {
                    p
                }
                _ => Protocol::Arith,
            };
            a.insert(id, p);
        }
        for &id in &order {
            if a.contains_key(&id) {
                continue;
            }
            let p = g
                .operands(id)
                .first()
                .and_then(|o| a.get(o))
                .copied()
                .unwrap_or(Protocol::Arith);
            a.insert(id, p);
        }
        a
    }

    fn optimized_for(&self) -> OptimizedFor {
        OptimizedFor {
            network: "none".into(),
            objective: "default".into(),
            rtt_us: 0,
            bandwidth_bps: 0,
        }
    }
}

/// Record `assignment` in `g` and insert the conversions it needs.
pub fn apply(
    g: &mut Graph,
    assignment: &Assignment,
    optimized_for: OptimizedFor,
    explain: &mut Vec<String>,
) {
    for id in g.node_ids() {
        let p = assignment.get(&id).copied().unwrap_or(Protocol::Arith);
        g.protocols.insert(id, p);
    }
    let mut converts: BTreeMap<(NodeId, Protocol), NodeId> = BTreeMap::new();
    for consumer in g.node_ids() {
        if matches!(g.op(consumer), NodeOp::Convert) {
            continue;
        }
        let to = g.protocols[&consumer];
        for (pos, producer) in g.operands(consumer).into_iter().enumerate() {
            if g.protocols.get(&producer) == Some(&to) {
                continue;
            }
            let c = match converts.get(&(producer, to)) {
                Some(&c) => c,
                None => {
                    let node = g.node(producer).cloned().unwrap_or(Node {
                        op: NodeOp::Convert,
                        name: String::new(),
                        layer: String::new(),
                    });
                    let shape = g.shape(producer).to_vec();
                    let span = g.spans.get(&producer).copied().unwrap_or_default();
                    let c = g.add_node(
                        Node {
                            op: NodeOp::Convert,
                            name: format!("{}.to_{}", node.name, to.pin_name()),
                            layer: node.layer,
                        },
                        &[producer],
                        shape,
                        span,
                    );
                    if let Some(&e) = g.encodings.get(&producer) {
                        g.encodings.insert(c, e);
                    }
                    g.protocols.insert(c, to);
                    converts.insert((producer, to), c);
                    c
                }
            };
            g.set_operand(consumer, pos, c);
        }
    }
    let mut counts: BTreeMap<(Protocol, Protocol), usize> = BTreeMap::new();
    for &(producer, to) in converts.keys() {
        let from = g
            .protocols
            .get(&producer)
            .copied()
            .unwrap_or(Protocol::Arith);
        *counts.entry((from, to)).or_default() += 1;
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|((a, b), n)| format!("{n} {}→{}", a.letter(), b.letter()))
        .collect();
    explain.push(format!(
        "protocols: {} rule (network {}, objective {}); conversions: {}",
        if optimized_for.objective == "default" {
            "default"
        } else {
            "optimized"
        },
        optimized_for.network,
        optimized_for.objective,
        if summary.is_empty() {
            "none".to_string()
        } else {
            summary.join(", ")
        }
    ));
    g.optimized_for = Some(optimized_for);
}
