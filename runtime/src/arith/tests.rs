use super::linear::{Conv2dShape, LinearShape};
use super::*;
use crate::dealer::{Demand, PartyMaterial, SessionId, TrustedDealer};
use crate::plan::PlanHash;
use crate::prg::Seed;
use crate::transport::{memory_pair, MemoryChannel};
use proptest::prelude::*;

type Side<T> = Box<dyn FnOnce(&mut MemoryChannel, &mut PartyMaterial) -> T + Send>;

/// Run the server and client closures on two threads over an in-memory
/// channel with seeded dealer material.
fn run2<T: Send + 'static>(demand: &Demand, seed: u64, server: Side<T>, client: Side<T>) -> (T, T) {
    let (mut m0, mut m1) = TrustedDealer::pair(
        PlanHash([1; 32]),
        SessionId([2; 16]),
        Some(Seed::from_u64(seed)),
        demand,
    )
    .unwrap();
    let (mut c0, mut c1) = memory_pair();
    let t = std::thread::spawn(move || client(&mut c1, &mut m1));
    let a = server(&mut c0, &mut m0);
    (a, t.join().unwrap())
}

const EDGES: [i64; 9] = [0, 1, -1, 2, -2, i64::MAX, i64::MIN, 1 << 40, -(1 << 40)];

#[test]
fn open_reveal_and_local_operations() {
    let mut prg = Prg::new(&Seed::from_u64(10));
    let x: Vec<u64> = EDGES.iter().map(|&v| v as u64).collect();
    let (x0, x1) = share(&mut prg, &x);
    assert_eq!(reconstruct(&x0, &x1), x);
    let c = (-3i64) as u64;
    let sum = reconstruct(
        &add_const(Party::Server, &x0, c),
        &add_const(Party::Client, &x1, c),
    );
    assert_eq!(sum, x.iter().map(|v| v.wrapping_add(c)).collect::<Vec<_>>());
    assert_eq!(reconstruct(&scale(&x0, c), &scale(&x1, c)), scale(&x, c));
    assert_eq!(reconstruct(&neg(&x0), &neg(&x1)), neg(&x));
    let (y0, y1) = share(&mut prg, &x);
    assert_eq!(
        reconstruct(&sub(&x0, &y0), &sub(&x1, &y1)),
        vec![0; x.len()]
    );

    let (a, b) = run2(
        &Demand::new(),
        1,
        Box::new(move |ch, _| {
            let both = open(ch, &x0).unwrap();
            let mine = reveal_to(ch, Party::Server, Party::Client, &x0).unwrap();
            (both, mine, ch.stats())
        }),
        Box::new(move |ch, _| {
            let both = open(ch, &x1).unwrap();
            let mine = reveal_to(ch, Party::Client, Party::Client, &x1).unwrap();
            (both, mine, ch.stats())
        }),
    );
    assert_eq!(a.0, x);
    assert_eq!(b.0, x);
    assert_eq!(a.1, None);
    assert_eq!(b.1, Some(x.clone()));
    // Server: the open's send (1); after receiving, the reveal's send (2).
    assert_eq!(a.2.rounds, 2);
    // Client: one send, then only receives.
    assert_eq!(b.2.rounds, 1);
    assert_eq!(a.2.bytes_sent, 2 * (5 + 8 * 9));
}

fn mul_case(x: Vec<u64>, y: Vec<u64>, seed: u64) {
    let n = x.len();
    let mut prg = Prg::new(&Seed::from_u64(seed));
    let (x0, x1) = share(&mut prg, &x);
    let (y0, y1) = share(&mut prg, &y);
    let mut d = Demand::new();
    d.beaver(n as u64);
    let (z0, z1) = run2(
        &d,
        seed,
        Box::new(move |ch, m| {
            let z = mul_with(ch, m, &x0, &y0).unwrap();
            let (stats, predicted) = (ch.stats(), cost::mul(n));
            assert_eq!(stats.rounds, predicted.server_flights as u64);
            assert_eq!(stats.bytes_sent, predicted.bytes_server_to_client);
            assert_eq!(stats.bytes_received, predicted.bytes_client_to_server);
            z
        }),
        Box::new(move |ch, m| mul_with(ch, m, &x1, &y1).unwrap()),
    );
    let expected: Vec<u64> = x.iter().zip(&y).map(|(a, b)| a.wrapping_mul(*b)).collect();
    assert_eq!(reconstruct(&z0, &z1), expected);
}

#[test]
fn beaver_multiplication_on_edge_values() {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for &a in &EDGES {
        for &b in &EDGES {
            x.push(a as u64);
            y.push(b as u64);
        }
    }
    mul_case(x, y, 3);
}

#[test]
fn squaring_on_edge_values_costs_one_opening() {
    let mut prg = Prg::new(&Seed::from_u64(30));
    let mut x: Vec<u64> = EDGES.iter().map(|&v| v as u64).collect();
    x.extend(prg.u64s(100));
    let n = x.len();
    let (x0, x1) = share(&mut prg, &x);
    let mut d = Demand::new();
    d.square_pairs(n as u64);
    let ((z0, s0), (z1, s1)) = run2(
        &d,
        30,
        Box::new(move |ch, m| (square_with(ch, m, &x0).unwrap(), ch.stats())),
        Box::new(move |ch, m| (square_with(ch, m, &x1).unwrap(), ch.stats())),
    );
    let expected: Vec<u64> = x.iter().map(|a| a.wrapping_mul(*a)).collect();
    assert_eq!(reconstruct(&z0, &z1), expected);
    let predicted = cost::square(n);
    assert_eq!(s0.bytes_sent, predicted.bytes_server_to_client);
    assert_eq!(s1.bytes_sent, predicted.bytes_client_to_server);
    assert_eq!((s0.rounds, s1.rounds), (1, 1));
    assert_eq!(predicted.bytes_server_to_client, 5 + 8 * n as u64);
}

#[test]
fn beaver_refuses_reused_material() {
    let mut d = Demand::new();
    d.beaver(4);
    let (e0, e1) = run2(
        &d,
        4,
        Box::new(|ch, m| {
            mul_with(ch, m, &[1, 2, 3, 4], &[5, 6, 7, 8]).unwrap();
            mul_with(ch, m, &[1], &[1]).unwrap_err().to_string()
        }),
        Box::new(|ch, m| {
            mul_with(ch, m, &[0; 4], &[0; 4]).unwrap();
            mul_with(ch, m, &[1], &[1]).unwrap_err().to_string()
        }),
    );
    assert_eq!(
        e0,
        "dealer material exhausted: requested 1 Beaver triples, 0 left of 4 dealt"
    );
    assert_eq!(e0, e1);
}

fn trunc_case(x: Vec<i64>, bits: u32, seed: u64) {
    let n = x.len();
    let mut prg = Prg::new(&Seed::from_u64(seed));
    let xu: Vec<u64> = x.iter().map(|&v| v as u64).collect();
    let (x0, x1) = share(&mut prg, &xu);
    let mut d = Demand::new();
    d.trunc_pairs(n as u64, bits);
    let (y0, y1) = run2(
        &d,
        seed,
        Box::new(move |ch, m| {
            let y = truncate(ch, m, &x0, bits).unwrap();
            assert_eq!(
                ch.stats().bytes_sent,
                cost::truncate(n, bits).bytes_server_to_client
            );
            y
        }),
        Box::new(move |ch, m| truncate(ch, m, &x1, bits).unwrap()),
    );
    for (i, y) in reconstruct(&y0, &y1).into_iter().enumerate() {
        let exact = x[i] >> bits;
        let got = y as i64;
        assert!(
            got == exact || got == exact - 1,
            "x = {} >> {bits}: got {got}, exact {exact}",
            x[i]
        );
    }
}

const LIMIT: i64 = (1 << 62) - 1;

#[test]
fn truncation_at_the_headroom_limits() {
    let values = vec![
        0,
        1,
        -1,
        2,
        -2,
        65535,
        65536,
        -65536,
        -65537,
        LIMIT,
        -LIMIT,
        -LIMIT - 1,
        LIMIT - 1,
    ];
    for bits in [1, 12, 16, 32, 61, 62] {
        for seed in 0..8 {
            trunc_case(values.clone(), bits, 100 + seed);
        }
    }
}

#[test]
fn truncation_errs_by_at_most_one_unit_below_on_many_values() {
    let mut prg = Prg::new(&Seed::from_u64(11));
    let x: Vec<i64> = (0..20_000)
        .map(|_| (prg.next_u64() as i64) >> 2) // uniform over the headroom
        .collect();
    trunc_case(x, 16, 12);
}

#[test]
fn truncation_rejects_bad_shifts() {
    let mut d = Demand::new();
    d.trunc_pairs(1, 16);
    let (a, _) = run2(
        &d,
        5,
        Box::new(|ch, m| {
            let pairs = m.trunc_pairs(1, 16).unwrap();
            let e1 = trunc::truncate_with_pairs(ch, Party::Server, &[0], 63, &pairs).unwrap_err();
            let e2 = trunc::truncate_with_pairs(ch, Party::Server, &[0], 12, &pairs).unwrap_err();
            (e1.to_string(), e2.to_string())
        }),
        Box::new(|_, _| (String::new(), String::new())),
    );
    assert_eq!(
        a.0,
        "invalid operands: truncation by 63 bits: must be between 1 and 62"
    );
    assert_eq!(
        a.1,
        "invalid operands: truncation pairs dealt for a shift of 16 used for 12"
    );
}

fn linear_case(shape: LinearShape, rows: usize, seed: u64) {
    let mut prg = Prg::new(&Seed::from_u64(seed));
    let w: Vec<u64> = prg.u64s(shape.weight_len());
    let bias: Vec<u64> = prg.u64s(shape.output_len());
    let x: Vec<u64> = prg.u64s(rows * shape.input_len());
    let (x0, x1) = share(&mut prg, &x);
    let mut d = Demand::new();
    d.linear(7, shape, 2 * rows as u64);
    let (w2, b2, in_len) = (w.clone(), bias.clone(), shape.input_len());
    let ((y0, s0, q0), (y1, s1, q1)) = run2(
        &d,
        seed,
        Box::new(move |ch, m| {
            let layer = LinearServer::setup(ch, m, 7, shape, w2).unwrap();
            let setup = ch.stats();
            let mut out = Vec::new();
            for _ in 0..2 {
                let mut y = layer.eval(ch, m, &x0).unwrap();
                add_bias(Party::Server, &mut y, &b2).unwrap();
                out = y;
            }
            (out, setup, ch.stats().since(&setup))
        }),
        Box::new(move |ch, m| {
            let layer = LinearClient::setup(ch, 7, shape).unwrap();
            let setup = ch.stats();
            let mut out = Vec::new();
            for _ in 0..2 {
                out = layer.eval(ch, m, &x1).unwrap();
            }
            (out, setup, ch.stats().since(&setup))
        }),
    );
    let expected = {
        let mut y = shape.apply(&w, &x).unwrap();
        add_bias(Party::Server, &mut y, &bias).unwrap();
        y
    };
    assert_eq!(reconstruct(&y0, &y1), expected, "{shape:?}");
    // The weights travel once, masked, at set-up.
    assert_eq!(s0.bytes_sent, 5 + 8 * shape.weight_len() as u64);
    assert_eq!(
        s0.bytes_sent,
        cost::linear_setup(&shape).ahead_of_query_bytes
    );
    assert_eq!(
        q1.bytes_sent,
        2 * cost::linear_query(&shape, rows).bytes_client_to_server
    );
    assert_eq!(s1.bytes_sent, 0);
    // Per query: only the client's activation-sized message; nothing from the server.
    assert_eq!(q0.bytes_sent, 0);
    assert_eq!(q1.bytes_sent, 2 * (5 + 8 * (rows * in_len) as u64));
    // Both queries' messages leave without the client receiving in between:
    // one flight.
    assert_eq!(q1.rounds, 1);
}

#[test]
fn private_dense_layer_matches_plaintext() {
    linear_case(
        LinearShape::Dense {
            inputs: 980,
            outputs: 100,
        },
        1,
        20,
    );
    linear_case(
        LinearShape::Dense {
            inputs: 17,
            outputs: 3,
        },
        4,
        21,
    );
}

#[test]
fn private_conv_layer_matches_plaintext() {
    let shape = LinearShape::Conv2d(Conv2dShape {
        input: [1, 28, 28],
        out_channels: 5,
        kernel: [5, 5],
        stride: [2, 2],
        padding: [2, 2],
    });
    linear_case(shape, 2, 22);
    let shape = LinearShape::Conv2d(Conv2dShape {
        input: [3, 8, 8],
        out_channels: 4,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
    });
    linear_case(shape, 1, 23);
}

#[test]
fn private_linear_rejects_ragged_batches() {
    let shape = LinearShape::Dense {
        inputs: 4,
        outputs: 2,
    };
    let mut d = Demand::new();
    d.linear(0, shape, 1);
    let (_, e) = run2(
        &d,
        6,
        Box::new(move |ch, m| {
            LinearServer::setup(ch, m, 0, shape, vec![0; 8]).unwrap();
            String::new()
        }),
        Box::new(move |ch, m| {
            let l = LinearClient::setup(ch, 0, shape).unwrap();
            l.eval(ch, m, &[0; 5]).unwrap_err().to_string()
        }),
    );
    assert_eq!(
        e,
        "invalid operands: an activation batch of 5 elements is not a whole number of 4-element rows"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn beaver_matches_plaintext(pairs in proptest::collection::vec(any::<(u64, u64)>(), 1..50), seed in any::<u64>()) {
        let (x, y): (Vec<u64>, Vec<u64>) = pairs.into_iter().unzip();
        mul_case(x, y, seed);
    }

    #[test]
    fn truncation_matches_shift(x in proptest::collection::vec(-LIMIT - 1..=LIMIT, 1..50), bits in 1u32..=62, seed in any::<u64>()) {
        trunc_case(x, bits, seed);
    }
}
