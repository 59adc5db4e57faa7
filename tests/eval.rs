//! `chimera eval` driven as a real process on the bundled examples.

mod common;

use common::cli::stderr;

use std::process::{Command, Output};

/// True labels of MNIST test images 0..15 (`examples/README.md`).
const LABELS: [usize; 16] = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5];

fn chimera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chimera"))
        .current_dir(common::root())
        .args(args)
        .output()
        .expect("the chimera binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn eval(stem: &str, input: &str, extra: &[&str]) -> Output {
    let nn = format!("examples/{stem}.nn");
    let w = format!("examples/{stem}.safetensors");
    let x = format!("examples/inputs/{input}");
    let mut args = vec!["eval", &nn, "--weights", &w, "--input", &x];
    args.extend_from_slice(extra);
    let out = chimera(&args);
    assert!(
        out.status.success(),
        "chimera {args:?} failed:\n{}",
        stderr(&out)
    );
    out
}

#[test]
fn sample_images_get_their_true_labels() {
    for (i, label) in LABELS.iter().enumerate().take(4) {
        for stem in ["netB_minionn", "netD_chameleon"] {
            let out = eval(stem, &format!("mnist_{i}.npy"), &[]);
            assert_eq!(
                stdout(&out),
                format!("row 0: label {label}\n"),
                "{stem} on image {i}"
            );
        }
        let out = eval("netA_secureml", &format!("mnist_{i}_flat.npy"), &[]);
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!("row 0: label {label}  scores [")),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
    }
}

#[test]
fn header_on_stderr_says_what_is_revealed() {
    let out = eval("netD_chameleon", "mnist_0.npy", &[]);
    let err = stderr(&out);
    assert!(err.contains("model `netD_chameleon`"), "{err}");
    assert!(
        err.contains("fixed point, 16 fraction bits in Z_2^64"),
        "{err}"
    );
    assert!(
        err.contains("reveals `label` (label) to the client"),
        "{err}"
    );
}

#[test]
fn a_batch_prints_one_line_per_row_in_both_modes() {
    for mode in [&[][..], &["--float"][..]] {
        let out = eval("netB_minionn", "mnist_batch16.npy", mode);
        let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        let want: Vec<String> = LABELS
            .iter()
            .enumerate()
            .map(|(r, l)| format!("row {r}: label {l}"))
            .collect();
        assert_eq!(lines, want, "mode {mode:?}");
    }
}

#[test]
fn json_output_parses_and_carries_every_row() {
    let out = eval("netA_secureml", "mnist_batch16_flat.npy", &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(v["model"], "netA_secureml");
    assert_eq!(v["mode"], "fixed");
    assert_eq!(v["frac_bits"], 16);
    assert_eq!(v["plan_hash"].as_str().map(str::len), Some(64));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 16);
    for (r, row) in rows.iter().enumerate() {
        assert_eq!(row["row"], r);
        assert_eq!(row["label"], LABELS[r]);
        let scores = row["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 10);
        let best = scores.iter().map(|s| s.as_f64().unwrap()).enumerate().fold(
            (0, f64::MIN),
            |acc, (i, s)| if s > acc.1 { (i, s) } else { acc },
        );
        assert_eq!(
            best.0, LABELS[r],
            "the label is the argmax of the revealed scores"
        );
    }
    let outputs = v["outputs"].as_array().unwrap();
    assert_eq!(outputs[0]["name"], "label");
    assert_eq!(outputs[0]["reveal"], "label");
    assert_eq!(outputs[0]["to"], "client");
    assert_eq!(outputs[1]["reveal"], "scores");
}

#[test]
fn layers_report_names_every_linear_layer_and_stays_in_tolerance() {
    let out = eval("netD_chameleon", "mnist_batch16.npy", &["--layers"]);
    let text = stdout(&out);
    for layer in ["conv1", "fc1", "fc2"] {
        assert!(text.contains(layer), "{text}");
    }
    assert!(text.contains("tolerance: max |err| <="), "{text}");
    assert!(!text.contains("OUT OF TOLERANCE"), "{text}");
    assert!(!text.contains("warning:"), "{text}");
    let out = eval("netD_chameleon", "mnist_0.npy", &["--layers", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["layers"]["first_out_of_tolerance"],
        serde_json::Value::Null
    );
    assert!(v["layers"]["steps"].as_array().unwrap().len() >= 5);
}

#[test]
fn a_compiled_plan_file_works_like_the_source() {
    let dir = std::env::temp_dir().join(format!("chimera-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("netD.ron");
    let plan_s = plan.display().to_string();
    let out = chimera(&["compile", "examples/netD_chameleon.nn", "-o", &plan_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = chimera(&[
        "eval",
        &plan_s,
        "--weights",
        "examples/netD_chameleon.safetensors",
        "--input",
        "examples/inputs/mnist_batch16.npy",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_source = eval("netD_chameleon", "mnist_batch16.npy", &[]);
    assert_eq!(stdout(&out), stdout(&from_source));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_input_shape_names_both_shapes() {
    let out = chimera(&[
        "eval",
        "examples/netA_secureml.nn",
        "--weights",
        "examples/netA_secureml.safetensors",
        "--input",
        "examples/inputs/mnist_0.npy",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "input `x` has shape [1, 28, 28], but the plan expects [784] or a batch [N, 784]"
        ),
        "{err}"
    );
    assert!(err.contains("examples/inputs/mnist_0.npy"), "{err}");
}

#[test]
fn weights_of_another_network_name_the_layer_and_shapes() {
    let out = chimera(&[
        "eval",
        "examples/netD_chameleon.nn",
        "--weights",
        "examples/netB_minionn.safetensors",
        "--input",
        "examples/inputs/mnist_0.npy",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("layer `conv1`: tensor `conv1.weight` has shape [16, 1, 5, 5], but the plan needs [5, 1, 5, 5]"),
        "{err}"
    );
}

#[test]
fn a_broken_program_gets_diagnostics_and_exit_1() {
    let dir = std::env::temp_dir().join(format!("chimera-eval-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.nn");
    std::fs::write(
        &bad,
        "model bad\ninput x: [4] from client\nh = dense(y, 3)\noutput s = h to client\n",
    )
    .unwrap();
    let bad_s = bad.display().to_string();
    let out = chimera(&[
        "eval",
        &bad_s,
        "--weights",
        "examples/netA_secureml.safetensors",
        "--input",
        "examples/inputs/mnist_0_flat.npy",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.nn"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn float_mode_is_the_float_model_close_to_fixed() {
    let scores = |mode: &[&str]| -> (String, Vec<f64>) {
        let mut extra = vec!["--json"];
        extra.extend_from_slice(mode);
        let out = eval("netA_secureml", "mnist_batch16_flat.npy", &extra);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let all = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["scores"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_f64().unwrap())
            })
            .collect();
        (v["mode"].as_str().unwrap().to_string(), all)
    };
    let (fixed_mode, fixed) = scores(&[]);
    let (float_mode, float) = scores(&["--float"]);
    assert_eq!(
        (fixed_mode.as_str(), float_mode.as_str()),
        ("fixed", "float")
    );
    assert_eq!(fixed.len(), 160);
    assert!(
        fixed.iter().zip(&float).any(|(a, b)| a != b),
        "the modes differ in the last bits"
    );
    for (a, b) in fixed.iter().zip(&float) {
        assert!((a - b).abs() < 2e-3, "fixed {a} vs float {b}");
    }
}

#[test]
fn the_number_of_inputs_must_match_the_network() {
    let out = chimera(&[
        "eval",
        "examples/netD_chameleon.nn",
        "--weights",
        "examples/netD_chameleon.safetensors",
        "--input",
        "examples/inputs/mnist_0.npy",
        "--input",
        "examples/inputs/mnist_1.npy",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("the network has 1 input(s) (`x` [1, 28, 28]), 2 --input file(s) were given"),
        "{}",
        stderr(&out)
    );
}

/// A report whose reader goes away (`chimera eval ... | head`) ends quietly:
/// killed by SIGPIPE like `cat`, not a panic message on stderr. The output
/// (2000 rows of JSON, far more than a pipe buffers) cannot fit in the pipe,
/// so the write to the closed pipe does happen.
#[test]
fn eval_into_a_closed_pipe_ends_without_a_panic() {
    use chimera_runtime::tensor_io::{save_npy, NpyDtype, Tensor};
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let dir = std::env::temp_dir().join(format!("chimera-eval-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("x.npy");
    let rows = 2000;
    let x = Tensor {
        shape: vec![rows, 784],
        data: (0..rows * 784).map(|i| (i % 255) as f64 / 255.0).collect(),
    };
    save_npy(&input, &x, NpyDtype::F32).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chimera"))
        .current_dir(common::root())
        .args(["eval", "examples/netA_secureml.nn", "--weights"])
        .arg("examples/netA_secureml.safetensors")
        .arg("--input")
        .arg(&input)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is closed here (the handle was dropped).
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A float32 tensor to write: name, shape, values.
type F32Tensor = (&'static str, Vec<usize>, Vec<f32>);

/// Safetensors bytes of float32 tensors.
fn safetensors_f32(tensors: &[F32Tensor]) -> Vec<u8> {
    use safetensors::{tensor::TensorView, Dtype};
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            let view = TensorView::new(Dtype::F32, s.clone(), b).expect("a tensor view");
            (n.to_string(), view)
        })
        .collect();
    safetensors::serialize(views, None).expect("serializes")
}

/// Every kind of bad weights file gets its one clear message through the
/// command line (exit 2): a missing tensor, a wrong shape naming both
/// shapes, a NaN, an infinity, a value too large for the fixed-point format.
/// The message is said once, not repeated by the error chain.
#[test]
fn bad_weights_get_one_clear_message_each() {
    let dir = common::cli::scratch("eval-bad-weights");
    let nn = dir.join("m.nn");
    std::fs::write(
        &nn,
        "model m\ninput x: [4] from client\nfc = dense(x, 3)\noutput s = fc to client\n",
    )
    .unwrap();
    let x = dir.join("x.npy");
    {
        use chimera_runtime::tensor_io::{save_npy, NpyDtype, Tensor};
        let t = Tensor {
            shape: vec![4],
            data: vec![0.5, 0.25, -1.0, 2.0],
        };
        save_npy(&x, &t, NpyDtype::F32).unwrap();
    }
    let weight = |at: usize, v: f32| {
        let mut w = vec![0.1f32; 12];
        w[at] = v;
        ("fc.weight", vec![3, 4], w)
    };
    let bias = ("fc.bias", vec![3], vec![0.0f32; 3]);
    let cases: Vec<(&str, Vec<F32Tensor>, &str)> = vec![
        (
            "missing",
            vec![weight(0, 0.1)],
            "layer `fc`: the weights file has no tensor `fc.bias`",
        ),
        (
            "shape",
            vec![("fc.weight", vec![4, 3], vec![0.1; 12]), bias.clone()],
            "layer `fc`: tensor `fc.weight` has shape [4, 3], but the plan needs [3, 4]",
        ),
        (
            "nan",
            vec![weight(5, f32::NAN), bias.clone()],
            "tensor `fc.weight` holds a NaN or infinite value at index [1, 1]",
        ),
        (
            "inf",
            vec![weight(7, f32::NEG_INFINITY), bias.clone()],
            "tensor `fc.weight` holds a NaN or infinite value at index [1, 3]",
        ),
        (
            "large",
            vec![weight(11, 1e6), bias.clone()],
            "tensor `fc.weight` at index [2, 3] is too large for the fixed-point format",
        ),
    ];
    for (tag, tensors, expected) in cases {
        let w = dir.join(format!("{tag}.safetensors"));
        std::fs::write(&w, safetensors_f32(&tensors)).unwrap();
        let out = common::cli::chimera()
            .arg("eval")
            .arg(&nn)
            .arg("--weights")
            .arg(&w)
            .arg("--input")
            .arg(&x)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{tag}: {err}");
        assert!(err.contains(expected), "{tag}: {err}");
        assert!(err.contains(&format!("{tag}.safetensors")), "{tag}: {err}");
        assert_eq!(err.matches(expected).count(), 1, "{tag}: said twice: {err}");
        assert!(!err.contains("panicked"), "{tag}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
