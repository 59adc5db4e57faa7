//! The plan: Chimera's public, weight-free description of one private inference.
//!
//! The compiler emits a [`Plan`]; the dealer, the server, the client and the
//! plaintext oracle all execute the same plan. It is defined here, once, and
//! serialized as RON. A plan is *public*: it holds layer types, shapes, the
//! fixed-point format and the protocol chosen for every step, never a weight
//! or an input.
//!
//! The plan's identity is the blake3 hash of its canonical serialization
//! (compact RON of [`Plan`], whose fields are all ordered `Vec`s, so the bytes
//! are deterministic). A saved plan file ([`SavedPlan`]) carries that hash and
//! a non-hashed [`DebugInfo`] (source file and spans), so that reformatting a
//! comment in the `.nn` file does not change the plan's identity while late
//! errors can still point at the source.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// Version of the plan format; bumped on any incompatible change.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Magic string at the head of every saved plan.
pub const PLAN_FORMAT_NAME: &str = "chimera-plan";

/// Index of a value (a tensor) in [`Plan::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The position of this value in [`Plan::values`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// The two online parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Party {
    /// Owns the weights; party 0 of the sharings; garbler in Yao.
    Server,
    /// Owns the input and (by default) receives the output; party 1; evaluator in Yao.
    Client,
}

impl Party {
    /// Party index in the sharings: server = 0, client = 1.
    pub fn index(self) -> usize {
        match self {
            Party::Server => 0,
            Party::Client => 1,
        }
    }

    /// The other party.
    pub fn peer(self) -> Party {
        match self {
            Party::Server => Party::Client,
            Party::Client => Party::Server,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Party::Server => "server",
            Party::Client => "client",
        })
    }
}

/// The three sharings a value can live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    /// A: additive sharing over Z_2^64.
    Arith,
    /// B: GMW, XOR sharing, bit-sliced.
    Gmw,
    /// Y: Yao garbled circuits (server garbles, client evaluates).
    Yao,
}

impl Protocol {
    /// All protocols, in a fixed order.
    pub const ALL: [Protocol; 3] = [Protocol::Arith, Protocol::Gmw, Protocol::Yao];

    /// One-letter name used in reports (A, B, Y), as in ABY and Chameleon.
    pub fn letter(self) -> char {
        match self {
            Protocol::Arith => 'A',
            Protocol::Gmw => 'B',
            Protocol::Yao => 'Y',
        }
    }

    /// The source-language pin that selects this protocol (`@arith`, `@gmw`, `@yao`).
    pub fn pin_name(self) -> &'static str {
        match self {
            Protocol::Arith => "arith",
            Protocol::Gmw => "gmw",
            Protocol::Yao => "yao",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.pin_name())
    }
}

/// The fixed-point format: two's-complement values in Z_2^ring_bits with
/// `frac_bits` fraction bits. Only `ring_bits = 64` is executable today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FixedFormat {
    /// Bits of the ring (the modulus is 2^ring_bits).
    pub ring_bits: u32,
    /// Fraction bits of an encoded real number.
    pub frac_bits: u32,
}

impl Default for FixedFormat {
    fn default() -> Self {
        FixedFormat {
            ring_bits: 64,
            frac_bits: 16,
        }
    }
}

/// How a value's real number is encoded in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// A fixed-point number with this many fraction bits (f after a
    /// truncation, 2f right after a product).
    Fixed {
        /// Fraction bits of the value.
        frac_bits: u32,
    },
    /// A plain integer (argmax labels).
    Integer,
}

/// One tensor of the computation. Shapes exclude the batch dimension:
/// a plan describes one inference; the runtime runs a batch row by row in bulk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueInfo {
    /// Name in the source (`h1`), or a derived name (`h1.trunc`, `h1.to_gmw`).
    pub name: String,
    /// Shape, outermost first; images are `[channels, height, width]`.
    pub shape: Vec<usize>,
    /// The sharing the value lives in.
    pub protocol: Protocol,
    /// How the ring element encodes a number.
    pub encoding: Encoding,
}

impl ValueInfo {
    /// Number of elements (product of the shape; `usize::MAX` if that
    /// overflows, which [`Plan::validate`] refuses with every value beyond
    /// [`limits::MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS)).
    pub fn len(&self) -> usize {
        crate::limits::product(&self.shape).unwrap_or(usize::MAX)
    }

    /// True for a zero-element tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor supplied by one party at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// The value the input defines (in [`Plan::values`]).
    pub value: ValueId,
    /// Who supplies it (today always the client).
    pub owner: Party,
}

/// What an output statement reveals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reveal {
    /// The class label (an [`Encoding::Integer`] value produced by argmax).
    Label,
    /// The scores themselves (fixed-point numbers).
    Scores,
}

/// One output statement: a value opened to one party, and nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Name shown to the user (`label`, `scores`).
    pub name: String,
    /// The value opened.
    pub value: ValueId,
    /// Whether the user sees a label or scores.
    pub reveal: Reveal,
    /// The only party that learns it.
    pub to: Party,
}

/// Names of the batch-normalization tensors folded into a linear layer.
///
/// Folding happens when the server binds its weights (they are not in the
/// plan): `w' = w * gamma / sqrt(var + eps)` per output channel,
/// `b' = (b - mean) * gamma / sqrt(var + eps) + beta`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormRef {
    /// Layer name of the batchnorm in the source (for error messages).
    pub layer: String,
    /// Tensor names in the weights file.
    pub gamma: String,
    /// Shift tensor.
    pub beta: String,
    /// Running mean tensor.
    pub mean: String,
    /// Running variance tensor.
    pub var: String,
    /// The epsilon added to the variance, bit pattern of an f64 so the plan
    /// stays `Eq` and its serialization exact.
    pub eps_bits: u64,
}

impl BatchNormRef {
    /// Epsilon as a number.
    pub fn eps(&self) -> f64 {
        f64::from_bits(self.eps_bits)
    }
}

/// Where a linear layer finds its parameters in the server's weights file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    /// Layer name in the source; the weights' names default to `LAYER.weight`, `LAYER.bias`.
    pub layer: String,
    /// Tensor name of the weight: `[out, in]` for dense, `[out_c, in_c, kh, kw]` for conv2d.
    pub weight: String,
    /// Tensor name of the bias `[out]`; absent means zero.
    pub bias: Option<String>,
    /// Batchnorm folded into this layer by the compiler, if any.
    pub batchnorm: Option<BatchNormRef>,
}

/// What one step computes. Arithmetic semantics (exactly, including where
/// truncation may differ by one unit) are in `docs/fixed-point.md`; the
/// plaintext oracle is the executable definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// `y = W x + b` for a 1-d `x` of length `in` and `W: [out, in]`.
    /// `x` has f fraction bits, `W` f, the bias 2f; `y` has 2f (a `Truncate` follows).
    Dense {
        /// Output features.
        out_features: usize,
        /// Parameters (server's private input).
        params: LinearParams,
    },
    /// 2-d convolution of `x: [c, h, w]` with `W: [out_c, c, kh, kw]`, zero padding.
    /// Scales as for [`Op::Dense`].
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Kernel height and width.
        kernel: [usize; 2],
        /// Stride along height and width.
        stride: [usize; 2],
        /// Zero padding on each side, height and width.
        padding: [usize; 2],
        /// Parameters (server's private input).
        params: LinearParams,
    },
    /// `max(x, 0)` elementwise.
    Relu,
    /// Max over `kernel` windows moved by `stride` on `[c, h, w]`.
    MaxPool {
        /// Window height and width.
        kernel: [usize; 2],
        /// Stride along height and width.
        stride: [usize; 2],
    },
    /// Sum over windows (average pooling is a sum followed by [`Op::MulConst`]).
    SumPool {
        /// Window height and width.
        kernel: [usize; 2],
        /// Stride along height and width.
        stride: [usize; 2],
    },
    /// Same elements, new shape (flatten is a reshape to 1-d). Free in every protocol.
    Reshape,
    /// `x + y` elementwise (same shape, same encoding).
    Add,
    /// `x - y` elementwise.
    Sub,
    /// `x + c` elementwise for a public ring constant `c` (already in x's encoding).
    AddConst {
        /// The constant as a two's-complement ring element.
        c: i64,
    },
    /// `x * c` for a public fixed-point constant `c` with f fraction bits;
    /// the result has the input's fraction bits plus f (a `Truncate` follows).
    MulConst {
        /// The constant, encoded with f fraction bits.
        c: i64,
    },
    /// `x * y` elementwise for two private values; fraction bits add.
    Mul,
    /// `x * x` elementwise (CryptoNets' activation); fraction bits double.
    Square,
    /// Arithmetic shift right by `bits` (rounding toward minus infinity);
    /// in A probabilistic, possibly one unit below (see `docs/fixed-point.md`).
    Truncate {
        /// Bits shifted out.
        bits: u32,
    },
    /// `min(max(x, lo), hi)` elementwise for public ring constants (the
    /// piecewise-linear sigmoid and tanh are an affine map and a clamp).
    Clamp {
        /// Lower bound, in x's encoding.
        lo: i64,
        /// Upper bound, in x's encoding.
        hi: i64,
    },
    /// Index of the largest element of a 1-d tensor (first one on ties).
    Argmax,
    /// Re-share the input in another protocol (the output value's protocol).
    Convert,
}

impl Op {
    /// Short lowercase name used in reports and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Dense { .. } => "dense",
            Op::Conv2d { .. } => "conv2d",
            Op::Relu => "relu",
            Op::MaxPool { .. } => "maxpool",
            Op::SumPool { .. } => "sumpool",
            Op::Reshape => "reshape",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::AddConst { .. } => "add_const",
            Op::MulConst { .. } => "mul_const",
            Op::Mul => "mul",
            Op::Square => "square",
            Op::Truncate { .. } => "truncate",
            Op::Clamp { .. } => "clamp",
            Op::Argmax => "argmax",
            Op::Convert => "convert",
        }
    }

    /// The linear-layer parameters, for dense and conv2d.
    pub fn linear_params(&self) -> Option<&LinearParams> {
        match self {
            Op::Dense { params, .. } | Op::Conv2d { params, .. } => Some(params),
            _ => None,
        }
    }
}

/// One step of the plan: an operation on values, run in one protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// What is computed.
    pub op: Op,
    /// Operand values, in the operation's order.
    pub inputs: Vec<ValueId>,
    /// The value defined by this step.
    pub output: ValueId,
    /// The protocol that runs the step. For [`Op::Convert`] it is the
    /// *target* protocol (the input's protocol is the source).
    pub protocol: Protocol,
    /// Source layer this step came from (a tensor name of the `.nn` file).
    pub layer: String,
}

/// The objective and network the protocol assignment was optimized for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizedFor {
    /// Network profile name (`lan`, `wan`, or `custom`).
    pub network: String,
    /// Round-trip time in microseconds.
    pub rtt_us: u64,
    /// Bandwidth in bits per second.
    pub bandwidth_bps: u64,
    /// Objective (`latency`, `bytes`, `total`, or `default` for the fixed rule).
    pub objective: String,
}

/// The whole public plan. Steps are in a valid execution order (each input
/// defined before use); values are defined exactly once, by an input or a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Model name from the source header.
    pub model: String,
    /// Fixed-point format.
    pub fixed: FixedFormat,
    /// Every value, indexed by [`ValueId`].
    pub values: Vec<ValueInfo>,
    /// Run-time inputs.
    pub inputs: Vec<InputSpec>,
    /// Computation, in execution order.
    pub steps: Vec<Step>,
    /// What is revealed, to whom.
    pub outputs: Vec<OutputSpec>,
    /// What the protocol assignment was optimized for.
    pub optimized_for: OptimizedFor,
}

/// A 32-byte blake3 digest identifying a plan.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlanHash(pub [u8; 32]);

impl PlanHash {
    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parse 64 hex characters.
    pub fn from_hex(s: &str) -> Option<PlanHash> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(PlanHash(out))
    }

    /// The first 12 hex characters, for messages.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl fmt::Debug for PlanHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlanHash({})", self.to_hex())
    }
}

impl fmt::Display for PlanHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Domain-separation context for plan hashes (blake3 `derive_key` style).
const PLAN_HASH_CONTEXT: &str = "chimera 2026 plan hash v1";

impl Plan {
    /// The canonical serialization: compact RON of the plan.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, PlanError> {
        ron::to_string(self)
            .map(String::into_bytes)
            .map_err(|e| PlanError::Serialize(e.to_string()))
    }

    /// blake3 (keyed by a fixed context) of the canonical serialization.
    pub fn hash(&self) -> Result<PlanHash, PlanError> {
        let bytes = self.canonical_bytes()?;
        let mut hasher = blake3::Hasher::new_derive_key(PLAN_HASH_CONTEXT);
        hasher.update(&bytes);
        Ok(PlanHash(*hasher.finalize().as_bytes()))
    }

    /// The value with this id.
    pub fn value(&self, id: ValueId) -> &ValueInfo {
        &self.values[id.index()]
    }

    /// Check the invariants a runtime relies on before it sizes anything by
    /// the plan: ids in range, every value defined exactly once and before
    /// use, conversions change protocol, output values exist, every input is
    /// the client's ([`PlanError::Invalid`] with every such problem); then
    /// the size limits of [`crate::limits`] on every value and step
    /// ([`PlanError::TooLarge`] with every size beyond them).
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut problems = Vec::new();
        let n = self.values.len();
        let mut defined = vec![false; n];
        let in_range = |id: ValueId| id.index() < n;
        if self.fixed.ring_bits != 64 {
            problems.push(format!(
                "ring of {} bits: only 64-bit rings are executable",
                self.fixed.ring_bits
            ));
        }
        if self.fixed.frac_bits == 0 || self.fixed.frac_bits > 30 {
            problems.push(format!(
                "{} fraction bits: must be between 1 and 30",
                self.fixed.frac_bits
            ));
        }
        for input in &self.inputs {
            if input.owner != Party::Client {
                problems.push(format!(
                    "input {} is owned by the {}: the executor takes every input from the client",
                    input.value, input.owner
                ));
            }
            if !in_range(input.value) {
                problems.push(format!("input {} is out of range", input.value));
                continue;
            }
            if std::mem::replace(&mut defined[input.value.index()], true) {
                problems.push(format!("input {} is defined twice", input.value));
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            for &v in &step.inputs {
                if !in_range(v) {
                    problems.push(format!(
                        "step {i} ({}) reads {v}, out of range",
                        step.op.name()
                    ));
                } else if !defined[v.index()] {
                    problems.push(format!(
                        "step {i} ({}) reads {v} before it is defined",
                        step.op.name()
                    ));
                }
            }
            if !in_range(step.output) {
                problems.push(format!("step {i} writes {}, out of range", step.output));
                continue;
            }
            if std::mem::replace(&mut defined[step.output.index()], true) {
                problems.push(format!("step {i} redefines {}", step.output));
            }
            if self.values[step.output.index()].protocol != step.protocol {
                problems.push(format!(
                    "step {i} ({}) runs in {} but its output lives in {}",
                    step.op.name(),
                    step.protocol,
                    self.values[step.output.index()].protocol
                ));
            }
            let arity = match step.op {
                Op::Add | Op::Sub | Op::Mul => 2,
                _ => 1,
            };
            if step.inputs.len() != arity {
                problems.push(format!(
                    "step {i} ({}) takes {arity} operands, has {}",
                    step.op.name(),
                    step.inputs.len()
                ));
            }
            if matches!(step.op, Op::Convert) {
                if let Some(&src) = step.inputs.first().filter(|v| in_range(**v)) {
                    if self.values[src.index()].protocol == step.protocol {
                        problems.push(format!("step {i} converts {src} to its own protocol"));
                    }
                }
            } else {
                for &v in step.inputs.iter().filter(|v| in_range(**v)) {
                    if self.values[v.index()].protocol != step.protocol {
                        problems.push(format!(
                            "step {i} ({}) runs in {} but reads {v} shared in {} without a conversion",
                            step.op.name(),
                            step.protocol,
                            self.values[v.index()].protocol
                        ));
                    }
                }
            }
        }
        for out in &self.outputs {
            if !in_range(out.value) || !defined[out.value.index()] {
                problems.push(format!("output `{}` names an undefined value", out.name));
            }
        }
        if !problems.is_empty() {
            return Err(PlanError::Invalid(problems));
        }
        let too_large = crate::limits::plan(self);
        if too_large.is_empty() {
            Ok(())
        } else {
            Err(PlanError::TooLarge(too_large))
        }
    }
}

/// Where in the source each step came from. Not part of the hash.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DebugInfo {
    /// Path of the `.nn` file as given to the compiler.
    pub source_file: Option<String>,
    /// For each step, the byte range of its source statement, if known.
    pub step_spans: Vec<Option<(u32, u32)>>,
}

/// A plan as written to disk: its hash, the plan, and debug information.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always [`PLAN_FORMAT_NAME`].
    pub format: String,
    /// Always [`PLAN_FORMAT_VERSION`] for plans this build can run.
    pub version: u32,
    /// Hex blake3 hash of `plan`'s canonical serialization.
    pub hash: String,
    /// The plan.
    pub plan: Plan,
    /// Source positions (not hashed).
    pub debug: DebugInfo,
}

/// Errors of plan handling.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The plan could not be serialized (an internal error).
    #[error("cannot serialize the plan: {0}")]
    Serialize(String),
    /// The plan file is not a plan.
    #[error("{path}: not a readable Chimera plan: {reason}")]
    Parse {
        /// File path.
        path: String,
        /// What the RON parser said.
        reason: String,
    },
    /// Format name or version mismatch.
    #[error("{path}: plan format `{found}` version {version} is not supported (this build reads `{PLAN_FORMAT_NAME}` version {PLAN_FORMAT_VERSION}); recompile the .nn file with this chimera")]
    Version {
        /// File path.
        path: String,
        /// Format name found.
        found: String,
        /// Version found.
        version: u32,
    },
    /// The recorded hash does not match the content.
    #[error("{path}: plan hash mismatch: the file says {recorded} but its content hashes to {computed}; the plan was edited or corrupted, recompile it")]
    HashMismatch {
        /// File path.
        path: String,
        /// Hash written in the file.
        recorded: String,
        /// Hash of the content.
        computed: String,
    },
    /// Structural invariants broken.
    #[error("invalid plan:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// Sizes beyond the limits of [`crate::limits`]: the plan would make a
    /// party build or allocate more than any network needs.
    #[error("the plan is too large to run (beyond the size limits every party applies, which `chimera compile` never exceeds):\n  - {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - "))]
    TooLarge(Vec<crate::limits::LimitError>),
    /// A plan file that parsed but failed [`Plan::validate`], with its path.
    #[error("{path}: {source}")]
    Rejected {
        /// File path.
        path: String,
        /// What validation found ([`PlanError::Invalid`] or [`PlanError::TooLarge`]).
        #[source]
        source: Box<PlanError>,
    },
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl SavedPlan {
    /// Wrap a plan with its hash.
    pub fn new(plan: Plan, debug: DebugInfo) -> Result<SavedPlan, PlanError> {
        let hash = plan.hash()?.to_hex();
        Ok(SavedPlan {
            format: PLAN_FORMAT_NAME.to_string(),
            version: PLAN_FORMAT_VERSION,
            hash,
            plan,
            debug,
        })
    }

    /// Human-readable RON text of the saved plan.
    pub fn to_ron(&self) -> Result<String, PlanError> {
        let config = ron::ser::PrettyConfig::new()
            .depth_limit(6)
            .struct_names(false)
            .indentor("  ".to_string());
        ron::ser::to_string_pretty(self, config).map_err(|e| PlanError::Serialize(e.to_string()))
    }

    /// Parse RON text, check format, version, hash, then structure and size
    /// limits ([`Plan::validate`]), before anything is built from it.
    /// `origin` names the source in errors.
    pub fn from_ron(text: &str, origin: &str) -> Result<SavedPlan, PlanError> {
        let saved: SavedPlan = ron::from_str(text).map_err(|e| PlanError::Parse {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
        if saved.format != PLAN_FORMAT_NAME || saved.version != PLAN_FORMAT_VERSION {
            return Err(PlanError::Version {
                path: origin.to_string(),
                found: saved.format,
                version: saved.version,
            });
        }
        let computed = saved.plan.hash()?.to_hex();
        if computed != saved.hash {
            return Err(PlanError::HashMismatch {
                path: origin.to_string(),
                recorded: saved.hash,
                computed,
            });
        }
        saved.plan.validate().map_err(|e| PlanError::Rejected {
            path: origin.to_string(),
            source: Box::new(e),
        })?;
        Ok(saved)
    }

    /// Read and check a plan file.
    pub fn load(path: &Path) -> Result<SavedPlan, PlanError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Io {
            path: shown.clone(),
            source,
        })?;
        SavedPlan::from_ron(&text, &shown)
    }

    /// Write the plan atomically (temporary file in the same directory, then rename).
    pub fn save(&self, path: &Path) -> Result<(), PlanError> {
        let text = self.to_ron()?;
        crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| PlanError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests;
