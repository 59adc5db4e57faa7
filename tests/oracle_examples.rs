//! The oracle on every example network: with random weights (scaled by
//! 1/√fan-in, batchnorm statistics near identity) and random inputs in
//! [0, 1], the fixed-point run stays within the default per-step tolerance
//! of the float run (256 ulp + 1 % of the step's range, see
//! `docs/fixed-point.md`), with no value near the headroom, and the labels
//! of the two runs agree (with these seeds no two top scores are a near tie).

mod common;

use chimera_runtime::oracle::{self, Tolerance};
use chimera_runtime::plan::Encoding;
use chimera_runtime::tensor_io::Batch;
use chimera_runtime::weights;
use common::random::{random_weights, SplitMix64};

const EXAMPLES: [&str; 8] = [
    "netA_secureml",
    "netB_minionn",
    "netC_lenet",
    "netD_chameleon",
    "cryptonets",
    "cifar_minionn",
    "resnet_block",
    "sigmoid_poly",
];

#[test]
fn every_example_runs_in_fixed_point_within_tolerance_of_float() {
    let rows = 3;
    for (k, stem) in EXAMPLES.iter().enumerate() {
        let saved = common::compile_example(stem);
        let plan = &saved.plan;
        let mut rng = SplitMix64(1000 + k as u64);
        let bound = weights::bind(plan, &random_weights(plan, &mut rng)).unwrap();
        let batches: Vec<Batch> = plan
            .inputs
            .iter()
            .map(|i| {
                let shape = plan.value(i.value).shape.clone();
                let n: usize = shape.iter().product();
                Batch {
                    rows,
                    row_shape: shape,
                    data: rng.vec(rows * n, 0.0, 1.0),
                }
            })
            .collect();
        let tolerance = Tolerance::for_frac_bits(plan.fixed.frac_bits);
        let cmp = oracle::compare(plan, &bound, &batches, tolerance).unwrap();
        let report = &cmp.report;
        assert_eq!(
            report.first_out_of_tolerance,
            None,
            "{stem}:\n{}",
            report.render()
        );
        assert!(report.warnings.is_empty(), "{stem}:\n{}", report.render());
        assert!(!report.steps.is_empty());
        for s in report.steps.iter().filter(|s| s.frac_bits.is_none()) {
            assert_eq!(s.mismatches, 0, "{stem}: labels differ at step {}", s.step);
        }
        for (fx, fl) in cmp.fixed.outputs.iter().zip(&cmp.float.outputs) {
            assert_eq!(fx.values.len(), fl.values.len(), "{stem}");
            if fx.encoding == Encoding::Integer {
                continue;
            }
            let range = fl.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in fx.values.iter().zip(&fl.values) {
                assert!(
                    (a - b).abs() <= tolerance.bound(range),
                    "{stem}: output `{}`: fixed {a} vs float {b}",
                    fx.name
                );
            }
        }
        println!(
            "{stem}: {} steps, largest error {:.2e}, least headroom {} bits",
            report.steps.len(),
            report
                .steps
                .iter()
                .filter(|s| s.frac_bits.is_some())
                .map(|s| s.max_abs_error)
                .fold(0.0, f64::max),
            report
                .steps
                .iter()
                .filter(|s| s.frac_bits.is_some())
                .map(|s| s.headroom_bits)
                .min()
                .unwrap_or(0)
        );
    }
}
