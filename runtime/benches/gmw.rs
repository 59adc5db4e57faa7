//! GMW: AND gates per second of the level-by-level bit-sliced evaluation
//! (both parties' computation in one thread, no network; the networked
//! figures are in the `convert` bench).

use chimera_runtime::circuit::{library, Style};
use chimera_runtime::gmw::{triple_words, GmwEval, TripleShares};
use chimera_runtime::prg::{Prg, Seed};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn compute(c: &mut Criterion) {
    let mut g = c.benchmark_group("gmw_compute");
    let n = 4096usize;
    for circ in [
        library::add_shift(Style::Depth, 16),
        library::relu(),
        library::maxpool(Style::Depth, 4),
    ] {
        let mut p = Prg::new(&Seed::from_u64(3));
        let words = triple_words(&circ.stats(), n);
        let t: Vec<Vec<u64>> = (0..6).map(|_| p.u64s(words)).collect();
        let x0 = p.u64s(n * circ.in_words());
        let x1 = p.u64s(n * circ.in_words());
        let ts0 = TripleShares {
            a: &t[0],
            b: &t[1],
            c: &t[2],
        };
        let ts1 = TripleShares {
            a: &t[3],
            b: &t[4],
            c: &t[5],
        };
        g.throughput(Throughput::Elements(circ.and_count() * n as u64));
        g.bench_function(circ.name().to_string(), |b| {
            b.iter(|| {
                let mut e0 = GmwEval::new(&circ, true, &x0, n).expect("e0");
                let mut e1 = GmwEval::new(&circ, false, &x1, n).expect("e1");
                while !e0.is_done() {
                    let m0 = e0.message(&ts0).expect("m0").to_vec();
                    let m1 = e1.message(&ts1).expect("m1").to_vec();
                    e0.receive(&ts0, &m1).expect("r0");
                    e1.receive(&ts1, &m0).expect("r1");
                }
                (e0.outputs().expect("o0"), e1.outputs().expect("o1"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, compute);
criterion_main!(benches);
