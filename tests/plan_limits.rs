//! Plan files beyond the runtime's size limits (`chimera_runtime::limits`),
//! made by hand from `chimera compile` output as anyone could (a shape or a
//! window edited in the RON text, the public hash recomputed), are refused
//! by every party that loads one — at once, naming the step, its size and
//! the limit, with exit code 2 — where they used to make a party build one
//! boolean circuit over 2^20 inputs (tens of gigabytes, minutes) and abort
//! out of memory. A query announcing a batch beyond the limits is refused
//! by the server before it uses up a bundle.

mod common;

use chimera_runtime::dealer::SessionId;
use chimera_runtime::plan::{PlanError, SavedPlan};
use chimera_runtime::transport::{Channel, ChannelConfig, TcpChannel, TransportError};
use common::cli::{chimera, output_within, scratch, stderr};
use common::example;
use common::parties;
use common::reaped::Reaped;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a refusal may take: loading and validating a plan is
/// milliseconds; building what these plans ask for took minutes before
/// running out of memory.
const PROMPT: Duration = Duration::from_secs(60);

/// `chimera compile SOURCE -o DIR/NAME.ron`, then `edit` applied to the RON
/// text and the recorded hash replaced by the edited content's (the hash
/// is public: whoever edits a plan can recompute it).
fn edited_plan(dir: &Path, source: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let path = dir.join(format!("{name}.ron"));
    let o = chimera()
        .arg("compile")
        .arg(source)
        .arg("-o")
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "{name}: the edit changed nothing");
    let (recorded, computed) = match SavedPlan::from_ron(&edited, name) {
        Err(PlanError::HashMismatch {
            recorded, computed, ..
        }) => (recorded, computed),
        other => panic!("{name}: expected a hash mismatch, got {other:?}"),
    };
    std::fs::write(&path, edited.replacen(&recorded, &computed, 1)).unwrap();
    path
}

/// netD with its last layer giving 2^20 scores instead of 10 (fc2's
/// `out_features` and every `[10]` value edited): within every tensor and
/// weight limit, but its argmax would be one circuit over 2^20 scores.
fn wide_argmax(dir: &Path) -> PathBuf {
    edited_plan(dir, &example("netD_chameleon.nn"), "wide_argmax", |text| {
        let ten = "shape: [\n          10,\n        ]";
        assert!(text.matches(ten).count() >= 3, "netD's [10] values");
        text.replace("out_features: 10,", "out_features: 1048576,")
            .replace(ten, "shape: [\n          1048576,\n        ]")
    })
}

/// A 2×2 maxpool over a 1024×1024 image with its window edited to the
/// whole image: one circuit over 2^20 inputs.
fn wide_maxpool(dir: &Path) -> PathBuf {
    let source = dir.join("pool.nn");
    std::fs::write(
        &source,
        "model pool\ninput x: [1, 1024, 1024] from client\np = maxpool(x, 2)\nf = flatten(p)\noutput scores = f to client\n",
    )
    .unwrap();
    edited_plan(dir, &source, "wide_maxpool", |text| {
        assert_eq!(text.matches("kernel: (2, 2),").count(), 1, "{text}");
        text.replace("kernel: (2, 2),", "kernel: (1024, 1024),")
    })
}

/// Run `chimera ARGS` and check it refuses `plan` promptly: exit code 2,
/// the file, the step and the limit named, no panic.
fn assert_refused(args: &[&str], plan: &Path, step: &str) {
    let o = output_within(chimera().args(args), PROMPT);
    let err = stderr(&o);
    let what = format!("chimera {}", args[0]);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    let name = plan.display().to_string();
    assert!(
        err.contains(&format!("{name}: the plan is too large to run")),
        "{what}: {err}"
    );
    assert!(err.contains(step), "{what}: {err}");
    assert!(
        err.contains("over the limit of 16384 (2^14) inputs per boolean circuit"),
        "{what}: {err}"
    );
}

#[test]
fn oversized_plan_files_are_refused_by_every_party_promptly() {
    let dir = scratch("plan-limits");
    let argmax = wide_argmax(&dir);
    let maxpool = wide_maxpool(&dir);
    let weights = example("netD_chameleon.safetensors");
    let input = example("inputs/mnist_0.npy");
    let material = dir.join("material");
    let (weights, input, material) = (
        weights.to_str().unwrap(),
        input.to_str().unwrap(),
        material.to_str().unwrap(),
    );
    let cases = [
        (
            &argmax,
            "(argmax, layer `label`): an argmax over 1048576 scores",
        ),
        (
            &maxpool,
            "(maxpool, layer `p`): a maxpool window of 1024×1024",
        ),
    ];
    for (plan, step) in cases {
        let p = plan.to_str().unwrap();
        assert_refused(
            &["eval", p, "--weights", weights, "--input", input],
            plan,
            step,
        );
        assert_refused(&["dealer", p, "--out", material], plan, step);
        assert_refused(
            &[
                "serve",
                p,
                "--weights",
                weights,
                "--material",
                material,
                "--listen",
                "127.0.0.1:0",
                "--insecure-plaintext",
            ],
            plan,
            step,
        );
        assert_refused(
            &[
                "query",
                p,
                "--input",
                input,
                "--material",
                material,
                "--connect",
                "127.0.0.1:9",
                "--insecure-plaintext",
            ],
            plan,
            step,
        );
        assert!(
            !dir.join("material").exists(),
            "nothing is dealt for a refused plan"
        );
    }
}

/// A client (plaintext here; an authenticated one over TLS alike) naming
/// its session with a batch of 2^32 − 1 rows: the server refuses it with
/// the limit named before claiming the session's bundle, which stays
/// unused for a proper query; a batch the dealt material does not fit is
/// still refused after the claim (its bundle is the client's own).
#[test]
fn a_query_announcing_a_batch_beyond_the_limits_is_refused_before_a_bundle_is_used() {
    let dir = scratch("batch-limit");
    let material = dir.join("m");
    parties::deal("netD_chameleon", 1, &material);
    let server_dir = material.join("server");
    let bundle = std::fs::read_dir(&server_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mat"))
        .expect("a server bundle");
    let name = bundle.file_name().unwrap().to_string_lossy().into_owned();
    let hex = name
        .trim_end_matches(".mat")
        .rsplit('-')
        .next()
        .expect("q…-SESSION.mat");
    assert_eq!(hex.len(), 32, "{name}");
    let mut session = SessionId([0; 16]);
    for (i, byte) in session.0.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }

    let (child, addr) = parties::serve("netD_chameleon", &material, 10, ["--insecure-plaintext"]);
    let serve = Reaped::new(child);

    let config = ChannelConfig {
        max_frame: 1 << 16,
        read_timeout: Duration::from_secs(10),
    };
    let mut ch = TcpChannel::from_stream(TcpStream::connect(&addr).unwrap(), config).unwrap();
    let mut request = b"CHQ1".to_vec();
    request.extend_from_slice(&session.0);
    request.extend_from_slice(&u32::MAX.to_le_bytes());
    ch.send(&request).unwrap();
    ch.flush().unwrap();
    match ch.recv() {
        Err(TransportError::PeerAborted(reason)) => assert!(
            reason.contains("the server refuses the query: a query of 4294967295 rows")
                && reason.contains("over the limit of 65536 (2^16) rows per query"),
            "{reason}"
        ),
        other => panic!("expected the server's refusal, got {other:?}"),
    }
    assert!(
        bundle.exists(),
        "the bundle of a refused batch stays unused"
    );

    // The same session, properly asked for: answered with that bundle.
    let o = output_within(
        &mut parties::query(
            &example("netD_chameleon.nn"),
            &example("inputs/mnist_0.npy"),
            &material,
            &addr,
            10,
            ["--insecure-plaintext"],
        ),
        PROMPT,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("label 7"));
    assert!(!bundle.exists(), "the answered query used the bundle");
    drop(serve);
}
