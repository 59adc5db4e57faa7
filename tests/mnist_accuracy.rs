//! The fixed-point oracle classifies MNIST as well as the float model: on the
//! first 1000 test images, the accuracy of netA, netB and netD in fixed point
//! (64-bit ring, the networks' default 16 fraction bits) equals the float
//! accuracy within 0.5 percentage points, and no step leaves the default
//! per-step tolerance.

mod common;

use chimera_runtime::oracle::{self, Evaluation, Tolerance};
use chimera_runtime::plan::Reveal;
use chimera_runtime::tensor_io::Batch;
use chimera_runtime::weights;

const IMAGES: usize = 1000;

fn labels(e: &Evaluation) -> Vec<usize> {
    let out = e
        .outputs
        .iter()
        .find(|o| o.reveal == Reveal::Label)
        .expect("the network reveals a label");
    (0..e.rows)
        .map(|r| out.label(r).expect("an integer label"))
        .collect()
}

fn accuracy(predicted: &[usize], truth: &[usize]) -> f64 {
    predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

#[test]
fn fixed_point_accuracy_equals_float_on_1000_mnist_images() {
    let (images, truth) = common::mnist::test_set(IMAGES);
    for stem in ["netA_secureml", "netB_minionn", "netD_chameleon"] {
        let saved = common::compile_example(stem);
        let plan = &saved.plan;
        let bound = weights::load(plan, &common::example(&format!("{stem}.safetensors"))).unwrap();
        let shape = plan.value(plan.inputs[0].value).shape.clone();
        let batch = Batch {
            rows: IMAGES,
            row_shape: shape,
            data: images.clone(),
        };
        let tolerance = Tolerance::for_frac_bits(plan.fixed.frac_bits);
        let cmp = oracle::compare(plan, &bound, &[batch], tolerance).unwrap();
        let fixed = accuracy(&labels(&cmp.fixed), &truth);
        let float = accuracy(&labels(&cmp.float), &truth);
        let disagree = labels(&cmp.fixed)
            .iter()
            .zip(labels(&cmp.float))
            .filter(|(a, b)| **a != *b)
            .count();
        let largest_error = cmp
            .report
            .steps
            .iter()
            .filter(|s| s.frac_bits.is_some())
            .map(|s| s.max_abs_error)
            .fold(0.0, f64::max);
        let secure_bound = oracle::deviation_bounds(plan, &bound);
        println!(
            "{stem}: fixed-point accuracy {:.1} %, float {:.1} % on the first {IMAGES} MNIST test images ({disagree} labels differ); largest fixed-vs-float error {largest_error:.2e}; secure-vs-oracle bound {secure_bound:?}",
            100.0 * fixed,
            100.0 * float
        );
        assert!(
            (fixed - float).abs() <= 0.005,
            "{stem}: fixed {fixed} vs float {float}"
        );
        assert!(
            float >= 0.97,
            "{stem}: the trained model reaches only {float}"
        );
        assert_eq!(
            cmp.report.first_out_of_tolerance,
            None,
            "{stem}:\n{}",
            cmp.report.render()
        );
        assert!(
            cmp.report.warnings.is_empty(),
            "{stem}:\n{}",
            cmp.report.render()
        );
    }
}
