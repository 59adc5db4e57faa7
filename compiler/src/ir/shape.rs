//! Shape inference: the shape of an operation's result from its operands'.
//!
//! One function, [`infer`], used by lowering (to report shape errors at the
//! source) and by the verifier (to check every node after every pass), so the
//! two can never disagree. Images are `[channels, height, width]`; output
//! sizes follow PyTorch: `(h + 2·pad − k) / stride + 1`, rounded down.
//!
//! It also bounds sizes with the runtime's limits
//! ([`chimera_runtime::limits`]: elements of a tensor, weights and
//! multiply-adds of a layer, inputs of one boolean circuit — an argmax's
//! scores, a maxpool's window — and window reads of a pooling step), by the
//! runtime's own checks, so that every accepted program can be costed and
//! planned in bounded memory, its byte counts cannot overflow, and every
//! party accepts its plan: a layer may grow a tensor (conv2d channels and
//! padding), and an argmax or a maxpool window is one boolean circuit over
//! all of its inputs.

use super::NodeOp;
use chimera_runtime::arith::linear::LinearShape;
use chimera_runtime::limits::{self, Exceeded, Limit};

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
/// result, a layer, an argmax or a pooling window beyond the runtime's size
/// limits is a `too-large` error.
pub fn infer(op: &NodeOp, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
    let out = infer_shape(op, inputs)?;
    check_size(op, inputs[0], &out)?;
    Ok(out)
}

/// The size limits of the module documentation, for `op` reading `x` and
/// giving `out`: the runtime's checks ([`limits::tensor`],
/// [`limits::linear`], [`limits::argmax`], [`limits::pool`]), worded for the
/// source.
fn check_size(op: &NodeOp, x: &[usize], out: &[usize]) -> Result<(), ShapeError> {
    let name = op.name();
    let too_large =
        |message: String, help: String| Err(ShapeError::new(message).help(help).too_large());
    // The size an error measured, as a number; a limit as a power of two.
    let size = |e: &Exceeded| e.size.map_or("more than 2^64".into(), |n| n.to_string());
    let pow = |max: usize| format!("2^{}", max.trailing_zeros());
    if let Err(e) = limits::tensor("result", out) {
        let max = e.limit.max();
        return too_large(
            format!("{name} gives {}, more than {max} elements", show(out)),
            format!("a tensor holds at most {max} ({}) elements: use fewer channels or features, less padding, or a larger stride", pow(max)),
        );
    }
    let linear = match op {
        NodeOp::Dense { out_features, .. } => Some(LinearShape::Dense {
            inputs: x[0],
            outputs: *out_features,
        }),
        NodeOp::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            ..
        } => LinearShape::conv2d_on(x, *out_channels, *kernel, *stride, *padding),
        _ => None,
    };
    if let Some(shape) = linear {
        if let Err(e) = limits::linear(&shape) {
            let max = e.limit.max();
            return match e.limit {
                Limit::Macs => too_large(
                    format!("{name} does {} multiply-adds per inference, more than {max}", size(&e)),
                    format!("a layer does at most {max} ({}) multiply-adds per inference: use a smaller kernel or fewer channels, or pool its input first", pow(max)),
                ),
                _ => {
                    let w = shape.weight_shape();
                    too_large(
                        format!("{name} needs weights {}, more than {max} of them", show(&w)),
                        format!("a layer has at most {max} ({}) weights: use fewer outputs, or reduce its input first", pow(max)),
                    )
                }
            };
        }
    }
    match op {
        NodeOp::Argmax => {
            if let Err(e) = limits::argmax(x[0]) {
                let max = e.limit.max();
                return too_large(
                    format!("argmax over {} scores, more than {max}", x[0]),
                    format!("an argmax compares at most {max} scores (one boolean circuit over all of them): reduce them first, e.g. with a dense layer"),
                );
            }
        }
        NodeOp::MaxPool { kernel, stride }
        | NodeOp::SumPool { kernel, stride }
        | NodeOp::AvgPool { kernel, stride } => {
            let [c, h, w] = x else {
                return Ok(());
            };
            let max_pool = matches!(op, NodeOp::MaxPool { .. });
            if let Err(e) = limits::pool(max_pool, [*c, *h, *w], *kernel, *stride) {
                let max = e.limit.max();
                let [kh, kw] = kernel;
                return if e.limit == Limit::CircuitInputs {
                    too_large(
                        format!("maxpool window {kh}×{kw} has {} elements, more than {max}", size(&e)),
                        format!("a maxpool window holds at most {max} elements (one boolean circuit over all of them): use a smaller kernel, or pool in several steps"),
                    )
                } else {
                    too_large(
                        format!("{name} reads {} window elements per inference, more than {max}", size(&e)),
                        format!("a pooling layer reads at most {max} ({}) window elements per inference: use a larger stride or a smaller kernel", pow(max)),
                    )
                };
            }
        }
        _ => {}
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
            params: params("fc"),
        };
        let e = infer(&op, &[&[5, 14, 14]]).unwrap_err();
        assert_eq!(e.message, "dense expects a 1-d input, got [5, 14, 14]");
        assert!(e.help.unwrap().contains("flatten"));
    }

    /// Parameters of a layer named `layer`, weights `{layer}.weight`, no bias.
    fn params(layer: &str) -> chimera_runtime::plan::LinearParams {
        chimera_runtime::plan::LinearParams {
            layer: layer.into(),
            weight: format!("{layer}.weight"),
            bias: None,
            batchnorm: None,
        }
    }

    #[test]
    fn sizes_beyond_the_limits_are_too_large() {
        let conv = NodeOp::Conv2d {
            out_channels: 1 << 20,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            params: params("c"),
        };
        let e = infer(&conv, &[&[1, 64, 64]]).unwrap_err();
        assert_eq!(e.code, "too-large");
        assert!(e.message.contains("[1048576, 64, 64]"), "{}", e.message);
        let dense = NodeOp::Dense {
            out_features: 1 << 20,
            params: params("fc"),
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
        let max_argmax = chimera_runtime::limits::MAX_CIRCUIT_INPUTS;
        assert_eq!(infer(&NodeOp::Argmax, &[&[max_argmax]]), Ok(vec![1]));
        let e = infer(&NodeOp::Argmax, &[&[max_argmax + 1]]).unwrap_err();
        assert_eq!(e.code, "too-large");
    }

    /// The limits the front end did not check before the runtime's were
    /// shared: a maxpool window is one circuit (as an argmax), a conv2d's
    /// multiply-adds and a pooling step's window reads are bounded. The
    /// numbers are the runtime's; these are the same cases as its tests.
    #[test]
    fn windows_and_work_beyond_the_runtime_limits_are_too_large() {
        let maxpool = |kh, kw| NodeOp::MaxPool {
            kernel: [kh, kw],
            stride: [1, 1],
        };
        assert_eq!(
            infer(&maxpool(128, 128), &[&[1, 200, 200]]),
            Ok(vec![1, 73, 73])
        );
        let e = infer(&maxpool(128, 129), &[&[1, 200, 200]]).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "too-large",
                "maxpool window 128×129 has 16512 elements, more than 16384"
            )
        );
        let conv = |k| NodeOp::Conv2d {
            out_channels: 1,
            kernel: [k, k],
            stride: [1, 1],
            padding: [0, 0],
            params: params("c"),
        };
        assert_eq!(
            infer(&conv(64), &[&[1, 1087, 1087]]),
            Ok(vec![1, 1024, 1024])
        );
        let e = infer(&conv(65), &[&[1, 1088, 1088]]).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "too-large",
                "conv2d does 4430233600 multiply-adds per inference, more than 4294967296"
            )
        );
        let avgpool = |k| NodeOp::AvgPool {
            kernel: [k, k],
            stride: [1, 1],
        };
        assert!(infer(&avgpool(4), &[&[1, 4096, 4096]]).is_ok());
        let e = infer(&avgpool(5), &[&[1, 4096, 4096]]).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "too-large",
                "avgpool reads 418611600 window elements per inference, more than 268435456"
            )
        );
    }

    #[test]
    fn add_needs_equal_shapes() {
        assert_eq!(infer(&NodeOp::Add, &[&[3], &[3]]), Ok(vec![3]));
        let e = infer(&NodeOp::Add, &[&[3], &[4]]).unwrap_err();
        assert!(e.message.contains("[3] and [4]"), "{}", e.message);
    }
}
