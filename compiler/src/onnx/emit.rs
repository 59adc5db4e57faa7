//! The imported network as a `.nn` program and a safetensors file.
//!
//! [`Program`] is what lowering produces: inputs, layer statements (each
//! with the ONNX node it came from and any note about an approximation),
//! outputs, and the weights by `.nn` name. [`Program::source`] renders the
//! readable text; [`Program::safetensors`] serializes the weights as float32
//! in PyTorch's layouts (`[out, in]`, `[out_c, in_c, kh, kw]`), which is what
//! `chimera run --weights` binds.

use super::error::ImportError;
use safetensors::tensor::{Dtype, TensorView};
use std::fmt::Write;

/// A layer call of the `.nn` language.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `dense(x, out, bias = …)`.
    Dense {
        /// Input tensor.
        x: String,
        /// Output features.
        out: usize,
        /// Whether `NAME.bias` exists.
        bias: bool,
    },
    /// `conv2d(x, out, kernel, stride, padding, bias)`; pairs are (height, width).
    Conv {
        /// Input tensor.
        x: String,
        /// Output channels.
        out: usize,
        /// Kernel size.
        kernel: [usize; 2],
        /// Stride.
        stride: [usize; 2],
        /// Symmetric zero padding.
        padding: [usize; 2],
        /// Whether `NAME.bias` exists.
        bias: bool,
    },
    /// `maxpool`, `avgpool`.
    Pool {
        /// Layer name in the language.
        op: &'static str,
        /// Input tensor.
        x: String,
        /// Window.
        kernel: [usize; 2],
        /// Stride.
        stride: [usize; 2],
    },
    /// A layer of one tensor and no argument: `relu`, `flatten`, `sigmoid`, `tanh`.
    Unary {
        /// Layer name in the language.
        op: &'static str,
        /// Input tensor.
        x: String,
    },
    /// `add`, `sub`, `mul` of two tensors.
    Binary {
        /// Layer name in the language.
        op: &'static str,
        /// First operand.
        a: String,
        /// Second operand.
        b: String,
    },
    /// `scale(x, by)`.
    Scale {
        /// Input tensor.
        x: String,
        /// The constant.
        by: f64,
    },
    /// `reshape(x, shape)`.
    Reshape {
        /// Input tensor.
        x: String,
        /// Target shape of one row.
        shape: Vec<usize>,
    },
    /// `batchnorm(x, eps)`.
    BatchNorm {
        /// The dense or conv2d it follows.
        x: String,
        /// Epsilon.
        eps: f64,
    },
}

/// One `NAME = call` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// Comment lines written above the statement (approximations, folds).
    pub notes: Vec<String>,
    /// The tensor (and layer) name.
    pub name: String,
    /// The call.
    pub call: Call,
    /// The ONNX node(s) it came from, written as a trailing comment.
    pub origin: String,
    /// Row shape of the result, written in the trailing comment.
    pub shape: Vec<usize>,
}

/// An `output` statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// Output name.
    pub name: String,
    /// The tensor revealed.
    pub tensor: String,
    /// Reveal its argmax (a label) rather than the values.
    pub argmax: bool,
}

/// A float32 tensor of the server's weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    /// `<layer>.weight`, `<layer>.bias`, `<bn>.running_mean`, …
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// The imported network.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// The model name (an identifier).
    pub model: String,
    /// Header comment lines.
    pub header: Vec<String>,
    /// Inputs: name and row shape.
    pub inputs: Vec<(String, Vec<usize>)>,
    /// Layers in order.
    pub statements: Vec<Statement>,
    /// Comment lines above the outputs.
    pub output_notes: Vec<String>,
    /// Outputs.
    pub outputs: Vec<Output>,
    /// The weights.
    pub weights: Vec<Weight>,
}

/// A number as the grammar writes it (`0.5`, `-3`, `0.00001`), shortest
/// for the float32 value when it is one.
pub fn number(v: f64) -> String {
    let single = v as f32;
    if single as f64 == v {
        format!("{single}")
    } else {
        format!("{v}")
    }
}

fn pair(p: [usize; 2]) -> String {
    if p[0] == p[1] {
        p[0].to_string()
    } else {
        format!("[{}, {}]", p[0], p[1])
    }
}

fn list(v: &[usize]) -> String {
    let parts: Vec<String> = v.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(", "))
}

impl Call {
    fn render(&self) -> String {
        match self {
            Call::Dense { x, out, bias } => {
                let bias = if *bias { "" } else { ", bias = false" };
                format!("dense({x}, {out}{bias})")
            }
            Call::Conv {
                x,
                out,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let mut s = format!("conv2d({x}, {out}, kernel = {}", pair(*kernel));
                if *stride != [1, 1] {
                    let _ = write!(s, ", stride = {}", pair(*stride));
                }
                if *padding != [0, 0] {
                    let _ = write!(s, ", padding = {}", pair(*padding));
                }
                if !bias {
                    s.push_str(", bias = false");
                }
                s.push(')');
                s
            }
            Call::Pool {
                op,
                x,
                kernel,
                stride,
            } => {
                if stride == kernel {
                    format!("{op}({x}, {})", pair(*kernel))
                } else {
                    format!("{op}({x}, {}, stride = {})", pair(*kernel), pair(*stride))
                }
            }
            Call::Unary { op, x } => format!("{op}({x})"),
            Call::Binary { op, a, b } => format!("{op}({a}, {b})"),
            Call::Scale { x, by } => format!("scale({x}, {})", number(*by)),
            Call::Reshape { x, shape } => format!("reshape({x}, {})", list(shape)),
            Call::BatchNorm { x, eps } => format!("batchnorm({x}, eps = {})", number(*eps)),
        }
    }
}

impl Program {
    /// The `.nn` text.
    pub fn source(&self) -> String {
        let mut s = String::new();
        for line in &self.header {
            let _ = writeln!(s, "# {line}");
        }
        let _ = writeln!(s, "model {}", self.model);
        s.push('\n');
        for (name, shape) in &self.inputs {
            let _ = writeln!(s, "input {name}: {} from client", list(shape));
        }
        s.push('\n');
        let width = self
            .statements
            .iter()
            .map(|st| st.name.len() + 3 + st.call.render().len())
            .max()
            .unwrap_or(0);
        for st in &self.statements {
            for note in &st.notes {
                let _ = writeln!(s, "# {note}");
            }
            let line = format!("{} = {}", st.name, st.call.render());
            let _ = writeln!(s, "{line:width$}  # {} {}", list(&st.shape), st.origin);
        }
        s.push('\n');
        for note in &self.output_notes {
            let _ = writeln!(s, "# {note}");
        }
        for o in &self.outputs {
            if o.argmax {
                let _ = writeln!(s, "output {} = argmax({}) to client", o.name, o.tensor);
            } else {
                let _ = writeln!(s, "output {} = {} to client", o.name, o.tensor);
            }
        }
        s
    }

    /// The weights as a safetensors file (float32).
    pub fn safetensors(&self) -> Result<Vec<u8>, ImportError> {
        let bytes: Vec<Vec<u8>> = self
            .weights
            .iter()
            .map(|w| w.values.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views = self
            .weights
            .iter()
            .zip(&bytes)
            .map(|(w, b)| {
                TensorView::new(Dtype::F32, w.shape.clone(), b)
                    .map(|view| (w.name.clone(), view))
                    .map_err(|e| ImportError::Weights(format!("{}: {e}", w.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::serialize(views, None).map_err(|e| ImportError::Weights(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_use_the_grammar_and_the_shortest_form() {
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1e-5f32 as f64), "0.00001");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-0.1f32 as f64), "-0.1");
    }

    #[test]
    fn renders_calls() {
        let c = Call::Conv {
            x: "x".into(),
            out: 8,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 0],
            bias: false,
        };
        assert_eq!(
            c.render(),
            "conv2d(x, 8, kernel = 3, stride = 2, padding = [1, 0], bias = false)"
        );
        let p = Call::Pool {
            op: "avgpool",
            x: "r".into(),
            kernel: [7, 7],
            stride: [7, 7],
        };
        assert_eq!(p.render(), "avgpool(r, 7)");
    }
}
