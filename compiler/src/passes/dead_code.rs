//! Dead-code removal: a tensor that no output depends on is not computed.
//! (The checker already warned about each unused tensor.) Inputs stay: an
//! unused input is an error reported by the checker.

use crate::ir::{Graph, NodeOp};
use std::collections::BTreeSet;

/// Remove every non-input node from which no output is reachable.
pub fn run(g: &mut Graph, explain: &mut Vec<String>) {
    let mut live = BTreeSet::new();
    let mut stack: Vec<_> = g.outputs.iter().map(|o| o.node).collect();
    while let Some(n) = stack.pop() {
        if live.insert(n) {
            stack.extend(g.operands(n));
        }
    }
    for id in g.node_ids() {
        if !live.contains(&id) && !matches!(g.op(id), NodeOp::Input { .. }) {
            explain.push(format!("removed `{}`: no output depends on it", g.name(id)));
            g.remove_node(id);
        }
    }
}
