//! `chimera bench`: private inference of the paper networks, measured.
//!
//! For every network and batch size it compiles the plan for the chosen
//! network profile, deals material, and runs the server and one client
//! process per query over TCP — on plain loopback for `lan`, through the
//! transport's link shaper ([`chimera_runtime::transport::shaper`]) for
//! `wan` and custom profiles — with warm-up and repetitions. It reports
//! online latency, throughput, traffic, the dealer's time and bytes, the
//! plaintext time, and the cost model's prediction beside each measured
//! figure, as a table or as JSON (`docs/benchmarks.md` is generated from
//! that JSON by `scripts/benchmarks_md.py`). Progress goes to stderr.
//!
//! ```text
//! chimera bench [NETWORKS...] [--batch 1,64] [--reps N] [--warmup N]
//!               [--network lan|wan|rtt=..,bw=..] [--json] [--out FILE]
//! ```

mod measure;
mod report;
mod setup;

pub use measure::CaseResult;
pub use setup::{compile as compile_for, estimate};

use crate::cost::parse_network;
use crate::parties::{Launcher, Scratch};
use anyhow::Context;
use chimera_compiler::cost::Network;
use chimera_runtime::transport::shaper::LinkProfile;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `chimera bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Networks: short names (netA netB netC netD cryptonets cifar_minionn)
    /// or .nn files. Default: netA netB netC netD cryptonets.
    pub networks: Vec<String>,
    /// Batch sizes (rows per query), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub batch: Vec<usize>,
    /// Measured repetitions per case.
    #[arg(long, default_value_t = 10)]
    pub reps: usize,
    /// Repetitions run first and discarded.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Network profile: `lan` (plain loopback, predicted for 0.2 ms /
    /// 1 Gbit/s), `wan` (emulated 50 ms RTT, 100 Mbit/s) or custom
    /// `rtt=10ms,bw=200mbit` (emulated).
    #[arg(long, default_value = "lan", value_parser = parse_network)]
    pub network: Network,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Where the example networks and inputs are.
    #[arg(long, value_name = "DIR", default_value = "examples")]
    pub examples: PathBuf,
    /// Seconds after which a party that has not finished is stopped.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Run the parties over mutual TLS 1.3 (ephemeral keys) instead of the
    /// default plaintext TCP (`--insecure-plaintext`, as loopback benchmarks do).
    #[arg(long)]
    pub tls: bool,
}

/// The link between client and server for `network`: none (plain loopback)
/// for `lan`, the shaper otherwise.
pub fn link_for(network: &Network) -> Option<LinkProfile> {
    (network.name != "lan").then(|| LinkProfile {
        rtt: Duration::from_micros(network.rtt_us),
        bandwidth_bps: network.bandwidth_bps,
    })
}

/// One sentence on how the link was made, for every output.
pub fn link_note(network: &Network) -> String {
    match link_for(network) {
        None => format!(
            "plain loopback TCP on this machine (no emulation); predictions use the `{}` profile ({} µs RTT, {} Mbit/s)",
            network.name,
            network.rtt_us,
            network.bandwidth_bps / 1_000_000
        ),
        Some(link) => format!(
            "EMULATED {} link ({link}): a loopback relay delays every chunk by RTT/2 and limits each direction's bandwidth; no real WAN, no packet loss",
            network.name
        ),
    }
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let max = chimera_runtime::limits::MAX_BATCH;
    if args.batch.is_empty() || args.batch.iter().any(|&b| b == 0 || b > max) {
        anyhow::bail!("--batch takes batch sizes from 1 to {max}, e.g. `--batch 1,64`");
    }
    if args.reps == 0 {
        anyhow::bail!("--reps must be at least 1");
    }
    let names: Vec<String> = if args.networks.is_empty() {
        setup::DEFAULT_NETWORKS.map(String::from).to_vec()
    } else {
        args.networks.clone()
    };
    let files = names
        .iter()
        .map(|n| setup::locate(n, &args.examples))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deadline = Duration::from_secs(args.timeout);
    let keys = Scratch::new("bench-keys")?;
    let launcher = if args.tls {
        Launcher::tls(deadline, keys.path())?
    } else {
        eprintln!("{}", crate::link::PLAINTEXT_NOTICE);
        Launcher::plaintext(deadline)?
    };
    let link = link_for(&args.network);
    let note = link_note(&args.network);
    eprintln!("chimera bench: {note}; {}", launcher.channel_note());
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; build with `cargo build --release` for representative figures");
    }
    let load_before = report::load_average();
    let total = files.len() * args.batch.len();
    let mut results = Vec::with_capacity(total);
    for file in &files {
        for &batch in &args.batch {
            eprintln!(
                "[{}/{total}] {} batch {batch}: {} warm-up + {} measured queries …",
                results.len() + 1,
                file.display(),
                args.warmup,
                args.reps
            );
            let case = measure::Case {
                file,
                batch,
                network: &args.network,
                link,
                reps: args.reps,
                warmup: args.warmup,
                examples: &args.examples,
            };
            let r = measure::run_case(&case, &launcher)
                .with_context(|| format!("benchmark of {} at batch {batch}", file.display()))?;
            eprintln!(
                "      online median {:.2} ms ({:.1} inferences/s), {} B, {} rounds{}",
                r.online_seconds.median * 1e3,
                r.throughput_per_second,
                r.online.bytes(),
                r.online.rounds,
                if r.exact {
                    ""
                } else {
                    " — TRAFFIC DIFFERS FROM THE PREDICTION"
                }
            );
            results.push(r);
        }
    }
    let doc = report::to_json(&args, &note, launcher.channel(), load_before, &results);
    let text = serde_json::to_string_pretty(&doc)?;
    if let Some(out) = &args.out {
        chimera_runtime::fsutil::write_atomic(out, format!("{text}\n").as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    if args.json {
        println!("{text}");
    } else {
        print!(
            "{}",
            report::to_table(&args.network, &note, launcher.channel_note(), &results)
        );
    }
    if results.iter().any(|r| !r.exact) {
        eprintln!("error: measured traffic differs from the cost model's prediction (see `mismatches`); this is a bug, please report it");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
