//! Layers that move data around: pools (`MaxPool`, `AveragePool`,
//! `GlobalAveragePool`, a spatial `ReduceMean`), `Flatten` and `Reshape`.
//!
//! Shapes are per row: the batch axis of the ONNX tensor is implicit in the
//! `.nn` program, so every reshape must keep it first.

use super::linear::{padding, pair, window_out};
use super::{act, image_input, layer_name, push};
use crate::onnx::emit::Call;
use crate::onnx::error::ImportError;
use crate::onnx::graph::{format_ints, Int, Node};
use crate::onnx::lower::{Act, Lowering, Value};

pub(super) fn pool(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
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

pub(super) fn global_average_pool(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    if node.op() == "GlobalAveragePool" {
        node.check_attributes(&[])?;
    }
    let x = act(node, inputs, 0)?.clone();
    let [c, h, w] = image_input(node, &x)?;
    let name = layer_name(s, node, None);
    let notes = vec![format!(
        "{}: {} is an avgpool over the whole {h}×{w} image",
        node.label(),
        node.op()
    )];
    let call = Call::Pool {
        op: "avgpool",
        x: x.name,
        kernel: [h, w],
        stride: [h, w],
    };
    push(s, node, name, call, vec![c, 1, 1], notes, false)
}

/// `ReduceMean` over both spatial axes (what the default exporter writes
/// for `AdaptiveAvgPool2d(1)`): a global average pool.
pub(super) fn reduce_mean(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
    node.check_attributes(&["axes", "keepdims", "noop_with_empty_axes"])?;
    let supported = "ReduceMean over the two spatial axes of an image ([2, 3] or [-2, -1]), a global average pool";
    let x = act(node, inputs, 0)?.clone();
    let axes = match (node.ints("axes")?, inputs.get(1)) {
        (Some(a), _) => a.to_vec(),
        (None, Some(Some(Value::Const(c)))) => crate::onnx::fold::known_ints(node, c)?,
        _ => return Err(node.unsupported("no constant axes", supported)),
    };
    let rank = x.shape.len() as i64 + 1;
    let mut normalized: Vec<i64> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a })
        .collect();
    normalized.sort_unstable();
    if x.shape.len() != 3 || normalized != [2, 3] {
        return Err(node.unsupported(
            format!("axes {axes:?} on per-row shape {:?}", x.shape),
            supported,
        ));
    }
    global_average_pool(s, node, inputs)?;
    if node.int("keepdims", 1)? == 0 {
        let pooled = match s.values.get(node.output()?) {
            Some(Value::Act(a)) => a.clone(),
            _ => return Err(node.unsupported("internal: no pooled tensor", supported)),
        };
        reshape_to(s, node, &pooled, vec![x.shape[0]])?;
    }
    Ok(())
}

/// A new per-row shape for `x`: nothing if unchanged, `flatten` for one
/// axis, `reshape` otherwise.
pub(super) fn reshape_to(
    s: &mut Lowering<'_>,
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

pub(super) fn flatten(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
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

pub(super) fn reshape(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
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
            Int::Known(0) => row_target.push(*x.shape.get(j).ok_or_else(|| {
                node.unsupported(format!("target {}", format_ints(&target)), supported)
            })? as i64),
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
            format!(
                "target shape {} does not keep the batch axis first",
                format_ints(&target)
            ),
            supported,
        ));
    }
    let shape = crate::onnx::fold::resolve_shape(node, &x.shape, &row_target)?;
    reshape_to(s, node, &x, shape)
}
