//! The optimizer on real graphs with a synthetic cost oracle: it follows
//! the network (B on a fast link, Y on a slow one), honours pins, never puts
//! an operation where it cannot run, matches brute force on a small DAG, and
//! is deterministic.

use super::*;
use crate::cost::solve::brute_force;
use chimera_runtime::circuit::OpCost;
use chimera_runtime::plan::{Op, Party};

/// Linear algebra only in A; comparisons only in B/Y. B: 8 rounds, small
/// bytes; Y: no rounds, big bytes; conversions between A and B/Y cost in the
/// same spirit.
struct Synthetic;

impl CostOracle for Synthetic {
    fn step(
        &self,
        op: &Op,
        p: Protocol,
        inputs: &[&ValueInfo],
        out: &ValueInfo,
        _batch: usize,
    ) -> Result<OpCost, String> {
        let n = out.len() as u64;
        let boolean = |rounds: u32, bytes: u64| match p {
            Protocol::Gmw => Ok(OpCost {
                rounds,
                bytes_server_to_client: 2 * bytes,
                bytes_client_to_server: 2 * bytes,
                ..OpCost::ZERO
            }),
            Protocol::Yao => Ok(OpCost {
                rounds: if rounds > 0 { 1 } else { 0 },
                bytes_server_to_client: 10_000 * bytes,
                ..OpCost::ZERO
            }),
            Protocol::Arith => Err("not in A".to_string()),
        };
        match op {
            Op::Dense { .. } | Op::Conv2d { .. } | Op::MulConst { .. } | Op::Mul | Op::Square => {
                if p == Protocol::Arith {
                    Ok(OpCost {
                        rounds: 1,
                        bytes_client_to_server: 8 * n,
                        ..OpCost::ZERO
                    })
                } else {
                    Err("linear algebra runs in A".into())
                }
            }
            Op::Relu | Op::MaxPool { .. } | Op::Clamp { .. } | Op::Argmax => boolean(1, n),
            Op::Truncate { .. } if p == Protocol::Arith => Ok(OpCost {
                rounds: 1,
                bytes_client_to_server: 8 * n,
                ..OpCost::ZERO
            }),
            Op::Convert => {
                let from = inputs.first().map_or(p, |v| v.protocol);
                match (from, p) {
                    (Protocol::Arith, _) => boolean(7, 8 * n),
                    (_, Protocol::Arith) => Ok(OpCost {
                        rounds: 1,
                        bytes_client_to_server: 8 * n,
                        ..OpCost::ZERO
                    }),
                    _ => Ok(OpCost {
                        rounds: 1,
                        bytes_server_to_client: n,
                        ..OpCost::ZERO
                    }),
                }
            }
            _ => Ok(OpCost::ZERO),
        }
    }

    fn input(&self, _v: &ValueInfo, _batch: usize) -> Result<OpCost, String> {
        Ok(OpCost::ZERO)
    }

    fn reveal(&self, v: &ValueInfo, _to: Party, _batch: usize) -> Result<OpCost, String> {
        Ok(OpCost {
            rounds: 1,
            bytes_server_to_client: 8 * v.len() as u64,
            ..OpCost::ZERO
        })
    }
}

fn optimizer(network: Network) -> Optimizer<'static> {
    Optimizer {
        oracle: &Synthetic,
        network,
        profile: Profile::default_profile(),
        objective: Objective::Latency,
        batch: 1,
        only: None,
    }
}

const NET: &str = "model m
input x: [64] from client
h = dense(x, 32)
r = relu(h)
g = dense(r, 10)
output label = argmax(g) to client
";

fn plan_of(src: &str, opt: &Optimizer<'_>) -> chimera_runtime::plan::Plan {
    match compile_optimized("m.nn", src.as_bytes(), opt) {
        Ok(c) => c.saved.plan,
        Err(d) => panic!("{}", d.render("m.nn", src.as_bytes(), false)),
    }
}

fn protocol_of(plan: &chimera_runtime::plan::Plan, op: &str) -> Vec<Protocol> {
    plan.steps
        .iter()
        .filter(|s| s.op.name() == op)
        .map(|s| s.protocol)
        .collect()
}

#[test]
fn gmw_on_a_fast_link_yao_on_a_slow_one() {
    let lan = plan_of(NET, &optimizer(Network::lan()));
    assert_eq!(protocol_of(&lan, "relu"), vec![Protocol::Gmw]);
    let slow = Network::parse("rtt=500ms,bw=10gbit").unwrap();
    let wan = plan_of(NET, &optimizer(slow));
    assert_eq!(protocol_of(&wan, "relu"), vec![Protocol::Yao]);
    assert_eq!(wan.optimized_for.network, "custom");
    assert_eq!(wan.optimized_for.objective, "latency");
    assert_eq!(wan.optimized_for.rtt_us, 500_000);
}

#[test]
fn operations_run_only_where_they_can() {
    for net in [Network::lan(), Network::wan()] {
        let plan = plan_of(NET, &optimizer(net));
        for s in &plan.steps {
            match s.op {
                Op::Dense { .. } => assert_eq!(s.protocol, Protocol::Arith),
                Op::Relu | Op::Argmax => assert_ne!(s.protocol, Protocol::Arith),
                _ => {}
            }
        }
    }
}

#[test]
fn pins_are_honoured() {
    let pinned = NET.replace("r = relu(h)", "r = relu(h) @yao");
    let plan = plan_of(&pinned, &optimizer(Network::lan()));
    assert_eq!(protocol_of(&plan, "relu"), vec![Protocol::Yao]);
    let pinned = NET.replace("r = relu(h)", "r = relu(h) @gmw");
    let slow = Network::parse("rtt=500ms,bw=10gbit").unwrap();
    let plan = plan_of(&pinned, &optimizer(slow));
    assert_eq!(protocol_of(&plan, "relu"), vec![Protocol::Gmw]);
}

#[test]
fn alternatives_restrict_the_boolean_protocol() {
    let mut opt = optimizer(Network::lan());
    opt.only = Some(Protocol::Yao);
    let plan = plan_of(NET, &opt);
    assert!(plan.steps.iter().all(|s| s.protocol != Protocol::Gmw));
    assert_eq!(plan.optimized_for.objective, "latency (A+Y only)");
}

const RESIDUAL: &str = "model r
input x: [8] from client
a = dense(x, 8)
b = relu(a)
c = dense(b, 8)
d = add(c, a)
e = relu(d)
output s = e to client
";

#[test]
fn optimal_on_a_residual_dag_equals_brute_force() {
    let front = crate::front_end(RESIDUAL.as_bytes()).expect("valid");
    for net in [
        Network::lan(),
        Network::wan(),
        Network::parse("rtt=5ms,bw=10mbit").unwrap(),
    ] {
        let opt = optimizer(net);
        let (_, problem) = opt.problem(&front.graph).unwrap();
        assert!(problem.nodes.len() <= 13, "{}", problem.nodes.len());
        let exact = brute_force(&problem).expect("feasible");
        let (assignment, cost) = opt.optimize(&front.graph).unwrap();
        assert_eq!(cost, exact.cost);
        assert_eq!(
            assignment,
            opt.optimize(&front.graph).unwrap().0,
            "deterministic"
        );
    }
}
