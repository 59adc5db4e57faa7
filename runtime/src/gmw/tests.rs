//! GMW equals plaintext for every library circuit; rounds and bytes equal
//! the cost function.

use super::*;
use crate::circuit::library as lib;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Seeded stand-in for the dealer: both parties' AND triple shares.
pub(crate) fn local_triples(rng: &mut StdRng, words: usize) -> [[Vec<u64>; 3]; 2] {
    let a0: Vec<u64> = (0..words).map(|_| rng.next_u64()).collect();
    let b0: Vec<u64> = (0..words).map(|_| rng.next_u64()).collect();
    let c0: Vec<u64> = (0..words).map(|_| rng.next_u64()).collect();
    let a1: Vec<u64> = (0..words).map(|_| rng.next_u64()).collect();
    let b1: Vec<u64> = (0..words).map(|_| rng.next_u64()).collect();
    let c1: Vec<u64> = (0..words)
        .map(|i| ((a0[i] ^ a1[i]) & (b0[i] ^ b1[i])) ^ c0[i])
        .collect();
    [[a0, b0, c0], [a1, b1, c1]]
}

/// Runs both parties in lock-step; returns the reconstructed outputs, the
/// rounds and the bytes each party sent.
pub(crate) fn run_both(c: &Circuit, x: &[u64], rng: &mut StdRng) -> (Vec<u64>, u32, u64) {
    let n = x.len() / c.in_words();
    let s0: Vec<u64> = x.iter().map(|_| rng.next_u64()).collect();
    let s1: Vec<u64> = x.iter().zip(&s0).map(|(a, b)| a ^ b).collect();
    let t = local_triples(rng, triple_words(&c.stats(), n));
    let ts: Vec<TripleShares<'_>> = t.iter().map(|[a, b, c]| TripleShares { a, b, c }).collect();
    let mut p0 = GmwEval::new(c, true, &s0, n).expect("p0");
    let mut p1 = GmwEval::new(c, false, &s1, n).expect("p1");
    let (mut rounds, mut bytes) = (0u32, 0u64);
    while !p0.is_done() {
        let m0 = p0.message(&ts[0]).expect("m0").to_vec();
        let m1 = p1.message(&ts[1]).expect("m1").to_vec();
        bytes += 8 * m0.len() as u64 + crate::circuit::FRAME_HEADER;
        p0.receive(&ts[0], &m1).expect("r0");
        p1.receive(&ts[1], &m0).expect("r1");
        rounds += 1;
    }
    assert!(p1.is_done());
    assert_eq!(p0.triples_used(), triple_words(&c.stats(), n));
    let o0 = p0.outputs().expect("o0");
    let o1 = p1.outputs().expect("o1");
    (
        o0.iter().zip(&o1).map(|(a, b)| a ^ b).collect(),
        rounds,
        bytes,
    )
}

const EDGES: [u64; 7] = [
    0,
    1,
    u64::MAX,
    i64::MAX as u64,
    i64::MIN as u64,
    2,
    u64::MAX - 1,
];

#[test]
fn every_circuit_on_edges_with_rounds_and_bytes_as_costed() {
    let mut rng = StdRng::seed_from_u64(11);
    for c in crate::cost::every_circuit() {
        for n in [1usize, 63, 64, 65, 200] {
            let x: Vec<u64> = (0..n * c.in_words())
                .map(|i| EDGES[(i * 3 + i / 5) % EDGES.len()])
                .collect();
            let (got, rounds, bytes) = run_both(&c, &x, &mut rng);
            assert_eq!(got, c.eval_plain(&x), "{} n={n}", c.name());
            let cost = cost(&c.stats(), n);
            assert_eq!(rounds, cost.rounds, "{}", c.name());
            assert_eq!(bytes, cost.bytes_server_to_client, "{}", c.name());
        }
    }
}

#[test]
fn misuse_is_an_error() {
    let c = lib::relu();
    let mut rng = StdRng::seed_from_u64(1);
    let t = local_triples(&mut rng, 63);
    let ts = TripleShares {
        a: &t[0][0],
        b: &t[0][1],
        c: &t[0][2],
    };
    let mut p = GmwEval::new(&c, true, &[5], 1).expect("new");
    assert_eq!(
        p.outputs().unwrap_err().to_string(),
        "GMW evaluation is not finished"
    );
    assert!(p.receive(&ts, &[0, 0]).is_err());
    let m = p.message(&ts).expect("msg").len();
    assert_eq!(m, 2 * 63);
    let err = p.receive(&ts, &[0; 3]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "peer's GMW level message: expected 126 words, got 3"
    );
    let short = TripleShares {
        a: &[],
        b: &[],
        c: &[],
    };
    let mut q = GmwEval::new(&c, true, &[5], 1).expect("new");
    assert!(q.message(&short).is_err());
    assert!(GmwEval::new(&c, true, &[1, 2], 1).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn gmw_equals_plaintext(seed in any::<u64>(), n in 1usize..150) {
        let mut rng = StdRng::seed_from_u64(seed);
        for c in crate::cost::every_circuit() {
            let x: Vec<u64> = (0..n * c.in_words())
                .map(|_| match rng.random_range(0..3) {
                    0 => rng.next_u64(),
                    1 => EDGES[rng.random_range(0..EDGES.len())],
                    _ => rng.random_range(-100_000i64..100_000) as u64,
                })
                .collect();
            let (got, _, _) = run_both(&c, &x, &mut rng);
            prop_assert_eq!(got, c.eval_plain(&x), "{}", c.name());
        }
    }
}
