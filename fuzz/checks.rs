//! The properties every fuzz target checks, shared with the bounded smoke
//! run of the normal test suite (`tests/fuzz_smoke.rs` includes this file
//! with `#[path]`), so the fuzzers and the smoke test call the same code.
//!
//! Each `check_*` function takes arbitrary bytes, feeds them to one parser,
//! and panics (an `assert!`) only if the parser broke a property: a panic
//! inside the parser, an accepted input that fails its own validation, or a
//! round trip that changes what was accepted.

use chimera_runtime::dealer::MaterialBundle;
use chimera_runtime::plan::{PlanError, SavedPlan};
use chimera_runtime::tensor_io::{read_npy, write_npy, NpyDtype};
use chimera_runtime::transport::frame::{decode_frame, decode_frame_owned, encode_frame};
use chimera_runtime::transport::{
    memory_pair_with, Channel, ChannelConfig, TransportError, HEADER_LEN,
};
use std::sync::OnceLock;
use std::time::Duration;

/// The netD example network, compiled once: the plan weights are bound to.
pub fn netd_plan() -> &'static SavedPlan {
    static PLAN: OnceLock<SavedPlan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let src = include_str!("../examples/netD_chameleon.nn");
        match chimera_compiler::compile("netD_chameleon.nn", src.as_bytes()) {
            Ok(compiled) => compiled.saved,
            Err(d) => panic!(
                "the netD example must compile: {}",
                d.render("netD_chameleon.nn", src.as_bytes(), false)
            ),
        }
    })
}

/// `compile_nn`: the whole `.nn` front end ([`chimera_compiler::compile`]:
/// parse, check, lower, passes, emission) on arbitrary bytes. An accepted
/// program yields a plan that validates; a rejected one has at least one
/// error and renders (codespan) as a diagnostic naming the file.
pub fn check_compile_nn(data: &[u8]) {
    match chimera_compiler::compile("fuzz.nn", data) {
        Ok(compiled) => assert!(compiled.saved.plan.validate().is_ok()),
        Err(diagnostics) => {
            assert!(diagnostics.has_errors());
            let text = diagnostics.render("fuzz.nn", data, false);
            assert!(text.contains("error["), "{text}");
            assert!(text.contains("fuzz.nn"), "{text}");
        }
    }
}

/// Check one accepted saved plan: it validates, and writing and re-reading
/// it gives the same plan and hash. Validation admits only plans every party
/// can size: one row is always within the limits, and costing a query (what
/// the dealer, the frame limit and the executor do before anything else)
/// never panics — it may still refuse an operation in a protocol.
fn accepted_plan(saved: &SavedPlan) {
    assert!(saved.plan.validate().is_ok());
    assert_eq!(chimera_runtime::limits::batch(&saved.plan, 1), Ok(()));
    let _ = chimera_runtime::cost::plan_cost(&saved.plan, 1);
    let hash = saved.plan.hash().expect("an accepted plan hashes");
    assert_eq!(hash.to_hex(), saved.hash);
    let text = saved.to_ron().expect("an accepted plan serializes");
    let again = SavedPlan::from_ron(&text, "fuzz-again").expect("a written plan reloads");
    assert_eq!(again.hash, saved.hash);
    assert_eq!(again.plan.hash().expect("hash").to_hex(), saved.hash);
}

/// `plan_load`: [`SavedPlan::from_ron`] on arbitrary text. A text whose only
/// fault is its recorded hash is retried with the computed hash written in,
/// so mutations of a valid plan reach `validate()` (the structured variant).
pub fn check_plan_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match SavedPlan::from_ron(text, "fuzz") {
        Ok(saved) => accepted_plan(&saved),
        Err(PlanError::HashMismatch {
            recorded, computed, ..
        }) if !recorded.is_empty() => {
            let fixed = text.replacen(&recorded, &computed, 1);
            if let Ok(saved) = SavedPlan::from_ron(&fixed, "fuzz-rehashed") {
                accepted_plan(&saved);
            }
        }
        Err(_) => {}
    }
}

/// `frame_decode`: the strict frame decoder, both forms, and a receiving
/// in-memory channel fed the same bytes as raw wire frames.
pub fn check_frame_decode(data: &[u8]) {
    for max in [64, 4096, chimera_runtime::transport::DEFAULT_MAX_FRAME] {
        let borrowed = decode_frame(data, max);
        let owned = decode_frame_owned(data.to_vec(), max);
        match borrowed {
            Ok(frame) => {
                assert_eq!(owned.as_ref().ok(), Some(&frame));
                assert!(frame.payload.len() <= max);
                assert_eq!(frame.payload.len() + HEADER_LEN, data.len());
                let again = encode_frame(frame.kind, &frame.payload, max)
                    .expect("a decoded frame re-encodes");
                assert_eq!(again, data);
            }
            Err(e) => {
                assert!(matches!(e, TransportError::PeerMisbehaved(_)), "{e:?}");
                assert!(owned.is_err());
            }
        }
    }
    // The first byte splits the rest into raw frames sent to a channel.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let config = ChannelConfig {
        max_frame: 4096,
        read_timeout: Duration::from_millis(1),
    };
    let (mut tx, mut rx) = memory_pair_with(config);
    let pieces: Vec<&[u8]> = if split == 0 {
        vec![rest]
    } else {
        rest.chunks(usize::from(split)).collect()
    };
    for piece in &pieces {
        tx.send_raw(piece.to_vec()).expect("the receiver is alive");
    }
    drop(tx);
    for piece in &pieces {
        let direct = decode_frame(piece, config.max_frame);
        match rx.recv_frame() {
            Ok(frame) => assert_eq!(direct.ok(), Some(frame)),
            Err(TransportError::PeerAborted(_)) => {}
            Err(e) => {
                assert!(direct.is_err(), "the channel refused a valid frame: {e}");
                return;
            }
        }
    }
    assert!(rx.recv_frame().is_err());
}

/// `npy_read`: [`read_npy`] on arbitrary bytes; an accepted tensor has as
/// many elements as its shape says, and writing it back (as `<f8`) and
/// reading again gives the same shape and the same bits.
pub fn check_npy_read(data: &[u8]) {
    let Ok(tensor) = read_npy(data) else {
        return;
    };
    let count = tensor
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d));
    assert_eq!(count, Some(tensor.data.len()));
    let bytes = write_npy(&tensor, NpyDtype::F64);
    let back = read_npy(&bytes).expect("a written tensor reads back");
    assert_eq!(back.shape, tensor.shape);
    assert!(back
        .data
        .iter()
        .zip(&tensor.data)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    for row_shape in [&[1usize, 28, 28][..], &[784][..]] {
        let _ = tensor.clone().into_batch("x", row_shape);
    }
}

/// `safetensors_bind`: [`chimera_runtime::weights::bind`] of arbitrary bytes
/// to the netD plan; an accepted binding covers every netD layer.
pub fn check_safetensors_bind(data: &[u8]) {
    let plan = &netd_plan().plan;
    if let Ok(bound) = chimera_runtime::weights::bind(plan, data) {
        for layer in ["conv1", "fc1", "fc2"] {
            assert!(bound.layer(layer).is_some(), "{layer} is not bound");
        }
    }
}

/// The material file checksum, as `dealer::bundle` computes it, so that the
/// structured variant of `material_bundle` gets past the checksum.
fn material_checksum(body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("chimera 2026 material file checksum v1");
    h.update(body);
    *h.finalize().as_bytes()
}

/// `material_bundle`: [`MaterialBundle::from_bytes`] on the bytes as given
/// and with a correct checksum appended in place of the last 32 bytes; an
/// accepted bundle serializes back to exactly the bytes it came from.
pub fn check_material_bundle(data: &[u8]) {
    if let Ok(bundle) = MaterialBundle::from_bytes(data) {
        assert_eq!(bundle.to_bytes().expect("re-encodes"), data);
    }
    if data.len() < 32 {
        return;
    }
    let body = &data[..data.len() - 32];
    let mut fixed = body.to_vec();
    fixed.extend_from_slice(&material_checksum(body));
    if let Ok(bundle) = MaterialBundle::from_bytes(&fixed) {
        assert_eq!(bundle.to_bytes().expect("re-encodes"), fixed);
    }
}

/// `import_onnx`: [`chimera_compiler::onnx::import`] of arbitrary bytes. An
/// accepted model yields a program that compiles to a valid plan, and its
/// weights either bind to that plan or are refused with an error.
pub fn check_import_onnx(data: &[u8]) {
    let options = chimera_compiler::onnx::ImportOptions::default();
    let Ok(imported) = chimera_compiler::onnx::import(data, &options) else {
        return;
    };
    match chimera_compiler::compile("imported.nn", imported.source.as_bytes()) {
        Ok(compiled) => {
            assert!(compiled.saved.plan.validate().is_ok());
            let _ = chimera_runtime::weights::bind(&compiled.saved.plan, &imported.weights);
        }
        Err(d) => panic!(
            "an imported program must compile:\n{}\n{}",
            imported.source,
            d.render("imported.nn", imported.source.as_bytes(), false)
        ),
    }
}
