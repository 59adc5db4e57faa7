//! Helpers shared by the end-to-end tests: paths of the bundled examples,
//! compiling an example network, and reading MNIST.

#![allow(dead_code)] // each test binary uses a different subset

pub mod check;
pub mod cli;
pub mod mnist;
pub mod parties;
pub mod proxy;
pub mod random;
pub mod reaped;

use chimera_runtime::plan::SavedPlan;
use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/<name>`.
pub fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// Compile `examples/<stem>.nn`, panicking with the rendered diagnostics if it fails.
pub fn compile_example(stem: &str) -> SavedPlan {
    let path = example(&format!("{stem}.nn"));
    let source = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.display().to_string();
    match chimera_compiler::compile(&name, &source) {
        Ok(compiled) => compiled.saved,
        Err(d) => panic!("{}", d.render(&name, &source, false)),
    }
}
