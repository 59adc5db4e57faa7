//! The IR verifier: the invariants every pass must preserve, checked after
//! lowering and after every pass, with every violation reported at once.
//!
//! Invariants, each with the stage from which it holds:
//!
//! 1. *(always)* the graph is acyclic;
//! 2. *(always)* every node has exactly its operation's number of operands, at
//!    positions `0..arity`, and a shape and a span in the side tables;
//! 3. *(always)* every non-input node's shape is what [`shape::infer`] gives
//!    for its operands' shapes;
//! 4. *(always)* every output names a live node; a label output reveals an
//!    argmax, a scores output a fixed-point value (once encodings are known);
//! 5. *(once `expect.lowered`)* no high-level operation (batchnorm, avgpool,
//!    sigmoid/tanh, poly) is left;
//! 6. *(once encodings are known)* every node has an encoding and it is the one
//!    its operation gives (`f` for inputs, fraction bits add in products,
//!    truncation subtracts, argmax is an integer); linear layers read `f`;
//!    `add`/`sub` operands agree; no value carries more than `2f` bits;
//!    every product is followed only by truncations;
//! 7. *(once protocols are assigned)* every node has a protocol its
//!    operation supports, pins are honoured, every operand lives in its
//!    consumer's protocol (a protocol boundary is crossed only by a
//!    `Convert`), and a `Convert` changes protocol.

use super::shape;
use super::{Graph, NodeId, NodeOp};
use chimera_runtime::plan::{Encoding, Reveal};
use std::fmt;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The node concerned, if any.
    pub node: Option<NodeId>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(n) => write!(f, "{n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What stage the graph is at: which optional invariants apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// High-level operations have been rewritten.
    pub lowered: bool,
}

/// Check every invariant that applies; return all violations.
pub fn verify(g: &Graph, expect: Expect) -> Result<(), Vec<VerifyError>> {
    let mut errors = Vec::new();
    let mut err =
        |node: Option<NodeId>, message: String| errors.push(VerifyError { node, message });
    if g.is_cyclic() {
        err(None, "the graph has a cycle".into());
    }
    let encoded = !g.encodings.is_empty();
    let assigned = !g.protocols.is_empty();
    let f = g.fixed.frac_bits;
    for id in g.node_ids() {
        let Some(node) = g.node(id) else { continue };
        let op = &node.op;
        let mut positions: Vec<usize> = g.operand_edges(id).iter().map(|&(p, _)| p).collect();
        positions.sort_unstable();
        if positions != (0..op.arity()).collect::<Vec<_>>() {
            err(
                Some(id),
                format!(
                    "{} has operand positions {positions:?}, expected 0..{}",
                    op.name(),
                    op.arity()
                ),
            );
            continue;
        }
        if !g.shapes.contains_key(&id) {
            err(Some(id), "no shape".into());
        }
        if !g.spans.contains_key(&id) {
            err(Some(id), "no span".into());
        }
        let operands = g.operands(id);
        if !matches!(op, NodeOp::Input { .. }) {
            let shapes: Vec<&[usize]> = operands.iter().map(|&o| g.shape(o)).collect();
            match shape::infer(op, &shapes) {
                Ok(s) if s == g.shape(id) => {}
                Ok(s) => err(
                    Some(id),
                    format!(
                        "{} has shape {} but its operands give {}",
                        op.name(),
                        shape::show(g.shape(id)),
                        shape::show(&s)
                    ),
                ),
                Err(e) => err(Some(id), e.message),
            }
        }
        if expect.lowered && op.is_high_level() {
            err(Some(id), format!("{} was not lowered", op.name()));
        }
        if encoded {
            verify_encoding(g, id, op, &operands, f, &mut err);
        }
        if assigned {
            match g.protocols.get(&id) {
                None => err(Some(id), "no protocol".into()),
                Some(p) => {
                    if !op.supported_protocols().contains(p) {
                        err(Some(id), format!("{} cannot run in {p}", op.name()));
                    }
                    // A conversion serves its consumer's protocol, whatever the producer's pin.
                    let pin = g
                        .pins
                        .get(&node.layer)
                        .filter(|_| !matches!(op, NodeOp::Convert));
                    if let Some(pin) = pin {
                        if op.supported_protocols().contains(&pin.protocol) && pin.protocol != *p {
                            err(
                                Some(id),
                                format!(
                                    "{} runs in {p} but layer `{}` is pinned to {}",
                                    op.name(),
                                    node.layer,
                                    pin.protocol
                                ),
                            );
                        }
                    }
                    for &o in &operands {
                        let po = g.protocols.get(&o);
                        match op {
                            NodeOp::Convert if po == Some(p) => {
                                err(Some(id), format!("converts {o} to its own protocol {p}"))
                            }
                            NodeOp::Convert => {}
                            _ if po != Some(p) => err(
                                Some(id),
                                format!(
                                    "{} runs in {p} but reads {o} from {} without a conversion",
                                    op.name(),
                                    po.map_or("nowhere".to_string(), ToString::to_string)
                                ),
                            ),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    for o in &g.outputs {
        if g.node(o.node).is_none() {
            err(
                None,
                format!("output `{}` reveals a removed node {}", o.name, o.node),
            );
            continue;
        }
        let enc = g.encodings.get(&o.node);
        match (o.reveal, enc) {
            (Reveal::Label, Some(Encoding::Fixed { .. })) => err(
                Some(o.node),
                format!(
                    "output `{}` reveals a label but the value is fixed-point",
                    o.name
                ),
            ),
            (Reveal::Scores, Some(Encoding::Integer)) => err(
                Some(o.node),
                format!(
                    "output `{}` reveals scores but the value is an integer",
                    o.name
                ),
            ),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn verify_encoding(
    g: &Graph,
    id: NodeId,
    op: &NodeOp,
    operands: &[NodeId],
    f: u32,
    err: &mut impl FnMut(Option<NodeId>, String),
) {
    let Some(&enc) = g.encodings.get(&id) else {
        err(Some(id), "no encoding".into());
        return;
    };
    let frac = |n: NodeId| match g.encodings.get(&n) {
        Some(Encoding::Fixed { frac_bits }) => Some(*frac_bits),
        _ => None,
    };
    let ins: Vec<Option<u32>> = operands.iter().map(|&o| frac(o)).collect();
    let expected = match op {
        NodeOp::Input { .. } => Some(Encoding::Fixed { frac_bits: f }),
        NodeOp::Argmax => Some(Encoding::Integer),
        NodeOp::Dense { .. } | NodeOp::Conv2d { .. } => {
            if ins[0] != Some(f) {
                err(
                    Some(id),
                    format!(
                        "{} reads {:?} fraction bits, expected {f}",
                        op.name(),
                        ins[0]
                    ),
                );
            }
            Some(Encoding::Fixed { frac_bits: 2 * f })
        }
        NodeOp::MulConst { .. } => ins[0].map(|a| Encoding::Fixed { frac_bits: a + f }),
        NodeOp::Square => ins[0].map(|a| Encoding::Fixed { frac_bits: 2 * a }),
        NodeOp::Mul => match (ins[0], ins[1]) {
            (Some(a), Some(b)) => Some(Encoding::Fixed { frac_bits: a + b }),
            _ => None,
        },
        NodeOp::Truncate { bits } => match ins[0] {
            Some(a) if a >= *bits => Some(Encoding::Fixed {
                frac_bits: a - bits,
            }),
            _ => None,
        },
        NodeOp::Add | NodeOp::Sub => {
            if ins[0] != ins[1] {
                err(
                    Some(id),
                    format!(
                        "{} adds values with {:?} and {:?} fraction bits",
                        op.name(),
                        ins[0],
                        ins[1]
                    ),
                );
            }
            ins[0].map(|a| Encoding::Fixed { frac_bits: a })
        }
        _ => g.encodings.get(&operands[0]).copied(),
    };
    match expected {
        Some(e) if e == enc => {}
        Some(e) => err(
            Some(id),
            format!(
                "{} has encoding {enc:?}, its operation gives {e:?}",
                op.name()
            ),
        ),
        None => err(
            Some(id),
            format!("{} has no valid encoding for its operands", op.name()),
        ),
    }
    if let Encoding::Fixed { frac_bits } = enc {
        if frac_bits > 2 * f {
            err(
                Some(id),
                format!(
                    "{frac_bits} fraction bits exceed the 2f = {} headroom",
                    2 * f
                ),
            );
        }
    }
    if op.is_product() {
        for (consumer, _) in g.uses(id) {
            if !matches!(g.op(consumer), NodeOp::Truncate { .. } | NodeOp::Convert) {
                err(
                    Some(id),
                    format!(
                        "product {} is read by {consumer} before a truncation",
                        op.name()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Span;
    use crate::ir::Node;
    use chimera_runtime::plan::{FixedFormat, Party, Protocol};

    fn node(op: NodeOp, name: &str) -> Node {
        Node {
            op,
            name: name.into(),
            layer: name.into(),
        }
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut g = Graph::new("m", FixedFormat::default());
        let x = g.add_node(
            node(
                NodeOp::Input {
                    owner: Party::Client,
                },
                "x",
            ),
            &[],
            vec![4],
            Span::default(),
        );
        let r = g.add_node(node(NodeOp::Relu, "r"), &[x], vec![5], Span::default());
        let _a = g.add_node(node(NodeOp::Add, "a"), &[r], vec![4], Span::default());
        let _s = g.add_node(node(sigmoid(), "s"), &[x], vec![4], Span::default());
        let errors = verify(&g, Expect { lowered: true }).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{text:?}");
        assert!(
            text[0].contains("shape [5] but its operands give [4]"),
            "{text:?}"
        );
        assert!(
            text[1].contains("operand positions [0], expected 0..2"),
            "{text:?}"
        );
        assert!(text[2].contains("was not lowered"), "{text:?}");
    }

    #[test]
    fn a_protocol_boundary_without_conversion_is_reported() {
        let mut g = Graph::new("m", FixedFormat::default());
        let x = g.add_node(
            node(
                NodeOp::Input {
                    owner: Party::Client,
                },
                "x",
            ),
            &[],
            vec![4],
            Span::default(),
        );
        let r = g.add_node(node(NodeOp::Relu, "r"), &[x], vec![4], Span::default());
        g.protocols.insert(x, Protocol::Arith);
        g.protocols.insert(r, Protocol::Gmw);
        let errors = verify(&g, Expect::default()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("without a conversion"),
            "{}",
            errors[0]
        );
    }

    fn sigmoid() -> NodeOp {
        NodeOp::Activation {
            kind: crate::ir::ActivationKind::Sigmoid,
            approx: crate::ir::Approx::Pwl,
        }
    }
}
