//! Max pooling before relu: `maxpool(relu(x)) = relu(maxpool(x))`, because
//! relu is monotone, and the right-hand side compares `k²` times fewer
//! values in relu. The rewrite applies only when the relu feeds nothing but
//! the maxpool (otherwise its value is still needed) and when pins do not
//! put the two in different protocols.

use crate::ir::{Graph, NodeId, NodeOp};

fn pin(g: &Graph, id: NodeId) -> Option<chimera_runtime::plan::Protocol> {
    g.node(id)
        .and_then(|n| g.pins.get(&n.layer))
        .map(|p| p.protocol)
}

/// Swap every eligible relu→maxpool pair, until none is left.
pub fn run(g: &mut Graph, explain: &mut Vec<String>) {
    // Each swap moves a relu one maxpool later, so this terminates within the node count.
    for _ in 0..=g.node_count() {
        let candidate = g.node_ids().into_iter().find_map(|m| {
            if !matches!(g.op(m), NodeOp::MaxPool { .. }) {
                return None;
            }
            let r = *g.operands(m).first()?;
            let eligible =
                matches!(g.op(r), NodeOp::Relu) && g.use_count(r) == 1 && pin(g, r) == pin(g, m);
            eligible.then_some((r, m))
        });
        let Some((r, m)) = candidate else { return };
        let Some(&x) = g.operands(r).first() else {
            return;
        };
        let before = g.shape(r).to_vec();
        g.set_operand(m, 0, x);
        g.replace_uses(m, r);
        g.set_operand(r, 0, m);
        let pooled = g.shape(m).to_vec();
        g.shapes.insert(r, pooled.clone());
        explain.push(format!(
            "relu `{}` moved after maxpool `{}` (max commutes with relu): {} comparisons become {}",
            g.name(r),
            g.name(m),
            before.iter().product::<usize>(),
            pooled.iter().product::<usize>()
        ));
    }
}
