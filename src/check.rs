//! `chimera check FILE.nn`: exit 0 if the file is a valid program (warnings
//! are printed), else print every diagnostic and exit 1.

use anyhow::Context;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Flags of `chimera check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .nn source file.
    pub file: std::path::PathBuf,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args.file.display().to_string();
    let color = std::io::stderr().is_terminal();
    match chimera_compiler::compile(&name, &source) {
        Ok(compiled) => {
            if !compiled.warnings.is_empty() {
                eprint!("{}", compiled.warnings.render(&name, &source, color));
            }
            let plan = &compiled.saved.plan;
            println!(
                "{name}: ok, model `{}`: {} steps, {} output(s), plan {}",
                plan.model,
                plan.steps.len(),
                plan.outputs.len(),
                &compiled.saved.hash[..12]
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(&name, &source, color));
            Ok(ExitCode::from(1))
        }
    }
}
