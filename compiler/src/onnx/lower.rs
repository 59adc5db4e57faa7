//! Walking the ONNX graph: inputs, liveness, constants, outputs.
//!
//! Every value of the graph becomes either a [`Value::Const`] (an
//! initializer, a `Constant`, or anything folded from constants) or a
//! [`Value::Act`], a tensor of the `.nn` program with its per-row shape (the
//! batch axis is implicit in the language: a batch runs as rows of one plan).
//! Only nodes the graph output depends on are lowered, so an unused branch
//! (a Dropout mask, a debugging output) cannot stop an import. The layer
//! operators themselves are in [`super::layers`].

use super::emit::{Output, Program};
use super::error::{ImportError, UnsupportedNode};
use super::fold;
use super::graph::{read_tensor, Const, ExternalData, Int, Node};
use super::layers;
use super::names::{sanitize, Names};
use super::proto::{data_type, GraphProto, ModelProto, ValueInfoProto};
use super::{ImportOptions, Reveal};
use std::collections::{HashMap, HashSet};

/// A tensor of the `.nn` program.
#[derive(Clone, Debug, PartialEq)]
pub struct Act {
    /// Its `.nn` name.
    pub name: String,
    /// Shape of one row (no batch axis).
    pub shape: Vec<usize>,
    /// The statement of the dense or conv2d that produced it, while nothing
    /// else has read it: a bias `Add` or a `BatchNormalization` may still
    /// be merged into that layer.
    pub linear: Option<usize>,
}

/// A value of the ONNX graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Known at import time.
    Const(Const),
    /// Computed by the network.
    Act(Act),
}

/// The state of one import.
pub struct Lowering<'e> {
    /// Values defined so far, by ONNX name.
    pub values: HashMap<String, Value>,
    /// How many live nodes (and graph outputs) read each value.
    pub uses: HashMap<String, usize>,
    /// `.nn` names handed out.
    pub names: Names,
    /// The program being built.
    pub program: Program,
    /// The batch size, if the input fixes it.
    pub static_batch: Option<usize>,
    /// The graph output's ONNX name.
    pub graph_output: String,
    /// Nodes replaced by the outputs (Softmax at the end).
    pub dropped_softmax: Option<String>,
    /// External data files, by location.
    pub external: &'e ExternalData,
    /// Notes about dropped nodes, written above the next statement.
    pub pending_notes: Vec<String>,
}

/// The default-domain opset version.
fn opset(model: &ModelProto) -> i64 {
    model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .unwrap_or(0)
}

/// Lower a decoded model to a [`Program`].
pub fn lower(model: &ModelProto, options: &ImportOptions) -> Result<Program, ImportError> {
    let graph = model.graph.as_ref().ok_or(ImportError::MissingGraph)?;
    let version = opset(model);
    if version < 11 {
        return Err(ImportError::Opset { version });
    }
    let output = match graph.output.as_slice() {
        [one] => one.name.clone(),
        outputs => {
            return Err(ImportError::Output {
                output: outputs
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join("`, `"),
                problem: format!(
                    "the model has {} outputs; chimera imports models with exactly one",
                    outputs.len()
                ),
            })
        }
    };
    let mut state = Lowering {
        values: HashMap::new(),
        uses: HashMap::new(),
        names: Names::default(),
        program: Program {
            model: sanitize(&options.model_name),
            ..Program::default()
        },
        static_batch: None,
        graph_output: output.clone(),
        dropped_softmax: None,
        external: &options.external_data,
        pending_notes: Vec::new(),
    };
    state.names.reserve("label");
    state.names.reserve("scores");
    for t in &graph.initializer {
        state.values.insert(
            t.name.clone(),
            Value::Const(read_tensor(t, &t.name, state.external)?),
        );
    }
    for input in &graph.input {
        if !state.values.contains_key(&input.name) {
            state.add_input(input)?;
        }
    }
    if state.program.inputs.is_empty() {
        return Err(ImportError::Input {
            input: String::new(),
            problem: "the graph has no input besides its initializers".into(),
        });
    }
    let live = live_nodes(graph, &output);
    for &i in &live {
        for name in graph.node[i].input.iter().filter(|s| !s.is_empty()) {
            *state.uses.entry(name.clone()).or_default() += 1;
        }
    }
    *state.uses.entry(output.clone()).or_default() += 1;
    unsupported_operators(model, graph, &live, version)?;
    for &i in &live {
        state.node(Node {
            proto: &graph.node[i],
            index: i,
        })?;
    }
    let dropped = std::mem::take(&mut state.pending_notes);
    state.program.output_notes.extend(dropped);
    state.outputs(&output, options.reveal)?;
    state.program.header = header(model, &options.source_name, version, &state.program.model);
    Ok(state.program)
}

fn header(model: &ModelProto, source_name: &str, version: i64, name: &str) -> Vec<String> {
    let producer = match (
        model.producer_name.as_str(),
        model.producer_version.as_str(),
    ) {
        ("", _) => "an unnamed producer".to_string(),
        (p, "") => p.to_string(),
        (p, v) => format!("{p} {v}"),
    };
    vec![
        format!(
            "Imported by `chimera import` from {source_name} ({producer}, ONNX opset {version})."
        ),
        format!("Weights: {name}.safetensors (float32, PyTorch layouts), bound by layer name."),
        "Each line's comment gives the row shape and the ONNX node(s) it came from.".into(),
    ]
}

/// True if the importer maps operator `op` of the default domain somewhere
/// (on network tensors, or folded on constants).
fn is_known_operator(op: &str) -> bool {
    op == "Constant"
        || op == "Shape"
        || layers::layer_operators().any(|known| known == op)
        || fold::FOLDABLE.contains(&op)
}

/// Refuse the model if any live node has an operator the importer does not
/// know, listing every such node at once (how each known operator is used
/// is checked later, node by node).
fn unsupported_operators(
    model: &ModelProto,
    graph: &GraphProto,
    live: &[usize],
    version: i64,
) -> Result<(), ImportError> {
    let mut nodes = Vec::new();
    for &i in live {
        let node = Node {
            proto: &graph.node[i],
            index: i,
        };
        let domain = node.proto.domain.as_str();
        if domain.is_empty() || domain == "ai.onnx" {
            if !is_known_operator(node.op()) {
                nodes.push(UnsupportedNode {
                    node: node.label(),
                    op: node.op().to_string(),
                    opset: version,
                });
            }
        } else {
            let opset = model
                .opset_import
                .iter()
                .filter(|o| o.domain == domain)
                .map(|o| o.version)
                .max()
                .unwrap_or(0);
            nodes.push(UnsupportedNode {
                node: node.label(),
                op: format!("{domain}::{}", node.op()),
                opset,
            });
        }
    }
    if nodes.is_empty() {
        Ok(())
    } else {
        Err(ImportError::UnsupportedOperators { nodes })
    }
}

/// Indices of the nodes the output depends on, in graph order.
fn live_nodes(graph: &GraphProto, output: &str) -> Vec<usize> {
    let mut needed: HashSet<&str> = HashSet::from([output]);
    let mut live = Vec::new();
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| needed.contains(o.as_str())) {
            live.push(i);
            needed.extend(node.input.iter().map(String::as_str));
        }
    }
    live.reverse();
    live
}

impl Lowering<'_> {
    fn add_input(&mut self, input: &ValueInfoProto) -> Result<(), ImportError> {
        let err = |problem: String| ImportError::Input {
            input: input.name.clone(),
            problem,
        };
        let tensor = input
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .ok_or_else(|| err("not a tensor".into()))?;
        if tensor.elem_type != data_type::FLOAT && tensor.elem_type != data_type::DOUBLE {
            return Err(err(format!(
                "element type {} is not supported; inputs must be float tensors",
                tensor.elem_type
            )));
        }
        let dims = &tensor
            .shape
            .as_ref()
            .ok_or_else(|| {
                err("its shape is unknown; export with a sample input of the real size".into())
            })?
            .dim;
        if !(2..=4).contains(&dims.len()) {
            return Err(err(format!(
                "rank {} is not supported; inputs are [batch, features], or [batch, channels, height, width] and the like (2 to 4 axes, the first being the batch)",
                dims.len()
            )));
        }
        match (dims[0].dim_value, &dims[0].dim_param) {
            (Some(b), _) if b >= 1 => self.static_batch = usize::try_from(b).ok(),
            (None, _) => {}
            (Some(b), _) => return Err(err(format!("batch axis of size {b}"))),
        }
        let mut shape = Vec::with_capacity(dims.len() - 1);
        // One axis is at most a whole tensor (the front end checks the product).
        let max_axis = chimera_runtime::limits::MAX_ELEMENTS as i64;
        for (axis, d) in dims.iter().enumerate().skip(1) {
            match (d.dim_value, &d.dim_param) {
                (Some(v), _) if (1..=max_axis).contains(&v) => shape.push(v as usize),
                (_, Some(p)) => {
                    return Err(err(format!(
                        "axis {axis} has the dynamic size `{p}`; only the batch axis (axis 0) may be dynamic: export with a fixed input size"
                    )))
                }
                (Some(v), None) => return Err(err(format!("axis {axis} has the unusable size {v}"))),
                (None, None) => {
                    return Err(err(format!(
                        "axis {axis} has an unknown size; only the batch axis (axis 0) may be dynamic"
                    )))
                }
            }
        }
        if super::graph::element_count(&shape).is_none() {
            return Err(err(format!("shape {shape:?} is too large")));
        }
        let name = self.names.fresh(&input.name);
        self.program.inputs.push((name.clone(), shape.clone()));
        self.values.insert(
            input.name.clone(),
            Value::Act(Act {
                name,
                shape,
                linear: None,
            }),
        );
        Ok(())
    }

    /// The node's inputs, looked up (`None` for an omitted optional input).
    fn inputs(&self, node: &Node<'_>) -> Result<Vec<Option<Value>>, ImportError> {
        node.proto
            .input
            .iter()
            .map(|name| {
                if name.is_empty() {
                    return Ok(None);
                }
                self.values.get(name).cloned().map(Some).ok_or_else(|| {
                    ImportError::UndefinedValue {
                        node: node.label(),
                        op: node.op().to_string(),
                        value: name.clone(),
                    }
                })
            })
            .collect()
    }

    /// Define the node's first output.
    pub fn define(&mut self, node: &Node<'_>, value: Value) -> Result<(), ImportError> {
        let out = node.output()?;
        self.values.insert(out.to_string(), value);
        Ok(())
    }

    /// Refuse a node whose extra outputs (beyond the first) are read.
    pub fn only_first_output(&self, node: &Node<'_>) -> Result<(), ImportError> {
        for extra in node.proto.output.iter().skip(1).filter(|s| !s.is_empty()) {
            if self.uses.get(extra).copied().unwrap_or(0) > 0 {
                return Err(node.unsupported(
                    format!("its output `{extra}` is used"),
                    "only the first output (inference mode)",
                ));
            }
        }
        Ok(())
    }

    fn node(&mut self, node: Node<'_>) -> Result<(), ImportError> {
        if !(node.proto.domain.is_empty() || node.proto.domain == "ai.onnx") {
            return Err(ImportError::UnsupportedOperator {
                node: node.label(),
                op: format!("{}::{}", node.proto.domain, node.op()),
            });
        }
        let inputs = self.inputs(&node)?;
        let all_const = inputs
            .iter()
            .all(|v| matches!(v, None | Some(Value::Const(_))));
        match node.op() {
            "Constant" => {
                let value = node.constant_value(self.external)?;
                self.define(&node, Value::Const(value))
            }
            "Shape" => {
                let shape: Vec<Int> = match inputs.first() {
                    Some(Some(Value::Act(a))) => std::iter::once(Int::Batch)
                        .chain(a.shape.iter().map(|&d| Int::Known(d as i64)))
                        .collect(),
                    Some(Some(Value::Const(c))) => {
                        c.dims.iter().map(|&d| Int::Known(d as i64)).collect()
                    }
                    _ => return Err(node.unsupported("the input is missing", "Shape of a tensor")),
                };
                let value = fold::shape_of(&node, &shape)?;
                self.define(&node, Value::Const(value))
            }
            op if all_const && fold::FOLDABLE.contains(&op) => {
                let consts: Vec<Option<&Const>> = inputs
                    .iter()
                    .map(|v| match v {
                        Some(Value::Const(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                let value = fold::fold(&node, &consts)?;
                self.define(&node, Value::Const(value))
            }
            _ => layers::lower_node(self, &node, &inputs),
        }
    }

    fn outputs(&mut self, output: &str, reveal: Reveal) -> Result<(), ImportError> {
        let err = |problem: &str| ImportError::Output {
            output: output.to_string(),
            problem: problem.to_string(),
        };
        let act = match self.values.get(output) {
            Some(Value::Act(a)) => a.clone(),
            Some(Value::Const(_)) => {
                return Err(err(
                    "it is a constant: the network does not depend on its input",
                ))
            }
            None => return Err(err("no node defines it")),
        };
        let notes = &mut self.program.output_notes;
        if let Some(node) = &self.dropped_softmax {
            notes.push(format!(
                "{node} is not computed: it does not change the argmax, and secure exponentials are costly."
            ));
            notes.push(format!("`{}` are the scores before it (logits).", act.name));
        }
        let is_vector = act.shape.len() == 1 && act.shape[0] >= 2;
        let (label, scores) = match reveal {
            Reveal::Label if is_vector => (true, false),
            Reveal::Both if is_vector => (true, true),
            _ => (false, true),
        };
        if !is_vector && reveal != Reveal::Scores {
            notes.push(format!(
                "The output has shape {:?}, not a vector of class scores: it is revealed as scores.",
                act.shape
            ));
        }
        let what = match (label, scores) {
            (true, true) => "the predicted class (argmax) and the scores",
            (true, false) => "only the predicted class (argmax)",
            _ => "the scores",
        };
        notes.push(format!(
            "The client learns {what}; the server learns nothing."
        ));
        if label {
            self.program.outputs.push(Output {
                name: "label".into(),
                tensor: act.name.clone(),
                argmax: true,
            });
        }
        if scores {
            self.program.outputs.push(Output {
                name: "scores".into(),
                tensor: act.name,
                argmax: false,
            });
        }
        Ok(())
    }
}
