//! Arithmetic sharing end to end over loopback TCP and in memory: a small
//! fixed-point pipeline (private dense layer, truncation, square, truncation,
//! open to the client) against plaintext, identical counters on both
//! transports, and a snapshot of the seeded transcript digest.

use chimera_runtime::arith::linear::{Conv2dShape, LinearShape};
use chimera_runtime::arith::{self, LinearClient, LinearServer};
use chimera_runtime::dealer::{Demand, Material, PartyMaterial, SessionId, TrustedDealer};
use chimera_runtime::plan::{Party, PlanHash};
use chimera_runtime::prg::{Prg, Seed};
use chimera_runtime::transport::{
    memory_pair, Channel, ChannelConfig, ChannelStats, Recording, TcpChannel,
};
use std::net::TcpListener;
use std::thread;

const F: u32 = 16;
const SHAPE: LinearShape = LinearShape::Dense {
    inputs: 40,
    outputs: 12,
};
const ROWS: usize = 3;

struct Inputs {
    w: Vec<u64>,
    bias: Vec<u64>,
    x: Vec<u64>,
}

/// Fixed-point values with f = 16 fraction bits in [-4, 4): weights, bias
/// (2f fraction bits) and a batch of inputs, including edge values.
fn inputs() -> Inputs {
    let mut prg = Prg::new(&Seed::from_u64(42));
    let mut fixed = |n: usize, frac: u32| -> Vec<u64> {
        (0..n)
            .map(|_| (((prg.next_u64() >> 45) as i64) - (1 << 18)) << (frac - F))
            .map(|v| v as u64)
            .collect()
    };
    let w = fixed(SHAPE.weight_len(), F);
    let bias = fixed(SHAPE.output_len(), 2 * F);
    let mut x = fixed(ROWS * SHAPE.input_len(), F);
    x[0] = 0;
    x[1] = 1;
    x[2] = u64::MAX; // -1 ulp
    x[3] = (4i64 << F) as u64 - 1;
    x[4] = (-4i64 << F) as u64;
    Inputs { w, bias, x }
}

fn demand() -> Demand {
    let n = (ROWS * SHAPE.output_len()) as u64;
    let mut d = Demand::new();
    d.linear(0, SHAPE, ROWS as u64)
        .trunc_pairs(2 * n, F)
        .beaver(n);
    d
}

/// The plaintext reference with exact shifts; the secure result may be one
/// unit below after each truncation, so the comparison allows a small slack.
/// Returns, per output, the truncated layer output `t` and `(t * t) >> f`.
fn plaintext(inp: &Inputs) -> Vec<(i64, i64)> {
    let mut y = SHAPE.apply(&inp.w, &inp.x).unwrap();
    arith::add_bias(Party::Server, &mut y, &inp.bias).unwrap();
    y.iter()
        .map(|&v| (v as i64) >> F)
        .map(|t| (t, t.wrapping_mul(t) >> F))
        .collect()
}

fn server(ch: &mut dyn Channel, m: &mut PartyMaterial, inp: &Inputs) -> ChannelStats {
    let layer = LinearServer::setup(ch, m, 0, SHAPE, inp.w.clone()).unwrap();
    let x0 = arith::peer_input(inp.x.len());
    let mut y = layer.eval(ch, m, &x0).unwrap();
    arith::add_bias(Party::Server, &mut y, &inp.bias).unwrap();
    let y = arith::truncate(ch, m, &y, F).unwrap();
    let sq = arith::mul_with(ch, m, &y, &y).unwrap();
    let sq = arith::truncate(ch, m, &sq, F).unwrap();
    assert_eq!(
        arith::reveal_to(ch, Party::Server, Party::Client, &sq).unwrap(),
        None
    );
    ch.stats()
}

fn client(ch: &mut dyn Channel, m: &mut PartyMaterial, x: &[u64]) -> (Vec<u64>, ChannelStats) {
    let layer = LinearClient::setup(ch, 0, SHAPE).unwrap();
    let x1 = arith::own_input(x);
    let y = layer.eval(ch, m, &x1).unwrap();
    let y = arith::truncate(ch, m, &y, F).unwrap();
    let sq = arith::mul_with(ch, m, &y, &y).unwrap();
    let sq = arith::truncate(ch, m, &sq, F).unwrap();
    let out = arith::reveal_to(ch, Party::Client, Party::Client, &sq)
        .unwrap()
        .unwrap();
    (out, ch.stats())
}

fn materials() -> (PartyMaterial, PartyMaterial) {
    TrustedDealer::pair(
        PlanHash([3; 32]),
        SessionId([4; 16]),
        Some(Seed::from_u64(5)),
        &demand(),
    )
    .unwrap()
}

struct Run {
    out: Vec<u64>,
    stats: (ChannelStats, ChannelStats),
    digests: (String, String),
}

fn run<C: Channel + 'static>(c0: C, c1: C) -> Run {
    let (mut m0, mut m1) = materials();
    let inp = inputs();
    let x = inp.x.clone();
    let t = thread::spawn(move || {
        let mut ch = Recording::new(c1);
        let (out, stats) = client(&mut ch, &mut m1, &x);
        assert!(m1.remaining().iter().all(|(_, n)| *n <= 1));
        (out, stats, ch.digest())
    });
    let mut ch = Recording::new(c0);
    let s0 = server(&mut ch, &mut m0, &inp);
    assert!(
        m0.remaining().iter().all(|(_, n)| *n == 0),
        "all material used once"
    );
    let (out, s1, d1) = t.join().unwrap();
    Run {
        out,
        stats: (s0, s1),
        digests: (ch.digest(), d1),
    }
}

fn check_against_plaintext(out: &[u64]) {
    let expected = plaintext(&inputs());
    assert_eq!(out.len(), expected.len());
    for (got, (t, want)) in out.iter().zip(&expected) {
        // The first truncation may give t − 1; squaring turns that into
        // (t − 1)² = t² − 2t + 1, i.e. up to (2|t| + 1) / 2^f units after the
        // second shift, which may itself be one unit below.
        let err = (*got as i64 - want).abs();
        let bound = ((2 * t.abs() + 1) >> F) + 2;
        assert!(
            err <= bound,
            "got {} want {want} (bound {bound})",
            *got as i64
        );
    }
}

#[test]
fn pipeline_over_memory_and_tcp_agree_and_match_plaintext() {
    let (m0, m1) = memory_pair();
    let mem = run(m0, m1);
    check_against_plaintext(&mem.out);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || TcpChannel::connect(addr, ChannelConfig::default()).unwrap());
    let c0 = TcpChannel::accept(&listener, ChannelConfig::default()).unwrap();
    let c1 = t.join().unwrap();
    let tcp = run(c0, c1);

    assert_eq!(mem.out, tcp.out, "same seeds, same result");
    assert_eq!(mem.stats, tcp.stats, "same counters on both transports");
    assert_eq!(
        mem.digests, tcp.digests,
        "same transcript on both transports"
    );

    // Cost, predicted by hand: setup E (480 words), f (120), three
    // exchanges of 36, 72 (Beaver d|e) and 36 words, then the reveal (36).
    let (s0, s1) = mem.stats;
    let frame = |words: u64| 5 + 8 * words;
    assert_eq!(
        s0.bytes_sent,
        frame(480) + frame(36) + frame(72) + frame(36) + frame(36)
    );
    assert_eq!(
        s1.bytes_sent,
        frame(120) + frame(36) + frame(72) + frame(36)
    );
    // Server flights: E; trunc; Beaver; trunc; reveal.
    assert_eq!(s0.rounds, 5);
    // Client flights: f and the first trunc (no receive between them);
    // Beaver; trunc.
    assert_eq!(s1.rounds, 3);

    insta::assert_snapshot!(
        "arith_pipeline_transcript",
        format!(
            "server digest {}\nclient digest {}\nserver {:?}\nclient {:?}",
            mem.digests.0, mem.digests.1, s0, s1
        )
    );
}

fn tcp_pair() -> (TcpChannel, TcpChannel) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || TcpChannel::connect(addr, ChannelConfig::default()).unwrap());
    let c0 = TcpChannel::accept(&listener, ChannelConfig::default()).unwrap();
    (c0, t.join().unwrap())
}

const EDGES: [i64; 10] = [
    0,
    1,
    -1,
    i64::MAX,
    i64::MIN,
    (1 << 62) - 1,
    -(1 << 62) + 1,
    -(1 << 62),
    1 << 16,
    -(1 << 16) - 1,
];

#[test]
fn multiplication_and_truncation_on_edge_values_over_tcp() {
    let n = EDGES.len() * EDGES.len();
    let (x, y): (Vec<u64>, Vec<u64>) = EDGES
        .iter()
        .flat_map(|&a| EDGES.iter().map(move |&b| (a as u64, b as u64)))
        .unzip();
    let mut prg = Prg::new(&Seed::from_u64(77));
    let (x0, x1) = arith::share(&mut prg, &x);
    let (y0, y1) = arith::share(&mut prg, &y);
    // Truncation inputs: the edge values that fit the headroom.
    let t: Vec<u64> = EDGES
        .iter()
        .filter(|v| (-(1i64 << 62)..1 << 62).contains(*v))
        .map(|&v| v as u64)
        .collect();
    let (t0, t1) = arith::share(&mut prg, &t);
    let nt = t.len();
    let mut d = Demand::new();
    d.beaver(n as u64).trunc_pairs(nt as u64, 16);
    let (mut m0, mut m1) = TrustedDealer::pair(
        PlanHash([5; 32]),
        SessionId([6; 16]),
        Some(Seed::from_u64(8)),
        &d,
    )
    .unwrap();
    let (mut c0, mut c1) = tcp_pair();
    let h = thread::spawn(move || {
        let z = arith::mul_with(&mut c1, &mut m1, &x1, &y1).unwrap();
        let s = arith::truncate(&mut c1, &mut m1, &t1, 16).unwrap();
        (z, s)
    });
    let z0 = arith::mul_with(&mut c0, &mut m0, &x0, &y0).unwrap();
    let s0 = arith::truncate(&mut c0, &mut m0, &t0, 16).unwrap();
    let (z1, s1) = h.join().unwrap();
    let z = arith::reconstruct(&z0, &z1);
    for i in 0..n {
        assert_eq!(
            z[i],
            x[i].wrapping_mul(y[i]),
            "{} * {}",
            x[i] as i64,
            y[i] as i64
        );
    }
    let s = arith::reconstruct(&s0, &s1);
    for i in 0..nt {
        let exact = (t[i] as i64) >> 16;
        assert!(
            s[i] as i64 == exact || s[i] as i64 == exact - 1,
            "{} >> 16 gave {}",
            t[i] as i64,
            s[i] as i64
        );
    }
}

#[test]
fn a_vanished_peer_ends_the_protocol_with_peer_closed() {
    let mut d = Demand::new();
    d.beaver(4);
    let (mut m0, _m1) = TrustedDealer::pair(
        PlanHash([5; 32]),
        SessionId([6; 16]),
        Some(Seed::from_u64(9)),
        &d,
    )
    .unwrap();
    let (mut c0, c1) = tcp_pair();
    drop(c1);
    let err = arith::mul_with(&mut c0, &mut m0, &[1, 2, 3, 4], &[1, 2, 3, 4]).unwrap_err();
    assert_eq!(err.to_string(), "the peer closed the connection");
}

/// Opening to both parties, squaring with square pairs and a private conv2d
/// layer (the server's weights, a shared activation, bias added by the
/// server) on edge values, in memory and over loopback TCP: exact ring
/// results against plaintext, and the same counters on both transports.
#[test]
fn open_square_and_conv_layer_on_edge_values_in_memory_and_over_tcp() {
    let shape = LinearShape::Conv2d(Conv2dShape {
        input: [2, 5, 5],
        out_channels: 3,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [1, 1],
    });
    let rows = 2;
    let n = rows * shape.input_len();
    let mut prg = Prg::new(&Seed::from_u64(31));
    let x: Vec<u64> = (0..n)
        .map(|i| match i % 2 {
            0 => EDGES[(i / 2) % EDGES.len()] as u64,
            _ => prg.next_u64(),
        })
        .collect();
    let mut w = prg.u64s(shape.weight_len());
    for (slot, edge) in w.iter_mut().zip(EDGES) {
        *slot = edge as u64;
    }
    let bias = prg.u64s(shape.output_len());
    let (x0, x1) = arith::share(&mut prg, &x);
    let mut want_y = shape.apply(&w, &x).unwrap();
    arith::add_bias(Party::Server, &mut want_y, &bias).unwrap();
    let want_sq: Vec<u64> = x.iter().map(|v| v.wrapping_mul(*v)).collect();
    let mut d = Demand::new();
    d.linear(3, shape, rows as u64).square_pairs(n as u64);

    let mut counters = Vec::new();
    for tcp in [false, true] {
        let (mut c0, mut c1): (Box<dyn Channel>, Box<dyn Channel>) = if tcp {
            let (a, b) = tcp_pair();
            (Box::new(a), Box::new(b))
        } else {
            let (a, b) = memory_pair();
            (Box::new(a), Box::new(b))
        };
        let (mut m0, mut m1) = TrustedDealer::pair(
            PlanHash([8; 32]),
            SessionId([9; 16]),
            Some(Seed::from_u64(10)),
            &d,
        )
        .unwrap();
        let (w0, b0, x0) = (w.clone(), bias.clone(), x0.clone());
        let x1 = x1.clone();
        let client = thread::spawn(move || {
            let layer = LinearClient::setup(&mut c1, 3, shape).unwrap();
            let y = layer.eval(&mut c1, &mut m1, &x1).unwrap();
            let sq = arith::square_with(&mut c1, &mut m1, &x1).unwrap();
            let opened = (
                arith::open(&mut c1, &y).unwrap(),
                arith::open(&mut c1, &sq).unwrap(),
            );
            (opened, c1.stats())
        });
        let layer = LinearServer::setup(&mut c0, &mut m0, 3, shape, w0).unwrap();
        let mut y = layer.eval(&mut c0, &mut m0, &x0).unwrap();
        arith::add_bias(Party::Server, &mut y, &b0).unwrap();
        let sq = arith::square_with(&mut c0, &mut m0, &x0).unwrap();
        let opened0 = (
            arith::open(&mut c0, &y).unwrap(),
            arith::open(&mut c0, &sq).unwrap(),
        );
        let (opened1, s1) = client.join().unwrap();
        assert_eq!(opened0, opened1, "both parties open the same values");
        assert_eq!(opened0.0, want_y, "conv layer (tcp: {tcp})");
        assert_eq!(opened0.1, want_sq, "square (tcp: {tcp})");
        assert!(m0.remaining().iter().all(|(_, left)| *left == 0));
        counters.push((c0.stats(), s1));
    }
    assert_eq!(counters[0], counters[1], "same counters on both transports");
    // Per query the client sends only the activation-sized `f`, then one
    // word per element for the square and for each opening.
    let words = |w: usize| 5 + 8 * w as u64;
    let out = rows * shape.output_len();
    assert_eq!(
        counters[0].1.bytes_sent,
        words(n) + words(n) + words(out) + words(n)
    );
    assert_eq!(
        counters[0].0.bytes_sent,
        words(shape.weight_len()) + words(n) + words(out) + words(n)
    );
}
