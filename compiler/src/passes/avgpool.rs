//! Average pooling is a sum pool followed by a multiplication by the public
//! constant `1/k²` (the truncation pass then adds its `Truncate`). `1/k²` is
//! rounded to `f` fraction bits; the note says by how much.

use crate::ir::{Graph, NodeOp};

/// Rewrite every avgpool.
pub fn run(g: &mut Graph, explain: &mut Vec<String>) {
    for id in g.node_ids() {
        let NodeOp::AvgPool { kernel, stride } = *g.op(id) else {
            continue;
        };
        let name = g.name(id).to_string();
        let area = (kernel[0] * kernel[1]) as f64;
        let c = 1.0 / area;
        if let Some(n) = g.node_mut(id) {
            n.op = NodeOp::SumPool { kernel, stride };
            n.name = format!("{name}.sum");
        }
        let shape = g.shape(id).to_vec();
        g.insert_after(id, NodeOp::MulConst { value: c }, name.clone(), shape);
        let scale = g.fixed.scale();
        let encoded = (c * scale).round() / scale;
        explain.push(format!(
            "avgpool `{name}`: sum over {}×{} windows, then × 1/{area} (encoded as {encoded}, relative error {:.1e})",
            kernel[0],
            kernel[1],
            ((encoded - c) / c).abs()
        ));
    }
}
