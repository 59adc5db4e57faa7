//! Fuzz the `.npy` reader (`tensor_io::read_npy`): never a panic, no
//! allocation a lying header asks for, and an accepted tensor round-trips
//! through `write_npy` bit for bit.
//!
//! Run with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none npy_read` from the
//! repository root; the property lives in `fuzz/checks.rs`, shared with the
//! bounded smoke run in `tests/fuzz_smoke.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_npy_read(data));
