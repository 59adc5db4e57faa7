//! One ONNX operator on network tensors → one `.nn` layer (or none).
//!
//! Each function checks every attribute that could change the result and
//! refuses what the language cannot express with an error naming the node,
//! so an imported program computes what the ONNX graph computes, never a
//! silently different network. Weights are converted to the runtime's
//! layouts here: `Gemm`/`MatMul` matrices become `[out, in]` (with `alpha`
//! and `beta` multiplied in), a bias `Add` after a bias-free `MatMul` or
//! `Conv` becomes that layer's bias.

use crate::onnx::emit::{Call, Statement, Weight};
use crate::onnx::error::ImportError;
use crate::onnx::graph::{element_count, Const, Node};
use crate::onnx::lower::{Act, Lowering, Value};
use crate::onnx::names::{from_node_name, from_weight_name, sanitize};

mod elementwise;
mod linear;
mod spatial;

use elementwise::{add, mul, pass_through, softmax, unary};
use linear::{batchnorm, conv, gemm, matmul};
use spatial::{flatten, global_average_pool, pool, reduce_mean, reshape};

/// How one operator is lowered on network tensors.
type Lower = fn(&mut Lowering<'_>, &Node<'_>, &[Option<Value>]) -> Result<(), ImportError>;

/// The operators [`lower_node`] maps on network tensors, with their
/// lowering: the one list it dispatches on, that the importer's up-front
/// check of a model reads and that the tests sweep.
const LAYERS: [(&str, Lower); 21] = [
    ("Relu", unary),
    ("Sigmoid", unary),
    ("Tanh", unary),
    ("Identity", pass_through),
    ("Dropout", pass_through),
    ("Gemm", gemm),
    ("MatMul", matmul),
    ("Conv", conv),
    ("MaxPool", pool),
    ("AveragePool", pool),
    ("GlobalAveragePool", global_average_pool),
    ("ReduceMean", reduce_mean),
    ("Flatten", flatten),
    ("Reshape", reshape),
    ("Add", add),
    ("Sub", add),
    ("Mul", mul),
    ("Div", mul),
    ("BatchNormalization", batchnorm),
    ("Softmax", softmax),
    ("LogSoftmax", softmax),
];

/// The operators [`lower_node`] maps on network tensors.
pub fn layer_operators() -> impl Iterator<Item = &'static str> {
    LAYERS.iter().map(|(op, _)| *op)
}

/// Lower a node that reads at least one network tensor.
pub fn lower_node(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    if let Some((_, lower)) = LAYERS.iter().find(|(op, _)| *op == node.op()) {
        return lower(s, node, inputs);
    }
    match node.op() {
        op if crate::onnx::fold::FOLDABLE.contains(&op) => Err(node.unsupported(
            "it computes on a network tensor",
            format!("{op} on constants only (shape computations, weight layouts)"),
        )),
        op => Err(ImportError::UnsupportedOperator {
            node: node.label(),
            op: op.to_string(),
        }),
    }
}

fn act<'v>(node: &Node<'_>, inputs: &'v [Option<Value>], i: usize) -> Result<&'v Act, ImportError> {
    match inputs.get(i) {
        Some(Some(Value::Act(a))) => Ok(a),
        Some(Some(Value::Const(_))) => Err(node.unsupported(
            format!("input {i} is a constant, not a network tensor"),
            "the network tensor as this input",
        )),
        _ => Err(node.unsupported(format!("input {i} is missing"), "nodes with their inputs")),
    }
}

fn constant<'v>(
    node: &Node<'_>,
    inputs: &'v [Option<Value>],
    i: usize,
    what: &str,
) -> Result<&'v Const, ImportError> {
    match inputs.get(i) {
        Some(Some(Value::Const(c))) if c.floats().is_some() => Ok(c),
        Some(Some(Value::Const(_))) => Err(node.unsupported(
            format!("the {what} is not a float tensor"),
            format!("a float {what}"),
        )),
        Some(Some(Value::Act(_))) => Err(node.unsupported(
            format!("the {what} is computed by the network"),
            format!("a constant {what} (an initializer)"),
        )),
        _ => Err(node.unsupported(
            format!("the {what} is missing"),
            format!("a constant {what}"),
        )),
    }
}

fn f32s(c: &Const) -> Vec<f32> {
    c.floats()
        .unwrap_or_default()
        .iter()
        .map(|&v| v as f32)
        .collect()
}

/// The `.nn` name of a node's layer: the module path of its weight
/// (`fc1.weight` → `fc1`), else of its node name (`/layer1/relu/Relu`),
/// else its output's name if that is already an identifier, else the operator.
fn layer_name(s: &mut Lowering<'_>, node: &Node<'_>, weight: Option<&str>) -> String {
    let from_output = node
        .proto
        .output
        .first()
        .filter(|o| !o.is_empty() && sanitize(o) == **o)
        .cloned();
    let base = weight
        .and_then(from_weight_name)
        .or_else(|| {
            node.proto
                .name
                .contains('/')
                .then(|| from_node_name(&node.proto.name, node.op()))
                .flatten()
        })
        .or(from_output)
        .unwrap_or_else(|| node.op().to_ascii_lowercase());
    s.names.fresh(&base)
}

fn origin(node: &Node<'_>) -> String {
    if node.proto.name.is_empty() {
        format!("{} {}", node.op(), node.label())
    } else {
        format!("{} {}", node.op(), node.proto.name)
    }
}

/// Append a statement; define the node's output as its tensor.
fn push(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    name: String,
    call: Call,
    shape: Vec<usize>,
    notes: Vec<String>,
    linear: bool,
) -> Result<(), ImportError> {
    if element_count(&shape).is_none() {
        return Err(node.unsupported(
            format!("its result of shape {shape:?} is too large"),
            "tensors of at most 2^28 elements per sample",
        ));
    }
    let index = s.program.statements.len();
    let mut all_notes = std::mem::take(&mut s.pending_notes);
    all_notes.extend(notes);
    s.program.statements.push(Statement {
        notes: all_notes,
        name: name.clone(),
        call,
        origin: origin(node),
        shape: shape.clone(),
    });
    s.define(
        node,
        Value::Act(Act {
            name,
            shape,
            linear: linear.then_some(index),
        }),
    )
}

fn weight(s: &mut Lowering<'_>, name: String, shape: Vec<usize>, values: Vec<f32>) {
    s.program.weights.push(Weight {
        name,
        shape,
        values,
    });
}

fn vector_input(node: &Node<'_>, x: &Act) -> Result<usize, ImportError> {
    match x.shape.as_slice() {
        [n] => Ok(*n),
        shape => Err(node.unsupported(
            format!("its input has per-row shape {shape:?}"),
            "inputs of shape [batch, features] (insert a Flatten before)",
        )),
    }
}

fn image_input(node: &Node<'_>, x: &Act) -> Result<[usize; 3], ImportError> {
    match x.shape.as_slice() {
        &[c, h, w] => Ok([c, h, w]),
        shape => Err(node.unsupported(
            format!("its input has per-row shape {shape:?}"),
            "2-d images: inputs of shape [batch, channels, height, width]",
        )),
    }
}
