//! `chimera query`: the client's side of private inference.
//!
//! Reads the input, claims one unused bundle of client material, connects to
//! the server, and prints what the program reveals to the client, one line
//! per input row. The input never leaves this process unmasked.

use crate::common::{load_inputs, load_plan};
use crate::distribute::FetchArgs;
use crate::link::{LinkArgs, Security};
use crate::materials;
use crate::session_request::{self, Request};
use anyhow::Context;
use chimera_runtime::dealer::PartyMaterial;
use chimera_runtime::exec::{self, RevealedOutput, RunResult};
use chimera_runtime::plan::{Party, Plan, Reveal};
use chimera_runtime::tensor_io::Batch;
use chimera_runtime::transport::{plan_max_frame, Channel, ChannelConfig, ChannelStats, Metered};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `chimera query`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network: a compiled plan (.ron) or a .nn file (compiled here).
    pub plan: PathBuf,
    /// The input (.npy): one input or a batch with a leading row dimension.
    #[arg(long, value_name = "X.npy", required = true)]
    pub input: Vec<PathBuf>,
    /// The dealer's output directory (or its `client/` subdirectory).
    #[arg(long, value_name = "DIR")]
    pub material: PathBuf,
    /// The server's address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7470")]
    pub connect: String,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the server (to connect, and at any read).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Channel security: our identity and the server certificates accepted.
    #[command(flatten)]
    pub link: LinkArgs,
    /// Fetching the material from a dealer over TLS first.
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let saved = match load_plan(&args.plan)? {
        Ok(saved) => saved,
        Err(code) => return Ok(code),
    };
    let plan = &saved.plan;
    let inputs = load_inputs(plan, &args.input)?;
    let security = args.link.security("server")?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    args.fetch.fetch_if_asked(
        &security,
        Party::Client,
        plan.hash()?,
        &args.material,
        timeout,
    )?;
    let result = query(
        plan,
        &inputs,
        &args.material,
        &args.connect,
        &security,
        timeout,
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(plan, &result)?)?
        );
    } else {
        print!("{}", render_rows(&result.outputs));
        let q = result.stats.query;
        eprintln!(
            "online: {:.2} ms, {} B sent, {} B received, {} round(s); session set-up {:.2} ms, {} B",
            result.stats.online_seconds * 1e3,
            q.bytes_sent,
            q.bytes_received,
            q.rounds,
            result.stats.setup_seconds * 1e3,
            result.stats.session.bytes_sent + result.stats.session.bytes_received
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Claim material, connect, run the query; the client's result.
pub fn query(
    plan: &Plan,
    inputs: &[Batch],
    material_dir: &std::path::Path,
    connect: &str,
    security: &Security,
    timeout: Duration,
) -> anyhow::Result<RunResult> {
    let hash = plan.hash()?;
    let rows = inputs.first().map_or(0, |b| b.rows);
    // Check the next bundle before connecting (a wrong plan or batch is
    // reported without touching the network), but claim it only once the
    // server is authenticated, so a refused connection uses no material.
    let next = materials::peek_next(material_dir, Party::Client)?;
    materials::check_bundle(plan, &next, rows)?;
    let config = ChannelConfig {
        read_timeout: timeout,
        max_frame: plan_max_frame(plan, rows)?,
    };
    let mut ch = security
        .connect(connect, config, timeout)
        .with_context(|| format!("cannot set up a connection with the server at {connect}"))?;
    let bundle = materials::claim_next(material_dir, Party::Client)?;
    materials::check_bundle(plan, &bundle, rows)
        .with_context(|| format!("the bundle {} is now used", &bundle.session.to_hex()[..12]))?;
    let session = bundle.session;
    let mut material = PartyMaterial::open(bundle, hash, session)?;
    let request = Request {
        session,
        batch: u32::try_from(rows).context("too many rows")?,
    };
    ch.send(&request.encode())?;
    ch.flush()?;
    let reply = ch.recv().with_context(|| {
        format!(
            "waiting for the server to accept the query (this client runs plan {})",
            hash.short()
        )
    })?;
    if reply != session_request::ACCEPT {
        anyhow::bail!("the server answered the request with something else than an acceptance");
    }
    let mut metered = Metered::new(&mut ch);
    let result = exec::run_client(plan, inputs, &mut material, &mut metered)?;
    ch.confirm_transcript()?;
    Ok(result)
}

/// One line per row: labels and scores of every output.
pub fn render_rows(outputs: &[RevealedOutput]) -> String {
    let rows = outputs.first().map_or(0, |o| o.rows);
    let mut s = String::new();
    for r in 0..rows {
        let parts: Vec<String> = outputs
            .iter()
            .map(|o| match (o.reveal, o.label(r)) {
                (Reveal::Label, Some(l)) => format!("{} {l}", o.name),
                _ => format!(
                    "{} [{}]",
                    o.name,
                    o.row(r)
                        .iter()
                        .map(|v| format!("{v:.4}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
            .collect();
        s.push_str(&format!("row {r}: {}\n", parts.join("  ")));
    }
    s
}

fn stats_json(s: &ChannelStats) -> Value {
    json!({
        "bytes_sent": s.bytes_sent,
        "bytes_received": s.bytes_received,
        "messages_sent": s.messages_sent,
        "messages_received": s.messages_received,
        "rounds": s.rounds,
    })
}

/// The client's result as JSON (outputs and measured traffic).
pub fn to_json(plan: &Plan, result: &RunResult) -> anyhow::Result<Value> {
    let outputs: Vec<Value> = result
        .outputs
        .iter()
        .map(|o| {
            let rows: Vec<Value> = (0..o.rows)
                .map(|r| match (o.reveal, o.label(r)) {
                    (Reveal::Label, Some(l)) => json!(l),
                    _ => json!(o.row(r)),
                })
                .collect();
            json!({
                "name": o.name,
                "reveal": match o.reveal { Reveal::Label => "label", Reveal::Scores => "scores" },
                "rows": rows,
            })
        })
        .collect();
    let q = result.stats.query;
    Ok(json!({
        "model": plan.model,
        "plan_hash": plan.hash()?.to_hex(),
        "output": outputs,
        "measured": {
            "online_bytes": q.bytes_sent + q.bytes_received,
            "rounds": q.rounds,
            "online_seconds": result.stats.online_seconds,
            "setup_seconds": result.stats.setup_seconds,
            "query": stats_json(&q),
            "session": stats_json(&result.stats.session),
        }
    }))
}
