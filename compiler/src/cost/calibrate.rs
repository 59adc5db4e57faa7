//! Calibration: time the runtime's real primitives on this machine and
//! write the per-unit figures of a [`Profile`].
//!
//! Each measurement runs the very code the executor runs, on a workload
//! large enough to amortize setup, repeated until at least `min_time` has
//! passed, and keeps the fastest repetition (the least disturbed by other
//! processes):
//!
//! - garbling and evaluating a 64-bit ripple adder (half-gates, fixed-key AES);
//! - a GMW evaluation of a Sklansky adder, both parties level by level
//!   (local work only; the messages are handed over in memory);
//! - Beaver multiplication of ring tensors, both parties over the in-memory
//!   channel;
//! - a dense kernel (`W x`) on ring elements;
//! - AES-CTR PRG expansion.

use super::Profile;
use chimera_runtime::arith::linear::LinearShape;
use chimera_runtime::circuit::{library, Style};
use chimera_runtime::dealer::BeaverTriples;
use chimera_runtime::gmw::{GmwEval, TripleShares};
use chimera_runtime::plan::Party;
use chimera_runtime::prg::{Prg, Seed};
use chimera_runtime::transport::memory_pair;
use chimera_runtime::yao::{Evaluator, Garbler};
use std::time::{Duration, Instant};

/// One measured figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Profile field.
    pub name: &'static str,
    /// What was run.
    pub workload: String,
    /// Units per repetition.
    pub units: u64,
    /// Fastest repetition.
    pub best: Duration,
}

impl Measurement {
    /// Nanoseconds per unit.
    pub fn ns_per_unit(&self) -> f64 {
        self.best.as_secs_f64() * 1e9 / self.units.max(1) as f64
    }
}

/// Why a calibration failed (a primitive refused its own inputs: a bug).
#[derive(Debug, thiserror::Error)]
#[error("calibration of {what} failed: {reason}")]
pub struct CalibrationError {
    /// The measurement.
    pub what: &'static str,
    /// The primitive's error.
    pub reason: String,
}

fn fail(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> CalibrationError {
    move |e| CalibrationError {
        what,
        reason: e.to_string(),
    }
}

/// Run `f` (which returns the units it did) until `min_time` has passed and
/// at least three times; keep the fastest.
fn time<F>(
    name: &'static str,
    workload: String,
    min_time: Duration,
    mut f: F,
) -> Result<Measurement, CalibrationError>
where
    F: FnMut() -> Result<u64, CalibrationError>,
{
    let start = Instant::now();
    let mut best = Duration::MAX;
    let mut units = 0;
    let mut reps = 0;
    while reps < 3 || start.elapsed() < min_time {
        let t = Instant::now();
        units = f()?;
        best = best.min(t.elapsed());
        reps += 1;
    }
    Ok(Measurement {
        name,
        workload,
        units,
        best,
    })
}

/// Measure every figure, spending about `min_time` on each, with
/// workloads scaled by `scale` (1 for a real calibration; smaller in tests).
pub fn measure(min_time: Duration, scale: usize) -> Result<Vec<Measurement>, CalibrationError> {
    let scale = scale.max(1);
    let mut prg = Prg::new(&Seed::from_u64(7));
    let mut out = Vec::new();

    let adder = library::add(Style::Size);
    let n = 64 * scale;
    let ands = adder.and_count() * n as u64;
    let mut garbler = Garbler::new(&mut prg);
    let zero = garbler.fresh_labels(&mut prg, n * adder.n_inputs());
    let garbled = garbler
        .garble(&adder, &zero, n)
        .map_err(|e| fail("garbling")(&e))?;
    out.push(time(
        "yao_garble_and_ns",
        format!("garble a 64-bit ripple adder × {n}"),
        min_time,
        || {
            garbler
                .garble(&adder, &zero, n)
                .map_err(|e| fail("garbling")(&e))?;
            Ok(ands)
        },
    )?);
    out.push(time(
        "yao_eval_and_ns",
        format!("evaluate a 64-bit ripple adder × {n}"),
        min_time,
        || {
            Evaluator::new()
                .evaluate(&adder, &garbled.tables, &zero, n)
                .map_err(|e| fail("evaluation")(&e))?;
            Ok(ands)
        },
    )?);

    let prefix = library::add(Style::Depth);
    let n = 4096 * scale;
    let words = prefix.and_count() as usize * n.div_ceil(64);
    let shares = prg.u64s(n * prefix.in_words());
    let (a, b, c) = (prg.u64s(words), prg.u64s(words), prg.u64s(words));
    let t = TripleShares {
        a: &a,
        b: &b,
        c: &c,
    };
    out.push(time(
        "gmw_and_ns",
        format!("GMW Sklansky adder × {n}, both parties"),
        min_time,
        || {
            let gmw = fail("GMW");
            let mut e0 = GmwEval::new(&prefix, true, &shares, n).map_err(|e| gmw(&e))?;
            let mut e1 = GmwEval::new(&prefix, false, &shares, n).map_err(|e| gmw(&e))?;
            while !e0.is_done() {
                let m0 = e0.message(&t).map_err(|e| gmw(&e))?.to_vec();
                let m1 = e1.message(&t).map_err(|e| gmw(&e))?.to_vec();
                e0.receive(&t, &m1).map_err(|e| gmw(&e))?;
                e1.receive(&t, &m0).map_err(|e| gmw(&e))?;
            }
            // Both parties ran here: per party, half the time.
            Ok(2 * prefix.and_count() * n as u64)
        },
    )?);

    let n = 16_384 * scale;
    let x = prg.u64s(n);
    let y = prg.u64s(n);
    let triples = BeaverTriples {
        a: prg.u64s(n),
        b: prg.u64s(n),
        c: prg.u64s(n),
    };
    out.push(time(
        "beaver_mult_ns",
        format!("Beaver multiplication × {n}, both parties in memory"),
        min_time,
        || {
            let (mut c0, mut c1) = memory_pair();
            std::thread::scope(|s| {
                let peer = s.spawn(|| {
                    chimera_runtime::arith::mul(&mut c1, Party::Client, &x, &y, &triples)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                let mine = chimera_runtime::arith::mul(&mut c0, Party::Server, &x, &y, &triples)
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                let theirs = peer
                    .join()
                    .unwrap_or_else(|_| Err("the client thread panicked".into()));
                mine.and(theirs)
            })
            .map_err(|e| fail("Beaver multiplication")(&e))?;
            Ok(n as u64)
        },
    )?);

    let shape = LinearShape::Dense {
        inputs: 1024,
        outputs: 256 * scale.min(4),
    };
    let w = prg.u64s(shape.weight_len());
    let xs = prg.u64s(shape.input_len());
    out.push(time(
        "mac_ns",
        format!("dense kernel {}×1024 on ring elements", 256 * scale.min(4)),
        min_time,
        || {
            shape.apply(&w, &xs).map_err(|e| fail("dense kernel")(&e))?;
            Ok(shape.macs() as u64)
        },
    )?);

    let mut buf = vec![0u8; (1 << 20) * scale];
    out.push(time(
        "prg_byte_ns",
        format!("AES-CTR PRG, {} MiB", scale),
        min_time,
        || {
            prg.fill_bytes(&mut buf);
            Ok(buf.len() as u64)
        },
    )?);
    Ok(out)
}

/// The profile the measurements give.
pub fn profile(machine: String, ms: &[Measurement]) -> Profile {
    let get = |name: &str| {
        ms.iter()
            .find(|m| m.name == name)
            .map_or(0.0, Measurement::ns_per_unit)
    };
    Profile {
        machine,
        yao_garble_and_ns: get("yao_garble_and_ns"),
        yao_eval_and_ns: get("yao_eval_and_ns"),
        gmw_and_ns: get("gmw_and_ns"),
        beaver_mult_ns: get("beaver_mult_ns"),
        mac_ns: get("mac_ns"),
        prg_byte_ns: get("prg_byte_ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_calibration_measures_every_figure() {
        let ms = measure(Duration::from_millis(1), 1).unwrap();
        let p = profile("test".into(), &ms);
        assert_eq!(ms.len(), 6);
        for (name, v) in p.figures() {
            assert!(v > 0.0 && v.is_finite(), "{name} = {v}");
        }
    }
}
