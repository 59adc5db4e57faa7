//! Binding: every refusal with its message, dtypes, absent biases, and
//! batchnorm folding against the unfolded float computation.

use super::*;
use crate::oracle::testing::{safetensors_bytes, Lcg, PlanBuilder};
use crate::oracle::{self, Mode, Tolerance};
use crate::plan::{BatchNormRef, Protocol, Reveal};
use crate::tensor_io::Batch;

/// x: [1, 4, 4] -> conv1 (2@3x3, pad 1) -> relu -> flatten -> fc (3).
fn plan() -> Plan {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[1, 4, 4]);
    let h = b.conv(x, "conv1", 2, 3, 1, 1);
    let h = b.relu(h, Protocol::Gmw);
    let h = b.flatten(h);
    let s = b.dense(h, "fc", 3, true);
    b.output("scores", s, Reveal::Scores);
    b.finish()
}

fn good_tensors() -> Vec<(&'static str, Vec<usize>, Vec<f64>)> {
    let mut rng = Lcg(3);
    vec![
        ("conv1.weight", vec![2, 1, 3, 3], rng.vec(18, 0.5)),
        ("conv1.bias", vec![2], rng.vec(2, 0.5)),
        ("fc.weight", vec![3, 32], rng.vec(96, 0.3)),
        ("fc.bias", vec![3], rng.vec(3, 0.5)),
    ]
}

fn bind_with(
    edit: impl FnOnce(&mut Vec<(&'static str, Vec<usize>, Vec<f64>)>),
) -> Result<BoundWeights, WeightsError> {
    let mut t = good_tensors();
    edit(&mut t);
    bind(&plan(), &safetensors_bytes(&t, false))
}

#[test]
fn binds_and_encodes_weights_with_f_and_biases_with_2f() {
    let bound = bind_with(|_| {}).unwrap();
    let fc = bound.layer("fc").unwrap();
    assert_eq!(fc.weight_shape, vec![3, 32]);
    assert_eq!(fc.bias_frac_bits, 32);
    let f = FixedFormat::default();
    for (raw, real) in fc.weight.iter().zip(&fc.weight_float) {
        assert_eq!(*raw, f.encode(*real).unwrap());
    }
    for (raw, real) in fc.bias.iter().zip(&fc.bias_float) {
        assert_eq!(*raw, f.encode_with(*real, 32).unwrap());
    }
    assert!(bound.unused.is_empty());
    assert_eq!(bound.plan_hash, plan().hash().unwrap());
}

#[test]
fn debug_output_shows_shapes_never_values() {
    let bound = bind_with(|t| t[2].2[0] = 0.123_456_7).unwrap();
    let shown = format!("{bound:?}");
    assert!(shown.contains("weight_shape: [3, 32]"), "{shown}");
    assert!(!shown.contains("0.1234"), "{shown}");
    assert!(!shown.contains("weight_float"), "{shown}");
}

#[test]
fn accepts_float64_and_reports_unused_tensors() {
    let mut t = good_tensors();
    t.push(("fc2.weight", vec![1], vec![0.0]));
    let bound = bind(&plan(), &safetensors_bytes(&t, true)).unwrap();
    assert_eq!(bound.unused, vec!["fc2.weight".to_string()]);
    // float64 keeps the exact value; float32 would round it.
    assert_eq!(
        bound.layer("fc").unwrap().weight_float[0],
        good_tensors()[2].2[0]
    );
}

#[test]
fn missing_tensor_names_layer_and_close_names() {
    let err = bind_with(|t| t[2].0 = "fc.weights").unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer `fc`: the weights file has no tensor `fc.weight`; tensors that look close: `fc.weights`, `fc.bias`"
    );
    let err = bind_with(|t| {
        t.retain(|(n, _, _)| !n.starts_with("conv1"));
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer `conv1`: the weights file has no tensor `conv1.weight`; none of its 2 tensors looks close"
    );
}

#[test]
fn wrong_shape_names_both_shapes() {
    let err = bind_with(|t| t[2] = ("fc.weight", vec![32, 3], vec![0.0; 96])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer `fc`: tensor `fc.weight` has shape [32, 3], but the plan needs [3, 32]"
    );
    let err = bind_with(|t| t[1] = ("conv1.bias", vec![3], vec![0.0; 3])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer `conv1`: tensor `conv1.bias` has shape [3], but the plan needs [2]"
    );
}

#[test]
fn nan_and_infinity_name_the_index() {
    let err = bind_with(|t| t[0].2[13] = f64::NAN).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer `conv1`: tensor `conv1.weight` holds a NaN or infinite value at index [1, 0, 1, 1]"
    );
    let err = bind_with(|t| t[3].2[2] = f64::NEG_INFINITY).unwrap_err();
    assert!(
        matches!(&err, WeightsError::NotFinite { index, .. } if index == &vec![2]),
        "{err}"
    );
}

#[test]
fn too_large_names_the_index_and_limit_but_not_the_value() {
    let err = bind_with(|t| t[2].2[33] = 40_000.5).unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        msg,
        "layer `fc`: tensor `fc.weight` at index [1, 1] is too large for the fixed-point format: magnitudes must stay below 32768 with 16 fraction bits; use fewer fraction bits or rescale the layer"
    );
    assert!(!msg.contains("40000"));
}

#[test]
fn wrong_dtype_is_refused() {
    use safetensors::{tensor::TensorView, Dtype};
    let t = good_tensors();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = t
        .iter()
        .map(|(n, s, d)| {
            (
                n.to_string(),
                Dtype::F32,
                s.clone(),
                d.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect(),
            )
        })
        .collect();
    owned[3] = ("fc.bias".into(), Dtype::I32, vec![3], vec![0; 12]);
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    let err = bind(&plan(), &bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer `fc`: tensor `fc.bias` has dtype I32; weights must be F32 or F64"
    );
}

#[test]
fn not_a_safetensors_file() {
    let err = bind(&plan(), b"\x01\x02garbage").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("not a readable safetensors file"),
        "{err}"
    );
    let err = load(&plan(), Path::new("/nonexistent/w.safetensors")).unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/w.safetensors: "),
        "{err}"
    );
}

/// conv (no bias) + batchnorm, folded, against conv then batchnorm in float.
#[test]
fn batchnorm_folding_matches_the_unfolded_network() {
    let eps = 1e-5;
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[2, 5, 5]);
    let mut params = PlanBuilder::params("conv1", false);
    params.batchnorm = Some(BatchNormRef {
        layer: "bn1".into(),
        gamma: "bn1.weight".into(),
        beta: "bn1.bias".into(),
        mean: "bn1.running_mean".into(),
        var: "bn1.running_var".into(),
        eps_bits: f64::to_bits(eps),
    });
    let y = b.conv_with(x, 3, 3, 1, 1, params);
    b.output("y", y, Reveal::Scores);
    let plan = b.finish();
    let mut rng = Lcg(77);
    let w = rng.vec(3 * 2 * 9, 0.4);
    let gamma: Vec<f64> = rng.vec(3, 0.5).iter().map(|g| 1.0 + g).collect();
    let beta = rng.vec(3, 0.5);
    let mean = rng.vec(3, 0.3);
    let var: Vec<f64> = rng.vec(3, 0.5).iter().map(|v| 0.6 + v).collect();
    let bytes = safetensors_bytes(
        &[
            ("conv1.weight", vec![3, 2, 3, 3], w.clone()),
            ("bn1.weight", vec![3], gamma.clone()),
            ("bn1.bias", vec![3], beta.clone()),
            ("bn1.running_mean", vec![3], mean.clone()),
            ("bn1.running_var", vec![3], var.clone()),
        ],
        true,
    );
    let bound = bind(&plan, &bytes).unwrap();
    assert_eq!(
        bound.layer("conv1").unwrap().folded_batchnorm.as_deref(),
        Some("bn1")
    );
    let input = rng.vec(2 * 25, 1.0);
    let batch = Batch {
        rows: 1,
        row_shape: vec![2, 5, 5],
        data: input.clone(),
    };
    let cmp = oracle::compare(&plan, &bound, &[batch], Tolerance::for_frac_bits(16)).unwrap();
    // Unfolded: plain convolution, then (y - mean) * gamma / sqrt(var + eps) + beta.
    let mut checked = 0;
    for oc in 0..3 {
        for oy in 0..5 {
            for ox in 0..5 {
                let mut conv = 0.0;
                for ic in 0..2 {
                    for ki in 0..3 {
                        for kj in 0..3 {
                            let (iy, ix) = (oy + ki, ox + kj);
                            if (1..6).contains(&iy) && (1..6).contains(&ix) {
                                conv += w[((oc * 2 + ic) * 3 + ki) * 3 + kj]
                                    * input[(ic * 5 + iy - 1) * 5 + ix - 1];
                            }
                        }
                    }
                }
                let bn = (conv - mean[oc]) * gamma[oc] / (var[oc] + eps).sqrt() + beta[oc];
                let i = (oc * 5 + oy) * 5 + ox;
                assert!((cmp.float.outputs[0].values[i] - bn).abs() < 1e-12);
                assert!((cmp.fixed.outputs[0].values[i] - bn).abs() < 1e-3);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 75);
    assert_eq!(cmp.fixed.outputs[0].ring.as_ref().map(Vec::len), Some(75));
    // Folding that makes a weight too large names the batchnorm.
    let bytes = safetensors_bytes(
        &[
            ("conv1.weight", vec![3, 2, 3, 3], vec![1.0; 54]),
            ("bn1.weight", vec![3], vec![1.0, 1e5, 1.0]),
            ("bn1.bias", vec![3], vec![0.0; 3]),
            ("bn1.running_mean", vec![3], vec![0.0; 3]),
            ("bn1.running_var", vec![3], vec![1.0; 3]),
        ],
        true,
    );
    let err = bind(&plan, &bytes).unwrap_err();
    assert!(
        err.to_string().starts_with("layer `conv1`: tensor `conv1.weight` (after folding batchnorm `bn1`) at index [1, 0, 0, 0] is too large"),
        "{err}"
    );
    let bytes = safetensors_bytes(
        &[
            ("conv1.weight", vec![3, 2, 3, 3], vec![1.0; 54]),
            ("bn1.weight", vec![3], vec![1.0; 3]),
            ("bn1.bias", vec![3], vec![0.0; 3]),
            ("bn1.running_mean", vec![3], vec![0.0; 3]),
            ("bn1.running_var", vec![3], vec![1.0, 1.0, -1.0]),
        ],
        true,
    );
    let err = bind(&plan, &bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer `conv1`: batchnorm `bn1` has var + eps <= 0 at channel 2"
    );
}

#[test]
fn float_mode_of_bound_weights_is_the_plain_network() {
    let bound = bind_with(|_| {}).unwrap();
    let plan = plan();
    let x = Batch {
        rows: 1,
        row_shape: vec![1, 4, 4],
        data: Lcg(8).vec(16, 1.0),
    };
    let float = oracle::evaluate(&plan, &bound, &[x], Mode::Float).unwrap();
    assert_eq!(float.outputs[0].values.len(), 3);
    assert!(float.outputs[0].values.iter().all(|v| v.is_finite()));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Flipped bytes and cut files give a result or an error, never a panic.
        #[test]
        fn on_mutated_files(flips in proptest::collection::vec((0usize..2000, any::<u8>()), 1..6), cut in 0usize..64) {
            let mut bytes = safetensors_bytes(&good_tensors(), false);
            for (i, b) in flips {
                let n = bytes.len();
                bytes[i % n] = b;
            }
            let keep = bytes.len() - cut.min(bytes.len());
            bytes.truncate(keep);
            let _ = bind(&plan(), &bytes);
        }
    }
}
