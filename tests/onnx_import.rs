//! `chimera import` on the committed test models of `examples/onnx/`
//! (made by `examples/onnx/export_models.py` with PyTorch and onnxruntime):
//!
//! - the generated `.nn` of every model (insta snapshots);
//! - the float cross-check: the imported network, compiled and run by the
//!   plaintext oracle in float mode, reproduces onnxruntime's scores on the
//!   sample inputs to 1e-4 (relative to the scores' scale), and the
//!   fixed-point oracle predicts the same classes as onnxruntime and PyTorch;
//! - the command line: `chimera import` then `chimera run` (private
//!   inference over loopback) gives PyTorch's predictions.
//!
//! Nothing here needs Python: the reference outputs are committed `.npy` files.

mod common;

use chimera_compiler::onnx::{self, ExternalData, ImportOptions, Imported, Reveal};
use chimera_runtime::oracle::{self, Mode};
use chimera_runtime::tensor_io::{load_npy, Tensor};
use chimera_runtime::weights;
use common::cli::{chimera, scratch};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every test model, by file stem.
const MODELS: [&str; 9] = [
    "mnist_mlp",
    "mnist_mlp_legacy",
    "mnist_cnn",
    "mnist_cnn_legacy",
    "ops_vec",
    "ops_vec_legacy",
    "ops_img",
    "ops_img_legacy",
    "ops_dropout_identity",
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/onnx")
}

fn npy(name: &str) -> Tensor {
    let path = dir().join(name);
    load_npy(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Import `examples/onnx/NAME.onnx` with its external data, if any.
fn import(name: &str) -> Imported {
    let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).expect("model");
    let mut external = ExternalData::new();
    for location in onnx::external_locations(&bytes).expect("decodes") {
        let data = std::fs::read(dir().join(&location)).expect("external data");
        external.insert(location, data);
    }
    let options = ImportOptions {
        model_name: name.into(),
        source_name: format!("{name}.onnx"),
        external_data: external,
        ..ImportOptions::default()
    };
    onnx::import(&bytes, &options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[test]
fn generated_programs_match_their_snapshots() {
    for name in MODELS {
        let imported = import(name);
        insta::assert_snapshot!(format!("onnx_{name}"), imported.source);
    }
}

/// Every operator the importer maps on network tensors appears in a
/// committed test model (the generated programs name each statement's ONNX
/// operator in a comment), and every operator it knows is in the table of
/// `docs/import.md`.
#[test]
fn every_supported_operator_has_a_test_model_and_a_row_in_the_docs() {
    let sources: Vec<String> = MODELS.iter().map(|name| import(name).source).collect();
    for op in onnx::layers::layer_operators() {
        assert!(
            sources.iter().any(|s| s.contains(&format!(" {op} "))),
            "no test model in examples/onnx uses `{op}`"
        );
    }
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/import.md"))
            .expect("docs/import.md");
    let start = doc
        .find("## Supported operators")
        .expect("the operator table");
    let table = &doc[start..];
    let known = onnx::layers::layer_operators()
        .chain(onnx::fold::FOLDABLE.iter().copied())
        .chain(["Constant", "Shape"]);
    for op in known {
        assert!(
            table.contains(&format!("`{op}`")),
            "docs/import.md's table does not list `{op}`"
        );
    }
}

/// What the float and fixed oracles give against the references.
struct CrossCheck {
    max_error: f64,
    rows: usize,
    fixed_labels_agree: usize,
}

fn cross_check(name: &str) -> CrossCheck {
    let imported = import(name);
    let compiled = chimera_compiler::compile(&format!("{name}.nn"), imported.source.as_bytes())
        .unwrap_or_else(|d| {
            panic!(
                "{name}: {}",
                d.render("x.nn", imported.source.as_bytes(), false)
            )
        });
    let plan = &compiled.saved.plan;
    let bound = weights::bind(plan, &imported.weights).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        bound.unused.is_empty(),
        "{name}: unused tensors {:?}",
        bound.unused
    );
    let info = plan.value(plan.inputs[0].value);
    let batch = npy(&format!("{name}.input.npy"))
        .into_batch(&info.name, &info.shape)
        .expect("input fits the plan");
    // The float oracle runs the approximations the program states; the
    // reference for a model with Sigmoid/Tanh is onnxruntime on the same
    // approximations (HardSigmoid(0.25, 0.5), Clip(-1, 1)).
    let pwl = dir().join(format!("{name}.pwl.npy"));
    let reference = if pwl.exists() {
        npy(&format!("{name}.pwl.npy"))
    } else {
        npy(&format!("{name}.logits.npy"))
    };
    let float = oracle::evaluate(plan, &bound, std::slice::from_ref(&batch), Mode::Float)
        .expect("float oracle");
    let scores = float
        .outputs
        .iter()
        .find(|o| o.name == "scores")
        .expect("scores output");
    assert_eq!(
        scores.values.len(),
        reference.data.len(),
        "{name}: output size"
    );
    let scale = reference.data.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let max_error = scores
        .values
        .iter()
        .zip(&reference.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        max_error <= 1e-4 * scale,
        "{name}: float oracle differs from onnxruntime by {max_error} (scale {scale})"
    );
    let fixed = oracle::evaluate(plan, &bound, std::slice::from_ref(&batch), Mode::Fixed)
        .expect("fixed oracle");
    let labels = fixed
        .outputs
        .iter()
        .find(|o| o.name == "label")
        .expect("label output");
    let n = scores.row_len();
    let torch = dir().join(format!("{name}.torch.npy"));
    let torch = torch.exists().then(|| npy(&format!("{name}.torch.npy")));
    let mut agree = 0;
    for r in 0..batch.rows {
        let expected = argmax(&reference.data[r * n..(r + 1) * n]);
        if let Some(t) = &torch {
            if !pwl.exists() {
                assert_eq!(
                    argmax(&t.data[r * n..(r + 1) * n]),
                    expected,
                    "{name} row {r}: PyTorch"
                );
            }
        }
        if labels.label(r) == Some(expected) {
            agree += 1;
        }
    }
    CrossCheck {
        max_error,
        rows: batch.rows,
        fixed_labels_agree: agree,
    }
}

#[test]
fn float_oracle_matches_onnxruntime_and_fixed_point_labels_match() {
    for name in MODELS {
        let c = cross_check(name);
        eprintln!(
            "{name}: max |float oracle - onnxruntime| = {:.3e}, fixed-point labels agree on {}/{} rows",
            c.max_error, c.fixed_labels_agree, c.rows
        );
        assert_eq!(c.fixed_labels_agree, c.rows, "{name}: fixed-point labels");
    }
}

#[test]
fn mnist_models_predict_the_test_labels_they_were_trained_for() {
    let truth = npy("mnist_test16.labels.npy");
    for name in ["mnist_mlp", "mnist_cnn"] {
        let torch = npy(&format!("{name}.torch.npy"));
        let correct = (0..16)
            .filter(|&r| argmax(&torch.data[r * 10..(r + 1) * 10]) == truth.data[r] as usize)
            .count();
        assert!(
            correct >= 14,
            "{name}: PyTorch gets {correct}/16 test digits"
        );
    }
}

#[test]
fn reveal_label_reveals_only_the_predicted_class() {
    let bytes = std::fs::read(dir().join("mnist_mlp_legacy.onnx")).expect("model");
    let options = ImportOptions {
        model_name: "mlp".into(),
        reveal: Reveal::Label,
        ..ImportOptions::default()
    };
    let source = onnx::import(&bytes, &options).expect("imports").source;
    assert!(
        source.contains("output label = argmax(fc3) to client"),
        "{source}"
    );
    assert!(!source.contains("output scores"), "{source}");
    assert!(
        source.contains("The client learns only the predicted class (argmax)"),
        "{source}"
    );
    let plan = chimera_compiler::compile("mlp.nn", source.as_bytes())
        .expect("compiles")
        .saved
        .plan;
    assert_eq!(plan.outputs.len(), 1);
}

/// `chimera import` then `chimera run --json` on the first `rows` sample inputs.
fn import_and_run(name: &str, rows: usize) -> Vec<usize> {
    let out = scratch(name);
    let stem = out.join(name);
    let o = chimera()
        .arg("import")
        .arg(dir().join(format!("{name}.onnx")))
        .arg("-o")
        .arg(&stem)
        .output()
        .expect("chimera import");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("{name}.nn")), "{stdout}");
    let input = npy(&format!("{name}.input.npy"));
    let row: usize = input.shape[1..].iter().product();
    let mut shape = input.shape.clone();
    shape[0] = rows;
    let first = Tensor {
        shape,
        data: input.data[..rows * row].to_vec(),
    };
    let x = out.join("x.npy");
    chimera_runtime::tensor_io::save_npy(&x, &first, chimera_runtime::tensor_io::NpyDtype::F32)
        .expect("npy");
    let o = chimera()
        .arg("run")
        .arg(stem.with_extension("nn"))
        .arg("--weights")
        .arg(stem.with_extension("safetensors"))
        .arg("--input")
        .arg(&x)
        .arg("--json")
        .output()
        .expect("chimera run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let label = v["output"]
        .as_array()
        .and_then(|outs| outs.iter().find(|o| o["name"] == "label"))
        .expect("label output");
    label["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|l| l.as_u64().expect("label") as usize)
        .collect()
}

fn torch_labels(name: &str, rows: usize) -> Vec<usize> {
    let t = npy(&format!("{name}.torch.npy"));
    (0..rows)
        .map(|r| argmax(&t.data[r * 10..(r + 1) * 10]))
        .collect()
}

#[test]
fn import_then_private_run_of_the_mlp_gives_pytorchs_predictions() {
    assert_eq!(import_and_run("mnist_mlp", 4), torch_labels("mnist_mlp", 4));
}

#[test]
fn import_then_private_run_of_the_cnn_gives_pytorchs_predictions() {
    assert_eq!(import_and_run("mnist_cnn", 2), torch_labels("mnist_cnn", 2));
}

/// `chimera import MODEL`, which must refuse it with exit code 2: its stderr.
fn import_refused(model: &Path) -> String {
    let o = chimera()
        .arg("import")
        .arg(model)
        .output()
        .expect("chimera import");
    assert_eq!(o.status.code(), Some(2));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn import_of_an_unsupported_model_fails_with_the_node_named() {
    let out = scratch("bad");
    let model = out.join("bad.onnx");
    std::fs::write(&model, b"\x08\x07\x3a\x00").expect("write");
    let err = import_refused(&model);
    assert!(
        err.contains("cannot import") && err.contains("opset"),
        "{err}"
    );
    assert!(!Path::new(&out.join("bad.nn")).exists());
}

/// A PyTorch export whose two ReLUs became GELUs (the same bytes with
/// `Relu` replaced by `Gelu`, so the protobuf stays valid): one error lists
/// both nodes with their operator, opset and a suggested rewrite, and
/// nothing is written.
#[test]
fn import_lists_every_unsupported_node_at_once() {
    let out = scratch("gelu");
    let bytes = std::fs::read(dir().join("mnist_mlp_legacy.onnx")).expect("model");
    let mut patched = bytes.clone();
    let mut replaced = 0;
    for i in 0..patched.len().saturating_sub(3) {
        if &patched[i..i + 4] == b"Relu" {
            patched[i..i + 4].copy_from_slice(b"Gelu");
            replaced += 1;
        }
    }
    assert!(replaced >= 2, "the model names its ReLUs");
    let model = out.join("gelu.onnx");
    std::fs::write(&model, &patched).expect("write");
    let err = import_refused(&model);
    assert!(
        err.contains("2 nodes use operators chimera cannot import"),
        "{err}"
    );
    assert!(
        err.contains("node `/Gelu`: operator `Gelu` (opset ")
            && err.contains("node `/Gelu_1`: operator `Gelu` (opset "),
        "{err}"
    );
    assert!(err.contains("use ReLU (nn.ReLU)"), "{err}");
    assert!(err.contains("chimera imports Gemm"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.join("gelu.nn").exists() && !out.join("gelu.safetensors").exists());
}
