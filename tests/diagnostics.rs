//! Folder-driven diagnostic tests: every `tests/bad/*.nn` must be rejected,
//! every diagnostic must carry a label and a help line, and the rendered
//! text (file, line, column, underline, label, help) is snapshotted with insta
//! as `tests/snapshots/diagnostics__<file>.snap`. Adding a case is adding a file.

use std::path::{Path, PathBuf};

fn bad_programs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/bad exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bad_program_gets_pointed_diagnostics() {
    let files = bad_programs();
    assert!(files.len() >= 25, "only {} bad programs", files.len());
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let source = std::fs::read(&path).expect("readable");
        let shown = format!("tests/bad/{stem}.nn");
        let diagnostics = match chimera_compiler::compile(&shown, &source) {
            Ok(_) => panic!("{shown} compiled, but it is a bad program"),
            Err(d) => d,
        };
        assert!(diagnostics.has_errors(), "{shown}: no error");
        for d in diagnostics.iter() {
            assert!(!d.label.is_empty(), "{shown}: `{}` has no label", d.message);
            assert!(
                !d.help.is_empty(),
                "{shown}: `{}` has no help line",
                d.message
            );
        }
        let rendered = diagnostics.render(&shown, &source, false);
        assert!(
            !rendered.contains('\u{1b}'),
            "{shown}: colour codes without a terminal"
        );
        insta::assert_snapshot!(stem, rendered);
    }
}

#[test]
fn colour_is_added_only_on_request() {
    let source = b"model m\ninput x: [4] from client\ny = rleu(x)\noutput y = y to client\n";
    let diagnostics = chimera_compiler::compile("m.nn", source).unwrap_err();
    assert!(diagnostics.render("m.nn", source, true).contains('\u{1b}'));
    assert!(!diagnostics.render("m.nn", source, false).contains('\u{1b}'));
}

#[test]
fn chimera_check_exits_1_with_diagnostics_and_0_on_a_valid_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_chimera");
    let bad = std::process::Command::new(bin)
        .current_dir(root)
        .args(["check", "tests/bad/07_dense_on_image.nn"])
        .output()
        .expect("chimera runs");
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("tests/bad/07_dense_on_image.nn:5:13"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dense expects a 1-d input, got [5, 14, 14]"),
        "{stderr}"
    );
    assert!(stderr.contains("help: insert flatten"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour without a terminal: {stderr}"
    );
    let good = std::process::Command::new(bin)
        .current_dir(root)
        .args(["check", "examples/netD_chameleon.nn"])
        .output()
        .expect("chimera runs");
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}

/// `chimera check examples/*.nn`: every bundled example is accepted in one
/// run, one line each; a bad file among good ones makes the run exit 1 and
/// the good ones are still reported; an unreadable file makes it exit 2.
#[test]
fn chimera_check_takes_several_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_chimera");
    let mut examples: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .map(|p| {
            format!(
                "examples/{}",
                p.file_name().and_then(|n| n.to_str()).expect("utf-8")
            )
        })
        .collect();
    examples.sort();
    assert_eq!(examples.len(), 8, "{examples:?}");
    let run = |files: &[String]| {
        std::process::Command::new(bin)
            .current_dir(root)
            .arg("check")
            .args(files)
            .output()
            .expect("chimera runs")
    };
    let all = run(&examples);
    let stdout = String::from_utf8_lossy(&all.stdout);
    assert_eq!(
        all.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    for e in &examples {
        assert!(
            stdout.contains(&format!("{e}: ok, model `")),
            "{e}: {stdout}"
        );
    }
    let mut mixed = examples.clone();
    mixed.insert(1, "tests/bad/07_dense_on_image.nn".to_string());
    let out = run(&mixed);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 8);
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[shape-mismatch]"));
    mixed.push("tests/bad/no_such_file.nn".to_string());
    let out = run(&mixed);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read tests/bad/no_such_file.nn"));
}

#[test]
fn chimera_compile_writes_the_plan_and_prints_its_hash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("chimera-compile-{}.plan.ron", std::process::id()));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_chimera"))
        .current_dir(root)
        .args(["compile", "examples/sigmoid_poly.nn", "--explain", "-o"])
        .arg(&out)
        .output()
        .expect("chimera runs");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let hash = String::from_utf8_lossy(&run.stdout).trim().to_string();
    let saved = chimera_runtime::plan::SavedPlan::load(&out).expect("a valid plan file");
    assert_eq!(saved.hash, hash);
    let notes = String::from_utf8_lossy(&run.stderr);
    assert!(
        notes.contains("Chebyshev interpolant of degree 3"),
        "{notes}"
    );
    std::fs::remove_file(&out).expect("removed");
}
