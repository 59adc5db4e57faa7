//! Plan tests over every example network: the plan (RON) is snapshotted,
//! compiling is deterministic, `load(save(plan))` keeps the hash, and the
//! structure matches what the brief specifies for each network.

use chimera_runtime::plan::{Op, Party, Protocol, Reveal, SavedPlan};
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    files
}

fn compile(name: &str) -> chimera_compiler::Compiled {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let source = std::fs::read(&path).expect("example exists");
    match chimera_compiler::compile(&format!("examples/{name}"), &source) {
        Ok(c) => c,
        Err(d) => panic!("{}", d.render(name, &source, false)),
    }
}

#[test]
fn every_example_compiles_to_a_snapshotted_plan() {
    let files = examples();
    assert_eq!(files.len(), 8, "{files:?}");
    for path in files {
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let stem = name.trim_end_matches(".nn");
        let compiled = compile(name);
        assert!(compiled.warnings.is_empty(), "{name}: unexpected warnings");
        compiled.saved.plan.validate().expect("valid plan");
        assert_eq!(
            compiled.saved.debug.step_spans.len(),
            compiled.saved.plan.steps.len()
        );
        assert!(compiled.saved.debug.step_spans.iter().all(Option::is_some));
        let again = compile(name);
        assert_eq!(
            compiled.saved.hash, again.saved.hash,
            "{name}: compilation is not deterministic"
        );
        let ron = compiled.saved.to_ron().expect("serializable");
        insta::assert_snapshot!(stem, ron);
    }
}

#[test]
fn load_of_save_keeps_the_hash() {
    let dir = std::env::temp_dir().join(format!("chimera-plans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for path in examples() {
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let compiled = compile(name);
        let file = dir.join(format!("{name}.plan.ron"));
        compiled.saved.save(&file).expect("saved");
        let loaded = SavedPlan::load(&file).expect("loaded");
        assert_eq!(loaded.hash, compiled.saved.hash, "{name}");
        assert_eq!(
            loaded.plan.hash().expect("hash").to_hex(),
            compiled.saved.hash,
            "{name}"
        );
        assert_eq!(loaded, compiled.saved, "{name}");
    }
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

#[test]
fn a_comment_does_not_change_the_hash_but_a_layer_does() {
    let src =
        "model m\ninput x: [4] from client\nh = dense(x, 3)\noutput label = argmax(h) to client\n";
    let commented = format!("# a comment\n{src}");
    let wider = src.replace("dense(x, 3)", "dense(x, 4)");
    let a = chimera_compiler::compile("a.nn", src.as_bytes()).expect("valid");
    let b = chimera_compiler::compile("b.nn", commented.as_bytes()).expect("valid");
    let c = chimera_compiler::compile("c.nn", wider.as_bytes()).expect("valid");
    assert_eq!(a.saved.hash, b.saved.hash);
    assert_ne!(a.saved.hash, c.saved.hash);
}

#[test]
fn net_d_has_the_chameleon_shapes_and_reveals_only_the_label() {
    let plan = compile("netD_chameleon.nn").saved.plan;
    let shape_of = |name: &str| {
        plan.values
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no value {name}"))
            .shape
            .clone()
    };
    assert_eq!(shape_of("x"), vec![1, 28, 28]);
    assert_eq!(shape_of("conv1"), vec![5, 14, 14]);
    assert_eq!(shape_of("f"), vec![980]);
    assert_eq!(shape_of("fc1"), vec![100]);
    assert_eq!(shape_of("fc2"), vec![10]);
    assert_eq!(plan.inputs.len(), 1);
    assert_eq!(plan.inputs[0].owner, Party::Client);
    assert_eq!(plan.outputs.len(), 1);
    assert_eq!(plan.outputs[0].reveal, Reveal::Label);
    assert_eq!(plan.outputs[0].to, Party::Client);
    // Linear layers in A, relu and argmax in a boolean protocol (the
    // optimizer picks B or Y), a truncation after each product.
    for step in &plan.steps {
        match step.op {
            Op::Dense { .. } | Op::Conv2d { .. } => assert_eq!(step.protocol, Protocol::Arith),
            Op::Relu | Op::Argmax => assert_ne!(step.protocol, Protocol::Arith),
            _ => {}
        }
    }
    let conv = plan
        .steps
        .iter()
        .position(|s| matches!(s.op, Op::Conv2d { .. }))
        .expect("conv");
    let conv_out = plan.steps[conv].output;
    let readers: Vec<&Op> = plan
        .steps
        .iter()
        .filter(|s| s.inputs.contains(&conv_out))
        .map(|s| &s.op)
        .collect();
    assert_eq!(
        readers,
        vec![&Op::Convert],
        "the 2f product is converted, then truncated in B"
    );
    let conv_params = plan.steps[conv].op.linear_params().expect("params");
    assert_eq!(conv_params.weight, "conv1.weight");
    assert_eq!(conv_params.bias.as_deref(), Some("conv1.bias"));
}

#[test]
fn resnet_block_folds_both_batchnorms() {
    let compiled = compile("resnet_block.nn");
    let folded: Vec<(String, String)> = compiled
        .saved
        .plan
        .steps
        .iter()
        .filter_map(|s| s.op.linear_params())
        .filter_map(|p| {
            p.batchnorm
                .as_ref()
                .map(|b| (p.layer.clone(), b.layer.clone()))
        })
        .collect();
    assert_eq!(
        folded,
        vec![
            ("conv1".into(), "bn1".into()),
            ("conv2".into(), "bn2".into())
        ]
    );
    assert!(compiled
        .explain
        .iter()
        .any(|n| n.contains("batchnorm `bn1` folded into conv2d `conv1`")));
}

#[test]
fn sigmoid_poly_explains_its_polynomial_and_error() {
    let compiled = compile("sigmoid_poly.nn");
    let note = compiled
        .explain
        .iter()
        .find(|n| n.starts_with("sigmoid `s1`"))
        .expect("a note on the sigmoid");
    assert!(note.contains("degree 3 on [-4, 4]"), "{note}");
    assert!(note.contains("p(x) = 0.5 + 0.227"), "{note}");
    assert!(note.contains("max |error| 0.03"), "{note}");
    assert!(
        note.contains("q(t) = 0.5 + 0.909393 t - 0.462097 t^3 with t = 0.25 x"),
        "{note}"
    );
    // t = x/4, then Horner in t: two MulConst, two Mul, four truncations, two AddConst, all in A.
    let steps = &compiled.saved.plan.steps;
    let count = |f: fn(&Op) -> bool| steps.iter().filter(|s| s.layer == "s1" && f(&s.op)).count();
    assert_eq!(count(|o| matches!(o, Op::MulConst { .. })), 2);
    assert_eq!(count(|o| matches!(o, Op::Mul)), 2);
    assert_eq!(count(|o| matches!(o, Op::Truncate { .. })), 4);
    assert_eq!(count(|o| matches!(o, Op::AddConst { .. })), 2);
    assert!(steps
        .iter()
        .filter(|s| s.layer == "s1")
        .all(|s| s.protocol == Protocol::Arith));
}

#[test]
fn trained_examples_run_on_the_oracle_with_fixed_point_labels_equal_to_float() {
    use chimera_runtime::oracle::{evaluate, Mode};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (name, input) in [
        ("netA_secureml", "mnist_batch16_flat.npy"),
        ("netB_minionn", "mnist_batch16.npy"),
        ("netD_chameleon", "mnist_batch16.npy"),
    ] {
        let plan = compile(&format!("{name}.nn")).saved.plan;
        let weights =
            chimera_runtime::weights::load(&plan, &root.join(format!("{name}.safetensors")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        let x = plan.value(plan.inputs[0].value);
        let batch = chimera_runtime::tensor_io::load_npy(&root.join("inputs").join(input))
            .expect("sample input")
            .into_batch(&x.name, &x.shape)
            .expect("input of the declared shape");
        let fixed = evaluate(&plan, &weights, std::slice::from_ref(&batch), Mode::Fixed)
            .expect("fixed run");
        let float = evaluate(&plan, &weights, std::slice::from_ref(&batch), Mode::Float)
            .expect("float run");
        let label = plan
            .outputs
            .iter()
            .position(|o| o.reveal == Reveal::Label)
            .expect("a label output");
        let rows = fixed.rows;
        assert_eq!(rows, 16);
        let fixed_labels: Vec<_> = (0..rows).map(|r| fixed.outputs[label].label(r)).collect();
        let float_labels: Vec<_> = (0..rows).map(|r| float.outputs[label].label(r)).collect();
        assert_eq!(fixed_labels, float_labels, "{name}");
        // The first 16 MNIST test images; every trained network gets them all right.
        let truth = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5].map(Some);
        assert_eq!(fixed_labels, truth.to_vec(), "{name}");
    }
}

/// The error table of docs/language.md is what the compiler computes.
#[test]
fn the_approximation_errors_in_the_language_reference_are_the_compilers() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
            .expect("docs/language.md");
    let mut checked = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | function | interval | degree 1 | degree 3 | degree 5 | degree 7 |
        if cells.len() != 8 || !matches!(cells[1], "sigmoid" | "tanh") || !cells[2].starts_with('[')
        {
            continue;
        }
        let interval = cells[2].replace('−', "-");
        for (i, degree) in [1, 3, 5, 7].iter().enumerate() {
            let src = format!(
                "model m\ninput x: [4] from client\ns = {}(x, approx = chebyshev(degree = {degree}, interval = {interval}))\n\
                 output o = s to client\n",
                cells[1]
            );
            let compiled = chimera_compiler::compile("doc.nn", src.as_bytes()).expect("valid");
            let note = compiled
                .explain
                .iter()
                .find(|n| n.contains("max |error|"))
                .expect("a note");
            let want = format!("max |error| {} ", cells[3 + i]);
            assert!(note.contains(&want), "docs say {want} but: {note}");
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
    for (kind, err) in [("sigmoid", "0.1192"), ("tanh", "0.2384")] {
        let src =
            format!("model m\ninput x: [4] from client\ns = {kind}(x)\noutput o = s to client\n");
        let compiled = chimera_compiler::compile("doc.nn", src.as_bytes()).expect("valid");
        assert!(compiled
            .explain
            .iter()
            .any(|n| n.contains(&format!("max |error| {err}"))));
        assert!(doc.contains(err));
    }
}

/// The first example of docs/language.md is examples/netD_chameleon.nn.
#[test]
fn the_language_reference_opens_with_the_real_net_d() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
            .expect("docs/language.md");
    let start = doc.find("```nn\n").expect("an nn block") + 6;
    let block = &doc[start..start + doc[start..].find("```").expect("closed")];
    let doc_plan =
        chimera_compiler::compile("doc.nn", block.as_bytes()).expect("the doc example compiles");
    assert_eq!(doc_plan.saved.hash, compile("netD_chameleon.nn").saved.hash);
}

/// Every ```nn block of docs/language.md parses (a block without a `model`
/// header is parsed after one), and every layer of the reference's layer
/// table appears, called, in some block: the reference has an example per
/// construct and none of them is stale.
#[test]
fn every_example_in_the_language_reference_parses() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
            .expect("docs/language.md");
    let mut blocks = Vec::new();
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```nn\n") {
        let body = &rest[start + 6..];
        let end = body.find("```").expect("a closed nn block");
        blocks.push(&body[..end]);
        rest = &body[end + 3..];
    }
    assert!(blocks.len() >= 7, "only {} nn blocks", blocks.len());
    for block in &blocks {
        let source = if block.lines().any(|l| l.starts_with("model ")) {
            block.to_string()
        } else {
            format!("model doc\n{block}")
        };
        if let Err(d) = chimera_compiler::syntax::parse(source.as_bytes()) {
            panic!("{}", d.render("docs/language.md", source.as_bytes(), false));
        }
    }
    let table = doc
        .lines()
        .skip_while(|l| !l.starts_with("| layer | arguments |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    let mut layers = 0;
    for row in table {
        let cell = row.split('|').nth(1).expect("a layer cell");
        for name in cell.split('`').skip(1).step_by(2) {
            let layer = name.split('(').next().expect("a name");
            let call = format!("= {layer}(");
            assert!(
                blocks.iter().any(|b| b.contains(&call)),
                "docs/language.md: no example calls `{layer}`"
            );
            layers += 1;
        }
    }
    assert!(layers >= 18, "only {layers} layers in the table");
}
