//! The cost of TLS: the same bulk exchange (8 MiB each way at once), the same
//! 8-byte round trip and connection set-up, over loopback TCP with and
//! without mutual TLS 1.3 (AES-GCM or ChaCha20-Poly1305 from ring, whichever
//! rustls negotiates first: AES-128-GCM on x86 with AES-NI).

use chimera_runtime::identity::{GeneratedIdentity, Identity, PinnedPeers};
use chimera_runtime::transport::{Channel, ChannelConfig, TcpChannel, TlsChannel};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::TcpListener;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

fn identity(name: &str) -> Identity {
    let g = GeneratedIdentity::generate(name, 2).unwrap();
    Identity::from_pem(
        Path::new(&format!("{name}.crt")),
        g.cert_pem.as_bytes(),
        Path::new(&format!("{name}.key")),
        g.key_pem.as_bytes(),
    )
    .unwrap()
}

struct Keys {
    server: Identity,
    client: Identity,
    server_pins: PinnedPeers,
    client_pins: PinnedPeers,
}

fn keys() -> Keys {
    let (server, client) = (identity("server"), identity("client"));
    let mut server_pins = PinnedPeers::new();
    server_pins.add_identity(&client);
    let mut client_pins = PinnedPeers::new();
    client_pins.add_identity(&server);
    Keys {
        server,
        client,
        server_pins,
        client_pins,
    }
}

fn tls_pair(k: &Keys) -> (TlsChannel, TlsChannel) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (id, pins) = (k.client.clone(), k.client_pins.clone());
    let t = thread::spawn(move || {
        TlsChannel::connect(addr, &id, &pins, ChannelConfig::default()).unwrap()
    });
    let a = TlsChannel::accept(
        &listener,
        &k.server,
        &k.server_pins,
        ChannelConfig::default(),
    )
    .unwrap();
    (a, t.join().unwrap())
}

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

fn tls(c: &mut Criterion) {
    let k = keys();
    let mut g = c.benchmark_group("tls");
    g.sample_size(10);
    let words = 1 << 20; // 8 MiB
    g.throughput(Throughput::Bytes(8 * words as u64));
    g.bench_function("exchange_8MiB_tcp", |b| {
        b.iter_custom(|iters| {
            let (x, y) = tcp_pair();
            run(x, y, iters, words)
        })
    });
    g.bench_function("exchange_8MiB_tls", |b| {
        b.iter_custom(|iters| {
            let (x, y) = tls_pair(&k);
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
    g.bench_function("exchange_8B_round_trip_tls", |b| {
        b.iter_custom(|iters| {
            let (x, y) = tls_pair(&k);
            run(x, y, iters, 1)
        })
    });
    g.bench_function("connect_tcp", |b| b.iter(tcp_pair));
    g.bench_function("connect_mutual_tls", |b| b.iter(|| tls_pair(&k)));
    g.finish();
}

criterion_group!(benches, tls);
criterion_main!(benches);
