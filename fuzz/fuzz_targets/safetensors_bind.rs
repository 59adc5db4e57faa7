//! Fuzz weight binding (`weights::bind`) of arbitrary safetensors bytes to
//! the compiled netD plan: never a panic; an accepted binding covers every
//! layer.
//!
//! Run with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none safetensors_bind` from the
//! repository root; the property lives in `fuzz/checks.rs`, shared with the
//! bounded smoke run in `tests/fuzz_smoke.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_safetensors_bind(data));
