//! Fuzz the saved-plan loader (`SavedPlan::from_ron`): arbitrary text must
//! never panic; an accepted plan validates and survives `to_ron` →
//! `from_ron` with the same hash. Texts that fail only on their recorded
//! hash are retried re-hashed, so mutations of a real plan reach `validate`.
//!
//! Run with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none plan_load` from the
//! repository root; the property lives in `fuzz/checks.rs`, shared with the
//! bounded smoke run in `tests/fuzz_smoke.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_plan_load(data));
