//! Every circuit of the library run by both boolean protocols between two
//! real parties — GMW with the dealer's AND triples, Yao with the client's
//! inputs through the dealer's random OTs (B2Y) — in memory and over loopback
//! TCP, against the plaintext interpreter on edge and random values, with the
//! channel counters equal to the cost functions; and a snapshot of the
//! seeded transcript digest of the boolean protocols and conversions, so an
//! unintended change of what they send fails a test.

use chimera_runtime::circuit::{library, Circuit, Style};
use chimera_runtime::convert::{self, Conversion};
use chimera_runtime::cost::every_circuit;
use chimera_runtime::dealer::{Demand, PartyMaterial, SessionId, TrustedDealer};
use chimera_runtime::gmw;
use chimera_runtime::plan::{Party, PlanHash};
use chimera_runtime::prg::{Prg, Seed};
use chimera_runtime::transport::{memory_pair, Recording};
use chimera_runtime::yao::{self, YaoClient, YaoServer};

mod common;

use common::{additive, channels, run_pair, xor_shares};

fn material(demand: &Demand, seed: u64) -> (PartyMaterial, PartyMaterial) {
    TrustedDealer::pair(
        PlanHash([11; 32]),
        SessionId([12; 16]),
        Some(Seed::from_u64(seed)),
        demand,
    )
    .expect("deal")
}

/// 0, ±1, ±2, the extremes of i64, the fixed-point headroom limits of
/// truncation (±2^62) and of f = 16 values (±2^47).
const EDGES: [u64; 13] = [
    0,
    1,
    u64::MAX,
    2,
    u64::MAX - 1,
    i64::MAX as u64,
    i64::MIN as u64,
    (1u64 << 62) - 1,
    (-(1i64 << 62)) as u64,
    (1u64 << 47) - 1,
    (-(1i64 << 47)) as u64,
    1 << 16,
    (-(1i64 << 16)) as u64,
];

/// `n` words: every edge value at each input position in turn, uniform
/// words, and small signed values (so comparisons and maxima are decided by
/// low bits too).
fn values(n: usize, seed: u64) -> Vec<u64> {
    let mut p = Prg::new(&Seed::from_u64(seed));
    (0..n)
        .map(|i| match i % 3 {
            0 => EDGES[(i / 3 + i / 7) % EDGES.len()],
            1 => p.next_u64(),
            _ => (p.next_u64() as i64 >> 44) as u64,
        })
        .collect()
}

/// Instances per circuit: more than 64, so bit-sliced words are ragged.
const N: usize = 70;

fn gmw_case(tcp: bool, c: &Circuit, seed: u64) {
    let x = values(N * c.in_words(), seed);
    let want = c.eval_plain(&x);
    let (x0, x1) = xor_shares(&x, seed + 1);
    let mut d = Demand::new();
    d.and_triples(gmw::triple_words(&c.stats(), N) as u64);
    let (c0, c1) = (c.clone(), c.clone());
    let (none, got, s0, s1) = run_pair(
        channels(tcp),
        material(&d, 42),
        move |ch, m| {
            let y = gmw::run(ch, m, &c0, &x0).expect("server gmw");
            gmw::reveal(ch, Party::Server, &y).expect("server reveal")
        },
        move |ch, m| {
            let y = gmw::run(ch, m, &c1, &x1).expect("client gmw");
            gmw::reveal(ch, Party::Client, &y).expect("client reveal")
        },
    );
    assert_eq!(none, None);
    assert_eq!(got, Some(want), "GMW {} (tcp: {tcp})", c.name());
    let run_cost = gmw::cost(&c.stats(), N);
    let reveal = gmw::reveal_cost(N * c.out_words());
    let cost = run_cost + reveal;
    assert_eq!(s0.bytes_sent, cost.bytes_server_to_client, "{}", c.name());
    assert_eq!(s1.bytes_sent, cost.bytes_client_to_server, "{}", c.name());
    // One message per AND level for the whole tensor, each way; the
    // server's reveal is one more.
    let depth = u64::from(c.and_depth());
    assert_eq!(
        (s1.rounds, s1.messages_sent),
        (depth, depth),
        "{}",
        c.name()
    );
    assert_eq!((s0.rounds, s0.messages_sent), (depth + 1, depth + 1));
    assert_eq!(u64::from(run_cost.client_flights), depth);
}

fn yao_case(tcp: bool, c: &Circuit, seed: u64) {
    let x = values(N * c.in_words(), seed);
    let want = c.eval_plain(&x);
    let (x0, x1) = xor_shares(&x, seed + 1);
    let words = x.len();
    let mut d = Demand::new();
    d.random_ots(64 * words as u64);
    let (c0, c1) = (c.clone(), c.clone());
    let (_, got, s0, s1) = run_pair(
        channels(tcp),
        material(&d, 42),
        move |ch, m| {
            let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(seed + 2)));
            let y = convert::b2y_server(ch, m, &mut ys, &x0).expect("server b2y");
            let out = ys.eval(ch, &c0, &y).expect("garble");
            ys.reveal(ch, &out).expect("server reveal");
        },
        move |ch, m| {
            let mut yc = YaoClient::new();
            let y = convert::b2y_client(ch, m, &mut yc, &x1).expect("client b2y");
            let out = yc.eval(ch, &c1, &y).expect("evaluate");
            yc.reveal(ch, &out).expect("client reveal")
        },
    );
    assert_eq!(got, want, "Yao {} (tcp: {tcp})", c.name());
    let cost = convert::cost(Conversion::B2Y, words, 0)
        + yao::cost(&c.stats(), N)
        + yao::reveal_cost(N * c.out_words());
    assert_eq!(
        s0.bytes_sent,
        cost.ahead_of_query_bytes + cost.bytes_server_to_client,
        "{}",
        c.name()
    );
    assert_eq!(s1.bytes_sent, cost.bytes_client_to_server, "{}", c.name());
    // The server: the OT corrections; then the OT answer, the tables and the
    // decoding bits in one flight. The client: its flips.
    assert_eq!((s0.rounds, s1.rounds), (2, 1), "{}", c.name());
}

#[test]
fn every_library_circuit_in_gmw_in_memory_and_over_tcp() {
    for (k, c) in every_circuit().iter().enumerate() {
        for tcp in [false, true] {
            gmw_case(tcp, c, 100 + k as u64);
        }
    }
}

#[test]
fn every_library_circuit_in_yao_in_memory_and_over_tcp() {
    for (k, c) in every_circuit().iter().enumerate() {
        for tcp in [false, true] {
            yao_case(tcp, c, 200 + k as u64);
        }
    }
}

/// One fixed run of every boolean protocol and conversion, seeded (dealer
/// and garbler), in memory: A2B with truncation, relu and maxpool in GMW,
/// B2A; A2Y with truncation, relu in Yao, Y2A; B2Y, Y2B; reveals. The blake3
/// digests of what each party sent are snapshotted: a change of any byte
/// either party sends fails here, even when results and byte counts stay
/// the same.
#[test]
fn boolean_transcript_digest_is_stable() {
    const F: u32 = 16;
    let n = 100;
    let x = values(n, 7);
    let (a0, a1) = additive(&x, 8);
    let (b0, b1) = xor_shares(&x, 9);
    let relu = library::relu();
    let pool = library::maxpool(Style::Depth, 4);
    let words = n.div_ceil(64) as u64;
    let mut d = Demand::new();
    d.and_triples(
        (library::add_shift(Style::Depth, F).and_count() + relu.and_count()) * words
            + pool.and_count() * (n / 4).div_ceil(64) as u64,
    )
    .shared_bits(64 * n as u64)
    .random_ots(2 * 64 * n as u64);
    let (m0, m1) = memory_pair();
    let (d0, d1, s0, s1) = run_pair(
        (Recording::new(m0), Recording::new(m1)),
        material(&d, 42),
        move |ch, m| {
            let b = convert::a2b(ch, m, &a0, F).expect("a2b");
            let r = gmw::run(ch, m, &library::relu(), &b).expect("gmw relu");
            let p = gmw::run(ch, m, &library::maxpool(Style::Depth, 4), &r).expect("gmw pool");
            gmw::reveal(ch, Party::Server, &p).expect("reveal");
            convert::b2a(ch, m, &r).expect("b2a");
            let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(10)));
            let y = convert::a2y_server(ch, m, &mut ys, &a0, F).expect("a2y");
            let r = ys.eval(ch, &library::relu(), &y).expect("garble relu");
            convert::y2a_server(ch, &mut ys, &r).expect("y2a");
            let y = convert::b2y_server(ch, m, &mut ys, &b0).expect("b2y");
            gmw::reveal(ch, Party::Server, &convert::y2b(&y)).expect("reveal");
            ch.digest()
        },
        move |ch, m| {
            let b = convert::a2b(ch, m, &a1, F).expect("a2b");
            let r = gmw::run(ch, m, &library::relu(), &b).expect("gmw relu");
            let p = gmw::run(ch, m, &library::maxpool(Style::Depth, 4), &r).expect("gmw pool");
            let pooled = gmw::reveal(ch, Party::Client, &p).expect("reveal");
            convert::b2a(ch, m, &r).expect("b2a");
            let mut yc = YaoClient::new();
            let y = convert::a2y_client(ch, m, &mut yc, &a1, F).expect("a2y");
            let r = yc.eval(ch, &library::relu(), &y).expect("evaluate relu");
            convert::y2a_client(ch, &mut yc, &r).expect("y2a");
            let y = convert::b2y_client(ch, m, &mut yc, &b1).expect("b2y");
            let back = gmw::reveal(ch, Party::Client, &convert::y2b(&y)).expect("reveal");
            (ch.digest(), pooled, back)
        },
    );
    let (d1, pooled, back) = d1;
    // The run is correct, so the digest pins a working protocol.
    let relu_trunc: Vec<u64> = x.iter().map(|&v| ((v as i64 >> F).max(0)) as u64).collect();
    assert_eq!(pooled, Some(pool.eval_plain(&relu_trunc)));
    assert_eq!(back, Some(x));
    insta::assert_snapshot!(
        "boolean_transcript",
        format!("server digest {d0}\nclient digest {d1}\nserver {s0:?}\nclient {s1:?}")
    );
}
