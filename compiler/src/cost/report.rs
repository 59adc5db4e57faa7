//! Cost reports of a plan: per layer and in total, under a network and a
//! calibration profile, beside the all-GMW and all-Yao alternatives; as a
//! table for people (comfy-table, units in every header), as JSON for
//! programs, and as Graphviz DOT coloured by protocol.
//!
//! Every figure of traffic is the [`CostOracle`]'s exact per-step cost (the
//! runtime's, in the real command); steps are grouped by the source layer
//! they come from, so a layer's row includes its truncation and the
//! conversions of its output.
//!
//! Dealer bytes are stated per party. A layer's `dealer_bytes` (as
//! `dealer_bytes_to_client`) are the explicit words its steps make the
//! dealer send the client ([`chimera_runtime::circuit::dealer_bytes`]); its
//! `dealer_bytes_to_server` are 0, the server's share of every item being
//! expanded from its seed. A plan's totals add the material files of one
//! query ([`DealerFiles`]): their exact sizes, framing, seed and inventory
//! included, from the runtime's demand and file layout
//! ([`chimera_runtime::cost::demand`],
//! [`chimera_runtime::dealer::material_file_len`]), which belong to no layer.

use super::{estimate, CostOracle, Estimate, Network, Objective, Profile, Times};
use chimera_runtime::plan::{Op, Party, Plan, Protocol, Reveal, ValueInfo};
use serde_json::{json, Value};

/// One layer's row.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    /// Source layer (tensor name), or `reveal <name>` for an output.
    pub layer: String,
    /// The operations of its steps, conversions excluded (`conv2d+truncate`).
    pub operation: String,
    /// Output shape of its last computing step.
    pub shape: Vec<usize>,
    /// Protocols its computing steps run in (`A`, `B`, `A+B`).
    pub protocol: String,
    /// Its conversions (`A→B`), in plan order.
    pub conversions: Vec<String>,
    /// Summed cost.
    pub estimate: Estimate,
}

/// The dealer's material files for one query of a plan: their exact sizes,
/// as `chimera dealer` writes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DealerFiles {
    /// The server's file (binding, seed and inventory; no explicit words).
    pub server: u64,
    /// The client's file (the same header, its explicit words).
    pub client: u64,
}

/// The material files of one query of `batch` rows of `plan`: the
/// runtime's demand ([`chimera_runtime::cost::demand`], what the executor
/// consumes) sized by the material file layout
/// ([`chimera_runtime::dealer::material_file_len`]).
pub fn dealer_files(plan: &Plan, batch: usize) -> Result<DealerFiles, String> {
    let demand =
        chimera_runtime::cost::demand(plan, batch, 1).map_err(|e| format!("dealer demand: {e}"))?;
    let len = |party| {
        chimera_runtime::dealer::material_file_len(party, &demand)
            .map_err(|e| format!("the {party}'s material file: {e}"))
    };
    Ok(DealerFiles {
        server: len(Party::Server)?,
        client: len(Party::Client)?,
    })
}

/// The cost of one plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanCost {
    /// Per layer, in plan order, then the reveals.
    pub layers: Vec<LayerRow>,
    /// Sum of every row.
    pub total: Estimate,
    /// The dealer's material files per query ([`dealer_files`]).
    pub dealer_files: DealerFiles,
}

fn letters(ps: &[Protocol]) -> String {
    let mut v: Vec<Protocol> = ps.to_vec();
    v.sort();
    v.dedup();
    v.iter()
        .map(|p| p.letter().to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Cost every step and every reveal of `plan` (traffic from `oracle`), and
/// size its dealer material files ([`dealer_files`], from the runtime).
pub fn plan_cost(plan: &Plan, oracle: &dyn CostOracle, batch: usize) -> Result<PlanCost, String> {
    let mut layers: Vec<(LayerRow, Vec<Protocol>)> = Vec::new();
    for spec in &plan.inputs {
        let v = plan.value(spec.value);
        let cost = oracle
            .input(v, batch)
            .map_err(|e| format!("input `{}`: {e}", v.name))?;
        layers.push((
            LayerRow {
                layer: format!("input {}", v.name),
                operation: format!("share from {}", spec.owner),
                shape: v.shape.clone(),
                protocol: String::new(),
                conversions: Vec::new(),
                estimate: Estimate {
                    cost,
                    counts: Default::default(),
                },
            },
            vec![v.protocol],
        ));
    }
    for (i, step) in plan.steps.iter().enumerate() {
        let inputs: Vec<&ValueInfo> = step.inputs.iter().map(|&v| plan.value(v)).collect();
        let output = plan.value(step.output);
        let e = estimate(oracle, &step.op, step.protocol, &inputs, output, batch)
            .map_err(|e| format!("step {i} ({} of `{}`): {e}", step.op.name(), step.layer))?;
        let pos = match layers.iter().position(|(r, _)| r.layer == step.layer) {
            Some(p) => p,
            None => {
                layers.push((
                    LayerRow {
                        layer: step.layer.clone(),
                        operation: String::new(),
                        shape: Vec::new(),
                        protocol: String::new(),
                        conversions: Vec::new(),
                        estimate: Estimate::default(),
                    },
                    Vec::new(),
                ));
                layers.len() - 1
            }
        };
        let (row, protos) = &mut layers[pos];
        row.estimate = row.estimate + e;
        if matches!(step.op, Op::Convert) {
            let from = inputs.first().map_or(step.protocol, |v| v.protocol);
            row.conversions
                .push(format!("{}→{}", from.letter(), step.protocol.letter()));
        } else {
            if !row.operation.is_empty() {
                row.operation.push('+');
            }
            row.operation.push_str(step.op.name());
            row.shape = output.shape.clone();
            protos.push(step.protocol);
        }
    }
    let mut rows: Vec<LayerRow> = layers
        .into_iter()
        .map(|(mut r, p)| {
            r.protocol = letters(&p);
            r
        })
        .collect();
    for out in &plan.outputs {
        let v = plan.value(out.value);
        let cost = oracle
            .reveal(v, out.to, batch)
            .map_err(|e| format!("reveal of `{}`: {e}", out.name))?;
        rows.push(LayerRow {
            layer: format!("reveal {}", out.name),
            operation: format!("open to {}", out.to),
            shape: v.shape.clone(),
            protocol: v.protocol.letter().to_string(),
            conversions: Vec::new(),
            estimate: Estimate {
                cost,
                counts: Default::default(),
            },
        });
    }
    let total = rows.iter().map(|r| r.estimate).sum();
    Ok(PlanCost {
        layers: rows,
        total,
        dealer_files: dealer_files(plan, batch)?,
    })
}

/// A full report: the optimal plan's layers and the alternatives' totals.
#[derive(Clone, Debug)]
pub struct Report {
    /// Model name.
    pub model: String,
    /// The network.
    pub network: Network,
    /// The profile.
    pub profile: Profile,
    /// The objective the optimal plan minimizes.
    pub objective: Objective,
    /// Inferences per query.
    pub batch: usize,
    /// The optimal plan's cost.
    pub optimal: PlanCost,
    /// All comparisons in GMW (linear algebra in A).
    pub all_gmw: PlanCost,
    /// All comparisons in Yao (linear algebra in A).
    pub all_yao: PlanCost,
    /// What is opened to whom, one sentence per output.
    pub revealed: Vec<String>,
}

/// The "revealed" sentences of a plan.
pub fn revealed(plan: &Plan) -> Vec<String> {
    plan.outputs
        .iter()
        .map(|o| {
            let v = plan.value(o.value);
            let what = match o.reveal {
                Reveal::Label => "the class label (one integer)".to_string(),
                Reveal::Scores => format!("the scores {:?} (fixed point)", v.shape),
            };
            format!(
                "`{}`: {what} to the {} only; the {} learns nothing",
                o.name,
                o.to,
                o.to.peer()
            )
        })
        .collect()
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

fn totals_json(e: &Estimate, t: &Times, files: &DealerFiles) -> Value {
    let c = &e.cost;
    json!({
        "rounds": c.rounds,
        "online_bytes": c.online_bytes(),
        "online_bytes_server_to_client": c.bytes_server_to_client,
        "online_bytes_client_to_server": c.bytes_client_to_server,
        "ahead_of_query_bytes": c.ahead_of_query_bytes,
        "dealer_bytes": c.dealer_bytes,
        "dealer_bytes_to_server": files.server,
        "dealer_bytes_to_client": files.client,
        "offline_bytes": e.offline_bytes(),
        "and_gates": c.and_gates,
        "est_online_seconds": t.online(),
        "est_latency_seconds": t.latency,
        "est_transfer_seconds": t.transfer,
        "est_compute_seconds": t.compute,
        "est_total_seconds": t.total(),
    })
}

impl Report {
    fn times(&self, e: &Estimate) -> Times {
        e.times(&self.network, &self.profile)
    }

    fn totals_json(&self, pc: &PlanCost) -> Value {
        totals_json(&pc.total, &self.times(&pc.total), &pc.dealer_files)
    }

    /// Machine-readable report.
    pub fn to_json(&self) -> Value {
        let layers: Vec<Value> = self
            .optimal
            .layers
            .iter()
            .map(|r| {
                let c = &r.estimate.cost;
                let t = self.times(&r.estimate);
                json!({
                    "layer": r.layer,
                    "operation": r.operation,
                    "shape": r.shape,
                    "protocol": r.protocol,
                    "conversions": r.conversions,
                    "rounds": c.rounds,
                    "online_bytes_server_to_client": c.bytes_server_to_client,
                    "online_bytes_client_to_server": c.bytes_client_to_server,
                    "ahead_of_query_bytes": c.ahead_of_query_bytes,
                    "dealer_bytes": c.dealer_bytes,
                    "dealer_bytes_to_client": c.dealer_bytes,
                    "dealer_bytes_to_server": 0,
                    "and_gates": c.and_gates,
                    "est_online_seconds": t.online(),
                })
            })
            .collect();
        let mut out = json!({
            "model": self.model,
            "network": {"name": self.network.name, "rtt_us": self.network.rtt_us, "bandwidth_bps": self.network.bandwidth_bps},
            "objective": self.objective.name(),
            "batch": self.batch,
            "layers": layers,
            "totals": self.totals_json(&self.optimal),
            "alternatives": {
                "all_gmw": self.totals_json(&self.all_gmw),
                "all_yao": self.totals_json(&self.all_yao),
                "optimal": self.totals_json(&self.optimal),
            },
            "revealed": self.revealed,
        });
        if self.batch > 1 {
            let t = self.times(&self.optimal.total);
            let b = self.batch as f64;
            out["per_sample"] = json!({
                "online_bytes": self.optimal.total.cost.online_bytes() as f64 / b,
                "offline_bytes": self.optimal.total.offline_bytes() as f64 / b,
                "est_online_seconds": t.online() / b,
            });
        }
        out
    }

    /// The table for people.
    pub fn to_table(&self) -> String {
        use comfy_table::{presets::UTF8_FULL_CONDENSED, CellAlignment, Table};
        let mut out = format!(
            "{} on {}, objective {}, batch {}\n",
            self.model, self.network, self.objective, self.batch
        );
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(vec![
            "layer",
            "operation",
            "shape",
            "protocol",
            "conversions",
            "rounds",
            "online s→c (B)",
            "online c→s (B)",
            "ahead of query (B)",
            "dealer→client (B)",
            "est. online (ms)",
        ]);
        let row = |name: &str, op: &str, shape: String, p: &str, conv: String, e: &Estimate| {
            let c = &e.cost;
            vec![
                name.to_string(),
                op.to_string(),
                shape,
                p.to_string(),
                conv,
                c.rounds.to_string(),
                c.bytes_server_to_client.to_string(),
                c.bytes_client_to_server.to_string(),
                c.ahead_of_query_bytes.to_string(),
                c.dealer_bytes.to_string(),
                ms(self.times(e).online()),
            ]
        };
        for r in &self.optimal.layers {
            t.add_row(row(
                &r.layer,
                &r.operation,
                format!("{:?}", r.shape),
                &r.protocol,
                if r.conversions.is_empty() {
                    "—".into()
                } else {
                    r.conversions.join(" ")
                },
                &r.estimate,
            ));
        }
        t.add_row(row(
            "total",
            "",
            String::new(),
            "",
            String::new(),
            &self.optimal.total,
        ));
        for col in 5..11 {
            if let Some(c) = t.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push_str(&t.to_string());
        out.push('\n');
        let files = &self.optimal.dealer_files;
        out.push_str(&format!(
            "dealer material per query (file sizes): server {} B (seed and inventory), client {} B (explicit words and the same header)\n",
            files.server, files.client
        ));

        let mut alt = Table::new();
        alt.load_preset(UTF8_FULL_CONDENSED);
        alt.set_header(vec![
            "plan",
            "rounds",
            "online (B)",
            "offline (B)",
            "est. online (ms)",
            "est. total (ms)",
            "optimal is faster by",
        ]);
        let best = self.times(&self.optimal.total).online();
        for (name, pc) in [
            ("all-GMW (B)", &self.all_gmw),
            ("all-Yao (Y)", &self.all_yao),
            ("optimal", &self.optimal),
        ] {
            let tm = self.times(&pc.total);
            alt.add_row(vec![
                name.to_string(),
                pc.total.cost.rounds.to_string(),
                pc.total.cost.online_bytes().to_string(),
                pc.total.offline_bytes().to_string(),
                ms(tm.online()),
                ms(tm.total()),
                if best > 0.0 {
                    format!("{:.2}×", tm.online() / best)
                } else {
                    "—".into()
                },
            ]);
        }
        for col in 1..7 {
            if let Some(c) = alt.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push_str(&alt.to_string());
        out.push('\n');
        let t = self.times(&self.optimal.total);
        out.push_str(&format!(
            "est. online {} ms = latency {} ms ({} rounds × rtt/2) + transfer {} ms + compute {} ms\n",
            ms(t.online()),
            ms(t.latency),
            self.optimal.total.cost.rounds,
            ms(t.transfer),
            ms(t.compute)
        ));
        for r in &self.revealed {
            out.push_str(&format!("revealed: {r}\n"));
        }
        if self.batch > 1 {
            let b = self.batch as f64;
            out.push_str(&format!(
                "per sample (amortized over {}): online {:.0} B, offline {:.0} B, est. online {} ms\n",
                self.batch,
                self.optimal.total.cost.online_bytes() as f64 / b,
                self.optimal.total.offline_bytes() as f64 / b,
                ms(t.online() / b)
            ));
        }
        out
    }
}

fn colour(p: Protocol) -> &'static str {
    match p {
        Protocol::Arith => "#9ecae1",
        Protocol::Gmw => "#a1d99b",
        Protocol::Yao => "#fdae6b",
    }
}

/// The plan as a Graphviz graph: a node per step coloured by protocol
/// (A blue, B green, Y orange), conversions as their own diamond nodes,
/// inputs and reveals as ellipses.
pub fn to_dot(plan: &Plan) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=TB;\n  node [style=filled, fontname=\"Helvetica\"];\n",
        esc(&plan.model)
    );
    let mut producer = vec![String::new(); plan.values.len()];
    for input in &plan.inputs {
        let v = plan.value(input.value);
        let id = format!("v{}", input.value.0);
        out.push_str(&format!(
            "  {id} [shape=ellipse, fillcolor=\"{}\", label=\"input {}\\n{:?} from {}\"];\n",
            colour(v.protocol),
            esc(&v.name),
            v.shape,
            input.owner
        ));
        producer[input.value.index()] = id;
    }
    for (i, step) in plan.steps.iter().enumerate() {
        let v = plan.value(step.output);
        let id = format!("s{i}");
        let shape = if matches!(step.op, Op::Convert) {
            "diamond"
        } else {
            "box"
        };
        let label = if matches!(step.op, Op::Convert) {
            let from = step
                .inputs
                .first()
                .map_or(step.protocol, |&x| plan.value(x).protocol);
            format!("{}→{}", from.letter(), step.protocol.letter())
        } else {
            format!(
                "{} {}\\n{:?} [{}]",
                step.op.name(),
                esc(&v.name),
                v.shape,
                step.protocol.letter()
            )
        };
        out.push_str(&format!(
            "  {id} [shape={shape}, fillcolor=\"{}\", label=\"{label}\"];\n",
            colour(step.protocol)
        ));
        for &x in &step.inputs {
            out.push_str(&format!("  {} -> {id};\n", producer[x.index()]));
        }
        producer[step.output.index()] = id;
    }
    for (k, o) in plan.outputs.iter().enumerate() {
        out.push_str(&format!(
            "  out{k} [shape=ellipse, fillcolor=white, label=\"reveal {} to {}\"];\n  {} -> out{k};\n",
            esc(&o.name),
            o.to,
            producer[o.value.index()]
        ));
    }
    out.push_str(
        "  subgraph cluster_legend { label=\"protocols\"; la [label=\"A\", fillcolor=\"#9ecae1\"]; lb [label=\"B (GMW)\", fillcolor=\"#a1d99b\"]; ly [label=\"Y (Yao)\", fillcolor=\"#fdae6b\"]; }\n}\n",
    );
    out
}

/// The plans a report compares: optimal, all-GMW and all-Yao, each compiled
/// with the optimizer under the same network, profile, objective and batch.
#[derive(Clone, Debug)]
pub struct Plans {
    /// The optimal plan.
    pub optimal: crate::Compiled,
    /// Comparisons restricted to GMW.
    pub all_gmw: crate::Compiled,
    /// Comparisons restricted to Yao.
    pub all_yao: crate::Compiled,
}

/// Settings of a report.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The network.
    pub network: Network,
    /// The profile.
    pub profile: Profile,
    /// The objective.
    pub objective: Objective,
    /// Inferences per query.
    pub batch: usize,
}

impl Settings {
    /// The optimizer for these settings, optionally restricted to one boolean protocol.
    pub fn optimizer<'o>(
        &self,
        oracle: &'o dyn CostOracle,
        only: Option<Protocol>,
    ) -> crate::passes::optimize::Optimizer<'o> {
        crate::passes::optimize::Optimizer {
            oracle,
            network: self.network.clone(),
            profile: self.profile.clone(),
            objective: self.objective,
            batch: self.batch,
            only,
        }
    }
}

/// Compile the three plans of a report.
pub fn compile_plans(
    file_name: &str,
    source: &[u8],
    settings: &Settings,
    oracle: &dyn CostOracle,
) -> Result<Plans, crate::Diagnostics> {
    let build = |only| {
        crate::passes::optimize::compile_optimized(
            file_name,
            source,
            &settings.optimizer(oracle, only),
        )
    };
    Ok(Plans {
        optimal: build(None)?,
        all_gmw: build(Some(Protocol::Gmw))?,
        all_yao: build(Some(Protocol::Yao))?,
    })
}

impl Report {
    /// Cost the three plans.
    pub fn new(
        plans: &Plans,
        settings: &Settings,
        oracle: &dyn CostOracle,
    ) -> Result<Report, String> {
        let plan = &plans.optimal.saved.plan;
        Ok(Report {
            model: plan.model.clone(),
            network: settings.network.clone(),
            profile: settings.profile.clone(),
            objective: settings.objective,
            batch: settings.batch,
            optimal: plan_cost(plan, oracle, settings.batch)?,
            all_gmw: plan_cost(&plans.all_gmw.saved.plan, oracle, settings.batch)?,
            all_yao: plan_cost(&plans.all_yao.saved.plan, oracle, settings.batch)?,
            revealed: revealed(plan),
        })
    }
}
