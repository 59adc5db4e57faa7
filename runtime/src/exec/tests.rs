//! The executor on hand-built plans: every (op, protocol) pair and every
//! conversion against the plaintext oracle, measured traffic against
//! [`crate::cost::plan_cost`], and the failures (plan mismatch, exhausted
//! material, bad input) on both sides.

use super::*;
use crate::cost::{demand, plan_cost};
use crate::dealer::{Demand, SessionId, TrustedDealer};
use crate::oracle::testing::{safetensors_bytes, Lcg, PlanBuilder};
use crate::oracle::{self, Mode};
use crate::plan::{Encoding, Op, Party, Plan, Protocol, Reveal};
use crate::prg::Seed;
use crate::tensor_io::Batch;
use crate::transport::{memory_pair, TcpChannel};
use crate::weights::{self, BoundWeights};

type Tensors = Vec<(&'static str, Vec<usize>, Vec<f64>)>;

/// netD-like: conv, relu and maxpool in B, dense, argmax in Y; label and scores.
fn gmw_plan() -> (Plan, Tensors) {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[1, 6, 6]);
    let h = b.conv(x, "conv1", 2, 3, 1, 1);
    let h = b.relu(h, Protocol::Gmw);
    let h = b.maxpool(h, 2);
    let h = b.flatten(h);
    let s = b.dense(h, "fc", 5, true);
    let l = b.argmax(s);
    b.output("label", l, Reveal::Label);
    b.output("scores", s, Reveal::Scores);
    let mut rng = Lcg(11);
    let t = vec![
        ("conv1.weight", vec![2, 1, 3, 3], rng.vec(18, 0.6)),
        ("conv1.bias", vec![2], rng.vec(2, 0.3)),
        ("fc.weight", vec![5, 18], rng.vec(90, 0.5)),
        ("fc.bias", vec![5], rng.vec(5, 0.3)),
    ];
    (b.finish(), t)
}

/// Every other pair: truncation, relu, add_const, clamp, maxpool, add and
/// sub in Y and in B, the six conversions, square, mul_const and sumpool
/// in A, and reveals of A, B and Y values to either party.
fn mixed_plan() -> (Plan, Tensors) {
    let mut b = PlanBuilder::new(12);
    let f = 12;
    let fx = Encoding::Fixed { frac_bits: f };
    let wide = Encoding::Fixed { frac_bits: 2 * f };
    let x = b.input("x", &[2, 4, 4]);
    let h = b.conv(x, "conv1", 2, 3, 1, 1);
    // Y: exact truncation of a 2f value, then relu, add_const, clamp, maxpool.
    let hw = b.step(
        Op::MulConst { c: 3 << f },
        &[h],
        "scale",
        vec![2, 4, 4],
        wide,
        Protocol::Arith,
    );
    let hy = b.to(hw, Protocol::Yao);
    let t = b.step(
        Op::Truncate { bits: f },
        &[hy],
        "ytrunc",
        vec![2, 4, 4],
        fx,
        Protocol::Yao,
    );
    let r = b.step(Op::Relu, &[t], "yrelu", vec![2, 4, 4], fx, Protocol::Yao);
    let c = b.step(
        Op::AddConst { c: -(1 << f) },
        &[r],
        "yaddc",
        vec![2, 4, 4],
        fx,
        Protocol::Yao,
    );
    let cl = b.step(
        Op::Clamp {
            lo: -(1 << (f - 1)),
            hi: 2 << f,
        },
        &[c],
        "yclamp",
        vec![2, 4, 4],
        fx,
        Protocol::Yao,
    );
    let mp = b.step(
        Op::MaxPool {
            kernel: [2, 2],
            stride: [2, 2],
        },
        &[cl],
        "ypool",
        vec![2, 2, 2],
        fx,
        Protocol::Yao,
    );
    let ys = b.step(Op::Add, &[mp, mp], "yadd", vec![2, 2, 2], fx, Protocol::Yao);
    let yd = b.step(Op::Sub, &[ys, mp], "ysub", vec![2, 2, 2], fx, Protocol::Yao);
    // Y → B (colour bits), then the same family in B.
    let g = b.to(yd, Protocol::Gmw);
    let g2 = b.step(Op::Add, &[g, g], "badd", vec![2, 2, 2], fx, Protocol::Gmw);
    let g3 = b.step(Op::Sub, &[g2, g], "bsub", vec![2, 2, 2], fx, Protocol::Gmw);
    let g4 = b.step(
        Op::AddConst { c: 1 << (f - 2) },
        &[g3],
        "baddc",
        vec![2, 2, 2],
        fx,
        Protocol::Gmw,
    );
    let g5 = b.step(
        Op::Clamp { lo: 0, hi: 3 << f },
        &[g4],
        "bclamp",
        vec![2, 2, 2],
        fx,
        Protocol::Gmw,
    );
    // B → Y → A, B → A, A: square, sumpool, mul_const.
    let gy = b.to(g5, Protocol::Yao);
    let a1 = b.to(gy, Protocol::Arith);
    let a2 = b.to(g5, Protocol::Arith);
    let sum = b.step(
        Op::Add,
        &[a1, a2],
        "aadd",
        vec![2, 2, 2],
        fx,
        Protocol::Arith,
    );
    let sq = b.square(sum);
    let pooled = b.avgpool(sq, 2);
    let flat = b.flatten(pooled);
    let s = b.dense(flat, "fc", 3, false);
    b.output("scores", s, Reveal::Scores);
    b.output("pooled", g5, Reveal::Scores);
    let mut plan = b.finish();
    // A Y value opened to the server, a B value to the client.
    plan.outputs.push(crate::plan::OutputSpec {
        name: "server_view".into(),
        value: mp,
        reveal: Reveal::Scores,
        to: Party::Server,
    });
    let mut rng = Lcg(5);
    let t = vec![
        ("conv1.weight", vec![2, 2, 3, 3], rng.vec(36, 0.5)),
        ("conv1.bias", vec![2], rng.vec(2, 0.5)),
        ("fc.weight", vec![3, 2], rng.vec(6, 0.8)),
    ];
    (plan, t)
}

fn bind(plan: &Plan, t: &Tensors) -> BoundWeights {
    weights::bind(plan, &safetensors_bytes(t, false)).unwrap()
}

fn batch(plan: &Plan, rows: usize, seed: u64) -> Batch {
    let info = plan.value(plan.inputs[0].value);
    let mut rng = Lcg(seed);
    Batch {
        rows,
        row_shape: info.shape.clone(),
        data: rng.vec(rows * info.len(), 1.0),
    }
}

/// Simulate, compare with the fixed-point oracle and the cost model.
fn check(plan: &Plan, t: &Tensors, rows: usize) -> Simulation {
    let w = bind(plan, t);
    let x = batch(plan, rows, 99);
    let sim = simulate(plan, &w, std::slice::from_ref(&x), Some(Seed::from_u64(7))).unwrap();
    let want = oracle::evaluate(plan, &w, &[x], Mode::Fixed).unwrap();
    let ulp = (-(plan.fixed.frac_bits as f64)).exp2();
    let mut seen = 0;
    for (spec, expected) in plan.outputs.iter().zip(&want.outputs) {
        let got = match spec.to {
            Party::Client => &sim.client.outputs,
            Party::Server => &sim.server.outputs,
        }
        .iter()
        .find(|o| o.name == spec.name)
        .unwrap();
        seen += 1;
        assert_eq!(got.rows, rows);
        for (g, e) in got.values.iter().zip(&expected.values) {
            assert!(
                (g - e).abs() <= 64.0 * ulp + 1e-3 * e.abs(),
                "{}: secure {g}, oracle {e}",
                spec.name
            );
        }
        if spec.reveal == Reveal::Label {
            for r in 0..rows {
                assert_eq!(got.label(r), expected.label(r), "{} row {r}", spec.name);
            }
        }
    }
    assert_eq!(seen, plan.outputs.len());
    let p = &sim.predicted;
    assert_eq!(sim.server.stats.session, p.session.server);
    assert_eq!(sim.client.stats.session, p.session.client);
    assert_eq!(sim.server.stats.query, p.query.server);
    assert_eq!(sim.client.stats.query, p.query.client);
    sim
}

#[test]
fn gmw_plan_matches_the_oracle_and_the_cost_exactly() {
    let (plan, t) = gmw_plan();
    for rows in [1, 3, 70] {
        let sim = check(&plan, &t, rows);
        assert!(sim.server.outputs.is_empty());
        let total = sim.predicted.total;
        // The query carries the online bytes only; everything ahead of the
        // query (masked weights, garbled tables, decoding bits) and the two
        // hellos travel before it.
        let q = &sim.client.stats.query;
        assert_eq!(q.bytes_sent + q.bytes_received, total.online_bytes());
        let s = &sim.client.stats.session;
        let hello = crate::cost::traffic::HELLO_PAYLOAD + crate::circuit::FRAME_HEADER;
        assert_eq!(
            s.bytes_sent + s.bytes_received,
            2 * hello + total.ahead_of_query_bytes
        );
    }
}

#[test]
fn every_pair_and_conversion_matches_the_oracle_and_the_cost_exactly() {
    let (plan, t) = mixed_plan();
    for rows in [1, 2] {
        let sim = check(&plan, &t, rows);
        assert_eq!(sim.server.outputs.len(), 1);
        assert_eq!(sim.client.outputs.len(), 2);
    }
}

#[test]
fn demand_is_consumed_exactly() {
    let (plan, t) = gmw_plan();
    let w = bind(&plan, &t);
    let x = batch(&plan, 2, 3);
    let hash = plan.hash().unwrap();
    let session = SessionId([9; 16]);
    let need = demand(&plan, 2, 1).unwrap();
    let (mut m0, mut m1) =
        TrustedDealer::pair(hash, session, Some(Seed::from_u64(1)), &need).unwrap();
    let (mut c0, mut c1) = memory_pair();
    std::thread::scope(|s| {
        let h = s.spawn(|| run_server(&plan, &w, &mut m0, &mut c0, 2).unwrap());
        run_client(&plan, &[x], &mut m1, &mut c1).unwrap();
        h.join().unwrap();
    });
    use crate::dealer::Material;
    for (pool, left) in m0.remaining() {
        assert_eq!(left, 0, "the server left {} over", pool.name());
    }
    // The client never holds the server's weight masks.
    for (pool, left) in m1.remaining() {
        if !matches!(pool, crate::dealer::Pool::WeightMask { .. }) {
            assert_eq!(left, 0, "the client left {} over", pool.name());
        }
    }
}

fn run_pair(
    server_plan: &Plan,
    client_plan: &Plan,
    w: &BoundWeights,
    demand0: &Demand,
    demand1: &Demand,
    x: Batch,
    server_batch: usize,
) -> (Result<RunResult, ExecError>, Result<RunResult, ExecError>) {
    let session = SessionId([4; 16]);
    let (mut m0, _) =
        TrustedDealer::pair(server_plan.hash().unwrap(), session, None, demand0).unwrap();
    let (_, mut m1) =
        TrustedDealer::pair(client_plan.hash().unwrap(), session, None, demand1).unwrap();
    let (mut c0, mut c1) = memory_pair();
    std::thread::scope(|s| {
        let h = s.spawn(|| run_server(server_plan, w, &mut m0, &mut c0, server_batch));
        let c = run_client(client_plan, &[x], &mut m1, &mut c1);
        (h.join().unwrap(), c)
    })
}

#[test]
fn different_plans_are_refused_on_both_sides_naming_both_hashes() {
    let (plan, t) = gmw_plan();
    let mut other = plan.clone();
    other.model = "other".into();
    let w = bind(&plan, &t);
    let d = demand(&plan, 1, 1).unwrap();
    let (s, c) = run_pair(&plan, &other, &w, &d, &d, batch(&plan, 1, 1), 1);
    let (h1, h2) = (
        plan.hash().unwrap().to_hex(),
        other.hash().unwrap().to_hex(),
    );
    for e in [s.unwrap_err(), c.unwrap_err()] {
        let msg = e.to_string();
        assert!(matches!(e, ExecError::PlanMismatch { .. }), "{msg}");
        assert!(msg.contains(&h1) && msg.contains(&h2), "{msg}");
    }
}

#[test]
fn batch_mismatch_and_bad_inputs_are_clear_errors() {
    let (plan, t) = gmw_plan();
    let w = bind(&plan, &t);
    let d = demand(&plan, 2, 1).unwrap();
    let (s, c) = run_pair(&plan, &plan, &w, &d, &d, batch(&plan, 2, 1), 3);
    assert!(matches!(
        s.unwrap_err(),
        ExecError::BatchMismatch {
            ours: 3,
            theirs: 2,
            ..
        }
    ));
    assert!(matches!(
        c.unwrap_err(),
        ExecError::BatchMismatch {
            ours: 2,
            theirs: 3,
            ..
        }
    ));
    let mut bad = batch(&plan, 2, 1);
    bad.row_shape = vec![36];
    bad.data.push(0.0);
    let (s, c) = run_pair(&plan, &plan, &w, &d, &d, bad, 2);
    let c = c.unwrap_err();
    assert!(matches!(c, ExecError::Shape(_)), "{c}");
    let s = s.unwrap_err().to_string();
    assert!(
        s.contains("the client failed") && s.contains("shape"),
        "{s}"
    );
}

#[test]
fn exhausted_material_stops_both_parties() {
    let (plan, t) = gmw_plan();
    let w = bind(&plan, &t);
    let full = demand(&plan, 1, 1).unwrap();
    let mut short = Demand::new();
    for (pool, n) in full.totals() {
        if pool != crate::dealer::Pool::And {
            short.add(pool, n);
        }
    }
    let (s, c) = run_pair(&plan, &plan, &w, &short, &short, batch(&plan, 1, 1), 1);
    let s = s.unwrap_err();
    assert!(
        matches!(
            s,
            ExecError::Dealer(crate::dealer::DealerError::Exhausted { .. })
        ),
        "{s}"
    );
    let c = c.unwrap_err();
    assert!(c.to_string().contains("exhausted"), "{c}");
}

#[test]
fn loopback_tcp_gives_the_simulated_result_and_traffic() {
    let (plan, t) = gmw_plan();
    let w = bind(&plan, &t);
    let x = batch(&plan, 4, 8);
    let sim = simulate(&plan, &w, std::slice::from_ref(&x), Some(Seed::from_u64(2))).unwrap();
    let need = demand(&plan, 4, 1).unwrap();
    let (mut m0, mut m1) =
        TrustedDealer::pair(plan.hash().unwrap(), SessionId([1; 16]), None, &need).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = crate::transport::ChannelConfig::default();
    let (server, client) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut ch = TcpChannel::accept(&listener, config).unwrap();
            run_server(&plan, &w, &mut m0, &mut ch, 4)
        });
        let mut ch = TcpChannel::connect(addr, config).unwrap();
        let c = run_client(&plan, &[x], &mut m1, &mut ch);
        (h.join().unwrap(), c)
    });
    let (server, client) = (server.unwrap(), client.unwrap());
    // Same labels; scores equal up to the ±1 ulp of each A truncation
    // (the two runs drew different dealer randomness).
    assert_eq!(client.outputs[0].ring, sim.client.outputs[0].ring);
    for (a, b) in client.outputs[1]
        .ring
        .iter()
        .zip(&sim.client.outputs[1].ring)
    {
        assert!((a.wrapping_sub(*b) as i64).abs() <= 4, "{a} vs {b}");
    }
    assert_eq!(server.stats.query, sim.predicted.query.server);
    assert_eq!(client.stats.query, sim.predicted.query.client);
    assert_eq!(client.stats.session, sim.predicted.session.client);
    let p = plan_cost(&plan, 4).unwrap();
    assert_eq!(p, sim.predicted);
}

#[test]
fn weights_bound_to_another_plan_are_refused() {
    let (plan, t) = gmw_plan();
    let mut other = plan.clone();
    other.model = "other".into();
    let w = bind(&plan, &t);
    let d = demand(&other, 1, 1).unwrap();
    let (s, c) = run_pair(&other, &other, &w, &d, &d, batch(&plan, 1, 1), 1);
    let s = s.unwrap_err().to_string();
    assert!(s.contains("the weights were bound to plan"), "{s}");
    let c = c.unwrap_err().to_string();
    assert!(c.contains("the server failed"), "{c}");
}
