//! Batchnorm folding: `batchnorm(conv(x))` is `conv'(x)` with per-channel
//! rescaled weights and shifted bias, `w' = w·γ/√(σ²+ε)` and
//! `b' = (b − μ)·γ/√(σ²+ε) + β`. The plan holds no weights, so the fold is
//! *recorded*: the batchnorm node disappears and the linear layer's
//! [`LinearParams`](chimera_runtime::plan::LinearParams) names the batchnorm's
//! tensors (PyTorch names `<bn>.weight`, `<bn>.bias`, `<bn>.running_mean`,
//! `<bn>.running_var`); the server applies the formula when it binds weights.
//! The checker guarantees the input is a dense/conv2d used only by the batchnorm.

use crate::ir::{Graph, NodeOp};
use chimera_runtime::plan::BatchNormRef;

/// Fold every batchnorm into the linear layer that feeds it.
pub fn run(g: &mut Graph, explain: &mut Vec<String>) {
    for bn in g.node_ids() {
        let NodeOp::BatchNorm { eps } = *g.op(bn) else {
            continue;
        };
        let Some(&linear) = g.operands(bn).first() else {
            continue;
        };
        let bn_name = g.name(bn).to_string();
        let reference = BatchNormRef {
            layer: bn_name.clone(),
            gamma: format!("{bn_name}.weight"),
            beta: format!("{bn_name}.bias"),
            mean: format!("{bn_name}.running_mean"),
            var: format!("{bn_name}.running_var"),
            eps_bits: eps.to_bits(),
        };
        let Some(node) = g.node_mut(linear) else {
            continue;
        };
        let params = match &mut node.op {
            NodeOp::Dense { params, .. } | NodeOp::Conv2d { params, .. } => params,
            _ => continue,
        };
        params.batchnorm = Some(reference);
        let kind = node.op.name();
        let layer = node.layer.clone();
        // The value is now the batchnorm's output; it takes the batchnorm's name.
        node.name = bn_name.clone();
        g.replace_uses(bn, linear);
        g.remove_node(bn);
        explain.push(format!(
            "batchnorm `{bn_name}` folded into {kind} `{layer}` (eps = {eps:e}): the server rescales \
             `{layer}.weight` and `{layer}.bias` with `{bn_name}.weight`, `{bn_name}.bias`, \
             `{bn_name}.running_mean`, `{bn_name}.running_var`"
        ));
    }
}
