//! Every example network privately, with three real processes: `chimera run`
//! starts the dealer, the server and the client as separate OS processes
//! over loopback TCP. The client's revealed outputs are held to the same
//! check as the in-process runs (`common::check`: scores within the
//! oracle's deviation bound, labels identical wherever the top two scores
//! are clearly apart), and the measured online bytes and rounds equal the
//! cost model's prediction exactly. netA, netB and netD use their trained
//! weights and bundled MNIST images; the others seeded random weights and
//! inputs written to temporary files.

mod common;

use common::cli::scratch;

use chimera_runtime::exec::RevealedOutput;
use chimera_runtime::plan::{Encoding, Plan, Reveal};
use chimera_runtime::tensor_io::{self, Batch, NpyDtype, Tensor};
use common::check::{assert_matches_oracle, setup};
use common::random::{random_weights, SplitMix64};
use serde_json::Value;
use std::process::Command;

/// The client's outputs as `chimera run --json` printed them, typed like
/// the executor's so the shared check applies.
fn revealed(plan: &Plan, json: &Value) -> Vec<RevealedOutput> {
    let outputs = json["output"].as_array().expect("an `output` array");
    outputs
        .iter()
        .map(|o| {
            let name = o["name"].as_str().expect("an output name");
            let spec = plan
                .outputs
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("output `{name}` is not in the plan"));
            let info = plan.value(spec.value);
            let rows = o["rows"].as_array().expect("rows");
            let values: Vec<f64> = rows
                .iter()
                .flat_map(|r| match r {
                    Value::Array(v) => v.iter().map(|x| x.as_f64().unwrap()).collect(),
                    x => vec![x.as_f64().unwrap()],
                })
                .collect();
            let encoding = info.encoding;
            RevealedOutput {
                name: name.to_string(),
                reveal: spec.reveal,
                shape: info.shape.clone(),
                encoding,
                rows: rows.len(),
                ring: match encoding {
                    Encoding::Integer => values.iter().map(|&v| v as u64).collect(),
                    Encoding::Fixed { .. } => Vec::new(),
                },
                values,
            }
        })
        .collect()
}

/// Run `stem` privately on `rows` inputs through `chimera run` and check it.
fn check_example(stem: &str, seed: u64, rows: usize) {
    let dir = scratch(stem);
    let (plan, bound, inputs) = setup(stem, seed, rows);
    let trained = common::example(&format!("{stem}.safetensors"));
    let weights = if trained.exists() {
        trained
    } else {
        let path = dir.join("weights.safetensors");
        std::fs::write(&path, random_weights(&plan, &mut SplitMix64(seed))).unwrap();
        path
    };
    let [batch]: &[Batch; 1] = inputs[..].try_into().expect("one input");
    let input = dir.join("input.npy");
    let mut shape = vec![batch.rows];
    shape.extend(&batch.row_shape);
    let tensor = Tensor {
        shape,
        data: batch.data.clone(),
    };
    tensor_io::save_npy(&input, &tensor, NpyDtype::F64).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_chimera"))
        .arg("run")
        .arg(common::example(&format!("{stem}.nn")))
        .arg("--weights")
        .arg(&weights)
        .arg("--input")
        .arg(&input)
        .args(["--json", "--timeout", "300"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stem}: chimera run failed:\n{stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["rows"], batch.rows, "{stem}");
    assert_eq!(
        json["plan_hash"].as_str(),
        Some(plan.hash().unwrap().to_string().as_str()),
        "{stem}: `run` compiled the same plan as the test"
    );
    let outputs = revealed(&plan, &json);
    assert!(
        outputs.iter().all(|o| o.rows == batch.rows),
        "{stem}: one row per input"
    );
    assert_matches_oracle(stem, &plan, &bound, &inputs, &outputs);
    if let Some(label) = outputs.iter().find(|o| o.reveal == Reveal::Label) {
        assert!(label.ring.iter().all(|&l| (l as usize) < 10), "{stem}");
    }
    let (measured, predicted) = (&json["measured"], &json["predicted"]);
    assert!(measured["online_bytes"].as_u64().unwrap() > 0, "{stem}");
    assert_eq!(
        measured["online_bytes"], predicted["online_bytes"],
        "{stem}: bytes"
    );
    assert_eq!(measured["rounds"], predicted["rounds"], "{stem}: rounds");
}

#[test]
fn net_d_three_processes() {
    check_example("netD_chameleon", 11, 4);
}

#[test]
fn net_a_three_processes() {
    check_example("netA_secureml", 12, 4);
}

#[test]
fn net_b_three_processes() {
    check_example("netB_minionn", 13, 2);
}

#[test]
fn net_c_three_processes() {
    check_example("netC_lenet", 14, 1);
}

#[test]
fn cryptonets_three_processes() {
    check_example("cryptonets", 15, 2);
}

#[test]
fn resnet_block_three_processes() {
    check_example("resnet_block", 16, 2);
}

#[test]
fn sigmoid_poly_three_processes() {
    check_example("sigmoid_poly", 17, 2);
}

#[test]
fn cifar_minionn_three_processes() {
    check_example("cifar_minionn", 18, 1);
}
