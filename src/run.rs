//! `chimera run`: the whole private inference in one command.
//!
//! Compiles the network, then runs the dealer, the server and the client as
//! three separate OS processes of this same program over loopback TCP — the
//! same code paths as `chimera dealer`, `serve` and `query` on three
//! machines — and prints the client's result with the measured online
//! traffic and time beside the cost model's prediction (traffic exact,
//! seconds estimated for the `--network` profile). With `--network wan` or
//! a custom profile the client reaches the server through the transport's
//! link shaper, an emulation of that link on this machine, and the output
//! says so.
//!
//! The server and the client talk mutual TLS 1.3, as on two machines: the
//! run mints an ephemeral key and certificate for each in its scratch
//! directory (removed afterwards) and pins each on the other side.
//! `--insecure-plaintext` runs them over plain TCP instead (loopback
//! benchmarks), and says so.

use crate::bench;
use crate::common::{load_inputs, load_plan};
use crate::cost::parse_network;
use crate::parties::{Launcher, Scratch};
use anyhow::bail;
use chimera_compiler::cost::Network;
use chimera_runtime::cost;
use chimera_runtime::plan::SavedPlan;
use chimera_runtime::transport::shaper::Shaper;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `chimera run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network (.nn, or a compiled plan .ron).
    pub file: PathBuf,
    /// The server's weights (safetensors).
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// The client's input (.npy): one input or a batch of rows.
    #[arg(long, value_name = "X.npy", required = true)]
    pub input: Vec<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// The network to compile and predict for: `lan` (plain loopback),
    /// `wan` (50 ms RTT, 100 Mbit/s) or custom `rtt=10ms,bw=200mbit`; any
    /// but `lan` runs over an emulated link (a shaping relay on loopback).
    #[arg(long, default_value = "lan", value_parser = parse_network)]
    pub network: Network,
    /// Seconds after which a party that has not finished is stopped.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Run server and client over plaintext TCP instead of mutual TLS (for
    /// loopback benchmarks; nothing is encrypted or authenticated).
    #[arg(long)]
    pub insecure_plaintext: bool,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let saved = match load_plan(&args.file)? {
        Ok(saved) => saved,
        Err(code) => return Ok(code),
    };
    let rows = load_inputs(&saved.plan, &args.input)?
        .first()
        .map_or(0, |b| b.rows);
    // A .nn file is compiled for the chosen network (the plan `chimera cost
    // --network …` reports; for `lan` the plan `chimera compile` makes); a
    // .ron plan runs as it was compiled.
    let saved = if args.file.extension().is_some_and(|e| e == "nn") {
        bench::compile_for(&args.file, &args.network, 1)?
    } else {
        saved
    };
    let plan = &saved.plan;
    // The rows size every party's buffers: bounded before any is started.
    chimera_runtime::limits::batch(plan, rows)?;
    let scratch = Scratch::new("run")?;
    let plan_file = scratch.path().join("plan.ron");
    SavedPlan::new(plan.clone(), saved.debug.clone())?.save(&plan_file)?;
    let material = scratch.path().join("material");
    let deadline = Duration::from_secs(args.timeout);
    let launcher = if args.insecure_plaintext {
        eprintln!("{}", crate::link::PLAINTEXT_NOTICE);
        Launcher::plaintext(deadline)?
    } else {
        Launcher::tls(deadline, &scratch.path().join("keys"))?
    };

    // Offline: the dealer.
    let offline_seconds = launcher.deal(&plan_file, 1, rows, &material)?.seconds;

    // Online: the server, then the client (through the link shaper when
    // the network is emulated).
    let server = launcher.serve(&plan_file, &args.weights, &material, 1)?;
    let shaper = match bench::link_for(&args.network) {
        Some(link) => Some(Shaper::start(server.addr(), link)?),
        None => None,
    };
    let connect = shaper
        .as_ref()
        .map_or_else(|| server.addr().to_string(), |s| s.local_addr().to_string());
    let client = launcher.query(&plan_file, &args.input, &material, &connect);
    let server = server.finish();
    let result = match (client, server) {
        (Ok(c), Ok(_)) => c,
        (Err(c), Err(s)) => bail!("{c:#}\n{s:#}"),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
    };
    drop(shaper);

    let predicted = cost::plan_cost(plan, rows)?;
    let (_, times) = bench::estimate(plan, &args.network, rows)?;
    let p = predicted.query.client;
    let measured = &result["measured"];
    let predicted_json = json!({
        "online_bytes": p.bytes_sent + p.bytes_received,
        "rounds": p.rounds,
        "online_seconds": times.online(),
        "offline_seconds": times.offline_transfer + times.offline_compute,
    });
    let measured_json = json!({
        "online_bytes": measured["online_bytes"],
        "rounds": measured["rounds"],
        "online_seconds": measured["online_seconds"],
        "offline_seconds": offline_seconds,
    });
    let exact = measured_json["online_bytes"] == predicted_json["online_bytes"]
        && measured_json["rounds"] == predicted_json["rounds"];
    let note = bench::link_note(&args.network);
    if args.json {
        let out = json!({
            "model": plan.model,
            "plan_hash": plan.hash()?.to_hex(),
            "rows": rows,
            "channel": launcher.channel(),
            "network": {
                "name": args.network.name,
                "rtt_us": args.network.rtt_us,
                "bandwidth_bps": args.network.bandwidth_bps,
                "emulated": shaper_used(&args.network),
                "note": note,
            },
            "output": result["output"],
            "measured": measured_json,
            "predicted": predicted_json,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "private inference of `{}` (plan {}): the weights stay in the server process, the input in the client's; dealer material made offline; {}",
            plan.model,
            plan.hash()?.short(),
            launcher.channel_note()
        );
        println!("link: {note}");
        print!("{}", render(&result["output"], rows));
        println!(
            "online: measured {} B, {} rounds, {:.2} ms | predicted {} B, {} rounds{}, {:.2} ms ({}) | offline: dealer {:.2} s, predicted {:.2} s",
            measured_json["online_bytes"],
            measured_json["rounds"],
            measured["online_seconds"].as_f64().unwrap_or(0.0) * 1e3,
            predicted_json["online_bytes"],
            predicted_json["rounds"],
            if exact { " (exact match)" } else { " (MISMATCH)" },
            times.online() * 1e3,
            args.network.name,
            offline_seconds,
            times.offline_transfer + times.offline_compute,
        );
    }
    if !exact {
        eprintln!("error: measured traffic differs from the cost model's prediction; this is a bug, please report it");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn shaper_used(network: &Network) -> bool {
    bench::link_for(network).is_some()
}

/// One line per row from the client's JSON outputs.
fn render(outputs: &Value, rows: usize) -> String {
    let mut s = String::new();
    let outputs = outputs.as_array().cloned().unwrap_or_default();
    for r in 0..rows {
        let parts: Vec<String> = outputs
            .iter()
            .map(|o| {
                let name = o["name"].as_str().unwrap_or("?");
                let v = &o["rows"][r];
                match v.as_array() {
                    Some(scores) => format!(
                        "{name} [{}]",
                        scores
                            .iter()
                            .map(|x| format!("{:.4}", x.as_f64().unwrap_or(f64::NAN)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("{name} {v}"),
                }
            })
            .collect();
        s.push_str(&format!("row {r}: {}\n", parts.join("  ")));
    }
    s
}
