//! Per-step diagnostics of the fixed-point run against the float run.
//!
//! For every step the report gives the largest and mean absolute error of the
//! decoded fixed result against the float result, the largest magnitude of
//! the float values, and the largest ring magnitude the fixed run reached,
//! measured against the headroom: probabilistic truncation in A is correct
//! only while `|x| < 2^62`, so [`HEADROOM_BITS`] is 62 and a step that comes
//! within 2^8 of it ([`NEAR_OVERFLOW_MARGIN_BITS`]) is flagged. A step whose
//! float result would need `2^63` or more in the ring wrapped around: its
//! fixed result is garbage. The first step out of [`Tolerance`] names where
//! precision was lost.

use super::exec::frac_bits_of;
use super::Evaluation;
use crate::plan::{Op, Plan};
use std::fmt::Write as _;

/// Values must stay below `2^HEADROOM_BITS` in magnitude for the A-protocol
/// truncation to be correct (error at most one unit).
pub const HEADROOM_BITS: u32 = 62;

/// A step whose values come within `2^NEAR_OVERFLOW_MARGIN_BITS` of the
/// headroom is warned about.
pub const NEAR_OVERFLOW_MARGIN_BITS: u32 = 8;

/// `2^63`: a value needing this magnitude in the ring has wrapped around.
const RING_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// How far a fixed result may be from the float one before a step counts
/// as out of tolerance: `max |fixed − float| ≤ abs + rel · max |float|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub abs: f64,
    /// Part relative to the step's largest float magnitude.
    pub rel: f64,
}

impl Tolerance {
    /// The default for a format with `frac_bits` fraction bits: 256 units in
    /// the last place plus 1 % of the step's largest magnitude. Rounding the
    /// weights and flooring every truncation cost a few ulp per layer, grown
    /// by the weights' norms; 1 % of the range is well below what changes a
    /// classification.
    pub fn for_frac_bits(frac_bits: u32) -> Tolerance {
        Tolerance {
            abs: 256.0 / (frac_bits as f64).exp2(),
            rel: 0.01,
        }
    }

    /// The bound for a step whose float values reach `max_float`.
    pub fn bound(&self, max_float: f64) -> f64 {
        self.abs + self.rel * max_float
    }
}

/// The measurements of one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepStats {
    /// Step index in the plan.
    pub step: usize,
    /// Source layer.
    pub layer: String,
    /// Operation name.
    pub op: &'static str,
    /// Fraction bits of the result (`None` for an integer such as a label).
    pub frac_bits: Option<u32>,
    /// Elements compared (all rows).
    pub count: usize,
    /// Largest `|fixed − float|` (decoded); for integers, 0 or 1 per mismatch.
    pub max_abs_error: f64,
    /// Mean `|fixed − float|`.
    pub mean_abs_error: f64,
    /// Largest `|float|`.
    pub max_float: f64,
    /// Largest ring magnitude `|x as i64|` of the fixed run.
    pub max_ring: u64,
    /// `HEADROOM_BITS − bits(max_ring)`: how many doublings are left.
    pub headroom_bits: i32,
    /// The float values needed 2^63 or more in the ring: the fixed result wrapped.
    pub wrapped: bool,
    /// For integer steps: rows whose fixed and float results differ.
    pub mismatches: usize,
    /// Within the tolerance (integer steps always count as within).
    pub within_tolerance: bool,
}

/// What [`super::compare`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReport {
    /// The tolerance used.
    pub tolerance: Tolerance,
    /// One entry per step, except reshapes and conversions (which copy their input).
    pub steps: Vec<StepStats>,
    /// Index into `steps` of the first step out of tolerance.
    pub first_out_of_tolerance: Option<usize>,
    /// Plain-language warnings: wrapped values, values near the headroom.
    pub warnings: Vec<String>,
}

/// Both runs and the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The fixed-point run.
    pub fixed: Evaluation,
    /// The float run.
    pub float: Evaluation,
    /// Per-step errors and headroom.
    pub report: LayerReport,
}

/// Running sums per step, over chunks of rows.
pub(crate) struct Accumulator {
    stats: Vec<Option<StepStats>>,
    sums: Vec<f64>,
}

impl Accumulator {
    pub(crate) fn new(plan: &Plan) -> Accumulator {
        let stats = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (!matches!(s.op, Op::Reshape | Op::Convert)).then(|| StepStats {
                    step: i,
                    layer: s.layer.clone(),
                    op: s.op.name(),
                    frac_bits: frac_bits_of(plan.value(s.output).encoding),
                    count: 0,
                    max_abs_error: 0.0,
                    mean_abs_error: 0.0,
                    max_float: 0.0,
                    max_ring: 0,
                    headroom_bits: HEADROOM_BITS as i32,
                    wrapped: false,
                    mismatches: 0,
                    within_tolerance: true,
                })
            })
            .collect();
        Accumulator {
            stats,
            sums: vec![0.0; plan.steps.len()],
        }
    }

    /// Add one chunk's result of step `i`.
    pub(crate) fn add(&mut self, i: usize, fixed: &[u64], float: &[f64]) {
        let Some(s) = self.stats[i].as_mut() else {
            return;
        };
        let scale = s.frac_bits.map(|f| (f as f64).exp2());
        for (&x, &y) in fixed.iter().zip(float) {
            let signed = x as i64;
            s.max_ring = s.max_ring.max(signed.unsigned_abs());
            s.max_float = s.max_float.max(y.abs());
            let err = match scale {
                Some(scale) => {
                    if (y * scale).abs() >= RING_LIMIT {
                        s.wrapped = true;
                    }
                    (signed as f64 / scale - y).abs()
                }
                None => {
                    if signed as f64 != y {
                        s.mismatches += 1;
                        1.0
                    } else {
                        0.0
                    }
                }
            };
            s.max_abs_error = s.max_abs_error.max(err);
            self.sums[i] += err;
        }
        s.count += fixed.len().min(float.len());
    }

    pub(crate) fn finish(self, tolerance: Tolerance) -> LayerReport {
        let mut steps = Vec::new();
        let mut warnings = Vec::new();
        for (s, sum) in self.stats.into_iter().zip(self.sums) {
            let Some(mut s) = s else { continue };
            s.mean_abs_error = if s.count == 0 {
                0.0
            } else {
                sum / s.count as f64
            };
            let bits = 64 - s.max_ring.leading_zeros();
            s.headroom_bits = HEADROOM_BITS as i32 - bits as i32;
            s.within_tolerance =
                s.frac_bits.is_none() || s.max_abs_error <= tolerance.bound(s.max_float);
            let what = format!("step {} ({} of `{}`)", s.step, s.op, s.layer);
            if s.wrapped {
                warnings.push(format!(
                    "{what}: values reach {:.3e}, beyond the 64-bit ring at {} fraction bits; the fixed result wrapped around (use fewer fraction bits or rescale the input)",
                    s.max_float,
                    s.frac_bits.unwrap_or(0)
                ));
            } else if s.frac_bits.is_none() {
                // labels: no headroom to speak of
            } else if s.headroom_bits < 0 {
                warnings.push(format!(
                    "{what}: ring values reach 2^{bits}, past the 2^{HEADROOM_BITS} headroom of secure truncation; the secure result may be wrong"
                ));
            } else if s.headroom_bits < NEAR_OVERFLOW_MARGIN_BITS as i32 {
                warnings.push(format!(
                    "{what}: ring values reach 2^{bits}, within 2^{} of the 2^{HEADROOM_BITS} headroom",
                    s.headroom_bits
                ));
            }
            steps.push(s);
        }
        let first_out_of_tolerance = steps.iter().position(|s| !s.within_tolerance);
        if let Some(i) = first_out_of_tolerance {
            let s = &steps[i];
            warnings.push(format!(
                "step {} ({} of `{}`) is the first out of tolerance: max error {:.3e} > {:.3e}",
                s.step,
                s.op,
                s.layer,
                s.max_abs_error,
                tolerance.bound(s.max_float)
            ));
        }
        LayerReport {
            tolerance,
            steps,
            first_out_of_tolerance,
            warnings,
        }
    }
}

impl LayerReport {
    /// A table for people: one line per step, then the warnings.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let lw = self
            .steps
            .iter()
            .map(|s| s.layer.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let _ = writeln!(
            out,
            "{:>4}  {:<lw$}  {:<10} {:>5} {:>11} {:>11} {:>11} {:>8}  status",
            "step", "layer", "op", "frac", "max |err|", "mean |err|", "max |float|", "headroom"
        );
        for s in &self.steps {
            let frac = s.frac_bits.map_or("int".to_string(), |f| f.to_string());
            let headroom = match s.frac_bits {
                Some(_) => format!("{} b", s.headroom_bits),
                None => "-".to_string(),
            };
            let status = if s.wrapped {
                "WRAPPED".to_string()
            } else if s.frac_bits.is_none() {
                if s.mismatches == 0 {
                    "same".to_string()
                } else {
                    format!("{} rows differ", s.mismatches)
                }
            } else if !s.within_tolerance {
                "OUT OF TOLERANCE".to_string()
            } else if s.headroom_bits < NEAR_OVERFLOW_MARGIN_BITS as i32 {
                "near overflow".to_string()
            } else {
                "ok".to_string()
            };
            let _ = writeln!(
                out,
                "{:>4}  {:<lw$}  {:<10} {:>5} {:>11.3e} {:>11.3e} {:>11.3e} {:>8}  {status}",
                s.step,
                s.layer,
                s.op,
                frac,
                s.max_abs_error,
                s.mean_abs_error,
                s.max_float,
                headroom
            );
        }
        let _ = writeln!(
            out,
            "tolerance: max |err| <= {:.3e} + {} x max |float|; headroom: bits left below 2^{HEADROOM_BITS}",
            self.tolerance.abs, self.tolerance.rel
        );
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}
