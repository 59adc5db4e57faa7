//! The solver against brute force on random DAGs, and hand-made cases where
//! a greedy choice is wrong. The brute force here scores every assignment
//! with [`reference_cost`], written from the module documentation's
//! definition and sharing no code with the solver.

use super::*;
use proptest::prelude::*;

const A: usize = 0;
const B: usize = 1;
const Y: usize = 2;

fn conv(c: f64) -> [[Option<f64>; 3]; 3] {
    let mut m = [[Some(c); 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = Some(0.0);
    }
    m
}

#[test]
fn chain_where_greedy_is_wrong() {
    // x(A) → relu-like node cheap in B, but the next node is cheaper in Y and
    // conversions are costly: all-Y after x wins over B then B→Y.
    let p = Problem {
        nodes: vec![
            Choice {
                operands: vec![],
                run: [Some(0.0), None, None],
                convert: conv(10.0),
            },
            Choice {
                operands: vec![0],
                run: [None, Some(1.0), Some(3.0)],
                convert: conv(10.0),
            },
            Choice {
                operands: vec![1],
                run: [None, Some(9.0), Some(0.0)],
                convert: conv(10.0),
            },
        ],
    };
    let s = solve(&p).unwrap();
    assert_eq!(
        s.protocols,
        vec![Protocol::Arith, Protocol::Yao, Protocol::Yao]
    );
    assert_eq!(s.cost, 13.0);
    assert_eq!(brute_force(&p).unwrap(), s);
}

#[test]
fn a_value_used_twice_in_one_protocol_is_converted_once() {
    // x(A) feeds two B-only nodes: one A→B conversion, not two.
    let only = |q: usize, c: f64| {
        let mut run = [None; 3];
        run[q] = Some(c);
        run
    };
    let p = Problem {
        nodes: vec![
            Choice {
                operands: vec![],
                run: only(A, 0.0),
                convert: conv(5.0),
            },
            Choice {
                operands: vec![0],
                run: only(B, 1.0),
                convert: conv(5.0),
            },
            Choice {
                operands: vec![0],
                run: only(B, 1.0),
                convert: conv(5.0),
            },
            Choice {
                operands: vec![1, 2],
                run: only(B, 0.0),
                convert: conv(5.0),
            },
        ],
    };
    let s = solve(&p).unwrap();
    assert_eq!(s.cost, 7.0);
    // A third consumer in Y adds exactly one A→Y conversion.
    let mut q = p.clone();
    q.nodes.push(Choice {
        operands: vec![0, 3],
        run: only(Y, 0.0),
        convert: conv(5.0),
    });
    assert_eq!(solve(&q).unwrap().cost, 17.0);
    assert_eq!(brute_force(&q).unwrap().cost, 17.0);
}

#[test]
fn infeasible_and_malformed_problems_are_errors() {
    let p = Problem {
        nodes: vec![
            Choice {
                operands: vec![],
                run: [Some(0.0), None, None],
                convert: [[None; 3]; 3],
            },
            Choice {
                operands: vec![0],
                run: [None, Some(1.0), None],
                convert: [[None; 3]; 3],
            },
        ],
    };
    assert_eq!(solve(&p).unwrap_err(), SolveError::Infeasible { node: 1 });
    assert_eq!(brute_force(&p), None);
    let bad = Problem {
        nodes: vec![Choice {
            operands: vec![0],
            run: [Some(0.0); 3],
            convert: conv(0.0),
        }],
    };
    assert_eq!(
        solve(&bad).unwrap_err().to_string(),
        "node 0 reads node 0, which does not come before it"
    );
}

#[test]
fn ties_are_broken_deterministically() {
    let p = Problem {
        nodes: vec![
            Choice {
                operands: vec![],
                run: [Some(1.0); 3],
                convert: conv(0.0),
            },
            Choice {
                operands: vec![0],
                run: [Some(1.0); 3],
                convert: conv(0.0),
            },
        ],
    };
    let s = solve(&p).unwrap();
    assert_eq!(s.protocols, vec![Protocol::Arith, Protocol::Arith]);
    assert_eq!(s, solve(&p).unwrap());
}

/// A random DAG of up to 8 nodes with 0–2 operands each, random run costs
/// (some protocols forbidden) and random conversion costs (some impossible).
fn problem(integer: bool) -> impl Strategy<Value = Problem> {
    (1usize..=8).prop_flat_map(move |n| {
        let node = |i: usize| {
            let operands = if i == 0 {
                Just(vec![]).boxed()
            } else {
                prop::collection::vec(0..i, 0..=2).boxed()
            };
            let cost = move || {
                prop_oneof![
                    1 => Just(None),
                    4 => (0u32..50, 0.0f64..1.0).prop_map(move |(a, b)| Some(if integer { a as f64 } else { a as f64 * b })),
                ]
            };
            let run = [cost(), cost(), cost()];
            let row = || [cost(), cost(), cost()];
            (operands, run, [row(), row(), row()]).prop_map(|(operands, run, mut convert)| {
                for (i, row) in convert.iter_mut().enumerate() {
                    row[i] = Some(0.0);
                }
                Choice { operands, run, convert }
            })
        };
        (0..n).map(node).collect::<Vec<_>>().prop_map(|nodes| Problem { nodes })
    })
}

/// The cost of an assignment straight from the definition: every node's run
/// cost, plus, for every value, one conversion per distinct protocol other
/// than its own that some consumer of it runs in. `None` if a protocol is not
/// allowed or a needed conversion is impossible.
fn reference_cost(p: &Problem, protocols: &[usize]) -> Option<f64> {
    let mut total = 0.0;
    for (v, node) in p.nodes.iter().enumerate() {
        total += node.run[protocols[v]]?;
        let mut targets = [false; 3];
        for (c, consumer) in p.nodes.iter().enumerate() {
            if consumer.operands.contains(&v) {
                targets[protocols[c]] = true;
            }
        }
        for (to, &needed) in targets.iter().enumerate() {
            if needed && to != protocols[v] {
                total += node.convert[protocols[v]][to]?;
            }
        }
    }
    Some(total)
}

/// The least [`reference_cost`] over all `3^n` assignments.
fn reference_minimum(p: &Problem) -> Option<f64> {
    let n = p.nodes.len();
    let mut best: Option<f64> = None;
    for code in 0..3usize.pow(n as u32) {
        let protocols: Vec<usize> = (0..n).map(|i| code / 3usize.pow(i as u32) % 3).collect();
        if let Some(c) = reference_cost(p, &protocols) {
            if best.is_none_or(|b| c < b) {
                best = Some(c);
            }
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn dp_equals_an_independent_brute_force(p in problem(true)) {
        match (solve(&p), reference_minimum(&p)) {
            (Ok(s), Some(b)) => {
                prop_assert_eq!(s.cost, b);
                let chosen: Vec<usize> = s.protocols.iter().map(|&q| index(q)).collect();
                prop_assert_eq!(reference_cost(&p, &chosen), Some(s.cost));
            }
            (Err(SolveError::Infeasible { .. }), None) => {}
            (s, b) => prop_assert!(false, "solver {:?} vs brute force {:?}", s, b),
        }
    }

    #[test]
    fn dp_equals_brute_force_on_random_dags(p in problem(true)) {
        match (solve(&p), brute_force(&p)) {
            (Ok(s), Some(b)) => {
                prop_assert_eq!(s.cost, b.cost);
                prop_assert_eq!(evaluate(&p, &s.protocols), Some(s.cost));
            }
            (Err(SolveError::Infeasible { .. }), None) => {}
            (s, b) => prop_assert!(false, "solver {:?} vs brute force {:?}", s, b),
        }
    }

    #[test]
    fn dp_equals_brute_force_with_real_costs(p in problem(false)) {
        match (solve(&p), brute_force(&p)) {
            (Ok(s), Some(b)) => {
                prop_assert!((s.cost - b.cost).abs() <= 1e-9 * b.cost.abs().max(1.0), "{} vs {}", s.cost, b.cost);
                prop_assert_eq!(evaluate(&p, &s.protocols), Some(s.cost));
            }
            (Err(SolveError::Infeasible { .. }), None) => {}
            (s, b) => prop_assert!(false, "solver {:?} vs brute force {:?}", s, b),
        }
    }
}
