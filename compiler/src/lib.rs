//! # chimera-compiler
//!
//! The `.nn` language front end, the IR graph, the passes, protocol
//! assignment and plan emission:
//!
//! ```text
//! source ─parse─▶ AST ─lower─▶ IR graph ─passes─▶ ─assign protocols─▶ ─emit─▶ SavedPlan
//!        (syntax)      (lower)  (ir)     (passes)  (passes::protocol)  (emit)
//! ```
//!
//! Every error about the source is a [`Diagnostic`] with a span; the verifier
//! ([`ir::verify`]) runs after lowering and after every pass.
//!
//! ```
//! let source = b"model tiny
//! input x: [4] from client
//! h = dense(x, 3)
//! r = relu(h)
//! output label = argmax(r) to client
//! ";
//! let compiled = chimera_compiler::compile("tiny.nn", source).expect("valid");
//! assert_eq!(compiled.saved.plan.model, "tiny");
//! assert!(compiled.warnings.is_empty());
//! // The hash identifies the plan; a client and a dealer compiling the same file agree on it.
//! assert_eq!(compiled.saved.hash.len(), 64);
//! ```

#![deny(missing_docs)]

pub mod cost;
pub mod diagnostics;
pub mod emit;
pub mod ir;
pub mod lower;
pub mod onnx;
pub mod passes;
pub mod syntax;

pub use diagnostics::{Diagnostic, Diagnostics, Severity, Span};
pub use passes::protocol::{Assignment, DefaultAssigner, ProtocolAssigner};

use chimera_runtime::plan::SavedPlan;

/// A successful compilation.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The plan with its hash and debug information.
    pub saved: SavedPlan,
    /// Warnings (the program was accepted).
    pub warnings: Diagnostics,
    /// Human notes: folded batchnorms, reordered pools, approximations with
    /// their coefficients and errors, conversions.
    pub explain: Vec<String>,
}

/// The IR after every pass but before protocol assignment: what a protocol
/// optimizer starts from.
#[derive(Clone, Debug)]
pub struct FrontEnd {
    /// The graph, lowered, with shapes and encodings; no protocols yet.
    pub graph: ir::Graph,
    /// Warnings.
    pub warnings: Diagnostics,
    /// Notes so far.
    pub explain: Vec<String>,
}

fn internal(message: String) -> Diagnostics {
    let mut ds = Diagnostics::new();
    ds.push(
        Diagnostic::error("internal", "internal compiler error", Span::new(0, 0))
            .with_label(message)
            .with_help(
                "this is a bug in chimera, not in your program; please report it with this file",
            ),
    );
    ds
}

/// Parse, check, lower, and run the passes up to protocol assignment.
pub fn front_end(source: &[u8]) -> Result<FrontEnd, Diagnostics> {
    let program = syntax::parse(source)?;
    let (graph, warnings) = lower::lower(&program);
    let Some(mut graph) = graph else {
        return Err(warnings);
    };
    let mut explain = Vec::new();
    passes::run(&mut graph, &mut explain).map_err(|e| internal(e.to_string()))?;
    Ok(FrontEnd {
        graph,
        warnings,
        explain,
    })
}

/// Compile a `.nn` source with the protocol optimizer for the `lan`
/// network and the `latency` objective (what `chimera compile` does by
/// default). `file_name` is recorded in the plan's debug information (not
/// in its hash).
///
/// Returns every error (and warning) if the program is rejected.
pub fn compile(file_name: &str, source: &[u8]) -> Result<Compiled, Diagnostics> {
    passes::optimize::compile_optimized(
        file_name,
        source,
        &passes::optimize::Optimizer::runtime(cost::Network::lan(), cost::Objective::Latency),
    )
}

/// Compile with a chosen protocol assigner (the cost-based optimizer plugs in here).
pub fn compile_with(
    file_name: &str,
    source: &[u8],
    assigner: &dyn ProtocolAssigner,
) -> Result<Compiled, Diagnostics> {
    let FrontEnd {
        mut graph,
        warnings,
        mut explain,
    } = front_end(source)?;
    let assignment = assigner.assign(&graph);
    passes::protocol::apply(
        &mut graph,
        &assignment,
        assigner.optimized_for(),
        &mut explain,
    );
    passes::check(&graph, "protocol", true).map_err(|e| internal(e.to_string()))?;
    let (plan, debug) = emit::emit(&graph, file_name).map_err(internal)?;
    let saved = SavedPlan::new(plan, debug).map_err(|e| internal(e.to_string()))?;
    Ok(Compiled {
        saved,
        warnings,
        explain,
    })
}

/// Check a `.nn` source: the warnings if it is valid, every diagnostic if not.
///
/// ```
/// let bad = b"model m\ninput x: [5, 14, 14] from client\nh = dense(x, 10)\noutput h = h to client\n";
/// let errors = chimera_compiler::check(bad).unwrap_err();
/// assert_eq!(errors.len(), 1);
/// let text = errors.render("m.nn", bad, false);
/// assert!(text.contains("dense expects a 1-d input, got [5, 14, 14]"), "{text}");
/// assert!(text.contains("insert flatten"), "{text}");
/// ```
pub fn check(source: &[u8]) -> Result<Diagnostics, Diagnostics> {
    compile("", source).map(|c| c.warnings)
}
