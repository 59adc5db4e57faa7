//! Every library circuit, both styles, against plain Rust arithmetic.

use super::library as lib;
use super::*;
use proptest::prelude::*;

const EDGES: [u64; 9] = [
    0,
    1,
    u64::MAX,
    2,
    u64::MAX - 1,
    i64::MAX as u64,
    i64::MIN as u64,
    (i64::MIN as u64) + 1,
    (i64::MAX as u64) - 1,
];

const STYLES: [Style; 2] = [Style::Size, Style::Depth];

fn edge_pairs() -> (Vec<u64>, Vec<u64>) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &a in &EDGES {
        for &b in &EDGES {
            xs.push(a);
            ys.push(b);
        }
    }
    (xs, ys)
}

fn interleave(cols: &[&[u64]]) -> Vec<u64> {
    let n = cols[0].len();
    let mut out = Vec::with_capacity(n * cols.len());
    for i in 0..n {
        for c in cols {
            out.push(c[i]);
        }
    }
    out
}

fn check_binary(c: &Circuit, xs: &[u64], ys: &[u64], f: impl Fn(u64, u64) -> u64) {
    let got = c.eval_plain(&interleave(&[xs, ys]));
    for i in 0..xs.len() {
        assert_eq!(
            got[i],
            f(xs[i], ys[i]),
            "{} on {:#x}, {:#x}",
            c.name(),
            xs[i],
            ys[i]
        );
    }
}

fn lt(x: u64, y: u64) -> u64 {
    ((x as i64) < (y as i64)) as u64
}

fn imax(x: u64, y: u64) -> u64 {
    (x as i64).max(y as i64) as u64
}

#[test]
fn transpose_is_an_involution_and_moves_bits() {
    let mut a = [0u64; 64];
    for (i, w) in a.iter_mut().enumerate() {
        *w = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (1u64 << i);
    }
    let orig = a;
    transpose64(&mut a);
    for (i, row) in a.iter().enumerate() {
        for (j, orig_row) in orig.iter().enumerate() {
            assert_eq!((row >> j) & 1, (orig_row >> i) & 1);
        }
    }
    transpose64(&mut a);
    assert_eq!(a, orig);
}

#[test]
fn bitslice_round_trip_with_ragged_tail() {
    let vals: Vec<u64> = (0..(3 * 131) as u64)
        .map(|i| i.wrapping_mul(0xDEAD_BEEF_1234_5677))
        .collect();
    let s = to_bitsliced(&vals, 3);
    assert_eq!(s.len(), 3 * 64 * 3);
    assert_eq!(from_bitsliced(&s, 3, 131), vals);
}

#[test]
fn edge_values_all_binary_circuits() {
    let (xs, ys) = edge_pairs();
    for style in STYLES {
        check_binary(&lib::add(style), &xs, &ys, u64::wrapping_add);
        check_binary(&lib::sub(style), &xs, &ys, u64::wrapping_sub);
        check_binary(&lib::sub_mask(style), &xs, &ys, u64::wrapping_sub);
        check_binary(&lib::less_than(style), &xs, &ys, lt);
        check_binary(&lib::max(style), &xs, &ys, imax);
        for f in [0, 1, 16, 63] {
            check_binary(&lib::add_shift(style, f), &xs, &ys, |a, b| {
                ((a.wrapping_add(b) as i64) >> f) as u64
            });
        }
    }
}

#[test]
fn relu_shift_clamp_on_edges() {
    let relu = lib::relu();
    let got = relu.eval_plain(&EDGES);
    for (g, &x) in got.iter().zip(&EDGES) {
        assert_eq!(*g, (x as i64).max(0) as u64);
    }
    for f in [0u32, 1, 16, 63] {
        let got = lib::shift(f).eval_plain(&EDGES);
        for (g, &x) in got.iter().zip(&EDGES) {
            assert_eq!(*g, ((x as i64) >> f) as u64);
        }
    }
    for style in STYLES {
        for (lo, hi) in [(-65536i64, 65536i64), (0, 0), (i64::MIN, i64::MAX), (-1, 1)] {
            let got = lib::clamp(style, lo, hi).eval_plain(&EDGES);
            for (g, &x) in got.iter().zip(&EDGES) {
                assert_eq!(
                    *g as i64,
                    (x as i64).clamp(lo, hi),
                    "clamp {lo} {hi} of {x:#x}"
                );
            }
        }
    }
}

#[test]
fn argmax_picks_first_on_ties() {
    for style in STYLES {
        let c = lib::argmax(style, 5);
        let inputs = [
            3u64,
            7,
            7,
            (-1i64) as u64,
            7,
            /* */ 0,
            0,
            0,
            0,
            0, /* */
            i64::MIN as u64,
            i64::MIN as u64,
            i64::MIN as u64,
            i64::MIN as u64,
            (i64::MIN + 1) as u64,
        ];
        assert_eq!(c.eval_plain(&inputs), vec![1, 0, 4]);
    }
}

#[test]
fn counts_and_depths_are_what_the_cost_model_expects() {
    assert_eq!(lib::add(Style::Size).and_count(), 63);
    assert_eq!(lib::add(Style::Size).and_depth(), 63);
    assert_eq!(lib::sub(Style::Size).and_count(), 63);
    assert_eq!(lib::less_than(Style::Size).and_count(), 64);
    assert_eq!(lib::relu().and_count(), 63);
    assert_eq!(lib::relu().and_depth(), 1);
    assert_eq!(lib::shift(16).and_count(), 0);
    assert_eq!(lib::mux().and_count(), 64);
    let prefix = lib::add(Style::Depth);
    assert!(
        prefix.and_depth() <= 7,
        "prefix adder depth {}",
        prefix.and_depth()
    );
    assert!(prefix.and_count() < 64 * 7);
    assert!(lib::less_than(Style::Depth).and_depth() <= 7);
    // max = compare + mux (one more level)
    assert_eq!(lib::max(Style::Size).and_count(), 64 + 64);
    assert_eq!(
        lib::maxpool(Style::Depth, 4).and_depth(),
        2 * (lib::max(Style::Depth).and_depth())
    );
    // argmax of 10: index bits are public at the leaves, so they fold.
    let am = lib::argmax(Style::Size, 10);
    assert!(am.and_count() < 9 * (64 + 64 + 4));
}

fn arb_word() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        proptest::sample::select(EDGES.to_vec()),
        (-70000i64..70000).prop_map(|v| v as u64)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn binary_circuits_match_rust(xs in proptest::collection::vec(arb_word(), 1..150),
                                  ys in proptest::collection::vec(arb_word(), 150)) {
        let ys = &ys[..xs.len()];
        for style in STYLES {
            check_binary(&lib::add(style), &xs, ys, u64::wrapping_add);
            check_binary(&lib::sub(style), &xs, ys, u64::wrapping_sub);
            check_binary(&lib::less_than(style), &xs, ys, lt);
            check_binary(&lib::max(style), &xs, ys, imax);
            check_binary(&lib::add_shift(style, 16), &xs, ys, |a, b| ((a.wrapping_add(b) as i64) >> 16) as u64);
        }
    }

    #[test]
    fn mux_selects(s in proptest::collection::vec(any::<u64>(), 1..100), a in any::<u64>(), b in any::<u64>()) {
        let inputs: Vec<u64> = s.iter().flat_map(|&s| [s, a, b]).collect();
        let got = lib::mux().eval_plain(&inputs);
        for (g, &s) in got.iter().zip(&s) {
            prop_assert_eq!(*g, if s & 1 == 1 { b } else { a });
        }
    }

    #[test]
    fn maxpool_and_argmax_match_rust(k in 1usize..10, vals in proptest::collection::vec(arb_word(), 40)) {
        let n = vals.len() / k;
        let inputs = &vals[..n * k];
        for style in STYLES {
            let m = lib::maxpool(style, k).eval_plain(inputs);
            let a = lib::argmax(style, k).eval_plain(inputs);
            for i in 0..n {
                let w = &inputs[i * k..(i + 1) * k];
                let best = w.iter().map(|&v| v as i64).max().unwrap_or(0);
                prop_assert_eq!(m[i] as i64, best);
                let first = w.iter().position(|&v| v as i64 == best).unwrap_or(0);
                prop_assert_eq!(a[i], first as u64);
            }
        }
    }

    #[test]
    fn clamp_matches_rust(xs in proptest::collection::vec(arb_word(), 1..100), lo in -100000i64..0, hi in 0i64..100000) {
        for style in STYLES {
            let got = lib::clamp(style, lo, hi).eval_plain(&xs);
            for (g, &x) in got.iter().zip(&xs) {
                prop_assert_eq!(*g as i64, (x as i64).clamp(lo, hi));
            }
        }
    }
}

/// The numbers the cost model reads, pinned: a change to a circuit that
/// changes its AND count or depth must be deliberate.
#[test]
fn library_stats_snapshot() {
    let mut cs = vec![lib::relu(), lib::mux(), lib::shift(16)];
    for s in STYLES {
        cs.extend([
            lib::add(s),
            lib::sub(s),
            lib::add_shift(s, 16),
            lib::sub_mask(s),
            lib::less_than(s),
            lib::max(s),
            lib::maxpool(s, 4),
            lib::maxpool(s, 9),
            lib::argmax(s, 10),
            lib::clamp(s, -65536, 65536),
        ]);
    }
    let mut table = String::from("circuit              in_words  ANDs  depth\n");
    for c in cs {
        table += &format!(
            "{:<20} {:>8} {:>5} {:>6}\n",
            c.name(),
            c.in_words(),
            c.and_count(),
            c.and_depth()
        );
    }
    insta::assert_snapshot!(table);
}
