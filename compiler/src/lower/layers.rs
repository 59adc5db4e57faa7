//! The layers of the language: their parameters, and how a call becomes an
//! IR operation. Each layer checks its own arguments' types and ranges here;
//! shapes are checked by [`crate::ir::shape::infer`] afterwards.

use super::args::{self, Bound};
use super::Lowerer;
use crate::diagnostics::{suggest, Diagnostic, Span};
use crate::ir::{ActivationKind, Approx, NodeId, NodeOp};
use crate::syntax::{Arg, Call, Ident, Value};
use chimera_runtime::plan::{LinearParams, Protocol};

/// Every layer name, for "did you mean".
pub const LAYERS: &[&str] = &[
    "dense",
    "conv2d",
    "relu",
    "maxpool",
    "avgpool",
    "sumpool",
    "flatten",
    "reshape",
    "add",
    "sub",
    "mul",
    "scale",
    "batchnorm",
    "square",
    "poly",
    "sigmoid",
    "tanh",
    "argmax",
];

/// Largest number of features, channels or elements along one axis.
pub const MAX_DIM: usize = 1 << 20;
/// Largest kernel, stride or padding.
pub const MAX_WINDOW: usize = 1 << 10;
/// Largest polynomial degree (each degree costs a multiplication and a truncation).
pub const MAX_DEGREE: usize = 8;
/// Largest magnitude of a Chebyshev interval end.
pub const MAX_INTERVAL: f64 = 1024.0;
/// Default batchnorm epsilon (PyTorch's).
pub const DEFAULT_EPS: f64 = 1e-5;

/// The operation a call denotes and its tensor operands.
pub struct Lowered {
    /// The operation.
    pub op: NodeOp,
    /// Its operands, in order.
    pub operands: Vec<NodeId>,
    /// The protocols a pin on this layer may name.
    pub pinnable: &'static [Protocol],
}

const A: &[Protocol] = &[Protocol::Arith];
const BY: &[Protocol] = &[Protocol::Gmw, Protocol::Yao];
const ALL: &[Protocol] = &[Protocol::Arith, Protocol::Gmw, Protocol::Yao];

impl Lowerer {
    /// Check a call's layer name and arguments; build its operation.
    /// `name` is the tensor (and layer) being defined.
    pub(super) fn lower_call(&mut self, name: &Ident, call: &Call) -> Option<Lowered> {
        let layer = call.callee.name.as_str();
        let what = format!("`{layer}`");
        let params: &[&'static str] = match layer {
            "dense" => &["x", "out", "bias"],
            "conv2d" => &["x", "out", "kernel", "stride", "padding", "bias"],
            "relu" | "flatten" | "square" | "argmax" => &["x"],
            "maxpool" | "avgpool" | "sumpool" => &["x", "kernel", "stride"],
            "reshape" => &["x", "shape"],
            "add" | "sub" | "mul" => &["a", "b"],
            "scale" => &["x", "by"],
            "batchnorm" => &["x", "eps"],
            "poly" => &["x", "coeffs"],
            "sigmoid" | "tanh" => &["x", "approx"],
            _ => {
                let mut d = Diagnostic::error(
                    "unknown-layer",
                    format!("unknown layer `{layer}`"),
                    call.callee.span,
                )
                .with_label("no layer has this name");
                d = match suggest(layer, LAYERS.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the layers are: {}", LAYERS.join(", "))),
                };
                self.ds.push(d);
                // Still mark the tensors it names as used, to avoid follow-up noise.
                for a in &call.args {
                    if let Value::Ident(i) = &a.value {
                        if let Some(def) = self.env.get_mut(&i.name) {
                            def.used = true;
                        }
                    }
                }
                return None;
            }
        };
        let b = args::bind(call, &what, params, &mut self.ds)?;
        let ds = &mut self.ds;
        let example = |e: &str| e.to_string();
        let x_arg = if params[0] == "a" {
            b.require("a", &what, &format!("{layer}(a, b)"), ds)
        } else {
            b.require("x", &what, &format!("{layer}(h)"), ds)
        };
        let x_arg = x_arg?;
        let x = self.tensor(x_arg);
        let ds = &mut self.ds;
        let linear = |bias: bool| LinearParams {
            layer: name.name.clone(),
            weight: format!("{}.weight", name.name),
            bias: bias.then(|| format!("{}.bias", name.name)),
            batchnorm: None,
        };
        let bias = |b: &Bound<'_>, ds: &mut _| match b.get("bias") {
            Some(a) => args::boolean(a, "bias", ds),
            None => Some(true),
        };
        let (op, pinnable) = match layer {
            "dense" => {
                let out = b.require("out", &what, &example("dense(h, 100)"), ds);
                let out = out.and_then(|a| args::int_arg(a, "out", 1, MAX_DIM, ds));
                let bias = bias(&b, ds);
                (
                    NodeOp::Dense {
                        out_features: out?,
                        params: linear(bias?),
                    },
                    A,
                )
            }
            "conv2d" => {
                let ex = "conv2d(x, 16, kernel = 5)";
                let out = b.require("out", &what, ex, ds);
                let out = out.and_then(|a| args::int_arg(a, "out", 1, MAX_DIM, ds));
                let kernel = b.require("kernel", &what, ex, ds);
                let kernel = kernel.and_then(|a| args::pair(a, "kernel", 1, MAX_WINDOW, ds));
                let stride = match b.get("stride") {
                    Some(a) => args::pair(a, "stride", 1, MAX_WINDOW, ds),
                    None => Some([1, 1]),
                };
                let padding = match b.get("padding") {
                    Some(a) => args::pair(a, "padding", 0, MAX_WINDOW, ds),
                    None => Some([0, 0]),
                };
                let bias = bias(&b, ds);
                let (kernel, padding) = (kernel?, padding?);
                if padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] {
                    let span = b.get("padding").map_or(call.span, |a| a.span);
                    ds.push(
                        Diagnostic::error(
                            "bad-argument",
                            "padding larger than half the kernel",
                            span,
                        )
                        .with_label(format!(
                            "padding {:?} with kernel {:?} adds output pixels that see only zeros",
                            padding, kernel
                        ))
                        .with_help("use padding of at most kernel / 2 (as PyTorch requires)"),
                    );
                    return None;
                }
                (
                    NodeOp::Conv2d {
                        out_channels: out?,
                        kernel,
                        stride: stride?,
                        padding,
                        params: linear(bias?),
                    },
                    A,
                )
            }
            "relu" => (NodeOp::Relu, BY),
            "square" => (NodeOp::Square, A),
            "argmax" => (NodeOp::Argmax, BY),
            "flatten" => {
                let n = x.map(|x| self.g.shape(x).iter().product()).unwrap_or(1);
                (NodeOp::Reshape { shape: vec![n] }, ALL)
            }
            "maxpool" | "avgpool" | "sumpool" => {
                let ex = format!("{layer}(h, 2)");
                let kernel = b.require("kernel", &what, &ex, ds);
                let kernel = kernel.and_then(|a| args::pair(a, "kernel", 1, MAX_WINDOW, ds));
                let stride = match b.get("stride") {
                    Some(a) => args::pair(a, "stride", 1, MAX_WINDOW, ds),
                    None => kernel,
                };
                let (kernel, stride) = (kernel?, stride?);
                match layer {
                    "maxpool" => (NodeOp::MaxPool { kernel, stride }, BY),
                    "avgpool" => (NodeOp::AvgPool { kernel, stride }, A),
                    _ => (NodeOp::SumPool { kernel, stride }, A),
                }
            }
            "reshape" => {
                let shape = b.require("shape", &what, "reshape(h, [4, 7, 7])", ds)?;
                let (items, _) = args::list(shape, "shape", ds)?;
                let mut dims = Vec::new();
                for n in items {
                    dims.push(args::int_in(n, "shape", 1, MAX_DIM, ds));
                }
                let dims: Option<Vec<usize>> = dims.into_iter().collect();
                let dims = dims?;
                if dims.is_empty() || dims.len() > 3 {
                    ds.push(
                        Diagnostic::error(
                            "bad-argument",
                            "a shape has one to three dimensions",
                            shape.span,
                        )
                        .with_label(format!("{} dimensions", dims.len()))
                        .with_help("write [features] or [channels, height, width]"),
                    );
                    return None;
                }
                (NodeOp::Reshape { shape: dims }, ALL)
            }
            "add" | "sub" | "mul" => {
                let y_arg = b.require("b", &what, &format!("{layer}(a, b)"), ds)?;
                let y = self.tensor(y_arg);
                let op = match layer {
                    "add" => NodeOp::Add,
                    "sub" => NodeOp::Sub,
                    _ => NodeOp::Mul,
                };
                let pin = if layer == "mul" { A } else { ALL };
                return Some(Lowered {
                    op,
                    operands: vec![x?, y?],
                    pinnable: pin,
                });
            }
            "scale" => {
                let by = b.require("by", &what, "scale(h, 0.5)", ds)?;
                let c = args::number(by, "by", ds)?;
                self.check_constant(c, by.value.span(), "the scale factor")?;
                (NodeOp::MulConst { value: c }, A)
            }
            "batchnorm" => {
                let eps = match b.get("eps") {
                    Some(a) => {
                        let e = args::number(a, "eps", ds)?;
                        if e <= 0.0 {
                            ds.push(
                                Diagnostic::error(
                                    "bad-argument",
                                    "`eps` must be positive",
                                    a.value.span(),
                                )
                                .with_label(format!("eps = {e}"))
                                .with_help("PyTorch's default is eps = 1e-5"),
                            );
                            return None;
                        }
                        e
                    }
                    None => DEFAULT_EPS,
                };
                (NodeOp::BatchNorm { eps }, &[][..])
            }
            "poly" => {
                let coeffs = b.require("coeffs", &what, "poly(h, [0.5, 0.25, 0, -0.02])", ds)?;
                let (items, span) = args::list(coeffs, "coeffs", ds)?;
                let degree = items.len().saturating_sub(1);
                if !(1..=MAX_DEGREE).contains(&degree) {
                    ds.push(
                        Diagnostic::error("bad-argument", "polynomial degree out of range", span)
                            .with_label(format!("{} coefficient(s): degree {degree}", items.len()))
                            .with_help(format!(
                                "give between 2 and {} coefficients, constant term first (degree 1 to {MAX_DEGREE})",
                                MAX_DEGREE + 1
                            )),
                    );
                    return None;
                }
                let mut ok = true;
                for n in items {
                    ok &= self.check_coefficient(n.value, n.span);
                }
                if !ok {
                    return None;
                }
                (
                    NodeOp::Poly {
                        coeffs: items.iter().map(|n| n.value).collect(),
                    },
                    A,
                )
            }
            "sigmoid" | "tanh" => {
                let kind = if layer == "sigmoid" {
                    ActivationKind::Sigmoid
                } else {
                    ActivationKind::Tanh
                };
                let approx = match b.get("approx") {
                    Some(a) => self.approx(a)?,
                    None => Approx::Pwl,
                };
                let pin = match approx {
                    Approx::Pwl => BY,
                    Approx::Chebyshev { .. } => A,
                };
                (NodeOp::Activation { kind, approx }, pin)
            }
            _ => return None,
        };
        Some(Lowered {
            op,
            operands: vec![x?],
            pinnable,
        })
    }

    /// `approx = pwl` or `approx = chebyshev(degree = 3, interval = [-4, 4])`.
    fn approx(&mut self, arg: &Arg) -> Option<Approx> {
        const KINDS: [&str; 2] = ["pwl", "chebyshev"];
        let unknown = |ds: &mut crate::diagnostics::Diagnostics, i: &Ident| {
            let mut d = Diagnostic::error(
                "bad-argument",
                format!("unknown approximation `{}`", i.name),
                i.span,
            )
            .with_label("not an approximation");
            d = match suggest(&i.name, KINDS) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(
                    "write `approx = pwl` or `approx = chebyshev(degree = 3, interval = [-4, 4])`",
                ),
            };
            ds.push(d);
        };
        match &arg.value {
            Value::Ident(i) if i.name == "pwl" => Some(Approx::Pwl),
            Value::Ident(i) if i.name == "chebyshev" => {
                self.ds.push(
                    Diagnostic::error(
                        "missing-argument",
                        "chebyshev needs a degree and an interval",
                        i.span,
                    )
                    .with_label("no degree or interval")
                    .with_help("write `chebyshev(degree = 3, interval = [-4, 4])`"),
                );
                None
            }
            Value::Ident(i) => {
                unknown(&mut self.ds, i);
                None
            }
            Value::Call(c) if c.callee.name == "chebyshev" => {
                let ex = "chebyshev(degree = 3, interval = [-4, 4])";
                let b = args::bind(c, "`chebyshev`", &["degree", "interval"], &mut self.ds)?;
                let ds = &mut self.ds;
                let degree = b.require("degree", "`chebyshev`", ex, ds);
                let degree = degree.and_then(|a| args::int_arg(a, "degree", 1, MAX_DEGREE, ds));
                let interval = b.require("interval", "`chebyshev`", ex, ds)?;
                let (items, span) = args::list(interval, "interval", ds)?;
                if items.len() != 2 {
                    ds.push(
                        Diagnostic::error("bad-argument", "an interval has two ends", span)
                            .with_label(format!("{} number(s)", items.len()))
                            .with_help("write `interval = [-4, 4]`"),
                    );
                    return None;
                }
                let (lo, hi) = (items[0].value, items[1].value);
                if lo >= hi {
                    ds.push(
                        Diagnostic::error("bad-argument", "the interval is empty", span)
                            .with_label(format!("[{lo}, {hi}] has no points between its ends"))
                            .with_help("write the smaller end first, e.g. `interval = [-4, 4]`"),
                    );
                    return None;
                }
                if lo.abs() > MAX_INTERVAL || hi.abs() > MAX_INTERVAL {
                    ds.push(
                        Diagnostic::error("bad-argument", "the interval is too wide", span)
                            .with_label(format!("[{lo}, {hi}]"))
                            .with_help(format!(
                                "keep both ends within ±{MAX_INTERVAL}: a polynomial fitted wider overflows the fixed-point format"
                            )),
                    );
                    return None;
                }
                let degree = degree?;
                // The plan evaluates in t = αx + β ∈ [-1, 1]: α must be representable.
                let (alpha, _) = crate::passes::chebyshev::to_unit(lo, hi);
                if alpha >= self.g.fixed.max_magnitude() {
                    self.ds.push(
                        Diagnostic::error("bad-argument", "the interval is too narrow", span)
                            .with_label(format!(
                                "mapping [{lo}, {hi}] onto [-1, 1] multiplies by {alpha:.3e}, beyond the fixed-point range"
                            ))
                            .with_help(format!(
                                "use an interval wider than {:e}",
                                2.0 / self.g.fixed.max_magnitude()
                            )),
                    );
                    return None;
                }
                Some(Approx::Chebyshev { degree, lo, hi })
            }
            Value::Call(c) => {
                unknown(&mut self.ds, &c.callee);
                None
            }
            other => {
                self.ds.push(
                    Diagnostic::error("bad-argument", "`approx` must name an approximation", other.span())
                        .with_label(format!("found {}", other.kind()))
                        .with_help(
                            "write `approx = pwl` or `approx = chebyshev(degree = 3, interval = [-4, 4])`",
                        ),
                );
                None
            }
        }
    }

    /// A public constant must be encodable with `f` fraction bits and not round to zero.
    fn check_constant(&mut self, c: f64, span: Span, what: &str) -> Option<()> {
        let limit = self.g.fixed.max_magnitude();
        let ulp = 1.0 / self.g.fixed.scale();
        if c.abs() >= limit {
            self.ds.push(
                Diagnostic::error(
                    "bad-argument",
                    format!("{what} is too large for the fixed-point format"),
                    span,
                )
                .with_label(format!("{c} is not below {limit}"))
                .with_help(format!(
                    "with {} fraction bits, constants must stay below {limit} in magnitude",
                    self.g.fixed.frac_bits
                )),
            );
            return None;
        }
        if (c * self.g.fixed.scale()).round() == 0.0 {
            self.ds.push(
                Diagnostic::error("bad-argument", format!("{what} rounds to zero"), span)
                    .with_label(format!("{c} is smaller than half a unit ({ulp})"))
                    .with_help("use a larger constant or more fraction bits: `fixed(frac = 20)`"),
            );
            return None;
        }
        Some(())
    }

    /// A polynomial coefficient must be encodable (zero is fine).
    fn check_coefficient(&mut self, c: f64, span: Span) -> bool {
        let limit = self.g.fixed.max_magnitude();
        if c.abs() >= limit {
            self.ds.push(
                Diagnostic::error(
                    "bad-argument",
                    "coefficient too large for the fixed-point format",
                    span,
                )
                .with_label(format!("{c} is not below {limit}"))
                .with_help("scale the polynomial down, or use fewer fraction bits"),
            );
            return false;
        }
        true
    }

    /// Resolve a tensor argument to its node. Reports unknown names (with a
    /// suggestion, or "defined later"); returns `None` silently for a name
    /// whose own definition failed.
    pub(super) fn tensor(&mut self, arg: &Arg) -> Option<NodeId> {
        let ident = match &arg.value {
            Value::Ident(i) => i,
            Value::Call(c) => {
                self.ds.push(
                    Diagnostic::error("nested-call", "a layer call cannot be an argument", c.span)
                        .with_label("name this layer first")
                        .with_help(format!(
                            "write `t = {}(...)` on its own line and pass `t` (layers are named so their weights can be found)",
                            c.callee.name
                        )),
                );
                return None;
            }
            other => {
                self.ds.push(
                    Diagnostic::error("bad-argument", "expected a tensor name", other.span())
                        .with_label(format!("found {}", other.kind()))
                        .with_help("the first argument of a layer is the tensor it reads"),
                );
                return None;
            }
        };
        if let Some(def) = self.env.get_mut(&ident.name) {
            def.used = true;
            if let Some(node) = def.node {
                if matches!(self.g.op(node), NodeOp::Argmax) {
                    self.ds.push(
                        Diagnostic::error("integer-operand", "an argmax label cannot be computed with", ident.span)
                            .with_label(format!("`{}` is a class index, not a fixed-point tensor", ident.name))
                            .with_note(def.span, "defined by argmax here")
                            .with_help("use the scores before argmax, or reveal the label with an output statement"),
                    );
                    return None;
                }
            }
            return def.node;
        }
        let mut d = Diagnostic::error(
            "unknown-tensor",
            format!("unknown tensor `{}`", ident.name),
            ident.span,
        );
        if let Some(later) = self.all_defs.get(&ident.name) {
            d = d
                .with_label("used before it is defined")
                .with_note(*later, "defined later here")
                .with_help("define a tensor before using it (this also rules out cycles)");
        } else {
            d = d.with_label("no tensor has this name");
            let known: Vec<&str> = self.env.keys().map(String::as_str).collect();
            d = match suggest(&ident.name, known) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => {
                    d.with_help("define it with `input` or `NAME = layer(...)` before this line")
                }
            };
        }
        self.ds.push(d);
        None
    }
}
