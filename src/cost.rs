//! `chimera cost FILE.nn [--network lan|wan|rtt=…,bw=…] [--objective
//! latency|bytes|total] [--format table|json|dot] [--batch N] [--profile
//! PROFILE]`: compile the network with the optimizer and report what its
//! plan costs, per layer and in total, beside the all-GMW and all-Yao plans.

use anyhow::Context;
use chimera_compiler::cost::report::{compile_plans, to_dot, Report, Settings};
use chimera_compiler::cost::{Network, Objective, Profile, RuntimeOracle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The largest `--batch`, as clap's range takes it.
const MAX_BATCH: i64 = chimera_runtime::limits::MAX_BATCH as i64;

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    Table,
    /// JSON for programs.
    Json,
    /// Graphviz DOT of the optimal plan, coloured by protocol.
    Dot,
}

/// Parse `--network`.
pub fn parse_network(s: &str) -> Result<Network, String> {
    Network::parse(s).map_err(|e| e.to_string())
}

/// Parse `--objective`.
pub fn parse_objective(s: &str) -> Result<Objective, String> {
    s.parse()
        .map_err(|e: chimera_compiler::cost::ObjectiveError| e.to_string())
}

/// Flags of `chimera cost`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .nn source file.
    pub file: PathBuf,
    /// Network profile: `lan` (0.2 ms, 1 Gbit/s), `wan` (50 ms, 100 Mbit/s)
    /// or custom `rtt=10ms,bw=200mbit`.
    #[arg(long, default_value = "lan", value_parser = parse_network)]
    pub network: Network,
    /// What the optimizer minimizes: `latency` (estimated online seconds),
    /// `bytes` (online bytes) or `total` (online plus offline).
    #[arg(long, default_value = "latency", value_parser = parse_objective)]
    pub objective: Objective,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Inferences per query (costs are for the batch; the table adds the
    /// per-sample cost), at most the runtime's limit on a query's rows.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_BATCH))]
    pub batch: u32,
    /// Calibration profile (default: the shipped `profiles/default.ron`).
    #[arg(long)]
    pub profile: Option<PathBuf>,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args.file.display().to_string();
    let profile = match &args.profile {
        Some(p) => Profile::load(p)?,
        None => Profile::default_profile(),
    };
    let settings = Settings {
        network: args.network,
        profile,
        objective: args.objective,
        batch: args.batch as usize,
    };
    let plans = match compile_plans(&name, &source, &settings, &RuntimeOracle) {
        Ok(p) => p,
        Err(diagnostics) => {
            eprint!(
                "{}",
                diagnostics.render(&name, &source, std::io::stderr().is_terminal())
            );
            return Ok(ExitCode::from(1));
        }
    };
    // A batch no party would run (its words per step beyond the runtime's
    // limits) is refused as such, not costed.
    chimera_runtime::limits::batch(&plans.optimal.saved.plan, settings.batch)
        .with_context(|| format!("--batch {}", args.batch))?;
    match args.format {
        Format::Dot => print!("{}", to_dot(&plans.optimal.saved.plan)),
        Format::Table | Format::Json => {
            let report = Report::new(&plans, &settings, &RuntimeOracle)
                .map_err(|e| anyhow::anyhow!("internal error while costing the plan: {e}"))?;
            if args.format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print!("{}", report.to_table());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
