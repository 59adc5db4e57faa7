//! Loading what several subcommands share: a plan (compiled from `.nn` or
//! read from `.ron`) and input batches matched against the plan's inputs.

use anyhow::Context;
use chimera_runtime::plan::{Plan, SavedPlan};
use chimera_runtime::tensor_io::{self, Batch};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Compile a `.nn` file or load a `.ron` plan. `Ok(Err(code))` when
/// diagnostics were printed (the caller exits with that code).
pub fn load_plan(path: &Path) -> anyhow::Result<Result<SavedPlan, ExitCode>> {
    if path.extension().is_some_and(|e| e == "ron") {
        return Ok(Ok(SavedPlan::load(path)?));
    }
    let source = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let color = std::io::stderr().is_terminal();
    match chimera_compiler::compile(&name, &source) {
        Ok(compiled) => {
            if !compiled.warnings.is_empty() {
                eprint!("{}", compiled.warnings.render(&name, &source, color));
            }
            Ok(Ok(compiled.saved))
        }
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(&name, &source, color));
            Ok(Err(ExitCode::from(1)))
        }
    }
}

/// Read one `.npy` file per plan input, each either one input of the declared
/// shape or a batch with a leading row dimension; all must have as many rows.
pub fn load_inputs(plan: &Plan, paths: &[PathBuf]) -> anyhow::Result<Vec<Batch>> {
    if paths.len() != plan.inputs.len() {
        anyhow::bail!(
            "the network has {} input(s) ({}), {} --input file(s) were given",
            plan.inputs.len(),
            plan.inputs
                .iter()
                .map(|i| format!(
                    "`{}` {:?}",
                    plan.value(i.value).name,
                    plan.value(i.value).shape
                ))
                .collect::<Vec<_>>()
                .join(", "),
            paths.len()
        );
    }
    let mut batches: Vec<Batch> = Vec::new();
    for (spec, path) in plan.inputs.iter().zip(paths) {
        let info = plan.value(spec.value);
        let tensor = tensor_io::load_npy(path)?;
        let batch = tensor
            .into_batch(&info.name, &info.shape)
            .with_context(|| format!("{}", path.display()))?;
        if let Some(first) = batches.first() {
            if first.rows != batch.rows {
                anyhow::bail!(
                    "{}: {} rows, but the first input has {}",
                    path.display(),
                    batch.rows,
                    first.rows
                );
            }
        }
        batches.push(batch);
    }
    Ok(batches)
}
