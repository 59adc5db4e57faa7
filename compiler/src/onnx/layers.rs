//! One ONNX operator on network tensors → one `.nn` layer (or none).
//!
//! Each function checks every attribute that could change the result and
//! refuses what the language cannot express with an error naming the node,
//! so an imported program computes what the ONNX graph computes, never a
//! silently different network. Weights are converted to the runtime's
//! layouts here: `Gemm`/`MatMul` matrices become `[out, in]` (with `alpha`
//! and `beta` multiplied in), a bias `Add` after a bias-free `MatMul` or
//! `Conv` becomes that layer's bias.

use super::emit::{Call, Statement, Weight};
use super::error::ImportError;
use super::fold::transpose_matrix;
use super::graph::{Const, Int, Node};
use super::lower::{Act, Lowering, Value};
use super::names::{from_node_name, from_weight_name, sanitize};

/// Lower a node that reads at least one network tensor.
pub fn lower_node(
    s: &mut Lowering,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    match node.op() {
        "Relu" | "Sigmoid" | "Tanh" => unary(s, node, inputs),
        "Identity" | "Dropout" => pass_through(s, node, inputs),
        "Gemm" => gemm(s, node, inputs),
        "MatMul" => matmul(s, node, inputs),
        "Conv" => conv(s, node, inputs),
        "MaxPool" | "AveragePool" => pool(s, node, inputs),
        "GlobalAveragePool" => global_average_pool(s, node, inputs),
        "Flatten" => flatten(s, node, inputs),
        "Reshape" => reshape(s, node, inputs),
        "Add" | "Sub" => add(s, node, inputs),
        "Mul" | "Div" => mul(s, node, inputs),
        "BatchNormalization" => batchnorm(s, node, inputs),
        "Softmax" | "LogSoftmax" => softmax(s, node, inputs),
        op if super::fold::FOLDABLE.contains(&op) => Err(node.unsupported(
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
fn layer_name(s: &mut Lowering, node: &Node<'_>, weight: Option<&str>) -> String {
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
    s: &mut Lowering,
    node: &Node<'_>,
    name: String,
    call: Call,
    shape: Vec<usize>,
    notes: Vec<String>,
    linear: bool,
) -> Result<(), ImportError> {
    let index = s.program.statements.len();
    s.program.statements.push(Statement {
        notes,
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

fn weight(s: &mut Lowering, name: String, shape: Vec<usize>, values: Vec<f32>) {
    s.program.weights.push(Weight {
        name,
        shape,
        values,
    });
}

fn unary(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
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

fn pass_through(
    s: &mut Lowering,
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
    let input = node.input(0).unwrap_or_default();
    if s.uses.get(input).copied().unwrap_or(0) != 1 {
        x.linear = None;
    }
    s.define(node, Value::Act(x))
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

fn gemm(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
    node.check_attributes(&["alpha", "beta", "transA", "transB"])?;
    let supported =
        "Gemm(A, B, C) with A the network tensor [batch, in], transA = 0, and B, C constants";
    let x = act(node, inputs, 0)?.clone();
    if node.int("transA", 0)? != 0 {
        return Err(node.unsupported(
            "transA = 1 would transpose the batch into the features",
            supported,
        ));
    }
    let n = vector_input(node, &x)?;
    let b = constant(node, inputs, 1, "matrix B")?;
    let &[r, c] = b.dims.as_slice() else {
        return Err(node.unsupported(format!("B has shape {:?}", b.dims), supported));
    };
    let alpha = node.float("alpha", 1.0)?;
    let beta = node.float("beta", 1.0)?;
    let values = b.floats().unwrap_or_default();
    // Weight as [out, in]: B is [out, in] with transB = 1, [in, out] without.
    let (out, inn, w) = if node.int("transB", 0)? != 0 {
        (r, c, values.to_vec())
    } else {
        (c, r, transpose_matrix(values, r, c))
    };
    if inn != n {
        return Err(node.unsupported(
            format!("B maps {inn} features but the input has {n}"),
            supported,
        ));
    }
    let name = layer_name(s, node, node.input(1));
    weight(
        s,
        format!("{name}.weight"),
        vec![out, inn],
        w.iter().map(|&v| (alpha * v) as f32).collect(),
    );
    let bias = match inputs.get(2) {
        Some(Some(_)) if beta != 0.0 => {
            let c = constant(node, inputs, 2, "bias C")?;
            let bias = broadcast_bias(node, c, out, 1)?;
            weight(
                s,
                format!("{name}.bias"),
                vec![out],
                bias.iter().map(|&v| (beta * v) as f32).collect(),
            );
            true
        }
        _ => false,
    };
    push(
        s,
        node,
        name.clone(),
        Call::Dense {
            x: x.name,
            out,
            bias,
        },
        vec![out],
        vec![],
        true,
    )
}

/// A bias for `out` channels from a constant broadcast against
/// `[batch, out, 1 × spatial…]`: a scalar, or `out` values laid out as
/// `[out]`, `[1, out]`, `[out, 1, 1]` or `[1, out, 1, 1]`.
fn broadcast_bias(
    node: &Node<'_>,
    c: &Const,
    out: usize,
    spatial: usize,
) -> Result<Vec<f64>, ImportError> {
    let values = c.floats().unwrap_or_default();
    if let Some(v) = c.uniform_value().filter(|_| values.len() <= out) {
        return Ok(vec![v; out]);
    }
    let non_unit: Vec<(usize, usize)> = c
        .dims
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, d)| d != 1)
        .collect();
    let rank = c.dims.len();
    let channel_axis_ok = match non_unit.as_slice() {
        [(axis, d)] => *d == out && rank - axis == spatial,
        _ => false,
    };
    if !channel_axis_ok {
        return Err(node.unsupported(
            format!(
                "a constant of shape {:?} does not broadcast to one value per output ({out})",
                c.dims
            ),
            "a bias with one value per output feature or channel",
        ));
    }
    Ok(values.to_vec())
}

fn matmul(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
    node.check_attributes(&[])?;
    let supported = "MatMul(x, W) with x the network tensor [batch, in] and W a constant [in, out]";
    let x = act(node, inputs, 0)?.clone();
    let n = vector_input(node, &x)?;
    let w = constant(node, inputs, 1, "matrix")?;
    let &[inn, out] = w.dims.as_slice() else {
        return Err(node.unsupported(format!("W has shape {:?}", w.dims), supported));
    };
    if inn != n {
        return Err(node.unsupported(
            format!("W maps {inn} features but the input has {n}"),
            supported,
        ));
    }
    let name = layer_name(s, node, node.input(1));
    let t = transpose_matrix(w.floats().unwrap_or_default(), inn, out);
    weight(
        s,
        format!("{name}.weight"),
        vec![out, inn],
        t.iter().map(|&v| v as f32).collect(),
    );
    push(
        s,
        node,
        name,
        Call::Dense {
            x: x.name,
            out,
            bias: false,
        },
        vec![out],
        vec![],
        true,
    )
}

fn pair(
    node: &Node<'_>,
    name: &str,
    default: i64,
    supported: &str,
) -> Result<[usize; 2], ImportError> {
    let values = node
        .ints(name)?
        .map(<[i64]>::to_vec)
        .unwrap_or_else(|| vec![default, default]);
    match values.as_slice() {
        &[a, b] if a >= 0 && b >= 0 => Ok([a as usize, b as usize]),
        v => Err(node.unsupported(format!("{name} = {v:?}"), supported)),
    }
}

/// Symmetric padding from ONNX `pads` ([top, left, bottom, right]) and `auto_pad`.
fn padding(node: &Node<'_>, supported: &str) -> Result<[usize; 2], ImportError> {
    let auto = node.string("auto_pad", "NOTSET")?;
    if auto != "NOTSET" && auto != "VALID" {
        return Err(node.unsupported(format!("auto_pad = {auto}"), supported));
    }
    let pads = node
        .ints("pads")?
        .map(<[i64]>::to_vec)
        .unwrap_or_else(|| vec![0; 4]);
    match pads.as_slice() {
        &[t, l, b, r]
            if t == b && l == r && t >= 0 && l >= 0 && (auto == "NOTSET" || t + l == 0) =>
        {
            Ok([t as usize, l as usize])
        }
        p => Err(node.unsupported(format!("pads = {p:?}"), supported)),
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

fn window_out(
    node: &Node<'_>,
    size: usize,
    pad: usize,
    kernel: usize,
    stride: usize,
    supported: &str,
) -> Result<usize, ImportError> {
    let padded = size + 2 * pad;
    if kernel == 0 || stride == 0 || kernel > padded {
        return Err(node.unsupported(
            format!("window {kernel} (stride {stride}) on a padded size of {padded}"),
            supported,
        ));
    }
    Ok((padded - kernel) / stride + 1)
}

fn conv(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
    node.check_attributes(&[
        "kernel_shape",
        "strides",
        "pads",
        "dilations",
        "group",
        "auto_pad",
    ])?;
    let supported =
        "2-d Conv with group = 1, dilations = 1, symmetric pads, a constant weight and bias";
    let x = act(node, inputs, 0)?.clone();
    let [c, h, wd] = image_input(node, &x)?;
    if node.int("group", 1)? != 1 {
        return Err(node.unsupported(format!("group = {}", node.int("group", 1)?), supported));
    }
    if pair(node, "dilations", 1, supported)? != [1, 1] {
        return Err(node.unsupported(
            format!(
                "dilations = {:?}",
                node.ints("dilations")?.unwrap_or_default()
            ),
            supported,
        ));
    }
    let stride = pair(node, "strides", 1, supported)?;
    let pad = padding(node, supported)?;
    let w = constant(node, inputs, 1, "weight")?;
    let &[out, in_c, kh, kw] = w.dims.as_slice() else {
        return Err(node.unsupported(format!("weight of shape {:?}", w.dims), supported));
    };
    if in_c != c {
        return Err(node.unsupported(
            format!("the weight reads {in_c} channels but the input has {c}"),
            supported,
        ));
    }
    if let Some(k) = node.ints("kernel_shape")? {
        if k != [kh as i64, kw as i64] {
            return Err(node.unsupported(
                format!("kernel_shape = {k:?} but the weight is {kh}×{kw}"),
                supported,
            ));
        }
    }
    if 2 * pad[0] > kh || 2 * pad[1] > kw {
        return Err(node.unsupported(
            format!("pads {pad:?} larger than half the kernel {kh}×{kw}"),
            supported,
        ));
    }
    let oh = window_out(node, h, pad[0], kh, stride[0], supported)?;
    let ow = window_out(node, wd, pad[1], kw, stride[1], supported)?;
    let name = layer_name(s, node, node.input(1));
    weight(
        s,
        format!("{name}.weight"),
        vec![out, in_c, kh, kw],
        f32s(w),
    );
    let bias = match inputs.get(2) {
        Some(Some(_)) => {
            let b = constant(node, inputs, 2, "bias")?;
            if b.len() != out {
                return Err(node.unsupported(
                    format!("a bias of shape {:?} for {out} channels", b.dims),
                    supported,
                ));
            }
            weight(s, format!("{name}.bias"), vec![out], f32s(b));
            true
        }
        _ => false,
    };
    let call = Call::Conv {
        x: x.name,
        out,
        kernel: [kh, kw],
        stride,
        padding: pad,
        bias,
    };
    push(s, node, name, call, vec![out, oh, ow], vec![], true)
}

fn pool(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
    node.check_attributes(&[
        "kernel_shape",
        "strides",
        "pads",
        "ceil_mode",
        "dilations",
        "storage_order",
        "auto_pad",
        "count_include_pad",
    ])?;
    let supported = "2-d pooling without padding, dilations = 1";
    s.only_first_output(node)?;
    let x = act(node, inputs, 0)?.clone();
    let [c, h, w] = image_input(node, &x)?;
    let kernel = match node.ints("kernel_shape")? {
        Some(&[a, b]) if a > 0 && b > 0 => [a as usize, b as usize],
        k => return Err(node.unsupported(format!("kernel_shape = {k:?}"), supported)),
    };
    let stride = pair(node, "strides", 1, supported)?;
    if padding(node, supported)? != [0, 0] {
        return Err(node.unsupported(
            format!("pads = {:?}", node.ints("pads")?.unwrap_or_default()),
            supported,
        ));
    }
    if pair(node, "dilations", 1, supported)? != [1, 1] {
        return Err(node.unsupported(
            format!(
                "dilations = {:?}",
                node.ints("dilations")?.unwrap_or_default()
            ),
            supported,
        ));
    }
    let oh = window_out(node, h, 0, kernel[0], stride[0], supported)?;
    let ow = window_out(node, w, 0, kernel[1], stride[1], supported)?;
    let exact = (h - kernel[0]) % stride[0] == 0 && (w - kernel[1]) % stride[1] == 0;
    if node.int("ceil_mode", 0)? != 0 && !exact {
        return Err(node.unsupported(
            "ceil_mode = 1 adds a partial window",
            "ceil_mode = 0, or windows that tile the input exactly",
        ));
    }
    let op = if node.op() == "MaxPool" {
        "maxpool"
    } else {
        "avgpool"
    };
    let name = layer_name(s, node, None);
    push(
        s,
        node,
        name,
        Call::Pool {
            op,
            x: x.name,
            kernel,
            stride,
        },
        vec![c, oh, ow],
        vec![],
        false,
    )
}

fn global_average_pool(
    s: &mut Lowering,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    node.check_attributes(&[])?;
    let x = act(node, inputs, 0)?.clone();
    let [c, h, w] = image_input(node, &x)?;
    let name = layer_name(s, node, None);
    let notes = vec![format!(
        "{}: GlobalAveragePool is an avgpool over the whole {h}×{w} image",
        node.label()
    )];
    let call = Call::Pool {
        op: "avgpool",
        x: x.name,
        kernel: [h, w],
        stride: [h, w],
    };
    push(s, node, name, call, vec![c, 1, 1], notes, false)
}

/// A new per-row shape for `x`: nothing if unchanged, `flatten` for one
/// axis, `reshape` otherwise.
fn reshape_to(
    s: &mut Lowering,
    node: &Node<'_>,
    x: &Act,
    shape: Vec<usize>,
) -> Result<(), ImportError> {
    if shape == x.shape {
        let mut same = x.clone();
        same.linear = None;
        return s.define(node, Value::Act(same));
    }
    if shape.is_empty() || shape.len() > 3 {
        return Err(node.unsupported(
            format!("a per-row shape {shape:?}"),
            "1 to 3 axes besides the batch axis",
        ));
    }
    let name = layer_name(s, node, None);
    let call = if shape.len() == 1 {
        Call::Unary {
            op: "flatten",
            x: x.name.clone(),
        }
    } else {
        Call::Reshape {
            x: x.name.clone(),
            shape: shape.clone(),
        }
    };
    push(s, node, name, call, shape, vec![], false)
}

fn flatten(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
    node.check_attributes(&["axis"])?;
    let x = act(node, inputs, 0)?.clone();
    let rank = x.shape.len() as i64 + 1;
    let axis = node.int("axis", 1)?;
    if axis != 1 && axis != 1 - rank {
        return Err(node.unsupported(
            format!("axis = {axis}"),
            "Flatten with axis = 1 (keeping the batch axis)",
        ));
    }
    let n = x.shape.iter().product();
    reshape_to(s, node, &x, vec![n])
}

fn reshape(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
    node.check_attributes(&["allowzero"])?;
    let supported = "Reshape to a constant shape that keeps the batch axis first";
    let x = act(node, inputs, 0)?.clone();
    let target = match inputs.get(1) {
        Some(Some(Value::Const(c))) => c.ints().map(<[Int]>::to_vec),
        _ => None,
    }
    .ok_or_else(|| node.unsupported("the target shape is not a constant", supported))?;
    if node.int("allowzero", 0)? != 0 && target.contains(&Int::Known(0)) {
        return Err(node.unsupported("allowzero = 1 with a 0 in the shape", supported));
    }
    let Some((&first, rest)) = target.split_first() else {
        return Err(node.unsupported("an empty target shape", supported));
    };
    let mut row_target = Vec::with_capacity(rest.len());
    for (j, d) in rest.iter().enumerate() {
        match d {
            Int::Known(0) => row_target.push(
                *x.shape
                    .get(j)
                    .ok_or_else(|| node.unsupported(format!("target {target:?}"), supported))?
                    as i64,
            ),
            Int::Known(v) => row_target.push(*v),
            Int::Batch => {
                return Err(node.unsupported("the batch size moves off the first axis", supported))
            }
        }
    }
    let batch_first = match first {
        Int::Batch | Int::Known(0) => true,
        Int::Known(-1) => !row_target.contains(&-1),
        Int::Known(b) => s.static_batch.is_some_and(|sb| sb as i64 == b),
    };
    if !batch_first {
        return Err(node.unsupported(
            format!("target shape {target:?} does not keep the batch axis first"),
            supported,
        ));
    }
    let shape = super::fold::resolve_shape(node, &x.shape, &row_target)?;
    reshape_to(s, node, &x, shape)
}

fn add(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
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

fn mul(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
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

fn batchnorm(
    s: &mut Lowering,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    node.check_attributes(&["epsilon", "momentum", "training_mode", "spatial"])?;
    let supported = "BatchNormalization in inference mode directly after a Conv, Gemm or MatMul whose output nothing else reads (it is folded into that layer)";
    s.only_first_output(node)?;
    if node.int("training_mode", 0)? != 0 {
        return Err(node.unsupported("training_mode = 1", supported));
    }
    let x = act(node, inputs, 0)?.clone();
    let input = node.input(0).unwrap_or_default();
    if x.linear.is_none() || s.uses.get(input).copied() != Some(1) {
        return Err(node.unsupported(
            "its input is not the sole use of a Conv, Gemm or MatMul",
            supported,
        ));
    }
    let channels = x.shape[0];
    let mut params = Vec::with_capacity(4);
    for (i, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")] {
        let c = constant(node, inputs, i, what)?;
        if c.len() != channels {
            return Err(node.unsupported(
                format!("the {what} has shape {:?} for {channels} channels", c.dims),
                supported,
            ));
        }
        params.push(f32s(c));
    }
    let eps = node.float("epsilon", 1e-5)?;
    let name = layer_name(s, node, node.input(1));
    for (suffix, values) in ["weight", "bias", "running_mean", "running_var"]
        .iter()
        .zip(params)
    {
        weight(s, format!("{name}.{suffix}"), vec![channels], values);
    }
    let notes = vec![format!(
        "{}: batchnorm, folded into `{}` by the compiler",
        node.label(),
        x.name
    )];
    push(
        s,
        node,
        name,
        Call::BatchNorm {
            x: x.name.clone(),
            eps,
        },
        x.shape.clone(),
        notes,
        false,
    )
}

fn softmax(s: &mut Lowering, node: &Node<'_>, inputs: &[Option<Value>]) -> Result<(), ImportError> {
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
