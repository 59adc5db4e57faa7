//! Fuzz the whole `.nn` front end with arbitrary bytes: it must never panic,
//! an accepted program must validate, and every rejection must render
//! (codespan) as a diagnostic.
//!
//! Run with `cargo fuzz run compile_nn` (nightly), or on a stable toolchain
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none compile_nn` from the repository
//! root; the property lives in `fuzz/checks.rs`, shared with the bounded
//! smoke run in `tests/fuzz_smoke.rs` (which replays this target's corpus).
//! The front end's proptest smoke run is `compiler/tests/fuzz_smoke.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_compile_nn(data));
