//! Fuzz the transport frame decoder (`decode_frame`, `decode_frame_owned`)
//! and an in-memory channel receiving the same bytes as raw frames: never a
//! panic, only `PeerMisbehaved`; a decoded frame re-encodes to its bytes.
//!
//! Run with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none frame_decode` from the
//! repository root; the property lives in `fuzz/checks.rs`, shared with the
//! bounded smoke run in `tests/fuzz_smoke.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_frame_decode(data));
