//! One benchmark case: a network at one batch size under one network
//! setting, measured with real processes (dealer, server, one client
//! process per query) and set beside the cost model's prediction.
//!
//! What is timed where:
//!
//! - **online latency**: the client's own clock around the query (its
//!   inputs, every step, the reveals), after the session set-up; the same
//!   figure `chimera query --json` reports as `online_seconds`;
//! - **session set-up** (ahead of the query): everything the parties send
//!   before the client's input is used — the preamble, the masked weights of
//!   every linear layer, and whatever other input-independent data the
//!   executor sends ahead — timed and counted separately;
//! - **dealer**: the wall time of one `chimera dealer` process for every
//!   query of the case, divided by the number of queries, and the bytes of
//!   the bundles it wrote;
//! - **plaintext**: the oracle in float mode on the same batch, in this
//!   process (no network, no encoding).
//!
//! Traffic must equal the prediction exactly (bytes each way and flights,
//! of the query and of the set-up, on every repetition); any difference is
//! listed in `mismatches`.

use super::setup::{self, InputSource, WeightsSource};
use crate::parties::{Launcher, Scratch};
use anyhow::{bail, Context};
use chimera_compiler::cost::Network;
use chimera_runtime::plan::SavedPlan;
use chimera_runtime::transport::shaper::{LinkProfile, Shaper};
use chimera_runtime::transport::ChannelStats;
use chimera_runtime::{cost, oracle, tensor_io, weights};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

/// What a case is.
pub struct Case<'a> {
    /// The `.nn` file.
    pub file: &'a Path,
    /// Rows per query.
    pub batch: usize,
    /// The network the plan is optimized and predicted for.
    pub network: &'a Network,
    /// The emulated link between client and server (`None`: plain loopback).
    pub link: Option<LinkProfile>,
    /// Measured repetitions.
    pub reps: usize,
    /// Discarded repetitions before them.
    pub warmup: usize,
    /// `examples/` (MNIST inputs).
    pub examples: &'a Path,
}

/// Median, minimum and maximum of some samples, and the samples.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Median (mean of the two middle samples for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Every sample, in the order measured.
    pub samples: Vec<f64>,
}

impl Summary {
    /// Summarize `samples` (at least one).
    pub fn of(samples: Vec<f64>) -> Summary {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Summary {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            samples,
        }
    }
}

/// Bytes each way and flights, as the client's channel counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Bytes the client sent.
    pub client_to_server: u64,
    /// Bytes the client received.
    pub server_to_client: u64,
    /// Flights the client sent.
    pub rounds: u64,
}

impl Traffic {
    fn of(s: &ChannelStats) -> Traffic {
        Traffic {
            client_to_server: s.bytes_sent,
            server_to_client: s.bytes_received,
            rounds: s.rounds,
        }
    }

    /// Both directions.
    pub fn bytes(&self) -> u64 {
        self.client_to_server + self.server_to_client
    }
}

/// The dealer's figures, per query.
#[derive(Clone, Debug, Serialize)]
pub struct Dealer {
    /// Queries dealt in one process.
    pub queries: usize,
    /// Wall time of the process divided by the queries.
    pub seconds_per_query: f64,
    /// Bytes of one server bundle (seeds and header).
    pub server_bytes_per_query: u64,
    /// Bytes of one client bundle.
    pub client_bytes_per_query: u64,
}

/// What the cost model predicts for the case.
#[derive(Clone, Debug, Serialize)]
pub struct Predicted {
    /// Estimated online seconds under the case's network profile.
    pub online_seconds: f64,
    /// Estimated offline seconds (dealer and ahead-of-query transfer,
    /// garbling and seed expansion).
    pub offline_seconds: f64,
    /// The query's traffic, exact.
    pub online: Traffic,
    /// The session set-up's traffic, exact.
    pub setup: Traffic,
    /// Input-independent bytes the model counts ahead of the query
    /// (masked weights, garbled tables, decoding bits).
    pub ahead_of_query_bytes: u64,
    /// Explicit dealer words the client receives, bytes.
    pub dealer_bytes: u64,
    /// Critical-path one-way flights of the query.
    pub critical_path_flights: u32,
}

/// One case's figures.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// The model's name.
    pub model: String,
    /// The `.nn` file.
    pub file: String,
    /// Rows per query.
    pub batch: usize,
    /// Plan hash.
    pub plan_hash: String,
    /// Protocols used by the plan's steps (`A`, `B`, `Y`), for the reader.
    pub protocols: String,
    /// Where the weights come from.
    pub weights: String,
    /// Where the inputs come from.
    pub inputs: String,
    /// Whether trained weights were used.
    pub trained: bool,
    /// Online latency of a query, seconds.
    pub online_seconds: Summary,
    /// Rows per second at the median latency.
    pub throughput_per_second: f64,
    /// The query's traffic (identical on every repetition).
    pub online: Traffic,
    /// The session set-up's traffic: ahead of the query.
    pub setup: Traffic,
    /// The session set-up's time, seconds.
    pub setup_seconds: Summary,
    /// The dealer.
    pub dealer: Dealer,
    /// The float oracle's time on the same batch, seconds.
    pub plaintext_seconds: Summary,
    /// Median online latency over median plaintext time.
    pub secure_over_plaintext: f64,
    /// The prediction.
    pub predicted: Predicted,
    /// Measured traffic equals the prediction on every repetition.
    pub exact: bool,
    /// What differed, if anything.
    pub mismatches: Vec<String>,
    /// Labels the client learned on the last repetition (label outputs).
    pub labels: Vec<u64>,
    /// Bytes the link shaper carried per query (client→server,
    /// server→client), TCP payload, when emulating.
    pub wire_bytes_per_query: Option<[u64; 2]>,
}

fn stats(v: &Value) -> anyhow::Result<ChannelStats> {
    serde_json::from_value(v.clone()).context("the client's JSON has no channel counters")
}

fn bundle_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Measure one case.
pub fn run_case(case: &Case<'_>, launcher: &Launcher) -> anyhow::Result<CaseResult> {
    if case.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let scratch = Scratch::new("bench")?;
    let saved = setup::compile(case.file, case.network, case.batch)?;
    let plan = &saved.plan;
    // The batch sizes the inputs made up below: bounded for this plan first.
    chimera_runtime::limits::batch(plan, case.batch)?;
    let plan_file = scratch.path().join("plan.ron");
    SavedPlan::new(plan.clone(), saved.debug.clone())?.save(&plan_file)?;
    let weights_src = setup::weights(case.file, plan, scratch.path())?;
    let input = setup::inputs(plan, case.batch, case.examples, scratch.path())?;

    // Offline: one dealer process for every query of the case.
    let queries = case.warmup + case.reps;
    let material = scratch.path().join("material");
    let dealt = launcher.deal(&plan_file, queries, case.batch, &material)?;
    let dealer = Dealer {
        queries,
        seconds_per_query: dealt.seconds / queries as f64,
        server_bytes_per_query: bundle_bytes(&material.join("server")) / queries as u64,
        client_bytes_per_query: bundle_bytes(&material.join("client")) / queries as u64,
    };

    // Online: one server, one client process per query.
    let server = launcher.serve(&plan_file, weights_src.path(), &material, queries)?;
    let shaper = match case.link {
        Some(link) => Some(Shaper::start(server.addr(), link)?),
        None => None,
    };
    let connect = shaper
        .as_ref()
        .map_or_else(|| server.addr().to_string(), |s| s.local_addr().to_string());
    let mut replies = Vec::with_capacity(case.reps);
    for i in 0..queries {
        let reply = launcher
            .query(
                &plan_file,
                std::slice::from_ref(&input.path),
                &material,
                &connect,
            )
            .with_context(|| format!("query {} of {queries}", i + 1))?;
        if i >= case.warmup {
            replies.push(reply);
        }
    }
    server.finish()?;
    let wire = shaper.map(|s| {
        let t = s.traffic();
        [
            t.to_upstream / queries as u64,
            t.from_upstream / queries as u64,
        ]
    });

    let predicted = predict(&saved, case)?;
    let mut mismatches = Vec::new();
    let mut online_samples = Vec::new();
    let mut setup_samples = Vec::new();
    let mut first: Option<(Traffic, Traffic)> = None;
    for (i, r) in replies.iter().enumerate() {
        let m = &r["measured"];
        let q = Traffic::of(&stats(&m["query"])?);
        let s = Traffic::of(&stats(&m["session"])?);
        if q != predicted.online {
            mismatches.push(format!(
                "repetition {}: query traffic {q:?}, predicted {:?}",
                i + 1,
                predicted.online
            ));
        }
        if s != predicted.setup {
            mismatches.push(format!(
                "repetition {}: set-up traffic {s:?}, predicted {:?}",
                i + 1,
                predicted.setup
            ));
        }
        first.get_or_insert((q, s));
        online_samples.push(m["online_seconds"].as_f64().unwrap_or(f64::NAN));
        setup_samples.push(m["setup_seconds"].as_f64().unwrap_or(f64::NAN));
    }
    let (online, setup_traffic) = first.context("no repetition was measured")?;
    let labels = replies
        .last()
        .map(|r| labels_of(&r["output"]))
        .unwrap_or_default();
    let plaintext = plaintext_seconds(&saved, &weights_src, &input, case.reps)?;
    let online_seconds = Summary::of(online_samples);
    Ok(CaseResult {
        model: plan.model.clone(),
        file: case.file.display().to_string(),
        batch: case.batch,
        plan_hash: plan.hash()?.to_hex(),
        protocols: protocols(plan),
        weights: weights_src.describe(),
        inputs: input.description.clone(),
        trained: matches!(weights_src, WeightsSource::Trained(_)),
        throughput_per_second: case.batch as f64 / online_seconds.median,
        secure_over_plaintext: online_seconds.median / plaintext.median,
        online_seconds,
        online,
        setup: setup_traffic,
        setup_seconds: Summary::of(setup_samples),
        dealer,
        plaintext_seconds: plaintext,
        exact: mismatches.is_empty(),
        mismatches,
        predicted,
        labels,
        wire_bytes_per_query: wire,
    })
}

/// The cost model's figures for the case's plan.
pub fn predict(saved: &SavedPlan, case: &Case<'_>) -> anyhow::Result<Predicted> {
    let plan = &saved.plan;
    let exact = cost::plan_cost(plan, case.batch)?;
    let (total, times) = setup::estimate(plan, case.network, case.batch)?;
    Ok(Predicted {
        online_seconds: times.online(),
        offline_seconds: times.offline_transfer + times.offline_compute,
        online: Traffic::of(&exact.query.client),
        setup: Traffic::of(&exact.session.client),
        ahead_of_query_bytes: total.cost.ahead_of_query_bytes,
        dealer_bytes: total.cost.dealer_bytes,
        critical_path_flights: total.cost.rounds,
    })
}

/// `A+B`, `A+Y`, … from the plan's steps.
fn protocols(plan: &chimera_runtime::plan::Plan) -> String {
    let mut ps: Vec<_> = plan.steps.iter().map(|s| s.protocol).collect();
    ps.sort();
    ps.dedup();
    ps.iter()
        .map(|p| p.letter().to_string())
        .collect::<Vec<_>>()
        .join("+")
}

fn labels_of(outputs: &Value) -> Vec<u64> {
    outputs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["reveal"] == "label")
        .flat_map(|o| {
            o["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
        })
        .collect()
}

/// Time the float oracle on the case's batch, `reps` times after one warm-up.
fn plaintext_seconds(
    saved: &SavedPlan,
    weights_src: &WeightsSource,
    input: &InputSource,
    reps: usize,
) -> anyhow::Result<Summary> {
    let plan = &saved.plan;
    let bound = weights::load(plan, weights_src.path())?;
    let info = plan.value(plan.inputs[0].value);
    let batch = tensor_io::load_npy(&input.path)?.into_batch(&info.name, &info.shape)?;
    let inputs = [batch];
    oracle::evaluate(plan, &bound, &inputs, oracle::Mode::Float)?;
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let out = oracle::evaluate(plan, &bound, &inputs, oracle::Mode::Float)?;
        samples.push(t.elapsed().as_secs_f64());
        std::hint::black_box(out);
    }
    Ok(Summary::of(samples))
}
