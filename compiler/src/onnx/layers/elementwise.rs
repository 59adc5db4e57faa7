//! Element-wise layers: activations (`Relu`, `Sigmoid`, `Tanh`, with the
//! approximation stated in a comment), `Add`/`Sub` (residual, or a bias
//! merged into the layer before), `Mul`/`Div` (by a constant, or of two
//! tensors), the dropped `Identity`/`Dropout`, and a final
//! `Softmax`/`LogSoftmax`, replaced by what the outputs reveal.

use super::linear::broadcast_bias;
use super::{act, layer_name, push, weight};
use crate::onnx::emit::Call;
use crate::onnx::error::ImportError;
use crate::onnx::graph::{Int, Node};
use crate::onnx::lower::{Lowering, Value};

pub(super) fn unary(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    node.check_attributes(&[])?;
    let x = act(node, inputs, 0)?.clone();
    let (op, notes) = match node.op() {
        "Relu" => ("relu", vec![]),
        "Sigmoid" => ("sigmoid", vec![format!(
            "{}: sigmoid approximated piecewise-linearly (approx = pwl): clamp(x/4 + 1/2, 0, 1), max abs error 0.1192; write approx = chebyshev(degree = 5, interval = [-4, 4]) for a polynomial",
            node.label()
        )]),
        _ => ("tanh", vec![format!(
            "{}: tanh approximated piecewise-linearly (approx = pwl): clamp(x, -1, 1), max abs error 0.2384; write approx = chebyshev(degree = 5, interval = [-4, 4]) for a polynomial",
            node.label()
        )]),
    };
    let name = layer_name(s, node, None);
    push(
        s,
        node,
        name,
        Call::Unary { op, x: x.name },
        x.shape,
        notes,
        false,
    )
}

pub(super) fn pass_through(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    if node.op() == "Dropout" {
        node.check_attributes(&["ratio", "seed"])?;
        s.only_first_output(node)?;
        if let Some(Some(Value::Const(mode))) = inputs.get(2) {
            if mode.ints().is_some_and(|v| v.contains(&Int::Known(1)))
                || mode.uniform_value().is_some_and(|v| v != 0.0)
            {
                return Err(node.unsupported(
                    "training_mode is true",
                    "Dropout in inference mode (dropped)",
                ));
            }
        }
    } else {
        node.check_attributes(&[])?;
    }
    let mut x = act(node, inputs, 0)?.clone();
    s.pending_notes.push(format!(
        "{}: {} dropped (the identity at inference)",
        node.label(),
        node.op()
    ));
    let input = node.input(0).unwrap_or_default();
    if s.uses.get(input).copied().unwrap_or(0) != 1 {
        x.linear = None;
    }
    s.define(node, Value::Act(x))
}

pub(super) fn add(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    node.check_attributes(&[])?;
    let supported = "Add/Sub of two network tensors of the same shape (residual), or of a constant bias right after a bias-free MatMul or Conv";
    let sub = node.op() == "Sub";
    match (inputs.first(), inputs.get(1)) {
        (Some(Some(Value::Act(a))), Some(Some(Value::Act(b)))) => {
            if a.shape != b.shape {
                return Err(node.unsupported(
                    format!("broadcasting {:?} against {:?}", a.shape, b.shape),
                    supported,
                ));
            }
            let name = layer_name(s, node, None);
            let op = if sub { "sub" } else { "add" };
            let call = Call::Binary {
                op,
                a: a.name.clone(),
                b: b.name.clone(),
            };
            push(s, node, name, call, a.shape.clone(), vec![], false)
        }
        (Some(Some(Value::Act(x))), Some(Some(Value::Const(c))))
        | (Some(Some(Value::Const(c))), Some(Some(Value::Act(x))))
            if !(sub && matches!(inputs.first(), Some(Some(Value::Const(_))))) =>
        {
            let input = node
                .proto
                .input
                .iter()
                .find(|n| matches!(s.values.get(*n), Some(Value::Act(_))))
                .cloned()
                .unwrap_or_default();
            let target = x.linear.filter(|_| s.uses.get(&input).copied() == Some(1));
            let Some(index) = target.filter(|&i| {
                matches!(
                    s.program.statements[i].call,
                    Call::Dense { bias: false, .. } | Call::Conv { bias: false, .. }
                )
            }) else {
                return Err(node.unsupported("adding a constant to a tensor that is not the sole use of a bias-free MatMul or Conv", supported));
            };
            if c.floats().is_none() {
                return Err(node.unsupported("an integer constant", supported));
            }
            let out = x.shape[0];
            let spatial = x.shape.len();
            let mut bias = broadcast_bias(node, c, out, spatial)?;
            if sub {
                bias.iter_mut().for_each(|v| *v = -*v);
            }
            let statement = &mut s.program.statements[index];
            match &mut statement.call {
                Call::Dense { bias: b, .. } | Call::Conv { bias: b, .. } => *b = true,
                _ => {}
            }
            statement
                .origin
                .push_str(&format!(" + {} {} (its bias)", node.op(), node.label()));
            let layer = statement.name.clone();
            weight(
                s,
                format!("{layer}.bias"),
                vec![out],
                bias.iter().map(|&v| v as f32).collect(),
            );
            s.define(node, Value::Act(x.clone()))
        }
        _ => Err(node.unsupported(
            "its operands are not a network tensor and a tensor or a constant",
            supported,
        )),
    }
}

pub(super) fn mul(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    node.check_attributes(&[])?;
    let supported = "Mul by a constant with a single value (or Div by one), or Mul of two network tensors of the same shape";
    let div = node.op() == "Div";
    match (inputs.first(), inputs.get(1)) {
        (Some(Some(Value::Act(a))), Some(Some(Value::Act(b)))) if !div => {
            if a.shape != b.shape {
                return Err(node.unsupported(
                    format!("broadcasting {:?} against {:?}", a.shape, b.shape),
                    supported,
                ));
            }
            let name = layer_name(s, node, None);
            let call = Call::Binary {
                op: "mul",
                a: a.name.clone(),
                b: b.name.clone(),
            };
            push(s, node, name, call, a.shape.clone(), vec![], false)
        }
        (Some(Some(Value::Act(x))), Some(Some(Value::Const(c))))
        | (Some(Some(Value::Const(c))), Some(Some(Value::Act(x))))
            if !(div && matches!(inputs.first(), Some(Some(Value::Const(_))))) =>
        {
            let x_len: usize = x.shape.iter().product();
            let value = c
                .uniform_value()
                .filter(|_| c.len() <= x_len)
                .ok_or_else(|| {
                    node.unsupported(
                        format!("a constant of shape {:?} with different values", c.dims),
                        supported,
                    )
                })?;
            let by = if div {
                if value == 0.0 {
                    return Err(node.unsupported("division by zero", supported));
                }
                1.0 / value
            } else {
                value
            };
            let name = layer_name(s, node, None);
            push(
                s,
                node,
                name,
                Call::Scale {
                    x: x.name.clone(),
                    by,
                },
                x.shape.clone(),
                vec![],
                false,
            )
        }
        _ => Err(node.unsupported(
            "its operands are not a network tensor and a constant",
            supported,
        )),
    }
}

pub(super) fn softmax(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    node.check_attributes(&["axis"])?;
    let supported = "Softmax or LogSoftmax over the class axis as the last node (it is replaced by revealing the argmax and the logits)";
    let x = act(node, inputs, 0)?.clone();
    let out = node.output()?;
    if out != s.graph_output || s.uses.get(out).copied() != Some(1) {
        return Err(node.unsupported("its result is used inside the network", supported));
    }
    let rank = x.shape.len() as i64 + 1;
    let axis = node.int("axis", -1)?;
    if x.shape.len() != 1 || (axis != -1 && axis != rank - 1) {
        return Err(node.unsupported(
            format!("axis = {axis} on per-row shape {:?}", x.shape),
            supported,
        ));
    }
    s.dropped_softmax = Some(format!("{} {}", node.op(), node.label()));
    s.define(node, Value::Act(x))
}
