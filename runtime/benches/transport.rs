//! Channel throughput and latency: a 1 MiB exchange in both directions at
//! once, and a small-message ping-pong, over memory and loopback TCP.

use chimera_runtime::transport::{memory_pair, Channel, ChannelConfig, TcpChannel};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

fn tcp_pair() -> (TcpChannel, TcpChannel) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || TcpChannel::connect(addr, ChannelConfig::default()).unwrap());
    let a = TcpChannel::accept(&listener, ChannelConfig::default()).unwrap();
    (a, t.join().unwrap())
}

fn run<C: Channel + 'static>(mut a: C, mut b: C, iters: u64, words: usize) -> Duration {
    let msg = vec![7u64; words];
    let m2 = msg.clone();
    let t = thread::spawn(move || {
        for _ in 0..iters {
            b.exchange_u64s(&m2, words).unwrap();
        }
    });
    let start = Instant::now();
    for _ in 0..iters {
        a.exchange_u64s(&msg, words).unwrap();
    }
    let e = start.elapsed();
    t.join().unwrap();
    e
}

fn transport(c: &mut Criterion) {
    let mut g = c.benchmark_group("transport");
    g.sample_size(20);
    let words = 1 << 17; // 1 MiB
    g.throughput(Throughput::Bytes(8 * words as u64));
    g.bench_function("exchange_1MiB_memory", |b| {
        b.iter_custom(|iters| {
            let (x, y) = memory_pair();
            run(x, y, iters, words)
        })
    });
    g.bench_function("exchange_1MiB_tcp", |b| {
        b.iter_custom(|iters| {
            let (x, y) = tcp_pair();
            run(x, y, iters, words)
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("exchange_8B_round_trip_tcp", |b| {
        b.iter_custom(|iters| {
            let (x, y) = tcp_pair();
            run(x, y, iters, 1)
        })
    });
    g.bench_function("exchange_8B_round_trip_memory", |b| {
        b.iter_custom(|iters| {
            let (x, y) = memory_pair();
            run(x, y, iters, 1)
        })
    });
    g.finish();
}

criterion_group!(benches, transport);
criterion_main!(benches);
