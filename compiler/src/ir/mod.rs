//! The IR: a dataflow graph of tensor operations.
//!
//! Nodes live in a petgraph [`StableGraph`] (inserting a conversion or a
//! truncation never renumbers other nodes) behind the typed [`NodeId`], which
//! prints as `n3`. A node is an operation and the tensor it defines; an edge
//! carries the operand position. Everything else about a node (its shape, its
//! fixed-point encoding, its protocol, its source span) lives in side tables
//! keyed by id, as in Cranelift, so that each pass fills in or reads only the
//! facts it is about. [`verify`] checks the invariants after lowering and
//! after every pass.

pub mod shape;
pub mod verify;

use crate::diagnostics::Span;
use chimera_runtime::plan::{
    Encoding, FixedFormat, LinearParams, OptimizedFor, Party, Protocol, Reveal,
};
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;

pub use verify::{verify, VerifyError};

/// A node of the IR graph; prints as `n3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(NodeIndex<u32>);

impl NodeId {
    /// The underlying index (stable across insertions and removals of other nodes).
    pub fn index(self) -> usize {
        self.0.index()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0.index())
    }
}

/// Which smooth activation an [`NodeOp::Activation`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationKind {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl ActivationKind {
    /// The exact function, for fitting and error measurement.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            ActivationKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            ActivationKind::Tanh => x.tanh(),
        }
    }

    /// Source name.
    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Tanh => "tanh",
        }
    }
}

/// How a smooth activation is approximated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Approx {
    /// Piecewise linear: an affine map and a clamp.
    Pwl,
    /// The degree-`degree` polynomial interpolating at the Chebyshev nodes of `[lo, hi]`.
    Chebyshev {
        /// Degree of the polynomial.
        degree: usize,
        /// Left end of the fitting interval.
        lo: f64,
        /// Right end.
        hi: f64,
    },
}

/// An IR operation. The high-level ones (`BatchNorm`, `AvgPool`,
/// `Activation`, `Poly`) exist only between lowering and the passes that
/// rewrite them into plan operations; the verifier checks they are gone.
/// Constants are real numbers here and are encoded in the ring at emission,
/// once each value's encoding is known.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeOp {
    /// A run-time input.
    Input {
        /// Who supplies it.
        owner: Party,
    },
    /// Fully connected layer.
    Dense {
        /// Output features.
        out_features: usize,
        /// Weight names.
        params: LinearParams,
    },
    /// 2-d convolution.
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Kernel height and width.
        kernel: [usize; 2],
        /// Stride.
        stride: [usize; 2],
        /// Zero padding.
        padding: [usize; 2],
        /// Weight names.
        params: LinearParams,
    },
    /// `max(x, 0)`.
    Relu,
    /// Max pooling.
    MaxPool {
        /// Window.
        kernel: [usize; 2],
        /// Stride.
        stride: [usize; 2],
    },
    /// Sum pooling.
    SumPool {
        /// Window.
        kernel: [usize; 2],
        /// Stride.
        stride: [usize; 2],
    },
    /// Average pooling (high level: becomes SumPool and MulConst).
    AvgPool {
        /// Window.
        kernel: [usize; 2],
        /// Stride.
        stride: [usize; 2],
    },
    /// Same elements, this shape.
    Reshape {
        /// The new shape.
        shape: Vec<usize>,
    },
    /// `x + y`.
    Add,
    /// `x - y`.
    Sub,
    /// `x + c` for a real constant.
    AddConst {
        /// The constant.
        value: f64,
    },
    /// `x * c` for a real constant (a product: a truncation follows).
    MulConst {
        /// The constant.
        value: f64,
    },
    /// `x * y`.
    Mul,
    /// `x * x`.
    Square,
    /// Arithmetic shift right.
    Truncate {
        /// Bits shifted out.
        bits: u32,
    },
    /// `min(max(x, lo), hi)` for real bounds.
    Clamp {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Index of the largest element.
    Argmax,
    /// Re-share in the node's protocol.
    Convert,
    /// Batch normalization (high level: folded into the linear layer before it).
    BatchNorm {
        /// Epsilon added to the variance.
        eps: f64,
    },
    /// Sigmoid or tanh (high level: lowered to its approximation).
    Activation {
        /// Which function.
        kind: ActivationKind,
        /// How it is approximated.
        approx: Approx,
    },
    /// Polynomial `c0 + c1 x + … + cd x^d` (high level: lowered to Horner steps).
    Poly {
        /// Coefficients, constant first.
        coeffs: Vec<f64>,
    },
}

impl NodeOp {
    /// Short name, as in the source or the plan.
    pub fn name(&self) -> &'static str {
        match self {
            NodeOp::Input { .. } => "input",
            NodeOp::Dense { .. } => "dense",
            NodeOp::Conv2d { .. } => "conv2d",
            NodeOp::Relu => "relu",
            NodeOp::MaxPool { .. } => "maxpool",
            NodeOp::SumPool { .. } => "sumpool",
            NodeOp::AvgPool { .. } => "avgpool",
            NodeOp::Reshape { .. } => "reshape",
            NodeOp::Add => "add",
            NodeOp::Sub => "sub",
            NodeOp::AddConst { .. } => "add_const",
            NodeOp::MulConst { .. } => "mul_const",
            NodeOp::Mul => "mul",
            NodeOp::Square => "square",
            NodeOp::Truncate { .. } => "truncate",
            NodeOp::Clamp { .. } => "clamp",
            NodeOp::Argmax => "argmax",
            NodeOp::Convert => "convert",
            NodeOp::BatchNorm { .. } => "batchnorm",
            NodeOp::Activation { kind, .. } => kind.name(),
            NodeOp::Poly { .. } => "poly",
        }
    }

    /// Number of operands.
    pub fn arity(&self) -> usize {
        match self {
            NodeOp::Input { .. } => 0,
            NodeOp::Add | NodeOp::Sub | NodeOp::Mul => 2,
            _ => 1,
        }
    }

    /// True for the operations that exist only before the lowering passes.
    pub fn is_high_level(&self) -> bool {
        matches!(
            self,
            NodeOp::BatchNorm { .. }
                | NodeOp::AvgPool { .. }
                | NodeOp::Activation { .. }
                | NodeOp::Poly { .. }
        )
    }

    /// True for products, whose result carries extra fraction bits and is
    /// followed by an explicit truncation.
    pub fn is_product(&self) -> bool {
        matches!(
            self,
            NodeOp::Dense { .. }
                | NodeOp::Conv2d { .. }
                | NodeOp::MulConst { .. }
                | NodeOp::Mul
                | NodeOp::Square
        )
    }

    /// The protocols that can run this operation. Linear algebra and products
    /// run only in arithmetic sharing; comparisons only in the boolean ones;
    /// additions, constants, shifts and reshapes anywhere. A conversion runs
    /// into any protocol. Inputs are shared arithmetically.
    pub fn supported_protocols(&self) -> &'static [Protocol] {
        const A: &[Protocol] = &[Protocol::Arith];
        const BY: &[Protocol] = &[Protocol::Gmw, Protocol::Yao];
        const ALL: &[Protocol] = &[Protocol::Arith, Protocol::Gmw, Protocol::Yao];
        match self {
            NodeOp::Input { .. }
            | NodeOp::Dense { .. }
            | NodeOp::Conv2d { .. }
            | NodeOp::SumPool { .. }
            | NodeOp::MulConst { .. }
            | NodeOp::Mul
            | NodeOp::Square => A,
            NodeOp::Relu | NodeOp::MaxPool { .. } | NodeOp::Clamp { .. } | NodeOp::Argmax => BY,
            NodeOp::Reshape { .. }
            | NodeOp::Add
            | NodeOp::Sub
            | NodeOp::AddConst { .. }
            | NodeOp::Truncate { .. }
            | NodeOp::Convert => ALL,
            NodeOp::AvgPool { .. }
            | NodeOp::BatchNorm { .. }
            | NodeOp::Activation { .. }
            | NodeOp::Poly { .. } => &[],
        }
    }
}

/// A node: an operation and the tensor it defines.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operation.
    pub op: NodeOp,
    /// Name of the tensor it defines (`fc1`, or derived: `fc1.trunc`).
    pub name: String,
    /// The source layer it comes from (the weight-name prefix for linear layers).
    pub layer: String,
}

/// One output statement, on the IR.
#[derive(Clone, Debug, PartialEq)]
pub struct IrOutput {
    /// The output's name.
    pub name: String,
    /// The node whose value is revealed.
    pub node: NodeId,
    /// Label or scores.
    pub reveal: Reveal,
    /// Who learns it.
    pub to: Party,
    /// The output statement.
    pub span: Span,
}

/// A protocol pin from the source: every node of `layer` that can run in
/// `protocol` must.
#[derive(Clone, Debug, PartialEq)]
pub struct Pin {
    /// The protocol.
    pub protocol: Protocol,
    /// Where the pin is written.
    pub span: Span,
}

/// The IR of one model: the graph, its side tables and its outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    graph: StableGraph<Node, usize>,
    /// Model name.
    pub model: String,
    /// Fixed-point format.
    pub fixed: FixedFormat,
    /// Shape of every node's tensor.
    pub shapes: BTreeMap<NodeId, Vec<usize>>,
    /// Fixed-point encoding of every node's tensor (filled by the truncation pass).
    pub encodings: BTreeMap<NodeId, Encoding>,
    /// Protocol of every node (filled by protocol assignment).
    pub protocols: BTreeMap<NodeId, Protocol>,
    /// Source span of every node.
    pub spans: BTreeMap<NodeId, Span>,
    /// Protocol pins, by layer name.
    pub pins: BTreeMap<String, Pin>,
    /// Outputs, in source order.
    pub outputs: Vec<IrOutput>,
    /// What the protocol assignment optimized for (set with the protocols).
    pub optimized_for: Option<OptimizedFor>,
}

impl Graph {
    /// An empty graph for `model`.
    pub fn new(model: &str, fixed: FixedFormat) -> Graph {
        Graph {
            model: model.to_string(),
            fixed,
            ..Graph::default()
        }
    }

    /// Add a node with its operands (in order), shape and span.
    pub fn add_node(
        &mut self,
        node: Node,
        operands: &[NodeId],
        shape: Vec<usize>,
        span: Span,
    ) -> NodeId {
        let id = NodeId(self.graph.add_node(node));
        for (i, &src) in operands.iter().enumerate() {
            self.graph.add_edge(src.0, id.0, i);
        }
        self.shapes.insert(id, shape);
        self.spans.insert(id, span);
        id
    }

    /// The node, if it exists.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.graph.node_weight(id.0)
    }

    /// The node, mutably.
    pub fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.graph.node_weight_mut(id.0)
    }

    /// The operation of a node (`Convert` for a removed node, which callers never ask for).
    pub fn op(&self, id: NodeId) -> &NodeOp {
        static MISSING: NodeOp = NodeOp::Convert;
        self.node(id).map_or(&MISSING, |n| &n.op)
    }

    /// All node ids, in index order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.graph.node_indices().map(NodeId).collect()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Operands of a node, in operand order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut edges: Vec<(usize, NodeId)> = self
            .graph
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| (*e.weight(), NodeId(e.source())))
            .collect();
        edges.sort();
        edges.into_iter().map(|(_, n)| n).collect()
    }

    /// Raw operand edges `(position, source)`, unsorted (for the verifier).
    pub fn operand_edges(&self, id: NodeId) -> Vec<(usize, NodeId)> {
        self.graph
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| (*e.weight(), NodeId(e.source())))
            .collect()
    }

    /// Consumers of a node, as `(consumer, operand position)`, sorted and
    /// deduplicated.
    pub fn uses(&self, id: NodeId) -> Vec<(NodeId, usize)> {
        let set: BTreeSet<(NodeId, usize)> = self
            .graph
            .edges_directed(id.0, Direction::Outgoing)
            .map(|e| (NodeId(e.target()), *e.weight()))
            .collect();
        set.into_iter().collect()
    }

    /// Number of consumers plus the outputs that reveal the node.
    pub fn use_count(&self, id: NodeId) -> usize {
        self.uses(id).len() + self.outputs.iter().filter(|o| o.node == id).count()
    }

    /// Redirect every use of `from` (operands and outputs) to `to`, except
    /// the operand edges of `to` itself.
    pub fn replace_uses(&mut self, from: NodeId, to: NodeId) {
        let uses = self.uses(from);
        for (consumer, pos) in uses {
            if consumer == to {
                continue;
            }
            self.set_operand(consumer, pos, to);
        }
        for o in &mut self.outputs {
            if o.node == from {
                o.node = to;
            }
        }
    }

    /// Make `to` the operand `pos` of `consumer`.
    pub fn set_operand(&mut self, consumer: NodeId, pos: usize, to: NodeId) {
        let old: Vec<_> = self
            .graph
            .edges_directed(consumer.0, Direction::Incoming)
            .filter(|e| *e.weight() == pos)
            .map(|e| e.id())
            .collect();
        for e in old {
            self.graph.remove_edge(e);
        }
        self.graph.add_edge(to.0, consumer.0, pos);
    }

    /// Insert a node right after `after`: every use of `after` now reads the
    /// new node, whose single operand is `after`. The new node inherits
    /// `after`'s span and layer.
    pub fn insert_after(
        &mut self,
        after: NodeId,
        op: NodeOp,
        name: String,
        shape: Vec<usize>,
    ) -> NodeId {
        let layer = self
            .node(after)
            .map(|n| n.layer.clone())
            .unwrap_or_default();
        let span = self.spans.get(&after).copied().unwrap_or_default();
        let id = self.add_node(Node { op, name, layer }, &[after], shape, span);
        self.replace_uses(after, id);
        id
    }

    /// Remove a node and its side-table entries (its uses must already be redirected).
    pub fn remove_node(&mut self, id: NodeId) {
        self.graph.remove_node(id.0);
        self.shapes.remove(&id);
        self.encodings.remove(&id);
        self.protocols.remove(&id);
        self.spans.remove(&id);
    }

    /// True if the graph has a directed cycle.
    pub fn is_cyclic(&self) -> bool {
        petgraph::algo::is_cyclic_directed(&self.graph)
    }

    /// The nodes in a deterministic topological order (Kahn's algorithm,
    /// always taking the ready node with the smallest id), or `None` if the
    /// graph has a cycle.
    pub fn topo_order(&self) -> Option<Vec<NodeId>> {
        let mut indegree: BTreeMap<NodeId, usize> = BTreeMap::new();
        let mut ready = BinaryHeap::new();
        for id in self.node_ids() {
            let d = self.graph.edges_directed(id.0, Direction::Incoming).count();
            indegree.insert(id, d);
            if d == 0 {
                ready.push(std::cmp::Reverse(id));
            }
        }
        let mut order = Vec::with_capacity(indegree.len());
        while let Some(std::cmp::Reverse(id)) = ready.pop() {
            order.push(id);
            for e in self.graph.edges_directed(id.0, Direction::Outgoing) {
                let t = NodeId(e.target());
                if let Some(d) = indegree.get_mut(&t) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(std::cmp::Reverse(t));
                    }
                }
            }
        }
        (order.len() == indegree.len()).then_some(order)
    }

    /// The shape of a node's tensor (empty if unknown).
    pub fn shape(&self, id: NodeId) -> &[usize] {
        self.shapes.get(&id).map_or(&[], Vec::as_slice)
    }

    /// A node's name, for messages.
    pub fn name(&self, id: NodeId) -> &str {
        self.node(id).map_or("?", |n| n.name.as_str())
    }

    /// A readable listing, one node per line (`n3 = dense(n2) [128] fc1`),
    /// with the facts known so far; for tests and debugging.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for id in self.topo_order().unwrap_or_else(|| self.node_ids()) {
            let Some(n) = self.node(id) else { continue };
            let ops: Vec<String> = self.operands(id).iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "{id} = {}({}) {:?} `{}`",
                n.op.name(),
                ops.join(", "),
                self.shape(id),
                n.name
            ));
            if let Some(Encoding::Fixed { frac_bits }) = self.encodings.get(&id) {
                out.push_str(&format!(" f{frac_bits}"));
            } else if let Some(Encoding::Integer) = self.encodings.get(&id) {
                out.push_str(" int");
            }
            if let Some(p) = self.protocols.get(&id) {
                out.push_str(&format!(" {}", p.letter()));
            }
            out.push('\n');
        }
        out
    }
}
