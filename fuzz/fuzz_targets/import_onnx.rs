//! Fuzz the ONNX importer (`chimera_compiler::onnx::import`): never a panic
//! on any bytes, and a model it accepts becomes a program that compiles.
//!
//! Run with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none import_onnx` from the
//! repository root; the corpus is seeded with the small models of
//! `examples/onnx/`. The property lives in `fuzz/checks.rs`, shared with the
//! bounded smoke run in `tests/fuzz_smoke.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_import_onnx(data));
