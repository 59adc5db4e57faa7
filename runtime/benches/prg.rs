//! AES-128-CTR generator throughput (bytes per second, one core).

use chimera_runtime::prg::{aes_hardware, BitStream, Prg, Seed};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn prg(c: &mut Criterion) {
    eprintln!("AES hardware instructions: {}", aes_hardware());
    let mut g = c.benchmark_group("prg");
    let mut prg = Prg::new(&Seed::from_u64(1));
    let mut bytes = vec![0u8; 1 << 20];
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("fill_bytes_1MiB", |b| {
        b.iter(|| {
            prg.fill_bytes(&mut bytes);
            black_box(&bytes);
        })
    });
    let mut words = vec![0u64; 1 << 17];
    g.bench_function("fill_u64_128Ki", |b| {
        b.iter(|| {
            prg.fill_u64(&mut words);
            black_box(&words);
        })
    });
    let mut small = [0u8; 1000];
    g.throughput(Throughput::Bytes(small.len() as u64));
    g.bench_function("fill_bytes_1000_unaligned", |b| {
        b.iter(|| {
            prg.fill_bytes(&mut small);
            black_box(&small);
        })
    });
    let mut bits = BitStream::new(&Seed::from_u64(2));
    g.throughput(Throughput::Bytes(1 << 20));
    g.bench_function("bitstream_8Mibit_unaligned", |b| {
        b.iter(|| black_box(bits.take((8 << 20) - 3)))
    });
    g.finish();
}

criterion_group!(benches, prg);
criterion_main!(benches);
