//! Why a model cannot be imported.
//!
//! Every error that concerns a node names it (its name, or its position and
//! first output when the exporter left the name empty), its operator, what
//! is wrong, and what the importer does support, so that a user knows which
//! layer of the original model to change. Nothing in the importer panics on
//! a malformed file: every check ends here.

/// An import failure.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportError {
    /// The bytes are not a protobuf `ModelProto`.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// The model holds no graph.
    #[error("the ONNX model has no graph")]
    MissingGraph,
    /// The default-domain opset is older than the importer reads.
    #[error("the model uses ONNX opset {version}; chimera imports opset 11 and later (PyTorch's exporters write 17 or later)")]
    Opset {
        /// The declared version (0 if none is declared).
        version: i64,
    },
    /// A graph input the importer cannot map to a `.nn` input.
    #[error("input `{input}`: {problem}")]
    Input {
        /// The ONNX input name.
        input: String,
        /// What is wrong and what is supported.
        problem: String,
    },
    /// The graph's outputs cannot be revealed as a `.nn` output.
    #[error("output `{output}`: {problem}")]
    Output {
        /// The ONNX output name.
        output: String,
        /// What is wrong and what is supported.
        problem: String,
    },
    /// A constant tensor (initializer or `Constant` node) that cannot be read.
    #[error("tensor `{tensor}`: {problem}")]
    Tensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        problem: String,
    },
    /// An operator outside the supported set.
    #[error(
        "node `{node}`: operator `{op}` is not supported; chimera imports {}",
        SUPPORTED_OPERATORS
    )]
    UnsupportedOperator {
        /// The node.
        node: String,
        /// Its operator (with its domain if not the default one).
        op: String,
    },
    /// Every node of the model whose operator is outside the supported set,
    /// found in one pass before anything is lowered (so a user fixes them
    /// all at once, not one per run).
    #[error("{}", render_unsupported(.nodes))]
    UnsupportedOperators {
        /// The nodes, in graph order.
        nodes: Vec<UnsupportedNode>,
    },
    /// A supported operator used in a way the importer cannot map
    /// (an attribute value, a dynamic shape, a non-constant parameter, …).
    #[error("node `{node}` ({op}): {problem}; supported: {supported}")]
    Unsupported {
        /// The node.
        node: String,
        /// Its operator.
        op: String,
        /// What is wrong.
        problem: String,
        /// What the importer supports for this operator.
        supported: String,
    },
    /// A node reads a value nothing defines before it.
    #[error(
        "node `{node}` ({op}) reads `{value}`, which no input, initializer or earlier node defines"
    )]
    UndefinedValue {
        /// The node.
        node: String,
        /// Its operator.
        op: String,
        /// The missing value.
        value: String,
    },
    /// The generated program does not compile (a limit of the `.nn`
    /// language that the importer did not catch earlier).
    #[error("the imported network is not a valid .nn program:\n{diagnostics}")]
    Rejected {
        /// The compiler's diagnostics, rendered against the generated text.
        diagnostics: String,
    },
    /// The weights could not be serialized.
    #[error("writing the weights: {0}")]
    Weights(String),
}

/// The operators the importer maps, for error messages and documentation.
pub const SUPPORTED_OPERATORS: &str = "Gemm, MatMul, Conv, Relu, MaxPool, AveragePool, \
GlobalAveragePool, ReduceMean (spatial), Flatten, Reshape, Add, Sub, Mul, Div, BatchNormalization, Sigmoid, Tanh, \
Identity, Dropout, Softmax/LogSoftmax (last node only), and on constants Constant, Shape, \
Gather, Unsqueeze, Squeeze, Concat, Cast, Transpose";

/// A node whose operator the importer does not map.
#[derive(Clone, Debug, PartialEq)]
pub struct UnsupportedNode {
    /// How errors name the node (its name, or its position and output).
    pub node: String,
    /// Its operator, with its domain if not the default one.
    pub op: String,
    /// The opset version of the operator's domain the model declares (0 if
    /// it declares none).
    pub opset: i64,
}

/// A rewrite of the original model that avoids `op`, where one is known.
pub fn suggested_rewrite(op: &str) -> &'static str {
    match op {
        "Gelu" | "Erf" | "LeakyRelu" | "PRelu" | "Elu" | "Selu" | "Celu" | "Softplus" | "Mish"
        | "HardSwish" => "use ReLU (nn.ReLU) for this activation",
        "Clip" => "use ReLU instead of ReLU6 or Hardtanh, or Tanh (imported as clamp(x, -1, 1))",
        "HardSigmoid" => "use Sigmoid (imported as the same clamp(x/4 + 1/2, 0, 1))",
        "Pad" => {
            "pad inside the convolution (nn.Conv2d(..., padding = p)) instead of a separate pad"
        }
        "Exp" | "Log" | "Pow" | "Sqrt" | "Reciprocal" => {
            "compute it on the revealed scores after the private inference, or remove it"
        }
        "ReduceMax" | "GlobalMaxPool" => "use MaxPool with a kernel of the whole image",
        "ConvTranspose" | "Resize" | "Upsample" => {
            "no rewrite known: the language has no upsampling layer"
        }
        "LSTM" | "GRU" | "RNN" | "Attention" | "MultiHeadAttention" => {
            "no rewrite known: recurrent and attention layers are not supported"
        }
        _ => "no rewrite known: replace the layer with one of the supported operators",
    }
}

fn render_unsupported(nodes: &[UnsupportedNode]) -> String {
    let mut s = match nodes {
        [_] => "1 node uses an operator chimera cannot import:".to_string(),
        _ => format!("{} nodes use operators chimera cannot import:", nodes.len()),
    };
    for n in nodes {
        let opset = match n.opset {
            0 => "its domain's opset not declared".to_string(),
            v => format!("opset {v}"),
        };
        s.push_str(&format!(
            "\n  node `{}`: operator `{}` ({opset}) is not supported; {}",
            n.node,
            n.op,
            suggested_rewrite(&n.op)
        ));
    }
    s.push_str(&format!("\nchimera imports {SUPPORTED_OPERATORS}"));
    s
}
