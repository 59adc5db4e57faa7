//! `chimera check FILE.nn…`: exit 0 if every file is a valid program
//! (warnings are printed), else print every diagnostic and exit 1 (2 if a
//! file cannot be read). Each file is checked on its own, so
//! `chimera check examples/*.nn` reports on all of them in one run.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// Flags of `chimera check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .nn source files.
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<std::path::PathBuf>,
}

/// What checking one file found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Valid,
    Invalid,
    Unreadable,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let color = std::io::stderr().is_terminal();
    let worst = args
        .files
        .iter()
        .map(|file| check_one(file, color))
        .max()
        .unwrap_or(Outcome::Valid);
    Ok(match worst {
        Outcome::Valid => ExitCode::SUCCESS,
        Outcome::Invalid => ExitCode::from(1),
        Outcome::Unreadable => ExitCode::from(2),
    })
}

/// Check one file, printing its summary line or its diagnostics.
fn check_one(file: &Path, color: bool) -> Outcome {
    let source = match std::fs::read(file) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return Outcome::Unreadable;
        }
    };
    let name = file.display().to_string();
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
            Outcome::Valid
        }
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(&name, &source, color));
            Outcome::Invalid
        }
    }
}
