//! Fuzz the dealer's material file reader (`MaterialBundle::from_bytes`),
//! as given and with the checksum recomputed so mutations reach the header
//! and length checks: never a panic; an accepted bundle re-encodes exactly.
//!
//! Run with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none material_bundle` from the
//! repository root; the property lives in `fuzz/checks.rs`, shared with the
//! bounded smoke run in `tests/fuzz_smoke.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_material_bundle(data));
