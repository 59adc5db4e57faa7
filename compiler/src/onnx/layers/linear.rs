//! Layers with weights: `Gemm`, `MatMul`, `Conv`, and the
//! `BatchNormalization` that follows one of them.
//!
//! Weights are converted to the runtime's layouts here: `Gemm`/`MatMul`
//! matrices become `[out, in]` (with `alpha` and `beta` multiplied in), conv
//! weights stay `[out_c, in_c, kh, kw]`, and batchnorm keeps PyTorch's four
//! tensors, which the compiler folds into the layer before it.

use super::{act, constant, f32s, image_input, layer_name, push, vector_input, weight};
use crate::onnx::emit::Call;
use crate::onnx::error::ImportError;
use crate::onnx::fold::transpose_matrix;
use crate::onnx::graph::{Const, Node};
use crate::onnx::lower::{Lowering, Value};

pub(super) fn gemm(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
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
    let mut notes = Vec::new();
    if alpha != 1.0 || (bias && beta != 1.0) {
        notes.push(format!(
            "{}: alpha = {} and beta = {} are multiplied into `{name}`'s weight and bias",
            node.label(),
            crate::onnx::emit::number(alpha),
            crate::onnx::emit::number(beta)
        ));
    }
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
        notes,
        true,
    )
}

/// A bias for `out` channels from a constant broadcast against
/// `[batch, out, 1 × spatial…]`: a scalar, or `out` values laid out as
/// `[out]`, `[1, out]`, `[out, 1, 1]` or `[1, out, 1, 1]`.
pub(super) fn broadcast_bias(
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

pub(super) fn matmul(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
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

pub(super) fn pair(
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
pub(super) fn padding(node: &Node<'_>, supported: &str) -> Result<[usize; 2], ImportError> {
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

pub(super) fn window_out(
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

pub(super) fn conv(
    s: &mut Lowering<'_>,
    node: &Node<'_>,
    inputs: &[Option<Value>],
) -> Result<(), ImportError> {
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

pub(super) fn batchnorm(
    s: &mut Lowering<'_>,
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
