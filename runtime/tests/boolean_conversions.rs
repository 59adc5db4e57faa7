//! Every conversion, and GMW/Yao circuits, against plaintext: both parties
//! on threads, over the in-memory channel and loopback TCP, with material
//! from the real (seeded) dealer; measured bytes and rounds against the
//! cost functions.

use chimera_runtime::circuit::{library, OpCost, Style};
use chimera_runtime::convert::{self, cost, Conversion};
use chimera_runtime::dealer::{Demand, PartyMaterial, SessionId, TrustedDealer};
use chimera_runtime::gmw;
use chimera_runtime::plan::{Party, PlanHash};
use chimera_runtime::prg::{Prg, Seed};
use chimera_runtime::transport::{Channel, ChannelStats};
use chimera_runtime::yao::{YaoClient, YaoServer};

mod common;

use common::{additive, channels, run_pair, xor_shares};

fn material(demand: &Demand, seed: u64) -> (PartyMaterial, PartyMaterial) {
    TrustedDealer::pair(
        PlanHash([7; 32]),
        SessionId([9; 16]),
        Some(Seed::from_u64(seed)),
        demand,
    )
    .expect("deal")
}

const EDGES: [u64; 9] = [
    0,
    1,
    u64::MAX,
    i64::MAX as u64,
    i64::MIN as u64,
    2,
    u64::MAX - 1,
    (1u64 << 47) - 1, // headroom limit of f = 16 values
    (-(1i64 << 47)) as u64,
];

fn values(n: usize, seed: u64) -> Vec<u64> {
    let mut p = Prg::new(&Seed::from_u64(seed));
    (0..n)
        .map(|i| match i % 3 {
            0 => EDGES[(i / 3) % EDGES.len()],
            1 => p.next_u64(),
            _ => (p.next_u64() as i64 >> 40) as u64,
        })
        .collect()
}

fn sra(x: u64, f: u32) -> u64 {
    ((x as i64) >> f) as u64
}

/// The server's sent bytes are ahead + online server→client, the client's
/// its online bytes; rounds are the flights each sent.
fn assert_cost(c: &OpCost, s0: &ChannelStats, s1: &ChannelStats, server_ahead_flights: u64) {
    assert_eq!(
        s0.bytes_sent,
        c.ahead_of_query_bytes + c.bytes_server_to_client,
        "server bytes"
    );
    assert_eq!(s1.bytes_sent, c.bytes_client_to_server, "client bytes");
    assert_eq!(
        s0.rounds,
        c.server_flights as u64 + server_ahead_flights,
        "server flights"
    );
    assert_eq!(s1.rounds, c.client_flights as u64, "client flights");
}

fn a2b_case(tcp: bool, n: usize, f: u32) {
    let x = values(n, 1);
    let (x0, x1) = additive(&x, 2);
    let and_words = library::add_shift(Style::Depth, f).and_count() * n.div_ceil(64) as u64;
    let mut d = Demand::new();
    d.and_triples(and_words);
    let (b0, b1, s0, s1) = run_pair(
        channels(tcp),
        material(&d, 42),
        move |ch, m| convert::a2b(ch, m, &x0, f).expect("server a2b"),
        move |ch, m| convert::a2b(ch, m, &x1, f).expect("client a2b"),
    );
    let got: Vec<u64> = b0.iter().zip(&b1).map(|(a, b)| a ^ b).collect();
    let want: Vec<u64> = x.iter().map(|&v| sra(v, f)).collect();
    assert_eq!(got, want);
    assert_cost(&cost(Conversion::A2B, n, f), &s0, &s1, 0);
}

#[test]
fn a2b_with_and_without_truncation() {
    for (n, f) in [(1, 0), (100, 16), (130, 0), (64, 63)] {
        a2b_case(false, n, f);
    }
}

#[test]
fn b2a_one_exchange() {
    b2a_case(false);
}

fn b2a_case(tcp: bool) {
    let n = 150;
    let x = values(n, 3);
    let (x0, x1) = xor_shares(&x, 4);
    let mut d = Demand::new();
    d.shared_bits(64 * n as u64);
    let (a0, a1, s0, s1) = run_pair(
        channels(tcp),
        material(&d, 42),
        move |ch, m| convert::b2a(ch, m, &x0).expect("server b2a"),
        move |ch, m| convert::b2a(ch, m, &x1).expect("client b2a"),
    );
    let got: Vec<u64> = a0
        .iter()
        .zip(&a1)
        .map(|(a, b)| a.wrapping_add(*b))
        .collect();
    assert_eq!(got, x);
    assert_cost(&cost(Conversion::B2A, n, 0), &s0, &s1, 0);
}

#[test]
fn a2y_then_reveal() {
    a2y_case(false);
}

fn a2y_case(tcp: bool) {
    for (n, f) in [(1usize, 0u32), (77, 16)] {
        let x = values(n, 5);
        let (x0, x1) = additive(&x, 6);
        let mut d = Demand::new();
        d.random_ots(64 * n as u64);
        let (_, got, s0, s1) = run_pair(
            channels(tcp),
            material(&d, 42),
            move |ch, m| {
                let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(10)));
                let y = convert::a2y_server(ch, m, &mut ys, &x0, f).expect("a2y");
                let before = ch.stats();
                ys.reveal(ch, &y).expect("reveal");
                before
            },
            move |ch, m| {
                let mut yc = YaoClient::new();
                let y = convert::a2y_client(ch, m, &mut yc, &x1, f).expect("a2y");
                let before = ch.stats();
                (yc.reveal(ch, &y).expect("reveal"), before)
            },
        );
        let (got, c_before) = got;
        assert_eq!(got, x.iter().map(|&v| sra(v, f)).collect::<Vec<_>>());
        let c = cost(Conversion::A2Y, n, f);
        assert_eq!(c_before.bytes_sent, c.bytes_client_to_server);
        assert_eq!(s1.bytes_sent, c.bytes_client_to_server);
        let reveal = chimera_runtime::yao::reveal_cost(n);
        assert_eq!(
            s0.bytes_sent,
            c.ahead_of_query_bytes + c.bytes_server_to_client + reveal.ahead_of_query_bytes
        );
        // Ahead flight, online answer flight; the reveal follows the answer in the same flight.
        assert_eq!(s0.rounds, 2);
        assert_eq!(s1.rounds, 1);
    }
}

/// B2Y, then Y2B and Y2A on the same Y share: XOR and additive sums are x.
#[test]
fn b2y_y2b_y2a() {
    b2y_y2b_y2a_case(false);
}

fn b2y_y2b_y2a_case(tcp: bool) {
    let n = 90;
    let x = values(n, 7);
    let (x0, x1) = xor_shares(&x, 8);
    let mut d = Demand::new();
    d.random_ots(64 * n as u64);
    let (r0, r1, s0, s1) = run_pair(
        channels(tcp),
        material(&d, 42),
        move |ch, m| {
            let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(11)));
            let y = convert::b2y_server(ch, m, &mut ys, &x0).expect("b2y");
            let mid = ch.stats();
            let b = convert::y2b(&y);
            let a = convert::y2a_server(ch, &mut ys, &y).expect("y2a");
            (b, a, mid)
        },
        move |ch, m| {
            let mut yc = YaoClient::new();
            let y = convert::b2y_client(ch, m, &mut yc, &x1).expect("b2y");
            let mid = ch.stats();
            let b = convert::y2b(&y);
            let a = convert::y2a_client(ch, &mut yc, &y).expect("y2a");
            (b, a, mid)
        },
    );
    let xb: Vec<u64> = r0.0.iter().zip(&r1.0).map(|(a, b)| a ^ b).collect();
    assert_eq!(xb, x, "y2b");
    let xa: Vec<u64> =
        r0.1.iter()
            .zip(&r1.1)
            .map(|(a, b)| a.wrapping_add(*b))
            .collect();
    assert_eq!(xa, x, "y2a");
    assert_cost(&cost(Conversion::B2Y, n, 0), &r0.2, &r1.2, 1);
    let y2a = cost(Conversion::Y2A, n, 0);
    assert_eq!(s0.since(&r0.2).bytes_sent, y2a.ahead_of_query_bytes);
    assert_eq!(
        s1.since(&r1.2).bytes_sent,
        0,
        "Y2A costs the client nothing"
    );
    assert_eq!(cost(Conversion::Y2B, n, 0), OpCost::ZERO);
}

/// The 980-element ReLU layer both ways, over loopback TCP.
#[test]
fn relu_layer_in_b_and_in_y_over_tcp() {
    let n = 980;
    let f = 16;
    let x = values(n, 12);
    let want: Vec<u64> = x
        .iter()
        .map(|&v| (sra(v, f) as i64).max(0) as u64)
        .collect();
    let (x0, x1) = additive(&x, 13);
    // B: A2B (truncating) → relu → B2A.
    let relu = library::relu();
    let words = n.div_ceil(64) as u64;
    let mut d = Demand::new();
    d.and_triples((library::add_shift(Style::Depth, f).and_count() + relu.and_count()) * words)
        .shared_bits(64 * n as u64);
    let (xs0, xs1) = (x0.clone(), x1.clone());
    let (a0, a1, s0, s1) = run_pair(
        channels(true),
        material(&d, 42),
        move |ch, m| {
            let b = convert::a2b(ch, m, &xs0, f).expect("a2b");
            let r = gmw::run(ch, m, &library::relu(), &b).expect("relu");
            convert::b2a(ch, m, &r).expect("b2a")
        },
        move |ch, m| {
            let b = convert::a2b(ch, m, &xs1, f).expect("a2b");
            let r = gmw::run(ch, m, &library::relu(), &b).expect("relu");
            convert::b2a(ch, m, &r).expect("b2a")
        },
    );
    let got: Vec<u64> = a0
        .iter()
        .zip(&a1)
        .map(|(a, b)| a.wrapping_add(*b))
        .collect();
    assert_eq!(got, want, "B relu layer");
    let c = cost(Conversion::A2B, n, f) + gmw::cost(&relu.stats(), n) + cost(Conversion::B2A, n, 0);
    assert_cost(&c, &s0, &s1, 0);
    assert_eq!(c.rounds, 7 + 1 + 1);

    // Y: A2Y (truncating) → relu → Y2A.
    let mut d = Demand::new();
    d.random_ots(64 * n as u64);
    let (a0, a1, s0, s1) = run_pair(
        channels(true),
        material(&d, 42),
        move |ch, m| {
            let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(14)));
            let y = convert::a2y_server(ch, m, &mut ys, &x0, f).expect("a2y");
            let r = ys.eval(ch, &library::relu(), &y).expect("relu");
            convert::y2a_server(ch, &mut ys, &r).expect("y2a")
        },
        move |ch, m| {
            let mut yc = YaoClient::new();
            let y = convert::a2y_client(ch, m, &mut yc, &x1, f).expect("a2y");
            let r = yc.eval(ch, &library::relu(), &y).expect("relu");
            convert::y2a_client(ch, &mut yc, &r).expect("y2a")
        },
    );
    let got: Vec<u64> = a0
        .iter()
        .zip(&a1)
        .map(|(a, b)| a.wrapping_add(*b))
        .collect();
    assert_eq!(got, want, "Y relu layer");
    let c = cost(Conversion::A2Y, n, f)
        + chimera_runtime::yao::cost(&relu.stats(), n)
        + cost(Conversion::Y2A, n, 0);
    assert_eq!(
        s0.bytes_sent,
        c.ahead_of_query_bytes + c.bytes_server_to_client
    );
    assert_eq!(s1.bytes_sent, c.bytes_client_to_server);
}

/// Every conversion again over loopback TCP: same results, same counters.
#[test]
fn every_conversion_over_loopback_tcp() {
    a2b_case(true, 100, 16);
    b2a_case(true);
    a2y_case(true);
    b2y_y2b_y2a_case(true);
}

#[test]
fn exhausted_material_is_a_clear_error() {
    let n = 10;
    let x = values(n, 1);
    let (x0, x1) = additive(&x, 2);
    let d = Demand::new();
    let (r0, r1, _, _) = run_pair(
        channels(false),
        material(&d, 42),
        move |ch, m| convert::a2b(ch, m, &x0, 0).map_err(|e| e.to_string()),
        move |ch, m| convert::a2b(ch, m, &x1, 0).map_err(|e| e.to_string()),
    );
    let e0 = r0.expect_err("server must fail");
    assert!(e0.contains("AND-triple"), "{e0}");
    assert!(r1.is_err());
}

#[test]
fn party_roles_are_checked() {
    // A server handed client OTs refuses them.
    let mut d = Demand::new();
    d.random_ots(64);
    let (_, mut m1) = material(&d, 1);
    let (mut c0, _c1) = channels(false);
    let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(1)));
    let err = convert::a2y_server(&mut c0, &mut m1, &mut ys, &[1], 0).expect_err("wrong role");
    assert_eq!(
        err.to_string(),
        "dealer material: the server got receiver OTs"
    );
    assert_eq!(Party::Server.index(), 0);
}

/// Y in two phases: everything input-independent (adder, relu and
/// subtraction tables, OT corrections, mask labels, decoding bits) travels
/// before the query; online is one flight each way.
#[test]
fn relu_layer_in_y_with_ahead_of_query_phase() {
    let n = 300;
    let f = 16;
    let x = values(n, 21);
    let want: Vec<u64> = x
        .iter()
        .map(|&v| (sra(v, f) as i64).max(0) as u64)
        .collect();
    let (x0, x1) = additive(&x, 22);
    let relu = library::relu();
    let mut d = Demand::new();
    d.random_ots(64 * n as u64);
    let ahead_frames = (cost(Conversion::A2Y, n, f).ahead_of_query_messages
        + chimera_runtime::yao::cost(&relu.stats(), n).ahead_of_query_messages
        + cost(Conversion::Y2A, n, 0).ahead_of_query_messages) as usize;
    let (r0, r1, s0, s1) = run_pair(
        channels(true),
        material(&d, 42),
        move |ch, m| {
            let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(5)));
            let prep = ys.prepare_a2y(m, n, f).expect("prepare a2y");
            let r = ys
                .prepare_eval(&library::relu(), prep.output())
                .expect("prepare relu");
            let share = ys.prepare_y2a(&r).expect("prepare y2a");
            assert_eq!(ys.pending_ahead_frames(), ahead_frames);
            ys.send_ahead(ch).expect("ahead");
            let ahead = ch.stats();
            ys.online_a2y(ch, &prep, &x0).expect("online");
            (share, ahead)
        },
        move |ch, m| {
            let mut yc = YaoClient::new();
            let prep = yc.prepare_a2y(m, n, f).expect("prepare a2y");
            yc.receive_ahead(ch, ahead_frames).expect("ahead");
            let ahead = ch.stats();
            let y = yc.online_a2y(ch, &prep, &x1).expect("online");
            let r = yc.eval_prepared(&library::relu(), &y).expect("relu");
            (yc.y2a_prepared(&r).expect("y2a"), ahead)
        },
    );
    let got: Vec<u64> =
        r0.0.iter()
            .zip(&r1.0)
            .map(|(a, b)| a.wrapping_add(*b))
            .collect();
    assert_eq!(got, want);
    let c = cost(Conversion::A2Y, n, f)
        + chimera_runtime::yao::cost(&relu.stats(), n)
        + cost(Conversion::Y2A, n, 0);
    assert_eq!(r0.1.bytes_sent, c.ahead_of_query_bytes, "ahead bytes");
    let (on0, on1) = (s0.since(&r0.1), s1.since(&r1.1));
    assert_eq!(on0.bytes_sent, c.bytes_server_to_client);
    assert_eq!(on1.bytes_sent, c.bytes_client_to_server);
    assert_eq!((on0.rounds, on1.rounds), (1, 1));
    assert_eq!(c.rounds, 2);
}

#[test]
fn a_malformed_ahead_frame_is_the_peers_fault() {
    let (mut c0, mut c1) = channels(false);
    c0.send_u64s(&[1, 2, 3]).expect("send");
    let mut yc = YaoClient::new();
    yc.receive_ahead(&mut c1, 1).expect("recv");
    let x = chimera_runtime::yao::YShare::from_labels(vec![0; 64]).expect("share");
    let err = yc
        .eval_prepared(&library::relu(), &x)
        .expect_err("must refuse");
    assert_eq!(
        err.to_string(),
        "the peer misbehaved: garbled tables: expected a u128 words frame of 2016 bytes, received a u64 words frame of 24 bytes"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            proptest::sample::select(EDGES.to_vec()),
            (-(1i64 << 47)..(1i64 << 47)).prop_map(|v| v as u64),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        /// A2B (with truncation) then B2A, and A2Y then Y2A: the result is
        /// `x >> f` both ways.
        #[test]
        fn a_to_b_to_a_and_a_to_y_to_a(x in proptest::collection::vec(word(), 1..200), f in 0u32..40, seed in any::<u64>()) {
            let n = x.len();
            let want: Vec<u64> = x.iter().map(|&v| sra(v, f)).collect();
            let (x0, x1) = additive(&x, seed);
            let mut d = Demand::new();
            d.and_triples(library::add_shift(Style::Depth, f).and_count() * n.div_ceil(64) as u64)
                .shared_bits(64 * n as u64)
                .random_ots(64 * n as u64);
            let (a0, a1) = (x0.clone(), x1.clone());
            let (r0, r1, _, _) = run_pair(
                channels(false),
                material(&d, 42),
                move |ch, m| {
                    let b = convert::a2b(ch, m, &a0, f).expect("a2b");
                    let back = convert::b2a(ch, m, &b).expect("b2a");
                    let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(seed)));
                    let y = convert::a2y_server(ch, m, &mut ys, &a0, f).expect("a2y");
                    (back, convert::y2a_server(ch, &mut ys, &y).expect("y2a"))
                },
                move |ch, m| {
                    let b = convert::a2b(ch, m, &a1, f).expect("a2b");
                    let back = convert::b2a(ch, m, &b).expect("b2a");
                    let mut yc = YaoClient::new();
                    let y = convert::a2y_client(ch, m, &mut yc, &a1, f).expect("a2y");
                    (back, convert::y2a_client(ch, &mut yc, &y).expect("y2a"))
                },
            );
            let via_b: Vec<u64> = r0.0.iter().zip(&r1.0).map(|(a, b)| a.wrapping_add(*b)).collect();
            let via_y: Vec<u64> = r0.1.iter().zip(&r1.1).map(|(a, b)| a.wrapping_add(*b)).collect();
            prop_assert_eq!(via_b, want.clone());
            prop_assert_eq!(via_y, want);
        }

        /// B2Y then Y2B returns XOR shares of the same value.
        #[test]
        fn b_to_y_to_b(x in proptest::collection::vec(word(), 1..200), seed in any::<u64>()) {
            let n = x.len();
            let (x0, x1) = xor_shares(&x, seed);
            let mut d = Demand::new();
            d.random_ots(64 * n as u64);
            let (b0, b1, _, _) = run_pair(
                channels(false),
                material(&d, 42),
                move |ch, m| {
                    let mut ys = YaoServer::new(Prg::new(&Seed::from_u64(seed)));
                    convert::y2b(&convert::b2y_server(ch, m, &mut ys, &x0).expect("b2y"))
                },
                move |ch, m| {
                    let mut yc = YaoClient::new();
                    convert::y2b(&convert::b2y_client(ch, m, &mut yc, &x1).expect("b2y"))
                },
            );
            let got: Vec<u64> = b0.iter().zip(&b1).map(|(a, b)| a ^ b).collect();
            prop_assert_eq!(got, x);
        }
    }
}
