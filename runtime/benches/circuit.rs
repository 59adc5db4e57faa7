//! Circuit library: building the library circuits, and the plaintext
//! (bit-sliced) interpreter's gate throughput.

use chimera_runtime::circuit::{library, Style};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("circuit_build");
    g.bench_function("add_shift_prefix", |b| {
        b.iter(|| library::add_shift(Style::Depth, 16))
    });
    g.bench_function("argmax10_ripple", |b| {
        b.iter(|| library::argmax(Style::Size, 10))
    });
    g.finish();
}

fn plain(c: &mut Criterion) {
    let mut g = c.benchmark_group("circuit_plain");
    let n = 4096;
    for circ in [
        library::add(Style::Size),
        library::relu(),
        library::maxpool(Style::Depth, 4),
    ] {
        let inputs: Vec<u64> = (0..n * circ.in_words() as u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        g.throughput(Throughput::Elements(n));
        g.bench_function(circ.name().to_string(), |b| {
            b.iter(|| circ.eval_plain(black_box(&inputs)))
        });
    }
    g.finish();
}

criterion_group!(benches, build, plain);
criterion_main!(benches);
