//! Smooth activations and polynomials, lowered to fixed-point steps.
//!
//! - `sigmoid(approx = pwl)`: `clamp(x/4 + 1/2, 0, 1)`, the line through
//!   (0, ½) with sigmoid's slope ¼ there, cut at 0 and 1 (max error 0.119 at
//!   x = ±2). Steps: MulConst(¼), AddConst(½), Clamp(0, 1).
//! - `tanh(approx = pwl)`: `clamp(x, −1, 1)` (the "hard tanh", max error 0.238
//!   at x = ±1). Step: Clamp(−1, 1).
//! - `chebyshev(degree = d, interval = [a, b])` and `poly(x, [c0, …, cd])`:
//!   Horner, `((c_d x + c_{d−1}) x + …) x + c_0`: one MulConst, `d − 1` Mul,
//!   an AddConst per non-zero coefficient (the truncation pass adds a
//!   Truncate after each product). Coefficients that round to zero in the
//!   fixed-point format are dropped.
//!
//! Every lowered activation leaves a note with its formula and its maximum
//! absolute error, computed on a dense grid.

use super::chebyshev;
use crate::ir::{ActivationKind, Approx, Graph, NodeId, NodeOp};

/// Range over which the piecewise-linear approximations' error is measured
/// (beyond it both the function and the approximation are flat to 5e-5).
const PWL_RANGE: f64 = 10.0;

/// Lower every activation and polynomial.
pub fn run(g: &mut Graph, explain: &mut Vec<String>) {
    for id in g.node_ids() {
        match g.op(id).clone() {
            NodeOp::Activation {
                kind,
                approx: Approx::Pwl,
            } => pwl(g, id, kind, explain),
            NodeOp::Activation {
                kind,
                approx: Approx::Chebyshev { degree, lo, hi },
            } => {
                let name = g.name(id).to_string();
                let f = g.fixed.frac_bits;
                let q = chebyshev::fit_unit(|x| kind.eval(x), degree, lo, hi);
                let (alpha, beta) = chebyshev::to_unit(lo, hi);
                let (alpha, beta) = (round(alpha, f), round(beta, f));
                if g.operands(id).is_empty() {
                    continue;
                }
                let scaled = insert_before(
                    g,
                    id,
                    NodeOp::MulConst { value: alpha },
                    format!("{name}.scaled"),
                );
                let var = if beta != 0.0 {
                    insert_before(g, id, NodeOp::AddConst { value: beta }, format!("{name}.t"))
                } else {
                    if let Some(n) = g.node_mut(scaled) {
                        n.name = format!("{name}.t");
                    }
                    scaled
                };
                let used = horner(g, id, var, &q);
                let err = chebyshev::max_error(
                    |x| kind.eval(x),
                    |x| chebyshev::eval(&used, alpha * x + beta),
                    lo,
                    hi,
                );
                explain.push(format!(
                    "{} `{name}` ≈ Chebyshev interpolant of degree {degree} on [{lo}, {hi}]: p(x) = {}; \
                     evaluated as q(t) = {} with t = {}x{}; max |error| {err:.4} on the interval \
                     ({} points, constants rounded to {f} fraction bits); outside the interval the error grows quickly",
                    kind.name(),
                    show_poly(&chebyshev::fit(|x| kind.eval(x), degree, lo, hi)),
                    show_poly(&used).replace('x', "t"),
                    if alpha == 1.0 { String::new() } else { trim(alpha) + " " },
                    if beta == 0.0 {
                        String::new()
                    } else {
                        format!(" {} {}", if beta < 0.0 { '-' } else { '+' }, trim(beta.abs()))
                    },
                    chebyshev::GRID_POINTS,
                ));
            }
            NodeOp::Poly { coeffs } => {
                let name = g.name(id).to_string();
                let Some(&x) = g.operands(id).first() else {
                    continue;
                };
                let used = horner(g, id, x, &coeffs);
                explain.push(format!(
                    "poly `{}`: p(x) = {} (Horner, {} multiplication(s))",
                    name,
                    show_poly(&used),
                    used.len().saturating_sub(1)
                ));
            }
            _ => {}
        }
    }
}

fn pwl(g: &mut Graph, id: NodeId, kind: ActivationKind, explain: &mut Vec<String>) {
    let name = g.name(id).to_string();
    let shape = g.shape(id).to_vec();
    let (f, formula): (fn(f64) -> f64, &str) = match kind {
        ActivationKind::Sigmoid => {
            set(
                g,
                id,
                NodeOp::MulConst { value: 0.25 },
                format!("{name}.mul"),
            );
            let add = g.insert_after(
                id,
                NodeOp::AddConst { value: 0.5 },
                format!("{name}.add"),
                shape.clone(),
            );
            g.insert_after(add, NodeOp::Clamp { lo: 0.0, hi: 1.0 }, name.clone(), shape);
            (
                |x| (x / 4.0 + 0.5).clamp(0.0, 1.0),
                "clamp(x/4 + 1/2, 0, 1)",
            )
        }
        ActivationKind::Tanh => {
            set(g, id, NodeOp::Clamp { lo: -1.0, hi: 1.0 }, name.clone());
            (|x| x.clamp(-1.0, 1.0), "clamp(x, -1, 1)")
        }
    };
    let err = chebyshev::max_error(|x| kind.eval(x), f, -PWL_RANGE, PWL_RANGE);
    explain.push(format!(
        "{} `{name}` ≈ {formula} (piecewise linear); max |error| {err:.4} over [-{PWL_RANGE}, {PWL_RANGE}]",
        kind.name()
    ));
}

fn set(g: &mut Graph, id: NodeId, op: NodeOp, name: String) {
    if let Some(n) = g.node_mut(id) {
        n.op = op;
        n.name = name;
    }
}

fn round(v: f64, frac_bits: u32) -> f64 {
    let s = (frac_bits as f64).exp2();
    (v * s).round() / s
}

/// Insert an elementwise node between `id` and its first operand.
fn insert_before(g: &mut Graph, id: NodeId, op: NodeOp, name: String) -> NodeId {
    let operand = g.operands(id)[0];
    let shape = g.shape(id).to_vec();
    let span = g.spans.get(&id).copied().unwrap_or_default();
    let layer = g.node(id).map(|n| n.layer.clone()).unwrap_or_default();
    let new = g.add_node(crate::ir::Node { op, name, layer }, &[operand], shape, span);
    g.set_operand(id, 0, new);
    new
}

/// Rewrite node `id` (an elementwise node reading `x`) into Horner steps for
/// `coeffs` (constant first) in the variable `x`. Returns the coefficients
/// actually used (rounded to the fixed-point format: the polynomial the plan
/// computes, up to truncation error).
fn horner(g: &mut Graph, id: NodeId, x: NodeId, coeffs: &[f64]) -> Vec<f64> {
    let name = g.name(id).to_string();
    let shape = g.shape(id).to_vec();
    let mut used = chebyshev::round_to(coeffs, g.fixed.frac_bits);
    let degree = used.iter().rposition(|&c| c != 0.0).unwrap_or(0).max(1);
    used.truncate(degree + 1);
    set(
        g,
        id,
        NodeOp::MulConst {
            value: used[degree],
        },
        format!("{name}.h{degree}"),
    );
    let mut last = id;
    for i in (0..degree).rev() {
        if used[i] != 0.0 {
            last = g.insert_after(
                last,
                NodeOp::AddConst { value: used[i] },
                format!("{name}.h{i}"),
                shape.clone(),
            );
        }
        if i > 0 {
            last = g.insert_after(last, NodeOp::Mul, format!("{name}.m{i}"), shape.clone());
            g.set_operand(last, 1, x);
        }
    }
    if let Some(n) = g.node_mut(last) {
        n.name = name;
    }
    used
}

/// `0.5 + 0.1973 x - 0.004 x^3`.
pub fn show_poly(coeffs: &[f64]) -> String {
    let mut out = String::new();
    for (i, &c) in coeffs.iter().enumerate() {
        if trim(c.abs()) == "0" {
            continue;
        }
        let term = match i {
            0 => trim(c.abs()),
            1 => format!("{} x", trim(c.abs())),
            _ => format!("{} x^{i}", trim(c.abs())),
        };
        if out.is_empty() {
            out = if c < 0.0 { format!("-{term}") } else { term };
        } else {
            out.push_str(if c < 0.0 { " - " } else { " + " });
            out.push_str(&term);
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}
