//! The oracle against hand-computed ring values, and fixed against float on
//! random networks.
//!
//! Stated tolerance for the random networks below (weights and inputs in
//! [-1, 1], scaled by 1/√fan-in, f = 16): every decoded score is within
//! 2^-8 of the float score, and no step leaves the default [`Tolerance`].

use super::testing::{safetensors_bytes, Lcg, PlanBuilder};
use super::*;
use crate::plan::{Op, Protocol, ValueId};
use crate::weights;

fn batch(rows: usize, shape: &[usize], data: Vec<f64>) -> Batch {
    Batch {
        rows,
        row_shape: shape.to_vec(),
        data,
    }
}

/// Random weights for every linear layer of the plan, scaled by 1/√fan-in.
fn random_weights(plan: &Plan, rng: &mut Lcg) -> Vec<u8> {
    let mut tensors = Vec::new();
    for step in &plan.steps {
        let (Some(p), Some(&x)) = (step.op.linear_params(), step.inputs.first()) else {
            continue;
        };
        let xs = &plan.value(x).shape;
        let wshape = match &step.op {
            Op::Dense { out_features, .. } => vec![*out_features, xs.iter().product()],
            Op::Conv2d {
                out_channels,
                kernel,
                ..
            } => vec![*out_channels, xs[0], kernel[0], kernel[1]],
            _ => unreachable!(),
        };
        let fan_in: usize = wshape[1..].iter().product();
        let n: usize = wshape.iter().product();
        tensors.push((
            p.weight.clone(),
            wshape.clone(),
            rng.vec(n, 1.5 / (fan_in as f64).sqrt()),
        ));
        if let Some(b) = &p.bias {
            tensors.push((b.clone(), vec![wshape[0]], rng.vec(wshape[0], 0.5)));
        }
    }
    let refs: Vec<(&str, Vec<usize>, Vec<f64>)> = tensors
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.clone(), d.clone()))
        .collect();
    safetensors_bytes(&refs, false)
}

/// Build, bind random weights, run both modes on random inputs, check the tolerance.
fn check_random(plan: Plan, input_shape: &[usize], rows: usize, seed: u64) -> Comparison {
    let mut rng = Lcg(seed);
    let bound = weights::bind(&plan, &random_weights(&plan, &mut rng)).unwrap();
    let n: usize = input_shape.iter().product();
    let x = batch(rows, input_shape, rng.vec(rows * n, 1.0));
    let tol = Tolerance::for_frac_bits(plan.fixed.frac_bits);
    let cmp = compare(&plan, &bound, std::slice::from_ref(&x), tol).unwrap();
    assert_eq!(
        cmp.report.first_out_of_tolerance,
        None,
        "{}",
        cmp.report.render()
    );
    assert!(cmp.report.warnings.is_empty(), "{}", cmp.report.render());
    for (fx, fl) in cmp.fixed.outputs.iter().zip(&cmp.float.outputs) {
        if fx.encoding == Encoding::Integer {
            continue;
        }
        for (a, b) in fx.values.iter().zip(&fl.values) {
            assert!(
                (a - b).abs() <= 1.0 / 256.0,
                "fixed {a} vs float {b}\n{}",
                cmp.report.render()
            );
        }
    }
    // `evaluate` gives the same as the side-by-side run.
    assert_eq!(
        evaluate(&plan, &bound, std::slice::from_ref(&x), Mode::Fixed).unwrap(),
        cmp.fixed
    );
    assert_eq!(
        evaluate(&plan, &bound, &[x], Mode::Float).unwrap(),
        cmp.float
    );
    cmp
}

#[test]
fn random_mlps_fixed_matches_float() {
    for seed in 1..6 {
        let mut b = PlanBuilder::new(16);
        let x = b.input("x", &[20]);
        let h = b.dense(x, "fc1", 16, true);
        let h = b.relu(h, Protocol::Gmw);
        let h = b.dense(h, "fc2", 12, seed % 2 == 0);
        let h = b.relu(h, Protocol::Yao);
        let s = b.dense(h, "fc3", 5, true);
        let l = b.argmax(s);
        b.output("scores", s, Reveal::Scores);
        b.output("label", l, Reveal::Label);
        check_random(b.finish(), &[20], 70, seed);
    }
}

#[test]
fn random_convnets_fixed_matches_float() {
    for seed in 10..13 {
        let mut b = PlanBuilder::new(16);
        let x = b.input("x", &[2, 10, 10]);
        let h = b.conv(x, "conv1", 4, 3, 1, 1);
        let h = b.relu(h, Protocol::Gmw);
        let h = b.maxpool(h, 2);
        let h = b.conv(h, "conv2", 3, 3, 2, 1);
        let h = b.square(h);
        let h = b.flatten(h);
        let s = b.dense(h, "fc", 4, true);
        let l = b.argmax(s);
        b.output("label", l, Reveal::Label);
        b.output("scores", s, Reveal::Scores);
        let cmp = check_random(b.finish(), &[2, 10, 10], 9, seed);
        assert_eq!(cmp.fixed.outputs[0].rows, 9);
    }
}

#[test]
fn random_residual_block_with_avgpool() {
    let mut b = PlanBuilder::new(13);
    let x = b.input("x", &[1, 8, 8]);
    let h = b.conv(x, "conv1", 3, 3, 1, 1);
    let h = b.relu(h, Protocol::Yao);
    let h = b.conv(h, "conv2", 3, 3, 1, 1);
    let skip = b.conv(x, "skip", 3, 1, 1, 0);
    let h = b.add(h, skip);
    let h = b.relu(h, Protocol::Gmw);
    let h = b.avgpool(h, 2);
    let h = b.flatten(h);
    let s = b.dense(h, "fc", 3, true);
    b.output("scores", s, Reveal::Scores);
    check_random(b.finish(), &[1, 8, 8], 5, 99);
}

#[test]
fn fixed_mode_is_bit_exact_ring_arithmetic() {
    // y = trunc(W x + b), f = 4: x = [1.5, -0.25] -> [24, -4]; W = [[0.5, -2]] -> [8, -32]; b = 0.0625 at 2f -> 16.
    // W x + b = 8*24 + (-32)(-4) + 16 = 336 at 2f; >> 4 = 21 (1.3125).
    let mut b = PlanBuilder::new(4);
    let x = b.input("x", &[2]);
    let y = b.dense(x, "fc", 1, true);
    let neg = b.step(
        Op::MulConst { c: -1 },
        &[y],
        "neg",
        vec![1],
        Encoding::Fixed { frac_bits: 8 },
        Protocol::Arith,
    );
    let negt = b.step(
        Op::Truncate { bits: 4 },
        &[neg],
        "neg",
        vec![1],
        Encoding::Fixed { frac_bits: 4 },
        Protocol::Arith,
    );
    let c = b.step(
        Op::AddConst { c: 3 },
        &[negt],
        "shift",
        vec![1],
        Encoding::Fixed { frac_bits: 4 },
        Protocol::Arith,
    );
    let negb = b.to(negt, Protocol::Gmw);
    let cl = b.step(
        Op::Clamp { lo: -16, hi: 16 },
        &[negb],
        "clamp",
        vec![1],
        Encoding::Fixed { frac_bits: 4 },
        Protocol::Gmw,
    );
    b.output("y", y, Reveal::Scores);
    b.output("neg", negt, Reveal::Scores);
    b.output("shifted", c, Reveal::Scores);
    b.output("clamped", cl, Reveal::Scores);
    let plan = b.finish();
    let w = safetensors_bytes(
        &[
            ("fc.weight", vec![1, 2], vec![0.5, -2.0]),
            ("fc.bias", vec![1], vec![0.0625]),
        ],
        true,
    );
    let bound = weights::bind(&plan, &w).unwrap();
    assert_eq!(bound.layer("fc").unwrap().bias, vec![16]);
    let input = [batch(1, &[2], vec![1.5, -0.25])];
    let fixed = evaluate(&plan, &bound, &input, Mode::Fixed).unwrap();
    let ring = |i: usize| fixed.outputs[i].ring.as_ref().unwrap()[0] as i64;
    assert_eq!(ring(0), 21);
    // MulConst c = -1 is the real -1/16: 21 * (-1) = -21 at 8 fraction bits, and
    // floor(-21 / 16) = -2 (toward minus infinity, not -1); then + 3 = 1; clamp keeps -2.
    assert_eq!(ring(1), -2);
    assert_eq!(ring(2), 1);
    assert_eq!(ring(3), -2);
    assert_eq!(fixed.outputs[0].values, vec![1.3125]);
    assert_eq!(fixed.outputs[1].values, vec![-0.125]);
    // Float mode: 0.5*1.5 + 2*0.25 + 0.0625 = 1.3125; times -1/16; + 3/16; clamp to [-1, 1].
    let float = evaluate(&plan, &bound, &input, Mode::Float).unwrap();
    assert_eq!(float.outputs[0].values, vec![1.3125]);
    assert_eq!(float.outputs[1].values, vec![-1.3125 / 16.0]);
    assert_eq!(float.outputs[2].values, vec![-1.3125 / 16.0 + 3.0 / 16.0]);
    assert!(float.outputs[3].ring.is_none());
}

#[test]
fn wrapping_is_reported_and_named() {
    // A dense layer with weights near the format's limit, applied twice to large
    // inputs: the second product exceeds the 64-bit ring at f = 30.
    let mut b = PlanBuilder::new(28);
    let x = b.input("x", &[4]);
    let h = b.dense(x, "fc1", 4, false);
    let h = b.dense(h, "fc2", 4, false);
    let s = b.dense(h, "fc3", 2, false);
    b.output("scores", s, Reveal::Scores);
    let plan = b.finish();
    let w = safetensors_bytes(
        &[
            ("fc1.weight", vec![4, 4], vec![7.0; 16]),
            ("fc2.weight", vec![4, 4], vec![7.0; 16]),
            ("fc3.weight", vec![2, 4], vec![1.0; 8]),
        ],
        false,
    );
    let bound = weights::bind(&plan, &w).unwrap();
    let cmp = compare(
        &plan,
        &bound,
        &[batch(1, &[4], vec![7.0; 4])],
        Tolerance::for_frac_bits(28),
    )
    .unwrap();
    let report = &cmp.report;
    // fc1: 4*49 = 196 at 2f = 56 bits: 196 * 2^56 > 2^63, wrapped already.
    let first = &report.steps[report.first_out_of_tolerance.unwrap()];
    assert_eq!((first.layer.as_str(), first.op), ("fc1", "dense"));
    assert!(first.wrapped);
    assert!(
        report.warnings[0].contains("step 0 (dense of `fc1`)"),
        "{:?}",
        report.warnings
    );
    assert!(
        report.warnings[0].contains("wrapped around"),
        "{:?}",
        report.warnings
    );
    assert!(report.render().contains("WRAPPED"));
}

#[test]
fn near_headroom_is_warned() {
    // f = 30: 1.5 * 1.5 at 2f = 60 bits is 2^61.17, within 2^8 of 2^62 but not past it.
    let mut b = PlanBuilder::new(30);
    let x = b.input("x", &[1]);
    let s = b.dense(x, "fc", 1, false);
    b.output("scores", s, Reveal::Scores);
    let plan = b.finish();
    let w = safetensors_bytes(&[("fc.weight", vec![1, 1], vec![1.5])], false);
    let bound = weights::bind(&plan, &w).unwrap();
    let cmp = compare(
        &plan,
        &bound,
        &[batch(1, &[1], vec![1.5])],
        Tolerance::for_frac_bits(30),
    )
    .unwrap();
    let dense = &cmp.report.steps[0];
    assert_eq!(dense.headroom_bits, 0);
    assert!(!dense.wrapped);
    assert_eq!(
        cmp.report.warnings,
        vec![
            "step 0 (dense of `fc`): ring values reach 2^62, within 2^0 of the 2^62 headroom"
                .to_string()
        ]
    );
    assert_eq!(cmp.fixed.outputs[0].values, vec![2.25]);
}

fn tiny() -> (Plan, BoundWeights) {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[1, 2, 2]);
    let h = b.flatten(x);
    let s = b.dense(h, "fc", 2, true);
    b.output("scores", s, Reveal::Scores);
    let plan = b.finish();
    let w = safetensors_bytes(
        &[
            ("fc.weight", vec![2, 4], vec![0.5; 8]),
            ("fc.bias", vec![2], vec![0.0; 2]),
        ],
        false,
    );
    let bound = weights::bind(&plan, &w).unwrap();
    (plan, bound)
}

#[test]
fn refuses_inputs_that_do_not_fit() {
    let (plan, bound) = tiny();
    let err = evaluate(&plan, &bound, &[batch(1, &[4], vec![0.0; 4])], Mode::Fixed).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x` has shape [1, 2, 2], the batch gives rows of [4]"
    );
    let err = evaluate(&plan, &bound, &[], Mode::Fixed).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the plan has 1 input(s), 0 batch(es) were given"
    );
    let err = evaluate(
        &plan,
        &bound,
        &[batch(
            2,
            &[1, 2, 2],
            vec![0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN, 0.0, 0.0],
        )],
        Mode::Fixed,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x`, row 1, element [0, 0, 1]: NaN is not a finite number"
    );
    let err = evaluate(
        &plan,
        &bound,
        &[batch(1, &[1, 2, 2], vec![0.0, 1e9, 0.0, 0.0])],
        Mode::Fixed,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("input `x`, row 0, element [0, 0, 1]: 1000000000 is too large"),
        "{err}"
    );
}

#[test]
fn refuses_weights_bound_to_another_plan() {
    let (plan, bound) = tiny();
    let mut other = plan.clone();
    other.model = "other".into();
    let err = evaluate(
        &other,
        &bound,
        &[batch(1, &[1, 2, 2], vec![0.0; 4])],
        Mode::Float,
    )
    .unwrap_err();
    assert!(matches!(err, OracleError::WrongPlan { .. }), "{err}");
    assert!(err.to_string().contains("bind them again"));
}

#[test]
fn refuses_a_plan_with_inconsistent_shapes() {
    let (mut plan, _) = tiny();
    // Claim the dense output has 3 features while the layer has 2.
    let out: ValueId = plan.steps[1].output;
    plan.values[out.index()].shape = vec![3];
    let w = safetensors_bytes(
        &[
            ("fc.weight", vec![2, 4], vec![0.5; 8]),
            ("fc.bias", vec![2], vec![0.0; 2]),
        ],
        false,
    );
    let bound = weights::bind(&plan, &w).unwrap();
    let err = evaluate(
        &plan,
        &bound,
        &[batch(1, &[1, 2, 2], vec![0.0; 4])],
        Mode::Fixed,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "step 1 (dense of layer `fc`): input [4], output [3] and weights [2, 4] disagree"
    );
}

#[test]
fn batches_larger_than_a_chunk_match_row_by_row_runs() {
    let (plan, bound) = tiny();
    let rows = CHUNK_ROWS * 2 + 3;
    let mut rng = Lcg(5);
    let data = rng.vec(rows * 4, 1.0);
    let all = evaluate(
        &plan,
        &bound,
        &[batch(rows, &[1, 2, 2], data.clone())],
        Mode::Fixed,
    )
    .unwrap();
    assert_eq!(all.outputs[0].values.len(), rows * 2);
    for r in [0, CHUNK_ROWS, rows - 1] {
        let one = evaluate(
            &plan,
            &bound,
            &[batch(1, &[1, 2, 2], data[r * 4..r * 4 + 4].to_vec())],
            Mode::Fixed,
        )
        .unwrap();
        assert_eq!(one.outputs[0].row(0), all.outputs[0].row(r));
    }
}

/// The plan with one unit subtracted after every A truncation whose index
/// `pick` selects: the worst case of the secure truncation, made explicit.
fn lowered(plan: &Plan, pick: impl Fn(usize) -> bool) -> Plan {
    let mut out = plan.clone();
    out.steps.clear();
    let mut rename: Vec<ValueId> = (0..plan.values.len() as u32).map(ValueId).collect();
    for (i, step) in plan.steps.iter().enumerate() {
        let mut s = step.clone();
        s.inputs = s.inputs.iter().map(|v| rename[v.index()]).collect();
        out.steps.push(s);
        if matches!(step.op, Op::Truncate { .. }) && step.protocol == Protocol::Arith && pick(i) {
            let mut info = plan.value(step.output).clone();
            info.name.push_str(".low");
            out.values.push(info);
            let low = ValueId(out.values.len() as u32 - 1);
            out.steps.push(crate::plan::Step {
                op: Op::AddConst { c: -1 },
                inputs: vec![step.output],
                output: low,
                protocol: Protocol::Arith,
                layer: step.layer.clone(),
            });
            rename[step.output.index()] = low;
        }
    }
    for o in &mut out.outputs {
        o.value = rename[o.value.index()];
    }
    out.validate().unwrap();
    out
}

#[test]
fn deviation_bound_covers_one_unit_lower_truncations() {
    let mut b = PlanBuilder::new(12);
    let x = b.input("x", &[1, 8, 8]);
    let h = b.conv(x, "conv1", 3, 3, 1, 1);
    let h = b.relu(h, Protocol::Gmw);
    let h = b.avgpool(h, 2);
    let h = b.flatten(h);
    let h = b.dense(h, "fc1", 10, true);
    let h = b.relu(h, Protocol::Yao);
    let s = b.dense(h, "fc2", 4, true);
    b.output("scores", s, Reveal::Scores);
    let plan = b.finish();
    let mut rng = Lcg(2024);
    let w = random_weights(&plan, &mut rng);
    let input = [batch(20, &[1, 8, 8], rng.vec(20 * 64, 1.0))];
    let exact = evaluate(
        &plan,
        &weights::bind(&plan, &w).unwrap(),
        &input,
        Mode::Fixed,
    )
    .unwrap();
    let bound = deviation_bounds(&plan, &weights::bind(&plan, &w).unwrap())[0].unwrap();
    let ulp = 1.0 / 4096.0;
    assert!(bound > ulp && bound < 64.0 * ulp, "bound {bound}");
    let mut worst: f64 = 0.0;
    for pick in [
        |_: usize| true,
        |i: usize| i % 2 == 0,
        |i: usize| i % 3 == 1,
    ] {
        let low = lowered(&plan, pick);
        let bound_low = weights::bind(&low, &w).unwrap();
        let got = evaluate(&low, &bound_low, &input, Mode::Fixed).unwrap();
        for (a, b) in got.outputs[0].values.iter().zip(&exact.outputs[0].values) {
            assert!((a - b).abs() <= bound, "{a} vs {b}: bound {bound}");
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst > 0.0, "lowering the truncations changed nothing");
}

#[test]
fn deviation_bound_is_zero_without_arith_truncations_and_none_after_a_square() {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[3]);
    let h = b.relu(x, Protocol::Gmw);
    b.output("relu", h, Reveal::Scores);
    let s = b.dense(x, "fc", 3, false);
    let q = b.square(s);
    b.output("square", q, Reveal::Scores);
    let plan = b.finish();
    let w = safetensors_bytes(&[("fc.weight", vec![3, 3], vec![0.5; 9])], false);
    let bounds = deviation_bounds(&plan, &weights::bind(&plan, &w).unwrap());
    assert_eq!(bounds, vec![Some(0.0), None]);
}

#[test]
fn encode_batch_and_decode_output_are_the_oracles_own() {
    let (plan, bound) = tiny();
    let x = batch(3, &[1, 2, 2], Lcg(11).vec(12, 2.0));
    let ring = encode_batch(&plan, 0, &x).unwrap();
    let f = plan.fixed;
    for (r, v) in ring.iter().zip(&x.data) {
        assert_eq!(*r, f.encode(*v).unwrap());
    }
    let fixed = evaluate(&plan, &bound, &[x], Mode::Fixed).unwrap();
    let raw = fixed.outputs[0].ring.clone().unwrap();
    assert_eq!(
        decode_output(&plan, 0, 3, &raw).as_ref(),
        Some(&fixed.outputs[0])
    );
    assert_eq!(decode_output(&plan, 0, 2, &raw), None);
    assert_eq!(decode_output(&plan, 1, 3, &raw), None);
    let err = encode_batch(&plan, 0, &batch(1, &[4], vec![0.0; 4])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x` has shape [1, 2, 2], the batch gives 1 rows of [4]"
    );
    assert!(encode_batch(&plan, 1, &batch(1, &[4], vec![0.0; 4])).is_err());
}
