//! A bounded smoke run of every fuzz target in `fuzz/` (the `.nn` front end,
//! the plan loader, the frame decoder, the `.npy` and safetensors readers,
//! material bundles and the ONNX importer), without cargo-fuzz.
//!
//! Each test feeds the committed corpus of one target (`fuzz/corpus/<target>/`),
//! seeds generated here from real artifacts (the compiled netD plan and two
//! rehashed variants just beyond the runtime's size limits, frames
//! from `encode_frame`, the example `.npy` and `.safetensors` files, dealt
//! material bundles), and a few thousand deterministic mutations of them to
//! the very function the fuzz target calls (`fuzz/checks.rs`). Any panic is a
//! failure. The `.nn` front end also has a proptest smoke run of its own in
//! `compiler/tests/fuzz_smoke.rs`.
//!
//! With `CHIMERA_WRITE_FUZZ_SEEDS=<dir>` set, the generated seeds are also
//! written to `<dir>/<target>/` (this is how the corpora were seeded).

mod common;

use common::root;
#[path = "../fuzz/checks.rs"]
mod checks;

use chimera_runtime::dealer::{Demand, SessionId, TrustedDealer};
use chimera_runtime::plan::{Op, PlanHash, SavedPlan};
use chimera_runtime::prg::Seed;
use chimera_runtime::transport::frame::encode_frame;
use chimera_runtime::transport::FrameKind;
use std::path::{Path, PathBuf};

/// Every file of `fuzz/corpus/<target>/`.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = root().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

fn examples(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("examples directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("example"))
        .collect()
}

/// Seeds made from real artifacts, per target.
fn generated(target: &str) -> Vec<Vec<u8>> {
    match target {
        "compile_nn" => examples("examples", "nn"),
        "plan_load" => {
            let netd = checks::netd_plan();
            let mut out = vec![netd.to_ron().expect("netD serializes").into_bytes()];
            // Just beyond the limits of `chimera_runtime::limits`, rehashed:
            // an argmax over 16385 scores, an input of 2^24 + 4096 elements.
            let argmax = netd
                .plan
                .steps
                .iter()
                .find(|s| matches!(s.op, Op::Argmax))
                .expect("netD ends in an argmax");
            let mut wide = netd.plan.clone();
            wide.values[argmax.inputs[0].index()].shape = vec![(1 << 14) + 1];
            let mut tall = netd.plan.clone();
            tall.values[tall.inputs[0].value.index()].shape = vec![1, 4097, 4096];
            for plan in [wide, tall] {
                let saved = SavedPlan::new(plan, netd.debug.clone()).expect("hashes");
                out.push(saved.to_ron().expect("serializes").into_bytes());
            }
            out
        }
        "frame_decode" => {
            let mut out = Vec::new();
            for (kind, len) in [
                (FrameKind::Bytes, 0),
                (FrameKind::Bytes, 7),
                (FrameKind::U64s, 16),
                (FrameKind::U128s, 32),
                (FrameKind::Hello, 56),
                (FrameKind::Abort, 12),
            ] {
                let payload: Vec<u8> = (0..len as u8).collect();
                out.push(encode_frame(kind, &payload, 4096).expect("encodes"));
            }
            // Several frames in one input, split by the leading byte.
            let mut multi = vec![13u8];
            multi.extend(encode_frame(FrameKind::U64s, &[1; 8], 64).expect("encodes"));
            multi.extend(encode_frame(FrameKind::Bytes, b"abc", 64).expect("encodes"));
            out.push(multi);
            out
        }
        "npy_read" => examples("examples/inputs", "npy"),
        // The small test models (the MNIST ones are hundreds of KB).
        "import_onnx" => examples("examples/onnx", "onnx")
            .into_iter()
            .filter(|m| m.len() < 64 << 10)
            .collect(),
        "safetensors_bind" => {
            let mut out = examples("examples", "safetensors");
            out.extend(small_safetensors());
            out
        }
        "material_bundle" => {
            let mut demand = Demand::new();
            demand
                .beaver(3)
                .square_pairs(2)
                .and_triples(2)
                .shared_bits(2)
                .edabits(1)
                .random_ots(2)
                .trunc_pairs(2, 16);
            let dealer = TrustedDealer::new(
                PlanHash([7; 32]),
                SessionId([9; 16]),
                Some(Seed::from_u64(1)),
            )
            .expect("dealer");
            let (b0, b1) = dealer.deal(&demand).expect("deal");
            vec![
                b0.to_bytes().expect("encodes"),
                b1.to_bytes().expect("encodes"),
            ]
        }
        other => panic!("no generator for {other}"),
    }
}

/// Small safetensors files with netD's tensor names: wrong shapes, other
/// dtypes, a missing layer, an unused tensor.
fn small_safetensors() -> Vec<Vec<u8>> {
    use safetensors::tensor::{Dtype, TensorView};
    let f32s = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (i as f32 * 0.25).to_le_bytes())
            .collect()
    };
    /// Name, dtype, shape, little-endian data.
    type Spec = (&'static str, Dtype, Vec<usize>, Vec<u8>);
    let cases: Vec<Vec<Spec>> = vec![
        vec![
            ("conv1.weight", Dtype::F32, vec![5, 1, 5, 5], f32s(125)),
            ("conv1.bias", Dtype::F32, vec![5], f32s(5)),
            ("fc1.weight", Dtype::F32, vec![2, 3], f32s(6)),
        ],
        vec![
            ("fc2.weight", Dtype::F32, vec![10, 100], f32s(1000)),
            ("fc2.bias", Dtype::I32, vec![10], vec![0; 40]),
            ("extra", Dtype::F16, vec![2], vec![0; 4]),
        ],
        vec![("conv1.weight", Dtype::F64, vec![1], vec![0; 8])],
    ];
    cases
        .into_iter()
        .map(|tensors| {
            let views: Vec<(&str, TensorView<'_>)> = tensors
                .iter()
                .map(|(name, dtype, shape, data)| {
                    (
                        *name,
                        TensorView::new(*dtype, shape.clone(), data).expect("view"),
                    )
                })
                .collect();
            safetensors::serialize(views, None).expect("serializes")
        })
        .collect()
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Interesting values to write over bytes: length fields that lie.
const SPLICES: [&[u8]; 8] = [
    &[0xff, 0xff, 0xff, 0xff],
    &[0, 0, 0, 0],
    &[0xff, 0xff, 0xff, 0x7f],
    &[0x00, 0x00, 0x00, 0x40],
    b"99999999999999999999",
    b"-1",
    b"(0,)",
    b"\"",
];

/// One to four random edits: flip, overwrite, insert, delete, splice, truncate.
fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] = rng.next() as u8;
            }
            2 => {
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            3 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 => {
                let s = SPLICES[rng.below(SPLICES.len())];
                let end = (at + s.len()).min(v.len());
                v.splice(at..end, s.iter().copied());
            }
            _ => v.truncate(at),
        }
    }
    v
}

/// Feed the corpus, the generated seeds and `mutations` mutations of them.
fn smoke(target: &str, mutations: usize, check: fn(&[u8])) {
    let generated = generated(target);
    if let Some(dir) = std::env::var_os("CHIMERA_WRITE_FUZZ_SEEDS") {
        let dir = Path::new(&dir).join(target);
        std::fs::create_dir_all(&dir).expect("seed directory");
        for (i, seed) in generated
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len() < 64 << 10)
        {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("seed file");
        }
    }
    let mut seeds = corpus(target);
    assert!(!seeds.is_empty(), "the {target} corpus is empty");
    seeds.extend(generated);
    for seed in &seeds {
        check(seed);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for _ in 0..mutations {
        let base = &seeds[rng.below(seeds.len())];
        check(&mutate(&mut rng, base));
    }
}

/// The targets smoke-run below, one test each.
const SMOKED: [&str; 7] = [
    "compile_nn",
    "frame_decode",
    "import_onnx",
    "material_bundle",
    "npy_read",
    "plan_load",
    "safetensors_bind",
];

/// Every target in `fuzz/fuzz_targets/` has a committed corpus and a smoke
/// run here (a new target without one fails this test).
#[test]
fn every_fuzz_target_has_a_corpus_and_a_smoke_run() {
    let mut targets: Vec<String> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    targets.sort();
    assert_eq!(targets, SMOKED, "fuzz targets and smoke runs differ");
    for target in SMOKED {
        assert!(
            !corpus(target).is_empty(),
            "fuzz/corpus/{target} is empty or missing"
        );
    }
}

#[test]
fn compile_nn_corpus_and_mutations_never_panic() {
    smoke("compile_nn", 300, checks::check_compile_nn);
}

#[test]
fn plan_load_corpus_and_mutations_never_panic() {
    smoke("plan_load", 300, checks::check_plan_load);
}

#[test]
fn frame_decode_corpus_and_mutations_never_panic() {
    smoke("frame_decode", 5000, checks::check_frame_decode);
}

#[test]
fn npy_read_corpus_and_mutations_never_panic() {
    smoke("npy_read", 3000, checks::check_npy_read);
}

#[test]
fn safetensors_bind_corpus_and_mutations_never_panic() {
    smoke("safetensors_bind", 1000, checks::check_safetensors_bind);
}

#[test]
fn material_bundle_corpus_and_mutations_never_panic() {
    smoke("material_bundle", 3000, checks::check_material_bundle);
}

#[test]
fn import_onnx_corpus_and_mutations_never_panic() {
    smoke("import_onnx", 1500, checks::check_import_onnx);
}
