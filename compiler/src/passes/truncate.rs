//! Explicit fixed-point scales: every value gets its encoding, and every
//! product (dense, conv2d, mul_const, mul, square) is followed by a
//! `Truncate { bits: f }` that brings its `2f` fraction bits back to `f`.
//!
//! Encodings: inputs carry `f` fraction bits; a product carries the sum of
//! its factors' bits (a public constant counts `f`); a truncation subtracts
//! its bits; argmax yields an integer; everything else keeps its operand's.

use crate::ir::{Graph, NodeOp};
use chimera_runtime::plan::Encoding;

/// Assign encodings and insert the truncations.
pub fn run(g: &mut Graph, _explain: &mut Vec<String>) {
    let f = g.fixed.frac_bits;
    let Some(order) = g.topo_order() else { return };
    for id in order {
        let operands = g.operands(id);
        let frac = |i: usize| match operands.get(i).and_then(|o| g.encodings.get(o)) {
            Some(Encoding::Fixed { frac_bits }) => *frac_bits,
            _ => f,
        };
        let enc = match g.op(id) {
            NodeOp::Input { .. } => Encoding::Fixed { frac_bits: f },
            NodeOp::Argmax => Encoding::Integer,
            NodeOp::Dense { .. } | NodeOp::Conv2d { .. } | NodeOp::MulConst { .. } => {
                Encoding::Fixed {
                    frac_bits: frac(0) + f,
                }
            }
            NodeOp::Mul => Encoding::Fixed {
                frac_bits: frac(0) + frac(1),
            },
            NodeOp::Square => Encoding::Fixed {
                frac_bits: 2 * frac(0),
            },
            NodeOp::Truncate { bits } => Encoding::Fixed {
                frac_bits: frac(0).saturating_sub(*bits),
            },
            _ => match operands.first().and_then(|o| g.encodings.get(o)) {
                Some(e) => *e,
                None => Encoding::Fixed { frac_bits: f },
            },
        };
        g.encodings.insert(id, enc);
        if g.op(id).is_product() {
            let shape = g.shape(id).to_vec();
            let name = format!("{}.trunc", g.name(id));
            let t = g.insert_after(id, NodeOp::Truncate { bits: f }, name, shape);
            if let Encoding::Fixed { frac_bits } = enc {
                g.encodings.insert(
                    t,
                    Encoding::Fixed {
                        frac_bits: frac_bits.saturating_sub(f),
                    },
                );
            }
        }
    }
}
