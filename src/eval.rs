//! `chimera eval`: run a network in the clear with the plaintext oracle.
//!
//! The network is a `.nn` file (compiled here, exactly as `chimera compile`
//! would) or an already compiled plan (`.ron`). The server's weights are
//! bound to the plan, the input file is matched against the plan's input
//! shape (one input, or a batch with a leading row dimension), and the oracle
//! prints what the program reveals, one line per input row. `--layers` runs
//! the float model beside the fixed-point one and reports each step's error
//! and headroom; `--json` prints the same as JSON.

use crate::common::{load_inputs, load_plan};
use chimera_runtime::oracle::{self, Comparison, Evaluation, LayerReport, Mode, Tolerance};
use chimera_runtime::plan::{Encoding, Plan, Reveal, SavedPlan};
use chimera_runtime::weights;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `chimera eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network: a .nn source file, or a compiled plan (.ron).
    pub file: PathBuf,
    /// The server's weights (safetensors, float32 or float64, `<layer>.weight`/`<layer>.bias`).
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// The input (.npy, float32 or float64): one input of the declared shape,
    /// or a batch with a leading row dimension. Repeat for a plan with several
    /// inputs, in the order they are declared.
    #[arg(long, value_name = "X.npy", required = true)]
    pub input: Vec<PathBuf>,
    /// Evaluate in f64 floating point instead of the 64-bit fixed-point ring.
    #[arg(long)]
    pub float: bool,
    /// Print machine-readable JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Also run the other mode and report, per layer, the fixed-point error
    /// against float and how close values came to overflowing.
    #[arg(long)]
    pub layers: bool,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let saved = match load_plan(&args.file)? {
        Ok(saved) => saved,
        Err(code) => return Ok(code),
    };
    let plan = &saved.plan;
    let bound = weights::load(plan, &args.weights)?;
    if !bound.unused.is_empty() {
        eprintln!(
            "warning: {}: tensors not used by any layer of the plan: {}",
            args.weights.display(),
            bound.unused.join(", ")
        );
    }
    let batches = load_inputs(plan, &args.input)?;
    let mode = if args.float { Mode::Float } else { Mode::Fixed };
    let (evaluation, report) = if args.layers {
        let tolerance = Tolerance::for_frac_bits(plan.fixed.frac_bits);
        let Comparison {
            fixed,
            float,
            report,
        } = oracle::compare(plan, &bound, &batches, tolerance)?;
        (if args.float { float } else { fixed }, Some(report))
    } else {
        (oracle::evaluate(plan, &bound, &batches, mode)?, None)
    };
    if args.json {
        let value = to_json(&saved, &evaluation, report.as_ref());
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        eprintln!("{}", header(&saved, mode));
        print!("{}", render_rows(&evaluation));
        if let Some(report) = &report {
            println!();
            println!("per step: fixed-point result against float (all rows)");
            print!("{}", report.render());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line saying what runs and what the program reveals.
fn header(saved: &SavedPlan, mode: Mode) -> String {
    let plan = &saved.plan;
    let reveals = plan
        .outputs
        .iter()
        .map(|o| {
            let what = match o.reveal {
                Reveal::Label => "label",
                Reveal::Scores => "scores",
            };
            format!("`{}` ({what}) to the {}", o.name, o.to)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let arith = match mode {
        Mode::Fixed => format!(
            "fixed point, {} fraction bits in Z_2^{}",
            plan.fixed.frac_bits, plan.fixed.ring_bits
        ),
        Mode::Float => "float (f64)".to_string(),
    };
    format!(
        "oracle: model `{}`, plan {}, {arith}; reveals {reveals}",
        plan.model,
        &saved.hash[..12.min(saved.hash.len())]
    )
}

/// `row R: NAME VALUE  NAME VALUE` for every row.
fn render_rows(evaluation: &Evaluation) -> String {
    let mut out = String::new();
    for r in 0..evaluation.rows {
        let parts: Vec<String> = evaluation
            .outputs
            .iter()
            .map(|o| {
                let value = match o.label(r) {
                    Some(label) => label.to_string(),
                    None => format!(
                        "[{}]",
                        o.row(r)
                            .iter()
                            .map(|v| format!("{v:.4}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                format!("{} {value}", o.name)
            })
            .collect();
        out.push_str(&format!("row {r}: {}\n", parts.join("  ")));
    }
    out
}

/// The machine-readable result.
fn to_json(saved: &SavedPlan, evaluation: &Evaluation, report: Option<&LayerReport>) -> Value {
    let plan: &Plan = &saved.plan;
    let rows: Vec<Value> = (0..evaluation.rows)
        .map(|r| {
            let mut row = serde_json::Map::new();
            row.insert("row".into(), json!(r));
            for o in &evaluation.outputs {
                let v = match o.label(r) {
                    Some(label) => json!(label),
                    None => json!(o.row(r)),
                };
                row.insert(o.name.clone(), v);
            }
            Value::Object(row)
        })
        .collect();
    let outputs: Vec<Value> = evaluation
        .outputs
        .iter()
        .map(|o| {
            json!({
                "name": o.name,
                "reveal": match o.reveal { Reveal::Label => "label", Reveal::Scores => "scores" },
                "to": o.to.to_string(),
                "shape": o.shape,
                "encoding": match o.encoding {
                    Encoding::Integer => json!("integer"),
                    Encoding::Fixed { frac_bits } => json!({ "fixed": { "frac_bits": frac_bits } }),
                },
            })
        })
        .collect();
    let mut value = json!({
        "model": plan.model,
        "plan_hash": saved.hash,
        "mode": evaluation.mode.name(),
        "ring_bits": plan.fixed.ring_bits,
        "frac_bits": plan.fixed.frac_bits,
        "outputs": outputs,
        "rows": rows,
    });
    if let Some(report) = report {
        value["layers"] = json!({
            "tolerance": { "abs": report.tolerance.abs, "rel": report.tolerance.rel },
            "first_out_of_tolerance": report.first_out_of_tolerance.map(|i| report.steps[i].step),
            "warnings": report.warnings,
            "steps": report.steps.iter().map(|s| json!({
                "step": s.step,
                "layer": s.layer,
                "op": s.op,
                "frac_bits": s.frac_bits,
                "max_abs_error": s.max_abs_error,
                "mean_abs_error": s.mean_abs_error,
                "max_float": s.max_float,
                "headroom_bits": s.headroom_bits,
                "wrapped": s.wrapped,
                "mismatches": s.mismatches,
                "within_tolerance": s.within_tolerance,
            })).collect::<Vec<_>>(),
        });
    }
    value
}
