//! `chimera compile FILE.nn [-o PLAN.ron] [--explain]`: compile a network to
//! its plan, write it (by default beside the source as `FILE.plan.ron`; `-o -`
//! for standard output) and print its hash.

use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `chimera compile`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .nn source file.
    pub file: PathBuf,
    /// Where to write the plan (`-` for standard output). Default: FILE.plan.ron beside the source.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Print what the compiler did: folded batchnorms, reordered pools,
    /// approximation coefficients and their errors, conversions.
    #[arg(long)]
    pub explain: bool,
    /// Network the protocols are optimized for: `lan`, `wan` or `rtt=10ms,bw=200mbit`.
    #[arg(long, default_value = "lan", value_parser = crate::cost::parse_network)]
    pub network: chimera_compiler::cost::Network,
    /// What the optimizer minimizes: `latency`, `bytes` or `total`.
    #[arg(long, default_value = "latency", value_parser = crate::cost::parse_objective)]
    pub objective: chimera_compiler::cost::Objective,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args.file.display().to_string();
    let color = std::io::stderr().is_terminal();
    let optimizer =
        chimera_compiler::passes::optimize::Optimizer::runtime(args.network, args.objective);
    let compiled =
        match chimera_compiler::passes::optimize::compile_optimized(&name, &source, &optimizer) {
            Ok(c) => c,
            Err(diagnostics) => {
                eprint!("{}", diagnostics.render(&name, &source, color));
                return Ok(ExitCode::from(1));
            }
        };
    if !compiled.warnings.is_empty() {
        eprint!("{}", compiled.warnings.render(&name, &source, color));
    }
    let to_stdout = args.output.as_deref() == Some(std::path::Path::new("-"));
    if args.explain {
        for note in &compiled.explain {
            eprintln!("note: {note}");
        }
    }
    if to_stdout {
        let text = compiled
            .saved
            .to_ron()
            .context("cannot serialize the plan")?;
        println!("{text}");
        eprintln!("plan hash {}", compiled.saved.hash);
    } else {
        let path = args
            .output
            .unwrap_or_else(|| args.file.with_extension("plan.ron"));
        compiled
            .saved
            .save(&path)
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
        println!("{}", compiled.saved.hash);
        eprintln!(
            "wrote {} ({} steps, model `{}`)",
            path.display(),
            compiled.saved.plan.steps.len(),
            compiled.saved.plan.model
        );
    }
    Ok(ExitCode::SUCCESS)
}
