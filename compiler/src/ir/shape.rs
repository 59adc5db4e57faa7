//! Shape inference: the shape of an operation's result from its operands'.
//!
//! One function, [`infer`], used by lowering (to report shape errors at the
//! source) and by the verifier (to check every node after every pass), so the
//! two can never disagree. Images are `[channels, height, width]`; output
//! sizes follow PyTorch: `(h + 2·pad − k) / stride + 1`, rounded down.
//!
//! It also bounds sizes ([`MAX_ELEMENTS`], [`MAX_WEIGHTS`],
//! [`MAX_ARGMAX`]), so that every accepted program can be costed and planned
//! in bounded memory and its byte counts cannot overflow: a layer may grow a
//! tensor (conv2d channels and padding), and an argmax is one boolean circuit
//! over all of its scores.

use super::NodeOp;

/// Why an operation cannot take operands of these shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Kind of problem: `shape-mismatch`, or `bad-window` for a kernel or
    /// stride that does not fit the input.
    pub code: &'static str,
    /// What is wrong, naming the shapes.
    pub message: String,
    /// What would be right.
    pub help: Option<String>,
}

/// Largest number of elements of any tensor (as of an input).
pub const MAX_ELEMENTS: usize = 1 << 24;
/// Largest number of weights of one dense or conv2d layer.
pub const MAX_WEIGHTS: usize = 1 << 28;
/// Largest number of scores one argmax compares: its comparison tree is a
/// single boolean circuit, built whole to cost it (about 28 kB per score).
pub const MAX_ARGMAX: usize = 1 << 14;

impl ShapeError {
    fn new(message: String) -> ShapeError {
        ShapeError {
            code: "shape-mismatch",
            message,
            help: None,
        }
    }

    fn window(mut self) -> ShapeError {
        self.code = "bad-window";
        self
    }

    fn too_large(mut self) -> ShapeError {
        self.code = "too-large";
        self
    }

    fn help(mut self, help: impl Into<String>) -> ShapeError {
        self.help = Some(help.into());
        self
    }
}

/// Format a shape as `[5, 14, 14]`.
pub fn show(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// Number of elements, or `None` on overflow.
pub fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Output size of a window of `k` moved by `s` over `n` (padded by `p` on
/// each side): `(n + 2p − k) / s + 1`, or `None` if the window does not fit.
pub fn window_out(n: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    let padded = n.checked_add(p.checked_mul(2)?)?;
    if k == 0 || s == 0 || k > padded {
        return None;
    }
    Some((padded - k) / s + 1)
}

fn image<'a>(op: &str, x: &'a [usize]) -> Result<&'a [usize], ShapeError> {
    if x.len() == 3 {
        Ok(x)
    } else {
        let e = ShapeError::new(format!(
            "{op} expects an image [channels, height, width], got {}",
            show(x)
        ));
        Err(if x.len() == 1 {
            e.help("reshape the tensor to an image first: `reshape(x, [c, h, w])`")
        } else {
            e.help("give the input three dimensions, [channels, height, width]")
        })
    }
}

fn window(
    op: &str,
    x: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<[usize; 2], ShapeError> {
    let mut out = [0; 2];
    for axis in 0..2 {
        let n = x[axis + 1];
        match window_out(n, kernel[axis], stride[axis], padding[axis]) {
            Some(o) => out[axis] = o,
            None if stride[axis] == 0 => {
                return Err(ShapeError::new(format!("{op} stride must be at least 1"))
                    .help("use `stride = 1` or more")
                    .window())
            }
            None => {
                let what = if axis == 0 { "height" } else { "width" };
                return Err(ShapeError::new(format!(
                    "{op} kernel {}×{} is larger than the input {what} {n}{} (input {})",
                    kernel[0],
                    kernel[1],
                    if padding[axis] > 0 {
                        format!(" plus padding 2×{}", padding[axis])
                    } else {
                        String::new()
                    },
                    show(x)
                ))
                .help(format!("use a kernel of at most {n} or add padding"))
                .window());
            }
        }
    }
    Ok(out)
}

/// The shape of `op`'s result, given its operands' shapes. `Input` has no
/// operands and no rule (its shape is declared), so it is an error here. A
/// result, a layer's weights or an argmax beyond the size limits is a
/// `too-large` error.
pub fn infer(op: &NodeOp, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
    let out = infer_shape(op, inputs)?;
    check_size(op, inputs[0], &out)?;
    Ok(out)
}

/// The size limits of the module documentation, for `op` reading `x`.
fn check_size(op: &NodeOp, x: &[usize], out: &[usize]) -> Result<(), ShapeError> {
    let name = op.name();
    if elements(out).is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(ShapeError::new(format!(
            "{name} gives {}, more than {MAX_ELEMENTS} elements",
            show(out)
        ))
        .help(format!(
            "a tensor holds at most {MAX_ELEMENTS} (2^24) elements: use fewer channels or features, less padding, or a larger stride"
        ))
        .too_large());
    }
    let weights = match op {
        NodeOp::Dense { out_features, .. } => Some(vec![*out_features, x[0]]),
        NodeOp::Conv2d {
            out_channels,
            kernel,
            ..
        } => Some(vec![*out_channels, x[0], kernel[0], kernel[1]]),
        _ => None,
    };
    if let Some(w) = weights {
        if elements(&w).is_none_or(|n| n > MAX_WEIGHTS) {
            return Err(ShapeError::new(format!(
                "{name} needs weights {}, more than {MAX_WEIGHTS} of them",
                show(&w)
            ))
            .help(format!(
                "a layer has at most {MAX_WEIGHTS} (2^28) weights: use fewer outputs, or reduce its input first"
            ))
            .too_large());
        }
    }
    if matches!(op, NodeOp::Argmax) && x[0] > MAX_ARGMAX {
        return Err(ShapeError::new(format!(
            "argmax over {} scores, more than {MAX_ARGMAX}",
            x[0]
        ))
        .help(format!(
            "an argmax compares at most {MAX_ARGMAX} scores (one boolean circuit over all of them): reduce them first, e.g. with a dense layer"
        ))
        .too_large());
    }
    Ok(())
}

/// [`infer`] without the size limits.
fn infer_shape(op: &NodeOp, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
    if inputs.len() != op.arity() || inputs.is_empty() {
        return Err(ShapeError::new(format!(
            "{} takes {} operand(s), got {}",
            op.name(),
            op.arity(),
            inputs.len()
        )));
    }
    let x = inputs[0];
    match op {
        NodeOp::Input { .. } => Err(ShapeError::new("an input's shape is declared".into())),
        NodeOp::Dense { out_features, .. } => {
            if x.len() == 1 {
                Ok(vec![*out_features])
            } else {
                Err(
                    ShapeError::new(format!("dense expects a 1-d input, got {}", show(x)))
                        .help("insert flatten: `f = flatten(...)`, and pass `f` to dense"),
                )
            }
        }
        NodeOp::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            ..
        } => {
            let x = image("conv2d", x)?;
            let [h, w] = window("conv2d", x, *kernel, *stride, *padding)?;
            Ok(vec![*out_channels, h, w])
        }
        NodeOp::MaxPool { kernel, stride }
        | NodeOp::SumPool { kernel, stride }
        | NodeOp::AvgPool { kernel, stride } => {
            let x = image(op.name(), x)?;
            let [h, w] = window(op.name(), x, *kernel, *stride, [0, 0])?;
            Ok(vec![x[0], h, w])
        }
        NodeOp::Reshape { shape } => {
            let (from, to) = (elements(x), elements(shape));
            if from.is_some() && from == to {
                Ok(shape.clone())
            } else {
                Err(ShapeError::new(format!(
                    "cannot reshape {} ({} elements) to {} ({} elements)",
                    show(x),
                    from.map_or("too many".into(), |n| n.to_string()),
                    show(shape),
                    to.map_or("too many".into(), |n| n.to_string()),
                ))
                .help("the new shape must have as many elements as the old one"))
            }
        }
        NodeOp::Add | NodeOp::Sub | NodeOp::Mul => {
            let y = inputs[1];
            if x == y {
                Ok(x.to_vec())
            } else {
                Err(ShapeError::new(format!(
                    "{} needs operands of one shape, got {} and {}",
                    op.name(),
                    show(x),
                    show(y)
                ))
                .help("reshape or pool one operand so both shapes agree"))
            }
        }
        NodeOp::Argmax => {
            if x.len() == 1 {
                Ok(vec![1])
            } else {
                Err(
                    ShapeError::new(format!("argmax expects a 1-d input, got {}", show(x)))
                        .help("flatten the scores first: `f = flatten(...)`"),
                )
            }
        }
        NodeOp::BatchNorm { .. } => {
            if x.len() == 1 || x.len() == 3 {
                Ok(x.to_vec())
            } else {
                Err(ShapeError::new(format!(
                    "batchnorm expects [features] or [channels, height, width], got {}",
                    show(x)
                ))
                .help("apply batchnorm to the output of a dense or conv2d layer"))
            }
        }
        NodeOp::Relu
        | NodeOp::AddConst { .. }
        | NodeOp::MulConst { .. }
        | NodeOp::Square
        | NodeOp::Truncate { .. }
        | NodeOp::Clamp { .. }
        | NodeOp::Convert
        | NodeOp::Activation { .. }
        | NodeOp::Poly { .. } => Ok(x.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_and_pool_sizes_follow_pytorch() {
        assert_eq!(window_out(28, 5, 1, 0), Some(24));
        assert_eq!(window_out(28, 5, 2, 2), Some(14));
        assert_eq!(window_out(24, 2, 2, 0), Some(12));
        assert_eq!(window_out(4, 5, 1, 0), None);
        assert_eq!(window_out(4, 2, 0, 0), None);
    }

    #[test]
    fn dense_on_an_image_names_both_shapes_and_suggests_flatten() {
        let op = NodeOp::Dense {
            out_features: 10,
            params: chimera_runtime::plan::LinearParams {
                layer: "fc".into(),
                weight: "fc.weight".into(),
                bias: None,
                batchnorm: None,
            },
        };
        let e = infer(&op, &[&[5, 14, 14]]).unwrap_err();
        assert_eq!(e.message, "dense expects a 1-d input, got [5, 14, 14]");
        assert!(e.help.unwrap().contains("flatten"));
    }

    #[test]
    fn sizes_beyond_the_limits_are_too_large() {
        let conv = NodeOp::Conv2d {
            out_channels: 1 << 20,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            params: chimera_runtime::plan::LinearParams {
                layer: "c".into(),
                weight: "c.weight".into(),
                bias: None,
                batchnorm: None,
            },
        };
        let e = infer(&conv, &[&[1, 64, 64]]).unwrap_err();
        assert_eq!(e.code, "too-large");
        assert!(e.message.contains("[1048576, 64, 64]"), "{}", e.message);
        let dense = NodeOp::Dense {
            out_features: 1 << 20,
            params: chimera_runtime::plan::LinearParams {
                layer: "fc".into(),
                weight: "fc.weight".into(),
                bias: None,
                batchnorm: None,
            },
        };
        assert_eq!(infer(&dense, &[&[1 << 8]]), Ok(vec![1 << 20]));
        let e = infer(&dense, &[&[1 << 9]]).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "too-large",
                "dense needs weights [1048576, 512], more than 268435456 of them"
            )
        );
        assert_eq!(infer(&NodeOp::Argmax, &[&[MAX_ARGMAX]]), Ok(vec![1]));
        let e = infer(&NodeOp::Argmax, &[&[MAX_ARGMAX + 1]]).unwrap_err();
        assert_eq!(e.code, "too-large");
    }

    #[test]
    fn add_needs_equal_shapes() {
        assert_eq!(infer(&NodeOp::Add, &[&[3], &[3]]), Ok(vec![3]));
        let e = infer(&NodeOp::Add, &[&[3], &[4]]).unwrap_err();
        assert!(e.message.contains("[3] and [4]"), "{}", e.message);
    }
}
