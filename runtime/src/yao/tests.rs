//! Garble-then-evaluate equals plaintext for every library circuit, with
//! garbler inputs, evaluator inputs by (locally made) random OTs, and
//! XOR-shared inputs (B2Y); and a seeded digest of the garbled tables.

use super::*;
use crate::circuit::{library as lib, Circuit, Style};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// A seeded stand-in for the dealer's random OTs: sender pairs, receiver
/// choices (packed) and chosen messages.
pub(crate) fn local_ots(rng: &mut StdRng, n: usize) -> (Vec<[u128; 2]>, Vec<u64>, Vec<u128>) {
    let pairs: Vec<[u128; 2]> = (0..n).map(|_| [rng.random(), rng.random()]).collect();
    let choices: Vec<u64> = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
    let msgs = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| p[((choices[i / 64] >> (i % 64)) & 1) as usize])
        .collect();
    (pairs, choices, msgs)
}

/// Runs `c` on `n` instances: input words `< split` belong to the garbler,
/// the rest to the evaluator (by OT); returns the decoded outputs.
fn garble_and_run(c: &Circuit, inputs: &[u64], split: usize, seed: u64) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let iw = c.in_words();
    let n = inputs.len() / iw;
    let mut g = Garbler::new(&mut rng);
    let mut e = Evaluator::new();
    let zero = g.fresh_labels(&mut rng, n * iw * 64);
    let garbled = g.garble(c, &zero, n).expect("garble");
    // Garbler's words and evaluator's words, and the matching zero labels.
    let (mut gv, mut gz, mut ev, mut ez) = (vec![], vec![], vec![], vec![]);
    for inst in 0..n {
        for k in 0..iw {
            let word = inputs[inst * iw + k];
            let labels = &zero[(inst * iw + k) * 64..(inst * iw + k + 1) * 64];
            if k < split {
                gv.push(word);
                gz.extend_from_slice(labels);
            } else {
                ev.push(word);
                ez.extend_from_slice(labels);
            }
        }
    }
    let g_active = g.encode(&gz, &gv).expect("encode");
    let (pairs, choices, msgs) = local_ots(&mut rng, ez.len());
    let corr = g.ot_corrections(&pairs);
    let keys = OtKeys::new(&choices, &msgs, &corr).expect("keys");
    let flips = keys.flips(&ev).expect("flips");
    let answer = g.ot_respond(&ez, &pairs, &flips, None).expect("respond");
    let e_active = keys.finish(&answer).expect("finish");
    // Reassemble the evaluator's active labels in circuit order.
    let (mut gi, mut ei) = (0, 0);
    let mut active = Vec::with_capacity(zero.len());
    for _ in 0..n {
        for k in 0..iw {
            if k < split {
                active.extend_from_slice(&g_active[gi..gi + 64]);
                gi += 64;
            } else {
                active.extend_from_slice(&e_active[ei..ei + 64]);
                ei += 64;
            }
        }
    }
    let out = e
        .evaluate(c, &garbled.tables, &active, n)
        .expect("evaluate");
    decode(&out, &colour_bits(&garbled.outputs)).expect("decode")
}

fn circuits() -> Vec<Circuit> {
    let mut cs = vec![lib::relu(), lib::mux(), lib::shift(16)];
    for s in [Style::Size, Style::Depth] {
        cs.extend([
            lib::add(s),
            lib::sub(s),
            lib::add_shift(s, 16),
            lib::less_than(s),
            lib::max(s),
            lib::maxpool(s, 4),
            lib::argmax(s, 10),
            lib::clamp(s, -65536, 65536),
        ]);
    }
    cs
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
fn every_circuit_on_edge_values_all_input_splits() {
    for c in crate::cost::every_circuit() {
        let iw = c.in_words();
        let n = 40;
        let inputs: Vec<u64> = (0..n * iw)
            .map(|i| EDGES[(i * 5 + i / 7) % EDGES.len()])
            .collect();
        let want = c.eval_plain(&inputs);
        for split in [0, iw / 2, iw] {
            assert_eq!(
                garble_and_run(&c, &inputs, split, 7),
                want,
                "{} split {split}",
                c.name()
            );
        }
    }
}

#[test]
fn b2y_xor_of_both_shares() {
    let mut rng = StdRng::seed_from_u64(3);
    let c = lib::relu();
    let n = 70;
    let x: Vec<u64> = (0..n)
        .map(|i| EDGES[i % EDGES.len()] ^ (i as u64) << 20)
        .collect();
    let share_g: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
    let share_e: Vec<u64> = x.iter().zip(&share_g).map(|(a, b)| a ^ b).collect();
    let mut g = Garbler::new(&mut rng);
    let zero = g.fresh_labels(&mut rng, n * 64);
    let garbled = g.garble(&c, &zero, n).expect("garble");
    let (pairs, choices, msgs) = local_ots(&mut rng, n * 64);
    let keys = OtKeys::new(&choices, &msgs, &g.ot_corrections(&pairs)).expect("keys");
    let flips = keys.flips(&share_e).expect("flips");
    let answer = g
        .ot_respond(&zero, &pairs, &flips, Some(&share_g))
        .expect("respond");
    let active = keys.finish(&answer).expect("finish");
    let out = Evaluator::new()
        .evaluate(&c, &garbled.tables, &active, n)
        .expect("eval");
    let got = decode(&out, &colour_bits(&garbled.outputs)).expect("decode");
    assert_eq!(got, c.eval_plain(&x));
}

#[test]
fn lengths_from_the_peer_are_checked() {
    let c = lib::add(Style::Size);
    let mut e = Evaluator::new();
    let err = e.evaluate(&c, &[0; 10], &vec![0; 128], 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "garbled tables: expected 126 items, got 10"
    );
    assert!(decode(&[0; 64], &[]).is_err());
}

#[test]
fn garbled_table_digest_is_stable() {
    let mut rng = StdRng::seed_from_u64(2024);
    let mut g = Garbler::new(&mut rng);
    let mut hasher = blake3::Hasher::new();
    for c in circuits() {
        let zero = g.fresh_labels(&mut rng, 3 * c.n_inputs());
        let garbled = g.garble(&c, &zero, 3).expect("garble");
        hasher.update(bytemuck::cast_slice(&garbled.tables));
        hasher.update(bytemuck::cast_slice(&garbled.outputs));
    }
    insta::assert_snapshot!(hasher.finalize().to_hex().to_string());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn garbled_equals_plaintext(seed in any::<u64>(), n in 1usize..80, split_sel in 0usize..3) {
        let mut rng = StdRng::seed_from_u64(seed);
        for c in crate::cost::every_circuit() {
            let iw = c.in_words();
            let inputs: Vec<u64> = (0..n * iw)
                .map(|_| match rng.random_range(0..3) {
                    0 => rng.next_u64(),
                    1 => EDGES[rng.random_range(0..EDGES.len())],
                    _ => rng.random_range(-100_000i64..100_000) as u64,
                })
                .collect();
            let split = [0, iw / 2, iw][split_sel];
            prop_assert_eq!(garble_and_run(&c, &inputs, split, seed), c.eval_plain(&inputs), "{}", c.name());
        }
    }
}
