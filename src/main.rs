//! The `chimera` command-line program: a thin layer over the compiler and
//! runtime crates. Flags are parsed by clap into [`Cli`], each subcommand
//! lives in its own module and returns an exit code.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod admission;
mod bench;
mod calibrate;
mod check;
mod common;
mod compile;
mod cost;
mod dealer;
mod distribute;
mod eval;
mod import;
mod keygen;
mod link;
mod materials;
mod parties;
mod query;
mod run;
mod serve;
mod session_request;

/// Private neural-network inference: compile a `.nn` network to a
/// mixed-protocol two-party plan, report its cost, and run it.
#[derive(Parser, Debug)]
#[command(name = "chimera", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a .nn file: exit 0 if it is valid, else print diagnostics and exit 1.
    Check(check::Args),
    /// Compile a .nn file to a plan (RON) and print the plan's hash.
    Compile(compile::Args),
    /// Report what a network's optimized plan costs, per layer, beside all-GMW and all-Yao.
    Cost(cost::Args),
    /// Measure this machine's per-unit compute times and write a calibration profile.
    Calibrate(calibrate::Args),
    /// Evaluate a network in plaintext (the oracle) on an input file.
    Eval(eval::Args),
    /// Deal single-use correlated randomness for N queries (offline).
    Dealer(dealer::Args),
    /// Serve private inference with the server's weights.
    Serve(serve::Args),
    /// Query a server privately with the client's input.
    Query(query::Args),
    /// Compile, deal, and run server and client as separate processes over loopback.
    Run(run::Args),
    /// Make a party's TLS key and self-signed certificate; print its fingerprint.
    Keygen(keygen::Args),
    /// Benchmark private inference of the paper networks (real processes; loopback or emulated WAN).
    Bench(bench::Args),
    /// Convert a trained ONNX model to NAME.nn and NAME.safetensors.
    Import(import::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Check(_) | Command::Compile(_) | Command::Eval(_) | Command::Cost(_)
    ) {
        quiet_on_closed_stdout();
    }
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Cost(args) => cost::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Dealer(args) => dealer::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Query(args) => query::run(args),
        Command::Run(args) => run::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Import(args) => import::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_line(&err));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each said once. Many library errors
/// already show their source in their own message (`{path}: {source}`), so
/// anyhow's `{:#}` would repeat it (`w.safetensors: no tensor: no tensor`);
/// a cause whose text already ends the line is skipped.
fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Let a report command end quietly, like `cat`, when its reader goes away
/// (`chimera eval ... | head`): Rust ignores SIGPIPE, so a write to a closed
/// pipe would otherwise panic in `println!`. Only the local report commands
/// do this; the networked ones keep handling a closed socket as an error.
fn quiet_on_closed_stdout() {
    // SAFETY: restoring a signal's default disposition at start-up, before
    // any thread is spawned, has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
