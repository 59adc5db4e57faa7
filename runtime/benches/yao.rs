//! Yao: half-gates garbling and evaluation, AND gates per second on one
//! core (targets ≥ 10 M/s garbling, ≥ 15 M/s evaluating), and the raw
//! fixed-key AES hash.

use chimera_runtime::circuit::{library, Style};
use chimera_runtime::prg::{Prg, Seed};
use chimera_runtime::yao::{hardware_aes, Evaluator, FixedKeyAes, Garbler};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};

/// On-CPU time of this thread (Linux `/proc/thread-self/schedstat`, ns), so
/// per-core throughput is measured honestly on a machine shared with other
/// jobs; wall-clock time where that file does not exist.
fn cpu_now() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn cpu_time_of(iters: u64, mut f: impl FnMut()) -> Duration {
    let (c0, w0) = (cpu_now(), Instant::now());
    for _ in 0..iters {
        f();
    }
    match (c0, cpu_now()) {
        (Some(a), Some(b)) => b - a,
        _ => w0.elapsed(),
    }
}

fn garble_eval(c: &mut Criterion) {
    eprintln!("hardware AES: {}", hardware_aes());
    let mut g = c.benchmark_group("yao");
    let n = 4096usize;
    for circ in [
        library::relu(),
        library::add(Style::Size),
        library::maxpool(Style::Size, 4),
    ] {
        let mut rng = Prg::new(&Seed::from_u64(1));
        let mut garbler = Garbler::new(&mut rng);
        let zero = garbler.fresh_labels(&mut rng, n * circ.n_inputs());
        let garbled = garbler.garble(&circ, &zero, n).expect("garble");
        g.throughput(Throughput::Elements(circ.and_count() * n as u64));
        g.bench_function(format!("garble_{}", circ.name()), |b| {
            b.iter(|| garbler.garble(&circ, black_box(&zero), n).expect("garble"))
        });
        g.bench_function(format!("garble_{}_cpu_time", circ.name()), |b| {
            b.iter_custom(|iters| {
                cpu_time_of(iters, || {
                    black_box(garbler.garble(&circ, black_box(&zero), n).expect("garble"));
                })
            })
        });
        let mut ev = Evaluator::new();
        // Active labels = zero labels (all-zero inputs); the tweak counter
        // drifts from the garbler's, which changes the outputs but not the work.
        g.bench_function(format!("evaluate_{}", circ.name()), |b| {
            b.iter(|| {
                ev.evaluate(&circ, black_box(&garbled.tables), &zero, n)
                    .expect("eval")
            })
        });
        g.bench_function(format!("evaluate_{}_cpu_time", circ.name()), |b| {
            b.iter_custom(|iters| {
                cpu_time_of(iters, || {
                    black_box(
                        ev.evaluate(&circ, black_box(&garbled.tables), &zero, n)
                            .expect("eval"),
                    );
                })
            })
        });
    }
    g.finish();
}

fn hash(c: &mut Criterion) {
    let mut g = c.benchmark_group("fixed_key_aes");
    let h = FixedKeyAes::default();
    let mut xs: Vec<u128> = (0..1024u128).collect();
    let tweaks: Vec<u128> = (0..1024u128).collect();
    let mut scratch = Vec::new();
    g.throughput(Throughput::Elements(1024));
    g.bench_function("tccr_1024", |b| {
        b.iter(|| h.tccr(black_box(&mut xs), &tweaks, &mut scratch))
    });
    g.finish();
}

criterion_group!(benches, garble_eval, hash);
criterion_main!(benches);
