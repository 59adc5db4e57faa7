//! The benchmark's two outputs: JSON for programs (and for
//! `scripts/benchmarks_md.py`, which writes `docs/benchmarks.md` from it),
//! and a table for people with the prediction beside each measured figure.
//!
//! The JSON document (`"format": "chimera-bench/1"`) holds the settings
//! (network profile, whether it was emulated, repetitions, machine, build)
//! and one object per case with the fields of [`CaseResult`].

use super::{Args, CaseResult};
use chimera_compiler::cost::Network;
use comfy_table::{presets::UTF8_FULL_CONDENSED, CellAlignment, Table};
use serde_json::{json, Value};

/// The machine the figures come from: OS, CPU model, hardware threads.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cpu": cpu,
        "threads": std::thread::available_parallelism().map_or(0, |n| n.get()),
    })
}

/// The 1-minute load average (`/proc/loadavg`), if the system reports one:
/// the benchmark shares the machine with whatever else runs.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The whole run as JSON; `load_before` is the load average at the start.
pub fn to_json(
    args: &Args,
    note: &str,
    channel: &str,
    load_before: Option<f64>,
    results: &[CaseResult],
) -> Value {
    let emulated = super::link_for(&args.network).is_some();
    json!({
        "format": "chimera-bench/1",
        "network": {
            "name": args.network.name,
            "rtt_us": args.network.rtt_us,
            "bandwidth_bps": args.network.bandwidth_bps,
            "emulated": emulated,
            "note": note,
        },
        "channel": channel,
        "reps": args.reps,
        "warmup": args.warmup,
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "version": env!("CARGO_PKG_VERSION"),
        "machine": machine(),
        "load_average": {"start": load_before, "end": load_average()},
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        "results": results,
    })
}

fn ms(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

fn kb(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.2} MB", b as f64 / 1e6)
    } else {
        format!("{:.1} kB", b as f64 / 1e3)
    }
}

/// The table for people: measured, and predicted in parentheses.
pub fn to_table(network: &Network, note: &str, channel: &str, results: &[CaseResult]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "network",
        "batch",
        "online median (pred.)",
        "min / max",
        "inferences/s",
        "c→s (pred.)",
        "s→c (pred.)",
        "rounds (pred.)",
        "ahead of query",
        "dealer / query",
        "plaintext",
        "secure / plain",
    ]);
    for r in results {
        let p = &r.predicted;
        t.add_row(vec![
            format!("{}{}", r.model, if r.trained { "" } else { " *" }),
            r.batch.to_string(),
            format!("{} ({})", ms(r.online_seconds.median), ms(p.online_seconds)),
            format!(
                "{} / {}",
                ms(r.online_seconds.min),
                ms(r.online_seconds.max)
            ),
            format!("{:.1}", r.throughput_per_second),
            format!(
                "{} ({})",
                kb(r.online.client_to_server),
                kb(p.online.client_to_server)
            ),
            format!(
                "{} ({})",
                kb(r.online.server_to_client),
                kb(p.online.server_to_client)
            ),
            format!(
                "{} ({}){}",
                r.online.rounds,
                p.online.rounds,
                if r.exact { "" } else { " MISMATCH" }
            ),
            kb(r.setup.bytes()),
            format!(
                "{}, {}",
                ms(r.dealer.seconds_per_query),
                kb(r.dealer.client_bytes_per_query + r.dealer.server_bytes_per_query)
            ),
            ms(r.plaintext_seconds.median),
            format!("{:.0}×", r.secure_over_plaintext),
        ]);
    }
    for col in 1..12 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!(
        "private inference benchmark, network {network}\nlink: {note}\nchannel: {channel}\n"
    );
    out.push_str(&t.to_string());
    out.push('\n');
    out.push_str(
        "online = the client's query after session set-up; (pred.) = the cost model's prediction; \
         bytes and rounds are the client's channel counters, which must equal the prediction exactly; \
         ahead of query = what the client's channel counts before its input is used (preamble, masked weights, other input-independent data); plaintext = float oracle on the same batch\n",
    );
    if results.iter().any(|r| !r.trained) {
        out.push_str("* seeded random weights of the right shapes (no trained weights shipped for this network)\n");
    }
    for r in results.iter().filter(|r| !r.exact) {
        out.push_str(&format!(
            "MISMATCH {} batch {}: {}\n",
            r.model,
            r.batch,
            r.mismatches.join("; ")
        ));
    }
    out
}
