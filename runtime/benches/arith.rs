//! Arithmetic-sharing protocols, both parties on two threads over the
//! in-memory channel: Beaver multiplications and truncations per second, and
//! one query of a private-weight dense 980→100 layer (Chameleon's netD fc1).

use chimera_runtime::arith::linear::LinearShape;
use chimera_runtime::arith::{self, LinearClient, LinearServer};
use chimera_runtime::dealer::{Demand, PartyMaterial, SessionId, TrustedDealer};
use chimera_runtime::plan::PlanHash;
use chimera_runtime::prg::Seed;
use chimera_runtime::transport::{memory_pair, MemoryChannel};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::thread;
use std::time::{Duration, Instant};

fn materials(d: &Demand) -> (PartyMaterial, PartyMaterial) {
    TrustedDealer::pair(
        PlanHash([0; 32]),
        SessionId([0; 16]),
        Some(Seed::from_u64(1)),
        d,
    )
    .unwrap()
}

type Step = fn(&mut MemoryChannel, &mut PartyMaterial, &[u64]);

/// Time `iters` runs of `step` on the server while the client runs it too.
fn two_party(iters: u64, d: &Demand, n: usize, step: Step) -> Duration {
    let (mut m0, mut m1) = materials(d);
    let (mut c0, mut c1) = memory_pair();
    let x: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
    let x1 = x.clone();
    let t = thread::spawn(move || {
        for _ in 0..iters {
            step(&mut c1, &mut m1, &x1);
        }
    });
    let start = Instant::now();
    for _ in 0..iters {
        step(&mut c0, &mut m0, &x);
    }
    let elapsed = start.elapsed();
    t.join().unwrap();
    elapsed
}

fn protocols(c: &mut Criterion) {
    let mut g = c.benchmark_group("arith");
    g.sample_size(10);
    let n = 1usize << 16;
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("beaver_mul_64Ki", |b| {
        b.iter_custom(|iters| {
            let mut d = Demand::new();
            d.beaver(n as u64 * iters);
            two_party(iters, &d, n, |ch, m, x| {
                arith::mul_with(ch, m, x, x).unwrap();
            })
        })
    });
    g.bench_function("truncate_64Ki", |b| {
        b.iter_custom(|iters| {
            let mut d = Demand::new();
            d.trunc_pairs(n as u64 * iters, 16);
            two_party(iters, &d, n, |ch, m, x| {
                let small: Vec<u64> = x.iter().map(|v| v >> 8).collect();
                arith::truncate(ch, m, &small, 16).unwrap();
            })
        })
    });

    let shape = LinearShape::Dense {
        inputs: 980,
        outputs: 100,
    };
    g.throughput(Throughput::Elements(1));
    for prepared in [false, true] {
        let name = if prepared {
            "dense_980x100_query_prepared"
        } else {
            "dense_980x100_query"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut d = Demand::new();
                d.linear(0, shape, iters);
                let (mut m0, mut m1) = materials(&d);
                let (mut c0, mut c1) = memory_pair();
                let w = vec![3u64; shape.weight_len()];
                let x = vec![5u64; shape.input_len()];
                let x0 = arith::peer_input(x.len());
                let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
                let t = thread::spawn(move || {
                    let layer = LinearClient::setup(&mut c1, 0, shape).unwrap();
                    if prepared {
                        let rows: Vec<_> = (0..iters)
                            .map(|_| layer.prepare(&mut m1, 1).unwrap())
                            .collect();
                        go_rx.recv().unwrap();
                        for p in rows {
                            layer.eval_prepared(&mut c1, p, &x).unwrap();
                        }
                    } else {
                        go_rx.recv().unwrap();
                        for _ in 0..iters {
                            layer.eval(&mut c1, &mut m1, &x).unwrap();
                        }
                    }
                });
                let layer = LinearServer::setup(&mut c0, &mut m0, 0, shape, w).unwrap();
                // Give the client time to receive E and prepare.
                thread::sleep(Duration::from_millis(
                    5 + if prepared { iters / 2 } else { 0 },
                ));
                go_tx.send(()).unwrap();
                let start = Instant::now();
                for _ in 0..iters {
                    layer.eval(&mut c0, &mut m0, &x0).unwrap();
                }
                let elapsed = start.elapsed();
                t.join().unwrap();
                elapsed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, protocols);
criterion_main!(benches);
