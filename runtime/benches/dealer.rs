//! Dealer throughput: bytes of correlated randomness (both parties' expanded
//! shares together) produced per second on one core, and a party's
//! expansion of its own material.

use chimera_runtime::arith::linear::LinearShape;
use chimera_runtime::dealer::{Demand, Material, Pool, SessionId, TrustedDealer};
use chimera_runtime::plan::PlanHash;
use chimera_runtime::prg::Seed;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn material_bytes(d: &Demand) -> u64 {
    d.totals()
        .map(|(p, n)| p.material_bytes_per_item() as u64 * n)
        .sum()
}

fn dealer(c: &mut Criterion) {
    let mut g = c.benchmark_group("dealer");
    g.sample_size(10);
    let dealer = TrustedDealer::new(
        PlanHash([0; 32]),
        SessionId([0; 16]),
        Some(Seed::from_u64(1)),
    )
    .unwrap();
    let dense = LinearShape::Dense {
        inputs: 980,
        outputs: 100,
    };
    let cases: Vec<(&str, Demand)> = vec![
        ("beaver_1M", {
            let mut d = Demand::new();
            d.beaver(1 << 20);
            d
        }),
        ("and_words_1M", {
            let mut d = Demand::new();
            d.and_triples(1 << 20);
            d
        }),
        ("shared_bits_16M", {
            let mut d = Demand::new();
            d.shared_bits(1 << 24);
            d
        }),
        ("square_pairs_1M", {
            let mut d = Demand::new();
            d.square_pairs(1 << 20);
            d
        }),
        ("trunc_1M", {
            let mut d = Demand::new();
            d.trunc_pairs(1 << 20, 16);
            d
        }),
        ("edabits_1M", {
            let mut d = Demand::new();
            d.edabits(1 << 20);
            d
        }),
        ("random_ots_1M", {
            let mut d = Demand::new();
            d.random_ots(1 << 20);
            d
        }),
        ("dense_980x100_rows_64", {
            let mut d = Demand::new();
            d.linear(0, dense, 64);
            d
        }),
    ];
    for (name, demand) in &cases {
        g.throughput(Throughput::Bytes(material_bytes(demand)));
        g.bench_function(*name, |b| {
            b.iter(|| black_box(dealer.deal(demand).unwrap()))
        });
    }
    // A party expanding its own seeded shares.
    let mut d = Demand::new();
    d.beaver(1 << 20);
    g.throughput(Throughput::Bytes(
        Pool::Beaver.material_bytes_per_item() as u64 / 2 * (1 << 20),
    ));
    g.bench_function("server_expands_beaver_1M", |b| {
        b.iter_batched(
            || {
                TrustedDealer::pair(
                    PlanHash([0; 32]),
                    SessionId([0; 16]),
                    Some(Seed::from_u64(2)),
                    &d,
                )
                .unwrap()
                .0
            },
            |mut m| black_box(m.beaver(1 << 20).unwrap()),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, dealer);
criterion_main!(benches);
