//! The check every secure run is held to: the client's revealed outputs
//! against the plaintext fixed-point oracle, scores within
//! `oracle::deviation_bounds` (bit for bit when the bound is 0), labels
//! identical wherever the oracle's two best scores are further apart than
//! twice the bound. Shared by the in-process and the three-process tests.

use super::random;
use chimera_runtime::exec::RevealedOutput;
use chimera_runtime::oracle::{self, Mode, Tolerance};
use chimera_runtime::plan::{Encoding, Op, OutputSpec, Party, Plan, Reveal, ValueId};
use chimera_runtime::tensor_io::{self, Batch};
use chimera_runtime::weights::{self, BoundWeights};

/// The trained weights and `rows` bundled MNIST images for netA/B/D;
/// seeded random weights and inputs for the others.
pub fn setup(stem: &str, seed: u64, rows: usize) -> (Plan, BoundWeights, Vec<Batch>) {
    let plan = super::compile_example(stem).plan;
    let trained = super::example(&format!("{stem}.safetensors"));
    let mut rng = random::SplitMix64(seed);
    let bound = if trained.exists() {
        weights::load(&plan, &trained).unwrap()
    } else {
        weights::bind(&plan, &random::random_weights(&plan, &mut rng)).unwrap()
    };
    let batches = plan
        .inputs
        .iter()
        .map(|i| {
            let info = plan.value(i.value);
            let file = match &info.shape[..] {
                [1, 28, 28] => Some("mnist_batch16.npy"),
                [784] => Some("mnist_batch16_flat.npy"),
                _ => None,
            };
            match file {
                Some(f) => {
                    let mut b = tensor_io::load_npy(&super::example(&format!("inputs/{f}")))
                        .unwrap()
                        .into_batch(&info.name, &info.shape)
                        .unwrap();
                    b.rows = b.rows.min(rows);
                    b.data.truncate(b.rows * info.len());
                    b
                }
                None => Batch {
                    rows,
                    row_shape: info.shape.clone(),
                    data: rng.vec(rows * info.len(), 0.0, 1.0),
                },
            }
        })
        .collect();
    (plan, bound, batches)
}

/// The secure outputs against the oracle's, within the deviation bound.
pub fn assert_matches_oracle(
    stem: &str,
    plan: &Plan,
    bound: &BoundWeights,
    inputs: &[Batch],
    client: &[RevealedOutput],
) {
    let want = oracle::evaluate(plan, bound, inputs, Mode::Fixed).unwrap();
    let bounds = oracle::deviation_bounds(plan, bound);
    let mut compared = 0;
    for ((spec, expected), dev) in plan.outputs.iter().zip(&want.outputs).zip(&bounds) {
        if spec.to != Party::Client {
            continue;
        }
        let got = client
            .iter()
            .find(|o| o.name == spec.name)
            .unwrap_or_else(|| panic!("{stem}: output `{}` missing", spec.name));
        compared += 1;
        assert_eq!(got.values.len(), expected.values.len(), "{stem}");
        // No static bound (a product after an A truncation): the oracle
        // module's empirical per-step tolerance.
        let range = expected.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol =
            dev.unwrap_or_else(|| Tolerance::for_frac_bits(plan.fixed.frac_bits).bound(range));
        if expected.encoding == Encoding::Integer {
            // Labels: identical unless the oracle's input to argmax has a
            // near tie (the scores behind the label, from the oracle).
            if tol == 0.0 {
                assert_eq!(got.values, expected.values, "{stem}: labels");
            } else {
                assert_labels_apart_from_ties(stem, plan, bound, inputs, spec.value, got, tol);
            }
            continue;
        }
        for (g, e) in got.values.iter().zip(&expected.values) {
            assert!(
                (g - e).abs() <= tol,
                "{stem}: output `{}`: secure {g}, oracle {e}, bound {tol}",
                spec.name
            );
        }
        // The label of every row whose top two scores are clearly apart.
        if let Some(labels) = plan
            .outputs
            .iter()
            .position(|o| o.reveal == Reveal::Label && o.to == Party::Client)
        {
            let n = got.row_len();
            for r in 0..got.rows {
                let row = expected.row(r);
                let mut sorted = row.to_vec();
                sorted.sort_by(|a, b| b.total_cmp(a));
                if n > 1 && sorted[0] - sorted[1] > 2.0 * tol {
                    let secure = client.iter().find(|o| o.name == plan.outputs[labels].name);
                    assert_eq!(
                        secure.and_then(|o| o.label(r)),
                        want.outputs[labels].label(r),
                        "{stem}: row {r}"
                    );
                }
            }
        }
    }
    assert!(compared > 0, "{stem}: nothing revealed to the client");
}

/// A label revealed with a non-zero deviation bound: the secure label equals
/// the oracle's on every row whose two best oracle scores (the argmax's
/// input, evaluated by the oracle on the plan with those scores as an extra
/// output) are further apart than twice the bound `tol`. Rows with a near
/// tie may differ.
fn assert_labels_apart_from_ties(
    stem: &str,
    plan: &Plan,
    bound: &BoundWeights,
    inputs: &[Batch],
    label: ValueId,
    got: &RevealedOutput,
    tol: f64,
) {
    let argmax = plan
        .steps
        .iter()
        .find(|s| s.output == label && matches!(s.op, Op::Argmax))
        .unwrap_or_else(|| panic!("{stem}: the label `{}` is not an argmax", got.name));
    let mut with_scores = plan.clone();
    with_scores.outputs.push(OutputSpec {
        name: format!("scores behind {}", got.name),
        value: argmax.inputs[0],
        reveal: Reveal::Scores,
        to: Party::Client,
    });
    let mut weights = bound.clone();
    weights.plan_hash = with_scores.hash().unwrap();
    let eval = oracle::evaluate(&with_scores, &weights, inputs, Mode::Fixed).unwrap();
    let scores = eval.outputs.last().expect("the extra scores output");
    let want = eval
        .outputs
        .iter()
        .find(|o| o.name == got.name)
        .expect("the label among the oracle's outputs");
    let mut decided = 0;
    for r in 0..got.rows {
        let mut sorted = scores.row(r).to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        if sorted.len() > 1 && sorted[0] - sorted[1] <= 2.0 * tol {
            continue;
        }
        decided += 1;
        assert_eq!(got.label(r), want.label(r), "{stem}: label of row {r}");
    }
    // A static bound can be too loose to decide any row (stand-in weights
    // with large norms, e.g. cifar_minionn's): say so rather than fail.
    println!(
        "{stem}: {decided} of {} label(s) compared with the oracle's (bound {tol:.2e})",
        got.rows
    );
}
