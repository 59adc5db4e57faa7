//! The passes between lowering and plan emission, each a small module with
//! one rewrite. [`run`] applies them in order and runs the verifier after
//! every one, so a broken invariant is caught at the pass that broke it.
//!
//! Each pass appends human notes to `explain` (what was folded, reordered,
//! approximated and with what error); `chimera compile --explain` prints them.

pub mod activation;
pub mod avgpool;
pub mod batchnorm;
pub mod chebyshev;
pub mod dead_code;
pub mod optimize;
pub mod pool_relu;
pub mod protocol;
pub mod truncate;

use crate::ir::verify::{verify, Expect, VerifyError};
use crate::ir::Graph;

/// A pass: rewrite the graph, append notes.
pub type Pass = fn(&mut Graph, &mut Vec<String>);

/// The passes up to (not including) protocol assignment, in order, with their names.
pub const PASSES: &[(&str, Pass)] = &[
    ("dead_code", dead_code::run),
    ("batchnorm", batchnorm::run),
    ("pool_relu", pool_relu::run),
    ("activation", activation::run),
    ("avgpool", avgpool::run),
    ("truncate", truncate::run),
];

/// A pass left the graph invalid (a compiler bug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassError {
    /// The pass after which the verifier failed (`lower` for lowering itself).
    pub pass: String,
    /// Every broken invariant.
    pub problems: Vec<VerifyError>,
}

impl std::fmt::Display for PassError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let problems: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        write!(f, "after `{}`: {}", self.pass, problems.join("; "))
    }
}

/// Verify the graph, naming the pass that produced it.
pub fn check(g: &Graph, pass: &str, lowered: bool) -> Result<(), PassError> {
    verify(g, Expect { lowered }).map_err(|problems| PassError {
        pass: pass.to_string(),
        problems,
    })
}

/// Run every pass (not protocol assignment), verifying after each.
pub fn run(g: &mut Graph, explain: &mut Vec<String>) -> Result<(), PassError> {
    check(g, "lower", false)?;
    for (i, (name, pass)) in PASSES.iter().enumerate() {
        pass(g, explain);
        // High-level operations are gone once activations and pools are lowered.
        let lowered = PASSES[..=i].iter().any(|(n, _)| *n == "avgpool");
        check(g, name, lowered)?;
    }
    Ok(())
}
