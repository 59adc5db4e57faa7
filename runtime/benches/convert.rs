//! Conversions per element, both parties on threads over the in-memory
//! channel with real dealer material (dealing is not timed), and the
//! 980-element ReLU layer (Chameleon's MNIST network) over loopback TCP in
//! B (A2B → relu → B2A) and in Y (A2Y → relu → Y2A). Bytes and rounds of
//! each layer are printed once.

use chimera_runtime::circuit::{library, Style};
use chimera_runtime::convert;
use chimera_runtime::dealer::{Demand, PartyMaterial, SessionId, TrustedDealer};
use chimera_runtime::gmw;
use chimera_runtime::plan::PlanHash;
use chimera_runtime::prg::{Prg, Seed};
use chimera_runtime::transport::{Channel, ChannelStats};
use chimera_runtime::yao::{YaoClient, YaoServer};
#[path = "../tests/common/mod.rs"]
mod common;

use common::{channels, Ch};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

type PartyFn = dyn Fn(&mut Ch, &mut PartyMaterial) + Send + Sync;

/// One run of both parties; returns the time from the start of both to the
/// end of both, and the channel counters.
fn once(
    tcp: bool,
    demand: &Demand,
    server: Arc<PartyFn>,
    client: Arc<PartyFn>,
) -> (Duration, ChannelStats, ChannelStats) {
    let (mut c0, mut c1) = channels(tcp);
    let (mut m0, mut m1) = TrustedDealer::pair(
        PlanHash([1; 32]),
        SessionId([2; 16]),
        Some(Seed::from_u64(3)),
        demand,
    )
    .expect("deal");
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let b2 = Arc::clone(&barrier);
    let t = thread::spawn(move || {
        b2.wait();
        client(&mut c1, &mut m1);
        c1.stats()
    });
    barrier.wait();
    let start = Instant::now();
    server(&mut c0, &mut m0);
    let s1 = t.join().expect("client");
    (start.elapsed(), c0.stats(), s1)
}

/// One benchmarked pair of party functions.
struct Case {
    group: &'static str,
    name: &'static str,
    n: u64,
    tcp: bool,
    demand: Demand,
    server: Arc<PartyFn>,
    client: Arc<PartyFn>,
}

fn bench_pair(c: &mut Criterion, case: Case) {
    let Case {
        group,
        name,
        n,
        tcp,
        demand,
        server,
        client,
    } = case;
    let (_, s0, s1) = once(tcp, &demand, Arc::clone(&server), Arc::clone(&client));
    eprintln!(
        "{group}/{name}: server sent {} B in {} flights, client sent {} B in {} flights",
        s0.bytes_sent, s0.rounds, s1.bytes_sent, s1.rounds
    );
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| once(tcp, &demand, Arc::clone(&server), Arc::clone(&client)).0)
                .sum()
        })
    });
    g.finish();
}

fn shares(n: usize) -> (Vec<u64>, Vec<u64>) {
    let mut p = Prg::new(&Seed::from_u64(9));
    (p.u64s(n), p.u64s(n))
}

fn server_yao() -> YaoServer {
    YaoServer::new(Prg::new(&Seed::from_u64(4)))
}

fn conversions(c: &mut Criterion) {
    let n = 1024usize;
    let words = n.div_ceil(64) as u64;
    let (x0, x1) = shares(n);
    let f = 16;
    let case = |name, demand, server: Arc<PartyFn>, client: Arc<PartyFn>| Case {
        group: "convert",
        name,
        n: n as u64,
        tcp: false,
        demand,
        server,
        client,
    };

    let mut d = Demand::new();
    d.and_triples(library::add_shift(Style::Depth, f).and_count() * words);
    let (a, b) = (x0.clone(), x1.clone());
    bench_pair(
        c,
        case(
            "a2b",
            d,
            Arc::new(move |ch, m| {
                convert::a2b(ch, m, &a, f).expect("a2b");
            }),
            Arc::new(move |ch, m| {
                convert::a2b(ch, m, &b, f).expect("a2b");
            }),
        ),
    );

    let mut d = Demand::new();
    d.shared_bits(64 * n as u64);
    let (a, b) = (x0.clone(), x1.clone());
    bench_pair(
        c,
        case(
            "b2a",
            d,
            Arc::new(move |ch, m| {
                convert::b2a(ch, m, &a).expect("b2a");
            }),
            Arc::new(move |ch, m| {
                convert::b2a(ch, m, &b).expect("b2a");
            }),
        ),
    );

    let mut d = Demand::new();
    d.random_ots(64 * n as u64);
    let (a, b) = (x0.clone(), x1.clone());
    bench_pair(
        c,
        case(
            "a2y",
            d,
            Arc::new(move |ch, m| {
                convert::a2y_server(ch, m, &mut server_yao(), &a, f).expect("a2y");
            }),
            Arc::new(move |ch, m| {
                convert::a2y_client(ch, m, &mut YaoClient::new(), &b, f).expect("a2y");
            }),
        ),
    );

    let mut d = Demand::new();
    d.random_ots(64 * n as u64);
    let (a, b) = (x0.clone(), x1.clone());
    bench_pair(
        c,
        case(
            "b2y",
            d,
            Arc::new(move |ch, m| {
                convert::b2y_server(ch, m, &mut server_yao(), &a).expect("b2y");
            }),
            Arc::new(move |ch, m| {
                convert::b2y_client(ch, m, &mut YaoClient::new(), &b).expect("b2y");
            }),
        ),
    );

    // Y2A needs a Y share; B2Y makes it (subtract the b2y figure).
    let mut d = Demand::new();
    d.random_ots(64 * n as u64);
    let (a, b) = (x0.clone(), x1.clone());
    bench_pair(
        c,
        case(
            "b2y_then_y2a",
            d,
            Arc::new(move |ch, m| {
                let mut ys = server_yao();
                let y = convert::b2y_server(ch, m, &mut ys, &a).expect("b2y");
                convert::y2a_server(ch, &mut ys, &y).expect("y2a");
            }),
            Arc::new(move |ch, m| {
                let mut yc = YaoClient::new();
                let y = convert::b2y_client(ch, m, &mut yc, &b).expect("b2y");
                convert::y2a_client(ch, &mut yc, &y).expect("y2a");
            }),
        ),
    );
}

fn relu_layer(c: &mut Criterion) {
    let n = 980usize;
    let f = 16;
    let (x0, x1) = shares(n);
    let words = n.div_ceil(64) as u64;
    let mut d = Demand::new();
    d.and_triples(
        (library::add_shift(Style::Depth, f).and_count() + library::relu().and_count()) * words,
    )
    .shared_bits(64 * n as u64);
    let party = |s: Vec<u64>| -> Arc<PartyFn> {
        Arc::new(move |ch: &mut Ch, m: &mut PartyMaterial| {
            let bsh = convert::a2b(ch, m, &s, f).expect("a2b");
            let r = gmw::run(ch, m, &library::relu(), &bsh).expect("relu");
            convert::b2a(ch, m, &r).expect("b2a");
        })
    };
    bench_pair(
        c,
        Case {
            group: "relu_layer_980_tcp",
            name: "gmw",
            n: n as u64,
            tcp: true,
            demand: d,
            server: party(x0.clone()),
            client: party(x1.clone()),
        },
    );

    let mut d = Demand::new();
    d.random_ots(64 * n as u64);
    let (a, b) = (x0.clone(), x1.clone());
    bench_pair(
        c,
        Case {
            group: "relu_layer_980_tcp",
            name: "yao_one_shot",
            n: n as u64,
            tcp: true,
            demand: d.clone(),
            server: Arc::new(move |ch, m| {
                let mut ys = server_yao();
                let y = convert::a2y_server(ch, m, &mut ys, &a, f).expect("a2y");
                let r = ys.eval(ch, &library::relu(), &y).expect("relu");
                convert::y2a_server(ch, &mut ys, &r).expect("y2a");
            }),
            client: Arc::new(move |ch, m| {
                let mut yc = YaoClient::new();
                let y = convert::a2y_client(ch, m, &mut yc, &b, f).expect("a2y");
                let r = yc.eval(ch, &library::relu(), &y).expect("relu");
                convert::y2a_client(ch, &mut yc, &r).expect("y2a");
            }),
        },
    );

    // Two phases: garbling and every input-independent message before the
    // query (not timed); the online part is timed by the client, from its
    // first online message to its share of the result.
    let mut g = c.benchmark_group("relu_layer_980_tcp");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    g.bench_function("yao_online", |bch| {
        bch.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (mut c0, mut c1) = channels(true);
                    let (mut m0, mut m1) = TrustedDealer::pair(
                        PlanHash([1; 32]),
                        SessionId([2; 16]),
                        Some(Seed::from_u64(3)),
                        &d,
                    )
                    .expect("deal");
                    let a = x0.clone();
                    let server = thread::spawn(move || {
                        let mut ys = server_yao();
                        let prep = ys.prepare_a2y(&mut m0, n, f).expect("a2y");
                        let r = ys
                            .prepare_eval(&library::relu(), prep.output())
                            .expect("relu");
                        ys.prepare_y2a(&r).expect("y2a");
                        ys.send_ahead(&mut c0).expect("ahead");
                        ys.online_a2y(&mut c0, &prep, &a).expect("online");
                        c0
                    });
                    let mut yc = YaoClient::new();
                    let prep = yc.prepare_a2y(&mut m1, n, f).expect("a2y");
                    yc.receive_ahead(&mut c1, 6).expect("ahead");
                    let start = Instant::now();
                    let y = yc.online_a2y(&mut c1, &prep, &x1).expect("online");
                    let r = yc.eval_prepared(&library::relu(), &y).expect("relu");
                    yc.y2a_prepared(&r).expect("y2a");
                    let t = start.elapsed();
                    drop(server.join().expect("server"));
                    t
                })
                .sum()
        })
    });
    g.finish();
}

criterion_group!(benches, conversions, relu_layer);
criterion_main!(benches);
